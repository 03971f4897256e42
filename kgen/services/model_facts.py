"""Facts about model kinds that the window needs without importing TensorFlow.

`kgen.models` holds the same facts on its Keras classes; tests/test_window_imports.py keeps the
two equal for every kind.
"""

from __future__ import annotations

_VAE = ("loss", "reconstruction", "kl")
_GAN = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")
STEP_METRICS: dict[str, tuple[str, ...]] = {"ae": ("loss", "reconstruction"), "vae": _VAE, "cvae": _VAE,
                                            "gan": _GAN, "dcgan": _GAN, "cgan": _GAN}


def step_metrics(kind: str) -> tuple[str, ...]:
    """The metrics a model of ``kind`` reports at every training step (what its curves show)."""
    return STEP_METRICS[kind]
