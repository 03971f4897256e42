"""The sample-quality metrics on hand-made features, predictions and toy points (pure NumPy)."""

import numpy as np
import pytest

from kgen.data import TOY_MODES, toy_points
from kgen.errors import ConfigError
from kgen.eval.metrics import (
    TOY_STD,
    class_coverage,
    classifier_score,
    frechet_distance,
    mode_coverage,
    precision_recall,
)
from kgen.eval.quality import toy_quality


def gaussian(n=2000, dim=8, seed=0, scale=1.0):
    return np.random.default_rng(seed).normal(size=(n, dim)) * scale


class TestFrechetDistance:
    def test_zero_for_a_set_and_itself(self):
        for scale in (1e-3, 1.0, 1e3):
            a = gaussian(scale=scale)
            assert abs(frechet_distance(a, a)) < 1e-6 * scale**2

    def test_a_mean_shift_adds_its_squared_length(self):
        a = gaussian()
        shifts = [0.0, 0.5, 1.0, 2.0, 4.0]
        distances = [frechet_distance(a, a + s) for s in shifts]
        assert np.all(np.diff(distances) > 0)
        for s, d in zip(shifts, distances, strict=True):
            assert d == pytest.approx(a.shape[1] * s**2, abs=1e-6)

    def test_matches_the_closed_form_in_one_dimension(self):
        rng = np.random.default_rng(1)
        a, b = rng.normal(1.0, 2.0, (500, 1)), rng.normal(-0.5, 0.5, (700, 1))
        m1, m2, s1, s2 = a.mean(), b.mean(), a.std(ddof=1), b.std(ddof=1)
        assert frechet_distance(a, b) == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-9)

    def test_handles_fewer_samples_than_features(self):
        a, b = gaussian(n=10, dim=32), gaussian(n=10, dim=32, seed=1)
        assert abs(frechet_distance(a, a)) < 1e-3
        assert frechet_distance(a, b) > 1.0

    @pytest.mark.parametrize("a, b", [(np.zeros((1, 3)), np.zeros((5, 3))),
                                      (np.zeros((5, 3)), np.zeros((5, 4))),
                                      (np.zeros(5), np.zeros(5))])
    def test_rejects_unusable_inputs(self, a, b):
        with pytest.raises(ConfigError):
            frechet_distance(a, b)


class TestClassifierScore:
    def test_one_for_a_constant_prediction(self):
        probs = np.tile([0.1, 0.7, 0.2], (50, 1))
        assert classifier_score(probs) == pytest.approx(1.0)

    def test_k_for_confident_balanced_predictions(self):
        probs = np.eye(10)[np.arange(1000) % 10]
        assert classifier_score(probs) == pytest.approx(10.0)

    def test_lower_when_predictions_are_unsure(self):
        confident = np.eye(4)[np.arange(400) % 4]
        unsure = 0.5 * confident + 0.5 / 4
        assert 1.0 < classifier_score(unsure) < classifier_score(confident)


class TestClassCoverage:
    def test_a_collapsed_generator_covers_one_class(self):
        predicted = np.r_[np.full(995, 7), np.arange(5)]  # a few strays in classes 0-4
        coverage = class_coverage(predicted, 10)
        assert coverage.covered == 1
        assert coverage.histogram[7] == 995 and coverage.histogram.sum() == 1000
        assert coverage.kl_to_real > 2.0  # about log 10
        assert coverage.shares.sum() == pytest.approx(1.0)

    def test_a_balanced_generator_covers_all(self):
        coverage = class_coverage(np.arange(1000) % 10, 10)
        assert coverage.covered == 10
        assert coverage.kl_to_real == pytest.approx(0.0, abs=1e-9)

    def test_compares_with_the_real_distribution(self):
        real = np.array([0.7, 0.2, 0.1])
        predicted = np.repeat([0, 1, 2], [700, 200, 100])
        coverage = class_coverage(predicted, 3, real * 50)  # counts are normalised
        assert coverage.covered == 3 and coverage.kl_to_real == pytest.approx(0.0, abs=1e-9)
        assert class_coverage(predicted, 3).kl_to_real > 0.1  # against uniform

    def test_a_missing_real_class_gives_a_large_finite_kl(self):
        coverage = class_coverage(np.zeros(100, int), 2, np.array([0.0, 1.0]))
        assert coverage.covered == 0
        assert 10.0 < coverage.kl_to_real < np.inf

    def test_rejects_labels_out_of_range(self):
        with pytest.raises(ConfigError):
            class_coverage(np.array([0, 10]), 10)


