"""The pacing every live view's probe shares: snapshots in the training thread that cost training
little and come no faster than a window can show them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras

from kgen.events import global_step


class PacedProbe(keras.callbacks.Callback):
    """After every ``every``-th batch, a snapshot (`take`, defined by subclasses) when at least
    ``min_seconds`` have passed since the last and the last cost at most ``max_share`` of the
    thread's time since it (None: no share limit); after every batch while ``stepping()`` is true
    (a run paused and stepped by hand); after the last batch, to show where training ended; and with
    ``first_before_training`` once before the first batch, to show where it began."""

    def __init__(self, *, every: int = 1, min_seconds: float = 0.0, max_share: float | None = None,
                 stepping: Callable[[], bool] | None = None, first_before_training: bool = False):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every, self.min_seconds, self.max_share, self.stepping = int(every), float(min_seconds), max_share, stepping
        self.first_before_training = first_before_training
        self.probes = 0
        self.probe_seconds = 0.0  # time spent in snapshots, for benchmarks
        self._last_cost = 0.0  # seconds the latest snapshot took (0 for the first: it traces)
        self._last_end = -math.inf
        self._epoch = 0
        self._step = 0  # the latest batch's step
        self._probed_step = -1  # the step of the latest snapshot

    def take(self, step: int) -> None:
        """Take one snapshot and hand it on."""
        raise NotImplementedError

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.first_before_training and self.probes == 0:
            self.probe(global_step(epoch, -1, self.params.get("steps") or 0))  # before the epoch's first batch

    def on_train_batch_end(self, batch, logs=None):
        step = self._step = global_step(self._epoch, batch, self.params.get("steps") or 0)
        stepped = self.stepping is not None and self.stepping()
        if stepped or (step % self.every == 0 and self._within_budget()):
            self.probe(step)

    def on_train_end(self, logs=None):
        if self._probed_step != self._step:
            self.probe(self._step)

    def probe(self, step: int) -> None:
        """Take a snapshot now, timing it."""
        start = time.monotonic()
        self.take(step)
        self._probed_step = step
        self._last_end = time.monotonic()
        self._last_cost = (self._last_end - start) if self.probes else 0.0
        self.probe_seconds += self._last_end - start
        self.probes += 1

    def _within_budget(self) -> bool:
        gap = time.monotonic() - self._last_end
        if gap < self.min_seconds:
            return False
        return self.max_share is None or self._last_cost <= self.max_share * (gap + self._last_cost)
