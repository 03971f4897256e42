"""A learned variance shown beside the means: the sample grid callback's sigma maps and draw, the
live reconstructions', a followed run's, and the samples view's three panels."""

import numpy as np
import pytest
from PIL import Image

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.events import Event, Samples
from kgen.models import build_model
from kgen.pictures import display_scale, image_grid
from kgen.runs import EventLog, Run
from kgen.services.follower import RunFollower
from kgen.services.probes import RECONSTRUCTION_COLUMNS, ReconstructionProbe
from kgen.sigma_maps import (
    SIGMA_SCALE_TOPS,
    decode_with_sigma,
    gaussian_draw,
    sigma_grid,
    sigma_scale_top,
)
from kgen.train.callbacks import SampleGrid

ROWS = 3  # a 3 x 3 sample grid


def config(likelihood):
    return RunConfig(TrainConfig(seed=0, dataset="digits"), VAEConfig(latent_dim=4, hidden=(32,), likelihood=likelihood))


def grid_run(tmp_path, likelihood):
    """A fresh model's SampleGrid after epoch 1: (run, model, noise, the samples record)."""
    run = Run.create(tmp_path / likelihood, config(likelihood))
    model = build_model(config(likelihood), (8, 8, 1))
    noise = np.random.default_rng(0).standard_normal((ROWS * ROWS, 4)).astype("float32")
    records = []
    events = EventLog(run.events_path, records.append)
    callback = SampleGrid(run, noise, events)
    callback.set_model(model)
    callback.set_params({"epochs": 1})
    callback.on_epoch_end(0)
    events.close()
    return run, model, noise, records[-1]


def shrunk(path, scale):
    """A PNG the callback enlarged ``scale`` times with sharp pixels, at its own size again."""
    return np.array(Image.open(path))[::scale, ::scale]


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    return grid_run(tmp_path_factory.mktemp("sigma"), "gaussian-learned")


def test_the_callback_writes_sigma_exp_log_sigma_of_the_decoder(learned):
    run, model, noise, record = learned
    _, log_var = model.pixel_distribution(model.decoder_params(noise))
    sigma = np.exp(0.5 * np.asarray(log_var))  # what the decoder says, computed here by hand
    assert sigma.shape == (ROWS * ROWS, 8, 8, 1)
    top = record.sigma_max
    assert top == sigma_scale_top(sigma) and top in SIGMA_SCALE_TOPS and sigma.max() <= top
    scale = display_scale(8)
    written = shrunk(run.path / record.sigma_path, scale)
    assert written.shape == (ROWS * 9 + 1, ROWS * 9 + 1)  # laid out as the grid of means
    cells = written[1:, 1:].reshape(ROWS, 9, ROWS, 9)[:, :8, :, :8].transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    assert np.abs(cells / 255.0 * top - sigma[..., 0]).max() <= top / 255  # grey 0..255 is sigma 0..top
    assert np.array_equal(record.sigma_picture, np.array(Image.open(run.path / record.sigma_path)))


def test_the_draw_is_the_mean_plus_sigma_times_standard_normal_noise(learned):
    run, model, noise, record = learned
    mean, sigma = decode_with_sigma(model, noise)
    draw = gaussian_draw(mean, sigma)
    residual = (draw - mean) / sigma
    assert abs(residual.mean()) < 0.1 and abs(residual.std() - 1.0) < 0.1  # 576 values of N(0, 1)
    assert abs(np.mean(residual ** 3)) < 0.3 and not np.allclose(draw, mean)
    written = shrunk(run.path / record.draw_path, display_scale(8))
    assert np.array_equal(written, image_grid(draw)[..., 0])  # clipped to [0, 1] in the picture
    assert np.array_equal(shrunk(run.path / record.path, display_scale(8)), image_grid(mean)[..., 0])


def test_the_explorers_draws_are_the_same_gaussian_draws():
    from kgen.services.explorer_worker import draw_pixels

    mean = np.linspace(0.0, 1.0, 64).reshape(8, 8, 1)  # float64 in, float32 out
    sigma = np.full((8, 8, 1), 0.3, np.float32)
    draws = draw_pixels(mean, sigma, 5, np.random.default_rng(7))
    assert draws.dtype == np.float32 and draws.shape == (5, 8, 8, 1)
    assert np.array_equal(draws, gaussian_draw(mean, sigma, 7, n=5))
    assert np.array_equal(gaussian_draw(mean, sigma, 7), gaussian_draw(mean, sigma, 7))  # seeded: the same draw
    assert gaussian_draw(mean, sigma).dtype == np.float32


def test_the_record_reads_back_and_old_records_still_do(learned):
    run, _, _, record = learned
    assert [p.name for p in run.samples_dir.glob("epoch_*.png")] == ["epoch_0001.png"]  # the grids alone, as before
    line = record.to_json()
    assert line["sigma_path"] == "samples/sigma/epoch_0001.png" and line["draw_path"] == "samples/draw/epoch_0001.png"
    assert "sigma_picture" not in line and "draw_picture" not in line  # pictures travel in memory only
    again, why = Event.from_json(line)
    assert why is None and again.sigma_max == record.sigma_max
    old, why = Event.from_json({"type": "samples", "epoch": 3, "path": "samples/epoch_0003.png"})
    assert why is None and old.sigma_path is None and old.sigma_max is None
    assert Event.from_json({**line, "sigma_max": -1.0})[0] is None


def test_a_follower_gives_the_record_its_pictures(learned):
    run, _, _, record = learned
    followed = [e for e in RunFollower(run.path).poll() if isinstance(e, Samples)]
    assert len(followed) == 1
    assert np.array_equal(followed[0].sigma_picture, record.sigma_picture)
    assert np.array_equal(followed[0].draw_picture, record.draw_picture)


