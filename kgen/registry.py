"""The model registry: one `ModelSpec` per model kind, read by the CLI, the app, training and
evaluation. It names code by dotted paths, so reading it never imports TensorFlow.

Adding a model is one module (its ``keras.Model``, registered with Keras, and a builder) plus
``register(ModelSpec(...))``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kgen.config import AEConfig, BinaryVAEConfig, DRAWConfig, GANConfig, VAEConfig, WGANConfig
from kgen.errors import ConfigError

# Views of the app that can apply to a kind: inputs over their reconstructions while training,
# the GAN playground on 2-D toys, class names over the columns of conditional sample grids.
# DRAW's step scrubber: the canvas at every step, its attention windows and the KL of each step.
# The 1-D game (Goodfellow et al. 2014, figure 1) on 1-D toys.
VIEWS = ("reconstructions", "playground", "class_names", "draw_steps", "game_1d")
# Test scores that can apply: ELBO/IWAE bounds on log p(x), the reconstruction error,
# classifier-based image quality, modes covered on 2-D toys, error of inverting test images.
SCORES = ("likelihood", "reconstruction", "image_quality", "toy_modes", "inversion")
# What arch="auto" means for a kind: always MLP, always conv, or conv on images and MLP on points.
AUTO_ARCHS = ("mlp", "conv", "conv-on-images")


@dataclass(frozen=True)
class TrainDefaults:
    """The training options a kind gets when they are left unset."""

    lr: float
    batch_size: int
    epochs: int


@dataclass(frozen=True)
class ModelSpec:
    """Everything the code outside a model's own module needs to know about one model kind."""

    name: str
    description: str  # one line, shown in the CLI's help and the setup panel
    config: type  # its model config dataclass (kgen.config)
    build: str  # "module:function" of (RunConfig, data_shape, num_classes) -> a compiled keras.Model
    model_class: str  # "module:Class" its .keras files hold (registered with Keras)
    step_metrics: tuple[str, ...]  # what it reports at every training step: its curves
    defaults: TrainDefaults
    toy_defaults: TrainDefaults | None = None  # on 2-D toy points; None: it trains on images only
    conditional: bool = False  # takes class labels (needs a labelled dataset)
    adversarial: bool = False  # a generator and a discriminator (GAN networks, d_steps)
    critic: bool = False  # its discriminator is a Wasserstein critic: no sigmoid, no batch norm
    variational: bool = False  # an encoder giving a distribution q(z|x)
    # Its players can be updated one at a time while the run is paused (the studio's Step D and
    # Step G): the model has ``player_step("discriminator" | "generator", batch)``.
    player_steps: bool = False
    auto_arch: str = "mlp"  # what arch="auto" means (AUTO_ARCHS); "conv" also refuses arch="mlp"
    views: frozenset[str] = field(default_factory=frozenset)
    scores: frozenset[str] = field(default_factory=frozenset)
    # "module:function" of (RunConfig, data_shape, num_classes) -> kgen.sizes.Net tuple, for kinds
    # whose networks are not the AE/VAE or GAN ones kgen.sizes knows (TensorFlow-free).
    sizes: str | None = None

    def __post_init__(self) -> None:
        for path in (self.build, self.model_class, *([self.sizes] if self.sizes else [])):
            if path.count(":") != 1:
                raise ConfigError(f"model {self.name}: {path!r} is not a 'module:name' path")
        unknown = sorted((set(self.views) - set(VIEWS)) | (set(self.scores) - set(SCORES)))
        if unknown or self.auto_arch not in AUTO_ARCHS:
            raise ConfigError(f"model {self.name}: unknown views, scores or auto_arch {unknown or self.auto_arch}")

    @property
    def points(self) -> bool:
        """Whether it trains on the toy datasets' 2-D or 1-D points as well as images."""
        return self.toy_defaults is not None

    def train_defaults(self, on_toy: bool) -> TrainDefaults:
        """Its defaults on a 2-D toy dataset (``on_toy``) or on images."""
        return self.toy_defaults if on_toy and self.toy_defaults is not None else self.defaults

    def builder(self) -> Callable[..., Any]:
        """The function that builds a model of this kind (imports its module: TensorFlow)."""
        return load(self.build)

    def keras_class(self) -> type:
        """The class its .keras files hold (imports its module, which registers it with Keras)."""
        return load(self.model_class)


_SPECS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model kind (a new name, or a new spec for one already there) and return it."""
    if not spec.name.replace("-", "_").isidentifier() or spec.name != spec.name.lower():
        raise ConfigError(f"a model kind is a lower-case name (letters, digits, '-', '_'), got {spec.name!r}")
    _SPECS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model kind (what a test that registered one does when it ends)."""
    _SPECS.pop(name, None)


def kinds() -> tuple[str, ...]:
    """The registered model kinds, in the order they were registered."""
    return tuple(_SPECS)


def specs() -> tuple[ModelSpec, ...]:
    return tuple(_SPECS.values())


def spec(kind: str) -> ModelSpec:
    """The spec of ``kind``; a one-line ConfigError naming the kinds there are for another name."""
    try:
        return _SPECS[kind]
    except (KeyError, TypeError):
        raise ConfigError(f"model must be one of {', '.join(_SPECS)}; got {kind!r}") from None


