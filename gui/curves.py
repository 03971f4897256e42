"""Live training curves: one line per metric, per step, on a plot per kind of quantity."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

REDRAW_MS = 100  # curves are redrawn at most this often, however fast steps arrive
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# (plot title, metric keys it holds); keys not named here go on the first plot.
PLOTS = (
    ("loss", ()),
    ("discriminator output D(x)", ("d_real", "d_fake")),
    ("gradient norm", ("d_grad_norm", "g_grad_norm")),
)


class Series:
    """A growing (step, value) buffer that doubles its capacity when full."""

    def __init__(self, capacity: int = 1024):
        self._data = np.empty((capacity, 2))
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self.size] = x, y
        self.size += 1

    @property
    def x(self) -> np.ndarray:
        return self._data[: self.size, 0]

    @property
    def y(self) -> np.ndarray:
        return self._data[: self.size, 1]


class CurvesView(QWidget):
    """Per-step metric curves; plots appear as their first metric arrives."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self._plots: dict[str, pg.PlotItem] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._series: dict[str, Series] = {}
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        self._timer.start()

    def keys(self) -> list[str]:
        return list(self._series)

    def data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) recorded for ``key``, copies."""
        series = self._series[key]
        return series.x.copy(), series.y.copy()

    def add_step(self, event: dict) -> None:
        """Record one step event's metrics; the curves catch up at the next redraw."""
        for key, value in event["metrics"].items():
            if key not in self._series:
                self._add_curve(key)
            self._series[key].append(event["step"], value)
        self._dirty = True

    def redraw(self) -> None:
        if not self._dirty:
            return
        for key, curve in self._curves.items():
            series = self._series[key]
            curve.setData(series.x, series.y)
        self._dirty = False

    def clear(self) -> None:
        self.graphics.clear()
        self._plots.clear()
        self._curves.clear()
        self._series.clear()
        self._dirty = False

    def _add_curve(self, key: str) -> None:
        title = next((t for t, keys in PLOTS if key in keys), PLOTS[0][0])
        plot = self._plots.get(title) or self._add_plot(title)
        pen = pg.mkPen(COLORS[len(self._curves) % len(COLORS)], width=1)
        curve = plot.plot(name=key, pen=pen)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        self._curves[key] = curve
        self._series[key] = Series()

    def _add_plot(self, title: str) -> pg.PlotItem:
        if self._plots:
            self.graphics.nextRow()
        plot = self.graphics.addPlot(title=title)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setLabel("bottom", "step")
        plot.addLegend(offset=(-10, 10))
        if self._plots:  # every plot scrolls and zooms along the first one's steps
            plot.setXLink(next(iter(self._plots.values())))
        self._plots[title] = plot
        return plot
