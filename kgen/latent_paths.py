"""Paths between latent codes: linear and spherical interpolation, in numpy only, so the
window's process (the explorer's dream walk) and kgen.eval share one implementation without
importing TensorFlow."""

from __future__ import annotations

import numpy as np

from kgen.errors import ConfigError

# Below this sine of the angle between two codes, slerp's great circle is ill-defined: use lerp.
_PARALLEL_EPS = 1e-6
INTERPOLATIONS = ("linear", "slerp")


def _as_t(t) -> np.ndarray:
    """t as float64 with a trailing axis, so it scales vectors: scalar -> (1,), (T,) -> (T, 1)."""
    return np.asarray(t, dtype="float64")[..., None]


def _check_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    if a.ndim != 1 or a.shape != b.shape:
        raise ConfigError(f"interpolation needs two vectors of one length, got {a.shape} and {b.shape}")
    return a, b


def lerp(a, b, t) -> np.ndarray:
    """(1 - t) a + t b: shape (D,) for a scalar t, (T, D) for an array of T values."""
    a, b = _check_pair(a, b)
    return (a + _as_t(t) * (b - a)).astype("float32")


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985): the direction moves along the great circle at
    constant angular speed while the norm moves linearly from |a| to |b|.

    With |a| = |b| this is Shoemake's formula; a zero end or (anti)parallel ends fall back to lerp.
    """
    a, b = _check_pair(a, b)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if min(norm_a, norm_b) == 0.0:
        return lerp(a, b, t)
    u, v = a / norm_a, b / norm_b
    omega = np.arccos(np.clip(u @ v, -1.0, 1.0))
    if np.sin(omega) < _PARALLEL_EPS:
        return lerp(a, b, t)
    t = _as_t(t)
    direction = (np.sin((1.0 - t) * omega) * u + np.sin(t * omega) * v) / np.sin(omega)
    return (direction * (norm_a + t * (norm_b - norm_a))).astype("float32")
