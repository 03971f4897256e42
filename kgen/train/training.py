"""Train a model from a ``RunConfig`` into a run directory, or resume one, with ``fit`` + callbacks."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import keras

from kgen import registry, sizes
from kgen.config import RunConfig, examples_per_step, resumed_config
from kgen.data import TOY_MODES, Dataset, load_dataset, make_pipeline
from kgen.errors import ConfigError, RunError, show_path
from kgen.eval.gradient_noise import distributed, probe_batch
from kgen.eval.likelihood import evaluate_model
from kgen.events import Eval, Event, Note
from kgen.models import GAN, build_model
from kgen.models.sampling import grid_codes, sample_images
from kgen.models.saving import load_run_model
from kgen.runs import (
    POINTS_FOLDER,
    EventLog,
    Run,
    check_new_run_dir,
    default_run_dir,
    remove_temporaries,
)
from kgen.safe_io import atomic_path
from kgen.sigma_maps import SIGMA_FOLDERS
from kgen.train import callbacks as cb
from kgen.train import distribute, guards
from kgen.train.progress import choose_progress

# The fixed noise of a run's sample grids is drawn from the run's seed plus this offset, so it
# never coincides with the stream the model trains on.
GRID_SEED_OFFSET = 1_000_003
# The gradient-noise probe (variational kinds): this many training images, drawn once from the
# run's seed plus the offset, and this many gradient estimates a measurement (at epoch ends,
# spaced to a small share of the training time: `kgen.train.callbacks.GradientNoise`).
GRAD_PROBE_IMAGES = 64
GRAD_PROBE_SAMPLES = 8
GRAD_PROBE_SEED_OFFSET = 2_000_003


@dataclass
class TrainResult:
    """What a finished (or stopped) run left behind."""

    run: Run
    epochs_done: int
    history: dict[str, list[float]] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: bool = False  # ended early by a stop request (Stop, Ctrl-C), not by the epoch count


def load_training_data(config: RunConfig) -> Dataset:
    """The run's dataset, checked to be data a model of this config can train on."""
    t = config.train
    # The size check runs first on the images' shape alone (a folder's file headers), so a model
    # too large is refused before any pixel is decoded or cached; then again with the classes.
    data = load_dataset(t.dataset, image_size=t.image_size, data_dir=t.data_dir, seed=t.seed,
                        check_shape=partial(sizes.check_fits, config))
    spec = registry.spec(t.model)
    if data.kind != "images" and not spec.points:
        on_points = ", ".join(s.name for s in registry.specs() if s.points)
        raise ConfigError(f"dataset {show_path(t.dataset)} holds {data.x_train.shape[1]}-D points; the {t.model} model needs images "
                          f"(models for points: {on_points})")
    if spec.conditional and data.y_train is None:
        raise ConfigError(f"the {t.model} needs class labels and dataset {show_path(t.dataset)} has none")
    per_step = examples_per_step(config)
    if per_step > len(data.x_train):
        what = "batch_size" if per_step == t.batch_size else f"batch_size x d_steps = {per_step}"
        raise ConfigError(f"{what} is larger than the {len(data.x_train)} training examples of {show_path(t.dataset)}")
    sizes.check_fits(config, data.x_train.shape[1:], data.num_classes)  # before any weight exists
    return data


