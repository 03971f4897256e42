"""The true posterior of a VAE with a 2-D latent, on a grid, beside its encoder's q(z|x) (slide 15).

For one image x, log p(x|z) + log p(z) is evaluated on a regular grid of z; normalised, it is
p(z|x), and its integral (a sum times the cell's area) is log p(x), exact up to quadrature
error for a 2-D latent. The ELBO uses the analytic KL and E_q log p(x|z) by Gauss-Hermite
quadrature in q's own axes, so log p(x) - ELBO is KL(q || p(z|x)) without sampling noise.
The aggregate posterior, the mixture of the test images' q(z|x), shows the holes in the prior.
TensorFlow is imported only by the functions that run the model.

The grid's box (`grid_box`): a square covering the prior's +-`PRIOR_SIGMAS` and q's mean
+-`Q_SIGMAS` standard deviations on both axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PRIOR_SIGMAS = 4.0  # the box covers N(0, I) out to this many standard deviations
Q_SIGMAS = 5.0  # ... and q(z|x) out to this many of its own
GRID_POINTS = 121  # points a side
HERMITE_POINTS = 64  # Gauss-Hermite nodes a side for E_q log p(x|z) (a ReLU decoder's kinks need many)
IWAE_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
IWAE_POOL = 16384  # draws from q behind the IWAE curve: split into groups of k, one bound a group
HOLE_FRACTION = 0.1  # a hole: the aggregate posterior below this fraction of the prior's density
DECODE_BATCH = 4096
LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class Posterior:
    """One image's posterior on the grid and its encoder's q(z|x); log-densities in nats.

    ``density`` is p(z|x) on the grid (per unit area, indexed [i0, i1] along ``z0``, ``z1``);
    ``gap`` = ``log_px`` - ``elbo``, and ``kl_grid`` is KL(q || p(z|x)) summed on the grid.
    """

    z0: np.ndarray
    z1: np.ndarray
    log_joint: np.ndarray
    density: np.ndarray
    log_px: float
    q_mean: np.ndarray
    q_cov: np.ndarray
    elbo: float
    expected_log_likelihood: float
    kl_prior: float
    gap: float
    kl_grid: float
    posterior_mean: np.ndarray
    posterior_cov: np.ndarray

    @property
    def cell_area(self) -> float:
        return float((self.z0[1] - self.z0[0]) * (self.z1[1] - self.z1[0]))


@dataclass(frozen=True)
class IWAECurve:
    """IWAE-k of one image for each k: the mean over groups of k draws and its standard error."""

    ks: np.ndarray
    mean: np.ndarray
    standard_error: np.ndarray
    pool: int  # the draws from q(z|x) the groups share


@dataclass(frozen=True)
class Aggregate:
    """The aggregate posterior (1/N) sum_n q(z|x_n) of N codes beside N(0, I) on a grid.

    ``holes`` is the prior's mass where the aggregate is below `HOLE_FRACTION` of the prior's
    density: the share of prior draws that land where no encoded image lives.
    """

    z0: np.ndarray
    z1: np.ndarray
    density: np.ndarray
    prior: np.ndarray
    holes: float
    mass: float  # the aggregate's mass inside the box (1 when the box holds it all)
    codes: int


# --- grids and Gaussians (NumPy only)


def grid_box(mean: np.ndarray, var: np.ndarray, prior_sigmas: float = PRIOR_SIGMAS,
             q_sigmas: float = Q_SIGMAS) -> tuple[float, float]:
    """(low, high) of the square box covering N(0, I) to +-prior_sigmas and q to +-q_sigmas sds."""
    mean, sd = np.asarray(mean, "float64"), np.sqrt(np.asarray(var, "float64"))
    return (min(-prior_sigmas, float(np.min(mean - q_sigmas * sd))),
            max(prior_sigmas, float(np.max(mean + q_sigmas * sd))))


def grid_axis(low: float, high: float, n: int = GRID_POINTS) -> np.ndarray:
    """``n`` evenly spaced points from low to high: the cell centres of the quadrature."""
    if n < 3:
        raise ValueError(f"a grid needs at least 3 points a side, got {n}")
    return np.linspace(low, high, n)


def grid_points(z0: np.ndarray, z1: np.ndarray) -> np.ndarray:
    """Every (z0, z1) of the grid, (n0 * n1, 2) float32, z1 varying fastest."""
    a, b = np.meshgrid(z0, z1, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=1).astype("float32")


def log_normal_2d(z0: np.ndarray, z1: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(z; mean, cov) on the grid (n0, n1)."""
    a, b = np.meshgrid(z0, z1, indexing="ij")
    d = np.stack([a - mean[0], b - mean[1]], axis=-1)
    precision = np.linalg.inv(cov)
    quad = np.einsum("...i,ij,...j->...", d, precision, d)
    return -0.5 * (2.0 * LOG_2PI + np.log(np.linalg.det(cov)) + quad)


