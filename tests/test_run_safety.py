"""Run directories never destroy a user's files; tampered runs and misreports end in one line
(issue 13, points 1, 9 and 10)."""

import json
import os
import shutil

import pytest

from kgen import registry
from kgen.cli import main
from kgen.config import DRAWConfig, RunConfig, TrainConfig, VAEConfig, model_config, resumed_config
from kgen.errors import ConfigError, RunError
from kgen.models.saving import load_run_model
from kgen.runs import Run, check_new_run_dir, remove_temporaries
from kgen.safe_io import atomic_path

MODELS = registry.kinds()  # the built-in model kinds


def one_error_line(capsys) -> str:
    """The single `kgen: error:` line a refused command printed (and nothing else on stderr)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kgen: error: "), err
    assert "Traceback" not in err
    return lines[0]


def snapshot(folder) -> dict:
    """Every file under ``folder`` with its bytes: what a refused run must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def users_folder(path):
    """The issue's folder: a user's own model.keras and checkpoints/latest-0007.keras."""
    (path / "checkpoints").mkdir(parents=True)
    (path / "model.keras").write_text("mine\n")
    (path / "checkpoints" / "latest-0007.keras").write_text("mine\n")
    return path


def tiny_args(npz, out, *more):
    return ["train", "vae", "--dataset", f"npz:{npz}", "--batch-size", "16", "--latent-dim", "2",
            "--hidden", "16", "--out", str(out), *more]


# ----------------------------------------------------------------- point 1: never touch a user's folder

def test_out_onto_a_users_folder_is_refused_and_nothing_in_it_changes(tmp_path, capsys):
    folder = users_folder(tmp_path / "P")
    before = snapshot(folder)
    assert main(["train", "vae", "--dataset", "digits", "--epochs", "1", "--out", str(folder)]) == 2
    line = one_error_line(capsys)
    assert str(folder) in line and "not empty and not a kgen run" in line
    assert snapshot(folder) == before


def test_the_root_folder_is_refused_before_anything_is_written():
    with pytest.raises(RunError, match="^/ is not empty and not a kgen run"):
        check_new_run_dir("/")


