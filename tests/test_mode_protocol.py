"""The mode-collapse protocol of VEEGAN and PacGAN: toy modes by the papers' counting, the reverse
KL, and stacked MNIST (built from IDX files written here, judged by a stub digit reader)."""

import gzip
import struct

import numpy as np
import pytest

from kgen.data import STACKED_MNIST, TOY_MODES, list_datasets, load_dataset, toy_points
from kgen.data import stacked as stacked_data
from kgen.data.stacked import STACKED_CLASSES, stack_digits, stacked_splits, triple_labels
from kgen.errors import ConfigError, DatasetError
from kgen.eval.metrics import (
    MIN_SAMPLES_PER_MODE,
    TOY_SAMPLES,
    TOY_STD,
    kl_to_uniform,
    mode_coverage,
    stacked_coverage,
)
from kgen.eval.quality import stacked_mnist_quality, toy_quality
from kgen.runs import read_events

# ----------------------------------------------------------------- reverse KL


def test_kl_to_uniform_is_log_m_minus_the_entropy():
    counts = np.array([5, 0, 3, 2])
    p = counts / counts.sum()
    entropy = -sum(q * np.log(q) for q in p if q > 0)
    assert kl_to_uniform(counts) == pytest.approx(np.log(4) - entropy)
    assert kl_to_uniform(np.full(25, 7)) == pytest.approx(0.0, abs=1e-12)
    assert kl_to_uniform(np.eye(25)[3] * 100) == pytest.approx(np.log(25))


def test_kl_to_uniform_of_nothing_is_nan_and_bad_counts_are_refused():
    assert np.isnan(kl_to_uniform(np.zeros(8)))
    for bad in (np.array([]), np.array([1, -1])):
        with pytest.raises(ConfigError, match="kl_to_uniform"):
            kl_to_uniform(bad)


# ----------------------------------------------------------------- toys


def points_on_modes(modes: np.ndarray, per_mode: list[int], std: float, seed: int = 0) -> np.ndarray:
    """per_mode[i] Gaussian points (std) around modes[i]."""
    rng = np.random.default_rng(seed)
    return np.concatenate([m + rng.normal(0, std, (n, 2)) for m, n in zip(modes, per_mode, strict=True)])


def test_a_mode_needs_min_samples_high_quality_samples():
    modes, std = TOY_MODES["ring8"], TOY_STD["ring8"]
    per_mode = [MIN_SAMPLES_PER_MODE, MIN_SAMPLES_PER_MODE - 1, 0, 0, 0, 0, 0, 2000]
    points = points_on_modes(modes, per_mode, std / 10)
    coverage = mode_coverage(points, modes, std, min_samples=MIN_SAMPLES_PER_MODE)
    assert coverage.covered == 2
    assert coverage.counts.tolist() == per_mode
    # The old rule (1% of all samples) would not count mode 0's 20 of 2,039 samples.
    assert mode_coverage(points, modes, std).covered == 1


def test_far_samples_are_low_quality_and_left_out_of_the_kl():
    modes, std = TOY_MODES["grid25"], TOY_STD["grid25"]
    good = points_on_modes(modes, [100] * 25, std / 10)
    far = np.full((900, 2), 1.0)  # between four modes, 10 std from each
    coverage = mode_coverage(np.r_[good, far], modes, std, min_samples=20)
    assert coverage.covered == 25 and coverage.high_quality == pytest.approx(2500 / 3400)
    assert coverage.reverse_kl == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("toy", ["ring8", "grid25"])
def test_real_toy_samples_pass_the_protocol(toy):
    quality = toy_quality(toy_points(toy, TOY_SAMPLES, seed=3), toy)
    assert quality["modes_covered"] == quality["modes_total"] == len(TOY_MODES[toy])
    assert quality["high_quality"] > 0.98
    # Multinomial sampling noise alone: E KL ~ (M - 1) / (2N), far below the papers' 0.04-0.70.
    assert quality["mode_kl"] < 5 * (len(TOY_MODES[toy]) - 1) / (2 * TOY_SAMPLES)


