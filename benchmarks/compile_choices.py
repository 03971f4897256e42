"""XLA (``jit_compile``) and ``steps_per_execution`` for each model on this machine.

Each choice trains kgen's model and pipeline under a bare ``model.fit`` for a fixed number of
steps an epoch; images/s over epochs 2..3 (epoch 1 holds tracing and XLA compilation). The
choices alternate within each repeat. Usage:
    python benchmarks/compile_choices.py
    python benchmarks/compile_choices.py --only vae-conv --repeats 3
"""

from __future__ import annotations

import argparse
import time

import _common as common

from kgen.train.training import load_training_data

# Steps an epoch: a few seconds of training each, a multiple of every steps_per_execution tried.
STEPS = {"vae-mlp": 384, "vae-conv": 64, "dcgan": 16, "cgan": 16}
CHOICES = [(False, 1), (True, 1), (False, 4), (False, 16)]  # (jit_compile, steps_per_execution)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="model names (default: all)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    started = time.monotonic()
    rows, raw, raw_cpu = [], {}, {}
    for case in common.cases():
        if args.only and case.name not in args.only:
            continue
        config = case.run_config(3)
        data = load_training_data(config)
        rates = {choice: [] for choice in CHOICES}
        cpu_rates = {choice: [] for choice in CHOICES}
        for repeat in range(args.repeats):
            for jit, spe in CHOICES if repeat % 2 == 0 else reversed(CHOICES):
                rate, cpu = common.fit_rate(config, data, steps=STEPS[case.name], jit_compile=jit,
                                            steps_per_execution=spe)
                rates[(jit, spe)].append(rate)
                cpu_rates[(jit, spe)].append(cpu)
                print(f"{case.name} jit_compile={jit} steps_per_execution={spe}: {rate:,.0f} images/s, "
                      f"{cpu:,.0f} per CPU second", flush=True)
        base, cpu_base = common.median(rates[CHOICES[0]]), common.median(cpu_rates[CHOICES[0]])
        for choice, values in rates.items():
            jit, spe = choice
            rows.append([case.name, config.train.batch_size, "on" if jit else "off", spe,
                         common.median(values), common.median(values) / base,
                         common.median(cpu_rates[choice]) / cpu_base])
        raw[case.name] = {f"jit={jit},spe={spe}": v for (jit, spe), v in rates.items()}
        raw_cpu[case.name] = {f"jit={jit},spe={spe}": v for (jit, spe), v in cpu_rates.items()}
    header = ["model", "batch", "XLA", "steps_per_execution", "images/s (median)", "vs XLA off, 1 step",
              "same in CPU time"]
    notes = [f"{args.repeats} repeats, choices alternating; bare `model.fit` of kgen's model and "
             "tf.data pipeline, no callbacks, no validation; steps an epoch: "
             + ", ".join(f"{k} {v}" for k, v in STEPS.items()) + "."]
    common.write_results("compile_choices", "XLA and steps_per_execution", header, rows, notes,
                         {"rates": raw, "cpu_rates": raw_cpu}, started)


if __name__ == "__main__":
    main()
