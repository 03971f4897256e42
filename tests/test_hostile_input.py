"""Hostile input, fuzzed: configs, run directories, folders of images, IDX headers and `kgen train`
options. Every case must end in a working result or one clear line (KgenError, exit 2): never a
traceback, a hang or a huge allocation. (test_data.py fuzzes raw IDX and .npz bytes.)"""

import contextlib
import gzip
import io
import json
import os
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import kgen.train.training
from kgen import registry
from kgen.cli import main
from kgen.config import RunConfig
from kgen.data import Dataset, load_dataset, read_idx
from kgen.errors import ConfigError, DatasetError, RunError
from kgen.runs import Run


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def one_line(err: BaseException) -> str:
    message = str(err)
    assert message and "\n" not in message and "Traceback" not in message
    return message


# ----------------------------------------------------------------- configs

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.integers(), st.floats(),
                    st.text(max_size=8), st.sampled_from(["vae", "gan", "digits", "ring8", "mlp", "conv", "auto",
                                                          "bernoulli", "gaussian", "saturating", "mirrored"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=8)
TRAIN_KEYS = ["model", "dataset", "image_size", "data_dir", "epochs", "batch_size", "lr", "seed", "sample_every",
              "grid_size", "strategy", "precision"]
MODEL_KEYS = ["latent_dim", "arch", "hidden", "filters", "likelihood", "sigma", "binarize", "beta", "d_steps",
              "generator_loss", "beta_1", "pixels", "temperature"]
SECTION = lambda keys: st.dictionaries(st.sampled_from(keys) | st.text(max_size=5), JSON, max_size=6)  # noqa: E731
CONFIGS = st.one_of(JSON, st.fixed_dictionaries({"train": SECTION(TRAIN_KEYS) | JSON, "model": SECTION(MODEL_KEYS) | JSON}))


@fuzz(400)
@given(data=CONFIGS)
def test_fuzz_run_config_from_dict(data):
    try:
        config = RunConfig.from_dict(data)
    except ConfigError as err:
        one_line(err)
    else:  # whatever is accepted round-trips through JSON
        saved = json.loads(json.dumps(config.to_dict()))
        assert RunConfig.from_dict(saved).to_dict() == config.to_dict()


@fuzz(100)
@given(blob=st.one_of(st.binary(max_size=200), CONFIGS.map(lambda d: json.dumps(d).encode())))
def test_fuzz_run_directory_config(tmp_path, blob):
    (tmp_path / "config.json").write_bytes(blob)
    try:
        Run.open(tmp_path)
    except RunError as err:
        assert str(tmp_path) in one_line(err)


# ----------------------------------------------------------------- `kgen train` options

class Accepted(Exception):
    """The options passed every check: training would start here."""


@pytest.fixture
def no_training(monkeypatch):
    """`kgen train` up to the data and size checks, without building or training a model."""
    def checks_only(config, run_dir, **options):
        kgen.train.training.load_training_data(config)
        raise Accepted

    monkeypatch.setattr(kgen.train.training, "train", checks_only)


def odd_text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=12), st.sampled_from(["", "\x00", "a\x00b", os.fsdecode(b"\xff\xfe"), "-1", "1e400",
                                                            "nan", "inf", "-0", "0x10", " 3", "1,2", ",", "9" * 30]))


NUMBERS = st.one_of(st.integers(-3, 3), st.integers(-(2**70), 2**70), st.floats()).map(str)
FLAGS = {
    "--epochs": NUMBERS, "--batch-size": NUMBERS, "--lr": NUMBERS, "--seed": NUMBERS, "--sample-every": NUMBERS,
    "--image-size": st.one_of(NUMBERS, st.sampled_from(["1", "4", "28", "512", "513"])),
    "--latent-dim": NUMBERS, "--beta": NUMBERS, "--sigma": NUMBERS, "--d-steps": NUMBERS, "--beta-1": NUMBERS,
    "--hidden": st.one_of(st.lists(st.integers(-2, 2**20), min_size=1, max_size=3).map(lambda w: ",".join(map(str, w))),
                          odd_text()),
    "--filters": st.lists(st.integers(-1, 2**15), min_size=1, max_size=5).map(lambda w: ",".join(map(str, w))),
    "--arch": st.sampled_from(["mlp", "conv", "auto", "x"]),
    "--likelihood": st.sampled_from(["bernoulli", "gaussian", "gaussian-learned", "poisson"]),
    "--generator-loss": st.sampled_from(["non-saturating", "saturating", "wasserstein"]),
    "--dataset": st.one_of(st.sampled_from(["digits", "ring8", "moons", "mnist", "cifar", "npz:", "folder:",
                                            "npz:/no/such.npz", "folder:/proc", "npz:/dev/null"]),
                           odd_text(), odd_text().map("npz:{}".format), odd_text().map("folder:{}".format)),
    "--data-dir": odd_text(),
}


@fuzz(150)
@given(model=st.sampled_from(registry.kinds()), options=st.dictionaries(st.sampled_from(sorted(FLAGS)), st.none(), max_size=5),
       data=st.data())
