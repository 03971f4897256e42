"""Training images/s of kgen's DRAW against a plain-Keras DRAW of the same size, side by side.

kgen's model is built by ``kgen.models.build_model`` from a RunConfig of kind draw and trained
by ``model.fit`` (its own train_step); the reference is the DRAW a Keras user would write:
LSTMCell and Dense layers, the paper's filterbank written out, a GradientTape step under
tf.function. Both see the same random binary 28 x 28 images (speed does not depend on the
pixels) in alternating rounds of a fixed number of batches; medians over rounds. Usage:
    python benchmarks/draw_speed.py                      # attention and none, kgen's defaults
    python benchmarks/draw_speed.py --only gaussian --rounds 3 --batches 20 --xla
"""

from __future__ import annotations

import argparse
import time

import _common as common
import keras
import numpy as np
import tensorflow as tf
from keras import layers

HEIGHT = WIDTH = 28


class PlainDRAW(keras.Model):
    """DRAW as a Keras user writes it from the paper: one Python loop over T steps, channels last."""

    def __init__(self, steps: int, z_size: int, width: int, attention: bool, read_size: int, write_size: int):
        super().__init__()
        self.steps, self.z_size, self.width = steps, z_size, width
        self.attention, self.read_size, self.write_size = attention, read_size, write_size
        self.encoder_cell, self.decoder_cell = layers.LSTMCell(width), layers.LSTMCell(width)
        self.mean_head, self.log_var_head = layers.Dense(z_size), layers.Dense(z_size)
        self.writer = layers.Dense(write_size**2 if attention else HEIGHT * WIDTH)
        self.read_params, self.write_params = layers.Dense(5), layers.Dense(5)
        read_dim = 2 * (read_size**2 if attention else HEIGHT * WIDTH)
        built = [(self.encoder_cell, read_dim + width), (self.decoder_cell, z_size), (self.mean_head, width),
                 (self.log_var_head, width), (self.writer, width)]
        for layer, dim in built + ([(self.read_params, width), (self.write_params, width)] if attention else []):
            layer.build((None, dim))

    def filterbanks(self, h_dec, params_layer, size):
        """F_X, F_Y (batch, N, 28) and gamma (batch,) from the decoder state (eq. 19-25)."""
        gx, gy, log_var, log_delta, log_gamma = tf.unstack(params_layer(h_dec), axis=1)
        gx = (WIDTH + 1) / 2 * (gx + 1) - 1
        gy = (HEIGHT + 1) / 2 * (gy + 1) - 1
        delta = (max(HEIGHT, WIDTH) - 1) / max(size - 1, 1) * tf.exp(log_delta)
        variance = tf.exp(log_var)
        offsets = tf.range(size, dtype=tf.float32) - size / 2 + 0.5
        pixels = tf.range(WIDTH, dtype=tf.float32)

        def bank(centre):
            mu = centre[:, None, None] + offsets[None, :, None] * delta[:, None, None]
            f = tf.exp(-tf.square(pixels[None, None, :] - mu) / (2 * variance[:, None, None]))
            return f / tf.maximum(tf.reduce_sum(f, axis=-1, keepdims=True), 1e-8)

        return bank(gx), bank(gy), tf.exp(log_gamma)

    def read(self, x, x_error, h_dec):
        if not self.attention:
            return tf.concat([x, x_error], axis=-1)
        fx, fy, gamma = self.filterbanks(h_dec, self.read_params, self.read_size)

        def glimpse(image):
            image = tf.reshape(image, (-1, HEIGHT, WIDTH))
            seen = tf.matmul(fy, tf.matmul(image, fx, transpose_b=True))
            return tf.reshape(gamma[:, None, None] * seen, (-1, self.read_size**2))

        return tf.concat([glimpse(x), glimpse(x_error)], axis=-1)

    def write(self, h_dec):
        patch = self.writer(h_dec)
        if not self.attention:
            return patch
        fx, fy, gamma = self.filterbanks(h_dec, self.write_params, self.write_size)
        patch = tf.reshape(patch, (-1, self.write_size, self.write_size))
        canvas = tf.matmul(fy, tf.matmul(patch, fx), transpose_a=True)
        return tf.reshape(canvas / gamma[:, None, None], (-1, HEIGHT * WIDTH))

    def negative_elbo(self, x):
        """The negative ELBO, batch mean, of flat binary images x (batch, 784)."""
        batch = tf.shape(x)[0]
        canvas = tf.zeros_like(x)
        h_dec = tf.zeros((batch, self.width))
        enc_state = dec_state = [tf.zeros((batch, self.width))] * 2
        kl = 0.0
        for _ in range(self.steps):
            x_error = x - tf.sigmoid(canvas)
            h_enc, enc_state = self.encoder_cell(tf.concat([self.read(x, x_error, h_dec), h_dec], -1), enc_state)
            mean, log_var = self.mean_head(h_enc), self.log_var_head(h_enc)
            z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
            kl += 0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1 - log_var, axis=-1)
            h_dec, dec_state = self.decoder_cell(z, dec_state)
            canvas = canvas + self.write(h_dec)
        reconstruction = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=canvas), axis=-1)
        return tf.reduce_mean(reconstruction + kl)


