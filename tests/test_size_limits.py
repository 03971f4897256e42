"""Network size caps (issue 13, point 3): every model kind and architecture is sized by arithmetic
before any weight exists, and refused in one line when a training step would not fit the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgen import sizes
from kgen.cli import main
from kgen.config import RunConfig
from kgen.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
# (model, arch, data shape, model options): every architecture kgen builds.
ARCHITECTURES = [
    ("ae", "mlp", (8, 8, 1), {}), ("vae", "mlp", (8, 8, 1), {"likelihood": "gaussian-learned"}),
    ("cvae", "mlp", (8, 8, 1), {}), ("ae", "conv", (8, 8, 1), {}), ("vae", "conv", (12, 8, 3), {}),
    ("cvae", "conv", (8, 8, 1), {}), ("gan", "auto", (8, 8, 1), {}), ("gan", "auto", (2,), {}),
    ("dcgan", "auto", (8, 8, 1), {}), ("cgan", "auto", (8, 8, 1), {}), ("cgan", "mlp", (8, 8, 1), {}),
    ("vae", "mlp", (8, 8, 1), {"estimator": "nvil"}), ("cvae", "conv", (8, 8, 1), {"estimator": "nvil"}),
    ("bvae", "mlp", (8, 8, 1), {}), ("bvae", "conv", (8, 8, 1), {"estimator": "nvil"}),
    ("wgan-gp", "auto", (8, 8, 1), {}), ("wgan-gp", "auto", (2,), {}), ("wgan-gp", "mlp", (8, 8, 1), {}),
    ("gan", "auto", (2,), {"pack": 4, "unroll": 5}), ("dcgan", "auto", (8, 8, 1), {"pack": 2}),
]


def config(model: str, arch: str = "mlp", batch_size: int | None = None, **options) -> RunConfig:
    train = {"model": model, "dataset": "digits", **({"batch_size": batch_size} if batch_size else {})}
    return RunConfig.from_dict({"train": train, "model": {"arch": arch, **options}})


@pytest.mark.parametrize(("model", "arch", "shape", "options"), ARCHITECTURES)
def test_weights_counted_as_keras_builds_them(model, arch, shape, options):
    """The arithmetic counts exactly the weights (trainable and all) Keras allocates."""
    from kgen.models import build_model

    classes = 10 if model in ("cvae", "cgan") else 0
    built = build_model(config(model, arch, **options), shape, classes)
    if hasattr(built, "encoder"):  # NVIL's baseline network is counted with the encoder
        baseline = getattr(built, "baseline", None)
        nets = ([built.encoder] + ([baseline] if baseline is not None else []), [built.decoder])
    else:
        nets = ([built.generator], [built.discriminator])
    counted = sizes.networks(config(model, arch, **options), shape, classes)
    for parts, count in zip(nets, counted, strict=True):
        trainable = sum(int(w.numpy().size) for net in parts for w in net.trainable_weights)
        assert (count.params, count.trainable) == (sum(net.count_params() for net in parts), trainable)


@pytest.mark.parametrize(("model", "arch", "shape", "options"), ARCHITECTURES)
def test_every_architecture_is_refused_over_the_limit_and_fits_under_it(monkeypatch, model, arch, shape, options):
    monkeypatch.setenv("KGEN_MAX_MEMORY", "1G")
    classes = 10 if model in ("cvae", "cgan") else 0
    assert sizes.check_fits(config(model, arch, **options), shape, classes).total < 2**30
    monkeypatch.setenv("KGEN_MAX_MEMORY", "1M")
    with pytest.raises(ConfigError) as refused:
        sizes.check_fits(config(model, arch, **options), shape, classes)
    message = str(refused.value)
    assert "\n" not in message and "more than 1.0 MiB" not in message  # GiB throughout
    assert f"training this {model} would need about" in message and "KGEN_MAX_MEMORY=1M" in message


@pytest.mark.parametrize(("argv", "option"), [
    (["train", "vae", "--arch", "conv", "--dataset", "digits", "--filters", "16384,16384,16384,16384"], "--filters"),
    (["train", "dcgan", "--dataset", "digits", "--filters", "16384"], "--filters"),
    (["train", "cgan", "--dataset", "digits", "--filters", "16384"], "--filters"),
    (["train", "cvae", "--dataset", "digits", "--hidden", "16384,16384,16384"], "--hidden"),
    (["train", "gan", "--dataset", "digits", "--hidden", "16384,16384,16384"], "--hidden"),
])
def test_the_issue_networks_are_refused_at_once_in_one_line(monkeypatch, capsys, argv, option):
    """Issue 13's probes and their kin: one line naming the estimate, the limit and the option to
    lower, in well under a second after the data is loaded (nothing is allocated)."""
    monkeypatch.setenv("KGEN_MAX_MEMORY", "16G")
    started = time.monotonic()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kgen: error: training this ")
    assert "GiB" in err and "KGEN_MAX_MEMORY=16G" in err and f"use smaller {option}" in err, err
    assert time.monotonic() - started < 5


def test_refused_conv_vae_never_grows_past_a_gigabyte(tmp_path):
    """The probe that grew past 10 GB: in a fresh process under the machine's own limit, refused
    with the interpreter and TensorFlow's footprint alone (peak RSS of the whole process)."""
    # VmHWM is this process's own peak: ru_maxrss would carry over the (large) peak of the pytest
    # process that forked it, which Linux keeps across exec.
    code = ("import re, sys; from kgen.cli import main; rc = main(sys.argv[1:]); "
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]); sys.exit(rc)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KGEN_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KGEN_MAX_MEMORY", None)
    done = subprocess.run([sys.executable, "-c", code, "train", "vae", "--arch", "conv", "--dataset", "digits",
                           "--filters", "16384,16384,16384,16384", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if line.startswith("kgen:")] == \
        [next(line for line in done.stderr.splitlines() if "would need about" in line)]
    assert int(done.stdout) * 1024 < 2**30  # VmHWM in KiB
    assert not (tmp_path / "run").exists()


def test_default_limit_is_a_share_of_the_available_memory(monkeypatch):
    monkeypatch.delenv("KGEN_MAX_MEMORY", raising=False)
    monkeypatch.setattr(sizes, "available_memory", lambda: 10 * 2**30)
    limit, source = sizes.memory_limit()
    assert limit == int(sizes.MEMORY_FRACTION * 10 * 2**30)
    assert "80% of the 10.0 GiB available; set KGEN_MAX_MEMORY" in source
    assert 0 < sizes.available_memory() <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize(("text", "expected"), [("8G", 8 * 2**30), ("512m", 512 * 2**20), ("1.5GiB", 3 * 2**29),
                                                ("4096", 4096), (" 2T ", 2 * 2**40)])
def test_memory_override_sizes(monkeypatch, text, expected):
    monkeypatch.setenv("KGEN_MAX_MEMORY", text)
    assert sizes.memory_limit()[0] == expected


@pytest.mark.parametrize("text", ["lots", "-1G", "0", "1e9", "8Q", "nan", "1,5G"])
def test_nonsense_memory_override_is_one_line(monkeypatch, text):
    monkeypatch.setenv("KGEN_MAX_MEMORY", text)
    with pytest.raises(ConfigError, match="KGEN_MAX_MEMORY must be a size such as 8G or 512M"):
        sizes.memory_limit()


def test_estimate_grows_with_batch_and_names_the_larger_part():
    small, large = (sizes.estimate(config("vae", "conv", batch_size=b), (64, 64, 1)) for b in (32, 3200))
    assert small.weights_bytes == large.weights_bytes and large.activation_bytes == 100 * small.activation_bytes
    assert large.total > small.total > small.weights_bytes
    assert sizes._what_to_lower(config("vae", "conv", batch_size=3200), large, (64, 64, 1)).endswith("batch_size or image_size")
    assert sizes._what_to_lower(config("dcgan", "auto"), sizes.estimate(config("dcgan", "auto", filters=4096), (8, 8, 1)),
                                (8, 8, 1)) == "smaller filters"


def test_the_estimate_needs_no_tensorflow():
    """The refusal is instant: kgen.sizes imports no TensorFlow or Keras."""
    code = ("import sys; import kgen.sizes; "
            "assert not {'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)



def test_folder_too_large_for_the_model_is_refused_before_any_pixel_is_cached(tmp_path, monkeypatch):
    """The size check runs on a folder's image headers, so a refused model never costs the
    decoded-pixel cache (which a streamed folder writes before training)."""
    import numpy as np
    from PIL import Image

    from kgen.train.training import load_training_data

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((64, 64), 40 * i, np.uint8)).save(folder / f"{i}.png")
    monkeypatch.setenv("KGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KGEN_STREAM_BYTES", "0")  # every folder is decoded into the disk cache
    monkeypatch.setenv("KGEN_MAX_MEMORY", "64M")
    wanted = RunConfig.from_dict({"train": {"model": "vae", "dataset": f"folder:{folder}", "batch_size": 2},
                                  "model": {"arch": "conv", "filters": [4096, 4096, 4096, 4096]}})
    with pytest.raises(ConfigError, match="would need about"):
        load_training_data(wanted)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
    monkeypatch.setenv("KGEN_MAX_MEMORY", "8G")  # the same folder fits a model that fits: cached
    load_training_data(RunConfig.from_dict({"train": {"model": "vae", "dataset": f"folder:{folder}",
                                                      "batch_size": 2}, "model": {}}))
    assert any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
