"""Training on the importance-weighted bound (IWAE, Burda et al. 2015) as the VAE's
``importance_samples`` option: its loss against the bound's formula, its expectation against k,
the option's rules, and a run that trains, saves and loads."""

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from kgen import sizes  # noqa: E402
from kgen.config import BinaryVAEConfig, RunConfig, TrainConfig, VAEConfig  # noqa: E402
from kgen.errors import ConfigError  # noqa: E402
from kgen.models import VAE, build_model, nets  # noqa: E402

SHAPE = (3, 3, 1)
X = (np.arange(9).reshape(1, 3, 3, 1) % 2).astype("float32")  # one 3x3 binary image


def tiny_vae(k: int, seed: int = 0) -> VAE:
    """A VAE with linear networks and seeded weights far from a good fit, so the bound is loose."""
    keras.utils.set_random_seed(0)
    model = VAE(nets.build_mlp_encoder(SHAPE, 2, ()), nets.build_mlp_decoder(SHAPE, 2, (), 1),
                importance_samples=k, seed=seed)
    rng = np.random.default_rng(1)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=0.7, size=w.shape).astype("float32"))
    return model


def test_the_loss_is_minus_the_log_mean_weight_of_k_draws_of_each_image():
    k, xs = 7, np.concatenate([X, 1 - X])
    parts = tiny_vae(k).compute_losses(xs)
    # The same weights and seed draw the same noise: rebuild the log weights from the terms.
    terms = tiny_vae(k).sample_terms(xs, draws=k)
    log_w = np.reshape(terms["log_px_z"] + terms["log_pz"] - terms["log_qz"], (2, k)).astype("float64")
    expected = -np.mean(np.log(np.mean(np.exp(log_w), axis=1)))
    np.testing.assert_allclose(float(parts["loss"]), expected, rtol=1e-5)
    assert float(parts["surrogate"]) == float(parts["loss"])
    # reconstruction and kl stay the ELBO's, averaged over the draws: the bound is tighter than it.
    np.testing.assert_allclose(float(parts["reconstruction"]), -np.mean(terms["log_px_z"]), rtol=1e-5)
    assert float(parts["loss"]) < float(parts["reconstruction"] + parts["kl"])


def test_draws_encode_once_and_decode_each_image_k_times_image_major():
    model, k = tiny_vae(1), 4
    xs = np.concatenate([X, 1 - X])
    eps = np.random.default_rng(0).standard_normal((2 * k, 2)).astype("float32")
    drawn = model.sample_terms(xs, eps=eps, draws=k)
    repeated = model.sample_terms(np.repeat(xs, k, axis=0), eps=eps)
    for name in ("log_px_z", "log_pz", "log_qz", "kl"):
        np.testing.assert_allclose(np.asarray(drawn[name]), np.asarray(repeated[name]), rtol=1e-6)


def test_the_expected_loss_falls_with_k_from_the_elbo_towards_minus_log_px():
    """E[-IWAE_k] is the -ELBO at k = 1 and falls with k (Burda et al., theorem 1); the model is fixed."""
    xs = np.repeat(X, 4000, axis=0)
    elbo = float(tiny_vae(1).compute_losses(xs)["loss"])
    means = {k: float(tiny_vae(k, seed=1).compute_losses(xs[: 4000 // k * 4])["loss"]) for k in (1, 5, 50)}
    assert means[1] == pytest.approx(elbo, abs=0.05 * abs(elbo))
    assert means[1] > means[5] + 0.1 > means[50] + 0.2


def test_iwae_needs_the_reparameterisation_and_beta_one():
    assert VAEConfig().importance_samples == 1
    with pytest.raises(ConfigError, match="importance_samples must be a whole number >= 1, got 0"):
        VAEConfig(importance_samples=0)
    with pytest.raises(ConfigError, match="needs estimator reparameterisation, not reinforce"):
        VAEConfig(importance_samples=5, estimator="reinforce")
    with pytest.raises(ConfigError, match="only with beta 1"):
        VAEConfig(importance_samples=5, beta=2.0)
    with pytest.raises(ConfigError, match="needs estimator reparameterisation, not relaxed"):
        BinaryVAEConfig(importance_samples=5)
    with pytest.raises(ValueError, match="IWAE"):
        VAE(nets.build_mlp_encoder(SHAPE, 2, ()), nets.build_mlp_decoder(SHAPE, 2, (), 1), beta=0.5,
            importance_samples=3)


def test_the_option_is_left_out_of_fingerprints_at_its_default_only():
    plain = RunConfig(TrainConfig(model="vae"), VAEConfig())
    assert VAEConfig.__dataclass_fields__["importance_samples"].metadata["later"]
    assert RunConfig(TrainConfig(model="vae"), VAEConfig(importance_samples=5)).fingerprint() != plain.fingerprint()


def test_the_memory_estimate_counts_k_decodings():
    def need(k):
        return sizes.estimate(RunConfig(TrainConfig(model="vae"), VAEConfig(importance_samples=k)), (28, 28, 1))

    one_more = need(2).activation_bytes - need(1).activation_bytes  # one decoding of the batch
    assert 0.2 * need(1).activation_bytes < one_more < need(1).activation_bytes
    assert need(50).activation_bytes == need(1).activation_bytes + 49 * one_more
    assert need(50).weights_bytes == need(1).weights_bytes


def test_an_iwae_run_trains_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    config = RunConfig(TrainConfig(model="vae", seed=0), VAEConfig(latent_dim=3, hidden=(16,), importance_samples=5))
    model = build_model(config, (8, 8, 1), 0)
    rng = np.random.default_rng(0)
    x = (rng.random((256, 8, 8, 1)) < np.linspace(0.1, 0.9, 64).reshape(1, 8, 8, 1)).astype("float32")
    history = model.fit(x, epochs=4, batch_size=32, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]
    assert history["loss"][-1] < history["reconstruction"][-1] + history["kl"][-1]  # tighter than the ELBO
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.importance_samples == 5
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
