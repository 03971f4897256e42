"""The digits judge: training, caching, and the quality numbers it gives real and broken generators."""

import json

import numpy as np
import pytest

import kgen.eval.classifier as classifier_module
from kgen.data import Dataset, load_dataset
from kgen.errors import ConfigError
from kgen.eval.classifier import cache_key, classifier_for, default_cache_dir
from kgen.eval.quality import conditional_accuracy, image_quality


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("classifiers")


@pytest.fixture(scope="module")
def judge(data, cache):
    """The digits classifier with default training, cached in a temporary directory."""
    return classifier_for(data, cache_dir=cache)


@pytest.fixture
def count_training(monkeypatch):
    """Counts calls of the training function while letting them run."""
    calls = []
    original = classifier_module._train

    def spy(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(classifier_module, "_train", spy)
    return calls


class TestClassifier:
    def test_reaches_the_target_accuracy(self, judge):
        assert judge.accuracy >= 0.97
        assert judge.num_classes == 10 and judge.image_shape == (8, 8, 1)

    def test_outputs(self, judge, data):
        x = data.x_test[:37]
        features, probs = judge.features_and_probabilities(x)
        assert features.shape == (37, 128) and probs.shape == (37, 10)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
        np.testing.assert_array_equal(judge.predict(x), probs.argmax(axis=1))
        np.testing.assert_allclose(judge.features(x), features)

    def test_rejects_images_of_another_shape(self, judge):
        with pytest.raises(ConfigError, match="8, 8, 1"):
            judge.features(np.zeros((2, 28, 28, 1)))

    def test_the_cache_is_used_the_second_time(self, judge, data, cache, monkeypatch):
        record = json.loads((cache / f"{cache_key(data)}.json").read_text())
        assert record["test_accuracy"] == judge.accuracy and record["num_train"] == len(data.x_train)

        def no_training(*args, **kwargs):
            raise AssertionError("retrained although cached")

        monkeypatch.setattr(classifier_module, "_train", no_training)
        again = classifier_for(data, cache_dir=cache)
        assert again.accuracy == judge.accuracy
        np.testing.assert_allclose(again.features(data.x_test), judge.features(data.x_test), atol=1e-5)

    def test_a_corrupt_or_stale_entry_is_retrained(self, data, tmp_path, count_training):
        classifier_for(data, cache_dir=tmp_path, epochs=1)
        model_file = tmp_path / f"{cache_key(data)}.keras"
        model_file.write_bytes(b"not a keras file")
        classifier_for(data, cache_dir=tmp_path, epochs=1)
        assert len(count_training) == 2
        classifier_for(data, cache_dir=tmp_path, epochs=1)
        assert len(count_training) == 2  # the retrained entry is good
        assert classifier_for(data, cache_dir=tmp_path, epochs=2).record["epochs"] == 2
        assert len(count_training) == 3  # other epochs asked for
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([model_file.name, f"{model_file.stem}.json"])

    def test_needs_labels(self, data, tmp_path):
        unlabelled = Dataset("blobs", data.x_train, None, data.x_test, None)
        with pytest.raises(ConfigError, match="blobs"):
            classifier_for(unlabelled, cache_dir=tmp_path)
        one_class = Dataset("mono", data.x_train, np.zeros(len(data.x_train)), data.x_test,
                            np.zeros(len(data.x_test)), ("only",))
        with pytest.raises(ConfigError, match="mono"):
            classifier_for(one_class, cache_dir=tmp_path)


class TestCacheKey:
    def test_is_a_safe_file_name_that_follows_the_data(self, data):
        odd = Dataset("folder:/my data/../x", data.x_train, data.y_train, data.x_test, data.y_test,
                      data.class_names)
        key = cache_key(odd)
        assert key.startswith("folder_my_data_.._x-8x8x1-") and "/" not in key and " " not in key
        relabelled = Dataset(odd.name, data.x_train, (data.y_train + 1) % 10, data.x_test,
                             data.y_test, data.class_names)
        assert cache_key(relabelled) != key
        assert cache_key(load_dataset("digits", seed=1)) != cache_key(data)

    def test_default_directory(self, monkeypatch, tmp_path):
        monkeypatch.setenv("KGEN_CACHE_DIR", str(tmp_path / "k"))
        assert default_cache_dir() == tmp_path / "k" / "classifiers"
        monkeypatch.delenv("KGEN_CACHE_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
        assert default_cache_dir() == tmp_path / "x" / "kgen" / "classifiers"


class TestImageQuality:
    def test_real_images_score_well(self, judge, data):
        half = len(data.x_test) // 2
        a, b = data.x_test[:half], data.x_test[half:]
        quality = image_quality(judge, a, b, data.y_test[:half])
        assert quality["classes_covered"] == 10.0 and quality["coverage_kl"] < 0.15
        assert quality["precision"] > 0.7 and quality["recall"] > 0.7
        assert quality["classifier_score"] > 8.0 and quality["classifier_score_real"] > 8.0
        assert all(isinstance(v, float) for v in quality.values())

    def test_a_collapsed_generator_is_caught(self, judge, data):
        real = data.x_test
        collapsed = np.repeat(real[:1], len(real), axis=0)
        half = len(real) // 2
        healthy = image_quality(judge, real[:half], real[half:])
        quality = image_quality(judge, real, collapsed, data.y_test)
        assert quality["classes_covered"] == 1.0 and quality["coverage_kl"] > 2.0
        assert quality["classifier_score"] == pytest.approx(1.0, abs=1e-3)
        assert quality["recall"] < 0.1
        assert quality["fid"] > 5 * healthy["fid"]

    def test_noise_has_low_precision(self, judge, data):
        noise = np.random.default_rng(0).uniform(0, 1, data.x_test.shape).astype(np.float32)
        assert image_quality(judge, data.x_test, noise)["precision"] < 0.3


class Oracle:
    """A stand-in conditional generator that "draws" real test digits of class label + shift."""

    latent_dim = 2
    image_shape = (8, 8, 1)

    def __init__(self, data, shift=0):
        self.num_classes = 10
        self.by_class = [data.x_test[data.y_test == c] for c in range(10)]
        self.shift = shift

    def decode(self, z, labels):
        pools = [self.by_class[(int(c) + self.shift) % 10] for c in labels]
        return np.stack([pool[i % len(pool)] for i, pool in enumerate(pools)])


class TestConditionalAccuracy:
    def test_right_and_wrong_classes(self, judge, data):
        right = conditional_accuracy(judge, Oracle(data), n_per_class=20)
        assert set(right) == {f"accuracy_class_{c}" for c in range(10)} | {"conditional_accuracy"}
        assert right["conditional_accuracy"] > 0.95
        wrong = conditional_accuracy(judge, Oracle(data, shift=1), n_per_class=20)
        assert wrong["conditional_accuracy"] < 0.1

    def test_refuses_an_unconditional_model(self, judge, data):
        model = Oracle(data)
        model.num_classes = 0
        with pytest.raises(ConfigError, match="unconditional"):
            conditional_accuracy(judge, model)
