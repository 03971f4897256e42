"""Make the latent-space pictures of docs/img from short runs on the bundled digits.

Trains (seeded, about a minute in all on 2 CPU cores) a 2-D VAE, an 8-D VAE, an 8-D AE and a
CVAE on the 8x8 ``digits``, then writes
  manifold-vae2d-digits.png   the 2-D manifold at Gaussian quantiles (Kingma & Welling Fig. 4)
  cvae-style-rows.png         one z per row, one class per column
  traverse-vae-digits.png     one row per latent dimension, -3..3 (active units move, the rest don't)
  ae-vs-vae-prior-samples.png the AE and the VAE decoding the same N(0, I) draws, side by side
  interpolate-slerp.gif       an interpolation between two test digits
Usage: python benchmarks/figures.py [--out docs/img] [--epochs 30]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from kgen.config import AEConfig, RunConfig, TrainConfig, VAEConfig
from kgen.eval import latent
from kgen.models.sampling import grid_codes, latent_noise
from kgen.models.saving import load_model_file
from kgen.pictures import display_scale, image_grid, save_gif, save_png
from kgen.train.training import load_training_data, train

SCALE = display_scale(8)


def trained(model: str, config, epochs: int, root: Path):
    run = train(RunConfig(TrainConfig(model=model, epochs=epochs), config), root / model / str(config.latent_dim),
                verbose=0)
    return load_model_file(run.run.model_path)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 12) -> np.ndarray:
    """Two uint8 pictures of equal height next to each other with a white gap."""
    spacer = np.full((left.shape[0], gap, left.shape[2]), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    data = load_training_data(RunConfig())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        vae2 = trained("vae", VAEConfig(latent_dim=2), args.epochs, root)
        vae8 = trained("vae", VAEConfig(latent_dim=8), args.epochs, root)
        ae8 = trained("ae", AEConfig(latent_dim=8), args.epochs, root)
        cvae = trained("cvae", VAEConfig(latent_dim=8), args.epochs, root)

    save_png(image_grid(latent.manifold_grid(vae2, n=15), 15), args.out / "manifold-vae2d-digits.png", SCALE)
    z, labels = grid_codes(cvae, rows=8, seed=1)
    save_png(image_grid(latent.decode_codes(cvae, z, labels), 10), args.out / "cvae-style-rows.png", SCALE)
    save_png(image_grid(latent.traverse(vae8), 9), args.out / "traverse-vae-digits.png", SCALE)
    z = latent_noise(64, 8, seed=7)
    pictures = [image_grid(latent.decode_codes(m, z), 8) for m in (ae8, vae8)]
    save_png(side_by_side(*pictures), args.out / "ae-vs-vae-prior-samples.png", SCALE)
    frames = latent.interpolate_images(vae8, data.x_test[0], data.x_test[7], steps=16, method="slerp")
    save_gif(frames, args.out / "interpolate-slerp.gif", duration_ms=120, scale=SCALE)
    units = latent.active_units(vae8, data.x_test)
    print(f"8-D VAE: {units.count} active units; KL per dimension (nats):",
          np.round(latent.kl_per_dimension(vae8, data.x_test), 3).tolist())
    print(f"wrote 5 pictures to {args.out}/")


if __name__ == "__main__":
    main()
