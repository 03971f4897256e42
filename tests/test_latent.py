"""Latent-space tools: slerp geometry, the quantile manifold, traversals, KL and active units."""

from statistics import NormalDist

import keras
import numpy as np
import pytest

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.errors import ConfigError
from kgen.eval.latent import (
    active_units,
    decode_latency,
    decode_one,
    encode_dataset,
    gaussian_quantiles,
    interpolate,
    interpolate_images,
    kl_per_dimension,
    lerp,
    manifold_codes,
    manifold_grid,
    project_2d,
    slerp,
    traverse,
)
from kgen.eval.likelihood import elbo_parts
from kgen.models import build_model
from kgen.pictures import save_gif

LATENT = 8


def train_vae(x, beta: float, epochs: int):
    keras.utils.set_random_seed(0)
    config = RunConfig(TrainConfig(seed=0), VAEConfig(latent_dim=LATENT, hidden=(64,), beta=beta))
    model = build_model(config, (8, 8, 1))
    model.fit(x, epochs=epochs, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def vaes(digits):
    """VAEs with latent_dim 8 at a low, a middle and a high KL weight, trained on the digits.

    beta = 0.5 keeps every unit, beta = 16 collapses every unit onto the prior, and beta = 2
    trained longer keeps a few units and collapses the rest: the model most tests use.
    """
    x_train = digits[0]
    return {
        "low": train_vae(x_train, beta=0.5, epochs=12),
        "mid": train_vae(x_train, beta=2.0, epochs=40),
        "high": train_vae(x_train, beta=16.0, epochs=12),
    }


@pytest.fixture(scope="module")
def vae(vaes):
    return vaes["mid"]


def angle(a, b):
    return np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))


class TestSlerp:
    t = np.linspace(0.0, 1.0, 21)

    def test_equal_norms_stay_on_the_sphere_where_lerp_cuts_inside(self):
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal(16), rng.standard_normal(16)
        b *= np.linalg.norm(a) / np.linalg.norm(b)
        norms = np.linalg.norm(slerp(a, b, self.t), axis=1)
        assert np.allclose(norms, np.linalg.norm(a), rtol=1e-5)
        assert np.linalg.norm(lerp(a, b, 0.5)) < 0.95 * np.linalg.norm(a)

    @pytest.mark.parametrize("seed", range(5))
    def test_unequal_norms_move_monotonically_between_the_ends(self, seed):
        rng = np.random.default_rng(seed)
        a, b = rng.standard_normal(8), 3.0 * rng.standard_normal(8)
        if np.linalg.norm(a) > np.linalg.norm(b):
            a, b = b, a
        b = b - 1.5 * (b @ a) / (a @ a) * a if b @ a > 0 else b  # an obtuse angle: lerp would dip
        norms = np.linalg.norm(slerp(a, b, self.t), axis=1)
        assert np.all(np.diff(norms) > 0)
        assert norms[0] == pytest.approx(np.linalg.norm(a), rel=1e-5)
        assert norms[-1] == pytest.approx(np.linalg.norm(b), rel=1e-5)

    def test_ends_are_a_and_b_and_the_midpoint_halves_the_angle(self):
        rng = np.random.default_rng(1)
        a, b = rng.standard_normal(10), 2.0 * rng.standard_normal(10)
        path = slerp(a, b, self.t)
        assert np.allclose(path[0], a, atol=1e-5) and np.allclose(path[-1], b, atol=1e-5)
        mid = slerp(a, b, 0.5)
        assert mid.shape == (10,)
        assert angle(a, mid) == pytest.approx(angle(a, b) / 2, rel=1e-4)
        assert angle(mid, b) == pytest.approx(angle(a, b) / 2, rel=1e-4)

    def test_parallel_or_zero_ends_fall_back_to_lerp(self):
        a = np.array([1.0, 2.0, 3.0])
        for b in (2.0 * a, np.zeros(3)):
            assert np.allclose(slerp(a, b, self.t), lerp(a, b, self.t))
            assert np.all(np.isfinite(slerp(b, a, self.t)))

    def test_lerp_shapes_and_mismatched_vectors(self):
        assert lerp(np.zeros(4), np.ones(4), 0.25).tolist() == [0.25] * 4
        assert lerp(np.zeros(4), np.ones(4), self.t).shape == (21, 4)
        with pytest.raises(ConfigError):
            slerp(np.zeros(3), np.zeros(4), 0.5)


