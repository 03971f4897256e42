"""Sample-quality metrics on features, class predictions and 2-D points: pure NumPy/SciPy.

Nothing here knows about models or TensorFlow; `kgen.quality` feeds these functions with the
features and predictions of a dataset classifier (`kgen.classifier`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy import linalg
from scipy.special import xlogy

from kgen.data.stacked import STACKED_MODES, triple_labels
from kgen.data.toys import _TOY_STD
from kgen.errors import ConfigError

# Per-mode standard deviation of the toys with modes (ring8, grid25), read-only.
TOY_STD: Mapping[str, float] = MappingProxyType(_TOY_STD)

# A generated class counts as covered once its share reaches this fraction of its real share.
COVERAGE_FRACTION = 0.1
# Added to every class share before the KL so an empty class gives a large, finite value.
_KL_EPS = 1e-6
# Most float64 entries of one block of pairwise distances (64 MiB).
_DISTANCE_BLOCK = 1 << 23


def _features(x: np.ndarray, what: str, min_rows: int = 1) -> np.ndarray:
    """x as a float64 (N, F) matrix; ConfigError if it is not one or has too few rows."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"{what}: expected a 2-D (samples, features) array, got shape {x.shape}")
    if len(x) < min_rows:
        raise ConfigError(f"{what}: needs at least {min_rows} samples, got {len(x)}")
    return x


def _same_width(a: np.ndarray, b: np.ndarray) -> None:
    """ConfigError unless two feature sets have the same number of features."""
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"feature sets differ in width: {a.shape[1]} vs {b.shape[1]}")


# --- Frechet distance


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two (N, F) feature sets:
    FID when the features come from a classifier (Heusel et al. 2017)."""
    a, b = _features(a, "frechet_distance", 2), _features(b, "frechet_distance", 2)
    _same_width(a, b)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = (np.atleast_2d(np.cov(x, rowvar=False)) for x in (a, b))
    root = _sqrtm_product(cov_a, cov_b)
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def _sqrtm_product(cov_a: np.ndarray, cov_b: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The real square root of cov_a @ cov_b; retried with eps*I added to both when singular
    (dead or constant features), as in the reference FID code."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        try:
            root = linalg.sqrtm(cov_a @ cov_b)
        except linalg.LinAlgWarning:
            root = None
    if root is None or not np.isfinite(root).all():
        offset = eps * np.eye(len(cov_a))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(root):
        scale = max(1.0, float(np.abs(root.real).max()))
        if np.abs(root.imag).max() > 1e-3 * scale:
            raise ConfigError("frechet_distance: covariance square root is not real; "
                              "use more samples than features")
        root = root.real
    return root


# --- class predictions


def classifier_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))): the Inception-Score formula with any classifier's (N, K)
    probabilities; 1 for one constant prediction, K for confident, balanced predictions."""
    probs = _features(probs, "classifier_score")
    marginal = probs.mean(axis=0, keepdims=True)
    # xlogy gives 0 * log 0 = 0, so zero probabilities are harmless.
    kl = (xlogy(probs, probs) - xlogy(probs, np.maximum(marginal, 1e-300))).sum(axis=1)
    return float(np.exp(kl.mean()))


@dataclass(frozen=True)
class ClassCoverage:
    """How generated samples spread over the classes (as predicted by a classifier)."""

    histogram: np.ndarray  # (K,) samples predicted as each class
    covered: int  # classes whose share reaches COVERAGE_FRACTION of their real share
    kl_to_real: float  # KL(generated shares || real shares), eps-smoothed, in nats
    shares: np.ndarray  # (K,) histogram / number of samples


def class_coverage(predicted: np.ndarray, num_classes: int,
                   real_distribution: np.ndarray | None = None) -> ClassCoverage:
    """Class histogram of predicted labels, the classes covered and the KL to the real shares.

    A class is covered only when its share is at least 10% of its real share (uniform unless
    given), so a collapsed generator with a few stray predictions is not credited with a class.
    """
    predicted = np.asarray(predicted).ravel()
    if num_classes < 1 or len(predicted) == 0:
        raise ConfigError(f"class_coverage: needs samples and num_classes >= 1, got "
                          f"{len(predicted)} samples and {num_classes} classes")
    if predicted.min() < 0 or predicted.max() >= num_classes:
        raise ConfigError(f"class_coverage: predicted labels must lie in 0..{num_classes - 1}")
    histogram = np.bincount(predicted.astype(np.int64), minlength=num_classes)
    shares = histogram / histogram.sum()
    real = _real_shares(real_distribution, num_classes)
    covered = int(np.sum((real > 0) & (shares >= COVERAGE_FRACTION * real)))
    return ClassCoverage(histogram, covered, _smoothed_kl(shares, real), shares)


def _real_shares(distribution: np.ndarray | None, num_classes: int) -> np.ndarray:
    """The real class shares as a (K,) probability vector; uniform when not given."""
    if distribution is None:
        return np.full(num_classes, 1.0 / num_classes)
    distribution = np.asarray(distribution, dtype=np.float64)
    if distribution.shape != (num_classes,) or distribution.min() < 0 or distribution.sum() <= 0:
        raise ConfigError(f"real class distribution must be {num_classes} non-negative "
                          "numbers, not all zero")
    return distribution / distribution.sum()


