"""What each test score means: one table, read by `kgen eval` and the app's Evaluate view.

Plain data (no TensorFlow), so the window's process can read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HIGHER, LOWER = "higher", "lower"


@dataclass(frozen=True)
class Metric:
    """A score's one-line explanation, its unit ("" when it has none) and which way is better
    (HIGHER, LOWER, or "" for a count that is neither)."""

    explain: str
    unit: str = ""
    better: str = ""


METRICS: dict[str, Metric] = {
    "elbo": Metric("evidence lower bound on log p(x) of the test images", "nats per image", HIGHER),
    "iwae": Metric("importance-weighted bound on log p(x) with k samples, tighter than the ELBO",
                   "nats per image", HIGHER),
    "iwae_se": Metric("standard error of the IWAE-k estimate over the test images", "nats per image"),
    "reconstruction": Metric("negative log-likelihood of the test images under the decoder, given their codes",
                             "nats per image", LOWER),
    "kl": Metric("KL divergence of the encoder's posterior from the prior p(z)", "nats per image"),
    "classifier_accuracy": Metric("test accuracy of kgen's classifier for this dataset (the judge)", "share",
                                  HIGHER),
    "fid": Metric("Frechet distance between real and generated features of kgen's classifier", "", LOWER),
    "classifier_score": Metric("exp(E KL(p(y|x) || p(y))) of the samples under kgen's classifier, like the "
                               "Inception score", "", HIGHER),
    "classifier_score_real": Metric("the classifier score of the real test images: the ceiling for the samples",
                                    "", HIGHER),
    "classes_covered": Metric("classes the classifier finds among the samples", "classes", HIGHER),
    "coverage_kl": Metric("KL divergence of the samples' class shares from the real ones", "nats", LOWER),
    "precision": Metric("share of samples inside the real data's manifold (Kynkaanniemi et al. 2019)", "share",
                        HIGHER),
    "recall": Metric("share of real images inside the samples' manifold", "share", HIGHER),
    "accuracy_class": Metric("how often the classifier sees the class the model was asked for, this class",
                             "share", HIGHER),
    "conditional_accuracy": Metric("how often the classifier sees the class the model was asked for, mean over "
                                   "classes", "share", HIGHER),
    "modes_covered": Metric("modes that received samples: toy mixture components (20 of 2,500 within "
                            "3 std) or stacked-MNIST digit triples (any sample)", "modes", HIGHER),
    "modes_total": Metric("modes the data has: toy mixture components or 1,000 digit triples"),
    "modes_touched": Metric("toy modes nearest to at least one high-quality sample (VEEGAN's rule; "
                            "modes_covered asks for 20)", "modes", HIGHER),
    "mode_kl": Metric("reverse KL of the samples' mode histogram from uniform (toys: high-quality samples "
                      "only)", "nats", LOWER),
    "high_quality": Metric("share of samples within 3 standard deviations of some mode", "share", HIGHER),
    "inversion_mse": Metric("pixel error of the closest images the generator finds for test images",
                            "mean squared error", LOWER),
}
# Scores named with a number: iwae_<k> (k samples), iwae_se_<k>, accuracy_class_<c> (class c).
_NUMBERED = re.compile(r"^(iwae|iwae_se|accuracy_class)_\d+$")
# A truncation sweep's cells, <score>_psi_<psi> (kgen.eval.truncation), read their score's entry.
_SWEPT = re.compile(r"^(.+)_psi_\d+(?:\.\d+)?$")


def describe(name: str) -> Metric | None:
    """The table's entry for score ``name`` (iwae_5000 reads iwae's), or None if it has none."""
    numbered = _NUMBERED.match(name) or _SWEPT.match(name)
    return METRICS.get(numbered.group(1) if numbered else name)


def explanation(name: str) -> str:
    """One line for score ``name``: what it is, its unit, which way is better ("" if unknown)."""
    metric = describe(name)
    if metric is None:
        return ""
    extras = [part for part in (metric.unit, f"{metric.better} is better" if metric.better else "") if part]
    return metric.explain + (f" ({', '.join(extras)})" if extras else "")
