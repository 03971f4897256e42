"""GANs on binary images: each GANConfig.pixels option trained alike, scored by kgen's classifier.

Every option trains the same GAN (kgen's defaults for the gan kind: MLP 256-256, z = 64, batch 64,
Adam 2e-4; or with --model dcgan the DCGAN networks) for the same epochs and seeds on binarised digits (or MNIST), then reports
D's accuracy on the test images (threshold 1/2, real and fake halves, real pixels binarised
afresh), the share of sample pixels that are exactly 0 or 1, and the classifier's class coverage,
precision/recall and FID of as many samples as test images against a seeded binarisation of the
test images (continuous, the grey reference, against the grey test images). Usage:
    python benchmarks/discrete_gan.py                              # digits, seeds 0-2
    python benchmarks/discrete_gan.py --dataset mnist --data-dir /work/shared/data/mnist --epochs 10 --seeds 0
    python benchmarks/discrete_gan.py --model dcgan                # the DCGAN networks instead
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import clock, write_results

from kgen.config import GAN_PIXELS, GANConfig, RunConfig, TrainConfig

SCORES = ("d_accuracy", "binary_share", "classes_covered", "coverage_kl", "precision", "recall", "fid")


def run_case(config: RunConfig, data, judge) -> dict[str, float]:
    """Train one GAN as kgen's training does (its pipeline, seed and batches), score it."""
    import keras
    import numpy as np

    from kgen.data import make_pipeline
    from kgen.eval.likelihood import binarize_fixed
    from kgen.eval.quality import image_quality
    from kgen.models import build_model
    from kgen.models.sampling import sample_images

    seed = config.train.seed
    keras.utils.set_random_seed(seed)
    model = build_model(config, data.image_shape)
    wall, cpu = clock()
    model.fit(make_pipeline(data.x_train, batch_size=config.train.batch_size, seed=seed, drop_remainder=True),
              epochs=config.train.epochs, verbose=0, shuffle=False)
    seconds = clock()[1] - cpu
    test = make_pipeline(data.x_test, batch_size=config.train.batch_size, seed=seed, shuffle=False)
    game = model.evaluate(test, verbose=0, return_dict=True)
    fakes = sample_images(model, len(data.x_test), seed=seed)
    real = binarize_fixed(data.x_test, seed) if model.binary else data.x_test
    quality = image_quality(judge, real, fakes, data.y_test)
    return {"d_accuracy": game["d_accuracy"], "binary_share": float(np.mean((fakes == 0) | (fakes == 1))),
            **quality, "train_cpu_s": seconds, "train_wall_s": clock()[0] - wall}


def floor(data, judge, seeds) -> dict[str, float]:
    """A perfect binary generator's scores: binarised training images against the binarised test images."""
    import numpy as np

    from kgen.eval.likelihood import binarize_fixed
    from kgen.eval.quality import image_quality

    rows = []
    for seed in seeds:
        real = binarize_fixed(data.x_test, seed)
        fakes = binarize_fixed(data.x_train[: len(data.x_test)], seed + 1000)
        rows.append({"binary_share": float(np.mean((fakes == 0) | (fakes == 1))),
                     **image_quality(judge, real, fakes, data.y_test)})
    return {k: statistics.mean(r[k] for r in rows) for k in rows[0]}


def cell(values: list[float]) -> str:
    """Mean, and the range over seeds when there are several."""
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.3g}"
    return f"{mean:.3g} ({min(values):.3g}-{max(values):.3g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="digits (8x8, fast) or mnist")
    parser.add_argument("--data-dir", default=None, help="folder of the MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every run (default: the gan kind's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pixels", nargs="+", choices=GAN_PIXELS, default=list(GAN_PIXELS))
    parser.add_argument("--model", choices=("gan", "dcgan"), default="gan", help="MLP or DCGAN networks")
    args = parser.parse_args()
    from kgen.eval.classifier import classifier_for
    from kgen.train.training import load_training_data

    started = time.monotonic()

    def config(pixels: str, seed: int) -> RunConfig:
        train = TrainConfig(model=args.model, dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, seed=seed)
        return RunConfig(train, GANConfig(pixels=pixels))

    data = load_training_data(config("continuous", 0))
    judge = classifier_for(data)
    epochs = config("continuous", 0).train.epochs
    raw: dict[str, list[dict]] = {}
    rows = []
    for pixels in args.pixels:
        raw[pixels] = [run_case(config(pixels, seed), data, judge) | {"seed": seed} for seed in args.seeds]
        runs = raw[pixels]
        rows.append([pixels, *(cell([r[k] for r in runs]) for k in SCORES),
                     f"{statistics.mean(r['train_cpu_s'] for r in runs):.1f}"])
        print(" | ".join(map(str, rows[-1])), flush=True)
    raw["binarised real images"] = [floor(data, judge, args.seeds)]
    perfect = raw["binarised real images"][0]
    rows.append(["binarised real images", *(cell([perfect[k]]) if k in perfect else "-" for k in SCORES), "-"])
    header = ["pixels", "D accuracy", "binary pixel share", "classes covered", "coverage KL", "precision", "recall",
              "FID", "train CPU s"]
    notes = [f"{data.name}: {len(data.x_train)} training, {len(data.x_test)} test images {data.image_shape}; "
             f"{epochs} epochs, seeds {', '.join(map(str, args.seeds))}; mean (range over seeds)",
             "D accuracy: on the test images and as many fakes, threshold 1/2 (1/2: D cannot tell them apart)",
             "scores of binary options against a seeded binarisation of the test images; continuous (grey "
             "samples) against the grey test images",
             "last row: binarised training images scored as samples, what a perfect binary generator gets"]
    name = f"discrete_gan_{args.dataset}" + ("" if args.model == "gan" else f"_{args.model}")
    write_results(name, f"{args.model} on binary {args.dataset}: the pixels options", header, rows,
                  notes, {"runs": raw, "epochs": epochs, "seeds": args.seeds}, started)


if __name__ == "__main__":
    main()
