"""Typed configurations, one per model family plus one for training, shared by the CLI and the GUI.

Each config validates itself on construction and round-trips through plain dicts, so a run's
``config.json`` is enough to rebuild it. Each option is described once, in its field (`option`):
the CLI's help and the setup panel's tooltips read that. Model kinds live in kgen.registry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kgen.data.arrays import MAX_SIDE
from kgen.data.toys import POINT_TOYS, TOYS_1D
from kgen.errors import ConfigError

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-learned")
ARCHITECTURES = ("mlp", "conv")
GENERATOR_LOSSES = ("non-saturating", "saturating")
GAN_ARCHITECTURES = ("auto", "mlp", "conv")
# How a VAE gets the encoder's gradient through its sample z (kgen.models.estimators): for Gaussian
# latents, and for binary latents z in {0, 1}^d (the bvae model).
GAUSSIAN_ESTIMATORS = ("reparameterisation", "reinforce", "nvil")
BINARY_ESTIMATORS = ("reinforce", "nvil", "straight-through", "relaxed")
# The value types of options, as the CLI parses them: "widths" is a comma-separated list of
# whole numbers, "switch" an option that is off unless given.
OPTION_TYPES = ("int", "float", "str", "widths", "switch")

WALK_MODES = ("grid", "interpolate", "traverse")
# Widest layer a config may ask for: wider ones would try to allocate gigabytes of weights.
MAX_WIDTH = 16384
MAX_PACK = 16  # PacGAN's samples per D decision (the paper uses 2 to 4)
MAX_UNROLL = 100  # unrolled D steps for G's loss (Metz et al. use up to 10)
MAX_IMPORTANCE_SAMPLES = 5000  # IWAE draws per image (the literature evaluates with at most 5000)
# How a run spreads over devices: one device, MirroredStrategy over this machine's GPUs (or
# logical CPUs), MultiWorkerMirroredStrategy over the machines TF_CONFIG names (kgen.train.distribute).
STRATEGIES = ("default", "mirrored", "multiworker")
# Keras dtype policies: float32, or float16/bfloat16 compute with float32 variables and losses.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# What a resume may change: the epoch target, where it runs, how often it draws, where the data
# lives. Every other option is fixed by the checkpoint (its networks, optimizer, batches, seed).
RESUMABLE = ("epochs", "strategy", "sample_every", "data_dir")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _positive_int(value: Any, name: str, upper: int | None = None) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        f"{name} must be a whole number >= 1, got {value!r}",
    )
    _require(upper is None or value <= upper, f"{name} must be <= {upper}, got {value}")


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _positive_float(value: Any, name: str, upper: float = math.inf) -> None:
    _require(
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and _finite(value)
        and 0 < value <= upper,
        f"{name} must be a finite number in (0, {upper:g}], got {value!r}",
    )


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    _require(value in choices, f"{name} must be one of {', '.join(choices)}; got {value!r}")


class OptionError(ConfigError):
    """A ConfigError about one option, named first in the message (a CLI may spell it as a flag)."""

    def __init__(self, option: str, message: str):
        super().__init__(message, options=(option,))
        self.option = option


def option(default: Any = None, *, help: str, type: str, choices: tuple[str, ...] = (),  # noqa: A002
           cli: bool = True, later: bool = False) -> Any:
    """A config field described once: ``help`` (one line, no default: that comes from the field),
    the value ``type`` (OPTION_TYPES), its ``choices``; ``cli`` False keeps it off the command line.
    ``later`` marks an option added after runs were made without it: at its default it is left out
    of `RunConfig.fingerprint`, so those runs (and class packs) keep their fingerprints."""
    if type not in OPTION_TYPES:
        raise ValueError(f"option type must be one of {', '.join(OPTION_TYPES)}, got {type!r}")
    metadata = {"help": help, "type": type, "choices": tuple(choices), "cli": cli, "later": later}
    return field(default=default, metadata=metadata)


def options(config: type) -> dict[str, dataclasses.Field]:
    """The described fields of a config class, by name, in declaration order."""
    return {f.name: f for f in dataclasses.fields(config) if "help" in f.metadata}


def option_help(config: type, name: str) -> str:
    """The one-line description of option ``name`` of ``config`` ("" if it has none)."""
    found = options(config).get(name)
    return found.metadata["help"] if found is not None else ""


class _Config:
    """Dict round-trip shared by every config dataclass."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(n if n.isprintable() else repr(n) for n in map(str, set(data) - names))
        _require(not unknown, f"{cls.__name__} has no option {', '.join(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


@dataclass
class AEConfig(_Config):
    """The autoencoder: networks, bottleneck size and the pixel likelihood of the decoder."""

    latent_dim: int = option(8, help="size of the latent code z", type="int")
    arch: str = option("mlp", type="str", choices=ARCHITECTURES,
                       help="mlp: fully connected networks; conv: 4 conv layers, 4 transposed-conv layers")
    hidden: tuple[int, ...] = option((256, 128), type="widths",
                                     help="MLP hidden widths in encoder order (the decoder mirrors them)")
    filters: tuple[int, ...] = option((32, 64, 64, 64), type="widths",
                                      help="4 conv widths in encoder order (the decoder mirrors them)")
    likelihood: str = option("bernoulli", type="str", choices=LIKELIHOODS,
                             help="the decoder's pixel distribution: bernoulli for [0, 1] pixels, gaussian "
                                  "with a fixed sigma, gaussian-learned with a learned one")
    sigma: float = option(0.1, help="decoder standard deviation for likelihood gaussian", type="float")
    binarize: bool = option(False, type="switch",
                            help="draw binary pixels ~ Bernoulli(x) afresh for every batch (dynamic binarisation)")

    def __post_init__(self) -> None:
        _positive_int(self.latent_dim, "latent_dim")
        _require(self.latent_dim <= 4096, f"latent_dim must be <= 4096, got {self.latent_dim}")
        _choice(self.arch, "arch", ARCHITECTURES)
        _choice(self.likelihood, "likelihood", LIKELIHOODS)
        for name in ("hidden", "filters"):
            widths = getattr(self, name)
            _require(isinstance(widths, tuple) and len(widths) >= 1, f"{name} needs at least one width")
            for w in widths:
                _positive_int(w, f"each of {name}", MAX_WIDTH)
        _require(len(self.filters) == 4, f"filters needs 4 widths, got {len(self.filters)}")
        _positive_float(self.sigma, "sigma", upper=1e3)
        _require(isinstance(self.binarize, bool), f"binarize must be true or false, got {self.binarize!r}")
        _require(
            not (self.binarize and self.likelihood != "bernoulli"),
            "binarize needs likelihood=bernoulli (binary pixels have no Gaussian density)",
        )


@dataclass
class VAEConfig(AEConfig):
    """The (conditional) variational autoencoder: an AEConfig plus the weight on the KL term."""

    beta: float = option(1.0, help="weight on the KL term: 1 trains the ELBO, > 1 a beta-VAE", type="float")
    estimator: str = option("reparameterisation", type="str", choices=GAUSSIAN_ESTIMATORS, later=True,
                            help="the encoder's gradient through z: reparameterisation (z = mu + sigma * eps), "
                                 "reinforce (score function), or nvil (score function with a learned baseline)")
    importance_samples: int = option(1, type="int", later=True,
                                     help="draws of z per image: 1 trains the ELBO, k > 1 the importance-weighted "
                                          "bound (IWAE), tighter and k times the decoding")

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive_float(self.beta, "beta", upper=1e6)
        _choice(self.estimator, "estimator", options(type(self))["estimator"].metadata["choices"])
        _positive_int(self.importance_samples, "importance_samples", MAX_IMPORTANCE_SAMPLES)
        if self.importance_samples > 1:
            _require(self.estimator == "reparameterisation",
                     f"importance_samples > 1 (IWAE) needs estimator reparameterisation, not {self.estimator}")
            _require(self.beta == 1.0, "importance_samples > 1 (IWAE) bounds log p(x) only with beta 1")


@dataclass
class BinaryVAEConfig(VAEConfig):
    """The VAE with binary latents z in {0, 1}^d: its own estimators and the relaxation's temperature."""

    # relaxed trains best of the four on digits (30 epochs, latent 8, test ELBO in nats of a binary draw,
    # seeds 0 and 1): relaxed (temperature 0.5) -24.7, -24.2; straight-through -25.3, -25.3; nvil -26.5, -26.0; reinforce -27.4, -26.9.
    estimator: str = option("relaxed", type="str", choices=BINARY_ESTIMATORS,
                            help="the encoder's gradient through binary z: reinforce, nvil, straight-through "
                                 "(binary forward, identity backward) or relaxed (a relaxed Bernoulli sample)")
    # 0.25 trains best on digits (30 epochs, latent 8, seeds 0 and 1): temperature 0.1 -25.0, -24.7; 0.25 -24.2,
    # -24.2; 0.5 -24.7, -24.2; 1 -24.9, -24.9.
    temperature: float = option(0.25, type="float",
                                help="temperature of the relaxed Bernoulli (estimator relaxed): lower is closer "
                                     "to binary and noisier")

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive_float(self.temperature, "temperature", upper=100.0)


@dataclass
class TrainConfig(_Config):
    """What to train on and how long: shared by every model."""

    model: str = option("vae", help="the model kind (one of kgen.registry.kinds())", type="str", cli=False)
    dataset: str = option("digits", type="str",
                          help="a dataset name (the datasets listing shows them), folder:PATH or npz:PATH")
    image_size: int | None = option(help="resize images to this many pixels a side (unset: native size)", type="int")
    data_dir: str | None = option(help="folder holding local dataset files (IDX, .npz)", type="str")
    # Unset epochs, batch_size and lr take the model's defaults (kgen.registry.ModelSpec).
    epochs: int | None = option(help="epochs to train; the total when resuming (a resume keeps the run's target)",
                                type="int")
    batch_size: int | None = option(help="examples per batch", type="int")
    lr: float | None = option(help="Adam learning rate", type="float")
    lr_decay: float = option(0.0, type="float", later=True,
                             help="the last share of the epochs over which the learning rate falls linearly to "
                                  "a hundredth of lr (0: constant); smaller final steps tighten a GAN's samples")
    seed: int = option(0, help="seed of weights, batches, noise and the sample grid", type="int")
    sample_every: int = option(1, help="write a sample grid every this many epochs", type="int")
    grid_size: int = option(8, help="the sample grid is grid_size x grid_size images", type="int", cli=False)
    strategy: str = option("default", type="str", choices=STRATEGIES,
                           help="default: one device (a GPU if there is one); mirrored: every GPU here (or "
                                "logical CPU); multiworker: the machines in TF_CONFIG")
    precision: str = option("float32", type="str", choices=PRECISIONS, cli=False,
                            help="Keras dtype policy: float32, or mixed_float16 / mixed_bfloat16 (float32 "
                                 "variables and losses)")

    def __post_init__(self) -> None:
        from kgen import registry  # the registry imports this module's config classes

        spec = registry.spec(self.model)
        _choice(self.strategy, "strategy", STRATEGIES)
        _choice(self.precision, "precision", PRECISIONS)
        defaults = spec.train_defaults(on_toy=self.dataset in POINT_TOYS)
        self.lr = defaults.lr if self.lr is None else self.lr
        self.batch_size = defaults.batch_size if self.batch_size is None else self.batch_size
        self.epochs = defaults.epochs if self.epochs is None else self.epochs
        _require(isinstance(self.dataset, str) and self.dataset != "", "dataset must be named")
        _require(self.data_dir is None or isinstance(self.data_dir, str) and self.data_dir != "",
                 f"data_dir must be a folder name, got {self.data_dir!r}")
        if self.image_size is not None:
            _positive_int(self.image_size, "image_size")
            _require(self.image_size <= MAX_SIDE, f"image_size must be <= {MAX_SIDE}, got {self.image_size}")
        _positive_int(self.epochs, "epochs")
        _positive_int(self.batch_size, "batch_size")
        _positive_float(self.lr, "lr", upper=10.0)
        _require(isinstance(self.lr_decay, (int, float)) and not isinstance(self.lr_decay, bool)
                 and 0 <= self.lr_decay <= 1, f"lr_decay must be a share in [0, 1], got {self.lr_decay!r}")
        _require(
            isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed < 2**31,
            f"seed must be a whole number in [0, 2^31), got {self.seed!r}",
        )
        _positive_int(self.sample_every, "sample_every")
        _positive_int(self.grid_size, "grid_size")
        _require(self.grid_size <= 32, f"grid_size must be <= 32, got {self.grid_size}")


# What a GAN's generator outputs and its discriminator sees (kgen.models.gan): grey images, or binary
# pixels through one of four ways to pass D's gradient (or none) back through a binary sample.
GAN_PIXELS = ("continuous", "probabilities", "straight-through", "relaxed", "reinforce")


@dataclass
class GANConfig(_Config):
    """A GAN: networks, latent size and the rules of the game (k, generator loss)."""

    latent_dim: int | None = option(help="size of the noise z (unset: 64, or 2 on a 2-D toy)", type="int")
    arch: str = option("auto", type="str", choices=GAN_ARCHITECTURES,
                       help="mlp, conv (DCGAN networks), or auto: the model's own (conv for dcgan, and for "
                            "cgan on images)")
    hidden: tuple[int, ...] = option((256, 256), help="MLP widths of generator and discriminator", type="widths")
    filters: int = option(64, type="int",
                          help="DCGAN base width (the discriminator's first conv, the generator's last)")
    d_steps: int = option(1, help="k: discriminator updates per generator update (Algorithm 1)", type="int")
    generator_loss: str = option("non-saturating", type="str", choices=GENERATOR_LOSSES,
                                 help="non-saturating, or saturating: the minimax log(1 - D(G(z)))")
    beta_1: float = option(0.5, help="Adam's first-moment decay for both players (Radford et al. 2015)",
                           type="float")
    pixels: str = option("continuous", type="str", choices=GAN_PIXELS, later=True,
                         help="continuous: grey images; otherwise binary data (real pixels ~ Bernoulli(x)) and G gives "
                              "pixel probabilities p that D sees as p itself (probabilities), a Bernoulli(p) sample "
                              "with the straight-through gradient, a relaxed sample, or a sample trained by REINFORCE")
    temperature: float = option(0.5, help="temperature of the relaxed Bernoulli samples D sees (pixels relaxed)",
                                type="float", later=True)
    pack: int = option(1, type="int", later=True,
                       help="m: samples D judges at once, concatenated (PacGAN, Lin et al. 2018); 1 is the plain GAN")
    unroll: int = option(0, type="int", later=True,
                         help="k: G's loss uses D after k unrolled Adam steps, its gradient through them "
                              "(unrolled GAN, Metz et al. 2017); 0 is the plain GAN")

    def __post_init__(self) -> None:
        if self.latent_dim is not None:
            _positive_int(self.latent_dim, "latent_dim")
            _require(self.latent_dim <= 4096, f"latent_dim must be <= 4096, got {self.latent_dim}")
        _choice(self.arch, "arch", GAN_ARCHITECTURES)
        _require(isinstance(self.hidden, tuple) and len(self.hidden) >= 1, "hidden needs at least one width")
        for w in self.hidden:
            _positive_int(w, "each of hidden", MAX_WIDTH)
        _positive_int(self.filters, "filters", MAX_WIDTH)
        _positive_int(self.d_steps, "d_steps")
        _require(self.d_steps <= 100, f"d_steps must be <= 100, got {self.d_steps}")
        _choice(self.generator_loss, "generator_loss", GENERATOR_LOSSES)
        _require(
            isinstance(self.beta_1, (int, float)) and 0 <= self.beta_1 < 1,
            f"beta_1 must be in [0, 1), got {self.beta_1!r}",
        )
        _choice(self.pixels, "pixels", GAN_PIXELS)
        _positive_float(self.temperature, "temperature", upper=100.0)
        _positive_int(self.pack, "pack", MAX_PACK)
        _require(isinstance(self.unroll, int) and not isinstance(self.unroll, bool) and 0 <= self.unroll <= MAX_UNROLL,
                 f"unroll must be a whole number in [0, {MAX_UNROLL}], got {self.unroll!r}")


def option_like(config: type, name: str, default: Any = dataclasses.MISSING) -> Any:
    """Option ``name`` of ``config`` for another config, described once: the same metadata, its
    default unless ``default`` is given."""
    found = options(config)[name]
    return field(default=found.default if default is dataclasses.MISSING else default, metadata=found.metadata)


@dataclass
class WGANConfig(_Config):
    """WGAN-GP (Gulrajani et al. 2017): the GAN's networks with a critic (no sigmoid, no batch norm),
    its k critic steps, the gradient penalty's weight and Adam as Algorithm 1 sets them."""

    latent_dim: int | None = option_like(GANConfig, "latent_dim")
    arch: str = option_like(GANConfig, "arch")
    hidden: tuple[int, ...] = option_like(GANConfig, "hidden")
    filters: int = option_like(GANConfig, "filters")
    d_steps: int = option_like(GANConfig, "d_steps", 5)
    gp_weight: float = option(10.0, type="float",
                              help="lambda: weight of the gradient penalty (||grad D(x_hat)|| - 1)^2 at interpolates")
    beta_1: float = option_like(GANConfig, "beta_1", 0.0)
    beta_2: float = option(0.9, help="Adam's second-moment decay for both players", type="float")

    def __post_init__(self) -> None:
        shared = {name: getattr(self, name) for name in ("latent_dim", "arch", "hidden", "filters", "d_steps", "beta_1")}
        GANConfig(**shared)  # the options it shares with the GAN, checked as the GAN checks them
        _require(isinstance(self.gp_weight, (int, float)) and not isinstance(self.gp_weight, bool)
                 and _finite(self.gp_weight) and 0 <= self.gp_weight <= 1e6,
                 f"gp_weight must be a finite number in [0, 1e6], got {self.gp_weight!r}")
        _require(isinstance(self.beta_2, (int, float)) and 0 <= self.beta_2 < 1,
                 f"beta_2 must be in [0, 1), got {self.beta_2!r}")


DRAW_ATTENTION = ("gaussian", "none")


@dataclass
class DRAWConfig(_Config):
    """DRAW, the recurrent VAE: how many steps it draws in, its latents per step, its LSTMs and
    its attention. An image's latent is the steps' draws end to end (``latent_dim``)."""

    # Defaults chosen by short runs on 2 CPU cores, digits and binarised MNIST (docs/BENCHMARKS.md, "DRAW:
    # speed and default sizes"): 5 x 5 reads learn where 2 x 2 let the KL collapse; width 128 beats 256 per CPU second.
    steps: int = option(16, help="T: drawing steps, each adding to the canvas and drawing its own z_t", type="int")
    z_size: int = option(10, help="latents drawn at each step (an image has steps x z_size)", type="int")
    width: int = option(128, help="units of the encoder LSTM and of the decoder LSTM", type="int")
    attention: str = option("gaussian", type="str", choices=DRAW_ATTENTION,
                            help="gaussian: read and write through N x N grids of Gaussian filters the decoder "
                                 "places; none: read the whole image and write every pixel")
    read_size: int = option(5, help="N of the read grid: each glimpse is N x N (attention gaussian)", type="int")
    write_size: int = option(5, help="N of the write grid: each patch is N x N (attention gaussian)", type="int")
    binarize: bool = option(False, type="switch",
                            help="draw binary pixels ~ Bernoulli(x) afresh for every batch (dynamic binarisation)")

    def __post_init__(self) -> None:
        _positive_int(self.steps, "steps", 256)
        _positive_int(self.z_size, "z_size", 1024)
        _require(self.latent_dim <= 4096, f"steps x z_size must be <= 4096, got {self.latent_dim}")
        _positive_int(self.width, "width", MAX_WIDTH)
        _choice(self.attention, "attention", DRAW_ATTENTION)
        _positive_int(self.read_size, "read_size", MAX_SIDE)
        _positive_int(self.write_size, "write_size", MAX_SIDE)
        _require(isinstance(self.binarize, bool), f"binarize must be true or false, got {self.binarize!r}")

    @property
    def latent_dim(self) -> int:
        """The latent of one image: every step's z_t, end to end."""
        return self.steps * self.z_size


def model_config(kind: str) -> type[_Config]:
    """The config class of model ``kind`` (kgen.registry)."""
    from kgen import registry

    return registry.spec(kind).config


@dataclass
class RunConfig(_Config):
    """Everything needed to rebuild a run: training options plus the model's own config."""

    train: TrainConfig = field(default_factory=TrainConfig)
    model: Any = field(default_factory=VAEConfig)

    def __post_init__(self) -> None:
        from kgen import registry

        spec = registry.spec(self.train.model)
        expected = spec.config
        _require(
            type(self.model) is expected,
            f"model {self.train.model} takes a {expected.__name__}, got {type(self.model).__name__}",
        )
        if getattr(self.model, "latent_dim", 0) is None:  # a GAN's z: as many numbers as a toy's points
            dataset = self.train.dataset
            self.model.latent_dim = (1 if dataset in TOYS_1D else 2) if dataset in POINT_TOYS else 64
        _require(
            not (spec.auto_arch == "conv" and getattr(self.model, "arch", None) == "mlp"),
            f"{spec.name} is the convolutional GAN; use arch conv or auto (an MLP GAN is the gan model)",
        )

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train.to_dict(), "model": self.model.to_dict()}

    def fingerprint(self) -> str:
        """A hash of the whole config: two runs that would train alike share it (a class pack
        retrains a lesson run whose fingerprint changed; the studio forgets its has-run mark)."""
        sections = self.to_dict()
        for name, section in (("train", self.train), ("model", self.model)):
            for key, found in options(type(section)).items():
                if found.metadata["later"] and sections[name][key] == found.default:
                    del sections[name][key]
        text = json.dumps(sections, sort_keys=True, separators=(",", ":"), default=str)
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        _require(
            isinstance(data, dict) and {"train", "model"} <= set(data),
            "run config needs 'train' and 'model' sections",
        )
        train = TrainConfig.from_dict(data["train"])
        return cls(train=train, model=model_config(train.model).from_dict(data["model"]))


def resumed_config(saved: RunConfig, changes: Mapping[str, object]) -> RunConfig:
    """``saved`` with ``changes`` (option name -> value, of either section) applied: only the
    `RESUMABLE` options may change; any other that differs is a one-line ConfigError."""
    sections = saved.to_dict()
    for name, value in changes.items():
        section = "train" if name in sections["train"] else "model"
        old = getattr(getattr(saved, section), name, None)
        if value == old:
            continue
        if name == "model":
            raise OptionError(name, f"the run to resume is a {old} run, not {value}; resume it as a {old}")
        if name not in RESUMABLE:
            raise OptionError(name, f"{name} cannot change when resuming (the run has {old!r}, not {value!r}); "
                                    f"only {', '.join(RESUMABLE)} can")
        sections[section][name] = value
    return RunConfig.from_dict(sections)


def check_learning_rate(lr: Any) -> None:
    """Refuse a learning rate that is not a positive finite number (ConfigError)."""
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"learning rate must be a positive number, got {lr!r}")


def examples_per_step(config: RunConfig) -> int:
    """Training examples one step consumes: a GAN takes d_steps real minibatches per step."""
    return config.train.batch_size * getattr(config.model, "d_steps", 1)
