"""The GAN playground: snapshots of D and G on a 2-D toy, the probe that takes them while
training, and the tab that draws them in the real window."""

import time

import keras
import numpy as np
import pytest
from keras import ops

from kgen.config import GANConfig, RunConfig, TrainConfig, VAEConfig
from kgen.data import toy_points
from kgen.models import build_model
from kgen.models.sampling import latent_noise
from kgen.services.playground import PlaygroundProbe, data_box, grid_points, playground_snapshot
from kgen.services.probes import PLAYGROUND_SECONDS, ReconstructionProbe, live_probes

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def gan():
    """A small untrained GAN on 2-D points, the same in every run (its initial weights seeded:
    an unlucky draw can put a ReLU kink inside the finite-difference step below)."""
    keras.utils.set_random_seed(0)
    return build_model(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(hidden=(32, 32))), (2,))


@pytest.fixture(scope="module")
def ring8():
    return toy_points("ring8", 640, seed=0)


def test_data_box_is_a_square_around_the_points():
    box = data_box(np.array([[0.0, 0.0], [4.0, 1.0]]), margin=0.5)
    np.testing.assert_allclose(box, [-1.0, 5.0, -2.5, 3.5])
    points = grid_points(np.array([0.0, 4.0, 0.0, 2.0]), resolution=2)
    np.testing.assert_allclose(points, [[1, 0.5], [3, 0.5], [1, 1.5], [3, 1.5]])  # row-major, y rising


def test_snapshot_heat_map_is_d_on_the_grid_and_arrows_follow_the_generator_loss(gan, ring8):
    noise = latent_noise(50, gan.latent_dim, seed=1)
    box = data_box(ring8)
    snap = playground_snapshot(gan, noise, box, resolution=16)
    assert snap["d_grid"].shape == (16, 16) and snap["generated"].shape == (50, 2)
    assert snap["descent"].shape == (50, 2) and not snap["moves"].any()
    # The heat map is sigmoid(D's logit) at the centre of each cell: row r (y), column c (x).
    x0, x1, y0, y1 = box
    for r, c in ((0, 0), (3, 11), (15, 15), (8, 2)):
        point = np.array([[x0 + (c + 0.5) * (x1 - x0) / 16, y0 + (r + 0.5) * (y1 - y0) / 16]], np.float32)
        expected = 1 / (1 + np.exp(-np.asarray(gan.discriminator(point))[0, 0]))
        assert snap["d_grid"][r, c] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(snap["generated"], np.asarray(gan.generator(noise)), rtol=1e-5, atol=1e-6)

    # Each arrow is minus the gradient of that point's non-saturating loss softplus(-logit(x)).
    def point_loss(x):
        return float(ops.softplus(-gan.discriminator(x[None].astype(np.float32)))[0, 0])

    point, h = snap["generated"][7].astype(np.float64), 1e-3
    numeric = [(point_loss(point + h * e) - point_loss(point - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(snap["descent"][7], -np.array(numeric), rtol=0.05, atol=1e-4)

    later = playground_snapshot(gan, noise, box, resolution=16, previous=snap["generated"] - 1.0)
    np.testing.assert_allclose(later["moves"], np.ones((50, 2)), atol=1e-5)
    with pytest.raises(ValueError, match="2-D points"):
        playground_snapshot(build_model(RunConfig(TrainConfig(model="vae"), VAEConfig()), (8, 8, 1)),
                            noise, box)


def fit_with(gan_model, points, probe, epochs=2):
    gan_model.fit(points, batch_size=64, epochs=epochs, callbacks=[probe], verbose=0, shuffle=False)


def test_probe_fires_every_n_steps_with_copies_and_the_real_points(ring8):
    model = build_model(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(hidden=(16,))), (2,))
    events = []
    probe = PlaygroundProbe(events.append, ring8, every=3, points=40, resolution=8, max_share=None)
    fit_with(model, ring8, probe)  # 10 steps an epoch
    assert [e["step"] for e in events] == [0, 3, 6, 9, 12, 15, 18, 20]  # before, every 3rd, the end
    assert [e["epoch"] for e in events][:5] == [1, 1, 1, 1, 2]
    last = events[-1]
    assert last["type"] == "playground" and last["d_grid"].shape == (8, 8) and last["generated"].shape == (40, 2)
    assert last["real"].shape == (640, 2) and not last["real"].flags.writeable
    assert np.all((last["d_grid"] >= 0) & (last["d_grid"] <= 1))
    # Training moved the generator, and "moves" is the displacement since the snapshot before.
    np.testing.assert_allclose(last["moves"], last["generated"] - events[-2]["generated"], atol=1e-6)
    assert np.abs(last["generated"] - events[0]["generated"]).max() > 1e-4


def test_probe_stays_within_its_time_budget_unless_stepped(ring8):
    model = build_model(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(hidden=(16,))), (2,))
    events = []
    fit_with(model, ring8, PlaygroundProbe(events.append, ring8, every=1, points=10, resolution=4,
                                           max_share=1e-9), epochs=1)
    # The first (it traces, so its cost is not counted), the next one due, then only the end.
    assert [e["step"] for e in events] == [0, 1, 10]
    events.clear()
    fit_with(model, ring8, PlaygroundProbe(events.append, ring8, every=100, points=10, resolution=4,
                                           max_share=1e-9, stepping=lambda: True), epochs=1)
    assert [e["step"] for e in events] == list(range(0, 11))  # stepped by hand: every batch
    events.clear()
    fit_with(model, ring8, PlaygroundProbe(events.append, ring8, every=1, points=10, resolution=4,
                                           max_share=None, min_seconds=3600), epochs=1)
    assert [e["step"] for e in events] == [0, 10]  # at most one an hour: the first and the end


def test_a_live_playground_probes_no_more_often_than_a_window_draws():
    probe, = live_probes(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig()), lambda event: None)
    assert isinstance(probe, PlaygroundProbe) and probe.min_seconds == PLAYGROUND_SECONDS > 0


