"""Trains tiny kgen runs under a tf.distribute strategy in a fresh process, for test_distribute.

Logical devices and the multi-worker strategy must be set up before TensorFlow starts, which a
pytest process has long done; so each test runs this script and reads the JSON it prints:
for every run, its step metrics (from events.jsonl), its start event and a file of its final
weights.

    python tests/distributed_run.py --data D.npz --out DIR --runs vae:mirrored,vae:default
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ["KGEN_OFFLINE"] = "1"

# Small networks, so each run takes a second or two; d_steps=2 also splits every GAN batch.
MODEL_OPTIONS = {
    "vae": {"latent_dim": 4, "hidden": (32,)},
    "gan": {"latent_dim": 4, "hidden": (32,), "d_steps": 2},
    "cgan": {"latent_dim": 4, "hidden": (32,), "arch": "mlp", "d_steps": 2},
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True, help=".npz with x (and y)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs")
    parser.add_argument("--runs", required=True, help="comma-separated MODEL:STRATEGY[:PRECISION]")
    parser.add_argument("--logical-cpus", type=int, default=0, help="split the CPU into N devices")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    import tensorflow as tf

    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(args.logical_cpus)]
        )
    import keras

    from kgen.config import RunConfig, TrainConfig, model_config
    from kgen.runs import read_events
    from kgen.train.training import train

    class FinalWeights(keras.callbacks.Callback):
        """Saves the weights every worker ends with (a non-chief's run folder is discarded) and
        notes their dtypes and the layers' compute dtypes."""

        def __init__(self, path: Path):
            super().__init__()
            self.path = path
            self.dtypes: dict[str, list[str]] = {}

        def on_train_end(self, logs=None):
            import numpy as np

            np.savez(self.path, *[np.asarray(w) for w in self.model.weights])
            layers = self.model._flatten_layers(include_self=False)
            self.dtypes = {"variables": sorted({str(w.dtype) for w in self.model.trainable_weights}),
                           "compute": sorted({layer.compute_dtype for layer in layers if layer.weights})}

    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for spec in args.runs.split(","):
        model, strategy, *precision = spec.split(":")
        train_config = TrainConfig(
            model=model, dataset=f"npz:{args.data}", epochs=args.epochs, batch_size=args.batch_size,
            seed=3, grid_size=2, strategy="default" if strategy == "one" else strategy, precision=precision[0] if precision else "float32",
        )
        config = RunConfig(train_config, model_config(model).from_dict(MODEL_OPTIONS[model]))
        final = FinalWeights(args.out / f"{spec.replace(':', '-')}-weights.npz")
        run_dir = args.out / spec.replace(":", "-")
        if strategy == "one":  # the single-device reference: one replica, but built under a strategy
            # as Keras then peeks at one batch before fitting, so both runs see the same batches
            with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
                result = train(config, run_dir, extra_callbacks=[final], verbose=0)
        else:
            result = train(config, run_dir, extra_callbacks=[final], verbose=0)
        events = read_events(result.run.events_path) if result.run.path.exists() else []
        results[spec] = {
            "run": str(result.run.path),
            "weights": str(final.path),
            "dtypes": final.dtypes,
            "start": next((e.to_json() for e in events if e["type"] == "start"), None),
            "steps": [e["metrics"] for e in events if e["type"] == "step"],
            "epochs": [e["metrics"] for e in events if e["type"] == "epoch"],
        }
    print("RESULTS " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
