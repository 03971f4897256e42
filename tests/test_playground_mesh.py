"""The generator as a distribution transformer: the noise grid carried through G, its cells'
densities against closed forms, the probe's event, and the playground's mesh view and animation."""

import math

import keras
import numpy as np
import pytest

from kgen.config import GANConfig, RunConfig, TrainConfig
from kgen.data import toy_points
from kgen.models import build_model
from kgen.services.generator_mesh import (
    Z_EXTENT,
    cell_density,
    cell_mass,
    grid_edges,
    mesh_note,
    noise_grid,
    noise_plane,
    quad_areas,
)

BOX_MASS = math.erf(Z_EXTENT / math.sqrt(2)) ** 2  # P(z in [-3, 3]^2) for z ~ N(0, I_2)


def gaussian_pdf(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    d = x - mean
    inverse = np.linalg.inv(cov)
    return np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, inverse, d)) / (2 * np.pi * math.sqrt(np.linalg.det(cov)))


def test_noise_grid_is_regular_over_the_box_and_a_slice_beyond_two_dims():
    grid = noise_grid(2, cells=4)
    assert grid.shape == (5, 5, 2)
    np.testing.assert_allclose(grid[0, :, 0], [-3, -1.5, 0, 1.5, 3])  # z1 along a row
    np.testing.assert_allclose(grid[:, 0, 1], [-3, -1.5, 0, 1.5, 3])  # z2 rises with the row
    wide = noise_grid(5, cells=4)
    assert wide.shape == (5, 5, 5) and not wide[..., 2:].any()
    np.testing.assert_array_equal(noise_plane(wide), grid)
    line = noise_grid(1, cells=4)
    assert line.shape == (1, 5, 1)
    np.testing.assert_allclose(noise_plane(line)[0], [[-3, 0], [-1.5, 0], [0, 0], [1.5, 0], [3, 0]])
    assert "slice" in mesh_note(5) and "curve" in mesh_note(1) and "slice" not in mesh_note(2)
    with pytest.raises(ValueError, match="cells >= 1"):
        grid_edges(0)


def test_cell_masses_are_the_normal_probabilities_of_the_cells():
    np.testing.assert_allclose(cell_mass(2, cells=1), [[BOX_MASS]])
    np.testing.assert_allclose(cell_mass(2, cells=2), np.full((2, 2), BOX_MASS / 4))  # four symmetric quarters
    mass = cell_mass(2, cells=20)
    assert mass.sum() == pytest.approx(BOX_MASS, rel=1e-12)
    # The cell [0, 0.3]^2 against the one-dimensional closed form, squared.
    assert mass[10, 10] == pytest.approx((math.erf(0.3 / math.sqrt(2)) / 2) ** 2, rel=1e-12)
    assert cell_mass(1, cells=20).shape == (0, 20)


def test_quad_areas_of_squares_parallelograms_and_a_flattened_cell():
    unit = noise_plane(noise_grid(2, cells=6, extent=3.0))  # cells of side 1
    np.testing.assert_allclose(quad_areas(unit), np.ones((6, 6)))
    shear = np.array([[2.0, 1.0], [0.0, 0.5]])
    np.testing.assert_allclose(quad_areas(unit @ shear.T), np.ones((6, 6)))  # |det| = 1
    flat = unit.copy()
    flat[..., 1] = 0.0
    np.testing.assert_allclose(quad_areas(flat), 0.0)
    assert np.isfinite(cell_density(flat, cell_mass(2, cells=6))).all()


def test_an_affine_generator_pushes_the_grid_to_its_image_and_the_density_to_the_gaussian():
    a, b = np.array([[1.5, 0.4], [-0.3, 0.8]]), np.array([0.5, -1.0])
    z = noise_plane(noise_grid(2, cells=60)).astype(np.float64)
    mesh = z @ a.T + b
    density = cell_density(mesh, cell_mass(2, cells=60))
    # Mass over area: exact cell by cell ...
    cell_area = (2 * Z_EXTENT / 60) ** 2 * abs(np.linalg.det(a))
    np.testing.assert_allclose(density, cell_mass(2, cells=60) / cell_area, rtol=1e-5)
    # ... and, for small cells, the density of N(b, A A^T) at the image of each cell's centre.
    centres = (mesh[1:, 1:] + mesh[:-1, :-1]) / 2
    np.testing.assert_allclose(density, gaussian_pdf(centres, b, a @ a.T), rtol=0.01)
    # The densities integrate back to the box's mass.
    assert float((density * quad_areas(mesh)).sum()) == pytest.approx(BOX_MASS, rel=1e-5)


