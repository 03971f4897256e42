"""The posterior on a grid against a linear Gaussian decoder, whose posterior and evidence are closed forms."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

from kgen.eval import posterior
from kgen.models.vae import VAE

SIGMA = 0.05  # the decoder's fixed pixel standard deviation
SHAPE = (4, 4, 1)
PIXELS = 16


def linear_decoder_weights() -> tuple[np.ndarray, np.ndarray]:
    """W (16, 2) with orthogonal columns, so the true posterior is a diagonal Gaussian; b = 0.5."""
    signs = np.where(np.arange(PIXELS) % 2 == 0, 1.0, -1.0)
    w = np.stack([0.04 * np.ones(PIXELS), 0.03 * signs], axis=1)
    return w, np.full(PIXELS, 0.5)


def true_posterior(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, covariance of p(z|x) and log p(x) = log N(x; b, W W^T + s^2 I) for p(z) = N(0, I)."""
    w, b = linear_decoder_weights()
    cov = np.linalg.inv(np.eye(2) + w.T @ w / SIGMA**2)
    mean = cov @ w.T @ (x.ravel() - b) / SIGMA**2
    marginal = w @ w.T + SIGMA**2 * np.eye(PIXELS)
    d = x.ravel() - b
    log_px = -0.5 * (PIXELS * np.log(2 * np.pi) + np.linalg.slogdet(marginal)[1] + d @ np.linalg.solve(marginal, d))
    return mean, cov, float(log_px)


def linear_vae(q_shift=(0.0, 0.0), q_var_scale: float = 1.0) -> VAE:
    """A kgen VAE with p(x|z) = N(Wz + b, s^2 I) and an encoder whose q(z|x) is the true posterior,
    its mean moved by ``q_shift`` and its variances multiplied by ``q_var_scale``."""
    w, b = linear_decoder_weights()
    z = keras.Input((2,), name="z")
    mean = layers.Dense(PIXELS, name="pixels")(z)  # Wz + b: the "gaussian" likelihood's sigmoid undoes the logit
    logits = layers.Lambda(lambda m: ops.log(m) - ops.log1p(-m))(mean)
    decoder = keras.Model(z, layers.Reshape(SHAPE)(logits), name="decoder")
    decoder.get_layer("pixels").set_weights([w.T.astype("float32"), b.astype("float32")])
    cov = np.linalg.inv(np.eye(2) + w.T @ w / SIGMA**2)
    image = keras.Input(SHAPE, name="image")
    flat = layers.Flatten()(image)
    z_mean = layers.Dense(2, name="z_mean")(flat)
    z_log_var = layers.Dense(2, name="z_log_var")(flat)
    encoder = keras.Model(image, [z_mean, z_log_var], name="encoder")
    gain = (cov @ w.T / SIGMA**2).T  # (16, 2): mean = (x - b) @ gain
    encoder.get_layer("z_mean").set_weights([gain.astype("float32"), (np.asarray(q_shift) - b @ gain).astype("float32")])
    encoder.get_layer("z_log_var").set_weights([np.zeros((PIXELS, 2), "float32"),
                                                np.log(q_var_scale * np.diag(cov)).astype("float32")])
    return VAE(encoder, decoder, likelihood="gaussian", sigma=SIGMA)


def linear_image() -> np.ndarray:
    w, b = linear_decoder_weights()
    rng = np.random.default_rng(3)
    return (b + w @ np.array([0.8, -1.2]) + SIGMA * rng.standard_normal(PIXELS)).reshape(SHAPE).astype("float32")


def gaussian_kl(m0, c0, m1, c1) -> float:
    """KL(N(m0, c0) || N(m1, c1)) in closed form."""
    p1 = np.linalg.inv(c1)
    d = m1 - m0
    return 0.5 * float(np.trace(p1 @ c0) + d @ p1 @ d - 2 + np.linalg.slogdet(c1)[1] - np.linalg.slogdet(c0)[1])


def test_grid_matches_the_closed_form_posterior_and_evidence():
    x = linear_image()
    mean, cov, log_px = true_posterior(x)
    result = posterior.posterior_grid(linear_vae(), x)
    assert result.log_px == pytest.approx(log_px, abs=2e-3)
    np.testing.assert_allclose(result.posterior_mean, mean, atol=2e-3)
    np.testing.assert_allclose(result.posterior_cov, cov, atol=2e-3)
    np.testing.assert_allclose(result.q_mean, mean, atol=1e-4)  # q is the true posterior here
    assert result.gap == pytest.approx(0.0, abs=2e-3)
    assert result.kl_grid == pytest.approx(0.0, abs=2e-3)
    assert np.sum(result.density) * result.cell_area == pytest.approx(1.0)