def train(
    config: RunConfig,
    run_dir: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
    iwae_k: int = 0,
    on_event: Callable[[Event], None] | None = None,
) -> TrainResult:
    """Train ``config`` into ``run_dir`` (a new run), or continue it when ``resume`` is true.

    Resuming reloads the latest checkpoint (weights, optimizer state and epoch count) and trains
    on to ``config.train.epochs``. At the end the model is saved as ``model.keras`` and given its
    quick test scores (``final_scores``), which go into ``events.jsonl``.

    A stop (Ctrl-C in the main thread, or ``model.stop_training`` set by a callback) saves a
    checkpoint at the next batch boundary and ends early (see `kgen.train.guards`); a NaN or infinite
    loss raises `kgen.train.guards.TrainingFault` and leaves the last good checkpoint as it was.
    ``on_event`` gets every record written to ``events.jsonl``, as it is written (`kgen.runs.EventLog`).
    """
    start = time.monotonic()
    if resume:
        run = Run.open(run_dir)
        config = _resume_config(run, config)
    else:
        run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    # The strategy comes before any other TensorFlow work (the multi-worker one must).
    strategy = distribute.make_strategy(config.train.strategy)
    distribute.check_run(strategy, config.train.batch_size, resume)
    if not resume and distribute.is_chief(strategy):
        check_new_run_dir(run_dir)  # before any data or model work: a user's folder is never touched
    keras.utils.set_random_seed(config.train.seed)
    # Data and model come first, so bad data or options leave no half-made run directory. The
    # model's variables live on the strategy's devices; its layers compute in config precision.
    data = load_training_data(config)
    with distribute.dtype_policy(config.train.precision), strategy.scope():
        if resume:
            model, initial_epoch, best = _resumed_model(run, data, config)
        else:
            model, initial_epoch, best = build_model(config, data.x_train.shape[1:], data.num_classes), 0, math.inf
            run = Run.create(distribute.worker_run_dir(strategy, run_dir), config)
    t = config.train
    y_train, y_test = (model_labels(model, y) for y in (data.y_train, data.y_test))
    # A GAN splits each batch into d_steps equal minibatches, and replicas split each batch
    # evenly among them, so their batches must be whole.
    replicas = strategy.num_replicas_in_sync
    whole = registry.spec(t.model).adversarial or replicas > 1
    per_step = examples_per_step(config)
    train_ds = make_pipeline(data.x_train, y_train, batch_size=per_step, seed=t.seed, drop_remainder=whole)
    train_ds = distribute.split_minibatches_by_replica(train_ds, getattr(config.model, "d_steps", 1), replicas)
    # Test batches split evenly too (over replicas, a remainder is left out; none if too few).
    test_batch = min(max(t.batch_size, 256), len(data.x_test)) // replicas * replicas
    test_ds = make_pipeline(data.x_test, y_test, batch_size=test_batch, shuffle=False,
                            drop_remainder=replicas > 1) if test_batch else None
    steps = len(data.x_train) // per_step if whole else math.ceil(len(data.x_train) / per_step)

    events = EventLog(run.events_path, on_event)
    try:
        if initial_epoch >= t.epochs:
            events.write(Note(message=f"already trained {initial_epoch} of {t.epochs} epochs"))
        tensorboard = cb.TensorBoardLogger(run.tb_dir)
        noise, labels = grid_codes(model, t.grid_size, t.seed + GRID_SEED_OFFSET)
        stopper = guards.StopCheckpointer(run, steps, initial_epoch)
        progress = choose_progress(verbose, t.epochs)
        callbacks = [
            # First: they add to the epoch's logs, which EventLogger then writes.
            *gradient_noise_callbacks(config, model, data.x_train, y_train),
            *([cb.LearningRateDecay(t.lr, t.lr_decay, steps)] if t.lr_decay > 0 else []),
            cb.EventLogger(events, steps, {"epochs": t.epochs, "initial_epoch": initial_epoch,
                                           "steps_per_epoch": steps, "dataset": t.dataset,
                                           "strategy": t.strategy, "replicas": strategy.num_replicas_in_sync,
                                           "precision": t.precision}),
            guards.NonFiniteGuard(run, events, steps),  # before anything saves the weights
            tensorboard,
            cb.SampleGrid(run, noise, events, labels=labels, every=t.sample_every, tensorboard=tensorboard,
                          real_points=data.x_test if data.kind == "points" else None),
            cb.Checkpointer(run, best=best),
            *progress.callbacks,
            *extra_callbacks,
            stopper,  # last: a mid-epoch stop is saved once every callback has seen the batch
        ]
        try:
            # Keras' fit, or under the multi-worker strategy the loop that replaces it (keras#20585).
            fit = partial(distribute.fit_multiworker, model) if t.strategy == "multiworker" else model.fit
            with guards.stop_on_sigint(stopper):
                fit(
                    train_ds, validation_data=test_ds, epochs=t.epochs, initial_epoch=initial_epoch,
                    callbacks=callbacks, verbose=progress.keras_verbose, shuffle=False,
                )
        except guards.EpochCutShort:  # fit ended inside an epoch: end the callbacks ourselves
            for callback in callbacks:
                callback.on_train_end()
        with atomic_path(run.model_path) as tmp:
            model.save(tmp)
        if isinstance(model, GAN):  # the generator alone, for use without the whole game
            with atomic_path(run.generator_path) as tmp:
                model.generator.save(tmp)
        test = final_scores(t.model, model, data, y_test, iwae_k, t.seed)
        if test:
            events.write(Eval(split="test", metrics=test))
    finally:
        events.close()
        distribute.discard_worker_run(strategy, run.path)
    history = getattr(model, "history", None)  # set by Keras at each epoch's end
    history = dict(history.history) if isinstance(history, keras.callbacks.History) else {}
    return TrainResult(run, stopper.epochs_done, history, test, time.monotonic() - start,
                       stopped=bool(model.stop_training))


