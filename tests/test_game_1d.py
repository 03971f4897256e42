"""The 1-D game (slide 30; Goodfellow et al. 2014, figure 1): 1-D toys and their densities, the
snapshot's numbers against their formulas, the probe while training, and a converged run's D(x)."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from kgen import events as ev
from kgen.config import GANConfig, RunConfig, TrainConfig
from kgen.data import TOYS_1D, load_dataset, toy_density, toy_points
from kgen.errors import DatasetError
from kgen.models import build_model
from kgen.pictures import dataset_preview, scatter_picture
from kgen.services.game_1d import (
    LINE_SAMPLES,
    Game1DProbe,
    fixed_noise,
    game_snapshot,
    generator_bandwidth,
    kernel_density,
    optimal_discriminator,
    silverman_bandwidth,
    x_grid,
)
from kgen.services.playground import PlaygroundProbe
from kgen.services.probes import GAME_1D_SECONDS, live_probes

DENSITY_TOLERANCE = 1e-3  # trapezoid rule over the 200-point grid: the densities' integral is 1 within this
CONVERGED_TV = 0.3  # a run counts as converged when p_g is this close to p_data in total variation
HALF_TOLERANCE = 0.1  # ... and then D(x) is within this of 1/2 where the densities agree: both exceed ...
DENSITY_FLOOR = 0.1  # ... this and ...
AGREE_RATIO = 1.25  # ... neither is more than this times the other (there D* is within 0.06 of 1/2)


def gan_1d(hidden=(16,), lr=2e-4, seed=0):
    keras.utils.set_random_seed(seed)
    return build_model(RunConfig(TrainConfig(model="gan", dataset="gauss1d", lr=lr), GANConfig(hidden=hidden)), (1,))


def normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


# --- the 1-D toys ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", TOYS_1D)
def test_a_1d_toy_is_seeded_points_of_one_coordinate(name):
    points = toy_points(name, 500, seed=5)
    assert points.shape == (500, 1) and points.dtype == np.float32
    np.testing.assert_array_equal(points, toy_points(name, 500, seed=5))
    assert not np.array_equal(points, toy_points(name, 500, seed=6))
    data = load_dataset(name, seed=2)
    assert data.kind == "points" and data.x_train.shape == (10_000, 1) and data.x_test.shape == (2_000, 1)
    with pytest.raises(DatasetError, match="1-D points, not images"):
        _ = data.image_shape


@pytest.mark.parametrize("name", TOYS_1D)
def test_a_1d_toys_density_integrates_to_one_over_the_grid_and_matches_its_points(name):
    points = toy_points(name, 20_000, seed=0)
    x = x_grid(points)
    assert abs(np.trapezoid(toy_density(name, x), x) - 1) < DENSITY_TOLERANCE
    # The share of points in each of a few bins is the density's integral over the bin (20,000
    # draws: a share's standard error is at most 0.0035).
    edges = np.linspace(x[0], x[-1], 9)
    shares = np.histogram(points[:, 0], edges)[0] / len(points)
    fine = np.linspace(x[0], x[-1], 8001)
    integrals = [np.trapezoid(toy_density(name, fine[(fine >= a) & (fine <= b)]), fine[(fine >= a) & (fine <= b)])
                 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    np.testing.assert_allclose(shares, integrals, atol=0.015)


def test_the_densities_are_the_mixtures_formulas():
    x = np.array([-2.0, 0.0, 1.0, 2.5])
    np.testing.assert_allclose(toy_density("gauss1d", x), normal_pdf(x, 1.0, 0.5))
    np.testing.assert_allclose(toy_density("mix1d", x), 0.5 * normal_pdf(x, -2, 0.5) + 0.5 * normal_pdf(x, 2, 0.5))
    with pytest.raises(DatasetError, match="no 1-D density"):
        toy_density("ring8", x)


def test_1d_points_draw_as_a_histogram_picture():
    real, fake = toy_points("mix1d", 2000), np.full((500, 1), 2.0, np.float32)
    picture = scatter_picture(real, fake)
    assert picture.shape == (384, 384, 3) and picture.dtype == np.uint8
    grey = np.all(picture == 170, axis=-1)
    reddish = picture[..., 0].astype(int) > picture[..., 1].astype(int) + 40
    assert grey.sum() > 10_000 and reddish.any()
    columns = np.flatnonzero(reddish.any(axis=0))
    assert 0.6 * 384 < columns.min() <= columns.max() < 0.9 * 384  # all fakes at x = 2: the right-hand mode
    assert reddish[:, columns[0]].all()  # their bar, far above the real data's, is cut at the top
    assert dataset_preview(load_dataset("gauss1d")).shape == (160, 160, 3)


# --- the numbers, against their formulas ----------------------------------------------------

def test_the_kernel_density_is_its_formula_and_integrates_to_one():
    samples, h = np.array([0.0, 1.0]), 0.5
    x = np.array([-1.0, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(kernel_density(samples, x, h), 0.5 * normal_pdf(x, 0, h) + 0.5 * normal_pdf(x, 1, h))
    wide = np.linspace(-6, 7, 2001)
    assert abs(np.trapezoid(kernel_density(samples, wide, h), wide) - 1) < 1e-6
    with pytest.raises(ValueError, match="bandwidth"):
        kernel_density(samples, x, 0.0)


def test_silvermans_rule_and_its_floor():
    samples = np.random.default_rng(0).normal(3.0, 2.0, 1000)
    q75, q25 = np.percentile(samples, [75, 25])
    expected = 0.9 * min(samples.std(), (q75 - q25) / 1.34) * 1000 ** -0.2
    assert silverman_bandwidth(samples) == pytest.approx(expected)
    assert silverman_bandwidth(np.full(100, 2.0), floor=0.05) == 0.05  # a collapsed generator stays visible
    x = np.linspace(-5.0, 5.0, 201)  # steps of 0.05: between 0.1 and 2% of 10
    assert generator_bandwidth(np.full(100, 2.0), x) == pytest.approx(0.1)
    assert generator_bandwidth(toy_points("mix1d", 2000)[:, 0], x) == pytest.approx(0.2)  # Silverman: 0.4
    one_mode = np.random.default_rng(0).normal(0, 0.6, 2000)  # Silverman: 0.12
    assert generator_bandwidth(one_mode, x) == pytest.approx(silverman_bandwidth(one_mode))


def test_fixed_noise_is_the_normal_quantiles_for_a_1d_z():
    z = fixed_noise(4, 1)
    assert z.shape == (4, 1) and z.dtype == np.float32
    np.testing.assert_allclose(z[:, 0], [-1.1503494, -0.3186394, 0.3186394, 1.1503494], rtol=1e-6)  # 1/8, 3/8, ...
    assert fixed_noise(3, 2, seed=1).shape == (3, 2)  # a wider z: seeded draws
    np.testing.assert_array_equal(fixed_noise(3, 2, seed=1), fixed_noise(3, 2, seed=1))


def test_the_optimal_discriminator_is_p_data_over_the_sum():
    np.testing.assert_allclose(optimal_discriminator(np.array([1.0, 0.0, 0.3, 0.0]), np.array([1.0, 2.0, 0.1, 0.0])),
                               [0.5, 0.0, 0.75, 0.5])


def test_a_snapshot_is_d_and_g_of_the_gan_and_the_kde_of_its_points():
    gan = gan_1d()
    real = toy_points("gauss1d", 1000)
    x = x_grid(real, points=50)
    noise = np.concatenate([fixed_noise(300, 1), fixed_noise(10, 1, seed=1)])
    density = toy_density("gauss1d", x)
    snap = game_snapshot(gan, x, density, noise, lines=10)
    assert {k: np.shape(v) for k, v in snap.items()} == {
        "x": (50,), "data_density": (50,), "generator_density": (50,), "d_x": (50,), "optimal_d": (50,),
        "z": (10,), "g_z": (10,), "bandwidth": ()}
    logits = np.asarray(gan.discriminator(x[:, None]))[:, 0]
    np.testing.assert_allclose(snap["d_x"], 1 / (1 + np.exp(-logits)), rtol=1e-5)
    generated = np.asarray(gan.generator(noise))[:, 0]
    np.testing.assert_allclose(snap["g_z"], generated[-10:], rtol=1e-5)
    np.testing.assert_allclose(snap["z"], noise[-10:, 0])
    assert snap["bandwidth"] == pytest.approx(generator_bandwidth(generated[:-10], x), rel=1e-5)
    np.testing.assert_allclose(snap["generator_density"], kernel_density(generated[:-10], x, snap["bandwidth"]),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(snap["optimal_d"], optimal_discriminator(density, snap["generator_density"]), rtol=1e-5)
    two_d = build_model(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(hidden=(8,))), (2,))
    with pytest.raises(ValueError, match="1-D points"):
        game_snapshot(two_d, x, density, noise)


# --- the probe while training ---------------------------------------------------------------

def test_the_probe_sends_game_records_the_first_before_training_the_last_at_its_end():
    gan = gan_1d()
    real = toy_points("gauss1d", 320)
    records = []
    probe = Game1DProbe(records.append, "gauss1d", real, every=2, samples=200, lines=12, grid=40, max_share=None)
    gan.fit(real, batch_size=64, epochs=2, callbacks=[probe], verbose=0, shuffle=False)  # 5 steps an epoch
    assert all(isinstance(r, ev.Game1D) for r in records)
    assert [r.step for r in records] == [0, 2, 4, 6, 8, 10]
    assert [r.epoch for r in records] == [1, 1, 1, 2, 2, 2]
    first, last = records[0], records[-1]
    assert first.x is last.x and not first.x.flags.writeable  # one grid for the whole run
    assert last.d_x.shape == last.generator_density.shape == (40,) and last.z.shape == last.g_z.shape == (12,)
    assert not np.array_equal(first.g_z, last.g_z) and last.bandwidth > 0
    with pytest.raises(ValueError, match="never written"):
        ev.dump_line(last)


def test_live_probes_give_the_1d_game_to_a_gan_on_a_1d_toy_and_the_playground_to_2d_ones():
    sink = [].append
    (game,) = live_probes(RunConfig(TrainConfig(model="gan", dataset="mix1d"), GANConfig()), sink)
    assert isinstance(game, Game1DProbe) and game.min_seconds == GAME_1D_SECONDS > 0
    assert game.x[0] < -2.5 and game.x[-1] > 2.5  # both modes
    assert abs(np.trapezoid(game.data_density, game.x) - 1) < DENSITY_TOLERANCE
    (playground,) = live_probes(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig()), sink)
    assert isinstance(playground, PlaygroundProbe)


def test_a_gan_on_a_1d_toy_takes_a_1d_z_by_default():
    assert RunConfig(TrainConfig(model="gan", dataset="mix1d"), GANConfig()).model.latent_dim == 1
    assert RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig()).model.latent_dim == 2


# --- a converged run ------------------------------------------------------------------------

def d_only_steps(gan, real, steps, seed=0):
    """Train D alone against the generator as it is: D moves towards D* = p_data / (p_data + p_g)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        gan.player_step("discriminator", real[rng.integers(0, len(real), 128)])