def test_a_file_as_out_is_refused(tmp_path, npz, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    assert main(tiny_args(npz, target, "--epochs", "1")) == 2
    assert "exists and is not a folder" in one_error_line(capsys)
    assert target.read_text() == "mine\n"


def test_an_existing_run_is_continued_only_with_resume(tmp_path):
    Run.create(tmp_path / "run", RunConfig())
    with pytest.raises(RunError, match="already holds a run; use resume"):
        Run.create(tmp_path / "run", RunConfig())


def test_an_empty_folder_takes_a_new_run(tmp_path):
    (tmp_path / "empty").mkdir()
    run = Run.create(tmp_path / "empty", RunConfig())
    assert run.config() == RunConfig()


def test_the_app_controller_refuses_a_users_folder_too(tmp_path, npz):
    from polling import TIMEOUT, ended, poll_until

    from kgen.services.controller import TrainingController

    folder = users_folder(tmp_path / "P")
    before = snapshot(folder)
    controller = TrainingController()
    config = RunConfig(TrainConfig(dataset=f"npz:{npz}", epochs=1, batch_size=16), VAEConfig(hidden=(16,)))
    controller.start(config, folder)
    events = poll_until(controller, ended, TIMEOUT)
    assert events[-1]["type"] == "error" and "not empty and not a kgen run" in events[-1]["message"]
    assert snapshot(folder) == before


def test_resume_deletes_only_checkpoints_the_run_wrote(tmp_path, npz):
    """The checkpointers replace the checkpoint a resume started from, never a user's file
    named like one of kgen's (which `latest_checkpoint` ranks below the real one)."""
    run_dir = tmp_path / "run"
    assert main(tiny_args(npz, run_dir, "--epochs", "1")) == 0
    mine = [run_dir / "checkpoints" / name for name in ("latest-0000.keras", "interrupted-0000-000001.keras")]
    for path in mine:
        path.write_text("mine\n")
    assert main(["train", "vae", "--resume", str(run_dir), "--epochs", "2"]) == 0
    assert all(path.read_text() == "mine\n" for path in mine)
    assert not (run_dir / "checkpoints" / "latest-0001.keras").exists()  # the resumed one, replaced
    assert (run_dir / "checkpoints" / "latest-0002.keras").is_file()


def test_the_checkpointer_deletes_only_its_own_latest(tmp_path):
    import keras

    from kgen.train.callbacks import Checkpointer

    run = Run.create(tmp_path / "run", RunConfig())
    run.checkpoints_dir.mkdir()
    planted = run.checkpoints_dir / "latest-0000.keras"
    planted.write_text("mine\n")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    checkpointer = Checkpointer(run, budget=1.0)
    checkpointer.set_model(model)
    checkpointer.set_params({"epochs": 2})
    model.stop_training = True  # a stop: every epoch is saved
    for epoch in (0, 1):
        checkpointer.on_epoch_begin(epoch)
        checkpointer.on_epoch_end(epoch, {"loss": 1.0 - epoch})
    names = sorted(p.name for p in run.checkpoints_dir.iterdir())
    assert names == ["best.json", "best.keras", "latest-0000.keras", "latest-0002.keras"]
    assert planted.read_text() == "mine\n"


def test_only_kgens_own_temporaries_are_cleaned_up(tmp_path):
    kgens = tmp_path / ".latest-0003-0123456789ab.keras"
    users = [tmp_path / ".notes-0123456789ab.txt", tmp_path / ".photo-0123456789ab.png", tmp_path / "latest-0003.keras"]
    for path in (kgens, *users):
        path.write_text("x")
    remove_temporaries(tmp_path)
    assert not kgens.exists() and all(p.exists() for p in users)


def test_an_atomic_write_never_deletes_a_file_it_did_not_create(tmp_path, monkeypatch):
    import kgen.safe_io

    monkeypatch.setattr(kgen.safe_io.secrets, "token_hex", lambda n: "0123456789ab")
    theirs = tmp_path / ".state-0123456789ab.json"
    theirs.write_text("mine\n")
    with pytest.raises(RunError, match="cannot write"), atomic_path(tmp_path / "state.json") as tmp:
        tmp.write_text("new")
    assert theirs.read_text() == "mine\n"


# ----------------------------------------------------------------- point 9: tampered runs

KINDS_FOR_CLASSES = 3
# The models below are saved untrained: Keras notes that their optimizers have no state yet.
pytestmark = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """One small saved model of every kind (latent size 3, 8x8 images, 3 classes)."""
    from kgen.models import build_model

    root = tmp_path_factory.mktemp("models")
    paths = {}
    for kind in MODELS:
        model = build_model(small_config(kind), (8, 8, 1), KINDS_FOR_CLASSES)
        paths[kind] = root / f"{kind}.keras"
        model.save(paths[kind])
    return paths


def small_config(kind: str, latent_dim: int = 3, dataset: str = "digits") -> RunConfig:
    """A small config of ``kind``: 16-wide MLPs, 8-filter convolutions for dcgan and cgan, or
    16-wide LSTMs for DRAW, whose latent is ``latent_dim`` steps of one number each."""
    if model_config(kind) is DRAWConfig:
        model = DRAWConfig(steps=latent_dim, z_size=1, width=16)
    else:
        size = {"filters": 8} if kind in ("dcgan", "cgan") else {"hidden": (16,)}
        model = model_config(kind)(latent_dim=latent_dim, **size)
    return RunConfig(TrainConfig(model=kind, dataset=dataset, epochs=2, batch_size=16), model)


def run_holding(path, config: RunConfig, model_file, where="checkpoints/latest-0001.keras") -> Run:
    """A run directory with ``config`` and ``model_file`` copied in as ``where``."""
    run = Run.create(path, config)
    (run.path / where).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_file, run.path / where)
    return run


@pytest.mark.parametrize("kind", MODELS)
def test_a_checkpoint_of_another_kind_is_refused(kind, saved_models, tmp_path):
    other = MODELS[(MODELS.index(kind) + 1) % len(MODELS)]
    run = run_holding(tmp_path / "run", small_config(kind), saved_models[other])
    with pytest.raises(RunError, match=rf"latest-0001.keras holds a {other} model, but config.json says {kind}$"):
        load_run_model(run)


