"""One function run in the background that an interface polls without ever blocking.

For work a user interface asks for and must not wait on: the interface starts a job and checks
`done` from its timer. A `BackgroundJob` runs in a thread (loading a dataset preview); a
`ProcessJob` runs in a prewarmed child process, for work with a model (evaluating a run), so the
window's process neither imports TensorFlow nor shares its GIL with it. No Qt here.
"""

from __future__ import annotations

import importlib
import os
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from kgen.errors import KgenError, one_line

# Work in the background (an evaluation, a t-SNE projection) yields the cores to the window's
# process: on a busy machine it otherwise held the window up to ~120 ms (docs/BENCHMARKS.md).
BACKGROUND_NICE = 10


class _Job:
    """What every job offers its poller besides `done`: the result, or the one-line error."""

    done: bool
    error: str | None
    _result: Any

    def result(self) -> Any:
        """The function's return value; raises `KgenError` with the one-line message if it failed."""
        if not self.done:
            raise RuntimeError("the job has not finished")
        if self.error is not None:
            raise KgenError(self.error)
        return self._result


class BackgroundJob(_Job):
    """Runs ``fn(*args, **kwargs)`` once in a daemon thread; its result or one-line error stays."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "kgen-job", **kwargs: Any):
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._result: Any = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds (tests and shutdown only); True once done."""
        self._thread.join(timeout)
        return self.done

    def _run(self) -> None:
        try:
            self._result = self._fn(*self._args, **self._kwargs)
        except Exception as err:  # reported to the interface, whatever went wrong
            if not isinstance(err, KgenError):
                traceback.print_exc()
            self.error = one_line(err)


class ProcessJob(_Job):
    """Runs ``target(*args, **kwargs)`` ("module:function") once in a prewarmed child process.

    The interface of `BackgroundJob`; only copies of the arguments and the result cross. A
    child that dies (killed, out of memory) is a one-line error. A job made by `reporting` gives
    the target a ``progress`` function whose latest value (a share done) lands in `progress`.
    """

    def __init__(self, target: str, *args: Any, **kwargs: Any):
        self._call = (target, args, kwargs)
        self._reports = False
        self._process = None
        self._result: Any = None
        self._finished = False
        self.error: str | None = None
        self.progress: float | None = None  # the latest share done the target reported

    @classmethod
    def reporting(cls, target: str, *args: Any, **kwargs: Any) -> ProcessJob:
        """A job whose target takes a ``progress`` keyword: a function of the share done, 0 to 1."""
        job = cls(target, *args, **kwargs)
        job._reports = True
        return job

    def start(self) -> ProcessJob:
        from kgen.services.training_process import take_spare

        self._process = take_spare(replace=True)
        self._process.serve("kgen.services.jobs:serve_job", *self._call, self._reports)
        return self

    @property
    def pid(self) -> int | None:
        """The child process's id (None before `start`)."""
        return None if self._process is None else self._process.pid

    @property
    def done(self) -> bool:
        self._receive(0)
        return self._finished

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds (tests and shutdown only); True once done."""
        self._receive(timeout)
        return self._finished

    def cancel(self) -> None:
        """End the child now, if it still runs (the window closes)."""
        if self._process is not None and not self._finished:
            self._process.process.kill()
            self._finish(error="cancelled")

    def _receive(self, timeout: float | None) -> None:
        process = self._process
        if process is None or self._finished:
            return
        try:
            while not self._finished and process.conn.poll(timeout):
                kind, *value = process.conn.recv()
                if kind == "progress":
                    self.progress = float(value[0])
                elif kind != "ready":  # it had loaded TensorFlow before it was given this
                    self._finish(**{kind: value[0]})
        except (EOFError, OSError):
            from kgen.services.training_process import died_message

            process.process.join(1.0)
            self._finish(error=died_message(process.process.exitcode, "the process computing this",
                                            "try again, perhaps with less"))

    def _finish(self, result: Any = None, error: str | None = None) -> None:
        self._result, self.error, self._finished = result, error, True
        self._process.close(timeout=0.0)  # it has answered (or died): never wait for it here


def serve_job(conn: Connection, target: str, args: tuple, kwargs: dict, reports: bool = False) -> None:
    """The child's side of a `ProcessJob`: call the target, send back ("result", value) or ("error", line),
    and when ``reports`` ("progress", share) each time the target reports."""
    os.nice(BACKGROUND_NICE)
    if reports:
        kwargs = {**kwargs, "progress": lambda share: conn.send(("progress", float(share)))}
    module, _, name = target.partition(":")
    try:
        message = ("result", getattr(importlib.import_module(module), name)(*args, **kwargs))
    except Exception as err:  # reported to the interface, whatever went wrong
        if not isinstance(err, KgenError):
            traceback.print_exc()
        message = ("error", one_line(err))
    conn.send(message)
