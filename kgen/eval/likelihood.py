"""Likelihood evaluation of VAEs in nats: the test ELBO and the importance-weighted bound.

IWAE-k (Burda et al. 2015) is log (1/k) sum_i p(x, z_i) / q(z_i | x) with z_i ~ q(z|x); it is a
lower bound on log p(x) that rises with k, equals the one-sample ELBO in expectation at k = 1, and
with k = 5000 is the estimate the literature reports as "NLL".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from keras import ops

from kgen.models import losses

# Largest number of decoded images held at once while estimating the bound.
_DECODE_BUDGET = 4096
# The k of the bound-over-k curve, up to the largest one asked for.
CURVE_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
CURVE_IMAGES = 50  # test images a pass of the curve takes: progress is reported after each


def binarize_fixed(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """One seeded Bernoulli draw of every pixel: the fixed binary test set for binarising models."""
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype("float32")


def evaluation_images(model, x: np.ndarray, seed: int = 0) -> np.ndarray:
    """The images the model's likelihood is defined on (binary for binarising models)."""
    x = np.asarray(x, dtype="float32")
    return binarize_fixed(x, seed) if getattr(model, "binarize", False) else x


def _batches(x: np.ndarray, labels: np.ndarray | None, size: int):
    """(images, labels or None) in slices of ``size``."""
    for start in range(0, len(x), size):
        yield x[start : start + size], None if labels is None else labels[start : start + size]


