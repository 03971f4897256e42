"""Tests for kgen.data: every source from files written here, every bad input's message."""

import gzip
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from kgen import data
from kgen.data import (
    TOY_MODES,
    Dataset,
    list_datasets,
    load_dataset,
    make_pipeline,
    read_idx,
    toy_points,
)
from kgen.errors import ConfigError, DatasetError

SHARED_MNIST = Path(__file__).parents[2] / "shared/data/mnist"
RNG = np.random.default_rng(0)


# ----------------------------------------------------------------- writers

def write_idx(path: Path, array: np.ndarray, magic: bytes | None = None) -> Path:
    """Write array as an IDX file (gzip when the name ends in .gz)."""
    header = magic or bytes([0, 0, 8, array.ndim])
    blob = header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if path.name.endswith(".gz") else blob)
    return path


def write_mnist_dir(folder: Path, gz: bool = True, n_train: int = 30, n_test: int = 7) -> dict:
    """Four small random IDX files in folder; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": RNG.integers(0, 256, (n_train, 28, 28)),
              "y_train": RNG.integers(0, 10, n_train),
              "x_test": RNG.integers(0, 256, (n_test, 28, 28)),
              "y_test": RNG.integers(0, 10, n_test)}
    for key, stem in data.IDX_FILES.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arrays[key])
    return arrays


def write_image(path: Path, size=(6, 6), mode: str = "L", fmt: str | None = None) -> Path:
    """A random image of the given mode saved at path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, format=fmt)
    return path


def expect_error(match: str, path, call, *args, **kwargs) -> str:
    """Assert call raises a one-line DatasetError matching `match` and naming `path`."""
    with pytest.raises(DatasetError, match=match) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may download: offline mode, and a download stub that fails loudly."""
    monkeypatch.setenv("KGEN_OFFLINE", "1")

    def no_download(name):
        raise AssertionError(f"tried to download {name}")

    monkeypatch.setattr(data.idx, "_download", no_download)


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    """An empty HOME with no keras cache, and no system Fashion-MNIST."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(data.idx, "SYSTEM_FASHION_DIR", tmp_path / "no-such-dir")
    return home


# ----------------------------------------------------------------- MNIST-style sources

@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_folder(tmp_path, gz, name):
    arrays = write_mnist_dir(tmp_path, gz=gz)
    for ds in (load_dataset(name, data_dir=tmp_path), load_dataset(f"{name}:{tmp_path}")):
        assert ds.x_train.shape == (30, 28, 28, 1) and ds.x_test.shape == (7, 28, 28, 1)
        assert ds.x_train.dtype == np.float32 and ds.x_train.flags.c_contiguous
        assert ds.y_train.dtype == np.int64
        np.testing.assert_allclose(ds.x_train[..., 0] * 255, arrays["x_train"], atol=1e-3)
        np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
        assert ds.num_classes == 10 and ds.kind == "images" and ds.image_shape == (28, 28, 1)
    assert load_dataset("fashion-mnist", data_dir=tmp_path).class_names[0] == "T-shirt/top"


def test_mnist_npz_in_dir_in_file_and_in_keras_cache(tmp_path, empty_home):
    arrays = {k: v.astype(np.uint8) for k, v in write_mnist_dir(tmp_path / "idx").items()}
    cache = empty_home / ".keras" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", **arrays)
    for ds in (load_dataset("mnist", data_dir=cache), load_dataset(f"mnist:{cache / 'mnist.npz'}"),
               load_dataset("mnist")):
        np.testing.assert_array_equal(ds.y_train, arrays["y_train"])
        assert ds.x_test.shape == (7, 28, 28, 1)
    assert next(i for i in list_datasets() if i.name == "mnist").available


def test_mnist_resized_to_three_channels(tmp_path):
    write_mnist_dir(tmp_path)
    ds = load_dataset("mnist", data_dir=tmp_path, image_size=14, channels=3)
    assert ds.x_train.shape == (30, 14, 14, 3) and ds.x_train.max() <= 1


@pytest.mark.skipif(not data.SYSTEM_FASHION_DIR.is_dir(), reason="dataset-fashion-mnist absent")
def test_fashion_mnist_system_package():
    ds = load_dataset("fashion-mnist")
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.class_names == data.FASHION_CLASSES and ds.class_names[-1] == "Ankle boot"


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST absent")
def test_real_mnist():
    ds = load_dataset("mnist", data_dir=SHARED_MNIST)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842,
                                                5421, 5918, 6265, 5851, 5949]
    assert ds.x_train.mean() * 255 == pytest.approx(33.318, abs=1e-3)


# ----------------------------------------------------------------- digits

