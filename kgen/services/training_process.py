"""Train, and compute with models, in child processes; training behind `TrainingController`'s interface.

A training thread shares Python's GIL with the interface: on 2 cores the window stalled for up
to 150-250 ms and training ran at 0.70-0.83x the CLI's speed (docs/BENCHMARKS.md). A spawned
process keeps the GIL and TensorFlow's threads to itself, and a crash in it (a segfault, the
out-of-memory killer) ends the run, not the app.

The child imports TensorFlow before anyone waits for it (`prewarm`: seconds on a small
machine), then takes one run: it drives an in-process `TrainingController` and forwards its
events over a pipe, a batch every ``FORWARD_S``; the parent sends commands (pause, step, stop,
a learning rate, a save) the other way. One run per process, so every run starts with fresh
Keras state; if the parent goes away, the child stops its run at the next batch boundary and
saves it, as Stop does.

A waiting child can instead be given other work with a model (`WorkerProcess.serve`: the latent
explorer, an evaluation), so the window's own process never imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import sys
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from kgen import registry
from kgen.config import RunConfig, check_learning_rate
from kgen.errors import one_line
from kgen.events import Error, Event
from kgen.runs import fresh_run_dir

FORWARD_S = 0.05  # the child forwards its events this often while they come (the window drains
# them every 100 ms; commands from the parent are applied as soon as they arrive)
# The child trains at the window's own priority: at a lower one (nice 10) each of the window's
# wake-ups preempted training's Python thread at once, and digits trained at 0.81-0.86x the CLI's
# speed instead of ~1x, for event-loop gaps that were small either way (docs/BENCHMARKS.md).
COMMANDS = ("pause", "resume", "step", "stop", "set_learning_rate", "save_model", "step_discriminator",
            "step_generator")
_context = multiprocessing.get_context("spawn")  # never fork a process that holds TF or Qt threads


class WorkerProcess:
    """One spawned child that loads TensorFlow, then waits for its one task (`begin` a training
    run, or `serve` other work); the parent's handle."""

    def __init__(self) -> None:
        self.conn, child_conn = _context.Pipe()
        self.process = _context.Process(target=serve, args=(child_conn,), name="kgen-training", daemon=True)
        self.process.start()
        child_conn.close()  # the child holds its end; EOF then means the child is gone
        self.ready = False  # it said it has loaded TensorFlow

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the child has loaded TensorFlow (before it was given a run); True when it has."""
        try:
            if not self.ready and self.conn.poll(timeout):
                self.ready = self.conn.recv() == ("ready",)
        except (EOFError, OSError):
            return False
        return self.ready

    def begin(self, config: RunConfig, run_dir: Path, paused: bool) -> None:
        """Hand the child its run, with this process's working directory and environment (the
        child may have been spawned before they changed)."""
        self.conn.send(("begin", config, str(run_dir), paused, os.getcwd(), dict(os.environ)))

    def serve(self, target: str, *args: Any) -> None:
        """Hand the child other work: it calls ``target`` ("module:function") as
        ``function(conn, *args)`` with its end of the pipe, then exits (only copies cross)."""
        self.conn.send(("serve", target, args, os.getcwd(), dict(os.environ)))

    def close(self, timeout: float = 2.0) -> None:
        """End the child: politely (it has no run yet, or its run has ended), else by signal."""
        with contextlib.suppress(OSError):
            self.conn.send(("exit",))
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.conn.close()


_spare: WorkerProcess | None = None  # a child with TensorFlow loaded, waiting for a run


def prewarm() -> int:
    """Have a child process ready (TensorFlow imported) for the next run, starting one unless
    one is; returns its process id."""
    global _spare
    if _spare is None or not _spare.is_alive():
        _spare = WorkerProcess()
    return _spare.pid


def take_spare(replace: bool = False) -> WorkerProcess:
    """The waiting child (a new one if there is none); with ``replace`` a new spare starts loading
    in its place, so work beside training never makes the next Start wait for TensorFlow."""
    global _spare
    process, _spare = _spare, None
    if process is None or not process.is_alive():
        process = WorkerProcess()
    elif replace:
        prewarm()
    return process


def discard_spare() -> None:
    """End the waiting child, if any (an app closing, a benchmark that wants a quiet machine)."""
    global _spare
    if _spare is not None:
        _spare.close()
        _spare = None


def wait_for_spare(timeout: float | None = None) -> bool:
    """Block until the waiting child has loaded TensorFlow; True when it has (False: there is none)."""
    return _spare is not None and _spare.wait_ready(timeout)


class ProcessController:
    """One training run at a time, in its own process; events come back through `poll`.

    The interface of `TrainingController` (start, pause, resume, step, stop, set_learning_rate,
    save_model, step_discriminator, step_generator, poll, join, is_running, is_paused). With ``keep_warm`` a child process is
    started now and again after each run, so Start does not wait for TensorFlow to load.
    """

    def __init__(self, keep_warm: bool = True) -> None:
        self.keep_warm = keep_warm
        self._process: WorkerProcess | None = None
        self._pending: list[Event] = []  # received but not yet polled
        self._ended = True  # the current run's last event (finished or error) has been received
        self._paused = False
        self._player_steps = False  # the run's model kind can be stepped one player at a time
        if keep_warm:
            prewarm()

    @property
    def is_running(self) -> bool:
        return not self._ended and self._process is not None and self._process.is_alive()

    @property
    def is_paused(self) -> bool:
        return self.is_running and self._paused

    @property
    def pid(self) -> int | None:
        """The process id of the child training the current (or last) run."""
        return None if self._process is None else self._process.pid

    def start(self, config: RunConfig, run_dir: str | os.PathLike | None = None, *, paused: bool = False) -> Path:
        """Start training ``config`` into ``run_dir`` (a fresh name under runs/ when None) in a
        child process; never waits for it. With ``paused`` it waits before its first batch."""
        if self.is_running:
            raise RuntimeError("a training run is already going; stop it first")
        run_dir = Path(run_dir) if run_dir is not None else fresh_run_dir(config)
        self._process = take_spare()
        self._pending, self._ended, self._paused = [], False, paused
        self._player_steps = registry.spec(config.train.model).player_steps
        self._process.begin(config, run_dir, paused)
        return run_dir

    def pause(self) -> None:
        self._paused = True
        self._send("pause")

    def resume(self) -> None:
        self._paused = False
        self._send("resume")

    def step(self) -> None:
        """Run exactly one more batch, then pause again."""
        self._paused = True
        self._send("step")

    def stop(self) -> None:
        """Stop at the next batch boundary; the run is saved and closed as usual."""
        self._send("stop")

    def set_learning_rate(self, lr: float) -> None:
        """Change the learning rate of every optimizer at the next batch boundary (an "hparam" event)."""
        check_learning_rate(lr)
        self._require_run()
        self._send("set_learning_rate", float(lr))

    def save_model(self, path: str | os.PathLike) -> None:
        """Save the model as it is at the next batch boundary to ``path``; a "saved" event follows."""
        self._require_run()
        self._send("save_model", str(path))

    def step_discriminator(self) -> None:
        """One discriminator update on the next batch (at once while paused); a step event follows."""
        self._step_player("step_discriminator")

    def step_generator(self) -> None:
        """One generator update on fresh noise (at once while paused); a step event follows."""
        self._step_player("step_generator")

    def _step_player(self, command: str) -> None:
        self._require_run()
        if not self._player_steps:
            raise RuntimeError("this model kind cannot be stepped one player at a time")
        self._send(command)

    def poll(self) -> list[Event]:
        """Every event the child has sent since the last call, oldest first; never blocks.

        A child that died without its last event (killed, crashed) is reported as an error.
        """
        self._receive()
        events, self._pending = self._pending, []
        if not self._ended and self._process is not None and not self._process.is_alive():
            self._receive()  # what it sent just before it went
            events += self._pending
            self._pending = []
            if not any(e["type"] in ("finished", "error") for e in events):
                events.append(Error(message=died_message(self._process.process.exitcode)))
        if any(e["type"] in ("finished", "error") for e in events):
            self._run_ended()
        return events

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the child to end (keeping what it sends for `poll`); True when it has."""
        process = self._process
        if process is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while process.is_alive():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            waiting = [process.process.sentinel] + ([] if process.conn.closed else [process.conn])
            if process.conn in wait(waiting, left):
                self._receive()
        return not process.is_alive()

    def kill(self) -> None:
        """End the child at once (a run that would not stop); its files stay as last written."""
        if self._process is not None and self._process.is_alive():
            self._process.process.kill()
            self._process.process.join(5.0)

    def _receive(self) -> None:
        process = self._process
        if process is None or process.conn.closed:
            return
        try:
            while process.conn.poll():
                message = process.conn.recv()
                if isinstance(message, list):  # a batch of event records ("ready" is for the spare's waiters)
                    self._pending.extend(message)
        except (EOFError, OSError):
            process.conn.close()  # the child is gone; poll reports it

    def _run_ended(self) -> None:
        self._ended = True
        if self.keep_warm:  # load the next child while the user looks at this run's results
            prewarm()

    def _require_run(self) -> None:
        if not self.is_running:
            raise RuntimeError("no training run is going")

    def _send(self, *command: Any) -> None:
        if self.is_running:
            with contextlib.suppress(OSError):  # it died this moment; poll reports it
                self._process.conn.send(command)


