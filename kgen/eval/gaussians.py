"""The KL divergence between two Gaussians: its closed form and a Monte Carlo estimate (slide 14).

Plain NumPy, so the window can recompute both while a slider moves. Univariate arguments are
scalars; diagonal multivariate ones are arrays whose last axis is the dimension (`kl_diagonal`
sums it). KL(q || p) = E_q[log q(x) - log p(x)]; it is zero only for q = p and not symmetric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kgen.errors import ConfigError

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Gaussian:
    """N(mu, sigma^2) per dimension: scalars (univariate) or arrays of one length (diagonal)."""

    mu: np.ndarray | float
    sigma: np.ndarray | float

    def __post_init__(self) -> None:
        mu, sigma = np.asarray(self.mu, np.float64), np.asarray(self.sigma, np.float64)
        if mu.shape != sigma.shape or mu.ndim > 1:
            raise ConfigError(f"a Gaussian needs mu and sigma of one shape (scalars or vectors), got "
                              f"{mu.shape} and {sigma.shape}")
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma)) and np.all(sigma > 0)):
            raise ConfigError(f"a Gaussian needs finite mu and sigma > 0, got mu={self.mu}, sigma={self.sigma}")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log N(x | mu, sigma^2) per dimension (x broadcasts against mu)."""
        z = (np.asarray(x, np.float64) - self.mu) / self.sigma
        return -0.5 * (LOG_2PI + z * z) - np.log(self.sigma)

    def density(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.log_density(x))


@dataclass(frozen=True)
class MonteCarloKL:
    """A Monte Carlo estimate of a KL divergence, with its standard error (std of the terms / sqrt n)."""

    estimate: float
    standard_error: float
    n: int


def kl_normal(q: Gaussian, p: Gaussian) -> np.ndarray:
    """Closed-form KL(q || p) per dimension: log(s_p/s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2."""
    ratio = q.sigma / p.sigma
    return -np.log(ratio) + 0.5 * (ratio * ratio + ((q.mu - p.mu) / p.sigma) ** 2) - 0.5


def kl_diagonal(q: Gaussian, p: Gaussian) -> float:
    """Closed-form KL(q || p) of two diagonal Gaussians: the sum of `kl_normal` over dimensions."""
    return float(np.sum(kl_normal(q, p)))


def standard_draws(n: int, dims: int = 0, seed: int = 0) -> np.ndarray:
    """n seeded draws of N(0, 1), shape (n,) or (n, dims): reused, they make an estimate move
    smoothly as mu and sigma change (the same random numbers for every setting)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise ConfigError(f"a Monte Carlo estimate needs n >= 2 samples, got {n!r}")
    return np.random.default_rng(seed).standard_normal((int(n), dims) if dims else int(n))


def kl_monte_carlo(q: Gaussian, p: Gaussian, n: int = 10_000, seed: int = 0,
                   draws: np.ndarray | None = None) -> MonteCarloKL:
    """KL(q || p) estimated as the mean of log q(x) - log p(x) over n draws x ~ q (seeded), with
    its standard error; ``draws`` (from `standard_draws`) replaces the seeded ones."""
    eps = standard_draws(n, int(np.size(q.mu)) if np.ndim(q.mu) else 0, seed) if draws is None else draws
    x = q.mu + q.sigma * eps
    terms = q.log_density(x) - p.log_density(x)
    if terms.ndim == 2:
        terms = terms.sum(axis=1)
    return MonteCarloKL(float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(len(terms))), len(terms))


def kl_integrand(q: Gaussian, p: Gaussian, x: np.ndarray) -> np.ndarray:
    """q(x) log(q(x) / p(x)) of univariate q and p on the points x: its integral is KL(q || p)."""
    log_q = q.log_density(x)
    return np.exp(log_q) * (log_q - p.log_density(x))
