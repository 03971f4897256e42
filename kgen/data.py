"""Datasets for kgen: built-in image sets, image folders, .npz files and 2-D toys.

Every loader returns a `Dataset` of float32 arrays (images NHWC in [0, 1], toy
points (N, 2)) and reports bad input as a one-line `DatasetError` naming the path.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from kgen.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    import tensorflow as tf

DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SYSTEM_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

_MAX_IDX_BYTES = 2**31        # refuse IDX payloads above 2 GiB before reading them
_MAX_PIXELS = 2**26           # refuse larger images as likely decompression bombs
_MAX_CLASSES = 10_000         # refuse label values that would make absurd class lists
_CHUNK = 1 << 24

_HINTS = {
    "mnist": "pass --data-dir DIR holding the IDX files or mnist.npz",
    "fashion-mnist": "install the Debian package dataset-fashion-mnist "
                     "(apt-get install dataset-fashion-mnist) or pass --data-dir DIR "
                     "with the four IDX files",
}
_DESCRIPTIONS = {
    "digits": "scikit-learn's 1797 handwritten digits, 8x8 grey, 10 classes (bundled)",
    "mnist": "MNIST handwritten digits, 70000 28x28 grey, 10 classes",
    "fashion-mnist": "Zalando Fashion-MNIST, 70000 28x28 grey clothes, 10 classes",
    "ring8": "2-D toy: 8 Gaussians on a circle of radius 2 (std 0.02)",
    "grid25": "2-D toy: 25 Gaussians on a 5x5 grid at -4..4 (std 0.05)",
    "spiral": "2-D toy: a noisy spiral arm",
    "moons": "2-D toy: two interleaving half-moons",
    "folder:PATH": "images in PATH (PNG/JPEG/BMP/GIF); sub-folders are classes",
    "npz:PATH": "arrays x [, y, x_test, y_test] in the .npz file PATH",
}

_RING8 = 2.0 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
_GRID25 = np.array([(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)])
TOY_MODES: dict[str, np.ndarray] = {"ring8": _RING8.astype(np.float32),
                                    "grid25": _GRID25.astype(np.float32)}
for _modes in TOY_MODES.values():
    _modes.setflags(write=False)
_TOY_STD = {"ring8": 0.02, "grid25": 0.05}
TOYS = ("ring8", "grid25", "spiral", "moons")
BUILTINS = ("digits", "mnist", "fashion-mnist", *TOYS)


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays of one dataset; images (N, H, W, C) in [0, 1] or points (N, 2)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Normalise dtypes once here so every consumer sees float32 x and int64 y."""
        for field, dtype in (("x_train", np.float32), ("x_test", np.float32),
                             ("y_train", np.int64), ("y_test", np.int64)):
            if getattr(self, field) is not None:
                object.__setattr__(self, field, np.ascontiguousarray(getattr(self, field), dtype))

    @property
    def kind(self) -> str:
        """"points" for 2-D toy data, "images" otherwise."""
        return "points" if self.x_train.ndim == 2 else "images"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the images; points have none."""
        if self.kind != "images":
            raise DatasetError(f"{self.name}: holds 2-D points, not images")
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        """Number of label classes; 0 when unlabelled."""
        return len(self.class_names)


@dataclass(frozen=True)
class DatasetInfo:
    """What `list_datasets` knows about one dataset without loading or downloading it."""

    name: str
    description: str
    available: bool
    detail: str


# ----------------------------------------------------------------- helpers

def _show(path: str | os.PathLike | bytes) -> str:
    """Printable form of a path, even one whose name is not valid UTF-8."""
    text = os.fsdecode(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _oneline(err: BaseException) -> str:
    """An exception's message squeezed onto one line."""
    return " ".join(_show(str(err) or type(err).__name__).split())


def _offline() -> bool:
    """True when KGEN_OFFLINE=1 forbids downloads."""
    return os.environ.get("KGEN_OFFLINE", "") not in ("", "0")