def _smoothed_kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) after adding _KL_EPS to every entry of both and renormalising."""
    p, q = p + _KL_EPS, q + _KL_EPS
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


# --- improved precision and recall


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of fake vs real features.

    Each set's manifold is the union of balls reaching every sample's k-th nearest neighbour
    (itself excluded); precision is the share of fakes inside the real manifold, recall the
    share of reals inside the fake manifold.
    """
    real, fake = _features(real, "precision_recall real"), _features(fake, "precision_recall fake")
    _same_width(real, fake)
    if not 1 <= k < min(len(real), len(fake)):
        raise ConfigError(f"precision_recall: k must be in 1..{min(len(real), len(fake)) - 1}, got {k}")
    real_radii, fake_radii = _knn_radii(real, k), _knn_radii(fake, k)
    precision = _inside_manifold(fake, real, real_radii).mean()
    recall = _inside_manifold(real, fake, fake_radii).mean()
    return float(precision), float(recall)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """Blocks (rows of a, squared distances to all of b) small enough to bound memory."""
    b_norms = np.einsum("ij,ij->i", b, b)
    step = max(1, _DISTANCE_BLOCK // max(1, len(b)))
    for start in range(0, len(a), step):
        rows = slice(start, start + step)
        block = a[rows]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + b_norms[None, :] - 2.0 * block @ b.T
        yield rows, np.maximum(d2, 0.0)


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row of x to its k-th nearest other row."""
    radii = np.empty(len(x))
    for rows, d2 in _squared_distances(x, x):
        # Index k of the sorted row: index 0 is the sample itself at distance 0.
        radii[rows] = np.partition(d2, k, axis=1)[:, k]
    return radii


def _inside_manifold(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each point lies within the k-NN ball (squared radius) of at least one centre."""
    inside = np.empty(len(points), dtype=bool)
    for rows, d2 in _squared_distances(points, centres):
        inside[rows] = (d2 <= radii[None, :]).any(axis=1)
    return inside


# --- modes of the 2-D toys


# The papers' toy protocol (VEEGAN, PacGAN): 2,500 samples; a mode is covered by 20 of them.
TOY_SAMPLES = 2500
MIN_SAMPLES_PER_MODE = 20


@dataclass(frozen=True)
class ModeCoverage:
    """How 2-D samples cover the known modes of a toy distribution."""

    covered: int  # modes holding enough high-quality samples (min_samples, else min_share of all)
    high_quality: float  # share of samples within 3 std of their nearest mode
    counts: np.ndarray  # (M,) high-quality samples per mode
    reverse_kl: float  # KL(high-quality mode histogram || uniform), in nats


def mode_coverage(points: np.ndarray, modes: np.ndarray, std: float, min_share: float = 0.01, *,
                  min_samples: int | None = None) -> ModeCoverage:
    """Modes covered, the high-quality share and the reverse KL of 2-D samples (VEEGAN / PacGAN
    protocol): a sample is high quality within 3 std of its nearest mode centre; a mode is covered
    with at least ``min_samples`` of them, or without it ``min_share`` of all samples."""
    points = _features(points, "mode_coverage points")
    modes = _features(modes, "mode_coverage modes")
    _same_width(points, modes)
    if std <= 0 or not 0 <= min_share <= 1 or min_samples is not None and min_samples < 1:
        raise ConfigError(f"mode_coverage: needs std > 0, 0 <= min_share <= 1 and min_samples >= 1, "
                          f"got {std}, {min_share}, {min_samples}")
    d2 = np.concatenate([block for _, block in _squared_distances(points, modes)])
    nearest = d2.argmin(axis=1)
    good = d2[np.arange(len(points)), nearest] <= (3.0 * std) ** 2
    counts = np.bincount(nearest[good], minlength=len(modes))
    needed = min_share * len(points) if min_samples is None else min_samples
    covered = int(np.sum(counts >= needed))
    return ModeCoverage(covered, float(good.mean()), counts, kl_to_uniform(counts))


def kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p || uniform) = log M - H(p) of the histogram p = counts / sum over M modes, in nats:
    the papers' "reverse KL" (0 log 0 = 0, no smoothing); NaN when the histogram is empty."""
    counts = np.asarray(counts, dtype=np.float64).ravel()
    if len(counts) == 0 or counts.min() < 0:
        raise ConfigError("kl_to_uniform: needs a non-empty histogram of non-negative counts")
    total = counts.sum()
    if total == 0:
        return float("nan")
    p = counts / total
    return float(np.sum(xlogy(p, p)) + np.log(len(counts)))


@dataclass(frozen=True)
class StackedCoverage:
    """How samples spread over the digit triples of stacked MNIST (1,000 modes)."""

    covered: int  # triples predicted for at least one sample
    kl: float  # KL(triple histogram || uniform), in nats
    counts: np.ndarray  # (1000,) samples per triple 100 * d1 + 10 * d2 + d3


def stacked_coverage(digits: np.ndarray) -> StackedCoverage:
    """Triples covered and their KL to uniform from (N, 3) predicted digits, one per channel
    (VEEGAN / PacGAN stacked-MNIST protocol: a triple is covered by any sample)."""
    triples = triple_labels(digits)
    if len(triples) == 0:
        raise ConfigError("stacked_coverage: needs at least one sample")
    counts = np.bincount(triples, minlength=STACKED_MODES)
    return StackedCoverage(int(np.sum(counts > 0)), kl_to_uniform(counts), counts)
