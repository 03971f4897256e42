"""DRAW and IWAE against kgen's VAE on dynamically binarised MNIST at equal training compute (issues 16, 18).

Each model trains as a normal kgen run (OUT/vae, OUT/draw) until its budget of training time runs
out: the training process's CPU time (all threads) by default, wall time with --wall; validation
and this script's own saves are left out. At each mark (minutes, --marks) the model is saved as a
run of its own, OUT/marks/<model>-<clock><minutes> (`kgen eval` and the studio open it), and the
epochs, wall and CPU minutes are recorded in OUT/<model>-budget.json. Evaluation (test ELBO and
IWAE-k on the first test images, one fixed binarisation) runs afterwards from the marks, so its
time never counts as training. Killed, ``train`` continues from the run's last checkpoint and the
time recorded at it. Usage (the two trainings may run at the same time):
    nice -n 10 python benchmarks/draw_likelihood.py train --model vae
    nice -n 10 python benchmarks/draw_likelihood.py train --model draw
    nice -n 10 python benchmarks/draw_likelihood.py train --model iwae --draws 5   # the VAE on IWAE-5
    python benchmarks/draw_likelihood.py eval          # IWAE-1000 on the first 1,000 test images
    python benchmarks/draw_likelihood.py report
    python benchmarks/draw_likelihood.py commands      # the commands above for the flags given
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as common
import keras

from kgen.runs import Run
from kgen.safe_io import atomic_path, atomic_write_text

MODELS = ("vae", "iwae", "draw")  # iwae: the same VAE trained on IWAE-k (--draws k)
CLOCKS = ("cpu", "wall")
# A run trains until its budget stops it; the epoch count only has to be out of reach.
UNREACHED_EPOCHS = 100_000
RESULTS_PATH = common.RESULTS / "draw_likelihood.json"
# The VAE of the IWAE paper's 1-layer MNIST setting (Burda et al. 2015; their units are tanh,
# kgen's MLPs are ReLU), trained as they did: batch 100, Adam 1e-3.
VAE_OPTIONS = {"latent_dim": 50, "arch": "mlp", "hidden": (200, 200), "binarize": True}
VAE_TRAIN = {"batch_size": 100, "lr": 1e-3}
DRAW_FLAGS = ("steps", "width", "z_size", "attention", "read_size", "write_size")  # DRAWConfig fields the flags set
_CHECKPOINT = re.compile(r"^(?:latest-(\d+)|interrupted-(\d+)-(\d+))\.keras$")


# --- configs


def run_config(model: str, args: argparse.Namespace):
    """The kgen RunConfig of ``model`` (vae or draw) on the dynamically binarised dataset (MNIST)."""
    from kgen.config import DRAWConfig, RunConfig, TrainConfig, VAEConfig

    common_train = {"model": model, "dataset": args.dataset, "data_dir": args.data_dir, "epochs": UNREACHED_EPOCHS,
                    "seed": args.seed, "sample_every": args.sample_every}
    if model in ("vae", "iwae"):
        draws = args.draws if model == "iwae" else 1
        return RunConfig(TrainConfig(**{**common_train, "model": "vae"}, **VAE_TRAIN),
                         VAEConfig(**VAE_OPTIONS, importance_samples=draws))
    chosen = {name: getattr(args, name) for name in DRAW_FLAGS if getattr(args, name) is not None}
    return RunConfig(TrainConfig(**common_train, batch_size=args.batch_size, lr=args.lr),
                     DRAWConfig(**chosen, binarize=True))


def mark_name(model: str, clock: str, minutes: float) -> str:
    """The folder name of ``model``'s mark at ``minutes`` of the ``clock``: draw-cpu60."""
    return f"{model}-{clock}{minutes:g}"


# --- the budget and its ledger


