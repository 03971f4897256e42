"""Live views an interface shows while a run trains, computed inside the training thread.

`live_probes` picks them for a config, as the model's registry entry lists its views: the GAN
playground (`kgen.services.playground`) on a 2-D toy, and `ReconstructionProbe` (inputs above their
reconstructions, every epoch, at most two a second). Every probe hands plain dicts of NumPy copies to a sink,
e.g. a queue's ``put``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras
import numpy as np

from kgen import registry
from kgen.config import RunConfig
from kgen.data import TOYS, load_dataset
from kgen.events import Event, Reconstructions
from kgen.pictures import image_grid
from kgen.services.playground import PlaygroundProbe
from kgen.train.training import GRID_SEED_OFFSET

RECONSTRUCTION_IMAGES = 16  # test images shown with their reconstructions
# A live playground takes a snapshot at most this often (the window draws a few a second).
PLAYGROUND_SECONDS = 0.2
# Live reconstructions at most this often: a small model on digits ends ten epochs a second,
# and probing each would cost training a few percent for pictures nobody can follow.
RECONSTRUCTION_SECONDS = 0.5
RECONSTRUCTION_COLUMNS = 8


def spread_over_classes(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of up to n examples taken round-robin over the classes (0, 1, 2, ..., 0, 1, ...)."""
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    picked = [idx[r] for r in range(max(map(len, per_class), default=0)) for idx in per_class if r < len(idx)]
    return np.array(picked[:n], np.int64)


def reconstruction_picture(images: np.ndarray, reconstructions: np.ndarray,
                           columns: int = RECONSTRUCTION_COLUMNS) -> np.ndarray:
    """One uint8 picture of (N, H, W, C) images in [0, 1] over their reconstructions.

    Rows alternate: ``columns`` inputs, then their reconstructions just below them. Grey
    pictures come back (rows, cols), colour ones (rows, cols, 3), like the sample grids.
    """
    n = len(images)
    columns = max(1, min(columns, n))
    blank = (-n) % columns
    images, reconstructions = (np.concatenate([a, np.zeros((blank, *a.shape[1:]), a.dtype)])
                               for a in (images, reconstructions))
    rows = [part[i : i + columns] for i in range(0, len(images), columns) for part in (images, reconstructions)]
    picture = image_grid(np.concatenate(rows), columns)
    return picture[..., 0] if picture.shape[-1] == 1 else picture


class ReconstructionProbe(keras.callbacks.Callback):
    """At the end of every ``every``-th epoch, the model's reconstructions of fixed ``images``.

    Hands ``sink`` a `kgen.events.Reconstructions` record (see `reconstruction_picture`);
    ``labels`` are given to conditional models. An epoch that ends less than ``min_seconds``
    after the latest picture is skipped; the last epoch always gets one.
    """

    def __init__(self, sink: Callable[[Event], None], images: np.ndarray, labels: np.ndarray | None = None,
                 every: int = 1, *, min_seconds: float = 0.0):
        super().__init__()
        self.sink, self.every, self.min_seconds = sink, int(every), float(min_seconds)
        self.images = np.asarray(images, np.float32)
        self.labels = None if labels is None else np.asarray(labels, np.int32)
        self._last = -math.inf  # time.monotonic() of the latest picture

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        now = time.monotonic()
        if done != self.params.get("epochs") and (done % self.every or now - self._last < self.min_seconds):
            return
        self._last = now
        inputs = self.images if self.labels is None else (self.images, self.labels)
        # predict_on_batch runs Keras' compiled predict step: 3x faster than an eager call for the
        # conv VAE, and it leaves Python's GIL to the interface while it runs.
        outputs = np.clip(np.asarray(self.model.predict_on_batch(inputs), np.float32), 0.0, 1.0)
        self.sink(Reconstructions(epoch=done, picture=reconstruction_picture(self.images, outputs)))


def live_probes(config: RunConfig, sink: Callable[[Event], None],
                stepping: Callable[[], bool] | None = None) -> list[keras.callbacks.Callback]:
    """The probes a run of ``config`` shows live, each handing its events to ``sink``.

    A model with the playground view on a 2-D toy gets the playground (``stepping``: see
    `PlaygroundProbe`), one with the reconstructions view gets them on images, the others none.
    Loads the dataset as training will; call it in the training thread.
    """
    t = config.train
    spec = registry.spec(t.model)
    if "playground" in spec.views and t.dataset in TOYS:
        data = load_dataset(t.dataset, seed=t.seed)
        # The samples' fixed noise: the playground's points are the first of the sample cloud.
        return [PlaygroundProbe(sink, data.x_test, seed=t.seed + GRID_SEED_OFFSET, min_seconds=PLAYGROUND_SECONDS,
                                stepping=stepping)]
    if "reconstructions" not in spec.views:
        return []
    data = load_dataset(t.dataset, image_size=t.image_size, data_dir=t.data_dir, seed=t.seed)
    if data.kind != "images":
        return []  # training refuses it with a clear message
    if data.y_test is None:
        pick = np.arange(min(RECONSTRUCTION_IMAGES, len(data.x_test)))
    else:
        pick = spread_over_classes(data.y_test, RECONSTRUCTION_IMAGES)
    labels = data.y_test[pick] if spec.conditional and data.y_test is not None else None
    return [ReconstructionProbe(sink, data.x_test[pick], labels, min_seconds=RECONSTRUCTION_SECONDS)]
