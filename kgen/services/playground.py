"""The GAN playground's numbers: what D and G look like on a 2-D toy, probed while training.

`playground_snapshot` is a pure function of a GAN on 2-D points: the discriminator's
probability over a grid, the generated points of a fixed noise, for each point the way the
generator's loss pushes it, and a grid of noise values carried through G with the density each
of its cells carries (`kgen.services.generator_mesh`). `PlaygroundProbe` takes one every few steps inside the training
thread and hands NumPy copies to a sink (for example a queue's ``put``), as GAN Lab shows them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
from keras import ops

from kgen.events import Event, Playground
from kgen.models.gan import GAN
from kgen.models.sampling import latent_noise
from kgen.services.generator_mesh import (
    MESH_CELLS,
    cell_density,
    cell_mass,
    mesh_note,
    noise_grid,
    noise_plane,
)
from kgen.services.paced_probe import PacedProbe

GRID_RESOLUTION = 48  # the heat map is this many cells a side (64 costs ~1.5x the time)
PROBE_POINTS = 200  # generated points (one fixed z each) shown with their arrows
REAL_POINTS = 1000  # real points sent along for display
PROBE_EVERY = 10  # steps between snapshots
MAX_SHARE = 0.05  # snapshots may take at most about this share of the training thread's time
BOX_MARGIN = 0.25  # the box reaches this fraction of the data's half-extent beyond it


def data_box(points: np.ndarray, margin: float = BOX_MARGIN) -> np.ndarray:
    """A square [x0, x1, y0, y1] centred on the points, ``margin`` wider than their extent."""
    low, high = points.min(axis=0), points.max(axis=0)
    centre, half = (low + high) / 2, max(float((high - low).max()) / 2, 1e-3) * (1 + margin)
    return np.array([centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half], np.float32)


def grid_points(box: np.ndarray, resolution: int = GRID_RESOLUTION) -> np.ndarray:
    """The centres of a resolution x resolution grid of cells over ``box``, (resolution**2, 2).

    Row-major with y rising: point ``r * resolution + c`` is the centre of row r, column c.
    """
    x0, x1, y0, y1 = (float(v) for v in box)
    xs = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    ys = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def snapshot_tensors(gan: GAN, grid, noise, mesh_noise):
    """(D(grid), G(noise), minus the generator loss's gradient at each G(noise), G(mesh_noise)):
    the playground's one TensorFlow pass, as tensors; `PlaygroundProbe` compiles it with ``tf.function``."""
    d_values = gan.point_logits(grid)  # with PacGAN's packs: D of m copies of each grid point
    d_grid = d_values if gan.critic else ops.sigmoid(d_values)  # a critic's value has no probability
    mesh = ops.cast(gan.generator(mesh_noise, training=False), "float32")
    generated = ops.cast(gan.generator(noise, training=False), "float32")  # float32 under any dtype policy
    with tf.GradientTape() as tape:
        tape.watch(generated)
        fake_logits = gan.point_logits(generated)
        # The losses are batch means; times N, each point's gradient is that of its own term.
        loss = gan.generator_loss_value(fake_logits) * ops.cast(ops.shape(noise)[0], "float32")
    return d_grid, generated, -tape.gradient(loss, generated), mesh


def playground_snapshot(
    gan: GAN,
    noise: np.ndarray,
    box: np.ndarray,
    resolution: int = GRID_RESOLUTION,
    previous: np.ndarray | None = None,
    compute: Callable = snapshot_tensors,
    mesh_cells: int = MESH_CELLS,
    mesh_grid: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """D and G of a GAN on 2-D points, as NumPy arrays.

    - ``d_grid`` (resolution, resolution): D(x) = sigmoid(logit), the probability of "real", on
      `grid_points` (row r, column c); for a Wasserstein critic (``gan.critic``) its value D(x);
    - ``generated`` (N, 2): G(noise);
    - ``descent`` (N, 2): minus the gradient of the generator loss with respect to each
      generated point, the direction the generator is pushed there (GAN Lab's arrows);
    - ``moves`` (N, 2): how far each point moved since ``previous`` (zeros without it);
    - ``mesh`` (rows, mesh_cells + 1, 2): G of `noise_grid`'s vertices, the warped noise grid;
    - ``mesh_density`` (rows - 1, mesh_cells): each cell's noise mass over the area of its image.

    ``compute`` is `snapshot_tensors` or a compiled version of it; ``mesh_grid`` the run's fixed
    (`noise_grid`, `cell_mass`) of ``mesh_cells`` (made here when not given).
    """
    if not isinstance(gan, GAN) or not gan.points or gan.num_classes:
        raise ValueError("the playground needs an unconditional GAN on 2-D points")
    mesh_z, mass = mesh_grid or (noise_grid(gan.latent_dim, mesh_cells), cell_mass(gan.latent_dim, mesh_cells))
    d_grid, generated, descent, mesh = compute(gan, grid_points(box, resolution), np.asarray(noise, np.float32),
                                               mesh_z.reshape(-1, gan.latent_dim))
    generated = np.asarray(generated, np.float32)
    mesh = np.asarray(mesh, np.float32).reshape(*mesh_z.shape[:2], 2)
    moves = np.zeros_like(generated) if previous is None else generated - previous
    return {"box": np.asarray(box, np.float32),
            "d_grid": np.asarray(d_grid, np.float32).reshape(resolution, resolution),
            "generated": generated, "descent": np.asarray(descent, np.float32), "moves": moves,
            "mesh": mesh, "mesh_density": cell_density(mesh, mass),
            "critic": bool(gan.critic)}


class PlaygroundProbe(PacedProbe):
    """Every ``every`` steps, a `playground_snapshot` event handed to ``sink``, paced as
    `PacedProbe` says (``max_share``, ``min_seconds``, ``stepping``).

    Events: `kgen.events.Playground` records (step, epoch, real, the snapshot's arrays, and the
    run's fixed noise and noise grid in the z plane with the grid cells' masses, for the view's
    z -> G(z) animation); the first comes before the first batch, the last after it.
    """

    def __init__(
        self,
        sink: Callable[[Event], None],
        real_points: np.ndarray,
        every: int = PROBE_EVERY,
        *,
        points: int = PROBE_POINTS,
        resolution: int = GRID_RESOLUTION,
        seed: int = 0,
        max_share: float | None = MAX_SHARE,
        min_seconds: float = 0.0,
        stepping: Callable[[], bool] | None = None,
    ):
        super().__init__(every=every, min_seconds=min_seconds, max_share=max_share, stepping=stepping,
                         first_before_training=True)
        self.sink, self.resolution = sink, int(resolution)
        self.real = np.array(real_points[:REAL_POINTS], np.float32)
        self.real.setflags(write=False)  # one array shared by every event: nobody may change it
        self.box = data_box(np.asarray(real_points))
        self.points, self.seed = int(points), int(seed)
        self.noise: np.ndarray | None = None
        self.fixed: dict = {}  # read-only arrays the same for the whole run: where the noise lies
        self._mesh_grid: tuple[np.ndarray, np.ndarray] | None = None
        self._previous: np.ndarray | None = None
        self._compute: Callable = snapshot_tensors

    def on_train_begin(self, logs=None):
        latent_dim = self.model.latent_dim
        self.noise = latent_noise(self.points, latent_dim, self.seed)
        self._mesh_grid = (noise_grid(latent_dim), cell_mass(latent_dim))  # the same for every snapshot
        self.fixed = {"noise": noise_plane(self.noise), "mesh_noise": noise_plane(self._mesh_grid[0]),
                      "mesh_mass": self._mesh_grid[1].astype(np.float32)}
        for array in self.fixed.values():
            array.setflags(write=False)
        self.fixed["mesh_note"] = mesh_note(latent_dim)
        self._compute = tf.function(snapshot_tensors)  # traced once: 2-3x faster than eager

    def take(self, step: int) -> None:
        snapshot = playground_snapshot(self.model, self.noise, self.box, self.resolution, self._previous,
                                       self._compute, mesh_grid=self._mesh_grid)
        self._previous = snapshot["generated"]
        self.sink(Playground(step=int(step), epoch=self._epoch + 1, real=self.real, **self.fixed, **snapshot))
