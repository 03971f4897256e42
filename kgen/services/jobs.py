"""One function run in a background thread that an interface polls without ever blocking.

For work a user interface asks for and must not wait on (evaluating a run, loading a dataset
preview): the interface starts a `BackgroundJob` and checks `done` from its timer. No Qt here.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from kgen.errors import KgenError, one_line


class BackgroundJob:
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

    def result(self) -> Any:
        """The function's return value; raises `KgenError` with the one-line message if it failed."""
        if not self.done:
            raise RuntimeError("the job has not finished")
        if self.error is not None:
            raise KgenError(self.error)
        return self._result

    def _run(self) -> None:
        try:
            self._result = self._fn(*self._args, **self._kwargs)
        except Exception as err:  # reported to the interface, whatever went wrong
            if not isinstance(err, KgenError):
                traceback.print_exc()
            self.error = one_line(err)
