"""Datasets read safely (issue 13, points 2, 6, 7 and 8): images only in the promised formats,
never a FIFO or device, .npz arrays checked from their headers and read only when used, and a
folder cache that checks sizes before writing, honours $KGEN_CACHE_DIR, evicts and repairs itself."""

import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kgen.data import files, list_datasets, load_dataset, read_idx
from kgen.errors import ConfigError, DatasetError, one_line

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n{ } loop\n"
REPO = Path(__file__).parents[1]


def image(path: Path, size: int = 8, value: int = 0, fmt: str | None = None) -> Path:
    """A small grey image file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path, format=fmt)
    return path


def folder_of(tmp_path: Path, name: str = "data", count: int = 10) -> Path:
    """``count`` distinct 8x8 grey PNGs in two class folders."""
    for i in range(count):
        image(tmp_path / name / f"c{i % 2}" / f"{i:02d}.png", value=10 * i)
    return tmp_path / name


def refused(call, match: str, fifo: Path | None = None) -> str:
    """The one-line DatasetError ``call`` raises within 5 s; a call still blocked on ``fifo``
    then is released (by opening the FIFO's other end) and the test fails."""
    outcome = {}

    def run():
        try:
            call()
        except Exception as err:  # noqa: BLE001 (reported below)
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():
        if fifo is not None:  # a blocked reader: give it an end of file so the thread ends
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"blocked for 5 s on {fifo}")
    error = outcome.get("error")
    assert isinstance(error, DatasetError), f"expected a DatasetError, got {error!r}"
    message = one_line(error)
    assert "\n" not in str(error) and re.search(match, message), message
    return message


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A private folder cache, and every folder streamed through it however small."""
    monkeypatch.setenv("KGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "STREAM_BYTES", 0)
    return tmp_path / "cache" / "folders"


def no_decoding(monkeypatch) -> None:
    """Make any decoding of an image file fail the test."""
    def decoded(*args):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(files, "_decoded", decoded)


# ----------------------------------------------------------------- point 2: image formats

def test_a_postscript_file_named_png_never_reaches_the_eps_plugin(tmp_path, monkeypatch):
    (tmp_path / "x.png").write_bytes(EPS)
    Image.init()
    asked = []
    factory, accept = Image.OPEN["EPS"]
    monkeypatch.setitem(Image.OPEN, "EPS", (lambda *a: asked.append("open") or factory(*a),
                                            lambda prefix: asked.append("accept") or accept(prefix)))
    refused(lambda: load_dataset(f"folder:{tmp_path}"), r"x\.png: not a PNG/JPEG/BMP/GIF image")
    assert asked == []  # PIL never even asked the EPS plugin (which hands files to Ghostscript)


@pytest.mark.skipif(shutil.which("gs") is None, reason="Ghostscript is not installed")
def test_with_ghostscript_installed_training_on_it_ends_at_once(tmp_path):
    (tmp_path / "E").mkdir()
    (tmp_path / "E" / "x.png").write_bytes(EPS)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "kgen.cli", "train", "vae", "--dataset", f"folder:{tmp_path / 'E'}",
                           "--epochs", "1", "--batch-size", "1", "--out", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=60)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert last.startswith("kgen: error: ") and last.endswith("x.png: not a PNG/JPEG/BMP/GIF image")


@pytest.mark.parametrize("fmt", ["TIFF", "PPM", "ICO"])
def test_formats_the_readme_does_not_promise_are_refused(tmp_path, fmt):
    image(tmp_path / "a.png", fmt=fmt)
    refused(lambda: load_dataset(f"folder:{tmp_path}"), "a.png: not a PNG/JPEG/BMP/GIF image")


def test_a_12000_pixel_1_bit_png_is_refused_before_decoding(tmp_path):
    Image.new("1", (12000, 12000)).save(tmp_path / "bit.png")
    assert (tmp_path / "bit.png").stat().st_size < 20_000  # 17 KB that would decode to 432 MB
    tracemalloc.start()
    try:
        refused(lambda: load_dataset(f"folder:{tmp_path}"), "bit.png: refused as a possible decompression bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**24


# ----------------------------------------------------------------- point 6: FIFOs and devices

def test_a_fifo_as_npz_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "d.npz")
    refused(lambda: load_dataset(f"npz:{tmp_path / 'd.npz'}"), r"d\.npz: .*not a regular file \(a FIFO\)",
            fifo=tmp_path / "d.npz")


def test_a_device_as_npz_is_refused():
    refused(lambda: load_dataset("npz:/dev/zero"), r"/dev/zero: .*not a regular file \(a character device\)")


def test_a_fifo_as_an_idx_file_is_refused_at_once(tmp_path):
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        os.mkfifo(tmp_path / stem)
    fifo = tmp_path / "train-images-idx3-ubyte"
    refused(lambda: read_idx(fifo, 3), r"train-images-idx3-ubyte: .*not a regular file", fifo=fifo)
    refused(lambda: load_dataset("mnist", data_dir=tmp_path), "train-images-idx3-ubyte: not a regular file",
            fifo=fifo)


def test_a_fifo_inside_an_image_folder_is_refused_at_once(tmp_path):
    image(tmp_path / "a.png")
    os.mkfifo(tmp_path / "b.png")  # was skipped silently: the dataset lost a file without a word
    refused(lambda: load_dataset(f"folder:{tmp_path}"), r"b\.png: cannot read image \(not a regular file \(a FIFO\)\)",
            fifo=tmp_path / "b.png")


def test_the_dataset_list_never_blocks_and_names_a_fifo(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    os.mkfifo(tmp_path / "keras" / "datasets" / "mnist.npz")
    os.mkfifo(tmp_path / "train-images-idx3-ubyte")
    started = time.monotonic()
    cached = {info.name: info for info in list_datasets()}
    given = {info.name: info for info in list_datasets(tmp_path)}
    assert time.monotonic() - started < 5
    assert not cached["mnist"].available and "mnist.npz: not a regular file" in cached["mnist"].detail
    assert not given["mnist"].available and "train-images-idx3-ubyte: not a regular file" in given["mnist"].detail


# ----------------------------------------------------------------- point 7: .npz arrays

def write_npz(path: Path, arrays: dict[str, np.ndarray], lying: dict[str, tuple] | None = None) -> Path:
    """An .npz of ``arrays``, plus members whose .npy header declares the given shape of uint8
    while holding 1 KB of data (compressed, as np.savez_compressed would)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, array)
        for key, shape in (lying or {}).items():
            with archive.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
                f.write(bytes(1024))
    return path


