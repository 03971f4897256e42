"""Is the studio fluid while it trains, and does watching cost training speed?

Two measurements, side by side in one script on this machine:

1. Event-loop ticks: a 10 ms Qt timer records when it fires while the real `MainWindow`
   (offscreen) trains; the longest gap and the 99th percentile gap between ticks say how long
   the window could not react (targets: < 100 ms, p99 < 50 ms).
2. Training speed with the GUI attached vs the CLI alone: the same config trained by the window
   (in this process) and by ``kgen train`` (a subprocess), alternating, several repeats. Both
   speeds come from the run's own events.jsonl (images between the first and last step event,
   over the time between them), so they count exactly the same work (target ratio >= 0.9).

Usage: python benchmarks/ui_responsiveness.py [--repeats 3] [--epochs 30] [--model vae] [--arch mlp]
       [--dataset digits] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from kgen.runs import read_events  # noqa: E402

TICK_MS = 10


def images_per_second(run_dir: Path, batch_size: int) -> float:
    """Training speed recorded in a run's events.jsonl, from its first to its last step event."""
    steps = [e for e in read_events(run_dir / "events.jsonl") if e["type"] == "step"]
    first, last = steps[0], steps[-1]
    return (last["step"] - first["step"]) * batch_size / (last["time"] - first["time"])


def cli_run(args, run_dir: Path) -> float:
    command = [sys.executable, "-m", "kgen.cli", "train", args.model, "--dataset", args.dataset,
               "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--arch", args.arch,
               "--out", str(run_dir)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "KGEN_OFFLINE": "1"})
    return images_per_second(run_dir, args.batch_size)


def gui_run(args, app, runs_root: Path) -> tuple[float, np.ndarray]:
    """Train through the window's own Start button; returns (images/s, gaps between ticks in ms)."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    from gui.main_window import MainWindow

    window = MainWindow(runs_root=runs_root)
    window.show()
    panel = window.setup_panel
    panel.model.setCurrentText(args.model)
    panel.add_dataset(args.dataset) if panel.dataset.findData(args.dataset) < 0 else \
        panel.dataset.setCurrentIndex(panel.dataset.findData(args.dataset))
    panel.epochs.setValue(args.epochs)
    panel.arch.setCurrentText(args.arch)
    panel.batch_size.setValue(args.batch_size)
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    done: list[dict] = []
    loop = QEventLoop()  # the app's own kind of loop: idle in Qt, not holding Python's GIL
    window.bridge.finished.connect(lambda event: (done.append(event), loop.quit()))
    window.bridge.failed.connect(lambda message: (done.append({"error": message}), loop.quit()))
    window.start_training()
    timer.start()
    loop.exec()
    timer.stop()
    if "error" in done[0]:
        raise SystemExit(f"the GUI run failed: {done[0]['error']}")
    run_dir = Path(done[0]["run_dir"])
    window.close()
    # Ticks from the first step event to the end: the part of the run that trains.
    first_step = next(e for e in read_events(run_dir / "events.jsonl") if e["type"] == "step")["time"]
    offset = time.time() - time.perf_counter()
    stamps = np.array([t for t in ticks if t + offset >= first_step])
    return images_per_second(run_dir, args.batch_size), np.diff(stamps) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    root = Path(tempfile.mkdtemp(prefix="kgen-ui-bench-"))
    gui_speeds, cli_speeds, gaps = [], [], []
    for i in range(args.repeats):  # alternate, so drift in the machine's load hits both alike
        speed, run_gaps = gui_run(args, app, root / "gui")
        gui_speeds.append(speed)
        gaps.append(run_gaps)
        cli_speeds.append(cli_run(args, root / f"cli-{i}"))
        print(f"repeat {i + 1}: GUI {gui_speeds[-1]:,.0f} images/s (longest tick gap {run_gaps.max():.0f} ms), "
              f"CLI {cli_speeds[-1]:,.0f} images/s", flush=True)
    all_gaps = np.concatenate(gaps)
    gui, cli = statistics.median(gui_speeds), statistics.median(cli_speeds)
    print()
    print(f"| {args.arch} {args.model} on {args.dataset}, batch {args.batch_size}, {args.epochs} epochs, "
          f"{args.repeats} alternating repeats | value | target |")
    print("|---|---|---|")
    print(f"| longest gap between {TICK_MS} ms event-loop ticks while training | {all_gaps.max():.1f} ms | < 100 ms |")
    print(f"| 99th percentile gap | {np.percentile(all_gaps, 99):.1f} ms | < 50 ms |")
    print(f"| median gap | {np.median(all_gaps):.1f} ms | |")
    print(f"| training images/s, GUI attached (median) | {gui:,.0f} | |")
    print(f"| training images/s, CLI alone (median) | {cli:,.0f} | |")
    print(f"| ratio GUI / CLI | {gui / cli:.3f} | >= 0.9 |")


if __name__ == "__main__":
    main()
