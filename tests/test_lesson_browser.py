"""The lessons in the app: the browser, the open lesson, its runs and try steps, live values beside
the formulas, what ran remembered across windows, `kgen-studio --lesson`, and a class pack's
prepared runs (pytest-qt, offscreen; a fake controller where training is not the point)."""

import gc
import shutil
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.lesson_views.history import LessonHistory, lesson_key  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from kgen import events as ev  # noqa: E402
from kgen.config import VAEConfig  # noqa: E402
from kgen.lessons import VIEWS, Lesson, LessonError, parse_lesson, shipped  # noqa: E402

V1_RUN = Path(__file__).parent / "data" / "v1" / "vae-digits"


class FakeController:
    """Takes runs without training them; the test hands the window the events a run would send."""

    def __init__(self, *_, **__):
        self.started: list = []  # (config, run_dir) of each Start
        self.queue: list = []
        self.is_running = False

    def start(self, config, run_dir=None, **_):
        self.started.append((config, run_dir))
        self.is_running = True
        self.queue.append(ev.Start(device="CPU: fake", epochs=config.train.epochs, steps_per_epoch=2,
                                   run_dir=str(run_dir)))
        return run_dir

    def finish(self, run_dir, status="finished"):
        self.queue.append(ev.Finished(status=status, run_dir=str(run_dir), epochs_done=1))

    def poll(self):
        events, self.queue = self.queue, []
        if any(e.kind == "finished" for e in events):
            self.is_running = False
        return events

    def stop(self):
        if self.is_running:
            self.finish(self.started[-1][1], "stopped")

    def join(self, timeout=None):
        return True

    pause = resume = step = kill = lambda self, *a: None


