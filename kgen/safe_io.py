"""Reading files a user or another process handed to kgen without being fooled by them, and
writing kgen's own files so that none is ever half-written.

Every reader of outside files goes through here: only regular files are opened (a FIFO, a
device or a socket named like a data file would block or stream for ever), reads are bounded,
and images are decoded only in the formats kgen promises, with a pixel budget checked before
any pixel is decoded (PIL would otherwise hand a PostScript file named ``x.png`` to Ghostscript,
or decode a 17 KB PNG into 432 MB). Every file kgen writes goes through `atomic_path`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from kgen.errors import KgenError, RunError, one_line, show_path

# What PIL may decode, by its format names: what the README promises for folder datasets.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF")
# Pictures a run writes (sample grids) are PNGs only.
RUN_PICTURE_FORMATS = ("PNG",)
# Pixels a picture kgen shows may hold (a sample grid of 64 images of 64x64 px is 0.26 million).
MAX_PICTURE_PIXELS = 4096 * 4096


class NotRegularFileError(OSError):
    """A path that exists but is a FIFO, device, socket or folder where a file was expected."""


class IncompleteImageError(OSError):
    """An image file cut short: a partial copy (perhaps still arriving), or a truncated file."""


class ImageError(KgenError):
    """An image kgen will not decode: not an allowed format, too large, or corrupt."""


def open_regular(path: str | os.PathLike, mode: str = "rb") -> IO:
    """Open an existing regular file for reading without ever blocking on a FIFO or device.

    The file is opened non-blocking, checked with fstat, then used as an ordinary file object.
    Raises FileNotFoundError and the like as ``open`` does, and `NotRegularFileError` for
    anything that is not a regular file.
    """
    if mode not in ("rb", "r"):
        raise ValueError(f"open_regular reads only, got mode {mode!r}")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"not a regular file ({_kind(info.st_mode)})", os.fspath(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **({"encoding": "utf-8", "errors": "replace"} if mode == "r" else {}))
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a plain file"


def read_bytes(path: str | os.PathLike, limit: int, offset: int = 0) -> bytes:
    """At most ``limit`` bytes of a regular file from ``offset``."""
    with open_regular(path) as f:
        f.seek(offset)
        return f.read(limit)


def read_text(path: str | os.PathLike, limit: int) -> str:
    """A regular text file of at most ``limit`` bytes (UTF-8); a larger one is refused."""
    data = read_bytes(path, limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", os.fspath(path))
    return data.decode("utf-8", errors="replace")


def is_regular_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file (following links), without opening it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def open_image(path: str | os.PathLike, *, formats: tuple[str, ...] = IMAGE_FORMATS,
               max_pixels: int = MAX_PICTURE_PIXELS) -> Iterator:
    """A PIL image of a regular file (header read, pixels not yet decoded), if it is one of
    ``formats`` and holds at most ``max_pixels`` pixels; any other file is an `ImageError`.

    OSError (missing, unreadable, not a regular file) passes through as it is; a header cut short
    (a partial copy) is an OSError too.
    """
    from PIL import Image

    with open_regular(path) as f, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(f, formats=list(formats))
        except Image.UnidentifiedImageError:
            raise ImageError(f"not a {'/'.join(formats)} image") from None
        except OSError as err:  # a header cut short: a partial copy, perhaps still arriving
            raise IncompleteImageError(errno.EAGAIN, f"incomplete image ({_first_line(err)})", os.fspath(path)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise ImageError(f"refused as a possible decompression bomb ({_first_line(err)})") from None
        except Exception as err:  # PIL raises many types for corrupt headers
            raise ImageError(f"corrupt or unreadable image ({type(err).__name__}: {_first_line(err)})") from None
        with image:
            if image.width * image.height > max_pixels:
                raise ImageError(f"{image.width}x{image.height} pixels is over the limit of "
                                 f"{max_pixels:,}, refused as a possible decompression bomb")
            yield image


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return " ".join(text.split("\n")[0].split()) if text else type(err).__name__


def read_picture(path: str | os.PathLike, *, formats: tuple[str, ...] = RUN_PICTURE_FORMATS,
                 max_pixels: int = MAX_PICTURE_PIXELS):
    """A picture file as a uint8 (H, W) or (H, W, 3) array, within the format and size limits.

    Raises OSError while the file is missing or not a regular file, `ImageError` otherwise.
    """
    import numpy as np

    with open_image(path, formats=formats, max_pixels=max_pixels) as image:
        try:
            return np.array(image if image.mode in ("L", "RGB") else image.convert("RGB"))
        except OSError as err:  # truncated data: a partial copy, perhaps still arriving
            raise IncompleteImageError(errno.EAGAIN, f"incomplete image ({_first_line(err)})", os.fspath(path)) from None


def inside(root: str | os.PathLike, relative: str | os.PathLike) -> Path | None:
    """``root / relative`` if it stays inside ``root`` once links and ``..`` are resolved, else None.

    Absolute paths, ``..`` escapes and links pointing out of ``root`` all give None.
    """
    try:
        text = os.fspath(relative)
        if not isinstance(text, str) or not text or "\x00" in text or os.path.isabs(text):
            return None
        base = Path(root).resolve()
        target = (base / text).resolve()
    except (OSError, ValueError, RuntimeError, TypeError):
        return None
    return target if target != base and base in target.parents else None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it into place.

    A crash at any moment leaves either the old file or the complete new one, never a torn one.
    An OSError (a full disk, a read-only folder) becomes a one-line RunError naming ``path``.
    """
    path = Path(path)
    tmp = path.parent / f".{path.stem}-{secrets.token_hex(6)}{path.suffix}"
    created = False  # only a temporary this call created is ever deleted
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created with the umask's permissions (unlike mkstemp's 0600), as a plain write would be.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        created = True
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        kept = "the previous file is kept" if path.exists() else "nothing was written"
        raise RunError(f"cannot write {show_path(path)}: {err.strerror or one_line(err)} ({kept})") from err
    finally:
        if created:
            tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
