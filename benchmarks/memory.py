"""Peak resident memory (RSS) of kgen training runs, each in a fresh process.

The child process reports its RSS after importing TensorFlow and kgen (the floor every run
pays), after loading the data, and its peak (``ru_maxrss``) at the end of training. Usage:
    python benchmarks/memory.py
"""

from __future__ import annotations

import json
import resource
import shutil
import time
from pathlib import Path

import _common as common

EPOCHS = 2
FULL_FASHION = "vae-mlp-fashion-60k"  # the whole training set, to show what the data costs


def rss_mib() -> float:
    """This process's current resident memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(name: str, out: Path) -> None:
    """Train one case and print its memory figures as JSON (runs in its own process)."""
    from kgen.train.training import load_training_data, train

    imported = rss_mib()
    case = next(c for c in _all_cases() if c.name == name)
    config = case.run_config(EPOCHS if name != FULL_FASHION else 1)
    data = load_training_data(config)
    loaded = rss_mib()
    data_mib = (data.x_train.nbytes + data.x_test.nbytes) / 2**20
    del data
    shutil.rmtree(out, ignore_errors=True)
    train(config, out, verbose=0)
    shutil.rmtree(out, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"imported": imported, "loaded": loaded, "data": data_mib, "peak": peak,
                      "epochs": config.train.epochs, "dataset": case.dataset.split("/")[-1]}))


def _all_cases():
    return [*common.cases(), common.Case(FULL_FASHION, "vae", "fashion-mnist", {})]


def main() -> None:
    args = common.child_process_args(__doc__.splitlines()[0], Path("runs/bench-memory"))
    if args.child:
        return child(args.child, args.out)
    started = time.monotonic()
    rows, raw = [], {}
    for case in _all_cases():
        if args.only and case.name not in args.only:
            continue
        figures = common.run_child(__file__, case.name, args.out)
        print(case.name, figures, flush=True)
        raw[case.name] = figures
        rows.append([case.name, figures["dataset"], figures["epochs"], figures["data"], figures["imported"],
                     figures["loaded"], figures["peak"]])
    header = ["model", "data", "epochs", "dataset float32 MiB", "RSS after imports MiB",
              "RSS after loading data MiB", "peak RSS MiB"]
    notes = ["Each run in a fresh Python process: `kgen.train.training.train` with all callbacks, peak from "
             "`ru_maxrss`. The dataset column is the train and test arrays as float32."]
    common.write_results("memory", "Peak memory of a training run", header, rows, notes, {"runs": raw}, started)


if __name__ == "__main__":
    main()
