"""The GAN of Goodfellow et al. (2014), Algorithm 1, and its class-conditional form.

DCGAN (Radford et al. 2015) is this model with the convolutional networks of ``kgen.models.gan_nets``.
With binary pixels (``pixels`` other than continuous) it is the lecture's "GANs on discrete data":
the generator gives pixel probabilities and D's gradient must pass a binary sample, which it cannot
do unaided; the options are four answers (`PIXELS`).

Two remedies for mode collapse are options of the same game: PacGAN (Lin et al. 2018, ``pack``
m > 1) lets D judge m samples at once, real packs or fake packs, so a generator that repeats itself
is easy to tell; the unrolled GAN (Metz et al. 2017, ``unroll`` k > 0) gives G the loss of D after
k more Adam steps, differentiated through them, so G sees how D would answer its move.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kgen.config import GAN_PIXELS
from kgen.models import estimators, losses, replicas
from kgen.models.base import unpack_batch, with_labels

GENERATOR_LOSSES = {
    "non-saturating": losses.generator_loss_non_saturating,
    "saturating": losses.generator_loss_saturating,
}
# REINFORCE's reward for each fake: minus its term of the generator loss, from D's logit
# (non-saturating: log D(G(z)); saturating: -log(1 - D(G(z)))).
REWARDS = {
    "non-saturating": lambda logits: -ops.softplus(-logits),
    "saturating": lambda logits: ops.softplus(logits),
}
# What the discriminator sees of a generated image, by ``pixels``: continuous, the tanh image; else
# G gives pixel logits l, p = sigmoid(l), and D sees p itself (probabilities: grey pixels, which
# real binary data never has), a Bernoulli(p) sample passing the gradient straight through to p,
# the relaxed Bernoulli sample at a temperature, or the hard sample (reinforce: G learns by the
# score-function estimator with D's reward).
PIXELS = GAN_PIXELS
# Decay of the running mean and variance of REINFORCE's reward (its baseline and scale).
REWARD_DECAY = 0.99


@keras.saving.register_keras_serializable(package="kgen")
class GAN(keras.Model):
    """A generator G(z) and a discriminator D(x) (one logit) trained as a two-player game.

    Each ``train_step`` receives ``d_steps`` real minibatches at once and does Algorithm 1:
    ``d_steps`` discriminator updates, each on its own real minibatch and fresh noise, then one
    generator update. Images are scaled to [-1, 1] for the tanh generator inside the model;
    ``decode`` returns [0, 1] images (or raw 2-D points for the toy distributions). With binary
    ``pixels`` the real images are a fresh Bernoulli(x) draw of every pixel for every batch and
    ``decode`` returns binary samples of the generator's pixel probabilities.
    """

    metric_names = ("d_loss", "g_loss", "d_real", "d_fake", "d_accuracy", "d_grad_norm", "g_grad_norm")
    variational = False
    critic = False  # D gives a logit and D(x) = sigmoid(logit); a Wasserstein critic's value stands alone

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        d_steps: int = 1,
        generator_loss: str = "non-saturating",
        num_classes: int = 0,
        seed: int = 0,
        pixels: str = "continuous",
        temperature: float = 0.5,
        pack: int = 1,
        unroll: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {', '.join(GENERATOR_LOSSES)}")
        if pixels not in PIXELS:
            raise ValueError(f"pixels must be one of {', '.join(PIXELS)}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if pack < 1 or unroll < 0:
            raise ValueError(f"pack must be >= 1 and unroll >= 0, got {pack} and {unroll}")
        if pack > 1 and num_classes:
            raise ValueError("pack > 1 needs an unconditional GAN: a pack's samples would have different labels")
        self.generator = generator
        self.discriminator = discriminator
        self.d_steps = int(d_steps)
        self.generator_loss = generator_loss
        self.num_classes = int(num_classes)
        self.seed = int(seed)
        self.pixels = pixels
        self.temperature = float(temperature)
        self.pack = int(pack)
        self.unroll = int(unroll)
        if self.binary and self.points:
            raise ValueError(f"pixels {pixels} needs images: 2-D points are not binary")
        self.seed_generator = keras.random.SeedGenerator(seed)
        if pixels == "reinforce":  # the reward's running moments: REINFORCE's baseline and scale
            moment = {"shape": (), "initializer": "zeros", "trainable": False, "aggregation": "mean"}
            self.reward_mean = self.add_weight(name="reward_mean", **moment)
            self.reward_variance = self.add_weight(name="reward_variance", **moment)
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

    @property
    def binary(self) -> bool:
        """True when the data and the samples are binary images (``pixels`` not continuous)."""
        return self.pixels != "continuous"

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
        """Data as the discriminator sees it: [-1, 1] images, raw points, or for binary pixels a
        fresh Bernoulli(x) draw of every pixel (dynamic binarisation, as the VAEs' ``binarize``)."""
        x = ops.cast(x, "float32")
        if self.binary:
            return estimators.bernoulli_sample(x, replicas.uniform(ops.shape(x), self.seed_generator))
        return x if self.points else 2.0 * x - 1.0

    def decode(self, z, labels=None):
        """Generated data for codes z: [0, 1] images, or points (labels for conditional GANs).

        Binary pixels: a Bernoulli(p) sample, 0 or 1, of noise fixed by the model's seed, so the
        same codes give the same images (grids of successive epochs compare, like their fixed z).
        """
        out = replicas.to_float32(self.generator(self._conditioned(z, labels), training=False))
        if self.binary:
            u = keras.random.uniform(ops.shape(out), seed=self.seed)
            return estimators.bernoulli_sample(ops.sigmoid(out), u)
        return out if self.points else (out + 1.0) / 2.0

    def mean_image(self, z, labels=None):
        """E[x | z] in [0, 1], differentiable in z: the pixel probabilities for binary pixels, else
        ``decode`` (GAN inversion descends on it; a binary sample has no gradient)."""
        if not self.binary:
            return self.decode(z, labels)
        return ops.sigmoid(replicas.to_float32(self.generator(self._conditioned(z, labels), training=False)))

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def _conditioned(self, tensor, labels):
        return with_labels(self, tensor, labels)

    def _logits(self, data, labels, training):
        """D's logit for each pack of examples (each example when ``pack`` is 1), in float32
        whatever the layers compute in."""
        return replicas.to_float32(self.discriminator(self._conditioned(self.packed(data), labels),
                                                      training=training))

    def packed(self, data):
        """D's input for a batch: each ``pack`` consecutive examples concatenated along the last
        axis, (N / m, ..., m * C); examples beyond the last whole pack are left out."""
        m = self.pack
        if m == 1:
            return data
        shape = tuple(data.shape[1:])
        packs = ops.shape(data)[0] // m
        groups = ops.reshape(data[: packs * m], (packs, m, *shape))
        return ops.reshape(ops.moveaxis(groups, 1, -2), (packs, *shape[:-1], m * shape[-1]))

    def point_logits(self, data):
        """D's logit for each example alone: judged as a pack of ``pack`` copies of itself (the
        playground's heat map: how real D finds a pack of m samples all at that point)."""
        return self._logits(ops.repeat(data, self.pack, axis=0), None, training=False)

    def _noise(self, batch_size):
        return replicas.normal((batch_size, self.latent_dim), self.seed_generator)

    def _generated(self, z, labels, training):
        """(what D sees of G(z), the generator's float32 output: tanh images, points or pixel logits)."""
        out = replicas.to_float32(self.generator(self._conditioned(z, labels), training=training))
        return self.discriminator_input(out), out

    def discriminator_input(self, out):
        """What D sees of the generator's float32 output ``out``, by ``pixels`` (`PIXELS`): a
        straight-through or relaxed sample carries gradient to G, a reinforce sample none
        (`_reinforce_loss` gives G its gradient)."""
        if not self.binary:
            return out
        probs = ops.sigmoid(out)
        if self.pixels == "probabilities":
            return probs
        u = replicas.uniform(ops.shape(out), self.seed_generator)
        if self.pixels == "relaxed":
            return estimators.relaxed_bernoulli(out, self.temperature, u)
        sample = estimators.bernoulli_sample(probs, u)
        if self.pixels == "straight-through":
            return estimators.straight_through(sample, probs)
        return sample  # reinforce

    # --- the game

    def _discriminator_update(self, real, labels):
        """One D step on a real minibatch and fresh fakes; returns (loss, D(x), D(G(z)), accuracy, grad norm)."""
        fake, _ = self._generated(self._noise(ops.shape(real)[0]), labels, training=True)
        with tf.GradientTape() as tape:
            real_logits = self._logits(real, labels, training=True)
            fake_logits = self._logits(fake, labels, training=True)
            d_loss = losses.discriminator_loss(real_logits, fake_logits)
            scaled = replicas.loss_to_differentiate(d_loss, self.d_optimizer)
        grads = tape.gradient(scaled, self.discriminator.trainable_weights)
        norm = replicas.gradient_norm(grads, self.d_optimizer)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        d_real, d_fake = ops.mean(ops.sigmoid(real_logits)), ops.mean(ops.sigmoid(fake_logits))
        return d_loss, d_real, d_fake, discriminator_accuracy(real_logits, fake_logits), norm

    def _generator_update(self, real, labels):
        """One G step on fresh noise, as many codes as ``real`` has examples (the real batch the
        unrolled D steps train on); returns (loss, grad norm)."""
        with tf.GradientTape() as tape:
            g_loss, objective = self.generator_losses(self._noise(ops.shape(real)[0]), labels, real)
            scaled = replicas.loss_to_differentiate(objective, self.g_optimizer)
        grads = tape.gradient(scaled, self.generator.trainable_weights)
        norm = replicas.gradient_norm(grads, self.g_optimizer)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)
        return g_loss, norm

    def generator_losses(self, z, labels=None, real=None):
        """(G's loss, what G's update differentiates) for codes z: the same tensor but for
        reinforce, whose sample has no gradient and which differentiates `_reinforce_loss`.
        With ``unroll`` k > 0, D is the one after k Adam steps on ``real`` and these fakes."""
        fake, out = self._generated(z, labels, training=True)
        if self.unroll:
            fake_logits = self.unrolled_logits(real, fake, labels)
        else:
            fake_logits = self._logits(fake, labels, training=True)
        g_loss = self.generator_loss_value(fake_logits)
        if self.pixels != "reinforce":
            return g_loss, g_loss
        return g_loss, self._reinforce_loss(fake, out, fake_logits)

    def generator_loss_value(self, fake_logits):
        """G's loss from D's outputs on its fakes: the configured generator loss."""
        return GENERATOR_LOSSES[self.generator_loss](fake_logits)

    def _reinforce_loss(self, sample, logits, fake_logits):
        """The score-function surrogate of G's loss: -mean((r - b) / s * log p(sample | z)), whose
        gradient estimates minus the gradient of E[r] without bias (b and s are the reward's running
        mean and standard deviation before this batch, as NVIL's). Also updates those moments."""
        # The reward of each sample, from D's logit, and its learning signal (centred and scaled).
        reward = ops.repeat(ops.reshape(REWARDS[self.generator_loss](fake_logits), (-1,)), self.pack, axis=0)
        signal = estimators.nvil_signal(reward, 0.0, self.reward_mean, self.reward_variance)
        # log p(sample | z) under G's independent Bernoulli pixels.
        log_prob = losses.bernoulli_log_likelihood(sample, logits)
        surrogate = -ops.mean(estimators.score_function_surrogate(log_prob, signal))
        # The moments follow the rewards (under a strategy, the replicas' updates are averaged).
        mean, variance = estimators.running_moments(self.reward_mean, self.reward_variance,
                                                    ops.stop_gradient(reward), REWARD_DECAY)
        self.reward_mean.assign(mean)
        self.reward_variance.assign(variance)
        return surrogate

    def unrolled_logits(self, real, fake, labels=None):
        """D's logits for ``fake`` after ``unroll`` Adam steps of D on (``real``, ``fake``) taken
        on a copy of its weights, differentiable all the way (Metz et al. 2017): G's gradient goes
        through the steps. D's own weights and optimizer are left as they are."""
        if real is None:
            raise ValueError("unroll needs the real batch that D's unrolled steps train on")
        d, optimizer = self.discriminator, _adam(self.d_optimizer)
        weights = [tf.identity(v.value) for v in d.trainable_variables]  # values, not the variables
        state = [tf.identity(v.value) for v in d.non_trainable_variables]
        # Adam's moments and step count as they are now: the unrolled steps continue D's own.
        index = optimizer._get_variable_index
        moments = [(tf.identity(optimizer._momentums[index(v)].value),
                    tf.identity(optimizer._velocities[index(v)].value)) for v in d.trainable_variables]
        real, fake = self._conditioned(self.packed(real), labels), self._conditioned(self.packed(fake), labels)
        for step in range(self.unroll):
            # D's loss on this batch with the copy's weights, and its gradient (kept differentiable).
            with tf.GradientTape() as tape:
                tape.watch(weights)
                real_logits, state = d.stateless_call(weights, state, real, training=True)
                fake_logits, state = d.stateless_call(weights, state, fake, training=True)
                d_loss = losses.discriminator_loss(replicas.to_float32(real_logits), replicas.to_float32(fake_logits))
            grads = tape.gradient(d_loss, weights)
            # One Adam step of the copy.
            updates = [adam_update(w, g, m, v, optimizer, optimizer.iterations + 1 + step)
                       for w, g, (m, v) in zip(weights, grads, moments, strict=True)]
            weights, moments = [u[0] for u in updates], [u[1:] for u in updates]
        logits, _ = d.stateless_call(weights, state, fake, training=True)
        return replicas.to_float32(logits)

    # --- one player at a time: Algorithm 1's two updates, of which train_step is made

    def discriminator_step(self, data):
        """One D update on the batch ``data`` (x, or (x, labels)) and as many fresh fakes: its metrics."""
        x, labels = unpack_batch(data)
        d_loss, d_real, d_fake, d_accuracy, d_norm = self._discriminator_update(self.to_model_space(x), labels)
        return {"d_loss": d_loss, "d_real": d_real, "d_fake": d_fake, "d_accuracy": d_accuracy, "d_grad_norm": d_norm}

    def generator_step(self, data):
        """One G update on fresh noise, as many fakes as ``data`` holds examples (with its labels,
        for a conditional GAN): its metrics."""
        x, labels = unpack_batch(data)
        # Only unrolling trains on the real batch (binary pixels would spend noise drawing it).
        g_loss, g_norm = self._generator_update(self.to_model_space(x) if self.unroll else x, labels)
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
        return self._track(d["d_loss"], g["g_loss"], d["d_real"], d["d_fake"], d["d_accuracy"], d["d_grad_norm"],
                           g["g_grad_norm"])

    def test_step(self, data):
        x, labels = unpack_batch(data)
        real = self.to_model_space(x)
        fake, _ = self._generated(self._noise(ops.shape(real)[0]), labels, training=False)
        real_logits = self._logits(real, labels, training=False)
        fake_logits = self._logits(fake, labels, training=False)
        d_loss = losses.discriminator_loss(real_logits, fake_logits)
        g_loss = GENERATOR_LOSSES[self.generator_loss](fake_logits)
        # No update, so no gradient norms: report the five quantities of the game only.
        return self._track(d_loss, g_loss, ops.mean(ops.sigmoid(real_logits)), ops.mean(ops.sigmoid(fake_logits)),
                           discriminator_accuracy(real_logits, fake_logits))

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
            "pixels": self.pixels,
            "temperature": self.temperature,
            "pack": self.pack,
            "unroll": self.unroll,
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


