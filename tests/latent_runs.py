"""Tiny trained digits VAEs shared by the latent explorer's tests: each is trained once a session."""

from __future__ import annotations

from pathlib import Path

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.train.training import train

_RUNS: dict[float, Path] = {}


def trained_vae_run(tmp_path_factory, beta: float) -> Path:
    """The run directory of a VAE trained 3 epochs on digits (about 2 s): 4-d latent, 32 hidden units.

    beta 1 uses every latent unit; beta 30 collapses them all to the prior.
    """
    if beta not in _RUNS:
        config = RunConfig(TrainConfig(model="vae", dataset="digits", epochs=3, batch_size=64, grid_size=2),
                           VAEConfig(latent_dim=4, hidden=(32,), beta=beta))
        _RUNS[beta] = train(config, tmp_path_factory.mktemp(f"vae-beta{beta:g}") / "run", verbose=0).run.path
    return _RUNS[beta]
