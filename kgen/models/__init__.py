"""The generative models, each a ``keras.Model`` with its own ``train_step`` and ``test_step``,
and the builders the model registry (kgen.registry) names for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import keras

from kgen import registry
from kgen.config import RunConfig
from kgen.errors import ConfigError
from kgen.models.ae import AE
from kgen.models.base import EncoderDecoder
from kgen.models.draw import DRAW
from kgen.models.gan import CGAN, GAN
from kgen.models.gan_nets import build_gan_networks
from kgen.models.nets import build_baseline, build_encoder_decoder
from kgen.models.vae import CVAE, VAE, BinaryVAE
from kgen.models.wgan import WGANGP
from kgen.sizes import gan_arch

__all__ = ["AE", "CGAN", "CVAE", "DRAW", "GAN", "VAE", "WGANGP", "BinaryVAE", "EncoderDecoder", "build_model"]


def build_model(config: RunConfig, image_shape: Sequence[int], num_classes: int = 0) -> keras.Model:
    """A new, compiled model of the kind ``config`` names (its registry builder), sized for
    ``image_shape``; ``num_classes`` is the number of labels for conditional models."""
    spec = registry.spec(config.train.model)
    if spec.conditional and num_classes < 2:
        raise ConfigError(f"the {spec.name} needs a labelled dataset with >= 2 classes, got {num_classes}")
    model = spec.builder()(config, tuple(int(d) for d in image_shape), num_classes if spec.conditional else 0)
    reported = tuple(m.name for m in model.metrics)
    if reported != spec.step_metrics:  # the curves would wait for metrics that never come
        raise ConfigError(f"the {spec.name} model reports {', '.join(reported)}; its registry entry says "
                          f"{', '.join(spec.step_metrics)}")
    return model


def _encoder_decoder_options(config: RunConfig) -> dict:
    m = config.model
    return {"likelihood": m.likelihood, "sigma": m.sigma, "binarize": m.binarize, "seed": config.train.seed,
            "name": config.train.model}


def _compiled(model: keras.Model, config: RunConfig) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.train.lr))
    return model


def build_ae(config: RunConfig, image_shape: tuple[int, ...], num_classes: int = 0) -> AE:
    """The deterministic autoencoder (one encoder head: the code)."""
    nets = build_encoder_decoder(image_shape, config.model, gaussian=False)
    return _compiled(AE(*nets, **_encoder_decoder_options(config)), config)


def _estimator_options(config: RunConfig, image_shape: tuple[int, ...], num_classes: int = 0) -> dict:
    """A VAE's beta, estimator and draws per image, and NVIL's baseline network when that is the estimator."""
    m = config.model
    baseline = build_baseline(image_shape, num_classes=num_classes) if m.estimator == "nvil" else None
    return {"beta": m.beta, "estimator": m.estimator, "baseline": baseline, "importance_samples": m.importance_samples}


def build_vae(config: RunConfig, image_shape: tuple[int, ...], num_classes: int = 0) -> VAE:
    """The VAE: the encoder gives the mean and log-variance of q(z|x)."""
    nets = build_encoder_decoder(image_shape, config.model)
    model = VAE(*nets, **_estimator_options(config, image_shape), **_encoder_decoder_options(config))
    return _compiled(model, config)


def build_cvae(config: RunConfig, image_shape: tuple[int, ...], num_classes: int = 0) -> CVAE:
    """The class-conditional VAE: both networks take the one-hot label too."""
    nets = build_encoder_decoder(image_shape, config.model, num_classes=num_classes)
    model = CVAE(*nets, num_classes=num_classes, **_estimator_options(config, image_shape, num_classes),
                 **_encoder_decoder_options(config))
    return _compiled(model, config)


def build_bvae(config: RunConfig, image_shape: tuple[int, ...], num_classes: int = 0) -> BinaryVAE:
    """The VAE with binary latents: the encoder's one head gives the logits of q(z|x)."""
    nets = build_encoder_decoder(image_shape, config.model, gaussian=False)
    model = BinaryVAE(*nets, temperature=config.model.temperature, **_estimator_options(config, image_shape),
                      **_encoder_decoder_options(config))
    return _compiled(model, config)


def build_draw(config: RunConfig, image_shape: tuple[int, ...], num_classes: int = 0) -> DRAW:
    """DRAW with the config's steps, latents, LSTM width and attention."""
    if len(image_shape) != 3:
        raise ConfigError("the draw model needs images; 2-D points have no canvas to draw on")
    m = config.model
    model = DRAW(image_shape, steps=m.steps, z_size=m.z_size, width=m.width, attention=m.attention == "gaussian",
                 read_size=m.read_size, write_size=m.write_size, binarize=m.binarize, seed=config.train.seed)
    return _compiled(model, config)


def _gan_networks(config: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0):
    """(generator, discriminator) of the resolved arch for a GAN kind (a critic for WGAN-GP)."""
    kind, m = config.train.model, config.model
    arch = gan_arch(kind, m.arch, data_shape)
    if arch == "conv" and len(data_shape) != 3:
        raise ConfigError(f"the {kind} model needs images for arch conv; 2-D points train with arch mlp")
    return build_gan_networks(data_shape, replace(m, arch=arch), num_classes=num_classes,
                              critic=registry.spec(kind).critic)


def build_gan(config: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> GAN:
    """A GAN, DCGAN or (with classes) conditional GAN: networks of the resolved arch (ending in
    pixel logits for binary pixels, D taking packs of ``pack`` examples), and one Adam optimizer
    per player (the unrolled GAN repeats D's Adam steps)."""
    kind, m = config.train.model, config.model
    generator, discriminator = _gan_networks(config, data_shape, num_classes)
    if m.pixels != "continuous" and len(data_shape) != 3:
        raise ConfigError(f"pixels {m.pixels} needs images; 2-D points train with pixels continuous")
    if m.pack > 1 and num_classes:
        raise ConfigError(f"pack {m.pack} needs an unconditional GAN: a pack's samples would carry different labels")
    if config.train.batch_size % m.pack:
        raise ConfigError(f"pack {m.pack} needs a batch size divisible by it, got {config.train.batch_size}")
    options = {"d_steps": m.d_steps, "generator_loss": m.generator_loss, "seed": config.train.seed, "name": kind,
               "pixels": m.pixels, "temperature": m.temperature, "pack": m.pack, "unroll": m.unroll}
    if num_classes:
        model = CGAN(generator, discriminator, num_classes=num_classes, **options)
    else:
        model = GAN(generator, discriminator, **options)
    lr = config.train.lr
    model.compile(
        d_optimizer=keras.optimizers.Adam(lr, beta_1=m.beta_1),
        g_optimizer=keras.optimizers.Adam(lr, beta_1=m.beta_1),
    )
    return model


def build_wgan(config: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> WGANGP:
    """WGAN-GP: GAN networks with a critic, and Algorithm 1's Adam (the run's lr, beta_1, beta_2) per player."""
    m = config.model
    model = WGANGP(*_gan_networks(config, data_shape), d_steps=m.d_steps, gp_weight=m.gp_weight,
                   seed=config.train.seed, name=config.train.model)
    adam = {"learning_rate": config.train.lr, "beta_1": m.beta_1, "beta_2": m.beta_2}
    model.compile(d_optimizer=keras.optimizers.Adam(**adam), g_optimizer=keras.optimizers.Adam(**adam))
    return model
