"""Waiting on a `TrainingController` in tests: poll its queue until a condition holds."""

import time

TIMEOUT = 120.0


def poll_until(controller, done, timeout=TIMEOUT) -> list[dict]:
    """Poll until ``done(events so far)`` holds; fail after ``timeout`` seconds."""
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while not done(events):
        assert time.monotonic() < deadline, f"timed out; events: {[e['type'] for e in events]}"
        events += controller.poll()
        time.sleep(0.01)
    return events


def ended(events) -> bool:
    return any(e["type"] in ("finished", "error") for e in events)
