"""Typed functions behind the CLI's run commands: sample from a run, evaluate a run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kgen.errors import ConfigError
from kgen.evaluate import evaluate_model
from kgen.runs import EventLog, Run, atomic_path, load_run_model
from kgen.sampling import display_scale, image_grid, sample_images, sample_labels, save_png
from kgen.training import load_training_data, model_labels

SAMPLE_FORMATS = (".png", ".npz")


def sample_run(
    run_dir: str | os.PathLike, n: int, output: str | os.PathLike, *, seed: int = 0, label: int | None = None
) -> Path:
    """Draw n samples from a run's model into a PNG grid or an .npz of ``x`` (N, H, W, C) [and ``y``].

    ``label`` picks the class of a conditional model's samples; without it they cycle through
    the classes (one class per grid column).
    """
    output = Path(output)
    if output.suffix.lower() not in SAMPLE_FORMATS:
        raise ConfigError(f"{output}: the output must end in .png (a grid) or .npz (raw arrays)")
    if not 1 <= n <= 100_000:
        raise ConfigError(f"-n must be between 1 and 100000, got {n}")
    model = load_run_model(Run.open(run_dir))
    if label is not None and not 0 <= label < model.num_classes:
        what = f"has classes 0..{model.num_classes - 1}" if model.num_classes else "is not conditional"
        raise ConfigError(f"--class {label}: this {model.name} model {what}")
    labels = sample_labels(model, n, label)
    images = sample_images(model, n, seed=seed, labels=labels)
    if output.suffix.lower() == ".png":
        columns = model.num_classes if labels is not None and label is None else None
        save_png(image_grid(images, columns), output, scale=display_scale(images.shape[1]))
    else:
        arrays = {"x": images} if labels is None else {"x": images, "y": labels.astype("int64")}
        with atomic_path(output) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return output


def evaluate_run(
    run_dir: str | os.PathLike, *, k: int = 5000, limit: int | None = None, seed: int = 0
) -> dict[str, float]:
    """Test ELBO and IWAE-k (nats) of a run's model; also appended to its ``events.jsonl``."""
    if k < 1:
        raise ConfigError(f"-k must be >= 1, got {k}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {limit}")
    run = Run.open(run_dir)
    model = load_run_model(run)
    data = load_training_data(run.config())
    x_test, y_test = data.x_test[:limit], model_labels(model, data.y_test, limit)
    metrics = evaluate_model(model, x_test, y_test, ks=(k,), seed=seed)
    events = EventLog(run.events_path)
    try:
        events.write("eval", split="test", n=len(x_test), metrics=metrics)
    finally:
        events.close()
    return metrics
