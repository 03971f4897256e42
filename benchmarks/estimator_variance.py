"""Gradient estimators of the VAE at equal training time (issue 17): their gradient noise and ELBO.

Each estimator trains kgen's VAE (``--latent gaussian``: model vae; ``binary``: model bvae) on
dynamically binarised MNIST as a normal kgen run, OUT/<estimator>, until its budget of training
CPU time (wall time with --wall) runs out, with the budget, marks and resuming of
benchmarks/draw_likelihood.py (its `Ledger` and `BudgetClock`). At each mark the model is saved
as OUT/marks/<estimator>-<clock><minutes> and its encoder's gradient noise measured on a fixed
batch of training images (`kgen.eval.gradient_noise`, ``--samples`` estimates; left out of the
budget). ``eval`` scores every mark's test ELBO; ``report`` sets each estimator's gradient
variance beside the reference estimator's at the same mark (their ratio), with SNR and ELBO.
Every run also records grad_snr and grad_log_var in its epoch events (the Compare view overlays
them against wall time). Usage:
    nice -n 10 python benchmarks/estimator_variance.py train --estimator reparameterisation
    nice -n 10 python benchmarks/estimator_variance.py train --estimator reinforce
    nice -n 10 python benchmarks/estimator_variance.py train --estimator nvil
    python benchmarks/estimator_variance.py eval
    python benchmarks/estimator_variance.py report
    python benchmarks/estimator_variance.py commands    # the commands above, for the flags given
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
from pathlib import Path

import _common as common
import draw_likelihood as budgeted

# The estimators issue 17 gives each kind of latent, and the one each ratio is taken against.
ESTIMATORS = {"gaussian": ("reparameterisation", "reinforce", "nvil"),
              "binary": ("reinforce", "nvil", "straight-through", "relaxed")}
REFERENCE = {"gaussian": "reparameterisation", "binary": "relaxed"}
KINDS = {"gaussian": "vae", "binary": "bvae"}
RESULTS_PATH = common.RESULTS / "estimator_variance.json"
# The VAE of benchmarks/draw_likelihood.py (the IWAE paper's 1-layer MNIST setting), so the
# reparameterised run is comparable with that benchmark's.
VAE_OPTIONS = budgeted.VAE_OPTIONS
VAE_TRAIN = budgeted.VAE_TRAIN
PROBE_IMAGES = 100
PROBE_SEED_OFFSET = 3_000_017


# --- configs


def run_config(latent: str, estimator: str, args: argparse.Namespace):
    """The RunConfig of the VAE of this ``latent`` trained with ``estimator``; a SystemExit that
    says what is missing when this kgen lacks the model kind or the estimator option."""
    from kgen import registry
    from kgen.config import RunConfig, TrainConfig
    from kgen.errors import ConfigError

    kind = KINDS[latent]
    if estimator not in ESTIMATORS[latent]:
        raise SystemExit(f"a {latent} latent has the estimators {', '.join(ESTIMATORS[latent])}; got {estimator!r}")
    if kind not in registry.kinds():
        raise SystemExit(f"this kgen has no model kind {kind!r} (binary latents, issue 17 part 1): "
                         f"it has {', '.join(registry.kinds())}")
    config_class = registry.spec(kind).config
    options = dict(VAE_OPTIONS)
    if "estimator" in {f.name for f in dataclasses.fields(config_class)}:
        options["estimator"] = estimator
    elif estimator != "reparameterisation":  # kgen's VAE before issue 17 is reparameterised
        raise SystemExit(f"this kgen's {kind} has no 'estimator' option (issue 17 part 1), so it cannot train "
                         f"with {estimator!r}; only reparameterisation is available")
    train = TrainConfig(model=kind, dataset=args.dataset, data_dir=args.data_dir, epochs=budgeted.UNREACHED_EPOCHS,
                        seed=args.seed, sample_every=args.sample_every, **VAE_TRAIN)
    try:
        return RunConfig(train, config_class(**options))
    except ConfigError as error:
        raise SystemExit(f"{kind} with estimator {estimator!r}: {error}") from None


def probe_images(config, size: int):
    """The fixed batch of training images every mark's gradient noise is measured on (the
    benchmark's kinds take no labels)."""
    from kgen.eval.gradient_noise import probe_batch
    from kgen.train.training import load_training_data

    data = load_training_data(config)
    return probe_batch(data.x_train, None, size, config.train.seed + PROBE_SEED_OFFSET)[0]


