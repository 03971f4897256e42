"""Run directories: the on-disk record of one training run, written so nothing is ever half-saved.

Layout of ``runs/<name>/``::

    config.json               everything needed to rebuild the run (RunConfig.to_dict())
    external.json             instead of config.json in runs recorded by kgen.monitor.RunLogger
    events.jsonl              one JSON object a line, flushed as written, for live followers
    samples/epoch_NNNN.png    sample grid from the run's fixed noise
    checkpoints/latest-NNNN.keras, best.keras, best.json
    checkpoints/interrupted-NNNN-BBBBBB.keras   a stop inside epoch N+1, after B batches (kgen.guards)
    model.keras               the final model (generator.keras too for GANs: G on its own)
    tb/                       TensorBoard scalars and image grids
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kgen.config import RunConfig
from kgen.errors import ConfigError, RunError, one_line

CONFIG_FILE = "config.json"
EXTERNAL_FILE = "external.json"  # instead of config.json: a run kgen.monitor.RunLogger recorded
EVENTS_FILE = "events.jsonl"
MODEL_FILE = "model.keras"
_LATEST = re.compile(r"^latest-(\d{4,})\.keras$")
_INTERRUPTED = re.compile(r"^interrupted-(\d{4,})-(\d{6,})\.keras$")
_TEMPORARY = re.compile(r"^\..+-[0-9a-f]{12}(\.\w+)?$")  # atomic_path's names


def interrupted_checkpoint_name(epochs: int, batches: int) -> str:
    """The checkpoint of a stop after ``epochs`` whole epochs and ``batches`` batches of the next."""
    return f"interrupted-{epochs:04d}-{batches:06d}.keras"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it into place.

    A crash at any moment leaves either the old file or the complete new one, never a torn one.
    An OSError (a full disk, a read-only folder) becomes a one-line RunError naming ``path``.
    """
    path = Path(path)
    tmp = path.parent / f".{path.stem}-{secrets.token_hex(6)}{path.suffix}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created with the umask's permissions (unlike mkstemp's 0600), as a plain write would be.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        kept = "the previous file is kept" if path.exists() else "nothing was written"
        raise RunError(f"cannot write {path}: {err.strerror or one_line(err)} ({kept})") from err
    finally:
        tmp.unlink(missing_ok=True)


def remove_temporaries(directory: str | os.PathLike) -> None:
    """Delete the temporary files a crash inside `atomic_path` left in ``directory``."""
    with contextlib.suppress(OSError):
        for p in Path(directory).iterdir():
            if _TEMPORARY.match(p.name) and p.is_file():
                p.unlink(missing_ok=True)


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