def log_weights(model, x: np.ndarray, k: int, seed: int = 0, labels: np.ndarray | None = None) -> np.ndarray:
    """log p(x, z_i) - log q(z_i|x) for k draws z_i per image: float64 array (N, k).

    Each draw is the model's own (``sample_terms``): z = mu + sigma * eps for a VAE, all T
    latents of the recurrence for DRAW."""
    rng = np.random.default_rng(seed)
    step = _log_weight_step(model)
    rows = []
    images_per_pass = max(1, _DECODE_BUDGET // k)
    samples_per_pass = min(k, _DECODE_BUDGET)
    for xb, lb in _batches(x, labels, images_per_pass):
        lb = np.zeros(len(xb), "int32") if lb is None else lb.astype("int32")
        chunks = []
        for done in range(0, k, samples_per_pass):
            kc = min(samples_per_pass, k - done)
            eps = rng.standard_normal((len(xb), kc, model.latent_dim)).astype("float32")
            chunks.append(step(xb, lb, eps, kc).numpy())
        rows.append(np.concatenate(chunks, axis=1))
    return np.concatenate(rows).astype("float64")


def draws_per_image(model) -> bool:
    """True when the model's ``sample_terms`` takes ``draws``: it encodes each image once for all
    its draws (a VAE); otherwise (DRAW, the binary VAE) each image is repeated once per draw."""
    return "draws" in inspect.signature(model.sample_terms).parameters


def _log_weight_step(model):
    encodes_once = draws_per_image(model)

    @tf.function(reduce_retracing=True)
    def step(x, labels, eps, kc: int):
        batch, dim = tf.shape(eps)[0], tf.shape(eps)[2]
        labels = labels if model.num_classes else None
        eps = tf.reshape(eps, (-1, dim))  # image-major: the kc draws of the first image, then the next's
        if encodes_once:
            terms = model.sample_terms(x, labels, eps, draws=kc)
        else:
            labels = None if labels is None else tf.repeat(labels, kc, axis=0)
            terms = model.sample_terms(tf.repeat(x, kc, axis=0), labels, eps)
        return tf.reshape(terms["log_px_z"] + terms["log_pz"] - terms["log_qz"], (batch, kc))

    return step


def importance_weighted_bound(
    model, x: np.ndarray, k: int, seed: int = 0, labels: np.ndarray | None = None
) -> np.ndarray:
    """IWAE-k lower bound on log p(x) (log p(x|y) when conditional) per image, in nats."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return np.asarray(losses.iwae_bound(ops.convert_to_tensor(log_weights(model, x, k, seed, labels))))


def elbo_parts(
    model, x: np.ndarray, seed: int = 0, labels: np.ndarray | None = None, batch_size: int = 512
) -> dict[str, float]:
    """Mean test ELBO with the analytic KL and one reparameterised sample, and its two parts."""
    rng = np.random.default_rng(seed)
    recon, kl = [], []
    for xb, lb in _batches(x, labels, batch_size):
        eps = rng.standard_normal((len(xb), model.latent_dim)).astype("float32")
        terms = model.sample_terms(xb, lb, eps)
        recon.append(-np.asarray(terms["log_px_z"]))
        kl.append(np.asarray(terms["kl"]))
    recon_mean, kl_mean = float(np.concatenate(recon).mean()), float(np.concatenate(kl).mean())
    return {"elbo": -(recon_mean + kl_mean), "reconstruction": recon_mean, "kl": kl_mean}


def reconstruction_nll(model, x: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 512) -> float:
    """Mean -log p(x | z = encoding of x): the autoencoder's test loss, in nats."""
    values = [
        -np.asarray(model.log_likelihood(xb, model.decoder_params(model.encode(xb, lb)[0], lb)))
        for xb, lb in _batches(x, labels, batch_size)
    ]
    return float(np.concatenate(values).mean())


def evaluate_model(
    model, x: np.ndarray, labels: np.ndarray | None = None, ks: tuple[int, ...] = (), seed: int = 0
) -> dict[str, float]:
    """Test scores in nats: the ELBO and IWAE-k for each k for VAEs, the reconstruction for AEs."""
    x = evaluation_images(model, x, seed)
    if not model.variational:  # a deterministic autoencoder has no bound on log p(x)
        return {"reconstruction": reconstruction_nll(model, x, labels)}
    result = elbo_parts(model, x, seed, labels)
    for k in ks:
        result[f"iwae_{k}"] = float(importance_weighted_bound(model, x, k, seed, labels).mean())
    return result


def curve_ks(largest: int) -> tuple[int, ...]:
    """The k of a curve up to ``largest``: those of `CURVE_KS` below it, and it."""
    if largest < 1:
        raise ValueError(f"the largest k must be >= 1, got {largest}")
    return tuple(k for k in CURVE_KS if k < largest) + (largest,)


def group_bounds(log_w: np.ndarray, k: int) -> np.ndarray:
    """IWAE-k of each of the K // k disjoint groups of k draws (the remainder unused), from (N, K)
    log weights: (N, K // k)."""
    groups = log_w.shape[1] // k
    if groups < 1:
        raise ValueError(f"k = {k} needs at least {k} log weights per image, got {log_w.shape[1]}")
    grouped = log_w[:, : groups * k].reshape(len(log_w), groups, k)
    peak = grouped.max(axis=2, keepdims=True)
    return np.log(np.mean(np.exp(grouped - peak), axis=2)) + peak[..., 0]


def grouped_bounds(log_w: np.ndarray, k: int) -> np.ndarray:
    """IWAE-k per image from (N, K) log weights: the mean of `group_bounds`, a lower-variance
    estimate than one group."""
    return group_bounds(log_w, k).mean(axis=1)


def iwae_curve(
    model, x: np.ndarray, largest_k: int, seed: int = 0, labels: np.ndarray | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, float]:
    """IWAE-k on images ``x`` for every k of `curve_ks` (largest_k), in nats: ``iwae_<k>`` (the
    test mean) and ``iwae_se_<k>`` (its standard error over images). Every k reuses the same
    largest_k draws per image (`grouped_bounds`); ``progress`` hears the share of images done."""
    ks = curve_ks(largest_k)
    x = evaluation_images(model, x, seed)
    per_image = {k: [] for k in ks}
    for start in range(0, len(x), CURVE_IMAGES):
        part = slice(start, start + CURVE_IMAGES)
        log_w = log_weights(model, x[part], largest_k, seed + start, None if labels is None else labels[part])
        for k in ks:
            per_image[k].append(grouped_bounds(log_w, k))
        if progress is not None:
            progress(min(1.0, (start + CURVE_IMAGES) / len(x)))
    result = {}
    for k, parts in per_image.items():
        values = np.concatenate(parts)
        result[f"iwae_{k}"] = float(values.mean())
        result[f"iwae_se_{k}"] = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return result