def test_live_probes_match_the_model_and_data(npz):
    sink = [].append
    (probe,) = live_probes(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig()), sink)
    assert isinstance(probe, PlaygroundProbe) and probe.box[1] - probe.box[0] > 4  # the ring's diameter
    (recon,) = live_probes(RunConfig(TrainConfig(model="vae", dataset=f"npz:{npz}"), VAEConfig()), sink)
    assert isinstance(recon, ReconstructionProbe) and recon.images.shape[1:] == (8, 8, 1)
    assert live_probes(RunConfig(TrainConfig(model="gan", dataset=f"npz:{npz}"), GANConfig()), sink) == []


# --- the tab in the real window -------------------------------------------------------------

def test_a_ring8_gan_run_feeds_the_playground_tab(qtbot, tmp_path):
    pytest.importorskip("pyqtgraph")
    from gui.main_window import MainWindow

    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    panel = window.setup_panel
    panel.model.setCurrentText("gan")
    panel.dataset.setCurrentIndex(panel.dataset.findData("ring8"))
    panel.epochs.setValue(1)
    view = window.playground
    try:
        with qtbot.waitSignal(window.bridge.finished, timeout=TIMEOUT_MS) as finished:
            window.start_button.click()
            assert window.tabs.currentWidget() is view
            assert window.tabs.isTabVisible(window.tabs.indexOf(view))
        assert finished.args[0]["status"] == "finished"
        qtbot.waitUntil(lambda: view.snapshot is not None and view.snapshot["step"] == 156, timeout=5000)
        assert view.received >= 3  # the start, some while training, the end
        assert view.heat.image.shape == (48, 48)
        assert view.fake.data.size == 200 and view.real.data.size == 1000
        xs, ys = view.arrows.getData()
        assert xs.size == 6 * 200 and np.isfinite(ys).all()  # shaft and two barbs per point
        view.arrow_box.setChecked(False)
        assert not view.arrows.isVisible()
        view.arrow_kind.setCurrentText("movement")
        assert "movement" in view.legend.getLabel(view.arrows).text
    finally:
        window.close()
    # A model without the playground hides the tab again.
    panel.model.setCurrentText("vae")
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits"))
    window._prepare_live_views(panel.config())
    assert not window.tabs.isTabVisible(window.tabs.indexOf(view))


