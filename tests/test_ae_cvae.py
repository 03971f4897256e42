"""The autoencoder and the class-conditional VAE: steps, conditioning, saving, CLI."""

import keras
import numpy as np
import pytest
from sklearn.svm import SVC

from kgen.cli import main
from kgen.config import AEConfig, RunConfig, TrainConfig, VAEConfig
from kgen.data import load_dataset, make_pipeline
from kgen.errors import ConfigError
from kgen.eval.likelihood import evaluate_model
from kgen.models import AE, CVAE, build_model
from kgen.models.sampling import grid_codes, sample_images
from kgen.models.saving import load_model_file


@pytest.fixture(scope="module")
def labelled_digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def cvae(labelled_digits):
    d = labelled_digits
    keras.utils.set_random_seed(0)
    model = build_model(RunConfig(TrainConfig(model="cvae"), VAEConfig(latent_dim=8)), (8, 8, 1), 10)
    model.fit(make_pipeline(d.x_train, d.y_train, batch_size=32), epochs=15, verbose=0, shuffle=False)
    return model


@pytest.fixture(scope="module")
def digit_classifier(labelled_digits):
    """A classifier trained here on the real digits, to judge what the CVAE draws."""
    d = labelled_digits
    clf = SVC(gamma="scale").fit(d.x_train.reshape(len(d.x_train), -1), d.y_train)
    assert clf.score(d.x_test.reshape(len(d.x_test), -1), d.y_test) > 0.95
    return clf


class TestCVAE:
    def test_conditioned_on_class_c_it_draws_class_c(self, cvae, digit_classifier):
        for c in range(10):
            images = sample_images(cvae, 200, seed=c, labels=np.full(200, c))
            accuracy = np.mean(digit_classifier.predict(images.reshape(200, -1)) == c)
            assert accuracy >= 0.9, f"class {c}: {accuracy:.2f}"

    def test_the_label_changes_the_image_not_the_style_code(self, cvae):
        z = np.random.default_rng(0).standard_normal((1, 8)).astype("float32")
        images = [np.asarray(cvae.decode(z, np.array([c]))) for c in (1, 7)]
        assert np.abs(images[0] - images[1]).mean() > 0.05

    def test_style_row_grid_decodes_each_z_once_per_class(self, cvae):
        z, labels = grid_codes(cvae, rows=3, seed=0)
        assert z.shape == (30, 8) and labels.tolist() == list(range(10)) * 3
        assert np.array_equal(z[0], z[9]) and not np.array_equal(z[9], z[10])

    def test_reports_the_conditional_elbo(self, cvae, labelled_digits):
        d = labelled_digits
        result = evaluate_model(cvae, d.x_test[:50], d.y_test[:50], ks=(10,))
        assert result["iwae_10"] >= result["elbo"] - 0.5
        with pytest.raises(ValueError, match="is conditional: give class labels"):
            cvae.decode(np.zeros((1, 8), "float32"))

    def test_saves_and_reloads(self, cvae, tmp_path):
        cvae.save(tmp_path / "cvae.keras")
        again = load_model_file(tmp_path / "cvae.keras")
        assert isinstance(again, CVAE) and again.num_classes == 10
        z = np.zeros((2, 8), "float32")
        labels = np.array([3, 4])
        assert np.allclose(np.asarray(again.decode(z, labels)), np.asarray(cvae.decode(z, labels)), atol=1e-6)


class TestAE:
    def test_trains_on_reconstruction_alone(self, labelled_digits, tmp_path):
        d = labelled_digits
        model = build_model(RunConfig(TrainConfig(model="ae"), AEConfig(latent_dim=4)), (8, 8, 1))
        before = evaluate_model(model, d.x_test)["reconstruction"]
        history = model.fit(d.x_train, epochs=5, batch_size=32, verbose=0).history
        assert set(history) == {"loss", "reconstruction"}
        after = evaluate_model(model, d.x_test)
        assert set(after) == {"reconstruction"} and after["reconstruction"] < before - 5
        z, log_var = model.encode(d.x_test[:3])
        assert log_var is None and z.shape == (3, 4)
        model.save(tmp_path / "ae.keras")
        assert isinstance(load_model_file(tmp_path / "ae.keras"), AE)

    def test_ae_config_has_no_beta(self):
        with pytest.raises(ConfigError, match="AEConfig has no option beta"):
            AEConfig.from_dict({"beta": 2.0})


def test_cvae_needs_labels(tmp_path, capsys):
    x = np.random.default_rng(0).random((40, 8, 8, 1)).astype("float32")
    np.savez(tmp_path / "unlabelled.npz", x=x)
    code = main(["train", "cvae", "--dataset", f"npz:{tmp_path / 'unlabelled.npz'}", "--out", str(tmp_path / "r")])
    assert code == 2 and "the cvae needs class labels" in capsys.readouterr().err


def test_cli_trains_a_cvae_and_samples_a_class(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "cvae", "--epochs", "2", "--latent-dim", "2", "--out", str(run)]
    assert main(args) == 0
    assert (run / "samples" / "epoch_0002.png").is_file()
    assert main(["sample", str(run), "-n", "6", "--class", "3", "-o", str(tmp_path / "s.npz")]) == 0
    data = np.load(tmp_path / "s.npz")
    assert data["x"].shape == (6, 8, 8, 1) and data["y"].tolist() == [3] * 6
    capsys.readouterr()
    assert main(["sample", str(run), "--class", "12", "-o", str(tmp_path / "t.png")]) == 2
    assert "has classes 0..9" in capsys.readouterr().err
