"""The 1-D game tab (slide 30): a GAN on a 1-D toy drawn as Goodfellow et al. (2014), figure 1.

Above the x axis: the data's density (black dots), the generator's density (green) and D(x)
(blue, dashed); below it, the z axis with a line from each of a few dozen fixed z to its G(z).
Snapshots come from `kgen.services.game_1d.Game1DProbe` through the bridge's ``game_1d`` signal;
Step D and Step G play the game by hand while the run is paused.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui import theme
from gui.pacing import PacedSnapshots, Pacer
from gui.playground_view import PlayerStepButtons

Z_LEVEL = -0.55  # height of the z axis, below the x axis at 0
TOP = 1.08  # the plot reaches at least this high (D(x) is at most 1) ...
HEADROOM = 1.5  # ... and this many times the data's highest density (a narrower p_g peaks higher)
TICK_STEP = 0.2  # the left axis is ticked from 0 up: below the x axis lies the z axis, not a value
LABEL_POINTS = 11.0  # the "x" and "z" axis names, in the normal look
# Snapshots come several times a second: the newest is drawn at most every SNAPSHOT_MS, taking at
# most SNAPSHOT_SHARE of the interface thread's time (`gui.pacing.Pacer`).
SNAPSHOT_MS = 100
SNAPSHOT_SHARE = 0.03
SNAPSHOT_MAX_MS = 1000
OPTIMAL_NAME = "best D*(x) = p_data / (p_data + p_g)"


def z_positions(z: np.ndarray, x_range: tuple[float, float]) -> np.ndarray:
    """Where each z sits on the drawn z axis: [-max|z|, max|z|] stretched over ``x_range``."""
    reach = float(np.max(np.abs(z))) if len(z) else 1.0
    low, high = x_range
    return (low + high) / 2 + np.asarray(z, np.float64) / max(reach, 1e-9) * (high - low) / 2


def mapping_segments(z: np.ndarray, g_z: np.ndarray, x_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys) of line segments, one per code, from z on the z axis to G(z) on the x axis (G(z)
    beyond the plot is drawn at its edge), for a ``connect="pairs"`` curve."""
    starts = z_positions(z, x_range)
    ends = np.clip(np.asarray(g_z, np.float64), *x_range)
    xs = np.stack([starts, ends], 1).ravel()
    ys = np.tile([Z_LEVEL, 0.0], len(starts))
    return xs, ys


