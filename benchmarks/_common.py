"""What the performance benchmarks share: the measured models, their data, the machine, results.

Every script prints a Markdown table and writes it (with the machine, date and command) to
``benchmarks/results/<name>.md`` plus the raw numbers to ``<name>.json``; ``perf_report.py``
splices those tables into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
os.environ.setdefault("KGEN_OFFLINE", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    """One measured model: its kgen configs and the dataset it trains on."""

    name: str  # vae-mlp, vae-conv, dcgan, cgan
    model: str  # kgen model kind
    dataset: str  # a kgen dataset name
    model_options: dict  # fields of the model config that differ from its defaults

    def run_config(self, epochs: int, **train_options):
        from kgen.config import RunConfig, TrainConfig, model_config

        train = TrainConfig(model=self.model, dataset=self.dataset, epochs=epochs, **train_options)
        return RunConfig(train, model_config(self.model)(**self.model_options))


def fashion_subset(n_train: int, n_test: int, folder: Path = Path("runs/bench-data")) -> str:
    """The first n_train / n_test Fashion-MNIST images as an npz dataset name (written once)."""
    path = folder / f"fashion-{n_train}-{n_test}.npz"
    if not path.exists():
        from kgen.data import load_dataset

        data = load_dataset("fashion-mnist")
        path.parent.mkdir(parents=True, exist_ok=True)
        as_bytes = lambda a: np.round(a * 255).astype(np.uint8)  # noqa: E731
        np.savez(path, x=as_bytes(data.x_train[:n_train]), y=data.y_train[:n_train],
                 x_test=as_bytes(data.x_test[:n_test]), y_test=data.y_test[:n_test])
    return f"npz:{path}"


def cases(n_train: int = 4000, n_test: int = 1000) -> list[Case]:
    """The four models of issue 7 with kgen's default training options (batch size, lr)."""
    fashion = fashion_subset(n_train, n_test)
    return [
        Case("vae-mlp", "vae", "digits", {}),
        Case("vae-conv", "vae", fashion, {"arch": "conv", "latent_dim": 16}),
        Case("dcgan", "dcgan", fashion, {"arch": "conv"}),  # "auto" is conv for both; named
        Case("cgan", "cgan", fashion, {"arch": "conv"}),  # here for the hand-built reference
    ]


def machine() -> dict:
    """CPU model, usable cores, memory and library versions of this machine."""
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "gpus": gpus,
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def median(values) -> float:
    return float(statistics.median(values))


def write_results(name: str, title: str, header: list[str], rows: list[list], notes: list[str],
                  raw: dict, started: float) -> str:
    """Print the table and save it (Markdown with machine, date, command; JSON with raw numbers)."""
    info = machine()
    command = "python " + " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    lines = [f"### {title}", "",
             f"`{command}`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {info['cpu']}, "
             f"{info['cores']} cores, TensorFlow {info['tensorflow']}, Keras {info['keras']}; "
             f"load average at the end {info['load_average'][0]} "
             f"({time.monotonic() - started:.0f} s in all).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
    payload = {"machine": info, "command": command, "rows": rows, "header": header, **raw}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1, default=float) + "\n")
    return text


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def clock() -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds): CPU time is less disturbed by other
    processes on a shared machine, wall time is what a user waits."""
    return time.perf_counter(), time.process_time()


class EpochClock(keras.callbacks.Callback):
    """Notes `clock()` at the end of every epoch, after the callbacks listed before it."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[float, float]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.marks.append(clock())


def steady_rate(marks: list[tuple[float, float]], images_per_epoch: int, cpu: bool = False) -> float:
    """Training images per (wall or CPU) second over epochs 2..E (epoch 1 includes tracing)."""
    which = 1 if cpu else 0
    return images_per_epoch * (len(marks) - 1) / (marks[-1][which] - marks[0][which])


def fit_rate(config, data, *, steps: int, epochs: int = 3, synthetic: bool = False,
             **compile_options) -> tuple[float, float]:
    """(images per wall second, images per CPU second) of a bare ``model.fit`` (no callbacks, no validation) of kgen's model and
    pipeline for ``steps`` steps an epoch, timed over epochs 2..E; ``synthetic`` repeats one
    cached batch instead of the real pipeline; ``compile_options`` (jit_compile,
    steps_per_execution) recompile the model with its own optimizers."""
    from kgen import registry
    from kgen.config import examples_per_step
    from kgen.data import make_pipeline
    from kgen.models import GAN, build_model
    from kgen.train.training import model_labels

    keras.backend.clear_session()
    keras.utils.set_random_seed(config.train.seed)
    model = build_model(config, data.x_train.shape[1:], data.num_classes)
    if compile_options:
        if isinstance(model, GAN):
            model.compile(d_optimizer=model.d_optimizer, g_optimizer=model.g_optimizer, **compile_options)
        else:
            model.compile(optimizer=model.optimizer, **compile_options)
    per_step = examples_per_step(config)
    ds = make_pipeline(data.x_train, model_labels(model, data.y_train), batch_size=per_step,
                       seed=config.train.seed, drop_remainder=registry.spec(config.train.model).adversarial, repeat=True)
    if synthetic:
        ds = ds.take(1).cache().repeat()
    clock = EpochClock()
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, callbacks=[clock], verbose=0)
    return steady_rate(clock.marks, steps * per_step), steady_rate(clock.marks, steps * per_step, cpu=True)


def child_process_args(description: str, default_out: Path):
    """The arguments of a benchmark that measures each case in a fresh process of itself:
    ``--child NAME`` runs one case, ``--only`` picks cases, ``--out`` is the scratch run."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", default=None, help="case names (default: all)")
    parser.add_argument("--out", type=Path, default=default_out)
    return parser.parse_args()


def run_child(script: str, name: str, out: Path) -> dict:
    """Run case ``name`` in a fresh process of ``script``; the JSON object it printed last."""
    import subprocess

    done = subprocess.run([sys.executable, script, "--child", name, "--out", str(out)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{name}: the training process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
