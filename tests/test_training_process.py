"""Training in a child process: what only a process can do (or suffer) beyond the controller
contract that tests/test_controller.py checks for both controllers."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from polling import ended, poll_until

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.runs import read_events
from kgen.services.training_process import ProcessController, died_message, prewarm, wait_for_spare

TIMEOUT = 120.0


def tiny_config(dataset: str, epochs: int = 2) -> RunConfig:
    return RunConfig(TrainConfig(dataset=dataset, epochs=epochs, batch_size=16, grid_size=4),
                     VAEConfig(latent_dim=2, hidden=(16,)))


def test_the_run_trains_in_the_prewarmed_child_not_here(npz, tmp_path):
    spare = prewarm()
    assert wait_for_spare(TIMEOUT)  # TensorFlow loaded before anyone asked for a run
    controller = ProcessController(keep_warm=False)
    controller.start(tiny_config(f"npz:{npz}"), tmp_path / "run")
    events = poll_until(controller, ended)
    start = events[0]
    assert start["type"] == "start" and start["pid"] == spare == controller.pid != os.getpid()
    assert events[-1]["type"] == "finished" and events[-1]["status"] == "finished"
    assert controller.join(30) and not controller.is_running


def test_relative_paths_mean_what_they_meant_when_the_run_started(npz, tmp_path, monkeypatch):
    prewarm()  # spawned in the test session's working directory ...
    wait_for_spare(TIMEOUT)
    monkeypatch.chdir(tmp_path)  # ... which is not where the data is now
    shutil.copy(npz, tmp_path / "here.npz")
    controller = ProcessController(keep_warm=False)
    controller.start(tiny_config("npz:here.npz", epochs=1), "run")
    events = poll_until(controller, ended)
    assert events[-1]["type"] == "finished", events[-1]
    assert (tmp_path / "run" / "model.keras").is_file()


def test_a_killed_child_is_reported_and_the_next_run_works(npz, tmp_path):
    controller = ProcessController(keep_warm=False)
    controller.start(tiny_config(f"npz:{npz}", epochs=500), tmp_path / "killed")
    poll_until(controller, lambda ev: any(e["type"] == "step" for e in ev))
    os.kill(controller.pid, signal.SIGKILL)  # as the out-of-memory killer would
    events = poll_until(controller, ended)
    assert events[-1]["type"] == "error" and "SIGKILL" in events[-1]["message"]
    assert not controller.is_running
    with pytest.raises(RuntimeError, match="no training run"):
        controller.set_learning_rate(1e-3)
    controller.start(tiny_config(f"npz:{npz}", epochs=1), tmp_path / "again")
    assert poll_until(controller, ended)[-1]["status"] == "finished"


PARENT = """
import os, sys, time
from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.services.training_process import ProcessController

if __name__ == "__main__":
    config = RunConfig(TrainConfig(dataset=sys.argv[1], epochs=500, batch_size=16, grid_size=4),
                       VAEConfig(latent_dim=2, hidden=(16,)))
    controller = ProcessController(keep_warm=False)
    controller.start(config, sys.argv[2])
    deadline = time.monotonic() + 120
    while not any(e["type"] == "step" for e in controller.poll()) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(controller.pid, flush=True)
    os._exit(0)  # the app is gone: no stop, no goodbye
"""


def test_a_child_whose_app_vanished_stops_and_saves_its_run(npz, tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    run = tmp_path / "orphan"
    done = subprocess.run([sys.executable, str(script), f"npz:{npz}", str(run)], capture_output=True, text=True,
                          timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    child = int(done.stdout.split()[-1])
    deadline = time.monotonic() + TIMEOUT
    while not any(e["type"] == "end" for e in read_events(run / "events.jsonl")):
        assert time.monotonic() < deadline, "the orphaned run never ended"
        time.sleep(0.2)
    end = next(e for e in read_events(run / "events.jsonl") if e["type"] == "end")
    assert end["status"] == "stopped" and (run / "model.keras").is_file()
    while alive(child):  # and the child process is gone
        assert time.monotonic() < deadline, f"the training process {child} outlived its run"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (an exited one that nobody reaped yet does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_an_unexplained_end_is_one_line_naming_the_cause():
    assert "SIGKILL" in died_message(-signal.SIGKILL) and "out of memory" in died_message(-signal.SIGKILL)
    assert "SIGSEGV" in died_message(-signal.SIGSEGV)
    assert "exit code 1" in died_message(1)
    assert all("\n" not in died_message(code) for code in (-9, -11, 1, None))
