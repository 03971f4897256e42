"""The events of a run: one typed record per kind, for ``events.jsonl``, the training pipe and the views.

A record is a dataclass (`Step`, `Epoch`, `Samples`, ...) that `kgen.runs.EventLog` writes as one
JSON line (`Event.to_json`) and hands, the same object, to a listener (the training process's
pipe); readers (`kgen.runs.read_events`, `kgen.services.follower.RunFollower`) turn lines back
into records with `Event.from_json`, which checks every field so views can use them unguarded.
Fields marked memory-only (a samples record's picture, rates, the run directory) never go to
disk. Records can also be read as mappings of their set fields (``event["step"]``), as the
JSON lines read. The contract, with every kind and field, is docs/RUN_FORMAT.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

FORMAT_VERSION = 2  # of the run format (docs/RUN_FORMAT.md); runs without a "format" field are 1
MAX_LINE_BYTES = 1 << 20  # a longer line is no event of kgen's (a step with 200 metrics is ~10 KB)
MAX_STEP = 2**53  # steps and counts stay exact as floats (the curves store them so)
MAX_EPOCH = 10**7  # epochs travel through Qt signals as C ints
MAX_TEXT = 4096  # characters of a name, message or path
MAX_METRICS = 256  # metrics of one event (a plot each in the studio)
RATE_WINDOW = 20  # steps per second are measured over this many of the latest steps

Check = Callable[[Any], str | None]  # the problem with a value, or None when it is fine


def global_step(epoch: int, batch: int, steps_per_epoch: int) -> int:
    """The run's step number after batch ``batch`` of epoch ``epoch`` (both counted from 0, as
    Keras counts them; batch -1 gives the step before the epoch's first): steps are numbered
    from 1 across the whole run."""
    return epoch * steps_per_epoch + batch + 1


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


_STEP, _EPOCH, _COUNT = _whole(0, MAX_STEP), _whole(0, MAX_EPOCH), _whole(1, 1 << 20)


def _field(check: Check | None = None, default: Any = None, *, factory: Callable[[], Any] | None = None,
           memory: bool = False) -> Any:
    """A record's field: ``check`` validates it when read from JSON; a ``memory`` field (an array,
    a measured rate) travels in memory only and is never written to events.jsonl."""
    metadata = {"check": check, "memory": memory}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata, compare=not memory)


@dataclass(kw_only=True, eq=False)
class Event(Mapping[str, Any]):
    """One event of a run; subclasses are the kinds (``kind`` is the JSON ``type``)."""

    kind: ClassVar[str] = ""
    on_disk: ClassVar[bool] = True  # a kind of events.jsonl; else it only crosses the pipe
    required: ClassVar[tuple[str, ...]] = ()  # JSON fields a line of this kind must have
    _stored: ClassVar[tuple[tuple[str, Check | None], ...]] = ()  # (name, check) of the JSON fields
    _names: ClassVar[frozenset[str]] = frozenset()  # every field, JSON and memory-only

    time: float | None = _field(_finite)  # Unix time in seconds when it was written (EventLog sets it)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            KINDS[cls.kind] = cls

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this record's line: its type and every set field but memory-only ones."""
        line = {"type": self.kind}
        for name, _ in self._stored:
            value = getattr(self, name)
            if value is not None:
                line[name] = value
        return line

    @classmethod
    def from_json(cls, value: Any) -> tuple[Event | None, str | None]:
        """(record, None) for a valid event object of a run's events.jsonl (of this kind when
        called on a kind), else (None, why it is skipped); never raises. Unknown fields are ignored."""
        why = problem(value)
        if why is None and cls is not Event and value["type"] != cls.kind:
            why = f"not a {cls.kind} event (a {value['type']} event)"
        if why:
            return None, why
        kind = KINDS[value["type"]]
        return kind(**{name: value[name] for name, _ in kind._stored if name in value}), None

    # Read as a mapping of its set fields, like the JSON object it was read from.
    def __getitem__(self, key: str) -> Any:
        if key == "type":
            return self.kind
        value = getattr(self, key, None) if key in self._names else None
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        yield "type"
        yield from (f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __eq__(self, other: object) -> bool:
        """Records are equal when of one kind with equal fields (memory-only arrays aside); a
        record equals a plain mapping of the same set fields, as mappings do."""
        if isinstance(other, Event):
            return type(self) is type(other) and self._compared() == other._compared()
        if isinstance(other, Mapping):
            return dict(self) == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare)


