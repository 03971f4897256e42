"""The draw-steps view of a DRAW model: its probe in the training thread, the event across the
pipe, the bridge's signal, and the tab (scrubber, windows, KL bars, GIF export, projector look)."""

import pickle
import time

import numpy as np
import pytest

from kgen.config import DRAWConfig, RunConfig, TrainConfig, VAEConfig
from kgen.events import DrawSteps
from kgen.models import build_model
from kgen.models.sampling import latent_noise
from kgen.services.probes import DrawStepsProbe, live_probes
from kgen.train.training import GRID_SEED_OFFSET

STEPS = 4


@pytest.fixture(scope="module")
def draw_model():
    """A tiny untrained DRAW with attention on 8x8 images, drawing in STEPS steps."""
    config = RunConfig(TrainConfig(model="draw"), DRAWConfig(steps=STEPS, z_size=3, width=16, read_size=2, write_size=3))
    model = build_model(config, (8, 8, 1))
    model.compile(optimizer="adam")
    return model


def probed(model, images, **options):
    """A DrawStepsProbe on ``model`` that has begun training, and the list it hands events to."""
    events = []
    probe = DrawStepsProbe(events.append, images, seed=5, samples=3, **options)
    probe.set_model(model)
    probe.set_params({"epochs": 1, "steps": 10})
    probe.on_train_begin()
    probe.on_epoch_begin(0)
    return probe, events


def test_the_probe_records_every_step_of_samples_and_reconstructions(draw_model, digits):
    images = digits[1][:2]
    probe, events = probed(draw_model, images)
    probe.on_train_batch_end(0)
    (event,) = events
    assert (event.step, event.epoch) == (1, 1)
    assert event.generated.shape == (3, STEPS, 8, 8, 1) and event.generated.dtype == np.uint8
    assert event.reconstructed.shape == (2, STEPS, 8, 8, 1) and event.reconstructed.dtype == np.uint8
    np.testing.assert_array_equal(event.inputs, np.round(images * 255).astype(np.uint8))
    for boxes, n in ((event.generated_writes, 3), (event.read_boxes, 2), (event.write_boxes, 2)):
        assert boxes.shape == (n, STEPS, 4) and np.isfinite(boxes).all()
        assert (boxes[..., 2] >= boxes[..., 0]).all() and (boxes[..., 3] >= boxes[..., 1]).all()
    assert event.kl_steps.shape == (STEPS,)
    # The last canvases are the model's own samples of the fixed noise and its reconstructions.
    noise = probe.noise
    expected = 1 / (1 + np.exp(-np.asarray(draw_model.generate(noise)["logits"])))
    assert np.abs(event.generated[:, -1] / 255.0 - expected).max() <= 1 / 255
    reconstruction = np.asarray(draw_model(images))
    assert np.abs(event.reconstructed[:, -1] / 255.0 - reconstruction).max() <= 1 / 255
    # The canvas grows: most pixels differ between the first step and the last.
    assert (event.generated[:, 0] != event.generated[:, -1]).mean() > 0.5


def test_the_event_crosses_the_pipe_whole(draw_model, digits):
    probe, events = probed(draw_model, digits[1][:2])
    probe.probe(7)
    back = pickle.loads(pickle.dumps(events[0]))  # what multiprocessing's pipe does with it
    assert isinstance(back, DrawSteps) and back.step == 7
    for name in ("generated", "reconstructed", "inputs", "read_boxes", "write_boxes", "generated_writes", "kl_steps"):
        np.testing.assert_array_equal(getattr(back, name), getattr(events[0], name))


def test_the_probe_skips_batches_that_come_too_soon_but_never_the_end(draw_model, digits, monkeypatch):
    import kgen.services.probes as probes

    clock = [100.0]
    monkeypatch.setattr(probes.time, "monotonic", lambda: clock[0])
    probe, events = probed(draw_model, digits[1][:1], min_seconds=0.5, max_share=None)
    for batch, now in enumerate([100.0, 100.2, 100.6, 100.7]):
        clock[0] = now
        probe.on_train_batch_end(batch)
    probe.on_train_end()
    assert [e.step for e in events] == [1, 3, 4]  # the first, 0.6 s after it, and where training ended


