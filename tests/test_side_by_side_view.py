"""The side-by-side view (slide 33): two runs of a GAN on a toy, their points on shared axes with
the true modes marked and the modes covered under each, read from run folders the tests write;
live while a run trains, in the studio's lesson collapse-remedies (pytest-qt, offscreen)."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QSettings  # noqa: E402

from gui.lesson_views.history import LessonHistory  # noqa: E402
from gui.side_by_side_view import COVERED_SHARE, SideBySideView, coverage_text, toy_frame  # noqa: E402
from kgen.config import RunConfig  # noqa: E402
from kgen.data import TOY_MODES  # noqa: E402
from kgen.eval.metrics import TOY_STD  # noqa: E402
from kgen.lessons import find_lesson  # noqa: E402
from kgen.runs import Run, newest_points  # noqa: E402

RING = TOY_MODES["ring8"]
CONFIG = RunConfig.from_dict({"train": {"model": "gan", "dataset": "ring8", "epochs": 60, "seed": 0}, "model": {}})


def on_modes(modes: np.ndarray, n: int = 1000, seed: int = 0) -> np.ndarray:
    """``n`` points spread evenly over ``modes``, each within one std of its mode."""
    rng = np.random.default_rng(seed)
    centres = modes[np.arange(n) % len(modes)]
    return (centres + rng.normal(0, TOY_STD["ring8"] / 2, centres.shape)).astype(np.float32)


def write_points(run_dir: Path, epoch: int, points: np.ndarray) -> None:
    path = Run(run_dir).points_path(epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, points)


@pytest.fixture
def view(qtbot):
    shown = SideBySideView()
    qtbot.addWidget(shown)
    shown.set_runs([("collapsing", CONFIG), ("packed", CONFIG)])
    shown.resize(1000, 500)
    shown.show()
    return shown


def test_newest_points_reads_the_newest_epoch_after_the_one_given_and_skips_what_is_not_points(tmp_path):
    assert newest_points(tmp_path) is None  # no folder yet
    write_points(tmp_path, 1, on_modes(RING[:1]))
    write_points(tmp_path, 3, on_modes(RING[:3]))
    (Run(tmp_path).points_path(9)).write_bytes(b"torn")  # a foreign or torn file is not read ...
    (Run(tmp_path).points_path(2).parent / "notes.npy").write_bytes(b"x")
    assert newest_points(tmp_path) is None  # ... nor an older one in its place: nothing new is drawn
    Run(tmp_path).points_path(9).unlink()
    epoch, points = newest_points(tmp_path)
    assert epoch == 3 and points.shape == (1000, 2) and points.dtype == np.float32
    assert newest_points(tmp_path, after=3) is None and newest_points(tmp_path, after=2)[0] == 3


def test_two_finished_runs_show_their_points_on_the_same_axes_with_the_modes_they_cover(view, tmp_path):
    collapsed, covering = tmp_path / "collapsed", tmp_path / "covering"
    write_points(collapsed, 60, on_modes(RING[[0, 3]]))
    write_points(covering, 60, on_modes(RING))
    view.show_run("collapsing", collapsed, "collapsing")
    view.show_run("packed", covering, "packed")
    left, right = view.panels
    assert left.scores.text() == coverage_text(2, 8) == "2 of 8 modes covered"
    assert right.scores.text() == "8 of 8 modes covered"
    assert left.quality.text() == right.quality.text() == "100% of the points high quality (within 3 std of a mode)"
    assert len(left.fake.data) == len(right.fake.data) == 1000
    assert len(left.covered.data) == 2 and len(left.missed.data) == 6 and len(right.covered.data) == 8
    assert "finished, epoch 60" in left.title.text() and "1,000 points" in left.note.text()
    assert [t.toPlainText() for t in left.shares] == ["50%", "", "", "50%", "", "", "", ""]  # the piles, in numbers
    assert {t.toPlainText() for t in right.shares} == {"12%"}  # 125 of 1,000 each
    x0, x1, y0, y1 = toy_frame(RING, TOY_STD["ring8"])
    ranges = [np.ravel(panel.plot.getPlotItem().viewRange()) for panel in view.panels]
    assert ranges[0] == pytest.approx(ranges[1])  # one scale for both ...
    a0, a1, b0, b1 = ranges[0]
    assert a0 <= x0 + 1e-6 and x1 - 1e-6 <= a1 and b0 <= y0 + 1e-6 and y1 - 1e-6 <= b1  # ... framing every mode
    left.plot.getPlotItem().setXRange(-1, 1, padding=0)  # zooming one zooms both
    assert right.plot.getPlotItem().viewRange()[0] == pytest.approx([-1, 1])


def test_a_mode_needs_the_protocols_share_of_the_points_and_points_off_the_modes_lower_the_quality(view, tmp_path):
    points = on_modes(RING[:4], n=800)
    few = np.repeat(RING[4:5], round(COVERED_SHARE * 1000) - 1, axis=0)  # one short of counting
    far = np.full((1000 - len(points) - len(few), 2), 9.0, np.float32)  # off every mode, outside the frame
    write_points(tmp_path, 5, np.concatenate([points, few, far]).astype(np.float32))
    view.show_run("collapsing", tmp_path, "collapsing")
    panel = view.panels[0]
    assert panel.coverage.covered == 4 and panel.coverage.high_quality == pytest.approx(0.807)
    assert panel.scores.text() == "4 of 8 modes covered" and panel.quality.text().startswith("81% of the points")
    assert "193 outside the frame" in panel.note.text()


def test_a_live_run_is_redrawn_as_its_epochs_points_arrive_and_stays_when_it_ends(view, qtbot, tmp_path):
    run = tmp_path / "live"
    view.show_run("packed", run, "packed", CONFIG, live=True)
    panel = view.panel("packed")
    assert "waiting for the first epoch" in panel.note.text() and panel.scores.text() == ""
    write_points(run, 1, on_modes(RING[:1]))
    qtbot.waitUntil(lambda: panel.epoch == 1, timeout=3000)
    assert panel.scores.text().startswith("1 of 8") and "training, epoch 1 of 60" in panel.title.text()
    write_points(run, 2, on_modes(RING[:5]))
    qtbot.waitUntil(lambda: panel.epoch == 2, timeout=3000)
    assert panel.scores.text().startswith("5 of 8")
    write_points(run, 3, on_modes(RING))
    view.run_ended(run, "finished")  # the last epoch's points are read at once
    assert panel.epoch == 3 and panel.scores.text().startswith("8 of 8") and not panel.live
    assert "finished, epoch 3" in panel.title.text() and not view._timer.isActive()
    assert view.panel("collapsing").run_dir is None and "not run yet" in view.panel("collapsing").title.text()


def test_diverged_points_are_counted_not_drawn(view, tmp_path):
    points = on_modes(RING)
    points[:10] = np.nan
    write_points(tmp_path, 1, points)
    view.show_run("collapsing", tmp_path, "collapsing")
    panel = view.panels[0]
    assert len(panel.fake.data) == 990 and "10 not finite (diverged)" in panel.note.text()


def test_the_collapse_remedies_lesson_shows_the_baseline_and_the_remedy_side_by_side(qtbot, studio, tmp_path):
    """Start the baseline: its panel follows its folder live; then the remedy: the finished
    baseline stays beside it; reopened, the lesson shows both again."""
    from test_lesson_browser import FakeController

    lesson = find_lesson("collapse-remedies")
    assert lesson.views[0] == "side_by_side" and lesson.slides == (33,)
    baseline, remedy = lesson.runs[:2]
    assert baseline.config.train.dataset == remedy.config.train.dataset == "ring8"
    window = studio(FakeController(), history=LessonHistory(QSettings(str(tmp_path / "l.ini"),
                                                                      QSettings.Format.IniFormat)))
    window.open_lesson(lesson.name)
    view = window.lesson_desk.side_by_side
    assert window.tabs.currentWidget() is view
    assert [p.name for p in view.panels] == [baseline.name, remedy.name]
    controller = window.bridge.controller

    window.lesson_panel.start_button.click()
    first = Path(controller.started[-1][1])
    qtbot.waitUntil(lambda: view.panels[0].run_dir == str(first), timeout=5000)
    write_points(first, 1, on_modes(RING[[2, 6]]))
    qtbot.waitUntil(lambda: view.panels[0].epoch == 1, timeout=5000)
    controller.finish(first)
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    assert view.panels[0].scores.text().startswith("2 of 8") and not view.panels[0].live
    assert "finished, epoch 1" in view.panels[0].title.text()

    window.lesson_panel.run_choice.setCurrentText(remedy.name)
    window.lesson_panel.start_button.click()
    second = Path(controller.started[-1][1])
    assert controller.started[-1][0].to_dict() == remedy.config.to_dict()
    qtbot.waitUntil(lambda: view.panels[1].live, timeout=5000)
    write_points(second, 1, on_modes(RING))
    qtbot.waitUntil(lambda: view.panels[1].epoch == 1, timeout=5000)
    assert view.panels[0].run_dir == str(first) and view.panels[0].scores.text().startswith("2 of 8")
    assert view.panels[1].scores.text().startswith("8 of 8")
    controller.finish(second)
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)

    window.open_lesson("gan-problems")
    window.open_lesson(lesson.name)
    assert [p.run_dir for p in view.panels] == [str(first), str(second)]
    assert [p.scores.text()[:6] for p in view.panels] == ["2 of 8", "8 of 8"]


def test_a_toy_run_writes_its_picture_points_every_sampled_epoch(tmp_path):
    """A tiny real training: the points file is there, one per sample picture, as the view reads it."""
    from kgen.train.training import train

    config = RunConfig.from_dict({"train": {"model": "gan", "dataset": "ring8", "epochs": 2, "seed": 0,
                                            "batch_size": 500},
                                  "model": {"hidden": [8], "pack": 2}})
    train(config, tmp_path / "run", verbose=0)
    epoch, points = newest_points(tmp_path / "run")
    assert epoch == 2 and points.shape == (1000, 2) and np.isfinite(points).all()
    assert sorted(p.name for p in (tmp_path / "run" / "samples" / "points").iterdir()) == [
        "epoch_0001.npy", "epoch_0002.npy"]


def test_projector_mode_draws_larger_points_thicker_circles_and_larger_shares(view, tmp_path):
    from gui import theme

    write_points(tmp_path, 1, on_modes(RING))
    view.show_run("collapsing", tmp_path, "collapsing")
    panel = view.panels[0]

    def drawn():
        return (panel.fake.opts["size"], panel.covered.opts["pen"].widthF(), panel.covered.opts["size"],
                panel.shares[0].textItem.font().pointSizeF(), panel.fake.opts["brush"].color().name())

    before = drawn()
    view.set_look(theme.PROJECTOR_LOOK)
    on = drawn()
    assert all(b < o for b, o in zip(before[:4], on[:4], strict=True)) and on[4] == theme.PROJECTOR_PALETTE.fake
    view.set_look(theme.NORMAL_LOOK)
    assert drawn() == before


def test_a_lesson_run_that_fails_stops_being_followed(qtbot, studio, tmp_path):
    from test_lesson_browser import FakeController

    from kgen import events as ev

    window = studio(FakeController(), history=LessonHistory(QSettings(str(tmp_path / "l.ini"),
                                                                      QSettings.Format.IniFormat)))
    window.open_lesson("collapse-remedies")
    view = window.lesson_desk.side_by_side
    window.lesson_panel.start_button.click()
    qtbot.waitUntil(lambda: view.panels[0].live, timeout=5000)
    run = Path(window.bridge.controller.started[-1][1])
    write_points(run, 3, on_modes(RING[:2]))
    window.bridge.controller.queue.append(ev.Error(message="a numerical fault"))
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5000)
    assert not view.panels[0].live and not view._timer.isActive()
    assert view.panels[0].epoch == 3 and "ended, epoch 3" in view.panels[0].title.text()
