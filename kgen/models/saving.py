"""Loading kgen's ``.keras`` files safely, and checking a loaded model is the one a run describes."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from kgen import registry
from kgen.config import RunConfig
from kgen.errors import RunError, one_line, show_path
from kgen.runs import MODEL_FILE, Run


def load_model_file(path: str | os.PathLike):
    """Load a kgen ``.keras`` file safely (no Lambda layers or pickled code run)."""
    import keras

    import kgen.models  # noqa: F401  (registers the kgen classes)

    path = Path(path)
    if not path.is_file():
        raise RunError(f"{show_path(path)}: no such model file")
    if not zipfile.is_zipfile(path):
        raise RunError(f"{show_path(path)} is not a .keras model file (not a zip archive)")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises many types for foreign or damaged files
        raise RunError(f"{show_path(path)} could not be loaded as a kgen model: {one_line(err)}") from err
    if not hasattr(model, "decode"):
        raise RunError(f"{show_path(path)} holds a {type(model).__name__}, not a kgen generative model")
    return model


def load_run_model(run: Run, path: str | os.PathLike | None = None):
    """A run's model, checked to be the one its config.json describes (`check_model_matches`):
    ``path`` (one of its checkpoints), else ``model.keras``, else its latest checkpoint."""
    if path is None:
        if run.model_path.is_file():
            path = run.model_path
        elif (latest := run.latest_checkpoint()) is not None:
            path = latest[0]
        else:
            raise RunError(f"{show_path(run.path)} has no model yet (no {MODEL_FILE} and no checkpoint)")
    config = run.config()
    registry.spec(config.train.model).keras_class()  # imports (so registers) a kind defined outside kgen.models
    model = load_model_file(path)
    check_model_matches(model, config, path)
    return model


def check_model_matches(model, config: RunConfig, path: str | os.PathLike) -> None:
    """Refuse (one-line RunError naming ``path``) a model whose kind or latent size is not what
    the run's config.json says: it would train or sample on under the wrong config."""
    kind, held = config.train.model, model_kind(model)
    if type(model) is not registry.spec(kind).keras_class() or held != kind:
        raise RunError(f"{show_path(path)} holds a {held} model, but config.json says {kind}")
    latent = config.model.latent_dim
    if model.latent_dim != latent:
        raise RunError(f"{show_path(path)} holds a model with latent size {model.latent_dim}, but config.json "
                       f"says {latent}")


def model_kind(model) -> str:
    """The registered model kind a loaded model is, by its class and the name kgen gives it (a
    GAN and a DCGAN share a class); else its class name."""
    kinds = [s.name for s in registry.specs() if type(model) is s.keras_class()]
    if model.name in kinds:
        return model.name
    return kinds[0] if len(kinds) == 1 else type(model).__name__
