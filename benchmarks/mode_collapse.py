"""Mode collapse against the published tables (issue 19): any registry kind with its options,
trained over seeds, scored with the VEEGAN / PacGAN protocol, reported beside the papers' rows.

  python benchmarks/mode_collapse.py train gan --dataset grid25 --seeds 0 1 2 [-- --d-steps 5 ...]
  python benchmarks/mode_collapse.py eval          # every finished run not yet scored
  python benchmarks/mode_collapse.py real [--data-dir DIR]  # the same scores of real samples
  python benchmarks/mode_collapse.py report        # the Markdown table (papers' rows, then kgen's)

Each run is ``kgen train`` in OUT/<label>/<dataset>/seed<k> (label: the kind and its options, or
--label); a finished run holds done.json (command, wall seconds) and is skipped, a killed one is
continued with ``--resume``. Toys: 2,500 samples, a mode covered by 20 within 3 std; stacked
MNIST: 26,000 samples, each channel read by kgen's MNIST classifier (`kgen eval`'s protocol).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KGEN_OFFLINE", "1")

import numpy as np  # noqa: E402

from kgen.safe_io import atomic_write_text  # noqa: E402

OUT = Path("runs/mode-collapse")
# The papers' rows, typed in once: (source, model, modes, high-quality %, reverse KL); None = not given.
PAPERS: dict[str, list[tuple[str, str, float, float | None, float | None]]] = {
    "ring8": [
        ("VEEGAN table 1", "GAN", 1, 99.3, None),
        ("VEEGAN table 1", "Unrolled GAN", 7.6, 35.6, None),
        ("VEEGAN table 1", "VEEGAN", 8, 52.9, None),
        ("PacGAN table 1", "GAN", 6.3, 98.2, 0.45),
        ("PacGAN table 1", "PacGAN2", 7.9, 95.6, 0.07),
    ],
    "grid25": [
        ("VEEGAN table 1", "GAN", 3.3, 0.5, None),
        ("VEEGAN table 1", "Unrolled GAN", 23.6, 16.0, None),
        ("VEEGAN table 1", "VEEGAN", 24.6, 40.0, None),
        ("PacGAN table 1", "GAN", 17.3, 94.8, 0.70),
        ("PacGAN table 1", "PacGAN4", 24.8, 93.6, 0.04),
    ],
    "stacked-mnist": [
        ("VEEGAN table 2", "DCGAN", 99, None, 3.4),
        ("VEEGAN table 2", "VEEGAN", 150, None, 2.95),
        ("PacGAN table 2", "PacDCGAN2", 1000, None, 0.06),
        ("PacGAN table 3 (Metz et al.)", "Unrolled GAN, 10 steps", 817, None, 1.43),
    ],
}
MODES_TOTAL = {"ring8": 8, "grid25": 25, "stacked-mnist": 1000}


def default_label(kind: str, options: list[str]) -> str:
    """A folder-safe label: the kind, then its options without dashes (gan, gan_d-steps5)."""
    return "_".join([kind, *(o.lstrip("-").replace("=", "") for o in options)]).replace("/", "-")


def train_command(kind: str, dataset: str, seed: int, options: list[str], run_dir: Path,
                  epochs: int | None = None) -> list[str]:
    """The ``kgen train`` command of one seed: a new run, or the continuation of a killed one (or of
    one trained to an earlier mark), to ``epochs`` in all when given."""
    until = [] if epochs is None else ["--epochs", str(epochs)]
    if (run_dir / "config.json").is_file():
        return ["train", kind, "--resume", str(run_dir), *until]
    return new_run_command(kind, dataset, seed, [*options, *until], run_dir)


def new_run_command(kind: str, dataset: str, seed: int, options: list[str], run_dir: Path) -> list[str]:
    """The ``kgen train`` command that starts one seed's run."""
    return ["train", kind, "--dataset", dataset, "--seed", str(seed), *options, "--out", str(run_dir)]


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children (the kgen trainings)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_train(command: list[str]) -> tuple[float, float]:
    """Run one ``kgen train``; its (wall, CPU) seconds."""
    start, cpu = time.monotonic(), children_cpu_seconds()
    subprocess.run([sys.executable, "-m", "kgen.cli", *command], check=True)
    return time.monotonic() - start, children_cpu_seconds() - cpu


