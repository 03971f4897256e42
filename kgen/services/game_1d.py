"""The 1-D game's numbers (Goodfellow et al. 2014, figure 1): a GAN on 1-D points, probed while it trains.

On a grid of x over the data's range: the data's exact density, the generator's density (a
Gaussian kernel estimate from G(z) of many fixed z) and D(x); plus a few dozen fixed z with their
G(z), for the lines from the z axis to the x axis. `Game1DProbe` sends one `kgen.events.Game1D`
record every few steps from the training thread to a sink (for example a queue's ``put``).
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import tensorflow as tf
from keras import ops

from kgen.data import toy_density
from kgen.events import Event, Game1D
from kgen.models.gan import GAN
from kgen.models.sampling import latent_noise
from kgen.services.paced_probe import PacedProbe

GRID_POINTS = 200  # x values the densities and D(x) are drawn at
DENSITY_SAMPLES = 2000  # fixed z whose G(z) make the generator's density estimate
LINE_SAMPLES = 40  # fixed z drawn as lines from the z axis to G(z)
RANGE_MARGIN = 0.25  # the grid reaches this fraction of the data's half-extent beyond it
MIN_BANDWIDTH_STEPS = 2.0  # the kernel is at least this many grid steps wide (a collapsed G stays visible) ...
MAX_BANDWIDTH_SHARE = 0.02  # ... and at most this share of the grid's width (Silverman's rule over-smooths
# a G with several modes: on mix1d it gives 0.4 for bumps of std 0.5)
PROBE_EVERY = 5  # steps between snapshots
MAX_SHARE = 0.05  # snapshots may take at most about this share of the training thread's time


def x_grid(real: np.ndarray, points: int = GRID_POINTS, margin: float = RANGE_MARGIN) -> np.ndarray:
    """``points`` evenly spaced x (float32) over the real points' range, ``margin`` of its
    half-extent wider on each side."""
    low, high = float(np.min(real)), float(np.max(real))
    half = max((high - low) / 2, 1e-3) * (1 + margin)
    centre = (low + high) / 2
    return np.linspace(centre - half, centre + half, points, dtype=np.float32)


def fixed_noise(n: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """n fixed codes z (float32, (n, latent_dim)): for a 1-D z the standard normal's quantiles at
    (i + 1/2) / n, evenly spread in probability (no sampling noise); else seeded N(0, I) draws."""
    if latent_dim != 1:
        return latent_noise(n, latent_dim, seed)
    normal = NormalDist()
    return np.array([[normal.inv_cdf((i + 0.5) / n)] for i in range(n)], np.float32)


def silverman_bandwidth(samples: np.ndarray, floor: float = 0.0) -> float:
    """Silverman's rule of thumb for a Gaussian kernel, 0.9 min(std, IQR / 1.34) n^(-1/5), at
    least ``floor``."""
    samples = np.asarray(samples, np.float64).ravel()
    q75, q25 = np.percentile(samples, [75, 25])
    spread = min(float(np.std(samples)), float(q75 - q25) / 1.34)
    return max(0.9 * spread * len(samples) ** -0.2, floor)


def generator_bandwidth(generated: np.ndarray, x: np.ndarray) -> float:
    """The kernel's bandwidth for G(z) drawn on grid x: Silverman's rule, at least
    `MIN_BANDWIDTH_STEPS` grid steps and at most `MAX_BANDWIDTH_SHARE` of the grid's width."""
    floor = MIN_BANDWIDTH_STEPS * float(x[1] - x[0])
    return min(silverman_bandwidth(generated, floor), max(MAX_BANDWIDTH_SHARE * float(x[-1] - x[0]), floor))


def kernel_density(samples: np.ndarray, x: np.ndarray, bandwidth: float) -> np.ndarray:
    """The Gaussian kernel density estimate of 1-D ``samples`` at each x:
    mean_i N(x; samples_i, bandwidth^2) (float64, the shape of x)."""
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    x = np.asarray(x, np.float64)
    u = (x.ravel()[:, None] - np.asarray(samples, np.float64).ravel()[None]) / bandwidth
    pdf = np.exp(-0.5 * u**2).mean(axis=1) / (bandwidth * np.sqrt(2 * np.pi))
    return pdf.reshape(x.shape)


def optimal_discriminator(data_density: np.ndarray, generator_density: np.ndarray) -> np.ndarray:
    """D*(x) = p_data / (p_data + p_g), the best discriminator against a fixed generator (1/2 where
    both vanish)."""
    total = data_density + generator_density
    return np.where(total > 0, data_density / np.where(total > 0, total, 1.0), 0.5)


