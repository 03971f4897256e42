"""Is the studio fluid while it trains, and does watching cost training speed?

Two measurements, side by side in one script on this machine:

1. Event-loop ticks: a 10 ms Qt timer records when it fires while the real `MainWindow`
   (offscreen) trains; the longest gap and the 99th percentile gap between ticks say how long
   the window could not react (targets: < 100 ms, p99 < 50 ms).
2. Training speed with the GUI attached vs the CLI alone: the same config trained by the window
   and by ``kgen train`` (a subprocess), alternating, several repeats. Both speeds come from the
   run's own events.jsonl (images between the first and last step event, over the time between
   them), so they count exactly the same work (target ratio >= 0.9).

The window trains the way the app does, in a child process (``process``), and, for comparison
in the same run, in a thread of the window's own process (``thread``, what the app did before)
and in the app's child process with no window at all (``headless``: what the training process
itself costs, apart from drawing). Gaps over 50 ms are printed with where in the run they fell.
Before each run the script waits until no training process is loading TensorFlow, so no run
shares the machine with an import.

Usage: python benchmarks/ui_responsiveness.py [--repeats 3] [--epochs 30] [--model vae] [--arch mlp]
       [--dataset digits] [--batch-size 32] [--workers process,thread,headless,mesh]
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


def set_up(panel, args) -> None:
    """Fill the setup panel as a user would for this benchmark's config."""
    panel.model.setCurrentText(args.model)
    index = panel.dataset.findData(args.dataset)
    if index < 0:
        panel.add_dataset(args.dataset)
    else:
        panel.dataset.setCurrentIndex(index)
    panel.epochs.setValue(args.epochs)
    panel.arch.setCurrentText(args.arch)
    panel.batch_size.setValue(args.batch_size)


def gui_run(args, app, runs_root: Path, worker: str) -> tuple[float, np.ndarray, float]:
    """Train through the window's own Start button, in a child process or a thread (``worker``);
    returns (images/s, gaps between ticks in ms, the window process's CPU time over its wall
    time while the run went)."""
    from PySide6.QtCore import QEvent, QEventLoop, Qt, QTimer

    from gui.main_window import MainWindow
    from kgen.services.controller import TrainingController
    from kgen.services.training_process import ProcessController, wait_for_spare

    controller = ProcessController() if worker in ("process", "mesh") else TrainingController()
    wait_for_spare()
    window = MainWindow(runs_root=runs_root, controller=controller)
    window.show()
    set_up(window.setup_panel, args)
    if worker == "mesh":  # the GAN playground showing G's mesh instead of the heat map
        window.playground.backdrop.setCurrentIndex(1)
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    done: list[dict] = []
    loop = QEventLoop()  # the app's own kind of loop: idle in Qt, not holding Python's GIL
    window.bridge.finished.connect(lambda event: (done.append(event), loop.quit()))
    window.bridge.failed.connect(lambda message: (done.append({"error": message}), loop.quit()))
    cpu, wall = time.process_time(), time.perf_counter()
    window.start_training()
    timer.start()
    loop.exec()
    timer.stop()
    cpu_share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    if "error" in done[0]:
        raise SystemExit(f"the GUI run failed: {done[0]['error']}")
    run_dir = Path(done[0]["run_dir"])
    window.close()
    window.deleteLater()  # each run's window goes now, not in Python's teardown
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # Ticks from the first step event to the end: the part of the run that trains.
    first_step = next(e for e in read_events(run_dir / "events.jsonl") if e["type"] == "step")["time"]
    offset = time.time() - time.perf_counter()
    stamps = np.array([t for t in ticks if t + offset >= first_step])
    gaps = np.diff(stamps)
    if len(gaps) and gaps.max() > 0.05:  # where a long gap fell, to find its cause
        at = int(gaps.argmax())
        print(f"  {worker}: a {1000 * gaps[at]:.0f} ms gap began {stamps[at] + offset - first_step:.2f} s after the "
              f"first step, {stamps[-1] - stamps[at]:.2f} s before the run ended", flush=True)
    return images_per_second(run_dir, args.batch_size), gaps * 1000.0, cpu_share


