"""The VAE family's gradient estimators (issue 17): each model's surrogate against the exact
gradient on problems small enough to integrate, the binary VAE's terms against their formulas,
and the estimators as config options that train, save and load."""

import itertools
import math

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from kgen.config import BinaryVAEConfig, RunConfig, TrainConfig, VAEConfig  # noqa: E402
from kgen.errors import ConfigError  # noqa: E402
from kgen.eval.likelihood import elbo_parts, importance_weighted_bound  # noqa: E402
from kgen.models import VAE, BinaryVAE, build_model, estimators, losses, nets  # noqa: E402
from kgen.models.sampling import grid_codes, sample_images  # noqa: E402

SHAPE = (2, 2, 1)
X = np.array([[[1.0], [0.0]], [[1.0], [1.0]]], "float32")  # one 2x2 binary image


def tiny(cls, estimator: str, latent: int, **options):
    """A model of ``cls`` with linear networks (no hidden layer) and seeded weights of scale 1, so
    the expectations below are far from trivial."""
    keras.utils.set_random_seed(0)
    encoder = nets.build_mlp_encoder(SHAPE, latent, (), gaussian=cls is not BinaryVAE)
    decoder = nets.build_mlp_decoder(SHAPE, latent, (), 1)
    baseline = nets.build_baseline(SHAPE, hidden=4) if estimator == "nvil" else None
    model = cls(encoder, decoder, estimator=estimator, baseline=baseline, seed=0, **options)
    rng = np.random.default_rng(1)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=0.7, size=w.shape).astype("float32"))
    return model


def networks_weights(model):
    return model.encoder.trainable_weights + model.decoder.trainable_weights


def gradient(tape, target, weights) -> np.ndarray:
    """d target / d weights, flattened into one vector (zeros for weights it does not depend on)."""
    grads = tape.gradient(target, weights)
    return np.concatenate([np.zeros(int(np.prod(w.shape))) if g is None else np.ravel(g)
                           for g, w in zip(grads, weights, strict=True)])


def mean_surrogate_gradient(model, reps: int = 40, copies: int = 500):
    """(mean, standard error) over ``reps`` x ``copies`` one-sample estimates of the loss's
    gradient for the image X: each rep differentiates the surrogate of a batch of copies of X."""
    xs = np.repeat(X[None], copies, axis=0)
    grads = []
    for _ in range(reps):
        with tf.GradientTape() as tape:
            surrogate = model.compute_losses(xs, training=True)["surrogate"]
        grads.append(gradient(tape, surrogate, networks_weights(model)))
    grads = np.array(grads)
    return grads.mean(axis=0), grads.std(axis=0, ddof=1) / math.sqrt(reps)


def encoder_mask(model) -> np.ndarray:
    """True for the encoder's entries of a flattened gradient of `networks_weights`."""
    encoder = {id(w) for w in model.encoder.trainable_weights}
    return np.concatenate([np.full(int(np.prod(w.shape)), id(w) in encoder) for w in networks_weights(model)])


def exact_binary_gradients(model):
    """Gradients of E_q[-log p(X|z)] (by summing over all 2^d codes) and of beta * KL, apart."""
    d = model.latent_dim
    codes = np.array(list(itertools.product([0.0, 1.0], repeat=d)), "float32")
    with tf.GradientTape(persistent=True) as tape:
        logits = model.encoder_outputs(X[None])
        log_q = losses.bernoulli_log_likelihood(codes, tf.repeat(logits, len(codes), axis=0))
        log_px = model.log_likelihood(np.repeat(X[None], len(codes), axis=0), model.decoder_params(codes))
        reconstruction = tf.reduce_sum(tf.exp(log_q) * -log_px)
        kl = model.beta * losses.kl_to_fair_bernoulli(logits)[0]
    weights = networks_weights(model)
    return gradient(tape, reconstruction, weights), gradient(tape, kl, weights)


