"""Every shipped lesson's every run starts in the real training child process
(kgen.services.training_process), takes a few steps headless, and stops cleanly. The try steps'
configs are validated by the loader (tests/test_lessons.py).

All the runs go through one prewarmed child (`WorkerProcess.serve`), one after the other, each with
a fresh `TrainingController`, the controller the child drives for a run in the app: one
TensorFlow import instead of one per run keeps the file near a minute on 2 cores."""

from __future__ import annotations

import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from kgen.lessons import lessons
from kgen.services.training_process import take_spare

STEPS = 3  # batches each run takes before it is stopped
TIMEOUT_S = 120.0  # for one run to take its steps, or to stop
RUNS = [(lesson.name, run.name, run.config) for lesson in lessons() for run in lesson.runs]


def _until(controller, done, events: list, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done(events) and time.monotonic() < deadline:
        events += [{"type": e.kind, **({"metrics": dict(e.metrics)} if e.kind == "step" else {}),
                    **({"message": e.message} if e.kind == "error" else {}),
                    **({"status": e.status} if e.kind == "finished" else {})} for e in controller.poll()]
        time.sleep(0.02)


def _ended(events: list) -> bool:
    return any(e["type"] in ("finished", "error") for e in events)


def train_each(conn: Connection, runs: list, root: str) -> None:
    """In the child: start each run, let it take STEPS batches, stop it; send what it reported."""
    from kgen.services.controller import TrainingController

    for name, config in runs:
        started, events = time.monotonic(), []
        controller = TrainingController()
        controller.start(config, Path(root) / name.replace(":", "-"))
        _until(controller, lambda ev: _ended(ev) or sum(e["type"] == "step" for e in ev) >= STEPS, events, TIMEOUT_S)
        controller.stop()
        _until(controller, _ended, events, TIMEOUT_S)
        conn.send((name, events, time.monotonic() - started))
    conn.send(None)


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict:
    """Every lesson run's reported events, from one training child process."""
    worker = take_spare()
    runs = [(f"{lesson}:{run}", config) for lesson, run, config in RUNS]
    worker.serve(f"{__name__}:train_each", runs, str(tmp_path_factory.mktemp("lesson-runs")))
    found = {}
    try:
        while worker.conn.poll(TIMEOUT_S * 2):
            message = worker.conn.recv()
            if message is None:  # all reported
                break
            if message == ("ready",):  # it has loaded TensorFlow
                continue
            name, events, seconds = message
            found[name] = events
            print(f"{name}: {seconds:.1f} s")
    except EOFError:
        pass  # the child died: the runs it did not report fail below
    finally:
        worker.close()
    return found


@pytest.mark.parametrize(("lesson", "run"), [(lesson, run) for lesson, run, _ in RUNS],
                         ids=[f"{lesson}:{run}" for lesson, run, _ in RUNS])
def test_the_lessons_run_starts_and_takes_a_few_steps_in_the_training_process(reports, lesson, run):
    events = reports.get(f"{lesson}:{run}")
    assert events is not None, "the training process did not report this run"
    errors = [e["message"] for e in events if e["type"] == "error"]
    assert not errors, errors
    assert [e["type"] for e in events][:1] == ["start"]
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) >= STEPS and all(e["metrics"] for e in steps)
    assert events[-1]["type"] == "finished" and events[-1]["status"] in ("stopped", "finished")