def total_variation(snap):
    return 0.5 * np.trapezoid(np.abs(snap["data_density"] - snap["generator_density"]), snap["x"])


def test_on_a_converged_run_d_is_one_half_where_the_densities_agree():
    """A GAN on one Gaussian, trained until p_g is close to p_data (about 2 s), then D alone for 200
    steps: D(x) stays within HALF_TOLERANCE of 1/2 where the densities agree (both above
    DENSITY_FLOOR, within AGREE_RATIO of each other). Against a generator that has not learnt, the
    same D steps take D far from 1/2 where both densities are above the floor."""
    real = toy_points("gauss1d", 4096)
    x = x_grid(real)
    density = toy_density("gauss1d", x)
    noise = np.concatenate([fixed_noise(2000, 1), fixed_noise(LINE_SAMPLES, 1, seed=1)])

    untrained = gan_1d(hidden=(32, 32), lr=1e-3)
    d_only_steps(untrained, real, 200)
    snap = game_snapshot(untrained, x, density, noise)
    overlap = (snap["data_density"] > DENSITY_FLOOR) & (snap["generator_density"] > DENSITY_FLOOR)
    assert total_variation(snap) > 0.8 and np.abs(snap["d_x"][overlap] - 0.5).max() > 3 * HALF_TOLERANCE

    gan = gan_1d(hidden=(32, 32), lr=1e-3)
    for _ in range(30):
        gan.fit(real, batch_size=128, epochs=1, verbose=0)
        snap = game_snapshot(gan, x, density, noise)
        if total_variation(snap) < CONVERGED_TV:
            break
    assert total_variation(snap) < CONVERGED_TV
    d_only_steps(gan, real, 200)
    snap = game_snapshot(gan, x, density, noise)
    p_data, p_g = snap["data_density"], snap["generator_density"]
    agree = (np.minimum(p_data, p_g) > DENSITY_FLOOR) & (np.maximum(p_data, p_g) < AGREE_RATIO * np.minimum(p_data, p_g))
    assert agree.sum() > len(x) / 8
    assert np.abs(snap["d_x"][agree] - 0.5).max() < HALF_TOLERANCE
    assert float(ops.mean(snap["d_x"][agree])) == pytest.approx(0.5, abs=HALF_TOLERANCE / 2)


def test_kgen_train_runs_a_gan_on_a_1d_toy_with_a_1d_z(tmp_path, capsys):
    from PIL import Image

    from kgen.cli import main
    from kgen.runs import read_events

    out = tmp_path / "run"
    assert main(["train", "gan", "--dataset", "mix1d", "--latent-dim", "1", "--hidden", "8", "--epochs", "1",
                 "--batch-size", "500", "--out", str(out)]) == 0
    picture = np.asarray(Image.open(out / "samples" / "epoch_0001.png"))
    assert picture.shape == (384, 384, 3)  # the samples' histogram over the data's
    final = read_events(out / "events.jsonl")
    assert any(e["type"] == "epoch" and "d_real" in e["metrics"] for e in final)
    capsys.readouterr()
    assert main(["train", "vae", "--dataset", "gauss1d", "--epochs", "1", "--out", str(tmp_path / "vae")]) != 0
    assert "holds 1-D points; the vae model needs images" in capsys.readouterr().err
