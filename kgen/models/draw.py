"""DRAW (Gregor et al. 2015): a recurrent VAE that draws an image on a canvas in T steps.

At every step an encoder LSTM reads the image and the error of the canvas so far, a latent z_t is
drawn from q(z_t | h_enc_t) by reparameterisation, and a decoder LSTM fed z_t adds a write to the
canvas: c_t = c_{t-1} + write(h_dec_t). The image's likelihood is Bernoulli(sigmoid(c_T)) and the
loss -log p(x | c_T) + sum_t KL(q(z_t | .) || N(0, I)). With attention, read and write go through
N x N grids of Gaussian filters the decoder places (kgen.models.attention); without it, read sees
[x, x - sigmoid(c_{t-1})] whole and write is a dense layer over every pixel.

The latent of one image is the T draws z_1..z_T laid end to end (``latent_dim = T * z_size``), so
fixed noise, sample grids and latent walks treat DRAW like any other model.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from kgen.models import attention, losses, replicas
from kgen.models.base import EncoderDecoder
from kgen.models.replicas import to_float32


class StepMean(keras.metrics.Metric):
    """The running mean of a vector with one value per drawing step (the KL of each step)."""

    def __init__(self, steps: int, name: str = "kl_steps", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(steps,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values):
        self.total.assign_add(ops.cast(values, "float32"))
        self.count.assign_add(1.0)

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.total.assign(ops.zeros_like(self.total))
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="kgen")
class DRAW(EncoderDecoder):
    """DRAW on images of ``image_shape``: ``steps`` steps, ``z_size`` latents per step, LSTMs
    ``width`` wide; with ``attention``, ``read_size`` x ``read_size`` glimpses and
    ``write_size`` x ``write_size`` patches. Reports loss, reconstruction and kl (the sum over
    steps); `kl_per_step` gives the running mean KL of each step since the epoch began."""

    loss_names = ("loss", "reconstruction", "kl")
    variational = True
    # One tf.while_loop over the steps (True) or the steps unrolled in Python (False): the same
    # numbers; the loop traces once, so the first training step comes much sooner (docs/BENCHMARKS.md).
    symbolic_loop = True

    def __init__(self, image_shape, steps: int = 16, z_size: int = 10, width: int = 128,
                 attention: bool = True, read_size: int = 5, write_size: int = 5, binarize: bool = False,
                 seed: int = 0, name: str = "draw", **kwargs):
        super().__init__(None, None, likelihood="bernoulli", binarize=binarize, seed=seed, name=name, **kwargs)
        self.shape_hwc = tuple(int(d) for d in image_shape)
        self.steps, self.z_size, self.width = int(steps), int(z_size), int(width)
        self.attention = bool(attention)
        self.read_size, self.write_size = int(read_size), int(write_size)
        height, width_px, channels = self.shape_hwc
        read_dim = 2 * channels * (self.read_size**2 if self.attention else height * width_px)
        write_dim = channels * (self.write_size**2 if self.attention else height * width_px)
        self.encoder_cell = _built(layers.LSTMCell(self.width, name="encoder_lstm"), read_dim + self.width)
        self.decoder_cell = _built(layers.LSTMCell(self.width, name="decoder_lstm"), self.z_size)
        self.z_mean_head = _built(layers.Dense(self.z_size, name="z_mean"), self.width)
        self.z_log_var_head = _built(layers.Dense(self.z_size, name="z_log_var"), self.width)
        self.writer = _built(layers.Dense(write_dim, name="write"), self.width)
        if self.attention:
            self.read_window = _built(layers.Dense(5, name="read_window"), self.width)
            self.write_window = _built(layers.Dense(5, name="write_window"), self.width)
        self.step_kl = StepMean(self.steps)
        self.built = True

    # --- shapes

    @property
    def latent_dim(self) -> int:
        return self.steps * self.z_size

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.shape_hwc

    # --- one step of each network

    def _zero_state(self, batch):
        zeros = ops.zeros((batch, self.width))
        return [zeros, zeros]

    def _read(self, x, x_error, h_dec):
        """The encoder's view of the image and the canvas's error: whole, or through a glimpse."""
        if not self.attention:
            return ops.concatenate([_flat(x), _flat(x_error)], axis=-1), None
        grid = attention.window(to_float32(self.read_window(h_dec)), *self.shape_hwc[:2], self.read_size)
        glimpses = [_flat(attention.read(image, grid, self.read_size)) for image in (x, x_error)]
        return ops.concatenate(glimpses, axis=-1), attention.corners(grid, self.read_size)

    def _write(self, h_dec):
        """What the decoder adds to the canvas (channels first), and its window's corners."""
        height, width, channels = self.shape_hwc
        out = to_float32(self.writer(h_dec))
        if not self.attention:
            return ops.reshape(out, (-1, channels, height, width)), None
        patch = ops.reshape(out, (-1, channels, self.write_size, self.write_size))
        grid = attention.window(to_float32(self.write_window(h_dec)), height, width, self.write_size)
        return attention.write(patch, grid, height, width), attention.corners(grid, self.write_size)

    def _z_step(self, eps, t):
        return ops.slice(eps, (0, t * self.z_size), (ops.shape(eps)[0], self.z_size))

    # --- the unrolled recurrences

    def unroll(self, x, eps, record: bool = False, training: bool = False) -> dict:
        """Run encoder and decoder for T steps on images x (N, H, W, C) with noise eps (N, T * z_size).

        Returns canvas logits (N, H, W, C), per-example sums ``log_pz`` and ``log_qz``,
        ``kl_steps`` (N, T), the ``z_mean`` and ``z_log_var`` of every step (N, T * z_size); with ``record``, ``canvases`` (N, T, H, W, C) in [0, 1] and the
        read and write windows' corners (N, T, 4) too (attention only).
        """
        x = ops.transpose(ops.cast(x, "float32"), (0, 3, 1, 2))
        batch = ops.shape(x)[0]

        def step(t, carry):
            canvas, h_dec, enc_state, dec_state, log_pz, log_qz = carry
            # Read the image and what the canvas still gets wrong, and encode it with h_dec_{t-1}.
            glimpse, read_box = self._read(x, x - ops.sigmoid(canvas), h_dec)
            h_enc, enc_state = to_float32(self.encoder_cell(ops.concatenate([glimpse, h_dec], axis=-1), enc_state,
                                                      training=training))
            # Sample z_t ~ q(z_t | h_enc_t) by reparameterisation.
            z_mean, z_log_var = to_float32((self.z_mean_head(h_enc), self.z_log_var_head(h_enc)))
            z = losses.reparameterize(z_mean, z_log_var, self._z_step(eps, t))
            log_qz += losses.log_normal(z, z_mean, z_log_var)
            log_pz += losses.log_standard_normal(z)
            # Decode z_t and add the write to the canvas.
            h_dec, dec_state = to_float32(self.decoder_cell(z, dec_state, training=training))
            update, write_box = self._write(h_dec)
            canvas = canvas + update
            out = {"kl_steps": losses.kl_to_standard_normal(z_mean, z_log_var), "z_mean": z_mean,
                   "z_log_var": z_log_var, **_recorded(record, canvas, read_box, write_box)}
            return (canvas, h_dec, enc_state, dec_state, log_pz, log_qz), out

        zeros = ops.zeros((batch,))
        carry = (ops.zeros_like(x), ops.zeros((batch, self.width)), self._zero_state(batch),
                 self._zero_state(batch), zeros, zeros)
        names = ("kl_steps", "z_mean", "z_log_var", *self._recorded_names(record, reads=True))
        (canvas, _, _, _, log_pz, log_qz), out = self._steps(step, carry, names)
        return {"logits": _channels_last(canvas), "log_pz": log_pz, "log_qz": log_qz,
                "kl_steps": out.pop("kl_steps"), "z_mean": _flat(out.pop("z_mean")),
                "z_log_var": _flat(out.pop("z_log_var")), **out}

    def generate(self, z, record: bool = False, training: bool = False) -> dict:
        """The decoder alone on latents z (N, T * z_size): canvas ``logits`` (N, H, W, C); with
        ``record``, the ``canvases`` of every step and the write windows' corners."""
        batch = ops.shape(z)[0]
        height, width, channels = self.shape_hwc

        def step(t, carry):
            canvas, dec_state = carry
            h_dec, dec_state = to_float32(self.decoder_cell(self._z_step(z, t), dec_state, training=training))
            update, write_box = self._write(h_dec)
            canvas = canvas + update
            return (canvas, dec_state), _recorded(record, canvas, None, write_box)

        carry = (ops.zeros((batch, channels, height, width)), self._zero_state(batch))
        (canvas, _), out = self._steps(step, carry, self._recorded_names(record, reads=False))
        return {"logits": _channels_last(canvas), **out}

    def _recorded_names(self, record: bool, reads: bool) -> tuple[str, ...]:
        """The per-step outputs `_recorded` gives: canvases, and the windows attention places."""
        if not record:
            return ()
        windows = (("read_boxes",) if reads else ()) + ("write_boxes",)
        return ("canvases", *(windows if self.attention else ()))

    def _steps(self, step, carry, names):
        """Run ``step(t, carry) -> (carry, outputs)`` for t = 0..T-1 as one symbolic loop (traced
        once, not T times: a quicker first step); the outputs ``names`` stacked to (N, T, ...)."""
        if not self.symbolic_loop:
            outs = []
            for t in range(self.steps):
                carry, out = step(t, carry)
                outs.append(out)
            return carry, {name: ops.stack([out[name] for out in outs], axis=1) for name in names}
        arrays = {name: tf.TensorArray("float32", size=self.steps) for name in names}

        def body(t, carry, arrays):
            carry, out = step(t, carry)
            return t + 1, carry, {name: arrays[name].write(t, ops.cast(out[name], "float32")) for name in names}

        _, carry, arrays = tf.while_loop(lambda t, *_: t < self.steps, body, (ops.convert_to_tensor(0), carry, arrays),
                                         maximum_iterations=self.steps)
        return carry, {name: ops.moveaxis(arrays[name].stack(), 0, 1) for name in names}

    # --- the EncoderDecoder interface

    def encode(self, x, labels=None, training=False):
        """(means, log-variances) of q(z_t | .) along the path where every z_t is its mean: the
        encoding whose decoding is the model's reconstruction (N, T * z_size each)."""
        out = self.unroll(x, ops.zeros((ops.shape(x)[0], self.latent_dim)), training=training)
        return out["z_mean"], out["z_log_var"]

    def decoder_params(self, z, labels=None, training=False):
        """The final canvas's logits for latents z (N, T * z_size)."""
        return self.generate(z, training=training)["logits"]

    def sample_terms(self, x, labels=None, eps=None, training=False) -> dict:
        """For images x and noise eps (N, T * z_size): per-example log p(x | c_T), log p(z),
        log q(z | x) and the analytic KL (summed over steps), and ``kl_steps`` (N, T)."""
        if eps is None:
            eps = replicas.normal((ops.shape(x)[0], self.latent_dim), self.seed_generator)
        out = self.unroll(x, eps, training=training)
        return {"log_px_z": self.log_likelihood(x, out["logits"]), "log_pz": out["log_pz"],
                "log_qz": out["log_qz"], "kl": ops.sum(out["kl_steps"], axis=1), "kl_steps": out["kl_steps"]}

    def compute_losses(self, x, labels=None, training=False):
        """Batch means of loss, reconstruction and kl, and the mean KL of each step."""
        terms = self.sample_terms(x, training=training)
        reconstruction = -terms["log_px_z"]
        return {
            "loss": ops.mean(reconstruction + terms["kl"]),
            "reconstruction": ops.mean(reconstruction),
            "kl": ops.mean(terms["kl"]),
            "kl_steps": ops.mean(terms["kl_steps"], axis=0),
        }

    def _track(self, parts):
        self.step_kl.update_state(parts["kl_steps"])
        return super()._track(parts)

    def reset_metrics(self):
        super().reset_metrics()
        self.step_kl.reset_state()

    def kl_per_step(self):
        """The mean KL of each step (nats, shape (T,)) over the batches since the epoch began."""
        return ops.convert_to_numpy(self.step_kl.result())

    def get_config(self):
        return {"name": self.name, "image_shape": list(self.shape_hwc), "steps": self.steps,
                "z_size": self.z_size, "width": self.width, "attention": self.attention,
                "read_size": self.read_size, "write_size": self.write_size, "binarize": self.binarize,
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _recorded(record: bool, canvas, read_box, write_box) -> dict:
    """What one step records when asked: the canvas in [0, 1] and the windows it has."""
    if not record:
        return {}
    found = {"canvases": ops.sigmoid(_channels_last(canvas)), "read_boxes": read_box, "write_boxes": write_box}
    return {name: value for name, value in found.items() if value is not None}


def _built(layer, input_dim: int):
    layer.build((None, input_dim))
    return layer


def _flat(tensor):
    return ops.reshape(tensor, (ops.shape(tensor)[0], -1))


def _channels_last(canvas):
    return ops.transpose(canvas, (0, 2, 3, 1))