def normalise_log(log_values: np.ndarray, cell_area: float) -> tuple[np.ndarray, float]:
    """(the density exp(log_values) / Z on the grid, log Z) with Z = sum * cell_area."""
    peak = float(np.max(log_values))
    log_z = peak + float(np.log(np.sum(np.exp(log_values - peak)))) + float(np.log(cell_area))
    return np.exp(log_values - log_z), log_z


def grid_moments(z0: np.ndarray, z1: np.ndarray, density: np.ndarray, cell_area: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean (2,) and covariance (2, 2) of a density on the grid."""
    points = grid_points(z0, z1).astype("float64")
    weights = density.ravel() * cell_area
    mean = weights @ points
    centred = points - mean
    return mean, (centred * weights[:, None]).T @ centred


def kl_on_grid(log_q: np.ndarray, log_p: np.ndarray, cell_area: float) -> float:
    """KL(q || p) = sum q (log q - log p) * cell area, for log-densities on the same grid."""
    q = np.exp(log_q)
    return float(np.sum(q * (log_q - log_p)) * cell_area)


def ellipse_points(centre: np.ndarray, cov: np.ndarray, k: float, n: int = 97) -> tuple[np.ndarray, np.ndarray]:
    """The k-sigma ellipse of N(centre, cov) in 2-D, as x and y arrays of ``n`` points (closed; 4m + 1
    points include the ends of both axes, so the drawn ring reaches exactly k sigma)."""
    values, vectors = np.linalg.eigh(np.asarray(cov, "float64"))
    angles = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(angles), np.sin(angles)])
    points = np.asarray(centre, "float64")[:, None] + k * vectors @ (np.sqrt(np.clip(values, 0.0, None))[:, None] * circle)
    return points[0], points[1]


def aggregate_posterior(means: np.ndarray, log_vars: np.ndarray, z0: np.ndarray | None = None,
                        z1: np.ndarray | None = None, n: int = GRID_POINTS,
                        hole_fraction: float = HOLE_FRACTION) -> Aggregate:
    """The mixture of the diagonal Gaussians q(z|x_n) (``means``, ``log_vars`` (N, 2)) on a grid,
    exactly (each Gaussian factorises over the two axes, so the sum is one matrix product).
    Without axes the box covers the prior to +-`PRIOR_SIGMAS` and every code's mean +-3 sds."""
    means, log_vars = np.asarray(means, "float64"), np.asarray(log_vars, "float64")
    if means.ndim != 2 or means.shape[1] != 2 or log_vars.shape != means.shape:
        raise ValueError(f"the aggregate posterior needs (N, 2) means and log-variances, got {means.shape}")
    sd = np.exp(0.5 * log_vars)
    if z0 is None or z1 is None:
        half = max(PRIOR_SIGMAS, float(np.max(np.abs(means) + 3.0 * sd)))
        z0 = z1 = grid_axis(-half, half, n)
    a = np.exp(-0.5 * ((z0[None, :] - means[:, :1]) / sd[:, :1]) ** 2) / (np.sqrt(2 * np.pi) * sd[:, :1])
    b = np.exp(-0.5 * ((z1[None, :] - means[:, 1:]) / sd[:, 1:]) ** 2) / (np.sqrt(2 * np.pi) * sd[:, 1:])
    density = a.T @ b / len(means)
    prior = np.exp(log_normal_2d(z0, z1, np.zeros(2), np.eye(2)))
    area = float((z0[1] - z0[0]) * (z1[1] - z1[0]))
    holes = float(np.sum(prior[density < hole_fraction * prior]) * area)
    return Aggregate(z0, z1, density, prior, holes, float(density.sum() * area), len(means))


# --- the model on the grid (TensorFlow)


def _check_2d(model) -> None:
    if int(model.latent_dim) != 2 or not getattr(model, "variational", False) or not hasattr(model, "encode"):
        raise ValueError(f"the posterior on a grid needs a Gaussian VAE with a 2-d latent, "
                         f"got {type(model).__name__} with latent_dim {model.latent_dim}")
    if type(model).__name__ == "BinaryVAE":
        raise ValueError("a binary VAE's codes are not on a plane: the posterior grid needs a Gaussian latent")


def _labels(model, label: int | None, n: int) -> np.ndarray | None:
    if not model.num_classes:
        return None
    return np.full(n, 0 if label is None else int(label), "int32")


def log_likelihood_at(model, image: np.ndarray, z: np.ndarray, label: int | None = None,
                      batch: int = DECODE_BATCH) -> np.ndarray:
    """log p(x|z) (M,) float64 of one image at each code z (M, D), decoded in batches."""
    from keras import ops

    out = []
    for start in range(0, len(z), batch):
        zb = z[start : start + batch]
        x = ops.convert_to_tensor(np.broadcast_to(image, (len(zb), *image.shape)))
        params = model.decoder_params(ops.convert_to_tensor(zb), _labels(model, label, len(zb)))
        out.append(np.asarray(model.log_likelihood(x, params), "float64"))
    return np.concatenate(out)


def expected_log_likelihood(model, image: np.ndarray, mean: np.ndarray, var: np.ndarray,
                            label: int | None = None, points: int = HERMITE_POINTS) -> float:
    """E_q log p(x|z) for q = N(mean, diag(var)) by Gauss-Hermite quadrature, ``points`` a side."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)  # weight exp(-u^2/2)
    weights = weights / np.sqrt(2.0 * np.pi)
    kept = weights > 1e-12  # the outermost nodes (beyond ~7 sds) add nothing but a decoder's overflow
    nodes, weights = nodes[kept], weights[kept] / weights[kept].sum()
    u = grid_points(nodes, nodes).astype("float64")
    z = (np.asarray(mean, "float64") + np.sqrt(np.asarray(var, "float64")) * u).astype("float32")
    w = np.outer(weights, weights).ravel()
    return float(w @ log_likelihood_at(model, image, z, label))


def encode_one(model, image: np.ndarray, label: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """q(z|x)'s mean (2,) and variances (2,) of one image, float64."""
    mean, log_var = model.encode(image[None].astype("float32"), _labels(model, label, 1))
    return np.asarray(mean, "float64")[0], np.exp(np.asarray(log_var, "float64")[0])


def posterior_grid(model, image: np.ndarray, label: int | None = None, n: int = GRID_POINTS) -> Posterior:
    """The image's true posterior on the grid beside q(z|x), its log p(x), ELBO and their gap.

    ``image`` is what the likelihood scores (binarise it first for a binarising model)."""
    _check_2d(model)
    image = np.asarray(image, "float32")
    mean, var = encode_one(model, image, label)
    z0 = z1 = grid_axis(*grid_box(mean, var), n)
    points = grid_points(z0, z1)
    log_prior = log_normal_2d(z0, z1, np.zeros(2), np.eye(2))
    log_joint = log_likelihood_at(model, image, points, label).reshape(n, n) + log_prior
    area = float((z0[1] - z0[0]) * (z1[1] - z1[0]))
    density, log_px = normalise_log(log_joint, area)
    q_cov = np.diag(var)
    expected = expected_log_likelihood(model, image, mean, var, label)
    kl_prior = 0.5 * float(np.sum(var + mean**2 - 1.0 - np.log(var)))
    elbo = expected - kl_prior
    kl_grid = kl_on_grid(log_normal_2d(z0, z1, mean, q_cov), log_joint - log_px, area)
    post_mean, post_cov = grid_moments(z0, z1, density, area)
    return Posterior(z0, z1, log_joint, density, log_px, mean, q_cov, elbo, expected, kl_prior,
                     log_px - elbo, kl_grid, post_mean, post_cov)


def iwae_curve(model, image: np.ndarray, label: int | None = None, ks: Sequence[int] = IWAE_KS,
               pool: int = IWAE_POOL, seed: int = 0) -> IWAECurve:
    """IWAE-k of one image for each k: ``pool`` log weights (`kgen.eval.likelihood.log_weights`)
    split into pool // k disjoint groups of k, each group one bound; the mean over groups and its
    standard error. Every k reuses the same draws, so the curve is smooth."""
    from kgen.eval.likelihood import group_bounds, log_weights

    ks = np.asarray(ks, "int64")
    if ks.min() < 1 or pool // ks.max() < 2:
        raise ValueError(f"each k must be >= 1 and leave at least 2 groups of the {pool} draws; got {ks.tolist()}")
    weights = log_weights(model, np.asarray(image, "float32")[None], pool, seed, _labels(model, label, 1))[0]
    means, errors = [], []
    for k in ks:
        bounds = group_bounds(weights[None], int(k))[0]
        means.append(bounds.mean())
        errors.append(bounds.std(ddof=1) / np.sqrt(len(bounds)))
    return IWAECurve(ks, np.asarray(means), np.asarray(errors), pool)
