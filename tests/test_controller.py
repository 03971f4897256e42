"""The training controllers: a worker thread (`TrainingController`) and a child process
(`ProcessController`, what the studio uses) keep one contract: events from start to finish,
pause / step / resume / stop at batch boundaries, learning-rate changes and saves."""

import subprocess
import sys
import time

import numpy as np
import pytest
from polling import ended, poll_until

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.errors import ConfigError
from kgen.events import FORMAT_VERSION
from kgen.runs import read_events
from kgen.safe_io import read_picture
from kgen.services.controller import Gate, TrainingController, fresh_run_dir
from kgen.services.training_process import ProcessController


def tiny_config(npz, epochs=3) -> RunConfig:
    return RunConfig(TrainConfig(dataset=f"npz:{npz}", epochs=epochs, batch_size=16, grid_size=4),
                     VAEConfig(latent_dim=2, hidden=(16,)))


def steps(events) -> list[int]:
    return [e["step"] for e in events if e["type"] == "step"]


@pytest.fixture(params=["thread", "process"])
def controller(request):
    """Each contract test runs against both controllers; a run left going is stopped."""
    made = TrainingController() if request.param == "thread" else ProcessController()
    yield made
    if made.is_running:
        made.stop()
        poll_until(made, ended)
    assert made.join(30)


def test_a_run_reports_start_steps_epochs_samples_and_end(controller, npz, tmp_path):
    controller.start(tiny_config(npz), tmp_path / "run")
    events = poll_until(controller, ended)
    assert controller.join(10)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "finished", kinds
    start, end = events[0], events[-1]
    assert start["steps_per_epoch"] == 4 and start["epochs"] == 3 and start["device"]
    assert steps(events) == list(range(1, 13))
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == [1, 2, 3]
    # Each epoch: its steps, its epoch record, its grid, its reconstructions (kgen.services.probes:
    # at most two a second, so the middle epoch's may be skipped; never the first's nor the last's);
    # then the records the run ends with, and the controller's own last word.
    shown = [e["epoch"] for e in events if e["type"] == "reconstructions"]
    assert shown[0] == 1 and shown[-1] == 3 and set(shown) <= {1, 2, 3}, shown
    expected = (["step"] * 4 + ["epoch", "samples"]) * 3 + ["end", "eval", "finished"]
    assert [k for k in kinds[1:] if k != "reconstructions"] == expected
    assert all(kinds[i - 1] == "samples" for i, k in enumerate(kinds) if k == "reconstructions")
    # The records the run wrote to events.jsonl are those that came: the same, in the same order.
    logged = read_events(tmp_path / "run" / "events.jsonl")
    assert [e.to_json() for e in events if e.on_disk] == [e.to_json() for e in logged]
    first, *_, last = [e for e in events if e["type"] == "step"]  # rates need two steps: the last has them
    assert {"loss", "reconstruction", "kl"} <= set(first["metrics"]) and last["images_per_second"] > 0
    assert last["images_per_second"] == pytest.approx(last["steps_per_second"] * 16)
    assert all(isinstance(v, float) for v in first["metrics"].values())
    samples = next(e for e in events if e["type"] == "samples")
    picture = samples["picture"]  # in memory, and just as the PNG on disk holds it
    assert isinstance(picture, np.ndarray) and picture.dtype == np.uint8 and picture.ndim in (2, 3)
    assert np.array_equal(picture, read_picture(tmp_path / "run" / samples["path"]))
    assert start["run_dir"] == str(tmp_path / "run") and start["format"] == FORMAT_VERSION
    assert end["status"] == "finished" and end["run_dir"] == str(tmp_path / "run")
    assert "elbo" in end["test"] and end["epochs_done"] == 3
    assert controller.poll() == []


def test_pause_step_and_resume(controller, npz, tmp_path):
    controller.start(tiny_config(npz), tmp_path / "run", paused=True)
    events = poll_until(controller, lambda ev: any(e["type"] == "start" for e in ev))
    time.sleep(1.0)
    events += controller.poll()
    assert steps(events) == [] and controller.is_paused  # paused before the first batch
    for expected in ([1], [1, 2]):
        controller.step()
        events += poll_until(controller, lambda ev: any(e["type"] == "step" for e in ev))
        time.sleep(1.0)  # and nothing more comes while paused
        events += controller.poll()
        assert steps(events) == expected
    controller.resume()
    events += poll_until(controller, ended)
    assert steps(events) == list(range(1, 13)) and events[-1]["status"] == "finished"


def test_stop_ends_early_with_a_consistent_run(controller, npz, tmp_path):
    controller.start(tiny_config(npz, epochs=500), tmp_path / "run")
    events = poll_until(controller, lambda ev: len(steps(ev)) >= 3)
    controller.stop()
    events += poll_until(controller, ended)
    assert controller.join(10)
    end = events[-1]
    assert end["type"] == "finished" and end["status"] == "stopped" and end["epochs_done"] < 500
    run = tmp_path / "run"
    assert (run / "config.json").is_file() and (run / "model.keras").is_file()
    logged = read_events(run / "events.jsonl")
    assert logged[0]["type"] == "start"
    assert next(e for e in logged if e["type"] == "end")["status"] == "stopped"


