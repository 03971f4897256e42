"""The latent explorer view and its pages, driven through their widgets with pytest-qt (offscreen)."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from latent_runs import trained_vae_run  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPointF, Qt  # noqa: E402

from gui.latent_explorer.latent_view import MAX_SLIDERS  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from kgen.config import AEConfig, GANConfig, RunConfig, TrainConfig, VAEConfig  # noqa: E402
from kgen.data import load_dataset  # noqa: E402
from kgen.eval.latent import encode_dataset, kl_per_dimension  # noqa: E402
from kgen.models import build_model  # noqa: E402
from kgen.models.saving import load_model_file  # noqa: E402
from kgen.runs import Run  # noqa: E402

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


def loaded(qtbot, view, path):
    view.load_model(path)
    qtbot.waitUntil(lambda: "loading" not in view.status.text(), timeout=TIMEOUT_MS)


def shown(view):
    return view.decoded.picture()


def test_a_slider_changes_the_decoded_image(qtbot, latent_view, vae_file):
    loaded(qtbot, latent_view, vae_file)
    assert len(latent_view.sliders) == 2 and latent_view.random_button.isEnabled()
    assert not latent_view.class_picker.isVisibleTo(latent_view) and not latent_view.note.isVisibleTo(latent_view)
    qtbot.waitUntil(lambda: shown(latent_view) is not None, timeout=TIMEOUT_MS)
    first = shown(latent_view)
    assert first.shape == (8, 8) and first.min() >= 0.0 and first.max() <= 1.0
    latent_view.sliders[0].setValue(latent_view.sliders[0].maximum())  # z0 = 3
    assert latent_view.z[0] == pytest.approx(3.0)
    qtbot.waitUntil(lambda: not np.allclose(shown(latent_view), first), timeout=TIMEOUT_MS)
    latent_view.zero()
    assert latent_view.sliders[0].value() == 0 and not latent_view.z.any()
    qtbot.waitUntil(lambda: np.allclose(shown(latent_view), first, atol=1e-5), timeout=TIMEOUT_MS)


def test_dragging_fast_is_coalesced(qtbot, latent_view, vae_file):
    loaded(qtbot, latent_view, vae_file)
    for tick in range(-60, 61):
        latent_view.sliders[1].setValue(tick)
    service = latent_view.service
    qtbot.waitUntil(lambda: service.idle() and service.decodes >= 1, timeout=TIMEOUT_MS)
    qtbot.wait(100)
    assert service.requests >= 121 and service.decodes < service.requests
    assert latent_view.z[1] == pytest.approx(3.0)


def test_a_conditional_model_shows_the_class_picker_and_caps_sliders(qtbot, latent_view, cvae_file):
    loaded(qtbot, latent_view, cvae_file)
    assert latent_view.class_picker.isVisibleTo(latent_view) and latent_view.class_picker.count() == 3
    assert len(latent_view.sliders) == MAX_SLIDERS and latent_view.note.isVisibleTo(latent_view) and "16 of 20" in latent_view.note.text()
    qtbot.waitUntil(lambda: shown(latent_view) is not None, timeout=TIMEOUT_MS)
    first = shown(latent_view)
    latent_view.class_picker.setCurrentIndex(2)
    assert latent_view.label() == 2
    qtbot.waitUntil(lambda: not np.allclose(shown(latent_view), first), timeout=TIMEOUT_MS)
    latent_view.randomize()
    assert latent_view.z.shape == (20,) and latent_view.z[MAX_SLIDERS:].any()


def test_a_points_gan_shows_a_note_and_no_image(qtbot, latent_view, points_gan_file):
    loaded(qtbot, latent_view, points_gan_file)
    assert latent_view.note.isVisibleTo(latent_view) and "2-D points" in latent_view.note.text()
    assert latent_view.sliders == [] and not latent_view.random_button.isEnabled()
    qtbot.wait(200)
    assert latent_view.decoded.picture() is None


def test_a_bad_file_is_a_one_line_error(qtbot, latent_view, tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    loaded(qtbot, latent_view, bad)
    assert latent_view.status.text().startswith("error: ") and "not a .keras model file" in latent_view.status.text()
    assert "\n" not in latent_view.status.text() and latent_view.sliders == []




# --- a trained run: KL bars, manifold, scatter, interpolation, nearest image, class names


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return trained_vae_run(tmp_path_factory, beta=1.0)


@pytest.fixture(scope="module")
def vae_model(vae_run):
    return load_model_file(Run(vae_run).model_path), load_dataset("digits")


def load_run(qtbot, view, run_dir):
    view.load_run(run_dir)
    qtbot.waitUntil(lambda: view.data is not None or "error" in view.status.text(), timeout=TIMEOUT_MS)
    assert "error" not in view.status.text(), view.status.text()


@pytest.fixture
def explorer(qtbot, latent_view, vae_run):
    """The view with the trained digits VAE's run loaded, test set encoded, on a 1400x900 window."""
    latent_view.resize(1400, 900)
    latent_view.show()
    load_run(qtbot, latent_view, vae_run)
    return latent_view