def test_the_probe_keeps_to_its_share_of_the_training_time(draw_model, digits, monkeypatch):
    import kgen.services.probes as probes

    clock = [100.0]
    monkeypatch.setattr(probes.time, "monotonic", lambda: clock[0])
    probe, events = probed(draw_model, digits[1][:1], max_share=0.1)
    probe.probes, probe._last_end, probe._last_cost = 1, 100.0, 0.2  # the latest probe took 0.2 s
    for batch, now in enumerate([101.0, 101.9]):
        clock[0] = now
        probe.on_train_batch_end(batch)
    assert [e.step for e in events] == [2]  # 0.2 s is at most a tenth of 1.9 + 0.2 s, not of 1 + 0.2 s


def test_live_probes_give_draw_models_the_draw_steps_probe_with_the_grids_noise():
    from kgen.models.sampling import latent_noise

    config = RunConfig(TrainConfig(model="draw", dataset="digits", seed=3), DRAWConfig(steps=STEPS))
    (probe,) = [p for p in live_probes(config, print) if isinstance(p, DrawStepsProbe)]
    assert probe.seed == 3 + GRID_SEED_OFFSET and probe.min_seconds > 0
    assert probe.images.shape[1:] == (8, 8, 1) and len(probe.images) == probe.samples
    grid_noise = latent_noise(16, config.model.latent_dim, probe.seed)
    np.testing.assert_array_equal(latent_noise(probe.samples, config.model.latent_dim, probe.seed),
                                  grid_noise[: probe.samples])  # the sample grid's first draws
    vae = RunConfig(TrainConfig(model="vae", dataset="digits"), VAEConfig())
    assert not [p for p in live_probes(vae, print) if isinstance(p, DrawStepsProbe)]


# The view ------------------------------------------------------------------------------------


def snapshot(samples=3, images=2, steps=STEPS, size=8, attention=True, step=10):
    """A DrawSteps event whose canvas after step t is filled with 10 * t + the tile's number."""
    def canvases(n, first):
        values = 10 * np.arange(1, steps + 1)[None, :] + first + np.arange(n)[:, None]
        return np.broadcast_to(values[:, :, None, None, None], (n, steps, size, size, 1)).astype(np.uint8)

    def boxes(n, seed):
        rng = np.random.default_rng(seed)
        corner = rng.uniform(0, size / 2, (n, steps, 2))
        return np.concatenate([corner, corner + rng.uniform(1, size / 2 - 1, (n, steps, 2))], -1).astype(np.float32)

    return DrawSteps(step=step, epoch=1, generated=canvases(samples, 0), reconstructed=canvases(images, 5),
                     inputs=np.full((images, size, size, 1), 200, np.uint8),
                     generated_writes=boxes(samples, 0) if attention else None,
                     read_boxes=boxes(images, 1) if attention else None,
                     write_boxes=boxes(images, 2) if attention else None,
                     kl_steps=np.array([3.0, 1.5, 0.5, 0.25][:steps], np.float32))


@pytest.fixture
def view(qtbot):
    from gui.draw_steps_view import DrawStepsView

    shown = DrawStepsView()
    qtbot.addWidget(shown)
    return shown


def test_the_view_shows_the_canvas_of_the_step_chosen(view):
    from gui.draw_steps_view import tile_origin

    view.add_snapshot(snapshot())
    assert view.steps == STEPS and view.step == STEPS  # a new run's snapshot opens at its finished drawing
    view.set_step(2)
    left, top = tile_origin(1, 3, 8, 8)  # the second sample
    assert view.sample_image.image[top + 3, left + 3] == 10 * 2 + 1
    assert view.sample_image.image.shape == (10, 28)  # one row of three 8x8 tiles, 1-pixel gaps
    recon = view.recon_image.image
    left, top = tile_origin(2 + 1, 2, 8, 8)  # the second reconstruction, under the second test image
    assert recon[top, left] == 10 * 2 + 5 + 1 and recon[1, 1] == 200
    assert "step 2 / 4" in view.step_label.text()


