"""The generator as a distribution transformer: a regular grid of noise values carried through G.

A grid over the noise's high-probability square, z in [-3, 3]^2, is drawn in data space as the
warped mesh G makes of it; each cell carries the probability mass of its z cell (exact, from the
normal CDF), so mass over the area of its image is the density G puts there. Pure NumPy, so the
window (which never imports TensorFlow) can recompute densities while it animates the mesh.
"""

from __future__ import annotations

import math

import numpy as np

MESH_CELLS = 20  # cells a side: lines a projector still shows apart
Z_EXTENT = 3.0  # the grid spans [-Z_EXTENT, Z_EXTENT] in each noise dimension drawn
MIN_AREA = 1e-12  # a cell squeezed flat gets this area (its density is then huge, not infinite)


def grid_edges(cells: int = MESH_CELLS, extent: float = Z_EXTENT) -> np.ndarray:
    """The ``cells + 1`` equally spaced edge values of the grid along one noise dimension."""
    if cells < 1 or not extent > 0:
        raise ValueError(f"the mesh needs cells >= 1 and extent > 0, got {cells} and {extent}")
    return np.linspace(-extent, extent, cells + 1)


def noise_grid(latent_dim: int, cells: int = MESH_CELLS, extent: float = Z_EXTENT) -> np.ndarray:
    """The mesh's vertices in noise space, float32 (rows, cells + 1, latent_dim).

    Vertex [r, c] has z1 = edge c and z2 = edge r (rows rise in z2, as the heat map's); noise
    dimensions past the second are 0 (a slice). A 1-D noise gives one row: a line of z values.
    """
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
    edges = grid_edges(cells, extent)
    if latent_dim == 1:
        return edges.reshape(1, -1, 1).astype(np.float32)
    z1, z2 = np.meshgrid(edges, edges)
    grid = np.zeros((cells + 1, cells + 1, latent_dim), np.float32)
    grid[..., 0], grid[..., 1] = z1, z2
    return grid


def noise_plane(z: np.ndarray) -> np.ndarray:
    """Where noise values sit in the drawing's plane: (z1, z2), or (z1, 0) for a 1-D noise."""
    z = np.asarray(z, np.float32)
    if z.shape[-1] >= 2:
        return np.ascontiguousarray(z[..., :2])
    return np.concatenate([z[..., :1], np.zeros_like(z[..., :1])], axis=-1)


def normal_cdf(values: np.ndarray) -> np.ndarray:
    """Phi(v), the standard normal's cumulative distribution function, elementwise."""
    return np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in np.ravel(values)]).reshape(np.shape(values))


def cell_mass(latent_dim: int, cells: int = MESH_CELLS, extent: float = Z_EXTENT) -> np.ndarray:
    """Each grid cell's probability under N(0, I_2) on (z1, z2), (cells, cells); empty (0, cells)
    for a 1-D noise (a line has no cells). Exact: the product of two differences of Phi."""
    along = np.diff(normal_cdf(grid_edges(cells, extent)))
    if latent_dim == 1:
        return np.zeros((0, cells))
    return np.outer(along, along)  # [r, c]: z2 in row r's interval, z1 in column c's


def quad_areas(vertices: np.ndarray) -> np.ndarray:
    """Areas of the mesh's quadrilaterals, (rows - 1, cols - 1), from vertices (rows, cols, 2).

    Half the cross product of the two diagonals: exact for any simple quadrilateral; a cell that
    G folds over gets the net (signed, then absolute) area.
    """
    v = np.asarray(vertices, np.float64)
    d1 = v[1:, 1:] - v[:-1, :-1]
    d2 = v[1:, :-1] - v[:-1, 1:]
    return 0.5 * np.abs(d1[..., 0] * d2[..., 1] - d1[..., 1] * d2[..., 0])


def cell_density(vertices: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """The density each cell carries where it lands: its mass over the area of its quad, float32."""
    return (np.asarray(mass) / np.maximum(quad_areas(vertices), MIN_AREA)).astype(np.float32)


def density_at(point: np.ndarray, vertices: np.ndarray, densities: np.ndarray) -> float:
    """G's density at ``point`` as the mesh has it: the sum of the densities of the cells whose
    image covers it (a folded G covers a point more than once; nothing covers it: 0).

    Each cell is split along its (r, c)-(r+1, c+1) diagonal into two triangles, tested by the
    signs of their edge cross products (strictly: a point exactly on a grid line counts nowhere).
    """
    v = np.asarray(vertices, np.float64)
    p = np.asarray(point, np.float64)
    a, b, c, d = v[:-1, :-1], v[:-1, 1:], v[1:, 1:], v[1:, :-1]

    def inside(t0, t1, t2):
        cross = [(q[..., 0] - p[0]) * (r[..., 1] - p[1]) - (q[..., 1] - p[1]) * (r[..., 0] - p[0])
                 for q, r in ((t0, t1), (t1, t2), (t2, t0))]
        return ((cross[0] > 0) & (cross[1] > 0) & (cross[2] > 0)) | ((cross[0] < 0) & (cross[1] < 0) & (cross[2] < 0))

    covered = inside(a, b, c) | inside(a, c, d)
    return float(np.asarray(densities)[covered].sum())


def mesh_note(latent_dim: int) -> str:
    """What the mesh shows, in a few words for the view's status line."""
    span = f"[-{Z_EXTENT:g}, {Z_EXTENT:g}]"
    if latent_dim == 1:
        return f"z in {span} (1-D noise: G draws a curve, no area, no density)"
    if latent_dim == 2:
        return f"z in {span}²"
    return f"slice z1, z2 in {span}², the other {latent_dim - 2} noise dims at 0 (density of that slice)"
