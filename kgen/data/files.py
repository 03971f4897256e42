"""File-based datasets: .npz archives and folders of images (sub-folders as classes)."""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import warnings
from collections.abc import Iterator
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
    _split_indices,
)
from kgen.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

_MAX_PIXELS = 2**26           # refuse larger images as likely decompression bombs
# A folder whose decoded float32 pixels would take more bytes than this is decoded once, a file
# at a time, into a memory-mapped cache file and read from disk a batch at a time, so a folder
# larger than memory still trains ($KGEN_STREAM_BYTES overrides it; 0 streams every folder).
STREAM_BYTES = int(os.environ.get("KGEN_STREAM_BYTES", 2**30))


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


def _is_grey(mode: str) -> bool:
    """Whether images of this PIL mode decode to 1 channel (else 3)."""
    return mode.startswith("I") or mode in ("F", "1", "L", "LA", "La")


def _image_array(im: Image.Image) -> np.ndarray:
    """Any PIL mode as float (H, W, 1 or 3) in [0, 1]; alpha is composited onto black."""
    if im.mode.startswith("I") or im.mode == "F":
        scale = 1.0 if im.mode == "F" else 65535.0
        return np.clip(np.asarray(im, np.float32) / scale, 0, 1)[..., None]
    grey = _is_grey(im.mode)
    a = np.asarray(im.convert("LA" if grey else "RGBA"), np.float32) / 255
    return a[..., :-1] * a[..., -1:]


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """One image file opened (header read), refusing corrupt files and decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > _MAX_PIXELS:
                    raise Image.DecompressionBombError(
                        f"{im.width}x{im.height} pixels is over the {_MAX_PIXELS} limit")
                yield im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DatasetError(f"{_show(path)}: image too large, refused as a possible "
                           f"decompression bomb ({_oneline(err)})") from None
    except DatasetError:
        raise
    except Exception as err:  # PIL raises many types for corrupt files
        raise DatasetError(f"{_show(path)}: corrupt or unreadable image "
                           f"({_oneline(err)})") from None


def _read_image(path: Path) -> np.ndarray:
    """Decode one image file (first frame) as float (H, W, 1 or 3) in [0, 1]."""
    with _opened(path) as im:
        return _image_array(im)


def _read_header(path: Path) -> tuple[int, int, bool]:
    """(height, width, grey) of one image file, without decoding its pixels."""
    with _opened(path) as im:
        return im.height, im.width, _is_grey(im.mode)


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
    headers = [_read_header(f) for f, _ in files]
    if image_size is None:
        sizes = {(h, w) for h, w, _ in headers}
        h, w = sizes.pop() if len(sizes) == 1 else (28, 28)
        image_size = h if h == w else 28
    if channels is None:
        channels = 1 if all(grey for _, _, grey in headers) else 3
    y = np.array([label for _, label in files]) if classes else None
    names = tuple(_show(d.name) for d in classes)
    if len(files) * image_size * image_size * channels * 4 > STREAM_BYTES:
        return (*_decode_to_disk(folder, [f for f, _ in files], y, seed, image_size, channels), names)
    x = np.concatenate([_decoded(f, image_size, channels)[None] for f, _ in files])
    return (*_split_arrays(x, y, seed), names)


def _decoded(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One image file as float32 (image_size, image_size, channels) in [0, 1]."""
    return _fit(_resize(_read_image(path), image_size)[None], None, channels)[0]


def _decode_to_disk(folder: Path, files: list[Path], y: np.ndarray | None, seed: int, image_size: int,
                    channels: int) -> tuple:
    """The folder's train/test split as read-only memory maps of one cache file, decoded a file
    at a time (memory stays flat); reused while no image file changes."""
    train, test = _split_indices(len(files), seed)
    rows = np.concatenate([train, test])
    key = hashlib.sha256(repr((str(folder.resolve()), image_size, channels, seed)).encode())
    for f in files:
        stat = f.stat()
        key.update(f"{f}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    path = folder_cache_dir() / f"{key.hexdigest()[:24]}.npy"
    if not path.is_file():
        from kgen.runs import atomic_path

        with atomic_path(path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                            shape=(len(rows), image_size, image_size, channels))
            for row, i in enumerate(rows):
                out[row] = _decoded(files[i], image_size, channels)
            out.flush()
            del out
    x = np.load(path, mmap_mode="r")
    y_train, y_test = (None, None) if y is None else (y[train], y[test])
    return x[:len(train)], y_train, x[len(train):], y_test


def folder_cache_dir() -> Path:
    """Where decoded folder datasets are cached: $XDG_CACHE_HOME/kgen/folders or ~/.cache/kgen/folders."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kgen" / "folders"


def is_memory_mapped(x: np.ndarray) -> bool:
    """Whether an array's pixels live in a file on disk (a streamed folder dataset)."""
    while x is not None:
        if isinstance(x, (np.memmap, mmap.mmap)):
            return True
        x = getattr(x, "base", None)
    return False


def streamed_pipeline(x: np.ndarray, y: np.ndarray | None, *, batch_size: int, shuffle: bool, seed: int,
                      drop_remainder: bool, repeat: bool):
    """A tf.data pipeline that shuffles indices and reads each batch's rows from a memory-mapped
    array when it is needed, never holding the whole array in memory."""
    import tensorflow as tf

    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(max(1, len(x)), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    rows = (lambda i: np.asarray(x[i])) if y is None else (lambda i: (np.asarray(x[i]), y[i]))
    types = tf.float32 if y is None else (tf.float32, tf.int64)
    batch = batch_size if drop_remainder else None

    def load(index):
        out = tf.numpy_function(rows, [index], types, stateful=False)
        parts = [out] if y is None else list(out)
        parts[0].set_shape((batch, *x.shape[1:]))
        if y is not None:
            parts[1].set_shape((batch,))
        return parts[0] if y is None else tuple(parts)

    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
