"""Class packs (kgen.services.class_pack): prepare trains a lesson set's long runs into a folder,
open_pack reads it back read-only; finished runs are skipped, changed ones redone, an interrupted
prepare leaves a consistent pack; every broken or hostile pack is one PackError line; a pack's
run opens for viewing (follower, explorer, evaluation) without a byte written into it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kgen.cli import main
from kgen.lessons import load_lesson
from kgen.services import class_pack
from kgen.services.class_pack import PackError, config_hash, open_pack, prepare_pack, read_only_run

TINY = """\
title = "A tiny VAE"
slides = [{slide}]
explanation = "A VAE trained for a few steps."
views = ["samples", "curves"]

[[runs]]
name = "vae"
{prepare}
[runs.train]
model = "vae"
dataset = "digits"
epochs = {epochs}
seed = 0
batch_size = 512
[runs.model]
latent_dim = 2
hidden = [16]

[[try]]
label = "Set beta to 4"
change = {{ beta = 4.0 }}
look_for = "less KL"
"""


def lesson_file(folder: Path, name: str, *, prepare: bool = True, epochs: int = 1, slide: int = 11) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(TINY.format(slide=slide, epochs=epochs, prepare="prepare = true" if prepare else ""),
                    encoding="utf-8")
    return path


def tiny_lessons(folder: Path, epochs: int = 1):
    """A prepared lesson (one run of 3 steps an epoch) and a live one (nothing to prepare)."""
    return [load_lesson(lesson_file(folder, "slow", epochs=epochs)),
            load_lesson(lesson_file(folder, "quick", prepare=False, slide=12))]


def prepare(root: Path, lessons, **kwargs):
    return prepare_pack(root, lessons, calibrate=False, out=open(os.devnull, "w"), **kwargs)  # noqa: SIM115


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    """A pack prepared once for the tests that only read it."""
    root = tmp_path_factory.mktemp("pack") / "class"
    report = prepare(root, tiny_lessons(tmp_path_factory.mktemp("lessons")))
    assert report.trained == ["slow/vae"] and report.interrupted is None
    return root


def listing(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its kind, size and modification time."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture
def read_only_copy(pack, tmp_path):
    """A copy of the pack made read-only (as on a locked USB stick); its listing before use."""
    copy = tmp_path / "stick"
    shutil.copytree(pack, copy)
    os.system(f"chmod -R a-w {copy}")  # noqa: S605 (a test's own folder)
    yield copy, listing(copy)
    os.system(f"chmod -R u+w {copy}")  # noqa: S605


def test_the_pack_holds_its_lessons_runs_and_description(pack):
    data = json.loads((pack / "pack.json").read_text())
    assert data["format"] == "kgen-class-pack" and data["version"] == class_pack.PACK_VERSION
    assert set(data["lessons"]) == {"slow", "quick"} and data["created"] and data["kgen_version"]
    (entry,) = data["runs"]
    assert entry["lesson"] == "slow" and entry["run"] == "vae" and entry["folder"] == "runs/slow/vae"
    assert entry["status"] == "done" and entry["epochs"] == 1 and entry["config_hash"].startswith("sha256:")
    assert (pack / "lessons" / "slow.toml").read_text() == TINY.format(slide=11, epochs=1, prepare="prepare = true")
    assert (pack / "runs" / "slow" / "vae" / "model.keras").is_file()
    assert not (pack / "runs" / "quick").exists()  # a live lesson is not trained


def test_open_pack_round_trip_read_only(read_only_copy):
    copy, before = read_only_copy
    opened = open_pack(copy)
    assert opened.root == copy and [x.name for x in opened.lessons] == ["slow", "quick"]
    assert opened.lessons[0].runs[0].prepare and not opened.lessons[1].runs[0].prepare
    assert opened.prepared_run("slow", "vae") == (copy / "runs" / "slow" / "vae").resolve()
    assert opened.prepared_run("quick", "vae") is None and opened.prepared_run("slow", "nope") is None
    assert listing(copy) == before


def test_a_pack_run_opens_for_viewing_without_a_write(read_only_copy):
    """What the app does with a finished run: follow it, load it in the explorer, evaluate it."""
    from kgen.services.commands import evaluate_run
    from kgen.services.explorer_worker import ExplorerWorker
    from kgen.services.follower import RunFollower

    copy, before = read_only_copy
    run_dir = open_pack(copy).prepared_run("slow", "vae")
    follower = RunFollower(run_dir)
    events = []
    for _ in range(50):
        events += follower.poll()
        if follower.status == "finished":
            break
    assert follower.status == "finished" and any(e.kind == "samples" and e.picture is not None for e in events)
    worker = ExplorerWorker(None, run_dir, send=lambda message: None)
    assert worker.load()["latent_dim"] == 2
    assert worker.job("data", {})["type"] == "data"
    assert worker.job("manifold", {"dims": (0, 1), "n": 3, "label": None, "base": None})["type"] == "manifold"
    assert read_only_run(run_dir)
    scores = evaluate_run(run_dir, k=0, quality=False, invert=0, limit=64)
    assert "loss" in scores or "elbo" in scores, scores
    assert listing(copy) == before


def test_a_run_outside_a_pack_still_records_its_scores(pack, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(pack / "runs" / "slow" / "vae", copy)
    assert not read_only_run(copy) and read_only_run(pack / "runs" / "slow" / "vae")


def test_importing_and_opening_a_pack_needs_no_tensorflow(pack):
    code = ("import sys; from kgen.services.class_pack import open_pack; "
            f"p = open_pack({str(pack)!r}); assert p.prepared_run('slow', 'vae'); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()}).stdout
    assert out.split() == ["False", "False"]


def test_prepare_again_skips_finished_runs(pack, tmp_path):
    copy = tmp_path / "pack"
    shutil.copytree(pack, copy)
    run_before = listing(copy / "runs")
    report = prepare(copy, tiny_lessons(tmp_path / "lessons"))
    assert [p.action for p in report.plan] == ["skip"] and report.trained == []
    assert listing(copy / "runs") == run_before


def test_a_changed_lesson_invalidates_its_run_and_prepare_redoes_it(pack, tmp_path):
    copy = tmp_path / "pack"
    shutil.copytree(pack, copy)
    changed = tiny_lessons(tmp_path / "lessons", epochs=2)
    # Before it is prepared again, the pack's edited copy no longer matches its run.
    (copy / "lessons" / "slow.toml").write_text(changed[0].source, encoding="utf-8")
    assert open_pack(copy).prepared_run("slow", "vae") is None
    report = prepare(copy, changed)
    assert [p.action for p in report.plan] == ["train"] and report.trained == ["slow/vae"]
    entry = json.loads((copy / "pack.json").read_text())["runs"][0]
    assert entry["epochs"] == 2 and entry["config_hash"] == config_hash(changed[0].runs[0].config)
    assert open_pack(copy).prepared_run("slow", "vae") is not None


def test_an_interrupted_prepare_leaves_a_consistent_pack_and_resumes(tmp_path, monkeypatch):
    from kgen.train import guards

    original = guards.StopCheckpointer.on_train_batch_end

    def ctrl_c_at_second_batch(self, batch, logs=None):
        if batch == 1:
            self.request_stop()  # what Ctrl-C asks for (guards.stop_on_sigint)
        return original(self, batch, logs)

    lessons = tiny_lessons(tmp_path / "lessons", epochs=2)
    root = tmp_path / "pack"
    with monkeypatch.context() as patch:
        patch.setattr(guards.StopCheckpointer, "on_train_batch_end", ctrl_c_at_second_batch)
        report = prepare(root, lessons)
    assert report.interrupted is not None and report.interrupted.label == "slow/vae" and report.trained == []
    assert json.loads((root / "pack.json").read_text())["runs"][0]["status"] == "unfinished"
    assert open_pack(root).prepared_run("slow", "vae") is None  # consistent: opens, without the run
    report = prepare(root, lessons)
    assert [p.action for p in report.plan] == ["resume"] and report.trained == ["slow/vae"]
    assert open_pack(root).prepared_run("slow", "vae") is not None


def test_a_hard_interrupt_is_resumed_too(tmp_path, monkeypatch, capsys):
    """A second Ctrl-C (KeyboardInterrupt out of training) leaves the run unfinished, not done."""
    import kgen.train.training as training

    path = lesson_file(tmp_path / "lessons", "slow")
    root = tmp_path / "pack"
    real = training.train

    def interrupted(config, run_dir, **kwargs):  # the timing steps train; the pack's run does not
        if Path(run_dir).is_relative_to(root):
            raise KeyboardInterrupt
        return real(config, run_dir, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(training, "train", interrupted)
        assert main(["lessons", "prepare", str(root), "--lessons", str(path)]) == 130
    assert "run the same command again" in capsys.readouterr().err
    assert json.loads((root / "pack.json").read_text())["runs"][0]["status"] == "unfinished"
    assert open_pack(root).prepared_run("slow", "vae") is None


def test_dry_run_trains_and_writes_nothing(tmp_path, capsys):
    root = tmp_path / "pack"
    path = lesson_file(tmp_path / "lessons", "slow")
    assert main(["lessons", "prepare", str(root), "--lessons", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert not root.exists()
    assert "slow/vae" in out and "digits" in out and "train" in out and "Estimated time on this machine" in out
    assert "nothing was trained or written" in out


def test_a_run_whose_data_is_missing_is_named_and_left_out(tmp_path, monkeypatch):
    import kgen.data as data

    real = data.list_datasets

    def without_digits(data_dir=None):
        return [dataclass_replace(i, available=False, detail="not found") if i.name == "digits" else i
                for i in real(data_dir)]

    from dataclasses import replace as dataclass_replace

    monkeypatch.setattr(data, "list_datasets", without_digits)
    root = tmp_path / "pack"
    out = tmp_path / "out.txt"
    with open(out, "w") as stream:
        report = prepare_pack(root, tiny_lessons(tmp_path / "lessons"), calibrate=False, out=stream)
    assert [p.action for p in report.plan] == ["unavailable"] and report.trained == []
    assert "slow/vae: not prepared: dataset digits is not available here (not found)" in out.read_text()
    assert json.loads((root / "pack.json").read_text())["runs"][0]["status"] == "unavailable"
    assert open_pack(root).prepared_run("slow", "vae") is None


def test_prepare_refuses_a_folder_of_other_files(tmp_path):
    (tmp_path / "mine.txt").write_text("a teacher's notes")
    with pytest.raises(PackError, match="not empty and not a class pack"):
        prepare(tmp_path, tiny_lessons(tmp_path / "lessons"))


def test_kgen_lessons_prepare_needs_its_folder(capsys):
    assert main(["lessons", "prepare"]) == 2
    assert main(["lessons", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "needs DIR" in err and "kgen lessons prepare DIR" in err


# --- every broken or hostile pack is one PackError line ---------------------------------------


def _manifest(pack: Path) -> dict:
    return json.loads((pack / "pack.json").read_text())


def _with(change):
    def make(pack: Path) -> None:
        data = _manifest(pack)
        change(data)
        (pack / "pack.json").write_text(json.dumps(data))
    return make


def _write(text: str | bytes):
    def make(pack: Path) -> None:
        (pack / "pack.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    return make


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def _link_run_outside(pack: Path) -> None:
    outside = pack.parent / "elsewhere"
    shutil.move(pack / "runs" / "slow" / "vae", outside)
    (pack / "runs" / "slow" / "vae").symlink_to(outside)


BROKEN = [
    ("not a folder", lambda p: (shutil.rmtree(p), p.write_text("x")), "no such folder"),
    ("no pack.json", lambda p: (p / "pack.json").unlink(), "is not a class pack"),
    ("not JSON", _write("{not json"), "not JSON"),
    ("too large", _write(b" " * (2 << 20)), "larger than"),
    ("nested too deeply", _write("[" * 100_000), "unreadable"),
    ("a FIFO", lambda p: ((p / "pack.json").unlink(), os.mkfifo(p / "pack.json")), "not a regular file"),
    ("another format", _with(lambda d: d.update(format="zip")), "not a class pack description"),
    ("a newer version", _with(lambda d: d.update(version=99)), "newer kgen (pack format 99"),
    ("a version that is no number", _with(lambda d: d.update(version=True)), "\"version\" must be"),
    ("lessons not a list", _with(lambda d: d.update(lessons="slow")), "\"lessons\" must be a list"),
    ("a lesson name that is a path", _with(lambda d: d["lessons"].append("../../etc/passwd")), "not a lesson name"),
    ("a lesson name ending in a newline", _with(lambda d: d["lessons"].append("slow\n")), "not a lesson name"),
    ("a listed lesson missing", lambda p: (p / "lessons" / "quick.toml").unlink(), "cannot be read"),
    ("a broken lesson copy", lambda p: _edit(p / "lessons" / "quick.toml", 'title = "A tiny VAE"', "title = 3"),
     "quick.toml:1: title: must be a string"),
    ("a lesson copy linked outside", lambda p: ((p / "lessons" / "quick.toml").unlink(),
                                                (p / "lessons" / "quick.toml").symlink_to("/etc/hostname")),
     "outside the pack"),
    ("runs not a list", _with(lambda d: d.update(runs={})), "\"runs\" must be a list"),
    ("a run not an object", _with(lambda d: d["runs"].append(3)), "runs[1] must be an object"),
    ("a run without its folder field", _with(lambda d: d["runs"][0].pop("folder")), "runs[0].folder must be"),
    ("an unknown status", _with(lambda d: d["runs"][0].update(status="great")), "runs[0].status must be one of"),
    ("a folder escaping with ..", _with(lambda d: d["runs"][0].update(folder="../../..")), "outside the pack"),
    ("an absolute folder", _with(lambda d: d["runs"][0].update(folder="/tmp")), "outside the pack"),
    ("a run folder linked outside", _link_run_outside, "outside the pack"),
    ("a missing run folder", lambda p: shutil.rmtree(p / "runs" / "slow" / "vae"), "slow/vae is missing"),
    ("a run copied without its model", lambda p: (p / "runs" / "slow" / "vae" / "model.keras").unlink(),
     "slow/vae is missing or incomplete"),
]


@pytest.mark.parametrize(("what", "breaks", "says"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_pack_is_one_pack_error_line(pack, tmp_path, what, breaks, says):
    copy = tmp_path / "pack"
    shutil.copytree(pack, copy)
    breaks(copy)
    with pytest.raises(PackError) as caught:
        open_pack(copy)
    message = str(caught.value)
    assert "\n" not in message and says in message, message


def test_kgen_lessons_prepare_on_a_newer_pack_is_one_line(pack, tmp_path, capsys):
    copy = tmp_path / "pack"
    shutil.copytree(pack, copy)
    _with(lambda d: d.update(version=2))(copy)
    assert main(["lessons", "prepare", str(copy), "--lessons", str(copy / "lessons" / "slow.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "upgrade kgen" in err


def test_a_lesson_whose_name_cannot_name_a_file_is_refused_before_anything_is_written(tmp_path):
    lesson = load_lesson(lesson_file(tmp_path / "lessons", "my lesson", prepare=False))
    with pytest.raises(PackError, match="'my lesson' cannot name a file or folder of the pack"):
        prepare(tmp_path / "pack", [lesson])
    assert not (tmp_path / "pack").exists()


def test_an_option_added_later_keeps_older_runs_fingerprints_while_at_its_default():
    from kgen.config import RunConfig, TrainConfig, VAEConfig

    def config(**model):
        return RunConfig(train=TrainConfig(model="cvae", dataset="digits", epochs=3), model=VAEConfig(beta=2.0, **model))

    # the fingerprint kgen wrote for this config before VAEs had an estimator option (commit 25f3943)
    before = "sha256:baea7e052132fe1eee29bd94989da67f1b15e52b98172e1845d64fc7d8ddd621"
    assert config_hash(config()) == config_hash(config(estimator="reparameterisation")) == before
    assert config_hash(config(estimator="nvil")) != before  # a changed estimator is a changed run


def test_a_gans_fingerprint_is_the_one_written_before_gans_had_binary_pixels():
    from kgen.config import GANConfig, RunConfig, TrainConfig

    def config(**model):
        return RunConfig(train=TrainConfig(model="gan", dataset="ring8", epochs=3), model=GANConfig(d_steps=2, **model))

    before = "sha256:ab14d5939fe6bd3d2664a1335b11ff6c75bd62cca5d01f86b294062328609df8"  # commit 25f3943
    assert config_hash(config()) == before
    assert config_hash(config(pixels="relaxed")) != config_hash(config(pixels="relaxed", temperature=0.2)) != before
