"""The pacer every live view draws through: the newest of many requests, at an affordable pace."""

import time

import pytest

pytest.importorskip("PySide6")

from gui.pacing import Pacer  # noqa: E402


def burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_an_idle_pacer_draws_at_once_and_merges_what_comes_during_its_pause(qtbot):
    drawn = []
    pacer = Pacer(lambda: drawn.append(time.monotonic()), min_ms=300, max_ms=2000, share=0.5)
    pacer.request()
    assert len(drawn) == 1  # at once: a run's first picture is not delayed
    for _ in range(50):
        pacer.request()
    assert len(drawn) == 1 and pacer.waiting
    qtbot.waitUntil(lambda: len(drawn) == 2, timeout=3000)
    assert drawn[1] - drawn[0] >= 0.28  # after the pause (a coarse Qt timer may be 5% early), once for all fifty
    qtbot.wait(500)
    assert len(drawn) == 2 and not pacer.waiting


def test_flush_draws_what_waits_now_and_cancel_forgets_it(qtbot):
    drawn = []
    pacer = Pacer(lambda: drawn.append(1), min_ms=10_000, max_ms=10_000, share=0.5)
    pacer.flush()
    assert drawn == []  # nothing waits: nothing to draw
    pacer.request()
    pacer.request()
    pacer.flush()
    assert drawn == [1, 1]
    pacer.request()
    pacer.cancel()
    pacer.flush()
    assert drawn == [1, 1] and not pacer.waiting


def test_a_costly_drawing_waits_longer_within_the_bounds(qtbot):
    pacer = Pacer(lambda: burn(0.03), min_ms=10, max_ms=5000, share=0.1)
    pacer.request()
    qtbot.waitUntil(lambda: pacer.wait_ms != 10, timeout=3000)
    assert 250 <= pacer.wait_ms <= 1000  # about 30 ms / 0.1, with the paint turn on top
    capped = Pacer(lambda: burn(0.03), min_ms=10, max_ms=100, share=0.01)
    capped.request()
    qtbot.waitUntil(lambda: capped.wait_ms == 100, timeout=3000)