def test_stop_while_paused_does_not_hang(controller, npz, tmp_path):
    controller.start(tiny_config(npz, epochs=500), tmp_path / "run")
    poll_until(controller, lambda ev: len(steps(ev)) >= 1)
    controller.pause()
    time.sleep(0.3)
    controller.stop()
    events = poll_until(controller, ended)
    assert events[-1]["status"] == "stopped"


def test_errors_come_back_as_one_line(controller, tmp_path):
    controller.start(tiny_config(tmp_path / "missing.npz"), tmp_path / "run")
    events = poll_until(controller, ended)
    assert events[-1]["type"] == "error" and "missing.npz" in events[-1]["message"]
    assert "\n" not in events[-1]["message"]
    assert not (tmp_path / "run").exists()


def test_one_run_at_a_time(controller, npz, tmp_path):
    controller.start(tiny_config(npz, epochs=500), tmp_path / "a", paused=True)
    with pytest.raises(RuntimeError, match="already going"):
        controller.start(tiny_config(npz), tmp_path / "b")


def test_gate_step_while_running_pauses_after_the_current_batch():
    gate = Gate()
    gate.step()
    assert gate.paused
    gate.step()  # one batch granted
    assert gate.wait()
    gate.stop()
    assert not gate.wait()


def test_fresh_run_dir_never_reuses_a_name(tmp_path):
    config = RunConfig()
    first = fresh_run_dir(config, tmp_path)
    first.mkdir()
    second = fresh_run_dir(config, tmp_path)
    assert second != first and not second.exists()


def test_controller_never_imports_qt():
    script = (
        "import sys, kgen.services.controller, kgen.services.training_process\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_learning_rate_changes_at_a_batch_boundary_with_a_marker(controller, npz, tmp_path):
    from kgen.models.saving import load_model_file

    controller.start(tiny_config(npz, epochs=2), tmp_path / "run", paused=True)
    poll_until(controller, lambda ev: any(e["type"] == "start" for e in ev))
    controller.step()
    events = poll_until(controller, lambda ev: len(steps(ev)) == 1)
    with pytest.raises(ConfigError, match="learning rate"):
        controller.set_learning_rate(-1.0)
    controller.set_learning_rate(1e-5)  # applied while paused, before the next batch
    events += poll_until(controller, lambda ev: any(e["type"] == "hparam" for e in ev))
    marker = next(e for e in events if e["type"] == "hparam")
    assert marker["step"] == 1 and marker["name"] == "lr" and marker["new"] == 1e-5
    assert marker["old"] == pytest.approx(tiny_config(npz).train.lr)
    controller.resume()
    events += poll_until(controller, ended)
    logged = [e for e in read_events(tmp_path / "run" / "events.jsonl") if e["type"] == "hparam"]
    assert len(logged) == 1 and logged[0]["new"] == 1e-5 and logged[0]["step"] == 1
    model = load_model_file(tmp_path / "run" / "model.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-5)


def test_save_model_while_paused_writes_a_loadable_file(controller, npz, tmp_path):
    from kgen.models.saving import load_model_file

    controller.start(tiny_config(npz, epochs=500), tmp_path / "run", paused=True)
    poll_until(controller, lambda ev: any(e["type"] == "start" for e in ev))
    controller.save_model(tmp_path / "now.keras")
    events = poll_until(controller, lambda ev: any(e["type"] == "saved" for e in ev))
    saved = next(e for e in events if e["type"] == "saved")
    assert saved["path"] == str(tmp_path / "now.keras") and saved["step"] == 0
    assert load_model_file(tmp_path / "now.keras").latent_dim == 2
    controller.save_model(tmp_path / "missing-dir" / "x" / "\0bad.keras")
    events = poll_until(controller, lambda ev: any(e["type"] == "warning" for e in ev))
    assert "could not save" in events[-1]["message"] and controller.is_running  # training goes on
    controller.stop()
    poll_until(controller, ended)
    with pytest.raises(RuntimeError, match="no training run"):
        controller.save_model(tmp_path / "late.keras")


def test_gate_runs_submitted_actions_while_paused():
    import threading

    gate = Gate(paused=True)
    ran = []
    worker = threading.Thread(target=gate.wait)
    worker.start()
    gate.submit(lambda: ran.append(threading.current_thread() is worker))
    deadline = time.monotonic() + 5
    while not ran and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == [True] and worker.is_alive()  # ran in the worker, which stays paused
    gate.stop()
    worker.join(5)
    assert not worker.is_alive()
