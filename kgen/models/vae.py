"""The variational autoencoder (Kingma & Welling 2013) as a ``keras.Model`` with its own steps."""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from kgen import losses

# Learned decoder variances are floored at this standard deviation (about a quarter of one
# 8-bit grey level) so a pixel that is always 0 cannot drive the likelihood to infinity.
LEARNED_SIGMA_FLOOR = 1e-3


@keras.saving.register_keras_serializable(package="kgen")
class VAE(keras.Model):
    """q(z|x) = N(mu, sigma^2) from ``encoder``; p(x|z) from ``decoder`` under ``likelihood``.

    The loss per example is -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), summed over pixels
    and latent dimensions and averaged over the batch; it is reported as ``loss``,
    ``reconstruction`` and ``kl``.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        likelihood: str = "bernoulli",
        sigma: float = 0.1,
        beta: float = 1.0,
        binarize: bool = False,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.sigma = float(sigma)
        self.beta = float(beta)
        self.binarize = bool(binarize)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        # The encoder and decoder arrive built and nothing else owns weights, so the model is
        # built now; loading then restores optimizer state along with the weights.
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    @property
    def latent_dim(self) -> int:
        return int(self.encoder.outputs[0].shape[-1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.encoder.inputs[0].shape[1:])

    def call(self, x, training=False):
        """The reconstruction of x: the decoder's mean at z = E_q[z]."""
        z_mean, _ = self.encoder(x, training=training)
        return self.decode(z_mean)

    def decode(self, z):
        """The decoder's mean image in [0, 1] for latent codes z."""
        mean, _ = self._decoder_distribution(self.decoder(z))
        return ops.sigmoid(mean) if self.likelihood == "bernoulli" else mean

    def log_likelihood(self, x, params):
        """log p(x | z) per example, from the decoder's raw output ``params``."""
        mean, log_var = self._decoder_distribution(params)
        if self.likelihood == "bernoulli":
            return losses.bernoulli_log_likelihood(x, mean)
        return losses.gaussian_log_likelihood(x, mean, log_var)

    def prepare_images(self, x):
        """The data the likelihood sees: a fresh Bernoulli draw of every pixel when binarizing."""
        x = ops.cast(x, "float32")
        if not self.binarize:
            return x
        u = keras.random.uniform(ops.shape(x), seed=self.seed_generator)
        return ops.cast(u < x, "float32")

    def compute_losses(self, x, training=False):
        """Batch means of (loss, reconstruction, kl) for one reparameterised sample per image."""
        # Encode: the parameters of q(z|x).
        z_mean, z_log_var = self.encoder(x, training=training)
        # Reparameterise: z = mu + sigma * eps keeps the sample differentiable.
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z = losses.reparameterize(z_mean, z_log_var, eps)
        # Decode and score: -log p(x|z) and the analytic KL to the prior.
        reconstruction = -self.log_likelihood(x, self.decoder(z, training=training))
        kl = losses.kl_to_standard_normal(z_mean, z_log_var)
        loss = ops.mean(reconstruction + self.beta * kl)
        return loss, ops.mean(reconstruction), ops.mean(kl)

    def train_step(self, data):
        x = self.prepare_images(_images_of(data))
        # Forward pass and loss under the tape.
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self.compute_losses(x, training=True)
        # One optimizer step on encoder and decoder together.
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(loss, reconstruction, kl)

    def test_step(self, data):
        x = self.prepare_images(_images_of(data))
        return self._track(*self.compute_losses(x, training=False))

    def _track(self, loss, reconstruction, kl):
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def _decoder_distribution(self, params):
        """Split raw decoder output into (location, log-variance) for this likelihood."""
        if self.likelihood == "bernoulli":
            return params, None
        if self.likelihood == "gaussian":
            return ops.sigmoid(params), 2.0 * math.log(self.sigma)
        mean, raw_log_var = ops.split(params, 2, axis=-1)
        floor = 2.0 * math.log(LEARNED_SIGMA_FLOOR)
        return ops.sigmoid(mean), ops.logaddexp(raw_log_var, floor)

    def get_config(self):
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "likelihood": self.likelihood,
            "sigma": self.sigma,
            "beta": self.beta,
            "binarize": self.binarize,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("encoder", "decoder"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


def _images_of(data):
    """fit() hands over x, or (x, y) for labelled data; the VAE uses only x."""
    return data[0] if isinstance(data, (tuple, list)) else data
