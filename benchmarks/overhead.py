"""kgen's training overhead: ``kgen.train.training.train`` against a minimal hand-written Keras loop.

For each model the reference is the same networks (built by kgen.models.nets / kgen.models.gan_nets), the
same losses, optimizer, batch size, data and per-epoch validation pass, trained by a plain
``tf.function`` train step with ``GradientTape`` over a hand-built tf.data pipeline, with no
callbacks. kgen trains with everything on: per-step events, TensorBoard, sample grids,
checkpoints. Runs alternate in one process; throughput is training images per second over
epochs 2..E (epoch 1 holds the tracing), per-epoch side effects included. Usage:
    python benchmarks/overhead.py                      # all four models, 2 repeats
    python benchmarks/overhead.py --only vae-conv --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from pathlib import Path

import _common as common
import keras
import tensorflow as tf

from kgen import registry
from kgen.config import examples_per_step
from kgen.models import losses
from kgen.models.gan_nets import build_gan_networks
from kgen.models.nets import build_encoder_decoder
from kgen.train import callbacks as cb
from kgen.train import guards
from kgen.train.training import load_training_data, train

EPOCHS = {"vae-mlp": 12, "vae-conv": 3, "dcgan": 3, "cgan": 3}


# kgen's callback hooks whose time is tallied (wall seconds over a whole run) to attribute cost.
HOOKS = [(cb.EventLogger, "on_train_batch_end"), (guards.NonFiniteGuard, "on_train_batch_end"),
         (guards.NonFiniteGuard, "on_epoch_end"), (cb.TensorBoardLogger, "on_epoch_end"),
         (cb.SampleGrid, "on_epoch_end"), (cb.Checkpointer, "on_epoch_end"),
         (guards.StopCheckpointer, "on_train_batch_end")]
SPENT: dict[str, float] = {}


@contextlib.contextmanager
def tallied_hooks():
    """Adds each hook's wall time to SPENT while the block runs."""
    originals = [(cls, name, getattr(cls, name)) for cls, name in HOOKS]

    def timed(key, method):
        def wrapper(self, *args, **kwargs):
            began = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                SPENT[key] = SPENT.get(key, 0.0) + time.perf_counter() - began
        return wrapper

    for cls, name, method in originals:
        setattr(cls, name, timed(f"{cls.__name__}.{name}", method))
    try:
        yield
    finally:
        for cls, name, method in originals:
            setattr(cls, name, method)


def run_kgen(config, data, out: Path) -> list[float]:
    """kgen.train.training.train with all its callbacks; returns the end time of every epoch."""
    clock = common.EpochClock()
    keras.backend.clear_session()
    shutil.rmtree(out, ignore_errors=True)
    with tallied_hooks():
        train(config, out, extra_callbacks=[clock], verbose=0)
    shutil.rmtree(out, ignore_errors=True)
    return clock.marks


def run_fit(config, data, out: Path) -> list[float]:
    """kgen's own model and pipeline under a bare ``model.fit`` (no callbacks, no progress bar):
    what Keras' loop costs by itself, to tell it apart from what kgen's callbacks cost."""
    from kgen.data import make_pipeline
    from kgen.models import build_model
    from kgen.train.training import model_labels

    keras.backend.clear_session()
    keras.utils.set_random_seed(config.train.seed)
    t = config.train
    model = build_model(config, data.x_train.shape[1:], data.num_classes)
    y_train, y_test = (model_labels(model, y) for y in (data.y_train, data.y_test))
    is_gan = registry.spec(t.model).adversarial
    train_ds = make_pipeline(data.x_train, y_train, batch_size=examples_per_step(config), seed=t.seed,
                             drop_remainder=is_gan)
    test_ds = make_pipeline(data.x_test, y_test, batch_size=max(t.batch_size, 256), shuffle=False)
    clock = common.EpochClock()
    model.fit(train_ds, validation_data=test_ds, epochs=t.epochs, callbacks=[clock], verbose=0)
    return clock.marks


