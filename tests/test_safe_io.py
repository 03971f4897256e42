"""kgen.safe_io: outside files are read only when they are regular files, images only in the
promised formats and within a pixel budget, paths only inside their root."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

from kgen.errors import KgenError
from kgen.safe_io import (
    ImageError,
    NotRegularFileError,
    inside,
    is_regular_file,
    open_image,
    open_regular,
    read_bytes,
    read_picture,
    read_text,
)

POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n{ } loop\n"


def _in_time(function, seconds: float = 5.0):
    """Run ``function`` in a thread; fail (instead of hanging the suite) if it blocks."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as err:  # handed back to the test
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for over {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_regular_files_are_read(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello world")
    assert read_bytes(path, 5) == b"hello"
    assert read_bytes(path, 100, offset=6) == b"world"
    assert read_text(path, 11) == "hello world"
    assert is_regular_file(path)
    with open_regular(path, "r") as f:
        assert f.read() == "hello world"


def test_text_over_its_limit_is_refused(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 101)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        read_text(path, 100)


@pytest.mark.parametrize("make", ["fifo", "folder", "device"])
def test_special_files_are_refused_at_once(tmp_path, make):
    path = {"fifo": tmp_path / "events.jsonl", "folder": tmp_path, "device": "/dev/zero"}[make]
    if make == "fifo":
        os.mkfifo(path)  # nobody ever writes: a plain open() would block for good
    with pytest.raises(NotRegularFileError, match="not a regular file"):
        _in_time(lambda: read_bytes(path, 10))
    assert not is_regular_file(path)
    with pytest.raises(OSError):  # a NotRegularFileError is an OSError: existing handlers catch it
        _in_time(lambda: read_picture(path))


def test_write_modes_are_not_offered(tmp_path):
    with pytest.raises(ValueError):
        open_regular(tmp_path / "x", "wb")


def test_postscript_named_png_never_reaches_a_postscript_decoder(tmp_path, monkeypatch):
    Image.init()
    eps_class, _ = Image.OPEN["EPS"]
    asked = []
    monkeypatch.setitem(Image.OPEN, "EPS", (eps_class, lambda prefix: asked.append(prefix) and False))
    path = tmp_path / "x.png"
    path.write_bytes(POSTSCRIPT)
    start = time.monotonic()
    with pytest.raises(ImageError, match="not a PNG/JPEG/BMP/GIF image"):
        _in_time(lambda: open_image(path).__enter__())
    assert time.monotonic() - start < 2
    assert not asked  # the EPS plugin (which runs Ghostscript) was never consulted
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(path)  # a plain open, as kgen did before, does ask it
    assert asked


def test_allowed_formats_decode(tmp_path):
    pixels = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)
    for suffix in ("png", "jpg", "bmp", "gif"):
        path = tmp_path / f"a.{suffix}"
        Image.fromarray(pixels).save(path)
        with open_image(path) as image:
            assert image.size == (8, 8)
    assert read_picture(tmp_path / "a.png").shape == (8, 8)
    with pytest.raises(ImageError):  # a run's pictures are PNGs only
        read_picture(tmp_path / "a.jpg")


def test_tiff_is_not_among_the_formats(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(path, format="TIFF")
    with pytest.raises(ImageError, match="not a PNG"):
        read_picture(path)


def test_small_file_decoding_to_a_huge_picture_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((12000, 12000), bool)).save(path)  # 1-bit: about 17 KB on disk
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageError, match="decompression bomb"):
        read_picture(path)
    with pytest.raises(ImageError, match="over the limit of 100"):
        read_picture(_png(tmp_path / "small.png", 11, 10), max_pixels=100)


def _png(path, width, height):
    Image.fromarray(np.zeros((height, width), np.uint8)).save(path)
    return path


def test_pil_bomb_error_becomes_one_line(tmp_path):
    # A header claiming 20000 x 20000 pixels: PIL itself raises DecompressionBombError (not an
    # OSError) at open; it must come out as an ImageError, a KgenError.
    path = _png(tmp_path / "huge.png", 8, 8)
    data = bytearray(path.read_bytes())
    import struct
    import zlib

    data[16:24] = struct.pack(">II", 20000, 20000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    with pytest.raises(KgenError) as info:
        read_picture(path)
    assert "\n" not in str(info.value) and "decompression bomb" in str(info.value)


def test_truncated_png_is_not_ready_yet(tmp_path):
    path = _png(tmp_path / "a.png", 64, 64)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])  # a copy still arriving on a shared folder
    with pytest.raises(OSError):
        read_picture(path)


def test_inside_keeps_paths_in_their_root(tmp_path):
    (tmp_path / "run" / "samples").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"")
    (tmp_path / "run" / "samples" / "link.png").symlink_to(tmp_path / "secret.png")
    root = tmp_path / "run"
    assert inside(root, "samples/epoch_0001.png") == (root / "samples" / "epoch_0001.png").resolve()
    assert inside(root, "samples/../samples/a.png") == (root / "samples" / "a.png").resolve()
    for escaping in ("../secret.png", "samples/../../secret.png", str(tmp_path / "secret.png"),
                     "/etc/passwd", "samples/link.png", "", ".", "a\x00b"):
        assert inside(root, escaping) is None, escaping
    for not_a_path in (None, 3, ["a"], {"a": 1}):
        assert inside(root, not_a_path) is None
