"""Achieved GFLOP/s of each model's training against this CPU's peak.

FLOPs per training image come from the layer shapes (`kgen.models.flops`); images/s from the bare
``model.fit`` runs of ``compile_choices.py`` (XLA off, one step per execution: kgen's default),
which must have run first. Peak = cores x clock x FP32 FLOPs per cycle from the vector units
that /proc/cpuinfo's flags name. Usage:
    python benchmarks/compile_choices.py && python benchmarks/roofline.py
"""

from __future__ import annotations

import json
import os
import time

import _common as common

from kgen.models import build_model
from kgen.models.flops import training_flops_per_example
from kgen.train.training import load_training_data


def peak_gflops() -> tuple[float, str]:
    """(FP32 peak GFLOP/s, how it was worked out) from /proc/cpuinfo."""
    info = common._cpuinfo()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    mhz = float(fields.get("cpu MHz", "nan"))
    cores = len(os.sched_getaffinity(0))
    amd_zen4 = fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"
    if "avx512f" in flags and not amd_zen4:
        per_cycle, why = 64, "AVX-512: 2 FMA units x 16 FP32 lanes x 2"
    elif "avx512f" in flags:
        per_cycle, why = 32, "AVX-512 on AMD Zen 4, run as 2 x 256-bit: 2 FMA pipes x 8 FP32 lanes x 2"
    elif {"avx2", "fma"} <= flags:
        per_cycle, why = 32, "AVX2 + FMA: 2 FMA units x 8 FP32 lanes x 2"
    else:
        per_cycle, why = 8, "SSE: 4 FP32 lanes x (add + mul)"
    peak = cores * mhz / 1000 * per_cycle
    return peak, f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOPs/cycle ({why})"


def main() -> None:
    started = time.monotonic()
    source = common.RESULTS / "compile_choices.json"
    if not source.exists():
        raise SystemExit(f"{source} is missing: run benchmarks/compile_choices.py first")
    rates = json.loads(source.read_text())["rates"]
    peak, how = peak_gflops()
    rows = []
    for case in common.cases():
        if case.name not in rates:
            continue
        config = case.run_config(1)
        data = load_training_data(config)
        model = build_model(config, data.x_train.shape[1:], data.num_classes)
        flops = training_flops_per_example(model)
        images = common.median(rates[case.name]["jit=False,spe=1"])
        achieved = flops * images / 1e9
        rows.append([case.name, flops / 1e6, images, achieved, f"{100 * achieved / peak:.1f}%"])
    header = ["model", "MFLOP per training image", "images/s (bare fit)", "achieved GFLOP/s", "of peak"]
    notes = [f"Peak {peak:.0f} GFLOP/s FP32 = {how}; the vCPUs of a virtual machine may share "
             "physical cores, so the true peak may be lower.",
             "FLOPs: multiply-adds x 2 of Dense, Conv2D and Conv2DTranspose layers, 4 per element for "
             "batch norm, a training step = 3 forward passes (GANs: 4 G + 9 D per real image)."]
    common.write_results("roofline", "Roofline: achieved FLOP/s", header, rows, notes,
                         {"peak_gflops": peak, "peak_how": how}, started)


if __name__ == "__main__":
    main()
