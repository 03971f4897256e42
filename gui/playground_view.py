"""The GAN playground tab: a GAN on a 2-D toy drawn as GAN Lab draws it, live while it trains.

The discriminator's D(x) is a heat map behind the real points (green) and the generated points
of a fixed noise (purple); arrows show, per generated point, minus the gradient of the generator
loss (where the game pushes it) or how far it moved since the last snapshot. Snapshots come from
`kgen.services.playground.PlaygroundProbe` through the bridge's ``playground`` signal.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
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
from gui.pacing import Pacer

REAL_COLOUR, FAKE_COLOUR, ARROW_COLOUR = theme.PALETTE.real, theme.PALETTE.fake, theme.PALETTE.arrow
# D(x) from 0 (sure it is generated: pale purple) through 0.5 (undecided: white) to 1 (pale green).
HEAT_MAP = pg.ColorMap([0.0, 0.5, 1.0], list(theme.PALETTE.heat))
PROBABILITY_LABEL = "D(x): probability real"
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


class PlaygroundView(QWidget):
    """Heat map of D(x), real and generated points and arrows; the latest snapshot is kept."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.snapshot: dict | None = None  # the latest event shown
        self.received = 0
        self._real_shown: np.ndarray | None = None
        self._box: tuple[float, ...] | None = None
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
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=HEAT_MAP, label=PROBABILITY_LABEL,
                                          interactive=False, width=14)
        self.colour_bar.setImageItem(self.heat, insert_in=item)
        # Real points are wide and translucent, so the toys' tight modes show as blobs behind the fakes.
        self.real = pg.ScatterPlotItem(size=10, pen=None, brush=pg.mkBrush(theme.translucent(REAL_COLOUR, 0x66)))
        self.fake = pg.ScatterPlotItem(size=6, pen=pg.mkPen(theme.PALETTE.plot_background, width=0.6), brush=pg.mkBrush(FAKE_COLOUR))
        self.arrows = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(ARROW_COLOUR, width=1.2))  # set_look restyles all three
        for shown in (self.real, self.arrows, self.fake):
            item.addItem(shown)
        self.legend = item.addLegend(offset=(8, 8), brush=pg.mkBrush(theme.PALETTE.plot_overlay),
                                     pen=pg.mkPen(theme.PALETTE.legend_border))
        self.legend.addItem(self.real, "real data")
        self.legend.addItem(self.fake, "generated G(z), fixed z")
        self.legend.addItem(self.arrows, ARROW_KINDS["generator gradient"][1])

        self.heat_box = QCheckBox("D(x) heat map")
        self.arrow_box = QCheckBox("arrows:")
        for box in (self.heat_box, self.arrow_box):
            box.setChecked(True)
            box.toggled.connect(self._redraw)
        self.arrow_kind = QComboBox()
        self.arrow_kind.addItems(list(ARROW_KINDS))
        self.arrow_kind.setToolTip("generator gradient: where the generator loss pushes each point (as GAN Lab);\n"
                                   "movement: how far each point moved since the previous snapshot")
        self.arrow_kind.currentTextChanged.connect(self._redraw)
        self.status = QLabel("train a GAN on a 2-D toy (ring8, grid25, spiral, moons) to see the game here")
        self.player_steps = PlayerStepButtons()  # wired to the bridge by the window
        controls = QHBoxLayout()
        for widget in (self.heat_box, self.arrow_box, self.arrow_kind):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.player_steps)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)
        layout.addWidget(self.status)

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: larger points, thicker arrows, larger text, its palette)."""
        palette = look.palette
        self.plot.setBackground(palette.plot_background)
        theme.style_axes(self.plot.getPlotItem(), look)
        self.real.setSize(look.points(10))
        self.real.setBrush(pg.mkBrush(theme.translucent(palette.real, 0x66)))
        self.fake.setSize(look.points(6))
        self.fake.setPen(pg.mkPen(palette.plot_background, width=look.width(0.6)))
        self.fake.setBrush(pg.mkBrush(palette.fake))
        self.arrows.setPen(pg.mkPen(palette.arrow, width=look.width(1.2)))
        heat = pg.ColorMap([0.0, 0.5, 1.0], list(palette.heat))
        self.heat.setColorMap(heat)
        self.colour_bar.setColorMap(heat)
        theme.style_legend(self.legend, look)
        theme.style_axes(self.colour_bar, look)  # its ticks, and its label on the other side
        self.colour_bar.axis.setWidth(round(COLOUR_BAR_AXIS * look.font_scale))

    def add_snapshot(self, event: dict) -> None:
        """Show a playground event (see `kgen.services.playground.PlaygroundProbe`): at once, or the newest
        when the pacer's pause is over."""
        self.snapshot = event
        self.received += 1
        self._pacer.request()

    def flush(self) -> None:
        """Draw the newest snapshot now if it waits (a run that ended, a step taken by hand)."""
        self._pacer.flush()

    def clear(self) -> None:
        self._pacer.cancel()
        self.snapshot, self.received, self._real_shown, self._box = None, 0, None, None
        for item in (self.real, self.fake, self.arrows):
            item.setData([], [])
        self.heat.clear()
        self.status.setText("waiting for the first snapshot…")

    def _heat_levels(self, event) -> tuple[float, float]:
        """(0, 1) for D's probability; for a Wasserstein critic, symmetric about 0 (white) so the
        diverging colours split positive from negative values, and the colour bar says so."""
        critic = bool(event.get("critic", False))
        self.colour_bar.axis.setLabel(CRITIC_LABEL if critic else PROBABILITY_LABEL)
        levels = (0.0, 1.0)
        if critic:
            reach = float(np.nanmax(np.abs(event["d_grid"]))) if np.size(event["d_grid"]) else 0.0
            reach = reach if np.isfinite(reach) and reach > 0 else 1.0
            levels = (-reach, reach)
        self.colour_bar.setLevels(levels)
        return levels

    def _redraw(self, *_) -> None:
        event = self.snapshot
        if event is None:
            return
        box = tuple(float(v) for v in event["box"])
        x0, x1, y0, y1 = box
        if box != self._box:  # a new run: frame its data
            self._box = box
            self.plot.getPlotItem().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        if event["real"] is not self._real_shown:  # the same array for a whole run: set it once
            self._real_shown = event["real"]
            self.real.setData(pos=event["real"])
        self.heat.setVisible(self.heat_box.isChecked())
        self.heat.setImage(event["d_grid"], levels=self._heat_levels(event), autoLevels=False)
        self.heat.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.fake.setData(pos=event["generated"])
        key, legend_text = ARROW_KINDS[self.arrow_kind.currentText()]
        self.legend.getLabel(self.arrows).setText(legend_text)
        self.arrows.setVisible(self.arrow_box.isChecked())
        segments = arrow_segments(event["generated"], event[key], ARROW_LENGTH * (x1 - x0))
        self.arrows.setData(segments[:, 0], segments[:, 1], connect="pairs")
        self.status.setText(f"step {event['step']}  ·  epoch {event['epoch']}  ·  "
                            f"{len(event['generated'])} generated points")