@dataclass
class Ledger:
    """What a budgeted run has spent, written to OUT/<model>-budget.json after every change:
    the clock it counts, its marks (minutes), the time and steps spent at each saved checkpoint
    (by name: "E-B" is E whole epochs and B batches), and the marks reached."""

    path: Path
    model: str
    clock: str
    marks: list[float]
    steps_per_epoch: int = 0
    checkpoints: dict[str, dict] = field(default_factory=dict)
    reached: list[dict] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path, model: str, clock: str, marks: list[float]) -> Ledger:
        """The ledger of ``model`` at ``path`` with these marks, or a new one; one clock per ledger."""
        if not path.exists():
            return cls(path, model, clock, sorted(marks))
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["clock"] != clock:
            raise SystemExit(f"{path} counts {data['clock']} time; run with{'' if data['clock'] == 'wall' else 'out'} "
                             f"--wall, or use another --out")
        return cls(path, model, clock, sorted(marks), data["steps_per_epoch"], data["checkpoints"], data["reached"])

    def save(self) -> None:
        payload = {"model": self.model, "clock": self.clock, "marks": self.marks, "steps_per_epoch": self.steps_per_epoch,
                   "checkpoints": self.checkpoints, "reached": self.reached}
        atomic_write_text(self.path, json.dumps(payload, indent=1) + "\n")

    def pending(self) -> list[float]:
        """The marks not reached yet, in order."""
        done = {r["mark_min"] for r in self.reached}
        return [m for m in self.marks if m not in done]

    def spent_at(self, checkpoint: Path | None) -> dict:
        """Seconds (both clocks) and steps spent when ``checkpoint`` was saved (zero without one); a checkpoint
        saved just before a kill, without its record, gets the latest record before it."""
        if checkpoint is None:
            return {"cpu_s": 0.0, "wall_s": 0.0, "steps": 0}
        key = checkpoint_key(checkpoint.name)
        if key in self.checkpoints:
            return self.checkpoints[key]
        earlier = [k for k in self.checkpoints if _order(k) <= _order(key)]
        print(f"no time recorded at {checkpoint.name}; counting from {max(earlier, key=_order, default='the start')}",
              flush=True)
        return self.checkpoints[max(earlier, key=_order)] if earlier else {"cpu_s": 0.0, "wall_s": 0.0, "steps": 0}


def checkpoint_key(name: str) -> str:
    """"E-B" for kgen's checkpoint file ``name``: E whole epochs and B batches of the next."""
    found = _CHECKPOINT.match(name)
    if found is None:
        raise ValueError(f"{name} is not a kgen checkpoint name")
    latest, epochs, batches = found.groups()
    return f"{int(latest)}-0" if latest is not None else f"{int(epochs)}-{int(batches)}"


def _order(key: str) -> tuple[int, int]:
    epochs, batches = key.split("-")
    return int(epochs), int(batches)


class BudgetClock(keras.callbacks.Callback):
    """Counts training time on the ledger's clock from what was spent before (``spent``),
    leaving out validation and its own saves; saves a mark with ``save_mark(model, record)`` when
    the count passes it and stops training at the last one. It records the time at every epoch
    end and at the end of training: the points kgen's checkpoints are saved at."""

    def __init__(self, ledger: Ledger, spent: dict, save_mark) -> None:
        super().__init__()
        self.ledger, self.save_mark = ledger, save_mark
        self.base = dict(spent)
        self.left_out = {"cpu_s": 0.0, "wall_s": 0.0}
        self.started = {"cpu_s": 0.0, "wall_s": 0.0}
        self.paused_at: dict | None = None
        self.epoch, self.batches, self.steps_here = 0, 0, 0

    def spent(self) -> dict:
        """Training seconds on both clocks, and training steps, since the run began."""
        wall, cpu = common.clock()
        return {"cpu_s": self.base["cpu_s"] + cpu - self.started["cpu_s"] - self.left_out["cpu_s"],
                "wall_s": self.base["wall_s"] + wall - self.started["wall_s"] - self.left_out["wall_s"],
                "steps": self.base["steps"] + self.steps_here}

    def on_train_begin(self, logs=None):
        wall, cpu = common.clock()
        self.started = {"cpu_s": cpu, "wall_s": wall}
        self.ledger.steps_per_epoch = int(self.params["steps"])

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batches = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches, self.steps_here = batch + 1, self.steps_here + 1
        pending = self.ledger.pending()
        spent = self.spent()
        if pending and spent[f"{self.ledger.clock}_s"] >= pending[0] * 60:
            self._leave_out(lambda: self._reach(pending[0], spent))
            if len(pending) == 1:
                self.model.stop_training = True

    def on_test_begin(self, logs=None):
        self._pause()

    def on_test_end(self, logs=None):
        self._unpause()

    def _pause(self) -> None:
        wall, cpu = common.clock()
        self.paused_at = {"wall_s": wall, "cpu_s": cpu}

    def _unpause(self) -> None:
        """Leave the time since `_pause` out of the count."""
        wall, cpu = common.clock()
        self.left_out["cpu_s"] += cpu - self.paused_at["cpu_s"]
        self.left_out["wall_s"] += wall - self.paused_at["wall_s"]

    def on_epoch_end(self, epoch, logs=None):
        self.epoch, self.batches = epoch + 1, 0
        self._record(f"{epoch + 1}-0")

    def on_train_end(self, logs=None):
        self._record(f"{self.epoch}-{self.batches}")

    def _record(self, key: str) -> None:
        self.ledger.checkpoints[key] = self.spent()
        self.ledger.save()

    def _reach(self, minutes: float, spent: dict) -> None:
        steps_per_epoch = self.ledger.steps_per_epoch
        record = {"mark_min": minutes, "epochs": round(spent["steps"] / steps_per_epoch, 3),
                  "steps": spent["steps"], "cpu_min": round(spent["cpu_s"] / 60, 3),
                  "wall_min": round(spent["wall_s"] / 60, 3),
                  "folder": mark_name(self.ledger.model, self.ledger.clock, minutes)}
        self.save_mark(self.model, record)
        self.ledger.reached.append(record)
        self.ledger.save()
        print(f"{record['folder']}: {record['epochs']} epochs, {record['cpu_min']} CPU min, "
              f"{record['wall_min']} wall min", flush=True)

    def _leave_out(self, work) -> None:
        self._pause()
        try:
            work()
        finally:
            self._unpause()


