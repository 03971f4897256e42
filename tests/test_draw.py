"""DRAW (issue 16): the attention filterbank against the paper's formulas, the unrolled recurrence's
bookkeeping (KL per step, log q and log p), saving, training, resuming, the CLI, its config's
checks, its size estimate and the IWAE bound on it. Tiny models on 8x8 images."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import ops

from kgen import sizes
from kgen.cli import main
from kgen.config import DRAWConfig, RunConfig, TrainConfig
from kgen.errors import ConfigError
from kgen.eval.likelihood import elbo_parts, importance_weighted_bound, log_weights
from kgen.models import attention, build_model
from kgen.models.saving import load_model_file, load_run_model
from kgen.runs import Run, read_events

SHAPE = (8, 8, 1)


def draw_config(dataset: str = "digits", epochs: int = 2, **model_options) -> RunConfig:
    """A tiny DRAW: 4 steps of 2 latents, 16-wide LSTMs (any option overridden)."""
    options = {"steps": 4, "z_size": 2, "width": 16, **model_options}
    return RunConfig(TrainConfig(model="draw", dataset=dataset, epochs=epochs, batch_size=16, grid_size=4),
                     DRAWConfig(**options))


def make_draw(**model_options):
    return build_model(draw_config(**model_options), SHAPE)


def numpy(tensor) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(tensor), dtype=np.float64)


def grid(centre_x, centre_y, stride, variance, intensity) -> attention.Window:
    """A one-example Window from plain numbers."""
    return attention.Window(*(ops.convert_to_tensor([float(v)]) for v in (centre_x, centre_y, stride, variance,
                                                                           intensity)))


@pytest.fixture(scope="module")
def images(digits):
    return digits[1][:32]


@pytest.fixture(scope="module", params=[True, False], ids=["gaussian", "none"])
def model(request):
    """An untrained tiny DRAW with and without attention."""
    keras.utils.set_random_seed(0)
    return make_draw(attention="gaussian" if request.param else "none")


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny DRAW trained 3 epochs on the real digits, with its history."""
    keras.utils.set_random_seed(0)
    model = build_model(draw_config(width=32), SHAPE)
    history = model.fit(digits[0], epochs=3, batch_size=32, verbose=0)
    return model, history.history


# ----------------------------------------------------------------- the attention filterbank


def test_each_filter_is_centred_on_its_formula_with_the_grids_variance():
    size, stride, variance, centre, pixels = 5, 3.0, 2.25, 30.0, 64
    f = numpy(attention.filterbank(*(ops.convert_to_tensor([v]) for v in (centre, stride, variance)), size, pixels))[0]
    a = np.arange(pixels)
    mean = f @ a
    spread = f @ a**2 - mean**2
    expected = [centre + (i - size / 2 + 0.5) * stride for i in range(size)]
    assert np.allclose(f.sum(axis=1), 1.0, atol=1e-6)
    assert np.allclose(mean, expected, atol=1e-3)
    assert np.allclose(spread, variance, rtol=1e-3)


def test_the_raw_parameters_become_the_window_of_eq_21_to_24():
    height, width, size = 6, 10, 3
    raw = [0.2, -0.4, math.log(2.0), math.log(0.5), math.log(3.0)]
    found = attention.window(ops.convert_to_tensor([raw]), height, width, size)
    # The paper's 1-based centre (A + 1) / 2 * (g~ + 1), one pixel less here (0-based).
    expected = [(width + 1) / 2 * 1.2 - 1, (height + 1) / 2 * 0.6 - 1, (width - 1) / (size - 1) * 0.5, 2.0, 3.0]
    assert np.allclose([numpy(v)[0] for v in found], expected, rtol=1e-5)


def test_the_corners_are_the_outermost_filter_centres():
    window = grid(3.0, 5.0, 1.5, 1.0, 1.0)
    x0, y0, x1, y1 = numpy(attention.corners(window, 4))[0]
    centres_x = numpy(attention.filter_centres(window.centre_x, window.stride, 4))[0]
    centres_y = numpy(attention.filter_centres(window.centre_y, window.stride, 4))[0]
    assert (x0, x1, y0, y1) == pytest.approx((centres_x[0], centres_x[-1], centres_y[0], centres_y[-1]))


