"""What the encoder-decoder models (AE, VAE, CVAE) share: pixel likelihoods, labels, steps."""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from kgen.models import losses, replicas

# Learned decoder variances are floored at this standard deviation (about a quarter of one
# 8-bit grey level) so a pixel that is always 0 cannot drive the likelihood to infinity.
LEARNED_SIGMA_FLOOR = 1e-3


class EncoderDecoder(keras.Model):
    """An encoder, a decoder giving p(x|z) per pixel, and optional class conditioning.

    Subclasses name their reported losses in ``loss_names`` and define ``compute_losses``;
    ``train_step`` and ``test_step`` are shared. With ``num_classes`` > 0 both networks take a
    one-hot label as a second input.
    """

    loss_names: tuple[str, ...] = ("loss",)
    variational = False  # True when q(z|x) is a distribution, so the model bounds log p(x)

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        likelihood: str = "bernoulli",
        sigma: float = 0.1,
        binarize: bool = False,
        num_classes: int = 0,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.sigma = float(sigma)
        self.binarize = bool(binarize)
        self.num_classes = int(num_classes)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = [keras.metrics.Mean(name=name) for name in self.loss_names]
        # The encoder and decoder arrive built and nothing else owns weights, so the model is
        # built now; loading then restores optimizer state along with the weights.
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers)

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.inputs[0].shape[-1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.encoder.inputs[0].shape[1:])

    # --- the networks, with labels attached when conditional

    def _conditioned(self, tensor, labels):
        return with_labels(self, tensor, labels)

    def encoder_outputs(self, x, labels=None, training=False):
        return replicas.to_float32(self.encoder(self._conditioned(x, labels), training=training))

    def decoder_params(self, z, labels=None, training=False):
        """The decoder's raw output for z: logits, or means (and log-variances)."""
        return replicas.to_float32(self.decoder(self._conditioned(z, labels), training=training))

    def call(self, inputs, training=False):
        """The reconstruction of x (inputs is x, or (x, labels) when conditional)."""
        x, labels = unpack_batch(inputs)
        z_mean, _ = self.encode(x, labels, training=training)
        return self.decode(z_mean, labels)

    def prior_codes(self, noise):
        """Prior draws of z from standard normal ``noise``: the noise itself for a N(0, I) prior."""
        return noise

    def decode(self, z, labels=None):
        """The decoder's mean image in [0, 1] for latent codes z."""
        location, _ = self.pixel_distribution(self.decoder_params(z, labels))
        return ops.sigmoid(location) if self.likelihood == "bernoulli" else location

    # --- the likelihood p(x|z)

    def log_likelihood(self, x, params):
        """log p(x | z) per example, from the decoder's raw output ``params``."""
        location, log_var = self.pixel_distribution(params)
        if self.likelihood == "bernoulli":
            return losses.bernoulli_log_likelihood(x, location)
        return losses.gaussian_log_likelihood(x, location, log_var)

    def pixel_distribution(self, params):
        """Split raw decoder output into (location, log-variance) for this likelihood."""
        if self.likelihood == "bernoulli":
            return params, None
        if self.likelihood == "gaussian":
            return ops.sigmoid(params), 2.0 * math.log(self.sigma)
        mean, raw_log_var = ops.split(params, 2, axis=-1)
        floor = 2.0 * math.log(LEARNED_SIGMA_FLOOR)
        return ops.sigmoid(mean), ops.logaddexp(raw_log_var, floor)

    def prepare_images(self, x):
        """The data the likelihood sees: a fresh Bernoulli draw of every pixel when binarizing."""
        x = ops.cast(x, "float32")
        if not self.binarize:
            return x
        u = replicas.uniform(ops.shape(x), self.seed_generator)
        return ops.cast(u < x, "float32")

    # --- training and evaluation steps

    def compute_losses(self, x, labels=None, training=False) -> dict:
        raise NotImplementedError

    def train_step(self, data):
        x, labels = unpack_batch(data)
        x = self.prepare_images(x)
        # Forward pass and losses under the tape (the loss weighted by this replica's share of
        # the global batch, and loss-scaled in mixed float16).
        # The differentiated scalar is the estimator's surrogate when the model has one.
        with tf.GradientTape() as tape:
            parts = self.compute_losses(x, labels, training=True)
            loss = replicas.loss_to_differentiate(parts.get("surrogate", parts["loss"]), self.optimizer)
        # One optimizer step on every trainable network together.
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        # Whatever the estimator keeps across steps (NVIL's running moments) is updated after it.
        self.after_step(parts)
        return self._track(parts)

    def after_step(self, parts: dict) -> None:
        """Update state kept across training steps from this step's ``parts``; none here."""

    def test_step(self, data):
        x, labels = unpack_batch(data)
        return self._track(self.compute_losses(self.prepare_images(x), labels, training=False))

    def _track(self, parts):
        for tracker in self.trackers:
            tracker.update_state(parts[tracker.name])
        return {t.name: t.result() for t in self.trackers}

    def get_config(self):
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "likelihood": self.likelihood,
            "sigma": self.sigma,
            "binarize": self.binarize,
            "num_classes": self.num_classes,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("encoder", "decoder"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


def with_labels(model, tensor, labels):
    """A network's input: the tensor alone, or [tensor, one-hot labels] for conditional models."""
    if not model.num_classes:
        return tensor
    if labels is None:
        raise ValueError(f"{type(model).__name__} is conditional: give class labels")
    return [ops.convert_to_tensor(tensor), ops.one_hot(ops.cast(labels, "int32"), model.num_classes)]


def unpack_batch(data):
    """fit() hands over x, or (x, labels) for labelled data."""
    if isinstance(data, (tuple, list)):
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None