class TestManifold:
    def test_quantiles_are_inverse_normal_cdf_of_even_probabilities(self):
        expected = [NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, 7)]
        assert np.allclose(gaussian_quantiles(7), expected, atol=1e-6)
        assert gaussian_quantiles(7)[3] == pytest.approx(0.0, abs=1e-6)

    def test_codes_put_quantiles_on_both_axes_and_base_elsewhere(self):
        n, dims = 6, (5, 2)
        base = np.random.default_rng(0).standard_normal(LATENT).astype("float32")
        q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)])
        codes = manifold_codes(LATENT, n, dims, base).reshape(n, n, LATENT)
        assert np.allclose(codes[:, :, 5], q[None, :], atol=1e-6)  # first dim along columns
        assert np.allclose(codes[:, :, 2], q[::-1, None], atol=1e-6)  # second up the rows
        others = [d for d in range(LATENT) if d not in dims]
        assert np.array_equal(codes[:, :, others], np.broadcast_to(base[others], (n, n, 6)))

    def test_grid_decodes_those_codes(self, vae):
        images = manifold_grid(vae, n=5, dims=(0, 2))
        assert images.shape == (25, 8, 8, 1) and images.dtype == np.float32
        assert images.min() >= 0.0 and images.max() <= 1.0
        expected = np.asarray(vae.decode(manifold_codes(LATENT, 5, (0, 2))))
        assert np.allclose(images, expected, atol=1e-6)

    def test_one_latent_dimension_or_bad_dims_are_refused(self):
        with pytest.raises(ConfigError, match=">= 2 latent dimensions"):
            manifold_codes(1, 5)
        for dims in ((0, 0), (0, 8), (-1, 1), (0, 1, 2)):
            with pytest.raises(ConfigError):
                manifold_codes(LATENT, 5, dims)


class TestUnits:
    def test_active_units_fall_as_beta_rises(self, vaes, digits):
        counts = {k: active_units(m, digits[1]).count for k, m in vaes.items()}
        assert all(0 <= c <= LATENT for c in counts.values())
        assert counts["low"] >= counts["mid"] >= counts["high"]
        assert counts["low"] > counts["high"]

    def test_activity_is_the_variance_of_the_posterior_mean(self, vae, digits):
        units = active_units(vae, digits[1], threshold=0.05)
        means = np.asarray(vae.encode(digits[1])[0])
        assert np.allclose(units.variances, means.var(axis=0), rtol=1e-4)
        assert np.array_equal(units.active, units.variances > 0.05)
        assert units.count == units.active.sum()

    def test_kl_per_dimension_sums_to_the_mean_kl(self, vae, digits):
        kl = kl_per_dimension(vae, digits[1])
        assert kl.shape == (LATENT,) and np.all(kl >= 0)
        assert kl.sum() == pytest.approx(elbo_parts(vae, digits[1])["kl"], rel=1e-4)

    def test_encode_dataset_batches_agree_with_one_call(self, vae, digits):
        codes = encode_dataset(vae, digits[1], batch_size=64)
        mean, log_var = vae.encode(digits[1])
        assert codes.mean.shape == (len(digits[1]), LATENT)
        assert np.allclose(codes.mean, mean, atol=1e-5) and np.allclose(codes.log_var, log_var, atol=1e-5)


class TestTraversalAndInterpolation:
    def test_traverse_moves_active_units_only(self, vae, digits):
        active = active_units(vae, digits[1]).active
        assert active.any() and not active.all()  # beta = 2 keeps some units and drops others
        images = traverse(vae, values=[-2.5, 2.5])
        assert images.shape == (2 * LATENT, 8, 8, 1)
        change = np.abs(images[1::2] - images[0::2]).mean(axis=(1, 2, 3))  # one value per unit
        assert change[active].min() > 0.1  # a visible change of the digit
        assert change[~active].max() < 0.06  # the decoder (nearly) ignores collapsed units
        assert change[active].min() > 3 * change[~active].max()

    def test_traverse_defaults_to_every_dimension(self, vae):
        assert traverse(vae).shape == (LATENT * 9, 8, 8, 1)
        with pytest.raises(ConfigError):
            traverse(vae, dims=[LATENT])

    @pytest.mark.parametrize("method", ["linear", "slerp"])
    def test_interpolation_runs_between_the_two_decodings(self, vae, method):
        rng = np.random.default_rng(0)
        z_a, z_b = rng.standard_normal((2, LATENT)).astype("float32")
        images = interpolate(vae, z_a, z_b, steps=7, method=method)
        assert images.shape == (7, 8, 8, 1)
        ends = np.asarray(vae.decode(np.stack([z_a, z_b])))
        assert np.allclose(images[[0, -1]], ends, atol=1e-5)

    def test_image_interpolation_starts_from_the_posterior_means(self, vae, digits):
        x_a, x_b = digits[1][0], digits[1][1]
        images = interpolate_images(vae, x_a, x_b, steps=5, method="slerp")
        means = np.asarray(vae.encode(digits[1][:2])[0])
        assert images.shape == (5, 8, 8, 1)
        assert np.allclose(images[[0, -1]], np.asarray(vae.decode(means)), atol=1e-5)

    def test_unknown_method_is_refused(self, vae):
        with pytest.raises(ConfigError, match="linear, slerp"):
            interpolate(vae, np.zeros(LATENT), np.ones(LATENT), method="cubic")


