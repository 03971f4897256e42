"""Keras callbacks that record a run: events, sample grids, TensorBoard and checkpoints.

Side effects live here, never in ``train_step``; each callback does one thing.
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kgen.eval.gradient_noise import GradientProbe
from kgen.events import End, Epoch, Samples, Start, Step, global_step
from kgen.models.sampling import decode_batched
from kgen.pictures import display_scale, image_grid, save_png, scatter_picture
from kgen.runs import EventLog, Run
from kgen.safe_io import atomic_path, atomic_write_text
from kgen.sigma_maps import (
    SIGMA_FOLDERS,
    decode_with_sigma,
    gaussian_draw,
    has_learned_sigma,
    sigma_grid,
    sigma_scale_top,
)


def device_name() -> str:
    """The device TensorFlow trains on: the first GPU's name, else the CPU's model name."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu}"


def scalar_logs(logs: dict[str, Any] | None) -> dict[str, float]:
    """The scalar entries of Keras' logs as plain floats (safe to hand to another thread)."""
    return {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}


class BatchValues:
    """Each batch's own metric values, recovered from the running means Keras hands
    ``on_train_batch_end``: for the i-th batch of an epoch, i*m_i - (i-1)*m_{i-1}."""

    def __init__(self) -> None:
        self._previous: dict[str, float] = {}

    def __call__(self, batch: int, logs: dict[str, Any] | None) -> dict[str, float]:
        running = scalar_logs(logs)
        i = batch + 1
        values = {k: i * m - (i - 1) * self._previous.get(k, 0.0) for k, m in running.items()}
        self._previous = running
        return values


class EventLogger(keras.callbacks.Callback):
    """Writes the start, step, epoch and end records of a run to its `EventLog`.

    Keras hands ``on_train_batch_end`` the running mean of each metric over the epoch so far;
    the step records carry the batch's own value (see `BatchValues`). ``start`` holds the start
    record's fields that only the caller knows (epochs, dataset, ...).
    """

    def __init__(self, events: EventLog, steps_per_epoch: int, start: dict[str, Any] | None = None):
        super().__init__()
        self.events = events
        self.steps_per_epoch = steps_per_epoch
        self.start = start or {}
        self._epoch = 0
        self._batch_values = BatchValues()
        self._start = time.monotonic()

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self.events.write(Start(device=device_name(), **self.start))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        values = self._batch_values(batch, logs)
        self.events.write(Step(step=global_step(self._epoch, batch, self.steps_per_epoch), epoch=self._epoch + 1,
                               elapsed=self._elapsed(), metrics=values))

    def on_epoch_end(self, epoch, logs=None):
        step = global_step(epoch, self.steps_per_epoch - 1, self.steps_per_epoch) if self.steps_per_epoch else None
        self.events.write(Epoch(epoch=epoch + 1, step=step, elapsed=self._elapsed(), metrics=scalar_logs(logs)))

    def on_train_end(self, logs=None):
        status = "stopped" if self.model.stop_training else "finished"
        self.events.write(End(status=status, elapsed=self._elapsed()))

    def _elapsed(self) -> float:
        return round(time.monotonic() - self._start, 3)


# A variance of exactly 0 (a deterministic gradient) is logged as log10 of this floor.
VARIANCE_FLOOR = 1e-30


class GradientNoise(keras.callbacks.Callback):
    """Measures the encoder's gradient noise on a fixed probe batch at epoch ends
    (`kgen.eval.gradient_noise`) and adds it to the epoch's logs, so it lands in the epoch event:
    ``grad_snr``, ``grad_log_var`` (log10 of the mean per-parameter variance) and, with
    ``per_layer``, ``grad_snr/<layer>``. It must come before `EventLogger` in the callback list.

    Measurements are spaced to take at most ``budget`` of the training time, like checkpoints:
    every epoch once an epoch outlasts a measurement / budget, otherwise every few epochs; the
    first and last epochs are always measured. The probe is compiled when training begins.
    """

    def __init__(self, x: np.ndarray, labels: np.ndarray | None = None, samples: int = 8,
                 budget: float = 0.01, per_layer: bool = True):
        super().__init__()
        self.x, self.labels, self.samples, self.budget, self.per_layer = x, labels, samples, budget, per_layer
        self._probe: GradientProbe | None = None
        self._cost = 0.0  # what the last measurement took (s)
        self._measured_at = -math.inf  # when it ended (time.monotonic)
        self._first = True

    def on_train_begin(self, logs=None):
        if self._probe is None or self._probe.model is not self.model:
            self._probe = GradientProbe(self.model, self.samples)
            self._probe.estimates(self.x, self.labels)  # traces now: an epoch's measurement is the steady cost
        self._first = True

    def on_epoch_end(self, epoch, logs=None):
        due = (self._first or epoch + 1 >= self.params.get("epochs", epoch + 1) or self.model.stop_training
               or time.monotonic() - self._measured_at >= self._cost / self.budget)
        if logs is None or not due:
            return
        start = time.monotonic()
        logs.update(self.measure())
        self._measured_at = time.monotonic()
        self._cost, self._first = self._measured_at - start, False

    def measure(self) -> dict[str, float]:
        """The metrics of one measurement on the probe batch."""
        result = self._probe.measure(self.x, self.labels)
        values = {"grad_snr": result.overall.snr,
                  "grad_log_var": math.log10(max(result.overall.variance, VARIANCE_FLOOR))}
        if self.per_layer:
            values.update({f"grad_snr/{name}": stats.snr for name, stats in result.layers.items()})
        return values