KINDS: dict[str, type[Event]] = {}  # kind name -> record class, filled as the kinds are defined


def _finish(cls: type[Event]) -> type[Event]:
    """Make ``cls`` a dataclass record and note its JSON fields (their checks) for `from_json`."""
    cls = dataclass(kw_only=True, eq=False)(cls)
    fields = dataclasses.fields(cls)
    cls._stored = tuple((f.name, f.metadata.get("check")) for f in fields if not f.metadata.get("memory"))
    cls._names = frozenset(f.name for f in fields)
    return cls


# The kinds of events.jsonl ---------------------------------------------------------------


@_finish
class Start(Event):
    """Training (or a resume) began; what it runs on and how long it will be."""

    kind = "start"
    format: int | None = _field(_whole(1, 1 << 20))  # the run format it is written in (None: 1)
    device: str = _field(_text, "")  # "CPU: <model>" or "GPU: <name>"
    epochs: int | None = _field(_whole(0, MAX_EPOCH, nullable=True))  # the run's target, in epochs (None: unknown)
    initial_epoch: int | None = _field(_EPOCH)  # whole epochs done before this start (a resume)
    steps_per_epoch: int | None = _field(_whole(0, MAX_STEP, nullable=True))  # batches an epoch (None: unknown until the first ends)
    dataset: str | None = _field(_text)
    source: str | None = _field(_text)  # "external" for a run RunLogger records
    model: str | None = _field(_text)  # RunLogger: the Keras model's name
    strategy: str | None = _field(_text)  # tf.distribute strategy: default, mirrored, multiworker
    replicas: int | None = _field(_COUNT)  # devices training in sync
    precision: str | None = _field(_text)  # float32, mixed_float16 or mixed_bfloat16
    run_dir: str | None = _field(memory=True)  # the run directory, as the writer or reader knows it
    pid: int | None = _field(memory=True)  # the process that writes the run (set by its writer)


@_finish
class Step(Event):
    """One batch trained: its own metric values (not the epoch's running mean)."""

    kind = "step"
    required = ("step",)
    step: int = _field(_STEP, 0)  # global step, from 1 (`global_step`)
    epoch: int = _field(_EPOCH, 0)  # the epoch it belongs to, from 1
    elapsed: float | None = _field(_finite)  # seconds since this training session started
    metrics: dict[str, float] = _field(_metrics, factory=dict)
    steps_per_second: float | None = _field(memory=True)  # over the latest steps (`StepRates`)
    images_per_second: float | None = _field(memory=True)  # when examples per step are known


@_finish
class Epoch(Event):
    """One epoch ended: the means of its metrics, and validation metrics (val_*)."""

    kind = "epoch"
    required = ("epoch",)
    epoch: int = _field(_EPOCH, 0)  # epochs done, from 1
    step: int | None = _field(_STEP)  # the global step it ended at
    elapsed: float | None = _field(_finite)
    metrics: dict[str, float] = _field(_metrics, factory=dict)


@_finish
class Samples(Event):
    """A sample grid: a PNG in the run on disk, the picture itself over the pipe."""

    kind = "samples"
    required = ("epoch", "path")
    epoch: int = _field(_EPOCH, 0)
    path: str = _field(_path, "")  # relative to the run directory: samples/epoch_NNNN.png
    picture: Any = _field(memory=True)  # uint8 (H, W) or (H, W, 3); a reader fills it from the PNG
    # A decoder with a learned variance: the sigma maps and a draw x ~ N(mean, sigma^2), as the grid.
    sigma_path: str | None = _field(_path)  # samples/sigma/epoch_NNNN.png: grey 0..255 is sigma 0..sigma_max
    draw_path: str | None = _field(_path)  # samples/draw/epoch_NNNN.png
    sigma_max: float | None = _field(_finite)  # the sigma, in pixel units (0 to 1), white stands for
    sigma_picture: Any = _field(memory=True)  # uint8, as the sigma PNG holds it
    draw_picture: Any = _field(memory=True)  # uint8, as the draw PNG holds it


@_finish
class Hparam(Event):
    """A hyperparameter changed mid-run (the studio's "Set learning rate")."""

    kind = "hparam"
    required = ("step",)
    step: int = _field(_STEP, 0)  # global step after which it applies
    name: str = _field(_text, "")  # "lr"
    old: float | None = _field(_number)
    new: float | None = _field(_number)


