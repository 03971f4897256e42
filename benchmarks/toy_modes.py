"""GANs on the 8-Gaussian ring: modes covered for k = 1 and 5, non-saturating vs saturating.

Each case is kgen's own ``train`` with the toy defaults (60 epochs, batch 64, Adam 2e-4,
z = 2) and several seeds, scored by the score a run ends with: the papers' rule on 2,000 samples
(a mode counts with 20 = 1% of them within 3 standard deviations; high quality = within 3 std
of some mode). benchmarks/mode_collapse.py holds the papers' full protocol and tables. The final scatter of every run is kept; the one with the fewest modes is the
mode-collapse picture. Usage: python benchmarks/toy_modes.py [--seeds 3] [--epochs 60] [--img docs/img]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from kgen.config import GANConfig, RunConfig, TrainConfig
from kgen.train.training import train

CASES = [(1, "non-saturating"), (5, "non-saturating"), (1, "saturating"), (5, "saturating")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--img", type=Path, default=None, help="copy the best and worst scatters here")
    args = parser.parse_args()
    print("| k | generator loss | modes covered per seed (of 8) | high-quality share per seed | seconds per run |")
    print("|---|---|---|---|---|")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, loss in CASES:
            modes, quality, seconds = [], [], []
            for seed in range(args.seeds):
                config = RunConfig(TrainConfig(model="gan", dataset="ring8", epochs=args.epochs, seed=seed),
                                   GANConfig(d_steps=k, generator_loss=loss))
                start = time.monotonic()
                result = train(config, Path(tmp) / f"k{k}-{loss}-{seed}", verbose=0)
                seconds.append(time.monotonic() - start)
                modes.append(int(result.test["modes_covered"]))
                quality.append(result.test["high_quality"])
                runs.append((modes[-1], quality[-1], result.run.sample_path(args.epochs), f"k{k}-{loss}-seed{seed}"))
            print(f"| {k} | {loss} | {', '.join(map(str, modes))} | {', '.join(f'{q:.2f}' for q in quality)} "
                  f"| {sum(seconds) / len(seconds):.0f} |", flush=True)
        if args.img:
            worst, best = min(runs), max(runs)
            shutil.copy(worst[2], args.img / "ring8-mode-collapse.png")
            shutil.copy(best[2], args.img / "ring8-modes-covered.png")
            print(f"collapse picture: {worst[3]} ({worst[0]} modes); covered: {best[3]} ({best[0]} modes)")


if __name__ == "__main__":
    main()
