"""Does the window stay fluid while it computes with a model, and how fast does a slider answer?

In the real `MainWindow` (offscreen), on a run trained beforehand by the CLI in its own process:

1. Slider round trip: a latent slider moves (as one step of a drag) and the time until the
   decoded image is handed to the picture is taken, one step at a time (target: median < 10 ms).
2. Event-loop gaps while the scatter's t-SNE runs, and while the Evaluate tab computes IWAE-k
   (k = --iwae-k, default 5000, over --limit test images): a 10 ms Qt timer records when it
   fires; the longest gap is how long the window could not react (target < 100 ms).

It also says whether the window's process imported TensorFlow. Run it on another checkout
(PYTHONPATH=that checkout) for a before/after comparison: it uses only the views' widgets.

Usage: python benchmarks/window_compute.py [--dataset digits] [--epochs 5] [--steps 200]
       [--iwae-k 5000] [--limit 0]
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
os.environ.setdefault("KGEN_OFFLINE", "1")

import numpy as np  # noqa: E402

TICK_MS = 10


def train_run(args, root: Path) -> Path:
    """A small VAE trained by ``kgen train`` in a process of its own (so this one imports no TensorFlow)."""
    run = root / "vae"
    subprocess.run([sys.executable, "-m", "kgen.cli", "train", "vae", "--dataset", args.dataset, "--epochs",
                    str(args.epochs), "--latent-dim", "8", "--arch", "mlp", "--out", str(run)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return run


def run_until(app, condition, timeout: float = 600.0) -> None:
    """Let the event loop run (as the app's own loop does) until ``condition()`` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    checker = QTimer()
    checker.setInterval(20)
    deadline = time.monotonic() + timeout
    checker.timeout.connect(lambda: (condition() or time.monotonic() > deadline) and loop.quit())
    checker.start()
    loop.exec()
    checker.stop()
    if not condition():
        raise SystemExit("timed out")


def gaps_while(app, start, finished) -> np.ndarray:
    """Milliseconds between the ticks of a 10 ms timer from ``start()`` until ``finished()``."""
    from PySide6.QtCore import Qt, QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    begun = time.perf_counter()
    start()
    run_until(app, finished)
    timer.stop()
    stamps = np.array(ticks)
    gaps = np.diff(stamps) * 1000.0
    at = int(gaps.argmax())  # where the longest gap fell, to find its cause
    print(f"  {time.perf_counter() - begun:.1f} s; the longest gap, {gaps[at]:.0f} ms, began "
          f"{stamps[at] - begun:.2f} s after the start, {stamps[-1] - stamps[at]:.2f} s before the end", flush=True)
    return gaps


def slider_round_trips(app, view, steps: int) -> np.ndarray:
    """Milliseconds from a slider's new value to its decoded image reaching the picture, one step at a time."""
    from PySide6.QtCore import QEventLoop

    shown: list[float] = []
    show = view.decoded.set_picture
    view.decoded.set_picture = lambda *a, **k: (shown.append(time.perf_counter()), show(*a, **k))
    slider = view.sliders[0]
    times = []
    for i in range(steps):
        before = len(shown)
        start = time.perf_counter()
        slider.setValue(slider.minimum() + (i * 7) % (slider.maximum() - slider.minimum()))
        while len(shown) == before:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        times.append(shown[-1] - start)
    view.decoded.set_picture = show
    return np.array(times[5:]) * 1000.0  # the first few warm the path up


def summary(gaps: np.ndarray) -> str:
    return f"{gaps.max():.1f} ms | {np.percentile(gaps, 99):.1f} ms | {np.median(gaps):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--iwae-k", type=int, default=5000)
    parser.add_argument("--limit", type=int, default=0, help="test images evaluated (0: all)")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    import gui.main_window
    from gui.app import freeze_imports

    root = Path(tempfile.mkdtemp(prefix="kgen-window-bench-"))
    run = train_run(args, root)
    app = QApplication.instance() or QApplication([])
    freeze_imports()  # as the app does
    window = gui.main_window.MainWindow(runs_root=root / "runs")
    window.resize(1400, 900)
    window.show()
    latent = window.latent_view
    latent.load_run(run)
    run_until(app, lambda: latent.data is not None and latent.decoded.picture() is not None)
    spare = getattr(sys.modules.get("kgen.services.training_process"), "wait_for_spare", None)
    if spare is not None:
        spare(300)  # no process is loading TensorFlow while this measures
    trips = slider_round_trips(app, latent, args.steps)
    print(f"slider round trip: median {np.median(trips):.2f} ms, p95 {np.percentile(trips, 95):.2f} ms, "
          f"max {trips.max():.1f} ms ({len(trips)} steps)", flush=True)

    scatter = latent.scatter
    tsne = gaps_while(app, lambda: scatter.projection.setCurrentText("t-SNE"),
                      lambda: scatter.note.text().startswith("t-SNE of"))
    evaluate = window.evaluate_view
    evaluate.set_run(run)
    evaluate.iwae_k.setValue(args.iwae_k)
    evaluate.limit.setValue(args.limit)
    iwae = gaps_while(app, evaluate.evaluate, lambda: not evaluate.busy)
    print(f"  evaluate: {evaluate.status.text()}")
    print()
    print(f"VAE (mlp, z=8) on {args.dataset}; TensorFlow imported by the window's process: "
          f"{'tensorflow' in sys.modules}, Keras: {'keras' in sys.modules}")
    print()
    print("| while | longest tick gap | p99 gap | median gap |")
    print("|---|---|---|---|")
    print(f"| t-SNE of the scatter's codes | {summary(tsne)} |")
    print(f"| IWAE-{args.iwae_k} in the Evaluate tab | {summary(iwae)} |")
    print(f"| slider round trip (median, p95) | {statistics.median(trips):.2f} ms, "
          f"{np.percentile(trips, 95):.2f} ms | | |")
    window.close()


if __name__ == "__main__":
    main()
