"""The latent explorer view, driven through its widgets with pytest-qt (offscreen)."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from gui.latent_view import MAX_SLIDERS, LatentView  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from kgen.config import GANConfig, RunConfig, TrainConfig, VAEConfig  # noqa: E402
from kgen.models import build_model  # noqa: E402

TIMEOUT_MS = 60_000


def saved(tmp_path_factory, name, config, shape, classes=0):
    path = tmp_path_factory.mktemp(name) / "model.keras"
    build_model(config, shape, classes).save(path)
    return path


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    return saved(tmp_path_factory, "vae", RunConfig(TrainConfig(), VAEConfig(latent_dim=2, hidden=(16,))), (8, 8, 1))


@pytest.fixture(scope="module")
def cvae_file(tmp_path_factory):
    config = RunConfig(TrainConfig(model="cvae"), VAEConfig(latent_dim=20, hidden=(16,)))
    return saved(tmp_path_factory, "cvae", config, (8, 8, 1), classes=3)


@pytest.fixture(scope="module")
def points_gan_file(tmp_path_factory):
    config = RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(latent_dim=2, hidden=(16,)))
    return saved(tmp_path_factory, "gan", config, (2,))


@pytest.fixture
def view(qtbot):
    view = LatentView()
    qtbot.addWidget(view)
    yield view
    view.close_service()


def loaded(qtbot, view, path):
    view.load_model(path)
    qtbot.waitUntil(lambda: "loading" not in view.status.text(), timeout=TIMEOUT_MS)


def shown(view):
    return None if view.image.image is None else view.image.image.copy()


def test_a_slider_changes_the_decoded_image(qtbot, view, vae_file):
    loaded(qtbot, view, vae_file)
    assert len(view.sliders) == 2 and view.random_button.isEnabled()
    assert not view.class_picker.isVisibleTo(view) and not view.note.isVisibleTo(view)
    qtbot.waitUntil(lambda: shown(view) is not None, timeout=TIMEOUT_MS)
    first = shown(view)
    assert first.shape == (8, 8) and first.min() >= 0.0 and first.max() <= 1.0
    view.sliders[0].setValue(view.sliders[0].maximum())  # z0 = 3
    assert view.z[0] == pytest.approx(3.0)
    qtbot.waitUntil(lambda: not np.allclose(shown(view), first), timeout=TIMEOUT_MS)
    view.zero()
    assert view.sliders[0].value() == 0 and not view.z.any()
    qtbot.waitUntil(lambda: np.allclose(shown(view), first, atol=1e-5), timeout=TIMEOUT_MS)


def test_dragging_fast_is_coalesced(qtbot, view, vae_file):
    loaded(qtbot, view, vae_file)
    for tick in range(-60, 61):
        view.sliders[1].setValue(tick)
    service = view.service
    qtbot.waitUntil(lambda: service.idle() and service.decodes >= 1, timeout=TIMEOUT_MS)
    qtbot.wait(100)
    assert service.requests >= 121 and service.decodes < service.requests
    assert view.z[1] == pytest.approx(3.0)


def test_a_conditional_model_shows_the_class_picker_and_caps_sliders(qtbot, view, cvae_file):
    loaded(qtbot, view, cvae_file)
    assert view.class_picker.isVisibleTo(view) and view.class_picker.count() == 3
    assert len(view.sliders) == MAX_SLIDERS and view.note.isVisibleTo(view) and "16 of 20" in view.note.text()
    qtbot.waitUntil(lambda: shown(view) is not None, timeout=TIMEOUT_MS)
    first = shown(view)
    view.class_picker.setCurrentIndex(2)
    assert view.label() == 2
    qtbot.waitUntil(lambda: not np.allclose(shown(view), first), timeout=TIMEOUT_MS)
    view.randomize()
    assert view.z.shape == (20,) and view.z[MAX_SLIDERS:].any()


def test_a_points_gan_shows_a_note_and_no_image(qtbot, view, points_gan_file):
    loaded(qtbot, view, points_gan_file)
    assert view.note.isVisibleTo(view) and "2-D points" in view.note.text()
    assert view.sliders == [] and not view.random_button.isEnabled()
    qtbot.wait(200)
    assert view.image.image is None


def test_a_bad_file_is_a_one_line_error(qtbot, view, tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    loaded(qtbot, view, bad)
    assert view.status.text().startswith("error: ") and "not a .keras model file" in view.status.text()
    assert "\n" not in view.status.text() and view.sliders == []


def test_the_main_window_loads_a_finished_runs_model(qtbot, tmp_path, vae_file):
    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Samples", "Latent explorer"]
    window._on_finished({"status": "finished", "epochs_done": 1, "test": {}, "run_dir": str(vae_file.parent)})
    assert window.latent_view.service is not None
    qtbot.waitUntil(lambda: len(window.latent_view.sliders) == 2, timeout=TIMEOUT_MS)
    window.close()
    assert window.latent_view.service is None
