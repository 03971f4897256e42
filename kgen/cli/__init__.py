"""The ``kgen`` command: parses arguments and calls one typed library function per command."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import kgen
from kgen.cli import quiet
from kgen.config import (
    ARCHITECTURES,
    GAN_MODELS,
    GENERATOR_LOSSES,
    LIKELIHOODS,
    MODEL_CONFIGS,
    MODELS,
    STRATEGIES,
    WALK_MODES,
    GANConfig,
    RunConfig,
    TrainConfig,
    resumed_config,
)
from kgen.errors import ConfigError, KgenError, show_path

# train options that map one to one onto config fields: flag -> (section, type, help)
_TRAIN_FLAGS = {
    "dataset": ("train", str, "dataset name or folder:PATH / npz:PATH (see `kgen datasets`; default digits)"),
    "data_dir": ("train", str, "folder holding local dataset files (IDX, .npz)"),
    "image_size": ("train", int, "resize images to this many pixels a side"),
    "epochs": ("train", int, "epochs to train, the total when resuming (default 30; a resume keeps the run's target)"),
    "batch_size": ("train", int, "images per batch (default 32 for VAEs, 64 for GANs)"),
    "lr": ("train", float, "Adam learning rate (default 2e-3 for VAEs, 2e-4 for GANs)"),
    "seed": ("train", int, "seed of weights, batches, noise and the sample grid (default 0)"),
    "sample_every": ("train", int, "write a sample grid every N epochs (default 1)"),
    "latent_dim": ("model", int, "size of the latent code z (default 8 for VAEs, 64 for GANs)"),
    "arch": ("model", str, "mlp, or conv: the 4+4-layer conv VAE / DCGAN (default mlp; conv for dcgan, cgan)"),
    "hidden": ("model", "widths", "MLP hidden widths, comma-separated (default 256,128 VAEs; 256,256 GANs)"),
    "filters": ("model", "widths", "conv widths: 4 for VAEs (default 32,64,64,64), 1 for GANs (64)"),
    "likelihood": ("model", str, "VAE decoder: bernoulli (default), gaussian (fixed --sigma), gaussian-learned"),
    "sigma": ("model", float, "decoder standard deviation for --likelihood gaussian (default 0.1)"),
    "beta": ("model", float, "VAE weight on the KL term, 1 gives the ELBO (default 1)"),
    "d_steps": ("model", int, "GAN: k discriminator updates per generator update (default 1)"),
    "generator_loss": ("model", str, "GAN: non-saturating (default) or saturating (minimax)"),
    "beta_1": ("model", float, "GAN: Adam beta_1 of both players (default 0.5)"),
    "strategy": ("train", str, "default: one device (a GPU if there is one); mirrored: every GPU here "
                 "(or logical CPU); multiworker: the machines in TF_CONFIG (see README)"),
}
_CHOICES = {"arch": ARCHITECTURES, "likelihood": LIKELIHOODS, "generator_loss": GENERATOR_LOSSES,
            "strategy": STRATEGIES}
# --mixed-precision [KIND] -> the Keras dtype policy (float16 with loss scaling, or bfloat16)
_MIXED_POLICIES = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def _widths(text: str) -> tuple[int, ...]:
    """'256,128' -> (256, 128), for the --hidden and --filters flags."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgen", description=kgen.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kgen {kgen.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model into a run directory")
    train.add_argument("model", choices=MODELS)
    for name, (_, kind, text) in _TRAIN_FLAGS.items():
        train.add_argument(
            _flag(name), type=_widths if kind == "widths" else kind, default=None,
            choices=_CHOICES.get(name), help=text,
        )
    train.add_argument("--binarize", action="store_true", help="VAE: dynamic binarisation of pixels")
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
    model_config = MODEL_CONFIGS[args.model]
    return RunConfig(TrainConfig(**sections["train"]), model_config.from_dict(sections["model"]))


def given_options(args: argparse.Namespace) -> dict[str, dict]:
    """The config options a `kgen train` command line sets explicitly, as {"train": ..., "model": ...}
    (the model kind always), checked to apply to the model."""
    sections = {"train": {"model": args.model}, "model": {}}
    for name, (section, _, _) in _TRAIN_FLAGS.items():
        if getattr(args, name) is not None:
            sections[section][name] = getattr(args, name)
    if args.binarize:
        sections["model"]["binarize"] = True
    if args.mixed_precision:
        sections["train"]["precision"] = _MIXED_POLICIES[args.mixed_precision]
    model_config = MODEL_CONFIGS[args.model]
    fields = {f.name for f in dataclasses.fields(model_config)}
    for name in sections["model"]:
        if name not in fields:
            raise ConfigError(f"{_flag(name)} does not apply to the {args.model} model")
    if model_config is GANConfig and "filters" in sections["model"]:
        widths = sections["model"]["filters"]
        if len(widths) != 1:
            raise ConfigError(f"--filters takes one width for the {args.model} model, got {len(widths)}")
        sections["model"]["filters"] = widths[0]
    return sections


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet.configure(quiet.wants_verbose(args.verbose))
    try:
        return _COMMANDS[args.command](args)
    except KgenError as err:
        print(f"kgen: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f"{show_path(err.filename)}: " if err.filename else ""
        print(f"kgen: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kgen: interrupted", file=sys.stderr)
        return 130


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
    if config.train.model in GAN_MODELS and not result.test:
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
    from kgen.services.commands import evaluate_run

    metrics = evaluate_run(args.run, k=args.k, limit=args.limit, seed=args.seed,
                           quality=not args.no_quality, invert=args.invert)
    width = max([6, *(len(k) for k in metrics)])
    print(f"{'metric':<{width}}  value")
    for name, value in metrics.items():
        print(f"{name:<{width}}  {value:.4g}")
    if "elbo" in metrics:
        print("(elbo, reconstruction, kl and iwae_k are in nats per image)")
    return 0


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
             "gui": _gui}