class Run:
    """One run directory: where each of its files lives, and reading and writing them."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    config_path = property(lambda self: self.path / CONFIG_FILE)
    external_path = property(lambda self: self.path / EXTERNAL_FILE)
    events_path = property(lambda self: self.path / EVENTS_FILE)
    samples_dir = property(lambda self: self.path / "samples")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    tb_dir = property(lambda self: self.path / "tb")
    model_path = property(lambda self: self.path / MODEL_FILE)
    generator_path = property(lambda self: self.path / "generator.keras")  # GANs: G alone
    best_path = property(lambda self: self.checkpoints_dir / "best.keras")

    @classmethod
    def create(cls, path: str | os.PathLike, config: RunConfig) -> Run:
        """Make a new run directory holding ``config``; refuse one that already has a run."""
        run = cls(path)
        if run.config_path.exists():
            raise RunError(f"{run.path} already holds a run; use --resume {run.path} or another --out")
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunError(f"cannot create run directory {run.path}: {err.strerror}") from err
        run.save_config(config)
        return run

    def save_config(self, config: RunConfig) -> None:
        atomic_write_text(self.config_path, json.dumps(config.to_dict(), indent=2) + "\n")

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        """An existing run directory; a clear error if it is missing or not a kgen run."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunError(f"{run.path}: no such run directory")
        if not run.config_path.is_file():
            if run.external_path.is_file():
                raise RunError(f"{run.path} was recorded from a script's own model.fit (RunLogger): it has "
                               "curves to follow (kgen gui RUN) but no kgen model config")
            raise RunError(f"{run.path} is not a kgen run directory (no {CONFIG_FILE})")
        run.config()  # validates
        return run

    @classmethod
    def open_followable(cls, path: str | os.PathLike) -> Run:
        """An existing run directory to follow read-only: kgen's, or one RunLogger recorded."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunError(f"{run.path}: no such run directory")
        if not any(p.is_file() for p in (run.config_path, run.external_path, run.events_path)):
            raise RunError(f"{run.path} is not a run directory (no {CONFIG_FILE}, {EXTERNAL_FILE} or {EVENTS_FILE})")
        return run

    def config(self) -> RunConfig:
        try:
            data = json.loads(self.config_path.read_text(encoding="utf-8"))
            return RunConfig.from_dict(data)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RunError(f"{self.config_path}: unreadable run config ({err})") from err
        except ConfigError as err:
            raise RunError(f"{self.config_path}: {err}") from err

    def sample_path(self, epoch: int) -> Path:
        return self.samples_dir / f"epoch_{epoch:04d}.png"

    def latest_checkpoint(self) -> tuple[Path, int] | None:
        """The newest complete checkpoint and the number of whole epochs it has done, if any.

        An ``interrupted-NNNN-BBBBBB`` checkpoint (N epochs plus B batches) beats ``latest-NNNN``.
        """
        found = []
        if self.checkpoints_dir.is_dir():
            for p in self.checkpoints_dir.iterdir():
                if m := _LATEST.match(p.name):
                    found.append(((int(m.group(1)), 0), p))
                elif m := _INTERRUPTED.match(p.name):
                    found.append(((int(m.group(1)), int(m.group(2))), p))
        if not found:
            return None
        (epoch, _), path = max(found)
        return path, epoch

    def best_record(self) -> dict[str, Any] | None:
        path = self.checkpoints_dir / "best.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None


class EventLog:
    """Appends one JSON object a line to ``events.jsonl``, flushed at once for live followers."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        if self._file.tell() and not _ends_with_newline(self.path):
            self._file.write("\n")  # end a line torn by a crash, so it stays one garbled line

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "time": round(time.time(), 3), **fields}
        try:
            self._file.write(json.dumps(event, allow_nan=True) + "\n")
            self._file.flush()
        except OSError as err:  # a full disk: say which file
            raise RunError(f"cannot write {self.path}: {err.strerror or one_line(err)}") from err
        return event

    def close(self) -> None:
        """Sync and close; quietly on a full disk, whose error the failed write already raised."""
        if not self._file.closed:
            with contextlib.suppress(OSError):
                os.fsync(self._file.fileno())
            with contextlib.suppress(OSError):
                self._file.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_events(path: str | os.PathLike, max_bytes: int | None = None) -> list[dict[str, Any]]:
    """Every complete, current, valid event in an ``events.jsonl`` (`kgen.events`); a torn,
    garbled or invalid line is skipped. Only a regular file is read (a FIFO gives no events),
    and at most its first ``max_bytes`` when given.

    A resume from epoch E starts with a "start" event whose ``initial_epoch`` is E: the events of
    later epochs logged before it (work a crash or a mid-epoch stop lost) are dropped, so every
    epoch appears once.
    """
    from kgen.events import MAX_LINE_BYTES, parse_line
    from kgen.safe_io import open_regular

    events = []
    read = 0
    try:
        with open_regular(path) as f:
            while max_bytes is None or read < max_bytes:
                line = f.readline(MAX_LINE_BYTES + 1)
                read += len(line)
                if not line.endswith(b"\n"):
                    if len(line) <= MAX_LINE_BYTES:
                        break  # the end: a line still being written, or torn by a crash
                    _skip_line(f)  # a line too long to be an event
                    continue
                event, _ = parse_line(line)
                if event is not None:
                    events.append(event)
    except OSError:  # missing, unreadable, or not a regular file
        return []
    return current_events(events)


def _skip_line(f) -> None:
    """Read past the rest of the current line in slices (never all of it at once)."""
    while (chunk := f.readline(1 << 20)) and not chunk.endswith(b"\n"):
        pass


def current_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` without those a later resume superseded (see `read_events`), in one pass from
    the end: an event goes if a later resume started from an epoch before its own."""
    kept: list[dict[str, Any]] = []
    resumed_from = math.inf  # the earliest epoch a later resume started from
    for event in reversed(events):
        if not _after_epoch(event, resumed_from):
            kept.append(event)
        start = event.get("initial_epoch") if event.get("type") == "start" else None
        if isinstance(start, int) and not isinstance(start, bool):
            resumed_from = min(resumed_from, start)
    kept.reverse()
    return kept


def _after_epoch(event: dict[str, Any], epoch: float) -> bool:
    value = event.get("epoch")
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > epoch


def load_model_file(path: str | os.PathLike):
    """Load a kgen ``.keras`` file safely (no Lambda layers or pickled code run)."""
    import keras

    import kgen.models  # noqa: F401  (registers the kgen classes)

    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise RunError(f"{path} is not a .keras model file (not a zip archive)")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises many types for foreign or damaged files
        raise RunError(f"{path} could not be loaded as a kgen model: {one_line(err)}") from err
    if not hasattr(model, "decode"):
        raise RunError(f"{path} holds a {type(model).__name__}, not a kgen generative model")
    return model


def load_run_model(run: Run):
    """The trained model of a run: ``model.keras``, else its latest checkpoint."""
    if run.model_path.is_file():
        return load_model_file(run.model_path)
    latest = run.latest_checkpoint()
    if latest is None:
        raise RunError(f"{run.path} has no model yet (no {MODEL_FILE} and no checkpoint)")
    return load_model_file(latest[0])
