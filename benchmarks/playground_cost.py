"""What the GAN playground's live snapshots cost training: ring8 GAN with and without the probe.

The same config is trained by ``kgen.train.training.train`` alone and with a `PlaygroundProbe`
(defaults: every 10 steps, at most ~5% of the thread's time), alternating, several repeats.
Speeds come from each run's events.jsonl (images between the first and last step event over
the time between them); the probe also reports its own time and the cost of one snapshot.

Usage: python benchmarks/playground_cost.py [--repeats 3] [--epochs 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import median, write_results

from kgen.config import GANConfig, RunConfig, TrainConfig
from kgen.data import load_dataset
from kgen.runs import read_events
from kgen.services.playground import PlaygroundProbe
from kgen.train.training import train


def images_per_second(run_dir: Path, batch_size: int) -> float:
    steps = [e for e in read_events(run_dir / "events.jsonl") if e["type"] == "step"]
    return (steps[-1]["step"] - steps[0]["step"]) * batch_size / (steps[-1]["time"] - steps[0]["time"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    started = time.monotonic()
    config = RunConfig(TrainConfig(model="gan", dataset="ring8", epochs=args.epochs), GANConfig())
    real = load_dataset("ring8").x_test
    rates: dict[str, list[float]] = {"alone": [], "probe": []}
    shares, costs, counts = [], [], []
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            for kind in ("alone", "probe"):
                run_dir = Path(root) / f"{kind}-{repeat}"
                events: list[dict] = []
                probe = PlaygroundProbe(events.append, real)
                result = train(config, run_dir, extra_callbacks=[probe] if kind == "probe" else [], verbose=0)
                rates[kind].append(images_per_second(run_dir, config.train.batch_size))
                if kind == "probe":
                    shares.append(probe.probe_seconds / result.seconds)
                    costs.append(1000 * probe.probe_seconds / probe.probes)
                    counts.append(probe.probes)
    ratio = median(rates["probe"]) / median(rates["alone"])
    rows = [["ring8 GAN, batch 64", f"{median(rates['alone']):,.0f}", f"{median(rates['probe']):,.0f}",
             f"{ratio:.2f}", f"{median(costs):.1f}", f"{median(counts):.0f}", f"{100 * median(shares):.1f}%"]]
    header = ["case", "images/s alone", "images/s with probe", "ratio", "ms per snapshot",
              "snapshots per run", "probe share of run time"]
    notes = [f"{args.epochs} epochs of 156 steps; medians of {args.repeats} alternating repeats.",
             "A snapshot: D on a 48x48 grid, G on 200 fixed z, the generator loss's gradient at each point."]
    write_results("playground_cost", "GAN playground: cost of live snapshots", header, rows, notes,
                  {"rates": rates, "shares": shares, "ms_per_snapshot": costs, "snapshots": counts}, started)


if __name__ == "__main__":
    main()
