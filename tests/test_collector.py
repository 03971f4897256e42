"""Garbage collection runs in the interface thread only (gui/collector.py)."""

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from gui.collector import collect_due, collect_in_interface_thread


class Cycle:
    def __init__(self):
        self.me = self
        self.qt = QObject()


def test_a_worker_thread_never_collects_and_the_interface_timer_does(qtbot):
    parent, thresholds = QObject(), gc.get_threshold()
    timer = collect_in_interface_thread(parent, interval_ms=20)
    try:
        assert not gc.isenabled()
        garbage = Cycle()
        alive = weakref.ref(garbage)
        del garbage
        churn = threading.Thread(target=lambda: [[{}] for _ in range(200_000)])  # would trigger collections
        churn.start()
        churn.join()
        assert alive() is not None  # nothing collected it in the worker thread
        gc.set_threshold(1, 1, 1)
        qtbot.waitUntil(lambda: alive() is None, timeout=5000)
    finally:
        gc.set_threshold(*thresholds)
        timer.stop()


def test_collect_due_collects_only_past_a_threshold():
    gc.collect()
    garbage = Cycle()
    alive = weakref.ref(garbage)
    del garbage
    assert gc.get_count()[0] <= gc.get_threshold()[0] and collect_due() == 0 and alive() is not None
    gc.collect()
    assert alive() is None