# --- the snapshot and the probe ------------------------------------------------------------

@pytest.fixture(scope="module")
def gan():
    keras.utils.set_random_seed(0)
    return build_model(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(hidden=(16,))), (2,))


def test_the_snapshot_carries_the_grid_through_g_in_its_one_pass(gan):
    from kgen.services.playground import data_box, playground_snapshot

    noise = np.zeros((3, 2), np.float32)
    ring8 = toy_points("ring8", 64, seed=0)
    calls = []

    def counting(*args):
        from kgen.services.playground import snapshot_tensors
        calls.append(1)
        return snapshot_tensors(*args)

    snap = playground_snapshot(gan, noise, data_box(ring8), resolution=4, compute=counting, mesh_cells=6)
    assert len(calls) == 1 and snap["mesh"].shape == (7, 7, 2) and snap["mesh_density"].shape == (6, 6)
    expected = np.asarray(gan.generator(noise_grid(2, 6).reshape(-1, 2))).reshape(7, 7, 2)
    np.testing.assert_allclose(snap["mesh"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(snap["mesh_density"], cell_density(expected, cell_mass(2, 6)), rtol=1e-4)
    line_gan = build_model(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(hidden=(8,), latent_dim=1)), (2,))
    line = playground_snapshot(line_gan, np.zeros((3, 1), np.float32), data_box(ring8), resolution=4, mesh_cells=6)
    assert line["mesh"].shape == (1, 7, 2) and line["mesh_density"].shape == (0, 6)  # a curve, no cells


def test_the_probe_sends_the_mesh_and_where_the_noise_lies(gan):
    from kgen.services.playground import PlaygroundProbe

    ring8 = toy_points("ring8", 640, seed=0)
    model = build_model(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(hidden=(16,), latent_dim=3)), (2,))
    events = []
    probe = PlaygroundProbe(events.append, ring8, every=5, points=30, resolution=4, max_share=None)
    model.fit(ring8, batch_size=64, epochs=1, callbacks=[probe], verbose=0)
    first, last = events[0], events[-1]
    assert last["mesh"].shape == (21, 21, 2) and last["mesh_density"].shape == (20, 20)
    assert last["noise"].shape == (30, 2) and last["mesh_noise"].shape == (21, 21, 2)
    np.testing.assert_array_equal(last["noise"], probe.noise[:, :2])  # the slice through z1, z2
    assert not last["noise"].flags.writeable and not last["mesh_mass"].flags.writeable
    assert last["mesh_mass"].sum() == pytest.approx(BOX_MASS, rel=1e-6)
    assert "slice" in last["mesh_note"]
    np.testing.assert_allclose(last["mesh_density"], cell_density(last["mesh"], last["mesh_mass"]), rtol=1e-5)
    assert np.abs(last["mesh"] - first["mesh"]).max() > 1e-5  # training moved the mesh


# --- the view ------------------------------------------------------------------------------

def mesh_event(step: int = 1, shift: float = 0.0) -> dict:
    """A playground event of an affine generator x = 0.5 z + shift, drawn over the box [-2, 2]^2."""
    z = noise_plane(noise_grid(2))
    noise = np.random.default_rng(0).standard_normal((50, 2)).astype(np.float32)
    mesh = 0.5 * z + shift
    mass = cell_mass(2).astype(np.float32)
    return {"type": "playground", "step": step, "epoch": 1, "box": np.array([-2, 2, -2, 2], np.float32),
            "real": noise[:10], "d_grid": np.full((8, 8), 0.5, np.float32), "generated": 0.5 * noise + shift,
            "descent": np.ones((50, 2), np.float32), "moves": np.zeros((50, 2), np.float32),
            "noise": noise, "mesh_noise": z, "mesh": mesh, "mesh_mass": mass,
            "mesh_density": cell_density(mesh, mass), "mesh_note": mesh_note(2)}


