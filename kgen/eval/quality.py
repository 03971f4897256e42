"""The sample-quality numbers of a generator: images judged by a dataset classifier, toys by modes.

Every function returns a flat dict of floats, ready for a table or a line of events.jsonl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kgen.data import TOY_MODES
from kgen.errors import ConfigError
from kgen.eval.metrics import (
    MIN_SAMPLES_PER_MODE,
    TOY_STD,
    class_coverage,
    classifier_score,
    frechet_distance,
    mode_coverage,
    precision_recall,
    stacked_coverage,
)
from kgen.models.sampling import sample_images

if TYPE_CHECKING:
    from kgen.eval.classifier import DatasetClassifier


def image_quality(classifier: DatasetClassifier, real_x: np.ndarray, fake_x: np.ndarray,
                  real_y: np.ndarray | None = None) -> dict[str, float]:
    """FID, classifier score (fakes and the real ceiling), class coverage and precision/recall
    of fake images against real ones, all in the classifier's feature and label space.

    Coverage compares with the real labels' shares, or the classifier's predictions on the real
    images when real_y is None.
    """
    real_features, real_probs = classifier.features_and_probabilities(real_x)
    fake_features, fake_probs = classifier.features_and_probabilities(fake_x)
    k = classifier.num_classes
    real_labels = real_probs.argmax(axis=1) if real_y is None else np.asarray(real_y).ravel()
    real_shares = np.bincount(real_labels.astype(np.int64), minlength=k)
    coverage = class_coverage(fake_probs.argmax(axis=1), k, real_shares)
    precision, recall = precision_recall(real_features, fake_features, k=3)
    return {
        "fid": frechet_distance(real_features, fake_features),
        "classifier_score": classifier_score(fake_probs),
        "classifier_score_real": classifier_score(real_probs),
        "classes_covered": float(coverage.covered),
        "coverage_kl": coverage.kl_to_real,
        "precision": precision,
        "recall": recall,
    }


def conditional_accuracy(classifier: DatasetClassifier, model, n_per_class: int = 200,
                         seed: int = 0) -> dict[str, float]:
    """How often the classifier recognises the class a conditional model was asked for:
    accuracy_class_<c> per class and their mean, conditional_accuracy."""
    if not getattr(model, "num_classes", 0):
        raise ConfigError(f"{type(model).__name__} is unconditional: conditional accuracy "
                          "needs a class-conditional model")
    if n_per_class < 1:
        raise ConfigError(f"n_per_class must be >= 1, got {n_per_class}")
    if model.num_classes != classifier.num_classes:
        raise ConfigError(f"model has {model.num_classes} classes but the classifier "
                          f"{classifier.num_classes}")
    scores = {}
    for c in range(model.num_classes):
        images = sample_images(model, n_per_class, seed=seed, labels=np.full(n_per_class, c, "int32"))
        scores[f"accuracy_class_{c}"] = float(np.mean(classifier.predict(images) == c))
    scores["conditional_accuracy"] = float(np.mean(list(scores.values())))
    return scores


def toy_quality(points: np.ndarray, toy_name: str,
                min_samples: int = MIN_SAMPLES_PER_MODE) -> dict[str, float]:
    """Modes covered (of modes_total, each needing min_samples high-quality samples), modes_touched
    (by any high-quality sample: VEEGAN's stated rule), the high-quality share and mode_kl, the
    reverse KL of the high-quality samples' mode histogram to uniform."""
    if toy_name not in TOY_MODES:
        raise ConfigError(f"{toy_name!r} has no modes to count; mode coverage needs one of "
                          f"{', '.join(TOY_MODES)}")
    modes = TOY_MODES[toy_name]
    coverage = mode_coverage(points, modes, TOY_STD[toy_name], min_samples=min_samples)
    return {"modes_covered": float(coverage.covered), "modes_total": float(len(modes)),
            "modes_touched": float(np.count_nonzero(coverage.counts)),
            "high_quality": coverage.high_quality, "mode_kl": coverage.reverse_kl}


def stacked_mnist_quality(digit_judge: DatasetClassifier, images: np.ndarray) -> dict[str, float]:
    """Digit triples covered (of 1,000) and mode_kl, their histogram's KL to uniform, of stacked
    MNIST images (N, 28, 28, 3), each channel read by an MNIST classifier."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ConfigError(f"stacked MNIST images must be (N, H, W, 3), got shape {images.shape}")
    digits = np.stack([digit_judge.predict(images[..., c : c + 1]) for c in range(3)], axis=1)
    coverage = stacked_coverage(digits)
    return {"modes_covered": float(coverage.covered), "modes_total": float(len(coverage.counts)),
            "mode_kl": coverage.kl}