def died_message(exitcode: int | None, what: str = "the training process",
                 then: str = "the run's files are as last saved") -> str:
    """One line for a child process (``what``) that ended without saying why, and ``then``, what it means."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory? try a smaller batch or model)" if name == "SIGKILL" else ""
        return f"{what} was killed by {name}{hint}; {then}"
    return f"{what} ended unexpectedly (exit code {exitcode}); see the terminal for details"


# The child's side --------------------------------------------------------------------------


def serve(conn: Connection) -> None:
    """The child: load TensorFlow, take one task: train a run while forwarding events and
    commands, or serve other work (`WorkerProcess.serve`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the app to handle
    try:
        from kgen.services.controller import TrainingController

        _warm_up()
        conn.send(("ready",))
        message = conn.recv()
    except (EOFError, OSError, KeyboardInterrupt):
        _exit(conn)  # the app went away before it needed us
    if message[0] == "serve":
        _serve_target(conn, *message[1:])
    if message[0] != "begin":
        _exit(conn)
    _, config, run_dir, paused, cwd, environment = message
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environment)
        controller = TrainingController()
        controller.start(config, run_dir, paused=paused)
    except Exception as err:  # report it like any training error
        conn.send([Error(message=one_line(err))])
        _exit(conn)
    _relay(conn, controller)
    _exit(conn)


