"""Ways to get a gradient through a random sample, as plain ``keras.ops`` functions.

A sample z ~ q(z) has no gradient with respect to q's parameters. The reparameterisation trick
(`kgen.models.losses.reparameterize`) writes z as a differentiable function of fixed noise; the
score-function estimator (REINFORCE) differentiates log q(z) instead, weighted by a learning
signal; NVIL (Mnih & Gregor 2014) centres and scales that signal; for binary samples the
straight-through estimator and the relaxed Bernoulli (Concrete / Gumbel-sigmoid) trade a bias
for a low variance. Every function takes its noise as an argument, so tests can check each
against its formula.
"""

from __future__ import annotations

import math

from keras import ops

# Uniform noise is kept this far from 0 and 1, so the logistic noise is finite.
UNIFORM_MARGIN = 1e-6


def score_function_surrogate(log_prob, signal):
    """Per example, signal * log q(z) with the signal held constant: its gradient is the
    score-function (REINFORCE) estimate signal * grad log q(z)."""
    return ops.stop_gradient(signal) * log_prob


def nvil_signal(signal, baseline, mean, variance):
    """NVIL's learning signal: (l - b(x) - mean) / max(1, sqrt(variance)), where b(x) is the
    input-dependent baseline and mean, variance the running moments of l - b(x)."""
    return (signal - baseline - mean) / ops.maximum(1.0, ops.sqrt(variance))


def running_moments(mean, variance, values, decay: float):
    """The running (mean, variance) of a batch of values after one more exponential-average update."""
    batch_mean = ops.mean(values)
    batch_variance = ops.mean(ops.square(values - batch_mean))
    return (decay * mean + (1.0 - decay) * batch_mean,
            decay * variance + (1.0 - decay) * batch_variance)


def bernoulli_sample(probs, u):
    """Binary samples z ~ Bernoulli(probs) from uniform noise u (1 where u < probs)."""
    return ops.cast(u < probs, probs.dtype)


def straight_through(sample, probs):
    """The binary sample on the way forward, the identity to probs on the way back (a biased
    gradient of low variance, Bengio et al. 2013)."""
    return probs + ops.stop_gradient(sample - probs)


def logistic_noise(u):
    """log(1 - u) - log u of uniform noise u: a Logistic(0, 1) draw, oriented so that
    logits + noise > 0 exactly when u < sigmoid(logits) (the `bernoulli_sample` of the same u)."""
    u = ops.clip(u, UNIFORM_MARGIN, 1.0 - UNIFORM_MARGIN)
    return ops.log1p(-u) - ops.log(u)


def relaxed_bernoulli(logits, temperature, u):
    """The relaxed Bernoulli (binary Concrete, Maddison et al. 2016; Gumbel-sigmoid, Jang et al.
    2016): sigmoid((logits + logistic noise) / temperature), in (0, 1) and differentiable; as the
    temperature goes to 0 it becomes the Bernoulli(sigmoid(logits)) sample of the same noise."""
    return ops.sigmoid((logits + logistic_noise(u)) / temperature)


def normal_to_uniform(eps):
    """Phi(eps), the standard normal CDF: uniform noise made from standard normal noise, so a
    binary model can take the same eps as a Gaussian one (likelihood evaluation draws normals)."""
    return 0.5 * (1.0 + ops.erf(eps / math.sqrt(2.0)))
