"""The variational autoencoder (Kingma & Welling 2013) and its class-conditional form."""

from __future__ import annotations

import keras
from keras import ops

from kgen.models import losses, replicas
from kgen.models.base import EncoderDecoder


@keras.saving.register_keras_serializable(package="kgen")
class VAE(EncoderDecoder):
    """q(z|x) = N(mu, sigma^2) from ``encoder``; p(x|z) from ``decoder`` under ``likelihood``.

    The loss per example is -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), summed over pixels
    and latent dimensions and averaged over the batch; it is reported as ``loss``,
    ``reconstruction`` and ``kl``.
    """

    loss_names = ("loss", "reconstruction", "kl")
    variational = True

    def __init__(self, encoder, decoder, beta: float = 1.0, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.beta = float(beta)

    def encode(self, x, labels=None, training=False):
        """(mean, log-variance) of q(z|x)."""
        z_mean, z_log_var = self.encoder_outputs(x, labels, training=training)
        return z_mean, z_log_var

    def sample_terms(self, x, labels=None, eps=None, training=False) -> dict:
        """For images x and noise eps (N, latent_dim; fresh when None): per-example log p(x|z),
        log p(z), log q(z|x) of z = mu + sigma * eps, and the analytic KL(q(z|x) || p(z))."""
        # Encode: the parameters of q(z|x).
        z_mean, z_log_var = self.encode(x, labels, training=training)
        # Reparameterise: z = mu + sigma * eps keeps the sample differentiable.
        if eps is None:
            eps = replicas.normal(ops.shape(z_mean), self.seed_generator)
        z = losses.reparameterize(z_mean, z_log_var, eps)
        # Decode and score.
        return {
            "log_px_z": self.log_likelihood(x, self.decoder_params(z, labels, training=training)),
            "log_pz": losses.log_standard_normal(z),
            "log_qz": losses.log_normal(z, z_mean, z_log_var),
            "kl": losses.kl_to_standard_normal(z_mean, z_log_var),
        }

    def compute_losses(self, x, labels=None, training=False):
        """Batch means of loss, reconstruction and kl for one reparameterised sample per image."""
        terms = self.sample_terms(x, labels, training=training)
        reconstruction = -terms["log_px_z"]
        return {
            "loss": ops.mean(reconstruction + self.beta * terms["kl"]),
            "reconstruction": ops.mean(reconstruction),
            "kl": ops.mean(terms["kl"]),
        }

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package="kgen")
class CVAE(VAE):
    """The class-conditional VAE: the one-hot label goes to encoder and decoder, so z keeps style.

    Its ELBO bounds log p(x | y); ``decode(z, labels)`` draws an image of the chosen class.
    """

    def __init__(self, encoder, decoder, num_classes: int = 10, **kwargs):
        if num_classes < 2:
            raise ValueError(f"a CVAE needs at least 2 classes, got {num_classes}")
        super().__init__(encoder, decoder, num_classes=num_classes, **kwargs)