def plain_trainer(model: PlainDRAW, lr: float, jit: bool):
    """The reference's training step: GradientTape, Adam, under tf.function."""
    optimizer = keras.optimizers.Adam(lr)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit)
    def step(x):
        x = tf.reshape(x, (-1, HEIGHT * WIDTH))
        with tf.GradientTape() as tape:
            loss = model.negative_elbo(x)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def run_config(attention: str, batch: int, lr: float | None = None):
    """kgen's RunConfig for DRAW on 28 x 28 images with this attention, defaults otherwise."""
    return common.Case(f"draw-{attention}", "draw", "mnist", {"attention": attention}).run_config(
        1, batch_size=batch, **({"lr": lr} if lr else {}))


class Contender:
    """One DRAW under test: `first()` builds and takes one step (seconds), `round(n)` trains n batches."""

    def __init__(self, name: str, data: tf.data.Dataset, make):
        self.name, self.data, self.make = name, data, make

    def first(self) -> tuple[float, float]:
        """(wall, CPU) seconds to build the model and take its first step (tracing, compiling)."""
        wall, cpu = common.clock()
        self.train = self.make()
        self.train(1)
        end_wall, end_cpu = common.clock()
        return end_wall - wall, end_cpu - cpu

    def round(self, batches: int) -> tuple[float, float]:
        """(wall, CPU) seconds of ``batches`` training steps."""
        wall, cpu = common.clock()
        self.train(batches)
        end_wall, end_cpu = common.clock()
        return end_wall - wall, end_cpu - cpu


def kgen_maker(config, data: tf.data.Dataset, jit: bool, symbolic_loop: bool = True):
    from kgen.models import build_model  # imported before the clock starts

    def make():
        keras.utils.set_random_seed(0)
        model = build_model(config, (HEIGHT, WIDTH, 1))
        model.symbolic_loop = symbolic_loop
        if jit:
            model.compile(optimizer=model.optimizer, jit_compile=True)
        return lambda n: model.fit(data, epochs=1, steps_per_epoch=n, shuffle=False, verbose=0)

    return make


def plain_maker(config, data: tf.data.Dataset, jit: bool):
    def make():
        keras.utils.set_random_seed(0)
        m = config.model
        model = PlainDRAW(m.steps, m.z_size, m.width, m.attention == "gaussian", m.read_size, m.write_size)
        step = plain_trainer(model, config.train.lr, jit)
        batches = iter(data)

        def train(n):
            for _ in range(n):
                loss = step(next(batches))
            float(loss)  # wait for the last step

        return train

    return make


def measure(attention: str, args) -> tuple[list[list], dict]:
    """Rows of the table and raw numbers for one attention setting."""
    config = run_config(attention, args.batch)
    images = (np.random.default_rng(0).random((args.batch * 32, HEIGHT, WIDTH, 1)) < 0.5).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(images).batch(args.batch, drop_remainder=True).cache().repeat()
    contenders = [Contender("kgen", data, kgen_maker(config, data, jit=False)),
                  Contender("plain Keras", data, plain_maker(config, data, jit=False))]
    if args.unrolled:
        contenders.append(Contender("kgen, steps unrolled", data, kgen_maker(config, data, False, False)))
    if args.xla:
        contenders += [Contender("kgen, XLA", data, kgen_maker(config, data, jit=True)),
                       Contender("plain Keras, XLA", data, plain_maker(config, data, jit=True))]
    firsts = {c.name: c.first() for c in contenders}
    for c in contenders:
        c.round(2)  # warm-up: the second trace of fit, caches
    walls = {c.name: [] for c in contenders}
    cpus = {c.name: [] for c in contenders}
    for r in range(args.rounds):
        for c in contenders if r % 2 == 0 else reversed(contenders):
            wall, cpu = c.round(args.batches)
            walls[c.name].append(args.batches * args.batch / wall)
            cpus[c.name].append(args.batches * args.batch / cpu)
            print(f"{attention} {c.name}: {walls[c.name][-1]:,.0f} images/s", flush=True)
    base = common.median(walls["plain Keras"])
    base_cpu = common.median(cpus["plain Keras"])
    m = config.model
    size = f"T={m.steps}, width {m.width}, z {m.z_size}" + (
        f", read {m.read_size}, write {m.write_size}" if attention == "gaussian" else "")
    rows = [[attention, size, c.name, common.median(walls[c.name]), common.median(walls[c.name]) / base,
             common.median(cpus[c.name]) / base_cpu, *firsts[c.name]] for c in contenders]
    return rows, {"images_per_s": walls, "images_per_cpu_s": cpus, "first_step_s": firsts, "size": size}