def exact_gaussian_gradients(model, nodes: int = 24):
    """The same for the Gaussian VAE, E_q[-log p(X|z)] by Gauss-Hermite quadrature over z = mu +
    sigma t (exact for this smooth integrand to far below the tests' tolerance)."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    grid = np.array(list(itertools.product(t, repeat=model.latent_dim)), "float32")
    weight = np.prod(np.array(list(itertools.product(w, repeat=model.latent_dim))), axis=1)
    weight = (weight / weight.sum()).astype("float32")
    with tf.GradientTape(persistent=True) as tape:
        mean, log_var = model.encode(X[None])
        z = mean + tf.exp(0.5 * log_var) * grid
        log_px = model.log_likelihood(np.repeat(X[None], len(grid), axis=0), model.decoder_params(z))
        reconstruction = tf.reduce_sum(weight * -log_px)
        kl = model.beta * losses.kl_to_standard_normal(mean, log_var)[0]
    weights = networks_weights(model)
    return gradient(tape, reconstruction, weights), gradient(tape, kl, weights)


def assert_agrees(mean, se, expected, sigmas: float = 4.5):
    assert se.max() < 0.1 * np.abs(expected).max()  # enough samples for the comparison to bite
    worst = np.max(np.abs(mean - expected) / (se + 1e-6))
    assert worst < sigmas, f"{worst:.1f} standard errors away"


# --- unbiased estimators against the exact gradient


@pytest.mark.parametrize("estimator", ["reinforce", "nvil"])
def test_binary_score_function_gradients_average_to_the_exact_gradient(estimator):
    model = tiny(BinaryVAE, estimator, latent=3)
    recon, kl = exact_binary_gradients(model)
    scale = 1.0
    if estimator == "nvil":  # a baseline b(x) and running moments away from their start
        model.signal_mean.assign(-2.0)
        model.signal_variance.assign(4.0)
        scale = 0.5  # NVIL divides the signal by max(1, running std): the encoder's step shrinks by it
    expected = np.where(encoder_mask(model), scale, 1.0) * recon + kl
    assert_agrees(*mean_surrogate_gradient(model), expected)


@pytest.mark.parametrize("estimator", ["reparameterisation", "reinforce", "nvil"])
def test_gaussian_gradients_average_to_the_exact_gradient(estimator):
    model = tiny(VAE, estimator, latent=2)
    recon, kl = exact_gaussian_gradients(model)
    if estimator == "nvil":
        model.signal_mean.assign(-1.0)
    assert_agrees(*mean_surrogate_gradient(model, reps=40 if estimator == "reparameterisation" else 60), recon + kl)


@pytest.mark.parametrize("cls", [VAE, BinaryVAE])
def test_score_function_estimators_differentiate_the_kl_directly_and_give_the_decoder_its_own_gradient(cls):
    """REINFORCE's choice (and NVIL's): only E_q[log p(x|z)] goes through the score function. z
    is a draw, so the loss's own encoder gradient is the analytic KL's; the decoder's gradient is
    the ordinary one of log p(x|z), untouched by the score term."""
    model = tiny(cls, "reinforce", latent=2, beta=2.0)
    xs = np.repeat(X[None], 8, axis=0)
    with tf.GradientTape(persistent=True) as tape:
        parts = model.compute_losses(xs, training=True)
        logits_or_moments = model.encoder_outputs(xs)
        if cls is BinaryVAE:
            kl = losses.kl_to_fair_bernoulli(logits_or_moments)
        else:
            kl = losses.kl_to_standard_normal(*logits_or_moments)
        kl = 2.0 * tf.reduce_mean(kl)
        score = parts["surrogate"] - parts["loss"]
    encoder, decoder = model.encoder.trainable_weights, model.decoder.trainable_weights
    np.testing.assert_allclose(gradient(tape, parts["loss"], encoder), gradient(tape, kl, encoder),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gradient(tape, parts["surrogate"], decoder),
                               gradient(tape, parts["loss"], decoder), rtol=1e-6)
    assert np.abs(gradient(tape, score, encoder)).max() > 1e-3  # the score-function term is there, on the encoder alone


def test_the_quadratic_gradients_of_both_gaussian_estimators_match_the_closed_form():
    """E_q[sum a (z - c)^2] = sum a ((mu - c)^2 + sigma^2): its gradient is 2a(mu - c) in mu and
    a sigma^2 in log sigma^2; reparameterisation and REINFORCE both average to it."""
    a, c = np.array([1.0, 0.5], "float32"), np.array([0.3, -1.0], "float32")
    mean, log_var = tf.Variable([0.2, 0.4]), tf.Variable([-0.5, 0.3])
    eps = tf.random.stateless_normal((200_000, 2), seed=(1, 2))
    with tf.GradientTape(persistent=True) as tape:
        z = losses.reparameterize(mean, log_var, eps)
        f = tf.reduce_sum(a * tf.square(z - c), axis=1)
        reparameterised = tf.reduce_mean(f)
        drawn = tf.stop_gradient(z)
        score = tf.reduce_mean(estimators.score_function_surrogate(losses.log_normal(drawn, mean, log_var), f))
    exact = np.concatenate([2 * a * (mean.numpy() - c), a * np.exp(log_var.numpy())])
    for estimate, tolerance in ((reparameterised, 0.01), (score, 0.05)):
        np.testing.assert_allclose(gradient(tape, estimate, [mean, log_var]), exact, atol=tolerance)


# --- biased estimators: their defining properties


@pytest.mark.parametrize("estimator", ["straight-through", "relaxed"])
def test_straight_through_and_relaxed_gradients_are_biased_for_the_binary_elbo(estimator):
    model = tiny(BinaryVAE, estimator, latent=3)
    recon, kl = exact_binary_gradients(model)
    mean, se = mean_surrogate_gradient(model)
    assert np.max(np.abs(mean - (recon + kl)) / (se + 1e-6)) > 10  # far beyond the noise: a bias


def fixed_noise(model, u):
    """Make the model draw ``u`` as its uniform noise from now on."""
    model._uniform = lambda logits: tf.constant(u)


def hard_and_relaxed_losses(model, xs, u, temperature):
    """The batch-mean -ELBO of the binary draw [u < q] and the relaxed objective of the same u."""
    logits = model.encoder_outputs(xs)
    kl = model.beta * losses.kl_to_fair_bernoulli(logits)
    hard = estimators.bernoulli_sample(tf.sigmoid(logits), u)
    relaxed = estimators.relaxed_bernoulli(logits, temperature, u)
    return [tf.reduce_mean(-model.log_likelihood(xs, model.decoder_params(z)) + kl) for z in (hard, relaxed)]


def test_relaxed_trains_the_relaxed_objective_and_reports_the_binary_draws_elbo():
    model = tiny(BinaryVAE, "relaxed", latent=3, temperature=0.5)
    xs = np.repeat(X[None], 6, axis=0)
    u = np.random.default_rng(2).uniform(size=(6, 3)).astype("float32")
    fixed_noise(model, u)
    with tf.GradientTape(persistent=True) as tape:
        parts = model.compute_losses(xs, training=True)
        hard, relaxed = hard_and_relaxed_losses(model, xs, u, 0.5)
    weights = networks_weights(model)
    np.testing.assert_allclose(float(parts["loss"]), float(hard), rtol=1e-6)
    np.testing.assert_allclose(float(parts["surrogate"]), float(relaxed), rtol=1e-6)
    np.testing.assert_allclose(gradient(tape, parts["surrogate"], weights), gradient(tape, relaxed, weights), rtol=1e-5)
    assert abs(float(relaxed) - float(hard)) > 1e-3  # the relaxation is a different objective
    cold = tiny(BinaryVAE, "relaxed", latent=3, temperature=1e-3)
    fixed_noise(cold, u)
    parts = cold.compute_losses(xs, training=True)  # near temperature 0 the relaxed sample is the binary one
    np.testing.assert_allclose(float(parts["surrogate"]), float(parts["loss"]), rtol=1e-3)


def test_relaxed_gradients_average_to_the_gradient_of_the_relaxed_objective():
    """Unbiased for what it trains: E_u of the relaxed objective, integrated by the midpoint rule
    over a 24^3 grid of u (its integrand is smooth at temperature 1)."""
    model = tiny(BinaryVAE, "relaxed", latent=3, temperature=1.0)
    mids = (np.arange(24) + 0.5) / 24
    u = np.array(list(itertools.product(mids, repeat=3)), "float32")
    with tf.GradientTape() as tape:
        relaxed = hard_and_relaxed_losses(model, np.repeat(X[None], len(u), axis=0), u, 1.0)[1]
    assert_agrees(*mean_surrogate_gradient(model), gradient(tape, relaxed, networks_weights(model)))


def test_straight_through_decodes_the_binary_draw_and_passes_its_gradient_to_the_probabilities():
    model = tiny(BinaryVAE, "straight-through", latent=3)
    xs = np.repeat(X[None], 6, axis=0)
    u = np.random.default_rng(3).uniform(size=(6, 3)).astype("float32")
    fixed_noise(model, u)
    with tf.GradientTape(persistent=True) as tape:
        parts = model.compute_losses(xs, training=True)
        logits = model.encoder_outputs(xs)
        hard = tf.Variable(estimators.bernoulli_sample(tf.sigmoid(logits), u))
        with tf.GradientTape() as inner:
            reconstruction = tf.reduce_mean(-model.log_likelihood(xs, model.decoder_params(hard)))
        dz = tf.stop_gradient(inner.gradient(reconstruction, hard))  # d loss / dz at the binary z
        # the gradient the identity backward gives: dz times d sigmoid(logits), plus the KL's
        expected = tf.reduce_sum(dz * tf.sigmoid(logits)) + tf.reduce_mean(losses.kl_to_fair_bernoulli(logits))
    encoder = model.encoder.trainable_weights
    np.testing.assert_allclose(float(parts["surrogate"]), float(parts["loss"]), rtol=1e-6)
    np.testing.assert_allclose(float(parts["reconstruction"]), float(reconstruction), rtol=1e-6)
    np.testing.assert_allclose(gradient(tape, parts["surrogate"], encoder), gradient(tape, expected, encoder),
                               rtol=1e-4, atol=1e-6)


# --- NVIL's baseline and moments


def test_nvil_baseline_learns_from_its_own_loss_only_and_moments_move_only_after_a_step():
    model = tiny(VAE, "nvil", latent=2)
    xs = np.repeat(X[None], 16, axis=0)
    with tf.GradientTape(persistent=True) as tape:
        parts = model.compute_losses(xs, training=True)
    others = networks_weights(model)
    assert all(g is None for g in tape.gradient(parts["baseline_loss"], others))  # no leak into q or p
    baseline = model.baseline.trainable_weights
    np.testing.assert_allclose(gradient(tape, parts["surrogate"], baseline),
                               gradient(tape, parts["baseline_loss"], baseline), rtol=1e-6)
    assert np.abs(gradient(tape, parts["baseline_loss"], baseline)).max() > 0
    for _ in range(3):  # measuring changes nothing
        model.compute_losses(xs, training=True)
    assert (float(model.signal_mean), float(model.signal_variance)) == (0.0, 1.0)
    model.after_step(parts)
    mean, variance = estimators.running_moments(0.0, 1.0, parts["centred_signal"], 0.9)
    np.testing.assert_allclose([float(model.signal_mean), float(model.signal_variance)], [mean, variance], rtol=1e-6)


# --- the binary VAE's terms, bound and prior


def test_the_bernoulli_kl_and_prior_match_their_formulas():
    logits = np.array([[-2.0, 0.0, 3.0], [0.5, -0.1, 8.0]], "float32")
    q = 1.0 / (1.0 + np.exp(-logits.astype("float64")))
    expected = np.sum(q * np.log(2 * q) + (1 - q) * np.log(2 * (1 - q)), axis=1)
    np.testing.assert_allclose(losses.kl_to_fair_bernoulli(logits), expected, rtol=1e-5)
    np.testing.assert_allclose(losses.log_fair_bernoulli(np.ones((2, 3), "float32")), [-3 * math.log(2)] * 2, rtol=1e-6)
    eps = np.array([-1.5, 0.0, 0.7], "float32")
    np.testing.assert_allclose(estimators.normal_to_uniform(eps), [0.5 * math.erfc(-e / math.sqrt(2)) for e in eps],
                               rtol=1e-5)


def binary_model(estimator="relaxed", latent=4, **options):
    config = RunConfig(TrainConfig(model="bvae", seed=0),
                       BinaryVAEConfig(latent_dim=latent, hidden=(16,), estimator=estimator, **options))
    return build_model(config, (8, 8, 1))


def test_iwae_of_the_binary_vae_approaches_the_exact_likelihood_by_enumeration(digits):
    x_train, x_test = digits
    keras.utils.set_random_seed(0)
    model = binary_model()
    model.fit(x_train[:512], epochs=3, batch_size=32, verbose=0)
    x = x_test[:6]
    codes = np.array(list(itertools.product([0.0, 1.0], repeat=4)), "float32")
    exact = []
    for image in x:
        images = np.repeat(image[None], len(codes), axis=0)
        log_joint = model.log_likelihood(images, model.decoder_params(codes)) + losses.log_fair_bernoulli(codes)
        exact.append(float(tf.reduce_logsumexp(log_joint)))
    exact = np.array(exact)
    iwae = importance_weighted_bound(model, x, k=2000, seed=0)
    elbo = np.mean([elbo_parts(model, x, seed=s)["elbo"] for s in range(50)])
    np.testing.assert_allclose(iwae, exact, atol=0.05)
    assert elbo < exact.mean() - 0.05  # the one-sample bound is looser, as it must be


def test_prior_draws_of_the_binary_vae_are_fair_binary_codes():
    model = binary_model(latent=16)
    z, labels = grid_codes(model, 8, seed=0)
    assert labels is None and set(np.unique(z)) == {0.0, 1.0} and abs(z.mean() - 0.5) < 0.1
    images = sample_images(model, 64, seed=0)
    np.testing.assert_allclose(images, np.clip(model.decode(z), 0, 1), atol=1e-6)  # the same seeded draws


# --- options: config, training, saving


def test_the_estimator_options_are_checked_per_model():
    assert VAEConfig().estimator == "reparameterisation" and BinaryVAEConfig().estimator == "relaxed"
    with pytest.raises(ConfigError, match="estimator must be one of reparameterisation, reinforce, nvil; got 'relaxed'"):
        VAEConfig(estimator="relaxed")
    with pytest.raises(ConfigError, match="estimator must be one of reinforce, nvil, straight-through, relaxed"):
        BinaryVAEConfig(estimator="reparameterisation")
    with pytest.raises(ConfigError, match="temperature must be a finite number"):
        BinaryVAEConfig(temperature=0.0)
    assert RunConfig.from_dict(RunConfig(TrainConfig(model="bvae"), BinaryVAEConfig(temperature=0.3)).to_dict()) \
        .model.temperature == 0.3


@pytest.mark.parametrize(("kind", "estimator"), [("vae", "reinforce"), ("vae", "nvil"), ("cvae", "nvil"),
                                                 ("bvae", "reinforce"), ("bvae", "nvil"),
                                                 ("bvae", "straight-through"), ("bvae", "relaxed")])
def test_each_estimator_trains_and_its_model_saves_and_loads(kind, estimator, tmp_path):
    keras.utils.set_random_seed(0)
    config_class = BinaryVAEConfig if kind == "bvae" else VAEConfig
    model = build_model(RunConfig(TrainConfig(model=kind, seed=0),
                                  config_class(latent_dim=3, hidden=(16,), estimator=estimator)), (8, 8, 1), 3)
    rng = np.random.default_rng(0)
    x = (rng.random((256, 8, 8, 1)) < np.linspace(0.1, 0.9, 64).reshape(1, 8, 8, 1)).astype("float32")
    data = (x, rng.integers(0, 3, 256)) if kind == "cvae" else (x,)
    history = model.fit(*data, epochs=4, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model) and loaded.estimator == estimator
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    if estimator == "nvil":  # the baseline and its moments travel with the file
        assert loaded.baseline is not None and float(loaded.signal_variance) == float(model.signal_variance) != 1.0


def test_the_binary_vaes_kl_per_unit_sums_to_its_kl(digits):
    from kgen.eval.latent import kl_per_dimension

    model = binary_model(latent=5)
    x = digits[1][:100]
    expected = float(np.mean(losses.kl_to_fair_bernoulli(model.encoder_outputs(x))))
    assert expected > 0.01
    np.testing.assert_allclose(kl_per_dimension(model, x).sum(), expected, rtol=1e-4)


def test_reparameterisation_differentiates_the_reported_loss_itself():
    model = tiny(VAE, "reparameterisation", latent=2)
    parts = model.compute_losses(np.repeat(X[None], 4, axis=0), training=True)
    assert parts["surrogate"] is parts["loss"] and model.baseline is None
    assert {"loss", "reconstruction", "kl"} <= set(parts)


def test_kgen_train_takes_the_estimator_and_a_resumed_nvil_run_keeps_its_moments(npz, tmp_path, capsys):
    from kgen.cli import main
    from kgen.models.saving import load_run_model
    from kgen.runs import Run

    out = tmp_path / "run"
    common = ["--dataset", f"npz:{npz}", "--batch-size", "16", "--latent-dim", "3", "--hidden", "16", "--out", str(out)]
    assert main(["train", "bvae", "--estimator", "nvil", "--temperature", "0.3", "--epochs", "1", *common]) == 0
    run = Run.open(out)
    assert (run.config().model.estimator, run.config().model.temperature) == ("nvil", 0.3)
    first = load_run_model(run)
    assert float(first.signal_variance) != 1.0  # moved by the epoch's steps
    assert main(["train", "bvae", "--resume", str(out), "--epochs", "2"]) == 0
    resumed = load_run_model(Run.open(out))
    assert resumed.estimator == "nvil" and float(resumed.signal_mean) != float(first.signal_mean)
    assert main(["train", "vae", "--estimator", "relaxed", *common]) == 2
    assert "estimator must be one of reparameterisation, reinforce, nvil; got 'relaxed'" in capsys.readouterr().err