# --- train, evaluate, report


def run_name(model: str, args: argparse.Namespace) -> str:
    """The name of ``model``'s run, ledger and marks under OUT: iwae-k50 for IWAE with 50 draws."""
    return f"iwae-k{args.draws}" if model == "iwae" else model


def train_model(args: argparse.Namespace) -> None:
    """Train ``args.model`` in OUT/<name> to its last mark, continuing the run there if any."""
    name = run_name(args.model, args)
    train_to_marks(Path(args.out), name, run_config(args.model, args), args.marks, args.wall)


def train_to_marks(out: Path, name: str, config, marks: list[float], wall: bool = False,
                   annotate: Callable[[Any, dict], None] | None = None) -> None:
    """Train ``config`` in OUT/<name> under the ledger OUT/<name>-budget.json, saving the model as a
    run OUT/marks/<name>-<clock><minutes> at each mark, continuing a killed run from its last
    checkpoint; ``annotate(model, record)`` may add to a mark's record before it is written."""
    from kgen.train.training import train

    clock = "wall" if wall else "cpu"
    ledger = Ledger.open(out / f"{name}-budget.json", name, clock, marks)
    if not ledger.pending():
        print(f"{name}: every mark ({', '.join(f'{m:g}' for m in ledger.marks)} {clock} min) is reached already")
        return
    run_dir = out / name
    resume = (run_dir / "config.json").is_file()
    latest = Run(run_dir).latest_checkpoint() if resume else None
    spent = ledger.spent_at(latest[0] if latest else None)
    if ledger.pending()[0] * 60 <= spent[f"{clock}_s"]:
        raise SystemExit(f"{name} has trained {spent[f'{clock}_s'] / 60:.2f} {clock} min already, past the mark "
                         f"{ledger.pending()[0]:g}; choose later marks or another --out")
    print(f"{name}: {'continuing from ' + latest[0].name if latest else 'starting'} at "
          f"{spent[f'{clock}_s'] / 60:.2f} {clock} min; marks {', '.join(f'{m:g}' for m in ledger.pending())}",
          flush=True)

    def save_mark(trained, record: dict) -> None:
        folder = out / "marks" / record["folder"]
        unfinished = (folder / "config.json").is_file() and not (folder / "mark.json").exists()  # killed saving it
        mark = Run(folder) if unfinished else Run.create(folder, config)
        with atomic_path(mark.model_path) as tmp:
            trained.save(tmp)
        if annotate is not None:
            annotate(trained, record)
        atomic_write_text(mark.path / "mark.json", json.dumps(record, indent=1) + "\n")

    budget = BudgetClock(ledger, spent, save_mark)
    train(config, run_dir, resume=resume, extra_callbacks=[budget], verbose=0)


def evaluate_marks(args: argparse.Namespace) -> None:
    """Test ELBO and IWAE-k of every mark saved under OUT not yet scored with this k and limit;
    each score is added to the results file as soon as it is known."""
    from kgen.services.commands import evaluate_run

    results = read_results(args.results)
    for mark in sorted((Path(args.out) / "marks").glob("*/mark.json")):
        record = json.loads(mark.read_text(encoding="utf-8"))
        key = f"{mark.parent} k={args.k} n={args.limit}"
        if key in results["scores"]:
            continue
        config = Run.open(mark.parent).config()
        began = time.perf_counter()
        print(f"{mark.parent.name}: IWAE-{args.k} on {args.limit} test images ...", flush=True)
        scores = evaluate_run(mark.parent, k=args.k, limit=args.limit, seed=0, quality=False, invert=0)
        results["scores"][key] = {**record, "model": config.train.model, "out": str(Path(args.out)),
                                  "k": args.k, "n": args.limit, "elbo": scores["elbo"],
                                  "iwae": scores[f"iwae_{args.k}"], "eval_min": (time.perf_counter() - began) / 60,
                                  "config": config.to_dict()}
        results["machine"] = common.machine()
        atomic_write_text(args.results, json.dumps(results, indent=1, default=float) + "\n")
        print(f"  ELBO {scores['elbo']:.2f}, IWAE-{args.k} {scores[f'iwae_{args.k}']:.2f} nats", flush=True)