@pytest.fixture(autouse=True)
def settings_in_tmp(tmp_path):
    """Every QSettings of the app (the default one too) in a temporary folder."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield tmp_path / "settings"


def history(tmp_path) -> LessonHistory:
    return LessonHistory(QSettings(str(tmp_path / "lessons.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(studio, tmp_path):
    def make(**kwargs):
        kwargs.setdefault("history", history(tmp_path))
        return studio(FakeController(), **kwargs)

    return make


def shown_names(window) -> list[str]:
    return window.browser.names()


def test_the_browser_lists_the_lessons_in_the_lectures_order_with_slides_and_state(qtbot, make_window):
    window = make_window()
    assert window._lessons is None  # nothing read (nor matplotlib imported) until the browser shows
    window.left_tabs.setCurrentWidget(window.browser)
    every = [x for x in shipped() if isinstance(x, Lesson)]
    assert shown_names(window) == [lesson.name for lesson in every]
    firsts = [lesson.slides[0] for lesson in every]
    assert firsts == sorted(firsts)
    first = window.browser.list.item(0).text()
    assert first.startswith(f"Slide{'s' if len(every[0].slides) > 1 else ''} {every[0].slides[0]}")
    assert every[0].title in first and "not run yet" in first
    assert all(not window.browser.list.item(i).icon().isNull() for i in range(window.browser.list.count()))


def test_a_broken_lesson_file_is_listed_greyed_with_its_error_and_the_rest_still_open(qtbot, make_window):
    good = shipped()[0]
    try:
        parse_lesson('title = "x"\nslides = [99]\n', "assets/lessons/broken.toml", "broken")
    except LessonError as err:
        broken = err
    window = make_window()
    window.show_lessons([good, broken])
    items = [window.browser.list.item(i) for i in range(window.browser.list.count())]
    assert len(items) == 2 and shown_names(window) == [good.name]
    assert "broken.toml:" in items[1].text() and "\n" not in str(broken)
    assert not items[1].flags()  # greyed: it cannot be opened
    window.browser.list.itemActivated.emit(items[0])
    assert window.lesson is good


def test_opening_a_lesson_sets_up_its_run_and_brings_its_first_view_forward(qtbot, make_window):
    window = make_window()
    for lesson in window.lesson_list():
        window.open_lesson(lesson.name)
        assert window.left_tabs.currentWidget() is window.lesson_panel
        assert window.lesson_panel.title.text() == lesson.title
        assert window.setup_panel.config().to_dict() == lesson.runs[0].config.to_dict()
        first = window.view_widgets.get(lesson.views[0])
        if first is not None and first is not window.curves:  # the curves are always in view
            assert first.isVisibleTo(window) or window.tabs.currentWidget() is first
            assert window.tabs.currentWidget() is first or window.left_tabs.currentWidget() is first
    assert set(window.view_widgets) <= set(VIEWS)
    with pytest.raises(LessonError, match="no lesson named 'nope'; the lessons are"):
        window.open_lesson("nope")


def test_start_and_a_try_step_train_through_the_setup_form_and_say_what_to_look_for(qtbot, make_window):
    window = make_window()
    lesson = next(x for x in window.lesson_list() if x.name == "elbo-kl")
    window.open_lesson(lesson)
    controller = window.bridge.controller
    window.lesson_panel.start_button.click()
    assert window.state == "running" and controller.started[-1][0].to_dict() == lesson.runs[0].config.to_dict()
    assert not window.lesson_panel.try_buttons[0].isEnabled()  # one run at a time
    controller.finish(controller.started[-1][1])
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    step = lesson.tries[0]
    window.lesson_panel.try_buttons[0].click()
    assert window.state == "running"
    config = controller.started[-1][0]
    assert config.to_dict() == step.config(lesson).to_dict() != lesson.runs[0].config.to_dict()
    assert window.setup_panel.config().to_dict() == config.to_dict()
    assert window.lesson_panel.look_for.isVisibleTo(window) and step.look_for in window.lesson_panel.look_for.text()


def test_the_value_beside_a_formula_follows_the_step_events_a_few_times_a_second(qtbot, make_window):
    window = make_window()
    window.open_lesson("elbo-kl")
    row = next(r for r in window.lesson_panel.rows if r.formula.metric == "kl")
    assert row.value.text() == "kl = –"
    window.lesson_panel.start_button.click()
    for step in range(1, 51):
        window.bridge.step.emit(ev.Step(step=step, epoch=1, metrics={"kl": 1.0 + step, "loss": 9.0}))
    assert row.value.text() == "kl = –"  # not redrawn per event ...
    qtbot.waitUntil(lambda: row.value.text() == "kl = 51", timeout=2000)  # ... the latest, soon
    qtbot.waitUntil(lambda: all(r.picture.rendered for r in window.lesson_panel.rows), timeout=30_000)


def test_next_and_previous_walk_the_lessons_in_order(qtbot, make_window):
    window = make_window()
    names = [x.name for x in window.lesson_list()]
    window.next_lesson()  # nothing open: the first
    assert window.lesson.name == names[0]
    window.previous_lesson()  # stays at the first
    assert window.lesson.name == names[0] and "first lesson" in window.statusBar().currentMessage()
    window.next_lesson()
    window.next_lesson()
    assert window.lesson.name == names[2]
    window.previous_lesson()
    assert window.lesson.name == names[1]
    window.open_lesson(names[-1])
    window.next_lesson()
    assert window.lesson.name == names[-1]
    window.lessons_menu.aboutToShow.emit()  # Lessons > Open lesson lists them all, in order
    actions = window.lessons_menu.actions()
    assert len(actions) == len(names)
    actions[3].trigger()
    assert window.lesson.name == names[3]


def test_a_lesson_that_ran_is_remembered_in_a_new_window_with_its_grid_as_thumbnail(qtbot, make_window, tmp_path):
    window = make_window()
    lesson = window.lesson_list()[0]
    window.open_lesson(lesson)
    window.lesson_panel.start_button.click()
    run_dir = tmp_path / "a-run"
    shutil.copytree(V1_RUN / "samples", run_dir / "samples")
    window.bridge.controller.finish(run_dir)
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    window.close()

    again = make_window()
    again.left_tabs.setCurrentWidget(again.browser)
    assert "✓ its demo has run" in again.browser.list.item(0).text()
    assert "not run yet" in again.browser.list.item(1).text()
    assert again.history.last_run(lesson) == run_dir.resolve()
    store = QSettings(str(tmp_path / "lessons.ini"), QSettings.Format.IniFormat)
    assert store.value(f"lessons/{lesson_key(lesson)}") == str(run_dir.resolve())


def test_a_stopped_run_does_not_count_as_the_demo_having_run(qtbot, make_window):
    window = make_window()
    window.open_lesson(window.lesson_list()[0])
    window.lesson_panel.start_button.click()
    window.stop_button.click()
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    assert not window.history.has_run(window.lesson)


class FakePack:
    """A class pack's interface: prepared runs by (lesson, run) name."""

    def __init__(self, root: Path, prepared: dict):
        self.root, self.prepared = root, prepared
        self.lessons = ()

    def prepared_run(self, lesson_name: str, run_name: str):
        return self.prepared.get((lesson_name, run_name))


