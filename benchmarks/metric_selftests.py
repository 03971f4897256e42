"""The figures behind tests/test_metric_selftests.py: the known ring generator's truncation sweep, a
collapsed and a spread generator's precision and recall, and FID of the digits judge's features
against added noise and dropped classes. Usage: python benchmarks/metric_selftests.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_metric_selftests import RING, STD, RingGenerator  # noqa: E402

from kgen.data import load_dataset  # noqa: E402
from kgen.eval.classifier import classifier_for  # noqa: E402
from kgen.eval.metrics import frechet_distance, precision_recall  # noqa: E402
from kgen.eval.truncation import format_sweep, truncation_sweep  # noqa: E402


def main() -> None:
    ring = load_dataset("ring8").x_test[:1000]
    print("ring8, the known generator (modes by z's angle, offsets std * z):")
    print(format_sweep(truncation_sweep(RingGenerator(), ring, psis=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0))))
    rng = np.random.default_rng(0)
    one_mode = RING[0] + STD * rng.standard_normal((len(ring), 2))
    print("one mode of 8:     precision {:.3f} recall {:.3f}".format(*precision_recall(ring, one_mode, k=3)))
    spread = np.random.default_rng(0).uniform(-2.5, 2.5, (2 * len(ring), 2))
    print("uniform in a box:  precision {:.3f} recall {:.3f}".format(*precision_recall(ring, spread, k=3)))
    data = load_dataset("digits")
    judge = classifier_for(data)
    real, rng = judge.features(data.x_test), np.random.default_rng(0)
    noise = rng.standard_normal(data.x_train.shape).astype("float32")
    for sigma in (0.0, 0.1, 0.2, 0.3, 0.4):
        fid = frechet_distance(real, judge.features(np.clip(data.x_train + sigma * noise, 0, 1)))
        print(f"digits, train images + noise sigma {sigma:<4}: FID {fid:.2f}")
    labels, rng = data.y_train.ravel(), np.random.default_rng(0)
    for dropped in (0, 2, 4, 6, 8):
        kept = np.flatnonzero(labels >= dropped)
        fid = frechet_distance(real, judge.features(data.x_train[rng.choice(kept, 1000)]))
        print(f"digits, 1000 train images of classes {dropped}..9: FID {fid:.2f}")


if __name__ == "__main__":
    main()
