"""Generator and discriminator builders for the GAN family, sized from the data shape.

The MLP pair (Goodfellow et al. 2014) works on images and on 2-D points; the DCGAN pair
(Radford et al. 2015) uses strided (transposed) convolutions, batch norm, ReLU in G and
LeakyReLU in D, and a tanh output (per-pixel logits instead for binary images: GANConfig.pixels
other than continuous). With ``num_classes`` > 0 the label is a second input: one-hot
concatenated to z (G) or to the flattened input (MLP D), or tiled into extra channels (conv D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers

from kgen.models.nets import check_conv_shape, label_channels, label_inputs
from kgen.sizes import packed_shape


def build_mlp_generator(data_shape: Sequence[int], latent_dim: int, hidden: Sequence[int], *,
                        num_classes: int = 0, output: str = "tanh") -> keras.Model:
    """z -> data through LeakyReLU dense layers; ``output`` "tanh" for images, "linear" for points,
    "logits" for the pixel logits of binary images."""
    z, label, inputs = label_inputs((latent_dim,), "z", num_classes)
    h = z if label is None else layers.Concatenate()([z, label])
    for i, width in enumerate(hidden):
        h = layers.LeakyReLU(0.2)(layers.Dense(width, name=f"dense_{i}")(h))
    h = layers.Dense(math.prod(data_shape), activation="tanh" if output == "tanh" else None, name="data")(h)
    return keras.Model(inputs, layers.Reshape(tuple(data_shape))(h), name="generator")


def build_mlp_discriminator(data_shape: Sequence[int], hidden: Sequence[int], *,
                            num_classes: int = 0) -> keras.Model:
    """data -> one logit (real vs generated) through LeakyReLU dense layers."""
    x, label, inputs = label_inputs(tuple(data_shape), "data", num_classes)
    h = layers.Flatten()(x)
    if label is not None:
        h = layers.Concatenate()([h, label])
    for i, width in enumerate(hidden):
        h = layers.LeakyReLU(0.2)(layers.Dense(width, name=f"dense_{i}")(h))
    return keras.Model(inputs, layers.Dense(1, name="logit")(h), name="discriminator")


def build_dcgan_generator(image_shape: Sequence[int], latent_dim: int, filters: int = 64, *,
                          num_classes: int = 0, output: str = "tanh") -> keras.Model:
    """z -> image: project to (H/4, W/4, 2f), then two stride-2 transposed convs, a tanh output
    (``output`` "tanh") or per-pixel logits ("logits", for binary images)."""
    check_conv_shape(image_shape)
    height, width, channels = image_shape
    z, label, inputs = label_inputs((latent_dim,), "z", num_classes)
    h = z if label is None else layers.Concatenate()([z, label])
    h = layers.Dense((height // 4) * (width // 4) * 2 * filters, use_bias=False, name="project")(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    h = layers.Reshape((height // 4, width // 4, 2 * filters))(h)
    h = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, name="deconv_0")(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    activation = "tanh" if output == "tanh" else None
    out = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation=activation, name="image")(h)
    return keras.Model(inputs, out, name="generator")


def build_dcgan_discriminator(image_shape: Sequence[int], filters: int = 64, *,
                              num_classes: int = 0, critic: bool = False) -> keras.Model:
    """image -> one logit: two stride-2 convs with LeakyReLU (batch norm after the first). A WGAN-GP
    ``critic`` has layer norm there instead (over each image's features, per-channel scale and
    shift): its gradient penalty needs each example scored on its own."""
    check_conv_shape(image_shape)
    x, label, inputs = label_inputs(tuple(image_shape), "data", num_classes)
    h = x if label is None else label_channels(x, label)
    h = layers.LeakyReLU(0.2)(layers.Conv2D(filters, 4, strides=2, padding="same", name="conv_0")(h))
    h = layers.Conv2D(2 * filters, 4, strides=2, padding="same", use_bias=False, name="conv_1")(h)
    norm = layers.GroupNormalization(groups=1) if critic else layers.BatchNormalization()
    h = layers.LeakyReLU(0.2)(norm(h))
    return keras.Model(inputs, layers.Dense(1, name="logit")(layers.Flatten()(h)), name="discriminator")


def build_gan_networks(data_shape: Sequence[int], config, *, num_classes: int = 0,
                       critic: bool = False) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) for a ``GANConfig`` (or ``WGANConfig``: continuous pixels, no packs):
    MLP (images or points) or DCGAN (images); the generator ends in logits when the config's pixels
    are binary; the discriminator takes packs of ``config.pack`` examples; ``critic``: a WGAN-GP's
    discriminator, without batch norm."""
    data_shape = tuple(data_shape)
    d_shape = packed_shape(data_shape, getattr(config, "pack", 1))
    binary = getattr(config, "pixels", "continuous") != "continuous"
    if config.arch == "conv":
        return (
            build_dcgan_generator(data_shape, config.latent_dim, config.filters, num_classes=num_classes,
                                  output="logits" if binary else "tanh"),
            build_dcgan_discriminator(d_shape, config.filters, num_classes=num_classes, critic=critic),
        )
    output = "linear" if len(data_shape) == 1 else "logits" if binary else "tanh"
    return (
        build_mlp_generator(data_shape, config.latent_dim, config.hidden, num_classes=num_classes, output=output),
        build_mlp_discriminator(d_shape, config.hidden, num_classes=num_classes),
    )
