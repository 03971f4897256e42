"""The VAE: its steps, likelihoods, bounds, and a save/load round trip across processes."""

import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kgen.config import DRAWConfig, RunConfig, TrainConfig, VAEConfig
from kgen.errors import ConfigError
from kgen.eval.likelihood import (
    binarize_fixed,
    curve_ks,
    elbo_parts,
    evaluate_model,
    grouped_bounds,
    importance_weighted_bound,
    iwae_curve,
)
from kgen.models import VAE, build_model
from kgen.models.base import LEARNED_SIGMA_FLOOR


def make_vae(image_shape=(8, 8, 1), **model_options) -> VAE:
    config = RunConfig(TrainConfig(seed=0), VAEConfig(latent_dim=4, hidden=(64,), **model_options))
    return build_model(config, image_shape)


@pytest.fixture(scope="module")
def trained(digits):
    """An MLP VAE trained briefly on the real digits, with its score before training."""
    x_train, x_test = digits
    keras.utils.set_random_seed(0)
    model = make_vae()
    before = elbo_parts(model, x_test)["elbo"]
    history = model.fit(x_train, x_train, epochs=15, batch_size=32, verbose=0, validation_data=(x_test, x_test))
    return model, before, history.history


class TestTraining:
    def test_reports_loss_reconstruction_and_kl(self, trained):
        _, _, history = trained
        assert {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"} <= set(history)
        for a, b, c in zip(history["loss"], history["reconstruction"], history["kl"], strict=True):
            assert a == pytest.approx(b + c, rel=1e-4)

    def test_test_elbo_improves(self, trained, digits):
        model, before, history = trained
        after = elbo_parts(model, digits[1])["elbo"]
        assert after > before + 10.0  # nats: from an untrained decoder to a useful one
        assert history["val_loss"][-1] < history["val_loss"][0]

    def test_decoded_images_are_in_unit_range(self, trained):
        model, _, _ = trained
        images = np.asarray(model.decode(np.random.default_rng(0).normal(size=(16, 4)).astype("float32")))
        assert images.shape == (16, 8, 8, 1) and images.min() >= 0.0 and images.max() <= 1.0


class TestBounds:
    def test_iwae_is_at_least_the_elbo_and_rises_with_k(self, trained, digits):
        model, _, _ = trained
        x = digits[1][:120]
        elbo = elbo_parts(model, x, seed=3)["elbo"]
        bounds = {k: importance_weighted_bound(model, x, k, seed=3).mean() for k in (1, 10, 100)}
        assert bounds[1] == pytest.approx(elbo, abs=0.6)  # same quantity, estimated two ways
        assert bounds[10] > elbo
        assert bounds[100] > bounds[10] > bounds[1]

    def test_evaluate_names_every_bound(self, trained, digits):
        model, _, _ = trained
        result = evaluate_model(model, digits[1][:20], ks=(1, 5))
        assert set(result) == {"elbo", "reconstruction", "kl", "iwae_1", "iwae_5"}
        assert result["elbo"] == pytest.approx(-(result["reconstruction"] + result["kl"]))


    def test_encoding_once_for_all_draws_gives_the_repeated_images_weights(self, monkeypatch):
        from kgen.eval import likelihood

        model = make_vae(arch="conv", filters=(8, 16, 16, 16))  # the encoder costs about what the decoder does
        assert likelihood.draws_per_image(model) and not likelihood.draws_per_image(build_model(
            RunConfig(TrainConfig(model="draw"), DRAWConfig(steps=2)), (8, 8, 1)))  # DRAW repeats its images
        x = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
        labels = np.zeros(len(x), "int32")
        eps = np.random.default_rng(1).standard_normal((len(x), 32, model.latent_dim)).astype("float32")
        steps = {}
        for encodes_once in (True, False):
            monkeypatch.setattr(likelihood, "draws_per_image", lambda model, once=encodes_once: once)
            steps[encodes_once] = likelihood._log_weight_step(model)
        encoded = []  # the batch sizes the encoder sees while each step is traced
        encode = model.encode
        monkeypatch.setattr(model, "encode", lambda x, *a, **k: encoded.append(int(x.shape[0])) or encode(x, *a, **k))
        weights = {}
        for once, step in steps.items():
            weights[once] = step(x, labels, eps, 32).numpy()
        np.testing.assert_allclose(weights[True], weights[False], rtol=1e-5, atol=1e-4)  # same draws, same weights
        assert encoded == [32, 32 * 32]  # once per image, against once per image and draw


class TestBoundOverK:
    def test_grouped_bound_is_the_mean_over_disjoint_groups(self):
        log_w = np.log(np.array([[1.0, 3.0, 2.0, 6.0, 9.0]]))  # 5 weights: two groups of 2, one left over
        expected = (math.log((1 + 3) / 2) + math.log((2 + 6) / 2)) / 2
        assert grouped_bounds(log_w, 2) == pytest.approx([expected])
        assert grouped_bounds(log_w, 5) == pytest.approx([math.log(21 / 5)])
        assert grouped_bounds(log_w + 1000.0, 1) == pytest.approx([1000.0 + np.log([1, 3, 2, 6, 9]).mean()])

    def test_the_curve_is_flat_when_every_weight_is_p_of_x(self):
        log_w = np.tile(np.array([[-3.0], [-7.5]]), (1, 20))  # q = the posterior: w = p(x) for every draw
        for k in (1, 2, 5, 10, 20):
            assert grouped_bounds(log_w, k) == pytest.approx([-3.0, -7.5])

    def test_curve_ks_end_at_the_largest(self):
        assert curve_ks(100) == (1, 2, 5, 10, 20, 50, 100)
        assert curve_ks(30) == (1, 2, 5, 10, 20, 30)
        with pytest.raises(ValueError, match="largest k"):
            curve_ks(0)

    def test_curve_rises_with_k_from_the_elbo(self, trained, digits):
        model, _, _ = trained
        x = digits[1][:120]
        shares = []
        curve = iwae_curve(model, x, 200, seed=3, progress=shares.append)
        bounds = [curve[f"iwae_{k}"] for k in curve_ks(200)]
        assert np.all(np.diff(bounds) > 0)  # every k's bound above the smaller k's
        elbo = elbo_parts(model, x, seed=3)["elbo"]
        assert abs(curve["iwae_1"] - elbo) < 2 * curve["iwae_se_1"]  # k = 1 is the ELBO, estimated twice
        assert bounds[-1] - bounds[0] > 0.1  # nats: the bound tightens
        assert shares[-1] == 1.0 and shares == sorted(shares)


class TestLikelihoods:
    def test_fixed_gaussian_matches_formula(self):
        model = make_vae(likelihood="gaussian", sigma=0.2)
        rng = np.random.default_rng(0)
        x = rng.random((2, 8, 8, 1)).astype("float32")
        params = rng.normal(size=(2, 8, 8, 1)).astype("float32")
        mean = 1 / (1 + np.exp(-params.astype(np.float64)))
        expected = np.sum(
            -0.5 * math.log(2 * math.pi) - math.log(0.2) - (x - mean) ** 2 / (2 * 0.04), axis=(1, 2, 3)
        )
        assert np.allclose(np.asarray(model.log_likelihood(x, params)), expected, rtol=1e-4)

    def test_learned_variance_doubles_channels_and_is_floored(self):
        model = make_vae(likelihood="gaussian-learned")
        assert model.decoder.outputs[0].shape[-1] == 2
        x = np.zeros((1, 8, 8, 1), np.float32)
        params = np.concatenate([np.full((1, 8, 8, 1), -30.0), np.full((1, 8, 8, 1), -100.0)], -1).astype("float32")
        # mean ~ 0 and variance at its floor: the density is bounded.
        bound = 64 * (-0.5 * math.log(2 * math.pi) - math.log(LEARNED_SIGMA_FLOOR))
        assert float(np.asarray(model.log_likelihood(x, params))[0]) <= bound + 1e-2

    def test_dynamic_binarisation_draws_fresh_binary_pixels(self):
        model = make_vae(binarize=True)
        x = np.full((64, 8, 8, 1), 0.3, np.float32)
        a, b = np.asarray(model.prepare_images(x)), np.asarray(model.prepare_images(x))
        assert set(np.unique(a)) <= {0.0, 1.0}
        assert abs(a.mean() - 0.3) < 0.03 and not np.array_equal(a, b)

    def test_fixed_binarisation_is_reproducible(self):
        x = np.random.default_rng(0).random((10, 8, 8, 1)).astype("float32")
        assert np.array_equal(binarize_fixed(x, 1), binarize_fixed(x, 1))


class TestArchitectures:
    def test_conv_pair_is_four_layers_each_way(self):
        model = make_vae(image_shape=(28, 28, 1), arch="conv")
        convs = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Conv2D)]
        deconvs = [layer for layer in model.decoder.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
        assert len(convs) == 4 and len(deconvs) == 4
        assert model.decoder.outputs[0].shape[1:] == (28, 28, 1)

    def test_conv_refuses_sizes_not_divisible_by_four(self):
        with pytest.raises(ConfigError, match=r"divisible by 4, got \(10, 10, 1\); use image_size 12"):
            make_vae(image_shape=(10, 10, 1), arch="conv")


def test_saved_model_reloads_in_a_new_process(tmp_path, trained, digits):
    model, _, _ = trained
    x = digits[1][:8]
    path = tmp_path / "vae.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import numpy as np, keras, kgen.models
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        np.save({str(tmp_path / "out.npy")!r}, np.asarray(model(np.load({str(tmp_path / "x.npy")!r}))))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert np.allclose(np.load(tmp_path / "out.npy"), np.asarray(model(x)), atol=1e-6)