class CPUBudget(keras.callbacks.Callback):
    """Stops training once this process has used ``seconds`` of CPU time (on a shared machine
    CPU time is a fairer budget than wall time; on 2 free cores it is about twice the wall time)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.batches = seconds, 0

    def on_train_begin(self, logs=None):
        self.start = time.process_time()

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if time.process_time() - self.start > self.seconds:
            self.model.stop_training = True


def size_trial(size: str, args) -> dict:
    """Train DRAW of ``size`` (T,width,z,read,write) on dynamically binarised MNIST for a CPU
    budget; its test ELBO on the fixed binarised test set (kgen's evaluation images)."""
    from kgen.config import RunConfig, TrainConfig, model_config
    from kgen.data import make_pipeline
    from kgen.eval.likelihood import evaluation_images
    from kgen.models import build_model
    from kgen.train.training import load_training_data

    steps, width, z_size, read_size, write_size = (int(v) for v in size.split(","))
    train = TrainConfig(model="draw", dataset="mnist", data_dir=args.data_dir, epochs=1000,
                        **({"batch_size": args.batch} if args.batch else {}))
    options = {"steps": steps, "width": width, "z_size": z_size, "read_size": read_size,
               "write_size": write_size, "binarize": True}
    config = RunConfig(train, model_config("draw")(**options))
    data = load_training_data(config)
    keras.utils.set_random_seed(0)
    model = build_model(config, data.x_train.shape[1:])
    batch = config.train.batch_size
    ds = make_pipeline(data.x_train, batch_size=batch, seed=0, drop_remainder=True, repeat=True)
    budget = CPUBudget(args.budget)
    wall = time.perf_counter()
    model.fit(ds, epochs=1000, steps_per_epoch=len(data.x_train) // batch, callbacks=[budget], verbose=0)
    wall = time.perf_counter() - wall
    test = evaluation_images(model, data.x_test)
    scores = model.evaluate(test, batch_size=500, verbose=0, return_dict=True)
    return {"size": size, "test_elbo": -scores["loss"], "kl": scores["kl"], "epochs": budget.batches * batch
            / len(data.x_train), "train_wall_s": wall, "batch": batch, "lr": config.train.lr}


def sizes_main(args, started: float) -> None:
    """The size comparison: each size in a fresh process of this script, in turn."""
    import json
    import subprocess
    import sys

    rows, raw = [], []
    for repeat in range(args.repeats):
        for size in args.sizes if repeat % 2 == 0 else reversed(args.sizes):
            command = [sys.executable, __file__, "--trial", size, "--budget", str(args.budget),
                       "--data-dir", args.data_dir] + (["--batch", str(args.batch)] if args.batch else [])
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"{size}: the training process failed:\n{done.stderr[-2000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(result, flush=True)
            raw.append(result)
            rows.append([result["size"], result["batch"], result["epochs"], result["train_wall_s"],
                         result["test_elbo"], result["kl"]])
    header = ["T,width,z,read,write", "batch", "epochs in budget", "wall s", "test ELBO (nats)", "KL (nats)"]
    notes = [f"dynamically binarised MNIST, attention gaussian, Adam at kgen's draw lr; training stops after "
             f"{args.budget:.0f} CPU seconds of the process; test ELBO (one sample, analytic KL) on the fixed "
             "binarised test set (10,000 images); each size in a fresh process, in turn."]
    common.write_results("draw_sizes", "DRAW sizes on binarised MNIST at equal CPU time", header, rows, notes,
                         {"trials": raw}, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=None,
                        help="compare these T,width,z,read,write on binarised MNIST instead of speed")
    parser.add_argument("--budget", type=float, default=300.0, help="CPU seconds of training per size")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", default="/work/shared/data/mnist")
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", default=["gaussian", "none"], help="attention settings")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=20, help="training batches a round")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: kgen's for draw)")
    parser.add_argument("--xla", action="store_true", help="also both with jit_compile=True")
    parser.add_argument("--unrolled", action="store_true", help="also kgen's DRAW with its steps unrolled in Python")
    args = parser.parse_args()
    started = time.monotonic()
    if args.trial:
        import json

        print(json.dumps(size_trial(args.trial, args)), flush=True)
        return
    if args.sizes:
        sizes_main(args, started)
        return
    args.batch = args.batch or run_config("gaussian", None).train.batch_size
    rows, raw = [], {}
    for attention in args.only:
        found, raw[attention] = measure(attention, args)
        rows += found
    header = ["attention", "size", "DRAW", "images/s (median)", "vs plain Keras", "same in CPU time",
              "build + first step (s)",
              "same in CPU s"]
    notes = [f"batch {args.batch}, 28 x 28 x 1 random binary images (speed does not depend on the pixels); "
             f"{args.rounds} rounds of {args.batches} batches each, contenders alternating; kgen: "
             "`build_model` + `model.fit`; plain Keras: LSTMCell/Dense, GradientTape step under tf.function."]
    common.write_results("draw_speed", "DRAW training speed: kgen against plain Keras", header, rows, notes,
                         raw, started)


if __name__ == "__main__":
    main()
