"""Sampling and image output: pure functions returning NumPy arrays, plus atomic PNG writing."""

from __future__ import annotations

import math
import os

import numpy as np

from kgen.runs import atomic_path


def latent_noise(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """n draws of z ~ N(0, I), the same for the same seed: the fixed noise of a run's grids."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")


def decode_batched(model, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's mean images for latent codes z, as float32 (N, H, W, C) in [0, 1]."""
    out = [np.asarray(model.decode(z[i : i + batch_size])) for i in range(0, len(z), batch_size)]
    return np.clip(np.concatenate(out), 0.0, 1.0).astype("float32")


def sample_images(model, n: int, seed: int = 0) -> np.ndarray:
    """n images decoded from prior draws z ~ N(0, I)."""
    return decode_batched(model, latent_noise(n, model.latent_dim, seed))


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile (N, H, W, C) images in [0, 1] into one uint8 (rows*H, columns*W, C) picture.

    Images are separated by ``pad`` pixels of mid-grey so neighbours stay distinguishable.
    """
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 128, np.uint8)
    pixels = np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = pixels[i]
    return grid


def save_png(picture: np.ndarray, path: str | os.PathLike, scale: int = 1) -> None:
    """Write a uint8 (H, W, C) picture as PNG, enlarged ``scale`` times with sharp pixels."""
    from PIL import Image

    image = Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def display_scale(image_height: int) -> int:
    """Enlargement that makes small images (8x8 digits) visible in a saved grid."""
    return max(1, 56 // max(1, image_height))
