"""The latent explorer's Posterior page with a 2-d VAE, driven through its widgets (pytest-qt, offscreen)."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from test_latent_view import TIMEOUT_MS, loaded, saved  # noqa: E402
from test_posterior_worker import tiny_run  # noqa: E402

from gui import theme  # noqa: E402
from gui.latent_explorer.latent_view import LatentView  # noqa: E402
from gui.latent_explorer.posterior_view import NOT_2D  # noqa: E402
from kgen.config import RunConfig, TrainConfig, VAEConfig  # noqa: E402
from kgen.data import load_dataset  # noqa: E402
from kgen.eval import posterior  # noqa: E402
from kgen.models.saving import load_model_file  # noqa: E402
from kgen.runs import Run  # noqa: E402


@pytest.fixture(scope="module")
def run_2d(tmp_path_factory):
    return tiny_run(tmp_path_factory, 2)


@pytest.fixture(scope="module")
def shared_view(qapp, run_2d):
    """One explorer (one worker) with the 2-d run loaded, shared by the tests that read it."""
    view = LatentView()
    view.resize(1400, 900)
    view.show()
    view.load_run(run_2d)
    yield view
    view.close_service()
    view.deleteLater()


@pytest.fixture
def explorer(qtbot, shared_view):
    """The shared explorer on its Posterior page, one image's posterior shown, the normal look."""
    view = shared_view
    qtbot.waitUntil(lambda: view.data is not None or "error" in view.status.text(), timeout=TIMEOUT_MS)
    assert "error" not in view.status.text(), view.status.text()
    view.set_look(theme.NORMAL_LOOK)
    view.posterior.set_mode("image")
    view.show_page("posterior")
    qtbot.waitUntil(lambda: view.posterior.posterior is not None, timeout=TIMEOUT_MS)
    return view


def test_the_page_opens_on_the_first_test_image_with_qs_ellipses_and_the_bounds(explorer, run_2d):
    view = explorer
    page, post = view.posterior, view.posterior.posterior
    expected = posterior.posterior_grid(load_model_file(Run(run_2d).model_path), load_dataset("digits").x_test[0])
    assert post.log_px == pytest.approx(expected.log_px, abs=1e-4)
    np.testing.assert_allclose(page.heat.image, post.density)
    x, y = page.q_rings[0].getData()  # the 1-sigma ellipse: Mahalanobis distance 1 from q's mean
    d = np.stack([x, y], 1) - post.q_mean
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(post.q_cov), d), 1.0, rtol=1e-6)
    assert f"{post.log_px:.3f}" in page.readout.text() and f"{post.gap:.3f}" in page.readout.text()
    assert "test image #0" in page.image.title.text()
    assert page.log_px_line.value() == pytest.approx(post.log_px)
    assert list(page.iwae_line.getData()[1]) == pytest.approx(list(page.iwae.mean))


def test_a_scatter_pick_and_a_drawn_image_go_to_the_page(qtbot, explorer):
    view = explorer
    view.select_point(7)
    qtbot.waitUntil(lambda: view.posterior.note.text().startswith("test image #7"), timeout=TIMEOUT_MS)
    assert "#7" in view.posterior.image.title.text() and view.posterior.index.value() == 7
    view.posterior.index.setValue(12)  # picked by its number: the scatter and sliders follow
    qtbot.waitUntil(lambda: view.posterior.note.text().startswith("test image #12"), timeout=TIMEOUT_MS)
    assert view.scatter.selected == 12
    drawn = np.zeros((8, 8, 1), "float32")
    drawn[2:6, 3:5] = 1.0
    view.service.request_encode(drawn)
    qtbot.waitUntil(lambda: "drawing pad" in view.posterior.note.text() and "computing" not in view.posterior.note.text(),
                    timeout=TIMEOUT_MS)
    np.testing.assert_allclose(view.posterior.image.picture(), drawn[..., 0])


def test_the_aggregate_mode_shows_the_codes_density_beside_the_prior(qtbot, explorer):
    view = explorer
    view.posterior.set_mode("aggregate")
    qtbot.waitUntil(lambda: view.posterior.aggregate is not None, timeout=TIMEOUT_MS)
    agg = view.posterior.aggregate
    assert agg.codes == 360 and agg.mass == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(view.posterior.prior_heat.image, agg.prior)
    assert f"{agg.holes:.1%}" in view.posterior.holes_readout.text()


def test_projector_look_thickens_the_rings_and_enlarges_the_text(explorer):
    view = explorer
    normal = view.posterior.q_rings[0].opts["pen"].widthF()
    titles = [plot.titleLabel for plot in (view.posterior.heat_plot, view.posterior.iwae_plot)]
    assert [title.opts["color"] for title in titles] == [theme.PALETTE.text] * 2  # not pyqtgraph's pale grey
    view.set_look(theme.PROJECTOR_LOOK)
    assert [title.opts["color"] for title in titles] == [theme.PROJECTOR_PALETTE.plot_ink] * 2
    assert view.posterior.q_rings[0].opts["pen"].widthF() == pytest.approx(2 * normal)
    assert view.posterior.readout.font().pointSizeF() == pytest.approx(19.2)  # 12pt x 1.6
    assert view.posterior.heat.image is not None  # still drawn


def test_a_model_without_a_2d_latent_says_so(qtbot, latent_view, tmp_path_factory):
    config = RunConfig(TrainConfig(), VAEConfig(latent_dim=3, hidden=(8,)))
    loaded(qtbot, latent_view, saved(tmp_path_factory, "vae3", config, (8, 8, 1)))
    latent_view.show_page("posterior")
    assert latent_view.posterior.note.text() == NOT_2D
    assert not latent_view.posterior.stack.isVisibleTo(latent_view) and not latent_view.posterior.aggregate_button.isEnabled()


def test_the_posterior_lessons_load_and_name_the_page(qtbot, tmp_path):
    from gui.main_window import MainWindow
    from kgen.lessons import find_lesson

    lesson = find_lesson("posterior")
    assert lesson.slides == (15,) and lesson.views[0] == "posterior"
    assert lesson.runs[0].config.model.latent_dim == 2
    assert "posterior" in find_lesson("bounds").views
    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    window.bring_views_forward(["posterior"])
    assert window.tabs.currentWidget() is window.latent_view
    assert window.latent_view.pages.currentWidget() is window.latent_view.posterior
    window.close()