def clusters(centres, n_per, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + rng.normal(0, 0.1, (n_per, len(c))) for c in centres])


class TestPrecisionRecall:
    def test_identical_sets(self):
        a = gaussian(500)
        assert precision_recall(a, a) == (1.0, 1.0)

    def test_disjoint_far_apart_sets(self):
        a = gaussian(300)
        assert precision_recall(a, a + 100.0) == (0.0, 0.0)

    def test_half_the_clusters(self):
        angles = np.arange(8) * np.pi / 4
        centres = 10.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
        real = clusters(centres, 200)
        fake = clusters(centres[:4], 400, seed=1)
        precision, recall = precision_recall(real, fake)
        assert precision > 0.95
        assert recall == pytest.approx(0.5, abs=0.05)

    def test_same_answer_in_small_memory_blocks(self, monkeypatch):
        real, fake = gaussian(400, seed=2), gaussian(300, seed=3) + 0.5
        whole = precision_recall(real, fake, k=5)
        monkeypatch.setattr("kgen.eval.metrics._DISTANCE_BLOCK", 1000)
        assert precision_recall(real, fake, k=5) == whole

    def test_rejects_k_beyond_the_samples(self):
        with pytest.raises(ConfigError):
            precision_recall(gaussian(3), gaussian(10), k=3)


class TestModeCoverage:
    def test_samples_from_six_of_eight_modes(self):
        modes = TOY_MODES["ring8"]
        points = toy_points("ring8", 4000, seed=0)
        nearest = np.linalg.norm(points[:, None] - modes[None], axis=-1).argmin(axis=1)
        kept = points[nearest < 6]
        coverage = mode_coverage(kept, modes, TOY_STD["ring8"])
        assert coverage.covered == 6
        assert coverage.high_quality > 0.98
        assert coverage.counts[6:].sum() == 0

    def test_uniform_noise_is_low_quality(self):
        noise = np.random.default_rng(0).uniform(-3, 3, (4000, 2))
        assert mode_coverage(noise, TOY_MODES["ring8"], TOY_STD["ring8"]).high_quality < 0.05

    def test_high_quality_ends_at_three_std(self):
        modes, std = TOY_MODES["ring8"], TOY_STD["ring8"]
        points = modes[0] + np.array([[2.5 * std, 0.0], [0.0, -3.5 * std]])
        coverage = mode_coverage(points, modes, std)
        assert coverage.high_quality == 0.5
        assert coverage.counts.tolist() == [1, 0, 0, 0, 0, 0, 0, 0]

    def test_a_few_stray_samples_do_not_cover_a_mode(self):
        modes = TOY_MODES["grid25"]
        points = np.r_[np.repeat(modes[:1], 1000, axis=0), modes[1:2]]  # one stray in mode 1
        assert mode_coverage(points, modes, TOY_STD["grid25"]).covered == 1

    def test_toy_quality_of_real_toy_samples(self):
        quality = toy_quality(toy_points("grid25", 5000, seed=1), "grid25")
        assert quality["modes_covered"] == quality["modes_total"] == 25.0
        assert quality["high_quality"] > 0.98

    def test_toy_quality_refuses_toys_without_modes(self):
        with pytest.raises(ConfigError, match="spiral"):
            toy_quality(toy_points("spiral", 100), "spiral")