def test_gap_is_the_kl_from_q_to_the_true_posterior():
    x = linear_image()
    mean, cov, log_px = true_posterior(x)
    shift, scale = np.array([0.3, -0.2]), 2.5
    result = posterior.posterior_grid(linear_vae(shift, scale), x)
    expected = gaussian_kl(mean + shift, scale * np.diag(np.diag(cov)), mean, cov)
    assert expected > 0.5
    assert result.gap == pytest.approx(expected, abs=3e-3)
    assert result.kl_grid == pytest.approx(expected, abs=3e-3)
    assert result.elbo == pytest.approx(log_px - expected, abs=3e-3)


def test_iwae_with_the_true_posterior_is_log_px_for_every_k():
    x = linear_image()
    _, _, log_px = true_posterior(x)
    curve = posterior.iwae_curve(linear_vae(), x, ks=(1, 5, 100), pool=1000)
    np.testing.assert_allclose(curve.mean, log_px, atol=2e-3)  # every weight is p(x): no variance
    np.testing.assert_allclose(curve.standard_error, 0.0, atol=1e-3)


def test_iwae_rises_towards_log_px_with_a_poor_q():
    x = linear_image()
    model = linear_vae((0.3, -0.2), 2.5)
    curve = posterior.iwae_curve(model, x, ks=(1, 10, 1000), pool=4000)
    grid = posterior.posterior_grid(model, x)
    assert curve.mean[0] == pytest.approx(grid.elbo, abs=4 * curve.standard_error[0])  # IWAE-1 is the ELBO
    assert curve.mean[0] < curve.mean[1] < curve.mean[2] <= grid.log_px + 0.01
    assert grid.log_px - curve.mean[2] < 0.05


def test_grid_box_covers_the_prior_and_q():
    low, high = posterior.grid_box(np.array([3.5, 0.0]), np.array([0.25, 0.01]))
    assert (low, high) == (-4.0, pytest.approx(6.0))


def test_aggregate_posterior_is_normalised_and_finds_holes():
    rng = np.random.default_rng(0)
    # codes from the prior itself (means ~ N(0, 1 - v), variance v): the aggregate is N(0, I), no holes
    v = 0.2
    means = rng.standard_normal((4000, 2)) * np.sqrt(1 - v)
    log_vars = np.full_like(means, np.log(v))
    full = posterior.aggregate_posterior(means, log_vars)
    assert full.mass == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(full.density, full.prior, atol=0.01)
    assert full.holes < 0.01
    # one code far from the origin: the holes are the prior's mass where its Gaussian is < 0.1 prior
    one = posterior.aggregate_posterior(np.array([[2.0, 0.0]]), np.log([[0.25, 0.25]]))
    z = rng.standard_normal((200_000, 2))
    q = np.exp(-0.5 * np.sum((z - [2.0, 0.0]) ** 2, 1) / 0.25) / (2 * np.pi * 0.25)
    p = np.exp(-0.5 * np.sum(z**2, 1)) / (2 * np.pi)
    assert one.holes == pytest.approx(np.mean(q < 0.1 * p), abs=0.01)
    assert one.holes > 0.7


def test_aggregate_of_one_code_is_its_gaussian():
    z = np.linspace(-4, 4, 81)
    agg = posterior.aggregate_posterior(np.array([[1.0, -0.5]]), np.log([[0.3, 0.6]]), z, z)
    expected = np.exp(posterior.log_normal_2d(z, z, np.array([1.0, -0.5]), np.diag([0.3, 0.6])))
    np.testing.assert_allclose(agg.density, expected, rtol=1e-10)


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="2-d latent"):
        posterior.posterior_grid(_vae_with_latent(3), np.zeros(SHAPE, "float32"))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        posterior.aggregate_posterior(np.zeros((5, 3)), np.zeros((5, 3)))


def _vae_with_latent(dim: int) -> VAE:
    from kgen.models.nets import build_mlp_decoder, build_mlp_encoder

    return VAE(build_mlp_encoder(SHAPE, dim, (8,)), build_mlp_decoder(SHAPE, dim, (8,), 1))


def test_a_conditional_vae_is_scored_with_the_chosen_class():
    from kgen.config import RunConfig, TrainConfig, VAEConfig
    from kgen.models import build_model

    model = build_model(RunConfig(TrainConfig(model="cvae"), VAEConfig(latent_dim=2, hidden=(8,))), SHAPE, 3)
    x = np.random.default_rng(0).random(SHAPE).astype("float32")
    grids = [posterior.posterior_grid(model, x, label, n=21) for label in (0, 2)]
    assert grids[0].log_px != pytest.approx(grids[1].log_px, abs=1e-4)
    z = np.array([[grids[1].z0[3], grids[1].z1[5]]], "float32")
    direct = np.asarray(model.log_likelihood(x[None], model.decoder_params(z, np.array([2]))))[0]
    log_prior = -np.log(2 * np.pi) - 0.5 * float(np.sum(z.astype("float64") ** 2))
    assert grids[1].log_joint[3, 5] == pytest.approx(direct + log_prior, abs=1e-4)