def test_arrow_segments_draw_a_shaft_and_two_barbs_per_point():
    pytest.importorskip("pyqtgraph")
    from gui.playground_view import arrow_segments

    starts = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 100.0]])  # the last is an outlier
    segments = arrow_segments(starts, vectors, length=0.5)
    assert segments.shape == (3 * 6, 2)
    shafts = segments.reshape(3, 3, 2, 2)[:, 0]  # (point, segment, end, xy)
    np.testing.assert_allclose(shafts[:, 0], starts)
    lengths = np.linalg.norm(shafts[:, 1] - shafts[:, 0], axis=1)
    assert lengths.max() == pytest.approx(0.5) and lengths[0] < lengths[1]  # outliers clipped, order kept
    np.testing.assert_allclose(shafts[1, 1], [1.0, 1.0 + lengths[1]], atol=1e-6)  # along its vector
    assert arrow_segments(starts, np.zeros((3, 2)), 0.5).shape == (0, 2)


def test_the_controller_probes_every_step_taken_by_hand(tmp_path):
    from kgen.services.controller import TrainingController

    controller = TrainingController()
    config = RunConfig(TrainConfig(model="gan", dataset="ring8", epochs=1), GANConfig(hidden=(16,)))
    controller.start(config, tmp_path / "run", paused=True)
    events: list[dict] = []

    def wait_for(done, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, [e["type"] for e in events]
            events.extend(controller.poll())
            time.sleep(0.02)

    try:
        wait_for(lambda: any(e["type"] == "start" for e in events))  # held before the first batch
        for step in (1, 2, 3):
            controller.step()
            wait_for(lambda step=step: any(e["type"] == "step" and e["step"] == step for e in events))
        time.sleep(0.5)
        events.extend(controller.poll())
    finally:
        controller.stop()
        wait_for(lambda: any(e["type"] in ("finished", "error") for e in events))
    assert [e["step"] for e in events if e["type"] == "playground"][:4] == [0, 1, 2, 3]


def test_reconstruction_probe_shows_the_conditional_models_own_reconstructions():
    from kgen.services.probes import reconstruction_picture

    rng = np.random.default_rng(0)
    images = rng.random((6, 8, 8, 1)).astype("float32")
    labels = np.arange(6) % 3
    model = build_model(RunConfig(TrainConfig(model="cvae"), VAEConfig(latent_dim=2, hidden=(16,))), (8, 8, 1), 3)
    model.compile(optimizer="adam")
    events = []
    probe = ReconstructionProbe(events.append, images, labels)
    probe.set_model(model)
    probe.set_params({"epochs": 1})
    probe.on_epoch_end(0)
    expected = np.clip(np.asarray(model((images, labels.astype("int32")), training=False)), 0.0, 1.0)
    (event,) = events
    assert event["epoch"] == 1
    np.testing.assert_array_equal(event["picture"], reconstruction_picture(images, expected))


def test_reconstruction_probe_skips_epochs_that_come_too_soon_but_never_the_last(monkeypatch):
    import kgen.services.probes as probes

    clock = [100.0]
    monkeypatch.setattr(probes.time, "monotonic", lambda: clock[0])
    images = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    model = build_model(RunConfig(TrainConfig(model="vae"), VAEConfig(latent_dim=2, hidden=(16,))), (8, 8, 1), 0)
    events = []
    probe = ReconstructionProbe(events.append, images, min_seconds=0.5)
    probe.set_model(model)
    probe.set_params({"epochs": 6})
    for epoch, now in enumerate([100.0, 100.2, 100.6, 100.7, 100.8, 100.9]):
        clock[0] = now
        probe.on_epoch_end(epoch)
    # epoch 1 (the first), 3 (0.6 s after it), 6 (the last, though only 0.3 s after 3)
    assert [e["epoch"] for e in events] == [1, 3, 6]
    assert live_probes(RunConfig(TrainConfig(model="vae", dataset="digits"), VAEConfig()), events.append)[0].min_seconds \
        == probes.RECONSTRUCTION_SECONDS
