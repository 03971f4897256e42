"""TF_CONFIG validated before TensorFlow reads it, and a multi-worker run that cannot reach its
peers ends (issue 13, point 11): one line at the contact timeout or at once on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgen.errors import ConfigError
from kgen.train.distribute import contact_timeout, tf_config

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "192.0.2.1:23470"  # TEST-NET-1: never answers


def task(cluster, task_type="worker", index=0) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(("value", "message"), [
    (task({"worker": "a:1"}), 'cluster.worker must be a non-empty list of "host:port", got "a:1"'),
    (task({"worker": []}), "cluster.worker must be a non-empty list"),
    (task({"worker": ["a:x"]}), 'cluster.worker[0] has port "x"; a port is a number from 1 to 65535'),
    (task({"worker": ["a:70000"]}), "port \"70000\""),
    (task({"worker": ["a:1", "b"]}), 'cluster.worker[1] must be "host:port", got "b"'),
    (task({"worker": [1234]}), 'cluster.worker[0] must be "host:port", got 1234'),
    (task({"worker": ["a:1"]}, index=1), "task.index must be a whole number from 0 to 0 (cluster.worker has 1), got 1"),
    (task({"worker": ["a:1"]}, index=-1), "got -1"),
    (task({"worker": ["a:1"]}, index="0"), 'got "0"'),
    (task({"worker": ["a:1"]}, index=True), "got true"),
    (task({"worker": ["a:1"]}, task_type="chief"), "task.type is chief but the cluster names no chief"),
    (task({"worker": ["a:1"]}, task_type="ps"), 'task.type must be chief or worker, got "ps"'),
    (task({"ps": ["a:1"]}), "cluster.\"ps\": kgen's multiworker runs have only chief and worker tasks"),
    (task({"chief": ["a:1", "b:2"]}, task_type="chief"), "cluster.chief holds 2 addresses"),
    (task({"worker": ["a:1", "a:1"]}), "cluster.worker[1] repeats the address a:1"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {}}), 'task must be {"type": ..., "index": ...}, got {}'),
    (json.dumps({"cluster": {"worker": ["a:1"]}}), "task must be"),
    (json.dumps({"cluster": [], "task": {}}), "cluster must be an object of task lists"),
    (json.dumps([1]), "TF_CONFIG must be a JSON object"),
    ("{not json", "TF_CONFIG is not valid JSON"),
    ("[" * 100_000, "TF_CONFIG is not valid JSON"),
])
def test_bad_tf_config_is_one_line_naming_the_field(monkeypatch, value, message):
    monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError) as refused:
        tf_config()
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_good_tf_config_passes(monkeypatch):
    cluster = {"chief": ["host-a:2222"], "worker": ["10.0.0.2:2222", "[::1]:2223"]}
    for task_type, index in (("chief", 0), ("worker", 1)):
        monkeypatch.setenv("TF_CONFIG", task(cluster, task_type, index))
        assert tf_config()["task"]["index"] == index


@pytest.mark.parametrize(("value", "seconds"), [(None, 60.0), ("2.5", 2.5), (" 600 ", 600.0)])
def test_contact_timeout(monkeypatch, value, seconds):
    if value is None:
        monkeypatch.delenv("KGEN_MULTIWORKER_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("KGEN_MULTIWORKER_TIMEOUT", value)
    assert contact_timeout() == seconds


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_nonsense_contact_timeout_is_one_line(monkeypatch, value):
    monkeypatch.setenv("KGEN_MULTIWORKER_TIMEOUT", value)
    with pytest.raises(ConfigError, match="KGEN_MULTIWORKER_TIMEOUT must be a number of seconds > 0"):
        contact_timeout()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_worker(tmp_path: Path, timeout: float) -> subprocess.Popen:
    """`kgen train` as worker 0 of a cluster whose worker 1 never answers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KGEN_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "KGEN_MULTIWORKER_TIMEOUT": str(timeout),
           "TF_CONFIG": task({"worker": [f"127.0.0.1:{_free_port()}", UNREACHABLE]})}
    return subprocess.Popen([sys.executable, "-m", "kgen.cli", "train", "vae", "--strategy", "multiworker",
                             "--epochs", "1", "--out", str(tmp_path / "run")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _waiting(process: subprocess.Popen, limit: float = 120) -> None:
    """Returns once the process waits for its peers (its watcher process has started)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + limit
    while not children.read_text().strip():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    time.sleep(1)  # into TensorFlow's wait


def _kgen_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kgen")]


def test_unreachable_peer_times_out_with_one_line_even_after_sigterm(tmp_path):
    """The run used to hang for good, deaf to SIGINT and SIGTERM. TensorFlow swallows SIGTERM
    during the wait, so it ends at the contact timeout, naming the silent peer; no run is left."""
    process = _start_worker(tmp_path, timeout=4)
    _waiting(process)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - started < 4 + 5
    assert process.returncode != 0
    assert _kgen_lines(err) == [
        f"kgen: error: no contact with the other workers of TF_CONFIG within 4 s: worker 1 at {UNREACHABLE} "
        "does not answer; start every worker with the same TF_CONFIG, or allow more time with KGEN_MULTIWORKER_TIMEOUT"]
    assert not (tmp_path / "run").exists()


def test_ctrl_c_ends_the_wait_at_once(tmp_path):
    process = _start_worker(tmp_path, timeout=120)
    _waiting(process)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - started < 3
    assert process.returncode != 0
    assert _kgen_lines(err) == ["kgen: interrupted while waiting for the other workers of TF_CONFIG; nothing was written"]
    assert not (tmp_path / "run").exists()