def test_a_generator_on_three_modes_covers_three_with_kl_log_m_over_three():
    modes, std = TOY_MODES["grid25"], TOY_STD["grid25"]
    points = points_on_modes(modes, [800, 800, 800] + [0] * 22, std)
    quality = toy_quality(np.r_[points, modes[3:4]], "grid25")  # and one stray on a fourth mode
    assert quality["modes_covered"] == 3 and quality["modes_touched"] == 4
    assert quality["mode_kl"] == pytest.approx(np.log(25 / 3), abs=0.01)


def test_mode_coverage_refuses_bad_min_samples():
    with pytest.raises(ConfigError, match="min_samples"):
        mode_coverage(TOY_MODES["ring8"], TOY_MODES["ring8"], 0.02, min_samples=0)


# ----------------------------------------------------------------- stacked MNIST data


def digit_images(labels: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 images whose every pixel says the digit: 20 * label + 10."""
    return np.broadcast_to((20 * labels + 10).astype(np.uint8)[:, None, None], (len(labels), 28, 28)).copy()


class PixelReader:
    """A stand-in for the MNIST classifier: reads the digit written by `digit_images`."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        assert x.shape[1:] == (28, 28, 1)
        return np.clip(np.round((x[:, 0, 0, 0] * 255 - 10) / 20), 0, 9).astype(np.int64)


def test_triple_labels_read_the_channels_as_hundreds_tens_and_ones():
    assert triple_labels(np.array([[1, 2, 3], [9, 0, 0], [0, 0, 7]])).tolist() == [123, 900, 7]
    with pytest.raises(ConfigError, match="digit triples"):
        triple_labels(np.array([[1, 2, 10]]))


def test_stack_digits_puts_three_digits_in_the_channels_with_their_label():
    y = np.arange(50) % 10
    x, labels = stack_digits(digit_images(y), y, 400, np.random.default_rng(0))
    assert x.shape == (400, 28, 28, 3)
    read = np.stack([(x[:, 0, 0, c].astype(int) - 10) // 20 for c in range(3)], axis=1)
    assert np.array_equal(triple_labels(read), labels)
    assert len(np.unique(labels)) > 300  # random triples, not one per source image


def test_stacked_splits_are_seeded():
    y = np.arange(40) % 10
    parts = [stacked_splits(digit_images(y), y, digit_images(y), y, seed, {"train": 30, "test": 10})
             for seed in (0, 0, 1)]
    assert all(np.array_equal(a, b) for a, b in zip(parts[0], parts[1], strict=True))
    assert not np.array_equal(parts[0][1], parts[2][1])


def write_mnist(folder, n_train: int = 40, n_test: int = 20) -> None:
    """MNIST IDX files (gzip) of `digit_images`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    arrays = {"x_train": digit_images(y_train), "y_train": y_train, "x_test": digit_images(y_test), "y_test": y_test}
    from kgen.data import IDX_FILES

    for key, stem in IDX_FILES.items():
        a = arrays[key].astype(np.uint8)
        blob = bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
        (folder / f"{stem}.gz").write_bytes(gzip.compress(blob))


def test_load_stacked_mnist_from_idx_files(tmp_path, monkeypatch):
    monkeypatch.setitem(stacked_data.STACKED_SIZES, "train", 300)
    monkeypatch.setitem(stacked_data.STACKED_SIZES, "test", 100)
    write_mnist(tmp_path / "m")
    ds = load_dataset(STACKED_MNIST, data_dir=tmp_path / "m", seed=2)
    assert ds.image_shape == (28, 28, 3) and ds.x_train.shape[0] == 300 and ds.x_test.shape[0] == 100
    assert ds.num_classes == 1000 and ds.class_names == STACKED_CLASSES
    assert ds.x_train.min() >= 0 and ds.x_train.max() <= 1
    read = np.stack([PixelReader().predict(ds.x_test[..., c : c + 1]) for c in range(3)], axis=1)
    assert np.array_equal(triple_labels(read), ds.y_test)
    same = load_dataset(f"{STACKED_MNIST}:{tmp_path / 'm'}", seed=2)
    assert np.array_equal(same.x_train, ds.x_train)


def test_stacked_mnist_without_mnist_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    with pytest.raises(DatasetError, match="stacked-mnist is built from MNIST: .*KGEN_OFFLINE=1.*data_dir") as info:
        load_dataset(STACKED_MNIST)
    assert "\n" not in str(info.value)
    listed = {i.name: i for i in list_datasets()}[STACKED_MNIST]
    assert not listed.available and "mnist" in listed.detail and "KGEN_OFFLINE" in listed.detail
    write_mnist(tmp_path / "m")
    assert {i.name: i for i in list_datasets(tmp_path / "m")}[STACKED_MNIST].available


# ----------------------------------------------------------------- stacked MNIST judge


def test_real_stacked_images_cover_all_triples_near_the_sampling_floor():
    y = np.arange(1000) % 10
    images, _ = stack_digits(digit_images(y), y, 26_000, np.random.default_rng(0))
    scores = stacked_mnist_quality(PixelReader(), images.astype(np.float32) / 255)
    assert scores["modes_total"] == 1000 and scores["modes_covered"] >= 999
    # E KL of 26,000 uniform draws over 1,000 bins ~ 999 / 52,000 = 0.019.
    assert 0.01 < scores["mode_kl"] < 0.03


def test_a_generator_fixed_to_four_triples_covers_four():
    triples = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 0, 0]])
    digits = np.repeat(triples, [500, 500, 500, 500], axis=0)
    images = np.stack([digit_images(digits[:, c]) for c in range(3)], axis=-1).astype(np.float32) / 255
    scores = stacked_mnist_quality(PixelReader(), images)
    assert scores["modes_covered"] == 4
    assert scores["mode_kl"] == pytest.approx(np.log(1000 / 4))
    assert stacked_coverage(digits).counts[[123, 456, 789, 0]].tolist() == [500] * 4


def test_stacked_quality_refuses_grey_images():
    with pytest.raises(ConfigError, match="stacked MNIST images"):
        stacked_mnist_quality(PixelReader(), np.zeros((4, 28, 28, 1)))


# ----------------------------------------------------------------- kgen eval


def test_kgen_eval_scores_a_toy_gan_with_the_papers_protocol(tmp_path, capsys):
    from kgen.cli import main

    run = tmp_path / "ring"
    assert main(["train", "gan", "--dataset", "ring8", "--epochs", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    table = capsys.readouterr().out
    for name in ("modes_covered", "high_quality", "mode_kl"):
        assert name in table
    at_end, evaluated = [e for e in read_events(run / "events.jsonl") if e.kind == "eval"]
    assert evaluated.n == TOY_SAMPLES  # the samples scored, not the 2,000 test points
    for name in ("modes_covered", "high_quality", "mode_kl"):  # the same protocol and samples (seed 0)
        assert at_end.metrics[name] == pytest.approx(evaluated.metrics[name])


def test_kgen_eval_scores_a_stacked_mnist_gan_by_its_triples(tmp_path, monkeypatch):
    from kgen.cli import main
    from kgen.services import commands
    from kgen.services.commands import evaluate_run

    monkeypatch.setitem(stacked_data.STACKED_SIZES, "train", 256)
    monkeypatch.setitem(stacked_data.STACKED_SIZES, "test", 64)
    monkeypatch.setattr(commands, "STACKED_SAMPLES", 2600)  # 26,000 in earnest
    write_mnist(tmp_path / "m", n_train=40, n_test=20)
    run = tmp_path / "stacked"
    assert main(["train", "gan", "--dataset", STACKED_MNIST, "--data-dir", str(tmp_path / "m"), "--epochs", "1",
                 "--hidden", "32", "--out", str(run)]) == 0
    scores = evaluate_run(run)
    assert read_events(run / "events.jsonl")[-1].n == 2600  # the samples scored, not the 64 test stacks
    assert scores["modes_total"] == 1000 and 1 <= scores["modes_covered"] <= 1000
    assert 0 <= scores["mode_kl"] <= np.log(1000) + 1e-9
    assert "fid" not in scores  # the 1,000-class stacks have no judge of their own