IMAGES = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 1), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(16, 0, 0, 1), (16, 8, 0, 1), (16, 0, 8)])
def test_images_with_a_zero_side_are_refused(tmp_path, shape):
    path = write_npz(tmp_path / "d.npz", {"x": np.zeros(shape, np.uint8)})
    refused(lambda: load_dataset(f"npz:{path}"), r"d\.npz x: images have shape .*, with a side of 0 pixels")


def test_an_empty_x_test_is_refused(tmp_path):
    path = write_npz(tmp_path / "d.npz", {"x": IMAGES, "x_test": IMAGES[:0]})
    refused(lambda: load_dataset(f"npz:{path}"), r"d\.npz x_test holds no images")


def test_arrays_kgen_does_not_use_are_never_read(tmp_path):
    # "junk" declares 2**40 bytes (and holds 1 KB): reading it would fail, or fill memory.
    path = write_npz(tmp_path / "d.npz", {"x": IMAGES, "notes": np.arange(3)}, lying={"junk": (2**40,)})
    assert load_dataset(f"npz:{path}").x_train.shape == (18, 8, 8, 1)


def test_an_unused_large_array_costs_no_memory(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, x=IMAGES, unused=np.zeros(2**26, np.uint8))  # 64 MiB in 65 KB
    tracemalloc.start()
    try:
        load_dataset(f"npz:{path}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**23


def test_a_used_array_over_the_budget_is_refused_from_its_header(tmp_path):
    path = write_npz(tmp_path / "d.npz", {}, lying={"x": (2**20, 64, 64)})  # 4 GiB declared, 1 KB held
    tracemalloc.start()
    try:
        refused(lambda: load_dataset(f"npz:{path}"), r"d\.npz x: declares shape \(1048576, 64, 64\) of uint8 = "
                r"4,294,967,296 bytes, over the 2,147,483,648-byte limit")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**22


def test_a_used_array_declaring_more_than_it_holds_is_refused(tmp_path):
    path = write_npz(tmp_path / "d.npz", {}, lying={"x": (100, 8, 8)})
    refused(lambda: load_dataset(f"npz:{path}"), r"d\.npz x: declares 6,400 bytes of data, the archive holds 1,024")


def test_images_larger_than_a_model_takes_need_an_image_size(tmp_path):
    path = write_npz(tmp_path / "d.npz", {"x": np.zeros((2, 600, 600), np.uint8)})
    refused(lambda: load_dataset(f"npz:{path}"), r"images are 600x600 pixels, over the 512 a side .*image_size")
    assert load_dataset(f"npz:{path}", image_size=16).image_shape == (16, 16, 1)
    with pytest.raises(ConfigError, match="image_size must be 1 to 512, got 100000"):
        load_dataset(f"npz:{path}", image_size=100_000)


# ----------------------------------------------------------------- point 8: the folder cache

def cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.npy")) if directory.exists() else []


@pytest.mark.parametrize("side", [600, 8192])
def test_images_too_large_are_refused_before_anything_is_decoded_or_cached(tmp_path, cache, monkeypatch, side):
    for i in range(5):
        if side == 600:
            image(tmp_path / "big" / f"{i}.png", size=side, value=i)
        else:  # an 8192x8192 header over 1 pixel of data: what the 326 KB PNGs of the probe declare
            buffer = io.BytesIO()
            Image.new("L", (8192, 8192)).save(buffer, format="PNG")
            (tmp_path / "big").mkdir(exist_ok=True)
            (tmp_path / "big" / f"{i}.png").write_bytes(buffer.getvalue())
    no_decoding(monkeypatch)
    refused(lambda: load_dataset(f"folder:{tmp_path / 'big'}"),
            rf"big: images are {side}x{side} pixels, over the 512 a side a model takes")
    assert cache_files(cache) == []


def test_a_folder_over_the_cache_budget_is_refused_before_decoding(tmp_path, cache, monkeypatch):
    folder = folder_of(tmp_path)
    monkeypatch.setenv("KGEN_CACHE_BYTES", "1000")  # 10 images of 8x8x1 float32 take 2,560 bytes
    no_decoding(monkeypatch)
    refused(lambda: load_dataset(f"folder:{folder}"), r"data: 10 images of 8x8x1 decode to 0\.0 MiB, over the 0\.0 MiB folder cache budget; .*KGEN_CACHE_BYTES")
    assert cache_files(cache) == []


def test_a_full_disk_is_refused_before_decoding(tmp_path, cache, monkeypatch):
    folder = folder_of(tmp_path)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12, 2**20))
    no_decoding(monkeypatch)
    refused(lambda: load_dataset(f"folder:{folder}"), r"data: decoding it needs .* which has 1\.0 MiB free")
    assert cache_files(cache) == []