def model_optimizers(model: keras.Model) -> list:
    """Every optimizer the model trains with, once each: its own, or a GAN's two players'."""
    found = [getattr(model, name, None) for name in ("optimizer", "d_optimizer", "g_optimizer")]
    return list(dict.fromkeys(o for o in found if o is not None))  # a GAN's .optimizer may be one of its two


FINAL_LR_SHARE = 0.01  # the learning rate a decay ends on, as a share of the starting one


def decayed_lr(lr: float, decay: float, progress: float) -> float:
    """The learning rate at ``progress`` (0 to 1) through the training: ``lr`` until the last
    ``decay`` share, then falling linearly to FINAL_LR_SHARE * lr at the end."""
    start = 1.0 - decay
    if decay <= 0 or progress <= start:
        return lr
    return lr * (1.0 - (1.0 - FINAL_LR_SHARE) * min(1.0, (progress - start) / decay))


class LearningRateDecay(keras.callbacks.Callback):
    """Sets every optimizer's learning rate before each batch (`decayed_lr` over the run's target
    epochs, so a resumed run continues the same schedule) and adds ``lr`` to the epoch's logs. It
    must come before `EventLogger` in the callback list."""

    def __init__(self, lr: float, decay: float, steps_per_epoch: int):
        super().__init__()
        self.lr, self.decay, self.steps_per_epoch = lr, decay, max(1, steps_per_epoch)
        self._epoch = 0
        self._set: float | None = None  # the rate last given to the optimizers

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        total = self.params.get("epochs", 1) * self.steps_per_epoch
        done = global_step(self._epoch, batch, self.steps_per_epoch) - 1  # steps before this batch
        lr = decayed_lr(self.lr, self.decay, done / total)
        if lr != self._set:  # the constant part of the schedule sets the optimizers once
            for optimizer in model_optimizers(self.model):
                optimizer.learning_rate = lr
            self._set = lr

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(model_optimizers(self.model)[-1].learning_rate)  # G's, for a GAN


class TensorBoardLogger(keras.callbacks.Callback):
    """tf.summary scalars for every epoch's metrics under ``tb/``; images via ``add_image``."""

    def __init__(self, log_dir: str | Path):
        super().__init__()
        import tensorflow as tf

        self._tf = tf
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def on_epoch_end(self, epoch, logs=None):
        with self.writer.as_default(step=epoch + 1):
            for name, value in scalar_logs(logs).items():
                self._tf.summary.scalar(name, value)
        self.writer.flush()

    def add_image(self, name: str, picture: np.ndarray, step: int) -> None:
        with self.writer.as_default(step=step):
            self._tf.summary.image(name, picture[None].astype("float32") / 255.0)
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.close()


