"""Class packs: the lesson runs that need more than a minute, trained once on the teacher's machine
(`prepare_pack`), then opened read-only on another offline machine, from a USB stick (`open_pack`).

A pack is a folder (format in docs/CLASS_PACK.md)::

    pack.json                      what the pack holds: format, version, lessons, prepared runs
    lessons/<lesson>.toml          the lessons as they were when prepared (a teacher's edits travel)
    runs/<lesson>/<run>/           each prepared run: a kgen run directory (docs/RUN_FORMAT.md)

Opening a pack reads only; it never writes, so the pack may sit on read-only media. This module
imports TensorFlow only inside `prepare_pack` (the window's process opens packs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import kgen
from kgen.config import RunConfig
from kgen.errors import KgenError, RunError, one_line, show_path
from kgen.lessons import Lesson, LessonError, LessonRun, find_lesson, load_lesson, parse_lesson
from kgen.runs import CONFIG_FILE, EVENTS_FILE, MODEL_FILE, Run, read_json
from kgen.safe_io import atomic_write_text, inside, read_text

PACK_FILE = "pack.json"
PACK_FORMAT = "kgen-class-pack"  # pack.json's "format": what says a folder is a pack
PACK_VERSION = 1  # pack.json's "version": a reader opens this version and older ones
LESSONS_DIR, RUNS_DIR = "lessons", "runs"
STATUSES = ("pending", "unfinished", "done", "unavailable")
MAX_ENTRIES = 1000  # lessons or runs a pack.json may list
MAX_LESSON_BYTES = 256 * 1024
_NAME = re.compile(r"\w[\w.+-]{0,99}")  # a lesson or run name that can name a file or folder


class PackError(KgenError):
    """A folder that cannot be used as a class pack: one line saying why."""


def config_hash(config: RunConfig) -> str:
    """What pack.json records of a run's config (`RunConfig.fingerprint`)."""
    return config.fingerprint()


def run_folder(lesson: str, run: str) -> str:
    """Where a prepared run lives, relative to the pack's root."""
    return f"{RUNS_DIR}/{lesson}/{run}"


@dataclass(frozen=True)
class PackRun:
    """One prepared run as pack.json records it."""

    lesson: str
    run: str
    folder: str  # relative to the pack's root
    status: str  # pending, unfinished (started, resumable), done, unavailable (no data here)
    config_hash: str
    epochs: int | None = None
    seconds: float | None = None  # training time on the preparing machine
    note: str = ""  # why it is unavailable

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None and v != ""}


@dataclass
class Manifest:
    """pack.json, parsed and checked."""

    created: str
    lessons: list[str] = field(default_factory=list)
    runs: list[PackRun] = field(default_factory=list)
    version: int = PACK_VERSION

    def entry(self, lesson: str, run: str) -> PackRun | None:
        return next((r for r in self.runs if (r.lesson, r.run) == (lesson, run)), None)

    def put(self, entry: PackRun) -> None:
        """Record ``entry``, replacing the one of the same lesson and run."""
        self.runs = [r for r in self.runs if (r.lesson, r.run) != (entry.lesson, entry.run)] + [entry]

    def to_json(self) -> str:
        data = {"format": PACK_FORMAT, "version": PACK_VERSION, "kgen_version": kgen.__version__,
                "created": self.created, "updated": _now(), "lessons": self.lessons,
                "runs": [r.to_dict() for r in self.runs]}
        return json.dumps(data, indent=2) + "\n"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Opening a pack (read-only)


@dataclass(frozen=True)
class ClassPack:
    """An opened class pack: its root, its own copies of the lessons, and its finished runs."""

    root: Path
    lessons: tuple[Lesson, ...]
    _finished: dict[tuple[str, str], Path] = field(default_factory=dict, repr=False)

    def prepared_run(self, lesson_name: str, run_name: str) -> Path | None:
        """The finished run folder of ``run_name`` in ``lesson_name``; None when the pack holds
        none (not prepared, unfinished, or prepared for a lesson since changed)."""
        return self._finished.get((lesson_name, run_name))


