"""The deterministic autoencoder: the baseline the VAE is compared against."""

from __future__ import annotations

import keras
from keras import ops

from kgen.models.base import EncoderDecoder


@keras.saving.register_keras_serializable(package="kgen")
class AE(EncoderDecoder):
    """x -> z -> x with a reconstruction loss only: -log p(x|z) under the pixel likelihood.

    Nothing ties its codes to N(0, I), so decoding prior noise gives poor images; that is the
    lesson it is here to teach.
    """

    loss_names = ("loss", "reconstruction")

    def encode(self, x, labels=None, training=False):
        """(z, None): the code, and no variance since the encoder is deterministic."""
        return self.encoder_outputs(x, labels, training=training), None

    def compute_losses(self, x, labels=None, training=False):
        # Encode to one code, decode it, and score the reconstruction.
        z, _ = self.encode(x, labels, training=training)
        reconstruction = ops.mean(-self.log_likelihood(x, self.decoder_params(z, labels, training=training)))
        return {"loss": reconstruction, "reconstruction": reconstruction}
