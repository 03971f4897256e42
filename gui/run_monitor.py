"""Monitor mode in the studio: a timer polls a `RunFollower` and re-emits a followed run's records
through the same code (`gui.bridge.emit_run_event`) and signals as `ControllerBridge` gives a
local run, so every view shows both alike."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QObject, QTimer, Signal

from gui.bridge import emit_run_event
from kgen.events import FORMAT_VERSION
from kgen.services.follower import RunFollower

POLL_MS = 250  # a followed run is checked this often (a shared folder may be slow)
CATCH_UP_MS = 0  # and at once again while a long events.jsonl is still being read
QUIET_S = 120.0  # a live run with no new events for this long is said to be quiet


class RunMonitor(QObject):
    """Follows one run directory read-only; stop with `stop`, or follow another with `follow`."""

    # Records (kgen.events) as ControllerBridge's like-named signals carry them.
    started = Signal(object)  # events.Start: device, run_dir, steps_per_epoch, epochs (those recorded)
    step = Signal(object)  # events.Step: step, epoch, metrics, elapsed, steps_per_second (+ images_per_second)
    epoch = Signal(object)  # events.Epoch: epoch, metrics
    samples = Signal(int, object)  # epoch, uint8 picture (H, W) or (H, W, 3)
    sigma_maps = Signal(object)  # events.Samples with a learned variance's sigma maps and draw
    hparam = Signal(object)  # events.Hparam: step, name, old, new
    evaluated = Signal(object)  # events.Eval: split, metrics: test scores written at the end of a run
    finished = Signal(object)  # events.End: status, elapsed: the run's training ended
    model_ready = Signal(str)  # run_dir: a finished kgen run's model.keras is on disk
    reset = Signal(str)  # events.jsonl was replaced or truncated: start the views over
    changed = Signal()  # the run's state (live, finished, quiet) may read differently now
    notice = Signal(str)  # a one-line message: the run's notes and errors, lines skipped as unusable

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.follower: RunFollower | None = None
        self.info: dict = {}
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.poll)
        self._quiet = False
        self._model_announced = False
        self._format_told = False

    @property
    def is_following(self) -> bool:
        return self.follower is not None

    def follow(self, run_dir: str | os.PathLike) -> None:
        """Start following ``run_dir`` (which may not exist yet) from its first event."""
        self.follower = RunFollower(run_dir)
        self.info = self.follower.info
        self._quiet = False
        self._model_announced = False
        self._format_told = False
        self._timer.start(POLL_MS)
        self.poll()

    def stop(self) -> None:
        self._timer.stop()
        self.follower = None

    def _announce_model(self) -> None:
        """kgen saves model.keras just after the run's end event: say so once it is there."""
        follower = self.follower
        if self._model_announced or follower.live or self.info.get("source") != "kgen":
            return
        if follower.run.model_path.is_file():
            self._model_announced = True
            self.model_ready.emit(str(follower.path))

    def _tell_format(self) -> None:
        """Say once that the run is of a newer format than this kgen reads in full."""
        newer = self.follower.newer_format
        if newer is not None and not self._format_told:
            self._format_told = True
            self.notice.emit(f"this run was written by a newer kgen (run format {newer}, this one reads up to "
                             f"{FORMAT_VERSION}): what this kgen does not know of it is not shown")

    def state(self) -> str:
        """live, quiet (live but silent for a while), finished, stopped, or waiting (no start yet)."""
        if self.follower is None:
            return "idle"
        return "quiet" if self._quiet else self.follower.status

    def poll(self) -> None:
        if self.follower is None:
            return
        before, skipped = self.state(), self.follower.skipped
        for event in self.follower.poll():
            if event.kind == "start":
                self.info = self.follower.info  # before the views hear of the start
            if emit_run_event(self, event):
                continue
            if event.kind == "end":
                self.finished.emit(event)
            elif event.kind == "error":
                self.notice.emit(event.message)
            elif event.kind == "reset":
                self._model_announced = False
                self.reset.emit(event.reason)
        if self.follower is None:  # a slot stopped following
            return
        self._tell_format()
        self._announce_model()
        self._quiet = self.follower.live and time.monotonic() - self.follower.last_change > QUIET_S
        self._timer.setInterval(POLL_MS if self.follower.caught_up else CATCH_UP_MS)
        if self.state() != before:
            self.changed.emit()
        if self.follower is not None and self.follower.skipped > skipped:  # said last, so it stays shown
            self.notice.emit(f"skipped {self.follower.skipped - skipped} unusable event(s) of the run "
                             f"(the last: {self.follower.last_problem})")
