"""The loss functions against their formulas: hand-computed values and Monte Carlo estimates."""

import math

import numpy as np
import pytest

from kgen.models import losses


def as_np(t):
    return np.asarray(t, dtype=np.float64)


class TestKL:
    def test_zero_for_the_prior_itself(self):
        mu = np.zeros((3, 4), np.float32)
        assert np.allclose(as_np(losses.kl_to_standard_normal(mu, mu)), 0.0)

    def test_one_dimension_by_hand(self):
        # KL(N(1, e^1) || N(0,1)) = 0.5 * (e + 1 - 1 - 1) = 0.5 * (e - 1)
        kl = as_np(losses.kl_to_standard_normal(np.array([[1.0]], np.float32), np.array([[1.0]], np.float32)))
        assert kl[0] == pytest.approx(0.5 * (math.e - 1.0), rel=1e-5)

    def test_matches_monte_carlo_estimate(self):
        rng = np.random.default_rng(0)
        mu = rng.normal(size=(2, 3)).astype(np.float32)
        log_var = rng.normal(scale=0.5, size=(2, 3)).astype(np.float32)
        n = 400_000
        eps = rng.standard_normal((n, 3))
        for i in range(2):
            z = mu[i] + np.exp(0.5 * log_var[i]) * eps
            log_q = -0.5 * np.sum(np.log(2 * np.pi) + log_var[i] + eps**2, axis=1)
            log_p = -0.5 * np.sum(np.log(2 * np.pi) + z**2, axis=1)
            mc = np.mean(log_q - log_p)
            analytic = as_np(losses.kl_to_standard_normal(mu, log_var))[i]
            assert analytic == pytest.approx(mc, abs=0.02)


class TestLikelihoods:
    def test_bernoulli_by_hand(self):
        x = np.array([[1.0, 0.0, 0.5]], np.float32)
        logits = np.array([[2.0, -1.0, 0.3]], np.float32)
        p = 1 / (1 + np.exp(-logits.astype(np.float64)))
        expected = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p))
        assert as_np(losses.bernoulli_log_likelihood(x, logits))[0] == pytest.approx(expected, rel=1e-5)

    def test_bernoulli_stable_for_huge_logits(self):
        x = np.array([[1.0, 0.0]], np.float32)
        logits = np.array([[80.0, -80.0]], np.float32)
        value = as_np(losses.bernoulli_log_likelihood(x, logits))[0]
        assert np.isfinite(value) and value == pytest.approx(0.0, abs=1e-6)

    def test_gaussian_fixed_sigma_by_hand(self):
        x = np.array([[[0.2], [0.9]]], np.float32)  # (1, 2, 1)
        mean = np.array([[[0.5], [0.5]]], np.float32)
        sigma = 0.1
        expected = sum(
            -0.5 * math.log(2 * math.pi) - math.log(sigma) - (a - b) ** 2 / (2 * sigma**2)
            for a, b in [(0.2, 0.5), (0.9, 0.5)]
        )
        got = as_np(losses.gaussian_log_likelihood(x, mean, 2 * math.log(sigma)))[0]
        assert got == pytest.approx(expected, rel=1e-5)

    def test_gaussian_per_pixel_variance(self):
        x = np.array([[0.0, 1.0]], np.float32)
        mean = np.array([[0.0, 0.0]], np.float32)
        log_var = np.array([[0.0, math.log(4.0)]], np.float32)
        expected = (-0.5 * math.log(2 * math.pi)) + (-0.5 * math.log(2 * math.pi) - math.log(2.0) - 1 / 8)
        assert as_np(losses.gaussian_log_likelihood(x, mean, log_var))[0] == pytest.approx(expected, rel=1e-5)

    def test_log_standard_normal_equals_log_normal_at_zero_one(self):
        z = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
        zeros = np.zeros_like(z)
        assert np.allclose(as_np(losses.log_standard_normal(z)), as_np(losses.log_normal(z, zeros, zeros)), atol=1e-5)


class TestBounds:
    def test_reparameterize(self):
        z = as_np(losses.reparameterize(np.float32([[1.0]]), np.float32([[math.log(9.0)]]), np.float32([[2.0]])))
        assert z[0, 0] == pytest.approx(1.0 + 3.0 * 2.0, rel=1e-6)

    def test_elbo_weights_kl_by_beta(self):
        assert float(losses.elbo(np.float32(-10.0), np.float32(2.0), beta=3.0)) == pytest.approx(-16.0)

    def test_iwae_bound_is_log_mean_exp(self):
        log_w = np.array([[-1.0, -2.0, -3.0], [5.0, 5.0, 5.0]], np.float32)
        expected = [math.log(np.mean(np.exp([-1.0, -2.0, -3.0]))), 5.0]
        assert np.allclose(as_np(losses.iwae_bound(log_w)), expected, atol=1e-5)

    def test_iwae_bound_with_one_sample_is_that_sample(self):
        log_w = np.array([[-7.5], [3.25]], np.float32)
        assert np.allclose(as_np(losses.iwae_bound(log_w)), [-7.5, 3.25])
