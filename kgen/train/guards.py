"""Guards on a training run: an honest stop at a batch boundary, and a halt on non-finite numbers.

A stop (Stop in the app, Ctrl-C in the CLI) that lands inside an epoch saves the weights as they
are to ``checkpoints/interrupted-EEEE-BBBBBB.keras`` (E whole epochs done, B batches of the next)
and ends ``fit`` before any callback can record the cut-short epoch as done. Resuming reloads that
checkpoint and runs epoch E + 1 again in full from those weights: a partial epoch is never counted.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from collections.abc import Iterator

import keras
import numpy as np

from kgen.errors import KgenError
from kgen.events import Error, global_step
from kgen.runs import EventLog, Run, interrupted_checkpoint_name
from kgen.safe_io import atomic_path
from kgen.train.callbacks import model_optimizers, scalar_logs


class TrainingFault(KgenError):
    """Training hit a numerical fault: a NaN or infinite loss or weight."""


class EpochCutShort(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised out of ``fit`` by `StopCheckpointer` once a mid-epoch stop is saved."""


class StopCheckpointer(keras.callbacks.Callback):
    """Turns a stop requested at a batch boundary into a saved, resumable state.

    Mid-epoch it writes ``interrupted-EEEE-BBBBBB.keras`` and raises `EpochCutShort`, so no later
    callback writes an epoch event, sample grid or ``latest`` checkpoint for a partial epoch; on
    an epoch's last batch the epoch is whole and ends as usual. It must be the last callback.
    """

    def __init__(self, run: Run, steps_per_epoch: int, initial_epoch: int = 0):
        super().__init__()
        self.run, self.steps_per_epoch = run, steps_per_epoch
        self.epochs_done = initial_epoch
        self.requested = False
        self.interrupted_at: tuple[int, int] | None = None  # (whole epochs, batches of the next)

    def request_stop(self) -> None:
        """Ask for a stop at the next batch boundary (safe from a signal handler or any thread)."""
        self.requested = True

    def on_train_batch_end(self, batch, logs=None):
        if self.requested:
            self.model.stop_training = True
        if not self.model.stop_training or batch + 1 >= self.steps_per_epoch:
            return
        self.interrupted_at = (self.epochs_done, batch + 1)
        path = self.run.checkpoints_dir / interrupted_checkpoint_name(*self.interrupted_at)
        self.run.record_checkpoint(path)
        with atomic_path(path) as tmp:
            self.model.save(tmp)
        self.run.prune_checkpoints("interrupted", keep=path)
        raise EpochCutShort

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1
        latest = self.run.latest_checkpoint()  # the Checkpointer, earlier in the list, may have saved
        if latest is not None and not latest[0].name.startswith("interrupted-"):
            self.run.prune_checkpoints("interrupted")  # a later whole epoch is saved: the interrupted state is past
        if self.requested:
            self.model.stop_training = True


@contextlib.contextmanager
def stop_on_sigint(stopper: StopCheckpointer) -> Iterator[None]:
    """While training in the main thread, Ctrl-C asks ``stopper`` for a clean stop at the next
    batch boundary; a second Ctrl-C interrupts at once. Elsewhere (a worker thread) a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        if stopper.requested:
            raise KeyboardInterrupt
        stopper.request_stop()
        print("\nkgen: stopping at the next batch boundary (Ctrl-C again to quit at once)",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class NonFiniteGuard(keras.callbacks.Callback):
    """Halts training on the first NaN or infinite loss with a `TrainingFault` naming the step,
    the likely cause and a fix; logs it as an "error" event. Each epoch's weights are checked too,
    before the `Checkpointer` (later in the list) saves them, so no checkpoint holds broken weights.
    """

    def __init__(self, run: Run, events: EventLog, steps_per_epoch: int):
        super().__init__()
        self.run, self.events, self.steps_per_epoch = run, events, steps_per_epoch
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = _non_finite(scalar_logs(logs))
        if bad:
            self._fail(batch, bad)

    def on_epoch_end(self, epoch, logs=None):
        bad = _non_finite(scalar_logs(logs))
        if not bad and not all(np.isfinite(w).all() for w in self.model.get_weights()):
            bad = "a weight became non-finite"
        if bad:
            self._fail(self.steps_per_epoch - 1, bad)

    def _fail(self, batch: int, what: str) -> None:
        """Log and raise the fault met at batch ``batch`` (from 0) of the current epoch."""
        step = global_step(self._epoch, batch, self.steps_per_epoch)
        latest = self.run.latest_checkpoint()
        kept = f"the last good checkpoint {latest[0].name} is kept" if latest else "no checkpoint was written"
        lr = learning_rate(self.model)
        message = (f"training diverged at step {step} (epoch {self._epoch + 1}): {what}; the learning rate "
                   f"{lr:g} is likely too high: train again with a lower one, e.g. lr {lr / 10:g} ({kept})")
        self.events.write(Error(fault="non-finite", step=step, epoch=self._epoch + 1, message=message))
        raise TrainingFault(message, options=("lr",))


def learning_rate(model: keras.Model) -> float:
    """The learning rate the model trains with now (a GAN's generator's, if it has its own)."""
    return float(model_optimizers(model)[-1].learning_rate)


def _non_finite(metrics: dict[str, float]) -> str:
    """'loss became nan' for the first non-finite metric, '' when all are finite."""
    for name, value in metrics.items():
        if not math.isfinite(value):
            return f"{name} became {value}"
    return ""
