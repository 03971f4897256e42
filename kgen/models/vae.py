"""The variational autoencoder (Kingma & Welling 2013), its class-conditional form, and the VAE with
binary latents. Each takes the encoder's gradient through its sample z with a chosen estimator
(kgen.models.estimators): the model's ``estimator`` names it."""

from __future__ import annotations

import keras
from keras import ops

from kgen.config import BINARY_ESTIMATORS, GAUSSIAN_ESTIMATORS
from kgen.models import estimators, losses, replicas
from kgen.models.base import EncoderDecoder, unpack_batch

# The estimators that differentiate log q(z|x) weighted by a learning signal instead of the sample.
SCORE_FUNCTION = ("reinforce", "nvil")
# Decay of NVIL's running mean and variance of the centred signal l - b(x), one update per step.
NVIL_DECAY = 0.9


@keras.saving.register_keras_serializable(package="kgen")
class VAE(EncoderDecoder):
    """q(z|x) = N(mu, sigma^2) from ``encoder``; p(x|z) from ``decoder`` under ``likelihood``.

    The loss per example is -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), summed over pixels
    and latent dimensions and averaged over the batch; it is reported as ``loss``,
    ``reconstruction`` and ``kl``. The KL is analytic, a function of mu and log sigma^2, and is
    differentiated directly; ``estimator`` says how the reconstruction term's gradient reaches the
    encoder. NVIL's ``baseline`` network b(x) is trained with the model, by the same optimizer.
    """

    loss_names = ("loss", "reconstruction", "kl")
    variational = True
    estimators = GAUSSIAN_ESTIMATORS

    def __init__(self, encoder, decoder, beta: float = 1.0, estimator: str = "reparameterisation",
                 baseline: keras.Model | None = None, importance_samples: int = 1, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        if estimator not in self.estimators:
            raise ValueError(f"estimator must be one of {', '.join(self.estimators)}; got {estimator!r}")
        if (estimator == "nvil") != (baseline is not None):
            raise ValueError("the nvil estimator needs a baseline network, and only it takes one")
        if importance_samples > 1 and (estimator != "reparameterisation" or beta != 1.0):
            raise ValueError("importance_samples > 1 (IWAE) needs the reparameterisation estimator and beta 1")
        self.beta = float(beta)
        self.estimator = estimator
        self.baseline = baseline
        self.importance_samples = int(importance_samples)
        if baseline is not None:
            # NVIL's running moments of l - b(x): state updated after each step, not trained.
            self.signal_mean = self._moment("signal_mean", "zeros")
            self.signal_variance = self._moment("signal_variance", "ones")

    def _moment(self, name: str, initializer: str):
        return self.add_weight(shape=(), initializer=initializer, dtype="float32", trainable=False,
                               aggregation="mean", name=name)

    def encode(self, x, labels=None, training=False):
        """(mean, log-variance) of q(z|x)."""
        z_mean, z_log_var = self.encoder_outputs(x, labels, training=training)
        return z_mean, z_log_var

    def sample_terms(self, x, labels=None, eps=None, training=False, draws: int = 1) -> dict:
        """For images x and noise eps (N * draws, latent_dim; fresh when None): per-draw log p(x|z),
        log p(z), log q(z|x) of z = mu + sigma * eps, and the analytic KL(q(z|x) || p(z)). With
        ``draws`` > 1 each image is encoded once and decoded for that many draws, image-major."""
        # Encode: the parameters of q(z|x), repeated for each draw.
        z_mean, z_log_var = self.encode(x, labels, training=training)
        if draws > 1:
            x, z_mean, z_log_var = (ops.repeat(t, draws, axis=0) for t in (x, z_mean, z_log_var))
            labels = None if labels is None else ops.repeat(labels, draws, axis=0)
        # Reparameterise: z = mu + sigma * eps keeps the sample differentiable.
        if eps is None:
            eps = replicas.normal(ops.shape(z_mean), self.seed_generator)
        z = losses.reparameterize(z_mean, z_log_var, eps)
        if self.estimator in SCORE_FUNCTION:  # z is a draw: its gradient comes through log q(z|x)
            z = ops.stop_gradient(z)
        # Decode and score.
        return {
            "log_px_z": self.log_likelihood(x, self.decoder_params(z, labels, training=training)),
            "log_pz": losses.log_standard_normal(z),
            "log_qz": losses.log_normal(z, z_mean, z_log_var),
            "kl": losses.kl_to_standard_normal(z_mean, z_log_var),
        }

    def compute_losses(self, x, labels=None, training=False):
        """Batch means of loss, reconstruction and kl for one sample per image, and the surrogate
        whose gradient is the estimator's gradient of the loss. Changes no state."""
        if self.importance_samples > 1:
            return self.importance_weighted_losses(x, labels, training)
        terms = self.sample_terms(x, labels, training=training)
        parts = self.reported(terms)
        if self.estimator in SCORE_FUNCTION:
            return self.with_score_function(parts, x, labels, terms["log_px_z"], terms["log_qz"], training)
        return {**parts, "surrogate": parts["loss"]}

    def importance_weighted_losses(self, x, labels=None, training=False) -> dict:
        """The IWAE objective (Burda et al. 2015): loss = -log (1/k) sum_i p(x, z_i) / q(z_i|x) over k
        reparameterised draws per image, the batch mean; reconstruction and kl stay the one-draw
        ELBO's parts averaged over the draws, so the ELBO can be read beside the tighter bound."""
        k = self.importance_samples
        terms = self.sample_terms(x, labels, training=training, draws=k)
        log_weights = ops.reshape(terms["log_px_z"] + terms["log_pz"] - terms["log_qz"], (-1, k))
        loss = -ops.mean(losses.iwae_bound(log_weights))
        return {**self.reported(terms), "loss": loss, "surrogate": loss}

    def reported(self, terms: dict) -> dict:
        """Batch means of the loss (-ELBO, with beta on the KL), reconstruction and kl of per-example terms."""
        reconstruction = -terms["log_px_z"]
        return {
            "loss": ops.mean(reconstruction + self.beta * terms["kl"]),
            "reconstruction": ops.mean(reconstruction),
            "kl": ops.mean(terms["kl"]),
        }

    def with_score_function(self, parts: dict, x, labels, log_px_z, log_qz, training=False) -> dict:
        """``parts`` with the score-function surrogate of E_q[log p(x|z)] for z drawn without a
        gradient: the learning signal l = log p(x|z) times log q(z|x), l centred and scaled by NVIL's
        baseline and moments; NVIL's baseline loss, mean (l - mean - b(x))^2, is added to it."""
        signal = ops.stop_gradient(log_px_z)
        if self.estimator == "reinforce":
            weight, baseline_loss = signal, 0.0
        else:
            b = self.baseline_values(x, labels, training=training)
            weight = estimators.nvil_signal(signal, b, self.signal_mean, self.signal_variance)
            baseline_loss = ops.mean(ops.square(signal - self.signal_mean - b))
            parts = {**parts, "baseline_loss": baseline_loss, "centred_signal": signal - ops.stop_gradient(b)}
        # -E[l grad log q] for the encoder; the loss itself gives the decoder and the KL their gradients.
        score = ops.mean(estimators.score_function_surrogate(log_qz, weight))
        return {**parts, "surrogate": parts["loss"] - score + baseline_loss}

    def baseline_values(self, x, labels=None, training=False):
        """NVIL's input-dependent baseline b(x), one number per example."""
        b = replicas.to_float32(self.baseline(self._conditioned(x, labels), training=training))
        return ops.reshape(b, (-1,))

    def after_step(self, parts: dict) -> None:
        """NVIL: move the running moments of l - b(x) towards this step's batch (decay NVIL_DECAY)."""
        if self.baseline is None:
            return
        mean, variance = estimators.running_moments(self.signal_mean, self.signal_variance,
                                                    parts["centred_signal"], NVIL_DECAY)
        self.signal_mean.assign(mean)
        self.signal_variance.assign(variance)

    def get_config(self):
        baseline = None if self.baseline is None else keras.saving.serialize_keras_object(self.baseline)
        return {**super().get_config(), "beta": self.beta, "estimator": self.estimator, "baseline": baseline,
                "importance_samples": self.importance_samples}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("baseline") is not None:
            config["baseline"] = keras.saving.deserialize_keras_object(config["baseline"])
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="kgen")
class CVAE(VAE):
    """The class-conditional VAE: the one-hot label goes to encoder and decoder, so z keeps style.

    Its ELBO bounds log p(x | y); ``decode(z, labels)`` draws an image of the chosen class.
    """

    def __init__(self, encoder, decoder, num_classes: int = 10, **kwargs):
        if num_classes < 2:
            raise ValueError(f"a CVAE needs at least 2 classes, got {num_classes}")
        super().__init__(encoder, decoder, num_classes=num_classes, **kwargs)


