"""kgen.sizes' memory estimate against the real peak RSS growth of training, per architecture.

Each case trains one epoch (checkpoint, model save and final scores included) in a fresh process;
the growth is the peak RSS (``ru_maxrss``) minus the RSS right after the data is loaded and the
size check passed, which is where the estimate is made. Usage:
    python benchmarks/size_estimate.py [--only NAME ...]
"""

from __future__ import annotations

import json
import resource
import shutil
import time
from pathlib import Path

import _common as common

# name -> (model, train options, model options): cases whose estimate is hundreds of MiB or more,
# so that the step's memory, not TensorFlow's fixed working memory, dominates the growth.
CASES = {
    "vae-mlp-default": ("vae", {}, {}),
    "vae-mlp-4096x2": ("vae", {}, {"hidden": [4096, 4096]}),
    "ae-conv-512-1024": ("ae", {}, {"arch": "conv", "filters": [512, 1024, 1024, 1024]}),
    "cvae-conv-32px-batch512": ("cvae", {"image_size": 32, "batch_size": 512},
                                {"arch": "conv", "filters": [64, 128, 128, 128]}),
    "gan-mlp-4096x2": ("gan", {}, {"hidden": [4096, 4096]}),
    "dcgan-1024": ("dcgan", {}, {"filters": 1024}),
    "cgan-conv-32px-512": ("cgan", {"image_size": 32}, {"filters": 512}),
}


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise OSError("no VmRSS in /proc/self/status")


def child(name: str, out: Path) -> None:
    """Train one case and print (estimate, RSS at the check, peak RSS) as JSON."""
    import kgen.train.training
    from kgen.config import RunConfig, TrainConfig, model_config
    from kgen.sizes import estimate

    model, train_options, model_options = CASES[name]
    config = RunConfig(TrainConfig(model=model, dataset="digits", epochs=1, **train_options),
                       model_config(model).from_dict(model_options))
    checked = {}
    load = kgen.train.training.load_training_data

    def load_and_note(config):
        data = load(config)
        checked["rss"] = rss()
        checked["estimate"] = estimate(config, data.x_train.shape[1:], data.num_classes)
        return data

    kgen.train.training.load_training_data = load_and_note
    shutil.rmtree(out, ignore_errors=True)
    kgen.train.training.train(config, out, verbose=0)
    shutil.rmtree(out, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    need = checked["estimate"]
    print(json.dumps({"estimate": need.total, "weights": need.weights_bytes, "activations": need.activation_bytes,
                      "params": need.params, "at_check": checked["rss"], "peak": peak}))


def main() -> None:
    args = common.child_process_args(__doc__.splitlines()[0], Path("runs/bench-size-estimate"))
    if args.child:
        return child(args.child, args.out)
    started = time.monotonic()
    rows, raw = [], {}
    for name in CASES:
        if args.only and name not in args.only:
            continue
        figures = common.run_child(__file__, name, args.out)
        growth = figures["peak"] - figures["at_check"]
        print(name, figures, flush=True)
        raw[name] = figures
        rows.append([name, figures["params"] / 1e6, figures["weights"] / 2**20, figures["activations"] / 2**20,
                     figures["estimate"] / 2**20, growth / 2**20, figures["estimate"] / growth])
    header = ["case (digits, 1 epoch)", "weights (millions)", "estimate: weights part MiB",
              "estimate: activations part MiB", "estimate MiB", "measured peak RSS growth MiB",
              "estimate / measured"]
    notes = ["Each case in a fresh Python process: `kgen.train.training.train` with every callback, one epoch, "
             "then model.keras and the final scores; growth = `ru_maxrss` at the end minus VmRSS just after "
             "the size check. The estimate includes a fixed allowance for TensorFlow's own working memory."]
    common.write_results("size_estimate", "Memory estimate against measured growth", header, rows, notes,
                         {"runs": raw}, started)


if __name__ == "__main__":
    main()
