"""WGAN-GP (Gulrajani et al. 2017, Algorithm 1): its penalty and losses against their formulas,
n_critic critic updates per generator update, the paper's defaults, and short runs on a toy and images."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kgen import registry
from kgen.cli import main
from kgen.config import RunConfig, TrainConfig, WGANConfig
from kgen.data import make_pipeline
from kgen.errors import ConfigError
from kgen.models import WGANGP, build_model
from kgen.models.saving import load_model_file
from kgen.models.wgan import critic_loss, gradient_penalty, interpolates, wasserstein_generator_loss
from kgen.runs import read_events


def make_wgan(shape=(2,), **options) -> WGANGP:
    config = RunConfig(TrainConfig(model="wgan-gp", lr=1e-3), WGANConfig(latent_dim=2, hidden=(16,), filters=8, **options))
    return build_model(config, shape)


def as_float(t) -> float:
    return float(np.asarray(t))


class TestFormulas:
    def test_penalty_of_a_linear_critic_is_lambda_times_norm_minus_one_squared(self):
        """D(x) = w.x + b has gradient w everywhere: penalty = lambda * (||w|| - 1)^2, norm ||w||."""
        w = np.array([[3.0], [4.0]], np.float32)  # ||w|| = 5
        x_hat = tf.constant(np.random.default_rng(0).normal(size=(7, 2)), tf.float32)
        penalty, norm = gradient_penalty(lambda x: tf.matmul(x, w) + 0.5, x_hat, weight=10.0)
        assert as_float(penalty) == pytest.approx(10.0 * (5.0 - 1.0) ** 2, rel=1e-6)
        assert as_float(norm) == pytest.approx(5.0, rel=1e-6)

    def test_penalty_is_per_example_over_image_axes(self):
        """D(x) = sum(x * x) / 2 has gradient x: each example's norm is its own ||x||."""
        x_hat = tf.constant(np.random.default_rng(1).normal(size=(5, 3, 3, 2)), tf.float32)
        penalty, norm = gradient_penalty(lambda x: 0.5 * tf.reduce_sum(x * x, axis=(1, 2, 3))[:, None], x_hat, 2.0)
        norms = np.linalg.norm(x_hat.numpy().reshape(5, -1), axis=1)
        assert as_float(penalty) == pytest.approx(2.0 * np.mean((norms - 1.0) ** 2), rel=1e-5)
        assert as_float(norm) == pytest.approx(np.mean(norms), rel=1e-5)

    def test_interpolates_lie_on_the_segment_from_fake_to_real(self):
        real, fake = np.ones((3, 2, 2, 1), np.float32), np.zeros((3, 2, 2, 1), np.float32)
        x_hat = np.asarray(interpolates(real, fake, np.array([0.0, 0.25, 1.0], np.float32)))
        assert np.allclose(x_hat[:, 0, 0, 0], [0.0, 0.25, 1.0]) and np.allclose(x_hat[1], 0.25)

    def test_critic_and_generator_losses_on_a_hand_example(self):
        real, fake = np.array([[2.0], [4.0]], np.float32), np.array([[-1.0], [0.0]], np.float32)
        assert as_float(critic_loss(real, fake)) == pytest.approx(-0.5 - 3.0)  # E[D(G(z))] - E[D(x)]
        assert as_float(wasserstein_generator_loss(fake)) == pytest.approx(0.5)  # -E[D(G(z))]