@_finish
class Eval(Event):
    """Scores of the finished model (the end of `kgen train`, or `kgen eval`)."""

    kind = "eval"
    split: str = _field(_text, "test")
    n: int | None = _field(_STEP)  # examples scored by kgen eval: test images, or a sampling protocol's samples
    metrics: dict[str, float] = _field(_metrics, factory=dict)


@_finish
class End(Event):
    """Training ended: "finished" (all epochs) or "stopped" (a stop request)."""

    kind = "end"
    status: str | None = _field(_text)
    elapsed: float | None = _field(_finite)


@_finish
class Note(Event):
    """Something worth a line in the status bar (a resume with nothing left to train)."""

    kind = "note"
    message: str = _field(_text, "")


@_finish
class Error(Event):
    """Training failed; over the pipe, the run's last event (then ``message`` alone)."""

    kind = "error"
    message: str = _field(_text, "")  # one line
    fault: str | None = _field(_text)  # "non-finite": a NaN or infinite loss or weight
    step: int | None = _field(_STEP)
    epoch: int | None = _field(_EPOCH)


# The kinds that only cross the pipe (or come from a reader), never in events.jsonl ---------


class _PipeEvent(Event):
    on_disk = False


@_finish
class WarningEvent(_PipeEvent):
    """Something failed that training goes on without (a requested save)."""

    kind = "warning"
    message: str = ""


@_finish
class Saved(_PipeEvent):
    """The model as it was at ``step`` was saved to ``path`` (the studio's "Save model...")."""

    kind = "saved"
    step: int = 0
    path: str = ""


@_finish
class Reconstructions(_PipeEvent):
    """Fixed test images over their reconstructions (kgen.services.probes), after an epoch."""

    kind = "reconstructions"
    epoch: int = 0
    picture: Any = _field(memory=True)
    # A decoder with a learned variance: the reconstructions' sigma maps and a draw from each, as in `Samples`.
    sigma_picture: Any = _field(memory=True)
    draw_picture: Any = _field(memory=True)
    sigma_max: float | None = _field(memory=True)


@_finish
class Playground(_PipeEvent):
    """A GAN on a 2-D toy, probed (kgen.services.playground): arrays for the GAN playground."""

    kind = "playground"
    step: int = 0
    epoch: int = 0
    real: Any = _field(memory=True)  # (N, 2) real points, one read-only array for the whole run
    box: Any = _field(memory=True)  # x0, x1, y0, y1 of the heat map
    d_grid: Any = _field(memory=True)  # D(x) on a grid over the box
    generated: Any = _field(memory=True)  # (M, 2) generated points of fixed noise
    descent: Any = _field(memory=True)  # minus the generator loss's gradient at each point
    moves: Any = _field(memory=True)  # how far each point moved since the last snapshot
    noise: Any = _field(memory=True)  # (M, 2) the generated points' fixed z in the plane (z1, z2), read-only
    mesh_noise: Any = _field(memory=True)  # (R+1, C+1, 2) a regular grid of z in the plane, read-only
    mesh: Any = _field(memory=True)  # (R+1, C+1, 2) G of that grid: the warped mesh
    mesh_mass: Any = _field(memory=True)  # (R, C) each z cell's probability, read-only
    mesh_density: Any = _field(memory=True)  # (R, C) mass over the area of the cell's image in x
    mesh_note: Any = _field(memory=True)  # what the grid spans (a slice when the noise has more than 2 dims)
    critic: bool = _field(default=False, memory=True)  # d_grid holds a Wasserstein critic's values, not probabilities


@_finish
class DrawSteps(_PipeEvent):
    """A DRAW model drawing, step by step (kgen.services.probes.DrawStepsProbe): the canvas after
    every step for samples of fixed noise and for fixed test images, its attention windows, and
    the KL each step costs."""

    kind = "draw_steps"
    step: int = 0
    epoch: int = 0
    generated: Any = _field(memory=True)  # uint8 (S, T, H, W, C): canvases of S fixed prior draws
    generated_writes: Any = _field(memory=True)  # (S, T, 4) write windows x0, y0, x1, y1 (None: no attention)
    inputs: Any = _field(memory=True)  # uint8 (R, H, W, C): fixed test images
    reconstructed: Any = _field(memory=True)  # uint8 (R, T, H, W, C): canvases of their mean path
    read_boxes: Any = _field(memory=True)  # (R, T, 4) read windows over the inputs (None: no attention)
    write_boxes: Any = _field(memory=True)  # (R, T, 4) write windows of the reconstructions
    kl_steps: Any = _field(memory=True)  # (T,) mean KL of each step in nats, over the epoch's batches so far


