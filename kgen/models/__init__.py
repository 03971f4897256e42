"""The generative models, each a ``keras.Model`` with its own ``train_step`` and ``test_step``."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kgen.config import RunConfig
from kgen.models.vae import VAE
from kgen.nets import build_vae_networks

__all__ = ["VAE", "build_model"]


def build_model(config: RunConfig, image_shape: Sequence[int]) -> keras.Model:
    """A new, compiled model of the kind ``config`` names, sized for ``image_shape``."""
    m = config.model
    encoder, decoder = build_vae_networks(tuple(image_shape), m)
    model = VAE(
        encoder, decoder, likelihood=m.likelihood, sigma=m.sigma, beta=m.beta,
        binarize=m.binarize, seed=config.train.seed, name="vae",
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.train.lr))
    return model
