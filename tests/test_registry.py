"""The model registry: a kind registered here, in the test, is found by the CLI, the setup panel,
training, probes and loading; option help and metric explanations come from one place each."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from kgen import registry
from kgen.cli import build_parser, format_scores, main, train_options
from kgen.config import (
    AEConfig,
    BinaryVAEConfig,
    DRAWConfig,
    GANConfig,
    OptionError,
    RunConfig,
    TrainConfig,
    VAEConfig,
    option_help,
    options,
)
from kgen.errors import ConfigError
from kgen.eval.descriptions import METRICS, describe, explanation
from kgen.models.ae import AE

KIND = "sparseae"


@keras.saving.register_keras_serializable(package="kgen_test")
class SparseAE(AE):
    """An autoencoder with a small penalty on the code's squared length: a model kind kgen lacks."""

    loss_names = ("loss", "reconstruction", "code_norm")

    def compute_losses(self, x, labels=None, training=False):
        z, _ = self.encode(x, labels, training=training)
        reconstruction = ops.mean(-self.log_likelihood(x, self.decoder_params(z, labels, training=training)))
        code_norm = ops.mean(ops.sum(ops.square(z), axis=-1))
        return {"loss": reconstruction + 0.01 * code_norm, "reconstruction": reconstruction, "code_norm": code_norm}


def build_sparse_ae(config: RunConfig, image_shape: tuple[int, ...], num_classes: int = 0) -> SparseAE:
    from kgen.models.nets import build_encoder_decoder

    nets = build_encoder_decoder(image_shape, config.model, gaussian=False)
    model = SparseAE(*nets, likelihood=config.model.likelihood, seed=config.train.seed, name=config.train.model)
    model.compile(optimizer=keras.optimizers.Adam(config.train.lr))
    return model


SPEC = registry.ModelSpec(
    name=KIND, description="autoencoder with a penalty on the code's length (defined in a test)",
    config=AEConfig, build=f"{__name__}:build_sparse_ae", model_class=f"{__name__}:SparseAE",
    step_metrics=("loss", "reconstruction", "code_norm"), defaults=registry.TrainDefaults(3e-3, 16, 2),
    views=frozenset({"reconstructions"}), scores=frozenset({"reconstruction"}))


@pytest.fixture
def sparse_kind():
    registry.register(SPEC)
    yield SPEC
    registry.unregister(KIND)


def small_config(kind: str = KIND, **train) -> RunConfig:
    return RunConfig(TrainConfig(model=kind, **train), registry.spec(kind).config(latent_dim=2, hidden=(16,)))


# --- a new kind, registered in the test, found everywhere


def test_a_registered_kind_is_a_cli_choice_with_its_description_and_defaults(sparse_kind, capsys):
    parser = build_parser()
    assert parser.parse_args(["train", KIND]).model == KIND
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert KIND in help_text and "penalty on the code's length" in help_text
    assert "0.003 for sparseae" in help_text  # --lr's default, from its registry entry
    assert "--d-steps" in help_text and "gan, dcgan, cgan" in help_text
    registry.unregister(KIND)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", KIND])
    assert "invalid choice" in capsys.readouterr().err


def test_a_registered_kind_trains_saves_loads_and_gets_its_scores(sparse_kind, tmp_path):
    from kgen.models.saving import load_run_model, model_kind
    from kgen.runs import Run, read_events
    from kgen.train.training import train

    config = small_config(dataset="digits", epochs=1)
    assert (config.train.lr, config.train.batch_size) == (3e-3, 16)  # its defaults
    result = train(config, tmp_path / "run", verbose=0)
    assert set(SPEC.step_metrics) <= set(result.history)
    assert set(result.test) == {"reconstruction"}  # the scores it lists
    steps = [e for e in read_events(tmp_path / "run" / "events.jsonl") if e.get("type") == "epoch"]
    assert steps and "code_norm" in steps[-1]["metrics"]
    model = load_run_model(Run.open(tmp_path / "run"))
    assert type(model) is SparseAE and model_kind(model) == KIND
    assert type(keras.saving.load_model(tmp_path / "run" / "model.keras")) is SparseAE


def test_a_registered_kind_gets_the_views_it_lists(sparse_kind):
    from kgen.services.probes import ReconstructionProbe, live_probes

    (probe,) = live_probes(small_config(dataset="digits"), lambda event: None)
    assert isinstance(probe, ReconstructionProbe) and probe.labels is None


