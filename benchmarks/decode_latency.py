"""How long one latent-slider step takes: decoding a single z on this machine.

Times ``kgen.eval.latent.decode_one`` (the compiled path the app's sliders call) against an eager
``model.decode`` call, for the MLP and conv decoders at 8x8 and 28x28. Weights do not change the
cost, so the models are freshly built. Usage: python benchmarks/decode_latency.py [--repeats N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.eval.latent import decode_latency
from kgen.models import build_model

CASES = [("mlp", (8, 8, 1), 8), ("mlp", (28, 28, 1), 16), ("conv", (28, 28, 1), 16)]


def eager_latency(model, repeats: int) -> float:
    """Median milliseconds of an eager ``model.decode`` on one code, for comparison."""
    z = np.random.default_rng(0).standard_normal((repeats + 10, 1, model.latent_dim)).astype("float32")
    for code in z[:10]:
        model.decode(code)
    times = []
    for code in z[10:]:
        start = time.perf_counter()
        np.asarray(model.decode(code))
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args()
    print("| decoder | image | z | compiled median (ms) | compiled p95 (ms) | eager median (ms) |")
    print("|---|---|---|---|---|---|")
    for arch, shape, latent_dim in CASES:
        config = RunConfig(TrainConfig(), VAEConfig(arch=arch, latent_dim=latent_dim))
        model = build_model(config, shape)
        fast = decode_latency(model, repeats=args.repeats, warmup=50)
        eager = eager_latency(model, min(args.repeats, 200))
        size = "x".join(str(d) for d in shape[:2])
        print(f"| {arch} | {size} | {latent_dim} | {fast['median_ms']:.2f} | {fast['p95_ms']:.2f} | {eager:.2f} |")


if __name__ == "__main__":
    main()