class TestAlgorithmOne:
    def test_the_paper_defaults(self):
        config = RunConfig(TrainConfig(model="wgan-gp", dataset="ring8"), WGANConfig())
        m, t = config.model, config.train
        assert (m.d_steps, m.gp_weight, m.beta_1, m.beta_2) == (5, 10.0, 0.0, 0.9)
        assert TrainConfig(model="wgan-gp", dataset="digits").lr == 1e-4 and t.lr == 1e-3  # faster on toys
        model = build_model(config, (2,))
        adam = model.d_optimizer
        assert (float(adam.learning_rate), adam.beta_1, adam.beta_2) == pytest.approx((1e-3, 0.0, 0.9))
        assert model.critic and model.d_steps == 5 and model.gp_weight == 10.0

    @pytest.mark.parametrize("k", [1, 5])
    def test_k_critic_updates_per_generator_update(self, k):
        model = make_wgan(d_steps=k)
        x = np.random.default_rng(0).normal(size=(200, 2)).astype("float32")
        model.fit(make_pipeline(x, batch_size=8 * k, drop_remainder=True), epochs=2, verbose=0, shuffle=False)
        g_updates = int(model.g_optimizer.iterations)
        assert g_updates == 2 * (200 // (8 * k))
        assert int(model.d_optimizer.iterations) == k * g_updates

    def test_the_critic_on_images_has_no_batch_norm(self):
        model = make_wgan(shape=(8, 8, 1))  # arch auto: the DCGAN networks on images
        layers = {type(layer).__name__ for layer in model.discriminator.layers}
        assert "Conv2D" in layers and "BatchNormalization" not in layers and "GroupNormalization" in layers
        assert "BatchNormalization" in {type(layer).__name__ for layer in model.generator.layers}

    def test_step_d_and_step_g_by_hand(self):
        model = make_wgan()
        batch = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
        d = model.player_step("discriminator", batch)
        g = model.player_step("generator", batch)
        assert set(d) == {"d_loss", "wasserstein", "gradient_penalty", "interpolate_grad_norm", "d_grad_norm"}
        assert set(g) == {"g_loss", "g_grad_norm"} and all(np.isfinite(list({**d, **g}.values())))
        assert (int(model.d_optimizer.iterations), int(model.g_optimizer.iterations)) == (1, 1)
        # The critic's loss is minus the Wasserstein estimate plus the penalty.
        assert d["d_loss"] == pytest.approx(-d["wasserstein"] + d["gradient_penalty"], rel=1e-4, abs=1e-5)

    def test_conditional_and_binary_are_refused_in_one_line(self):
        gan = make_wgan()
        with pytest.raises(ValueError, match="unconditional, on continuous"):
            WGANGP(gan.generator, gan.discriminator, num_classes=10)
        with pytest.raises(ConfigError, match="gp_weight must be"):
            WGANConfig(gp_weight=-1.0)
        with pytest.raises(ConfigError, match="d_steps must be"):
            WGANConfig(d_steps=0)


def test_the_registry_entry():
    spec = registry.spec("wgan-gp")
    assert spec.adversarial and spec.critic and spec.player_steps and spec.points
    assert "playground" in spec.views and "toy_modes" in spec.scores and spec.config is WGANConfig


def test_a_short_ring8_run_trains_saves_and_loads(tmp_path):
    run = tmp_path / "ring"
    assert main(["train", "wgan-gp", "--dataset", "ring8", "--epochs", "4", "--out", str(run)]) == 0
    events = read_events(run / "events.jsonl")
    epochs = [e["metrics"] for e in events if e["type"] == "epoch"]
    assert len(epochs) == 4 and all(np.isfinite(list(m.values())).all() for m in epochs)
    # The critic first tells the real points from G's initial cloud (a positive distance estimate),
    # then the estimate shrinks towards 0 as G moves onto the ring (it swings sign while the critic lags).
    first, last = epochs[0]["wasserstein"], [abs(m["wasserstein"]) for m in epochs[-2:]]
    assert first > 0 and max(last) < first
    final = events[-1]
    assert final["type"] == "eval" and final["metrics"]["modes_total"] == 8
    model = load_model_file(run / "model.keras")
    assert isinstance(model, WGANGP) and model.d_steps == 5 and model.gp_weight == 10.0
    steps = next(e for e in events if e["type"] == "start")["steps_per_epoch"]
    assert int(model.g_optimizer.iterations) == 4 * steps and int(model.d_optimizer.iterations) == 20 * steps
    z = keras.random.normal((3, model.latent_dim), seed=0)
    assert np.asarray(model.decode(z)).shape == (3, 2)


def test_cli_bad_flags_are_one_line(tmp_path, capsys):
    assert main(["train", "wgan-gp", "--generator-loss", "saturating", "--out", str(tmp_path / "r")]) == 2
    assert "--generator-loss does not apply to the wgan-gp model" in capsys.readouterr().err
    assert main(["train", "wgan-gp", "--gp-weight", "-2", "--dataset", "ring8", "--out", str(tmp_path / "s")]) == 2
    assert "gp_weight must be" in capsys.readouterr().err


def test_the_playground_shows_the_critic_value_and_its_gradient():
    """The heat map is D(x) itself (no sigmoid) and the arrows are grad D at each G(z): minus the
    gradient of G's loss -D(G(z))."""
    from kgen.services.playground import grid_points, playground_snapshot

    model = make_wgan()
    box = np.array([-2.0, 2.0, -2.0, 2.0], np.float32)
    noise = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    snapshot = playground_snapshot(model, noise, box, resolution=4)
    values = np.asarray(model.discriminator(grid_points(box, 4))).reshape(4, 4)
    generated = tf.constant(model.generator(noise))
    with tf.GradientTape() as tape:
        tape.watch(generated)
        total = tf.reduce_sum(model.discriminator(generated))
    assert snapshot["critic"] and np.allclose(snapshot["d_grid"], values, atol=1e-5)
    assert np.allclose(snapshot["descent"], tape.gradient(total, generated).numpy(), atol=1e-5)


def test_the_playground_view_scales_a_critic_about_zero(qtbot):
    from gui.playground_view import CRITIC_LABEL, D_LABEL, PlaygroundView

    view = PlaygroundView()
    qtbot.addWidget(view)
    event = {"box": np.array([-1, 1, -1, 1], np.float32), "real": np.zeros((3, 2), np.float32),
             "d_grid": np.array([[-3.0, 1.0], [0.5, 2.0]], np.float32), "generated": np.zeros((2, 2), np.float32),
             "descent": np.zeros((2, 2), np.float32), "moves": np.zeros((2, 2), np.float32), "step": 1, "epoch": 1,
             "critic": True}
    view.add_snapshot(event)
    view.flush()
    assert tuple(view.colour_bar.levels()) == (-3.0, 3.0) and view.heat.levels.tolist() == [-3.0, 3.0]
    assert view.colour_bar.getAxis("left").labelText == CRITIC_LABEL
    view.add_snapshot({**event, "critic": False, "d_grid": np.full((2, 2), 0.5, np.float32)})
    view.flush()
    assert tuple(view.colour_bar.levels()) == (0.0, 1.0) and view.colour_bar.getAxis("left").labelText == D_LABEL


def test_the_setup_panel_sets_the_penalty_and_critic_steps(qtbot):
    from gui.setup_panel import SetupPanel

    panel = SetupPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.gp_weight.isVisible()  # the VAE has no penalty
    panel.model.setCurrentText("wgan-gp")
    assert panel.gp_weight.isVisible() and not panel.generator_loss.isVisible() and not panel.pixels.isVisible()
    assert (panel.gp_weight.value(), panel.d_steps.value()) == (10.0, 5)
    panel.gp_weight.setValue(2.5)
    config = panel.config()
    assert isinstance(config.model, WGANConfig) and (config.model.gp_weight, config.model.d_steps) == (2.5, 5)
    assert config.train.lr == pytest.approx(1e-4)  # digits: the paper's rate
