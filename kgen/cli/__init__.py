"""The ``kgen`` command: parses arguments and calls one typed library function per command."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import kgen
from kgen import registry
from kgen.cli import quiet
from kgen.config import (
    WALK_MODES,
    RunConfig,
    TrainConfig,
    model_config,
    options,
    resumed_config,
)
from kgen.errors import ConfigError, KgenError, show_path

# --mixed-precision [KIND] -> the Keras dtype policy (float16 with loss scaling, or bfloat16)
_MIXED_POLICIES = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
TOY_LABEL = "on a 2-D toy"


def _widths(text: str) -> tuple[int, ...]:
    """'256,128' -> (256, 128), for the --hidden and --filters flags."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


_VALUE_TYPES = {"int": int, "float": float, "str": str, "widths": _widths}


@dataclass
class TrainOption:
    """One `kgen train` flag: a config field of the train section or of some models' configs,
    described by the fields' metadata (kgen.config.option)."""

    name: str
    section: str  # "train" or "model"
    fields: dict[str, dataclasses.Field] = field(default_factory=dict)  # model kind -> its field

    @property
    def type(self) -> str:
        """The flag's value type: widths if any model takes widths here (one width for an int)."""
        types = [f.metadata["type"] for f in self.fields.values()]
        return "widths" if "widths" in types else types[0]

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for f in self.fields.values() for c in f.metadata["choices"]))

    def help(self) -> str:
        """The fields' help texts with their defaults, prefixed by the models they apply to when
        they do not apply to all or differ between them."""
        by_text: dict[str, list[str]] = {}
        for kind, f in self.fields.items():
            by_text.setdefault(f.metadata["help"], []).append(kind)
        parts = []
        for text, kinds in by_text.items():
            prefix = "" if len(kinds) == len(registry.kinds()) else f"{', '.join(kinds)}: "
            parts.append(prefix + text + self._defaults(kinds))
        return "; ".join(parts).replace("%", "%%")

    def _defaults(self, kinds: list[str]) -> str:
        """" (default V)", or " (default V for a, b; W for c)" when the models' defaults differ."""
        by_value: dict[str, list[str]] = {}
        for kind in kinds:
            for label, value in self._default_of(kind):
                if value is not None and self.type != "switch":
                    by_value.setdefault(_show(value), []).append(label)
        if not by_value:
            return ""
        if len(by_value) == 1 and len(next(iter(by_value.values()))) >= len(kinds):
            return f" (default {next(iter(by_value))})"
        return " (default " + "; ".join(f"{v} for {', '.join(labels)}" for v, labels in by_value.items()) + ")"

    def _default_of(self, kind: str) -> list[tuple[str, object]]:
        """(label, default) of this option for ``kind``: the field's default, or for the options
        a model's registry entry sets, its defaults (and those on a 2-D toy when they differ)."""
        spec, default = registry.spec(kind), self.fields[kind].default
        if self.section != "train" or default is not None or not hasattr(spec.defaults, self.name):
            return [(kind, default)]
        values = [(kind, getattr(spec.defaults, self.name))]
        if spec.toy_defaults is not None and getattr(spec.toy_defaults, self.name) != values[0][1]:
            values.append((f"{kind} {TOY_LABEL}", getattr(spec.toy_defaults, self.name)))
        return values


def train_options() -> dict[str, TrainOption]:
    """Every config option `kgen train` takes as a flag, by name: the train section's, then the
    registered models' (in registry order)."""
    found: dict[str, TrainOption] = {}
    for spec in registry.specs():
        for section, config in (("train", TrainConfig), ("model", spec.config)):
            for name, f in options(config).items():
                if f.metadata["cli"]:
                    found.setdefault(name, TrainOption(name, section)).fields[spec.name] = f
    return found


