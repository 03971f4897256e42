"""What the live gradient-noise measurement (``GradientNoise``) adds to an epoch of a VAE run.

A digits VAE with default settings is trained through ``kgen.train.training.train`` with the
callback, then without it (the same run otherwise), alternating ``--repeats`` times; the
callback's own hooks are timed too. Its share is their time over the run's fit, whole (the
probe's one tracing included) and over epochs 2..E (the spaced measurements alone). Usage:
    python benchmarks/gradient_noise_cost.py --epochs 30 --repeats 7
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from pathlib import Path

import _common as common

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.train import callbacks as cb
from kgen.train import training

# The callback's hooks that do work: building the probe, and each epoch's measurement.
HOOKS = ("on_train_begin", "on_epoch_end")


@contextlib.contextmanager
def timed_callback(spent: list[tuple[float, float]]):
    """Appends (wall, CPU) seconds of every `GradientNoise` hook call to ``spent`` in the block."""
    originals = {name: getattr(cb.GradientNoise, name) for name in HOOKS}

    def timed(method):
        def wrapper(self, *args, **kwargs):
            wall, cpu = common.clock()
            try:
                return method(self, *args, **kwargs)
            finally:
                after = common.clock()
                spent.append((after[0] - wall, after[1] - cpu))
        return wrapper

    for name, method in originals.items():
        setattr(cb.GradientNoise, name, timed(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(cb.GradientNoise, name, method)


@contextlib.contextmanager
def without_callback():
    """Trains as usual but without the gradient-noise callback."""
    original = training.gradient_noise_callbacks
    training.gradient_noise_callbacks = lambda *args: []
    try:
        yield
    finally:
        training.gradient_noise_callbacks = original


class RunClock(common.EpochClock):
    """`EpochClock` with a first mark when training begins, so the first epoch is timed too."""

    def on_train_begin(self, logs=None):
        self.marks.append(common.clock())


def one_run(epochs: int, out: Path, measured: bool) -> dict:
    """Wall and CPU seconds of the run's epochs (all, and 2..E) and of the callback's hooks."""
    shutil.rmtree(out, ignore_errors=True)
    config = RunConfig(TrainConfig(model="vae", dataset="digits", epochs=epochs, seed=0), VAEConfig())
    spent: list[tuple[float, float]] = []
    clock = RunClock()
    context = timed_callback(spent) if measured else without_callback()
    with context:
        training.train(config, out, extra_callbacks=[clock], verbose=0)
    marks = clock.marks  # train begin, then every epoch's end
    return {"all_wall": marks[-1][0] - marks[0][0], "all_cpu": marks[-1][1] - marks[0][1],
            "wall": marks[-1][0] - marks[1][0], "cpu": marks[-1][1] - marks[1][1],
            "hooks_wall": sum(s[0] for s in spent), "first_wall": sum(s[0] for s in spent[:2]),
            "rest_wall": sum(s[0] for s in spent[2:]), "epochs_timed": len(marks) - 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-gradient-noise"))
    args = parser.parse_args()
    started = time.monotonic()
    rows, raw = [], []
    for repeat in range(args.repeats):
        with_cb, without = one_run(args.epochs, args.out, True), one_run(args.epochs, args.out, False)
        raw.append({"with": with_cb, "without": without})
        rows.append([repeat + 1, without["all_wall"], with_cb["all_wall"],
                     100 * (with_cb["all_cpu"] / without["all_cpu"] - 1),
                     100 * with_cb["hooks_wall"] / with_cb["all_wall"], with_cb["first_wall"],
                     1000 * with_cb["rest_wall"] / with_cb["epochs_timed"],
                     100 * with_cb["rest_wall"] / with_cb["wall"]])
    rows.append(["median", *(common.median(column) for column in list(zip(*rows, strict=True))[1:])])
    shutil.rmtree(args.out, ignore_errors=True)
    common.write_results(
        "gradient_noise_cost", "Gradient-noise measurement: cost per epoch (digits VAE, defaults)",
        ["repeat", "fit s without", "fit s with", "CPU s added %", "hooks' share %", "build + trace s",
         "measurement ms per epoch", "share of epochs 2..E %"], rows,
        [f"{args.epochs} epochs; a measurement: 8 gradient estimates of the encoder on 64 probe images, "
         "at epoch ends spaced to 1% of the training time; build + trace: the probe's first call (once a run)",
         "hooks' share: the callback's wall time over its own run's fit (so load that differs between "
         "runs cancels); CPU s added: the process's CPU seconds with against without (all threads; "
         "the pipeline's too: noisy on a shared machine)"],
        {"runs": raw}, started)


if __name__ == "__main__":
    main()