@keras.saving.register_keras_serializable(package="kgen")
class BinaryVAE(VAE):
    """The VAE with binary latents: q(z|x) = Bernoulli(sigmoid(logits)) per dimension from a
    one-headed ``encoder``, prior Bernoulli(1/2). No reparameterisation exists for a binary z, so
    ``estimator`` is reinforce, nvil, straight-through or relaxed (decoding a relaxed Bernoulli of
    ``temperature`` in training). Whatever it is, the reported loss is the -ELBO of a binary draw.
    """

    estimators = BINARY_ESTIMATORS

    def __init__(self, encoder, decoder, estimator: str = "relaxed", temperature: float = 0.25, **kwargs):
        super().__init__(encoder, decoder, estimator=estimator, **kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def encode(self, x, labels=None, training=False):
        """(E_q[z] = sigmoid(logits), None): the code's mean, and no Gaussian variance."""
        return ops.sigmoid(self.encoder_outputs(x, labels, training=training)), None

    def call(self, inputs, training=False):
        """The reconstruction of x from its most likely binary code."""
        x, labels = unpack_batch(inputs)
        probs, _ = self.encode(x, labels, training=training)
        return self.decode(ops.cast(probs > 0.5, "float32"), labels)

    def prior_codes(self, noise):
        """Fair Bernoulli(1/2) draws of z from standard normal noise: 1 where the noise is > 0."""
        return ops.cast(ops.convert_to_tensor(noise) > 0, "float32")

    def sample_terms(self, x, labels=None, eps=None, training=False) -> dict:
        """For images x and noise eps (N, latent_dim standard normals, made uniform by the normal
        CDF; fresh when None): per-example log p(x|z), log p(z), log q(z|x) of the binary draw z
        and the analytic KL(q(z|x) || Bernoulli(1/2))."""
        logits = self.encoder_outputs(x, labels, training=training)
        u = self._uniform(logits) if eps is None else estimators.normal_to_uniform(eps)
        return self._draw_terms(x, labels, logits, u, training)

    def compute_losses(self, x, labels=None, training=False):
        """Batch means of the -ELBO of one binary draw per image and its parts, and the surrogate
        whose gradient is the estimator's. Changes no state."""
        # Encode, draw z ~ q(z|x) from uniform noise u, decode it (straight-through: with the identity gradient).
        logits = self.encoder_outputs(x, labels, training=training)
        u = self._uniform(logits)
        terms = self._draw_terms(x, labels, logits, u, training)
        parts = self.reported(terms)
        if self.estimator in SCORE_FUNCTION:
            return self.with_score_function(parts, x, labels, terms["log_px_z"], terms["log_qz"], training)
        if self.estimator == "straight-through":
            return {**parts, "surrogate": parts["loss"]}
        # Relaxed: train on the relaxed sample of the same noise (z itself as the temperature goes to 0),
        # with the analytic KL of the Bernoulli q.
        relaxed = estimators.relaxed_bernoulli(logits, self.temperature, u)
        log_px_relaxed = self.log_likelihood(x, self.decoder_params(relaxed, labels, training=training))
        return {**parts, "surrogate": ops.mean(-log_px_relaxed + self.beta * terms["kl"])}

    def _uniform(self, logits):
        return replicas.uniform(ops.shape(logits), self.seed_generator)

    def _draw_terms(self, x, labels, logits, u, training):
        """The terms of the binary draw z = [u < q]: z reaches the decoder with the straight-through
        gradient when that is the estimator, and with none otherwise."""
        probs = ops.sigmoid(logits)
        z = estimators.bernoulli_sample(probs, u)
        decoded = estimators.straight_through(z, probs) if self.estimator == "straight-through" else z
        return {
            "log_px_z": self.log_likelihood(x, self.decoder_params(decoded, labels, training=training)),
            "log_pz": losses.log_fair_bernoulli(z),
            "log_qz": losses.bernoulli_log_likelihood(z, logits),
            "kl": losses.kl_to_fair_bernoulli(logits),
        }

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}
