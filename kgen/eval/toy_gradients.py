"""Two gradient estimators on a toy with a known answer (slide 19): d/dθ E_{x ~ N(θ, 1)}[x²].

E[x²] = θ² + 1, so the exact gradient is 2θ. With S draws x_s = θ + ε_s, ε_s ~ N(0, 1):

- reparameterisation: the mean of d(x²)/dθ = 2 x_s. Var[2x] = 4 Var[ε] = 4, so Var = 4 / S.
- score function (REINFORCE): the mean of x_s² d/dθ log N(x_s; θ, 1) = x_s² (x_s − θ) = (θ + ε)² ε.
  Its mean is E[θ²ε + 2θε² + ε³] = 2θ; its second moment E[(θ + ε)⁴ ε²] = θ⁴ E[ε²] + 6θ² E[ε⁴]
  + E[ε⁶] (odd moments vanish) = θ⁴ + 18θ² + 15, so Var = (θ⁴ + 14θ² + 15) / S.

Both are unbiased; the score function's variance is at least 15/4 times larger and grows as θ⁴.
NumPy only (the app draws it in its UI thread).
"""

from __future__ import annotations

import numpy as np

ESTIMATORS = ("reparameterisation", "score function")
MAX_SAMPLES = 1000
# The sample counts S of the variance curves: about log-evenly spaced from 1 to MAX_SAMPLES.
CURVE_COUNTS = tuple(int(s) for s in np.unique(np.round(np.logspace(0, 3, 19))))
# The repeated draws of each estimator behind one empirical variance.
DEFAULT_REPEATS = 400


def exact_gradient(theta: float) -> float:
    """d/dθ E_{x ~ N(θ, 1)}[x²] = d/dθ (θ² + 1) = 2θ."""
    return 2.0 * theta


def per_sample_terms(estimator: str, theta: float, eps: np.ndarray) -> np.ndarray:
    """The estimator's term for each draw x = θ + ε: 2x (reparameterisation) or x²(x − θ) (score function)."""
    x = theta + eps
    if estimator == "reparameterisation":
        return 2.0 * x
    if estimator == "score function":
        return x**2 * (x - theta)
    raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}; got {estimator!r}")


def estimates(estimator: str, theta: float, eps: np.ndarray) -> np.ndarray:
    """One estimate per row of ``eps`` (..., S): the mean of the S per-sample terms."""
    return per_sample_terms(estimator, theta, eps).mean(axis=-1)


def closed_form_variance(estimator: str, theta: float, samples) -> np.ndarray | float:
    """Var of the S-sample estimate: 4/S, or (θ⁴ + 14θ² + 15)/S (derived in the module's docstring)."""
    samples = np.asarray(samples, dtype=np.float64)
    if estimator == "reparameterisation":
        return 4.0 / samples
    if estimator == "score function":
        return (theta**4 + 14.0 * theta**2 + 15.0) / samples
    raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}; got {estimator!r}")


def empirical_variance(estimator: str, theta: float, samples: int, repeats: int = DEFAULT_REPEATS,
                       rng: np.random.Generator | None = None) -> float:
    """The sample variance (ddof 1) of ``repeats`` independent S-sample estimates."""
    rng = rng if rng is not None else np.random.default_rng(0)
    return float(estimates(estimator, theta, rng.standard_normal((repeats, samples))).var(ddof=1))


def curve_draws(counts=CURVE_COUNTS, repeats: int = DEFAULT_REPEATS, seed: int = 0) -> list[np.ndarray]:
    """ε ~ N(0, 1) of shape (repeats, S) for each S of ``counts``: the draws behind `variance_curves`."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((repeats, int(s))) for s in counts]


def variance_curves(theta: float, counts=CURVE_COUNTS, repeats: int = DEFAULT_REPEATS, seed: int = 0,
                    draws: list[np.ndarray] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """For each estimator, {"closed": Var at each S of ``counts``, "empirical": measured at each S}
    from ``draws`` (`curve_draws` of counts, repeats and seed when None); both estimators see the
    same draws (common random numbers), so they differ by the estimator alone."""
    draws = draws if draws is not None else curve_draws(counts, repeats, seed)
    return {name: {"closed": np.asarray(closed_form_variance(name, theta, counts), dtype=np.float64),
                   "empirical": np.array([estimates(name, theta, eps).var(ddof=1) for eps in draws])}
            for name in ESTIMATORS}