def _keras_datasets_dir() -> Path:
    """Where keras caches downloaded datasets ($KERAS_HOME or ~/.keras, then datasets/)."""
    return Path(os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")) / "datasets"


def _as_images(x: np.ndarray, where: str) -> np.ndarray:
    """Validate an image array and return it as float32 (N, H, W, C) in [0, 1]."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DatasetError(f"{where}: images have shape {x.shape}; expected (N, H, W) "
                           "or (N, H, W, C) with C 1 or 3")
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
    if image_size is not None and image_size < 1:
        raise ConfigError(f"image_size must be >= 1, got {image_size}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")


def _split_arrays(x: np.ndarray, y: np.ndarray | None, seed: int) -> tuple:
    """Seeded 90/10 split into (x_train, y_train, x_test, y_test).

    At least one test item when n >= 2; with a single item the test set repeats it.
    """
    n = len(x)
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 1, max(1, round(n * 0.1)))
    train, test = (order, order) if n == 1 else (np.sort(order[n_test:]), np.sort(order[:n_test]))
    return x[train], None if y is None else y[train], x[test], None if y is None else y[test]


# ----------------------------------------------------------------- IDX / MNIST-style

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
        with (gzip.open if gz else open)(path, "rb") as f:
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
            room = _MAX_IDX_BYTES if gz else path.stat().st_size - 4 - 4 * ndim
            if count > room:
                held = f"over the {room}-byte limit" if gz else f"but the file holds only {room}"
                raise DatasetError(f"{where}: IDX header declares shape {dims} = {count} bytes, "
                                   f"{held}")
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
            if candidate.is_file():
                found[key] = candidate
                break
    if not found:
        return None
    missing = [f"{IDX_FILES[k]}[.gz]" for k in IDX_FILES if k not in found]
    if missing:
        raise DatasetError(f"{_show(folder)}: IDX files incomplete, missing {', '.join(missing)}")
    return found


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
        arrays = _read_npz(source)
        missing = [k for k in IDX_FILES if k not in arrays]
        if missing:
            raise DatasetError(f"{_show(source)}: no array {', '.join(missing)} in the .npz")
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
    if data_dir is not None and not data_dir.exists():
        raise DatasetError(f"{_show(data_dir)}: no such file or folder")
    for place in _candidates(name, data_dir):
        if place.is_dir() and _idx_paths(place) or place.suffix == ".npz" and place.is_file():
            return place
    if data_dir is not None:
        raise DatasetError(f"{_show(data_dir)}: no {name} data there; {_HINTS[name]}")
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
                           f"(KGEN_OFFLINE=1); {_HINTS[name]}")
    try:
        (x_train, y_train), (x_test, y_test) = _download(name)
    except Exception as err:  # any network, HTTP or archive failure
        raise DatasetError(f"{name}: not found in {places} and the download failed "
                           f"({_oneline(err)}); {_HINTS[name]}") from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return _check_arrays({k: np.asarray(v) for k, v in arrays.items()}, f"{name} download")


# ----------------------------------------------------------------- other sources

def _load_digits(seed: int, image_size: int | None) -> tuple[np.ndarray, ...]:
    """scikit-learn digits with a stratified 80/20 split.

    image_size 28 resizes to 20x20 and pads 4 pixels each side, framing digits like MNIST.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, stratify=digits.target, random_state=seed)
    if image_size == 28:
        pad = ((0, 0), (4, 4), (4, 4), (0, 0))
        x_train, x_test = (np.pad(_fit(a, 20, None), pad) for a in (x_train, x_test))
    return x_train, y_train, x_test, y_test


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


def _label_names(*labels: np.ndarray | None) -> tuple[str, ...]:
    """Class names "0".."max label" over the given label arrays; () when unlabelled."""
    tops = [int(y.max()) for y in labels if y is not None and y.size]
    return tuple(str(i) for i in range(max(tops) + 1)) if tops else ()


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


# ----------------------------------------------------------------- toys

