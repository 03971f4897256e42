"""The GAN playground tab: a GAN on a 2-D toy drawn as GAN Lab draws it, live while it trains.

The discriminator's D(x) is a heat map behind the real points (green) and the generated points
of a fixed noise (purple); arrows show, per generated point, minus the gradient of the generator
loss (where the game pushes it) or how far it moved since the last snapshot. Instead of the heat
map, G's mesh (a regular grid of noise values as G warps it, cells shaded by the density they
carry, `gui.playground_mesh`); "Animate" moves the points and the grid from z to G(z). Snapshots
come from `kgen.services.playground.PlaygroundProbe` through the bridge's ``playground`` signal.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEasingCurve, QRectF, QVariantAnimation
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.pacing import PacedSnapshots, Pacer
from gui.playground_mesh import DENSITY_MAP, MeshLayer, decade_ticks, density_levels
from kgen.services.generator_mesh import density_at

REAL_COLOUR, FAKE_COLOUR, ARROW_COLOUR = theme.PALETTE.real, theme.PALETTE.fake, theme.PALETTE.arrow
# D(x) from 0 (sure it is generated: pale purple) through 0.5 (undecided: white) to 1 (pale green).
HEAT_MAP = pg.ColorMap([0.0, 0.5, 1.0], list(theme.PALETTE.heat))
CRITIC_LABEL = "critic D(x): its value (WGAN-GP, 0 white)"
COLOUR_BAR_AXIS = 45  # pixels for the colour bar's ticks and label (pyqtgraph's own width)
ARROW_LENGTH = 0.08  # the longest arrows (95th percentile) reach this share of the box's width
HEAD = 0.3  # arrowhead barbs, as a share of the arrow's length
HEAD_ANGLE = np.deg2rad(25)
# Snapshots come several times a second: the newest is drawn at most every SNAPSHOT_MS, taking
# at most SNAPSHOT_SHARE of the interface thread's time (`gui.pacing.Pacer`).
SNAPSHOT_MS = 100
SNAPSHOT_SHARE = 0.03
SNAPSHOT_MAX_MS = 1000
BACKDROPS = ("heat map D(x)", "mesh of G", "neither")
MESH_LEGEND = "G of a regular grid of z"
D_LABEL, DENSITY_LABEL = "D(x): probability real", "density G carries (log scale)"
REAL_ALPHA, REAL_ALPHA_OVER_MESH = 0x66, 0x30
ANIMATION_MS = 1500  # z -> G(z): long enough to follow a point, short enough to repeat
Z_FRAME = 3.2  # the animation frames the noise's grid, z in [-3, 3]^2, with a margin
ARROW_KINDS = {  # combo box text -> (snapshot key, legend text)
    "generator gradient": ("descent", "−∇ generator loss (scaled)"),
    "movement": ("moves", "movement since last snapshot (scaled)"),
}


def arrow_segments(starts: np.ndarray, vectors: np.ndarray, length: float) -> np.ndarray:
    """Line segments (pairs of points) drawing an arrow from each start along its vector.

    Vectors are scaled together so the 95th percentile of their lengths becomes ``length``
    (longer ones are clipped to it); each arrow is a shaft and two barbs, so (6N, 2) points.
    """
    norms = np.linalg.norm(vectors, axis=1)
    typical = float(np.percentile(norms, 95)) if len(norms) else 0.0
    if typical <= 0:
        return np.zeros((0, 2), np.float32)
    scaled = vectors * (length / typical) / np.maximum(norms / typical, 1.0)[:, None]
    tips = starts + scaled
    segments = [starts, tips]
    for angle in (np.pi - HEAD_ANGLE, np.pi + HEAD_ANGLE):
        cos, sin = np.cos(angle), np.sin(angle)
        barb = HEAD * np.stack([scaled[:, 0] * cos - scaled[:, 1] * sin, scaled[:, 0] * sin + scaled[:, 1] * cos], 1)
        segments += [tips, tips + barb]
    # Interleave so that consecutive points form one segment each: (s0, t0), (t0, b0), ...
    pairs = np.stack(segments, 1).reshape(len(starts), 3, 2, 2)
    return pairs.reshape(-1, 2).astype(np.float32)


class PlayerStepButtons(QWidget):
    """Step D and Step G (slide 27): one discriminator or one generator update of a paused GAN,
    by hand, so the class can play Algorithm 1's k D-steps per G-step one move at a time."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.step_d = QPushButton("Step D")
        self.step_g = QPushButton("Step G")
        self.step_d.setToolTip("one discriminator update on the next real batch and fresh fakes (run paused)")
        self.step_g.setToolTip("one generator update on fresh noise, against D as it is now (run paused)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.step_d)
        layout.addWidget(self.step_g)
        self.set_available(False)

    def connect_to(self, bridge) -> None:
        """Clicks call ``bridge.step_discriminator`` and ``bridge.step_generator``."""
        self.step_d.clicked.connect(bridge.step_discriminator)
        self.step_g.clicked.connect(bridge.step_generator)

    def set_available(self, available: bool) -> None:
        """Enabled only while a run of a kind that can be stepped by player is paused."""
        for button in (self.step_d, self.step_g):
            button.setEnabled(available)


class PlaygroundView(PacedSnapshots, QWidget):
    """Heat map of D(x) or G's mesh, real and generated points and arrows; the latest snapshot
    is kept, and an animation shows the noise being carried to G(z)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.snapshot: dict | None = None  # the latest event shown
        self.received = 0
        self._real_shown: np.ndarray | None = None
        self._box: tuple[float, ...] | None = None
        self._animated: dict | None = None  # the snapshot being animated from z to G(z)
        self._pacer = Pacer(self._redraw, min_ms=SNAPSHOT_MS, max_ms=SNAPSHOT_MAX_MS, share=SNAPSHOT_SHARE,
                            parent=self)

        self.plot = pg.PlotWidget(background=theme.PALETTE.plot_background)
        item = self.plot.getPlotItem()
        item.setAspectLocked(True)
        item.setMenuEnabled(False)
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setColorMap(HEAT_MAP)
        self.heat.setZValue(-10)
        item.addItem(self.heat)
        self.mesh_layer = MeshLayer(item)
        self.mesh = self.mesh_layer.fill
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=HEAT_MAP, label=D_LABEL,
                                          interactive=False, width=14)
        self.colour_bar.setImageItem(self.heat, insert_in=item)
        self.colour_bar.setImageItem([])  # the view colours the heat map and the mesh itself, by mode
        self._heat_map = HEAT_MAP  # the look's D(x) colours, for switching back from the mesh
        self._real_colour = REAL_COLOUR
        # Real points are wide and translucent, so the toys' tight modes show as blobs behind the fakes.
        self.real = pg.ScatterPlotItem(size=10, pen=None, brush=pg.mkBrush(theme.translucent(REAL_COLOUR, REAL_ALPHA)))
        self.fake = pg.ScatterPlotItem(size=6, pen=pg.mkPen(theme.PALETTE.plot_background, width=0.6), brush=pg.mkBrush(FAKE_COLOUR))
        self.arrows = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(ARROW_COLOUR, width=1.2))  # set_look restyles all three
        for shown in (self.real, self.arrows, self.fake):
            item.addItem(shown)
        self.legend = item.addLegend(offset=(8, 8), brush=pg.mkBrush(theme.PALETTE.plot_overlay),
                                     pen=pg.mkPen(theme.PALETTE.legend_border))
        self.legend.addItem(self.real, "real data")
        self.legend.addItem(self.fake, "generated G(z), fixed z")
        self.legend.addItem(self.arrows, ARROW_KINDS["generator gradient"][1])

        self.backdrop = QComboBox()
        self.backdrop.addItems(list(BACKDROPS))
        self.backdrop.setToolTip("D(x) heat map: where the discriminator believes data is real;\n"
                                 "G's mesh: a regular grid of noise values z as G places them, each cell\n"
                                 "shaded by the density it carries there (its noise mass over its area)")
        self.backdrop.currentIndexChanged.connect(self._on_backdrop)
        self.animate_button = QPushButton("Animate z → G(z)")
        self.animate_button.setToolTip("move the fixed noise points and the noise grid from z to G(z)")
        self.animate_button.setEnabled(False)
        self.animate_button.clicked.connect(self.animate)
        self._animation = QVariantAnimation(self)
        self._animation.setStartValue(0.0)
        self._animation.setEndValue(1.0)
        self._animation.setDuration(ANIMATION_MS)
        self._animation.setEasingCurve(QEasingCurve.Type.InOutCubic)
        self._animation.valueChanged.connect(self.show_transform)
        self._animation.finished.connect(self._end_animation)
        self.arrow_box = QCheckBox("arrows:")
        self.arrow_box.setChecked(True)
        self.arrow_box.toggled.connect(self._redraw)
        self.arrow_kind = QComboBox()
        self.arrow_kind.addItems(list(ARROW_KINDS))
        self.arrow_kind.setToolTip("generator gradient: where the generator loss pushes each point (as GAN Lab);\n"
                                   "movement: how far each point moved since the previous snapshot")
        self.arrow_kind.currentTextChanged.connect(self._redraw)
        self.status = QLabel("train a GAN on a 2-D toy (ring8, grid25, spiral, moons) to see the game here")
        self.status.setWordWrap(True)  # the mesh's readout may be long; the window keeps its width
        self.player_steps = PlayerStepButtons()  # wired to the bridge by the window
        controls = QHBoxLayout()
        for widget in (self.backdrop, self.animate_button, self.arrow_box, self.arrow_kind):
            controls.addWidget(widget)
        controls.addStretch(1)
        self.readout = QLabel()  # G's density under the mouse, over the mesh
        self.readout.setToolTip("the density G puts under the mouse: the cells covering it, summed over folds")
        self.plot.scene().sigMouseMoved.connect(self._on_mouse)
        footer = QHBoxLayout()  # the step buttons beside the status: the controls fit in projector mode
        footer.addWidget(self.status, 1)
        footer.addWidget(self.readout)
        footer.addWidget(self.player_steps)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)
        layout.addLayout(footer)

    @property
    def animating(self) -> bool:
        return self._animated is not None

    @property
    def mesh_shown(self) -> bool:
        return self.backdrop.currentText() == BACKDROPS[1]

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: larger points, thicker arrows and mesh lines, larger text, its palette)."""
        palette = look.palette
        self.plot.setBackground(palette.plot_background)
        theme.style_axes(self.plot.getPlotItem(), look)
        self.real.setSize(look.points(10))
        self._real_colour = palette.real
        self._style_real()
        self.fake.setSize(look.points(6))
        self.fake.setPen(pg.mkPen(palette.plot_background, width=look.width(0.6)))
        self.fake.setBrush(pg.mkBrush(palette.fake))
        self.arrows.setPen(pg.mkPen(palette.arrow, width=look.width(1.2)))
        self.mesh_layer.set_look(look)
        self._heat_map = pg.ColorMap([0.0, 0.5, 1.0], list(palette.heat))
        self.heat.setColorMap(self._heat_map)
        self._set_colour_scale()
        theme.style_legend(self.legend, look)
        theme.style_axes(self.colour_bar, look)  # its ticks, and its label on the other side
        self.colour_bar.axis.setWidth(round(COLOUR_BAR_AXIS * look.font_scale))


    def clear(self) -> None:
        self._pacer.cancel()
        self._animation.stop()
        self._animated = None
        self.snapshot, self.received, self._real_shown, self._box = None, 0, None, None
        for item in (self.real, self.fake, self.arrows):
            item.setData([], [])
        self.heat.clear()
        self.mesh_layer.clear()
        self.animate_button.setEnabled(False)
        self.status.setText("waiting for the first snapshot…")

    def animate(self) -> None:
        """Move the latest snapshot's fixed points and noise grid from z to G(z), in the interface
        thread's event loop over ANIMATION_MS; live snapshots wait until it ends."""
        event = self.snapshot
        if event is None or event.get("mesh") is None or self.animating:
            return
        self._animated = event
        x0, x1, y0, y1 = (float(v) for v in event["box"])
        self.plot.getPlotItem().setRange(xRange=(min(x0, -Z_FRAME), max(x1, Z_FRAME)),
                                         yRange=(min(y0, -Z_FRAME), max(y1, Z_FRAME)), padding=0)
        self.heat.setVisible(False)
        self.arrows.setVisible(False)
        self.mesh_layer.set_visible(True)
        self._set_colour_scale(mesh=True)
        self.animate_button.setEnabled(False)
        self.status.setText(f"z → G(z)  ·  the fixed noise and a grid of {event['mesh_note']}, carried by G "
                            f"(step {event['step']})")
        self.show_transform(0.0)
        self._animation.start()

    def show_transform(self, t: float) -> None:
        """Draw the animated snapshot a share ``t`` of the way from z (0) to G(z) (1): points and
        grid vertices moved in a straight line, each cell's density its mass over its area there."""
        event = self._animated
        if event is None:
            return
        t = float(t)
        self.fake.setData(pos=(1 - t) * event["noise"] + t * event["generated"])
        self.mesh_layer.show((1 - t) * event["mesh_noise"] + t * event["mesh"], mass=event["mesh_mass"])

    def _on_mouse(self, position) -> None:
        event = self.snapshot
        if not self.mesh_shown or self.animating or event is None or event.get("mesh") is None:
            self.readout.setText("")
            return
        point = self.plot.getPlotItem().vb.mapSceneToView(position)
        at = np.array([point.x(), point.y()])
        self.readout.setText(f"density at ({at[0]:.2f}, {at[1]:.2f}): "
                             f"{density_at(at, event['mesh'], event['mesh_density']):.2g}")

    def _end_animation(self) -> None:
        self._animated, self._box = None, None  # the next drawing frames the data again
        self._redraw()

    def _on_backdrop(self, *_) -> None:
        self._set_colour_scale()
        self._style_real()
        self.legend.removeItem(self.mesh_layer.lines)
        if self.mesh_shown:
            self.legend.addItem(self.mesh_layer.lines, MESH_LEGEND)
        self._redraw()

    def _style_real(self) -> None:
        """Real points translucent over the heat map, fainter over the mesh (its dense cells lie under them)."""
        self.real.setBrush(pg.mkBrush(theme.translucent(self._real_colour, REAL_ALPHA_OVER_MESH if self.mesh_shown
                                                        else REAL_ALPHA)))

    def _set_colour_scale(self, mesh: bool | None = None) -> None:
        """The colour bar of what is shown: D(x) from 0 to 1, or log10 density over the run's levels."""
        mesh = self.mesh_shown if mesh is None else mesh
        bar, axis, label = self.colour_bar, self.colour_bar.axis, self.colour_bar.getAxis("left")
        self.colour_bar.setVisible(mesh or self.backdrop.currentText() == BACKDROPS[0])
        if mesh and self.snapshot is not None:
            levels = density_levels(self.snapshot["box"])
            self.mesh.setLevels(levels)
            bar.setColorMap(DENSITY_MAP)
            bar.setLevels(levels)
            axis.setTicks([decade_ticks(levels)])
            label.setLabel(DENSITY_LABEL)
        elif not mesh:
            bar.setColorMap(self._heat_map)
            axis.setTicks(None)
            if self.snapshot is None:
                bar.setLevels((0.0, 1.0))
                label.setLabel(D_LABEL)
            else:
                self._heat_levels(self.snapshot)

    def _heat_levels(self, event) -> tuple[float, float]:
        """(0, 1) for D's probability; for a Wasserstein critic, symmetric about 0 (white) so the
        diverging colours split positive from negative values, and the colour bar says so."""
        critic = bool(event.get("critic", False))
        self.colour_bar.getAxis("left").setLabel(CRITIC_LABEL if critic else D_LABEL)
        levels = (0.0, 1.0)
        if critic:
            reach = float(np.nanmax(np.abs(event["d_grid"]))) if np.size(event["d_grid"]) else 0.0
            reach = reach if np.isfinite(reach) and reach > 0 else 1.0
            levels = (-reach, reach)
        self.colour_bar.setLevels(levels)
        return levels

    def _redraw(self, *_) -> None:
        event = self.snapshot
        if event is None or self.animating:
            return
        box = tuple(float(v) for v in event["box"])
        x0, x1, y0, y1 = box
        if box != self._box:  # a new run (or the end of an animation): frame its data
            self._box = box
            self.plot.getPlotItem().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            self._set_colour_scale()
        if event["real"] is not self._real_shown:  # the same array for a whole run: set it once
            self._real_shown = event["real"]
            self.real.setData(pos=event["real"])
        heat_shown = self.backdrop.currentText() == BACKDROPS[0]
        self.heat.setVisible(heat_shown)
        if heat_shown:  # what is hidden is not drawn (a switch redraws)
            self.heat.setImage(event["d_grid"], autoLevels=False)
            self.heat.setLevels(self._heat_levels(event))  # after: a first image takes levels deferred before it
            self.heat.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        mesh = event.get("mesh")
        self.animate_button.setEnabled(mesh is not None)
        if self.mesh_shown and mesh is not None:
            self.mesh_layer.show(mesh, densities=event["mesh_density"])
        self.mesh_layer.set_visible(self.mesh_shown and mesh is not None)
        self.fake.setData(pos=event["generated"])
        key, legend_text = ARROW_KINDS[self.arrow_kind.currentText()]
        self.legend.getLabel(self.arrows).setText(legend_text)
        self.arrows.setVisible(self.arrow_box.isChecked())
        segments = arrow_segments(event["generated"], event[key], ARROW_LENGTH * (x1 - x0))
        self.arrows.setData(segments[:, 0], segments[:, 1], connect="pairs")
        self.status.setText(f"step {event['step']}  ·  epoch {event['epoch']}  ·  "
                            f"{len(event['generated'])} generated points" + self._mesh_readout(event))

    def _mesh_readout(self, event: dict) -> str:
        """For the mesh: what its grid spans and the range of the densities its cells carry."""
        if not self.mesh_shown or event.get("mesh") is None:
            return ""
        density = event["mesh_density"]
        spread = (f"; cells carry density {density.min():.2g} to {density.max():.2g}" if density.size else "")
        return f"  ·  mesh: {event['mesh_note']}{spread}"
