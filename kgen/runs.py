"""Run directories: the on-disk record of one training run, written so nothing is ever half-saved.

Layout of ``runs/<name>/``::

    config.json               everything needed to rebuild the run (RunConfig.to_dict())
    external.json             instead of config.json in runs recorded by kgen.monitor.RunLogger
    events.jsonl              one JSON object a line, flushed as written, for live followers
    samples/epoch_NNNN.png    sample grid from the run's fixed noise
    checkpoints/latest-NNNN.keras, best.keras, best.json
    model.keras               the final model (generator.keras too for GANs: G on its own)
    tb/                       TensorBoard scalars and image grids
"""

from __future__ import annotations

import contextlib
import json
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it into place.

    A crash at any moment leaves either the old file or the complete new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}-{secrets.token_hex(6)}{path.suffix}"
    # Created with the umask's permissions (unlike mkstemp's 0600), as a plain write would be.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
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
        """The newest complete checkpoint and the number of epochs it has finished, if any."""
        found = []
        if self.checkpoints_dir.is_dir():
            for p in self.checkpoints_dir.iterdir():
                m = _LATEST.match(p.name)
                if m:
                    found.append((int(m.group(1)), p))
        if not found:
            return None
        epoch, path = max(found)
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

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "time": round(time.time(), 3), **fields}
        self._file.write(json.dumps(event, allow_nan=True) + "\n")
        self._file.flush()
        return event

    def close(self) -> None:
        if not self._file.closed:
            os.fsync(self._file.fileno())
            self._file.close()


def read_events(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every complete event in an ``events.jsonl``; a torn or garbled line is skipped."""
    events = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # still being written, or torn by a crash
                with contextlib.suppress(json.JSONDecodeError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        events.append(event)
    except FileNotFoundError:
        return []
    return events


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