@pytest.mark.parametrize("window", [
    grid(3.5, 3.5, 1.0, 1e-3, 1.0),  # N = 8 filters one pixel apart, centred, nearly no spread
    attention.window(ops.convert_to_tensor([[0.0, 0.0, -7.0, 0.0, 0.0]]), 8, 8, 8),  # the same from raw numbers
], ids=["window", "raw"])
def test_an_identity_grid_reads_the_image_and_writes_the_patch_back(window):
    image = np.random.default_rng(0).random((1, 2, 8, 8)).astype("float32")
    assert np.allclose(numpy(attention.read(ops.convert_to_tensor(image), window, 8)), image, atol=1e-4)
    assert np.allclose(numpy(attention.write(ops.convert_to_tensor(image), window, 8, 8)), image, atol=1e-4)


def test_reading_scales_by_the_intensity_and_writing_divides_by_it():
    image = ops.convert_to_tensor(np.random.default_rng(1).random((1, 1, 8, 8)).astype("float32"))
    plain, bright = grid(3.5, 3.5, 1.0, 0.5, 1.0), grid(3.5, 3.5, 1.0, 0.5, 4.0)
    assert np.allclose(numpy(attention.read(image, bright, 3)), 4 * numpy(attention.read(image, plain, 3)))
    patch = ops.convert_to_tensor(np.ones((1, 1, 3, 3), "float32"))
    assert np.allclose(numpy(attention.write(patch, bright, 8, 8)), numpy(attention.write(patch, plain, 8, 8)) / 4)


# ----------------------------------------------------------------- the unrolled recurrence


def test_unroll_records_every_step_and_its_log_densities_match_recomputation(model, images):
    eps = np.random.default_rng(2).standard_normal((len(images), model.latent_dim)).astype("float32")
    out = model.unroll(images, eps, record=True)
    n, steps = len(images), model.steps
    assert numpy(out["canvases"]).shape == (n, steps, *SHAPE)
    assert np.allclose(numpy(out["canvases"])[:, -1], numpy(ops.sigmoid(out["logits"])), atol=1e-6)
    assert (("read_boxes" in out) and ("write_boxes" in out)) == model.attention
    for name in ("read_boxes", "write_boxes"):
        if model.attention:
            assert numpy(out[name]).shape == (n, steps, 4)
    mean, log_var = numpy(out["z_mean"]), numpy(out["z_log_var"])
    z = mean + np.exp(0.5 * log_var) * eps
    log_q = np.sum(-0.5 * (math.log(2 * math.pi) + log_var + (z - mean) ** 2 / np.exp(log_var)), axis=1)
    log_p = np.sum(-0.5 * (math.log(2 * math.pi) + z**2), axis=1)
    kl = 0.5 * (mean**2 + np.exp(log_var) - log_var - 1).reshape(n, steps, model.z_size).sum(axis=2)
    assert np.allclose(numpy(out["log_qz"]), log_q, rtol=1e-4, atol=1e-3)
    assert np.allclose(numpy(out["log_pz"]), log_p, rtol=1e-4, atol=1e-3)
    assert np.allclose(numpy(out["kl_steps"]), kl, rtol=1e-4, atol=1e-5)


def test_the_decoder_alone_redraws_the_canvas_of_the_latents_drawn(model, images):
    """generate(z) on the z the recurrence drew gives its canvas; decode is its sigmoid; the mean
    path (encode) decodes to the model's reconstruction."""
    eps = np.random.default_rng(3).standard_normal((len(images), model.latent_dim)).astype("float32")
    out = model.unroll(images, eps)
    z = numpy(out["z_mean"]) + np.exp(0.5 * numpy(out["z_log_var"])) * eps
    drawn = model.generate(z.astype("float32"), record=True)
    assert np.allclose(numpy(drawn["logits"]), numpy(out["logits"]), atol=1e-4)
    assert numpy(drawn["canvases"]).shape == (len(images), model.steps, *SHAPE)
    assert np.allclose(numpy(model.decode(z.astype("float32"))), numpy(ops.sigmoid(drawn["logits"])), atol=1e-6)
    mean, _ = model.encode(images)
    assert not np.allclose(numpy(mean), numpy(out["z_mean"]))  # the mean path is another path
    assert np.allclose(numpy(model(images)), numpy(model.decode(mean)), atol=1e-5)
    assert np.allclose(numpy(model(images)), numpy(ops.sigmoid(model.unroll(images, 0 * eps)["logits"])), atol=1e-5)


