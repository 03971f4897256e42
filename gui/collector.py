"""Python's garbage collection, run in the interface thread only.

A collection that starts in a worker thread (a formula being typeset, a dataset preview, a test's
training thread) frees whatever garbage is due, Qt wrappers left in reference cycles included:
their C++ destructors then run off the interface thread and Shiboken hands the deletion back to it,
which deadlocked or crashed (seen in the app and in the test suite). So automatic collection is
switched off and a timer in the interface thread collects what the thresholds say is due, as
pyqtgraph's GarbageCollector does.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


def collect_due() -> int:
    """Collect each generation whose threshold is passed (youngest first), as automatic collection
    would; the number of unreachable objects found."""
    thresholds, counts, found = gc.get_threshold(), gc.get_count(), 0
    for generation in range(3):
        if counts[generation] <= thresholds[generation]:
            break
        found += gc.collect(generation)
    return found


def collect_in_interface_thread(parent: QObject, interval_ms: int = INTERVAL_MS) -> QTimer:
    """Switch automatic collection off and collect on a timer of ``parent``'s (interface) thread."""
    gc.disable()
    timer = QTimer(parent)
    timer.setObjectName("kgen-garbage-collector")
    timer.timeout.connect(collect_due)
    timer.start(interval_ms)
    return timer