@pytest.mark.parametrize("kind", MODELS)
def test_a_checkpoint_of_another_latent_size_is_refused(kind, saved_models, tmp_path):
    run = run_holding(tmp_path / "run", small_config(kind, latent_dim=5), saved_models[kind], "model.keras")
    with pytest.raises(RunError, match=r"model.keras holds a model with latent size 3, but config.json says 5$"):
        load_run_model(run)


@pytest.mark.parametrize("kind", MODELS)
def test_a_matching_checkpoint_loads(kind, saved_models, tmp_path):
    run = run_holding(tmp_path / "run", small_config(kind), saved_models[kind])
    assert load_run_model(run).latent_dim == 3


@pytest.fixture
def cvae_in_unlabelled_vae_run(saved_models, npz, tmp_path):
    """An unlabelled VAE run (no y in its data) whose files hold a CVAE."""
    run = run_holding(tmp_path / "run", small_config("vae", dataset=f"npz:{npz}"), saved_models["cvae"])
    shutil.copy(saved_models["cvae"], run.model_path)
    return run


@pytest.mark.parametrize("command", [["train", "vae", "--resume"], ["sample"], ["walk"], ["eval"]])
def test_a_cvae_in_an_unlabelled_vae_run_is_one_line(command, cvae_in_unlabelled_vae_run, tmp_path, capsys):
    run = cvae_in_unlabelled_vae_run
    output = [] if command[0] in ("train", "eval") else ["-o", str(tmp_path / "out.png")]
    assert main([*command, str(run.path), *output]) == 2
    assert "holds a cvae model, but config.json says vae" in one_error_line(capsys)


@pytest.mark.parametrize("record", ["[1]", '{"value": "low"}', '{"value": NaN}', "{", '{"value": true}'])
def test_a_tampered_best_record_is_one_line_on_resume(record, saved_models, npz, tmp_path, capsys):
    run = run_holding(tmp_path / "run", small_config("vae", dataset=f"npz:{npz}"), saved_models["vae"])
    (run.checkpoints_dir / "best.json").write_text(record)
    assert main(["train", "vae", "--resume", str(run.path)]) == 2
    assert "best.json" in one_error_line(capsys)


@pytest.mark.parametrize("text", [
    '{"train": ' * 100_000 + "{}" + "}" * 100_000,  # nested too deep for the JSON parser
    '{"train": {"train": {"model": "vae"}}, "model": {}}',
    '{"train": [1], "model": {}}',
    '{"train": {"model": "vae"}, "model": [[]]}',
    "x" * (2 << 20),  # larger than any config kgen writes
])
def test_an_odd_config_json_is_one_line(text, tmp_path, capsys):
    run = Run.create(tmp_path / "run", RunConfig())
    run.config_path.write_text(text)
    assert main(["sample", str(run.path), "-o", str(tmp_path / "x.png")]) == 2
    assert "config.json" in one_error_line(capsys)


# ----------------------------------------------------------------- point 10: misreports

def test_walk_refuses_a_class_the_model_does_not_have(saved_models, tmp_path, capsys):
    cvae = run_holding(tmp_path / "cvae", small_config("cvae"), saved_models["cvae"], "model.keras")
    out = tmp_path / "grid.png"
    assert main(["walk", str(cvae.path), "--mode", "grid", "--class", "99", "-o", str(out)]) == 2
    assert "--class 99: this cvae model has classes 0..2" in one_error_line(capsys)
    vae = run_holding(tmp_path / "vae", small_config("vae"), saved_models["vae"], "model.keras")
    assert main(["walk", str(vae.path), "--mode", "grid", "--class", "1", "-o", str(out)]) == 2
    assert "is not conditional" in one_error_line(capsys)
    assert not out.exists()


