"""Lessons: one TOML file per slide (or group of neighbouring slides) of the lecture, shipped in
``assets/lessons/`` and read with importlib.resources. A lesson names its slides, explains them in
a few sentences, gives their formulas (matplotlib mathtext, each optionally beside a live metric),
the runs that show them, the views to open and 1-3 "try this" steps, each a change of one run.

`load_lesson` validates every field; anything wrong is one `LessonError` line naming the file, the
line and the field (``lesson.toml:12: runs[0].model.beta: beta must be ...``). TensorFlow-free.
"""

from __future__ import annotations

import importlib.resources
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from kgen import registry
from kgen.config import RunConfig
from kgen.data import BUILTINS, POINT_TOYS
from kgen.errors import ConfigError, KgenError, show_path

# The app's views a lesson can open; the first one listed is brought to the front.
VIEWS = ("setup", "curves", "samples", "latent", "evaluate", "playground", "compare", "kl_gaussians", "estimator_toy",
         "drawing_pad", "draw_steps", "game_1d", "posterior", "side_by_side")
SLIDES = 34  # the lecture's slides with an idea (docs: the lecture map)
MAX_TRIES = 3
# mathtext's parser is not thread-safe (pyparsing's shared state): whoever parses or renders a
# formula holds this lock (kgen.services.formulas renders in a background thread).
MATHTEXT_LOCK = threading.Lock()

_TOP = {"title": str, "slides": list, "explanation": str, "formulas": list, "runs": list, "views": list,
        "try": list, "seconds": int}
_REQUIRED = ("title", "slides", "explanation", "runs", "views", "try")
_FORMULA = {"tex": str, "metric": str, "caption": str}
_RUN = {"name": str, "train": dict, "model": dict, "prepare": bool}
PREPARE_SECONDS = 60  # a lesson slower than this to its point has every run prepared (a class pack)
_RUN_TRAIN_REQUIRED = ("model", "dataset", "epochs", "seed")
_TRY = {"label": str, "change": dict, "look_for": str, "run": str}


class LessonError(KgenError):
    """A lesson file that cannot be used: one line naming the file, the line and the field."""


@dataclass(frozen=True)
class Formula:
    tex: str  # matplotlib mathtext, e.g. "$D_{KL}(q \\| p)$"
    metric: str | None = None  # the live step metric shown beside it ("kl"), if any
    caption: str = ""


@dataclass(frozen=True)
class LessonRun:
    name: str
    config: RunConfig
    sections: dict[str, dict[str, Any]]  # the run as written: {"train": ..., "model": ...}
    prepare: bool = False  # trained beforehand into a class pack (kgen.services.class_pack), opened in class


@dataclass(frozen=True)
class TryStep:
    label: str  # the button's text: "Set beta to 4 and run again"
    change: dict[str, Any]  # option -> value, of either section
    look_for: str
    run: str  # the name of the run it changes

    def config(self, lesson: Lesson) -> RunConfig:
        """The run this step starts: its run's config with the change applied."""
        return changed_config(lesson.run(self.run).sections, self.change)


@dataclass(frozen=True)
class Lesson:
    name: str  # the file's stem: what `kgen lessons NAME` and `kgen-studio --lesson NAME` take
    path: str
    title: str
    slides: tuple[int, ...]
    explanation: str
    formulas: tuple[Formula, ...]
    runs: tuple[LessonRun, ...]
    views: tuple[str, ...]
    tries: tuple[TryStep, ...]
    seconds: int | None = None  # time to its point on 2 CPU cores, when measured
    source: str = field(default="", repr=False, compare=False)  # the TOML text it was read from (packs copy it)

    def run(self, name: str) -> LessonRun:
        return next(r for r in self.runs if r.name == name)