def test_more_images_than_a_row_alternate_with_their_reconstructions(view):
    from gui.draw_steps_view import COLUMNS, RECON_COLUMNS, tile_origin

    event = snapshot(samples=6, images=RECON_COLUMNS + 2)
    view.add_snapshot(event)
    view.set_step(1)
    assert view.sample_image.image.shape == (2 * 9 + 1, COLUMNS * 9 + 1)  # two rows of four
    recon = view.recon_image.image
    columns = RECON_COLUMNS
    left, top = tile_origin(2 * columns + 1, columns, 8, 8)  # the last test image: third row, second column
    assert recon[top, left] == 200
    left, top = tile_origin(3 * columns + 1, columns, 8, 8)  # its reconstruction, just below it
    assert recon[top, left] == 10 + 5 + columns + 1
    xs, ys = view.recon_writes.line.getData()
    x0, y0, _, _ = event.write_boxes[columns + 1, 0]
    assert np.isclose(xs[6 * (columns + 1)], left + x0 + 0.5) and np.isclose(ys[6 * (columns + 1)], top + y0 + 0.5)


def test_play_moves_the_step_and_holds_the_finished_drawing(view, qtbot):
    from gui.draw_steps_view import HOLD_TICKS

    view.add_snapshot(snapshot())
    view.set_playing(True)  # at the end: it starts again from step 1
    assert view.step == 1 and view.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: view.step == 2, timeout=3000)
    view.set_playing(False)
    for _ in range(STEPS - 2):
        view._tick()
    assert view.step == STEPS
    for _ in range(HOLD_TICKS):
        view._tick()
    assert view.step == STEPS  # held
    view._tick()
    assert view.step == 1


def test_windows_are_outlined_where_the_event_puts_them(view):
    from gui.draw_steps_view import tile_origin

    event = snapshot()
    view.add_snapshot(event)
    view.set_step(3)
    xs, ys = view.recon_reads.line.getData()
    for i in range(2):  # over the test images, the first row
        x0, y0, x1, y1 = event.read_boxes[i, 2]
        left, top = tile_origin(i, 2, 8, 8)
        corners = slice(6 * i, 6 * i + 5)
        assert np.allclose(sorted(set(xs[corners])), [left + x0 + 0.5, left + x1 + 0.5], atol=1e-5)
        assert np.allclose(sorted(set(ys[corners])), [top + y0 + 0.5, top + y1 + 0.5], atol=1e-5)
    xs, _ = view.recon_writes.line.getData()
    left, _ = tile_origin(2, 2, 8, 8)  # the first reconstruction: the second row
    assert np.isclose(np.nanmin(xs[:5]), left + min(event.write_boxes[0, 2, 0] + 0.5, 8), atol=1e-5)
    xs, _ = view.sample_writes.line.getData()
    assert np.count_nonzero(np.isnan(xs)) == 3  # one outline per sample
    assert view.legend.isVisibleTo(view)


def test_a_model_without_attention_has_no_windows(view):
    view.add_snapshot(snapshot(attention=False))
    view.set_step(2)
    for outlines in (view.sample_writes, view.recon_reads, view.recon_writes):
        assert outlines.line.getData()[0] is None or len(outlines.line.getData()[0]) == 0
    assert not view.legend.isVisibleTo(view)


def test_the_kl_bars_are_the_events_and_the_step_shown_stands_out(view):
    event = snapshot()
    view.add_snapshot(event)
    view.set_step(3)
    np.testing.assert_allclose(view.bars.opts["height"], event.kl_steps)
    np.testing.assert_array_equal(view.bars.opts["x"], np.arange(1, STEPS + 1))
    colours = [brush.color().name() for brush in view.bars.opts["brushes"]]
    assert len(set(colours)) == 2 and colours.count(colours[2]) == 1
    assert "nats" in view.kl_plot.getPlotItem().getAxis("left").labelText
    assert "where the model spends its information" in view.kl_plot.getPlotItem().titleLabel.text


