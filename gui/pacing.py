"""Drawing at a pace the interface can afford: the newest of a stream of updates, not each one.

While a run trains, steps, grids and playground snapshots arrive faster than they are worth
drawing, and every paint costs the interface thread CPU time that the training process, on the
same cores, then lacks (a small model's steps slow down by about as much as the window works;
docs/BENCHMARKS.md). Each live view draws through a `Pacer`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

MEASURE_MS = 1  # a timer this short fires after the event-loop turn that paints the drawing


class Pacer(QObject):
    """Calls ``draw`` for the newest of the requests made, spending at most ``share`` of the
    interface thread's time on it.

    An idle pacer draws at once (a run's first picture is not delayed). It then measures what the
    drawing cost (the thread's CPU time from ``draw`` until the turn that paints it is over) and
    waits cost / ``share``, but at least ``min_ms`` and at most ``max_ms``, before it draws again;
    requests meanwhile are merged into one.
    """

    def __init__(self, draw: Callable[[], None], *, min_ms: int, max_ms: int, share: float,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._draw, self.min_ms, self.max_ms, self.share = draw, min_ms, max_ms, share
        self.wait_ms = min_ms  # the pause after the last drawing
        self._pending = False  # a request waits
        self._started: float | None = None  # thread CPU time when the drawing being measured began
        self._gate = QTimer(self)
        self._gate.setSingleShot(True)
        self._gate.timeout.connect(self._on_gate)
        self._measure = QTimer(self)
        self._measure.setSingleShot(True)
        self._measure.setInterval(MEASURE_MS)
        self._measure.timeout.connect(self._on_measured)

    @property
    def waiting(self) -> bool:
        """Whether a request waits to be drawn."""
        return self._pending

    def request(self) -> None:
        """Draw now if the pacer is idle, else once its pause is over (requests merge)."""
        if self._gate.isActive() or self._started is not None:
            self._pending = True
        else:
            self._run()

    def flush(self) -> None:
        """Draw now what waits (a run that ended: its last picture should not wait)."""
        if self._pending:
            self._gate.stop()
            self._run()

    def cancel(self) -> None:
        """Forget what waits (the view was cleared)."""
        self._pending = False
        self._gate.stop()

    def _run(self) -> None:
        self._pending = False
        self._started = time.thread_time()
        self._draw()
        self._measure.start()

    def _on_measured(self) -> None:
        cost_ms = 1000 * (time.thread_time() - self._started)
        self._started = None
        self.wait_ms = min(self.max_ms, max(self.min_ms, round(cost_ms / self.share)))
        self._gate.start(self.wait_ms)

    def _on_gate(self) -> None:
        if self._pending:
            self._run()


class PacedSnapshots:
    """A live view's newest snapshot event, drawn by its ``_pacer`` (a `Pacer`): at once, or the
    newest when the pacer's pause is over; ``received`` counts the events that came."""

    snapshot = None
    received = 0
    _pacer: Pacer

    def add_snapshot(self, event) -> None:
        """Keep ``event`` as the newest and ask the pacer to draw it."""
        self.snapshot = event
        self.received += 1
        self._pacer.request()

    def flush(self) -> None:
        """Draw the newest snapshot now if it waits (a run that ended, a step taken by hand)."""
        self._pacer.flush()
