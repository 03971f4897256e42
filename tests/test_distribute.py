"""Training under tf.distribute strategies and in mixed precision.

The mirrored and multi-worker runs happen in fresh processes (tests/distributed_run.py): the CPU
is split into 2 logical devices, or 2 workers talk over 127.0.0.1, before TensorFlow starts.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kgen.config import DRAWConfig, GANConfig, RunConfig, TrainConfig, VAEConfig
from kgen.errors import ConfigError

SCRIPT = Path(__file__).with_name("distributed_run.py")


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> Path:
    """71 small images (64 train: four whole batches of 16; 7 test) with 3 classes."""
    rng = np.random.default_rng(0)
    x = np.zeros((71, 8, 8, 1), np.float32)
    for i in range(len(x)):
        r, c = rng.integers(1, 6, size=2)
        x[i, r : r + 3, c : c + 3, 0] = 1.0
    path = tmp_path_factory.mktemp("blobs") / "blobs.npz"
    np.savez(path, x=x, y=rng.integers(0, 3, size=len(x)))
    return path


def _launch(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(SCRIPT.parents[1])}
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _results(process: subprocess.Popen, timeout: float = 240) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.split("RESULTS ", 1)[1])


def _assert_same_curves(one: dict, many: dict) -> None:
    assert (one["start"]["replicas"], many["start"]["replicas"]) == (1, 2)
    assert len(one["steps"]) == len(many["steps"]) >= 4
    for step, (a, b) in enumerate(zip(one["steps"], many["steps"], strict=True)):
        assert a.keys() == b.keys()
        for name in a:
            assert b[name] == pytest.approx(a[name], rel=1e-4, abs=1e-5), f"step {step + 1} {name}"
    for a, b in zip(one["epochs"], many["epochs"], strict=True):  # val_*: 7 vs 6 test images (whole batches)
        train_a = {k: v for k, v in a.items() if not k.startswith("val_")}
        assert {k: b[k] for k in train_a} == pytest.approx(train_a, rel=1e-4, abs=1e-5)
    with np.load(one["weights"]) as a, np.load(many["weights"]) as b:
        assert max(float(np.abs(a[k] - b[k]).max()) for k in a.files) < 1e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def processes(blobs, tmp_path_factory):
    """The mirrored run and the two workers, started together (each spends seconds importing
    TensorFlow) and read by the tests below; (process, output folder) by name."""
    out = tmp_path_factory.mktemp("distributed")
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    started = {"mirrored": (_launch(["--data", str(blobs), "--out", str(out / "mirrored"), "--logical-cpus", "2",
                                     "--runs", "vae:one,vae:mirrored,cgan:one,cgan:mirrored"]), out / "mirrored")}
    for i in range(2):
        task = {"cluster": cluster, "task": {"type": "worker", "index": i}}
        started[f"worker{i}"] = (
            _launch(["--data", str(blobs), "--out", str(out / f"w{i}"), "--runs", "vae:multiworker,cgan:multiworker",
                     "--epochs", "1"], env={"TF_CONFIG": json.dumps(task)}),
            out / f"w{i}",
        )
    yield started
    for process, _ in started.values():
        process.kill()
        process.communicate()


def test_mirrored_run_follows_the_single_device_curve(processes):
    """Same seed and global batch: a run on 2 replicas reports the same metrics, step by step
    (grad norms included), and ends with the same weights as a run on one."""
    process, out = processes["mirrored"]
    results = _results(process)
    _assert_same_curves(results["vae:one"], results["vae:mirrored"])
    _assert_same_curves(results["cgan:one"], results["cgan:mirrored"])
    assert (out / "cgan-mirrored" / "model.keras").exists()


def test_multiworker_run_trains_in_sync(processes):
    """Two workers on 127.0.0.1 train a VAE and a CGAN in step: same final weights on both,
    and only the chief (worker 0) leaves a run behind."""
    (first, chief_out), (second, other_out) = processes["worker0"], processes["worker1"]
    chief, other = _results(first), _results(second)
    for spec in ("vae:multiworker", "cgan:multiworker"):
        with np.load(chief[spec]["weights"]) as a, np.load(other[spec]["weights"]) as b:
            assert all(np.array_equal(a[k], b[k]) for k in a.files)
        run = Path(chief[spec]["run"])
        assert run.parent == chief_out and (run / "model.keras").exists()
        start = chief[spec]["start"]
        assert start["replicas"] == 2 and len(chief[spec]["steps"]) == start["steps_per_epoch"] >= 2
        assert all(math.isfinite(v) for step in chief[spec]["steps"] for v in step.values())
        assert not Path(other[spec]["run"]).exists()  # the other worker's scratch run is gone
    assert not (other_out / "vae-multiworker").exists()


def _first_steps(config: RunConfig, tmp_path: Path, name: str) -> tuple[list[dict], set[str], set[str]]:
    """Step metrics of a run, and its layers' compute and variable dtypes."""
    import keras

    from kgen.runs import read_events
    from kgen.train.training import train

    class Dtypes(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            layers = [layer for layer in self.model._flatten_layers(include_self=False) if layer.weights]
            self.compute = {layer.compute_dtype for layer in layers}
            self.variables = {str(w.dtype) for w in self.model.trainable_weights}

    dtypes = Dtypes()
    result = train(config, tmp_path / name, extra_callbacks=[dtypes], verbose=0)
    steps = [e["metrics"] for e in read_events(result.run.events_path) if e["type"] == "step"]
    return steps, dtypes.compute, dtypes.variables


@pytest.mark.parametrize(("model", "policy"), [("vae", "mixed_bfloat16"), ("cgan", "mixed_float16"),
                                               ("draw", "mixed_float16")])
def test_mixed_precision_computes_low_keeps_float32(model, policy, blobs, tmp_path):
    """Layers compute in float16/bfloat16, variables stay float32, losses stay finite and start
    where float32 starts (float16's loss scale is taken out of the reported gradient norms),
    and the thread's dtype policy is restored afterwards."""
    import keras

    model_config = {"vae": VAEConfig(latent_dim=4, hidden=(32,)), "cgan": GANConfig(latent_dim=4, hidden=(32,), arch="mlp"),
                    "draw": DRAWConfig(steps=3, z_size=2, width=16, read_size=2, write_size=3)}[model]
    common = {"model": model, "dataset": f"npz:{blobs}", "epochs": 1, "batch_size": 16, "grid_size": 2}
    reference, _, _ = _first_steps(RunConfig(TrainConfig(**common), model_config), tmp_path, "f32")
    steps, compute, variables = _first_steps(
        RunConfig(TrainConfig(**common, precision=policy), model_config), tmp_path, "mixed")
    assert compute == {policy.removeprefix("mixed_")} and variables == {"float32"}
    assert keras.config.dtype_policy().name == "float32"
    assert all(math.isfinite(v) for step in steps for v in step.values())
    # The first step is taken from the same weights, data and noise: only rounding differs.
    for name, value in reference[0].items():
        assert steps[0][name] == pytest.approx(value, rel=0.03), name


def test_strategy_and_precision_are_validated():
    with pytest.raises(ConfigError, match="strategy must be one of"):
        TrainConfig(strategy="tpu")
    with pytest.raises(ConfigError, match="precision must be one of"):
        TrainConfig(precision="float16")
    assert TrainConfig.from_dict({"strategy": "mirrored", "precision": "mixed_bfloat16"}).strategy == "mirrored"


def test_batches_must_split_evenly_over_replicas():
    from kgen.train.distribute import check_run

    class TwoReplicas:
        num_replicas_in_sync = 2

    with pytest.raises(ConfigError, match="batch_size 15 does not split evenly over 2 replicas"):
        check_run(TwoReplicas(), 15)
    check_run(TwoReplicas(), 16)


@pytest.mark.parametrize(("value", "message"), [
    (None, "needs TF_CONFIG"), ("{not json", "not valid JSON"), ('{"cluster": {}}', "cluster must be"),
])
def test_multiworker_needs_a_valid_tf_config(monkeypatch, value, message):
    from kgen.train.distribute import tf_config

    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError, match=message):
        tf_config()


