"""Train GANs with kgen and score them: FID (own classifier), coverage, conditional accuracy.

Each case is ``kgen train`` then ``kgen eval`` (the library functions behind them), one after
the other in this process, and prints a Markdown table row with wall times. Usage:
    python benchmarks/gan_quality.py --out runs/bench-gan            # digits and Fashion-MNIST
    python benchmarks/gan_quality.py --only digits --epochs 30
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kgen.config import GANConfig, RunConfig, TrainConfig
from kgen.services.commands import evaluate_run
from kgen.train.training import train

CASES = {
    "digits": [("dcgan", 50), ("cgan", 50)],
    "fashion-mnist": [("dcgan", 10), ("cgan", 10)],
}
COLUMNS = ("fid", "classes_covered", "coverage_kl", "precision", "recall", "classifier_score",
           "conditional_accuracy", "inversion_mse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-gan"))
    parser.add_argument("--only", choices=tuple(CASES), default=None)
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs of every case")
    parser.add_argument("--floor", action="store_true", help="only the real-vs-real rows (the metrics' floor)")
    args = parser.parse_args()
    if args.floor:
        return print_floor(args.only)
    print("| model | dataset | epochs | train s | eval s | " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * (5 + len(COLUMNS)))
    for dataset, cases in CASES.items():
        if args.only and dataset != args.only:
            continue
        for model, epochs in cases:
            epochs = args.epochs or epochs
            config = RunConfig(TrainConfig(model=model, dataset=dataset, epochs=epochs), GANConfig())
            start = time.monotonic()
            result = train(config, args.out / f"{model}-{dataset}", verbose=0)
            trained = time.monotonic() - start
            scores = evaluate_run(result.run.path, k=0)
            evaluated = time.monotonic() - start - trained
            cells = [f"{scores[c]:.4g}" if c in scores else "-" for c in COLUMNS]
            print(f"| {model} | {dataset} | {epochs} | {trained:.0f} | {evaluated:.0f} | " + " | ".join(cells) + " |",
                  flush=True)


def print_floor(only: str | None) -> None:
    """Scores of as many real training images as test images: what a perfect generator gets."""
    from kgen.eval.classifier import classifier_for
    from kgen.eval.quality import image_quality
    from kgen.train.training import load_training_data

    print("| real training images vs test | n | " + " | ".join(COLUMNS[:6]) + " |")
    print("|" + "---|" * 8)
    for dataset in CASES:
        if only and dataset != only:
            continue
        data = load_training_data(RunConfig(TrainConfig(model="dcgan", dataset=dataset), GANConfig()))
        n = len(data.x_test)
        scores = image_quality(classifier_for(data), data.x_test, data.x_train[:n], data.y_test)
        print(f"| {dataset} | {n} | " + " | ".join(f"{scores[c]:.4g}" for c in COLUMNS[:6]) + " |")


if __name__ == "__main__":
    main()
