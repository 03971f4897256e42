"""Does kgen's input pipeline starve the step? Real ``make_pipeline`` against one cached batch.

Both train kgen's model under a bare ``model.fit`` for the same number of steps; the synthetic
input is the real pipeline's first batch, cached and repeated (``take(1).cache().repeat()``),
so it costs nothing to produce. Ratio = real / synthetic images/s (1.0: the pipeline is free).
Usage:
    python benchmarks/pipeline.py
"""

from __future__ import annotations

import argparse
import time

import _common as common
from compile_choices import STEPS

from kgen.train.training import load_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="model names (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    rows, raw = [], {}
    for case in common.cases():
        if args.only and case.name not in args.only:
            continue
        config = case.run_config(3)
        data = load_training_data(config)
        rates = {"synthetic": [], "real": []}
        cpu_rates = {"synthetic": [], "real": []}
        for repeat in range(args.repeats):
            for kind in ("synthetic", "real") if repeat % 2 == 0 else ("real", "synthetic"):
                rate, cpu = common.fit_rate(config, data, steps=STEPS[case.name], synthetic=kind == "synthetic")
                rates[kind].append(rate)
                cpu_rates[kind].append(cpu)
                print(f"{case.name} {kind}: {rate:,.0f} images/s, {cpu:,.0f} per CPU second", flush=True)
        pairs = [r / s for r, s in zip(rates["real"], rates["synthetic"], strict=True)]
        cpu_pairs = [r / s for r, s in zip(cpu_rates["real"], cpu_rates["synthetic"], strict=True)]
        synthetic, real = common.median(rates["synthetic"]), common.median(rates["real"])
        batch = config.train.batch_size
        rows.append([case.name, batch, 1000 * batch / synthetic, 1000 * batch / real, common.median(pairs),
                     f"{min(pairs):.2f}-{max(pairs):.2f}", common.median(cpu_pairs)])
        raw[case.name] = {"wall": rates, "cpu": cpu_rates}
    header = ["model", "batch", "step ms, one cached batch", "step ms, make_pipeline",
              "real/synthetic (median of pairs)", "range of pairs", "same in CPU time"]
    notes = [f"{args.repeats} alternating repeats; step times are medians, ratios the median of the "
             "per-repeat ratios; bare `model.fit`, steps an epoch: "
             + ", ".join(f"{k} {v}" for k, v in STEPS.items()) + "."]
    common.write_results("pipeline", "Input pipeline against a cached batch", header, rows, notes,
                         {"rates": raw}, started)


if __name__ == "__main__":
    main()
