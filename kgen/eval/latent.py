"""Latent-space analysis of a trained encoder-decoder model: NumPy in, NumPy out.

Codes and projections, the Gaussian-quantile manifold of Kingma & Welling (2013, Fig. 4),
linear and spherical interpolation, per-dimension traversals, the KL and active units per
latent unit (Burda et al. 2015), and a fast single-code decoder for interactive sliders.
Every model here has ``latent_dim``, ``image_shape``, ``num_classes``, ``encode`` and ``decode``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from kgen.errors import ConfigError
from kgen.latent_paths import INTERPOLATIONS, lerp, slerp
from kgen.models.sampling import decode_batched

PROJECTIONS = ("pca", "tsne")


@dataclass(frozen=True)
class LatentCodes:
    """Posterior parameters per image: ``mean`` (N, D), ``log_var`` (N, D) or None (an AE)."""

    mean: np.ndarray
    log_var: np.ndarray | None


@dataclass(frozen=True)
class ActiveUnits:
    """Burda et al.'s activity per latent unit: its variance over the data of E_q[z_u]."""

    count: int
    variances: np.ndarray
    active: np.ndarray


# --- encoding and decoding in batches, with labels for conditional models


def _labels_for(model, labels, n: int) -> np.ndarray | None:
    """Class ids (n,) int32 from one id or n of them; None for unconditional models without labels."""
    if labels is None:
        if getattr(model, "num_classes", 0):
            raise ConfigError("this model is conditional: give a class label")
        return None
    ids = np.asarray(labels, dtype="int32")
    if ids.ndim == 0:
        return np.full((n,), int(ids), np.int32)
    if ids.shape != (n,):
        raise ConfigError(f"need one label or {n} labels, got shape {ids.shape}")
    return ids


def _chunk(labels: np.ndarray | None, start: int, stop: int) -> np.ndarray | None:
    return None if labels is None else labels[start:stop]


def encode_dataset(model, x: np.ndarray, labels=None, batch_size: int = 512) -> LatentCodes:
    """The posterior mean (and log-variance, if the model has one) of every image in x."""
    x = np.asarray(x, dtype="float32")
    ids = _labels_for(model, labels, len(x))
    means, log_vars = [], []
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        mean, log_var = model.encode(x[start:stop], labels=_chunk(ids, start, stop))
        means.append(np.asarray(mean, dtype="float32"))
        log_vars.append(None if log_var is None else np.asarray(log_var, dtype="float32"))
    log_var = None if log_vars[0] is None else np.concatenate(log_vars)
    return LatentCodes(mean=np.concatenate(means), log_var=log_var)


def decode_codes(model, z: np.ndarray, labels=None, batch_size: int = 256) -> np.ndarray:
    """Images (N, H, W, C) in [0, 1] for codes z (N, D); ``labels``: one class id or N of them."""
    z = np.asarray(z, dtype="float32")
    return decode_batched(model, z, _labels_for(model, labels, len(z)), batch_size)


# --- 2-D views of the codes


