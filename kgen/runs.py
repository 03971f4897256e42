"""Run directories: the on-disk record of one training run, written so nothing is ever half-saved.

The layout is a public contract, versioned (`kgen.events.FORMAT_VERSION`) and described in full
in docs/RUN_FORMAT.md. ``runs/<name>/``::

    config.json               everything needed to rebuild the run ({"format", "train", "model"})
    external.json             instead of config.json in runs recorded by kgen.train.RunLogger
    events.jsonl              one JSON object a line (kgen.events), flushed as written, for live followers
    samples/epoch_NNNN.png    sample grid from the run's fixed noise
    samples/points/epoch_NNNN.npy   runs on points: those samples' coordinates (N, D) float32
    checkpoints/latest-NNNN.keras, best.keras, best.json
    checkpoints/interrupted-NNNN-BBBBBB.keras   a stop inside epoch N+1, after B batches (kgen.train.guards)
    written.txt               the checkpoints this run wrote, one name a line: the only ones it deletes
    model.keras               the final model (generator.keras too for GANs: G on its own)
    tb/                       TensorBoard scalars and image grids
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from kgen.config import RunConfig
from kgen.errors import ConfigError, RunError, one_line, show_path
from kgen.events import (
    FORMAT_VERSION,
    MAX_LINE_BYTES,
    Event,
    Start,
    dump_line,
    make,
    parse_line,
    run_format,
)
from kgen.safe_io import atomic_write_text, open_regular, read_text

CONFIG_FILE = "config.json"
EXTERNAL_FILE = "external.json"  # instead of config.json: a run kgen.train.RunLogger recorded
EVENTS_FILE = "events.jsonl"
MODEL_FILE = "model.keras"
WRITTEN_FILE = "written.txt"
_LATEST = re.compile(r"^latest-(\d{4,})\.keras$")
_INTERRUPTED = re.compile(r"^interrupted-(\d{4,})-(\d{6,})\.keras$")
_PRUNABLE = {"latest": _LATEST, "interrupted": _INTERRUPTED}  # checkpoints a newer one replaces
# The temporary names atomic_path gives the files a run writes: only these are ever cleaned up.
TEMPORARY_NAME = re.compile(r"^\.(latest-\d{4,}|interrupted-\d{4,}-\d{6,}|best|model|generator|config|external|written"
                        r"|epoch_\d{4,})-[0-9a-f]{12}\.(keras|json|png|npy|txt)$")
# Bytes a run's small JSON files (config.json, best.json) may hold: more is not kgen's.
MAX_JSON_BYTES = 1 << 20
POINTS_FOLDER = "points"  # samples/points/: the generated points of a run on points, an epoch a file
_POINTS_FILE = re.compile(r"^epoch_(\d{4,})\.npy$")
MAX_POINTS_BYTES = 4 << 20  # a points file larger than this is not kgen's (1,000 points take 8 KB)


def interrupted_checkpoint_name(epochs: int, batches: int) -> str:
    """The checkpoint of a stop after ``epochs`` whole epochs and ``batches`` batches of the next."""
    return f"interrupted-{epochs:04d}-{batches:06d}.keras"


def remove_temporaries(directory: str | os.PathLike) -> None:
    """Delete the temporary files a crash inside `atomic_path` left in ``directory``: regular
    files named as kgen names its own temporaries, nothing else."""
    with contextlib.suppress(OSError):
        for p in Path(directory).iterdir():
            if TEMPORARY_NAME.match(p.name) and stat.S_ISREG(p.lstat().st_mode):
                p.unlink(missing_ok=True)


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
    written_path = property(lambda self: self.path / WRITTEN_FILE)

    @classmethod
    def create(cls, path: str | os.PathLike, config: RunConfig) -> Run:
        """Make a new run directory holding ``config``: ``path`` must be new or an empty folder
        (see `check_new_run_dir`), so a run never overwrites or deletes anything it finds."""
        run = cls(path)
        try:
            run.path.mkdir(parents=True)
        except FileExistsError:
            check_new_run_dir(run.path)  # an empty folder is fine; anything else is refused
        except OSError as err:
            raise RunError(f"cannot create run directory {show_path(run.path)}: {err.strerror or one_line(err)}") from err
        run.save_config(config)
        return run

    def save_config(self, config: RunConfig) -> None:
        """Write config.json (atomically), marked with the run format it is written in."""
        atomic_write_text(self.config_path, json.dumps({"format": FORMAT_VERSION, **config.to_dict()}, indent=2) + "\n")

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        """An existing run directory; a clear error if it is missing or not a kgen run."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunError(f"{show_path(run.path)}: no such run directory")
        if not run.config_path.is_file():
            if run.external_path.is_file():
                raise RunError(f"{show_path(run.path)} was recorded from a script's own model.fit (RunLogger): it "
                               "has curves to follow (kgen gui RUN) but no kgen model config")
            raise RunError(f"{show_path(run.path)} is not a kgen run directory (no {CONFIG_FILE})")
        run.config()  # validates
        return run

    @classmethod
    def open_followable(cls, path: str | os.PathLike) -> Run:
        """An existing run directory to follow read-only: kgen's, or one RunLogger recorded."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunError(f"{show_path(run.path)}: no such run directory")
        if not any(p.is_file() for p in (run.config_path, run.external_path, run.events_path)):
            raise RunError(f"{show_path(run.path)} is not a run directory (no {CONFIG_FILE}, {EXTERNAL_FILE} "
                           f"or {EVENTS_FILE})")
        return run

    def config(self) -> RunConfig:
        """The run's validated config.json; a one-line RunError for anything else."""
        data = read_json(self.config_path, "run config")
        check_format(data, self.config_path)
        try:
            return RunConfig.from_dict(data)
        except ConfigError as err:
            raise RunError(f"{show_path(self.config_path)}: {err}") from err

    def sample_path(self, epoch: int) -> Path:
        return self.samples_dir / f"epoch_{epoch:04d}.png"

    def points_path(self, epoch: int) -> Path:
        """Where a run on points keeps the coordinates of its sample picture of ``epoch``."""
        return self.samples_dir / POINTS_FOLDER / f"epoch_{epoch:04d}.npy"

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
        """What ``best.json`` says of ``best.keras`` (its ``value`` a number), None without one;
        a tampered record is a one-line RunError rather than a best value made up."""
        path = self.checkpoints_dir / "best.json"
        if not path.exists():
            return None
        record = read_json(path, "best-checkpoint record")
        value = record.get("value") if isinstance(record, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise RunError(f"{show_path(path)} is not a best-checkpoint record (no number as its \"value\")")
        return record

    def record_checkpoint(self, path: Path) -> None:
        """Note the checkpoint ``path`` (about to be written) as this run's own: only checkpoints
        noted here are ever deleted by `prune_checkpoints`, whatever else their folder holds."""
        try:
            with open(self.written_path, "a", encoding="utf-8") as f:
                f.write(f"\n{path.name}\n")  # the leading newline ends a line a crash tore
        except OSError as err:
            raise RunError(f"cannot write {show_path(self.written_path)}: {err.strerror or one_line(err)}") from err

    def prune_checkpoints(self, kind: str, keep: Path | None = None) -> None:
        """Delete the ``kind`` ("latest" or "interrupted") checkpoints this run recorded writing,
        except ``keep``; a file it did not record is never deleted."""
        recorded = self._recorded_checkpoints()
        gone = {n for n in recorded if _PRUNABLE[kind].match(n) and (keep is None or n != keep.name)}
        for name in gone:
            (self.checkpoints_dir / name).unlink(missing_ok=True)
        if gone:
            atomic_write_text(self.written_path, "".join(f"{n}\n" for n in sorted(recorded - gone)))

    def _recorded_checkpoints(self) -> set[str]:
        try:
            text = read_text(self.written_path, MAX_JSON_BYTES)
        except FileNotFoundError:
            return set()
        except OSError as err:
            raise RunError(f"{show_path(self.written_path)}: unreadable ({err.strerror or one_line(err)})") from err
        return {n for n in text.splitlines() if any(p.match(n) for p in _PRUNABLE.values())}


def newest_points(run_dir: str | os.PathLike, after: int = 0) -> tuple[int, np.ndarray] | None:
    """(epoch, points) of the newest ``samples/points/epoch_NNNN.npy`` of a run on points newer
    than epoch ``after``: the (N, D) float32 points of that epoch's sample picture. None when there
    is none newer, or it cannot be read (no such folder, a torn or foreign file)."""
    folder = Run(run_dir).samples_dir / POINTS_FOLDER
    try:
        epochs = [int(m.group(1)) for m in map(_POINTS_FILE.match, os.listdir(folder)) if m]
    except OSError:
        return None
    newer = [e for e in epochs if e > after]
    if not newer:
        return None
    epoch = max(newer)
    try:
        with open_regular(Run(run_dir).points_path(epoch)) as f:
            if os.fstat(f.fileno()).st_size > MAX_POINTS_BYTES:
                return None
            points = np.load(f, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if points.ndim != 2 or not np.issubdtype(points.dtype, np.floating):
        return None
    return epoch, points.astype(np.float32, copy=False)


def check_new_run_dir(path: str | os.PathLike) -> None:
    """Refuse (one-line RunError) to start a run in ``path`` unless it is new or an empty folder:
    a kgen run is continued only with --resume, and a user's folder is never written into."""
    path = Path(path)
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return  # a new name (creating it may still fail, with its own message)
    except OSError as err:
        raise RunError(f"cannot use {show_path(path)} as a run directory: {err.strerror or one_line(err)}") from err
    if not stat.S_ISDIR(info.st_mode):
        raise RunError(f"{show_path(path)} exists and is not a folder; a new run needs a new or empty folder")
    try:
        with os.scandir(path) as entries:
            if next(entries, None) is None:
                return
    except OSError as err:
        raise RunError(f"cannot use {show_path(path)} as a run directory: {err.strerror or one_line(err)}") from err
    if (path / CONFIG_FILE).exists():
        raise RunError(f"{show_path(path)} already holds a run; use resume {show_path(path)} or another out",
                       options=("resume", "out"))
    raise RunError(f"{show_path(path)} is not empty and not a kgen run; a new run needs a new or empty folder "
                   "(nothing in it was touched)")


def check_format(data: Any, path: Path) -> None:
    """Refuse (one-line RunError) a config.json of a newer run format than this kgen reads: a
    newer format changed what some field means, so reading it as this format would mislead."""
    version = run_format(data)
    if version > FORMAT_VERSION:
        raise RunError(f"{show_path(path)} was written by a newer kgen (run format {version}; this kgen reads "
                       f"formats 1 to {FORMAT_VERSION}): upgrade kgen to use this run")


def read_json(path: Path, what: str) -> Any:
    """One of a run's small JSON files (``what`` it is), parsed; a one-line RunError if it is
    missing, not a regular file, too large, not JSON, or nested too deeply to parse."""
    try:
        return json.loads(read_text(path, MAX_JSON_BYTES))
    except OSError as err:
        raise RunError(f"{show_path(path)}: unreadable {what} ({err.strerror or one_line(err)})") from err
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise RunError(f"{show_path(path)}: unreadable {what} (not JSON: {one_line(err)})") from err


class EventLog:
    """The one writer of ``events.jsonl``: appends each record (`kgen.events`) as one JSON line,
    flushed at once for live followers, then hands the same record to ``listener`` (the studio's
    training pipe), memory-only fields (a samples picture) included."""

    def __init__(self, path: str | os.PathLike, listener: Callable[[Event], None] | None = None):
        self.path = Path(path)
        self.listener = listener
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        if self._file.tell() and not _ends_with_newline(self.path):
            self._file.write("\n")  # end a line torn by a crash, so it stays one garbled line

    def write(self, event: Event | str, **fields: Any) -> Event:
        """Append ``event`` (a record, or a kind's name and its fields), stamped with the time;
        a start record gets the run format, and in memory the run's directory and the writer's pid."""
        if isinstance(event, str):
            event = make(event, **fields)
        if event.time is None:
            event.time = round(time.time(), 3)
        if isinstance(event, Start):
            event.format = event.format or FORMAT_VERSION
            event.run_dir, event.pid = str(self.path.parent), os.getpid()
        try:
            self._file.write(dump_line(event))
            self._file.flush()
        except OSError as err:  # a full disk: say which file
            raise RunError(f"cannot write {show_path(self.path)}: {err.strerror or one_line(err)}") from err
        if self.listener is not None:
            self.listener(event)
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


def read_events(path: str | os.PathLike, max_bytes: int | None = None) -> list[Event]:
    """Every complete, current, valid event in an ``events.jsonl``, as records (`kgen.events`);
    a torn, garbled or invalid line is skipped. Only a regular file is read (a FIFO gives no
    events), and at most its first ``max_bytes`` when given. Runs of any format are read; of a
    newer one than this kgen's, what it does not know is left out (docs/RUN_FORMAT.md).

    A resume from epoch E starts with a "start" event whose ``initial_epoch`` is E: the events of
    later epochs logged before it (work a crash or a mid-epoch stop lost) are dropped, so every
    epoch appears once.
    """
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


def current_events(events: list[Event]) -> list[Event]:
    """``events`` without those a later resume superseded (see `read_events`), in one pass from
    the end: an event goes if a later resume started from an epoch before its own."""
    kept: list[Event] = []
    resumed_from = math.inf  # the earliest epoch a later resume started from
    for event in reversed(events):
        if not supersedes(resumed_from, event):
            kept.append(event)
        if isinstance(event, Start) and event.initial_epoch is not None:
            resumed_from = min(resumed_from, event.initial_epoch)
    kept.reverse()
    return kept


def supersedes(resumed_from: float, event: Event) -> bool:
    """Whether a later resume from epoch ``resumed_from`` voids ``event``: it belongs to a later
    epoch, whose work the resume does again."""
    epoch = event.get("epoch")
    return epoch is not None and epoch > resumed_from


def default_run_dir(config: RunConfig, root: str | os.PathLike = "runs") -> Path:
    """runs/<model>-<dataset>-<YYYYmmdd-HHMMSS>: a fresh name for a new run."""
    dataset = config.train.dataset.split(":")[0]
    return Path(root) / f"{config.train.model}-{dataset}-{datetime.now():%Y%m%d-%H%M%S}"


def fresh_run_dir(config: RunConfig, root: str | os.PathLike = "runs") -> Path:
    """`default_run_dir`, with a -2, -3, ... suffix when a run of that name already exists."""
    path = default_run_dir(config, root)
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate
