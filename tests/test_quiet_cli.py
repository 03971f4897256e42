"""`kgen` starts quietly: no TensorFlow C++ start-up lines unless --verbose or KGEN_DEBUG; a progress
bar within each epoch on a terminal, one line per epoch otherwise."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kgen.cli import build_parser, quiet
from kgen.train.progress import EpochLines, choose_progress, format_epoch_line

ROOT = Path(__file__).resolve().parents[1]
# What TensorFlow's native logging writes at start-up (absl, oneDNN, CUDA probing), as seen on a
# CPU-only machine with TensorFlow 2.21.
NOISE = re.compile(r"absl::InitializeLog|oneDNN|cuda|cuInit|^[IWE]\d{4} ", re.IGNORECASE | re.MULTILINE)


def kgen_env(**extra: str) -> dict[str, str]:
    """This checkout's kgen, offline, with no debugging asked for by the caller's environment."""
    env = {k: v for k, v in os.environ.items() if k not in (quiet.DEBUG_VARIABLE, "TF_CPP_MIN_LOG_LEVEL")}
    return {**env, "PYTHONPATH": str(ROOT), "KGEN_OFFLINE": "1", **extra}


def kgen(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kgen.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=kgen_env(**env), timeout=300)


def test_train_is_quiet_and_prints_one_line_per_epoch_into_a_pipe(tmp_path):
    done = kgen("train", "vae", "--epochs", "2", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not NOISE.search(done.stderr), done.stderr
    assert done.stderr.strip() == ""
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(" - ")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
    assert "loss" in epoch_lines[0] and "val_loss" in epoch_lines[0]
    assert "\r" not in done.stdout and "Epoch 1/2" not in done.stdout  # not Keras' own display


def test_verbose_shows_tensorflow_start_up_lines(tmp_path):
    done = kgen("train", "vae", "--epochs", "1", "--out", "run", "--verbose", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert NOISE.search(done.stderr), done.stderr


def test_kgen_debug_shows_them_too(tmp_path):
    done = kgen("doctor", cwd=tmp_path, KGEN_DEBUG="1")
    assert done.returncode == 0, done.stderr
    assert NOISE.search(done.stderr), done.stderr


def test_a_terminal_gets_a_progress_bar_within_the_epoch(tmp_path):
    leader, follower = pty.openpty()
    try:
        child = subprocess.Popen([sys.executable, "-m", "kgen.cli", "train", "vae", "--epochs", "1", "--out", "run"],
                                 stdin=follower, stdout=follower, stderr=subprocess.PIPE, cwd=tmp_path, env=kgen_env())
        os.close(follower)
        shown = _read_all(leader)
        stderr = child.stderr.read().decode()
        assert child.wait(timeout=300) == 0, stderr
    finally:
        os.close(leader)
    steps = re.findall(rb"(\d+)/(\d+)\x1b", shown)  # Keras' bar: "\r 38/45 ━━━━ ..." redrawn in place
    assert len({done for done, _ in steps}) >= 2, shown[:500]
    assert b"\r" in shown and not NOISE.search(stderr), stderr


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_native_lines_are_dropped_and_python_errors_keep_them(capfd):
    with quiet.native_stderr_dropped():
        os.write(2, b"native noise\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    with pytest.raises(RuntimeError), quiet.native_stderr_dropped():
        os.write(2, b"why it failed\n")
        raise RuntimeError("import failed")
    assert capfd.readouterr().err == "why it failed\n"


@pytest.mark.parametrize(("flag", "debug", "expected"), [
    (False, None, False), (True, None, True), (False, "1", True), (False, "0", False), (False, "", False),
])
def test_verbose_is_the_flag_or_kgen_debug(monkeypatch, flag, debug, expected):
    monkeypatch.delenv(quiet.DEBUG_VARIABLE, raising=False)
    if debug is not None:
        monkeypatch.setenv(quiet.DEBUG_VARIABLE, debug)
    assert quiet.wants_verbose(flag) is expected


def test_verbose_goes_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--verbose", "datasets"]).verbose
    assert parser.parse_args(["train", "vae", "--verbose"]).verbose
    assert not parser.parse_args(["train", "vae"]).verbose


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere():
    assert choose_progress(None, 3, _Terminal()).keras_verbose == 1
    assert choose_progress(None, 3, _Terminal()).callbacks == ()
    piped = choose_progress(None, 3, io.StringIO())
    assert piped.keras_verbose == 0 and isinstance(piped.callbacks[0], EpochLines)
    assert choose_progress(0, 3, _Terminal()).keras_verbose == 0  # the app's training process


def test_an_epoch_line_names_the_epoch_then_training_then_validation_metrics():
    line = format_epoch_line(3, 30, 1.3, {"val_loss": 27.74, "loss": 30.5264, "kl": 0.2237})
    assert line == "epoch 3/30 - 1.3 s - kl 0.2237 - loss 30.53 - val_loss 27.74"
    stream = io.StringIO()
    EpochLines(2, stream).on_epoch_end(1, {"loss": 1.0})
    assert stream.getvalue().startswith("epoch 2/2 - ") and stream.getvalue().endswith("loss 1\n")