def noise_record(result) -> dict:
    """A mark's gradient noise as JSON: overall variance, log10 variance and SNR, and per layer."""
    overall = result.overall
    return {"grad_var": overall.variance, "grad_log_var": math.log10(max(overall.variance, 1e-30)),
            "grad_snr": overall.snr,
            "grad_layers": {name: {"var": s.variance, "snr": s.snr} for name, s in result.layers.items()}}


# --- train


def train_estimator(args: argparse.Namespace) -> None:
    """Train the VAE with ``args.estimator`` in OUT/<estimator> to its last mark (continuing a run
    there); each mark's record also gets the gradient noise of the model saved there."""
    from kgen.eval.gradient_noise import GradientProbe

    config = run_config(args.latent, args.estimator, args)
    x_probe = probe_images(config, args.probe)
    probes: dict = {}

    def annotate(trained, record: dict) -> None:
        if trained not in probes:
            probes[trained] = GradientProbe(trained, args.samples)
        record.update(estimator=args.estimator, latent=args.latent, **noise_record(probes[trained].measure(x_probe)))

    budgeted.train_to_marks(Path(args.out), args.estimator, config, args.marks, args.wall, annotate)


def remeasure_marks(args: argparse.Namespace) -> None:
    """Measure the gradient noise of every mark saved under OUT again (a new statistic or
    ``--samples``, without retraining) and rewrite it into the mark's record and its ledger."""
    from kgen.eval.gradient_noise import GradientProbe
    from kgen.models.saving import load_run_model
    from kgen.runs import Run
    from kgen.safe_io import atomic_write_text

    probes: dict[tuple, object] = {}  # probe batches by what they depend on: the data is loaded once
    for ledger_path in sorted(Path(args.out).glob("*-budget.json")):
        ledger = json.loads(ledger_path.read_text(encoding="utf-8"))
        for record in ledger["reached"]:
            folder = Path(args.out) / "marks" / record["folder"]
            mark = Run.open(folder)
            model = load_run_model(mark, mark.model_path)
            config = mark.config()
            key = (config.train.dataset, config.train.data_dir, config.train.seed)
            if key not in probes:
                probes[key] = probe_images(config, args.probe)
            x_probe = probes[key]
            record.update(noise_record(GradientProbe(model, args.samples).measure(x_probe)))
            atomic_write_text(folder / "mark.json", json.dumps(record, indent=1) + "\n")
            print(f"{record['folder']}: SNR {record['grad_snr']:.3g}, log10 Var {record['grad_log_var']:.2f}", flush=True)
        atomic_write_text(ledger_path, json.dumps(ledger, indent=1) + "\n")


# --- report


def mark_rows(marks: list[dict], reference: str) -> list[dict]:
    """One row per mark record (estimator, mark_min, grad_var, grad_snr, ...), in mark then
    estimator order, with ``var_ratio``: its gradient variance over the ``reference``
    estimator's at the same mark (None where that has none)."""
    base = {r["mark_min"]: r["grad_var"] for r in marks if r["estimator"] == reference}
    rows = []
    for record in sorted(marks, key=lambda r: (r["mark_min"], r["estimator"] != reference, r["estimator"])):
        ref = base.get(record["mark_min"])
        rows.append({**record, "var_ratio": record["grad_var"] / ref if ref else None})
    return rows