def test_resume_without_epochs_keeps_the_runs_target(tmp_path, npz):
    run_dir = tmp_path / "run"
    assert main(tiny_args(npz, run_dir, "--epochs", "1")) == 0
    saved = json.loads((run_dir / "config.json").read_text())
    saved["train"]["epochs"] = 3  # a 3-epoch run stopped after its first epoch
    (run_dir / "config.json").write_text(json.dumps(saved))
    assert main(["train", "vae", "--resume", str(run_dir)]) == 0
    assert Run.open(run_dir).config().train.epochs == 3
    assert Run.open(run_dir).latest_checkpoint()[1] == 3


def test_resume_keeps_options_not_given_and_changes_only_those_that_can():
    saved = RunConfig(TrainConfig(epochs=50, batch_size=100, sample_every=5), VAEConfig(latent_dim=50))
    assert resumed_config(saved, {"model": "vae"}) == saved
    assert resumed_config(saved, {"epochs": 60, "latent_dim": 50}).train.epochs == 60
    assert resumed_config(saved, {"sample_every": 1}).train.sample_every == 1
    with pytest.raises(ConfigError, match=r"^latent_dim cannot change when resuming \(the run has 50, not 16\)"):
        resumed_config(saved, {"latent_dim": 16})
    with pytest.raises(ConfigError, match="^the run to resume is a vae run, not gan"):
        resumed_config(saved, {"model": "gan"})


@pytest.mark.parametrize(("args", "message"), [
    (["train", "gan", "--resume", "RUN"], "the run to resume is a vae run, not gan"),
    (["train", "vae", "--resume", "RUN", "--batch-size", "32"], "--batch-size cannot change when resuming"),
    (["train", "vae", "--resume", "RUN", "--out", "elsewhere"], "leave out --out"),
])
def test_resume_refuses_what_it_would_ignore(args, message, tmp_path, capsys):
    run = Run.create(tmp_path / "run", small_config("vae"))
    assert main([str(run.path) if a == "RUN" else a for a in args]) == 2
    assert message in one_error_line(capsys)


def test_an_unwritable_out_with_a_newline_is_one_line(tmp_path, npz, capsys):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "a\nb"
    assert main(tiny_args(npz, out, "--epochs", "1")) == 2
    line = one_error_line(capsys)
    assert "cannot create run directory" in line and "a\\nb" in line


def test_paths_in_run_errors_are_one_line(tmp_path):
    odd = tmp_path / "x\ny"
    with pytest.raises(RunError) as missing:
        Run.open(odd)
    odd.mkdir()
    (odd / "f").write_text("")
    with pytest.raises(RunError) as taken:
        check_new_run_dir(odd)
    assert all("\n" not in str(e.value) and "x\\ny" in str(e.value) for e in (missing, taken))


def test_a_fifo_as_config_or_best_record_is_refused_at_once(tmp_path):
    """A FIFO as config.json or best.json is refused at once, not read for ever."""
    run = Run.create(tmp_path / "run", RunConfig())
    run.config_path.unlink()
    os.mkfifo(run.config_path)
    with pytest.raises(RunError, match="not a regular file"):
        run.config()
    run.checkpoints_dir.mkdir()
    os.mkfifo(run.checkpoints_dir / "best.json")
    with pytest.raises(RunError, match="not a regular file"):
        run.best_record()


def test_pruning_follows_only_recorded_checkpoint_names(tmp_path):
    """written.txt names what a run wrote; a name that is not a checkpoint's (a path out of the
    folder, another file of the run) is never acted on, even if the ledger was tampered with."""
    run = Run.create(tmp_path / "run", RunConfig())
    run.checkpoints_dir.mkdir()
    (tmp_path / "latest-0001.keras").write_text("outside\n")
    for name in ("latest-0001.keras", "latest-0002.keras", "best.keras"):
        (run.checkpoints_dir / name).write_text("x")
    run.written_path.write_text("../latest-0001.keras\n/etc/passwd\nbest.keras\n../config.json\nlatest-0001.keras\n")
    run.prune_checkpoints("latest", keep=run.checkpoints_dir / "latest-0002.keras")
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == ["best.keras", "latest-0002.keras"]
    assert (tmp_path / "latest-0001.keras").is_file() and run.config_path.is_file()