def read_only_run(run_dir: str | os.PathLike) -> bool:
    """Whether a run folder must not be written: a run of a class pack (``PACK/runs/<lesson>/<run>``
    beside a pack.json), or one this process may not write into."""
    folder = Path(run_dir).resolve()
    pack = folder.parent.parent.parent
    if folder.parent.parent.name == RUNS_DIR and (pack / PACK_FILE).is_file():
        return True
    events = folder / EVENTS_FILE
    return not os.access(folder, os.W_OK) or (events.exists() and not os.access(events, os.W_OK))


def open_pack(path: str | os.PathLike) -> ClassPack:
    """Open the class pack at ``path`` without writing anything into it (one-line PackError if it
    is not a pack, is of a newer format, or its pack.json or lessons are damaged or hostile)."""
    root = Path(path)
    manifest = read_manifest(root)
    lessons = tuple(sorted((_pack_lesson(root, name) for name in manifest.lessons),
                           key=lambda x: (x.slides[0], x.name)))
    by_name = {lesson.name: lesson for lesson in lessons}
    finished = {}
    for entry in manifest.runs:
        folder = _inside(root, entry.folder, "run folder")
        if entry.status != "done":
            continue
        if not all((folder / name).is_file() for name in (CONFIG_FILE, MODEL_FILE)):
            raise PackError(f"{show_path(root)}: the prepared run {entry.lesson}/{entry.run} is missing or incomplete "
                            f"(no {CONFIG_FILE} and {MODEL_FILE} in {entry.folder}): copy the whole pack folder again")
        lesson = by_name.get(entry.lesson)
        run = next((r for r in lesson.runs if r.name == entry.run), None) if lesson else None
        if run is not None and config_hash(run.config) == entry.config_hash:
            finished[(entry.lesson, entry.run)] = folder
    return ClassPack(root, lessons, finished)


def read_manifest(root: Path) -> Manifest:
    """The pack.json of the pack ``root``, checked field by field (PackError otherwise)."""
    if not root.is_dir():
        raise PackError(f"{show_path(root)}: no such folder")
    path = root / PACK_FILE
    if not path.exists():
        raise PackError(f"{show_path(root)} is not a class pack (no {PACK_FILE})")
    try:
        data = read_json(path, "class pack description")
    except RunError as err:
        raise PackError(str(err)) from None
    if not isinstance(data, dict) or data.get("format") != PACK_FORMAT:
        raise PackError(f"{show_path(path)} is not a class pack description (no \"format\": \"{PACK_FORMAT}\")")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PackError(f"{show_path(path)}: \"version\" must be a whole number >= 1, got {_short(version)}")
    if version > PACK_VERSION:
        raise PackError(f"{show_path(root)} was prepared by a newer kgen (pack format {version}; this kgen reads "
                        f"formats 1 to {PACK_VERSION}): upgrade kgen to open it")
    lessons = _names(data.get("lessons"), path, "lessons")
    runs = data.get("runs")
    if not isinstance(runs, list) or len(runs) > MAX_ENTRIES:
        raise PackError(f"{show_path(path)}: \"runs\" must be a list of at most {MAX_ENTRIES} runs")
    created = data.get("created")
    return Manifest(created if isinstance(created, str) else "", lessons,
                    [_pack_run(raw, path, i) for i, raw in enumerate(runs)], version)


