"""Datasets for kgen: built-in image sets, image folders, .npz files and toys (2-D and 1-D points).

Every loader returns a `Dataset` of float32 arrays (images NHWC in [0, 1], toy
points (N, 2) or (N, 1)) and reports bad input as a one-line `DatasetError` naming the path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgen.data.arrays import _check_options, _fit, _show
from kgen.data.files import (
    IMAGE_SUFFIXES,
    _load_folder,
    _load_npz,
    is_memory_mapped,
    streamed_pipeline,
)
from kgen.data.idx import (
    _HINTS,
    DIGIT_CLASSES,
    FASHION_CLASSES,
    IDX_FILES,
    SYSTEM_FASHION_DIR,
    _candidates,
    _find_source,
    _load_mnist_like,
    _offline,
    read_idx,
)
from kgen.data.stacked import STACKED_CLASSES, STACKED_MNIST, stacked_splits
from kgen.data.toys import (
    POINT_TOYS,
    TOY_MIXTURES_1D,
    TOY_MODES,
    TOYS,
    TOYS_1D,
    _toy,
    toy_density,
    toy_points,
)
from kgen.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "BUILTINS", "DIGIT_CLASSES", "STACKED_MNIST", "FASHION_CLASSES", "IDX_FILES", "IMAGE_SUFFIXES",
    "SYSTEM_FASHION_DIR", "POINT_TOYS", "TOYS", "TOYS_1D", "TOY_MIXTURES_1D", "TOY_MODES", "Dataset",
    "DatasetInfo", "list_datasets", "load_dataset", "make_pipeline", "read_idx", "toy_density", "toy_points",
]

BUILTINS = ("digits", "mnist", "fashion-mnist", STACKED_MNIST, *POINT_TOYS)
# Built-ins read from the MNIST-style IDX files: a "NAME:PATH" form names their folder.
_IDX_BACKED = ("mnist", "fashion-mnist", STACKED_MNIST)
_DESCRIPTIONS = {
    "digits": "scikit-learn's 1797 handwritten digits, 8x8 grey, 10 classes (bundled)",
    "mnist": "MNIST handwritten digits, 70000 28x28 grey, 10 classes",
    "fashion-mnist": "Zalando Fashion-MNIST, 70000 28x28 grey clothes, 10 classes",
    STACKED_MNIST: "three random MNIST digits as RGB channels, 60000+10000 28x28x3, 1000 classes (needs mnist)",
    "ring8": "2-D toy: 8 Gaussians on a circle of radius 2 (std 0.02)",
    "grid25": "2-D toy: 25 Gaussians on a 5x5 grid at -4..4 (std 0.05)",
    "spiral": "2-D toy: a noisy spiral arm",
    "moons": "2-D toy: two interleaving half-moons",
    "gauss1d": "1-D toy: one Gaussian, mean 1, std 0.5 (exact density known)",
    "mix1d": "1-D toy: two Gaussians at -2 and 2 (std 0.5, equal weights; exact density known)",
    "folder:PATH": "images in PATH (PNG/JPEG/BMP/GIF); sub-folders are classes",
    "npz:PATH": "arrays x [, y, x_test, y_test] in the .npz file PATH",
}


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays of one dataset; images (N, H, W, C) in [0, 1] or points (N, 2) or (N, 1)."""

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
        """"points" for toy data (2-D or 1-D points), "images" otherwise."""
        return "points" if self.x_train.ndim == 2 else "images"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the images; points have none."""
        if self.kind != "images":
            raise DatasetError(f"{self.name}: holds {self.x_train.shape[1]}-D points, not images")
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


def load_dataset(name: str, *, image_size: int | None = None, channels: int | None = None,
                 data_dir: str | os.PathLike | None = None, seed: int = 0,
                 check_shape: Callable[[tuple[int, int, int]], None] | None = None) -> Dataset:
    """Load a dataset by name: a built-in, "folder:PATH", "npz:PATH", "mnist:PATH" or
    "fashion-mnist:PATH" (also "stacked-mnist:PATH"); image_size/channels reshape images and are ignored for toys.

    ``check_shape`` gets the (H, W, C) the images will have and may raise to refuse them; for a
    folder it runs on the file headers, before any pixel is decoded or cached."""
    _check_options(image_size, channels)
    scheme, sep, rest = name.partition(":")
    if sep and scheme in _IDX_BACKED:
        name, data_dir = scheme, rest
    directory = None if data_dir is None else Path(data_dir)
    class_names: tuple[str, ...] = ()
    if name in POINT_TOYS:
        train_rng, test_rng = np.random.default_rng(seed).spawn(2)
        return Dataset(name, _toy(name, 10_000, train_rng), None, _toy(name, 2_000, test_rng), None)
    if name == "digits":
        parts, class_names = _load_digits(seed, image_size), DIGIT_CLASSES
    elif name in ("mnist", "fashion-mnist"):
        parts = _load_mnist_like(name, directory)
        class_names = DIGIT_CLASSES if name == "mnist" else FASHION_CLASSES
    elif name == STACKED_MNIST:
        parts, class_names = stacked_splits(*_stacked_source(directory), seed), STACKED_CLASSES
    elif sep and scheme == "npz":
        *parts, class_names = _load_npz(Path(rest), seed, image_size)
    elif sep and scheme == "folder":
        *parts, class_names = _load_folder(Path(rest), seed, image_size, channels, check_shape)
    else:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(BUILTINS)}, "
                           "folder:PATH, npz:PATH")
    x_train, y_train, x_test, y_test = parts
    if check_shape is not None and scheme != "folder":
        check_shape(_fitted_shape(x_train.shape[1:], image_size, channels))
    x_train, x_test = (_fit(x, image_size, channels) for x in (x_train, x_test))
    return Dataset(name, x_train, y_train, x_test, y_test, class_names)


def _stacked_source(directory: Path | None) -> tuple[np.ndarray, ...]:
    """The MNIST arrays stacked MNIST is built from; a missing MNIST says so in stacked MNIST's name."""
    try:
        return _load_mnist_like("mnist", directory)
    except DatasetError as err:
        raise DatasetError(f"{STACKED_MNIST} is built from MNIST: {err}", options=err.options) from None


def _fitted_shape(shape: tuple[int, ...], image_size: int | None, channels: int | None) -> tuple[int, int, int]:
    """The (H, W, C) images of ``shape`` will have once `_fit` resized them."""
    h, w = shape[:2] if image_size is None else (image_size, image_size)
    return h, w, channels or shape[2]


def _availability(name: str, data_dir: Path | None) -> tuple[bool, str]:
    """Whether `name` can be loaded now, and where it is or what to do; never downloads."""
    if name in POINT_TOYS:
        return True, "generated on the fly"
    if name == "digits":
        return True, "bundled with scikit-learn"
    if name == STACKED_MNIST:
        available, detail = _availability("mnist", data_dir)
        return available, f"built from mnist: {detail}"
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
    """A tf.data pipeline of x batches, or (x, y) batches when y is given; memory-mapped
    arrays (large folder datasets) are read from disk batch by batch instead."""
    integral = isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
    if not integral or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if y is not None and len(y) != len(x):
        raise DatasetError(f"pipeline: {len(y)} labels for {len(x)} samples")
    if is_memory_mapped(x):  # a streamed folder: read from disk a batch at a time
        return streamed_pipeline(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 drop_remainder=drop_remainder, repeat=repeat)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(max(1, len(x)), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
