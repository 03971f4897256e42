"""The truncation sweep, drawn: precision and recall against psi above, FID against psi below
(the Evaluate tab's plot of `kgen.eval.truncation.truncation_sweep`'s scores)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from gui import theme
from kgen.eval.truncation import sweep_table

PSI_LABEL = "psi: the samples come from psi · z (1: the prior itself)"


class TruncationPlot(pg.GraphicsLayoutWidget):
    """Precision and recall (shares, 0 to 1) over psi, and below them FID over psi when the sweep has
    it (images judged by a classifier); a dashed line marks psi = 1, the prior itself."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.shares = self.addPlot(row=0, col=0)
        self.fid_plot = self.addPlot(row=1, col=0)
        self.fid_plot.setXLink(self.shares)
        self.shares.setTitle("truncation sweep: realism against variety")
        self.shares.setLabel("left", "share")
        self.shares.setYRange(0, 1.02, padding=0)
        self.fid_plot.setLabel("left", "FID (lower: closer)")
        self.fid_plot.setLabel("bottom", PSI_LABEL)
        self.shares.addLegend(offset=(-10, -10))
        self.precision = self.shares.plot(name="precision: samples that look real", symbol="o")
        self.recall = self.shares.plot(name="recall: real data the samples reach", symbol="s")
        self.fid = self.fid_plot.plot(symbol="o")
        self.prior_lines = [pg.InfiniteLine(1.0, angle=90) for _ in range(2)]
        for plot, line in zip((self.shares, self.fid_plot), self.prior_lines, strict=True):
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.addItem(line)
        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 2)
        self._look = theme.NORMAL_LOOK
        self._restyle()

    def show_scores(self, scores: dict[str, float]) -> bool:
        """Draw the sweep in ``scores``; False (and nothing drawn) when they hold none."""
        psis, columns = sweep_table(scores)
        if not len(psis) or "precision" not in columns or "recall" not in columns:
            self.clear_sweep()
            return False
        self.precision.setData(psis, columns["precision"])
        self.recall.setData(psis, columns["recall"])
        has_fid = "fid" in columns
        if has_fid:
            self.fid.setData(psis, columns["fid"])
        else:
            self.fid.clear()
        self.fid_plot.setVisible(has_fid)  # 2-D toys: precision and recall alone
        self.shares.setLabel("bottom", "" if has_fid else PSI_LABEL)
        ticks = [[(float(p), f"{p:g}") for p in psis]]
        for plot in (self.shares, self.fid_plot):
            plot.getAxis("bottom").setTicks(ticks)
        return True

    def clear_sweep(self) -> None:
        for curve in (self.precision, self.recall, self.fid):
            curve.clear()

    def curve_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The drawn (psi, value) arrays by name: what a test or a screenshot checks."""
        return {name: curve.getData() for name, curve in
                (("precision", self.precision), ("recall", self.recall), ("fid", self.fid))}

    def set_look(self, look: theme.Look) -> None:
        """Projector mode: thicker lines, larger symbols and text, axes in ink."""
        self._look = look
        self._restyle()

    def _restyle(self) -> None:
        look = self._look
        colours = look.palette.series
        self.setBackground(look.palette.plot_background)
        for i, curve in enumerate((self.precision, self.recall, self.fid)):
            colour = colours[(i if i < 2 else 2) % len(colours)]
            curve.setPen(pg.mkPen(colour, width=look.width(2)))
            curve.setSymbolBrush(colour)
            curve.setSymbolPen(colour)
            curve.setSymbolSize(look.points(8))
        for line in self.prior_lines:
            line.setPen(pg.mkPen(look.palette.series[-1], width=look.width(1), style=Qt.PenStyle.DashLine))
        for plot in (self.shares, self.fid_plot):
            theme.style_axes(plot, look)
        self.shares.setTitle(self.shares.titleLabel.text, size=look.size(11), color=look.title_colour)
        theme.style_legend(self.shares.legend, look)
