"""File-based datasets: .npz archives and folders of images (sub-folders as classes)."""

from __future__ import annotations

import contextlib
import hashlib
import math
import mmap
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from kgen.data.arrays import (
    MAX_ARRAY_BYTES,
    _as_images,
    _as_labels,
    _check_side,
    _fit,
    _label_names,
    _oneline,
    _resize,
    _show,
    _split_arrays,
    _split_indices,
)
from kgen.errors import ConfigError, DatasetError
from kgen.safe_io import (
    ImageError,
    IncompleteImageError,
    atomic_path,
    is_regular_file,
    open_image,
    open_regular,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

_MAX_PIXELS = 2**26           # refuse larger images as likely decompression bombs
# A folder whose decoded float32 pixels would take more bytes than this is decoded once, a file
# at a time, into a memory-mapped cache file and read from disk a batch at a time, so a folder
# larger than memory still trains ($KGEN_STREAM_BYTES overrides it; 0 streams every folder).
STREAM_BYTES = 2**30
# All cache files together stay under this many bytes, least recently used evicted first; a
# folder that alone would need more is refused before anything is decoded ($KGEN_CACHE_BYTES).
CACHE_BYTES = 2**35
_DISK_MARGIN = 2**28          # free disk a cache write must leave
_STALE_SECONDS = 3600         # a cache temporary untouched this long is a crashed write's leftover

ShapeCheck = Callable[[tuple[int, int, int]], None]


def _env_bytes(name: str, default: int) -> int:
    """A byte count from environment variable ``name``, read at each use; ``default`` if unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise ConfigError(f"{name} must be a whole number of bytes, got {_show(text)!r}")
    return int(text)


# ----------------------------------------------------------------- .npz archives

def _read_npz(path: Path, wanted: tuple[str, ...], required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays named in ``wanted`` that a .npz holds, each checked from its .npy header before
    it is decompressed; other arrays are never read. Any failure is a one-line DatasetError."""
    where = _show(path)
    if path.is_dir():
        raise DatasetError(f"{where}: is a folder, not an .npz file")
    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as archive:
            members = {_array_name(info.filename): info for info in archive.infolist()}
            missing = [key for key in required if key not in members]
            if missing:
                found = ", ".join(sorted(members)) or "none"
                raise DatasetError(f"{where}: no array {', '.join(map(repr, missing))} in the .npz "
                                   f"(found: {found})")
            return {key: _read_member(archive, members[key], f"{where} {key}")
                    for key in wanted if key in members}
    except FileNotFoundError:
        raise DatasetError(f"{where}: no such file") from None
    except zipfile.BadZipFile as err:
        raise DatasetError(f"{where}: not an .npz archive ({_oneline(err)})") from None
    except DatasetError:
        raise
    except Exception as err:  # zipfile/zlib/numpy raise many types for corrupt archives
        raise DatasetError(f"{where}: cannot read .npz ({_oneline(err)})") from None


def _array_name(member: str) -> str:
    """The array name np.savez gives a zip member: its name without ``.npy``."""
    return member[:-4] if member.endswith(".npy") else member


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """One .npy member, refused on its header alone when it holds Python objects, declares more
    than MAX_ARRAY_BYTES or more data than the member holds."""
    with archive.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise DatasetError(f"{where}: .npy format version {version[0]}.{version[1]}, expected 1.0 or 2.0")
        shape, _, dtype = readers[version](fp)
        if dtype.hasobject:
            raise DatasetError(f"{where}: cannot read .npz (holds Python objects; pickled data is refused)")
        size = math.prod(shape) * dtype.itemsize
        if size > MAX_ARRAY_BYTES:
            raise DatasetError(f"{where}: declares shape {shape} of {dtype} = {size:,} bytes, over the "
                               f"{MAX_ARRAY_BYTES:,}-byte limit")
        if size > info.file_size - fp.tell():
            raise DatasetError(f"{where}: declares {size:,} bytes of data, the archive holds "
                               f"{max(0, info.file_size - fp.tell()):,}")
    with archive.open(info) as fp:
        return np.lib.format.read_array(fp, allow_pickle=False)


def _load_npz(path: Path, seed: int, image_size: int | None = None) -> tuple:
    """Images x (and optional y, x_test, y_test) from a .npz; seeded 90/10 split without x_test."""
    where = _show(path)
    arrays = _read_npz(path, ("x", "y", "x_test", "y_test"), required=("x",))
    x = _as_images(arrays["x"], f"{where} x")
    _check_side(x.shape[1:], image_size, f"{where} x")
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


# ----------------------------------------------------------------- image files

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
    """One image file through `kgen.safe_io.open_image` (regular files only, PNG/JPEG/BMP/GIF,
    a pixel budget); every failure, while opening or decoding, is a DatasetError naming it."""
    try:
        with open_image(path, max_pixels=_MAX_PIXELS) as im:
            yield im
    except DatasetError:
        raise
    except ImageError as err:
        raise DatasetError(f"{_show(path)}: {_oneline(err)}") from None
    except IncompleteImageError as err:  # in a dataset, a file cut short is a damaged file
        raise DatasetError(f"{_show(path)}: corrupt or unreadable image ({err.strerror})") from None
    except OSError as err:
        if err.filename is not None:  # the file itself: missing, unreadable, a FIFO or a device
            raise DatasetError(f"{_show(path)}: cannot read image ({_oneline(err)})") from None
        raise DatasetError(f"{_show(path)}: corrupt or unreadable image ({_oneline(err)})") from None
    except Exception as err:  # PIL raises many types while decoding corrupt files
        raise DatasetError(f"{_show(path)}: corrupt or unreadable image ({_oneline(err)})") from None


def _read_image(path: Path) -> np.ndarray:
    """Decode one image file (first frame) as float (H, W, 1 or 3) in [0, 1]."""
    with _opened(path) as im:
        return _image_array(im)


def _read_header(path: Path) -> tuple[int, int, bool]:
    """(height, width, grey) of one image file, without decoding its pixels."""
    with _opened(path) as im:
        return im.height, im.width, _is_grey(im.mode)


def _image_files(folder: Path) -> list[Path]:
    """Entries directly inside folder named like images, sorted by name; anything but a folder
    counts, so a FIFO or a dangling link named ``x.png`` is refused when read, not skipped."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())


# ----------------------------------------------------------------- folders of images

def _load_folder(folder: Path, seed: int, image_size: int | None, channels: int | None,
                 check_shape: ShapeCheck | None = None) -> tuple[np.ndarray | None, ...]:
    """Images in folder; sub-folders holding images are classes (loose files are then ignored).

    Defaults: the images' common size if square, else 28; 1 channel if all are grey, else 3.
    Sizes are checked from the file headers before any pixel is decoded or cached.
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
        _check_side((image_size, image_size), None, where)
    if channels is None:
        channels = 1 if all(grey for _, _, grey in headers) else 3
    if check_shape is not None:
        check_shape((image_size, image_size, channels))
    y = np.array([label for _, label in files]) if classes else None
    names = tuple(_show(d.name) for d in classes)
    paths = [f for f, _ in files]
    if _decoded_bytes(len(paths), image_size, channels) > _env_bytes("KGEN_STREAM_BYTES", STREAM_BYTES):
        return (*_decode_to_disk(folder, paths, y, seed, image_size, channels), names)
    x = np.concatenate([_decoded(f, image_size, channels)[None] for f in paths])
    return (*_split_arrays(x, y, seed), names)


def _decoded_bytes(count: int, image_size: int, channels: int) -> int:
    """Bytes of ``count`` decoded float32 images."""
    return count * image_size * image_size * channels * 4


def _decoded(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One image file as float32 (image_size, image_size, channels) in [0, 1]."""
    return _fit(_resize(_read_image(path), image_size)[None], None, channels)[0]


def _decode_to_disk(folder: Path, files: list[Path], y: np.ndarray | None, seed: int, image_size: int,
                    channels: int) -> tuple:
    """The folder's train/test split as read-only memory maps of one cache file, decoded a file
    at a time (memory stays flat); reused while no image file changes, and built from another
    seed's cache of the same images when there is one (no decoding, only a reorder)."""
    train, test = _split_indices(len(files), seed)
    rows = np.concatenate([train, test])
    shape = (len(files), image_size, image_size, channels)
    need = _decoded_bytes(len(files), image_size, channels)
    budget = _env_bytes("KGEN_CACHE_BYTES", CACHE_BYTES)
    if need > budget:
        raise DatasetError(f"{_show(folder)}: {len(files)} images of {image_size}x{image_size}x{channels} decode "
                           f"to {_gb(need)}, over the {_gb(budget)} folder cache budget; give a smaller "
                           "image size (image_size) or raise KGEN_CACHE_BYTES", options=("image_size",))
    directory = folder_cache_dir()
    content = _content_key(folder, files, image_size, channels)
    path = directory / f"{content}-s{seed}.npy"
    x = _cached(path, shape)
    if x is None:
        source = _other_seed(directory, content, shape)
        _make_room(directory, need, budget, folder)
        _write_cache(path, shape, rows, files, source)
        x = _cached(path, shape)
        if x is None:
            raise DatasetError(f"{_show(path)}: the folder cache just written does not read back")
    y_train, y_test = (None, None) if y is None else (y[train], y[test])
    return x[:len(train)], y_train, x[len(train):], y_test


def _gb(n: int) -> str:
    """A byte count for people."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _content_key(folder: Path, files: list[Path], image_size: int, channels: int) -> str:
    """A name for the decoded pixels of these files: changes when any file is added, removed,
    rewritten or touched, or the size or channels change; the same for every seed."""
    key = hashlib.sha256(repr((str(folder.resolve()), image_size, channels)).encode())
    for f in files:
        try:
            info = f.stat()
        except OSError as err:
            raise DatasetError(f"{_show(f)}: cannot read image ({_oneline(err)})") from None
        key.update(f"{f}:{info.st_size}:{info.st_mtime_ns}".encode("utf-8", "surrogateescape"))
    return key.hexdigest()[:24]


def _cached(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cache file at ``path`` as a read-only memory map if it holds float32 pixels of
    ``shape``, marked as just used; else None, and a damaged file there is removed."""
    if not os.path.lexists(path):
        return None
    try:
        if not is_regular_file(path):
            raise ValueError("not a regular file")
        x = np.lib.format.open_memmap(path, mode="r")
        if x.shape != shape or x.dtype != np.float32:
            raise ValueError("not this folder's pixels")
        os.utime(path)  # eviction goes least recently used first
        return x
    except (OSError, ValueError, EOFError):  # truncated, overwritten, not an .npy at all
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def _other_seed(directory: Path, content: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Another seed's cache of the same pixels, as (memory map, row of each file in it), if any."""
    for path in sorted(directory.glob(f"{content}-s*.npy")):
        seed = path.stem[len(content) + 2:]
        if not seed.lstrip("-").isdigit():
            continue
        x = _cached(path, shape)
        if x is not None:
            where = np.empty(shape[0], np.int64)
            where[np.concatenate(_split_indices(shape[0], int(seed)))] = np.arange(shape[0])
            return x, where
    return None


def _make_room(directory: Path, need: int, budget: int, folder: Path) -> None:
    """Evict the least recently used cache files until ``need`` more bytes fit the budget, then
    make sure the disk has room for them; refuse with one line otherwise."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        entries = []
        for path in directory.glob("*.npy"):
            info = path.lstat()
            if path.name.startswith(".") and time.time() - info.st_mtime > _STALE_SECONDS:
                path.unlink(missing_ok=True)  # a crashed write's temporary
            elif not path.name.startswith("."):
                entries.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total + need <= budget:
                break
            path.unlink(missing_ok=True)
            total -= size
        free = shutil.disk_usage(directory).free
    except OSError as err:
        raise DatasetError(f"{_show(directory)}: cannot use the folder cache ({_oneline(err)})") from None
    if free < need + _DISK_MARGIN:
        raise DatasetError(f"{_show(folder)}: decoding it needs {_gb(need)} in the cache {_show(directory)}, "
                           f"which has {_gb(free)} free; free some space or set KGEN_CACHE_DIR")


def _write_cache(path: Path, shape: tuple[int, ...], rows: np.ndarray, files: list[Path],
                 source: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Write the images in ``rows`` order into a new cache file, copying rows from another
    seed's cache when given, else decoding one file at a time."""
    image_size, channels = shape[1], shape[3]
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        if source is not None:
            x, where = source
            for start in range(0, len(rows), 256):
                out[start:start + 256] = x[where[rows[start:start + 256]]]
        else:
            for row, i in enumerate(rows):
                out[row] = _decoded(files[i], image_size, channels)
        out.flush()
        del out


def cache_dir(part: str) -> Path:
    """Where kgen caches ``part`` (folders, classifiers): $KGEN_CACHE_DIR/part, else
    $XDG_CACHE_HOME/kgen/part, else ~/.cache/kgen/part."""
    if os.environ.get("KGEN_CACHE_DIR"):
        return Path(os.environ["KGEN_CACHE_DIR"]) / part
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kgen" / part


def folder_cache_dir() -> Path:
    """Where decoded folder datasets are cached (see `cache_dir`)."""
    return cache_dir("folders")


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
