"""Lessons (kgen.lessons, assets/lessons/): every shipped lesson loads and validates, each kind of
broken file is one line naming the file, the line and the field, and `kgen lessons` lists them."""

from __future__ import annotations

import re

import pytest

from kgen import registry
from kgen.cli import main
from kgen.config import RunConfig
from kgen.data import POINT_TOYS
from kgen.lessons import LessonError, changed_config, lesson_files, lessons, load_lesson

GOOD = """\
title = "A VAE"
slides = [11]
explanation = "An encoder and a decoder."
views = ["samples", "curves"]

[[formulas]]
tex = '$D_{KL}(q \\,\\|\\, p)$'
metric = "kl"

[[runs]]
name = "vae"
[runs.train]
model = "vae"
dataset = "digits"
epochs = 2
seed = 0
[runs.model]
latent_dim = 2

[[try]]
label = "Set beta to 4"
change = { beta = 4.0 }
look_for = "less KL"
"""


def write(tmp_path, text, name="lesson.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, snippet: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if snippet in line)


def test_every_shipped_lesson_loads_and_validates():
    found = lessons()
    assert len(found) == len(lesson_files()) >= 10
    assert [x.slides[0] for x in found] == sorted(x.slides[0] for x in found)  # the lecture's order
    assert len({x.name for x in found}) == len(found)
    for lesson in found:
        assert lesson.title and lesson.explanation and 1 <= len(lesson.tries) <= 3 and lesson.runs
        for run in lesson.runs:
            assert isinstance(run.config, RunConfig)
            if not run.prepare:  # a live run: on bundled or generated data, offline and fast
                assert run.config.train.dataset in ("digits", *POINT_TOYS)
        for step in lesson.tries:
            assert isinstance(step.config(lesson), RunConfig)
        metrics = {m for r in lesson.runs for m in registry.spec(r.config.train.model).step_metrics}
        assert all(f.metric is None or f.metric in metrics for f in lesson.formulas)
        assert lesson.seconds is not None, f"{lesson.name}: say how long it takes to its point"


def test_a_good_file_loads_with_its_fields(tmp_path):
    lesson = load_lesson(write(tmp_path, GOOD))
    assert lesson.name == "lesson" and lesson.slides == (11,) and lesson.views == ("samples", "curves")
    assert lesson.formulas[0].metric == "kl" and lesson.runs[0].config.model.latent_dim == 2
    assert lesson.tries[0].config(lesson).model.beta == 4.0 and lesson.tries[0].run == "vae"


BROKEN = [
    # (what, how to break GOOD, the field named, the text on the line named)
    ("bad TOML", lambda t: t.replace('slides = [11]', 'slides = [11]]'), "(file)", "slides = [11]]"),
    ("missing field", lambda t: t.replace('title = "A VAE"\n', ''), "title", None),
    ("unknown field", lambda t: t.replace('slides = [11]', 'slides = [11]\nslide_notes = "x"'),
     "slide_notes", "slide_notes"),
    ("wrong type", lambda t: t.replace('slides = [11]', 'slides = 11'), "slides", "slides = 11"),
    ("slide out of range", lambda t: t.replace('slides = [11]', 'slides = [99]'), "slides", "slides = [99]"),
    ("unknown model", lambda t: t.replace('model = "vae"', 'model = "flow"'), "runs[0].train.model", 'model = "flow"'),
    ("invalid run option", lambda t: t.replace("latent_dim = 2", "latent_dim = -3"), "runs[0].model.latent_dim",
     "latent_dim = -3"),
    ("unknown run option", lambda t: t.replace("latent_dim = 2", "latent_dims = 2"), "runs[0].model.latent_dims",
     "latent_dims = 2"),
    ("run without epochs", lambda t: t.replace("epochs = 2\n", ""), "runs[0].train", "[runs.train]"),
    ("try step breaks the run", lambda t: t.replace("beta = 4.0", "beta = -1.0"), "try[0].change.beta",
     "beta = -1.0"),
    ("try step with an unknown option", lambda t: t.replace("beta = 4.0", "gamma = 2"), "try[0].change.gamma",
     "gamma = 2"),
    ("formula that does not parse", lambda t: t.replace("$D_{KL}", "$D_{{KL}"), "formulas[0].tex", "tex = "),
    ("formula without $", lambda t: t.replace("'$D_{KL}(q \\,\\|\\, p)$'", "'D_{KL}'"), "formulas[0].tex",
     "tex = "),
    ("formula of a metric no run reports", lambda t: t.replace('metric = "kl"', 'metric = "d_real"'),
     "formulas[0].metric", 'metric = "d_real"'),
    ("unknown view", lambda t: t.replace('"curves"]', '"movie"]'), "views", "views = "),
    ("too many try steps", lambda t: t + ("\n[[try]]\nlabel = 'x'\nchange = { beta = 2.0 }\nlook_for = 'y'\n" * 3),
     "try", None),
    ("prepare not a boolean", lambda t: t.replace('name = "vae"', 'name = "vae"\nprepare = "yes"'),
     "runs[0].prepare", 'prepare = "yes"'),
    ("GAN on a toy with a label", lambda t: t.replace('model = "vae"', 'model = "cvae"').replace(
        '"digits"', '"ring8"'), "runs[0].train.dataset", 'dataset = "ring8"'),
]


@pytest.mark.parametrize(("what", "breaks", "field", "on_line"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_file_is_one_line_naming_file_line_and_field(tmp_path, what, breaks, field, on_line):
    text = breaks(GOOD)
    assert text != GOOD
    path = write(tmp_path, text)
    with pytest.raises(LessonError) as caught:
        load_lesson(path)
    message = str(caught.value)
    assert "\n" not in message
    found = re.match(rf"{re.escape(str(path))}:(\d+): (\S+): .+", message)
    assert found, message
    assert found.group(2) == field, message
    if on_line is not None:
        assert int(found.group(1)) == line_of(text, on_line), message


def test_a_try_step_may_not_swap_the_model(tmp_path):
    path = write(tmp_path, GOOD.replace("beta = 4.0", 'model = "ae"'))
    with pytest.raises(LessonError, match=r"try\[0\]\.change\.model: .*second run"):
        load_lesson(path)


def test_a_change_goes_to_its_section():
    sections = {"train": {"model": "vae", "dataset": "digits", "epochs": 2}, "model": {"latent_dim": 2}}
    config = changed_config(sections, {"epochs": 5, "beta": 2.0, "hidden": [32]})
    assert (config.train.epochs, config.model.beta, config.model.hidden) == (5, 2.0, (32,))
    assert sections["train"]["epochs"] == 2  # the lesson's run is untouched


def test_kgen_lessons_lists_them_in_lecture_order(capsys):
    assert main(["lessons"]) == 0
    out = capsys.readouterr().out
    names = [x.name for x in lessons()]
    positions = [out.index(f" {name} ") for name in names]
    assert positions == sorted(positions)
    assert "vae-digits" in out and "slides" in out.splitlines()[0]


def test_kgen_lessons_name_shows_one(capsys):
    assert main(["lessons", "elbo-kl"]) == 0
    out = capsys.readouterr().out
    assert "D_{KL}" in out and "[live: kl]" in out and "look for:" in out and "beta=4" in out


def test_kgen_lessons_unknown_name_is_one_line(capsys):
    assert main(["lessons", "no-such-lesson"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vae-digits" in err


@pytest.mark.parametrize("name", ["vae-digits", "gan-game"])
def test_a_lessons_first_run_trains(name, tmp_path):
    from kgen.lessons import find_lesson
    from kgen.train.training import train

    run = find_lesson(name).runs[0]
    sections = {"train": {**run.sections["train"], "epochs": 1}, "model": run.sections["model"]}
    result = train(RunConfig.from_dict(sections), tmp_path / "run", verbose=0)
    assert result.epochs_done == 1


def test_a_broken_shipped_file_is_listed_as_broken_not_skipped(monkeypatch, tmp_path):
    import kgen.lessons as module

    good, bad = write(tmp_path, GOOD, "good.toml"), write(tmp_path, GOOD.replace("slides = [11]", "slides = []"),
                                                          "bad.toml")
    monkeypatch.setattr(module, "lesson_files", lambda: [bad, good])
    found = module.shipped()
    assert [type(x).__name__ for x in found] == ["Lesson", "LessonError"]
    assert str(found[1]).startswith("assets/lessons/bad.toml:2: slides: ")
    with pytest.raises(LessonError, match="bad.toml"):
        module.lessons()


def test_prepare_marks_a_run_trained_before_class(tmp_path):
    assert not load_lesson(write(tmp_path, GOOD)).runs[0].prepare
    marked = load_lesson(write(tmp_path, GOOD.replace('name = "vae"', 'name = "vae"\nprepare = true')))
    assert marked.runs[0].prepare and marked.source.count("prepare = true") == 1


def test_a_lesson_slower_than_a_minute_has_every_run_prepared(tmp_path):
    assert not load_lesson(write(tmp_path, GOOD.replace("slides = [11]", "slides = [11]\nseconds = 60"))).runs[0].prepare
    slow = load_lesson(write(tmp_path, GOOD.replace("slides = [11]", "slides = [11]\nseconds = 61")))
    assert all(run.prepare for run in slow.runs)


def test_the_dcgan_lesson_prepares_the_slides_fashion_demo(capsys):
    from kgen.lessons import find_lesson

    lesson = find_lesson("dcgan")
    live, fashion = lesson.run("dcgan"), lesson.run("dcgan-fashion")
    assert not live.prepare and fashion.prepare and fashion.config.train.dataset == "fashion-mnist"
    assert main(["lessons", "dcgan"]) == 0
    assert "dcgan-fashion: dcgan (dataset=fashion-mnist, epochs=5, seed=0)  [prepared" in capsys.readouterr().out


def test_a_prepared_run_on_data_not_installed_still_loads(tmp_path, monkeypatch):
    """The loader checks a run's options, never its data: a pack on another machine opens it."""
    import kgen.data.idx as idx
    from kgen.data import list_datasets

    monkeypatch.setattr(idx, "SYSTEM_FASHION_DIR", tmp_path / "nothing-here")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras-home"))
    assert not next(i for i in list_datasets() if i.name == "fashion-mnist").available
    text = GOOD.replace('dataset = "digits"', 'dataset = "fashion-mnist"').replace(
        'name = "vae"', 'name = "vae"\nprepare = true')
    assert load_lesson(write(tmp_path, text)).runs[0].config.train.dataset == "fashion-mnist"


def test_find_lesson_reads_a_teachers_own_file(tmp_path):
    """A copied and edited lesson file is checked by its path, with the same one-line errors."""
    from kgen.lessons import find_lesson

    shipped_cgan = next(f for f in lesson_files() if f.name == "cgan.toml")
    own = tmp_path / "my-cgan.toml"
    own.write_text(shipped_cgan.read_text(encoding="utf-8").replace("slides = [28]", "slides = [28, 33]"),
                   encoding="utf-8")
    lesson = find_lesson(str(own))
    assert lesson.name == "my-cgan" and lesson.slides == (28, 33)
    own.write_text(own.read_text(encoding="utf-8").replace("slides = [28, 33]", "slides = [28, 40]"), encoding="utf-8")
    with pytest.raises(LessonError, match=r"my-cgan.toml:\d+: slides: item 2 must be a slide number 1-34"):
        find_lesson(str(own))
