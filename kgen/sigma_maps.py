"""What a decoder with a learned variance says besides its mean: the sigma of every pixel and a
draw x ~ N(mean, sigma^2), as arrays and as the uint8 pictures the runs and the studio show.

NumPy only (the model's own methods decode), so the window's process can use the scales too."""

from __future__ import annotations

import numpy as np

from kgen.pictures import image_grid

# The top of a sigma map's grey scale (what white stands for) is the first of these at or above
# its largest sigma: a round number a colour bar can show, the same from epoch to epoch once
# training settles. Sigmas above the last one are drawn white.
SIGMA_SCALE_TOPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 5.0, 10.0)
# A run's samples/ folder keeps them in these subfolders, named as the grids (samples/sigma/epoch_NNNN.png).
SIGMA_FOLDERS = ("sigma", "draw")
DRAW_SEED = 20_170_518  # the fixed noise of the draws: a draw changes only as the model does


def has_learned_sigma(model) -> bool:
    """True for a model whose decoder gives every pixel its own variance (likelihood gaussian-learned)."""
    return getattr(model, "likelihood", None) == "gaussian-learned"


def decode_with_sigma(model, z: np.ndarray, labels: np.ndarray | None = None,
                      batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sigma), float32 (N, H, W, C) each, of p(x|z) for latent codes z: sigma = exp(log sigma)
    of the decoder's learned variance."""
    means, sigmas = [], []
    for start in range(0, len(z), batch_size):
        lb = None if labels is None else labels[start : start + batch_size]
        mean, log_var = model.pixel_distribution(model.decoder_params(z[start : start + batch_size], lb))
        means.append(np.asarray(mean, np.float32))
        sigmas.append(np.exp(0.5 * np.asarray(log_var, np.float32)))
    return np.concatenate(means), np.concatenate(sigmas)


def gaussian_draw(mean: np.ndarray, sigma: np.ndarray, seed: int | np.random.Generator = DRAW_SEED,
                  n: int | None = None) -> np.ndarray:
    """x = mean + sigma * eps of every pixel, float32, eps ~ N(0, 1) from ``seed`` (a seed or a generator),
    not clipped: one draw shaped as ``mean``, or ``n`` of them stacked (n, *mean.shape)."""
    shape = np.shape(mean) if n is None else (n, *np.shape(mean))
    eps = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return np.asarray(mean, np.float32) + np.asarray(sigma, np.float32) * eps


def sigma_scale_top(sigma: np.ndarray) -> float:
    """The sigma white stands for in a sigma map of ``sigma`` (see `SIGMA_SCALE_TOPS`)."""
    largest = float(np.max(sigma)) if sigma.size else 0.0
    return next((top for top in SIGMA_SCALE_TOPS if top >= largest), SIGMA_SCALE_TOPS[-1])


def sigma_grid(sigma: np.ndarray, top: float, columns: int | None = None) -> np.ndarray:
    """The uint8 grid of sigma maps, grey linear in sigma: 0 is black, ``top`` white."""
    return image_grid(np.asarray(sigma, np.float32) / top, columns)