def snapshot_tensors(gan: GAN, x, noise):
    """(D(x) at the grid, G(noise)): the snapshot's one TensorFlow pass; `Game1DProbe` compiles it."""
    d_x = ops.sigmoid(gan.point_logits(x))
    return d_x, ops.cast(gan.generator(noise, training=False), "float32")


def game_snapshot(gan: GAN, x: np.ndarray, data_density: np.ndarray, noise: np.ndarray,
                  lines: int = LINE_SAMPLES, compute: Callable = snapshot_tensors) -> dict[str, np.ndarray]:
    """The figure's curves for a GAN on 1-D points, as NumPy arrays:

    - ``x`` (G,), ``data_density`` (G,): as given;
    - ``generator_density`` (G,): the kernel estimate of G(z) over all but the last ``lines`` of
      ``noise``, bandwidth `generator_bandwidth`;
    - ``d_x`` (G,): D(x) = sigmoid(logit), the probability of "real";
    - ``optimal_d`` (G,): `optimal_discriminator` of the two densities;
    - ``z`` (L,), ``g_z`` (L,): the last ``lines`` codes (first coordinate) and their G(z);
    - ``bandwidth``: the kernel's.

    ``compute`` is `snapshot_tensors` or a compiled version of it.
    """
    if not isinstance(gan, GAN) or gan.image_shape != (1,) or gan.num_classes:
        raise ValueError("the 1-D game needs an unconditional GAN on 1-D points")
    d_x, generated = compute(gan, np.asarray(x, np.float32)[:, None], np.asarray(noise, np.float32))
    generated = np.asarray(generated, np.float64)[:, 0]
    dense, shown = generated[:-lines], generated[-lines:]
    bandwidth = generator_bandwidth(dense, x)
    generator_density = kernel_density(dense, x, bandwidth)
    return {"x": np.asarray(x, np.float32), "data_density": np.asarray(data_density, np.float32),
            "generator_density": generator_density.astype(np.float32),
            "d_x": np.asarray(d_x, np.float32).reshape(-1),
            "optimal_d": optimal_discriminator(data_density, generator_density).astype(np.float32),
            "z": np.asarray(noise, np.float32)[-lines:, 0], "g_z": shown.astype(np.float32),
            "bandwidth": np.float32(bandwidth)}


class Game1DProbe(PacedProbe):
    """Every ``every`` steps, a `game_snapshot` of a GAN on the 1-D toy ``dataset`` handed to
    ``sink`` as a `kgen.events.Game1D` record, paced as `PacedProbe` says (``max_share``,
    ``min_seconds``, ``stepping``); the first comes before the first batch, the last after it."""

    def __init__(
        self,
        sink: Callable[[Event], None],
        dataset: str,
        real_points: np.ndarray,
        every: int = PROBE_EVERY,
        *,
        samples: int = DENSITY_SAMPLES,
        lines: int = LINE_SAMPLES,
        grid: int = GRID_POINTS,
        seed: int = 0,
        max_share: float | None = MAX_SHARE,
        min_seconds: float = 0.0,
        stepping: Callable[[], bool] | None = None,
    ):
        super().__init__(every=every, min_seconds=min_seconds, max_share=max_share, stepping=stepping,
                         first_before_training=True)
        self.sink, self.samples, self.lines, self.seed = sink, int(samples), int(lines), int(seed)
        self.x = x_grid(real_points, grid)
        self.data_density = toy_density(dataset, self.x).astype(np.float32)
        for array in (self.x, self.data_density):
            array.setflags(write=False)  # shared by every event: nobody may change them
        self.noise: np.ndarray | None = None
        self._compute: Callable = snapshot_tensors

    def on_train_begin(self, logs=None):
        latent_dim = self.model.latent_dim
        self.noise = np.concatenate([fixed_noise(self.samples, latent_dim, self.seed),
                                     fixed_noise(self.lines, latent_dim, self.seed + 1)])
        self._compute = tf.function(snapshot_tensors)  # traced once: far faster than eager calls

    def take(self, step: int) -> None:
        snapshot = game_snapshot(self.model, self.x, self.data_density, self.noise, self.lines, self._compute)
        self.sink(Game1D(step=int(step), epoch=self._epoch + 1, bandwidth=float(snapshot.pop("bandwidth")),
                         **snapshot))
