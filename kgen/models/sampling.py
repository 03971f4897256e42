"""Sampling from a model: fixed noise, labels and decoded images as NumPy arrays.

The pictures made from them (grids, PNG and GIF files) live in `kgen.pictures`, which needs no
TensorFlow.
"""

from __future__ import annotations

import numpy as np

POINT_SAMPLES = 1000  # generated points drawn in a toy run's sample pictures


def latent_noise(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """n draws of z ~ N(0, I), the same for the same seed: the fixed noise of a run's grids."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")


def prior_draws(model, noise: np.ndarray) -> np.ndarray:
    """The model's prior draws of z made from standard normal ``noise`` (its ``prior_codes``: the
    noise itself for N(0, I), binary codes for Bernoulli(1/2)); models without the hook take the noise."""
    codes = model.prior_codes(noise) if hasattr(model, "prior_codes") else noise
    return np.asarray(codes, dtype="float32")


def prior_sample(model, n: int, seed: int) -> np.ndarray:
    """n seeded prior draws of the model's z, (n, latent_dim) float32."""
    return prior_draws(model, latent_noise(n, model.latent_dim, seed))


def decode_batched(
    model, z: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 256, clip: bool = True
) -> np.ndarray:
    """The model's images for latent codes z (and class labels), float32 (N, H, W, C) in [0, 1].

    ``clip=False`` keeps raw values, for models of 2-D points.
    """
    out = [
        np.asarray(model.decode(z[i : i + batch_size], None if labels is None else labels[i : i + batch_size]))
        for i in range(0, len(z), batch_size)
    ]
    out = np.concatenate(out).astype("float32")
    return np.clip(out, 0.0, 1.0) if clip else out


def sample_labels(model, n: int, label: int | None = None) -> np.ndarray | None:
    """Labels for n samples of a conditional model: all ``label``, or cycling through the classes."""
    if not model.num_classes:
        return None
    if label is None:
        return (np.arange(n) % model.num_classes).astype("int32")
    return np.full(n, label, "int32")


def sample_images(model, n: int, seed: int = 0, labels: np.ndarray | None = None) -> np.ndarray:
    """n images decoded from prior draws z ~ p(z) (of the given classes, when conditional)."""
    if labels is None:
        labels = sample_labels(model, n)
    points = len(model.image_shape) == 1
    return decode_batched(model, prior_sample(model, n, seed), labels, clip=not points)


def grid_codes(model, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The fixed (z, labels) of a run's sample grids: rows x rows draws, or for a conditional
    model a "style row" grid, one z per row decoded once per class (one class per column)."""
    if len(model.image_shape) == 1:  # 2-D points: a cloud, not a grid
        return prior_sample(model, POINT_SAMPLES, seed), None
    if not model.num_classes:
        return prior_sample(model, rows * rows, seed), None
    z = np.repeat(prior_sample(model, rows, seed), model.num_classes, axis=0)
    return z, np.tile(np.arange(model.num_classes, dtype="int32"), rows)
