"""Soak test: a long training run driven through the desktop app (offscreen), sampling the
process's resident memory (RSS) to show whether it stops growing once warmed up.

Clicks Start in ``gui.main_window.MainWindow`` for a VAE on digits, lets it run ``--steps`` batches
with the live curves, sample grids and status bar all updating, and reads VmRSS from
/proc/self/status every ``--every`` seconds. Prints a Markdown table of RSS against the step and
the growth after warm-up. It also samples ``sys.getrefcount(None)``: on Python < 3.12 a C
extension that drops references to None it does not own drains that count until the process
aborts ("none_dealloc"), which a long run shows as a steady fall. ``--headless`` drives the same run through `kgen.services.controller` alone, to
tell the app's memory from training's. Usage: python benchmarks/soak.py [--steps 2000] [--headless]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KGEN_OFFLINE", "1")

import numpy as np  # noqa: E402

DIGITS_TRAIN = 1437  # training images of the digits dataset


def rss_mb() -> float:
    """This process's resident set size in MiB, from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def soak(steps: int, batch_size: int, every: float, root: str) -> tuple[list[tuple], dict]:
    """Train through the app until ``steps`` batches are done; (seconds, step, RSS MiB) samples."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    epochs = math.ceil(steps / math.ceil(DIGITS_TRAIN / batch_size))
    window = MainWindow(runs_root=root)
    window.show()
    panel = window.setup_panel
    panel.model.setCurrentText("vae")
    panel.epochs.setValue(epochs)
    panel.batch_size.setValue(batch_size)
    progress = {"step": 0, "end": None}
    samples: list[tuple] = []
    start = time.monotonic()

    def on_step(event: dict) -> None:
        progress["step"] = event["step"]

    def on_end(outcome) -> None:
        progress["end"] = outcome
        app.quit()

    def sample() -> None:
        samples.append((round(time.monotonic() - start, 1), progress["step"], round(rss_mb(), 1),
                        sys.getrefcount(None)))

    window.bridge.step.connect(on_step)
    window.bridge.finished.connect(on_end)
    window.bridge.failed.connect(on_end)
    timer = QTimer()
    timer.timeout.connect(sample)
    timer.start(int(every * 1000))
    sample()
    window.start_button.click()
    app.exec()
    sample()
    window.close()
    if not isinstance(progress["end"], dict):
        raise SystemExit(f"soak: the run failed: {progress['end']}")
    return samples, {"epochs": epochs, "steps": progress["step"], "seconds": round(time.monotonic() - start, 1)}


def soak_headless(steps: int, batch_size: int, every: float, root: str) -> tuple[list[tuple], dict]:
    """The same run through `TrainingController` without any window, polled like the app does."""
    from kgen.config import RunConfig, TrainConfig
    from kgen.services.controller import TrainingController

    epochs = math.ceil(steps / math.ceil(DIGITS_TRAIN / batch_size))
    controller = TrainingController()
    controller.start(RunConfig(TrainConfig(epochs=epochs, batch_size=batch_size)),
                     os.path.join(root, "run"))
    samples, step, end, start, next_sample = [], 0, None, time.monotonic(), 0.0
    while end is None:
        for event in controller.poll():
            step = event.get("step", step)
            end = event if event["type"] in ("finished", "error") else end
        if time.monotonic() - start >= next_sample:
            samples.append((round(time.monotonic() - start, 1), step, round(rss_mb(), 1), sys.getrefcount(None)))
            next_sample += every
        time.sleep(0.05)
    controller.join()
    if end["type"] != "finished":
        raise SystemExit(f"soak: the run failed: {end['message']}")
    samples.append((round(time.monotonic() - start, 1), step, round(rss_mb(), 1), sys.getrefcount(None)))
    return samples, {"epochs": epochs, "steps": step, "seconds": round(time.monotonic() - start, 1)}


def growth(samples: list[tuple], warmup: float) -> tuple[float, float, float]:
    """(RSS at the end of warm-up, at the end, least-squares MiB per 1000 steps after warm-up)."""
    last = samples[-1][1]
    after = [(s, r) for _, s, r, _ in samples if s >= warmup * last]
    x, y = np.array([s for s, _ in after], float), np.array([r for _, r in after], float)
    slope = float(np.polyfit(x, y, 1)[0]) * 1000 if len(after) > 2 and np.ptp(x) > 0 else float("nan")
    return after[0][1], after[-1][1], slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="batches to train (rounded up to whole epochs)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=0.25, help="fraction of the steps counted as warm-up")
    parser.add_argument("--headless", action="store_true", help="no window: the training controller alone")
    parser.add_argument("--json", help="also write the samples and summary here")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="kgen-soak-")
    try:
        samples, run = (soak_headless if args.headless else soak)(args.steps, args.batch_size, args.every, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    at_warm, at_end, slope = growth(samples, args.warmup)
    rows = [samples[0]] + [min(samples, key=lambda s, q=q: abs(s[1] - q * run["steps"])) for q in np.linspace(0.1, 1, 10)]
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs; "
          f"{'controller only' if args.headless else 'the app, offscreen'}: VAE on digits, batch {args.batch_size}, {run['epochs']} epochs = {run['steps']} steps in {run['seconds']} s")
    print("| seconds | step | RSS (MiB) | refs to None |\n|---|---|---|---|")
    for seconds, step, rss, nones in dict.fromkeys(rows):
        print(f"| {seconds} | {step} | {rss} | {nones} |")
    print(f"RSS after warm-up ({args.warmup:.0%} of the steps): {at_warm} MiB; at the end: {at_end} MiB; "
          f"growth after warm-up: {slope:+.2f} MiB per 1000 steps")
    if args.json:
        summary = {**run, "batch_size": args.batch_size, "rss_warm_mb": at_warm, "rss_end_mb": at_end,
                   "mb_per_1000_steps": slope, "samples": samples}
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: PySide6 and TensorFlow can crash finalizing together


if __name__ == "__main__":
    main()
