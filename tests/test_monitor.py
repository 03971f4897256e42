"""Monitor mode: RunLogger records a plain Keras fit, RunFollower tails a run read-only, and the
studio follows a run that a separate ``kgen train`` process is writing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kgen.errors import RunError
from kgen.events import FORMAT_VERSION
from kgen.runs import EventLog, Run, read_events
from kgen.services.follower import RunFollower, describe_run
from kgen.train import RunLogger


def classifier():
    import keras

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")], name="digits_mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def digits_xy():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y


def test_run_logger_records_a_plain_keras_classifier(tmp_path, digits_xy):
    import keras

    keras.utils.set_random_seed(0)
    x, y = digits_xy
    run_dir = tmp_path / "mine"
    model = classifier()
    grids = lambda model, epoch: np.full((6, 9), epoch / 4.0)  # noqa: E731  floats in [0, 1]
    model.fit(x[:1536], y[:1536], batch_size=64, epochs=3, validation_data=(x[1536:], y[1536:]), verbose=0,
              callbacks=[RunLogger(run_dir, samples=grids, sample_every=2, metadata={"note": "test"})])

    info = json.loads((run_dir / "external.json").read_text())
    assert info["recorder"] == "kgen.train.RunLogger" and info["model"] == "digits_mlp"
    assert info["params"] == model.count_params() and info["note"] == "test" and info["format"] == FORMAT_VERSION
    assert describe_run(run_dir)["source"] == "external"
    events = read_events(run_dir / "events.jsonl")
    assert [e["type"] for e in events[:2]] == ["start", "step"] and events[-1]["type"] == "end"
    start = events[0]
    assert (start["source"], start["steps_per_epoch"], start["epochs"]) == ("external", 24, 3)
    assert start["format"] == FORMAT_VERSION
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 73))
    assert {"loss", "accuracy"} <= set(steps[0]["metrics"]) and all(e["time"] > 0 for e in steps)
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    for epoch in epochs:  # step values are each batch's own: their mean is the epoch's
        own = [e["metrics"]["loss"] for e in steps if e["epoch"] == epoch["epoch"]]
        assert np.mean(own) == pytest.approx(epoch["metrics"]["loss"], rel=1e-4)
        assert {"val_loss", "val_accuracy"} <= set(epoch["metrics"])
    assert epochs[-1]["metrics"]["val_accuracy"] > 0.5  # it really trained
    samples = [e for e in events if e["type"] == "samples"]
    assert [(e["epoch"], e["path"]) for e in samples] == [(2, "samples/epoch_0002.png"), (3, "samples/epoch_0003.png")]
    assert events[-1]["status"] == "finished"
    with pytest.raises(RunError, match="RunLogger"):
        Run.open(run_dir)  # not a kgen model run: a clear word, not a config error
    Run.open_followable(run_dir)  # but `kgen gui RUN` follows it
    with pytest.raises(RunError, match="not a run directory"):
        Run.open_followable(tmp_path)

    followed = RunFollower(run_dir).poll()
    assert [e["type"] for e in followed] == [e["type"] for e in events]
    picture = next(e for e in followed if e["type"] == "samples")["picture"]
    assert picture.shape == (6, 9) and picture.dtype == np.uint8 and picture[0, 0] == round(0.5 * 255)


def test_run_logger_numbers_steps_of_a_dataset_of_unknown_length(tmp_path, digits_xy):
    import tensorflow as tf

    x, y = digits_xy
    data = tf.data.Dataset.from_generator(lambda: iter(zip(x[:320], y[:320], strict=True)), output_signature=(
        tf.TensorSpec((64,), tf.float32), tf.TensorSpec((), tf.int64))).batch(64)
    classifier().fit(data, epochs=2, verbose=0, callbacks=[RunLogger(tmp_path / "gen")])
    steps = [e["step"] for e in read_events(tmp_path / "gen" / "events.jsonl") if e["type"] == "step"]
    assert steps == list(range(1, 11))


def test_run_logger_refuses_a_kgen_run_and_bad_samples(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RunError, match="holds a kgen run"):
        RunLogger(tmp_path)
    with pytest.raises(RunError, match="sample_every"):
        RunLogger(tmp_path / "other", sample_every=0)


def step_line(step: int, loss: float, elapsed: float | None = None) -> str:
    return json.dumps({"type": "step", "time": 1.0, "step": step, "epoch": 1,
                       "elapsed": step * 0.5 if elapsed is None else elapsed, "metrics": {"loss": loss}}) + "\n"


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def tree(path: Path) -> dict:
    """Every file and folder under ``path`` with its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in [path, *path.rglob("*")]}