def changed_config(sections: Mapping[str, Mapping[str, Any]], change: Mapping[str, Any]) -> RunConfig:
    """The run config ``sections`` with ``change`` (option -> value) applied: an option of the
    training section goes there, any other to the model's section (validated: ConfigError)."""
    from kgen.config import TrainConfig, options

    train, model = dict(sections["train"]), dict(sections["model"])
    for name, value in change.items():
        (train if name in options(TrainConfig) else model)[name] = value
    return RunConfig.from_dict({"train": train, "model": model})


def _line_of(text: str, path: tuple[str | int, ...]) -> int:
    """The 1-based line of the field at ``path`` in the TOML ``text`` (its table's line when the
    field itself is not written there); a best effort that follows tables and arrays of tables."""
    lines = text.splitlines()
    at, parent = 0, ""
    for part in path:
        if isinstance(part, int):
            header = re.compile(rf"\s*\[\[\s*{re.escape(parent)}\s*\]\]")
            hits = [i for i in range(at, len(lines)) if header.match(lines[i])]
            at = hits[part] if len(hits) > part else at
        else:
            key = re.escape(part)
            found = re.compile(rf"\s*(\[+\s*(?:[\w\"-]+\s*\.\s*)*{key}\s*\]+|\"?{key}\"?\s*=)|.*[{{,]\s*\"?{key}\"?\s*=")
            at = next((i for i in range(at, len(lines)) if found.match(lines[i])), at)
        parent = part if isinstance(part, str) else parent
    return at + 1 if lines else 1