class Game1DView(PacedSnapshots, QWidget):
    """The densities, D(x), D*(x) on request, and the lines from z to G(z); the latest snapshot is kept."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.snapshot = None  # the latest event shown
        self.received = 0
        self._x_range: tuple[float, float] | None = None
        self._pacer = Pacer(self._redraw, min_ms=SNAPSHOT_MS, max_ms=SNAPSHOT_MAX_MS, share=SNAPSHOT_SHARE,
                            parent=self)
        self.plot = pg.PlotWidget(background=theme.PALETTE.plot_background)
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        item.setLabel("left", "density, D(x)")
        self.axes = item.plot(pen=None)  # the x axis (y = 0) and the z axis, as two segments
        self.lines = pg.PlotCurveItem(connect="pairs")
        item.addItem(self.lines)
        self.data_density = item.plot()
        self.generator_density = item.plot()
        self.d_x = item.plot()
        self.optimal_d = item.plot()
        self.x_label, self.z_label = pg.TextItem("x", anchor=(0, 1)), pg.TextItem("z", anchor=(0, 1))
        for label in (self.x_label, self.z_label):
            item.addItem(label)
        self.legend = item.addLegend(offset=(-8, 8))
        for curve, name in ((self.data_density, "data density p_data(x)"),
                            (self.generator_density, "generator density p_g(x)"),
                            (self.d_x, "discriminator D(x)"), (self.lines, "z → G(z), fixed z")):
            self.legend.addItem(curve, name)

        self.optimal_box = QCheckBox("best discriminator D*(x)")
        self.optimal_box.setToolTip("p_data / (p_data + p_g): what D would say, trained to the end against this G")
        self.optimal_box.toggled.connect(self._redraw)
        self.status = QLabel("train a GAN on a 1-D toy (gauss1d, mix1d) to see the game here")
        self.player_steps = PlayerStepButtons()  # wired to the bridge by the window
        controls = QHBoxLayout()
        controls.addWidget(self.optimal_box)
        controls.addStretch(1)
        controls.addWidget(self.player_steps)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        self.set_look(theme.NORMAL_LOOK)

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: thicker lines, larger text, its palette)."""
        palette = look.palette
        self.plot.setBackground(palette.plot_background)
        item = self.plot.getPlotItem()
        theme.style_axes(item, look)
        theme.style_legend(self.legend, look, points=10.0)
        ink = palette.plot_ink
        self.axes.setPen(pg.mkPen(ink, width=look.width(1.5)))
        self.lines.setPen(pg.mkPen(theme.translucent(palette.arrow, 0x99), width=look.width(1.0)))
        self.data_density.setPen(pg.mkPen(ink, width=look.width(2.5), style=Qt.PenStyle.DotLine))
        self.generator_density.setPen(pg.mkPen(palette.series[2], width=look.width(2.5)))
        self.d_x.setPen(pg.mkPen(palette.series[0], width=look.width(2.5), style=Qt.PenStyle.DashLine))
        self.optimal_d.setPen(pg.mkPen(palette.series[0], width=look.width(1.5), style=Qt.PenStyle.DotLine))
        font = theme.plot_font(look)
        font.setPointSizeF(LABEL_POINTS * look.font_scale)
        font.setItalic(True)
        for label in (self.x_label, self.z_label):
            label.setFont(font)
            label.setColor(ink)


    def clear(self) -> None:
        self._pacer.cancel()
        self.snapshot, self.received, self._x_range = None, 0, None
        for curve in (self.axes, self.lines, self.data_density, self.generator_density, self.d_x, self.optimal_d):
            curve.setData([], [])
        self.status.setText("waiting for the first snapshot…")

    def _redraw(self, *_) -> None:
        event = self.snapshot
        if event is None:
            return
        x = event["x"]
        x_range = (float(x[0]), float(x[-1]))
        if x_range != self._x_range:  # a new run: frame its data, draw its axes
            self._x_range = x_range
            self._frame(x_range, max(TOP, HEADROOM * float(np.max(event["data_density"]))))
        self.data_density.setData(x, event["data_density"])
        self.generator_density.setData(x, event["generator_density"])
        self.d_x.setData(x, event["d_x"])
        shown = self.optimal_box.isChecked()
        self.optimal_d.setData(x, event["optimal_d"] if shown else np.full(len(x), np.nan))
        self._list_optimal_d(shown)
        xs, ys = mapping_segments(event["z"], event["g_z"], x_range)
        self.lines.setData(xs, ys, connect="pairs")
        self.status.setText(f"step {event['step']}  ·  epoch {event['epoch']}  ·  p_g: kernel estimate, "
                            f"bandwidth {event['bandwidth']:.2g}")

    def _frame(self, x_range: tuple[float, float], top: float) -> None:
        """Fit the plot to a run's grid, up to ``top``; draw the x and z axes and name them."""
        item = self.plot.getPlotItem()
        item.setRange(xRange=x_range, yRange=(Z_LEVEL - 0.1, top), padding=0.02)
        ticks = np.arange(0.0, top, TICK_STEP)
        item.getAxis("left").setTicks([[(float(v), f"{v:.1f}") for v in ticks]])
        self.axes.setData([*x_range, *x_range], [0.0, 0.0, Z_LEVEL, Z_LEVEL], connect="pairs")
        self.x_label.setPos(x_range[0], 0.0)
        self.z_label.setPos(x_range[0], Z_LEVEL)

    def _list_optimal_d(self, listed: bool) -> None:
        """The legend names D*(x) only while it is drawn."""
        if listed and self.legend.getLabel(self.optimal_d) is None:
            self.legend.addItem(self.optimal_d, OPTIMAL_NAME)
        elif not listed:
            self.legend.removeItem(self.optimal_d)