class SampleGrid(keras.callbacks.Callback):
    """Decodes the run's fixed noise (and labels) into ``samples/epoch_NNNN.png`` every ``every`` epochs.

    A decoder with a learned variance also gets the sigma of every pixel (``samples/sigma/epoch_NNNN.png``,
    grey linear in sigma from 0 to the record's ``sigma_max``) and one draw x ~ N(mean, sigma^2) of
    fixed noise (``samples/draw/epoch_NNNN.png``, clipped to [0, 1]), laid out like the grid of means.
    """

    def __init__(self, run: Run, noise: np.ndarray, events: EventLog, labels: np.ndarray | None = None,
                 every: int = 1, tensorboard: TensorBoardLogger | None = None,
                 real_points: np.ndarray | None = None):
        super().__init__()
        self.run, self.noise, self.labels, self.events, self.every = run, noise, labels, events, every
        self.tensorboard = tensorboard
        self.real_points = real_points  # for 2-D toys: drawn behind the generated points

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.params.get("epochs"):
            return
        path, columns = self.run.sample_path(done), self.model.num_classes or None  # conditional: a class a column
        spread: dict[str, Any] = {}
        if self.real_points is not None:
            generated = decode_batched(self.model, self.noise, self.labels, clip=False)
            self._save_points(generated, done)
            picture, scale = scatter_picture(self.real_points, generated), 1
        elif has_learned_sigma(self.model):
            generated, sigma = decode_with_sigma(self.model, self.noise, self.labels)
            picture, scale = image_grid(generated, columns), display_scale(self.model.image_shape[0])
            spread = self._sigma_pictures(path, generated, sigma, columns, scale)
        else:
            generated = decode_batched(self.model, self.noise, self.labels)
            picture, scale = image_grid(generated, columns), display_scale(self.model.image_shape[0])
        shown = save_png(picture, path, scale=scale)
        # The pictures travel in memory to a listener (the studio), the files' names to disk.
        self.events.write(Samples(epoch=done, path=self._relative(path), picture=shown, **spread))
        if self.tensorboard is not None:
            self.tensorboard.add_image("samples", picture, done)

    def _sigma_pictures(self, path: Path, mean: np.ndarray, sigma: np.ndarray, columns: int | None,
                        scale: int) -> dict[str, Any]:
        """Write the sigma maps and a draw beside the grid of means; the samples record's fields for them."""
        top = sigma_scale_top(sigma)
        sigma_path, draw_path = (path.parent / part / path.name for part in SIGMA_FOLDERS)
        sigma_shown = save_png(sigma_grid(sigma, top, columns), sigma_path, scale=scale)
        draw_shown = save_png(image_grid(gaussian_draw(mean, sigma), columns), draw_path, scale=scale)
        return {"sigma_path": self._relative(sigma_path), "draw_path": self._relative(draw_path), "sigma_max": top,
                "sigma_picture": sigma_shown, "draw_picture": draw_shown}

    def _save_points(self, generated: np.ndarray, epoch: int) -> None:
        """The picture's points themselves, for views that draw or score them (before its event)."""
        with atomic_path(self.run.points_path(epoch)) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(generated, np.float32))

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self.run.path))


class Checkpointer(keras.callbacks.Callback):
    """Saves ``latest-NNNN.keras`` at epoch ends and ``best.keras`` when ``monitor`` improves.

    Each file is written to a temporary name and renamed, so a crash leaves only complete
    checkpoints; the epoch count is in the name, so resuming never counts an epoch twice.
    A save costs about the same whatever the epoch's length, so saves are spaced to take at
    most ``budget`` of the training time: every epoch once an epoch outlasts a save / budget
    (tens of seconds of training per 0.1 s save), otherwise every few epochs. The last epoch,
    and the last whole epoch before a stop, are always saved; a better epoch met between
    saves is kept in memory and written as ``best.keras`` at the next save. A new ``latest``
    replaces only older ones the run recorded writing (`Run.prune_checkpoints`).
    """

    def __init__(self, run: Run, monitor: str = "val_loss", best: float = math.inf, budget: float = 0.01):
        super().__init__()
        self.run, self.monitor, self.best, self.budget = run, monitor, best, budget
        self._save_seconds = 0.0  # what the last save took
        self._saved_at = -math.inf  # when it ended (time.monotonic)
        self._unsaved_epoch = 0  # a whole epoch not yet saved as latest, 0 when none
        self._best_record: dict | None = None  # an improvement not yet written
        self._best_weights: list | None = None  # its weights, when taken from an earlier epoch
        self._in_epoch = False

    def on_epoch_begin(self, epoch, logs=None):
        self._in_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        self._in_epoch = False
        done = epoch + 1
        value = scalar_logs(logs).get(self.monitor, scalar_logs(logs).get("loss"))
        improved = value is not None and value < self.best
        if improved:
            self.best = value
            self._best_record = {"epoch": done, "monitor": self.monitor, "value": value}
            self._best_weights = None
        due = (done >= self.params.get("epochs", done) or self.model.stop_training
               or time.monotonic() - self._saved_at >= self._save_seconds / self.budget)
        self._unsaved_epoch = done
        if due:
            self._save()
        elif improved:  # copied now: the weights will have moved on by the next save
            self._best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        # After a stop inside an epoch the weights are no whole epoch's: only the best is written.
        if self._in_epoch:
            self._unsaved_epoch = 0
        self._save()

    def _save(self) -> None:
        start = time.monotonic()
        if self._unsaved_epoch:
            path = self.run.checkpoints_dir / f"latest-{self._unsaved_epoch:04d}.keras"
            self.run.record_checkpoint(path)
            _save_model(self.model, path)
            self.run.prune_checkpoints("latest", keep=path)
            self._unsaved_epoch = 0
        if self._best_record is not None:
            self._save_best()
        self._saved_at = time.monotonic()
        self._save_seconds = self._saved_at - start

    def _save_best(self) -> None:
        current = None
        if self._best_weights is not None:
            current = self.model.get_weights()
            self.model.set_weights(self._best_weights)
        try:
            _save_model(self.model, self.run.best_path)
        finally:
            if current is not None:
                self.model.set_weights(current)
        atomic_write_text(self.run.checkpoints_dir / "best.json", json.dumps(self._best_record) + "\n")
        self._best_record, self._best_weights = None, None


def _save_model(model: keras.Model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)
