"""2-D toy distributions (ring8, grid25, spiral, moons) as seeded float32 point sets."""

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


def _toy(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n float32 points of toy `name` drawn with rng."""
    if name in TOY_MODES:
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
        raise DatasetError(f"unknown toy {name!r}; choose one of {', '.join(TOYS)}")
    return points.astype(np.float32)


def toy_points(name: str, n: int, *, seed: int = 0) -> np.ndarray:
    """n seeded points (float32, shape (n, 2)) of the 2-D toy distribution `name`."""
    if n < 0:
        raise ConfigError(f"number of toy points must be >= 0, got {n}")
    return _toy(name, n, np.random.default_rng(seed))
