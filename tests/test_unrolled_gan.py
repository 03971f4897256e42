"""The unrolled GAN (Metz et al. 2017): G's loss is that of D after k Adam steps on a copy of its
weights, differentiated through those steps; D's own update is the plain one."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kgen.config import GANConfig, RunConfig, TrainConfig
from kgen.errors import ConfigError
from kgen.models import build_model
from kgen.models.gan import adam_update


def make_gan(unroll, lr=1e-3, **options):
    keras.utils.set_random_seed(0)
    config = RunConfig(TrainConfig(model="gan", lr=lr, batch_size=4, seed=0),
                       GANConfig(**{"latent_dim": 1, "hidden": (8,), "unroll": unroll, **options}))
    return build_model(config, (2,))


def linear_gan(unroll, d_weights, g_weights, lr=0.1):
    """A GAN whose D is logit = w . x + b and whose G is x = A z + c: small enough to do by hand."""
    gan = make_gan(unroll, lr=lr)
    x, z = keras.Input((2,)), keras.Input((1,))
    gan.discriminator = keras.Model(x, keras.layers.Dense(1)(x))
    gan.generator = keras.Model(z, keras.layers.Dense(2)(z))
    gan.discriminator.set_weights(d_weights)
    gan.generator.set_weights(g_weights)
    gan.compile(d_optimizer=keras.optimizers.Adam(lr, beta_1=0.5), g_optimizer=keras.optimizers.Adam(lr, beta_1=0.5))
    return gan


def softplus(x):
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


D_WEIGHTS = [np.array([[0.5], [-1.0]], np.float32), np.array([0.2], np.float32)]
G_WEIGHTS = [np.array([[1.0, 0.5]], np.float32), np.array([0.1, -0.3], np.float32)]
REAL = np.array([[1.0, 1.0], [-1.0, 0.5], [0.0, 2.0], [2.0, -1.0]], np.float32)
Z = np.array([[0.5], [-1.0], [1.5], [0.0]], np.float32)


def test_one_unrolled_step_gives_the_loss_of_d_after_one_adam_step_by_hand():
    gan = linear_gan(1, D_WEIGHTS, G_WEIGHTS)
    (w, b), (a, c) = ([p.astype(np.float64) for p in ws] for ws in (D_WEIGHTS, G_WEIGHTS))
    fake = Z @ a + c
    # D's loss mean softplus(-l_real) + mean softplus(l_fake), its gradient in w and b.
    l_real, l_fake = REAL @ w + b, fake @ w + b
    grad_w = (-(sigmoid(-l_real)) * REAL).mean(0) + (sigmoid(l_fake) * fake).mean(0)
    grad_b = -sigmoid(-l_real).mean() + sigmoid(l_fake).mean()
    # Adam's first step from empty moments: step lr * m_hat / (sqrt(v_hat) + eps).
    lr, b1, b2, eps = 0.1, 0.5, 0.999, 1e-7

    def adam(p, g):
        m, v = (1 - b1) * g, (1 - b2) * g * g
        return p - lr * np.sqrt(1 - b2) / (1 - b1) * m / (np.sqrt(v) + eps)

    w1, b1_ = adam(w[:, 0], grad_w), adam(b, grad_b)
    expected = np.mean(softplus(-(fake @ w1 + b1_)))
    g_loss, _ = gan.generator_losses(Z, None, REAL)
    assert float(g_loss) == pytest.approx(expected, rel=1e-5)
    # Without unrolling, G's loss is that of D as it is.
    plain = linear_gan(0, D_WEIGHTS, G_WEIGHTS)
    assert float(plain.generator_losses(Z, None, REAL)[0]) == pytest.approx(np.mean(softplus(-l_fake)), rel=1e-5)


def test_the_unrolled_step_is_keras_adams_step():
    """`adam_update` moves a weight as keras.optimizers.Adam does, from moments it has already."""
    optimizer = keras.optimizers.Adam(0.01, beta_1=0.5)
    variable = keras.Variable(np.array([1.0, -2.0, 0.5], np.float32))
    optimizer.build([variable])
    grads = [np.array([0.3, -0.1, 0.0], np.float32), np.array([0.2, 0.4, -0.5], np.float32)]
    optimizer.apply([grads[0]], [variable])
    m, v = (np.asarray(s[0]) for s in (optimizer._momentums, optimizer._velocities))
    expected, _, _ = adam_update(np.asarray(variable), grads[1], m, v, optimizer, optimizer.iterations + 1)
    optimizer.apply([grads[1]], [variable])
    np.testing.assert_allclose(np.asarray(expected), np.asarray(variable), rtol=1e-6)


def test_generator_gradient_goes_through_the_unrolled_steps():
    """G's gradient differs from that with D's stepped weights held fixed: G moves D's steps too.
    (D's Adam has moments already: Adam's first step from none is lr * sign(g), flat in G.)"""
    gan = linear_gan(1, D_WEIGHTS, G_WEIGHTS)
    d_vars = gan.discriminator.trainable_variables
    gan.d_optimizer.apply([np.array([[0.3], [-0.2]], np.float32), np.array([0.1], np.float32)], d_vars)
    moments = [(np.asarray(m), np.asarray(v)) for m, v in zip(gan.d_optimizer._momentums,
                                                             gan.d_optimizer._velocities, strict=True)]
    with tf.GradientTape() as tape:
        loss, _ = gan.generator_losses(Z, None, REAL)
    through = [np.asarray(g) for g in tape.gradient(loss, gan.generator.trainable_weights)]
    assert all(np.abs(g).sum() > 0 for g in through)
    # The same loss with D's one step held constant in G (its gradient stopped).
    with tf.GradientTape() as tape:
        fake = gan.generator(Z)
        with tf.GradientTape() as inner:
            w, b = (tf.constant(np.asarray(v)) for v in d_vars)
            inner.watch([w, b])
            d_loss = tf.reduce_mean(tf.nn.softplus(-(REAL @ w + b))) + tf.reduce_mean(tf.nn.softplus(fake @ w + b))
        (w1, *_), (b1, *_) = (adam_update(p, tf.stop_gradient(g), m, v, gan.d_optimizer, 2)
                              for p, g, (m, v) in zip((w, b), inner.gradient(d_loss, [w, b]), moments, strict=True))
        held = tf.reduce_mean(tf.nn.softplus(-(fake @ w1 + b1)))
    constant = [np.asarray(g) for g in tape.gradient(held, gan.generator.trainable_weights)]
    assert float(held) == pytest.approx(float(loss), rel=1e-5)
    assert not np.allclose(through[0], constant[0], rtol=0.05, atol=0)


def test_unrolling_leaves_d_alone():
    """G's loss does not move D or its optimizer; a train step's D update is the plain one."""
    gan = linear_gan(3, D_WEIGHTS, G_WEIGHTS)
    gan.generator_losses(Z, None, REAL)
    np.testing.assert_array_equal(gan.discriminator.get_weights()[0], D_WEIGHTS[0])
    assert int(gan.d_optimizer.iterations) == 0
    x = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    after = {}
    for unroll in (0, 5):  # one train step each, from the same weights and noise
        gan = make_gan(unroll)
        gan.train_step(x)
        after[unroll] = [[np.asarray(w) for w in net.weights] for net in (gan.discriminator, gan.generator)]
    for d0, d5 in zip(after[0][0], after[5][0], strict=True):
        np.testing.assert_array_equal(d0, d5)
    assert not all(np.array_equal(g0, g5) for g0, g5 in zip(after[0][1], after[5][1], strict=True))


def test_with_zero_learning_rate_the_unrolled_loss_is_the_plain_one():
    gan = make_gan(2, lr=1e-3)
    gan.d_optimizer.learning_rate = 0.0
    z, real = np.random.default_rng(1).normal(size=(2, 4, 1)).astype(np.float32)
    real = np.concatenate([real, real], 1)
    unrolled = float(gan.generator_losses(z, None, real)[0])
    gan.unroll = 0
    assert unrolled == pytest.approx(float(gan.generator_losses(z, None, real)[0]), rel=1e-6)


def test_unroll_must_be_a_whole_number_from_zero():
    with pytest.raises(ConfigError, match="unroll must be"):
        GANConfig(unroll=-1)