def test_the_view_switches_between_heat_map_and_mesh(show_snapshot):
    from PySide6.QtCore import QPointF

    from gui.playground_view import BACKDROPS, MESH_LEGEND, PlaygroundView

    view = show_snapshot(PlaygroundView(), mesh_event())
    assert view.heat.isVisible() and not view.mesh.isVisible()
    view.backdrop.setCurrentText(BACKDROPS[1])
    assert view.mesh.isVisible() and not view.heat.isVisible()
    assert view.mesh.z.shape == (20, 20)
    assert view.legend.getLabel(view.mesh_layer.lines).text == MESH_LEGEND
    np.testing.assert_allclose(view.mesh.x, mesh_event()["mesh"][..., 0])
    # Cells are coloured by log10 density; the scale's label says so.
    np.testing.assert_allclose(view.mesh.z, np.log10(mesh_event()["mesh_density"]), rtol=1e-5)
    assert "density" in view.colour_bar.getAxis("left").labelText
    assert "z in" in view.status.text()
    # Hovering reads the density under the mouse: here x = 0.5 z, so 4 N(z; 0, I) at z = 2x.
    at = view.plot.getPlotItem().vb.mapViewToScene(QPointF(0.21, -0.13))
    view._on_mouse(at)
    expected = 4 * gaussian_pdf(np.array([0.42, -0.26]), np.zeros(2), np.eye(2))
    shown = float(view.readout.text().rsplit(": ", 1)[1])
    assert shown == pytest.approx(expected, rel=0.05) and "(0.21, -0.13)" in view.readout.text()
    view.backdrop.setCurrentText(BACKDROPS[2])
    view._on_mouse(at)
    assert view.readout.text() == ""
    assert not view.mesh.isVisible() and not view.heat.isVisible()
    assert view.legend.getLabel(view.mesh_layer.lines) is None
    view.backdrop.setCurrentText(BACKDROPS[0])
    assert "D(x)" in view.colour_bar.getAxis("left").labelText


def test_the_animation_moves_points_and_mesh_from_z_to_g_of_z(qtbot, show_snapshot):
    from gui.playground_view import BACKDROPS, PlaygroundView

    event = mesh_event()
    view = show_snapshot(PlaygroundView(), event)
    view.backdrop.setCurrentText(BACKDROPS[1])
    assert view.animate_button.isEnabled()
    view.animate_button.click()
    assert view.animating
    view.show_transform(0.0)  # the start: points at their z, the regular grid, the normal's density
    np.testing.assert_allclose(np.column_stack(view.fake.getData()), event["noise"], atol=1e-6)
    np.testing.assert_allclose(view.mesh.x, event["mesh_noise"][..., 0], atol=1e-6)
    np.testing.assert_allclose(10 ** view.mesh.z, cell_density(event["mesh_noise"], event["mesh_mass"]), rtol=1e-4)
    view.show_transform(0.5)
    np.testing.assert_allclose(np.column_stack(view.fake.getData()), 0.75 * event["noise"], atol=1e-6)
    view.add_snapshot(mesh_event(step=2, shift=1.0))  # a live snapshot waits until the animation ends
    view.flush()
    np.testing.assert_allclose(np.column_stack(view.fake.getData()), 0.75 * event["noise"], atol=1e-6)
    qtbot.waitUntil(lambda: not view.animating, timeout=5000)
    assert view.snapshot["step"] == 2  # then the newest is drawn
    np.testing.assert_allclose(np.column_stack(view.fake.getData()), 0.5 * event["noise"] + 1.0, atol=1e-6)
    np.testing.assert_allclose(view.mesh.x, event["mesh"][..., 0] + 1.0, atol=1e-6)


