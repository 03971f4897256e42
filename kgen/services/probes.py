"""Live views an interface shows while a run trains, computed inside the training thread.

`live_probes` picks them for a config, as the model's registry entry lists its views: the GAN
playground (`kgen.services.playground`) on a 2-D toy, the 1-D game (`kgen.services.game_1d`) on
a 1-D toy, `ReconstructionProbe` (inputs above their reconstructions, every epoch, at most two a
second) and `DrawStepsProbe` (a DRAW model's canvases step by step). Every probe hands records
of NumPy copies to a sink, e.g. a queue's ``put``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kgen import registry
from kgen.config import RunConfig
from kgen.data import TOYS, TOYS_1D, load_dataset
from kgen.events import DrawSteps, Event, Reconstructions
from kgen.models.sampling import latent_noise
from kgen.pictures import image_grid
from kgen.services.game_1d import Game1DProbe
from kgen.services.paced_probe import PacedProbe
from kgen.services.playground import PlaygroundProbe
from kgen.sigma_maps import (
    decode_with_sigma,
    gaussian_draw,
    has_learned_sigma,
    sigma_grid,
    sigma_scale_top,
)
from kgen.train.training import GRID_SEED_OFFSET

RECONSTRUCTION_IMAGES = 16  # test images shown with their reconstructions
# A live playground takes a snapshot at most this often (the window draws a few a second).
PLAYGROUND_SECONDS = 0.2
GAME_1D_SECONDS = 0.2  # and the 1-D game
# Live reconstructions at most this often: a small model on digits ends ten epochs a second,
# and probing each would cost training a few percent for pictures nobody can follow.
RECONSTRUCTION_SECONDS = 0.5
RECONSTRUCTION_COLUMNS = 8
DRAW_SAMPLES = 8  # prior draws and test images the draw-steps view shows drawing
DRAW_SECONDS = 0.5  # draw-steps snapshots at most this often ...
DRAW_SHARE = 0.03  # ... and taking at most about this share of the training thread's time


def spread_over_classes(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of up to n examples taken round-robin over the classes (0, 1, 2, ..., 0, 1, ...)."""
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    picked = [idx[r] for r in range(max(map(len, per_class), default=0)) for idx in per_class if r < len(idx)]
    return np.array(picked[:n], np.int64)


def shown_test_images(data) -> np.ndarray:
    """Indices of the test images the live views show: up to RECONSTRUCTION_IMAGES, spread over
    the classes when the dataset has labels (the same for a run live and opened later)."""
    if data.y_test is None:
        return np.arange(min(RECONSTRUCTION_IMAGES, len(data.x_test)))
    return spread_over_classes(data.y_test, RECONSTRUCTION_IMAGES)


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
    return _grey(image_grid(np.concatenate(rows), columns))


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
        spread = self._sigma_pictures() if has_learned_sigma(self.model) else {}
        self.sink(Reconstructions(epoch=done, picture=reconstruction_picture(self.images, outputs), **spread))

    def _sigma_pictures(self) -> dict:
        """A learned variance: the sigma maps of the reconstructions (z the encoder's mean) and a draw of each."""
        z = np.asarray(self.model.encode(self.images, self.labels)[0], np.float32)
        mean, sigma = decode_with_sigma(self.model, z, self.labels)
        top = sigma_scale_top(sigma)
        return {"sigma_picture": _grey(sigma_grid(sigma, top, RECONSTRUCTION_COLUMNS)), "sigma_max": top,
                "draw_picture": _grey(image_grid(np.clip(gaussian_draw(mean, sigma), 0.0, 1.0), RECONSTRUCTION_COLUMNS))}


def _grey(picture: np.ndarray) -> np.ndarray:
    """A grid picture as the samples view takes it: (rows, cols) when grey, (rows, cols, 3) in colour."""
    return picture[..., 0] if picture.shape[-1] == 1 else picture


def to_uint8(images) -> np.ndarray:
    """Images in [0, 1] as uint8 0-255 (a quarter of the bytes to send over the pipe)."""
    return np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255).astype(np.uint8)


def draw_traces(model, z, x) -> dict:
    """A DRAW model's recorded passes as tensors: ``generate`` of latents z and the mean path
    (zero noise, as its reconstructions take) of images x; `DrawStepsProbe` compiles it."""
    generated = model.generate(z, record=True)
    unrolled = model.unroll(x, ops.zeros((ops.shape(x)[0], model.latent_dim)), record=True)
    traces = {"generated": generated["canvases"], "reconstructed": unrolled["canvases"]}
    for name, found in (("generated_writes", generated.get("write_boxes")), ("read_boxes", unrolled.get("read_boxes")),
                        ("write_boxes", unrolled.get("write_boxes"))):
        if found is not None:  # a model with attention
            traces[name] = ops.cast(found, "float32")
    return traces


