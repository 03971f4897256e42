"""GAN inversion: find the z whose generated image is closest to a given image.

A GAN has no encoder, so "which z made this?" is an optimisation: gradient descent on the
squared error between G(z) and the image, from several random starts, keeping the best. A GAN on
binary pixels is inverted through its pixel probabilities (``mean_image``): a binary sample has
no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kgen.errors import ConfigError


@dataclass(frozen=True)
class Inversion:
    """The best code found per image, its reconstruction, and the per-image mean squared error."""

    z: np.ndarray
    reconstructions: np.ndarray
    mse: np.ndarray


def invert(
    model, images: np.ndarray, *, labels: np.ndarray | None = None, steps: int = 300,
    learning_rate: float = 0.05, restarts: int = 4, seed: int = 0,
) -> Inversion:
    """Codes z minimising mean (G(z) - x)^2 over pixels, for images x in [0, 1] (N, H, W, C);
    G(z) is the model's ``mean_image`` where it has one (E[x | z]), else its ``decode``."""
    import keras
    import tensorflow as tf

    if steps < 1 or restarts < 1 or not learning_rate > 0:
        raise ConfigError(f"need steps >= 1, restarts >= 1 and learning_rate > 0, got {steps}, {restarts}, {learning_rate}")
    n = len(images)
    target = np.repeat(np.asarray(images, "float32"), restarts, axis=0)
    repeated = None if labels is None else np.repeat(np.asarray(labels, "int32"), restarts)
    start = np.random.default_rng(seed).standard_normal((n * restarts, model.latent_dim)).astype("float32")
    z = tf.Variable(start, name="inverted_z")
    optimizer = keras.optimizers.Adam(learning_rate)
    axes = tuple(range(1, target.ndim))
    generate = getattr(model, "mean_image", model.decode)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(tf.reduce_mean(tf.square(generate(z, repeated) - target), axis=axes))
        optimizer.apply([tape.gradient(total, z)], [z])

    for _ in range(steps):
        step()
    # The best of the restarts for each image.
    error = np.asarray(tf.reduce_mean(tf.square(generate(z, repeated) - target), axis=axes))
    best = error.reshape(n, restarts).argmin(axis=1) + np.arange(n) * restarts
    codes = np.asarray(z.numpy())[best]
    best_labels = None if repeated is None else repeated[best]
    reconstructions = np.clip(np.asarray(generate(codes, best_labels)), 0.0, 1.0)
    return Inversion(codes, reconstructions, error[best])
