"""kgen's model files open with plain ``keras.saving.load_model`` after one import, ``import
kgen.models``, in a fresh process, for every model kind; ``import kgen`` itself stays cheap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (8, 8, 1)
CLASSES = 3
# Tiny networks of every kind: (model kind, its model options).
KINDS = {
    "ae": {"latent_dim": 2, "hidden": [8]},
    "vae": {"latent_dim": 2, "hidden": [8]},
    "cvae": {"latent_dim": 2, "hidden": [8]},
    "gan": {"latent_dim": 2, "hidden": [8]},
    "dcgan": {"latent_dim": 2, "arch": "conv", "filters": 4},
    "cgan": {"latent_dim": 2, "arch": "conv", "filters": 4},
    "wgan-gp": {"latent_dim": 2, "arch": "conv", "filters": 4},
}
# What a user writes: the import the README shows, then Keras alone.
LOADER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import kgen.models
    import keras
    from kgen.models.sampling import sample_images

    found = {}
    for kind, path in json.loads(sys.argv[1]).items():
        model = keras.saving.load_model(path)
        found[kind] = [type(model).__name__, sample_images(model, 4, seed=0).tolist()]
    print(json.dumps(found))
""")


def fresh_python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KGEN_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each kind built tiny and saved here: {kind: (path, class name, 4 samples drawn before saving)}."""
    from kgen.config import RunConfig
    from kgen.models import build_model
    from kgen.models.sampling import sample_images

    root = tmp_path_factory.mktemp("models")
    models = {}
    for kind, options in KINDS.items():
        config = RunConfig.from_dict({"train": {"model": kind}, "model": options})
        model = build_model(config, SHAPE, num_classes=CLASSES)
        path = root / f"{kind}.keras"
        model.save(path)
        models[kind] = (path, type(model).__name__, sample_images(model, 4, seed=0))
    return models


@pytest.fixture(scope="module")
def loaded(saved):
    """The same files opened in one fresh process with `import kgen.models` and Keras alone."""
    done = fresh_python(LOADER, json.dumps({kind: str(path) for kind, (path, _, _) in saved.items()}))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_saved_model_opens_with_plain_keras_after_importing_kgen_models(kind, saved, loaded):
    _, class_name, before = saved[kind]
    assert loaded[kind][0] == class_name
    np.testing.assert_allclose(np.array(loaded[kind][1]), before, atol=1e-6)  # the same weights


def test_importing_kgen_and_its_cli_does_not_import_tensorflow():
    done = fresh_python("import sys, kgen, kgen.cli; "
                        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