def read_marks(out: Path, results: Path) -> list[dict]:
    """The mark records of every estimator's ledger in OUT, with the test ELBO ``eval`` found for each."""
    scores = {Path(key.split(" k=")[0]): s for key, s in budgeted.read_results(results)["scores"].items()}
    marks = []
    for path in sorted(Path(out).glob("*-budget.json")):
        for record in json.loads(path.read_text(encoding="utf-8"))["reached"]:
            if "grad_var" in record:  # keyed by the mark's folder: OUTs of both latents share one file
                score = scores.get(Path(out) / "marks" / record["folder"], {})
                marks.append({**record, "elbo": score.get("elbo")})
    return marks


def report(args: argparse.Namespace) -> None:
    """Print one row per mark and estimator: epochs, time, gradient variance and its ratio, SNR, ELBO."""
    rows = mark_rows(read_marks(args.out, args.results), REFERENCE[args.latent])
    cell = lambda value, fmt: "–" if value is None else format(value, fmt)  # noqa: E731
    print(f"| mark | estimator | epochs | CPU min | wall min | log10 Var | Var / {REFERENCE[args.latent]} | "
          "SNR | test ELBO |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['folder']} | {r['estimator']} | {r['epochs']:.2f} | {r['cpu_min']:.2f} | {r['wall_min']:.2f} | "
              f"{r['grad_log_var']:.2f} | {cell(r['var_ratio'], '.3g')} | {r['grad_snr']:.3g} | "
              f"{cell(r['elbo'], '.2f')} |")


def commands(args: argparse.Namespace) -> None:
    """Print the commands that train every estimator of the latent, evaluate and report."""
    script, python, out = "benchmarks/estimator_variance.py", shlex.quote(sys.executable), shlex.quote(str(args.out))
    shared = [f"--latent {args.latent}", f"--out {out}", f"--marks {','.join(f'{m:g}' for m in args.marks)}",
              f"--dataset {args.dataset}", f"--data-dir {shlex.quote(args.data_dir)}", *(["--wall"] if args.wall else [])]
    print(f"mkdir -p {out}")
    for name in ESTIMATORS[args.latent]:
        print(f"nohup nice -n 10 {python} {script} train --estimator {name} {' '.join(shared)} > {out}/{name}.log 2>&1 &")
    print(f"{python} {script} eval --out {out} -k {args.k} --limit {args.limit}")
    print(f"{python} {script} report --latent {args.latent} --out {out}")


# --- command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("train", "eval", "noise", "report", "commands"))
    p.add_argument("--latent", choices=tuple(ESTIMATORS), default="gaussian", help="gaussian (vae) or binary (bvae)")
    p.add_argument("--estimator", help="train: the gradient estimator (see ESTIMATORS)")
    p.add_argument("--out", type=Path, default=Path("runs/bench-estimators"), help="folder of the runs and marks")
    p.add_argument("--marks", type=budgeted._minutes, default=[5.0, 15.0, 30.0, 60.0],
                   help="budget marks in minutes of training CPU time (wall with --wall); the last ends training")
    p.add_argument("--wall", action="store_true", help="count wall-clock time, not CPU time (a quiet machine)")
    p.add_argument("--dataset", default="mnist", help="the benchmark's is mnist (digits: a quick check of the script)")
    p.add_argument("--data-dir", default="/work/shared/data/mnist", help="folder of the MNIST IDX files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-every", type=int, default=5, help="a sample grid every this many epochs")
    p.add_argument("--samples", type=int, default=32, help="gradient estimates behind each mark's variance")
    p.add_argument("--probe", type=int, default=PROBE_IMAGES, help="training images of the gradient-noise batch")
    p.add_argument("-k", type=int, default=100, help="eval: importance samples of IWAE-k")
    p.add_argument("--limit", type=int, default=1000, help="eval: the first this many test images")
    p.add_argument("--results", type=Path, default=RESULTS_PATH, help="eval, report: the results file")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "train" and args.estimator is None:
        raise SystemExit(f"train needs --estimator, one of {', '.join(ESTIMATORS[args.latent])}")
    actions = {"train": train_estimator, "eval": budgeted.evaluate_marks, "noise": remeasure_marks, "report": report,
               "commands": commands}
    actions[args.command](args)


if __name__ == "__main__":
    main()
