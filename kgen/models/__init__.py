"""The generative models, each a ``keras.Model`` with its own ``train_step`` and ``test_step``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import keras

from kgen.config import GAN_MODELS, RunConfig
from kgen.errors import ConfigError
from kgen.models.ae import AE
from kgen.models.base import EncoderDecoder
from kgen.models.gan import CGAN, GAN
from kgen.models.gan_nets import build_gan_networks
from kgen.models.nets import build_encoder_decoder
from kgen.models.vae import CVAE, VAE
from kgen.sizes import gan_arch

__all__ = ["AE", "CGAN", "CVAE", "GAN", "VAE", "EncoderDecoder", "build_model", "step_metrics"]

MODEL_CLASSES: dict[str, type[keras.Model]] = {"ae": AE, "vae": VAE, "cvae": CVAE, "gan": GAN, "dcgan": GAN,
                                               "cgan": CGAN}


def step_metrics(kind: str) -> tuple[str, ...]:
    """The metrics a model of ``kind`` reports at every training step (what its curves show)."""
    model_class = MODEL_CLASSES[kind]
    return model_class.metric_names if issubclass(model_class, GAN) else model_class.loss_names


def build_model(config: RunConfig, image_shape: Sequence[int], num_classes: int = 0) -> keras.Model:
    """A new, compiled model of the kind ``config`` names, sized for ``image_shape``.

    ``num_classes`` is the number of labels for conditional models (the CVAE).
    """
    kind, m = config.train.model, config.model
    if kind in GAN_MODELS:
        return _build_gan(config, tuple(image_shape), num_classes)
    common = {"likelihood": m.likelihood, "sigma": m.sigma, "binarize": m.binarize,
              "seed": config.train.seed, "name": kind}
    if kind == "ae":
        model = AE(*build_encoder_decoder(image_shape, m, gaussian=False), **common)
    elif kind == "vae":
        model = VAE(*build_encoder_decoder(image_shape, m), beta=m.beta, **common)
    else:
        _require_classes(kind, num_classes)
        nets = build_encoder_decoder(image_shape, m, num_classes=num_classes)
        model = CVAE(*nets, beta=m.beta, num_classes=num_classes, **common)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.train.lr))
    return model


def _build_gan(config: RunConfig, data_shape: tuple[int, ...], num_classes: int) -> GAN:
    kind, m = config.train.model, config.model
    arch = gan_arch(kind, m.arch, data_shape)
    if arch == "conv" and len(data_shape) != 3:
        raise ConfigError(f"the {kind} model needs images for --arch conv; 2-D points train with --arch mlp")
    if kind == "cgan":
        _require_classes(kind, num_classes)
    classes = num_classes if kind == "cgan" else 0
    generator, discriminator = build_gan_networks(data_shape, replace(m, arch=arch), num_classes=classes)
    options = {"d_steps": m.d_steps, "generator_loss": m.generator_loss, "seed": config.train.seed, "name": kind}
    if kind == "cgan":
        model = CGAN(generator, discriminator, num_classes=classes, **options)
    else:
        model = GAN(generator, discriminator, **options)
    lr = config.train.lr
    model.compile(
        d_optimizer=keras.optimizers.Adam(lr, beta_1=m.beta_1),
        g_optimizer=keras.optimizers.Adam(lr, beta_1=m.beta_1),
    )
    return model


def _require_classes(kind: str, num_classes: int) -> None:
    if num_classes < 2:
        raise ConfigError(f"the {kind} needs a labelled dataset with >= 2 classes, got {num_classes}")
