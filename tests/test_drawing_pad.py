"""The drawing pad: mouse strokes on the canvas, live encoding through the explorer's worker,
the reconstruction and the q(z|x) ellipses in the scatter."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from latent_runs import trained_vae_run  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402

from gui.drawing_pad import NO_MODEL, DrawingPad, PadCanvas, ellipse_points  # noqa: E402
from gui.latent_explorer.latent_view import LatentView  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from kgen.config import GANConfig, RunConfig, TrainConfig  # noqa: E402
from kgen.models import build_model  # noqa: E402
from kgen.models.saving import load_model_file  # noqa: E402
from kgen.runs import Run  # noqa: E402

TIMEOUT_MS = 60_000


def widget_point(canvas: PadCanvas, x: float, y: float) -> QPoint:
    """The widget position of image coordinates (x, y)."""
    rect = canvas.image_rect()
    h, w = canvas.image.shape
    return QPoint(round(rect.left() + x / w * rect.width()), round(rect.top() + y / h * rect.height()))


def draw_line(qtbot, canvas: PadCanvas, start, end, steps: int = 6) -> None:
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=widget_point(canvas, *start))
    for t in np.linspace(0.0, 1.0, steps)[1:]:
        point = (start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
        qtbot.mouseMove(canvas, widget_point(canvas, *point))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=widget_point(canvas, *end))


@pytest.fixture
def pad(qtbot):
    view = LatentView()
    pad = DrawingPad(view)
    qtbot.addWidget(view)
    qtbot.addWidget(pad)
    pad.resize(900, 500)
    pad.show()
    yield pad
    view.close_service()


def loaded(qtbot, pad, vae_file):
    pad.latent_view.load_model(vae_file)
    qtbot.waitUntil(lambda: pad.canvas.isEnabled(), timeout=TIMEOUT_MS)
    requests = []
    service = pad.latent_view.service
    original = service.request_encode
    service.request_encode = lambda image, label=None: (requests.append(image.copy()), original(image, label))
    return requests


def test_without_a_model_the_pad_says_where_its_model_comes_from(pad):
    assert pad.note.text() == NO_MODEL and not pad.canvas.isEnabled()


def test_a_mouse_stroke_paints_and_asks_for_the_drawn_images_code(qtbot, pad, vae_file):
    requests = loaded(qtbot, pad, vae_file)
    draw_line(qtbot, pad.canvas, (1.5, 4.5), (6.5, 4.5))
    image = pad.canvas.image
    assert image.shape == (8, 8) and image[4, 2:6].min() > 0.9  # the stroke's row, soft brush saturated
    assert image[0].max() < 0.05 and image[4, 0] < image[4, 3]  # far rows untouched, soft at the ends
    assert requests and requests[-1].shape == (8, 8, 1)
    np.testing.assert_array_equal(requests[-1][..., 0], image)
    qtbot.waitUntil(lambda: pad.reconstruction.picture() is not None, timeout=TIMEOUT_MS)


def test_the_answer_places_the_code_with_its_ellipses(qtbot, pad, vae_file):
    loaded(qtbot, pad, vae_file)
    draw_line(qtbot, pad.canvas, (4.0, 1.0), (4.0, 7.0))
    model = load_model_file(vae_file)
    mean, log_var = (np.asarray(t)[0] for t in model.encode(pad.canvas.image[None, ..., None]))
    qtbot.waitUntil(lambda: pad.marker.data.size == 1 and
                    np.allclose([pad.marker.data["x"][0], pad.marker.data["y"][0]], mean, atol=1e-4),
                    timeout=TIMEOUT_MS)
    sigma = np.exp(0.5 * log_var)
    for k, curve in zip((1, 2), pad.ellipses, strict=True):
        x, y = curve.getData()
        np.testing.assert_allclose([x.min(), x.max()], [mean[0] - k * sigma[0], mean[0] + k * sigma[0]], atol=1e-3)
        np.testing.assert_allclose([y.min(), y.max()], [mean[1] - k * sigma[1], mean[1] + k * sigma[1]], atol=1e-3)
    assert "σ =" in pad.code_label.text()


def test_the_ellipse_follows_mu_and_a_correlated_sigma():
    cov = np.array([[0.25, 0.1], [0.1, 0.09]])
    x, y = ellipse_points(np.array([1.0, -2.0]), cov, k=2.0, n=2000)
    points = np.stack([x - 1.0, y + 2.0])
    mahalanobis = np.einsum("in,ij,jn->n", points, np.linalg.inv(cov), points)
    np.testing.assert_allclose(mahalanobis, 4.0, rtol=1e-6)  # every point at 2 sigma
    np.testing.assert_allclose([x.max() - 1.0, y.max() + 2.0], 2 * np.sqrt(np.diag(cov)), rtol=1e-4)


def test_clear_blanks_the_canvas_and_encodes_the_blank(qtbot, pad, vae_file):
    requests = loaded(qtbot, pad, vae_file)
    draw_line(qtbot, pad.canvas, (2.0, 2.0), (6.0, 6.0))
    assert pad.canvas.image.max() > 0.9
    pad.clear_button.click()
    assert pad.canvas.image.max() == 0.0 and requests[-1].max() == 0.0


def test_a_test_image_is_encoded_to_its_code_in_the_scatter(qtbot, pad, tmp_path_factory):
    run = trained_vae_run(tmp_path_factory, beta=1.0)  # 4-d latent: the plane is the scatter's PCA
    pad.latent_view.load_run(run)
    qtbot.waitUntil(lambda: pad.test_button.isEnabled(), timeout=TIMEOUT_MS)
    data = pad.latent_view.data
    assert len(pad._scatter_items) == len(np.unique(data.labels))
    events = []
    pad.latent_view.encoded.connect(events.append)
    pad.pick_test_image(5)
    np.testing.assert_array_equal(pad.canvas.image, data.images[5][..., 0])
    qtbot.waitUntil(lambda: bool(events), timeout=TIMEOUT_MS)
    np.testing.assert_allclose(events[-1]["mean"], data.codes[5], atol=1e-4)
    np.testing.assert_allclose(events[-1]["xy"], data.xy[5], atol=1e-4)
    assert "PCA" in events[-1]["plane"] and "test image #5" in pad.note.text()
    model = load_model_file(Run(run).model_path)
    np.testing.assert_allclose(pad.reconstruction.picture(),
                               np.asarray(model.decode(data.codes[5][None]))[0, ..., 0], atol=1e-4)


def test_the_main_window_has_a_drawing_pad_tab_on_the_explorers_model(qtbot, tmp_path):
    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    index = window.tabs.indexOf(window.drawing_pad)
    assert window.tabs.tabText(index) == "Drawing pad" and window.drawing_pad.latent_view is window.latent_view
    window.close()


def test_a_gan_has_nothing_to_encode_and_nothing_to_draw_from(qtbot, pad, tmp_path):
    path = tmp_path / "gan.keras"
    config = RunConfig(TrainConfig(model="gan", dataset="digits"), GANConfig(latent_dim=3, hidden=(16,)))
    build_model(config, (8, 8, 1)).save(path)
    pad.latent_view.load_model(path)
    qtbot.waitUntil(lambda: "no encoder" in pad.note.text(), timeout=TIMEOUT_MS)
    assert not pad.canvas.isEnabled() and not pad.test_button.isEnabled()
    draws = pad.latent_view.draws
    assert "deterministic" in draws.note.text() and not draws.redraw_button.isEnabled()
