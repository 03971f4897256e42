"""How much memory a training step of a model needs, worked out from its config and the data
shape by arithmetic alone (no TensorFlow), so an absurd network is refused before any weight
exists; and how much memory this machine can give it.

The estimate counts, in float32: the weights; Adam's two slots and one gradient per trainable
weight; a few temporaries the size of the largest weight tensor (initialisers, Adam's update,
checkpoint writes); and the activations a training step keeps for the backward pass at the
configured batch size. `benchmarks/size_estimate.py` checks it against measured peak RSS.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kgen import registry
from kgen.config import RunConfig
from kgen.errors import ConfigError

BYTES = 4  # float32: weights, optimizer slots and gradients stay float32 in every precision
# Floats held per trainable weight during a step: the weight, Adam's two slots, its gradient.
PER_TRAINABLE = 4
# A checkpoint write copies every weight and both optimizer slots into an in-memory .keras
# archive and copies that again to write it (keras' writer when memory seems sufficient): up to
# 6 more floats per trainable weight, on top of the state above.
PER_TRAINABLE_SAVE = 6
# TensorFlow's own working memory once training starts (traced step functions, thread pools,
# pipeline buffers): measured 63 MiB for the smallest models on digits.
FIXED = 128 * 2**20
# Temporaries the size of the largest weight tensor: the initialiser's random draw and Adam's
# update terms (measured: see benchmarks/size_estimate.py).
LARGEST_TEMPORARIES = 3
# Each activation kept for backprop is met again by its gradient (and a pre-activation copy
# for layers with a nonlinearity): 3 floats per activation element per example.
PER_ACTIVATION = 3
# The default limit: this share of the memory available when the run starts (what is already
# used, TensorFlow and the data included, is not available).
MEMORY_FRACTION = 0.8
MEMORY_ENV = "KGEN_MAX_MEMORY"
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


@dataclass(frozen=True)
class Net:
    """One network's size: weights (``trainable`` of them), its largest weight tensor, and the
    floats one example's forward pass produces (every layer's output)."""

    params: int = 0
    trainable: int = 0
    largest: int = 0
    activations: int = 0

    def __add__(self, other: Net) -> Net:
        return Net(self.params + other.params, self.trainable + other.trainable,
                   max(self.largest, other.largest), self.activations + other.activations)


def dense(n_in: int, n_out: int, bias: bool = True) -> Net:
    weights = n_in * n_out
    return Net(weights + n_out * bias, weights + n_out * bias, weights, n_out)


def conv(kernel: int, c_in: int, c_out: int, out_pixels: int, bias: bool = True) -> Net:
    """A 2-D (transposed) convolution with a square kernel, producing ``out_pixels`` pixels."""
    weights = kernel * kernel * c_in * c_out
    return Net(weights + c_out * bias, weights + c_out * bias, weights, out_pixels * c_out)


def batch_norm(channels: int, elements: int) -> Net:
    """Scale and shift trained; moving mean and variance kept too."""
    return Net(4 * channels, 2 * channels, channels, elements)


def activation(elements: int) -> Net:
    return Net(activations=elements)


@dataclass(frozen=True)
class Estimate:
    """Bytes a training step needs, split into the part the weights drive and the part the
    batch drives, with the weights counted."""

    weights_bytes: int
    activation_bytes: int
    params: int

    @property
    def total(self) -> int:
        return FIXED + self.weights_bytes + self.activation_bytes


def estimate(config: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> Estimate:
    """The memory one training step of ``config``'s model on data of ``data_shape`` needs."""
    nets = networks(config, tuple(int(d) for d in data_shape), num_classes)
    total = sum(nets, Net())
    weights = BYTES * (total.params + (PER_TRAINABLE - 1 + PER_TRAINABLE_SAVE) * total.trainable
                       + LARGEST_TEMPORARIES * total.largest)
    batch = config.train.batch_size
    # A GAN's step runs both networks on a real and a generated minibatch; an IWAE decodes k draws per image.
    per_example = nets[0].activations + getattr(config.model, "importance_samples", 1) * nets[1].activations
    per_example *= 2 if registry.spec(config.train.model).adversarial else 1
    return Estimate(weights, BYTES * PER_ACTIVATION * batch * per_example, total.params)


