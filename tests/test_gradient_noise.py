"""Gradient noise: the statistics against their formula, and the probe on models with known answers."""

import keras
import numpy as np
import pytest
from keras import ops

from kgen.config import AEConfig, RunConfig, TrainConfig, VAEConfig
from kgen.eval.gradient_noise import STD_FLOOR, GradientProbe, gradient_noise, variance_and_snr
from kgen.models import build_model


class TestVarianceAndSnr:
    def test_matches_the_formula_parameter_by_parameter(self):
        estimates = np.random.default_rng(0).normal(loc=[0.5, -2.0, 0.1], scale=[1.0, 0.5, 3.0], size=(6, 3))
        variances, snrs = [], []
        for p in range(3):
            column = estimates[:, p]
            mean = column.sum() / 6
            variance = ((column - mean) ** 2).sum() / 5
            variances.append(variance)
            snrs.append(abs(mean) / (variance**0.5 + STD_FLOOR))
        stats = variance_and_snr(estimates)
        assert stats.variance == pytest.approx(np.mean(variances))
        assert stats.snr == pytest.approx(np.median(snrs))

    def test_the_snr_is_a_median_that_a_few_deterministic_parameters_cannot_swamp(self):
        noisy = np.random.default_rng(1).normal(loc=0.1, scale=1.0, size=(8, 9))
        estimates = np.hstack([noisy, np.full((8, 1), 0.5)])  # one parameter with no noise at all
        assert variance_and_snr(estimates).snr < 1.0 < variance_and_snr(np.full((8, 1), 0.5)).snr

    def test_all_zero_parameters_are_left_out_of_the_snr(self):
        estimates = np.array([[1.0, 0.0], [3.0, 0.0]])
        stats = variance_and_snr(estimates)
        assert stats.variance == pytest.approx(1.0)  # (2 + 0) / 2: the zero column counts here
        assert stats.snr == pytest.approx(2.0 / 2**0.5)

    def test_a_constant_estimate_has_no_variance_and_a_huge_snr(self):
        stats = variance_and_snr(np.tile([[0.3, -1.0]], (5, 1)))
        assert stats.variance == 0.0 and stats.snr > 1e10

    def test_needs_two_estimates(self):
        with pytest.raises(ValueError, match="at least 2"):
            variance_and_snr(np.ones((1, 4)))


class NoisyLinear:
    """A stand-in model with a known answer: the surrogate mean_n sum_p w_p x_n (c + sigma eps_np)
    has, at x = 1, the gradient c + sigma * mean_n eps_np for each w_p: mean c, variance sigma^2 / N."""

    def __init__(self, c: float, sigma: float, parameters: int):
        self.c, self.sigma = c, sigma
        self.encoder = keras.Sequential([keras.Input((1,)), keras.layers.Dense(parameters, use_bias=False, name="w")])
        self.seed_generator = keras.random.SeedGenerator(0)
        self.non_trainable_variables = []

    def prepare_images(self, x):
        return x

    def compute_losses(self, x, labels=None, training=False):
        out = self.encoder(x)
        eps = keras.random.normal(ops.shape(out), seed=self.seed_generator)
        surrogate = ops.mean(ops.sum(out * (self.c + self.sigma * eps), axis=-1))
        return {"loss": surrogate + ops.sum(out**2), "surrogate": surrogate}  # the loss alone is not it


class BranchingLinear(NoisyLinear):
    """The same, reaching its surrogate through a Python branch on a tensor (AutoGraph's job)."""

    def compute_losses(self, x, labels=None, training=False):
        parts = super().compute_losses(x, labels, training)
        if ops.sum(x) > 0:
            return parts
        return {"loss": parts["loss"], "surrogate": -parts["surrogate"]}


