"""Run `kgen.train.training.train` in one worker thread that a user interface can pause, step and stop.

No Qt here: the worker puts event records (`kgen.events`, the very records the run writes to
events.jsonl, with its sample pictures in memory) on a thread-safe queue, and the interface
drains it with `TrainingController.poll`. Keras keeps its random seed and dtype policy per
thread, so everything Keras-global happens inside the worker (``train`` seeds it).

Example::

    controller = TrainingController()
    controller.start(RunConfig())
    while controller.is_running:
        for event in controller.poll():
            print(event.kind)
"""

from __future__ import annotations

import os
import queue
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import keras

from kgen import registry
from kgen.config import RunConfig, check_learning_rate, examples_per_step
from kgen.data import make_pipeline
from kgen.errors import KgenError, one_line
from kgen.events import (
    Error,
    Event,
    Finished,
    Hparam,
    Saved,
    Step,
    StepRates,
    WarningEvent,
    global_step,
)
from kgen.runs import EventLog, Run, fresh_run_dir
from kgen.safe_io import atomic_path
from kgen.services.game_1d import Game1DProbe
from kgen.services.playground import PlaygroundProbe
from kgen.services.probes import live_probes
from kgen.train.callbacks import model_optimizers
from kgen.train.training import load_training_data, model_labels, train

# Batches stepped by hand come from their own shuffle of the training set, seeded apart from fit's.
HAND_SEED_OFFSET = 7_919


class Gate:
    """Pause, single-step and stop requests, shared by the interface thread and the worker.

    The interface can also `submit` actions (change the learning rate, save the model) that the
    worker runs at its next batch boundary, paused or not: TensorFlow state is only ever touched
    by the worker thread.
    """

    def __init__(self, paused: bool = False):
        self._condition = threading.Condition()
        self._paused = paused
        self._steps = 0  # batches the worker may still run while paused
        self._stopped = False
        self._actions: deque[Callable[[], None]] = deque()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopped(self) -> bool:
        return self._stopped

    def pause(self) -> None:
        with self._condition:
            self._paused, self._steps = True, 0

    def resume(self) -> None:
        with self._condition:
            self._paused, self._steps = False, 0
            self._condition.notify_all()

    def step(self) -> None:
        """Paused: let one more batch run. Running: pause after the batch in progress."""
        with self._condition:
            if self._paused:
                self._steps += 1
            self._paused = True
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def submit(self, action: Callable[[], None]) -> None:
        """Have the worker run ``action`` at its next batch boundary (at once if it is paused)."""
        with self._condition:
            self._actions.append(action)
            self._condition.notify_all()

    def wait(self) -> bool:
        """Run submitted actions, then block while paused (unless a step was granted); False once
        a stop was requested."""
        with self._condition:
            while True:
                self._run_actions()
                if not self._paused or self._stopped:
                    break
                if self._steps:
                    self._steps -= 1
                    break
                self._condition.wait()
            return not self._stopped

    def run_actions(self) -> None:
        """Run the actions submitted so far (the worker calls this as training ends)."""
        with self._condition:
            self._run_actions()

    def _run_actions(self) -> None:
        while self._actions:  # called holding the lock, released while an action runs
            action = self._actions.popleft()
            self._condition.release()
            try:
                action()
            finally:
                self._condition.acquire()


class ControlCallback(keras.callbacks.Callback):
    """Honours the ``gate`` at every batch boundary and runs the interface's actions there (a
    learning rate, a save). The run's records reach the interface through `train`'s listener;
    this callback adds only what the interface asked for: hparam, saved and warning records, and
    the step records of a GAN's players updated by hand (`step_player`).
    """

    def __init__(self, events: Callable[[Event], None], gate: Gate, run_dir: str | os.PathLike,
                 hand_batches: Callable[[keras.Model], Iterator] | None = None):
        """``hand_batches(model)``: an endless iterator of training batches for `step_player`."""
        super().__init__()
        self.events, self.gate, self.run = events, gate, Run(run_dir)
        self.hand_batches, self._hand_iterator = hand_batches, None
        self.after_hand_step: list[Callable[[int], None]] = []  # live views to refresh (playground, 1-D game)
        self.stopped_early = False
        self.global_step = 0
        self._event_log: EventLog | None = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._honour_gate()  # a run started paused waits here, before its first batch

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.global_step = global_step(self._epoch, batch, self.params.get("steps") or 0)
        self._honour_gate()

    def on_train_end(self, logs=None):
        self.gate.run_actions()
        if self._event_log is not None:
            self._event_log.close()

    # Actions the interface submits; each runs in the worker thread at a batch boundary.

    def set_learning_rate(self, lr: float) -> None:
        """Give every optimizer of the model learning rate ``lr``; marks the change in the events."""
        optimizers = model_optimizers(self.model)
        old = float(optimizers[-1].learning_rate)
        for optimizer in optimizers:
            optimizer.learning_rate = lr
        if self._event_log is None:  # the run's events.jsonl, through the same writer, in this thread
            self._event_log = EventLog(self.run.events_path, self.events)
        self._event_log.write(Hparam(step=self.global_step, name="lr", old=old, new=float(lr)))

    def save_model(self, path: str | os.PathLike) -> None:
        """Save the model as it is now to ``path`` (atomically); reports "saved" or a warning."""
        try:
            with atomic_path(path) as tmp:
                self.model.save(tmp)
        except Exception as err:  # a failed save must not end the training
            self.events(WarningEvent(message=f"could not save {path}: {one_line(err)}"))
        else:
            self.events(Saved(step=self.global_step, path=str(path)))

    def step_player(self, player: str) -> None:
        """One update of the GAN's ``player`` ("discriminator" or "generator") on the next batch
        stepped by hand; a step event with its metrics follows (at the current global step)."""
        try:
            if self._hand_iterator is None:
                self._hand_iterator = self.hand_batches(self.model)
            metrics = self.model.player_step(player, next(self._hand_iterator))
        except Exception as err:  # a failed hand step must not end the training
            self.events(WarningEvent(message=f"could not step the {player}: {one_line(err)}"))
            return
        self.events(Step(step=self.global_step, epoch=self._epoch + 1, metrics=metrics))
        for refresh in self.after_hand_step:
            refresh(self.global_step)

    def _honour_gate(self) -> None:
        if not self.gate.wait():
            self.stopped_early = True
            self.model.stop_training = True  # Keras stops after this batch


