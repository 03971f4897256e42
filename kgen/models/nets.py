"""Network builders: each returns a named functional ``keras.Model`` sized from the image shape.

Models in ``kgen.models`` take these networks as arguments, so an architecture lives here once.
With ``num_classes`` > 0 a network takes a one-hot label as a second input: concatenated to the
flattened image (MLP), tiled into extra image channels (conv), or concatenated to z (decoders).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers

from kgen.errors import ConfigError


def build_mlp_encoder(image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int],
                      *, num_classes: int = 0, gaussian: bool = True) -> keras.Model:
    """x -> (z_mean, z_log_var), or x -> z when not ``gaussian``, through ReLU dense layers."""
    x, label, inputs = label_inputs(tuple(image_shape), "image", num_classes)
    h = layers.Flatten()(x)
    if label is not None:
        h = layers.Concatenate()([h, label])
    for i, width in enumerate(hidden):
        h = layers.Dense(width, activation="relu", name=f"dense_{i}")(h)
    return _latent_head(inputs, h, latent_dim, gaussian)


def build_mlp_decoder(image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int],
                      channels: int, *, num_classes: int = 0) -> keras.Model:
    """z -> per-pixel decoder parameters (H, W, channels) through ReLU dense layers."""
    height, width = image_shape[0], image_shape[1]
    z, inputs, h = _decoder_inputs(latent_dim, num_classes)
    for i, units in enumerate(reversed(tuple(hidden))):
        h = layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
    h = layers.Dense(height * width * channels, name="pixels")(h)
    out = layers.Reshape((height, width, channels), name="params")(h)
    return keras.Model(inputs, out, name="decoder")


def build_conv_encoder(image_shape: Sequence[int], latent_dim: int, filters: Sequence[int],
                       *, num_classes: int = 0, gaussian: bool = True) -> keras.Model:
    """x -> latent head through 4 conv layers: two with stride 2, then two with stride 1."""
    check_conv_shape(image_shape)
    x, label, inputs = label_inputs(tuple(image_shape), "image", num_classes)
    h = x if label is None else label_channels(x, label)
    for i, (f, stride) in enumerate(zip(filters, (2, 2, 1, 1), strict=True)):
        h = layers.Conv2D(f, 3, strides=stride, padding="same", activation="relu", name=f"conv_{i}")(h)
    return _latent_head(inputs, layers.Flatten()(h), latent_dim, gaussian)


def build_conv_decoder(image_shape: Sequence[int], latent_dim: int, filters: Sequence[int],
                       channels: int, *, num_classes: int = 0) -> keras.Model:
    """z -> per-pixel decoder parameters through 4 transposed conv layers mirroring the encoder."""
    check_conv_shape(image_shape)
    height, width = image_shape[0] // 4, image_shape[1] // 4
    z, inputs, h = _decoder_inputs(latent_dim, num_classes)
    h = layers.Dense(height * width * filters[3], activation="relu", name="project")(h)
    h = layers.Reshape((height, width, filters[3]))(h)
    for i, (f, stride) in enumerate(zip((filters[2], filters[1], filters[0]), (1, 2, 2), strict=True)):
        h = layers.Conv2DTranspose(f, 3, strides=stride, padding="same", activation="relu", name=f"deconv_{i}")(h)
    out = layers.Conv2DTranspose(channels, 3, padding="same", name="params")(h)
    return keras.Model(inputs, out, name="decoder")


def build_encoder_decoder(image_shape: Sequence[int], config, *, num_classes: int = 0,
                          gaussian: bool = True) -> tuple[keras.Model, keras.Model]:
    """The encoder and decoder a model config asks for (arch, sizes, likelihood)."""
    image_shape = tuple(image_shape)
    channels = output_channels(config.likelihood, image_shape[-1])
    if config.arch == "conv":
        sizes, build_enc, build_dec = config.filters, build_conv_encoder, build_conv_decoder
    else:
        sizes, build_enc, build_dec = config.hidden, build_mlp_encoder, build_mlp_decoder
    return (
        build_enc(image_shape, config.latent_dim, sizes, num_classes=num_classes, gaussian=gaussian),
        build_dec(image_shape, config.latent_dim, sizes, channels, num_classes=num_classes),
    )


def build_baseline(image_shape: Sequence[int], *, num_classes: int = 0, hidden: int = 100) -> keras.Model:
    """x -> b(x), NVIL's input-dependent baseline (Mnih & Gregor 2014): one ReLU layer of
    ``hidden`` units on the flattened image (and label), one number per example (N, 1)."""
    x, label, inputs = label_inputs(tuple(image_shape), "image", num_classes)
    h = layers.Flatten()(x)
    if label is not None:
        h = layers.Concatenate()([h, label])
    h = layers.Dense(hidden, activation="relu", name="dense_0")(h)
    return keras.Model(inputs, layers.Dense(1, name="b")(h), name="baseline")


def output_channels(likelihood: str, image_channels: int) -> int:
    """Decoder output channels: a learned variance needs a second value per pixel."""
    return image_channels * (2 if likelihood == "gaussian-learned" else 1)


def label_inputs(shape: tuple, name: str, num_classes: int):
    """(main input, label input or None, the model's inputs)."""
    main = keras.Input(shape=shape, name=name)
    if not num_classes:
        return main, None, main
    label = keras.Input(shape=(num_classes,), name="label")
    return main, label, [main, label]


def label_channels(x, label):
    """The image x with its one-hot label tiled over every pixel as extra channels."""
    height, width, classes = x.shape[1], x.shape[2], label.shape[-1]
    tiled = layers.Reshape((height, width, classes))(layers.RepeatVector(height * width)(label))
    return layers.Concatenate()([x, tiled])


def _decoder_inputs(latent_dim: int, num_classes: int):
    """(z input, the model's inputs, the tensor the first dense layer sees)."""
    z, label, inputs = label_inputs((latent_dim,), "z", num_classes)
    return z, inputs, z if label is None else layers.Concatenate()([z, label])


def _latent_head(inputs, h, latent_dim: int, gaussian: bool) -> keras.Model:
    if not gaussian:
        return keras.Model(inputs, layers.Dense(latent_dim, name="z")(h), name="encoder")
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def check_conv_shape(image_shape: Sequence[int]) -> None:
    if len(image_shape) != 3 or image_shape[0] % 4 or image_shape[1] % 4:
        size = 4 * math.ceil(max(image_shape[:2]) / 4)
        raise ConfigError(
            f"the conv architecture needs height and width divisible by 4, got {tuple(image_shape)}; "
            f"use image_size {size} or arch mlp", options=("image_size", "arch"),
        )