class TestProjection:
    def test_pca_gives_two_leading_components(self):
        rng = np.random.default_rng(0)
        z = rng.standard_normal((200, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
        xy = project_2d(z)
        assert xy.shape == (200, 2) and xy.dtype == np.float32
        from sklearn.decomposition import PCA

        expected = PCA(n_components=2).fit_transform(z)
        assert np.allclose(np.abs(xy), np.abs(expected), atol=1e-3)

    def test_two_dims_are_kept_and_one_is_padded(self):
        z = np.random.default_rng(0).standard_normal((10, 2)).astype("float32")
        assert np.array_equal(project_2d(z), z)
        assert np.array_equal(project_2d(z[:, :1]), np.c_[z[:, :1], np.zeros(10, np.float32)])

    def test_unknown_method_is_refused(self):
        with pytest.raises(ConfigError, match="pca, tsne"):
            project_2d(np.zeros((5, 3)), method="umap")


class _Deterministic:
    """A stand-in autoencoder whose encoder has no variance (z_log_var is None)."""

    latent_dim, image_shape, num_classes = 2, (8, 8, 1), 0

    def encode(self, x, labels=None):
        flat = np.asarray(x).reshape(len(x), -1)
        return np.stack([flat.mean(axis=1), flat[:, 0]], axis=1), None


def test_deterministic_encoders_have_codes_but_no_kl(digits):
    model = _Deterministic()
    codes = encode_dataset(model, digits[1])
    assert codes.log_var is None and codes.mean.shape == (len(digits[1]), 2)
    assert active_units(model, digits[1]).variances.shape == (2,)
    with pytest.raises(ConfigError, match="no KL"):
        kl_per_dimension(model, digits[1])


def test_conditional_models_get_their_labels():
    config = RunConfig(TrainConfig(model="cvae"), VAEConfig(latent_dim=3, hidden=(16,)))
    model = build_model(config, (8, 8, 1), num_classes=3)
    z = np.random.default_rng(0).standard_normal(3).astype("float32")
    for label in (0, 2):
        expected = np.asarray(model.decode(z[None], labels=np.array([label])))[0]
        assert np.allclose(decode_one(model, label=label)(z), expected, atol=1e-6)
        assert np.allclose(traverse(model, z, dims=[0], values=[z[0]], labels=label)[0], expected, atol=1e-6)
    with pytest.raises(ConfigError, match="conditional"):
        manifold_grid(model, n=2)


def test_save_gif_writes_every_frame(tmp_path):
    from PIL import Image

    frames = np.linspace(0.0, 1.0, 6)[:, None, None, None] * np.ones((6, 8, 8, 1))
    path = tmp_path / "walk.gif"
    save_gif(frames, path, duration_ms=80, scale=3)
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.size == (24, 24)
        assert gif.info["loop"] == 0 and gif.info["duration"] == 80
    assert [p.name for p in tmp_path.iterdir()] == ["walk.gif"]  # no temporary left behind


def test_decode_one_matches_decode_and_is_fast(vae):
    z = np.random.default_rng(0).standard_normal(LATENT).astype("float32")
    image = decode_one(vae)(z)
    assert image.shape == (8, 8, 1)
    assert np.allclose(image, np.asarray(vae.decode(z[None]))[0], atol=1e-6)
    timing = decode_latency(vae, repeats=50, warmup=5)
    assert 0 < timing["median_ms"] <= timing["p95_ms"]
    assert timing["median_ms"] < 50  # a slider redraw, even on a slow shared CPU