def headless_run(args, runs_root: Path) -> tuple[float, float]:
    """The app's training process with no window: the same config (from the setup panel) and
    the same child, its events drained every 100 ms and dropped. Separates what the training
    process costs (its callbacks, live probes, the pipe) from what drawing them costs."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from gui.setup_panel import SetupPanel
    from kgen.runs import fresh_run_dir
    from kgen.services.training_process import ProcessController, wait_for_spare

    panel = SetupPanel()
    set_up(panel, args)
    config = panel.config()
    panel.deleteLater()  # now, not in Python's teardown (where two unparented panels crashed it)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    controller = ProcessController()
    wait_for_spare()
    cpu, wall = time.process_time(), time.perf_counter()
    run_dir = controller.start(config, fresh_run_dir(config, runs_root))
    events: list[dict] = []
    while not any(e["type"] in ("finished", "error") for e in events):
        time.sleep(0.1)
        events = controller.poll()[-1:] or events
    if events[-1]["type"] == "error":
        raise SystemExit(f"the headless run failed: {events[-1]['message']}")
    cpu_share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    return images_per_second(run_dir, args.batch_size), cpu_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="process,thread,headless",
                        help="comma-separated: process (the window trains in a child process, the app's way), "
                             "thread (in a thread of the window's process), headless (the child process, no window), "
                             "mesh (as process, the GAN playground showing G's mesh)")
    args = parser.parse_args()
    workers = args.workers.split(",")

    from PySide6.QtWidgets import QApplication

    import gui.main_window  # noqa: F401  (imported before freezing, as in the app)
    from gui.app import freeze_imports
    from kgen.services.training_process import discard_spare, wait_for_spare

    app = QApplication.instance() or QApplication([])
    freeze_imports()  # as the app does
    root = Path(tempfile.mkdtemp(prefix="kgen-ui-bench-"))
    speeds: dict[str, list[float]] = {name: [] for name in [*workers, "cli"]}
    gaps: dict[str, list[np.ndarray]] = {name: [] for name in workers if name != "headless"}
    cpu: dict[str, list[float]] = {name: [] for name in workers}
    for i in range(args.repeats):  # alternate, so drift in the machine's load hits all alike
        for worker in workers:
            if worker == "headless":
                speed, share = headless_run(args, root / "headless")
            else:
                speed, run_gaps, share = gui_run(args, app, root / "gui", worker)
                gaps[worker].append(run_gaps)
            speeds[worker].append(speed)
            cpu[worker].append(share)
        wait_for_spare()  # the next training process has loaded: nothing else runs beside the CLI
        speeds["cli"].append(cli_run(args, root / f"cli-{i}"))
        print(f"repeat {i + 1}: " + ", ".join(
            f"{w} {speeds[w][-1]:,.0f} images/s" + (f" (longest tick gap {gaps[w][-1].max():.0f} ms)" if w in gaps else "")
            for w in workers) + f"; CLI {speeds['cli'][-1]:,.0f} images/s", flush=True)
    cli = statistics.median(speeds["cli"])
    print()
    print(f"{args.arch} {args.model} on {args.dataset}, batch {args.batch_size}, {args.epochs} epochs, "
          f"{args.repeats} alternating repeats; training images/s, CLI alone (median): {cli:,.0f}")
    print()
    print("| training in | longest tick gap | p99 gap | median gap | images/s (median) | / CLI (ratio of medians) "
          "| / CLI (median of each repeat's ratio) | CPU of the app's own process (% of one core) |")
    print("|---|---|---|---|---|---|---|---|")
    names = {"process": "a child process, window attached (the app)", "thread": "a thread of the window's process",
             "headless": "the app's child process, no window",
             "mesh": "a child process, window attached, playground showing G's mesh"}
    for worker in workers:
        if worker in gaps:
            all_gaps = np.concatenate(gaps[worker])
            shown = f"{all_gaps.max():.1f} ms | {np.percentile(all_gaps, 99):.1f} ms | {np.median(all_gaps):.1f} ms"
        else:
            shown = "– | – | –"
        speed = statistics.median(speeds[worker])
        paired = statistics.median(g / c for g, c in zip(speeds[worker], speeds["cli"], strict=True))
        share = 100 * statistics.median(cpu[worker])
        note = " (training included)" if worker == "thread" else ""
        print(f"| {names[worker]} | {shown} | {speed:,.0f} | {speed / cli:.3f} | {paired:.3f} | {share:.1f}%{note} |")
    print("| targets | < 100 ms | < 50 ms | | | >= 0.9 | >= 0.9 | |")
    discard_spare()  # as the app does when it closes


if __name__ == "__main__":
    main()