def draw_steps_record(traces: dict, inputs: np.ndarray, kl_steps, step: int, epoch: int) -> DrawSteps:
    """The `DrawSteps` event of `draw_traces`' output for uint8 ``inputs`` and the KL of each step."""
    traces = {name: np.asarray(value) for name, value in traces.items()}
    return DrawSteps(
        step=int(step), epoch=int(epoch), inputs=inputs,
        generated=to_uint8(traces["generated"]), reconstructed=to_uint8(traces["reconstructed"]),
        generated_writes=traces.get("generated_writes"), read_boxes=traces.get("read_boxes"),
        write_boxes=traces.get("write_boxes"), kl_steps=np.asarray(kl_steps, np.float32))


class DrawStepsProbe(PacedProbe):
    """A DRAW model drawing, for the studio's draw-steps view: `kgen.events.DrawSteps` records
    handed to ``sink``, paced as `PacedProbe` says (``min_seconds``, ``max_share``, ``stepping``).

    It records every step's canvas for ``samples`` fixed prior draws (``latent_noise`` of
    ``seed``) and for ``images``' mean-path reconstructions, their windows, and the model's
    mean KL per step (`DRAW.kl_per_step`).
    """

    def __init__(self, sink: Callable[[Event], None], images: np.ndarray, *, seed: int = 0,
                 samples: int = DRAW_SAMPLES, min_seconds: float = 0.0, max_share: float | None = DRAW_SHARE,
                 stepping: Callable[[], bool] | None = None):
        super().__init__(min_seconds=min_seconds, max_share=max_share, stepping=stepping)
        self.sink, self.seed, self.samples = sink, int(seed), int(samples)
        self.images = np.asarray(images, np.float32)
        self.inputs = to_uint8(self.images)
        self.noise: np.ndarray | None = None
        self._compute: Callable = draw_traces

    def on_train_begin(self, logs=None):
        self.noise = latent_noise(self.samples, self.model.latent_dim, self.seed)
        # Compiled once: far faster than eager calls each time.
        self._compute = tf.function(draw_traces, autograph=False)

    def take(self, step: int) -> None:
        traces = self._compute(self.model, self.noise, self.images)
        self.sink(draw_steps_record(traces, self.inputs, self.model.kl_per_step(), step, self._epoch + 1))


def live_probes(config: RunConfig, sink: Callable[[Event], None],
                stepping: Callable[[], bool] | None = None) -> list[keras.callbacks.Callback]:
    """The probes a run of ``config`` shows live, each handing its events to ``sink``.

    A model with the playground view on a 2-D toy gets the playground (``stepping``: see
    `PlaygroundProbe`), one with the game_1d view on a 1-D toy the 1-D game, one with the reconstructions view gets them on images, one with the
    draw-steps view `DrawStepsProbe` too; the others none. Loads the dataset as training will;
    call it in the training thread.
    """
    t = config.train
    spec = registry.spec(t.model)
    if "playground" in spec.views and t.dataset in TOYS:
        data = load_dataset(t.dataset, seed=t.seed)
        # The samples' fixed noise: the playground's points are the first of the sample cloud.
        return [PlaygroundProbe(sink, data.x_test, seed=t.seed + GRID_SEED_OFFSET, min_seconds=PLAYGROUND_SECONDS,
                                stepping=stepping)]
    if "game_1d" in spec.views and t.dataset in TOYS_1D:
        data = load_dataset(t.dataset, seed=t.seed)
        return [Game1DProbe(sink, t.dataset, data.x_test, seed=t.seed + GRID_SEED_OFFSET, min_seconds=GAME_1D_SECONDS,
                            stepping=stepping)]
    if not {"reconstructions", "draw_steps"} & spec.views:
        return []
    data = load_dataset(t.dataset, image_size=t.image_size, data_dir=t.data_dir, seed=t.seed)
    if data.kind != "images":
        return []  # training refuses it with a clear message
    pick = shown_test_images(data)
    labels = data.y_test[pick] if spec.conditional and data.y_test is not None else None
    probes = []
    if "reconstructions" in spec.views:
        probes.append(ReconstructionProbe(sink, data.x_test[pick], labels, min_seconds=RECONSTRUCTION_SECONDS))
    if "draw_steps" in spec.views:  # the sample grid's first prior draws, and its first test images
        probes.append(DrawStepsProbe(sink, data.x_test[pick[:DRAW_SAMPLES]], seed=t.seed + GRID_SEED_OFFSET,
                                     min_seconds=DRAW_SECONDS, stepping=stepping))
    return probes