def discriminator_accuracy(real_logits, fake_logits):
    """D's accuracy at threshold 1/2 (logit 0) on equal real and fake halves: the mean of the
    share of reals called real and the share of fakes called fake."""
    real_right = ops.mean(ops.cast(real_logits > 0, "float32"))
    fake_right = ops.mean(ops.cast(fake_logits < 0, "float32"))
    return 0.5 * (real_right + fake_right)


def adam_update(weight, grad, m, v, optimizer, step):
    """(weight, m, v) after one Adam step as Keras's Adam takes it (step counts from 1), in
    differentiable ops: the unrolled GAN's D steps."""
    lr, b1, b2, eps = (ops.cast(value, "float32") for value in
                       (optimizer.learning_rate, optimizer.beta_1, optimizer.beta_2, optimizer.epsilon))
    t = ops.cast(step, "float32")
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * ops.square(grad)
    alpha = lr * ops.sqrt(1 - ops.power(b2, t)) / (1 - ops.power(b1, t))
    # sqrt's derivative is infinite at 0: a weight with no gradient yet (v = 0) must not give NaN.
    return weight - alpha * m / (ops.sqrt(ops.maximum(v, 1e-30)) + eps), m, v


def _adam(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Adam:
    """The Adam inside ``optimizer`` (under a loss scale) whose steps the unrolled GAN repeats."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if not isinstance(inner, keras.optimizers.Adam) or inner.amsgrad:
        raise ValueError(f"unroll needs D's optimizer to be Adam, got {type(inner).__name__}")
    return inner


def _loss_scaled(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in a LossScaleOptimizer when the model computes in float16."""
    if model.dtype_policy.name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
