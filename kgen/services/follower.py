"""Follow a run directory read-only as it grows: a run another process writes, on this machine
or through a shared folder (kgen's own runs and those `kgen.train.RunLogger` records).

Lines become records through `kgen.events` (the records a run trained here hands the studio
directly), every file is opened only if it is a regular file inside the run, and every poll is
bounded in bytes and time, so no run directory can stall the studio.
"""

from __future__ import annotations

import bisect
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

from kgen.config import examples_per_step
from kgen.errors import RunError, one_line, show_path
from kgen.events import (
    FORMAT_VERSION,
    End,
    Event,
    Reset,
    Samples,
    Start,
    StepRates,
    parse_line,
    run_format,
)
from kgen.runs import Run, read_json, supersedes
from kgen.safe_io import ImageError, inside, is_regular_file, read_bytes, read_picture

MAX_READ_BYTES = 1 << 20  # one poll reads at most this much, so a long run is caught up in slices
POLL_BUDGET_S = 0.04  # and works at most this long (the studio's thread has 100 ms for everything)
MAX_HELD = 4  # samples events waiting for their PNG: only the newest few
HOLD_S = 60.0  # and each for at most this long (a copy to a shared folder may lag its event)



def describe_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """What a run directory holds, read-only: {"source": "kgen"|"external"|"unknown", ...}.

    kgen runs also give "model", "dataset", "examples_per_step" (for images per second) and
    "config" (the `RunConfig`); RunLogger runs what their external.json says, with "format" (the
    run format, 1 when it says none). Files are read as `kgen.runs.read_json` reads them.
    """
    run = Run(run_dir)
    if is_regular_file(run.config_path):
        return _describe_kgen_run(run)
    try:
        info = read_json(run.external_path, "RunLogger description")
    except RunError:
        return {"source": "unknown"}
    return {"source": "external", **info, "format": run_format(info)} if isinstance(info, dict) else {"source": "unknown"}


def _describe_kgen_run(run: Run) -> dict[str, Any]:
    try:
        config = run.config()
    except RunError as err:
        return {"source": "unknown", "problem": one_line(err)}
    return {"source": "kgen", "model": config.train.model, "dataset": config.train.dataset,
            "examples_per_step": examples_per_step(config), "config": config}