def test_the_cache_honours_kgen_cache_dir_first(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load_dataset(f"folder:{folder_of(tmp_path)}")
    assert len(cache_files(cache)) == 1 and not (tmp_path / "xdg").exists()
    monkeypatch.delenv("KGEN_CACHE_DIR")
    assert files.folder_cache_dir() == tmp_path / "xdg" / "kgen" / "folders"


@pytest.mark.parametrize("damage", ["empty", "half a header", "half the pixels", "not an array", "a FIFO"])
def test_a_damaged_cache_file_is_rebuilt(tmp_path, cache, damage):
    folder = folder_of(tmp_path)
    first = load_dataset(f"folder:{folder}")
    (path,) = cache_files(cache)
    blob = path.read_bytes()
    path.unlink()
    if damage == "a FIFO":
        os.mkfifo(path)
    else:
        path.write_bytes({"empty": b"", "half a header": blob[:40], "half the pixels": blob[:len(blob) // 2],
                          "not an array": b"PK\x03\x04 not even a zip"}[damage])
    again = load_dataset(f"folder:{folder}")  # was: ValueError: EOF: reading array header
    np.testing.assert_array_equal(again.x_train, first.x_train)
    np.testing.assert_array_equal(again.x_test, first.x_test)
    assert path.read_bytes() == blob


def test_a_new_seed_reuses_the_decoded_pixels(tmp_path, cache, monkeypatch):
    folder = folder_of(tmp_path)
    load_dataset(f"folder:{folder}", seed=0)
    monkeypatch.setattr(files, "STREAM_BYTES", 2**30)
    in_memory = load_dataset(f"folder:{folder}", seed=1)
    monkeypatch.setattr(files, "STREAM_BYTES", 0)
    no_decoding(monkeypatch)
    streamed = load_dataset(f"folder:{folder}", seed=1)  # built from the seed-0 cache, no image decoded
    assert files.is_memory_mapped(streamed.x_train)
    for part in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(streamed, part), getattr(in_memory, part))


def test_the_cache_stays_under_its_budget_least_recently_used_first(tmp_path, cache, monkeypatch):
    folders = [folder_of(tmp_path, name) for name in ("a", "b", "c")]
    entry = 128 + 10 * 8 * 8 * 4  # header and pixels of one folder's cache file
    monkeypatch.setenv("KGEN_CACHE_BYTES", str(2 * entry))
    made = {}
    for name, folder in zip("ab", folders, strict=False):
        load_dataset(f"folder:{folder}")
        made[name] = set(cache_files(cache)) - set().union(*made.values())
        time.sleep(0.01)
    load_dataset(f"folder:{folders[0]}")  # a is used again: b is now the least recently used
    time.sleep(0.01)
    load_dataset(f"folder:{folders[2]}")
    left = set(cache_files(cache))
    assert made["a"] <= left and not made["b"] & left and len(left) == 2
    assert sum(p.stat().st_size for p in left) <= 2 * entry


def test_a_crashed_writes_temporary_is_cleaned_up(tmp_path, cache):
    cache.mkdir(parents=True)
    stale = cache / ".0123456789abcdef01234567-s0-a1b2c3d4e5f6.npy"
    stale.write_bytes(bytes(100))
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    load_dataset(f"folder:{folder_of(tmp_path)}")
    assert not stale.exists() and len(cache_files(cache)) == 1


def test_a_bad_stream_or_cache_budget_is_one_line(tmp_path, monkeypatch):
    folder = folder_of(tmp_path)
    for name in ("KGEN_STREAM_BYTES", "KGEN_CACHE_BYTES"):
        monkeypatch.setenv(name, "lots")
        monkeypatch.setattr(files, "STREAM_BYTES", 0)
        with pytest.raises(ConfigError, match=f"{name} must be a whole number of bytes, got 'lots'"):
            load_dataset(f"folder:{folder}")
        monkeypatch.delenv(name)


def test_a_callers_shape_check_runs_before_decoding_or_caching(tmp_path, cache, monkeypatch):
    folder = folder_of(tmp_path)
    seen = []

    def check(shape):
        seen.append(shape)
        raise ConfigError("too big for this model")

    no_decoding(monkeypatch)
    with pytest.raises(ConfigError, match="too big for this model"):
        load_dataset(f"folder:{folder}", image_size=12, channels=3, check_shape=check)
    assert seen == [(12, 12, 3)] and cache_files(cache) == []
    path = write_npz(tmp_path / "d.npz", {"x": IMAGES})
    with pytest.raises(ConfigError):
        load_dataset(f"npz:{path}", image_size=16, check_shape=check)
    assert seen[-1] == (16, 16, 1)


def test_large_images_of_mixed_or_oblong_sizes_still_default_to_28(tmp_path):
    image(tmp_path / "a.png", size=600)
    Image.new("L", (700, 600)).save(tmp_path / "b.png")
    assert load_dataset(f"folder:{tmp_path}").image_shape == (28, 28, 1)