def test_digits():
    ds = load_dataset("digits", seed=3)
    assert ds.x_train.shape == (1437, 8, 8, 1) and ds.x_test.shape == (360, 8, 8, 1)
    assert ds.x_train.dtype == np.float32 and ds.x_train.min() >= 0 and ds.x_train.max() <= 1
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    assert np.bincount(ds.y_test).min() >= 35  # stratified
    again = load_dataset("digits", seed=3)
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(ds.y_train, load_dataset("digits", seed=4).y_train)


@pytest.mark.parametrize("size", [16, 28])
def test_digits_resized(size):
    ds = load_dataset("digits", image_size=size)
    assert ds.x_train.shape == (1437, size, size, 1) and ds.x_test.shape == (360, size, size, 1)
    assert ds.x_train.max() <= 1 and ds.x_train.min() >= 0
    if size == 28:  # MNIST framing: a 4-pixel empty border
        assert ds.x_train[:, :4].max() == 0 and ds.x_train[:, :, -4:].max() == 0


# ----------------------------------------------------------------- folders

def test_folder_unlabelled_png_and_jpeg(tmp_path):
    for i in range(8):
        write_image(tmp_path / f"a{i}.png")
        write_image(tmp_path / f"b{i}.JPG", fmt="JPEG")
    (tmp_path / "notes.txt").write_text("ignored")
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.y_train is None and ds.class_names == ()
    assert ds.x_train.shape == (14, 6, 6, 1) and ds.x_test.shape == (2, 6, 6, 1)
    np.testing.assert_array_equal(ds.x_test, load_dataset(f"folder:{tmp_path}").x_test)


def test_folder_classes_sizes_and_modes(tmp_path):
    modes = ["RGB", "RGBA", "P", "LA", "1", "I;16", "CMYK"]
    for i, mode in enumerate(modes):
        write_image(tmp_path / "cat" / f"{i}.png" if mode != "CMYK" else tmp_path / "cat" / "c.jpg",
                    size=(5 + i, 9), mode=mode)
        write_image(tmp_path / "bird" / f"{i}.gif", size=(8, 8), mode="P")
    write_image(tmp_path / "loose.png")  # ignored once there are class folders
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.class_names == ("bird", "cat")
    assert ds.image_shape == (28, 28, 3)  # mixed sizes -> 28; colour present -> 3 channels
    assert len(ds.x_train) + len(ds.x_test) == 14 and len(ds.x_test) == 1
    assert sorted(np.concatenate([ds.y_train, ds.y_test]).tolist()) == [0] * 7 + [1] * 7
    grey = load_dataset(f"folder:{tmp_path}", image_size=12, channels=1)
    assert grey.image_shape == (12, 12, 1) and 0 <= grey.x_train.min() <= grey.x_train.max() <= 1


def test_folder_single_image_and_odd_names(tmp_path):
    name = os.fsdecode(b"caf\xe9 \xff.png")  # not valid UTF-8
    write_image(tmp_path / name, size=(4, 4), mode="RGB")
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.x_train.shape == (1, 4, 4, 3)
    np.testing.assert_array_equal(ds.x_train, ds.x_test)
    (tmp_path / os.fsdecode(b"z\xfe.png")).write_bytes(b"\x89PNG garbage")
    message = expect_error("not a PNG/JPEG/BMP/GIF image", tmp_path, load_dataset,
                           f"folder:{tmp_path}")
    message.encode("utf-8")  # printable despite the undecodable name


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height, for decompression-bomb checks."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    blob = bytearray(buffer.getvalue())
    blob[16:24] = struct.pack(">II", width, height)
    blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))
    return bytes(blob)


@pytest.mark.parametrize("side", [9000, 10000, 20000])
def test_folder_decompression_bomb(tmp_path, side):
    (tmp_path / "bomb.png").write_bytes(png_claiming(side, side))
    expect_error("decompression bomb", tmp_path / "bomb.png", load_dataset, f"folder:{tmp_path}")


# ----------------------------------------------------------------- npz

def test_npz_x_only(tmp_path):
    np.savez(tmp_path / "d.npz", x=RNG.integers(0, 256, (20, 5, 5), dtype=np.uint8))
    ds = load_dataset(f"npz:{tmp_path / 'd.npz'}", seed=1)
    assert ds.x_train.shape == (18, 5, 5, 1) and ds.x_test.shape == (2, 5, 5, 1)
    assert ds.y_train is None and ds.class_names == ()