def _show(value: object) -> str:
    """A default as the command line spells it: 256,128 for widths."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgen", description=kgen.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kgen {kgen.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model into a run directory")
    train.add_argument("model", choices=registry.kinds(), metavar="MODEL",
                       help="; ".join(f"{spec.name}: {spec.description}" for spec in registry.specs()))
    for option in train_options().values():
        if option.type == "switch":
            train.add_argument(_flag(option.name), action="store_true", help=option.help())
        else:
            train.add_argument(_flag(option.name), type=_VALUE_TYPES[option.type], default=None,
                               choices=option.choices or None, help=option.help())
    train.add_argument("--mixed-precision", nargs="?", const="float16", choices=tuple(_MIXED_POLICIES),
                       help="compute in float16 (default; loss-scaled) or bfloat16, keep float32 "
                            "variables and losses; for GPUs (runs on CPUs, slowly)")
    train.add_argument("--out", type=Path, help="run directory (default runs/<model>-<dataset>-<time>)")
    train.add_argument("--resume", type=Path, metavar="RUN", help="continue RUN from its latest checkpoint, with its own options (only --epochs, --strategy, --sample-every and --data-dir may change)")
    train.add_argument("--iwae", type=int, default=0, metavar="K", help="also report IWAE-K at the end")

    sample = commands.add_parser("sample", help="draw samples from a trained run")
    sample.add_argument("run", type=Path)
    sample.add_argument("-n", type=int, default=64, help="number of samples")
    sample.add_argument("-o", "--output", type=Path, required=True, help="grid .png or raw .npz")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--class", dest="label", type=int, default=None, metavar="C",
                        help="class to draw (conditional models; default: cycle through classes)")

    evaluate = commands.add_parser("eval", help="every test score of a run: ELBO/IWAE, FID, coverage, ...")
    evaluate.add_argument("run", type=Path)
    evaluate.add_argument("-k", type=int, default=5000, help="importance samples for IWAE-k (VAEs; 0: skip)")
    evaluate.add_argument("--iwae-curve", type=int, default=0, metavar="K",
                          help="also the bound over k: IWAE-k for k = 1, 2, 5, ... up to K, with standard errors")
    evaluate.add_argument("--truncation-sweep", nargs="?", const="default", default=None, metavar="PSI,...",
                          help="also sample from psi * z for each psi (default 0.25,0.5,...,1.5) and score "
                               "precision, recall and FID of each against the test data")
    evaluate.add_argument("--no-quality", action="store_true", help="skip the classifier-based scores")
    evaluate.add_argument("--invert", type=int, default=16, metavar="N",
                          help="GANs: invert N test images by gradient descent on z (0: skip)")
    evaluate.add_argument("--limit", type=int, default=None, help="use the first N test images")
    evaluate.add_argument("--seed", type=int, default=0)

    walk = commands.add_parser("walk", help="latent-space pictures: manifold grid, interpolation, traversal")
    walk.add_argument("run", type=Path)
    walk.add_argument("--mode", choices=WALK_MODES, default="grid")
    walk.add_argument("-o", "--output", type=Path, required=True, help=".png, or .gif for --mode interpolate")
    walk.add_argument("--steps", type=int, default=None, help="images per row (default 15 for grid, else 10)")
    walk.add_argument("--dims", type=_widths, default=None, help="latent dimensions, e.g. 0,1 (grid) or 0,2,5")
    walk.add_argument("--method", choices=("linear", "slerp"), default="linear", help="interpolation path")
    walk.add_argument("--images", type=_widths, default=None, metavar="I,J",
                      help="interpolate between test images I and J (default: two prior draws)")
    walk.add_argument("--class", dest="label", type=int, default=None, metavar="C", help="class (conditional models)")
    walk.add_argument("--seed", type=int, default=0)

    commands.add_parser("datasets", help="list datasets and whether each is available here")
    lessons = commands.add_parser("lessons", help="list the lessons in the lecture's order, or show one; "
                                                  "prepare a class pack",
                                  usage="kgen lessons [NAME]\n       kgen lessons prepare DIR [--lessons A,B] [--dry-run]")
    lessons.add_argument("name", nargs="?", metavar="NAME", help="a lesson to show (its text, formulas, runs "
                                                                 "and try steps), or a lesson file PATH.toml to "
                                                                 "check; or prepare")
    lessons.add_argument("dir", nargs="?", type=Path, metavar="DIR",
                         help="with prepare: the class pack's folder (new, empty, or a pack to bring up to date)")
    lessons.add_argument("--lessons", dest="chosen", metavar="A,B",
                         help="with prepare: only these lessons (names, or paths of .toml files; default all)")
    lessons.add_argument("--dry-run", action="store_true",
                         help="with prepare: print the plan and the time estimate; train and write nothing")
    commands.add_parser("doctor", help="versions, devices, CUDA and mixed precision support, datasets")

    gui = commands.add_parser("gui", help="open the desktop studio, following RUN if given (monitor mode)")
    gui.add_argument("run", type=Path, nargs="?", help="a run directory to follow, live or finished")
    gui.add_argument("--runs", type=Path, default=None, help="folder for new runs (default: runs)")
    _add_verbose(parser, commands.choices.values())
    return parser


def _add_verbose(parser: argparse.ArgumentParser, subparsers) -> None:
    """--verbose, before or after the command: show TensorFlow's own logs (see kgen.cli.quiet)."""
    text = "show TensorFlow's start-up and native logs (also: KGEN_DEBUG=1)"
    parser.add_argument("--verbose", action="store_true", help=text)
    for sub in subparsers:
        sub.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=text)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """A RunConfig from the defaults overridden by the flags given (validated)."""
    sections = given_options(args)
    return RunConfig(TrainConfig(**sections["train"]), model_config(args.model).from_dict(sections["model"]))


