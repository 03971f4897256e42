"""How noisy a model's gradient estimator is: M estimates of the encoder's gradient on one batch.

Each estimate differentiates the model's ``surrogate`` (its ``loss`` when it has none) with fresh
noise; across the M estimates, every encoder parameter gets a mean and a variance. A layer's
*variance* is the per-parameter variance (unbiased, over the M estimates) averaged over the
layer's parameters, so layers of different sizes compare; its *SNR* is the median over the
layer's parameters of |mean| / std (Rainforth et al. 2018; Roeder et al. 2017): the median,
because a few parameters whose gradient is (nearly) deterministic, such as those reached only by
an analytic KL, have an SNR in the millions that would swamp a mean. Parameters whose every
estimate is exactly 0 (a dead unit) carry no signal and no noise and are left out of the SNR.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

# The estimates of a measurement; more give steadier statistics at a proportional cost.
DEFAULT_SAMPLES = 8
# Added to each standard deviation of the SNR, so a deterministic gradient (std 0) gives a huge
# but finite SNR; far below the spread of any stochastic float32 gradient.
STD_FLOOR = 1e-12


@dataclass(frozen=True)
class NoiseStats:
    """The gradient noise of a group of parameters: mean per-parameter variance, and median SNR."""

    variance: float
    snr: float


@dataclass(frozen=True)
class GradientNoiseResult:
    """Per encoder layer (in the encoder's order) and over all the encoder's parameters."""

    layers: dict[str, NoiseStats]
    overall: NoiseStats


def variance_and_snr(estimates: np.ndarray) -> NoiseStats:
    """Statistics of ``estimates`` (M estimates x P parameters, M >= 2): the unbiased variance
    of each parameter over the M estimates averaged over parameters, and the median of |mean| /
    (std + `STD_FLOOR`) over the parameters with a nonzero estimate (0 when none has one)."""
    return summarise(*parameter_statistics(estimates))


def parameter_statistics(estimates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per parameter (columns of ``estimates``, M >= 2 rows): the unbiased variance over the
    estimates, |mean| / (std + `STD_FLOOR`), and whether any estimate is nonzero."""
    estimates = np.asarray(estimates)
    if estimates.ndim != 2 or estimates.shape[0] < 2:
        raise ValueError(f"need at least 2 estimates of a vector (M, P), got shape {estimates.shape}")
    estimates = estimates.astype(np.float64, copy=False)
    variance = estimates.var(axis=0, ddof=1)
    snr = np.abs(estimates.mean(axis=0)) / (np.sqrt(variance) + STD_FLOOR)
    return variance, snr, np.any(estimates != 0.0, axis=0)


def summarise(variance: np.ndarray, snr: np.ndarray, live: np.ndarray) -> NoiseStats:
    """A group's `NoiseStats` from its parameters' `parameter_statistics`."""
    if variance.size == 0:
        return NoiseStats(0.0, 0.0)
    return NoiseStats(float(variance.mean()), float(np.median(snr[live])) if live.any() else 0.0)


class GradientProbe:
    """M gradient estimates of a model's encoder weights on one batch, in one compiled function.

    The function is traced once per input shape and reused; a measurement restores the model's
    non-trainable variables (its noise streams) afterwards, so a run trains the same with or
    without being measured.
    """

    def __init__(self, model, samples: int = DEFAULT_SAMPLES):
        import tensorflow as tf

        encoder = getattr(model, "encoder", None)
        if encoder is None or not encoder.trainable_weights or not hasattr(model, "compute_losses"):
            raise ValueError(f"{type(model).__name__} has no encoder network with weights and compute_losses")
        if samples < 2:
            raise ValueError(f"the variance needs at least 2 estimates, got samples={samples}")
        self.model, self.samples = model, int(samples)
        self.groups = layer_groups(encoder)
        self.weights = [w for _, weights in self.groups for w in weights]
        # Without AutoGraph the first call traces in a fifth of the time (0.16 against 0.7 CPU s
        # for the digits VAE); a compute_losses that branches on a tensor in Python needs it (`_run`).
        self._estimates = tf.function(self._trace, reduce_retracing=True, autograph=False)

    def estimates(self, x, labels=None) -> np.ndarray:
        """(samples, P): each row one estimate of the gradient of every encoder weight, flattened."""
        saved = [v.numpy() for v in self.model.non_trainable_variables]
        try:
            return self._run(x, labels).numpy()
        finally:
            for variable, value in zip(self.model.non_trainable_variables, saved, strict=True):
                variable.assign(value)

    def _run(self, x, labels):
        import tensorflow as tf

        inputs = (x,) if labels is None else (x, labels)
        try:
            return self._estimates(*inputs)
        except tf.errors.OperatorNotAllowedInGraphError:  # Python control flow on a tensor
            self._estimates = tf.function(self._trace, reduce_retracing=True)
            return self._estimates(*inputs)

    def measure(self, x, labels=None) -> GradientNoiseResult:
        """Per layer and overall `variance_and_snr` of `estimates` on images x (and labels)."""
        stats = parameter_statistics(self.estimates(x, labels))  # once; the groups are slices
        layers, start = {}, 0
        for name, weights in self.groups:
            size = sum(int(np.prod(w.shape)) for w in weights)
            layers[name] = summarise(*(values[start:start + size] for values in stats))
            start += size
        return GradientNoiseResult(layers, summarise(*stats))

    def _trace(self, x, labels=None):
        import tensorflow as tf

        x = self.model.prepare_images(x)  # once: every estimate sees the same (binarised) images

        def one_estimate(i, rows):
            with tf.GradientTape() as tape:
                parts = self.model.compute_losses(x, labels, training=True)
                target = parts.get("surrogate", parts["loss"])
            grads = tape.gradient(target, self.weights)
            row = tf.concat([_flat(g, w) for g, w in zip(grads, self.weights, strict=True)], axis=0)
            return i + 1, rows.write(i, row)

        # A loop in the graph (traced once, not M times); one iteration at a time, so each draws
        # its own noise from the model's stream.
        rows = tf.TensorArray(tf.float32, size=self.samples)
        _, rows = tf.while_loop(lambda i, _: i < self.samples, one_estimate, (tf.constant(0), rows),
                                parallel_iterations=1)
        return rows.stack()


def layer_groups(encoder) -> list[tuple[str, list]]:
    """(layer name, its trainable weights) for each encoder layer that has some, in order."""
    return [(layer.name, list(layer.trainable_weights)) for layer in encoder.layers if layer.trainable_weights]


def distributed(model) -> bool:
    """Whether ``model``'s weights live in a tf.distribute strategy's replicas (mirrored or
    multi-worker, or built under a caller's strategy): the probe then cannot run."""
    import tensorflow as tf

    return any(isinstance(w.value, tf.distribute.DistributedValues) for w in model.weights)


def probe_batch(x: np.ndarray, labels: np.ndarray | None, size: int, seed: int):
    """(images, labels or None): ``size`` training examples (all of them when fewer) drawn once
    without replacement by ``seed``, in their dataset order: the batch a run's noise is measured on."""
    chosen = np.sort(np.random.default_rng(seed).choice(len(x), min(size, len(x)), replace=False))
    return x[chosen], (None if labels is None else labels[chosen])


_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gradient_noise(model, x, labels=None, samples: int = DEFAULT_SAMPLES) -> GradientNoiseResult:
    """The encoder's gradient noise on the batch x (labels for a conditional model) from
    ``samples`` estimates; the compiled probe is kept per model, so repeated calls do not retrace."""
    probes = _PROBES.setdefault(model, {})
    if samples not in probes:
        probes[samples] = GradientProbe(model, samples)
    return probes[samples].measure(x, labels)


def _flat(grad, weight):
    """A gradient as a vector; zeros for a weight the surrogate does not depend on."""
    import tensorflow as tf

    return tf.reshape(tf.zeros_like(weight) if grad is None else tf.cast(grad, "float32"), [-1])