def _field(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(file)"


class _Reader:
    """Validates one lesson file's parsed TOML, raising LessonErrors that point into its text."""

    def __init__(self, shown: str, text: str):
        self.shown, self.text = shown, text

    def fail(self, path: tuple[str | int, ...], message: str) -> LessonError:
        return LessonError(f"{self.shown}:{_line_of(self.text, path)}: {_field(path)}: {message}")

    def table(self, data: Any, path: tuple[str | int, ...], fields: Mapping[str, type],
              required: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(path, f"must be a table, got {_kind(data)}")
        for key in data:
            if key not in fields:
                raise self.fail((*path, key), f"unknown field; expected one of {', '.join(fields)}")
        for key in required:
            if key not in data:
                raise self.fail(path or (key,), f"missing field {key!r}")
        for key, value in data.items():
            want = fields[key]
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise self.fail((*path, key), f"must be {_KINDS[want]}, got {_kind(value)}")
            if want is str and not value.strip():
                raise self.fail((*path, key), "must not be empty")
        return data


_KINDS = {str: "a string", list: "an array", dict: "a table", int: "a whole number", bool: "true or false"}


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a whole number", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def check_formula(tex: str) -> None:
    """Refuse a formula mathtext cannot typeset (ValueError). Uses matplotlib's mathtext parser
    when matplotlib is installed; without it, checks the $ delimiters and {} / \\left \\right balance."""
    try:
        from matplotlib.mathtext import MathTextParser
    except ImportError:
        MathTextParser = None  # noqa: N806
    if tex.count("$") - tex.count(r"\$") < 2 or (tex.count("$") - tex.count(r"\$")) % 2:
        raise ValueError("needs its mathematics between $ signs")
    if MathTextParser is not None:
        with MATHTEXT_LOCK:
            MathTextParser("path").parse(tex)
        return
    depth = 0
    for i, char in enumerate(tex):
        if char in "{}" and (i == 0 or tex[i - 1] != "\\"):
            depth += 1 if char == "{" else -1
            if depth < 0:
                raise ValueError(f"unbalanced }} at character {i + 1}")
    if depth:
        raise ValueError("unbalanced { (a brace is not closed)")
    if len(re.findall(r"\\left\b", tex)) != len(re.findall(r"\\right\b", tex)):
        raise ValueError("\\left without its \\right")


def _config_field(err: ConfigError, sections: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The (section, option) a config error is about, as far as it can be told, else ()."""
    message = str(err)
    names = [*getattr(err, "options", ())]
    names += re.findall(r"has no option (\S+)", message) + re.findall(r"^(\w+)", message)
    for name in names:
        for section in ("train", "model"):
            if name in sections.get(section, {}):
                return (section, name)
    return ()


def load_lesson(path: str | Path, *, name: str | None = None) -> Lesson:
    """Read and validate the lesson file at ``path`` (one-line LessonError on anything wrong)."""
    path = Path(path)
    shown = show_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LessonError(f"{shown}:1: (file): cannot read it: {getattr(err, 'strerror', None) or err}") from None
    return parse_lesson(text, shown, name or path.stem)


def parse_lesson(text: str, shown: str, name: str) -> Lesson:
    """Validate the lesson ``text`` (the file ``shown`` in messages) named ``name``."""
    reader = _Reader(shown, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"\(at line (\d+), column \d+\)", str(err))
        line = found.group(1) if found else "1"
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err).splitlines()[0])
        raise LessonError(f"{shown}:{line}: (file): not valid TOML: {reason}") from None
    reader.table(data, (), _TOP, _REQUIRED)
    slides = data["slides"]
    if not slides:
        raise reader.fail(("slides",), "must name at least one slide")
    for i, slide in enumerate(slides):
        if not isinstance(slide, int) or isinstance(slide, bool) or not 1 <= slide <= SLIDES:
            raise reader.fail(("slides",), f"item {i + 1} must be a slide number 1-{SLIDES}, got {slide!r}")
    if "seconds" in data and data["seconds"] < 1:
        raise reader.fail(("seconds",), f"must be >= 1, got {data['seconds']}")

    runs = []
    if not data["runs"]:
        raise reader.fail(("runs",), "needs at least one run")
    for i, raw in enumerate(data["runs"]):
        where = ("runs", i)
        reader.table(raw, where, _RUN, ("name", "train", "model"))
        for key in _RUN_TRAIN_REQUIRED:
            if key not in raw["train"]:
                raise reader.fail((*where, "train"), f"missing field {key!r} (a lesson's run names its model, "
                                                      "dataset, epochs and seed)")
        if raw["name"] in {r.name for r in runs}:
            raise reader.fail((*where, "name"), f"another run is already named {raw['name']!r}")
        sections = {"train": raw["train"], "model": raw["model"]}
        try:
            config = RunConfig.from_dict({"train": dict(raw["train"]), "model": dict(raw["model"])})
        except ConfigError as err:
            raise reader.fail((*where, *_config_field(err, sections)), str(err)) from None
        dataset = config.train.dataset
        if dataset not in BUILTINS:
            raise reader.fail((*where, "train", "dataset"), f"a lesson runs on a built-in dataset "
                                                            f"({', '.join(BUILTINS)}), got {dataset!r}")
        spec = registry.spec(config.train.model)
        if dataset in POINT_TOYS and not spec.points:
            raise reader.fail((*where, "train", "dataset"), f"{spec.name} trains on images, not the toy {dataset}")
        if spec.conditional and dataset in POINT_TOYS:
            raise reader.fail((*where, "train", "dataset"), f"{spec.name} needs class labels; {dataset} has none")
        prepare = raw.get("prepare", False) or data.get("seconds", 0) > PREPARE_SECONDS
        runs.append(LessonRun(raw["name"], config, sections, prepare))
    metrics = {m for r in runs for m in registry.spec(r.config.train.model).step_metrics}

    formulas = []
    for i, raw in enumerate(data.get("formulas", [])):
        reader.table(raw, ("formulas", i), _FORMULA, ("tex",))
        try:
            check_formula(raw["tex"])
        except ValueError as err:
            raise reader.fail(("formulas", i, "tex"), f"does not parse as mathtext: "
                                                      f"{str(err).strip().splitlines()[0]}") from None
        metric = raw.get("metric")
        if metric is not None and metric not in metrics:
            raise reader.fail(("formulas", i, "metric"), f"no run of this lesson reports {metric!r}; "
                                                         f"its runs report {', '.join(sorted(metrics))}")
        formulas.append(Formula(raw["tex"], metric, raw.get("caption", "")))

    views = data["views"]
    if not views:
        raise reader.fail(("views",), "must name at least one view")
    for view in views:
        if view not in VIEWS:
            raise reader.fail(("views",), f"unknown view {view!r}; expected some of {', '.join(VIEWS)}")

    tries = []
    if not 1 <= len(data["try"]) <= MAX_TRIES:
        raise reader.fail(("try",), f"needs 1-{MAX_TRIES} steps, got {len(data['try'])}")
    for i, raw in enumerate(data["try"]):
        where = ("try", i)
        reader.table(raw, where, _TRY, ("label", "change", "look_for"))
        target = raw.get("run", runs[0].name)
        if target not in {r.name for r in runs}:
            raise reader.fail((*where, "run"), f"no run is named {target!r}")
        if not raw["change"]:
            raise reader.fail((*where, "change"), "must change at least one option")
        if "model" in raw["change"]:
            raise reader.fail((*where, "change", "model"), "a try step changes options, not the model kind "
                                                           "(give the lesson a second run instead)")
        run = next(r for r in runs if r.name == target)
        try:
            changed_config(run.sections, raw["change"])
        except ConfigError as err:
            option = next((k for k in raw["change"] if re.search(rf"\b{re.escape(k)}\b", str(err))), None)
            path = (*where, "change", option) if option else (*where, "change")
            raise reader.fail(path, f"gives an invalid run: {err}") from None
        tries.append(TryStep(raw["label"], dict(raw["change"]), raw["look_for"], target))

    return Lesson(name=name, path=shown, title=data["title"], slides=tuple(slides),
                  explanation=data["explanation"].strip(), formulas=tuple(formulas), runs=tuple(runs),
                  views=tuple(views), tries=tuple(tries), seconds=data.get("seconds"), source=text)


def lesson_files() -> list[Any]:
    """The shipped lesson files (importlib.resources traversables), by name."""
    folder = importlib.resources.files("assets") / "lessons"
    return sorted((f for f in folder.iterdir() if f.name.endswith(".toml") and f.is_file()), key=lambda f: f.name)


def shipped() -> list[Lesson | LessonError]:
    """Every shipped lesson file, read: its Lesson, or the LessonError that says why it cannot be
    used (what a browser lists as broken), in the lecture's order with broken files last."""
    found: list[Lesson | LessonError] = []
    for entry in lesson_files():
        try:
            text = entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            found.append(LessonError(f"assets/lessons/{entry.name}:1: (file): cannot read it: {err}"))
            continue
        try:
            found.append(parse_lesson(text, f"assets/lessons/{entry.name}", entry.name.removesuffix(".toml")))
        except LessonError as err:
            found.append(err)
    return lecture_order(found)


def lecture_order(items: list[Lesson | LessonError]) -> list[Lesson | LessonError]:
    """Lessons by their first slide, then name; broken files (LessonErrors) last."""
    return sorted(items, key=lambda x: (0, x.slides[0], x.name) if isinstance(x, Lesson) else (1, 0, str(x)))


def lessons() -> list[Lesson]:
    """Every shipped lesson, in the lecture's order (by first slide, then name). A broken file
    raises its LessonError: none is skipped silently (`shipped` lists the broken ones too)."""
    found = shipped()
    for item in found:
        if isinstance(item, LessonError):
            raise item
    return [item for item in found if isinstance(item, Lesson)]


def is_lesson_path(name: str) -> bool:
    """Whether ``name`` names a lesson file (a teacher's own ``.toml``) rather than a shipped lesson."""
    return name.endswith(".toml")


def find_lesson(name: str) -> Lesson:
    """The shipped lesson ``name`` (its file's stem), or the lesson file ``name`` when it ends in
    ``.toml`` (a teacher's own, checked the same way); a LessonError listing the names otherwise."""
    if is_lesson_path(name):
        return load_lesson(name)
    every = lessons()
    for lesson in every:
        if lesson.name == name:
            return lesson
    raise LessonError(f"no lesson named {name!r}; the lessons are {', '.join(x.name for x in every)}")
