"""IDX reading and MNIST / Fashion-MNIST loading: local search, the KGEN_OFFLINE check
and the keras download hook `_download` (read at call time, so tests can monkeypatch it).
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from kgen.data.arrays import MAX_ARRAY_BYTES, _as_images, _as_labels, _oneline, _show
from kgen.data.files import _read_npz
from kgen.errors import DatasetError
from kgen.safe_io import open_regular

DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SYSTEM_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}

_CHUNK = 1 << 24

_HINTS = {
    "mnist": "pass data_dir DIR holding the IDX files or mnist.npz",
    "fashion-mnist": "install the Debian package dataset-fashion-mnist "
                     "(apt-get install dataset-fashion-mnist) or pass data_dir DIR "
                     "with the four IDX files",
}


def _offline() -> bool:
    """True when KGEN_OFFLINE=1 forbids downloads."""
    return os.environ.get("KGEN_OFFLINE", "") not in ("", "0")


def _keras_datasets_dir() -> Path:
    """Where keras caches downloaded datasets ($KERAS_HOME or ~/.keras, then datasets/)."""
    return Path(os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")) / "datasets"


def _read_exact(f, n: int) -> bytes:
    """Read up to n bytes in bounded chunks, so a lying header cannot force a huge buffer."""
    chunks, left = [], n
    while left:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (plain or .gz) of rank ndim, checking sizes before reading."""
    path, where = Path(path), _show(path)
    gz = path.name.endswith(".gz")
    try:
        with open_regular(path) as raw, (gzip.GzipFile(fileobj=raw) if gz else contextlib.nullcontext(raw)) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0" or magic[3] != ndim:
                raise DatasetError(f"{where}: wrong IDX magic number 0x{magic.hex()}; expected "
                                   f"0x000008{ndim:02x} (unsigned bytes, {ndim}-D)")
            if magic[2] != 0x08:
                raise DatasetError(f"{where}: unsupported IDX data type code 0x{magic[2]:02x}; "
                                   "only 0x08 (unsigned byte) is supported")
            head = f.read(4 * ndim)
            if len(head) < 4 * ndim:
                raise DatasetError(f"{where}: truncated IDX header")
            dims = struct.unpack(f">{ndim}I", head)
            count = math.prod(dims)
            held = None if gz else os.fstat(raw.fileno()).st_size - 4 - 4 * ndim
            if count > MAX_ARRAY_BYTES or held is not None and count > held:
                why = f"but the file holds only {held}" if count <= MAX_ARRAY_BYTES else \
                    f"over the {MAX_ARRAY_BYTES}-byte limit"
                raise DatasetError(f"{where}: IDX header declares shape {dims} = {count} bytes, {why}")
            data = _read_exact(f, count)
            if len(data) < count:
                raise DatasetError(f"{where}: truncated IDX file: header declares {count} bytes "
                                   f"of data, found {len(data)}")
    except FileNotFoundError:
        raise DatasetError(f"{where}: no such file") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{where}: cannot read IDX file ({_oneline(err)})") from None
    return np.frombuffer(data, np.uint8).reshape(dims)


def _idx_paths(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in folder (plain or .gz); None if none is there, error if some are."""
    found = {}
    for key, stem in IDX_FILES.items():
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if _present(candidate):
                found[key] = candidate
                break
    if not found:
        return None
    missing = [f"{IDX_FILES[k]}[.gz]" for k in IDX_FILES if k not in found]
    if missing:
        raise DatasetError(f"{_show(folder)}: IDX files incomplete, missing {', '.join(missing)}")
    return found


def _present(path: Path) -> bool:
    """Whether a data file is there to read; a FIFO, device or socket under its name is refused
    (it would block or stream for ever), a folder or nothing at all is absent."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    if stat.S_ISDIR(mode):
        return False
    if not stat.S_ISREG(mode):
        raise DatasetError(f"{_show(path)}: not a regular file")
    return True


def _check_arrays(arrays: dict[str, np.ndarray], where: str) -> tuple[np.ndarray, ...]:
    """Validate MNIST-style train/test images (uint8) and labels 0..9."""
    x_train, x_test = (_as_images(arrays[k], f"{where} {k}") for k in ("x_train", "x_test"))
    return (x_train, _as_labels(arrays["y_train"], len(x_train), f"{where} y_train", 10),
            x_test, _as_labels(arrays["y_test"], len(x_test), f"{where} y_test", 10))


def _read_source(source: Path) -> tuple[np.ndarray, ...]:
    """Load the four arrays from an IDX folder or an mnist.npz-style file."""
    if source.is_dir():
        paths = _idx_paths(source)
        arrays = {k: read_idx(p, 3 if k.startswith("x") else 1) for k, p in paths.items()}
    else:
        arrays = _read_npz(source, tuple(IDX_FILES), required=tuple(IDX_FILES))
    return _check_arrays(arrays, _show(source))


def _candidates(name: str, data_dir: Path | None) -> list[Path]:
    """Places that may hold `name` locally, in search order."""
    if data_dir is not None:
        return [data_dir, data_dir / "mnist.npz"] if name == "mnist" else [data_dir]
    if name == "mnist":
        return [_keras_datasets_dir() / "mnist.npz"]
    return [SYSTEM_FASHION_DIR, _keras_datasets_dir() / "fashion-mnist"]


def _find_source(name: str, data_dir: Path | None) -> Path | None:
    """First candidate holding `name` (an IDX folder or a .npz file); None when none does."""
    if data_dir is not None and not os.path.exists(data_dir):
        raise DatasetError(f"{_show(data_dir)}: no such file or folder")
    for place in _candidates(name, data_dir):
        if place.is_dir() and _idx_paths(place) or place.suffix == ".npz" and _present(place):
            return place
    if data_dir is not None:
        raise DatasetError(f"{_show(data_dir)}: no {name} data there; {_HINTS[name]}", options=("data_dir",))
    return None


def _download(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fetch `name` through keras.datasets (tests monkeypatch this to fail)."""
    import keras

    return getattr(keras.datasets, name.replace("-", "_")).load_data()


def _load_mnist_like(name: str, data_dir: Path | None) -> tuple[np.ndarray, ...]:
    """MNIST or Fashion-MNIST from disk, else from a keras download unless KGEN_OFFLINE=1."""
    source = _find_source(name, data_dir)
    if source is not None:
        return _read_source(source)
    places = ", ".join(_show(p) for p in _candidates(name, None))
    if _offline():
        raise DatasetError(f"{name}: not found in {places} and downloads are off "
                           f"(KGEN_OFFLINE=1); {_HINTS[name]}", options=("data_dir",))
    try:
        (x_train, y_train), (x_test, y_test) = _download(name)
    except Exception as err:  # any network, HTTP or archive failure
        raise DatasetError(f"{name}: not found in {places} and the download failed "
                           f"({_oneline(err)}); {_HINTS[name]}", options=("data_dir",)) from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return _check_arrays({k: np.asarray(v) for k, v in arrays.items()}, f"{name} download")
