"""The gradient-estimator primitives of kgen.models.estimators against their formulas."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from kgen.models import estimators  # noqa: E402


def test_score_function_surrogate_differentiates_the_log_probability_alone():
    theta = tf.Variable(0.3)
    signal = tf.constant(5.0)
    with tf.GradientTape() as tape:
        log_prob = -0.5 * tf.square(1.2 - theta)  # log N(1.2 | theta, 1) up to a constant
        surrogate = estimators.score_function_surrogate(log_prob, signal * theta)  # the signal is constant
    np.testing.assert_allclose(tape.gradient(surrogate, theta), 5.0 * 0.3 * (1.2 - 0.3), rtol=1e-6)


def test_nvil_signal_centres_and_scales_only_above_unit_variance():
    signal, baseline = np.array([3.0, 1.0]), np.array([1.0, 0.5])
    np.testing.assert_allclose(estimators.nvil_signal(signal, baseline, 0.5, 16.0), (signal - baseline - 0.5) / 4.0)
    np.testing.assert_allclose(estimators.nvil_signal(signal, baseline, 0.5, 0.25), signal - baseline - 0.5)


def test_running_moments_average_the_batch_mean_and_variance():
    values = np.array([1.0, 3.0, 5.0])
    mean, variance = estimators.running_moments(1.0, 2.0, values, decay=0.9)
    np.testing.assert_allclose([mean, variance], [0.9 * 1.0 + 0.1 * 3.0, 0.9 * 2.0 + 0.1 * (8.0 / 3.0)], rtol=1e-6)


def test_straight_through_is_the_sample_forward_and_the_identity_backward():
    probs = tf.Variable([0.2, 0.7])
    u = tf.constant([0.5, 0.5])
    with tf.GradientTape() as tape:
        z = estimators.straight_through(estimators.bernoulli_sample(probs, u), probs)
        total = tf.reduce_sum(z * tf.constant([2.0, 3.0]))
    np.testing.assert_allclose(z, [0.0, 1.0])
    np.testing.assert_allclose(tape.gradient(total, probs), [2.0, 3.0])


def test_relaxed_bernoulli_matches_its_formula_and_hardens_to_the_bernoulli_sample():
    rng = np.random.default_rng(0)
    logits, u = rng.normal(size=1000).astype("float32"), rng.uniform(size=1000).astype("float32")
    expected = 1.0 / (1.0 + np.exp(-(logits + np.log1p(-u) - np.log(u)) / 0.5))
    np.testing.assert_allclose(estimators.relaxed_bernoulli(logits, 0.5, u), expected, rtol=1e-4, atol=1e-6)
    cold = np.asarray(estimators.relaxed_bernoulli(logits, 1e-3, u))
    hard = np.asarray(estimators.bernoulli_sample(1.0 / (1.0 + np.exp(-logits)), u))
    assert np.mean(np.round(cold) == hard) > 0.99  # the same noise, coupled
    # its mean over many draws is the Bernoulli probability at temperature 1 (the logistic CDF)
    draws = estimators.relaxed_bernoulli(np.full(200_000, 0.8, "float32"), 1e-3, rng.uniform(size=200_000))
    assert abs(float(np.mean(draws)) - 1.0 / (1.0 + np.exp(-0.8))) < 0.005