@_finish
class Game1D(_PipeEvent):
    """A GAN on a 1-D toy, probed (kgen.services.game_1d): the curves of Goodfellow et al. (2014),
    figure 1, on a grid of x, and fixed z with their G(z)."""

    kind = "game_1d"
    step: int = 0
    epoch: int = 0
    bandwidth: float = 0.0  # of the kernel estimating the generator's density (`game_1d.generator_bandwidth`)
    x: Any = _field(memory=True)  # (G,) the grid, one read-only array for the whole run
    data_density: Any = _field(memory=True)  # (G,) the data's exact density, one read-only array
    generator_density: Any = _field(memory=True)  # (G,) the kernel estimate from G(z) of fixed z
    d_x: Any = _field(memory=True)  # (G,) D(x), the probability of "real"
    optimal_d: Any = _field(memory=True)  # (G,) p_data / (p_data + p_g): the best D against this G
    z: Any = _field(memory=True)  # (L,) fixed codes drawn as lines (first coordinate)
    g_z: Any = _field(memory=True)  # (L,) their G(z)


@_finish
class Finished(_PipeEvent):
    """The training process's last event when it did not fail: what the run left behind."""

    kind = "finished"
    status: str = "finished"  # or "stopped"
    run_dir: str = ""
    epochs_done: int = 0
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@_finish
class Reset(_PipeEvent):
    """From a follower: events.jsonl was replaced, shrank or a resume voided what was shown."""

    kind = "reset"
    reason: str = ""


def make(kind: str, **fields: Any) -> Event:
    """The record of kind ``kind`` with ``fields`` (a TypeError names a field it has not)."""
    return KINDS[kind](**fields)


def problem(value: Any) -> str | None:
    """Why ``value`` (a parsed JSON value) is not a valid event of events.jsonl, in a few words;
    None if it is one."""
    if not isinstance(value, dict):
        return "not a JSON object"
    kind = KINDS.get(value.get("type")) if isinstance(value.get("type"), str) else None
    if kind is None or not kind.on_disk:
        return f"unknown event type {str(value.get('type'))[:40]!r}"
    for name in kind.required:
        if name not in value:
            return f"{kind.kind} event without {name!r}"
    for name, check in kind._stored:
        if name in value and check and (why := check(value[name])):
            return f"{kind.kind} event: {name!r} {why}"
    return None


def parse_line(line: bytes | str) -> tuple[Event | None, str | None]:
    """(record, None) for a valid line of events.jsonl, else (None, why it was skipped)."""
    if len(line) > MAX_LINE_BYTES:
        return None, f"a line of {len(line):,} bytes (at most {MAX_LINE_BYTES:,})"
    try:
        value = json.loads(line)
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError:  # garbled, torn by a crash, not UTF-8, or an int of thousands of digits
        return None, "not JSON"
    return Event.from_json(value)


def dump_line(event: Event) -> str:
    """``event`` as one line of events.jsonl, newline included."""
    if not event.on_disk:
        raise ValueError(f"a {event.kind} event is never written to events.jsonl")
    return json.dumps(event.to_json(), allow_nan=True) + "\n"


class StepRates:
    """Steps (and images) per second over a run's latest ``window`` steps, from their ``elapsed``:
    the same measure for a run trained here and a run followed from its files."""

    def __init__(self, examples_per_step: int | None = None, window: int = RATE_WINDOW):
        self.examples_per_step = examples_per_step
        self._times: deque[tuple[int, float]] = deque(maxlen=window)

    def observe(self, event: Event) -> None:
        """Start over at a start record; give a step record its rates once two steps are known."""
        if isinstance(event, Start):
            self._times.clear()
        elif isinstance(event, Step) and event.elapsed is not None:
            self._times.append((event.step, float(event.elapsed)))
            (first_step, first_time), (last_step, last_time) = self._times[0], self._times[-1]
            if last_step > first_step and last_time > first_time:
                event.steps_per_second = (last_step - first_step) / (last_time - first_time)
                if self.examples_per_step:
                    event.images_per_second = event.steps_per_second * self.examples_per_step

    def clear(self) -> None:
        self._times.clear()


def run_format(value: Any) -> int:
    """The run format a start record, config.json or external.json object says it is written in
    (1 when it says none: written before formats had a number)."""
    version = value.get("format") if isinstance(value, Mapping) else None
    return version if isinstance(version, int) and not isinstance(version, bool) and version >= 1 else 1