def decoded(model, z):
    return np.clip(np.asarray(model.decode(np.atleast_2d(z))), 0.0, 1.0)


def test_kl_bars_are_the_kl_per_dimension_and_a_healthy_vae_has_no_warning(explorer, vae_model):
    model, data = vae_model
    np.testing.assert_allclose(explorer.kl_bars.values(), kl_per_dimension(model, data.x_test), rtol=1e-4)
    assert explorer.kl_bars.plot.isVisibleTo(explorer) and not explorer.kl_bars.warning.isVisibleTo(explorer)
    assert "active units" in explorer.kl_bars.caption.text()
    assert "digits: 360 test images" in explorer.status.text()


def test_a_heavy_beta_vae_warns_of_posterior_collapse(qtbot, latent_view, tmp_path_factory):
    load_run(qtbot, latent_view, trained_vae_run(tmp_path_factory, beta=30.0))
    warning = latent_view.kl_bars.warning
    assert warning.isVisibleTo(latent_view)
    assert warning.text().startswith("4 of 4 dimensions carry no information (posterior collapse")
    assert "KL" in latent_view._name_labels[0].toolTip() and "collapsed" in latent_view._name_labels[0].toolTip()


def test_the_manifold_grid_follows_the_chosen_dims(qtbot, explorer):
    manifold = explorer.manifold
    assert manifold.dims() == (0, 1) and manifold.grid is None
    explorer.pages.setCurrentWidget(manifold)  # showing the page asks for its grid
    qtbot.waitUntil(lambda: manifold.grid is not None, timeout=TIMEOUT_MS)
    first = manifold.grid
    assert first.shape == (11 * 9 + 1, 11 * 9 + 1, 1) and first.dtype == np.uint8
    manifold.up.setCurrentIndex(3)
    qtbot.waitUntil(lambda: not np.array_equal(manifold.grid, first), timeout=TIMEOUT_MS)
    assert manifold.panel.title.text() == "z0 rises left → right, z3 rises bottom → top"
    manifold.up.setCurrentIndex(0)  # the same dim as across: the two swap
    assert manifold.dims() == (3, 0)
    manifold.size.setValue(5)
    qtbot.waitUntil(lambda: manifold.grid.shape == (5 * 9 + 1, 5 * 9 + 1, 1), timeout=TIMEOUT_MS)


def click_point(qtbot, scatter, index):
    """A real left click on point ``index`` of the scatter plot."""
    view_box = scatter.plot.getPlotItem().getViewBox()
    scene_pos = view_box.mapViewToScene(QPointF(*map(float, scatter.xy[index])))
    qtbot.mouseClick(scatter.plot.viewport(), Qt.MouseButton.LeftButton,
                     pos=scatter.plot.mapFromScene(scene_pos))


