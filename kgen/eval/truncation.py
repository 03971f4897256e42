"""The truncation sweep: a generator's samples from scaled latent draws psi * z, scored against real data.

This is the temperature form of BigGAN's truncation trick (Brock et al. 2019), which instead redraws
|z| above a threshold: psi < 1 pulls every draw towards the prior's mean, which should buy realism
(precision) with variety (recall); psi > 1 spreads the draws beyond what training saw. The same seeded
z is scaled at every psi, so the rows differ by psi alone. The window's process reads the table
functions here, so kgen.models (TensorFlow) is imported only by the functions that sample.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from kgen.errors import ConfigError
from kgen.eval.metrics import class_coverage, frechet_distance, precision_recall

if TYPE_CHECKING:
    from kgen.eval.classifier import DatasetClassifier

DEFAULT_PSIS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
NEAREST_K = 3  # the k of precision and recall's k-NN manifolds, as in `kgen.eval.quality.image_quality`
_SWEEP_KEY = re.compile(r"^(?P<score>[a-z_]+)_psi_(?P<psi>\d+(?:\.\d+)?)$")


def sweep_key(score: str, psi: float) -> str:
    """The flat score name of one sweep cell: precision at psi 0.5 is ``precision_psi_0.5``."""
    return f"{score}_psi_{psi:g}"


def is_sweep_key(name: str) -> bool:
    """True for a score name made by `sweep_key`."""
    return _SWEEP_KEY.match(name) is not None


def check_psis(psis: Sequence[float]) -> tuple[float, ...]:
    """The sweep's psi values, sorted and distinct; ConfigError unless each is finite and in (0, 4]."""
    psis = tuple(sorted({float(p) for p in psis}))
    if not psis or any(not (math.isfinite(p) and 0 < p <= 4) for p in psis):
        raise ConfigError(f"truncation sweep: psi values must lie in (0, 4], got {', '.join(map(str, psis)) or 'none'}")
    return psis


def tempered_codes(model, n: int, psi: float, seed: int) -> np.ndarray:
    """psi * z for n seeded draws z ~ N(0, I): the same z at every psi. ConfigError for a model whose
    prior is not N(0, I) (binary codes have no temperature)."""
    from kgen.models.sampling import latent_noise, prior_draws

    noise = latent_noise(n, model.latent_dim, seed)
    if not np.array_equal(prior_draws(model, noise[:4]), noise[:4]):
        raise ConfigError(f"truncation sweep: {type(model).__name__}'s prior is not N(0, I), "
                          "so scaling z has no meaning for it")
    return (psi * noise).astype("float32")


def truncation_sweep(model, real: np.ndarray, *, psis: Sequence[float] = DEFAULT_PSIS, seed: int = 0,
                     judge: DatasetClassifier | None = None, labels: np.ndarray | None = None,
                     progress: Callable[[float], None] | None = None) -> dict[str, float]:
    """precision and recall (and FID and classes covered, with a judge) of len(real) samples at each psi,
    as flat ``<score>_psi_<psi>`` scores. Features: the judge classifier's for images, raw points for
    2-D toys (``judge`` None). ``labels`` are the classes a conditional model is asked for."""
    from kgen.models.sampling import decode_batched

    psis = check_psis(psis)
    featurize = _point_features if judge is None else judge.features_and_probabilities
    real_features, real_probs = featurize(real)
    scores: dict[str, float] = {}
    for i, psi in enumerate(psis):
        fake = decode_batched(model, tempered_codes(model, len(real), psi, seed), labels, clip=judge is not None)
        fake_features, fake_probs = featurize(fake)
        row = sample_scores(real_features, fake_features)
        if judge is not None:  # 2-D points' Frechet distance sees only the mean and covariance of a toy
            row["fid"] = frechet_distance(real_features, fake_features)
            real_shares = np.bincount(real_probs.argmax(axis=1), minlength=judge.num_classes)
            row["classes_covered"] = float(class_coverage(fake_probs.argmax(axis=1), judge.num_classes,
                                                          real_shares).covered)
        scores.update({sweep_key(name, psi): value for name, value in row.items()})
        if progress is not None:
            progress((i + 1) / len(psis))
    return scores


def sample_scores(real_features: np.ndarray, fake_features: np.ndarray) -> dict[str, float]:
    """precision (the share of fakes in the real manifold) and recall (of reals in the fake one)."""
    precision, recall = precision_recall(real_features, fake_features, k=NEAREST_K)
    return {"precision": precision, "recall": recall}


def _point_features(points: np.ndarray) -> tuple[np.ndarray, None]:
    """2-D toy points are their own features; they have no class probabilities."""
    points = np.asarray(points, dtype=np.float64)
    return points.reshape(len(points), -1), None


def sweep_table(scores: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(psi values, {score: values by psi}) of the sweep cells in ``scores``; a score some psi lacks is
    NaN there. Empty when ``scores`` hold no sweep."""
    cells: dict[str, dict[float, float]] = {}
    for name, value in scores.items():
        if match := _SWEEP_KEY.match(name):
            cells.setdefault(match["score"], {})[float(match["psi"])] = float(value)
    psis = np.array(sorted({psi for column in cells.values() for psi in column}), float)
    return psis, {score: np.array([column.get(psi, np.nan) for psi in psis]) for score, column in cells.items()}


def format_sweep(scores: dict[str, float]) -> str:
    """The sweep in ``scores`` as a text table, one row per psi ("" when there is none)."""
    psis, columns = sweep_table(scores)
    if not len(psis):
        return ""
    names = list(columns)
    lines = ["truncation sweep: z scaled by psi, scored against the test data",
             "   psi" + "".join(f"  {name:>15}" for name in names)]
    for i, psi in enumerate(psis):
        lines.append(f"{psi:6.2f}" + "".join(f"  {columns[name][i]:>15.4g}" for name in names))
    return "\n".join(lines)
