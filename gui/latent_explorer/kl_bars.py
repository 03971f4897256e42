"""Per-dimension KL bars of a VAE's posterior, with a warning when dimensions collapse to the prior."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QBrush, QPen
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui import theme
from kgen.services.explorer import COLLAPSE_NATS, collapse_warning, collapsed_dimensions

TITLE = "KL per dimension, test set"
TITLE_POINTS = 9.0
MARK_SIZE = 10  # the collapsed dimensions' triangles


class KLBars(QWidget):
    """A bar per latent dimension: its mean KL(q(z_u|x) || N(0, 1)) over the test set, in nats."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._look = theme.NORMAL_LOOK  # colours, sizes and text (`set_look`)
        self.plot = pg.PlotWidget(background=theme.PALETTE.plot_background)
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumHeight(220)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("left", "KL (nats)")
        self.plot.setLabel("bottom", "latent dimension")
        self.bars: pg.BarGraphItem | None = None
        self.kl: np.ndarray | None = None  # the values drawn, to colour the bars again in a new look
        # Collapsed bars are too low to see: a red triangle on the axis marks each one.
        self.collapsed_marks = pg.ScatterPlotItem(symbol="t1", pen=None)
        self.plot.addItem(self.collapsed_marks)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        theme.set_role(self.warning, "warning")
        self.warning.setVisible(False)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        theme.set_role(self.caption, "muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.warning)
        layout.addWidget(self.caption)
        self.set_look(self._look)

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: its palette's bar colours, outlined bars, larger marks
        and text in ink), now and from now on."""
        self._look = look
        self.plot.setBackground(look.palette.plot_background)
        theme.style_axes(self.plot.getPlotItem(), look)
        self.plot.setTitle(TITLE, size=look.size(TITLE_POINTS), color=look.title_colour)
        self.collapsed_marks.setSize(look.points(MARK_SIZE))
        self.collapsed_marks.setBrush(pg.mkBrush(look.palette.kl_collapsed))
        if self.bars is not None:
            self.bars.setOpts(brushes=self._brushes(self.kl), pen=self._bar_pen())

    def _brushes(self, kl: np.ndarray) -> list[QBrush]:
        """A brush per bar: kl_collapsed for dimensions collapsed to the prior, else kl_active."""
        collapsed = set(collapsed_dimensions(kl))
        palette = self._look.palette
        return [pg.mkBrush(palette.kl_collapsed if d in collapsed else palette.kl_active) for d in range(len(kl))]

    def _bar_pen(self) -> QPen | str:
        """Bars outlined in ink, thick, with strong axes; pyqtgraph's default outline otherwise."""
        look = self._look
        return pg.mkPen(look.palette.plot_ink, width=look.width(1)) if look.strong_axes else pg.getConfigOption("foreground")

    def set_kl(self, kl: np.ndarray | None, active: np.ndarray | None = None, note: str = "") -> None:
        """Draw the bars of ``kl`` (D,), red where below `COLLAPSE_NATS`; None shows only ``note``."""
        if self.bars is not None:
            self.plot.removeItem(self.bars)
            self.bars = None
        self.plot.setVisible(kl is not None)
        self.collapsed_marks.setData([], [])
        self.warning.setVisible(False)
        self.kl = None if kl is None else np.asarray(kl, dtype="float64")
        if kl is None:
            self.caption.setText(note)
            return
        kl = self.kl
        collapsed = set(collapsed_dimensions(kl))
        self.bars = pg.BarGraphItem(x=np.arange(len(kl)), height=kl, width=0.7, brushes=self._brushes(kl),
                                    pen=self._bar_pen())
        self.plot.addItem(self.bars)
        self.collapsed_marks.setData(sorted(collapsed), [0.0] * len(collapsed))
        self.plot.getAxis("bottom").setTicks([[(d, str(d)) for d in _tick_dims(len(kl))]])
        self.plot.setXRange(-0.6, len(kl) - 0.4, padding=0)
        self.plot.setYRange(0, max(float(kl.max()), COLLAPSE_NATS) * 1.05, padding=0)
        warning = collapse_warning(kl)
        self.warning.setText(warning or "")
        self.warning.setVisible(warning is not None)
        units = "" if active is None else f"; active units (Burda et al.): {int(np.sum(active))} of {len(kl)}"
        self.caption.setText(f"total KL {kl.sum():.2f} nats{units}. {note}".strip())

    def values(self) -> np.ndarray | None:
        """The bar heights drawn, or None when there are no bars."""
        return None if self.bars is None else np.asarray(self.bars.opts["height"], dtype="float64")


def _tick_dims(count: int) -> range:
    """Every dimension's tick when few, else every few, so labels never overlap."""
    return range(0, count, max(1, count // 16))
