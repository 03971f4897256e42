"""The window's process never imports TensorFlow or Keras: every computation with a model (the
latent explorer, evaluation) runs in a worker process. Checked in a fresh process running the
app's own `gui.app.main`, so the imports of other tests do not count."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from latent_runs import trained_vae_run

pytest.importorskip("PySide6")

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300

# Runs the app as `kgen-studio` does; with a run directory it also explores and evaluates it
# through the views, then reports what the window's process imported.
_APP = r"""
import json, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

runs, run, mode = sys.argv[1], sys.argv[2] or None, sys.argv[3]
app = QApplication(sys.argv[:1])
found = {}

def window():
    return next(w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow")

def explore():
    view = window().latent_view
    view.load_run(run)
    wait(lambda: view.data is not None and view.decoded.picture() is not None, lambda: decoded(view))

def decoded(view):
    first = view.decoded.picture()
    view.sliders[0].setValue(view.sliders[0].maximum())
    view.scatter.projection.setCurrentText("t-SNE")
    wait(lambda: "t-SNE of" in view.scatter.note.text() and view.decoded.picture() is not first,
         evaluate)

def evaluate():
    view = window().evaluate_view
    view.set_run(run)
    view.iwae_k.setValue(5)
    view.limit.setValue(50)
    wait(view.evaluate_button.isEnabled, lambda: scores(view))  # offered once a thread has read the run

def scores(view):
    view.evaluate()
    wait(lambda: not view.busy, lambda: (found.update(scores=sorted(view.scores), status=view.status.text()),
                                         report()))

def wait(condition, then, deadline=[time.monotonic() + 240]):
    if condition() or time.monotonic() > deadline[0]:
        then()
    else:
        QTimer.singleShot(50, lambda: wait(condition, then))

def report():
    found.update(tensorflow="tensorflow" in sys.modules, keras="keras" in sys.modules,
                 latent=window().latent_view.status.text(), scatter=window().latent_view.scatter.note.text())
    print("FOUND " + json.dumps(found), flush=True)
    app.closeAllWindows()

def follow():
    window().open_run(run)
    wait(lambda: window().monitor.state() in ("finished", "stopped"),
         lambda: (found.update(state=window().monitor.state()), report()))

QTimer.singleShot(300, {"explore": explore, "follow": follow, "start": report}[mode])
from gui.app import main
sys.exit(main(["--runs", runs]))
"""


def run_app(tmp_path, run: Path | None = None, mode: str = "start") -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "KGEN_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", _APP, str(tmp_path / "runs"), str(run or ""), mode], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("FOUND ")), None)
    assert line is not None and done.returncode == 0, done.stderr[-3000:]
    return json.loads(line.removeprefix("FOUND "))


def test_the_app_window_starts_without_tensorflow(tmp_path):
    found = run_app(tmp_path)
    assert not found["tensorflow"] and not found["keras"]


def test_exploring_and_evaluating_a_run_keep_tensorflow_out_of_the_window(tmp_path, tmp_path_factory):
    found = run_app(tmp_path, trained_vae_run(tmp_path_factory, beta=1.0), "explore")
    assert "iwae_5" in found["scores"] and "elbo" in found["scores"], found
    assert "error" not in found["latent"] and found["scatter"].startswith("t-SNE of"), found
    assert not found["tensorflow"] and not found["keras"], found


def test_following_a_run_keeps_tensorflow_out_of_the_window(tmp_path):
    """Monitor mode reads the run's config (describe_run) and pictures without TensorFlow."""
    found = run_app(tmp_path, ROOT / "tests" / "data" / "v1" / "vae-digits", "follow")
    assert found["state"] == "finished", found
    assert not found["tensorflow"] and not found["keras"], found


def test_the_windows_model_facts_match_the_models():
    from gui.latent_explorer.interpolate_view import INTERPOLATIONS
    from kgen.eval import latent

    # Step metrics come from kgen.registry; build_model checks them against each model
    # (tests/test_registry.py builds every kind).
    assert INTERPOLATIONS == latent.INTERPOLATIONS
