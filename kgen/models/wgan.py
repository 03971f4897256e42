"""WGAN-GP (Gulrajani et al. 2017, Algorithm 1): a GAN whose discriminator is a critic.

The critic D(x) has no sigmoid: it estimates the Wasserstein-1 distance as E[D(x)] - E[D(G(z))]
over 1-Lipschitz functions, kept near 1-Lipschitz by a penalty on its gradient norm at random
interpolates of real and generated points. It runs k = ``d_steps`` critic updates (5 in the
paper) per generator update, each on its own real minibatch, with Adam(1e-4, 0, 0.9).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kgen.models import replicas
from kgen.models.base import unpack_batch
from kgen.models.gan import GAN

# Algorithm 1's defaults: lambda, n_critic, and Adam's (alpha, beta_1, beta_2).
GP_WEIGHT = 10.0
CRITIC_STEPS = 5
ADAM = {"learning_rate": 1e-4, "beta_1": 0.0, "beta_2": 0.9}


def critic_loss(real_values, fake_values):
    """E[D(G(z))] - E[D(x)]: minus the critic's Wasserstein estimate, batch-averaged."""
    return ops.mean(fake_values) - ops.mean(real_values)


def wasserstein_generator_loss(fake_values):
    """-E[D(G(z))]: the generator raises the critic's value of its fakes."""
    return -ops.mean(fake_values)


def interpolates(real, fake, epsilon):
    """x_hat = eps * x + (1 - eps) * G(z), one eps in [0, 1] per example (shape (batch,))."""
    epsilon = ops.reshape(ops.cast(epsilon, real.dtype), (-1,) + (1,) * (len(real.shape) - 1))
    return epsilon * real + (1.0 - epsilon) * fake


def gradient_penalty(critic, x_hat, weight: float = GP_WEIGHT):
    """(lambda * E[(||grad_x D(x_hat)||_2 - 1)^2], E[||grad_x D(x_hat)||_2]) for a ``critic`` callable
    that scores each example on its own (no batch norm), so grad of the sum is each example's grad."""
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        total = ops.sum(critic(x_hat))
    grads = tape.gradient(total, x_hat)
    # The norm over every axis but the batch; the tiny term keeps sqrt's gradient finite at 0.
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=tuple(range(1, len(grads.shape)))) + 1e-12)
    return weight * ops.mean(ops.square(norms - 1.0)), ops.mean(norms)


@keras.saving.register_keras_serializable(package="kgen")
class WGANGP(GAN):
    """A generator G(z) and a critic D(x) trained by Algorithm 1 of Gulrajani et al. (2017).

    ``train_step`` receives ``d_steps`` real minibatches at once: one critic update on each (loss
    E[D(G(z))] - E[D(x)] + the gradient penalty), then one generator update (loss -E[D(G(z))]).
    Step D and Step G by hand are `GAN.player_step`, with these updates. Unconditional only.
    """

    metric_names = ("d_loss", "g_loss", "wasserstein", "gradient_penalty", "interpolate_grad_norm",
                    "d_grad_norm", "g_grad_norm")
    critic = True

    def __init__(self, generator: keras.Model, discriminator: keras.Model, d_steps: int = CRITIC_STEPS,
                 gp_weight: float = GP_WEIGHT, seed: int = 0, **kwargs):
        if kwargs.get("num_classes") or kwargs.get("pixels", "continuous") != "continuous":
            raise ValueError("WGAN-GP here is unconditional, on continuous images or points")
        if not gp_weight >= 0:
            raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
        super().__init__(generator, discriminator, d_steps=d_steps, seed=seed, **kwargs)
        self.gp_weight = float(gp_weight)

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """The two players' optimizers; by default the paper's Adam(1e-4, beta_1 0, beta_2 0.9)."""
        super().compile(d_optimizer or keras.optimizers.Adam(**ADAM),
                        g_optimizer or keras.optimizers.Adam(**ADAM), **kwargs)

    def generator_loss_value(self, fake_logits):
        return wasserstein_generator_loss(fake_logits)

    def _critic_terms(self, real, training):
        """(critic loss with penalty, Wasserstein estimate, penalty, mean gradient norm at x_hat)
        on a real minibatch and as many fresh fakes."""
        batch = ops.shape(real)[0]
        fake, _ = self._generated(self._noise(batch), None, training=training)
        real_values = self._logits(real, None, training=training)
        fake_values = self._logits(fake, None, training=training)
        x_hat = interpolates(real, fake, replicas.uniform((batch,), self.seed_generator))
        penalty, norm = gradient_penalty(lambda x: self._logits(x, None, training=training), x_hat, self.gp_weight)
        loss = critic_loss(real_values, fake_values)
        return loss + penalty, -loss, penalty, norm

    def discriminator_step(self, data):
        """One critic update on the batch ``data`` and as many fresh fakes: its metrics."""
        x, _ = unpack_batch(data)
        real = self.to_model_space(x)
        with tf.GradientTape() as tape:
            d_loss, wasserstein, penalty, norm = self._critic_terms(real, training=True)
            scaled = replicas.loss_to_differentiate(d_loss, self.d_optimizer)
        grads = tape.gradient(scaled, self.discriminator.trainable_weights)
        d_norm = replicas.gradient_norm(grads, self.d_optimizer)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        return {"d_loss": d_loss, "wasserstein": wasserstein, "gradient_penalty": penalty,
                "interpolate_grad_norm": norm, "d_grad_norm": d_norm}

    def train_step(self, data):
        x, _ = unpack_batch(data)
        # Split the batch into d_steps real minibatches (Algorithm 1: a fresh one per critic step).
        reals = ops.split(x, self.d_steps, axis=0)
        # n_critic critic updates.
        for real in reals:
            d = self.discriminator_step(real)
        # One generator update.
        g = self.generator_step(reals[-1])
        return self._track(d["d_loss"], g["g_loss"], d["wasserstein"], d["gradient_penalty"],
                           d["interpolate_grad_norm"], d["d_grad_norm"], g["g_grad_norm"])

    def test_step(self, data):
        x, _ = unpack_batch(data)
        d_loss, wasserstein, penalty, norm = self._critic_terms(self.to_model_space(x), training=False)
        fake, _ = self._generated(self._noise(ops.shape(x)[0]), None, training=False)
        g_loss = wasserstein_generator_loss(self._logits(fake, None, training=False))
        # No update, so no parameter gradient norms.
        return self._track(d_loss, g_loss, wasserstein, penalty, norm)

    def get_config(self):
        config = super().get_config()
        for unused in ("generator_loss", "num_classes", "pixels", "temperature"):
            config.pop(unused)
        return {**config, "gp_weight": self.gp_weight}