def test_clicking_a_scatter_point_shows_its_image_and_reconstruction(qtbot, explorer, vae_model):
    model, _ = vae_model
    scatter, data = explorer.scatter, explorer.data
    explorer.pages.setCurrentWidget(scatter)
    assert scatter.xy.shape == (360, 2) and len(scatter.legend.items) == 10
    index = int(np.argmax(scatter.xy[:, 0]))  # an outlying point: no neighbour overlaps it
    click_point(qtbot, scatter, index)
    qtbot.waitUntil(lambda: scatter.selected == index, timeout=5_000)
    np.testing.assert_array_equal(scatter.original.picture(), data.images[index][..., 0])
    assert scatter.original.title.text() == f"test image #{index}: {data.labels[index]}"
    np.testing.assert_array_equal(explorer.z, data.codes[index])  # the sliders take its code
    qtbot.waitUntil(lambda: scatter.reconstruction.picture() is not None, timeout=TIMEOUT_MS)
    np.testing.assert_allclose(scatter.reconstruction.picture(), decoded(model, data.codes[index])[0, ..., 0],
                               atol=1e-5)


def test_interpolation_ends_decode_to_the_reconstructions_and_export(qtbot, explorer, vae_model, tmp_path):
    model, _ = vae_model
    scatter, strip = explorer.scatter, explorer.interpolation
    for end, index in (("A", 5), ("B", 77)):
        explorer.select_point(index)
        (scatter.a_button if end == "A" else scatter.b_button).click()
    assert scatter.ends == {"A": 5, "B": 77}
    qtbot.waitUntil(lambda: strip.frames is not None, timeout=TIMEOUT_MS)
    frames = strip.frames
    assert frames.shape == (10, 8, 8, 1) and strip.strip.shape == (8 + 2, 10 * 9 + 1, 1)
    codes = explorer.data.codes
    np.testing.assert_allclose(frames[[0, -1]], decoded(model, codes[[5, 77]]), atol=1e-5)
    strip.method.setCurrentText("slerp")
    qtbot.waitUntil(lambda: strip.frames is not frames, timeout=TIMEOUT_MS)
    np.testing.assert_allclose(strip.frames[[0, -1]], decoded(model, codes[[5, 77]]), atol=1e-5)
    assert "slerp" in strip.strip_panel.title.text()

    explorer.export_gif(tmp_path / "walk.gif")
    explorer.export_strip_png(tmp_path / "strip.png")
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames >= 2 and gif.size == (56, 56)  # 8x8 images enlarged 7 times
    with Image.open(tmp_path / "strip.png") as png:
        assert png.size == (strip.strip.shape[1] * 7, strip.strip.shape[0] * 7)
    explorer.random_pair()
    assert set(scatter.ends) == {"A", "B"} and scatter.ends["A"] != scatter.ends["B"]


def test_the_nearest_training_image_is_the_true_nearest(qtbot, explorer, vae_model):
    model, data = vae_model
    train_codes = encode_dataset(model, data.x_train).mean
    explorer.nearest_button.click()
    for z in (np.array([0.4, -1.1, 0.2, 0.9], np.float32), np.array([-2.0, 0.5, 1.5, -0.3], np.float32)):
        explorer.set_z(z)
        nearest = int(np.linalg.norm(train_codes - z, axis=1).argmin())
        qtbot.waitUntil(lambda n=nearest: f"#{n} " in explorer.nearest.title.text(), timeout=TIMEOUT_MS)
        np.testing.assert_array_equal(explorer.nearest.picture(), data.x_train[nearest][..., 0])
    assert explorer.nearest.isVisibleTo(explorer)


