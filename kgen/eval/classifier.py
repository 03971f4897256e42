"""The per-dataset judge: a small CNN trained once on a dataset's labels and cached on disk.

Its 128-D penultimate layer ("features") feeds the classifier-feature FID and precision/recall,
its softmax the classifier score and class coverage (the TF-GAN "MNIST score" idea, for any
labelled dataset). A model is cached under a key made of the dataset's name, image shape and a
fingerprint of its training data, so it is trained once per dataset version.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from scipy.special import softmax

from kgen.data import Dataset, make_pipeline
from kgen.data.files import cache_dir
from kgen.errors import ConfigError
from kgen.safe_io import atomic_path, atomic_write_text

FEATURES_LAYER = "features"
FEATURE_DIM = 128
# Default training aims at about this many optimizer steps, within the epoch bounds below.
_TARGET_STEPS = 2000
_EPOCH_RANGE = (3, 30)
# Images pushed through the network at once when computing features.
_BATCH = 512


def build_classifier(image_shape: tuple[int, int, int], num_classes: int, *, seed: int = 0) -> keras.Model:
    """image -> class logits: Conv32, Conv64 with max pooling, a 128-D "features" layer, dropout.

    Images smaller than 16 pixels (8x8 digits) are pooled once, larger ones twice.
    """
    height, width, _ = image_shape
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input(tuple(image_shape), name="image")
    h = layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init, name="conv_0")(inputs)
    if min(height, width) >= 16:
        h = layers.MaxPooling2D(name="pool_0")(h)
    h = layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init, name="conv_1")(h)
    h = layers.MaxPooling2D(name="pool_1")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(FEATURE_DIM, activation="relu", kernel_initializer=init, name=FEATURES_LAYER)(h)
    h = layers.Dropout(0.3, seed=seed)(h)
    logits = layers.Dense(num_classes, kernel_initializer=init, name="logits")(h)
    return keras.Model(inputs, logits, name="classifier")


class DatasetClassifier:
    """A trained classifier with its test accuracy, answering features, probabilities and labels."""

    def __init__(self, model: keras.Model, accuracy: float = math.nan, record: dict[str, Any] | None = None):
        self.model = model
        self.accuracy = float(accuracy)
        self.record = dict(record or {})  # what the cache's JSON says about training
        self.num_classes = int(model.outputs[0].shape[-1])
        self.image_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        both = keras.Model(model.inputs, [model.get_layer(FEATURES_LAYER).output, model.outputs[0]])
        spec = tf.TensorSpec((None, *self.image_shape), tf.float32)
        self._forward = tf.function(lambda x: both(x, training=False), input_signature=[spec])

    def features_and_probabilities(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 128) features and (N, K) softmax probabilities of images x, batched through one
        traced call (no per-call `predict` overhead)."""
        x = self._check_images(x)
        parts = [self._forward(tf.constant(x[i : i + _BATCH])) for i in range(0, len(x), _BATCH)]
        if not parts:
            return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, self.num_classes))
        features = np.concatenate([p[0].numpy() for p in parts])
        logits = np.concatenate([p[1].numpy() for p in parts]).astype(np.float64)
        return features, softmax(logits, axis=1)

    def features(self, x: np.ndarray) -> np.ndarray:
        """(N, 128) penultimate-layer features: the space of the classifier-feature FID."""
        return self.features_and_probabilities(x)[0]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N, K) softmax class probabilities, float64."""
        return self.features_and_probabilities(x)[1]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N,) most likely class of each image."""
        return self.probabilities(x).argmax(axis=1)

    def _check_images(self, x: np.ndarray) -> np.ndarray:
        """x as float32 (N, H, W, C) of this classifier's shape, else a ConfigError."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ConfigError(f"classifier expects images of shape {self.image_shape}, got {x.shape[1:]}")
        return x


@dataclass(frozen=True)
class _CacheEntry:
    """Where one cached classifier lives: its model and its JSON record."""

    model: Path
    record: Path


def default_cache_dir() -> Path:
    """Where trained judge classifiers are kept (kgen.data's cache folder "classifiers")."""
    return cache_dir("classifiers")


def cache_key(data: Dataset) -> str:
    """File-name-safe name, image shape and a fingerprint of the training labels and images."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", data.name).strip("._")[:80] or "dataset"
    shape = "x".join(str(d) for d in data.image_shape)
    digest = hashlib.sha256(data.y_train.tobytes())
    digest.update(data.x_train[:: max(1, len(data.x_train) // 256)].tobytes())
    return f"{name}-{shape}-{digest.hexdigest()[:12]}"


def classifier_for(data: Dataset, *, cache_dir: str | os.PathLike | None = None, epochs: int | None = None,
                   seed: int = 0, verbose: int = 0) -> DatasetClassifier:
    """The dataset's classifier: loaded from the cache, else trained on the training split and cached.

    A cache entry that cannot be loaded, or was trained for other epochs than the ones asked
    for, is retrained and replaced.
    """
    _check_labelled(data)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(data)
    entry = _CacheEntry(directory / f"{key}.keras", directory / f"{key}.json")
    cached = _load_cached(entry, data, epochs)
    if cached is not None:
        return cached
    classifier = _train(data, epochs, seed, verbose)
    _save(classifier, entry)
    return classifier


def _check_labelled(data: Dataset) -> None:
    """ConfigError unless the dataset holds labelled images of at least 2 classes."""
    if data.kind != "images" or data.y_train is None or data.y_test is None or data.num_classes < 2:
        raise ConfigError(f"{data.name}: a dataset classifier needs labelled images of at least 2 classes")


def default_schedule(num_train: int) -> tuple[int, int]:
    """(epochs, batch size) reaching good accuracy quickly: many epochs for small sets, few for big."""
    batch = 32 if num_train < 10_000 else 128
    epochs = math.ceil(_TARGET_STEPS / math.ceil(num_train / batch))
    return min(max(epochs, _EPOCH_RANGE[0]), _EPOCH_RANGE[1]), batch


def _train(data: Dataset, epochs: int | None, seed: int, verbose: int) -> DatasetClassifier:
    """Train a fresh classifier on the training split and measure its test accuracy."""
    default_epochs, batch = default_schedule(len(data.x_train))
    epochs = default_epochs if epochs is None else epochs
    if epochs < 1:
        raise ConfigError(f"classifier epochs must be >= 1, got {epochs}")
    model = build_classifier(data.image_shape, data.num_classes, seed=seed)
    steps = epochs * math.ceil(len(data.x_train) / batch)
    # Decaying the step size to zero settles the weights, so the final accuracy varies little.
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    model.fit(make_pipeline(data.x_train, data.y_train, batch_size=batch, seed=seed),
              epochs=epochs, verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - start
    classifier = DatasetClassifier(model)
    classifier.accuracy = float(np.mean(classifier.predict(data.x_test) == data.y_test))
    classifier.record = {
        "test_accuracy": classifier.accuracy, "epochs": epochs, "trained_seconds": round(seconds, 2),
        "num_train": len(data.x_train), "image_shape": list(data.image_shape),
        "num_classes": data.num_classes,
    }
    return classifier


def _save(classifier: DatasetClassifier, entry: _CacheEntry) -> None:
    """Write the model, then its JSON record, each atomically (a torn entry is retrained)."""
    with atomic_path(entry.model) as tmp:
        classifier.model.save(tmp)
    atomic_write_text(entry.record, json.dumps(classifier.record, indent=2) + "\n")


def _load_cached(entry: _CacheEntry, data: Dataset, epochs: int | None) -> DatasetClassifier | None:
    """The cached classifier if the entry is complete, loadable and matches; None otherwise."""
    try:
        record = json.loads(entry.record.read_text(encoding="utf-8"))
        if epochs is not None and record["epochs"] != epochs:
            return None
        model = keras.saving.load_model(entry.model, compile=False, safe_mode=True)
        classifier = DatasetClassifier(model, record["test_accuracy"], record)
    except Exception:  # a missing, torn or foreign entry is simply retrained
        return None
    expected = (tuple(data.image_shape), data.num_classes)
    return classifier if (classifier.image_shape, classifier.num_classes) == expected else None