def project_2d(z: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates for a scatter plot of codes z (N, D): the codes themselves when D <= 2."""
    if method not in PROJECTIONS:
        raise ConfigError(f"projection must be one of {', '.join(PROJECTIONS)}; got {method!r}")
    z = np.asarray(z, dtype="float32")
    if z.ndim != 2:
        raise ConfigError(f"codes must be an (N, D) array, got shape {z.shape}")
    if z.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1]))).astype("float32")
    return _pca_2d(z) if method == "pca" else _tsne_2d(z, seed)


def pca_axes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centre (D,) and the two leading principal axes (<= 2, D) of codes z (N, D), signs fixed
    so the largest loading is positive: `project_2d`'s PCA plane, to place new codes in it."""
    centre = z.astype("float64").mean(axis=0)
    _, _, vt = np.linalg.svd(z.astype("float64") - centre, full_matrices=False)
    return centre, vt[:2] * _largest_sign(vt[:2])


def _pca_2d(z: np.ndarray) -> np.ndarray:
    """Scores on the two leading principal axes, signs fixed so the largest loading is positive."""
    centre, axes = pca_axes(z)
    scores = (z.astype("float64") - centre) @ axes.T  # fewer than 2 columns only with fewer than 2 codes
    return np.pad(scores, ((0, 0), (0, 2 - scores.shape[1]))).astype("float32")


def _largest_sign(axes: np.ndarray) -> np.ndarray:
    """+1 or -1 per axis: the sign of its largest-magnitude loading (deterministic output)."""
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    return np.where(signs == 0, 1.0, signs)[:, None]


def _tsne_2d(z: np.ndarray, seed: int) -> np.ndarray:
    """t-SNE embedding (slow: seconds for thousands of points)."""
    from sklearn.manifold import TSNE

    if len(z) < 3:
        raise ConfigError(f"t-SNE needs at least 3 codes, got {len(z)}")
    tsne = TSNE(n_components=2, perplexity=min(30.0, len(z) - 1.0), init="pca", random_state=seed)
    return tsne.fit_transform(z).astype("float32")


# --- the Gaussian-quantile manifold


def gaussian_quantiles(n: int, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """Phi^-1 at n evenly spaced probabilities in [low, high]: equal prior mass between points."""
    if not (isinstance(n, int) and n >= 1):
        raise ConfigError(f"the grid needs a whole number >= 1 of points, got {n!r}")
    if not 0.0 < low <= high < 1.0:
        raise ConfigError(f"quantile range must satisfy 0 < low <= high < 1, got ({low}, {high})")
    inv_cdf = NormalDist().inv_cdf
    return np.array([inv_cdf(p) for p in np.linspace(low, high, n)], dtype="float32")


def _check_dims(latent_dim: int, dims: Sequence[int]) -> list[int]:
    dims = [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad:
        raise ConfigError(f"latent dimensions must be in [0, {latent_dim}), got {bad}")
    if len(set(dims)) != len(dims):
        raise ConfigError(f"latent dimensions must differ, got {dims}")
    return dims


def _base_code(latent_dim: int, base) -> np.ndarray:
    """The fixed code the varied dimensions start from: zeros (the prior mean) by default."""
    if base is None:
        return np.zeros(latent_dim, np.float32)
    base = np.asarray(base, dtype="float32")
    if base.shape != (latent_dim,):
        raise ConfigError(f"base code must have shape ({latent_dim},), got {base.shape}")
    return base


def manifold_codes(
    latent_dim: int, n: int = 15, dims: Sequence[int] = (0, 1), base=None,
    low: float = 0.05, high: float = 0.95,
) -> np.ndarray:
    """The (n*n, D) codes of the manifold, row-major: dims[0] rises along columns, dims[1] up rows.

    The top row holds the highest dims[1] value, as on a plot's y axis; other dims equal ``base``.
    """
    if latent_dim < 2:
        raise ConfigError(f"a manifold needs >= 2 latent dimensions, the model has {latent_dim}")
    if len(dims) != 2:
        raise ConfigError(f"a manifold varies exactly 2 latent dimensions, got {list(dims)}")
    across, up = _check_dims(latent_dim, dims)
    q = gaussian_quantiles(n, low, high)
    codes = np.tile(_base_code(latent_dim, base), (n * n, 1))
    codes[:, across] = np.tile(q, n)
    codes[:, up] = np.repeat(q[::-1], n)
    return codes


def manifold_grid(
    model, n: int = 15, dims: Sequence[int] = (0, 1), base=None, labels=None,
    low: float = 0.05, high: float = 0.95,
) -> np.ndarray:
    """Images (n*n, H, W, C) decoded from ``manifold_codes``: tile with ``columns=n``."""
    codes = manifold_codes(model.latent_dim, n, dims, base, low, high)
    return decode_codes(model, codes, labels)


# --- interpolation


def interpolate(model, z_a, z_b, steps: int = 10, method: str = "linear", labels=None) -> np.ndarray:
    """Images (steps, H, W, C) decoded along the path from code z_a to code z_b, ends included."""
    if method not in INTERPOLATIONS:
        raise ConfigError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}; got {method!r}")
    if not (isinstance(steps, int) and steps >= 2):
        raise ConfigError(f"interpolation needs a whole number >= 2 of steps, got {steps!r}")
    path = (slerp if method == "slerp" else lerp)(z_a, z_b, np.linspace(0.0, 1.0, steps))
    return decode_codes(model, path, labels)


def interpolate_images(
    model, x_a: np.ndarray, x_b: np.ndarray, steps: int = 10, method: str = "linear", labels=None,
) -> np.ndarray:
    """``interpolate`` between the posterior means of two images (H, W, C).

    ``labels`` is one class id, or one per step (the ends encode with the first and the last).
    """
    ids = _labels_for(model, labels, steps)
    pair = np.stack([np.asarray(x_a, "float32"), np.asarray(x_b, "float32")]).reshape((2, *model.image_shape))
    codes = encode_dataset(model, pair, None if ids is None else ids[[0, -1]]).mean
    return interpolate(model, codes[0], codes[1], steps, method, ids)


# --- traversals


def traverse(model, z=None, dims: Sequence[int] | None = None, values=None, labels=None) -> np.ndarray:
    """Images (len(dims) * len(values), H, W, C): one row per dimension, set to each of ``values``.

    The other dimensions stay at ``z`` (default zeros); dims default to all, values to -3..3.
    """
    d = model.latent_dim
    dims = _check_dims(d, range(d) if dims is None else dims)
    values = np.linspace(-3.0, 3.0, 9) if values is None else np.asarray(values, "float32").ravel()
    codes = np.tile(_base_code(d, z), (len(dims) * len(values), 1))
    for row, dim in enumerate(dims):
        codes[row * len(values) : (row + 1) * len(values), dim] = values
    return decode_codes(model, codes, labels)


# --- per-unit statistics


def kl_per_dimension(model, x: np.ndarray, labels=None) -> np.ndarray:
    """Mean over x of KL(q(z_u|x) || p(z_u)) per latent unit u, (D,): it sums to the mean KL.

    The prior is N(0, 1), or Bernoulli(1/2) for a variational model whose codes have no variance
    (binary latents: its code means are q = P(z_u = 1 | x))."""
    codes = encode_dataset(model, x, labels)
    if codes.log_var is None and getattr(model, "variational", False):
        return fair_bernoulli_kl_of_means(codes.mean)
    return kl_of_codes(codes)


def fair_bernoulli_kl_of_means(q: np.ndarray) -> np.ndarray:
    """(D,) mean over rows of KL(Bernoulli(q) || Bernoulli(1/2)) = q log 2q + (1 - q) log 2(1 - q)."""
    q = np.clip(np.asarray(q, dtype="float64"), 1e-12, 1.0 - 1e-12)
    return (q * np.log(2.0 * q) + (1.0 - q) * np.log(2.0 * (1.0 - q))).mean(axis=0).astype("float32")


def kl_of_codes(codes: LatentCodes) -> np.ndarray:
    """``kl_per_dimension`` from codes already encoded: (D,) mean KL per latent unit."""
    if codes.log_var is None:
        raise ConfigError("the model's encoder is deterministic: it has no posterior, so no KL")
    mu, log_var = codes.mean.astype("float64"), codes.log_var.astype("float64")
    return (0.5 * (np.exp(log_var) + mu**2 - 1.0 - log_var)).mean(axis=0).astype("float32")


def active_units(model, x: np.ndarray, labels=None, threshold: float = 0.01) -> ActiveUnits:
    """Units whose posterior mean varies over the data: Cov_x(E_q[z_u]) > threshold (Burda et al.).

    Collapsed units copy the prior for every x, so their mean is constant and they carry nothing.
    """
    return active_units_of(encode_dataset(model, x, labels).mean, threshold)


def active_units_of(means: np.ndarray, threshold: float = 0.01) -> ActiveUnits:
    """``active_units`` from posterior means (N, D) already encoded."""
    variances = np.asarray(means, dtype="float64").var(axis=0)
    active = variances > threshold
    return ActiveUnits(count=int(active.sum()), variances=variances.astype("float32"), active=active)


# --- nearest neighbours


def nearest_index(points: np.ndarray, query: np.ndarray) -> int:
    """The row of ``points`` (N, ...) nearest to ``query`` (...) in Euclidean distance."""
    points = np.asarray(points, dtype="float32").reshape(len(points), -1)
    query = np.asarray(query, dtype="float32").ravel()
    if len(points) == 0 or points.shape[1] != query.size:
        raise ConfigError(f"need points of size {query.size} to search, got shape {points.shape}")
    return int(np.argmin(((points - query) ** 2).sum(axis=1)))


# --- the single-code decoder of an interactive slider


def decode_one(model, label: int | None = None) -> Callable[..., np.ndarray]:
    """A compiled decoder of one code: ``f(z)`` or ``f(z, label)`` -> image (H, W, C) in [0, 1].

    A ``tf.function`` with a fixed (1, D) signature runs several times faster than an eager call.
    """
    import tensorflow as tf

    d = model.latent_dim
    conditional = bool(getattr(model, "num_classes", 0))
    z_spec = tf.TensorSpec((1, d), tf.float32)
    if conditional:
        compiled = tf.function(
            lambda z, y: model.decode(z, labels=y),
            input_signature=[z_spec, tf.TensorSpec((1,), tf.int32)],
        )
    else:
        compiled = tf.function(lambda z: model.decode(z), input_signature=[z_spec])

    def decode(z, label: int | None = label) -> np.ndarray:
        z = np.asarray(z, dtype="float32").reshape(1, d)
        if not conditional:
            return np.clip(compiled(z).numpy()[0], 0.0, 1.0)
        if label is None:
            raise ConfigError("this model is conditional: give a class label")
        return np.clip(compiled(z, np.array([label], np.int32)).numpy()[0], 0.0, 1.0)

    return decode


def decode_latency(model, repeats: int = 200, warmup: int = 20, label: int | None = None) -> dict[str, float]:
    """Milliseconds per ``decode_one`` call on fresh codes (median, p95, mean): a slider's cost."""
    if not (isinstance(repeats, int) and repeats >= 1 and isinstance(warmup, int) and warmup >= 0):
        raise ConfigError(f"need repeats >= 1 and warmup >= 0, got {repeats!r} and {warmup!r}")
    decode = decode_one(model, label)
    z = np.random.default_rng(0).standard_normal((warmup + repeats, model.latent_dim)).astype("float32")
    for code in z[:warmup]:
        decode(code)
    times = np.empty(repeats)
    for i, code in enumerate(z[warmup:]):
        start = time.perf_counter()
        decode(code)
        times[i] = time.perf_counter() - start
    ms = times * 1e3
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean())}
