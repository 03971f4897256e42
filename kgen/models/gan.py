"""The GAN of Goodfellow et al. (2014), Algorithm 1, and its class-conditional form.

DCGAN (Radford et al. 2015) is this model with the convolutional networks of ``kgen.models.gan_nets``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kgen.models import losses, replicas
from kgen.models.base import unpack_batch, with_labels

GENERATOR_LOSSES = {
    "non-saturating": losses.generator_loss_non_saturating,
    "saturating": losses.generator_loss_saturating,
}


@keras.saving.register_keras_serializable(package="kgen")
class GAN(keras.Model):
    """A generator G(z) and a discriminator D(x) (one logit) trained as a two-player game.

    Each ``train_step`` receives ``d_steps`` real minibatches at once and does Algorithm 1:
    ``d_steps`` discriminator updates, each on its own real minibatch and fresh noise, then one
    generator update. Images are scaled to [-1, 1] for the tanh generator inside the model;
    ``decode`` returns [0, 1] images (or raw 2-D points for the toy distributions).
    """

    metric_names = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")
    variational = False

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        d_steps: int = 1,
        generator_loss: str = "non-saturating",
        num_classes: int = 0,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {', '.join(GENERATOR_LOSSES)}")
        self.generator = generator
        self.discriminator = discriminator
        self.d_steps = int(d_steps)
        self.generator_loss = generator_loss
        self.num_classes = int(num_classes)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = [keras.metrics.Mean(name=name) for name in self.metric_names]
        self._player_functions = {}  # player_step's compiled updates, made on first use
        self.built = True  # both networks arrive built

    @property
    def metrics(self):
        return list(self.trackers)

    @property
    def latent_dim(self) -> int:
        return int(self.generator.inputs[0].shape[-1])

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.generator.outputs[0].shape[1:])

    @property
    def points(self) -> bool:
        """True for a GAN on 2-D points rather than images."""
        return len(self.image_shape) == 1

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Two optimizers, one per player, loss-scaled under mixed_float16 as ``Model.compile``
        does for one. Both are built at once, so saving and resuming keep them and, under a
        ``tf.distribute`` strategy, their variables exist before the first step (keras#20164)."""
        super().compile(**kwargs)
        self.d_optimizer = _loss_scaled(self, d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        self.g_optimizer = _loss_scaled(self, g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
        }

    def compile_from_config(self, config):
        self.compile(**{k: keras.saving.deserialize_keras_object(v) for k, v in config.items()})

    # --- moving between data space and the networks' space

    def to_model_space(self, x):
        x = ops.cast(x, "float32")
        return x if self.points else 2.0 * x - 1.0

    def decode(self, z, labels=None):
        """Generated data for codes z: [0, 1] images, or points (labels for conditional GANs)."""
        out = replicas.to_float32(self.generator(self._conditioned(z, labels), training=False))
        return out if self.points else (out + 1.0) / 2.0

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def _conditioned(self, tensor, labels):
        return with_labels(self, tensor, labels)

    def _logits(self, data, labels, training):
        """D's logit for each example, in float32 whatever the layers compute in."""
        return replicas.to_float32(self.discriminator(self._conditioned(data, labels), training=training))

    def _noise(self, batch_size):
        return replicas.normal((batch_size, self.latent_dim), self.seed_generator)

    # --- the game

    def _discriminator_update(self, real, labels):
        """One D step on a real minibatch and fresh fakes; returns (loss, D(x), D(G(z)), grad norm)."""
        fake = self.generator(self._conditioned(self._noise(ops.shape(real)[0]), labels), training=True)
        with tf.GradientTape() as tape:
            real_logits = self._logits(real, labels, training=True)
            fake_logits = self._logits(fake, labels, training=True)
            d_loss = losses.discriminator_loss(real_logits, fake_logits)
            scaled = replicas.loss_to_differentiate(d_loss, self.d_optimizer)
        grads = tape.gradient(scaled, self.discriminator.trainable_weights)
        norm = replicas.gradient_norm(grads, self.d_optimizer)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        return d_loss, ops.mean(ops.sigmoid(real_logits)), ops.mean(ops.sigmoid(fake_logits)), norm

    def _generator_update(self, batch_size, labels):
        """One G step on fresh noise; returns (loss, grad norm)."""
        with tf.GradientTape() as tape:
            fake = self.generator(self._conditioned(self._noise(batch_size), labels), training=True)
            fake_logits = self._logits(fake, labels, training=True)
            g_loss = GENERATOR_LOSSES[self.generator_loss](fake_logits)
            scaled = replicas.loss_to_differentiate(g_loss, self.g_optimizer)
        grads = tape.gradient(scaled, self.generator.trainable_weights)
        norm = replicas.gradient_norm(grads, self.g_optimizer)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)
        return g_loss, norm

    # --- one player at a time: Algorithm 1's two updates, of which train_step is made

    def discriminator_step(self, data):
        """One D update on the batch ``data`` (x, or (x, labels)) and as many fresh fakes: its metrics."""
        x, labels = unpack_batch(data)
        d_loss, d_real, d_fake, d_norm = self._discriminator_update(self.to_model_space(x), labels)
        return {"d_loss": d_loss, "d_real": d_real, "d_fake": d_fake, "d_grad_norm": d_norm}

    def generator_step(self, data):
        """One G update on fresh noise, as many fakes as ``data`` holds examples (with its labels,
        for a conditional GAN): its metrics."""
        x, labels = unpack_batch(data)
        g_loss, g_norm = self._generator_update(ops.shape(x)[0], labels)
        return {"g_loss": g_loss, "g_grad_norm": g_norm}

    def player_step(self, player: str, data) -> dict[str, float]:
        """One update of ``player`` ("discriminator" or "generator") on the batch ``data``, run as
        Keras runs train_step (a tf.function unless the model runs eagerly, XLA as compiled);
        the step's metric values as floats. The studio's Step D and Step G call this."""
        functions = self._player_functions
        if player not in functions:
            step = {"discriminator": self.discriminator_step, "generator": self.generator_step}.get(player)
            if step is None:
                raise ValueError(f"player must be 'discriminator' or 'generator', got {player!r}")
            functions[player] = self._compiled_like_train_step(step)
        outputs = functions[player](data)
        return {name: float(ops.convert_to_numpy(value)) for name, value in outputs.items()}

    def _compiled_like_train_step(self, step):
        strategy = self.distribute_strategy

        def one_step(data):
            outputs = strategy.run(step, args=(data,))
            return {k: strategy.reduce("MEAN", v, axis=None) for k, v in outputs.items()}

        if self.run_eagerly:
            return one_step
        return tf.function(one_step, reduce_retracing=True, jit_compile=bool(self.jit_compile))

    def train_step(self, data):
        x, labels = unpack_batch(data)
        # Split the batch into d_steps real minibatches (Algorithm 1: a fresh one per D step).
        reals = ops.split(x, self.d_steps, axis=0)
        label_sets = ops.split(labels, self.d_steps, axis=0) if labels is not None else [None] * self.d_steps
        # k discriminator updates.
        for real, label in zip(reals, label_sets, strict=True):
            d = self.discriminator_step(real if label is None else (real, label))
        # One generator update (conditional fakes follow the real class mix of the last batch).
        g = self.generator_step(reals[-1] if label_sets[-1] is None else (reals[-1], label_sets[-1]))
        return self._track(d["d_loss"], g["g_loss"], d["d_real"], d["d_fake"], d["d_grad_norm"], g["g_grad_norm"])

    def test_step(self, data):
        x, labels = unpack_batch(data)
        real = self.to_model_space(x)
        fake = self.generator(self._conditioned(self._noise(ops.shape(real)[0]), labels), training=False)
        real_logits = self._logits(real, labels, training=False)
        fake_logits = self._logits(fake, labels, training=False)
        d_loss = losses.discriminator_loss(real_logits, fake_logits)
        g_loss = GENERATOR_LOSSES[self.generator_loss](fake_logits)
        # No update, so no gradient norms: report the four quantities of the game only.
        return self._track(d_loss, g_loss, ops.mean(ops.sigmoid(real_logits)), ops.mean(ops.sigmoid(fake_logits)))

    def _track(self, *values):
        trackers = self.trackers[: len(values)]
        for tracker, value in zip(trackers, values, strict=True):
            tracker.update_state(value)
        return {t.name: t.result() for t in trackers}

    def get_config(self):
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "d_steps": self.d_steps,
            "generator_loss": self.generator_loss,
            "num_classes": self.num_classes,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("generator", "discriminator"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


@keras.saving.register_keras_serializable(package="kgen")
class CGAN(GAN):
    """The conditional GAN (Mirza & Osindero 2014): G and D both see the class label."""

    def __init__(self, generator, discriminator, num_classes: int = 10, **kwargs):
        if num_classes < 2:
            raise ValueError(f"a conditional GAN needs at least 2 classes, got {num_classes}")
        super().__init__(generator, discriminator, num_classes=num_classes, **kwargs)


def _loss_scaled(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in a LossScaleOptimizer when the model computes in float16."""
    if model.dtype_policy.name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