def _serve_target(conn: Connection, target: str, args: tuple, cwd: str, environment: dict) -> None:
    """Run ``target(conn, *args)`` in the parent's directory and environment, then end the child.
    An error that escapes it ends the child; the parent sees the pipe close and says so."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environment)
    module, _, name = target.partition(":")
    with contextlib.suppress(EOFError, OSError, KeyboardInterrupt):  # the parent went away
        getattr(importlib.import_module(module), name)(conn, *args)
    _exit(conn)


def _warm_up() -> None:
    """Load what every run needs and start TensorFlow's runtime, before a run is asked for."""
    import keras

    import kgen.eval.latent  # noqa: F401  (the latent explorer's work)
    import kgen.models.saving  # noqa: F401
    import kgen.services.probes  # noqa: F401  (models, data, training, sampling, playground)

    keras.ops.convert_to_numpy(keras.ops.matmul(keras.ops.ones((2, 2)), keras.ops.ones((2, 2))))


def _relay(conn: Connection, controller) -> None:
    """Forward ``controller``'s events to the parent and the parent's commands to it, until the
    run ends. A parent that went away is a Stop: the run saves itself and ends."""
    parent = True
    while True:
        running = controller.is_running  # read before polling, so the last events are not missed
        if parent:
            try:
                if conn.poll(FORWARD_S):
                    while conn.poll():
                        _apply(controller, conn.recv())
            except (EOFError, OSError):
                parent = False
                controller.stop()
        else:
            time.sleep(FORWARD_S)
        events = controller.poll()
        if events and parent:
            try:
                conn.send(events)
            except OSError:
                parent = False
                controller.stop()
        if not running:
            return


def _apply(controller, command: tuple) -> None:
    name, *args = command
    if name not in COMMANDS:
        return
    with contextlib.suppress(RuntimeError):  # the run ended as the command came; its last event follows
        getattr(controller, name)(*args)


def _exit(conn: Connection) -> None:
    """End the child now: its run is saved and reported, and TensorFlow's teardown adds nothing."""
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
