"""File-based datasets: .npz archives and folders of images (sub-folders as classes)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from kgen.data.arrays import (
    _as_images,
    _as_labels,
    _fit,
    _label_names,
    _oneline,
    _resize,
    _show,
    _split_arrays,
)
from kgen.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

_MAX_PIXELS = 2**26           # refuse larger images as likely decompression bombs


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a .npz file, refusing pickled objects; any failure is a DatasetError."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except FileNotFoundError:
        raise DatasetError(f"{_show(path)}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{_show(path)}: is a folder, not an .npz file") from None
    except Exception as err:  # numpy/zipfile raise many types for corrupt archives
        raise DatasetError(f"{_show(path)}: cannot read .npz ({_oneline(err)})") from None


def _load_npz(path: Path, seed: int) -> tuple:
    """Images x (and optional y, x_test, y_test) from a .npz; seeded 90/10 split without x_test."""
    where = _show(path)
    arrays = _read_npz(path)
    if "x" not in arrays:
        found = ", ".join(arrays) or "none"
        raise DatasetError(f"{where}: no array 'x' in the .npz (found: {found})")
    x = _as_images(arrays["x"], f"{where} x")
    if not len(x):
        raise DatasetError(f"{where}: x holds no images")
    y = _as_labels(arrays["y"], len(x), f"{where} y") if "y" in arrays else None
    if "x_test" not in arrays:
        return (*_split_arrays(x, y, seed), _label_names(y))
    x_test = _as_images(arrays["x_test"], f"{where} x_test")
    if x_test.shape[1:] != x.shape[1:]:
        raise DatasetError(f"{where}: x_test images are {x_test.shape[1:]}, x images {x.shape[1:]}")
    if (y is None) != ("y_test" not in arrays):
        raise DatasetError(f"{where}: give both y and y_test, or neither")
    y_test = None if y is None else _as_labels(arrays["y_test"], len(x_test), f"{where} y_test")
    return x, y, x_test, y_test, _label_names(y, y_test)


def _image_array(im: Image.Image) -> np.ndarray:
    """Any PIL mode as float (H, W, 1 or 3) in [0, 1]; alpha is composited onto black."""
    if im.mode.startswith("I") or im.mode == "F":
        scale = 1.0 if im.mode == "F" else 65535.0
        return np.clip(np.asarray(im, np.float32) / scale, 0, 1)[..., None]
    grey = im.mode in ("1", "L", "LA", "La")
    a = np.asarray(im.convert("LA" if grey else "RGBA"), np.float32) / 255
    return a[..., :-1] * a[..., -1:]


def _read_image(path: Path) -> np.ndarray:
    """Decode one image file (first frame), refusing corrupt files and decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > _MAX_PIXELS:
                    raise Image.DecompressionBombError(
                        f"{im.width}x{im.height} pixels is over the {_MAX_PIXELS} limit")
                return _image_array(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DatasetError(f"{_show(path)}: image too large, refused as a possible "
                           f"decompression bomb ({_oneline(err)})") from None
    except Exception as err:  # PIL raises many types for corrupt files
        raise DatasetError(f"{_show(path)}: corrupt or unreadable image "
                           f"({_oneline(err)})") from None


def _image_files(folder: Path) -> list[Path]:
    """Image files directly inside folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _load_folder(folder: Path, seed: int, image_size: int | None,
                 channels: int | None) -> tuple[np.ndarray | None, ...]:
    """Images in folder; sub-folders holding images are classes (loose files are then ignored).

    Defaults: the images' common size if square, else 28; 1 channel if all are grey, else 3.
    """
    where = _show(folder)
    if not folder.is_dir():
        raise DatasetError(f"{where}: no such folder")
    try:
        classes = [d for d in sorted(folder.iterdir()) if d.is_dir() and _image_files(d)]
        files = [(f, i) for i, d in enumerate(classes) for f in _image_files(d)] or \
                [(f, -1) for f in _image_files(folder)]
    except OSError as err:
        raise DatasetError(f"{where}: cannot list folder ({_oneline(err)})") from None
    if not files:
        raise DatasetError(f"{where}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    images = [_read_image(f) for f, _ in files]
    if image_size is None:
        sizes = {img.shape[:2] for img in images}
        h, w = sizes.pop() if len(sizes) == 1 else (28, 28)
        image_size = h if h == w else 28
    if channels is None:
        channels = 1 if all(img.shape[-1] == 1 for img in images) else 3
    x = np.concatenate([_fit(_resize(img, image_size)[None], None, channels) for img in images])
    y = np.array([label for _, label in files]) if classes else None
    return (*_split_arrays(x, y, seed), tuple(_show(d.name) for d in classes))