def test_follower_takes_only_complete_lines_and_skips_garbled_ones(tmp_path):
    events = tmp_path / "events.jsonl"
    follower = RunFollower(tmp_path)
    assert follower.poll() == [] and follower.status == "waiting"
    append(events, json.dumps({"type": "start", "time": 1.0}) + "\n" + step_line(1, 0.9)[:-20])
    assert [e["type"] for e in follower.poll()] == ["start"] and follower.status == "live"
    assert follower.poll() == []  # the torn line waits for its newline
    append(events, step_line(1, 0.9)[-20:] + "{not json\n" + step_line(2, 0.8))
    new = follower.poll()
    assert [(e["step"], e["metrics"]["loss"]) for e in new] == [(1, 0.9), (2, 0.8)]
    assert new[1]["steps_per_second"] == pytest.approx(2.0)
    append(events, json.dumps({"type": "end", "time": 2.0, "status": "stopped"}) + "\n")
    assert [e["type"] for e in follower.poll()] == ["end"] and follower.status == "stopped"
    assert not follower.live and follower.caught_up


def test_follower_starts_over_when_the_file_shrinks_or_is_replaced(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(step_line(1, 1.0) + step_line(2, 0.5))
    follower = RunFollower(tmp_path)
    assert len(follower.poll()) == 2
    events.write_text(step_line(1, 7.0))  # truncated and rewritten: shorter than before
    new = follower.poll()
    assert [e["type"] for e in new] == ["reset", "step"] and new[1]["metrics"]["loss"] == 7.0
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(step_line(1, 3.0) + step_line(2, 2.0) + step_line(3, 1.0))
    os.replace(replacement, events)  # a new file of the same name, longer than the offset
    new = follower.poll()
    assert new[0] == {"type": "reset", "reason": "events.jsonl was replaced"}
    assert [e["metrics"]["loss"] for e in new[1:]] == [3.0, 2.0, 1.0]


def test_follower_drops_what_a_resume_superseded(tmp_path):
    def line(kind: str, **fields) -> str:
        return json.dumps({"type": kind, "time": 1.0, **fields}) + "\n"

    events = tmp_path / "events.jsonl"
    events.write_text(line("start", initial_epoch=0) + line("step", step=1, epoch=1, metrics={"loss": 3.0})
                      + line("epoch", epoch=1, metrics={"loss": 3.0})
                      + line("step", step=2, epoch=2, metrics={"loss": 2.0}))  # killed in epoch 2
    follower = RunFollower(tmp_path)
    assert [e["type"] for e in follower.poll()] == ["start", "step", "epoch", "step"]
    append(events, line("start", initial_epoch=1) + line("step", step=2, epoch=2, metrics={"loss": 1.5}))
    new = follower.poll()
    assert new[0]["type"] == "reset" and "resumed" in new[0]["reason"]
    replayed = [(e["type"], e.get("step")) for e in new[1:]]
    assert replayed == [("start", None), ("step", 1), ("epoch", None), ("start", None), ("step", 2)]
    assert new[-1]["metrics"]["loss"] == 1.5  # the lost epoch-2 step is gone, its rerun is kept
    append(events, line("start", initial_epoch=2))  # resumed exactly at a checkpoint: nothing lost
    assert [e["type"] for e in follower.poll()] == ["start"]


def test_follower_reads_big_files_in_slices(tmp_path):
    (tmp_path / "events.jsonl").write_text("".join(step_line(i, 1.0 / i) for i in range(1, 2001)))
    follower = RunFollower(tmp_path, max_read_bytes=10_000)
    first = follower.poll()
    assert 0 < len(first) < 2000 and not follower.caught_up
    rest = []
    while not follower.caught_up:
        rest += follower.poll()
    assert [e["step"] for e in first + rest] == list(range(1, 2001))


def test_follower_holds_samples_until_their_png_is_readable_and_never_writes(tmp_path):
    from kgen.pictures import save_png

    run = tmp_path / "run"
    log = EventLog(run / "events.jsonl")
    log.write("samples", epoch=1, path="samples/epoch_0001.png")
    (run / "samples").mkdir()
    (run / "samples" / "epoch_0001.png").write_bytes(b"\x89PNG\r\n\x1a\n partial")  # still being copied
    before = tree(run)
    follower = RunFollower(run)
    assert follower.poll() == [] and follower.poll() == []
    assert tree(run) == before  # reading left every file and folder as it was
    save_png(np.full((4, 5, 1), 200, np.uint8), run / "samples" / "epoch_0001.png")
    (event,) = follower.poll()
    assert event["epoch"] == 1 and event["picture"].shape == (4, 5) and event["picture"].max() == 200
    log.close()
    missing = RunFollower(tmp_path / "not-yet")
    assert missing.poll() == [] and not (tmp_path / "not-yet").exists()


# ---------------------------------------------------------------------------------------------
# The studio follows a separate `kgen train` process.

def test_studio_follows_a_run_that_a_separate_kgen_train_process_writes(qtbot, tmp_path, npz):
    pytest.importorskip("PySide6")
    from gui.main_window import MainWindow

    run_dir = tmp_path / "external-train"
    command = [sys.executable, "-m", "kgen.cli", "train", "vae", "--dataset", f"npz:{npz}", "--epochs", "40",
               "--batch-size", "16", "--latent-dim", "2", "--out", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    try:
        window.open_run(run_dir)  # before the process has even made the directory
        assert window.state == "monitoring" and not window.start_button.isEnabled()
        qtbot.waitUntil(lambda: "loss" in set(window.curves.keys()) and window.curves.data("loss")[0].size >= 8,
                        timeout=120_000)
        assert process.poll() is None, "the run should still be going while its steps are shown"
        assert "live" in window.windowTitle() and str(run_dir.name) in window.windowTitle()
        assert "live" in window.follow_label.text()
        # the status bar shows the latest step on a timer, a few times a second
        qtbot.waitUntil(lambda: window.step_label.text().startswith("step "), timeout=5_000)
        qtbot.waitUntil(lambda: window.monitor.follower.status == "finished", timeout=180_000)
        assert process.wait(timeout=120) == 0, process.stderr.read().decode()[-2000:]
        qtbot.waitUntil(lambda: window.monitor.follower.caught_up and window.samples.count() == 40, timeout=20_000)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    events = read_events(run_dir / "events.jsonl")
    steps = [e for e in events if e["type"] == "step"]
    x, y = window.curves.data("loss")
    assert list(x) == [e["step"] for e in steps] == list(range(1, 161))
    np.testing.assert_allclose(y, [e["metrics"]["loss"] for e in steps])
    epoch_x, epoch_y = window.curves.epoch_data("val_loss")
    assert list(epoch_x) == [4 * e for e in range(1, 41)]
    assert "finished" in window.windowTitle()
    qtbot.waitUntil(lambda: window.evaluate_view.run_dir == run_dir, timeout=20_000)  # its model.keras is there
    window.stop_following()
    assert window.state == "idle" and window.start_button.isEnabled()
    window.close()


def test_window_follows_a_recorded_run_through_markers_samples_and_a_restart(qtbot, tmp_path):
    pytest.importorskip("PySide6")
    from gui.main_window import MainWindow
    from kgen.pictures import save_png

    run = tmp_path / "mine"
    (run / "external.json").parent.mkdir()
    (run / "external.json").write_text(json.dumps({"recorder": "kgen.train.RunLogger", "model": "mlp"}))
    log = EventLog(run / "events.jsonl")
    log.write("start", device="CPU: test", source="external", epochs=2, steps_per_epoch=3)
    for step in range(1, 4):
        log.write("step", step=step, epoch=1, elapsed=step * 0.5, metrics={"loss": 1.0 / step, "accuracy": step / 4})
    log.write("hparam", step=3, name="lr", old=0.01, new=0.001)
    log.write("epoch", epoch=1, elapsed=1.5, metrics={"loss": 0.6, "val_loss": 0.7})
    save_png(np.full((4, 4, 1), 90, np.uint8), run / "samples" / "epoch_0001.png")
    log.write("samples", epoch=1, path="samples/epoch_0001.png")
    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    window.open_run(run)
    assert window.state == "monitoring" and not window.start_button.isEnabled()
    assert window.open_run_action.isEnabled() and window.unfollow_action.isEnabled()
    qtbot.waitUntil(lambda: window.samples.count() == 1, timeout=5000)
    assert list(window.curves.data("accuracy")[1]) == [0.25, 0.5, 0.75]
    assert window.curves.markers() == [(3, "lr 0.01 → 0.001")]
    assert [list(a) for a in window.curves.epoch_data("val_loss")] == [[3], [0.7]]  # at the epoch's last step
    assert "recorded by RunLogger" in window.statusBar().currentMessage() and "live" in window.follow_label.text()
    qtbot.waitUntil(lambda: window.step_label.text() == "step 3/6", timeout=5_000)  # shown a few times a second
    assert window.device_label.text() == "CPU: test"
    assert window.speed_label.text() == "2.0 steps/s"

    log.write("end", status="finished", elapsed=3.0)
    qtbot.waitUntil(lambda: "finished" in window.follow_label.text(), timeout=5000)
    log.close()
    (run / "events.jsonl").write_text(step_line(1, 9.0))  # the run was started over in the same folder
    qtbot.waitUntil(lambda: list(window.curves.data("loss")[1]) == [9.0], timeout=5000)
    assert window.samples.count() == 0 and window.curves.markers() == [] and window.curves.keys() == ["loss"]

    window.stop_following()
    assert window.state == "idle" and window.start_button.isEnabled() and window.follow_label.text() == ""
    assert not window.unfollow_action.isEnabled() and not window.monitor.is_following
    window.close()
