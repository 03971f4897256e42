"""The 1-D game tab (slide 30): its drawing of a snapshot, projector mode, and a real run through
the window with Step D and Step G by hand; the gan-1d lesson that opens it."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt  # noqa: E402

from gui import theme  # noqa: E402
from gui.game_1d_view import OPTIMAL_NAME, Z_LEVEL, Game1DView, mapping_segments, z_positions  # noqa: E402
from kgen import lessons  # noqa: E402
from kgen.events import Game1D  # noqa: E402

TIMEOUT_MS = 120_000


def snapshot(step=7, lines=5) -> Game1D:
    x = np.linspace(-1.0, 3.0, 40, dtype=np.float32)
    data = np.exp(-0.5 * ((x - 1) / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))
    fake = np.exp(-0.5 * ((x - 0.5) / 0.4) ** 2) / (0.4 * np.sqrt(2 * np.pi))
    z = np.linspace(-2, 2, lines, dtype=np.float32)
    return Game1D(step=step, epoch=2, bandwidth=0.1, x=x, data_density=data, generator_density=fake,
                  d_x=np.full_like(x, 0.4), optimal_d=data / (data + fake), z=z, g_z=0.5 + 0.4 * z)


def test_lines_run_from_z_on_the_z_axis_to_g_of_z_on_the_x_axis():
    np.testing.assert_allclose(z_positions(np.array([-2.0, 0.0, 1.0]), (0.0, 4.0)), [0.0, 2.0, 3.0])
    xs, ys = mapping_segments(np.array([-1.0, 1.0]), np.array([0.5, 9.0]), (0.0, 4.0))
    np.testing.assert_allclose(xs, [0.0, 0.5, 4.0, 4.0])  # G(z) beyond the plot: at its edge
    np.testing.assert_allclose(ys, [Z_LEVEL, 0.0, Z_LEVEL, 0.0])


def test_the_view_draws_the_densities_d_and_the_lines_of_a_snapshot(show_snapshot):
    event = snapshot()
    view = show_snapshot(Game1DView(), event)
    for curve, key in ((view.data_density, "data_density"), (view.generator_density, "generator_density"),
                       (view.d_x, "d_x")):
        xs, ys = curve.getData()
        np.testing.assert_allclose(xs, event.x)
        np.testing.assert_allclose(ys, event[key])
    xs, ys = view.lines.getData()
    assert xs.size == 2 * 5 and set(ys.tolist()) == {Z_LEVEL, 0.0}
    assert "step 7" in view.status.text() and "epoch 2" in view.status.text()
    assert view.legend.getLabel(view.optimal_d) is None  # D* only on request
    view.optimal_box.setChecked(True)
    np.testing.assert_allclose(view.optimal_d.getData()[1], event.optimal_d)
    assert view.legend.getLabel(view.optimal_d).text == OPTIMAL_NAME
    view.optimal_box.setChecked(False)
    assert view.legend.getLabel(view.optimal_d) is None and np.isnan(view.optimal_d.getData()[1]).all()
    view.clear()
    assert view.snapshot is None and view.d_x.getData()[0] is None


def test_projector_mode_thickens_and_recolours_the_curves_and_back(qtbot):
    view = Game1DView()
    qtbot.addWidget(view)

    def look():
        return [(c.opts["pen"].widthF(), c.opts["pen"].color().name())
                for c in (view.data_density, view.generator_density, view.d_x)] + [view.x_label.textItem.font().pointSizeF()]

    before = look()
    view.set_look(theme.PROJECTOR_LOOK)
    on = look()
    p = theme.PROJECTOR_PALETTE
    assert [colour for _, colour in on[:3]] == [p.plot_ink, p.series[2], p.series[0]]
    assert all(a[0] == 2 * b[0] for a, b in zip(on[:3], before[:3], strict=True)) and on[3] > before[3]
    assert view.d_x.opts["pen"].style() == Qt.PenStyle.DashLine
    view.set_look(theme.NORMAL_LOOK)
    assert look() == before


def test_the_gan_1d_lesson_loads_and_opens_the_game():
    lesson = lessons.find_lesson("gan-1d")
    assert lesson.slides[0] == 30 and lesson.views[0] == "game_1d" and "game_1d" in lessons.VIEWS
    run = lesson.runs[0].config
    assert (run.train.model, run.train.dataset, run.model.latent_dim) == ("gan", "gauss1d", 1)
    assert any("Step D" in step.look_for and "Step G" in step.look_for for step in lesson.tries)


def test_a_1d_gan_run_shows_the_game_tab_and_plays_step_d_and_step_g_by_hand(qtbot, studio):
    """A tiny GAN on mix1d in the training process: the 1-D game tab comes forward with snapshots;
    paused, Step D and Step G on the tab each bring a new snapshot."""
    window = studio()
    panel = window.setup_panel
    panel.model.setCurrentText("gan")
    panel.add_dataset("mix1d")
    assert panel.latent_dim.value() == 1  # a 1-D toy: a 1-D z by default
    panel.epochs.setValue(500)
    view = window.game_1d
    with qtbot.waitSignal(window.bridge.game_1d, timeout=TIMEOUT_MS):
        window.start_button.click()
    assert window.tabs.currentWidget() is view and window.tabs.isTabVisible(window.tabs.indexOf(view))
    assert not window.tabs.isTabVisible(window.tabs.indexOf(window.playground))
    window.pause_button.click()
    qtbot.waitUntil(lambda: view.player_steps.step_d.isEnabled(), timeout=5000)
    qtbot.wait(1000)  # the batch in flight lands
    before = view.received
    with qtbot.waitSignal(window.bridge.game_1d, timeout=60_000):
        qtbot.mouseClick(view.player_steps.step_d, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.bridge.game_1d, timeout=60_000):
        qtbot.mouseClick(view.player_steps.step_g, Qt.MouseButton.LeftButton)
    assert view.received >= before + 2
    view.flush()
    assert view.snapshot.x[0] < -2 < 2 < view.snapshot.x[-1] and len(view.lines.getData()[0]) == 2 * 40
    with qtbot.waitSignal(window.bridge.finished, timeout=60_000):
        window.stop_button.click()