def gradient_noise_callbacks(config: RunConfig, model, x_train, y_train) -> list[keras.callbacks.Callback]:
    """A `GradientNoise` on the run's probe batch for a variational kind whose q(z|x) is
    ``model.encoder`` (VAE, CVAE, BVAE; not DRAW, whose encoder is an LSTM cell inside the model)
    on one device (a strategy's replicas hold their own copies of the weights); else none."""
    t = config.train
    encoder = getattr(model, "encoder", None)
    if (not registry.spec(t.model).variational or not isinstance(encoder, keras.Model)
            or not hasattr(model, "compute_losses") or distributed(encoder)):
        return []
    x, labels = probe_batch(x_train, y_train, GRAD_PROBE_IMAGES, t.seed + GRAD_PROBE_SEED_OFFSET)
    return [cb.GradientNoise(x, labels, samples=GRAD_PROBE_SAMPLES)]


def final_scores(kind: str, model, data: Dataset, labels, iwae_k: int, seed: int) -> dict[str, float]:
    """The quick test scores a run of model ``kind`` ends with, of those its registry entry lists:
    likelihood bounds or the reconstruction, mode coverage on toys; the classifier-based scores
    are left to `kgen.services.commands.evaluate_run` (a classifier takes a while to train)."""
    scores = registry.spec(kind).scores
    if "toy_modes" in scores and data.kind == "points" and data.name in TOY_MODES:
        from kgen.eval.metrics import TOY_SAMPLES
        from kgen.eval.quality import toy_quality

        return toy_quality(sample_images(model, TOY_SAMPLES, seed=seed), data.name)  # as `kgen eval` scores it
    if scores & {"likelihood", "reconstruction"}:
        return evaluate_model(model, data.x_test, labels, ks=(iwae_k,) if iwae_k else (), seed=seed)
    return {}


def model_labels(model, labels, limit: int | None = None):
    """The labels a model trains on: all of them for conditional models, none otherwise."""
    return labels[:limit] if model.num_classes and labels is not None else None


def _resume_config(run: Run, requested: RunConfig) -> RunConfig:
    """The saved config with what ``requested`` changes in it (`resumed_config`), saved if changed."""
    saved = run.config()
    fields = {**_options(requested.train), **_options(requested.model)}
    config = resumed_config(saved, fields)
    if config != saved:
        run.save_config(config)
    return config


def _options(section) -> dict[str, object]:
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}


def _resumed_model(run: Run, data: Dataset, config: RunConfig):
    """(model, epochs already done, best monitored value) from a run's latest checkpoint; a run
    stopped before its first checkpoint starts again from fresh weights."""
    for directory in (run.path, run.checkpoints_dir, run.samples_dir,
                      *(run.samples_dir / f for f in (*SIGMA_FOLDERS, POINTS_FOLDER))):
        remove_temporaries(directory)  # left by a crash in the middle of a write
    latest = run.latest_checkpoint()
    if latest is None:
        return build_model(config, data.x_train.shape[1:], data.num_classes), 0, math.inf
    path, epoch = latest
    model = load_run_model(run, path)
    check_model_fits_data(model, data, path)
    best = run.best_record() or {}
    run.record_checkpoint(path)  # this run's (checked above), so the next save may replace it
    return model, epoch, float(best.get("value", math.inf))


def check_model_fits_data(model, data: Dataset, path: str | os.PathLike) -> None:
    """Refuse (one-line RunError naming ``path``) data of another shape, or of other classes
    than a conditional model was trained on."""
    shape = tuple(data.x_train.shape[1:])
    if tuple(model.image_shape) != shape:
        raise RunError(f"{show_path(path)} expects data of shape {model.image_shape}, the dataset has {shape}")
    if model.num_classes and model.num_classes != data.num_classes:
        raise RunError(f"{show_path(path)} expects {model.num_classes} classes, the dataset has {data.num_classes}")

