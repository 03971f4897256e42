"""Does a CVAE conditioned on class c draw class c? Accuracy of an independent classifier.

Trains a CVAE with kgen (the CLI's own ``train``), fits an RBF-SVM on the real training images
(at most 10,000), and reports the share of ``--per-class`` samples of each requested class that
the classifier labels as that class. Usage:
    python benchmarks/cvae_accuracy.py --dataset digits --epochs 30
    python benchmarks/cvae_accuracy.py --dataset mnist:../shared/data/mnist --arch conv --latent-dim 16 --epochs 5 --batch-size 128 --lr 1e-3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.svm import SVC

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.models.sampling import sample_images
from kgen.train.training import load_training_data, train


def flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--per-class", type=int, default=200)
    args = parser.parse_args()

    config = RunConfig(
        TrainConfig(model="cvae", dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr),
        VAEConfig(arch=args.arch, latent_dim=args.latent_dim),
    )
    data = load_training_data(config)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        result = train(config, Path(tmp) / "run", verbose=0)
        import keras

        model = keras.saving.load_model(result.run.model_path, safe_mode=True)
    seconds = time.monotonic() - start
    keep = np.random.default_rng(0).permutation(len(data.x_train))[:10_000]
    clf = SVC(gamma="scale").fit(flat(data.x_train[keep]), data.y_train[keep])
    real = clf.score(flat(data.x_test), data.y_test)
    accuracies = []
    for c in range(data.num_classes):
        images = sample_images(model, args.per_class, seed=c, labels=np.full(args.per_class, c, "int32"))
        accuracies.append(float(np.mean(clf.predict(flat(images)) == c)))
    print(f"dataset {args.dataset}, {args.arch} CVAE, z={args.latent_dim}, {args.epochs} epochs: {seconds:.1f} s")
    print(f"test ELBO {result.test['elbo']:.2f} nats; classifier accuracy on real test images {real:.3f}")
    print("class   " + " ".join(f"{name[:5]:>5}" for name in data.class_names) + "   mean")
    print("accuracy" + " ".join(f"{a:5.2f}" for a in accuracies) + f"   {np.mean(accuracies):.3f}")


if __name__ == "__main__":
    main()
