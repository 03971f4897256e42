"""Wall-clock seconds for kgen's defaults to reach a target quality, and a few alternatives.

VAE: the test negative ELBO (kgen's per-epoch validation loss: one-sample ELBO on the whole
test split) at or under a target; DCGAN: FID with kgen's own dataset classifier (as many
fakes as test images, as ``kgen eval`` scores it) at or under a target. Quality is checked at
every epoch end, training stops when it is reached or at the epoch cap; the seconds count
training only (the checks' own time is taken out). Usage:
    python benchmarks/time_to_quality.py                 # every case
    python benchmarks/time_to_quality.py --only vae-digits --sweep
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import _common as common
import keras

from kgen.train.training import train


@dataclass(frozen=True)
class Target:
    name: str
    model: str
    dataset: str
    metric: str  # "neg_elbo" or "fid"
    target: float
    max_epochs: int
    model_options: dict = field(default_factory=dict)
    # (batch size, learning rate) pairs tried beside the defaults with --sweep
    alternatives: tuple[tuple[int, float], ...] = ()


TARGETS = [
    Target("vae-digits", "vae", "digits", "neg_elbo", 25.5, 60,
           alternatives=((64, 2e-3), (128, 2e-3), (32, 1e-3), (16, 2e-3))),
    Target("vae-fashion", "vae", "fashion-mnist", "neg_elbo", 248.0, 4, alternatives=((128, 2e-3),)),
    # One DCGAN epoch on Fashion-MNIST is about a minute here: only the defaults are timed.
    Target("dcgan-fashion", "dcgan", "fashion-mnist", "fid", 40.0, 3),
]


class QualityWatch(keras.callbacks.Callback):
    """Scores each epoch; stops training once the target is met; keeps its own time apart."""

    def __init__(self, target: Target, judge=None, data=None):
        super().__init__()
        self.target, self.judge, self.data = target, judge, data
        self.start = time.monotonic()
        self.checking = 0.0  # seconds spent scoring, left out of the training time
        self.reached: tuple[int, float, float] | None = None  # (epoch, seconds, value)
        self.history: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        began = time.monotonic()
        trained = began - self.start - self.checking
        value = float(logs["val_loss"]) if self.target.metric == "neg_elbo" else self._fid()
        self.history.append(value)
        self.checking += time.monotonic() - began
        print(f"  epoch {epoch + 1}: {self.target.metric} {value:.2f} after {trained:.1f} s", flush=True)
        if value <= self.target.target and self.reached is None:
            self.reached = (epoch + 1, trained, value)
            self.model.stop_training = True

    def _fid(self) -> float:
        from kgen.eval.quality import image_quality
        from kgen.models.sampling import sample_images

        fakes = sample_images(self.model, len(self.data.x_test), seed=0)
        return image_quality(self.judge, self.data.x_test, fakes, self.data.y_test)["fid"]


def time_to_target(target: Target, batch: int | None, lr: float | None, out: Path) -> dict:
    from kgen.config import RunConfig, TrainConfig, model_config

    config = RunConfig(TrainConfig(model=target.model, dataset=target.dataset, epochs=target.max_epochs,
                                   batch_size=batch, lr=lr), model_config(target.model)(**target.model_options))
    judge = data = None
    if target.metric == "fid":
        from kgen.eval.classifier import classifier_for
        from kgen.train.training import load_training_data

        data = load_training_data(config)
        judge = classifier_for(data)  # cached on disk; trained once per dataset if missing
    keras.backend.clear_session()
    shutil.rmtree(out, ignore_errors=True)
    watch = QualityWatch(target, judge, data)
    train(config, out, extra_callbacks=[watch], verbose=0)
    shutil.rmtree(out, ignore_errors=True)
    epochs, seconds, value = watch.reached or (len(watch.history), None, min(watch.history))
    return {"batch": config.train.batch_size, "lr": config.train.lr, "epochs": epochs, "seconds": seconds,
            "value": value, "history": watch.history}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="case names (default: all)")
    parser.add_argument("--sweep", action="store_true", help="also try each case's alternatives")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-ttq"))
    parser.add_argument("--probe", action="store_true", help="train every case to its cap (to choose targets)")
    args = parser.parse_args()
    started = time.monotonic()
    rows, raw = [], {}
    for target in TARGETS:
        if args.only and target.name not in args.only:
            continue
        settings = [(None, None)] + (list(target.alternatives) if args.sweep else [])
        for batch, lr in settings:
            print(f"{target.name} batch={batch or 'default'} lr={lr or 'default'}", flush=True)
            if args.probe:
                target = replace(target, target=-float("inf"))
            result = time_to_target(target, batch, lr, args.out / target.name)
            label = "default" if batch is None else "alternative"
            reached = result["seconds"] is not None
            rows.append([target.name, label, result["batch"], f"{result['lr']:g}",
                         f"{'-ELBO' if target.metric == 'neg_elbo' else 'FID'} <= {target.target:g}",
                         result["epochs"] if reached else f"not in {target.max_epochs}",
                         result["seconds"] if reached else "-", result["value"]])
            raw.setdefault(target.name, []).append(result)
    header = ["case", "settings", "batch", "lr", "target", "epochs", "seconds to target", "value reached"]
    notes = ["Seconds count training from the call to `kgen.train.training.train` (data loading and "
             "model building included) to the end of the epoch that met the target, per-epoch "
             "validation and kgen's callbacks included, the benchmark's own scoring excluded.",
             "-ELBO is kgen's validation loss (one-sample estimate over the whole test split, nats); "
             "FID uses kgen's cached Fashion-MNIST classifier, 10,000 fakes against the 10,000 test images."]
    common.write_results("time_to_quality", "Time to quality", header, rows, notes, {"runs": raw}, started)


if __name__ == "__main__":
    main()
