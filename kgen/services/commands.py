"""Typed functions behind the CLI's run commands: sample from a run, evaluate a run."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgen import registry
from kgen.config import WALK_MODES, OptionError, TrainConfig
from kgen.data import STACKED_MNIST, TOY_MODES, load_dataset
from kgen.errors import ConfigError, show_path
from kgen.eval import latent
from kgen.eval.inversion import invert as invert_images
from kgen.eval.likelihood import curve_ks, evaluate_model, iwae_curve
from kgen.eval.metrics import TOY_SAMPLES
from kgen.eval.quality import toy_quality
from kgen.eval.truncation import check_psis
from kgen.models.sampling import prior_sample, sample_images, sample_labels
from kgen.models.saving import load_run_model
from kgen.pictures import display_scale, image_grid, save_gif, save_png
from kgen.runs import EventLog, Run
from kgen.safe_io import atomic_path
from kgen.services.class_pack import read_only_run
from kgen.train.training import check_model_fits_data, load_training_data, model_labels

SAMPLE_FORMATS = (".png", ".npz")
# Samples judged on stacked MNIST, as in VEEGAN and PacGAN.
STACKED_SAMPLES = 26_000


def sample_run(
    run_dir: str | os.PathLike, n: int, output: str | os.PathLike, *, seed: int = 0, label: int | None = None
) -> Path:
    """Draw n samples from a run's model into a PNG grid or an .npz of ``x`` (N, H, W, C) [and ``y``].

    ``label`` picks the class of a conditional model's samples; without it they cycle through
    the classes (one class per grid column).
    """
    output = Path(output)
    if output.suffix.lower() not in SAMPLE_FORMATS:
        raise ConfigError(f"{show_path(output)}: the output must end in .png (a grid) or .npz (raw arrays)")
    if not 1 <= n <= 100_000:
        raise ConfigError(f"-n must be between 1 and 100000, got {n}")
    model = load_run_model(Run.open(run_dir))
    check_label(model, label)
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


def check_label(model, label: int | None) -> None:
    """Refuse (ConfigError) a class label the model does not have: any class of an unconditional
    model, or one outside 0..num_classes-1 of a conditional one."""
    if label is not None and not 0 <= label < model.num_classes:
        what = f"has classes 0..{model.num_classes - 1}" if model.num_classes else "is not conditional"
        raise OptionError("label", f"label {label}: this {model.name} model {what}")


def evaluate_run(
    run_dir: str | os.PathLike, *, k: int = 5000, limit: int | None = None, seed: int = 0,
    quality: bool = True, invert: int = 16, record: bool | None = None, curve: int = 0,
    progress: Callable[[float], None] | None = None, truncation: tuple[float, ...] = (),
) -> dict[str, float]:
    """Every test score of a run that its model's registry entry lists (kgen.eval.descriptions
    explains each); also appended to its ``events.jsonl`` when ``record`` (by default, unless
    the run is read-only: a class pack's run, or a folder this process cannot write).

    likelihood: ELBO and IWAE-k in nats (k = 0 skips IWAE). image_quality, on labelled images:
    FID, classifier score, class coverage and precision/recall with the dataset's own classifier
    (trained once and cached), plus per-class accuracy for conditional models; on stacked MNIST
    instead the digit triples covered and their KL to uniform over 26,000 samples, each channel
    read by the MNIST classifier. toy_modes: modes covered, the high-quality share and the
    reverse KL of 2,500 samples (the VEEGAN / PacGAN protocol). inversion: the error of inverting ``invert`` test
    images. ``limit`` uses only the first test images. ``curve`` > 0 adds the bound over k up to
    it (`kgen.eval.likelihood.iwae_curve`: iwae_<k> and iwae_se_<k>), ``progress`` hearing its share done.
    ``truncation``, psi values, adds the truncation sweep (`kgen.eval.truncation`: <score>_psi_<psi>).
    """
    for name, value in (("k", k), ("invert", invert), ("curve", curve)):
        if value < 0:
            raise OptionError(name, f"{name} must be >= 0, got {value}")
    if limit is not None and limit < 1:
        raise OptionError("limit", f"limit must be >= 1, got {limit}")
    truncation = check_psis(truncation) if truncation else ()
    run = Run.open(run_dir)
    scores = registry.spec(run.config().train.model).scores
    model = load_run_model(run)
    data = _run_data(run, model)
    if curve and not ("likelihood" in scores and model.variational):
        raise OptionError("curve", f"the bound over k needs a model that bounds log p(x) (a VAE or DRAW); "
                                   f"this run's is a {run.config().train.model}")
    x_test, y_test = data.x_test[:limit], model_labels(model, data.y_test, limit)
    metrics: dict[str, float] = {}
    scored = len(x_test)  # the event's n: the test images, or the samples a sampling protocol judges
    if "likelihood" in scores:
        single = (k,) if k and not (curve and model.variational and k in curve_ks(curve)) else ()
        metrics.update(evaluate_model(model, x_test, y_test, ks=single, seed=seed))
        if curve:
            metrics.update(iwae_curve(model, x_test, curve, seed, y_test, _share(progress, 0, 0.5 if truncation else 1)))
    if data.kind == "points":
        if "toy_modes" in scores and data.name in TOY_MODES:
            metrics.update(toy_quality(sample_images(model, TOY_SAMPLES, seed=seed), data.name))
            scored = TOY_SAMPLES
    elif quality and "image_quality" in scores and data.name == STACKED_MNIST:
        metrics.update(_stacked_quality(model, run.config().train, seed))
        scored = STACKED_SAMPLES
    elif quality and "image_quality" in scores and data.y_train is not None:
        metrics.update(_image_quality(model, data, x_test, data.y_test[:limit], seed))
    if "inversion" in scores and data.kind == "images" and invert:
        found = invert_images(model, x_test[:invert], labels=None if y_test is None else y_test[:invert], seed=seed)
        metrics["inversion_mse"] = float(found.mse.mean())
    if truncation:
        sweep_progress = _share(progress, 0.5, 0.5) if curve else progress
        metrics.update(_truncation_sweep(model, data, x_test, seed, truncation, sweep_progress))
    if record is None:
        record = not read_only_run(run.path)
    if record:
        events = EventLog(run.events_path)
        try:
            events.write("eval", split="test", n=scored, metrics=metrics)
        finally:
            events.close()
    return metrics


def _image_quality(model, data, x_test, y_test, seed: int) -> dict[str, float]:
    """Classifier-based scores of as many samples as there are test images (binary samples of a GAN
    on binary pixels against a seeded binarisation of the test images)."""
    from kgen.eval.classifier import classifier_for
    from kgen.eval.likelihood import binarize_fixed
    from kgen.eval.quality import conditional_accuracy, image_quality

    judge = classifier_for(data)
    labels = None if not model.num_classes else y_test.astype("int32")
    fakes = sample_images(model, len(x_test), seed=seed, labels=labels)
    real = binarize_fixed(x_test, seed) if getattr(model, "binary", False) else x_test
    scores = {"classifier_accuracy": judge.accuracy, **image_quality(judge, real, fakes, y_test)}
    if model.num_classes:
        scores.update(conditional_accuracy(judge, model, seed=seed))
    return scores


def _share(progress: Callable[[float], None] | None, start: float, size: float):
    """``progress`` for one part of the work, from ``start`` to ``start + size`` of the whole."""
    return None if progress is None else (lambda share: progress(start + size * share))


def _truncation_sweep(model, data, x_test, seed: int, psis, progress) -> dict[str, float]:
    """The truncation sweep against the test data: raw points of a toy, or images in the judge's features."""
    from kgen.eval.truncation import truncation_sweep

    if data.kind == "points":
        return truncation_sweep(model, x_test, psis=psis, seed=seed, progress=progress)
    if data.y_train is None:
        raise OptionError("truncation", "the truncation sweep on images needs labelled data for its judge classifier")
    from kgen.eval.classifier import classifier_for
    from kgen.eval.likelihood import binarize_fixed

    real = binarize_fixed(x_test, seed) if getattr(model, "binary", False) else x_test
    return truncation_sweep(model, real, psis=psis, seed=seed, judge=classifier_for(data),
                            labels=sample_labels(model, len(x_test)), progress=progress)


def _stacked_quality(model, train: TrainConfig, seed: int) -> dict[str, float]:
    """Stacked-MNIST mode scores of STACKED_SAMPLES samples, judged by the classifier of the
    MNIST files the run's stacks were built from ("stacked-mnist:PATH" reads "mnist:PATH")."""
    from kgen.eval.classifier import classifier_for
    from kgen.eval.quality import stacked_mnist_quality

    mnist = "mnist" + train.dataset.removeprefix(STACKED_MNIST)
    judge = classifier_for(load_dataset(mnist, data_dir=train.data_dir))
    fakes = sample_images(model, STACKED_SAMPLES, seed=seed)
    return {"classifier_accuracy": judge.accuracy, **stacked_mnist_quality(judge, fakes)}


@dataclass
class WalkResult:
    """Where a latent walk was written, and what the traversal found per dimension."""

    path: Path
    kl_per_dimension: np.ndarray | None = None
    active: np.ndarray | None = None


def walk_run(
    run_dir: str | os.PathLike,
    mode: str,
    output: str | os.PathLike,
    *,
    steps: int = 10,
    dims: tuple[int, ...] | None = None,
    method: str = "linear",
    images: tuple[int, int] | None = None,
    label: int | None = None,
    seed: int = 0,
) -> WalkResult:
    """Walk a run's latent space into a PNG (or, for interpolations, an animated GIF).

    grid: the 2-D manifold at Gaussian quantiles over ``dims`` (two of them); interpolate:
    ``steps`` images between two test images (``images``) or two prior draws (``seed``);
    traverse: one row per dimension, which also reports its KL and whether it is active.
    """
    output = Path(output)
    if mode not in WALK_MODES:
        raise OptionError("mode", f"mode must be one of {', '.join(WALK_MODES)}, got {mode!r}")
    gif = output.suffix.lower() == ".gif"
    if output.suffix.lower() not in (".png", ".gif") or (gif and mode != "interpolate"):
        raise ConfigError(f"{show_path(output)}: write .png, or .gif with mode interpolate", options=("mode",))
    if not 2 <= steps <= 200:
        raise OptionError("steps", f"steps must be between 2 and 200, got {steps}")
    run = Run.open(run_dir)
    model = load_run_model(run)
    check_label(model, label)
    if model.num_classes and label is None:
        label = 0
    result = WalkResult(output)
    if mode == "grid":
        frames = latent.manifold_grid(model, n=steps, dims=dims or (0, 1), labels=label)
        columns = steps
    elif mode == "traverse":
        data = _run_data(run, model)
        x, y = data.x_test[:2000], model_labels(model, data.y_test, 2000)
        if model.variational:
            result.kl_per_dimension = latent.kl_per_dimension(model, x, y)
            result.active = latent.active_units(model, x, y).active
        frames = latent.traverse(model, dims=dims, values=np.linspace(-3, 3, steps), labels=label)
        columns = steps
    else:
        frames = _interpolation(run, model, steps, method, images, label, seed)
        columns = steps
    if gif:
        save_gif(frames, output, scale=display_scale(frames.shape[1]))
    else:
        save_png(image_grid(frames, columns), output, scale=display_scale(frames.shape[1]))
    return result


def _interpolation(run, model, steps, method, images, label, seed) -> np.ndarray:
    if images is None:
        z = prior_sample(model, 2, seed)
        return latent.interpolate(model, z[0], z[1], steps, method, labels=label)
    data = _run_data(run, model)
    for i in images:
        if not 0 <= i < len(data.x_test):
            raise OptionError("images", f"images: index {i} is outside the {len(data.x_test)} test images")
    x_a, x_b = data.x_test[images[0]], data.x_test[images[1]]
    return latent.interpolate_images(model, x_a, x_b, steps, method, labels=label)


def _run_data(run: Run, model):
    """The run's dataset, checked to be data its model takes (`check_model_fits_data`)."""
    data = load_training_data(run.config())
    check_model_fits_data(model, data, run.path)
    return data