def networks(config: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> tuple[Net, Net]:
    """(encoder, decoder) or (generator, discriminator) sizes, as kgen.models.nets and kgen.models.gan_nets
    build them."""
    kind, m = config.train.model, config.model
    spec = registry.spec(kind)
    if spec.sizes:
        return registry.load(spec.sizes)(config, data_shape, num_classes)
    classes = num_classes if spec.conditional else 0
    if spec.adversarial:
        pack, unroll = getattr(m, "pack", 1), getattr(m, "unroll", 0)
        d_shape = packed_shape(data_shape, pack)
        if gan_arch(kind, m.arch, data_shape) == "conv":
            if len(data_shape) != 3:  # points: building refuses the conv networks in one line
                return Net(), Net()
            return dcgan_generator(data_shape, m.latent_dim, m.filters, classes), \
                gan_discriminator_share(dcgan_discriminator(d_shape, m.filters, classes, critic=spec.critic),
                                        pack, unroll)
        return mlp_generator(data_shape, m.latent_dim, m.hidden, classes), \
            gan_discriminator_share(mlp_discriminator(d_shape, m.hidden, classes), pack, unroll)
    return encoder_decoder(config, data_shape, classes, heads=2 if spec.variational else 1)


def encoder_decoder(config: RunConfig, data_shape: tuple[int, ...], classes: int, heads: int) -> tuple[Net, Net]:
    """(encoder, decoder) as kgen.models.nets.build_encoder_decoder builds them, the encoder with
    ``heads`` dense heads; NVIL's baseline network, when it is the estimator, counts with the encoder."""
    m = config.model
    channels = data_shape[-1] * (2 if m.likelihood == "gaussian-learned" else 1)
    if m.arch == "conv":
        encoder = conv_encoder(data_shape, m.latent_dim, m.filters, classes, heads)
        decoder = conv_decoder(data_shape, m.latent_dim, m.filters, channels, classes)
    else:
        encoder = mlp_encoder(data_shape, m.latent_dim, m.hidden, classes, heads)
        decoder = mlp_decoder(data_shape, m.latent_dim, m.hidden, channels, classes)
    if getattr(m, "estimator", None) == "nvil":
        encoder += baseline(data_shape, classes)
    return encoder, decoder


def binary_vae_networks(config: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> tuple[Net, Net]:
    """The binary VAE's (encoder, decoder): the VAE's networks with one encoder head, the logits."""
    return encoder_decoder(config, data_shape, 0, heads=1)


def baseline(shape, classes: int, hidden: int = 100) -> Net:
    """NVIL's baseline b(x) (kgen.models.nets.build_baseline): one hidden layer on the flattened input."""
    n_in = math.prod(shape) + classes
    return activation(2 * n_in) + dense(n_in, hidden) + dense(hidden, 1)


def draw_networks(config: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> tuple[Net, Net]:
    """DRAW's (encoder, decoder) as kgen.models.draw builds them; a training step keeps every one
    of the T steps' activations (LSTM gates and states, glimpses, filterbanks, the canvas)."""
    m = config.model
    if len(data_shape) != 3:
        return Net(), Net()
    height, width, channels = data_shape
    pixels = height * width * channels
    gaussian = m.attention == "gaussian"
    read_dim = 2 * channels * (m.read_size**2 if gaussian else height * width)
    write_dim = channels * (m.write_size**2 if gaussian else height * width)
    windows = dense(m.width, 5) + dense(m.width, 5) if gaussian else Net()
    encoder = lstm(read_dim + m.width, m.width) + dense(m.width, m.z_size) + dense(m.width, m.z_size)
    decoder = lstm(m.z_size, m.width) + dense(m.width, write_dim) + windows
    filters = (m.read_size + m.write_size) * (height + width) * 2 if gaussian else 0
    per_step = Net(activations=2 * pixels + read_dim + filters)
    return _repeat_steps(encoder, m.steps, per_step), _repeat_steps(decoder, m.steps, per_step)


def lstm(n_in: int, units: int) -> Net:
    """One LSTM cell's weights and one step's activations (four gates, the cell and h)."""
    weights = 4 * units * (n_in + units)
    return Net(weights + 4 * units, weights + 4 * units, 4 * units * max(n_in, units), 6 * units)


def _repeat_steps(net: Net, steps: int, per_step: Net) -> Net:
    """A network applied at each of ``steps`` steps: its weights once, its activations per step."""
    return Net(net.params, net.trainable, net.largest, steps * (net.activations + per_step.activations))


def gan_arch(kind: str, arch: str, data_shape: tuple[int, ...]) -> str:
    """A GAN's architecture with "auto" resolved as its registry entry says (auto_arch)."""
    if arch != "auto":
        return arch
    auto = registry.spec(kind).auto_arch
    return "conv" if auto == "conv" or (auto == "conv-on-images" and len(data_shape) == 3) else "mlp"


def packed_shape(data_shape, pack: int) -> tuple[int, ...]:
    """The shape of ``pack`` examples concatenated along the last axis (PacGAN's D input): (m * 2,)
    for points, (H, W, m * C) for images (an MLP flattens them: the same inputs in another order)."""
    *rest, last = (int(d) for d in data_shape)
    return (*rest, pack * last)


def gan_discriminator_share(net: Net, pack: int, unroll: int) -> Net:
    """A discriminator's activations per example: one pack's over ``pack`` examples, times the
    1 + 2k passes (real and fake each unrolled step, all kept for G's gradient) of ``unroll`` k."""
    return dataclasses.replace(net, activations=net.activations * (1 + 2 * unroll) // pack)


def _dense_stack(n_in: int, widths, extra_activation: bool) -> tuple[Net, int]:
    """Dense layers of ``widths`` after an input of ``n_in`` (each with its nonlinearity's
    output too when that is a layer of its own); (their size, the last width)."""
    net = Net()
    for width in widths:
        net += dense(n_in, width) + (activation(width) if extra_activation else Net())
        n_in = width
    return net, n_in


def mlp_encoder(shape, latent: int, hidden, classes: int, heads: int) -> Net:
    n_in = math.prod(shape) + classes
    body, last = _dense_stack(n_in, hidden, extra_activation=False)
    return activation(2 * n_in) + body + _repeat(dense(last, latent), heads)


def mlp_decoder(shape, latent: int, hidden, channels: int, classes: int) -> Net:
    body, last = _dense_stack(latent + classes, tuple(reversed(tuple(hidden))), extra_activation=False)
    return body + dense(last, shape[0] * shape[1] * channels)


def conv_encoder(shape, latent: int, filters, classes: int, heads: int) -> Net:
    height, width, c_in = shape[0], shape[1], shape[2] + classes
    net = activation(height * width * c_in * (2 if classes else 1))
    for f, stride in zip(filters, (2, 2, 1, 1), strict=True):
        height, width = -(-height // stride), -(-width // stride)
        net += conv(3, c_in, f, height * width)
        c_in = f
    flat = height * width * c_in
    return net + activation(flat) + _repeat(dense(flat, latent), heads)


def conv_decoder(shape, latent: int, filters, channels: int, classes: int) -> Net:
    height, width = -(-shape[0] // 4), -(-shape[1] // 4)
    net = dense(latent + classes, height * width * filters[3])
    c_in = filters[3]
    for f, stride in zip((filters[2], filters[1], filters[0]), (1, 2, 2), strict=True):
        height, width = height * stride, width * stride
        net += conv(3, c_in, f, height * width)
        c_in = f
    return net + conv(3, c_in, channels, height * width)


def mlp_generator(shape, latent: int, hidden, classes: int) -> Net:
    body, last = _dense_stack(latent + classes, hidden, extra_activation=True)
    return body + dense(last, math.prod(shape))


def mlp_discriminator(shape, hidden, classes: int) -> Net:
    n_in = math.prod(shape) + classes
    body, last = _dense_stack(n_in, hidden, extra_activation=True)
    return activation(2 * n_in) + body + dense(last, 1)


def dcgan_generator(shape, latent: int, filters: int, classes: int) -> Net:
    height, width, channels = shape
    projected = (height // 4) * (width // 4) * 2 * filters
    half = (height // 2) * (width // 2)
    return (dense(latent + classes, projected, bias=False) + batch_norm(projected, projected)
            + activation(projected) + conv(4, 2 * filters, filters, half, bias=False)
            + batch_norm(filters, half * filters) + activation(half * filters)
            + conv(4, filters, channels, height * width))


def dcgan_discriminator(shape, filters: int, classes: int, critic: bool = False) -> Net:
    """The DCGAN discriminator; a WGAN-GP ``critic`` has layer norm (scale and shift per channel,
    no moving statistics) where D has batch norm."""
    height, width, channels = shape
    quarter = (height // 4) * (width // 4)
    norm = Net(4 * filters, 4 * filters, 2 * filters, quarter * 2 * filters) if critic \
        else batch_norm(2 * filters, quarter * 2 * filters)
    return (activation(height * width * (channels + classes) * (2 if classes else 1))
            + conv(4, channels + classes, filters, (height // 2) * (width // 2))
            + activation((height // 2) * (width // 2) * filters)
            + conv(4, filters, 2 * filters, quarter, bias=False) + norm
            + activation(quarter * 2 * filters) + dense(quarter * 2 * filters, 1))


def _repeat(net: Net, times: int) -> Net:
    return sum((net for _ in range(times)), Net())


# ------------------------------------------------------------------ the machine's limit


def memory_limit() -> tuple[int, str]:
    """(bytes a run may use, where that number comes from): ``KGEN_MAX_MEMORY`` when set, else
    `MEMORY_FRACTION` of the memory available now (the tighter of the machine's and the cgroup's)."""
    text = os.environ.get(MEMORY_ENV)
    if text:
        return parse_size(text), f"the limit {MEMORY_ENV}={text.strip()}"
    available = available_memory()
    return int(MEMORY_FRACTION * available), (f"{MEMORY_FRACTION:.0%} of the {gib(available)} available; "
                                              f"set {MEMORY_ENV} to change it")


def parse_size(text: str) -> int:
    """'8G', '512M', '1.5T' or a byte count -> bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match or float(match[1]) <= 0:
        raise ConfigError(f"{MEMORY_ENV} must be a size such as 8G or 512M, got {text!r}")
    return int(float(match[1]) * _UNITS[match[2].upper()])


def available_memory() -> int:
    """Bytes this process could still allocate without swapping: MemAvailable, or less under a
    cgroup v2 memory limit."""
    available = _meminfo_available()
    cgroup = _cgroup_headroom()
    return min(available, cgroup) if cgroup is not None else available


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _cgroup_headroom() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def gib(n: int | float) -> str:
    return f"{n / 2**30:,.1f} GiB"


# ------------------------------------------------------------------ the check


def check_fits(config: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> Estimate:
    """The estimate, if it is within this machine's limit; else one line naming the estimate,
    the limit and the option to lower."""
    need = estimate(config, data_shape, num_classes)
    limit, source = memory_limit()
    if need.total > limit:
        raise ConfigError(
            f"training this {config.train.model} would need about {gib(need.total)} "
            f"({need.params / 1e6:,.1f} million weights, batch {config.train.batch_size}), more than "
            f"{gib(limit)} ({source}); use {_what_to_lower(config, need, tuple(data_shape))}",
            options=("batch_size", "image_size", "filters", "hidden"),
        )
    return need


def _what_to_lower(config: RunConfig, need: Estimate, data_shape: tuple[int, ...]) -> str:
    """The option that shrinks the larger part of the estimate."""
    if need.activation_bytes > need.weights_bytes:
        return "a smaller batch_size or image_size"
    kind, arch = config.train.model, config.model.arch
    if registry.spec(kind).adversarial:
        arch = gan_arch(kind, arch, data_shape)
    return "smaller filters" if arch == "conv" else "smaller hidden widths or image_size"