def read_results(path: Path) -> dict:
    """The results file's scores (by mark folder, k and image count), or none yet."""
    if not Path(path).exists():
        return {"scores": {}}
    return json.loads(Path(path).read_text(encoding="utf-8"))


def report(args: argparse.Namespace) -> None:
    """Print one row per scored mark: epochs, wall and CPU minutes, test ELBO, IWAE-k."""
    rows = sorted(read_results(args.results)["scores"].values(),
                  key=lambda r: (r["out"], r["model"], r["mark_min"], r["k"], r["n"]))
    print("| out | model | mark | epochs | wall min | CPU min | test ELBO | IWAE-k | k | images |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['out']} | {r['model']} | {r['folder']} | {r['epochs']:.2f} | {r['wall_min']:.2f} | "
              f"{r['cpu_min']:.2f} | {r['elbo']:.2f} | {r['iwae']:.2f} | {r['k']} | {r['n']} |")


def commands(args: argparse.Namespace) -> None:
    """Print the commands that train both models, evaluate their marks and report, for these flags."""
    script = "benchmarks/draw_likelihood.py"
    shared = [f"--out {shlex.quote(str(args.out))}", f"--marks {','.join(f'{m:g}' for m in args.marks)}",
              f"--dataset {args.dataset}", f"--data-dir {shlex.quote(args.data_dir)}", *(["--wall"] if args.wall else [])]
    draw_flags = [f"--{name.replace('_', '-')} {getattr(args, name)}" for name in (*DRAW_FLAGS, "batch_size", "lr")
                  if getattr(args, name) is not None]
    python, out = shlex.quote(sys.executable), shlex.quote(str(args.out))
    print(f"mkdir -p {out}")
    for model in MODELS:
        flags = shared + (draw_flags if model == "draw" else [f"--draws {args.draws}"] if model == "iwae" else [])
        log = f"{out}/{run_name(model, args)}.log"
        print(f"nohup nice -n 10 {python} {script} train --model {model} {' '.join(flags)} > {log} 2>&1 &")
    results = f" --results {shlex.quote(str(args.results))}" if args.results != RESULTS_PATH else ""
    print(f"{python} {script} eval --out {out} -k {args.k} --limit {args.limit}{results}")
    print(f"{python} {script} report{results}")


# --- command line


def _minutes(text: str) -> list[float]:
    try:
        marks = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"marks must be minutes separated by commas, got {text!r}") from None
    if not marks or any(m <= 0 for m in marks):
        raise argparse.ArgumentTypeError(f"marks must be positive minutes, got {text!r}")
    return sorted(set(marks))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("train", "eval", "report", "commands"))
    p.add_argument("--model", choices=MODELS, help="train: the model to train")
    p.add_argument("--out", type=Path, default=Path("runs/bench-draw-nll"), help="folder of the runs and marks")
    p.add_argument("--marks", type=_minutes, default=[60.0, 120.0],
                   help="budget marks in minutes of training CPU time (wall time with --wall); the last ends training")
    p.add_argument("--wall", action="store_true", help="count wall-clock time, not CPU time (a quiet machine)")
    p.add_argument("--dataset", default="mnist", help="the benchmark's is mnist (digits: a quick check of the script)")
    p.add_argument("--data-dir", default="/work/shared/data/mnist", help="folder of the MNIST IDX files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-every", type=int, default=5, help="a sample grid every this many epochs")
    p.add_argument("--steps", type=int, help="DRAW: drawing steps T (default: DRAWConfig's)")
    p.add_argument("--width", type=int, help="DRAW: LSTM units")
    p.add_argument("--z-size", type=int, help="DRAW: latents per step")
    p.add_argument("--attention", choices=("gaussian", "none"), help="DRAW: read/write attention")
    p.add_argument("--read-size", type=int, help="DRAW: N of the N x N read glimpse (attention gaussian)")
    p.add_argument("--write-size", type=int, help="DRAW: N of the N x N write patch (attention gaussian)")
    p.add_argument("--batch-size", type=int, help="DRAW: batch size (the VAE's is 100)")
    p.add_argument("--lr", type=float, help="DRAW: Adam learning rate (the VAE's is 1e-3)")
    p.add_argument("--draws", type=int, default=50, help="iwae: draws of z per image it trains on (k)")
    p.add_argument("-k", type=int, default=1000, help="eval: importance samples of IWAE-k")
    p.add_argument("--limit", type=int, default=1000, help="eval: the first this many test images")
    p.add_argument("--results", type=Path, default=RESULTS_PATH, help="eval, report: the results file")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "train" and args.model is None:
        raise SystemExit(f"train needs --model, one of {', '.join(MODELS)}")
    {"train": train_model, "eval": evaluate_marks, "report": report, "commands": commands}[args.command](args)


if __name__ == "__main__":
    main()
