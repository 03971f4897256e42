"""Typed functions behind the CLI's run commands: sample from a run, evaluate a run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kgen.errors import ConfigError
from kgen.evaluate import evaluate_vae
from kgen.runs import EventLog, Run, atomic_path, load_run_model
from kgen.sampling import display_scale, image_grid, sample_images, save_png
from kgen.training import load_training_data

SAMPLE_FORMATS = (".png", ".npz")


def sample_run(run_dir: str | os.PathLike, n: int, output: str | os.PathLike, *, seed: int = 0) -> Path:
    """Draw n samples from a run's model into a PNG grid or an .npz holding ``x`` (N, H, W, C)."""
    output = Path(output)
    if output.suffix.lower() not in SAMPLE_FORMATS:
        raise ConfigError(f"{output}: the output must end in .png (a grid) or .npz (raw arrays)")
    if not 1 <= n <= 100_000:
        raise ConfigError(f"-n must be between 1 and 100000, got {n}")
    model = load_run_model(Run.open(run_dir))
    images = sample_images(model, n, seed=seed)
    if output.suffix.lower() == ".png":
        save_png(image_grid(images), output, scale=display_scale(images.shape[1]))
    else:
        with atomic_path(output) as tmp, open(tmp, "wb") as f:
            np.savez(f, x=images)
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
    x_test = load_training_data(run.config()).x_test[:limit]
    metrics = evaluate_vae(model, x_test, ks=(k,), seed=seed)
    events = EventLog(run.events_path)
    try:
        events.write("eval", split="test", n=len(x_test), metrics=metrics)
    finally:
        events.close()
    return metrics