def run_reference(config, data, out: Path) -> list[float]:
    """The same model trained by a hand-written loop; returns the end time of every epoch."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.train.seed)
    t = config.train
    is_gan = registry.spec(t.model).adversarial
    labels = t.model in ("cgan", "cvae")
    batch = examples_per_step(config)

    def pipeline(x, y, size, shuffle, drop):
        ds = tf.data.Dataset.from_tensor_slices((x, y) if labels else x).cache()
        if shuffle:
            ds = ds.shuffle(len(x), seed=t.seed, reshuffle_each_iteration=True)
        return ds.batch(size, drop_remainder=drop).prefetch(tf.data.AUTOTUNE)

    train_ds = pipeline(data.x_train, data.y_train, batch, True, is_gan)
    test_ds = pipeline(data.x_test, data.y_test, max(t.batch_size, 256), False, False)
    make = _gan_steps if is_gan else _vae_steps
    train_step, test_step = make(config, data.x_train.shape[1:], data.num_classes if labels else 0)
    marks = []
    for _ in range(t.epochs):
        for element in train_ds:
            loss = train_step(*element) if labels else train_step(element)
        for element in test_ds:
            test_step(*element) if labels else test_step(element)
        float(loss)
        marks.append(common.clock())
    return marks


def _vae_steps(config, image_shape, num_classes):
    encoder, decoder = build_encoder_decoder(image_shape, config.model)
    weights = encoder.trainable_weights + decoder.trainable_weights
    optimizer = keras.optimizers.Adam(config.train.lr)
    optimizer.build(weights)

    def negative_elbo(x, training):
        mean, log_var = encoder(x, training=training)
        z = losses.reparameterize(mean, log_var, tf.random.normal(tf.shape(mean)))
        logits = decoder(z, training=training)
        return tf.reduce_mean(-losses.bernoulli_log_likelihood(x, logits)
                              + losses.kl_to_standard_normal(mean, log_var))

    @tf.function(autograph=False)
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = negative_elbo(x, True)
        optimizer.apply(tape.gradient(loss, weights), weights)
        return loss

    @tf.function(autograph=False)
    def test_step(x):
        return negative_elbo(x, False)

    return train_step, test_step


def _gan_steps(config, image_shape, num_classes):
    generator, discriminator = build_gan_networks(image_shape, config.model, num_classes=num_classes)
    lr, beta_1, latent = config.train.lr, config.model.beta_1, config.model.latent_dim
    d_opt, g_opt = keras.optimizers.Adam(lr, beta_1=beta_1), keras.optimizers.Adam(lr, beta_1=beta_1)
    d_opt.build(discriminator.trainable_weights)
    g_opt.build(generator.trainable_weights)

    def with_label(t, y):
        return t if y is None else [t, tf.one_hot(tf.cast(y, tf.int32), num_classes)]

    def noise(n):
        return tf.random.normal((n, latent))

    @tf.function(autograph=False)
    def train_step(x, y=None):
        real, n = 2.0 * x - 1.0, tf.shape(x)[0]
        fake = generator(with_label(noise(n), y), training=True)
        with tf.GradientTape() as tape:
            d_loss = losses.discriminator_loss(discriminator(with_label(real, y), training=True),
                                               discriminator(with_label(fake, y), training=True))
        d_opt.apply(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights)
        with tf.GradientTape() as tape:
            fake = generator(with_label(noise(n), y), training=True)
            g_loss = losses.generator_loss_non_saturating(discriminator(with_label(fake, y), training=True))
        g_opt.apply(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights)
        return d_loss

    @tf.function(autograph=False)
    def test_step(x, y=None):
        real, n = 2.0 * x - 1.0, tf.shape(x)[0]
        fake = generator(with_label(noise(n), y), training=False)
        return losses.discriminator_loss(discriminator(with_label(real, y), training=False),
                                         discriminator(with_label(fake, y), training=False))

    return train_step, test_step


RUNNERS = {"reference": run_reference, "fit": run_fit, "kgen": run_kgen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="model names (default: all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: per model)")
    parser.add_argument("--train-size", type=int, default=4000, help="Fashion-MNIST training images")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-overhead"))
    parser.add_argument("--tag", default="", help="write results/overhead-TAG.md (a side run) instead")
    args = parser.parse_args()
    started = time.monotonic()
    rows, raw, hooks = [], {}, []
    for case in common.cases(args.train_size, args.train_size // 4):
        if args.only and case.name not in args.only:
            continue
        config = case.run_config(args.epochs or EPOCHS[case.name])
        data = load_training_data(config)
        per_step = examples_per_step(config)
        is_gan = registry.spec(case.model).adversarial
        images = (len(data.x_train) // per_step) * per_step if is_gan else len(data.x_train)
        SPENT.clear()
        rates = {who: [] for who in RUNNERS}
        cpu_rates = {who: [] for who in RUNNERS}
        for repeat in range(args.repeats):
            order = list(RUNNERS) if repeat % 2 == 0 else list(reversed(RUNNERS))
            for who in order:
                marks = RUNNERS[who](config, data, args.out / case.name)
                rates[who].append(common.steady_rate(marks, images))
                cpu_rates[who].append(common.steady_rate(marks, images, cpu=True))
                print(f"{case.name} {who}: {rates[who][-1]:,.0f} images/s, "
                      f"{cpu_rates[who][-1]:,.0f} images per CPU second", flush=True)
        pairs = [k / r for k, r in zip(rates["kgen"], rates["reference"], strict=True)]
        cpu_pairs = [k / r for k, r in zip(cpu_rates["kgen"], cpu_rates["reference"], strict=True)]
        ref, fit, ours = (common.median(rates[who]) for who in ("reference", "fit", "kgen"))
        rows.append([case.name, case.dataset.split("/")[-1], config.train.batch_size, len(data.x_train),
                     config.train.epochs, ref, fit, ours, common.median(pairs),
                     f"{min(pairs):.2f}-{max(pairs):.2f}", common.median(cpu_pairs), ours / fit])
        kgen_epochs = args.repeats * config.train.epochs
        spent = {k: 1000 * v / kgen_epochs for k, v in sorted(SPENT.items(), key=lambda kv: -kv[1])}
        epoch_ms = 1000 * images / ours
        hooks.append([case.name, f"{epoch_ms:,.0f}"] + [f"{spent.get(f'{c.__name__}.{n}', 0):.1f}"
                                                         for c, n in HOOKS])
        raw[case.name] = {"wall": rates, "cpu": cpu_rates, "callback_ms_per_epoch": spent}
    header = ["model", "data", "batch", "train images", "epochs/run", "reference images/s",
              "bare fit images/s", "kgen images/s", "kgen/reference (median of pairs)", "range of pairs",
              "same in CPU time", "kgen/bare fit"]
    notes = [f"{args.repeats} alternating runs each; images/s are medians, ratios the median of the "
             "per-repeat ratios (wall clock; CPU time of this process beside it); over epochs 2..E including "
             "each epoch's validation pass and (for kgen) its events, TensorBoard, sample grid and "
             "checkpoints.",
             "Reference: the same kgen networks, losses, optimizer and data in a plain tf.function "
             "GradientTape step over a hand-built tf.data pipeline, validating on the test split "
             "every epoch like kgen.",
             "Bare fit: kgen's own model and tf.data pipeline under `model.fit` with no callbacks "
             "and no progress bar, which separates Keras' loop from kgen's callbacks.",
             "Where kgen's time goes, ms per epoch (wall, averaged over all its epochs, the first "
             "included): " + "; ".join(
                 f"{row[0]}: epoch {row[1]} ms, " + ", ".join(
                     f"{c.__name__}.{n} {v}" for (c, n), v in zip(HOOKS, row[2:], strict=True))
                 for row in hooks) + "."]
    common.write_results("overhead" + (f"-{args.tag}" if args.tag else ""), "Overhead over a hand-written Keras loop", header, rows, notes,
                         {"rates": raw, "images_per_second_kgen": {r[0]: r[7] for r in rows}}, started)


if __name__ == "__main__":
    main()
