"""Toy distributions as seeded float32 point sets: 2-D (ring8, grid25, spiral, moons) and 1-D
Gaussian mixtures (gauss1d, mix1d) whose exact density `toy_density` gives."""

from __future__ import annotations

import numpy as np

from kgen.errors import ConfigError, DatasetError

_RING8 = 2.0 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
_GRID25 = np.array([(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)])
TOY_MODES: dict[str, np.ndarray] = {"ring8": _RING8.astype(np.float32),
                                    "grid25": _GRID25.astype(np.float32)}
for _modes in TOY_MODES.values():
    _modes.setflags(write=False)
_TOY_STD = {"ring8": 0.02, "grid25": 0.05}
TOYS = ("ring8", "grid25", "spiral", "moons")
# The 1-D toys (Goodfellow et al. 2014, figure 1): mixtures of Gaussians, (means, stds, weights).
TOY_MIXTURES_1D: dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]] = {
    "gauss1d": ((1.0,), (0.5,), (1.0,)),
    "mix1d": ((-2.0, 2.0), (0.5, 0.5), (0.5, 0.5)),
}
TOYS_1D = tuple(TOY_MIXTURES_1D)
POINT_TOYS = TOYS + TOYS_1D  # every toy: datasets of points rather than images


def _toy(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n float32 points of toy `name` drawn with rng."""
    if name in TOY_MIXTURES_1D:
        means, stds, weights = (np.asarray(v) for v in TOY_MIXTURES_1D[name])
        mode = rng.choice(len(means), size=n, p=weights)
        points = (means[mode] + stds[mode] * rng.normal(size=n))[:, None]
    elif name in TOY_MODES:
        modes = TOY_MODES[name]
        points = modes[rng.integers(len(modes), size=n)] + rng.normal(0, _TOY_STD[name], (n, 2))
    elif name == "spiral":
        t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
        points = np.stack([t * np.cos(t), t * np.sin(t)], 1) / np.pi + rng.normal(0, 0.05, (n, 2))
    elif name == "moons":
        t = rng.uniform(0, np.pi, n)
        lower = rng.integers(2, size=n)
        points = np.where(lower[:, None], np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1),
                          np.stack([np.cos(t), np.sin(t)], 1))
        points = 2 * (points - [0.5, 0.25] + rng.normal(0, 0.05, (n, 2)))
    else:
        raise DatasetError(f"unknown toy {name!r}; choose one of {', '.join(POINT_TOYS)}")
    return points.astype(np.float32)


def toy_points(name: str, n: int, *, seed: int = 0) -> np.ndarray:
    """n seeded points (float32, shape (n, 2), or (n, 1) for a 1-D toy) of the toy distribution `name`."""
    if n < 0:
        raise ConfigError(f"number of toy points must be >= 0, got {n}")
    return _toy(name, n, np.random.default_rng(seed))


def toy_density(name: str, x: np.ndarray) -> np.ndarray:
    """The exact density of the 1-D toy `name` at each x (float64, the shape of x)."""
    if name not in TOY_MIXTURES_1D:
        raise DatasetError(f"{name!r} has no 1-D density; choose one of {', '.join(TOYS_1D)}")
    means, stds, weights = (np.asarray(v, np.float64)[:, None] for v in TOY_MIXTURES_1D[name])
    x = np.asarray(x, np.float64)
    z = (x.ravel()[None] - means) / stds
    pdf = weights * np.exp(-0.5 * z**2) / (stds * np.sqrt(2 * np.pi))
    return pdf.sum(axis=0).reshape(x.shape)