def test_a_bernoulli_decoder_shows_what_it_showed(tmp_path):
    run, _, _, record = grid_run(tmp_path, "bernoulli")
    assert record.sigma_path is None and record.sigma_picture is None
    assert sorted(p.name for p in run.samples_dir.iterdir()) == ["epoch_0001.png"]


def test_live_reconstructions_carry_sigma_maps_and_draws(digits):
    model = build_model(config("gaussian-learned"), (8, 8, 1))
    sunk = []
    probe = ReconstructionProbe(sunk.append, digits[1][:16])
    probe.set_model(model)
    probe.set_params({"epochs": 1})
    probe.on_epoch_end(0)
    record = sunk[-1]
    z = np.asarray(model.encode(digits[1][:16])[0])
    mean, sigma = decode_with_sigma(model, z)
    top = sigma_scale_top(sigma)
    assert record.sigma_max == top
    assert np.array_equal(record.sigma_picture, sigma_grid(sigma, top, RECONSTRUCTION_COLUMNS)[..., 0])
    assert record.draw_picture.shape == record.sigma_picture.shape == (2 * 9 + 1, 8 * 9 + 1)


def test_the_samples_view_shows_mean_sigma_and_draw_side_by_side(qtbot, learned):
    from gui import theme
    from gui.samples_view import SamplesView

    _, _, _, record = learned
    view = SamplesView()
    qtbot.addWidget(view)
    view.add_grid(record.epoch, record.picture)
    view.add_sigma_maps(record)
    layout = view.graphics.ci
    assert [layout.getItem(0, col) for col in (0, 1, 3)] == [view.plot, view.sample_sigma.sigma_plot,
                                                             view.sample_sigma.draw_plot]  # three panels
    assert layout.getItem(0, 2) is view.sample_sigma.colour_bar
    shown = view.sample_sigma.sigma_image.image
    assert shown.max() <= record.sigma_max and np.allclose(shown, record.sigma_picture / 255 * record.sigma_max)
    assert view.sample_sigma.colour_bar.levels() == (0.0, record.sigma_max)
    assert np.array_equal(view.sample_sigma.draw_image.image, record.draw_picture)
    assert f"0 to {record.sigma_max:g}" in view.sample_sigma.sigma_plot.titleLabel.text
    view.set_look(theme.PROJECTOR_LOOK)
    assert view.sample_sigma.sigma_plot.titleLabel.opts["size"] == theme.PROJECTOR_LOOK.size(9)
    view.clear()
    assert layout.getItem(0, 1) is None and not view.sample_sigma.attached


def test_the_draws_strip_shows_a_learned_sigma_map(qtbot):
    from gui.latent_explorer.draws_strip import DrawsStrip

    strip = DrawsStrip()
    qtbot.addWidget(strip)
    mean = np.full((8, 8, 1), 0.5, np.float32)
    sigma = np.linspace(0.01, 0.35, 64, dtype=np.float32).reshape(8, 8, 1)
    draws = np.stack([gaussian_draw(mean, sigma, seed) for seed in range(3)])
    strip.show_draws({"mean": mean, "draws": draws, "likelihood": "gaussian-learned", "sigma": 0.18,
                      "sigma_map": sigma})
    assert strip.sigma.isVisibleTo(strip) and strip.sigma.top == 0.4
    assert np.allclose(strip.sigma.picture(), sigma[..., 0]) and strip.sigma.colour_bar.levels() == (0.0, 0.4)
    assert "0 to 0.4" in strip.sigma.title.text()
    strip.show_draws({"mean": mean, "draws": (draws > 0.5).astype("float32"), "likelihood": "bernoulli",
                      "sigma": None, "sigma_map": None})
    assert not strip.sigma.isVisibleTo(strip)  # a Bernoulli decoder has no sigma


def test_the_bridge_sends_sigma_maps_after_the_means(qtbot, learned):
    from PySide6.QtCore import QObject, Signal

    from gui.bridge import emit_run_event

    class Target(QObject):
        samples = Signal(int, object)
        sigma_maps = Signal(object)

    target, heard = Target(), []
    target.samples.connect(lambda epoch, picture: heard.append(("samples", epoch)))
    target.sigma_maps.connect(lambda event: heard.append(("sigma", event.epoch)))
    emit_run_event(target, learned[3])
    emit_run_event(target, Samples(epoch=2, path="samples/epoch_0002.png", picture=learned[3].picture))
    assert heard == [("samples", 1), ("sigma", 1), ("samples", 2)]  # a record without sigma maps sends none


def test_a_learned_variance_run_in_the_window_shows_three_panels_each(qtbot, vae_studio):
    window = vae_studio
    window.setup_panel.likelihood.setCurrentText("gaussian-learned")
    window.setup_panel.epochs.setValue(1)
    heard = []
    window.bridge.sigma_maps.connect(lambda event: heard.append(event.kind))
    try:
        with qtbot.waitSignal(window.bridge.finished, timeout=120_000):
            window.start_button.click()
        window.samples.flush()
    finally:
        window.close()
    assert sorted(heard) == ["reconstructions", "samples"]  # across the pipe, in memory
    samples = window.samples
    assert samples.sample_sigma.attached and samples.recon_sigma.attached
    assert samples.sample_sigma.draw_image.image is not None and samples.recon_sigma.sigma_image.image is not None


def test_a_followed_grid_without_its_sigma_pictures_is_shown_alone(tmp_path):
    run, _, _, record = grid_run(tmp_path, "gaussian-learned")
    (run.path / record.draw_path).unlink()
    followed = [e for e in RunFollower(run.path).poll() if isinstance(e, Samples)]
    assert len(followed) == 1 and followed[0].picture is not None
    assert followed[0].sigma_picture is None and followed[0].draw_picture is None