@pytest.fixture(scope="module")
def named_cvae_run(tmp_path_factory):
    """An untrained CVAE's run on a folder dataset whose sub-folders name three classes."""
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for name in ("circle", "square", "T-shirt/top".replace("/", "-")):
        (root / name).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")
    config = RunConfig(TrainConfig(model="cvae", dataset=f"folder:{root}", batch_size=8),
                       VAEConfig(latent_dim=3, hidden=(16,)))
    run = Run.create(tmp_path_factory.mktemp("cvae-run") / "run", config)
    build_model(config, (8, 8, 1), 3).save(run.model_path)
    return run.path


def test_a_conditional_models_class_picker_shows_the_datasets_class_names(qtbot, latent_view, named_cvae_run):
    load_run(qtbot, latent_view, named_cvae_run)
    picker = latent_view.class_picker
    assert picker.isVisibleTo(latent_view)
    assert [picker.itemText(i) for i in range(picker.count())] == ["T-shirt-top", "circle", "square"]
    legend = [label.text for _, label in latent_view.scatter.legend.items]
    assert set(legend) <= {"T-shirt-top", "circle", "square"} and legend
    picker.setCurrentIndex(2)
    assert latent_view.label() == 2


def test_the_main_window_loads_a_finished_run_with_its_data(qtbot, tmp_path, vae_run):
    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    window._on_finished({"status": "finished", "epochs_done": 3, "test": {}, "run_dir": str(vae_run)})
    latent = window.latent_view
    assert latent.service is not None and latent.service.run_dir == vae_run
    qtbot.waitUntil(lambda: latent.data is not None, timeout=TIMEOUT_MS)
    assert len(latent.sliders) == 4 and latent.scatter.xy is not None
    window.close()
    assert latent.service is None


def saved_run(tmp_path_factory, name, config, shape):
    """A run directory holding ``config`` and an untrained model of it: enough for the explorer."""
    run = Run.create(tmp_path_factory.mktemp(name) / "run", config)
    build_model(config, shape, 0).save(run.model_path)
    return run.path


def test_a_gan_run_has_no_codes_but_a_manifold_random_pairs_and_pixel_neighbours(qtbot, latent_view, tmp_path_factory):
    config = RunConfig(TrainConfig(model="gan", dataset="digits"), GANConfig(latent_dim=3, hidden=(16,)))
    load_run(qtbot, latent_view, saved_run(tmp_path_factory, "gan-run", config, (8, 8, 1)))
    assert "no encoder" in latent_view.scatter.note.text() and latent_view.scatter.xy is None
    assert not latent_view.kl_bars.plot.isVisibleTo(latent_view) and "no KL" in latent_view.kl_bars.caption.text()
    latent_view.pages.setCurrentWidget(latent_view.manifold)
    qtbot.waitUntil(lambda: latent_view.manifold.grid is not None, timeout=TIMEOUT_MS)
    latent_view.interpolation.random_button.click()
    assert latent_view.ends["A"].image is None and latent_view.ends["A"].z.shape == (3,)
    qtbot.waitUntil(lambda: latent_view.interpolation.frames is not None, timeout=TIMEOUT_MS)
    latent_view.nearest_button.click()
    qtbot.waitUntil(lambda: "away in pixels" in latent_view.nearest.title.text(), timeout=TIMEOUT_MS)


def test_an_ae_run_has_a_scatter_but_no_kl(qtbot, latent_view, tmp_path_factory):
    config = RunConfig(TrainConfig(model="ae", dataset="digits"), AEConfig(latent_dim=3, hidden=(16,)))
    load_run(qtbot, latent_view, saved_run(tmp_path_factory, "ae-run", config, (8, 8, 1)))
    assert "deterministic" in latent_view.kl_bars.caption.text() and latent_view.kl_bars.values() is None
    assert latent_view.scatter.xy.shape == (360, 2) and not latent_view.scatter.projection.isHidden()
    latent_view.select_point(7)
    np.testing.assert_array_equal(latent_view.z, latent_view.data.codes[7])