class TrainingController:
    """One training run at a time, in one daemon thread; events come back through `poll`."""

    def __init__(self) -> None:
        self._events: queue.Queue[Event] = queue.Queue()
        self._gate = Gate()
        self._thread: threading.Thread | None = None
        self._callback: ControlCallback | None = None
        self._rates = StepRates()
        self._player_steps = False  # the run's model kind can be stepped by player

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def is_paused(self) -> bool:
        return self.is_running and self._gate.paused

    def start(self, config: RunConfig, run_dir: str | os.PathLike | None = None, *, paused: bool = False) -> Path:
        """Start training ``config`` into ``run_dir`` (a fresh name under runs/ when None).

        With ``paused`` the worker waits before its first batch (`step` or `resume` go on).
        """
        if self.is_running:
            raise RuntimeError("a training run is already going; stop it first")
        run_dir = Path(run_dir) if run_dir is not None else fresh_run_dir(config)
        self._gate = Gate(paused=paused)
        self._rates = StepRates(examples_per_step(config))
        self._player_steps = registry.spec(config.train.model).player_steps
        callback = self._callback = ControlCallback(self._events.put, self._gate, run_dir,
                                                    hand_batches=lambda model: hand_step_batches(config, model))
        self._thread = threading.Thread(target=self._work, args=(config, run_dir, callback),
                                        name="kgen-training", daemon=True)
        self._thread.start()
        return run_dir

    def pause(self) -> None:
        self._gate.pause()

    def resume(self) -> None:
        self._gate.resume()

    def step(self) -> None:
        """Run exactly one more batch, then pause again."""
        self._gate.step()

    def stop(self) -> None:
        """Stop at the next batch boundary; the run is saved and closed as usual."""
        self._gate.stop()

    def set_learning_rate(self, lr: float) -> None:
        """Change the learning rate of every optimizer at the next batch boundary.

        The change is marked by an "hparam" event (step, name, old, new), also in events.jsonl.
        """
        check_learning_rate(lr)
        self._submit(lambda: self._callback.set_learning_rate(float(lr)))

    def save_model(self, path: str | os.PathLike) -> None:
        """Save the model as it is at the next batch boundary to ``path``; a "saved" event follows."""
        self._submit(lambda: self._callback.save_model(Path(path)))

    def step_discriminator(self) -> None:
        """One discriminator update on the next batch (run at once while paused); a step event follows."""
        self._step_player("discriminator")

    def step_generator(self) -> None:
        """One generator update on fresh noise (run at once while paused); a step event follows."""
        self._step_player("generator")

    def _step_player(self, player: str) -> None:
        if self.is_running and not self._player_steps:
            raise RuntimeError("this model kind cannot be stepped one player at a time")
        self._submit(lambda: self._callback.step_player(player))

    def _submit(self, action: Callable[[], None]) -> None:
        if not self.is_running or self._callback is None:
            raise RuntimeError("no training run is going")
        self._gate.submit(action)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_running

    def poll(self) -> list[Event]:
        """Every event the worker has put since the last call, oldest first; never blocks."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def _work(self, config: RunConfig, run_dir: Path, callback: ControlCallback) -> None:
        try:
            # Live views (GAN playground, reconstructions) come first: they probe each batch
            # before the gate may hold it, and every batch while the run is stepped by hand.
            probes = live_probes(config, self._events.put, stepping=lambda: callback.gate.paused)
            callback.after_hand_step = [p.probe for p in probes if isinstance(p, (PlaygroundProbe, Game1DProbe))]
            result = train(config, run_dir, extra_callbacks=[*probes, callback], verbose=0, on_event=self._forward)
        except Exception as err:  # the worker must always report back, whatever went wrong
            if not isinstance(err, KgenError):
                traceback.print_exc()
            self._events.put(Error(message=one_line(err)))
        else:
            self._events.put(Finished(status="stopped" if callback.stopped_early else "finished",
                                      run_dir=str(result.run.path), epochs_done=result.epochs_done,
                                      test=dict(result.test), seconds=result.seconds))

    def _forward(self, event: Event) -> None:
        """Queue a record the run wrote (step records with their rates, `StepRates`). The run's
        own error record is left out: the error that ends the run, next, says the same."""
        if isinstance(event, Error):
            return
        self._rates.observe(event)
        self._events.put(event)



def hand_step_batches(config: RunConfig, model: keras.Model) -> Iterator:
    """An endless iterator of ``config``'s training batches of batch_size examples (with labels
    for a conditional model), for updates stepped by hand; loads the dataset as training does."""
    t = config.train
    data = load_training_data(config)
    pipeline = make_pipeline(data.x_train, model_labels(model, data.y_train), batch_size=t.batch_size,
                             seed=t.seed + HAND_SEED_OFFSET, drop_remainder=True, repeat=True)
    return iter(pipeline)
