"""Log-densities and divergences as plain ``keras.ops`` functions, one value per example.

Every function sums over pixels (or latent dimensions) and keeps the batch axis, so callers
average over the batch themselves and tests can check each against its formula.
"""

from __future__ import annotations

import math

from keras import ops

LOG_2PI = math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)


def _sum_per_example(values):
    """Sum every axis but the first (the batch)."""
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def bernoulli_log_likelihood(x, logits):
    """log p(x | logits) of pixels in [0, 1] under independent Bernoullis.

    Equals minus the binary cross-entropy, computed stably as x*l - softplus(l). For grey
    levels in (0, 1) it is the cross-entropy objective of keras-io's VAE, not a normalised density.
    """
    return _sum_per_example(x * logits - ops.softplus(logits))


def gaussian_log_likelihood(x, mean, log_var):
    """log N(x | mean, exp(log_var)) summed over pixels; log_var may be a scalar (fixed sigma)."""
    log_var = ops.broadcast_to(ops.convert_to_tensor(log_var, dtype=mean.dtype), ops.shape(mean))
    terms = LOG_2PI + log_var + ops.square(x - mean) * ops.exp(-log_var)
    return -0.5 * _sum_per_example(terms)


def log_normal(z, mean, log_var):
    """log N(z | mean, diag(exp(log_var))) summed over latent dimensions."""
    return gaussian_log_likelihood(z, mean, log_var)


def log_standard_normal(z):
    """log N(z | 0, I) summed over latent dimensions."""
    return -0.5 * _sum_per_example(LOG_2PI + ops.square(z))


def kl_to_standard_normal(mean, log_var):
    """Analytic KL(N(mean, exp(log_var)) || N(0, I)) summed over latent dimensions."""
    return 0.5 * _sum_per_example(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var)


def kl_to_fair_bernoulli(logits):
    """Analytic KL(Bernoulli(sigmoid(logits)) || Bernoulli(1/2)) summed over latent dimensions:
    log 2 - H(q), with log q = -softplus(-logits) and log (1 - q) = -softplus(logits)."""
    q = ops.sigmoid(logits)
    return _sum_per_example(LOG_2 - q * ops.softplus(-logits) - (1.0 - q) * ops.softplus(logits))


def log_fair_bernoulli(z):
    """log p(z) of binary codes under the prior Bernoulli(1/2) per dimension: -d log 2."""
    return _sum_per_example(ops.zeros_like(z) - LOG_2)


def reparameterize(mean, log_var, eps):
    """z = mean + sigma * eps: the sample stays differentiable in mean and log_var."""
    return mean + ops.exp(0.5 * log_var) * eps


def elbo(log_likelihood, kl, beta: float = 1.0):
    """Per-example evidence lower bound E_q[log p(x|z)] - beta * KL (beta=1 is the true ELBO)."""
    return log_likelihood - beta * kl


def iwae_bound(log_weights):
    """log (1/k) sum_k exp(log w_k), per example, from log weights of shape (batch, k).

    With log w = log p(x|z) + log p(z) - log q(z|x) this is the importance-weighted bound of
    Burda et al. (2015); k = 1 is the ELBO estimated with one sample.
    """
    k = ops.shape(log_weights)[1]
    return ops.logsumexp(log_weights, axis=1) - ops.log(ops.cast(k, log_weights.dtype))


def discriminator_loss(real_logits, fake_logits):
    """-log D(x) - log(1 - D(G(z))), batch-averaged, from logits (D = sigmoid(logit))."""
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def generator_loss_saturating(fake_logits):
    """The minimax generator loss of Goodfellow et al. (2014): mean log(1 - D(G(z))).

    Its gradient vanishes when D confidently rejects the fakes, early in training.
    """
    return -ops.mean(ops.softplus(fake_logits))


def generator_loss_non_saturating(fake_logits):
    """The non-saturating generator loss: mean -log D(G(z)), strong gradients when D wins."""
    return ops.mean(ops.softplus(-fake_logits))