def test_newest_snapshot_wins_and_the_pacer_skips_the_rest(view):
    view.add_snapshot(snapshot(step=1))
    for step in (2, 3, 4):
        view.add_snapshot(snapshot(step=step))
    assert view.shown.step == 1 and view._pacer.waiting and view.received == 4
    view.flush()
    assert view.shown.step == 4 and not view._pacer.waiting


@pytest.mark.parametrize("attention", [False, True])
def test_export_gif_writes_one_frame_per_step(view, tmp_path, attention):
    from PIL import Image

    from gui.draw_steps_view import GIF_HOLD_MS, GIF_STEP_MS

    event = snapshot(attention=attention)
    view.add_snapshot(event)
    path = tmp_path / "drawing.gif"
    view.save_gif(path)
    with Image.open(path) as gif:
        assert gif.n_frames == STEPS
        assert gif.size == (28 * 7, 10 * 7)  # three 8x8 tiles side by side, 1-pixel gaps, enlarged 7 times
        durations, frames = [], []
        for frame in range(gif.n_frames):
            gif.seek(frame)
            durations.append(gif.info["duration"])
            frames.append(np.array(gif.convert("RGB")).astype(int))
    assert durations[:-1] == [GIF_STEP_MS] * (STEPS - 1) and durations[-1] >= GIF_HOLD_MS
    coloured = [(np.abs(f[..., 0] - f[..., 1]) > 40) for f in frames]  # the write windows' outlines
    if not attention:
        assert not any(c.any() for c in coloured)
        assert frames[1][7 * 2, 7 * 2, 0] == 10 * 2  # step 2's canvas of the first sample
        return
    x0, y0, x1, y1 = event.generated_writes[0, 1]  # the first sample's window at step 2
    left, top = (round((1 + x0 + 0.5) * 7), round((1 + y0 + 0.5) * 7))
    assert coloured[1][top, left] and coloured[1][top, round((1 + x1 + 0.5) * 7)]
    assert coloured[1][:, : 9 * 7].sum() > 4 * 7  # an outline, not a speck


def test_projector_look_restyles_the_view(view):
    from gui import theme

    view.add_snapshot(snapshot(samples=6, images=6))
    view.set_look(theme.PROJECTOR_LOOK)
    assert view.recon_reads.line.opts["pen"].widthF() == pytest.approx(theme.PROJECTOR_LOOK.width(1.5))
    assert theme.PROJECTOR_PALETTE.waiting in view.legend.text()
    assert view.sample_image.image.shape == (10, 6 * 9 + 1)  # maximised: every sample in one row
    assert view.recon_image.image.shape == (19, 6 * 9 + 1)
    view.set_look(theme.NORMAL_LOOK)
    assert view.recon_reads.line.opts["pen"].widthF() == pytest.approx(1.5)
    assert view.sample_image.image.shape == (19, 4 * 9 + 1)


# The window ----------------------------------------------------------------------------------


class Queue:
    """A controller whose poll hands out what a test put in."""

    is_running = False

    def __init__(self):
        self.events = []

    def poll(self):
        events, self.events = self.events, []
        return events


def test_the_bridge_emits_the_latest_snapshot_of_a_poll(qtbot):
    from gui.bridge import ControllerBridge

    controller = Queue()
    bridge = ControllerBridge(controller=controller)
    got = []
    bridge.draw_steps.connect(got.append)
    controller.events = [snapshot(step=1), snapshot(step=2)]
    bridge.poll()
    assert [e.step for e in got] == [2]


