"""Where run records become Qt signals: a timer polls the training controller, and `emit_run_event`
turns the records every run source shares into signals for a local run and a followed run alike."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from kgen.config import RunConfig
from kgen.events import Event
from kgen.services.training_process import ProcessController

if TYPE_CHECKING:  # a thread in this process would import TensorFlow here: only tests pass one
    from kgen.services.controller import TrainingController

POLL_MS = 100  # the bridge drains the training events this often


# The signal each record kind every run source shares goes to (the same in ControllerBridge and
# gui.run_monitor.RunMonitor): the record itself, or (epoch, picture) for pictures.
RUN_SIGNALS = {"start": "started", "step": "step", "epoch": "epoch", "hparam": "hparam", "eval": "evaluated",
               "samples": "samples", "reconstructions": "reconstructions", "note": "notice", "warning": "notice"}


def emit_run_event(target: QObject, event: Event) -> bool:
    """Emit a record every run source shares on ``target``'s signal for its kind (`RUN_SIGNALS`);
    False for other kinds, which each source handles itself."""
    name = RUN_SIGNALS.get(event.kind)
    if name is None:
        return False
    signal = getattr(target, name)
    if event.kind in ("samples", "reconstructions"):
        signal.emit(event.epoch, event.picture)
        if event.sigma_picture is not None:  # a learned variance: its sigma maps and draw, after the means
            target.sigma_maps.emit(event)
    elif name == "notice":
        signal.emit(event.message)
    else:
        signal.emit(event)
    return True


class ControllerBridge(QObject):
    """Owns a training controller; every ``POLL_MS`` drains its events into signals.

    By default training runs in a child process (`ProcessController`), which keeps Python's GIL
    and TensorFlow's threads away from the UI thread; a `TrainingController` (a thread in this
    process) can be given instead. The UI thread only ever touches the controller's pipe or queue
    and flags: it never calls into TensorFlow and never blocks (except in `shutdown`, when the
    window closes).
    """

    # Records travel as `object` (kgen.events: fields as attributes, or read as a mapping): a
    # Signal(dict) would convert every event to a QVariantMap and back (8x the cost, hundreds of
    # times a second) and hand each slot a copy.
    started = Signal(object)  # events.Start: device, run_dir, steps_per_epoch, epochs, ...
    step = Signal(object)  # events.Step: step, epoch, metrics, steps_per_second, images_per_second
    epoch = Signal(object)  # events.Epoch: epoch, step, metrics
    samples = Signal(int, object)  # epoch, uint8 picture (H, W) or (H, W, 3)
    reconstructions = Signal(int, object)  # epoch, uint8 picture: test images over their reconstructions
    sigma_maps = Signal(object)  # events.Samples or Reconstructions with a learned variance's sigma maps and draw
    playground = Signal(object)  # events.Playground: a GAN on a 2-D toy
    draw_steps = Signal(object)  # events.DrawSteps: a DRAW model drawing, step by step
    game_1d = Signal(object)  # events.Game1D: a GAN on a 1-D toy (Goodfellow et al. 2014, figure 1)
    evaluated = Signal(object)  # events.Eval: the test scores the run wrote as it ended
    finished = Signal(object)  # events.Finished: status, run_dir, epochs_done, test, seconds
    hparam = Signal(object)  # events.Hparam: step, name, old, new: a hyperparameter changed mid-run
    notice = Signal(str)  # a one-line message for the status bar (model saved, a save failed)
    failed = Signal(str)  # one-line message

    def __init__(self, parent: QObject | None = None,
                 controller: ProcessController | TrainingController | None = None):
        super().__init__(parent)
        self.controller = controller if controller is not None else ProcessController()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def is_running(self) -> bool:
        return self.controller.is_running

    def start(self, config: RunConfig, run_dir: str | os.PathLike | None = None) -> None:
        self.controller.start(config, run_dir)
        self._timer.start()

    def pause(self) -> None:
        self.controller.pause()

    def resume(self) -> None:
        self.controller.resume()

    def step_once(self) -> None:
        self.controller.step()

    def step_discriminator(self) -> None:
        """One discriminator update on the next batch, now if paused (models whose registry entry
        has ``player_steps``); its step event comes back as any other."""
        self.controller.step_discriminator()

    def step_generator(self) -> None:
        """One generator update on fresh noise, now if paused; its step event comes back as any other."""
        self.controller.step_generator()

    def stop(self) -> None:
        self.controller.stop()

    def set_learning_rate(self, lr: float) -> None:
        self.controller.set_learning_rate(lr)

    def save_model(self, path: str | os.PathLike) -> None:
        self.controller.save_model(path)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop a running training and wait up to ``timeout`` seconds for it to save itself; True
        when it ended. A training process that is still going then is killed (its checkpoints
        are written atomically, so the last complete one stays)."""
        self.controller.stop()
        ended = self.controller.join(timeout)
        if not ended and isinstance(self.controller, ProcessController):
            self.controller.kill()
        self._timer.stop()
        return ended

    def poll(self) -> None:
        latest = {}  # of several snapshots of a kind in one poll only the latest is worth drawing
        for event in self.controller.poll():
            if emit_run_event(self, event):
                continue
            kind = event.kind
            if kind in ("playground", "draw_steps", "game_1d"):
                latest[kind] = event
            elif kind == "saved":
                self.notice.emit(f"saved the model at step {event.step} to {event.path}")
            elif kind == "finished":
                self._timer.stop()
                self.finished.emit(event)
            elif kind == "error":
                self._timer.stop()
                self.failed.emit(event.message)
        for kind, event in latest.items():
            getattr(self, kind).emit(event)