def test_the_mesh_layer_draws_rows_and_columns_on_a_decade_scale_and_restyles_for_the_projector(show_snapshot):
    from gui import theme
    from gui.playground_mesh import LINE_WIDTH, decade_ticks, density_levels, grid_lines
    from gui.playground_view import BACKDROPS, PlaygroundView

    xs, ys = grid_lines(noise_plane(noise_grid(2, cells=2)))
    assert xs.size == (3 + 3) * 4 and np.isnan(xs[3::4]).all()  # 3 rows and 3 columns of 3 vertices, NaN-broken
    np.testing.assert_allclose(ys[:3], [-3, -3, -3])  # the first row, z2 = -3
    np.testing.assert_allclose(xs[12:15], [-3, -3, -3])  # the first column, z1 = -3
    xs, ys = grid_lines(noise_plane(noise_grid(1, cells=4)))  # a 1-D noise: one unbroken line
    assert xs.size == 5 and not np.isnan(xs).any()
    assert density_levels(np.array([0, 2, 0, 5])) == pytest.approx((-1 - 2.0, -1 + 3.0))  # around 1 / area 10
    assert decade_ticks((-2.5, 1.2)) == [(-2.0, "10⁻²"), (-1.0, "10⁻¹"), (0.0, "10⁰"), (1.0, "10¹")]

    view = show_snapshot(PlaygroundView(), mesh_event())
    view.backdrop.setCurrentText(BACKDROPS[1])
    assert view.colour_bar.levels() == pytest.approx(density_levels(mesh_event()["box"]))
    assert view.mesh.getLevels() == pytest.approx(view.colour_bar.levels())
    view.set_look(theme.PROJECTOR_LOOK)
    assert view.mesh_layer.lines.opts["pen"].widthF() == pytest.approx(2 * LINE_WIDTH)
    assert view.mesh.isVisible() and "density" in view.colour_bar.getAxis("left").labelText


def test_a_one_dimensional_noise_draws_a_curve_without_cells(qtbot):
    from gui.playground_view import BACKDROPS, PlaygroundView

    z = noise_plane(noise_grid(1))
    event = {**mesh_event(), "mesh_noise": z, "mesh": 0.5 * z, "mesh_mass": cell_mass(1).astype(np.float32),
             "mesh_density": np.zeros((0, 20), np.float32), "mesh_note": mesh_note(1)}
    view = PlaygroundView()
    qtbot.addWidget(view)
    view.backdrop.setCurrentText(BACKDROPS[1])
    view.add_snapshot(event)
    view.flush()
    assert view.mesh_layer.lines.isVisible() and not view.mesh.isVisible()
    assert view.mesh_layer.lines.getData()[0].size == 21 and "curve" in view.status.text()
    view.animate()
    view.show_transform(0.5)
    np.testing.assert_allclose(view.mesh_layer.lines.getData()[0], 0.75 * z[0, :, 0], atol=1e-6)


def test_density_at_a_point_is_the_cells_covering_it_summed_over_folds():
    from kgen.services.generator_mesh import density_at

    a, b = np.array([[1.5, 0.4], [-0.3, 0.8]]), np.array([0.5, -1.0])
    mesh = noise_plane(noise_grid(2, cells=60)).astype(np.float64) @ a.T + b
    density = cell_density(mesh, cell_mass(2, cells=60))
    for z in ([0.05, 0.05], [0.45, -0.35], [-1.25, -2.15]):  # inside cells, off the grid's lines
        x = a @ np.array(z) + b
        assert density_at(x, mesh, density) == pytest.approx(gaussian_pdf(x, b, a @ a.T), rel=0.03)
    assert density_at(np.array([50.0, 50.0]), mesh, density) == 0.0  # outside the image of the box
    # G(z) = (|z1|, z2) folds the plane along z1 = 0: each covered point has two preimages.
    grid = noise_plane(noise_grid(2, cells=60)).astype(np.float64)
    folded = np.stack([np.abs(grid[..., 0]), grid[..., 1]], -1)
    fold_density = cell_density(folded, cell_mass(2, cells=60))
    x = np.array([1.05, 0.3])  # away from cell edges
    expected = 2 * gaussian_pdf(np.array([1.05, 0.3]), np.zeros(2), np.eye(2))
    assert density_at(x, folded, fold_density) == pytest.approx(expected, rel=0.02)