def test_the_tab_is_there_only_for_models_that_draw_in_steps(studio):
    window = studio(controller=Queue())
    index = window.tabs.indexOf(window.draw_steps)
    assert window.view_widgets["draw_steps"] is window.draw_steps
    assert not window.tabs.isTabVisible(index)
    window._prepare_live_views(RunConfig(TrainConfig(model="draw", dataset="digits"), DRAWConfig()))
    assert window.tabs.isTabVisible(index) and window.tabs.isTabEnabled(index)
    window.bridge.controller.events = [snapshot()]
    window.bridge.poll()
    assert window.draw_steps.shown is not None
    window.projector.set_enabled(True)  # every view restyled; the draw-steps one can be maximised
    assert "draw_steps" in window.projector.views()
    window.projector.set_enabled(False)
    window._prepare_live_views(RunConfig(TrainConfig(model="vae", dataset="digits"), VAEConfig()))
    assert not window.tabs.isTabVisible(index) and not window.tabs.isTabEnabled(index)
    assert window.draw_steps.shown is None


@pytest.fixture(scope="module")
def draw_run(tmp_path_factory):
    """A DRAW trained 2 epochs on digits: the run directory."""
    from kgen.train.training import train

    config = RunConfig(TrainConfig(model="draw", dataset="digits", epochs=2, batch_size=64, grid_size=2),
                       DRAWConfig(steps=STEPS, z_size=3, width=16, read_size=2, write_size=3))
    return train(config, tmp_path_factory.mktemp("draw") / "run", verbose=0).run.path


def test_an_opened_draw_run_is_drawn_by_the_explorers_worker(draw_run):
    """A run not trained live gets its Draw steps from the explorer's worker: the run's fixed noise
    and shown test images, as the live probe takes them, and the KL of each step on test images."""
    from kgen.data import load_dataset
    from kgen.eval.likelihood import elbo_parts
    from kgen.models.saving import load_run_model
    from kgen.runs import Run
    from kgen.services.explorer import DecodeService
    from kgen.services.probes import draw_traces, shown_test_images

    service = DecodeService(run_dir=draw_run)
    try:
        assert service.wait_loaded(120) and "draw_steps" in service.views
        events = []
        deadline = time.monotonic() + 120
        while not any(e["type"] == "data" for e in events) and time.monotonic() < deadline:
            events += service.events()
        service.request_draw_steps()
        while not any(e["type"] in ("draw_steps", "error") for e in events) and time.monotonic() < deadline:
            events += service.events()
            time.sleep(0.05)
    finally:
        service.close()
    found = next(e for e in events if e["type"] in ("draw_steps", "error"))
    assert found["type"] == "draw_steps", found
    event = found["event"]
    model = load_run_model(Run.open(draw_run))
    data = load_dataset("digits")
    images = data.x_test[shown_test_images(data)[:8]]
    noise = latent_noise(8, model.latent_dim, GRID_SEED_OFFSET)
    expected = np.asarray(draw_traces(model, noise, images)["generated"])
    assert event.generated.shape == (8, STEPS, 8, 8, 1) and event.epoch == 2 and event.step > 0
    np.testing.assert_allclose(event.generated / 255.0, expected, atol=1 / 255)
    np.testing.assert_array_equal(event.inputs, np.round(images * 255).astype(np.uint8))
    kl = elbo_parts(model, data.x_test)["kl"]  # the test KL, summed over steps: another draw of each z
    assert event.kl_steps.shape == (STEPS,) and event.kl_steps.sum() == pytest.approx(kl, rel=0.1)


def test_the_studio_shows_an_opened_draw_runs_drawing(studio, qtbot, draw_run, vae_file):
    window = studio(controller=Queue())
    index = window.tabs.indexOf(window.draw_steps)
    window.latent_view.load_run(draw_run)
    qtbot.waitUntil(lambda: window.draw_steps.snapshot is not None, timeout=120_000)
    assert window.tabs.isTabVisible(index) and window.draw_steps.snapshot.kl_steps.shape == (STEPS,)
    window.latent_view.load_model(vae_file)  # a model that does not draw in steps: the tab goes
    qtbot.waitUntil(lambda: not window.tabs.isTabVisible(index), timeout=120_000)
    assert window.draw_steps.snapshot is None