def _names(value: Any, path: Path, what: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise PackError(f"{show_path(path)}: \"{what}\" must be a list of at most {MAX_ENTRIES} names")
    for name in value:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PackError(f"{show_path(path)}: \"{what}\" holds {_short(name)}, not a lesson name")
    return list(dict.fromkeys(value))


_RUN_FIELDS = {"lesson": str, "run": str, "folder": str, "status": str, "config_hash": str}


def _pack_run(raw: Any, path: Path, i: int) -> PackRun:
    where = f"{show_path(path)}: runs[{i}]"
    if not isinstance(raw, dict):
        raise PackError(f"{where} must be an object")
    for key, kind in _RUN_FIELDS.items():
        if not isinstance(raw.get(key), kind):
            raise PackError(f"{where}.{key} must be a string, got {_short(raw.get(key))}")
    if raw["status"] not in STATUSES:
        raise PackError(f"{where}.status must be one of {', '.join(STATUSES)}, got {_short(raw['status'])}")
    epochs, seconds = raw.get("epochs"), raw.get("seconds")
    return PackRun(raw["lesson"], raw["run"], raw["folder"], raw["status"], raw["config_hash"],
                   epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
                   float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None,
                   raw.get("note") if isinstance(raw.get("note"), str) else "")


def _short(value: Any) -> str:
    text = show_path(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, refused (PackError) when it escapes the pack."""
    found = inside(root, relative)
    if found is None:
        raise PackError(f"{show_path(root / PACK_FILE)}: the {what} {_short(relative)} is outside the pack; refused")
    return found


def _pack_lesson(root: Path, name: str) -> Lesson:
    """The pack's own copy of the lesson ``name``, validated."""
    path = _inside(root, f"{LESSONS_DIR}/{name}.toml", "lesson file")
    try:
        text = read_text(path, MAX_LESSON_BYTES)
    except OSError as err:
        raise PackError(f"{show_path(root)}: lesson {name} is listed but {LESSONS_DIR}/{name}.toml cannot be read "
                        f"({err.strerror or one_line(err)})") from None
    try:
        return parse_lesson(text, show_path(root / LESSONS_DIR / f"{name}.toml"), name)
    except LessonError as err:
        raise PackError(str(err)) from None


# ---------------------------------------------------------------------------------------------
# Preparing a pack (trains; TensorFlow is imported here only)


@dataclass
class PlannedRun:
    """One lesson run `prepare_pack` looks at: what it will do with it, and how long that takes."""

    lesson: Lesson
    run: LessonRun
    action: str  # train, resume, skip (done, same config), unavailable (its data is not here)
    note: str = ""
    estimate: float | None = None  # seconds, from the calibration
    epochs_left: int = 0

    @property
    def folder(self) -> str:
        return run_folder(self.lesson.name, self.run.name)

    @property
    def label(self) -> str:
        return f"{self.lesson.name}/{self.run.name}"


@dataclass
class PackReport:
    """What a `prepare_pack` call planned and did."""

    root: Path
    plan: list[PlannedRun]
    trained: list[str] = field(default_factory=list)
    interrupted: PlannedRun | None = None
    epochs_done: int = 0  # of the interrupted run

    @property
    def estimate(self) -> float:
        return sum(p.estimate or 0.0 for p in self.plan)


def choose_lessons(chosen: Sequence[str | Lesson] | None) -> list[Lesson]:
    """The lessons to pack: every shipped one, or those named (shipped names, or paths to a
    teacher's own .toml files) or given."""
    from kgen.lessons import lessons as shipped

    if chosen is None:
        return shipped()
    found: list[Lesson] = []
    for item in chosen:
        if isinstance(item, Lesson):
            found.append(item)
        elif item.endswith(".toml") or os.sep in item:
            found.append(load_lesson(item))
        else:
            found.append(find_lesson(item))
    names = [x.name for x in found]
    if len(set(names)) != len(names):
        raise PackError(f"two of the lessons chosen are named {next(n for n in names if names.count(n) > 1)!r}")
    for lesson in found:
        _check_name(lesson, lesson.name)
        if not lesson.source:
            raise PackError(f"{lesson.path}: the lesson has no text to copy into the pack (read it from its file)")
    return found


def _check_name(lesson: Lesson, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise PackError(f"{lesson.path}: {name!r} cannot name a file or folder of the pack (use letters, digits "
                        "and . + - _)")


def prepare_pack(root: str | os.PathLike, lessons: Sequence[str | Lesson] | None = None, *,
                 dry_run: bool = False, out: TextIO | None = None, calibrate: bool = True) -> PackReport:
    """Train every prepared run of ``lessons`` (default: all) into the pack ``root``, after printing
    the plan and a time estimate (`calibrate`: a few steps of each run, timed). Finished runs of an
    unchanged config are skipped, unfinished ones resumed; a changed one is trained again. A stop
    (Ctrl-C) leaves a consistent pack: the report's ``interrupted`` names the run."""
    out = out or sys.stdout
    root = Path(root)
    chosen = choose_lessons(lessons)
    manifest = _existing_manifest(root)
    plan = make_plan(root, chosen, manifest)
    if calibrate:
        for item in plan:
            if item.action in ("train", "resume"):
                item.estimate = estimate_seconds(item.run.config, item.epochs_left)
    print_plan(plan, root, out)
    report = PackReport(root, plan)
    if dry_run:
        return report
    _record_plan(root, manifest, chosen, plan)
    todo = [p for p in plan if p.action in ("train", "resume")]
    for n, item in enumerate(todo, 1):
        result = _prepare_run(root, manifest, item, f"[{n}/{len(todo)}]", out)
        if result.stopped:
            report.interrupted, report.epochs_done = item, result.epochs_done
            return report
        report.trained.append(item.label)
    return report


def _record_plan(root: Path, manifest: Manifest, chosen: Sequence[Lesson], plan: Sequence[PlannedRun]) -> None:
    """Copy the lessons into the pack, then list them and the planned runs in pack.json (runs to
    train as pending: a stop from here on leaves a pack that opens, without them)."""
    for lesson in chosen:
        atomic_write_text(root / LESSONS_DIR / f"{lesson.name}.toml", lesson.source)
    manifest.lessons = list(dict.fromkeys([*manifest.lessons, *(x.name for x in chosen)]))
    for item in plan:
        if item.action in ("train", "unavailable") or manifest.entry(item.lesson.name, item.run.name) is None:
            manifest.put(_entry(item, "unavailable" if item.action == "unavailable" else "pending"))
    _save(root, manifest)


def _entry(item: PlannedRun, status: str, **extra: Any) -> PackRun:
    return PackRun(item.lesson.name, item.run.name, item.folder, status, config_hash(item.run.config),
                   note=item.note, **extra)


def _save(root: Path, manifest: Manifest) -> None:
    atomic_write_text(root / PACK_FILE, manifest.to_json())


def _existing_manifest(root: Path) -> Manifest:
    """The pack's pack.json, or a new one for a new or empty folder; any other folder is refused
    (a pack is never prepared over a user's files)."""
    if root.exists() and not root.is_dir():
        raise PackError(f"{show_path(root)} exists and is not a folder")
    if (root / PACK_FILE).exists():
        return read_manifest(root)
    if root.is_dir() and any(root.iterdir()):
        raise PackError(f"{show_path(root)} is not empty and not a class pack; give a new or empty folder")
    return Manifest(created=_now())


def make_plan(root: Path, chosen: Sequence[Lesson], manifest: Manifest) -> list[PlannedRun]:
    """For each prepared run of ``chosen``: train, resume, skip or unavailable."""
    from kgen.data import list_datasets

    plan = []
    for lesson in chosen:
        for run in (r for r in lesson.runs if r.prepare):
            _check_name(lesson, run.name)
            t = run.config.train
            info = next((i for i in list_datasets(t.data_dir) if i.name == t.dataset), None)
            item = PlannedRun(lesson, run, "train", epochs_left=t.epochs)
            if info is not None and not info.available:
                item.action, item.note = "unavailable", f"dataset {t.dataset} is not available here ({info.detail})"
            else:
                _decide(root, manifest, item)
            plan.append(item)
    return plan


def _decide(root: Path, manifest: Manifest, item: PlannedRun) -> None:
    """Skip a finished run of the same config, resume an unfinished one, else train afresh."""
    entry = manifest.entry(item.lesson.name, item.run.name)
    same = entry is not None and entry.config_hash == config_hash(item.run.config) and entry.folder == item.folder
    folder = root / item.folder
    if same and entry.status == "done" and (folder / MODEL_FILE).is_file():
        item.action = "skip"
    elif same and entry.status == "unfinished" and (folder / CONFIG_FILE).is_file():
        item.action = "resume"
        latest = Run(folder).latest_checkpoint()
        item.epochs_left = item.run.config.train.epochs - (latest[1] if latest else 0)


def print_plan(plan: Sequence[PlannedRun], root: Path, out: TextIO) -> None:
    """The plan as a table, with each run's time estimate and the total."""
    if not plan:
        print(f"No lesson chosen has a run to prepare; {show_path(root)} gets the lessons only.", file=out)
        return
    width = max(len(p.label) for p in plan)
    print(f"Class pack {show_path(root)}: {len(plan)} prepared run(s)", file=out)
    print(f"  {'lesson/run':<{width}}  {'dataset':<14}  epochs  action    estimate", file=out)
    for p in plan:
        t = p.run.config.train
        time_ = format_duration(p.estimate) if p.estimate is not None else "-"
        print(f"  {p.label:<{width}}  {t.dataset:<14}  {t.epochs:>6}  {p.action:<8}  {time_}", file=out)
        if p.note:
            print(f"    {p.label}: not prepared: {p.note}", file=out)
    total = sum(p.estimate or 0.0 for p in plan)
    if any(p.estimate is not None for p in plan):
        print(f"Estimated time on this machine: {format_duration(total)} (a few steps of each run, timed)", file=out)


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '2 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _prepare_run(root: Path, manifest: Manifest, item: PlannedRun, counter: str, out: TextIO):
    """Train (or resume) one run into the pack, recording it in pack.json before and after."""
    from kgen.train.training import train

    folder = root / item.folder
    resume = item.action == "resume"
    if not resume:
        _clear_run_folder(root, folder)
    manifest.put(_entry(item, "unfinished", epochs=item.run.config.train.epochs))
    _save(root, manifest)
    when = f", about {format_duration(item.estimate)}" if item.estimate is not None else ""
    print(f"{counter} {item.label}: {item.run.config.train.dataset}, epochs {item.epochs_left}{when}"
          f"{' (resumed)' if resume else ''}", file=out, flush=True)
    result = train(item.run.config, folder, resume=resume)
    if not result.stopped:
        manifest.put(_entry(item, "done", epochs=result.epochs_done, seconds=round(result.seconds, 1)))
        _save(root, manifest)
    return result


def _clear_run_folder(root: Path, folder: Path) -> None:
    """Empty the pack's folder for a run about to be trained afresh: an old kgen run there (of a
    changed lesson, or a start that never got going) goes; anything else is refused."""
    if not folder.exists():
        return
    if inside(root, folder.relative_to(root)) is None or folder.is_symlink():
        raise PackError(f"{show_path(folder)} leads outside the pack; refused")
    if any(folder.iterdir()) and not (folder / CONFIG_FILE).is_file():
        raise PackError(f"{show_path(folder)} holds files that are not a kgen run; move them away and prepare again")
    shutil.rmtree(folder)


def estimate_seconds(config: RunConfig, epochs: int, *, warmup: int = 3, steps: int = 40,
                     budget: float = 4.0) -> float:
    """Seconds ``epochs`` epochs of ``config`` take here: a few steps trained through kgen's normal
    path into a temporary folder, timed after ``warmup`` steps (for at most ``steps`` steps or
    ``budget`` seconds), plus the start-up measured on the way. Ctrl-C raises KeyboardInterrupt."""
    from kgen.train.training import train

    timer = _step_timer(warmup, steps, budget)
    one_epoch = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1, sample_every=1_000_000))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kgen-calibrate-") as tmp:
        result = train(one_epoch, Path(tmp) / "run", extra_callbacks=[timer], verbose=0)
    if result.stopped and not timer.done:
        raise KeyboardInterrupt
    startup = max(0.0, (timer.first_at or time.monotonic()) - started)
    return startup + epochs * timer.steps_per_epoch / timer.rate()


def _step_timer(warmup: int, steps: int, budget: float):
    """A Keras callback that times training steps after ``warmup`` and then stops the fit."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.count, self.done, self.steps_per_epoch = 0, False, 1
            self.first_at = self.timed_from = self.last_at = None  # monotonic times of step ends

        def on_train_begin(self, logs=None):
            self.steps_per_epoch = int(self.params.get("steps") or 1)

        def on_train_batch_end(self, batch, logs=None):
            self.last_at, self.count = time.monotonic(), self.count + 1
            self.first_at = self.first_at or self.last_at
            if self.count == warmup:
                self.timed_from = self.last_at
            elif self.count > warmup and (self.count - warmup >= steps or self.last_at - self.timed_from >= budget):
                self.done = self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.done = self.done or self.count >= self.steps_per_epoch

        def rate(self) -> float:
            """Steps a second after the warm-up (or, in an epoch too short for one, after the first)."""
            start, skipped = (self.timed_from, warmup) if self.timed_from is not None else (self.first_at, 1)
            if start is None or self.count <= skipped or self.last_at <= start:
                return 1.0  # nothing could be timed: a step a second, a guess
            return (self.count - skipped) / (self.last_at - start)

    return StepTimer()