def test_npz_x_y(tmp_path):
    x = RNG.uniform(0, 1, (30, 4, 4, 3)).astype(np.float64)
    y = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert ds.image_shape == (4, 4, 3) and ds.class_names == ("0", "1", "2")
    assert len(ds.y_train) == 27 and ds.y_test.dtype == np.int64
    merged = np.concatenate([ds.x_train, ds.x_test])
    np.testing.assert_allclose(np.sort(merged.ravel()), np.sort(x.ravel().astype(np.float32)))


def test_npz_with_test_arrays(tmp_path):
    x, x_test = (RNG.integers(0, 256, (n, 6, 6), dtype=np.uint8) for n in (10, 4))
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 2, x_test=x_test,
             y_test=np.array([4, 0, 1, 1]))
    ds = load_dataset(f"npz:{tmp_path / 'd.npz'}", channels=3)
    assert ds.x_train.shape == (10, 6, 6, 3) and ds.x_test.shape == (4, 6, 6, 3)
    assert ds.class_names == ("0", "1", "2", "3", "4")
    np.testing.assert_allclose(ds.x_test[..., 2] * 255, x_test, atol=1e-3)


# ----------------------------------------------------------------- bad input

def test_missing_paths(tmp_path):
    gone = tmp_path / "gone"
    expect_error("no such folder", gone, load_dataset, f"folder:{gone}")
    expect_error("no such file", gone, load_dataset, f"npz:{gone}")
    expect_error("no such file or folder", gone, load_dataset, "mnist", data_dir=gone)
    expect_error("no such file", gone, read_idx, gone, 1)


def test_empty_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "readme.txt").write_text("no images")
    expect_error("no images", tmp_path, load_dataset, f"folder:{tmp_path}")
    expect_error("no fashion-mnist data there", tmp_path, load_dataset,
                 "fashion-mnist", data_dir=tmp_path)


def test_corrupt_image(tmp_path):
    write_image(tmp_path / "good.png")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    expect_error("corrupt or unreadable image", tmp_path / "bad.jpg", load_dataset,
                 f"folder:{tmp_path}")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_errors(tmp_path, suffix):
    path = tmp_path / f"f{suffix}"
    write_idx(path, np.zeros((2, 3, 3)), magic=b"\x00\x00\x08\x02")
    expect_error("wrong IDX magic number 0x00000802", path, read_idx, path, 3)
    write_idx(path, np.zeros((2, 3, 3)), magic=b"\x08\x03\x00\x00")
    expect_error("wrong IDX magic", path, read_idx, path, 3)
    write_idx(path, np.zeros(4), magic=b"\x00\x00\x0d\x01")
    expect_error("unsupported IDX data type code 0x0d", path, read_idx, path, 1)
    blob = b"\x00\x00\x08\x03" + struct.pack(">3I", 100, 28, 28) + bytes(50)
    path.write_bytes(gzip.compress(blob) if suffix else blob)
    expect_error("truncated IDX file|file holds only 50", path, read_idx, path, 3)
    blob = b"\x00\x00\x08\x02" + struct.pack(">2I", 10**9, 10**9) + bytes(10)
    path.write_bytes(gzip.compress(blob) if suffix else blob)
    expect_error(r"declares shape \(1000000000, 1000000000\)", path, read_idx, path, 2)
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00") if suffix else b"\x00\x00\x08\x01\x00")
    expect_error("truncated IDX header", path, read_idx, path, 1)


def test_idx_not_gzip_and_label_mismatch(tmp_path):
    arrays = write_mnist_dir(tmp_path, gz=False)
    bad = tmp_path / "t10k-labels-idx1-ubyte"
    write_idx(bad, arrays["y_test"][:-1])
    expect_error("label count .* does not match image count 7", tmp_path, load_dataset,
                 "mnist", data_dir=tmp_path)
    write_idx(bad, np.full(7, 12))
    expect_error("labels range over 12..12; expected 0..9", tmp_path, load_dataset,
                 "mnist", data_dir=tmp_path)
    bad.unlink()
    expect_error(r"missing t10k-labels-idx1-ubyte\[.gz\]", tmp_path, load_dataset,
                 "mnist", data_dir=tmp_path)
    gz = tmp_path / "x.gz"
    gz.write_bytes(b"not gzip at all")
    expect_error("cannot read IDX file", gz, read_idx, gz, 3)