class RunFollower:
    """Follows a run directory read-only: each `poll` returns the events appended since the last.

    It remembers its byte offset in ``events.jsonl`` and only takes complete lines (a line still
    being written is read again next time). Lines become records (`kgen.events`): an invalid
    one is skipped (counted in ``skipped``, why in ``last_problem``) and the lines after it still
    come. A file that shrank or was replaced starts over with a `Reset` record, and so does a
    resume from an earlier checkpoint (the file is then read again from its start in slices,
    without the events the resume superseded). Samples records get their ``picture`` once their
    PNG, inside the run directory, can be read (held back until then, a few at most and for a
    limited time: on a shared folder the PNG may arrive after its event). Step records get
    ``steps_per_second`` and, for kgen runs, ``images_per_second`` (`StepRates`, as for a run
    trained here); start records get ``run_dir``. A run of a newer format than this kgen's is
    read as far as it is understood, and ``newer_format`` says which. A poll reads at most
    ``max_read_bytes`` and works at most ``budget`` seconds. Only regular files are opened, and
    nothing is ever written into the run directory.
    """

    def __init__(self, run_dir: str | os.PathLike, max_read_bytes: int = MAX_READ_BYTES,
                 budget: float = POLL_BUDGET_S):
        self.run = Run(run_dir)
        self.max_read_bytes, self.budget = max_read_bytes, budget
        self.status = "waiting"  # waiting (no start yet), live, finished or stopped
        self.last_change = time.monotonic()  # when new events last arrived
        self.info: dict[str, Any] = describe_run(run_dir)
        self.skipped = 0  # lines and samples events skipped as unusable
        self.last_problem = ""  # why the last of them was skipped
        self.newer_format: int | None = None  # the run format of a start record newer than this kgen's
        self._offset = 0
        self._read_to = 0  # the furthest offset ever read (a replay after a resume stays below it)
        self._max_epoch = 0  # the highest epoch among the events handed out
        self._resumes = Resumes()
        self._identity: tuple[int, int] | None = None
        self._held: deque[tuple[float, Samples]] = deque(maxlen=MAX_HELD)  # samples whose PNG is not readable yet
        self._rates = StepRates(self.info.get("examples_per_step"))
        self._described = False  # whether this poll read the run's description (info) again

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

    def poll(self) -> list[Event]:
        """Events appended since the last call, read in slices of ``max_read_bytes`` for at most
        about ``budget`` seconds (the rest comes at the next call); never blocks."""
        deadline = time.monotonic() + self.budget
        self._described = False
        events = self._check_file()
        events += self._retry_held()
        while True:
            new, rewound = self._read_new(deadline)
            if not rewound:
                events += new
                break
            # A resume went back to before epochs shown: start over, without what it voided.
            events = [Reset(reason="the run was resumed from an earlier checkpoint")]
            if time.monotonic() > deadline:
                break
        if events:
            self.last_change = time.monotonic()
        return events

    def _check_file(self) -> list[Event]:
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
        self._start_over()
        self._read_to, self._resumes = 0, Resumes()
        return [Reset(reason="events.jsonl was replaced" if changed else "events.jsonl shrank")]

    def _start_over(self) -> None:
        self._offset, self.status, self._max_epoch = 0, "waiting", 0
        self._held.clear()
        self._rates.clear()

    def _retry_held(self) -> list[Event]:
        """The held samples events whose PNG is readable now; the others wait (until they expire)."""
        ready, now = [], time.monotonic()
        for held in list(self._held):
            until, event = held
            found = self._with_picture(event)
            if found is not False or now > until:
                self._held.remove(held)
            if found:
                ready.append(event)
        return ready

    def _read_range(self, start: int, size: int) -> bytes:
        try:
            return read_bytes(self.run.events_path, size, start)  # read-only, regular files only
        except OSError:
            return b""

    def _read_new(self, deadline: float) -> tuple[list[Event], bool]:
        """(events, False): those of the lines of one slice read until ``deadline`` (at least one
        line); ([], True) at a resume that voids what was shown (the follower started over)."""
        chunk = self._read_range(self._offset, self.max_read_bytes)
        base, position, events = self._offset, 0, []
        while (end := chunk.find(b"\n", position)) >= 0:
            line_start, position = base + position, end + 1
            event, why = parse_line(chunk[line_start - base:end])
            self._offset = base + position
            if event is None:
                self._skip(why)
            elif line_start >= self._read_to and self._rewinds(event):
                self._resumes.add(line_start, event.initial_epoch)
                self._read_to = self._offset
                self._start_over()
                return [], True
            elif not self._resumes.voids(line_start, event):
                events.extend(self._take(event))
            if time.monotonic() > deadline:
                break
        if position == 0 and len(chunk) == self.max_read_bytes:  # one line longer than a whole read
            self._offset += len(chunk)
            self._skip("a line longer than a whole read")
        self._read_to = max(self._read_to, self._offset)
        return events, False

    def _skip(self, why: str | None) -> None:
        self.skipped += 1
        self.last_problem = why or "unusable"

    def _rewinds(self, event: Event) -> bool:
        """True for the start record of a resume from before epochs this follower has shown."""
        return isinstance(event, Start) and event.initial_epoch is not None and event.initial_epoch < self._max_epoch

    def _take(self, event: Event) -> list[Event]:
        epoch = event.get("epoch")
        if epoch is not None:
            self._max_epoch = max(self._max_epoch, epoch)
        if isinstance(event, Start):
            self.status = "live"
            event.run_dir = str(self.path)
            if run_format(event) > FORMAT_VERSION:
                self.newer_format = run_format(event)
            if not self._described:  # once a poll, however many start events it reads
                self.info, self._described = describe_run(self.path), True
                self._rates.examples_per_step = self.info.get("examples_per_step")
        elif isinstance(event, End):
            self.status = "stopped" if event.status == "stopped" else "finished"
        elif isinstance(event, Samples):
            return self._take_samples(event)
        self._rates.observe(event)
        return [event]

    def _take_samples(self, event: Samples) -> list[Event]:
        found = self._with_picture(event)
        if found is None:
            return []
        if not found:
            self._held.append((time.monotonic() + HOLD_S, event))  # the oldest held one goes when more than MAX_HELD wait
            return []
        return [event]

    def _with_picture(self, event: Samples) -> bool | None:
        """Give a samples record its picture: True once it has one, False while its PNG cannot
        be read yet, None when it never will (outside the run, not a PNG, too large)."""
        path = inside(self.path, event.path)
        if path is None:
            self._skip(f"samples path {show_path(event.path)} is outside the run directory")
            return None
        try:
            event.picture = read_picture(path)
        except OSError:  # missing, or a partial copy on a shared folder
            return False
        except ImageError as err:
            self._skip(f"{show_path(event.path)}: {err}")
            return None
        self._with_sigma_pictures(event)
        return True

    def _with_sigma_pictures(self, event: Samples) -> None:
        """A learned variance's sigma map and draw beside the grid, when the run wrote them (written
        before the record, so there by now); without either the grid is shown alone."""
        try:
            pictures = [read_picture(found) if (found := inside(self.path, name or "")) else None
                        for name in (event.sigma_path, event.draw_path)]
        except (OSError, ImageError):
            pictures = [None, None]
        both = all(picture is not None for picture in pictures)
        event.sigma_picture, event.draw_picture = pictures if both else (None, None)


class Resumes:
    """Where resumes start in an events.jsonl, to drop what they void when it is read again.

    An event at byte ``p`` is void when a resume after ``p`` started from an epoch before the
    event's. Only resumes that can void anything are kept: with epochs rising with the offset,
    the first resume after ``p`` is the earliest-starting one of all after it.
    """

    def __init__(self) -> None:
        self._offsets: list[int] = []
        self._epochs: list[int] = []

    def add(self, offset: int, initial_epoch: int) -> None:
        while self._offsets and (self._offsets[-1] >= offset or self._epochs[-1] >= initial_epoch):
            self._offsets.pop()
            self._epochs.pop()
        self._offsets.append(offset)
        self._epochs.append(initial_epoch)

    def voids(self, offset: int, event: Event) -> bool:
        i = bisect.bisect_right(self._offsets, offset)
        return i < len(self._offsets) and supersedes(self._epochs[i], event)
