"""The events of a run's ``events.jsonl``: what each kind holds, checked in one place for every reader.

kgen writes one JSON object a line (`kgen.runs.EventLog`); anything may have written the file
instead (a torn copy, another program, a hostile user). `parse_line` turns a line into an event
only if its kind is known and every known field has the right type and range, so readers
(`kgen.runs.read_events`, `kgen.services.follower.RunFollower`, the studio) can index fields without
guarding each one. Fields this schema does not know pass through unchecked; readers must not
use them. Kinds: start, step, epoch, samples, hparam, eval, end, note, error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

MAX_LINE_BYTES = 1 << 20  # a longer line is no event of kgen's (a step with 200 metrics is ~10 KB)
MAX_STEP = 2**53  # steps and counts stay exact as floats (the curves store them so)
MAX_EPOCH = 10**7  # epochs travel through Qt signals as C ints
MAX_TEXT = 4096  # characters of a name, message or path
MAX_METRICS = 256  # metrics of one event (a plot each in the studio)

Check = Callable[[Any], str | None]  # the problem with a value, or None when it is fine


def _whole(low: int, high: int, nullable: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"must be a whole number from {low} to {high:,}"
        return None
    return check


def _number(value: Any) -> str | None:
    """Any float (NaN and Inf are real losses of a diverging run), or an int within float range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number"
    if isinstance(value, int) and abs(value) > 2**1023:
        return "is too large"
    return None


def _finite(value: Any) -> str | None:
    """A finite number >= 0 (a duration, a rate)."""
    problem = _number(value)
    return problem or (None if math.isfinite(value) and value >= 0 else "must be a finite number >= 0")


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and len(value) <= MAX_TEXT else f"must be text of at most {MAX_TEXT} characters"


def _path(value: Any) -> str | None:
    return _text(value) or (None if value else "must not be empty")


def _metrics(value: Any) -> str | None:
    if not isinstance(value, dict) or len(value) > MAX_METRICS:
        return f"must be an object of at most {MAX_METRICS} named numbers"
    for name, number in value.items():
        if not name or len(name) > 200 or _number(number):
            return f"must map names to numbers (bad entry {name[:40]!r})"
    return None


_STEP, _EPOCH = _whole(0, MAX_STEP), _whole(0, MAX_EPOCH)
# Fields of the same meaning in every kind that has them; then per kind, its own fields.
_COMMON: dict[str, Check] = {"time": _finite, "step": _STEP, "epoch": _EPOCH}
SCHEMA: dict[str, dict[str, Check]] = {
    "start": {"device": _text, "epochs": _whole(0, MAX_EPOCH, nullable=True), "initial_epoch": _EPOCH,
              "steps_per_epoch": _whole(0, MAX_STEP, nullable=True), "dataset": _text, "source": _text,
              "model": _text, "strategy": _text, "replicas": _whole(1, 1 << 20), "precision": _text},
    "step": {"elapsed": _finite, "metrics": _metrics, "steps_per_second": _finite, "images_per_second": _finite},
    "epoch": {"elapsed": _finite, "metrics": _metrics},
    "samples": {"path": _path},
    "hparam": {"name": _text, "old": _number, "new": _number},
    "eval": {"split": _text, "n": _whole(0, MAX_STEP), "metrics": _metrics},
    "end": {"status": _text, "elapsed": _finite},
    "note": {"message": _text},
    "error": {"message": _text, "fault": _text},
}
# What a reader needs of each kind; every other field is optional.
_REQUIRED = {"step": ("step",), "epoch": ("epoch",), "samples": ("epoch", "path")}
# What a reader that shows events may assume of an optional field when it is absent (`complete`).
DEFAULTS: dict[str, dict[str, Any]] = {"step": {"epoch": 0, "metrics": {}}, "epoch": {"metrics": {}}}


def problem(value: Any) -> str | None:
    """Why ``value`` (a parsed JSON value) is not a valid event, in a few words; None if it is one."""
    if not isinstance(value, dict):
        return "not a JSON object"
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in SCHEMA:
        return f"unknown event type {str(kind)[:40]!r}"
    for name in _REQUIRED.get(kind, ()):
        if name not in value:
            return f"{kind} event without {name!r}"
    for name, check in (*_COMMON.items(), *SCHEMA[kind].items()):
        if name in value and (why := check(value[name])):
            return f"{kind} event: {name!r} {why}"
    return None


def parse_line(line: bytes | str) -> tuple[dict[str, Any] | None, str | None]:
    """(event, None) for a valid line of events.jsonl, else (None, why it was skipped)."""
    if len(line) > MAX_LINE_BYTES:
        return None, f"a line of {len(line):,} bytes (at most {MAX_LINE_BYTES:,})"
    try:
        value = json.loads(line)
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError:  # garbled, torn by a crash, not UTF-8, or an int of thousands of digits
        return None, "not JSON"
    why = problem(value)
    return (None, why) if why else (value, None)


def complete(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with `DEFAULTS` for the optional fields a view reads (a new dict when any is missing)."""
    defaults = DEFAULTS.get(event["type"])
    if not defaults or all(name in event for name in defaults):
        return event
    return {**{k: (dict(v) if isinstance(v, dict) else v) for k, v in defaults.items()}, **event}
