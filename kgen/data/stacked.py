"""Stacked MNIST (Metz et al. 2017; VEEGAN, PacGAN): three random MNIST digits as the R, G and B
channels of one 28x28x3 image, so 1,000 modes (digit triples) a generator should all cover."""

from __future__ import annotations

import numpy as np

from kgen.errors import ConfigError

STACKED_MNIST = "stacked-mnist"
STACKED_MODES = 1000
# Stacked images made from each split: MNIST's own sizes (the papers use 128,000 for training;
# 60,000 keep the float32 array near 560 MB).
STACKED_SIZES = {"train": 60_000, "test": 10_000}
STACKED_CLASSES = tuple(f"{i:03d}" for i in range(STACKED_MODES))
_PLACE_VALUES = np.array([100, 10, 1])


def triple_labels(digits: np.ndarray) -> np.ndarray:
    """(N,) labels 100 * d1 + 10 * d2 + d3 of (N, 3) digits, one per channel."""
    digits = np.asarray(digits)
    if digits.ndim != 2 or digits.shape[1] != 3 or digits.size and (digits.min() < 0 or digits.max() > 9):
        raise ConfigError(f"digit triples must be an (N, 3) array of digits 0..9, got shape {digits.shape}")
    return digits.astype(np.int64) @ _PLACE_VALUES


def stack_digits(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, H, W, 3) whose channels are three digits of (x, y) drawn with rng, and their
    triple labels; x is (N, H, W) or (N, H, W, 1)."""
    x = np.asarray(x).reshape(len(x), *np.shape(x)[1:3])
    picks = rng.integers(len(x), size=(n, 3))
    return np.stack([x[picks[:, c]] for c in range(3)], axis=-1), triple_labels(np.asarray(y)[picks])


def stacked_splits(x_train, y_train, x_test, y_test, seed: int,
                   sizes: dict[str, int] = STACKED_SIZES) -> tuple[np.ndarray, ...]:
    """Seeded stacked train and test splits (x_train, y_train, x_test, y_test), each from the
    same split of MNIST, so no test image shares a digit image with training."""
    train_rng, test_rng = np.random.default_rng(seed).spawn(2)
    return (*stack_digits(x_train, y_train, sizes["train"], train_rng),
            *stack_digits(x_test, y_test, sizes["test"], test_rng))
