"""The Samples tab: history slider, reconstructions, class names over conditional grids, export."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PIL import Image  # noqa: E402

from gui.samples_view import SamplesView, builtin_class_names, column_ticks  # noqa: E402
from kgen.data import load_dataset  # noqa: E402
from kgen.services.probes import reconstruction_picture, spread_over_classes  # noqa: E402

TIMEOUT_MS = 120_000


@pytest.fixture
def view(qtbot):
    view = SamplesView()
    qtbot.addWidget(view)
    return view


def grey(value, size=10):
    return np.full((size, size), value, np.uint8)


def test_the_slider_scrubs_back_and_latest_follows_again(qtbot, view):
    assert not view.export_button.isEnabled() and not view.latest_button.isEnabled()
    for epoch in (1, 2, 3):
        view.add_grid(epoch, grey(epoch * 50))
        view.add_reconstructions(epoch, grey(epoch * 60, 4))
    # Grids coming faster than PICTURE_MS: the first is shown at once, the newest when the
    # throttle ends (or at flush, as when a run ends); the slider is at the end meanwhile.
    assert view.label.text() == "epoch 1" and view.recon_epoch == 1 and view.following
    view.flush()
    assert view.label.text() == "epoch 3" and view.recon_epoch == 3 and not view.latest_button.isEnabled()
    view.slider.setValue(0)  # scrub back: the older grid and that epoch's reconstructions
    assert view.label.text() == "epoch 1" and view.image.image[0, 0] == 50
    assert view.recon_epoch == 1 and view.recon_image.image[0, 0] == 60
    assert view.latest_button.isEnabled() and not view.following
    view.add_grid(4, grey(200))
    assert view.shown_epoch() == 1  # stays where the user is
    view.latest_button.click()
    assert view.shown_epoch() == 4 and view.image.image[0, 0] == 200 and view.following
    assert view.recon_epoch == 3  # epoch 4 has none yet: the latest before it
    view.add_grid(5, grey(10))
    qtbot.waitUntil(lambda: view.label.text() == "epoch 5", timeout=5000)  # following again
    view.clear()
    assert view.count() == 0 and view.label.text() == "no samples yet" and not view.recon_graphics.isVisibleTo(view)


def test_export_saves_the_grid_shown(view, tmp_path, monkeypatch):
    colour = np.zeros((6, 9, 3), np.uint8)
    colour[..., 1] = 77
    view.add_grid(1, grey(40, 6))
    view.add_grid(2, colour)
    view.slider.setValue(0)
    path = tmp_path / "grid.png"
    monkeypatch.setattr("gui.samples_view.QFileDialog.getSaveFileName", lambda *a, **k: (str(path), ""))
    view.export_button.click()
    assert np.array_equal(np.array(Image.open(path)), grey(40, 6)) and "epoch 1" in view.note.text()
    view.slider.setValue(1)
    view.save_picture(tmp_path / "colour.png")
    assert np.array_equal(np.array(Image.open(tmp_path / "colour.png")), colour)


def test_conditional_grids_get_class_names_over_their_columns(view):
    names = builtin_class_names("fashion-mnist")
    assert names[0] == "T-shirt/top" and builtin_class_names("npz:/x.npz") == ()
    view.set_class_columns(names, rows=2)
    view.add_grid(1, np.zeros((20, 100), np.uint8))  # 2 rows of 10 square cells
    ticks = view.plot.getAxis("top")._tickLevels[0]
    assert [round(x) for x, _ in ticks] == list(range(5, 100, 10))
    assert [label for _, label in ticks] == [str(c) for c in range(10)]  # long names: numbers and a key
    assert view.class_key.isVisibleTo(view) and "0\u00a0T-shirt/top" in view.class_key.text()
    assert "9\u00a0Ankle boot" in view.class_key.text() and view.plot.getAxis("top").isVisible()
    view.set_class_columns(builtin_class_names("digits"), rows=2)  # short names go over the columns
    assert [label for _, label in view.plot.getAxis("top")._tickLevels[0]] == list("0123456789")
    assert not view.class_key.isVisibleTo(view)
    view.set_class_columns(("a", "b"), rows=2)  # names that do not fit the grid: class numbers
    assert [label for _, label in view.plot.getAxis("top")._tickLevels[0]] == [str(c) for c in range(10)]
    view.set_class_columns()
    assert not view.plot.getAxis("top").isVisible()
    assert column_ticks(30, ["a", "b", "c"]) == [(5.0, "a"), (15.0, "b"), (25.0, "c")]


def test_reconstruction_pictures_put_outputs_under_their_inputs():
    images = np.stack([np.full((2, 2, 1), i / 10) for i in range(5)])
    outputs = 1.0 - images
    picture = reconstruction_picture(images, outputs, columns=3)  # rows: in 0-2, out 0-2, in 3-4, out 3-4
    assert picture.shape == (4 * 3 + 1, 3 * 3 + 1)
    cell = lambda r, c: picture[1 + 3 * r, 1 + 3 * c]  # noqa: E731
    assert cell(0, 1) == round(0.1 * 255) and cell(1, 1) == round(0.9 * 255)
    assert cell(2, 1) == round(0.4 * 255) and cell(3, 1) == round(0.6 * 255) and cell(2, 2) == 0  # blank
    labels = np.array([2, 0, 0, 1, 2, 1, 0])
    assert list(labels[spread_over_classes(labels, 5)]) == [0, 1, 2, 0, 1]


def test_a_vae_run_in_the_window_shows_reconstructions(qtbot, vae_studio, npz):
    window = vae_studio
    window.setup_panel.epochs.setValue(2)
    received = []
    window.bridge.reconstructions.connect(lambda epoch, picture: received.append((epoch, picture)))
    try:
        with qtbot.waitSignal(window.bridge.finished, timeout=TIMEOUT_MS):
            window.start_button.click()
    finally:
        window.close()
    assert [epoch for epoch, _ in received] == [1, 2]
    picture = received[-1][1]
    n = len(load_dataset(f"npz:{npz}").x_test)  # up to 16 test images, 8 a row, each over its output
    columns = min(n, 8)
    assert picture.dtype == np.uint8 and picture.shape == (2 * -(-n // columns) * 9 + 1, columns * 9 + 1)
    samples = window.samples
    assert samples.recon_graphics.isVisibleTo(samples) and samples.recon_epoch == 2
    assert np.array_equal(samples.recon_image.image, picture)
    assert not window.tabs.isTabVisible(window.tabs.indexOf(window.playground))
