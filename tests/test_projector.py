"""Projector mode (gui/projector.py): large fonts, thick lines and a high-contrast palette that
switch back exactly, one view maximised, keyboard shortcuts, and settings kept across restarts."""

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
pg = pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QEvent, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication, QSplitter, QTableWidgetItem  # noqa: E402

from gui import projector, theme  # noqa: E402
from gui.latent_explorer.image_panel import ImagePanel  # noqa: E402
from gui.lesson_views import history  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from kgen.services.explorer import ExplorerData  # noqa: E402
from tests.test_compare import write_run  # noqa: E402

TIMEOUT_MS = 60_000

DISTINCT = 15.0  # CIEDE2000 between any two line colours: plainly different at a glance (2.3 is barely)


@pytest.fixture
def settings(tmp_path):
    """QSettings in a temporary folder, so tests never read or write the user's settings."""
    for kind in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(kind, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    return history.settings()


@pytest.fixture
def make_window(qtbot, settings, tmp_path):
    """Windows as the app makes them (with projector.install); each closed, projector mode off."""
    made = []
    app = QApplication.instance()
    normal = app.palette(), app.styleSheet()
    theme.apply_palette(app)  # the app's stylesheet, as gui/app.py sets it: fonts must follow through it

    def make() -> MainWindow:
        window = MainWindow(runs_root=tmp_path / "runs")
        qtbot.addWidget(window)
        window.resize(1280, 800)
        made.append(window)
        return window

    yield make
    for window in made:
        window.projector.set_enabled(False)  # the app's font and palette are shared by the tests after
        window.close()
        window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # gone before the next test restyles the app
    app.setPalette(normal[0])
    app.setStyleSheet(normal[1])


def feed(window, tmp_path) -> None:
    """Something in every hooked view: curves with epochs, a marker and a test score; a grid; two
    compared runs; a playground snapshot."""
    rng = np.random.default_rng(0)
    for step in range(1, 31):
        window.curves.add_step({"step": step, "epoch": 1, "metrics": {"loss": 2 - step / 30, "kl": step / 30}})
    window.curves.add_epoch({"epoch": 1, "step": 30, "metrics": {"loss": 1.5, "val_loss": 1.6}})
    window.curves.add_hparam({"name": "lr", "old": 0.001, "new": 0.01, "step": 20})
    window.curves.settle()  # the plots built: a test score gets a star on its plot
    window.curves.add_eval({"split": "test", "metrics": {"loss": 1.4}})
    window.curves.settle()
    window.samples.add_grid(1, (rng.random((40, 40)) * 255).astype(np.uint8))
    window.samples.flush()
    for name in ("run-a", "run-b"):
        write_run(tmp_path / name, rng.random(10) + 1)
        window.compare_view.add_run(tmp_path / name)
    points = rng.normal(size=(16, 2)).astype(np.float32)
    window.playground.add_snapshot({"box": [-2, 2, -2, 2], "real": points, "generated": points, "descent": points,
                                    "moves": points, "d_grid": rng.random((8, 8)), "step": 1, "epoch": 1})
    window.playground.flush()


def drawn_look(window) -> dict:
    """What projector mode changes, as plain values."""
    app = QApplication.instance()
    curves = window.curves
    smooth = curves._smooth["loss"].opts["pen"]
    epoch = curves._epoch_curves["val_loss"]
    compare = window.compare_view._curves[next(iter(window.compare_view._curves))].opts["pen"]
    loss_plot = curves._plots["loss"]
    tick_font = loss_plot.getAxis("left").style["tickFont"]
    return {
        "font": app.font().pointSizeF(), "label font": window.step_button.font().pointSizeF(),
        "window colour": app.palette().window().color().name(), "text colour": app.palette().text().color().name(),
        "stylesheet": app.styleSheet(),
        "curve": (smooth.widthF(), smooth.color().name()), "raw": curves._raw["loss"].opts["pen"].widthF(),
        "epoch": (epoch.opts["pen"].widthF(), epoch.opts["symbolSize"]),
        "star": curves._eval_points["loss"].opts["symbolSize"],
        "title": (loss_plot.titleLabel.text, loss_plot.titleLabel.opts.get("size")),
        "ticks": None if tick_font is None else tick_font.pointSizeF(),
        "axis": loss_plot.getAxis("left").pen().color().name(), "axis width": loss_plot.getAxis("left").fixedWidth,
        "marker": curves._marker_lines[0].pen.widthF(),
        "compare": (compare.widthF(), compare.color().name()),
        "points": (window.playground.real.opts["size"], window.playground.fake.opts["size"]),
        "arrows": window.playground.arrows.opts["pen"].widthF(),
        "samples title": window.samples.plot.titleLabel.opts.get("size"),
        "title colour": loss_plot.titleLabel.opts.get("color"),
        "pictures": window.samples.splitter.orientation(),  # beside each other in projector mode
        "KL widget": (window.kl_gaussians.density_plot.titleLabel.opts.get("size"),
                      window.kl_gaussians.density_plot.getAxis("left").pen().color().name()),
    }


def test_the_projector_palette_is_readable_on_a_washed_out_projector():
    p = theme.PROJECTOR_PALETTE
    text_on = (p.window, p.base, p.alternate_base, p.button, p.tooltip)
    assert min(theme.contrast_ratio(p.text, background) for background in text_on) >= 7
    for ink, background in ((p.muted, p.window), (p.hint, p.window), (p.accent_text, p.accent),
                            (p.error, p.error_background), (p.alert, p.window), (p.plot_ink, p.plot_background)):
        assert theme.contrast_ratio(ink, background) >= 7, (ink, background)
    lines = (*p.series, p.real, p.fake, p.kl_active, p.kl_collapsed, p.marker, p.arrow)
    assert len(p.series) >= 10  # a colour for each of ten classes
    for line in lines:
        assert theme.contrast_ratio(line, p.plot_background) >= 4.5, line
    for first, second in [*itertools.combinations(p.series, 2), (p.real, p.fake), (p.kl_active, p.kl_collapsed)]:
        assert ciede2000(first, second) >= DISTINCT, (first, second)
    # the normal palette's pale lines would fail: the test can tell
    assert min(theme.contrast_ratio(c, theme.PALETTE.plot_background) for c in theme.PALETTE.series) < 4.5


def test_contrast_ratio_is_wcags():
    assert theme.contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert theme.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert theme.contrast_ratio("#123456", "#123456") == 1


def test_toggling_changes_fonts_pens_and_palette_and_back_exactly(make_window, tmp_path):
    window = make_window()
    feed(window, tmp_path)
    before = drawn_look(window)
    window.projector.action.trigger()  # View > Projector mode
    on = drawn_look(window)
    assert window.projector.enabled and window.projector.action.isChecked()
    assert on["font"] == pytest.approx(before["font"] * projector.FONT_SCALE)
    assert on["label font"] == pytest.approx(before["label font"] * projector.FONT_SCALE)  # widgets follow
    assert on["window colour"] == theme.PROJECTOR_PALETTE.window and on["text colour"] == "#000000"
    assert theme.PROJECTOR_PALETTE.border in on["stylesheet"]
    assert on["curve"] == (4.0, theme.PROJECTOR_PALETTE.series[0]) and on["raw"] == 2.0
    assert on["epoch"][0] == 3.0 and on["epoch"][1] > before["epoch"][1] and on["star"] > before["star"]
    assert on["title"] == ("loss", "16pt")
    assert on["ticks"] > 13 and on["axis"] == "#000000" and on["axis width"] > before["axis width"]
    assert on["marker"] == 3.0
    assert on["compare"] == (4.0, theme.PROJECTOR_PALETTE.series[0])
    assert on["points"][0] > before["points"][0] and on["arrows"] > before["arrows"]
    assert on["samples title"] != before["samples title"] and on["title colour"] == "#000000"
    assert on["pictures"] == Qt.Orientation.Horizontal
    for key in set(before) - {"text colour"}:  # nearly black, and black
        assert on[key] != before[key], key
    window.projector.action.trigger()
    assert drawn_look(window) == before
    assert not window.projector.enabled


def test_lines_added_in_projector_mode_are_drawn_thick(make_window):
    window = make_window()
    window.projector.set_enabled(True)
    window.curves.add_step({"step": 1, "epoch": 1, "metrics": {"d_loss": 1.0, "g_loss": 2.0}})
    window.curves.settle()
    pen = window.curves._smooth["g_loss"].opts["pen"]
    assert (pen.widthF(), pen.color().name()) == (4.0, theme.PROJECTOR_PALETTE.series[1])
    title = window.curves._plots["GAN losses"].titleLabel.text  # the title is the legend, in the lines' colours
    assert theme.PROJECTOR_PALETTE.series[1] in title and theme.PALETTE.series[1] not in title
    window.projector.set_enabled(False)
    pen = window.curves._smooth["g_loss"].opts["pen"]
    assert (pen.widthF(), pen.color().name()) == (2.0, theme.PALETTE.series[1])


def test_projector_mode_and_its_view_are_remembered_across_restarts(make_window, settings, qtbot):
    first = make_window()
    first.projector.set_enabled(True)
    first.projector.maximise("samples")
    first.projector.set_enabled(False)  # the app's font back for the next window to start from
    first.projector.set_enabled(True)  # ... and on again, as a teacher leaves it
    assert settings.value(projector.SETTING_ON, type=bool) and settings.value(projector.SETTING_VIEW) == "samples"
    font = first.projector._normal[0].pointSizeF()
    first.projector.set_enabled(False)
    settings.setValue(projector.SETTING_ON, True)  # closed while on
    second = make_window()
    assert not second.projector.enabled  # not before the window shows its normal layout
    shown(second, qtbot)
    qtbot.waitUntil(lambda: second.projector.enabled)
    assert second.projector.action.isChecked() and not second.centralWidget().widget(0).isVisible()
    assert second.projector.maximised == "samples" and second.tabs.currentWidget() is second.samples
    assert QApplication.instance().font().pointSizeF() == pytest.approx(font * projector.FONT_SCALE)
    second.projector.set_enabled(False)
    assert not settings.value(projector.SETTING_ON, type=bool)
    third = shown(make_window(), qtbot)
    assert not third.projector.enabled
    assert second.size() == third.size() and second.centralWidget().widget(0).isVisible()  # the layout shown first


def test_maximise_hides_the_other_views_and_restores_the_layout(make_window, qtbot):
    window = shown(make_window(), qtbot)
    qtbot.waitUntil(lambda: window.setup_panel.preview.picture is not None, timeout=60_000)  # it widens the column
    qtbot.wait(50)
    tab = window.tabs.currentIndex()
    splitters = [s for s in window.findChildren(QSplitter) if s.isVisible()]  # a hidden tab's sizes are stale
    sizes = {s: s.sizes() for s in splitters}
    left = window.centralWidget().widget(0)
    window.projector.maximise("curves")
    assert not left.isVisible() and not window.tabs.isVisible() and window.curves.isVisible()
    window.projector.maximise("compare")
    assert window.tabs.isVisible() and window.tabs.currentWidget() is window.compare_view
    assert not window.curves.isVisible() and not left.isVisible()
    window.projector.maximise(None)
    assert left.isVisible() and window.curves.isVisible() and window.tabs.isVisible()
    assert {s: s.sizes() for s in splitters} == sizes and window.tabs.currentIndex() == tab

    names = list(window.projector.views())
    assert names[0] == "curves" and "compare" in names and "playground" not in names  # a hidden tab is no view
    seen = []
    for _ in range(len(names) + 1):  # F6 cycles through every view, then shows them all
        qtbot.keyClick(window, Qt.Key.Key_F6)
        seen.append(window.projector.maximised)
    assert seen == [*names, None]
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.projector.maximised == names[1]
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.projector.maximised is None and {s: s.sizes() for s in splitters} == sizes

    window.projector.maximise("curves")
    window.projector.set_enabled(True)  # on: its remembered view; off: the layout of before
    window.projector.set_enabled(False)
    assert left.isVisible()
    qtbot.waitUntil(lambda: {s: s.sizes() for s in splitters} == sizes, timeout=3000)  # once the menus' fonts settle


def test_projector_mode_keys_switch_it(make_window, qtbot):
    window = shown(make_window(), qtbot)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.projector.enabled
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not window.projector.enabled


@pytest.fixture
def calls(make_window, qtbot, monkeypatch):
    """A shown window whose run and lesson methods only record that they were called."""
    window = make_window()
    made = []
    for name in ("start_training", "_on_pause_clicked", "_on_stop_clicked", "next_lesson", "previous_lesson"):
        monkeypatch.setattr(window, name, lambda name=name: made.append(name), raising=False)
    monkeypatch.setattr(window.bridge, "step_once", lambda: made.append("step_once"))
    return shown(window, qtbot), made


def shown(window, qtbot):
    """``window`` on screen and active: its keyboard shortcuts work."""
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    return window


CTRL = Qt.KeyboardModifier.ControlModifier


def test_each_shortcut_calls_its_action(calls, qtbot):
    window, made = calls
    qtbot.keyClick(window, Qt.Key.Key_Return, CTRL)
    assert made == ["start_training"]
    window._set_state("running")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.keyClick(window, Qt.Key.Key_Space, CTRL)
    assert made[1:] == ["_on_pause_clicked"] * 2
    qtbot.keyClick(window, Qt.Key.Key_Right, CTRL)
    qtbot.keyClick(window, Qt.Key.Key_S)
    assert "step_once" not in made  # Step only while paused
    window._set_state("paused")
    qtbot.keyClick(window, Qt.Key.Key_Right, CTRL)
    qtbot.keyClick(window, Qt.Key.Key_S)
    assert made[3:] == ["step_once"] * 2
    qtbot.keyClick(window, Qt.Key.Key_Period, CTRL)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert made[5:] == ["_on_stop_clicked", "next_lesson", "previous_lesson"]
    window._set_state("idle")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.keyClick(window, Qt.Key.Key_Period, CTRL)
    assert len(made) == 8  # no pause nor stop without a run


def test_space_and_s_type_into_a_focused_field_instead(calls, qtbot):
    window, made = calls
    window._set_state("paused")
    field = window.live_lr  # a spin box: typing goes to it
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    field.lineEdit().selectAll()
    qtbot.keyClicks(field, "0.5")
    qtbot.keyClick(field, Qt.Key.Key_Space)
    qtbot.keyClick(field, Qt.Key.Key_S)
    assert made == []
    assert field.lineEdit().text().startswith("0.5")
    qtbot.keyClick(field, Qt.Key.Key_Space, CTRL)  # Ctrl+Space pauses from anywhere
    assert made == ["_on_pause_clicked"]


def test_lesson_keys_say_so_in_a_window_without_lessons(make_window):
    window = make_window()
    window.projector.keys._lesson("turn_to_a_lesson_it_lacks")  # looked up by name when pressed
    assert "no lessons" in window.statusBar().currentMessage()


def test_a_turned_lesson_brings_its_first_view_up_in_projector_mode(calls, qtbot, monkeypatch):
    window, made = calls
    lesson = SimpleNamespace(views=("no_such_view", "samples", "curves"))  # a view this window lacks is skipped
    monkeypatch.setattr(window, "next_lesson", lambda: setattr(window, "lesson", lesson), raising=False)
    window.projector.set_enabled(True)
    window.projector.maximise("curves")
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.projector.maximised == "samples" and window.tabs.currentWidget() is window.samples
    window.projector.set_enabled(False)
    window.projector.maximise("curves")
    qtbot.keyClick(window, Qt.Key.Key_PageDown)  # in normal mode the layout is the lesson's own
    assert window.projector.maximised == "curves"


def test_shortcuts_are_listed_in_help_and_tooltips(make_window):
    window = make_window()
    dialog = window.projector.show_shortcuts()
    listed = dialog.findChildren(type(window.step_label))[0].text()
    for command in projector.COMMANDS:
        assert command.text in listed and projector.key_text(command.keys) in listed
    assert "F5" in listed and "F6" in listed and "Maximise curves" in listed and "Ctrl+1" in listed
    assert "Ctrl+Return" in window.start_button.toolTip() and "Space" in window.pause_button.toolTip()
    assert "Ctrl+." in window.stop_button.toolTip() and "run one more batch" in window.step_button.toolTip()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert [a.text() for a in help_menu.actions()] == ["Keyboard shortcuts…"]
    dialog.close()


def test_sample_grids_are_scaled_pixel_for_pixel(make_window):
    window = make_window()
    for graphics in (window.samples.graphics, window.samples.recon_graphics):
        assert not graphics.renderHints() & QPainter.RenderHint.SmoothPixmapTransform


def feed_explorer(window) -> None:
    """Something in the latent explorer's and the drawing pad's plots, with no model: a test set's
    scatter (3 classes, a point ringed and an interpolation end), KL bars (one dimension collapsed),
    an encoded drawing's rings, and evaluation scores."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    xy = rng.normal(size=(30, 2)).astype(np.float32)
    data = ExplorerData("digits", ("0", "1", "2"), rng.random((30, 8, 8, 1)).astype(np.float32), labels,
                        xy, xy, np.array([1.5, 0.001]), np.array([True, False]))
    latent = window.latent_view
    latent.data = data
    latent.scatter.set_points(data.xy, labels, data.class_names)
    latent.scatter.select(3, data.images[3], "test image #3")
    latent.scatter.mark_end("A", 4)
    latent.kl_bars.set_kl(data.kl, data.active)
    latent.data_loaded.emit(data)  # the drawing pad's scatter
    latent.encoded.emit({"reconstruction": data.images[0], "xy": xy[0], "cov": np.diag([0.2, 0.1]),
                         "mean": xy[0], "log_var": np.log([0.2, 0.1]), "plane": "z0, z1"})
    evaluate = window.evaluate_view
    evaluate.table.setRowCount(1)
    evaluate.table.setItem(0, 0, QTableWidgetItem("a rather long score name, elided if too narrow"))
    evaluate.table.resizeColumnToContents(0)


def explorer_look(window) -> dict:
    """What projector mode changes in the latent explorer, the drawing pad and the evaluate view."""
    scatter, bars, pad = window.latent_view.scatter, window.latent_view.kl_bars, window.drawing_pad
    points = scatter._items[0]
    legend_label = scatter.legend.items[0][1]
    return {
        "scatter points": (points.opts["size"], points.opts["brush"].color().name()),
        "scatter axis": scatter.plot.getAxis("left").pen().color().name(),
        "scatter legend": legend_label.opts.get("size"),
        "ring": (scatter.marker.opts["size"], scatter.marker.opts["pen"].widthF()),
        "end label": scatter.end_labels["A"].textItem.font().pointSizeF(),
        "bars": [brush.color().name() for brush in bars.bars.opts["brushes"]],
        "bar outline": pg.mkPen(bars.bars.opts["pen"]).color().name(),
        "bars title": bars.plot.getPlotItem().titleLabel.opts.get("size"),
        "bars ticks": bars.plot.getAxis("left").style["tickFont"] is None,
        "collapsed mark": bars.collapsed_marks.opts["size"],
        "pad rings": [(c.opts["pen"].widthF(), c.opts["pen"].style()) for c in pad.ellipses],
        "pad cross": (pad.marker.opts["size"], pad.marker.opts["pen"].widthF()),
        "pad points": [(item.opts["size"], item.opts["brush"].color().name()) for item in pad._scatter_items],
        "pad title": pad.plot.getPlotItem().titleLabel.opts.get("size"),
        "pad axis": pad.plot.getAxis("bottom").pen().color().name(),
        "canvas frame": pad.canvas.look.width(1),
        "slider column": window.latent_view._slider_column.minimumWidth(),  # room for the KL plot's title
        "evaluate rows": window.evaluate_view.table.verticalHeader().defaultSectionSize(),
        "evaluate names": window.evaluate_view.table.columnWidth(0),
    }


def test_projector_mode_restyles_the_latent_explorer_drawing_pad_and_evaluate_view(make_window):
    window = make_window()
    feed_explorer(window)
    before = explorer_look(window)
    window.projector.action.trigger()
    on = explorer_look(window)
    look, p = theme.PROJECTOR_LOOK, theme.PROJECTOR_PALETTE
    assert on["scatter points"] == (look.points(6), p.series[0]) and on["scatter axis"] == p.plot_ink
    assert on["bars"] == [p.kl_active, p.kl_collapsed] and on["bar outline"] == p.plot_ink
    assert on["pad rings"] == [(6.0, Qt.PenStyle.SolidLine), (4.0, Qt.PenStyle.DashLine)]
    assert on["pad points"][2] == (look.points(6), p.series[2]) and on["pad title"] == "14.4pt"
    assert on["ring"][0] > before["ring"][0] and on["evaluate names"] > before["evaluate names"]
    for key in set(before) - {"scatter axis", "pad axis"}:  # pyqtgraph's grey, and black
        assert on[key] != before[key], key
    window.projector.action.trigger()
    assert explorer_look(window) == before
    assert before["bars"] == [theme.PALETTE.kl_active, theme.PALETTE.kl_collapsed]
    panels = window.findChildren(ImagePanel)  # the explorer's and the pad's pictures: sharp pixels
    assert len(panels) > 10
    assert not any(panel.graphics.renderHints() & QPainter.RenderHint.SmoothPixmapTransform for panel in panels)


def test_a_model_loaded_in_projector_mode_is_drawn_in_its_look(make_window, qtbot, tmp_path_factory):
    from latent_runs import trained_vae_run  # trains with Keras: imported by this test only

    window = make_window()
    window.projector.set_enabled(True)
    window.latent_view.load_run(trained_vae_run(tmp_path_factory, beta=1.0))
    qtbot.waitUntil(lambda: len(window.drawing_pad._scatter_items) > 0, timeout=TIMEOUT_MS)
    look, p = theme.PROJECTOR_LOOK, theme.PROJECTOR_PALETTE
    points = window.latent_view.scatter._items[0]
    assert (points.opts["size"], points.opts["brush"].color().name()) == (look.points(6), p.series[0])
    assert {b.color().name() for b in window.latent_view.kl_bars.bars.opts["brushes"]} <= {p.kl_active, p.kl_collapsed}
    pad_points = window.drawing_pad._scatter_items[0]
    assert (pad_points.opts["size"], pad_points.opts["brush"].color().name()) == (look.points(6), p.series[0])
    window.projector.set_enabled(False)
    assert (points.opts["size"], points.opts["brush"].color().name()) == (6, theme.PALETTE.series[0])


# CIEDE2000 colour difference (Sharma, Wu and Dalal 2005), for "distinguishable" above -----------

def _lab(colour: str) -> tuple[float, float, float]:
    def linear(c: int) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i:i + 2], 16)) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def ciede2000(first: str, second: str) -> float:
    return ciede2000_lab(_lab(first), _lab(second))


def ciede2000_lab(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    (l1, a1, b1), (l2, a2, b2) = first, second
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1, h2 = math.degrees(math.atan2(b1, a1)) % 360, math.degrees(math.atan2(b2, a2)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    d_big_h = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_mean = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_mean = (h1 + h2) / 2
    else:
        h_mean = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_mean - 30)) + 0.24 * math.cos(math.radians(2 * h_mean))
         + 0.32 * math.cos(math.radians(3 * h_mean + 6)) - 0.20 * math.cos(math.radians(4 * h_mean - 63)))
    rotation = -2 * math.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)) * math.sin(
        math.radians(60 * math.exp(-(((h_mean - 275) / 25) ** 2))))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    dl, dc, dh_term = (l2 - l1) / s_l, (c2 - c1) / s_c, d_big_h / s_h
    return math.sqrt(dl ** 2 + dc ** 2 + dh_term ** 2 + rotation * dc * dh_term)


def test_ciede2000_matches_sharmas_published_pairs():
    # pairs 1, 7, 17 and 25 of Sharma, Wu and Dalal's test data (Lab in, their CIEDE2000 out)
    for first, second, expected in (((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
                                    ((50, 0, 0), (50, -1, 2), 2.3669),
                                    ((50, 2.5, 0), (73, 25, -18), 27.1492),
                                    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644)):
        assert ciede2000_lab(first, second) == pytest.approx(expected, abs=1e-4)
    assert ciede2000("#ffffff", "#000000") == pytest.approx(100, abs=0.01)