def score(run_dir: Path, seed: int = 0) -> dict:
    """The protocol's scores of a run's model as it is now, and the seconds they took."""
    from kgen.services.commands import evaluate_run

    start = time.monotonic()
    metrics = evaluate_run(run_dir, invert=0, seed=seed)
    return {"metrics": metrics, "seconds": round(time.monotonic() - start, 1)}


def train_runs(args: argparse.Namespace) -> None:
    """Train every seed not finished yet, one ``kgen train`` process each; with ``--marks``, in
    stages to each mark (epochs in all), scored at every mark into marks/e<epochs>.json."""
    label = args.label or default_label(args.kind, args.options)
    for seed in args.seeds:
        run_dir = args.out / label / args.dataset / f"seed{seed}"
        if (run_dir / "done.json").is_file():
            print(f"{run_dir}: done")
            continue
        wall = cpu = 0.0
        for epochs in args.marks or [None]:
            mark = run_dir / "marks" / f"e{epochs}.json"
            if epochs is not None and mark.is_file():
                wall, cpu = (json.loads(mark.read_text(encoding="utf-8"))[k] for k in ("train_seconds", "cpu_seconds"))
                continue
            command = train_command(args.kind, args.dataset, seed, args.options, run_dir, epochs)
            seconds, cpu_seconds = timed_train(command)
            wall, cpu = wall + seconds, cpu + cpu_seconds
            if epochs is not None:
                record = {"epochs": epochs, "train_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                          **score(run_dir)}
                mark.parent.mkdir(exist_ok=True)
                atomic_write_text(mark, json.dumps(record, indent=1, default=float) + "\n")
                print(f"{run_dir} at {epochs} epochs ({wall:.0f} s, {cpu:.0f} CPU s): {record['metrics']}", flush=True)
        until = ["--epochs", str(args.marks[-1])] if args.marks else []
        first = new_run_command(args.kind, args.dataset, seed, [*args.options, *until], run_dir)
        record = {"label": label, "kind": args.kind, "dataset": args.dataset, "seed": seed,
                  "options": args.options, "seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                  "marks": args.marks or [], "command": "kgen " + shlex.join(first)}
        atomic_write_text(run_dir / "done.json", json.dumps(record, indent=1) + "\n")
        if args.marks:  # the last mark's scores are the run's
            last = (run_dir / "marks" / f"e{args.marks[-1]}.json").read_text(encoding="utf-8")
            atomic_write_text(run_dir / "eval.json", last)
        print(f"{run_dir}: {wall:.0f} s, {cpu:.0f} CPU s", flush=True)


def evaluate_runs(args: argparse.Namespace) -> None:
    """Score every finished run that has no eval.json yet (``kgen eval``'s protocol)."""
    for done in sorted(args.out.glob("*/*/seed*/done.json")):
        target = done.parent / "eval.json"
        if target.is_file() and not args.again:
            continue
        record = score(done.parent, args.seed)
        atomic_write_text(target, json.dumps(record, indent=1, default=float) + "\n")
        print(f"{done.parent}: {record['metrics']}", flush=True)


def real_scores(args: argparse.Namespace) -> None:
    """The protocol's scores of real samples (the ceiling a generator can reach) into OUT/real.json:
    2,500 toy points, and 26,000 stacks of MNIST test digits when MNIST is found."""
    from kgen.data import load_dataset, toy_points
    from kgen.data.stacked import stack_digits
    from kgen.eval.metrics import TOY_SAMPLES
    from kgen.eval.quality import toy_quality
    from kgen.services.commands import STACKED_SAMPLES

    scores = {toy: toy_quality(toy_points(toy, TOY_SAMPLES, seed=args.seed), toy) for toy in ("ring8", "grid25")}
    if args.data_dir is not None:
        from kgen.eval.classifier import classifier_for
        from kgen.eval.quality import stacked_mnist_quality

        mnist = load_dataset("mnist", data_dir=args.data_dir)
        stacks, _ = stack_digits(mnist.x_test, mnist.y_test, STACKED_SAMPLES, np.random.default_rng(args.seed))
        scores["stacked-mnist"] = stacked_mnist_quality(classifier_for(mnist), stacks)
    atomic_write_text(args.out / "real.json", json.dumps(scores, indent=1) + "\n")
    print(json.dumps(scores, indent=1))


def real_row(out: Path, dataset: str) -> str | None:
    """The report's row of real samples, if ``real`` has scored them."""
    path = out / "real.json"
    scores = json.loads(path.read_text(encoding="utf-8")).get(dataset) if path.is_file() else None
    if scores is None:
        return None
    modes = f"{scores['modes_covered']:g}" + (f" ({scores['modes_touched']:g})" if "modes_touched" in scores else "")
    quality = f"{100 * scores['high_quality']:.1f}" if "high_quality" in scores else "-"
    return f"| kgen | real samples | {modes} | {quality} | {scores['mode_kl']:.3f} | | `benchmarks/mode_collapse.py real` |"


def mean_spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """'mean ± sample standard deviation' ('mean' for one value)."""
    values = [v * scale for v in values]
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def settings(run_dir: Path) -> str:
    """The run's network and training length: MLP widths or conv filters (arch "auto" resolved as
    the registry says), z size, the model's other options away from their defaults (pack,
    unroll, k, beta_1, ...), epochs, batch, learning rate and its decay."""
    from kgen.config import model_config
    from kgen.data import TOY_MODES
    from kgen.sizes import gan_arch

    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    train, model = config["train"], config.get("model", {})
    parts = []
    if "arch" in model:
        shape = (2,) if train["dataset"] in TOY_MODES else (28, 28, 3)
        conv = gan_arch(train["model"], model["arch"], shape) == "conv"
        parts.append(f"conv {model['filters']} filters" if conv else f"MLP {'-'.join(map(str, model['hidden']))}")
    if "latent_dim" in model:
        parts.append(f"z {model['latent_dim']}")
    defaults = vars(model_config(train["model"])()) if "model" in train else {}
    parts += [f"{name} {value:g}" for name, value in model.items()
              if name not in ("arch", "hidden", "filters", "latent_dim") and isinstance(value, (int, float))
              and name in defaults and value != defaults[name]]
    decay = f", lr_decay {train['lr_decay']:g}" if train.get("lr_decay") else ""
    return ", ".join([*parts, f"{train['epochs']} epochs, batch {train['batch_size']}, lr {train['lr']:g}{decay}"])


def kgen_rows(out: Path) -> dict[str, list[str]]:
    """Markdown rows per dataset, one per label: seeds, mean ± spread of each score, times."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for result in sorted(out.glob("*/*/seed*/eval.json")):
        groups.setdefault((result.parents[2].name, result.parents[1].name), []).append(result.parent)
    rows: dict[str, list[str]] = {}
    for (label, dataset), runs in groups.items():
        done = [json.loads((r / "done.json").read_text(encoding="utf-8")) for r in runs]
        scores = [json.loads((r / "eval.json").read_text(encoding="utf-8"))["metrics"] for r in runs]
        command = done[0]["command"].replace(f"seed{done[0]['seed']}", "seed{S}").replace(
            f"--seed {done[0]['seed']}", "--seed {S}")
        rows.setdefault(dataset, []).append(
            f"| kgen | {label} ({settings(runs[0])}; seeds {', '.join(str(d['seed']) for d in done)}) "
            f"| {score_cells(scores)} | {seconds_cell(done)} | `{command}` |")
    return rows


def score_cells(scores: list[dict]) -> str:
    """The modes (any sample), high-quality % and reverse KL cells: mean ± spread over seeds."""
    modes = mean_spread([s["modes_covered"] for s in scores])
    if "modes_touched" in scores[0]:
        modes += f" ({mean_spread([s['modes_touched'] for s in scores])})"
    quality = mean_spread([s["high_quality"] for s in scores], 100) if "high_quality" in scores[0] else "-"
    return f"{modes} | {quality} | {mean_spread([s['mode_kl'] for s in scores], digits=2)}"


def seconds_cell(records: list[dict], wall: str = "seconds") -> str:
    """Mean training wall seconds per seed, and its CPU seconds where recorded."""
    cell = f"{statistics.mean(r[wall] for r in records):.0f}"
    if all("cpu_seconds" in r for r in records):
        cell += f" ({statistics.mean(r['cpu_seconds'] for r in records):.0f} CPU)"
    return cell


def mark_rows(out: Path) -> list[str]:
    """Markdown rows of the runs trained in stages: label, dataset and epochs, then the scores
    at that mark over the seeds that reached it."""
    groups: dict[tuple[str, str, int], list[dict]] = {}
    for path in out.glob("*/*/seed*/marks/e*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        groups.setdefault((path.parents[3].name, path.parents[2].name, record["epochs"]), []).append(record)
    return [f"| {label} | {dataset} | {epochs} | {len(records)} | {score_cells([r['metrics'] for r in records])} "
            f"| {seconds_cell(records, 'train_seconds')} |"
            for (label, dataset, epochs), records in sorted(groups.items())]


def report(args: argparse.Namespace) -> None:
    """Print one Markdown table per dataset: the papers' rows, then kgen's."""
    rows = kgen_rows(args.out)
    for dataset, papers in PAPERS.items():
        print(f"\n**{dataset}** (modes of {MODES_TOTAL[dataset]})\n")
        print("| source | model (settings) | modes covered (any sample) | high-quality % | reverse KL "
              "| train s per seed (CPU s) | command |")
        print("|---|---|---|---|---|---|---|")
        for source, model, modes, quality, kl in papers:
            show = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
            print(f"| {source} | {model} | {modes:g} | {show(quality)} | {show(kl)} | | |")
        for row in [real_row(args.out, dataset), *rows.get(dataset, [])]:
            if row is not None:
                print(row)
    marks = mark_rows(args.out)
    if marks:
        print("\n**At each mark** (runs trained in stages, `--marks`)\n")
        print("| label | dataset | epochs | seeds | modes covered (any sample) | high-quality % | reverse KL "
              "| train s so far (CPU s) |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(marks))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="after --: kgen train options of the kind, e.g. -- --d-steps 5")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the runs live (default {OUT})")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a registry kind over seeds")
    train.add_argument("kind", help="a model kind of kgen's registry (kgen train --help lists them)")
    train.add_argument("--dataset", required=True, choices=tuple(MODES_TOTAL))
    train.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    train.add_argument("--marks", type=int, nargs="+", metavar="EPOCHS",
                       help="train in stages to these epoch counts, scoring at each (marks/e<epochs>.json)")
    train.add_argument("--label", help="the row's name (default: the kind and its options)")
    evaluate = commands.add_parser("eval", help="score the finished runs")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the scored samples")
    evaluate.add_argument("--again", action="store_true", help="rescore runs already scored")
    real = commands.add_parser("real", help="score real samples: the ceiling")
    real.add_argument("--seed", type=int, default=0)
    real.add_argument("--data-dir", type=Path, help="MNIST's IDX files, for the stacked-MNIST row")
    commands.add_parser("report", help="print the tables")
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.options = argv[cut + 1 :]  # kgen train's own options, passed through
    {"train": train_runs, "eval": evaluate_runs, "real": real_scores, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
