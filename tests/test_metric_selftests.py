"""Self-tests of the sample-quality metrics on generators whose faults are known: a truncation sweep
trades precision for recall, a collapsed generator scores high precision and low recall (and spread
noise the reverse), and FID grows with added noise and with dropped classes."""

import numpy as np
import pytest

from kgen.data import TOY_MODES, load_dataset
from kgen.eval.metrics import TOY_STD, frechet_distance, precision_recall
from kgen.eval.truncation import sample_scores, sweep_table, truncation_sweep

RING = TOY_MODES["ring8"]
STD = TOY_STD["ring8"]
# The most a sweep's precision may rise (or recall fall) from one psi to the next: the k-NN
# manifolds of 1000 points wobble by about a percent between neighbouring psi.
MONOTONE_TOLERANCE = 0.02


class RingGenerator:
    """A known generator of ring8: z's first two coordinates pick the mode by their angle, the last
    two are the offset from it in units of the mode's std. Scaling z keeps the modes and scales the
    spread, so psi < 1 is too narrow and psi > 1 too wide."""

    latent_dim = 4
    num_classes = 0
    image_shape = (2,)

    def decode(self, z, labels=None):
        z = np.asarray(z)
        mode = np.round(np.arctan2(z[:, 1], z[:, 0]) / (2 * np.pi / len(RING))).astype(int) % len(RING)
        return RING[mode] + STD * z[:, 2:]


@pytest.fixture(scope="module")
def ring_points():
    return load_dataset("ring8").x_test[:1000]  # seeded points of the ring


def test_the_sweep_trades_precision_for_recall_monotonically(ring_points):
    psis = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
    found, columns = sweep_table(truncation_sweep(RingGenerator(), ring_points, psis=psis))
    precision, recall = columns["precision"], columns["recall"]
    assert found.tolist() == list(psis)
    assert np.all(np.diff(precision) <= MONOTONE_TOLERANCE), precision
    assert np.all(np.diff(recall) >= -MONOTONE_TOLERANCE), recall
    assert precision[0] > 0.95 and recall[0] < 0.15  # truncated hard: realistic, little variety
    assert precision[-1] < 0.6 and recall[-1] > 0.95  # spread wide: variety, less realism
    assert precision[3] > 0.9 and recall[3] > 0.9  # psi 1 is the data's own spread: both near the top


def test_a_collapsed_generator_has_high_precision_and_low_recall(ring_points):
    rng = np.random.default_rng(0)
    one_mode = RING[0] + STD * rng.standard_normal((len(ring_points), 2))
    precision, recall = precision_recall(ring_points, one_mode, k=3)
    assert precision > 0.9 and recall < 0.2  # all samples real-looking; 1 of 8 modes reached
    scores = sample_scores(ring_points, one_mode)  # the sweep's own cell: not reported the other way round
    assert (scores["precision"], scores["recall"]) == (precision, recall)


def test_spread_noise_has_low_precision_and_high_recall(ring_points):
    noise = np.random.default_rng(0).uniform(-2.5, 2.5, (2 * len(ring_points), 2))
    precision, recall = precision_recall(ring_points, noise, k=3)
    assert precision < 0.1 and recall > 0.9  # almost no sample on the ring; every real point reached


@pytest.fixture(scope="module")
def digits_features():
    """The digits judge's features of the train and test images, with the train labels."""
    from kgen.eval.classifier import classifier_for

    data = load_dataset("digits")
    judge = classifier_for(data)

    def features(x):
        return judge.features(x)

    return features, data


def test_fid_grows_with_added_noise(digits_features):
    features, data = digits_features
    real, rng = features(data.x_test), np.random.default_rng(0)
    noise = rng.standard_normal(data.x_train.shape).astype("float32")
    fids = [frechet_distance(real, features(np.clip(data.x_train + sigma * noise, 0, 1)))
            for sigma in (0.0, 0.1, 0.2, 0.3, 0.4)]
    assert np.all(np.diff(fids) > 0), fids


def test_fid_grows_with_dropped_classes(digits_features):
    features, data = digits_features
    real, rng = features(data.x_test), np.random.default_rng(0)
    labels = data.y_train.ravel()
    fids = []
    for dropped in (0, 2, 4, 6, 8):
        kept = np.flatnonzero(labels >= dropped)  # classes 0..dropped-1 removed
        fids.append(frechet_distance(real, features(data.x_train[rng.choice(kept, 1000)])))
    assert np.all(np.diff(fids) > 0), fids