def test_the_setup_panel_lists_a_registered_kind_and_builds_its_config(sparse_kind, qtbot):
    from PySide6.QtCore import Qt

    from gui.setup_panel import SetupPanel

    panel = SetupPanel()
    qtbot.addWidget(panel)
    kinds = [panel.model.itemText(i) for i in range(panel.model.count())]
    assert kinds == list(registry.kinds())
    index = kinds.index(KIND)
    assert panel.model.itemData(index, Qt.ItemDataRole.ToolTipRole) == SPEC.description
    panel.model.setCurrentText(KIND)
    config = panel.config()
    assert config.train.model == KIND and type(config.model) is AEConfig
    assert (config.train.lr, config.train.batch_size, config.train.epochs) == (3e-3, 16, 2)
    assert panel.form.isRowVisible(panel.likelihood) and not panel.form.isRowVisible(panel.beta)
    qtbot.waitUntil(lambda: not panel.preview.busy, timeout=30_000)


def test_build_model_refuses_an_entry_whose_step_metrics_are_not_the_models():
    from kgen.models import build_model

    registry.register(registry.ModelSpec(**{**SPEC.__dict__, "step_metrics": ("loss", "reconstruction")}))
    try:
        with pytest.raises(ConfigError, match="reports loss, reconstruction, code_norm; its registry entry says"):
            build_model(small_config(), (8, 8, 1))
    finally:
        registry.unregister(KIND)


# --- the built-in kinds


@pytest.mark.parametrize("kind", registry.kinds())
def test_each_built_in_entry_matches_its_model(kind):
    from kgen.models import build_model

    spec = registry.spec(kind)
    small = {GANConfig: {"latent_dim": 2, "hidden": (8,), "filters": 4},
             DRAWConfig: {"steps": 2, "z_size": 1, "width": 8}}  # DRAW's latent is steps x z_size
    config = RunConfig(TrainConfig(model=kind), spec.config(**small.get(spec.config, {"latent_dim": 2, "hidden": (8,)})))
    model = build_model(config, (8, 8, 1), 3)  # checks its step metrics against the model's own
    assert type(model) is spec.keras_class()
    assert bool(model.num_classes) == spec.conditional and model.variational == spec.variational