def _toy(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n float32 points of toy `name` drawn with rng."""
    if name in TOY_MODES:
        modes = TOY_MODES[name]
        points = modes[rng.integers(len(modes), size=n)] + rng.normal(0, _TOY_STD[name], (n, 2))
    elif name == "spiral":
        t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
        points = np.stack([t * np.cos(t), t * np.sin(t)], 1) / np.pi + rng.normal(0, 0.05, (n, 2))
    elif name == "moons":
        t = rng.uniform(0, np.pi, n)
        lower = rng.integers(2, size=n)
        points = np.where(lower[:, None], np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1),
                          np.stack([np.cos(t), np.sin(t)], 1))
        points = 2 * (points - [0.5, 0.25] + rng.normal(0, 0.05, (n, 2)))
    else:
        raise DatasetError(f"unknown toy {name!r}; choose one of {', '.join(TOYS)}")
    return points.astype(np.float32)


def toy_points(name: str, n: int, *, seed: int = 0) -> np.ndarray:
    """n seeded points (float32, shape (n, 2)) of the 2-D toy distribution `name`."""
    if n < 0:
        raise ConfigError(f"number of toy points must be >= 0, got {n}")
    return _toy(name, n, np.random.default_rng(seed))


# ----------------------------------------------------------------- public entry points

def load_dataset(name: str, *, image_size: int | None = None, channels: int | None = None,
                 data_dir: str | os.PathLike | None = None, seed: int = 0) -> Dataset:
    """Load a dataset by name: a built-in, "folder:PATH", "npz:PATH", "mnist:PATH" or
    "fashion-mnist:PATH"; image_size/channels reshape images and are ignored for toys."""
    _check_options(image_size, channels)
    scheme, sep, rest = name.partition(":")
    if sep and scheme in ("mnist", "fashion-mnist"):
        name, data_dir = scheme, rest
    directory = None if data_dir is None else Path(data_dir)
    class_names: tuple[str, ...] = ()
    if name in TOYS:
        train_rng, test_rng = np.random.default_rng(seed).spawn(2)
        return Dataset(name, _toy(name, 10_000, train_rng), None, _toy(name, 2_000, test_rng), None)
    if name == "digits":
        parts, class_names = _load_digits(seed, image_size), DIGIT_CLASSES
    elif name in ("mnist", "fashion-mnist"):
        parts = _load_mnist_like(name, directory)
        class_names = DIGIT_CLASSES if name == "mnist" else FASHION_CLASSES
    elif sep and scheme == "npz":
        *parts, class_names = _load_npz(Path(rest), seed)
    elif sep and scheme == "folder":
        *parts, class_names = _load_folder(Path(rest), seed, image_size, channels)
    else:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(BUILTINS)}, "
                           "folder:PATH, npz:PATH")
    x_train, y_train, x_test, y_test = parts
    x_train, x_test = (_fit(x, image_size, channels) for x in (x_train, x_test))
    return Dataset(name, x_train, y_train, x_test, y_test, class_names)


def _availability(name: str, data_dir: Path | None) -> tuple[bool, str]:
    """Whether `name` can be loaded now, and where it is or what to do; never downloads."""
    if name in TOYS:
        return True, "generated on the fly"
    if name == "digits":
        return True, "bundled with scikit-learn"
    try:
        source = _find_source(name, data_dir)
    except DatasetError as err:
        return False, str(err)
    if source is not None:
        return True, f"found at {_show(source)}"
    places = ", ".join(_show(p) for p in _candidates(name, None))
    if _offline():
        return False, f"not found in {places}; downloads are off (KGEN_OFFLINE=1): {_HINTS[name]}"
    return True, f"not found in {places}; keras will download it on first use"


def list_datasets(data_dir: str | os.PathLike | None = None) -> list[DatasetInfo]:
    """Every built-in dataset with its availability, plus the folder:/npz: path forms."""
    directory = None if data_dir is None else Path(data_dir)
    infos = [DatasetInfo(name, _DESCRIPTIONS[name], *_availability(name, directory))
             for name in BUILTINS]
    return infos + [DatasetInfo(form, _DESCRIPTIONS[form], True, "give a path after the colon")
                    for form in ("folder:PATH", "npz:PATH")]


def make_pipeline(x: np.ndarray, y: np.ndarray | None = None, *, batch_size: int,
                  shuffle: bool = True, seed: int = 0, cache: bool = True,
                  drop_remainder: bool = False, repeat: bool = False) -> tf.data.Dataset:
    """A tf.data pipeline of x batches, or (x, y) batches when y is given."""
    integral = isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
    if not integral or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if y is not None and len(y) != len(x):
        raise DatasetError(f"pipeline: {len(y)} labels for {len(x)} samples")
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(max(1, len(x)), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
