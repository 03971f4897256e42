"""RunLogger: record any ``model.fit`` as a kgen run, so the studio's monitor can follow it.

A Keras callback for anyone's own training script: it writes the same ``events.jsonl`` (and,
if asked, sample PNGs) that ``kgen train`` writes, in the run format of docs/RUN_FORMAT.md,
never into a folder holding other files.

Example::

    from kgen.train import RunLogger

    model.fit(x, y, epochs=10, validation_split=0.1, callbacks=[RunLogger("runs/my-classifier")])
    # meanwhile, elsewhere:  kgen gui runs/my-classifier
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kgen.errors import RunError, one_line, show_path
from kgen.events import FORMAT_VERSION, Samples
from kgen.pictures import save_png
from kgen.runs import EVENTS_FILE, EXTERNAL_FILE, TEMPORARY_NAME, EventLog, Run
from kgen.safe_io import atomic_write_text, is_regular_file
from kgen.train.callbacks import EventLogger

SampleFunction = Callable[[keras.Model, int], np.ndarray]


class RunLogger(EventLogger):
    """Writes a kgen run directory (events, optional sample grids) from any ``model.fit``.

    The directory gets ``external.json`` (who wrote it: model name, script, sizes, the run format)
    instead of kgen's ``config.json``, and the same start/step/epoch/end records as ``kgen train``.
    ``samples(model, epoch)`` may return a picture (uint8, or floats in [0, 1]; (H, W) or
    (H, W, C)) to save as ``samples/epoch_NNNN.png`` every ``sample_every`` epochs.
    """

    def __init__(self, run_dir: str | os.PathLike, *, samples: SampleFunction | None = None,
                 sample_every: int = 1, metadata: dict[str, Any] | None = None):
        super().__init__(events=None, steps_per_epoch=0)
        self.run = Run(run_dir)
        check_own_folder(self.run)
        if not isinstance(sample_every, int) or sample_every < 1:
            raise RunError(f"sample_every must be a whole number >= 1, got {sample_every!r}")
        self.samples, self.sample_every = samples, sample_every
        self.metadata = dict(metadata or {})
        self._batches = 0  # batches of the current epoch, for fits of unknown length

    def on_train_begin(self, logs=None):
        check_own_folder(self.run)  # again: the folder may have changed since
        try:
            self.run.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunError(f"cannot create {show_path(self.run.path)}: {err.strerror or one_line(err)}") from err
        atomic_write_text(self.run.external_path, json.dumps(self._description(), indent=2) + "\n")
        self.events = EventLog(self.run.events_path)
        # Unknown for datasets of unknown length: the first epoch's steps are numbered from 1
        # either way, and its length is learnt at its end.
        self.steps_per_epoch = self.params.get("steps") or 0
        self.start = {"source": "external", "model": self.model.name,
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
            picture = save_png(_as_picture(self.samples(self.model, done)), path)
            self.events.write(Samples(epoch=done, path=str(path.relative_to(self.run.path)), picture=picture))

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        self.events.close()

    def _description(self) -> dict[str, Any]:
        try:
            params = int(self.model.count_params())
        except ValueError:  # a model that is not built yet
            params = None
        return {"recorder": "kgen.train.RunLogger", "model": self.model.name, "params": params,
                "script": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else None,
                "keras": keras.__version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **self.metadata, "format": FORMAT_VERSION}


_OWN_FILES = {EXTERNAL_FILE, EVENTS_FILE}
_OWN_SAMPLE = re.compile(r"^epoch_\d{4,}\.png$")


def check_own_folder(run: Run) -> None:
    """Refuse (RunError) a folder RunLogger would write into that holds anything but a RunLogger
    run of its own: a kgen run, a user's files. A new or empty folder is fine."""
    path = run.path
    if not os.path.lexists(path):
        return
    if not path.is_dir():
        raise RunError(f"{show_path(path)} is not a folder; give RunLogger a new or empty folder")
    if run.config_path.exists():
        raise RunError(f"{show_path(path)} holds a kgen run; give RunLogger a directory of its own")
    try:
        foreign = [p.name for p in path.iterdir() if not _own_entry(p, run)]
    except OSError as err:
        raise RunError(f"cannot read {show_path(path)}: {err.strerror or one_line(err)}") from err
    if foreign:
        raise RunError(f"{show_path(path)} holds other files than a RunLogger run ({show_path(sorted(foreign)[0])}"
                       f"{', ...' if len(foreign) > 1 else ''}); give RunLogger a new or empty folder")


def _own_entry(entry: Path, run: Run) -> bool:
    """Whether ``entry`` of a run folder is one RunLogger writes (or a temporary of its writes)."""
    if entry.name in _OWN_FILES or TEMPORARY_NAME.match(entry.name):
        return is_regular_file(entry) and not entry.is_symlink()
    if entry.name == run.samples_dir.name and entry.is_dir() and not entry.is_symlink():
        return all((_OWN_SAMPLE.match(p.name) or TEMPORARY_NAME.match(p.name)) and is_regular_file(p) and not p.is_symlink()
                   for p in entry.iterdir())
    return False


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