def test_reading_the_registry_and_the_cli_parser_never_imports_tensorflow():
    script = ("import sys, kgen.registry, kgen.config, kgen.eval.descriptions, kgen.cli\n"
              "kgen.cli.build_parser(); kgen.config.TrainConfig(model='gan', dataset='ring8')\n"
              "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
              "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_an_unknown_kind_or_a_bad_spec_is_one_clear_line():
    with pytest.raises(ConfigError, match=r"^model must be one of ae, vae, cvae, bvae, gan, dcgan, cgan, draw, wgan-gp; got 'nope'$"):
        TrainConfig(model="nope")
    with pytest.raises(ConfigError, match="is not a 'module:name' path"):
        registry.ModelSpec(**{**SPEC.__dict__, "build": "no_colon"})
    with pytest.raises(ConfigError, match="unknown views"):
        registry.ModelSpec(**{**SPEC.__dict__, "views": frozenset({"hologram"})})
    with pytest.raises(ConfigError, match="lower-case name"):
        registry.register(registry.ModelSpec(**{**SPEC.__dict__, "name": "Bad Name"}))


def test_the_toy_defaults_of_the_gan_come_from_its_entry():
    assert TrainConfig(model="gan", dataset="ring8").epochs == registry.spec("gan").toy_defaults.epochs == 60
    assert TrainConfig(model="gan", dataset="digits").epochs == registry.spec("gan").defaults.epochs == 30
    assert TrainConfig(model="dcgan", dataset="ring8").epochs == 30  # no toy defaults: images only


# --- option help: config field metadata, read by the CLI and the setup panel


def test_every_config_option_is_described_and_every_flag_help_is_its_fields():
    for config in (TrainConfig, AEConfig, VAEConfig, BinaryVAEConfig, GANConfig):
        assert set(options(config)) == {f.name for f in dataclasses.fields(config)}
    flags = train_options()
    assert option_help(VAEConfig, "beta") in flags["beta"].help()
    assert flags["beta"].help().startswith("vae, cvae, bvae: ")  # the models it applies to
    assert "(default 1)" in flags["beta"].help() and "(default 0)" in flags["seed"].help()
    assert flags["filters"].type == "widths" and flags["binarize"].type == "switch"
    assert "auto" in flags["arch"].choices and "precision" not in flags and "model" not in flags


def test_the_setup_panels_tooltips_are_the_options_help(qtbot):
    from gui.setup_panel import SetupPanel

    panel = SetupPanel()
    qtbot.addWidget(panel)
    panel.model.setCurrentText("vae")
    assert panel.beta.toolTip() == option_help(VAEConfig, "beta")
    assert panel.lr.toolTip() == option_help(TrainConfig, "lr")
    panel.model.setCurrentText("gan")
    assert panel.arch.toolTip() == option_help(GANConfig, "arch")
    assert [panel.arch.itemText(i) for i in range(panel.arch.count())] == ["auto", "mlp", "conv"]
    qtbot.waitUntil(lambda: not panel.preview.busy, timeout=30_000)


def test_the_estimator_options_reach_the_cli_and_the_setup_panel(qtbot):
    flags = train_options()
    assert flags["estimator"].help().startswith("vae, cvae: " + option_help(VAEConfig, "estimator"))
    assert "bvae: " + option_help(BinaryVAEConfig, "estimator") in flags["estimator"].help()
    assert flags["estimator"].choices == ("reparameterisation", "reinforce", "nvil", "straight-through", "relaxed")
    assert flags["temperature"].help().startswith("bvae: ") and "(default 0.25)" in flags["temperature"].help()
    from gui.setup_panel import SetupPanel

    panel = SetupPanel()
    qtbot.addWidget(panel)
    panel.model.setCurrentText("vae")
    assert panel.form.isRowVisible(panel.estimator) and not panel.form.isRowVisible(panel.temperature)
    assert panel.estimator.currentText() == "reparameterisation"
    panel.model.setCurrentText("bvae")
    assert panel.form.isRowVisible(panel.temperature) and panel.temperature.value() == 0.25
    assert [panel.estimator.itemText(i) for i in range(panel.estimator.count())] == list(
        options(BinaryVAEConfig)["estimator"].metadata["choices"])
    panel.estimator.setCurrentText("nvil")
    panel.temperature.setValue(0.75)
    config = panel.config()
    assert (type(config.model), config.model.estimator, config.model.temperature) == (BinaryVAEConfig, "nvil", 0.75)
    panel.model.setCurrentText("gan")
    assert not panel.form.isRowVisible(panel.estimator)
    qtbot.waitUntil(lambda: not panel.preview.busy, timeout=30_000)


def test_library_errors_name_parameters_and_the_cli_spells_them_as_flags(tmp_path, capsys):
    from kgen.services.commands import evaluate_run

    with pytest.raises(OptionError, match=r"^k must be >= 0, got -1$"):
        evaluate_run(tmp_path, k=-1)
    assert main(["eval", str(tmp_path), "-k", "-1"]) == 2
    assert capsys.readouterr().err == "kgen: error: -k must be >= 0, got -1\n"
    assert main(["eval", str(tmp_path), "--limit", "0"]) == 2
    assert capsys.readouterr().err == "kgen: error: --limit must be >= 1, got 0\n"


# --- the metric table


class _Judge:
    """A stand-in classifier: random features and class probabilities, 3 classes."""

    num_classes = 3

    def features_and_probabilities(self, x):
        rng = np.random.default_rng(len(x))
        probs = rng.random((len(x), 3))
        return rng.normal(size=(len(x), 4)), probs / probs.sum(axis=1, keepdims=True)


def test_every_score_evaluation_writes_is_in_the_metric_table():
    from kgen.data import TOY_MODES
    from kgen.eval.quality import image_quality, toy_quality

    x = np.zeros((12, 8, 8, 1), np.float32)
    names = {"elbo", "reconstruction", "kl", "iwae_5000", "classifier_accuracy", "inversion_mse",
             "accuracy_class_7", "conditional_accuracy", *image_quality(_Judge(), x, x, np.arange(12) % 3),
             *toy_quality(np.asarray(TOY_MODES["ring8"]), "ring8")}
    missing = sorted(n for n in names if describe(n) is None)
    assert not missing
    assert describe("iwae_20") is METRICS["iwae"] and describe("accuracy_class") is METRICS["accuracy_class"]
    assert explanation("fid").endswith("(lower is better)") and explanation("nonsense") == ""


def test_kgen_eval_prints_what_each_score_means():
    table = format_scores({"elbo": -95.25, "fid": 12.5, "unknown_score": 1.0}).splitlines()
    assert table[0].split() == ["metric", "value", "better", "meaning"]
    assert table[1].split()[:3] == ["elbo", "-95.25", "higher"] and "[nats per image]" in table[1]
    assert table[2].split()[2] == "lower" and table[3].split() == ["unknown_score", "1", "-"]


def test_the_evaluate_view_explains_scores_from_the_table(qtbot):
    from gui.evaluate_view import EvaluateView

    view = EvaluateView()
    qtbot.addWidget(view)
    view._job = type("Done", (), {"done": True, "error": None, "result": lambda self: {"fid": 3.0}})()
    view.run_dir = None
    view._poll()
    assert view.table.item(0, 0).toolTip() == explanation("fid")
