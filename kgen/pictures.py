"""Pictures from arrays: image grids, PNG and GIF files, scatter pictures of 2-D points, histograms of 1-D ones.

NumPy and Pillow only, so the window's process can make and save pictures without TensorFlow.
"""

from __future__ import annotations

import math
import os

import numpy as np

from kgen.safe_io import atomic_path


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


def _pil_image(picture: np.ndarray, scale: int = 1):
    """A uint8 (H, W, C) picture as a PIL image, enlarged ``scale`` times with sharp pixels."""
    from PIL import Image

    image = Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return image


def save_png(picture: np.ndarray, path: str | os.PathLike, scale: int = 1) -> np.ndarray:
    """Write a uint8 (H, W, C) picture as PNG, enlarged ``scale`` times with sharp pixels; returns
    the picture as written, as a reader of the file gets it (uint8 (H, W) or (H, W, 3))."""
    image = _pil_image(picture, scale)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return np.array(image)


def display_scale(image_height: int) -> int:
    """Enlargement that makes small images (8x8 digits) visible in a saved grid."""
    return max(1, 56 // max(1, image_height))


def save_gif(
    frames: np.ndarray, path: str | os.PathLike, duration_ms: int = 100, scale: int = 1, loop: bool = True,
) -> None:
    """Write (N, H, W, C) frames in [0, 1] as an animated GIF, ``duration_ms`` per frame.

    Pillow merges identical consecutive frames into one longer frame; the timing is unchanged.
    """
    if len(frames) == 0:
        raise ValueError("a GIF needs at least one frame")
    images = [_pil_image(image_grid(frame[None], columns=1, pad=0), scale) for frame in frames]
    options = {"loop": 0} if loop else {}
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:],
            duration=int(duration_ms), disposal=1, **options,
        )


def scatter_picture(real: np.ndarray, fake: np.ndarray, size: int = 384, margin: float = 0.1) -> np.ndarray:
    """A uint8 RGB picture of 2-D points: real data in grey behind generated points in red.

    The view is fitted to the real data (plus ``margin``), so a generator that wanders off shows
    as points piled on the border. 1-D points get a `histogram_picture` instead.
    """
    if real.shape[1] == 1:
        return histogram_picture(real, fake, size, margin)
    low, high = real.min(axis=0), real.max(axis=0)
    pad = (high - low) * margin + 1e-6
    low, high = low - pad, high + pad
    picture = np.full((size, size, 3), 255, np.uint8)
    for points, colour in ((real, (170, 170, 170)), (fake, (214, 39, 40))):
        pixels = np.clip((points - low) / (high - low) * (size - 1), 0, size - 1).astype(int)
        for dx in (0, 1):
            for dy in (0, 1):
                cols = np.clip(pixels[:, 0] + dx, 0, size - 1)
                rows = np.clip(size - 1 - pixels[:, 1] - dy, 0, size - 1)
                picture[rows, cols] = colour
    return picture


def histogram_picture(real: np.ndarray, fake: np.ndarray, size: int = 384, margin: float = 0.1,
                      bins: int = 64) -> np.ndarray:
    """A uint8 RGB picture of 1-D points (N, 1): the real data's histogram as grey bars under
    the generated points' histogram in translucent red, over the real data's range plus ``margin``
    (generated points beyond it pile in the end bins) and up to 1.25 times the real's highest bar."""
    low, high = float(real.min()), float(real.max())
    pad = (high - low) * margin + 1e-6
    edges = np.linspace(low - pad, high + pad, bins + 1)
    counts = [np.histogram(np.clip(p[:, 0], edges[0], edges[-1]), edges)[0] / max(len(p), 1) for p in (real, fake)]
    top = 1.25 * float(np.max(counts[0])) or 1.0  # fitted to the real data; a collapsed G's spike is cut
    heights = [np.minimum(np.round(c / top * size), size).astype(int) for c in counts]
    column_bin = np.minimum(np.arange(size) * bins // size, bins - 1)
    picture = np.full((size, size, 3), 255, np.uint8)
    rows = np.arange(size)[:, None]
    picture[rows >= size - heights[0][column_bin][None]] = (170, 170, 170)
    under_fake = rows >= size - heights[1][column_bin][None]
    picture[under_fake] = picture[under_fake] // 2 + np.array((214, 39, 40), np.uint8) // 2
    return picture


def dataset_preview(data, count: int = 10) -> np.ndarray:
    """A uint8 strip of real training images (one per class first, when labelled), or a
    scatter picture of 2-D points: what the setup panel shows before a run."""
    if data.kind == "points":
        return scatter_picture(data.x_train[:2000], np.zeros((0, data.x_train.shape[1]), np.float32), size=160)
    x, y = data.x_train, data.y_train
    if y is not None:
        firsts = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)]
        rest = [i for i in range(min(len(x), 2 * count)) if i not in firsts]
        index = (firsts + rest)[:count]
    else:
        index = list(range(min(count, len(x))))
    return image_grid(x[index], columns=len(index))
