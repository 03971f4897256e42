"""Array helpers for kgen.data: validating and normalising image and label arrays,
resizing and channel fitting, the seeded train/test split, and printable path forms.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from kgen.errors import ConfigError, DatasetError
from kgen.errors import show_path as _show

_MAX_CLASSES = 10_000         # refuse label values that would make absurd class lists
MAX_SIDE = 512                # the largest image side a model trains on (RunConfig's image_size limit)
MAX_ARRAY_BYTES = 2**31       # the most bytes one stored array (IDX payload, .npz member) may declare


def _oneline(err: BaseException) -> str:
    """An exception's message squeezed onto one line; an OSError about a file gives only its
    reason, since every caller names the file already."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        return " ".join(err.strerror.split())
    return " ".join(_show(str(err) or type(err).__name__).split())


def _as_images(x: np.ndarray, where: str) -> np.ndarray:
    """Validate a non-empty image array and return it as float32 (N, H, W, C) in [0, 1]."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DatasetError(f"{where}: images have shape {x.shape}; expected (N, H, W) "
                           "or (N, H, W, C) with C 1 or 3")
    if not len(x):
        raise DatasetError(f"{where} holds no images")
    if not x.shape[1] or not x.shape[2]:
        raise DatasetError(f"{where}: images have shape {x.shape}, with a side of 0 pixels")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x, np.float32) / np.float32(255)
    if x.dtype.kind != "f":
        raise DatasetError(f"{where}: images have dtype {x.dtype}; expected uint8 or "
                           "float in [0, 1]")
    if x.size and np.isnan(x).any():
        raise DatasetError(f"{where}: images contain NaN")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise DatasetError(f"{where}: float images range over [{x.min():g}, {x.max():g}]; "
                           "expected [0, 1]")
    return np.ascontiguousarray(x, np.float32)


def _as_labels(y: np.ndarray, n: int, where: str, num_classes: int = _MAX_CLASSES) -> np.ndarray:
    """Validate integer labels 0..num_classes-1, one per image, and return them as int64."""
    if y.dtype.kind not in "iu":
        raise DatasetError(f"{where}: labels have dtype {y.dtype}; expected integers")
    if y.ndim != 1 or len(y) != n:
        raise DatasetError(f"{where}: label count {y.shape} does not match image count {n}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DatasetError(f"{where}: labels range over {y.min()}..{y.max()}; expected "
                           f"0..{num_classes - 1}")
    return y.astype(np.int64)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    """Bilinear-resize one float (H, W, C) image to (size, size, C)."""
    if img.shape[:2] == (size, size):
        return img
    bilinear = Image.Resampling.BILINEAR
    planes = [np.asarray(Image.fromarray(img[..., c]).resize((size, size), bilinear))
              for c in range(img.shape[-1])]
    return np.clip(np.stack(planes, -1), 0, 1)


def _fit(x: np.ndarray, image_size: int | None, channels: int | None) -> np.ndarray:
    """Resize a batch to image_size and convert it to the wanted channel count."""
    if image_size is not None and x.shape[1:3] != (image_size, image_size):
        x = np.array([_resize(img, image_size) for img in x], np.float32).reshape(
            len(x), image_size, image_size, x.shape[-1])
    if channels == 3 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif channels == 1 and x.shape[-1] == 3:
        x = x @ np.array([[0.299], [0.587], [0.114]], np.float32)
    return x


def _check_options(image_size: int | None, channels: int | None) -> None:
    """Reject image_size / channels values no loader can honour."""
    if image_size is not None and not 1 <= image_size <= MAX_SIDE:
        raise ConfigError(f"image_size must be 1 to {MAX_SIDE}, got {image_size}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")


def _check_side(shape: tuple[int, ...], image_size: int | None, where: str) -> None:
    """Refuse (H, W, ...) images larger than a model takes unless image_size resizes them."""
    if image_size is None and max(shape[:2]) > MAX_SIDE:
        raise DatasetError(f"{where}: images are {shape[1]}x{shape[0]} pixels, over the {MAX_SIDE} a side "
                           "a model takes; give an image size (image_size) to resize them",
                           options=("image_size",))


def _split_arrays(x: np.ndarray, y: np.ndarray | None, seed: int) -> tuple:
    """Seeded 90/10 split into (x_train, y_train, x_test, y_test).

    At least one test item when n >= 2; with a single item the test set repeats it.
    """
    train, test = _split_indices(len(x), seed)
    return x[train], None if y is None else y[train], x[test], None if y is None else y[test]


def _split_indices(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (train, test) item indices of `_split_arrays`, each sorted."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 1, max(1, round(n * 0.1)))
    return (order, order) if n == 1 else (np.sort(order[n_test:]), np.sort(order[:n_test]))


def _label_names(*labels: np.ndarray | None) -> tuple[str, ...]:
    """Class names "0".."max label" over the given label arrays; () when unlabelled."""
    tops = [int(y.max()) for y in labels if y is not None and y.size]
    return tuple(str(i) for i in range(max(tops) + 1)) if tops else ()