class TestProbe:
    def test_python_branches_on_tensors_are_traced_with_autograph(self):
        probe = GradientProbe(BranchingLinear(0.5, 2.0, parameters=50), samples=8)
        result = probe.measure(np.ones((16, 1), "float32"))
        assert result.overall.variance == pytest.approx(4.0 / 16, rel=0.3)


    def test_known_variance_and_snr(self):
        n, c, sigma = 16, 0.5, 2.0
        result = GradientProbe(NoisyLinear(c, sigma, parameters=200), samples=32).measure(np.ones((n, 1), "float32"))
        assert list(result.layers) == ["w"]
        assert result.overall.variance == pytest.approx(sigma**2 / n, rel=0.1)
        assert result.overall.snr == pytest.approx(c * n**0.5 / sigma, rel=0.15)

    def test_deterministic_surrogate_has_no_variance(self, digits):
        model = build_model(RunConfig(TrainConfig(model="ae", seed=0), AEConfig(latent_dim=4, hidden=(32,))), (8, 8, 1))
        result = gradient_noise(model, digits[0][:32], samples=4)
        assert result.overall.variance == pytest.approx(0.0, abs=1e-20)
        assert result.overall.snr > 1e6

    def test_variance_of_a_vae_falls_as_one_over_the_batch(self, digits):
        """Copies of one image give i.i.d. per-example gradients: 4 times the copies, a quarter the variance."""
        model = build_model(RunConfig(TrainConfig(seed=0), VAEConfig(latent_dim=4, hidden=(32,))), (8, 8, 1))
        probe = GradientProbe(model, samples=16)
        image = digits[0][:1]
        small = probe.measure(np.repeat(image, 16, axis=0)).overall.variance
        large = probe.measure(np.repeat(image, 64, axis=0)).overall.variance
        assert small > 0 and 3.0 < small / large < 5.3
        assert probe._estimates.experimental_get_tracing_count() <= 2  # one per batch size at most

    def test_per_layer_names_and_reuse_without_retracing(self, digits):
        model = build_model(RunConfig(TrainConfig(seed=0), VAEConfig(latent_dim=4, hidden=(32,))), (8, 8, 1))
        first = gradient_noise(model, digits[0][:32])
        second = gradient_noise(model, digits[0][32:64])
        assert list(first.layers) == ["dense_0", "z_mean", "z_log_var"]
        assert all(np.isfinite([s.variance, s.snr]).all() and s.variance > 0 for s in first.layers.values())
        assert first.overall != second.overall
        from kgen.eval.gradient_noise import _PROBES

        assert _PROBES[model][8]._estimates.experimental_get_tracing_count() == 1

    def test_a_cvae_is_measured_with_its_labels(self, digits):
        config = RunConfig(TrainConfig(model="cvae", seed=0), VAEConfig(latent_dim=2, hidden=(16,)))
        model = build_model(config, (8, 8, 1), num_classes=10)
        result = gradient_noise(model, digits[0][:32], labels=np.arange(32) % 10, samples=4)
        assert result.overall.variance > 0 and np.isfinite(result.overall.snr)
        with pytest.raises(ValueError, match="conditional"):
            gradient_noise(model, digits[0][:32], samples=4)

    def test_leaves_the_noise_stream_as_it_was(self, digits):
        model = build_model(RunConfig(TrainConfig(seed=0), VAEConfig(latent_dim=4, hidden=(32,))), (8, 8, 1))
        before = model.seed_generator.state.numpy().copy()
        gradient_noise(model, digits[0][:16], samples=2)
        np.testing.assert_array_equal(model.seed_generator.state.numpy(), before)

    def test_refuses_a_model_without_an_encoder(self):
        with pytest.raises(ValueError, match="no encoder"):
            GradientProbe(object())