def load(path: str) -> Any:
    """The object a "module:name" path names, importing its module."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


ENCODER_DECODER_DEFAULTS = TrainDefaults(2e-3, 32, 30)
GAN_DEFAULTS = TrainDefaults(2e-4, 64, 30)
# A GAN on a 2-D toy gets a 2-D z and 60 epochs (measured on ring8 over seeds 0-3: 7, 8, 8 and
# 8 of 8 modes covered; see docs/BENCHMARKS.md).
GAN_TOY_DEFAULTS = TrainDefaults(2e-4, 64, 60)
VAE_METRICS = ("loss", "reconstruction", "kl")
GAN_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "d_accuracy", "d_grad_norm", "g_grad_norm")
WGAN_METRICS = ("d_loss", "g_loss", "wasserstein", "gradient_penalty", "interpolate_grad_norm", "d_grad_norm",
                "g_grad_norm")
GAN_SCORES = frozenset({"image_quality", "inversion"})
VAE_SCORES = frozenset({"likelihood", "image_quality"})

register(ModelSpec(
    name="ae", description="autoencoder: a deterministic code z, trained on the reconstruction alone",
    config=AEConfig, build="kgen.models:build_ae", model_class="kgen.models.ae:AE",
    step_metrics=("loss", "reconstruction"), defaults=ENCODER_DECODER_DEFAULTS,
    views=frozenset({"reconstructions"}), scores=frozenset({"reconstruction", "image_quality"})))
register(ModelSpec(
    name="vae", description="variational autoencoder: trains the ELBO, decodes prior draws z ~ N(0, I)",
    config=VAEConfig, build="kgen.models:build_vae", model_class="kgen.models.vae:VAE",
    step_metrics=VAE_METRICS, defaults=ENCODER_DECODER_DEFAULTS, variational=True,
    views=frozenset({"reconstructions"}), scores=VAE_SCORES))
register(ModelSpec(
    name="cvae", description="class-conditional VAE: the label goes to encoder and decoder, z keeps the style",
    config=VAEConfig, build="kgen.models:build_cvae", model_class="kgen.models.vae:CVAE",
    step_metrics=VAE_METRICS, defaults=ENCODER_DECODER_DEFAULTS, conditional=True, variational=True,
    views=frozenset({"reconstructions", "class_names"}), scores=VAE_SCORES))
register(ModelSpec(
    name="bvae", description="VAE with binary latents z in {0,1}^d, prior Bernoulli(1/2)",
    config=BinaryVAEConfig, build="kgen.models:build_bvae", model_class="kgen.models.vae:BinaryVAE",
    step_metrics=VAE_METRICS, defaults=ENCODER_DECODER_DEFAULTS, variational=True,
    views=frozenset({"reconstructions"}), scores=VAE_SCORES, sizes="kgen.sizes:binary_vae_networks"))
register(ModelSpec(
    name="gan", description="GAN (Goodfellow et al. 2014) with MLP networks; also learns 2-D toy distributions",
    config=GANConfig, build="kgen.models:build_gan", model_class="kgen.models.gan:GAN",
    step_metrics=GAN_METRICS, defaults=GAN_DEFAULTS, toy_defaults=GAN_TOY_DEFAULTS, adversarial=True, player_steps=True,
    views=frozenset({"playground", "game_1d"}), scores=GAN_SCORES | {"toy_modes"}))
register(ModelSpec(
    name="dcgan", description="DCGAN (Radford et al. 2015): the GAN with convolutional networks",
    config=GANConfig, build="kgen.models:build_gan", model_class="kgen.models.gan:GAN",
    step_metrics=GAN_METRICS, defaults=GAN_DEFAULTS, adversarial=True, player_steps=True, auto_arch="conv", scores=GAN_SCORES))
register(ModelSpec(
    name="cgan", description="conditional GAN (Mirza & Osindero 2014): G and D both see the class label",
    config=GANConfig, build="kgen.models:build_gan", model_class="kgen.models.gan:CGAN",
    step_metrics=GAN_METRICS, defaults=GAN_DEFAULTS, conditional=True, adversarial=True, player_steps=True,
    auto_arch="conv-on-images", views=frozenset({"class_names"}), scores=GAN_SCORES))
# DRAW's training defaults, measured on digits with 2 CPU cores (docs/BENCHMARKS.md, "DRAW: speed and default
# sizes"): a 20-epoch lesson in about 47 CPU s; batch 32 at lr 2e-3 gains 0.7 nats for 40% more time.
register(ModelSpec(
    name="draw", description="DRAW (Gregor et al. 2015): a recurrent VAE that draws on a canvas in T steps, with attention",
    config=DRAWConfig, build="kgen.models:build_draw", model_class="kgen.models.draw:DRAW",
    step_metrics=VAE_METRICS, defaults=TrainDefaults(1e-3, 64, 20), variational=True,
    views=frozenset({"reconstructions", "draw_steps"}), scores=VAE_SCORES, sizes="kgen.sizes:draw_networks"))
# WGAN-GP: Algorithm 1's Adam rate 1e-4 on images. On a 2-D toy an epoch is 31 generator steps (batch 64,
# 5 critic steps each), and at 1e-4 G is still a diffuse cloud after 100 epochs (ring8, seed 0: 0 of 8
# modes) where 1e-3 draws the ring by epoch 30 (docs/USER_GUIDE.md, WGAN-GP).
register(ModelSpec(
    name="wgan-gp", description="WGAN-GP (Gulrajani et al. 2017): a critic with a gradient penalty, k critic steps per G step",
    config=WGANConfig, build="kgen.models:build_wgan", model_class="kgen.models.wgan:WGANGP",
    step_metrics=WGAN_METRICS, defaults=TrainDefaults(1e-4, 64, 30), toy_defaults=TrainDefaults(1e-3, 64, 100),
    adversarial=True, critic=True, player_steps=True, auto_arch="conv-on-images",
    views=frozenset({"playground"}), scores=GAN_SCORES | {"toy_modes"}))
