"""The GAN playground's mesh: a regular grid of noise values as G warps it, each cell filled by
the density it carries on a log colour scale (`kgen.services.generator_mesh` computes it).

`MeshLayer` owns the two plot items (the cells' fills and the grid's lines) and draws any
vertices, so the view can show G's mesh, the plain noise grid, or any stage between them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from gui import theme
from kgen.services.generator_mesh import cell_density

# Density from low (white, the plot's background) to high (dark red): sequential, and clear of
# the real (green) and generated (purple) points drawn over it.
DENSITY_MAP = pg.ColorMap([0.0, 0.35, 0.7, 1.0], list(theme.PALETTE.density))
DECADES_BELOW, DECADES_ABOVE = 2.0, 3.0  # the colour scale around a uniform density over the data box
LINE_WIDTH = 0.8
LINE_ALPHA = 0x8c
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def density_levels(box: np.ndarray) -> tuple[float, float]:
    """log10 levels of the colour scale: some decades either side of 1 / the data box's area (a
    run's fixed scale, so colours mean the same all run long)."""
    x0, x1, y0, y1 = (float(v) for v in box)
    uniform = -np.log10(max((x1 - x0) * (y1 - y0), 1e-12))
    return uniform - DECADES_BELOW, uniform + DECADES_ABOVE


def decade_ticks(levels: tuple[float, float]) -> list[tuple[float, str]]:
    """Ticks at the whole powers of ten inside ``levels``, written 10⁻², 10⁰, ..."""
    return [(float(k), f"10{str(k).translate(SUPERSCRIPT)}") for k in range(int(np.ceil(levels[0])),
                                                                           int(np.floor(levels[1])) + 1)]


def grid_lines(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's rows and columns as one polyline broken by NaNs (for ``connect="finite"``)."""
    v = np.asarray(vertices, np.float64)
    gap = np.full((1, 2), np.nan)
    pieces = [p for line in (*v, *v.transpose(1, 0, 2)) for p in (line, gap)] if v.shape[0] > 1 else [v[0]]
    lines = np.concatenate(pieces)
    return lines[:, 0], lines[:, 1]


class MeshLayer:
    """The cells (filled by log10 density) and lines of a warped noise grid, on ``plot``."""

    def __init__(self, plot: pg.PlotItem):
        self.fill = pg.PColorMeshItem(colorMap=DENSITY_MAP, enableAutoLevels=False, levels=(-3.0, 2.0))
        self.lines = pg.PlotCurveItem(connect="finite", pen=pg.mkPen(theme.translucent(theme.PALETTE.plot_ink, LINE_ALPHA),
                                                                     width=LINE_WIDTH))
        self.fill.setZValue(-9)
        self.lines.setZValue(-8)
        plot.addItem(self.fill)
        plot.addItem(self.lines)
        self.densities = np.zeros((0, 0), np.float32)  # the cells' densities drawn last

    def set_look(self, look: theme.Look) -> None:
        self.lines.setPen(pg.mkPen(theme.translucent(look.palette.plot_ink, LINE_ALPHA), width=look.width(LINE_WIDTH)))

    def set_visible(self, visible: bool) -> None:
        self.fill.setVisible(visible and self.densities.size > 0)
        self.lines.setVisible(visible)

    def show(self, vertices: np.ndarray, densities: np.ndarray | None = None, mass: np.ndarray | None = None) -> None:
        """Draw ``vertices`` (rows, cols, 2) with each cell's density: given, or ``mass`` over its area."""
        if densities is None:
            densities = cell_density(vertices, mass)
        self.densities = np.asarray(densities, np.float32)
        self.lines.setData(*grid_lines(vertices))
        if self.densities.size:
            self.fill.setData(vertices[..., 0], vertices[..., 1], np.log10(np.maximum(self.densities, 1e-30)))

    def clear(self) -> None:
        self.densities = np.zeros((0, 0), np.float32)
        self.lines.setData([], [])
        self.fill.setData()