def test_fuzz_train_options(no_training, capsys, model, options, data):
    argv = ["train", model]
    for flag in options:
        argv += [flag, data.draw(FLAGS[flag], label=flag)]
    try:
        code = main(argv)
    except Accepted:
        return
    except SystemExit as done:  # argparse: a value of the wrong type or choice
        assert done.code == 2
        assert capsys.readouterr().err.splitlines()[-1].startswith("kgen train: error: argument ")
        return
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("kgen: error: ") and err.count("\n") == 1, (argv, err)


@pytest.mark.parametrize(("args", "message"), [
    (["--hidden", "100000"], "each of hidden must be <= 16384, got 100000"),
    (["--hidden", "16384,16384,16384", "--dataset", "NPZ"], "GiB (the limit KGEN_MAX_MEMORY=16G); use smaller --hidden"),
    (["--lr", str(10**400)], "lr must be a finite number in (0, 10]"),
    (["--seed", "-1"], "seed must be a whole number in [0, 2^31)"),
    (["--sample-every", "0"], "sample_every must be a whole number >= 1"),
    (["--dataset", "npz:/tmp/a\x00b"], "embedded null byte"),
    (["--dataset", ""], "dataset must be named"),
])
def test_nonsense_hyperparameters_are_one_line(no_training, capsys, monkeypatch, tiny_npz, args, message):
    monkeypatch.setenv("KGEN_MAX_MEMORY", "16G")  # the same answer on any machine
    assert main(["train", "vae", *(f"npz:{tiny_npz}" if a == "NPZ" else a for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


# ----------------------------------------------------------------- image folders

def image_file(mode: str, size: tuple[int, int], fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


# Every image mode PIL can write, in a format that stores it.
MODES = [("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("I;16", "PNG"),
         ("I", "TIFF"), ("F", "TIFF"), ("CMYK", "JPEG"), ("L", "JPEG"), ("RGB", "BMP"), ("P", "GIF"), ("CMYK", "TIFF")]
FILES = st.one_of(
    st.tuples(st.sampled_from(MODES), st.tuples(st.integers(1, 24), st.integers(1, 24)), st.integers(0, 99)),
    st.binary(max_size=64),  # random bytes, zero-size files among them
)
NAMES = st.one_of(st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=["Cs"]), min_size=1, max_size=8),
                  st.binary(min_size=1, max_size=6).filter(lambda b: b"/" not in b and b"\x00" not in b
                                                           and b not in (b".", b"..")).map(os.fsdecode))


@fuzz(100)
@given(files=st.lists(st.tuples(NAMES, st.sampled_from([".png", ".jpg", ".gif", ".bmp", ".PNG"]), FILES,
                                st.sampled_from(["", "a", "b"])), min_size=1, max_size=6))
def test_fuzz_image_folder(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("images")
    for name, suffix, content, subfolder in files:
        if isinstance(content, tuple):  # an image, whatever the file's suffix says
            (mode, fmt), size, seed = content
            content = image_file(mode, size, fmt, seed)
        (folder / subfolder).mkdir(exist_ok=True)
        (folder / subfolder / f"{name}{suffix}").write_bytes(content)
    try:
        data = load_dataset(f"folder:{folder}")
    except DatasetError as err:
        one_line(err).encode("utf-8")  # printable even when a file name is not UTF-8
    else:
        assert isinstance(data, Dataset) and data.x_train.dtype == np.float32
        assert 0 <= data.x_train.min() <= data.x_train.max() <= 1 and np.isfinite(data.x_train).all()


def test_a_zero_size_image_is_refused(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="empty.png: not a PNG/JPEG/BMP/GIF image"):
        load_dataset(f"folder:{tmp_path}")


def test_a_file_name_with_a_newline_stays_on_one_line(tmp_path):
    (tmp_path / "two\nlines.png").write_bytes(b"not a png")  # found by test_fuzz_image_folder
    with pytest.raises(DatasetError) as caught:
        load_dataset(f"folder:{tmp_path}")
    assert "two\\nlines.png: not a PNG/JPEG/BMP/GIF image" in one_line(caught.value)


# ----------------------------------------------------------------- IDX headers

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dims", [(2**32 - 1, 1, 1), (60000, 2**16, 2**16), (2**31 - 1, 1, 1)])
def test_huge_declared_idx_dimensions_allocate_nothing(tmp_path, gz, dims):
    path = tmp_path / ("x.gz" if gz else "x")
    blob = b"\x00\x00\x08\x03" + struct.pack(">3I", *dims) + bytes(1000)
    path.write_bytes(gzip.compress(blob) if gz else blob)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="declares shape|truncated IDX file"):
            read_idx(path, 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**25  # far below what the header declares


@fuzz(100)
@given(header=st.binary(max_size=16), gz=st.booleans())
def test_fuzz_truncated_idx_headers(tmp_path, header, gz):
    path = tmp_path / ("h.gz" if gz else "h")
    blob = b"\x00\x00\x08\x03" + header
    path.write_bytes(gzip.compress(blob) if gz else blob)
    with contextlib.suppress(DatasetError):
        assert read_idx(path, 3).ndim == 3