def test_a_packs_prepared_run_is_followed_and_start_still_trains_live(qtbot, make_window, tmp_path):
    run = tmp_path / "pack" / "vae-digits" / "vae"
    shutil.copytree(V1_RUN, run, ignore=shutil.ignore_patterns("model.keras"))  # no model: no explorer process
    window = make_window()
    every = shipped()
    window.show_lessons(every, pack=FakePack(tmp_path / "pack", {("vae-digits", "vae"): run}))
    row = window.browser.names().index("vae-digits")
    assert not window.browser.list.item(row).icon().isNull()
    window.open_lesson("vae-digits")
    assert window.state == "monitoring" and window._run_dir == str(run)
    qtbot.waitUntil(lambda: window.samples.count() >= 1, timeout=10_000)  # its grids, from the pack
    window.open_lesson("manifold")  # no prepared run: back to setting up a live one
    assert window.state == "idle"
    window.open_lesson("vae-digits")
    window.lesson_panel.start_button.click()
    assert window.state == "running" and window.bridge.controller.started


def test_studio_lesson_flag_opens_the_lesson_or_refuses_an_unknown_name(qtbot, monkeypatch, tmp_path, capsys):
    from gui import app

    monkeypatch.setattr("gui.bridge.ProcessController", FakeController)
    before = set(QApplication.topLevelWidgets())
    assert app.main(["--lesson", "no-such-lesson"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no lesson named 'no-such-lesson'; the lessons are" in err[0] and "vae-digits" in err[0]
    assert not [w for w in set(QApplication.topLevelWidgets()) - before if isinstance(w, MainWindow)]

    seen = {}

    def look():
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        seen["lesson"] = window.lesson.name
        seen["tab"] = window.left_tabs.currentWidget() is window.lesson_panel
        QApplication.closeAllWindows()

    gc.unfreeze()
    QTimer.singleShot(300, look)
    try:
        assert app.main(["--lesson", "vae-digits", "--runs", str(tmp_path / "runs")]) == 0
    finally:
        gc.unfreeze()
    assert seen == {"lesson": "vae-digits", "tab": True}


_STARTS_WITHOUT_MATPLOTLIB = r"""
import sys
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from gui.main_window import MainWindow
from gui.lesson_views.history import LessonHistory
from PySide6.QtCore import QSettings
window = MainWindow(runs_root=sys.argv[1], controller=object.__new__(type("Idle", (), {"is_running": False})),
                    history=LessonHistory(QSettings(sys.argv[1] + "/s.ini", QSettings.Format.IniFormat)))
at_start = "matplotlib" in sys.modules
window.left_tabs.setCurrentWidget(window.browser)
print(at_start, "matplotlib" in sys.modules, len(window.browser.names()))
"""


def test_the_window_starts_without_matplotlib_and_reads_the_lessons_when_the_browser_shows(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KGEN_OFFLINE": "1", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", _STARTS_WITHOUT_MATPLOTLIB, str(tmp_path)], capture_output=True,
                          text=True, env=env, cwd=root, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True", str(len([x for x in shipped() if isinstance(x, Lesson)]))]


def test_the_setup_form_keeps_a_lessons_options_it_has_no_widget_for(qtbot, make_window):
    window = make_window()
    lesson = next(x for x in window.lesson_list() if x.name == "gan-game")
    step = next(s for s in lesson.tries if "hidden" in s.change)
    window.open_lesson(lesson)
    window.lesson_panel.try_buttons[lesson.tries.index(step)].click()
    started = window.bridge.controller.started[-1][0]
    assert started.model.hidden == tuple(step.change["hidden"]) != lesson.runs[0].config.model.hidden
    panel = window.setup_panel
    assert "hidden = (16, 16)" in panel.carried.text() and panel.form.isRowVisible(panel.carried)
    window.bridge.controller.finish(window.bridge.controller.started[-1][1])
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    window.setup_panel.model.setCurrentText("vae")  # another model: the lesson's options are left behind
    assert window.setup_panel.config().model.hidden == VAEConfig().hidden
    assert not window.setup_panel.form.isRowVisible(window.setup_panel.carried)


def test_a_class_pack_opens_from_the_file_menu_and_the_command_line(qtbot, make_window, monkeypatch, tmp_path, capsys):
    from gui import app

    every = [x for x in shipped() if isinstance(x, Lesson)][:3]
    fake = FakePack(tmp_path / "stick", {})
    fake.lessons = tuple(every)
    opened = []
    monkeypatch.setattr("kgen.services.class_pack.open_pack", lambda path: opened.append(path) or fake)
    window = make_window()
    assert window.open_class_pack(tmp_path / "stick")
    assert window.browser.names() == [x.name for x in every] and window.pack is fake
    monkeypatch.undo()

    window.open_class_pack(tmp_path)  # not a pack: one line, and the lessons listed stay
    assert window.statusBar().currentMessage().startswith("cannot open the class pack: ")
    assert window.pack is fake
    assert app.main(["--pack", str(tmp_path)]) == 2  # refused before any window opens
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kgen-studio: ")


def test_studio_lesson_flag_takes_a_teachers_own_lesson_file(tmp_path):
    """`kgen-studio --lesson my.toml` lists the teacher's file among the shipped lessons, in the
    lecture's order, and opens it; a broken file is its one-line error before any window."""
    from gui import app
    from kgen.lessons import Lesson, LessonError, lesson_files

    text = next(f for f in lesson_files() if f.name == "cgan.toml").read_text(encoding="utf-8")
    own = tmp_path / "my-gan.toml"
    own.write_text(text.replace("slides = [28]", "slides = [3]"), encoding="utf-8")
    items, pack, lesson = app.start_lessons(app.parse_args(["--lesson", str(own)]))
    names = [item.name for item in items if isinstance(item, Lesson)]
    assert pack is None and lesson.name == "my-gan" and lesson.slides == (3,)
    assert names.index("gan-inversion") < names.index("my-gan") < names.index("inverse-graphics")
    own.write_text(text.replace("[[runs]]", "[[runz]]", 1), encoding="utf-8")
    with pytest.raises(LessonError, match=r"my-gan.toml:\d+: "):
        app.start_lessons(app.parse_args(["--lesson", str(own)]))


def test_a_lesson_with_the_compare_view_collects_its_finished_runs_there_by_name(qtbot, make_window, tmp_path):
    window = make_window()
    lesson = next(x for x in window.lesson_list() if x.name == "ae-vs-vae")
    assert "compare" in lesson.views
    window.open_lesson(lesson)
    controller = window.bridge.controller
    runs = [tmp_path / "first", tmp_path / "stopped", tmp_path / "tried"]
    for run in runs:
        shutil.copytree(V1_RUN, run, ignore=shutil.ignore_patterns("model.keras"))
    window.lesson_panel.start_button.click()
    controller.finish(runs[0])
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    window.lesson_panel.start_button.click()
    controller.finish(runs[1], status="stopped")  # a stopped run is not the lesson's demo
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    step = lesson.tries[0]
    window.lesson_panel.try_buttons[0].click()
    controller.finish(runs[2])
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    compare = window.compare_view
    assert compare.runs() == [str(runs[0]), str(runs[2])]
    window.compare_view.redraw()
    names = [compare.run_list.item(i).text() for i in range(compare.run_list.count())]
    changes = ", ".join(f"{k} {v}" for k, v in step.change.items())
    assert names == [lesson.runs[0].name, f"{step.run}: {changes}"]
