"""The studio's start: seconds from launching ``kgen-studio`` to the window's first paint, and the
window process's memory then and a few seconds later (whether it holds TensorFlow).

Each repeat launches the app in a fresh process (offscreen unless --display is given); a small
wrapper notes the first paint of the main window, then lets the app settle for --settle seconds
(the spare training process starts meanwhile) and quits it.

    python benchmarks/startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in the app's process: the app's own main(), with a watcher of the first paint.
_WRAPPER = r"""
import json, re, sys, time
launched = float(sys.argv[1]); settle = float(sys.argv[2])
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

def rss_mib():
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read())[1]) / 1024

result = {}
app = QApplication(sys.argv[:1])

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow) and "paint_s" not in result:
            result["paint_s"] = time.time() - launched
            result["rss_at_paint_mib"] = rss_mib()
            QTimer.singleShot(int(settle * 1000), finish)
        return False

def finish():
    result["rss_settled_mib"] = rss_mib()
    result["tensorflow"] = "tensorflow" in sys.modules
    result["keras"] = "keras" in sys.modules
    result["modules"] = len(sys.modules)
    app.quit()

watcher = FirstPaint()
app.installEventFilter(watcher)
from gui.app import main
main(["--runs", sys.argv[3]])
print("STARTUP " + json.dumps(result), flush=True)
"""


def launch(settle: float, runs: Path, display: str | None) -> dict:
    env = {**os.environ, "KGEN_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env["QT_QPA_PLATFORM"] = "xcb" if display else "offscreen"
    if display:
        env["DISPLAY"] = display
    launched = time.time()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, repr(launched), repr(settle), str(runs)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("STARTUP ")), None)
    if line is None:
        raise SystemExit(f"the app did not report its start (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(line.removeprefix("STARTUP "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after the first paint before quitting")
    parser.add_argument("--display", default=None, help="an X display (e.g. :7) instead of offscreen")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-startup"))
    args = parser.parse_args()
    results = []
    for i in range(args.repeats):
        result = launch(args.settle, args.runs, args.display)
        print(f"repeat {i + 1}: {result}", flush=True)
        results.append(result)
    summary = {name: statistics.median(r[name] for r in results)
               for name in ("paint_s", "rss_at_paint_mib", "rss_settled_mib")}
    print(f"median of {args.repeats}: start to first paint {summary['paint_s']:.2f} s, window process RSS "
          f"{summary['rss_at_paint_mib']:.0f} MiB at first paint, {summary['rss_settled_mib']:.0f} MiB after "
          f"{args.settle:g} s; TensorFlow imported: {results[-1]['tensorflow']}, Keras: {results[-1]['keras']}")


if __name__ == "__main__":
    main()
