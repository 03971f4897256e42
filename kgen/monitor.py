"""Monitor mode without Qt: record any ``model.fit`` as a kgen run, and follow a run as it grows.

`RunLogger` is a Keras callback for anyone's own training script: it writes the same
``events.jsonl`` (and, if asked, sample PNGs) that ``kgen train`` writes, so the studio's
monitor follows it. `RunFollower` tails a run directory read-only, for a run being written
by another process, or another machine through a shared folder.

Example::

    model.fit(x, y, epochs=10, validation_split=0.1, callbacks=[RunLogger("runs/my-classifier")])
    # meanwhile, elsewhere:  kgen gui runs/my-classifier
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kgen.callbacks import EventLogger
from kgen.errors import RunError
from kgen.runs import EventLog, Run, atomic_write_text, current_events
from kgen.sampling import save_png

MAX_READ_BYTES = 4 << 20  # one poll reads at most this much, so a long run is caught up in slices
RATE_WINDOW = 20  # steps per second are measured over this many of the latest steps

SampleFunction = Callable[[keras.Model, int], np.ndarray]


class RunLogger(EventLogger):
    """Writes a kgen run directory (events, optional sample grids) from any ``model.fit``.

    The directory gets ``external.json`` (who wrote it: model name, script, sizes) instead of
    kgen's ``config.json``, and the same start/step/epoch/end events as ``kgen train``.
    ``samples(model, epoch)`` may return a picture (uint8, or floats in [0, 1]; (H, W) or
    (H, W, C)) to save as ``samples/epoch_NNNN.png`` every ``sample_every`` epochs.
    """

    def __init__(self, run_dir: str | os.PathLike, *, samples: SampleFunction | None = None,
                 sample_every: int = 1, metadata: dict[str, Any] | None = None):
        super().__init__(events=None, steps_per_epoch=0)
        self.run = Run(run_dir)
        if self.run.config_path.exists():
            raise RunError(f"{self.run.path} holds a kgen run; give RunLogger a directory of its own")
        if not isinstance(sample_every, int) or sample_every < 1:
            raise RunError(f"sample_every must be a whole number >= 1, got {sample_every!r}")
        self.samples, self.sample_every = samples, sample_every
        self.metadata = dict(metadata or {})
        self._batches = 0  # batches of the current epoch, for fits of unknown length

    def on_train_begin(self, logs=None):
        self.run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run.external_path, json.dumps(self._description(), indent=2) + "\n")
        self.events = EventLog(self.run.events_path)
        # Unknown for datasets of unknown length: the first epoch's steps are numbered from 1
        # either way, and its length is learnt at its end.
        self.steps_per_epoch = self.params.get("steps") or 0
        self.extra_start = {"source": "external", "model": self.model.name,
                            "epochs": self.params.get("epochs"), "steps_per_epoch": self.params.get("steps")}
        super().on_train_begin(logs)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        self._batches = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        if not self.steps_per_epoch:
            self.steps_per_epoch = self._batches
        super().on_epoch_end(epoch, logs)
        done = epoch + 1
        if self.samples is not None and (done % self.sample_every == 0 or done == self.params.get("epochs")):
            path = self.run.sample_path(done)
            save_png(_as_picture(self.samples(self.model, done)), path)
            self.events.write("samples", epoch=done, path=str(path.relative_to(self.run.path)))

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        self.events.close()

    def _description(self) -> dict[str, Any]:
        try:
            params = int(self.model.count_params())
        except ValueError:  # a model that is not built yet
            params = None
        return {"recorder": "kgen.monitor.RunLogger", "model": self.model.name, "params": params,
                "script": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else None,
                "keras": keras.__version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **self.metadata}


def _as_picture(picture: Any) -> np.ndarray:
    """A user's sample picture as uint8 (H, W, C), or a clear error saying what was wrong."""
    array = np.asarray(picture)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise RunError(f"RunLogger samples must be an (H, W) or (H, W, C) picture, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = (np.clip(np.nan_to_num(array.astype("float64")), 0.0, 1.0) * 255).round().astype(np.uint8)
    return array


def read_picture(path: str | os.PathLike) -> np.ndarray:
    """A PNG as a uint8 (H, W) or (H, W, 3) array; OSError if it is missing or not readable yet."""
    from PIL import Image

    with Image.open(path) as image:
        return np.array(image if image.mode in ("L", "RGB") else image.convert("RGB"))


def describe_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """What a run directory holds, read-only: {"source": "kgen"|"external"|"unknown", ...}.

    kgen runs also give "model", "dataset" and "examples_per_step" (for images per second).
    """
    run = Run(run_dir)
    if run.config_path.is_file():
        try:
            config = run.config()
        except RunError as err:
            return {"source": "unknown", "problem": str(err)}
        from kgen.training import examples_per_step

        return {"source": "kgen", "model": config.train.model, "dataset": config.train.dataset,
                "examples_per_step": examples_per_step(config)}
    try:
        info = json.loads(run.external_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"source": "unknown"}
    return {"source": "external", **info} if isinstance(info, dict) else {"source": "unknown"}


class RunFollower:
    """Follows a run directory read-only: each `poll` returns the events appended since the last.

    It remembers its byte offset in ``events.jsonl`` and only takes complete lines (a line still
    being written is read again next time). A file that shrank or was replaced starts over with
    a ``{"type": "reset"}`` event. Samples events gain a ``picture`` array once their PNG can be
    read (held back until then: on a shared folder the PNG may arrive after its event). Step
    events gain ``steps_per_second`` and, for kgen runs, ``images_per_second``. Nothing is ever
    written into the run directory.
    """

    def __init__(self, run_dir: str | os.PathLike, max_read_bytes: int = MAX_READ_BYTES):
        self.run = Run(run_dir)
        self.max_read_bytes = max_read_bytes
        self.status = "waiting"  # waiting (no start yet), live, finished or stopped
        self.last_change = time.monotonic()  # when new events last arrived
        self._examples_per_step: int | None = None
        self._offset = 0
        self._max_epoch = 0  # the highest epoch among the events handed out
        self._identity: tuple[int, int] | None = None
        self._held: list[dict[str, Any]] = []  # samples events whose PNG is not readable yet
        self._times: deque[tuple[int, float]] = deque(maxlen=RATE_WINDOW)

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def caught_up(self) -> bool:
        """True when the last poll read everything the file held."""
        try:
            return os.stat(self.run.events_path).st_size <= self._offset
        except OSError:
            return True

    @property
    def live(self) -> bool:
        return self.status in ("waiting", "live")

    def poll(self) -> list[dict[str, Any]]:
        """Events appended since the last call (at most ``max_read_bytes`` of them); never blocks."""
        events = self._check_file()
        held, self._held = self._held, []
        for event in held:
            (events if self._with_picture(event) else self._held).append(event)
        new = self._read_new()
        if any(self._rewinds(event) for event in new):
            # A resume went back to its last checkpoint: what came after it is void. Start over
            # from everything read so far, without the superseded events (as read_events does).
            events = [{"type": "reset", "reason": "the run was resumed from an earlier checkpoint"}]
            self._held, self._max_epoch, self.status = [], 0, "waiting"
            self._times.clear()
            new = current_events(self._parse(self._read_range(0, self._offset)))
        for event in new:
            events.extend(self._take(event))
        if events:
            self.last_change = time.monotonic()
        return events

    def _check_file(self) -> list[dict[str, Any]]:
        """A reset event when events.jsonl shrank or is another file than before."""
        try:
            stat = os.stat(self.run.events_path)
        except OSError:
            return []
        identity = (stat.st_dev, stat.st_ino)
        changed = self._identity is not None and identity != self._identity
        self._identity = identity
        if not (changed or stat.st_size < self._offset):
            return []
        self._offset, self._held, self.status, self._max_epoch = 0, [], "waiting", 0
        self._times.clear()
        return [{"type": "reset", "reason": "events.jsonl was replaced" if changed else "events.jsonl shrank"}]

    def _rewinds(self, event: dict[str, Any]) -> bool:
        """True for the start event of a resume from before epochs this follower has shown."""
        resumed_from = event.get("initial_epoch") if event["type"] == "start" else None
        return isinstance(resumed_from, int) and resumed_from < self._max_epoch

    def _read_range(self, start: int, size: int) -> bytes:
        try:
            with open(self.run.events_path, "rb") as f:  # read-only, always
                f.seek(start)
                return f.read(size)
        except OSError:
            return b""

    def _read_new(self) -> list[dict[str, Any]]:
        chunk = self._read_range(self._offset, self.max_read_bytes)
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) == self.max_read_bytes:  # one line longer than a whole read: skip it
                self._offset += len(chunk)
            return []
        self._offset += end + 1
        return self._parse(chunk[: end + 1])

    @staticmethod
    def _parse(chunk: bytes) -> list[dict[str, Any]]:
        events = []
        for line in chunk.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a garbled line (a crash mid-write) is skipped, as read_events does
            if isinstance(event, dict) and "type" in event:
                events.append(event)
        return events

    def _take(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event["type"]
        if _whole_number(event.get("epoch")):
            self._max_epoch = max(self._max_epoch, event["epoch"])
        if kind == "start":
            self.status = "live"
            self._times.clear()
            self._examples_per_step = describe_run(self.path).get("examples_per_step")
        elif kind == "end":
            self.status = "stopped" if event.get("status") == "stopped" else "finished"
        elif kind == "step":
            self._add_rates(event)
        elif kind == "samples" and "path" in event and not self._with_picture(event):
            self._held.append(event)
            return []
        return [event]

    def _add_rates(self, event: dict[str, Any]) -> None:
        if not isinstance(event.get("elapsed"), (int, float)) or not isinstance(event.get("step"), int):
            return
        self._times.append((event["step"], float(event["elapsed"])))
        (first_step, first_time), (last_step, last_time) = self._times[0], self._times[-1]
        if last_step > first_step and last_time > first_time:
            rate = (last_step - first_step) / (last_time - first_time)
            event["steps_per_second"] = rate
            if self._examples_per_step:
                event["images_per_second"] = rate * self._examples_per_step

    def _with_picture(self, event: dict[str, Any]) -> bool:
        """Give a samples event its picture; False while its PNG cannot be read yet."""
        try:
            event["picture"] = read_picture(self.path / str(event.get("path", "")))
        except (OSError, ValueError, SyntaxError):  # missing, or a partial copy on a shared folder
            return False
        return True


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
