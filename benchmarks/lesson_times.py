"""Each lesson's time in the real studio: open it in the window (offscreen), Start its first run
through the lesson panel, and measure the wall time from Start to the first picture (a sample
grid, or the first snapshot of the GAN playground or the 1-D game on a toy) and to the end of the
run. Prints a table and writes benchmarks/results/lesson_times.json.

    python benchmarks/lesson_times.py [--only NAME ...] [--timeout 300]

The window's process stays free of TensorFlow: training runs in the app's own child process
(prewarmed, as when a teacher presses Start). The times include loading the dataset and building
the model; on a machine shared with other work they are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KGEN_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class LessonTimer:
    """Starts one lesson's first run in the window and notes when its first picture and its end come."""

    def __init__(self, window, lesson, timeout_s: float):
        self.window, self.lesson, self.timeout_s = window, lesson, timeout_s
        self.result: dict = {"lesson": lesson.name, "run": lesson.runs[0].name, "slides": list(lesson.slides),
                             "model": lesson.runs[0].config.train.model, "dataset": lesson.runs[0].config.train.dataset,
                             "epochs": lesson.runs[0].config.train.epochs, "claimed_s": lesson.seconds,
                             "first_picture_s": None, "end_s": None, "status": None}
        bridge = window.bridge
        self._hooks = [(bridge.samples, self._picture), (bridge.playground, self._picture), (bridge.game_1d, self._picture),
                       (bridge.finished, self._finished), (bridge.failed, self._failed)]

    def run(self, app) -> dict:
        for signal, slot in self._hooks:
            signal.connect(slot)
        self.window.open_lesson(self.lesson)
        self.started = time.monotonic()
        self.window.start_lesson_run(self.lesson.runs[0].name)
        while self.result["status"] is None and time.monotonic() - self.started < self.timeout_s:
            app.processEvents()
            time.sleep(0.01)
        if self.result["status"] is None:
            self.window.bridge.stop()
            self.result["status"] = "timed out"
        for signal, slot in self._hooks:
            signal.disconnect(slot)
        return self.result

    def _picture(self, *_) -> None:
        if self.result["first_picture_s"] is None:
            self.result["first_picture_s"] = round(time.monotonic() - self.started, 2)

    def _finished(self, event) -> None:
        self.result["end_s"] = round(time.monotonic() - self.started, 2)
        self.result["status"] = event["status"]

    def _failed(self, message: str) -> None:
        self.result["status"] = f"error: {message}"


def wait_idle(app, window, timeout_s: float = 60.0) -> None:
    """Let the window settle (the run's child ends, the spare for the next run loads)."""
    from kgen.services.training_process import wait_for_spare

    deadline = time.monotonic() + timeout_s
    while window.state != "idle" and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    wait_for_spare(timeout_s)  # the next Start should not wait for TensorFlow: a teacher's machine would not
    app.processEvents()


def table(results: list[dict]) -> str:
    lines = ["| lesson | slides | run | first picture (s) | end of run (s) | file says (s) | status |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['lesson']} | {', '.join(map(str, r['slides']))} | {r['model']} on {r['dataset']}, "
                     f"{r['epochs']} epochs | {r['first_picture_s'] if r['first_picture_s'] is not None else '-'} | "
                     f"{r['end_s'] if r['end_s'] is not None else '-'} | {r['claimed_s'] or '-'} | {r['status']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="lesson names (default: every lesson)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a run may take before it is stopped")
    parser.add_argument("--out", type=Path, default=RESULTS / "lesson_times.json")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from gui.lesson_views.history import LessonHistory
    from gui.main_window import MainWindow
    from kgen.lessons import lessons
    from kgen.safe_io import atomic_write_text
    from kgen.services.training_process import discard_spare

    app = QApplication.instance() or QApplication(sys.argv[:1])
    chosen = [lesson for lesson in lessons() if not args.only or lesson.name in args.only]
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="kgen-lesson-times-") as scratch:
        from PySide6.QtCore import QSettings

        history = LessonHistory(QSettings(f"{scratch}/settings.ini", QSettings.Format.IniFormat))
        window = MainWindow(runs_root=Path(scratch) / "runs", history=history)
        window.resize(1400, 900)
        window.show()
        try:
            for lesson in chosen:
                wait_idle(app, window)
                result = LessonTimer(window, lesson, args.timeout).run(app)
                print(f"{result['lesson']}: first picture {result['first_picture_s']} s, end {result['end_s']} s "
                      f"({result['status']})", flush=True)
                results.append(result)
        finally:
            window.close()
            discard_spare()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": len(os.sched_getaffinity(0)),
                          "load_average_before": load_before, "load_average_after": os.getloadavg()},
              "lessons": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(table(results))
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} ({report['machine']['cores']} cores); "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
