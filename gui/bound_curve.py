"""The bound over k, drawn: IWAE-k against k on a log axis with its standard errors, beside the ELBO
(the Evaluate tab's plot of `kgen.eval.likelihood.iwae_curve`'s scores)."""

from __future__ import annotations

import math
import re

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from gui import theme

_CURVE_SE = re.compile(r"^iwae_se_(\d+)$")


def bound_curve(scores: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k, IWAE-k, standard error) of the bound over k in ``scores`` (the iwae_<k> that have an
    iwae_se_<k>), by k; empty arrays when there is none."""
    ks = sorted(int(m.group(1)) for name in scores if (m := _CURVE_SE.match(name)) and f"iwae_{m.group(1)}" in scores)
    return (np.array(ks, float), np.array([scores[f"iwae_{k}"] for k in ks], float),
            np.array([scores[f"iwae_se_{k}"] for k in ks], float))


class BoundCurvePlot(pg.PlotWidget):
    """IWAE-k over k on a log axis with its standard errors, and the ELBO (k = 1's other estimate) as a line."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(theme.PALETTE.plot_background)
        plot = self.getPlotItem()
        plot.setLogMode(x=True, y=False)
        plot.showGrid(x=True, y=True, alpha=0.3)
        plot.setLabel("bottom", "k, importance samples per image (log scale)")
        plot.setLabel("left", "bound on log p(x), nats per image")
        plot.setTitle("the bound over k: IWAE-k rises from the ELBO towards log p(x)")
        plot.addLegend(offset=(-10, -10))
        self.errors = pg.ErrorBarItem(beam=0.05)
        plot.addItem(self.errors)
        self.curve = plot.plot(name="IWAE-k (± 1 standard error)", symbol="o")
        self.elbo = plot.plot(name="ELBO (analytic KL, one draw)")
        self._look = theme.NORMAL_LOOK
        self._restyle()

    def show_scores(self, scores: dict[str, float]) -> bool:
        """Draw the curve in ``scores``; False (and nothing drawn) when they hold none."""
        ks, means, errors = bound_curve(scores)
        if not len(ks):
            self.clear_curve()
            return False
        x = np.log10(ks)  # the item's data in log mode: ErrorBarItem is not log-aware
        self.getPlotItem().getAxis("bottom").setTicks([[(float(t), f"{k:g}") for t, k in zip(x, ks, strict=True)]])
        self.curve.setData(ks, means)
        self.errors.setData(x=x, y=means, height=2 * errors)
        elbo = scores.get("elbo")
        if elbo is not None and math.isfinite(elbo):
            self.elbo.setData(ks[[0, -1]], [elbo, elbo])
        else:
            self.elbo.clear()
        return True

    def clear_curve(self) -> None:
        self.curve.clear()
        self.elbo.clear()
        self.errors.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))

    def set_look(self, look: theme.Look) -> None:
        """Projector mode: thicker lines, larger symbols and text, axes in ink."""
        self._look = look
        self._restyle()

    def _restyle(self) -> None:
        look, plot = self._look, self.getPlotItem()
        colours = look.palette.series
        self.setBackground(look.palette.plot_background)
        self.curve.setPen(pg.mkPen(colours[0], width=look.width(2)))
        self.curve.setSymbolBrush(colours[0])
        self.curve.setSymbolPen(colours[0])
        self.curve.setSymbolSize(look.points(8))
        self.errors.setData(pen=pg.mkPen(colours[0], width=look.width(1.5)))
        self.elbo.setPen(pg.mkPen(colours[1 % len(colours)], width=look.width(2), style=Qt.PenStyle.DashLine))
        theme.style_axes(plot, look)
        plot.setTitle(plot.titleLabel.text, size=look.size(11), color=look.title_colour)
        theme.style_legend(plot.legend, look)