def given_options(args: argparse.Namespace) -> dict[str, dict]:
    """The config options a `kgen train` command line sets explicitly, as {"train": ..., "model": ...}
    (the model kind always), checked to apply to the model."""
    sections = {"train": {"model": args.model}, "model": {}}
    for option in train_options().values():
        value = getattr(args, option.name)
        if value is not None and value is not False:
            sections[option.section][option.name] = value
    if args.mixed_precision:
        sections["train"]["precision"] = _MIXED_POLICIES[args.mixed_precision]
    fields = options(model_config(args.model))
    for name, value in sections["model"].items():
        if name not in fields:
            raise ConfigError(f"{_flag(name)} does not apply to the {args.model} model")
        if fields[name].metadata["type"] == "int" and isinstance(value, tuple):  # one of a widths flag
            if len(value) != 1:
                raise ConfigError(f"{_flag(name)} takes one width for the {args.model} model, got {len(value)}")
            sections["model"][name] = value[0]
    return sections


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet.configure(quiet.wants_verbose(args.verbose))
    try:
        return _COMMANDS[args.command](args)
    except KgenError as err:
        print(f"kgen: error: {_as_flags(err, parser, args.command)}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f"{show_path(err.filename)}: " if err.filename else ""
        print(f"kgen: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kgen: interrupted", file=sys.stderr)
        return 130


def _as_flags(err: KgenError, parser: argparse.ArgumentParser, command: str) -> str:
    """The message of ``err``, with each option it names (``err.options``, in parameter names)
    spelled as this command's flag; an option the command has no flag for stays as it is."""
    message = str(err)
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    flags = {action.dest: max(action.option_strings, key=len)
             for action in commands.choices[command]._actions if action.option_strings}  # noqa: SLF001
    for option in getattr(err, "options", ()):
        if option in flags:
            message = re.sub(rf"(?<![\w/.-]){re.escape(option)}(?![\w/.-])", flags[option], message)
    return message


def _train(args: argparse.Namespace) -> int:
    if args.resume is not None and args.out is not None:
        raise ConfigError("--resume continues a run in its own folder; leave out --out")
    # Validated before TensorFlow is imported: nonsense fails fast.
    config = _resumed_config(args) if args.resume is not None else config_from_args(args)
    from kgen.train.training import train

    run_dir = args.resume or args.out
    result = train(config, run_dir, resume=args.resume is not None, iwae_k=args.iwae)
    run = result.run
    if result.stopped:  # Ctrl-C: saved at a batch boundary (kgen.train.guards)
        where = show_path(run.path)
        print(f"kgen: interrupted after {result.epochs_done} whole epochs; saved in {where}/, "
              f"continue with: kgen train {args.model} --resume {where} --epochs {config.train.epochs}",
              file=sys.stderr)
        return 130
    print(f"\nRun saved in {run.path}/ ({result.epochs_done} epochs, {result.seconds:.1f} s)")
    samples = sorted(run.samples_dir.glob("epoch_*.png"))
    if samples:
        print(f"  samples:     {samples[-1]}")
    print(f"  model:       {run.model_path}")
    print(f"  events:      {run.events_path}  (TensorBoard: {run.tb_dir})")
    if result.test:
        print("  test:        " + _format_metrics(result.test))
    if "image_quality" in registry.spec(config.train.model).scores and not result.test:
        print(f"  quality:     kgen eval {run.path}  (FID, coverage, precision/recall with a classifier)")
    return 0


def _resumed_config(args: argparse.Namespace) -> RunConfig:
    """The config of the run to resume with the options given on this command line applied:
    one not given keeps the run's value (see `kgen.train.training.resumed_config`)."""
    from kgen.runs import Run

    sections = given_options(args)
    return resumed_config(Run.open(args.resume).config(), {**sections["train"], **sections["model"]})


def _sample(args: argparse.Namespace) -> int:
    from kgen.services.commands import sample_run

    path = sample_run(args.run, args.n, args.output, seed=args.seed, label=args.label)
    print(f"wrote {args.n} samples to {path}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from kgen.eval.truncation import DEFAULT_PSIS, format_sweep, is_sweep_key
    from kgen.services.commands import evaluate_run

    psis = () if args.truncation_sweep is None else _psi_list(args.truncation_sweep, DEFAULT_PSIS)
    metrics = evaluate_run(args.run, k=args.k, limit=args.limit, seed=args.seed, quality=not args.no_quality,
                           invert=args.invert, curve=args.iwae_curve, truncation=psis)
    print(format_scores({name: value for name, value in metrics.items() if not is_sweep_key(name)}))
    if psis:
        print()
        print(format_sweep(metrics))
    return 0


def _psi_list(text: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """--truncation-sweep's psi values: "default", or numbers separated by commas."""
    if text == "default":
        return default
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--truncation-sweep takes psi values separated by commas, got {text!r}") from None


def format_scores(metrics: dict[str, float]) -> str:
    """A table of scores: name, value, which way is better, and what each is with its unit
    (kgen.eval.descriptions)."""
    from kgen.eval.descriptions import describe

    width = max([6, *(len(k) for k in metrics)])
    lines = [f"{'metric':<{width}}  {'value':>10}  better  meaning"]
    for name, value in metrics.items():
        metric = describe(name)
        better = (metric.better if metric else "") or "-"
        meaning = "" if metric is None else metric.explain + (f" [{metric.unit}]" if metric.unit else "")
        lines.append(f"{name:<{width}}  {value:>10.4g}  {better:<6}  {meaning}".rstrip())
    return "\n".join(lines)


def _walk(args: argparse.Namespace) -> int:
    from kgen.services.commands import walk_run

    if args.images is not None and len(args.images) != 2:
        raise ConfigError(f"--images takes two test-image indices I,J, got {len(args.images)}")
    steps = args.steps or (15 if args.mode == "grid" else 10)
    result = walk_run(args.run, args.mode, args.output, steps=steps, dims=args.dims, method=args.method,
                      images=args.images, label=args.label, seed=args.seed)
    print(f"wrote {args.mode} to {result.path}")
    if result.kl_per_dimension is not None:
        print("dim  KL (nats)  active")
        for d, (kl, on) in enumerate(zip(result.kl_per_dimension, result.active, strict=True)):
            print(f"{d:>3}  {kl:9.3f}  {'yes' if on else 'no'}")
        print(f"active units: {int(result.active.sum())} of {len(result.active)}")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from kgen.data import list_datasets

    infos = list_datasets()
    width = max(len(i.name) for i in infos)
    for info in infos:
        mark = "yes" if info.available else "no "
        print(f"{info.name:<{width}}  {mark}  {info.description}: {info.detail}")
    return 0


def _lessons(args: argparse.Namespace) -> int:
    from kgen.lessons import find_lesson, lessons

    if args.name == "prepare":
        return _prepare(args)
    if args.dir is not None or args.chosen is not None or args.dry_run:
        raise ConfigError("DIR, --lessons and --dry-run go with: kgen lessons prepare DIR")
    if args.name is not None:
        print(format_lesson(find_lesson(args.name)))
        return 0
    every = lessons()
    width = max([4, *(len(lesson.name) for lesson in every)])
    print(f"{'slides':<8}  {'name':<{width}}  runs  title")
    for lesson in every:
        print(f"{_slides(lesson.slides):<8}  {lesson.name:<{width}}  {len(lesson.runs):>4}  {lesson.title}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    """`kgen lessons prepare DIR`: train the lessons' long runs into a class pack."""
    from kgen.services.class_pack import prepare_pack

    if args.dir is None:
        raise ConfigError("kgen lessons prepare needs DIR, the class pack's folder")
    chosen = [x.strip() for x in args.chosen.split(",") if x.strip()] if args.chosen is not None else None
    where = show_path(args.dir)
    try:
        report = prepare_pack(args.dir, chosen, dry_run=args.dry_run)
    except KeyboardInterrupt:  # a second Ctrl-C: pack.json still says which run is unfinished
        print(f"kgen: interrupted; the pack in {where}/ opens without the unfinished run: run the same command "
              "again to go on", file=sys.stderr)
        return 130
    if args.dry_run:
        print("Dry run: nothing was trained or written.")
        return 0
    if report.interrupted is not None:
        print(f"kgen: interrupted in {report.interrupted.label} after {report.epochs_done} whole epochs; the pack "
              f"in {where}/ is consistent: run the same command again to go on", file=sys.stderr)
        return 130
    counts = {a: sum(p.action == a for p in report.plan) for a in ("skip", "unavailable")}
    print(f"\nClass pack ready in {where}/: {len(report.trained)} run(s) trained, {counts['skip']} already done, "
          f"{counts['unavailable']} not prepared (no data here).")
    print(f"Copy the whole folder to the stick; in class: kgen-studio --pack {where}")
    return 0


def _slides(slides: Sequence[int]) -> str:
    return ",".join(map(str, slides))


def format_lesson(lesson) -> str:
    """One lesson as text: title, slides, explanation, formulas, runs and try steps."""
    lines = [f"{lesson.title}  (slides {_slides(lesson.slides)}; {lesson.path})", "", lesson.explanation, ""]
    if lesson.seconds:
        lines.append(f"time to its point on 2 CPU cores: about {lesson.seconds} s")
    lines.append("views: " + ", ".join(lesson.views))
    if lesson.formulas:
        lines.append("formulas:")
        for formula in lesson.formulas:
            live = f"  [live: {formula.metric}]" if formula.metric else ""
            lines.append(f"  {formula.tex}{live}" + (f"\n    {formula.caption}" if formula.caption else ""))
    lines.append("runs:")
    for run in lesson.runs:
        train, model = run.sections["train"], run.sections["model"]
        given = ", ".join(f"{k}={_show(v)}" for k, v in {**train, **model}.items() if k != "model")
        prepared = "  [prepared: trained before class into a pack, kgen lessons prepare]" if run.prepare else ""
        lines.append(f"  {run.name}: {train['model']} ({given}){prepared}")
    lines.append("try:")
    for i, step in enumerate(lesson.tries, 1):
        change = ", ".join(f"{k}={_show(tuple(v) if isinstance(v, list) else v)}" for k, v in step.change.items())
        lines.append(f"  {i}. {step.label}  [{step.run}: {change}]")
        lines.append(f"     look for: {step.look_for}")
    return "\n".join(lines)


def studio_argv(args: argparse.Namespace) -> list[str]:
    """The ``kgen-studio`` command line that `kgen gui` hands over to."""
    argv = [sys.executable, "-m", "gui.app"]
    if args.runs is not None:
        argv += ["--runs", str(args.runs)]
    if args.run is not None:
        from kgen.runs import Run

        Run.open_followable(args.run)  # a clear error here, before a window opens
        argv += ["--monitor", str(args.run)]
    return argv


def _gui(args: argparse.Namespace) -> int:
    """Replace this process by the studio (kgen itself never imports Qt)."""
    argv = studio_argv(args)
    sys.stdout.flush()
    os.execv(argv[0], argv)
    return 0  # not reached


def _format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())


def _doctor(args: argparse.Namespace) -> int:
    from kgen.cli.doctor import diagnose, format_report

    print(format_report(diagnose()))
    return 0


_COMMANDS = {"doctor": _doctor, "train": _train, "sample": _sample, "eval": _eval, "walk": _walk, "datasets": _datasets,
             "gui": _gui, "lessons": _lessons}