def test_the_kl_of_the_steps_adds_up_to_the_reported_kl_in_evaluate_and_fit(images):
    keras.utils.set_random_seed(0)
    model = make_draw()
    scores = model.evaluate(images, batch_size=8, verbose=0, return_dict=True)
    assert model.kl_per_step().shape == (model.steps,)
    assert model.kl_per_step().sum() == pytest.approx(scores["kl"], rel=1e-4)
    history = model.fit(images, epochs=2, batch_size=8, verbose=0).history
    assert model.kl_per_step().sum() == pytest.approx(history["kl"][-1], rel=1e-4)
    assert history["loss"][-1] == pytest.approx(history["reconstruction"][-1] + history["kl"][-1], rel=1e-4)


def test_training_lowers_the_loss(trained):
    _, history = trained
    assert history["loss"][-1] < history["loss"][0] - 5.0  # nats per image (measured: 42.7 to 29.5)


# ----------------------------------------------------------------- saving, runs and the CLI


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_a_saved_draw_loads_in_safe_mode_with_its_config_and_outputs(model, images, tmp_path):
    path = tmp_path / "draw.keras"
    model.save(path)
    loaded = load_model_file(path)
    z = np.random.default_rng(4).standard_normal((4, model.latent_dim)).astype("float32")
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    assert np.allclose(numpy(loaded(images)), numpy(model(images)), atol=1e-6)
    assert np.allclose(numpy(loaded.decode(z)), numpy(model.decode(z)), atol=1e-6)


def test_the_clis_draw_options_reach_the_model_and_a_resume_continues_it(tiny_npz, tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", "draw", "--dataset", f"npz:{tiny_npz}", "--epochs", "1", "--batch-size", "32",
            "--steps", "3", "--z-size", "5", "--width", "12", "--attention", "none", "--out", str(run_dir)]
    assert main(args) == 0
    assert Run.open(run_dir).config().model == DRAWConfig(steps=3, z_size=5, width=12, attention="none")
    steps = read_events(run_dir / "events.jsonl")[0]["steps_per_epoch"]
    assert main(["train", "draw", "--resume", str(run_dir), "--epochs", "2"]) == 0
    assert [e["epoch"] for e in read_events(run_dir / "events.jsonl") if e["type"] == "epoch"] == [1, 2]
    model = load_run_model(Run.open(run_dir))
    assert (model.steps, model.z_size, model.width, model.attention, model.latent_dim) == (3, 5, 12, False, 15)
    assert int(model.optimizer.iterations) == 2 * steps  # the optimizer went on where it stopped


@pytest.mark.parametrize(("options", "message"), [
    ({"steps": 0}, "steps must be a whole number >= 1, got 0"),
    ({"steps": 257}, "steps must be <= 256, got 257"),
    ({"z_size": -2}, "z_size must be a whole number >= 1, got -2"),
    ({"steps": 256, "z_size": 17}, "steps x z_size must be <= 4096, got 4352"),
    ({"attention": "box"}, "attention must be one of gaussian, none"),
    ({"read_size": 0}, "read_size must be a whole number >= 1, got 0"),
    ({"write_size": 2.5}, "write_size must be a whole number"),
    ({"binarize": "yes"}, "binarize must be true or false, got 'yes'"),
])
def test_bad_draw_options_are_one_line(options, message):
    with pytest.raises(ConfigError) as refused:
        DRAWConfig.from_dict(options)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_draw_refuses_points_in_one_line():
    with pytest.raises(ConfigError, match="^the draw model needs images"):
        build_model(draw_config(dataset="ring8"), (2,))


# ----------------------------------------------------------------- size and the bounds


@pytest.mark.parametrize("attention_kind", ["gaussian", "none"])
def test_the_size_estimate_counts_the_weights_keras_builds(attention_kind):
    config = draw_config(attention=attention_kind, read_size=3, write_size=4)
    encoder, decoder = sizes.networks(config, SHAPE)
    assert encoder.params + decoder.params == build_model(config, SHAPE).count_params()


def test_iwae_on_draw_is_the_elbo_for_one_draw_and_tighter_with_more(trained, digits):
    model, _ = trained
    x = digits[1][:60]
    weights = log_weights(model, x[:10], 7, seed=1)
    assert weights.shape == (10, 7) and np.isfinite(weights).all()
    elbo = elbo_parts(model, x, seed=5)["elbo"]
    iwae_1, iwae_30 = (importance_weighted_bound(model, x, k, seed=5).mean() for k in (1, 30))
    assert iwae_1 == pytest.approx(elbo, abs=0.5)  # one draw: the same quantity, estimated two ways
    assert iwae_30 > max(elbo, iwae_1)  # measured: 0.5 nats above the ELBO, 0.3 above IWAE-1
