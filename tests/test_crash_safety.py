"""Crash safety: a real `kgen train` process killed (SIGKILL) or interrupted (SIGINT) at chosen
moments, then resumed, until the run ends with every epoch counted exactly once."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kgen.models.saving import load_model_file
from kgen.runs import Run, read_events

EPOCHS = 5
STEPS = 36  # 576 training images (90% of 640) in batches of 16


def kgen_train(data: Path, run_dir: Path, resume: bool) -> subprocess.Popen:
    where = ["--resume", str(run_dir)] if resume else ["--dataset", f"npz:{data}", "--out", str(run_dir)]
    args = [sys.executable, "-m", "kgen.cli", "train", "vae", *where, "--epochs", str(EPOCHS),
            "--batch-size", "16", "--latent-dim", "2", "--hidden", "64"]
    env = {**os.environ, "KGEN_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_until(process: subprocess.Popen, condition, timeout: float = 90.0) -> None:
    """Poll ``condition`` every millisecond until it holds; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"kgen train ended early ({process.returncode}): {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out waiting for the training process")
        time.sleep(0.001)


def raw_events(run_dir: Path) -> list[dict]:
    """Events as written (torn lines skipped), before a resume supersedes any."""
    events = []
    text = (run_dir / "events.jsonl").read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines(keepends=True):
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line)) if line.endswith("\n") else None
    return events


def step_reached(run_dir: Path, epoch: int, batch: int):
    def reached() -> bool:
        return (run_dir / "events.jsonl").is_file() and any(
            e.get("type") == "step" and (e["epoch"], e["step"] - (e["epoch"] - 1) * STEPS) >= (epoch, batch)
            for e in read_events(run_dir / "events.jsonl"))
    return reached


def checkpoint_being_written(run_dir: Path):
    def writing() -> bool:
        folder = run_dir / "checkpoints"
        return folder.is_dir() and any(p.name.startswith(".latest-") for p in folder.iterdir())
    return writing


def epoch_logged(run_dir: Path, epoch: int):
    def logged() -> bool:
        return any(e.get("type") == "epoch" and e["epoch"] == epoch for e in raw_events(run_dir))
    return logged


def check_consistent(run_dir: Path) -> int:
    """What any moment of death must leave: a valid run, a loadable latest checkpoint whose
    optimizer step count matches its name, and events that read line by line. Returns its epoch."""
    run = Run.open(run_dir)
    lines = (run_dir / "events.jsonl").read_bytes().split(b"\n")
    assert all(line.strip() for line in lines[:-2]), "an empty line in events.jsonl"
    latest = run.latest_checkpoint()
    if latest is None:
        return 0
    path, epoch = latest
    model = load_model_file(path)
    batches = int(path.stem.split("-")[-1]) if path.name.startswith("interrupted-") else 0
    assert int(model.optimizer.iterations) == epoch * STEPS + batches
    assert all(np.isfinite(w).all() for w in model.get_weights())
    return epoch


@pytest.fixture
def data(tmp_path) -> Path:
    x = np.random.default_rng(0).random((640, 8, 8, 1)).astype("float32")
    np.savez(tmp_path / "data.npz", x=x)
    return tmp_path / "data.npz"


@pytest.mark.slow  # five kgen processes: ~40 s on an idle 2-core machine
def test_killed_and_interrupted_training_resumes_to_the_right_count(data, tmp_path):
    run_dir = tmp_path / "run"
    kills = []

    # 1. SIGKILL in the middle of epoch 1: no checkpoint yet, resume starts over.
    process = kgen_train(data, run_dir, resume=False)
    wait_until(process, step_reached(run_dir, 1, 10))
    process.kill(), process.wait()
    kills.append(check_consistent(run_dir))
    assert kills[-1] == 0

    # 2. SIGKILL while a checkpoint is being written (its temporary file exists).
    process = kgen_train(data, run_dir, resume=True)
    wait_until(process, checkpoint_being_written(run_dir))
    process.kill(), process.wait()
    kills.append(check_consistent(run_dir))
    assert any(p.name.startswith(".latest-") for p in (run_dir / "checkpoints").iterdir())

    # 3. Ctrl-C (SIGINT) a few batches into an epoch: a clean exit 130 with the partial epoch
    #    saved as interrupted-EEEE-BBBBBB.keras, recorded as neither an epoch nor a sample grid.
    process = kgen_train(data, run_dir, resume=True)
    target = kills[-1] + 2
    wait_until(process, step_reached(run_dir, target, 3))
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "kgen: interrupted after" in err and "--resume" in err and "Traceback" not in err
    interrupted = sorted((run_dir / "checkpoints").glob("interrupted-*.keras"))
    assert len(interrupted) == 1 and interrupted[0].name.startswith(f"interrupted-{target - 1:04d}-")
    assert check_consistent(run_dir) == target - 1
    assert not (run_dir / "samples" / f"epoch_{target:04d}.png").exists()
    assert not any(e["type"] == "epoch" and e["epoch"] == target for e in raw_events(run_dir))
    assert [e["status"] for e in raw_events(run_dir) if e["type"] == "end"] == ["stopped"]

    # 4. SIGKILL just after an epoch's event is logged (its checkpoint may not be written yet).
    process = kgen_train(data, run_dir, resume=True)
    wait_until(process, epoch_logged(run_dir, target))
    process.kill(), process.wait()
    kills.append(check_consistent(run_dir))
    (run_dir / "events.jsonl").open("a").write('{"type": "step", "ste')  # and a torn last line

    # 5. Resume to the end.
    process = kgen_train(data, run_dir, resume=True)
    _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err

    run = Run.open(run_dir)
    events = read_events(run.events_path)
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == list(range(1, EPOCHS + 1))
    assert [e["epoch"] for e in events if e["type"] == "samples"] == list(range(1, EPOCHS + 1))
    steps = [e["step"] for e in events if e["type"] == "step"]
    assert steps == list(range(1, EPOCHS * STEPS + 1))  # every step once, in order
    assert [e.get("initial_epoch") for e in events if e["type"] == "start"][0] == 0
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == [
        "best.json", "best.keras", f"latest-{EPOCHS:04d}.keras"]  # no interrupted or temporary file
    model = load_model_file(run.model_path)
    # the batches of the interrupted epoch stay in the weights: the optimizer counted them
    assert int(model.optimizer.iterations) == EPOCHS * STEPS + int(interrupted[0].stem.split("-")[-1])