class TestCallback:
    @staticmethod
    def epochs_of(run_path):
        from kgen.runs import read_events

        return [e for e in read_events(run_path / "events.jsonl") if e.kind == "epoch"]

    def test_a_vae_run_records_finite_noise_in_every_epoch(self, tiny_npz, tmp_path):
        from kgen.train.training import train

        config = RunConfig(TrainConfig(dataset=f"npz:{tiny_npz}", epochs=2, batch_size=16, grid_size=4),
                           VAEConfig(latent_dim=2, hidden=(16,)))
        result = train(config, tmp_path / "run", verbose=0)
        epochs = self.epochs_of(result.run.path)
        assert len(epochs) == 2
        for event in epochs:
            metrics = event["metrics"]
            names = {"grad_snr", "grad_log_var", "grad_snr/dense_0", "grad_snr/z_mean", "grad_snr/z_log_var"}
            assert names <= set(metrics)
            assert all(np.isfinite(metrics[name]) for name in names)
            assert metrics["grad_snr"] > 0 and metrics["grad_log_var"] < 0
        assert epochs[0]["metrics"]["grad_snr"] != epochs[1]["metrics"]["grad_snr"]
        assert "grad_snr" in result.history  # Keras' history holds it too: the logs were extended

    def test_a_deterministic_model_is_not_measured(self, tiny_npz, tmp_path):
        from kgen.train.training import train

        config = RunConfig(TrainConfig(model="ae", dataset=f"npz:{tiny_npz}", epochs=1, batch_size=16, grid_size=4),
                           AEConfig(latent_dim=2, hidden=(16,)))
        result = train(config, tmp_path / "run", verbose=0)
        assert not any(k.startswith("grad_") for k in self.epochs_of(result.run.path)[0]["metrics"])

    def test_measurement_does_not_change_the_training(self, tiny_npz, tmp_path, monkeypatch):
        """The probe restores the noise streams: the same run with and without it trains alike."""
        from kgen.train import training

        config = RunConfig(TrainConfig(dataset=f"npz:{tiny_npz}", epochs=2, batch_size=16, grid_size=4),
                           VAEConfig(latent_dim=2, hidden=(16,)))
        measured = training.train(config, tmp_path / "a", verbose=0).history["loss"]
        monkeypatch.setattr(training, "gradient_noise_callbacks", lambda *args: [])
        bare = training.train(config, tmp_path / "b", verbose=0).history["loss"]
        assert measured == pytest.approx(bare, rel=1e-6)

    @pytest.mark.parametrize(("budget", "measured"), [(1e9, [1, 2, 3, 4]), (1e-9, [1, 4])])
    def test_measurements_are_spaced_to_fit_the_budget(self, digits, budget, measured):
        """A budget far above a measurement's cost measures every epoch; one far below, the first and last."""
        from kgen.train.callbacks import GradientNoise

        model = build_model(RunConfig(TrainConfig(seed=0), VAEConfig(latent_dim=2, hidden=(16,))), (8, 8, 1))
        seen = []
        probe = GradientNoise(digits[0][:32], budget=budget, per_layer=False)
        record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: "grad_snr" in logs and seen.append(e + 1))
        model.fit(digits[0][:64], epochs=4, batch_size=32, verbose=0, callbacks=[probe, record])
        assert seen == measured

    def test_probe_batch_is_fixed_by_the_seed(self):
        from kgen.eval.gradient_noise import probe_batch

        x, y = np.arange(100.0)[:, None], np.arange(100)
        first, labels = probe_batch(x, y, 64, seed=5)
        again, _ = probe_batch(x, y, 64, seed=5)
        np.testing.assert_array_equal(first, again)
        assert len(np.unique(first)) == 64 and np.all(np.diff(first[:, 0]) > 0)
        np.testing.assert_array_equal(first[:, 0], labels)
        assert len(probe_batch(x[:10], None, 64, seed=5)[0]) == 10


def test_no_probe_for_weights_that_live_in_a_strategys_replicas():
    """A model built under a tf.distribute strategy (even one replica) has no probe: its gradients
    exist only inside the strategy's replica context."""
    import tensorflow as tf

    from kgen.eval.gradient_noise import distributed
    from kgen.train.training import gradient_noise_callbacks

    config = RunConfig(train=TrainConfig(model="vae", dataset="digits"), model=VAEConfig(latent_dim=2))
    x = np.random.default_rng(0).uniform(size=(16, 8, 8, 1)).astype("float32")
    plain = build_model(config, (8, 8, 1))
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        mirrored = build_model(config, (8, 8, 1))
    assert not distributed(plain.encoder) and distributed(mirrored.encoder)
    assert len(gradient_noise_callbacks(config, plain, x, None)) == 1
    assert gradient_noise_callbacks(config, mirrored, x, None) == []
