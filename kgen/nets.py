"""Network builders: each returns a named functional ``keras.Model`` sized from the image shape.

Models in ``kgen.models`` take these networks as arguments, so an architecture lives here once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers

from kgen.errors import ConfigError


def build_mlp_encoder(image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int]) -> keras.Model:
    """x -> (z_mean, z_log_var) through ReLU dense layers."""
    x = keras.Input(shape=tuple(image_shape), name="image")
    h = layers.Flatten()(x)
    for i, width in enumerate(hidden):
        h = layers.Dense(width, activation="relu", name=f"dense_{i}")(h)
    return _gaussian_head(x, h, latent_dim)


def build_mlp_decoder(image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int], channels: int) -> keras.Model:
    """z -> per-pixel decoder parameters (H, W, channels) through ReLU dense layers."""
    height, width = image_shape[0], image_shape[1]
    z = keras.Input(shape=(latent_dim,), name="z")
    h = z
    for i, units in enumerate(reversed(tuple(hidden))):
        h = layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
    h = layers.Dense(height * width * channels, name="pixels")(h)
    out = layers.Reshape((height, width, channels), name="params")(h)
    return keras.Model(z, out, name="decoder")


def build_conv_encoder(image_shape: Sequence[int], latent_dim: int, filters: Sequence[int]) -> keras.Model:
    """x -> (z_mean, z_log_var) through 4 conv layers: two with stride 2, then two with stride 1."""
    _check_conv_shape(image_shape)
    x = keras.Input(shape=tuple(image_shape), name="image")
    h = x
    for i, (f, stride) in enumerate(zip(filters, (2, 2, 1, 1), strict=True)):
        h = layers.Conv2D(f, 3, strides=stride, padding="same", activation="relu", name=f"conv_{i}")(h)
    return _gaussian_head(x, layers.Flatten()(h), latent_dim)


def build_conv_decoder(image_shape: Sequence[int], latent_dim: int, filters: Sequence[int], channels: int) -> keras.Model:
    """z -> per-pixel decoder parameters through 4 transposed conv layers mirroring the encoder."""
    _check_conv_shape(image_shape)
    height, width = image_shape[0] // 4, image_shape[1] // 4
    z = keras.Input(shape=(latent_dim,), name="z")
    h = layers.Dense(height * width * filters[3], activation="relu", name="project")(z)
    h = layers.Reshape((height, width, filters[3]))(h)
    for i, (f, stride) in enumerate(zip((filters[2], filters[1], filters[0]), (1, 2, 2), strict=True)):
        h = layers.Conv2DTranspose(f, 3, strides=stride, padding="same", activation="relu", name=f"deconv_{i}")(h)
    out = layers.Conv2DTranspose(channels, 3, padding="same", name="params")(h)
    return keras.Model(z, out, name="decoder")


def build_vae_networks(image_shape: Sequence[int], config) -> tuple[keras.Model, keras.Model]:
    """The encoder and decoder a ``VAEConfig`` asks for; learned variance doubles the output channels."""
    channels = image_shape[-1] * (2 if config.likelihood == "gaussian-learned" else 1)
    if config.arch == "conv":
        return (
            build_conv_encoder(image_shape, config.latent_dim, config.filters),
            build_conv_decoder(image_shape, config.latent_dim, config.filters, channels),
        )
    return (
        build_mlp_encoder(image_shape, config.latent_dim, config.hidden),
        build_mlp_decoder(image_shape, config.latent_dim, config.hidden, channels),
    )


def _gaussian_head(x, h, latent_dim: int) -> keras.Model:
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(x, [z_mean, z_log_var], name="encoder")


def _check_conv_shape(image_shape: Sequence[int]) -> None:
    if len(image_shape) != 3 or image_shape[0] % 4 or image_shape[1] % 4:
        size = 4 * math.ceil(max(image_shape[:2]) / 4)
        raise ConfigError(
            f"the conv architecture needs height and width divisible by 4, got {tuple(image_shape)}; "
            f"use --image-size {size} or --arch mlp"
        )
