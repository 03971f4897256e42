"""Run directories: what a run writes, resuming it, atomic writes and refusing foreign files."""

import json
import zipfile

import keras
import numpy as np
import pytest

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.errors import RunError
from kgen.events import FORMAT_VERSION, Step
from kgen.models.saving import load_model_file
from kgen.runs import Run, read_events
from kgen.safe_io import atomic_path
from kgen.train.training import train


def tiny_config(npz, epochs=2, **train_options) -> RunConfig:
    return RunConfig(
        TrainConfig(dataset=f"npz:{npz}", epochs=epochs, batch_size=16, grid_size=4, **train_options),
        VAEConfig(latent_dim=2, hidden=(32,)),
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real 2-epoch run on a small dataset, shared by the read-only checks below."""
    root = tmp_path_factory.mktemp("runs")
    x = np.random.default_rng(0).random((80, 8, 8, 1)).astype("float32")
    np.savez(root / "data.npz", x=x)
    result = train(tiny_config(root / "data.npz"), root / "run", verbose=0)
    return result


class TestRunLayout:
    def test_writes_every_part_of_a_run(self, finished_run):
        run = finished_run.run
        for path in (run.config_path, run.events_path, run.model_path, run.best_path,
                     run.sample_path(1), run.sample_path(2)):
            assert path.is_file(), path
        assert run.latest_checkpoint() == (run.checkpoints_dir / "latest-0002.keras", 2)
        assert list(run.tb_dir.glob("events.out.tfevents.*"))
        assert not list(run.path.rglob(".*.keras"))  # no temporary files left behind

    def test_config_rebuilds_the_run(self, finished_run):
        saved = json.loads(finished_run.run.config_path.read_text())
        assert saved["format"] == FORMAT_VERSION  # the run format (docs/RUN_FORMAT.md), beside the config
        assert {"format": FORMAT_VERSION, **json.loads(json.dumps(RunConfig.from_dict(saved).to_dict()))} == saved
        assert saved["model"]["latent_dim"] == 2

    def test_events_hold_steps_epochs_samples_and_the_test_score(self, finished_run):
        events = read_events(finished_run.run.events_path)
        kinds = [e["type"] for e in events]
        assert kinds[0] == "start" and "device" in events[0]
        assert kinds.count("epoch") == 2 and kinds.count("samples") == 2
        steps = [e for e in events if e["type"] == "step"]
        steps_per_epoch = events[0]["steps_per_epoch"]
        assert [e["step"] for e in steps] == list(range(1, 2 * steps_per_epoch + 1))
        # Step events carry each batch's own loss: their mean is the epoch's mean.
        first_epoch = [e["metrics"]["loss"] for e in steps if e["epoch"] == 1]
        epoch_1 = next(e for e in events if e["type"] == "epoch" and e["epoch"] == 1)
        assert np.mean(first_epoch) == pytest.approx(epoch_1["metrics"]["loss"], rel=1e-4)
        assert events[-1]["type"] == "eval" and "elbo" in events[-1]["metrics"]

    def test_refuses_to_overwrite_a_run(self, finished_run):
        with pytest.raises(RunError, match="already holds a run; use resume"):
            Run.create(finished_run.run.path, RunConfig())


def test_resume_continues_epochs_and_optimizer_state(tmp_path, tiny_npz):
    first = train(tiny_config(tiny_npz, epochs=2), tmp_path / "run", verbose=0)
    steps = read_events(first.run.events_path)[0]["steps_per_epoch"]
    second = train(tiny_config(tiny_npz, epochs=4), tmp_path / "run", resume=True, verbose=0)
    assert second.epochs_done == 4
    assert second.run.config().train.epochs == 4
    epochs = [e["epoch"] for e in read_events(second.run.events_path) if e["type"] == "epoch"]
    assert epochs == [1, 2, 3, 4]  # no epoch counted twice
    model = load_model_file(second.run.model_path)
    assert int(model.optimizer.iterations) == 4 * steps


def test_resume_before_the_first_checkpoint_starts_over(tmp_path, tiny_npz):
    Run.create(tmp_path / "empty", tiny_config(tiny_npz))  # as a crash in epoch 1 leaves it
    result = train(tiny_config(tiny_npz, epochs=1), tmp_path / "empty", resume=True, verbose=0)
    assert result.epochs_done == 1 and result.run.latest_checkpoint()[1] == 1


class TestAtomicWrites:
    def test_failure_keeps_the_old_file_and_leaves_no_temporary(self, tmp_path):
        target = tmp_path / "state.json"
        target.write_text("old")
        with pytest.raises(RunError, match=r"cannot write .*state.json: No space left on device "
                                            r"\(the previous file is kept\)"), atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(28, "No space left on device")
        assert target.read_text() == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["state.json"]

    def test_torn_last_line_is_ignored(self, tmp_path):
        path = tmp_path / "events.jsonl"
        path.write_text('{"type": "step", "step": 1}\n{"type": "step", "st')
        assert read_events(path) == [Step(step=1)]


class TestForeignFiles:
    def test_missing_run(self, tmp_path):
        with pytest.raises(RunError, match="no such run directory"):
            Run.open(tmp_path / "nope")

    def test_directory_that_is_not_a_run(self, tmp_path):
        with pytest.raises(RunError, match=r"is not a kgen run directory \(no config.json\)"):
            Run.open(tmp_path)

    def test_corrupt_config(self, tmp_path):
        (tmp_path / "config.json").write_text("{not json")
        with pytest.raises(RunError, match="unreadable run config"):
            Run.open(tmp_path)

    def test_model_file_that_is_not_a_zip(self, tmp_path):
        path = tmp_path / "model.keras"
        path.write_bytes(b"\x00garbage")
        with pytest.raises(RunError, match="is not a .keras model file"):
            load_model_file(path)

    def test_truncated_model_file(self, finished_run, tmp_path):
        data = finished_run.run.model_path.read_bytes()
        path = tmp_path / "cut.keras"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(RunError, match="cut.keras"):
            load_model_file(path)

    def test_keras_model_that_is_not_kgens(self, tmp_path):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.save(tmp_path / "plain.keras")
        with pytest.raises(RunError, match="not a kgen generative model"):
            load_model_file(tmp_path / "plain.keras")

    def test_lambda_layer_is_refused(self, tmp_path):
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
        model.save(tmp_path / "lambda.keras")
        with pytest.raises(RunError, match="could not be loaded as a kgen model"):
            load_model_file(tmp_path / "lambda.keras")

    def test_zip_without_a_model(self, tmp_path):
        path = tmp_path / "empty.keras"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("hello.txt", "hi")
        with pytest.raises(RunError, match="empty.keras could not be loaded"):
            load_model_file(path)


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "grid.png") as tmp:
            tmp.write_bytes(b"png")
    finally:
        os.umask(old)
    assert (tmp_path / "grid.png").stat().st_mode & 0o777 == 0o644


def test_bad_dataset_leaves_no_run_directory(tmp_path):
    from kgen.errors import DatasetError

    with pytest.raises(DatasetError):
        train(tiny_config(tmp_path / "missing.npz"), tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()
