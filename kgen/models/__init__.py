"""The generative models, each a ``keras.Model`` with its own ``train_step`` and ``test_step``."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kgen.config import RunConfig
from kgen.errors import ConfigError
from kgen.models.ae import AE
from kgen.models.base import EncoderDecoder
from kgen.models.vae import CVAE, VAE
from kgen.nets import build_encoder_decoder

__all__ = ["AE", "CVAE", "VAE", "EncoderDecoder", "build_model"]


def build_model(config: RunConfig, image_shape: Sequence[int], num_classes: int = 0) -> keras.Model:
    """A new, compiled model of the kind ``config`` names, sized for ``image_shape``.

    ``num_classes`` is the number of labels for conditional models (the CVAE).
    """
    kind, m = config.train.model, config.model
    common = {"likelihood": m.likelihood, "sigma": m.sigma, "binarize": m.binarize,
              "seed": config.train.seed, "name": kind}
    if kind == "ae":
        model = AE(*build_encoder_decoder(image_shape, m, gaussian=False), **common)
    elif kind == "vae":
        model = VAE(*build_encoder_decoder(image_shape, m), beta=m.beta, **common)
    else:
        if num_classes < 2:
            raise ConfigError(f"the cvae needs a labelled dataset with >= 2 classes, got {num_classes}")
        nets = build_encoder_decoder(image_shape, m, num_classes=num_classes)
        model = CVAE(*nets, beta=m.beta, num_classes=num_classes, **common)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.train.lr))
    return model