def test_gan_minibatches_are_regrouped_so_each_d_step_sees_the_single_device_minibatch():
    import tensorflow as tf

    from kgen.train.distribute import split_minibatches_by_replica

    batch = tf.data.Dataset.from_tensor_slices((np.arange(8.0)[:, None], np.arange(8))).batch(8)
    x, y = next(iter(split_minibatches_by_replica(batch, d_steps=2, replicas=2)))
    # replica 0 gets [0 1 | 4 5], replica 1 gets [2 3 | 6 7]: D step 1 sees 0-3 in all, step 2 4-7
    assert y.numpy().tolist() == [0, 1, 4, 5, 2, 3, 6, 7]
    assert x.numpy().ravel().tolist() == [0, 1, 4, 5, 2, 3, 6, 7]
    assert split_minibatches_by_replica(batch, d_steps=1, replicas=2) is batch


def test_cli_flags_set_strategy_and_precision():
    from kgen.cli import build_parser, config_from_args

    args = build_parser().parse_args(["train", "gan", "--strategy", "mirrored", "--mixed-precision"])
    assert (config_from_args(args).train.strategy, config_from_args(args).train.precision) == ("mirrored",
                                                                                                 "mixed_float16")
    args = build_parser().parse_args(["train", "vae", "--mixed-precision", "bfloat16"])
    assert config_from_args(args).train.precision == "mixed_bfloat16"
    assert config_from_args(build_parser().parse_args(["train", "vae"])).train.precision == "float32"