@pytest.mark.parametrize("arrays, match", [
    ({"images": np.zeros((3, 4, 4), np.uint8)}, "no array 'x' in the .npz \\(found: images\\)"),
    ({"x": np.zeros((3, 4), np.uint8)}, r"images have shape \(3, 4\); expected"),
    ({"x": np.zeros((3, 4, 4, 2), np.uint8)}, r"images have shape \(3, 4, 4, 2\)"),
    ({"x": np.zeros((0, 4, 4), np.uint8)}, "x holds no images"),
    ({"x": np.zeros((3, 4, 4), np.int32)}, "dtype int32; expected uint8"),
    ({"x": np.full((3, 4, 4), 2.0)}, r"range over \[2, 2\]; expected \[0, 1\]"),
    ({"x": np.full((3, 4, 4), np.nan)}, "contain NaN"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.arange(4)}, "label count .* image count 3"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.ones(3)}, "labels have dtype float64"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.array([0, -1, 2])}, r"labels range over -1\.\.2"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.array([0, 1, 10**6])}, r"expected 0\.\.9999"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "x_test": np.zeros((2, 5, 5), np.uint8)},
     r"x_test images are \(5, 5, 1\)"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.arange(3), "x_test": np.zeros((2, 4, 4))},
     "give both y and y_test"),
    ({"x": np.array([None, 1], dtype=object)}, "cannot read .npz .*pickle"),
])
def test_npz_errors(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    expect_error(match, path, load_dataset, f"npz:{path}")


def test_npz_not_an_archive(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    npy = tmp_path / "a.npy"
    expect_error("not an .npz archive", npy, load_dataset, f"npz:{npy}")
    expect_error("is a folder", tmp_path, load_dataset, f"npz:{tmp_path}")


def test_download_forbidden_or_failing(empty_home, monkeypatch):
    cache = empty_home / ".keras" / "datasets"
    expect_error("downloads are off.*data_dir DIR holding the IDX files or mnist.npz",
                 cache / "mnist.npz", load_dataset, "mnist")
    monkeypatch.delenv("KGEN_OFFLINE")

    def broken(name):
        raise OSError(f"URL fetch failure for {name}\nconnection refused")

    monkeypatch.setattr(data.idx, "_download", broken)
    expect_error("download failed .*connection refused.*apt-get install dataset-fashion-mnist",
                 cache / "fashion-mnist", load_dataset, "fashion-mnist")


def test_download_result_is_validated(empty_home, monkeypatch):
    monkeypatch.delenv("KGEN_OFFLINE")
    x, y = np.zeros((5, 28, 28), np.uint8), np.arange(5, dtype=np.uint8)
    monkeypatch.setattr(data.idx, "_download", lambda name: ((x, y), (x, y)))
    assert load_dataset("mnist").x_train.shape == (5, 28, 28, 1)


def test_unknown_name_and_options():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'; choose one of digits, mnist"):
        load_dataset("cifar")
    with pytest.raises(DatasetError, match="unknown toy"):
        toy_points("blob", 3)
    with pytest.raises(ConfigError):
        load_dataset("digits", channels=2)
    with pytest.raises(ConfigError):
        load_dataset("digits", image_size=0)


# ----------------------------------------------------------------- fuzzing

def idx_bytes(ndim: int, dims: list[int], body: bytes) -> bytes:
    """An IDX-looking blob: valid ubyte magic, any dims, any body."""
    return bytes([0, 0, 8, ndim]) + struct.pack(f">{len(dims)}I", *dims) + body


def corrupted(blob: bytes, edits: list[tuple[int, int]]) -> bytes:
    """blob with the bytes at the given positions replaced."""
    changes = dict(edits)
    return bytes(changes.get(i, b) for i, b in enumerate(blob))


def valid_npz() -> bytes:
    """A small, valid compressed .npz with x and y."""
    buffer = io.BytesIO()
    x = np.arange(32, dtype=np.uint8).reshape(2, 4, 4)
    np.savez_compressed(buffer, x=x, y=np.array([0, 1]))
    return buffer.getvalue()


VALID_NPZ = valid_npz()
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
IDX_LIKE = st.one_of(st.binary(max_size=300),
                     st.builds(idx_bytes, st.integers(0, 5),
                               st.lists(st.integers(0, 2**32 - 1), max_size=4),
                               st.binary(max_size=200)))
NPZ_LIKE = st.one_of(
    st.binary(max_size=300),
    st.lists(st.tuples(st.integers(0, len(VALID_NPZ) - 1), st.integers(0, 255)), max_size=4).map(
        lambda edits: corrupted(VALID_NPZ, edits)),
    st.integers(0, len(VALID_NPZ)).map(lambda n: VALID_NPZ[:n]),
)


@FUZZ
@given(blob=IDX_LIKE, gz_name=st.booleans(), compress=st.booleans(), ndim=st.sampled_from([1, 3]))
def test_fuzz_idx(tmp_path, blob, gz_name, compress, ndim):
    path = tmp_path / ("f.gz" if gz_name else "f")
    path.write_bytes(gzip.compress(blob) if compress else blob)
    try:
        array = read_idx(path, ndim)
    except DatasetError as err:
        assert "\n" not in str(err) and str(path) in str(err)
    else:
        assert array.ndim == ndim and array.dtype == np.uint8


@FUZZ
@given(blob=NPZ_LIKE)
def test_fuzz_npz(tmp_path, blob):
    path = tmp_path / "f.npz"
    path.write_bytes(blob)
    try:
        ds = load_dataset(f"npz:{path}")
    except DatasetError as err:
        assert "\n" not in str(err) and str(path) in str(err)
    else:
        assert isinstance(ds, Dataset) and ds.x_train.dtype == np.float32


# ----------------------------------------------------------------- toys

@pytest.mark.parametrize("name", data.TOYS)
def test_toys(name):
    points = toy_points(name, 500, seed=5)
    assert points.shape == (500, 2) and points.dtype == np.float32
    np.testing.assert_array_equal(points, toy_points(name, 500, seed=5))
    assert not np.array_equal(points, toy_points(name, 500, seed=6))
    assert np.abs(points).max() < 6
    ds = load_dataset(name, seed=2)
    assert ds.kind == "points" and ds.x_train.shape == (10_000, 2) and ds.x_test.shape == (2_000, 2)
    assert ds.y_train is None and ds.class_names == () and ds.num_classes == 0
    assert not np.array_equal(ds.x_train[:2000], ds.x_test)
    with pytest.raises(DatasetError, match="points, not images"):
        _ = ds.image_shape


@pytest.mark.parametrize("name, std", [("ring8", 0.02), ("grid25", 0.05)])
def test_toy_modes(name, std):
    points = toy_points(name, 4000)
    distance = np.linalg.norm(points[:, None] - TOY_MODES[name][None], axis=-1)
    assert distance.min(axis=1).max() < 6 * std
    assert np.bincount(distance.argmin(axis=1), minlength=len(TOY_MODES[name])).min() > 0
    assert len(TOY_MODES["ring8"]) == 8 and len(TOY_MODES["grid25"]) == 25
    np.testing.assert_allclose(np.linalg.norm(TOY_MODES["ring8"], axis=1), 2, rtol=1e-6)


# ----------------------------------------------------------------- pipeline

def test_pipeline_batches_and_epoch():
    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    shapes = [b.shape[0] for b in make_pipeline(x, batch_size=4, seed=1)]
    assert shapes == [4, 4, 2]
    assert [b.shape[0] for b in make_pipeline(x, batch_size=4, drop_remainder=True)] == [4, 4]
    pairs = list(make_pipeline(x, y, batch_size=3, seed=2))
    seen = np.concatenate([yb.numpy() for _, yb in pairs])
    assert sorted(seen.tolist()) == list(range(10))
    for xb, yb in pairs:
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy() * 3)
    ordered = np.concatenate([b.numpy() for b in make_pipeline(x, batch_size=3, shuffle=False)])
    np.testing.assert_array_equal(ordered, x)
    endless = make_pipeline(x, batch_size=4, repeat=True).take(5)
    assert sum(b.shape[0] for b in endless) == 20


def test_pipeline_validates():
    with pytest.raises(ConfigError, match="batch_size"):
        make_pipeline(np.zeros((3, 2)), batch_size=0)
    with pytest.raises(DatasetError, match="2 labels for 3 samples"):
        make_pipeline(np.zeros((3, 2)), np.zeros(2), batch_size=1)


# ----------------------------------------------------------------- listing

def test_list_datasets(empty_home):
    infos = {info.name: info for info in list_datasets()}
    assert set(data.BUILTINS) <= set(infos)
    assert all(infos[name].available for name in ("digits", *data.TOYS))
    for name in ("mnist", "fashion-mnist"):
        assert not infos[name].available
        assert "KGEN_OFFLINE" in infos[name].detail and "data_dir" in infos[name].detail
        assert str(empty_home / ".keras" / "datasets") in infos[name].detail
    assert "apt-get install dataset-fashion-mnist" in infos["fashion-mnist"].detail


def test_list_datasets_with_data_dir(tmp_path, empty_home, monkeypatch):
    write_mnist_dir(tmp_path / "m")
    infos = {info.name: info for info in list_datasets(tmp_path / "m")}
    assert infos["mnist"].available and str(tmp_path / "m") in infos["mnist"].detail
    monkeypatch.delenv("KGEN_OFFLINE")
    infos = {info.name: info for info in list_datasets()}
    assert infos["mnist"].available and "download" in infos["mnist"].detail
    assert not list_datasets(tmp_path / "gone")[1].available
