"""Faults during and around training: a diverging loss, Stop mid-epoch, a full disk, model files
that must not load, and run directories that must open read-only."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from polling import TIMEOUT, ended, poll_until

from kgen.cli import main
from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.errors import RunError
from kgen.models.saving import load_model_file, load_run_model
from kgen.runs import EventLog, Run, read_events
from kgen.services.controller import TrainingController
from kgen.train.guards import TrainingFault
from kgen.train.training import train


def tiny_config(npz, epochs=1, **train_options) -> RunConfig:
    """A small VAE whose learned decoder variance makes a too-high learning rate blow up fast."""
    return RunConfig(TrainConfig(dataset=f"npz:{npz}", epochs=epochs, batch_size=16, grid_size=4, **train_options),
                     VAEConfig(latent_dim=2, hidden=(16,), likelihood="gaussian-learned"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class RaiseLearningRate(keras.callbacks.Callback):
    """Fault injection: from epoch ``at`` on, train with a learning rate that diverges."""

    def __init__(self, at: int, lr: float = 10.0):
        super().__init__()
        self.at, self.lr = at, lr

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.at:
            self.model.optimizer.learning_rate = self.lr


# ----------------------------------------------------------------- non-finite loss

@pytest.fixture(scope="module")
def one_good_epoch(tmp_path_factory):
    """A run with one healthy epoch: the checkpoint a later divergence must not touch."""
    root = tmp_path_factory.mktemp("nan")
    x = np.random.default_rng(0).random((96, 8, 8, 1)).astype("float32")
    np.savez(root / "data.npz", x=x)
    train(tiny_config(root / "data.npz"), root / "run", verbose=0)
    return root


def test_divergence_stops_with_the_step_cause_and_fix_and_keeps_the_last_good_checkpoint(one_good_epoch, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(one_good_epoch / "run", run_dir)
    run = Run(run_dir)
    saved = [*run.checkpoints_dir.iterdir(), run.model_path]
    kept = {p.name: digest(p) for p in saved}
    with pytest.raises(TrainingFault) as caught:
        train(tiny_config(one_good_epoch / "data.npz", epochs=3), run_dir, resume=True, verbose=0,
              extra_callbacks=[RaiseLearningRate(at=2)])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("training diverged at step ")
    assert "(epoch 2)" in message and ("became nan" in message or "became inf" in message)
    assert "learning rate 10 is likely too high" in message and "lr 1 " in message
    assert "the last good checkpoint latest-0001.keras is kept" in message
    # Nothing was saved from the broken weights: checkpoints and model byte for byte as before.
    assert {p.name: digest(p) for p in [*run.checkpoints_dir.iterdir(), run.model_path]} == kept
    assert not run.sample_path(2).exists()
    model = load_model_file(run.latest_checkpoint()[0])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    error = read_events(run.events_path)[-1]
    assert error["type"] == "error" and error["fault"] == "non-finite" and error["message"] == message
    assert error["epoch"] == 2 and error["step"] > 6  # steps of epoch 1 were 1..6


def test_cli_reports_divergence_as_one_line_and_exit_2(tiny_npz, tmp_path, capsys):
    args = ["train", "vae", "--dataset", f"npz:{tiny_npz}", "--epochs", "2", "--batch-size", "16",
            "--latent-dim", "2", "--lr", "10", "--likelihood", "gaussian-learned", "--out", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kgen: error: training diverged at step ")
    assert "likely too high" in err and "--lr 1 " in err and "no checkpoint was written" in err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_controller_reports_divergence_and_can_train_again(tiny_npz, tmp_path):
    controller = TrainingController()
    controller.start(tiny_config(tiny_npz, epochs=2, lr=10.0), tmp_path / "bad")
    events = poll_until(controller, ended)
    assert controller.join(10)
    assert events[-1]["type"] == "error" and "training diverged at step" in events[-1]["message"]
    assert "\n" not in events[-1]["message"]
    controller.start(tiny_config(tiny_npz), tmp_path / "good")  # the app stays usable
    events = poll_until(controller, ended)
    assert events[-1]["type"] == "finished" and events[-1]["status"] == "finished"


# ----------------------------------------------------------------- Stop at a batch boundary

def test_stop_mid_epoch_saves_an_interrupted_checkpoint_that_resume_does_not_count(tiny_npz, tmp_path):
    controller = TrainingController()
    run_dir = controller.start(tiny_config(tiny_npz, epochs=2), tmp_path / "run", paused=True)
    events: list[dict] = []
    for n in (1, 2, 3):  # exactly three batches, then Stop
        controller.step()
        while sum(e["type"] == "step" for e in events) < n:
            events += poll_until(controller, bool)
    controller.stop()
    events += poll_until(controller, ended)
    assert controller.join(10)
    assert events[-1]["status"] == "stopped" and events[-1]["epochs_done"] == 0
    run = Run(run_dir)
    assert [p.name for p in run.checkpoints_dir.glob("*.keras")] == ["interrupted-0000-000003.keras"]
    assert int(load_model_file(run.latest_checkpoint()[0]).optimizer.iterations) == 3
    logged = read_events(run.events_path)
    assert not any(e["type"] in ("epoch", "samples") for e in logged)  # the partial epoch is not one
    assert next(e for e in logged if e["type"] == "end")["status"] == "stopped"

    result = train(tiny_config(tiny_npz, epochs=2), run_dir, resume=True, verbose=0)
    assert result.epochs_done == 2 and not result.stopped
    logged = read_events(run.events_path)
    assert [e["epoch"] for e in logged if e["type"] == "epoch"] == [1, 2]
    assert [e["step"] for e in logged if e["type"] == "step"] == list(range(1, 13))
    assert sorted(p.name for p in run.checkpoints_dir.glob("*.keras")) == ["best.keras", "latest-0002.keras"]
    assert int(load_model_file(run.model_path).optimizer.iterations) == 2 * 6 + 3  # the 3 batches kept


def test_stop_on_an_epochs_last_batch_ends_that_whole_epoch(tiny_npz, tmp_path):
    class StopAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 == self.params["steps"]:
                self.model.stop_training = True

    result = train(tiny_config(tiny_npz, epochs=3), tmp_path / "run", extra_callbacks=[StopAt()], verbose=0)
    assert result.stopped and result.epochs_done == 1
    assert [p.name for p in result.run.checkpoints_dir.glob("latest-*")] == ["latest-0001.keras"]
    assert not list(result.run.checkpoints_dir.glob("interrupted-*"))


# ----------------------------------------------------------------- full disk

def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(one_good_epoch, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(one_good_epoch / "run", run_dir)
    before = digest(run_dir / "checkpoints" / "latest-0001.keras")
    real_save = keras.Model.save

    def full_disk(self, filepath, *args, **kwargs):
        if "latest-" in Path(filepath).name:
            Path(filepath).write_bytes(b"PK\x03\x04 half a checkpoint")
            raise OSError(28, "No space left on device")
        return real_save(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", full_disk)
    assert main(["train", "vae", "--resume", str(run_dir), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"cannot write {run_dir / 'checkpoints' / 'latest-0002.keras'}: No space left on device" in err
    assert digest(run_dir / "checkpoints" / "latest-0001.keras") == before
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "best.json", "best.keras", "latest-0001.keras"]  # the half-written temporary is gone
    monkeypatch.undo()
    assert main(["train", "vae", "--resume", str(run_dir), "--epochs", "2"]) == 0  # space again


def test_full_disk_while_logging_an_event_names_the_file(tmp_path):
    class FullDisk(io.StringIO):
        def write(self, text):
            raise OSError(28, "No space left on device")

    log = EventLog(tmp_path / "events.jsonl")
    log._file.close()
    log._file = FullDisk()
    with pytest.raises(RunError, match=r"cannot write .*events.jsonl: No space left on device$"):
        log.write("step", step=1)
    log.close()  # quietly: the write already said what went wrong


def namespace_can_mount() -> bool:
    """Whether `unshare --mount` lets this process mount (root with CAP_SYS_ADMIN, Linux)."""
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--mount", "mount", "-t", "tmpfs", "tmpfs", "/mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not namespace_can_mount(), reason="needs unshare --mount (root) for a real tmpfs")
def test_real_full_tmpfs_while_training(one_good_epoch, tmp_path):
    """The same on a real, tiny tmpfs (in a private mount namespace): whatever write fails
    first, the error is one line naming the path and the previous checkpoint still loads."""
    source = one_good_epoch / "run"
    used = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    checkpoint = (source / "checkpoints" / "latest-0001.keras").stat().st_size
    disk = tmp_path / "disk"
    disk.mkdir()
    size_kb = (used + checkpoint // 2) // 1024 + 64  # room for the run, not for a second checkpoint
    script = (f"mount -t tmpfs -o size={size_kb}k tmpfs {disk} && cp -a {source} {disk}/run && "
              f"{sys.executable} -m kgen.cli train vae --resume {disk}/run --epochs 3; echo rc=$?; "
              f"{sys.executable} -c 'from kgen.runs import Run; from kgen.models.saving import load_model_file; print(load_model_file(Run(\"{disk}/run\").latest_checkpoint()[0]).name)'")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert "rc=2" in done.stdout, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("kgen: error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and f"{disk}/run/" in errors[0]
    assert "Traceback" not in done.stderr
    assert done.stdout.strip().splitlines()[-1]  # the old checkpoint loaded (its model's name)


# ----------------------------------------------------------------- model files that must not load

def test_lambda_layer_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "ran"
    touches = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t * 2)[1]")  # noqa: S307
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(touches)(inputs)  # runs when the model is built, or loaded unsafely
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    marker.unlink()
    with pytest.raises(RunError, match=r"lambda.keras could not be loaded.*Lambda.*safe_mode"):
        load_model_file(tmp_path / "lambda.keras")
    assert not marker.exists()
    keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=False)  # what safe_mode prevents
    assert marker.exists()


def test_a_config_naming_a_python_function_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps({"module": "os", "class_name": "system", "registered_name": None,
                                              "config": {"command": f"touch {marker}"}}))
        z.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
    with pytest.raises(RunError, match="evil.keras could not be loaded as a kgen model"):
        load_model_file(path)
    assert not marker.exists()


def test_resume_refuses_a_dataset_of_another_shape(one_good_epoch, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(one_good_epoch / "run", run_dir)
    data = tmp_path / "data.npz"
    np.savez(data, x=np.zeros((96, 6, 6, 1), np.float32))  # the run's dataset, changed under it
    config = json.loads((run_dir / "config.json").read_text())
    config["train"]["dataset"] = f"npz:{data}"
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunError, match=r"latest-0001.keras expects data of shape \(8, 8, 1\), the dataset has \(6, 6, 1\)"):
        train(tiny_config(data, epochs=2), run_dir, resume=True, verbose=0)


# ----------------------------------------------------------------- read-only run directories

def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_reading_a_run_writes_nothing(one_good_epoch):
    run_dir = one_good_epoch / "run"
    before = tree_state(run_dir)
    run = Run.open(run_dir)
    assert read_events(run.events_path) and run.config().train.epochs == 1 and run.best_record()
    assert run.latest_checkpoint()[1] == 1 and load_run_model(run).decode
    assert tree_state(run_dir) == before


READER = """
import sys
from kgen.runs import Run, read_events
from kgen.models.saving import load_run_model
run = Run.open(sys.argv[1])
events = read_events(run.events_path)
model = load_run_model(run)
print(len(events), run.latest_checkpoint()[1], type(model).__name__, run.best_record()["epoch"])
"""


def test_a_read_only_run_directory_opens(one_good_epoch, tmp_path):
    """Run.open, read_events and load_run_model on a directory nothing may write to: a read-only
    bind mount as root (chmod binds no root process), chmod otherwise."""
    run_dir = tmp_path / "run"
    shutil.copytree(one_good_epoch / "run", run_dir)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-c", READER, str(run_dir)]
    if os.geteuid() == 0:
        if not namespace_can_mount():
            pytest.skip("root without unshare --mount: cannot make a directory read-only")
        mount = f"mount --bind -o ro {run_dir} {run_dir} && touch {run_dir}/probe; exec \"$@\""
        command = ["unshare", "--mount", "sh", "-c", mount, "sh", *command]
    else:
        for p in [run_dir, *run_dir.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Read-only file system" in done.stderr or os.geteuid() != 0  # the mount really was read-only
    count, epoch, kind, best = done.stdout.split()
    assert int(count) > 5 and epoch == "1" and kind == "VAE" and best == "1"


def test_the_app_shows_a_divergence_and_trains_again(qtbot, tiny_npz, tmp_path):
    pytest.importorskip("PySide6")
    from PySide6.QtCore import Qt

    from gui.main_window import MainWindow

    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    panel = window.setup_panel
    panel.model.setCurrentText("vae")
    panel.add_dataset(f"npz:{tiny_npz}")
    panel.latent_dim.setValue(2)
    panel.epochs.setValue(2)
    panel.batch_size.setValue(16)
    panel.likelihood.setCurrentText("gaussian-learned")
    panel.lr.setValue(10.0)
    with qtbot.waitSignal(window.bridge.failed, timeout=int(TIMEOUT * 1000)):
        qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    assert window.error_banner.isVisibleTo(window) and "training diverged at step" in window.error_banner.text()
    assert window.state == "idle" and window.start_button.isEnabled()
    panel.lr.setValue(0.002)
    with qtbot.waitSignal(window.bridge.finished, timeout=int(TIMEOUT * 1000)) as finished:
        qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    assert finished.args[0]["status"] == "finished" and not window.error_banner.isVisibleTo(window)
    window.close()
