"""The Posterior page (slides 10, 15, 21): a 2-d VAE's true posterior beside its encoder's guess.

One image: p(z|x) on a grid as a heat map, with q(z|x)'s 1- and 2-sigma ellipses over it and the
prior's circles faint; the ELBO, log p(x) and their gap KL(q || p(z|x)) in nats; and IWAE-k over
k, rising from the ELBO to log p(x). All test images: the aggregate posterior (the mixture of
their q(z|x)) beside N(0, I), the prior's holes shaded. The numbers come from the explorer's
worker (`kgen.eval.posterior`); this page only draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.latent_explorer.image_panel import ImagePanel, note_label
from kgen.eval.posterior import HOLE_FRACTION, ellipse_points

TITLE_POINTS = 11.0
READOUT_POINTS = 12.0
NOT_2D = "The posterior page needs a VAE with a 2-d latent (train one with latent_dim 2): its posterior can be drawn on a plane."
NO_IMAGE = "Pick a test image on the Scatter page, or draw one on the Drawing pad."


def heat_colours(look: theme.Look) -> pg.ColorMap:
    """Density colours: the plot's background at zero to the first series colour at the peak."""
    return pg.ColorMap([0.0, 1.0], [look.palette.plot_background, look.palette.series[0]])


def _heat_plot(layout: pg.GraphicsLayoutWidget, col: int, title: str) -> tuple[pg.PlotItem, pg.ImageItem]:
    plot = layout.addPlot(row=0, col=col, title=title)
    plot.setMenuEnabled(False)
    plot.setAspectLocked(True)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setLabel("bottom", "z0")
    plot.setLabel("left", "z1")
    image = pg.ImageItem()  # column-major: the first index runs along z0
    plot.addItem(image)
    return plot, image


def _place(image: pg.ImageItem, values: np.ndarray, z0: np.ndarray, z1: np.ndarray, levels: tuple) -> None:
    """Show ``values`` (n0, n1[, 4]) with each cell centred on its grid point."""
    h0, h1 = z0[1] - z0[0], z1[1] - z1[0]
    image.setImage(values, levels=levels)
    image.setRect(float(z0[0] - h0 / 2), float(z1[0] - h1 / 2), float(h0 * len(z0)), float(h1 * len(z1)))


class PosteriorView(QWidget):
    """Two modes: one image's posterior with its bounds, or the aggregate posterior against the prior."""

    mode_changed = Signal()  # the mode switched: the explorer asks for what it needs
    index_chosen = Signal(int)  # a test image picked by its number

    def __init__(self, parent=None):
        super().__init__(parent)
        self._look = theme.NORMAL_LOOK
        self.posterior = None  # the latest kgen.eval.posterior.Posterior shown
        self.iwae = None  # its IWAECurve
        self.aggregate = None  # the latest Aggregate shown
        self.pending: tuple[np.ndarray, int | None, str] | None = None  # an image not yet asked about
        self.usable = False  # a 2-d VAE is loaded
        # Short names: in projector mode long ones would widen the whole window.
        self.image_button = QPushButton("One image")
        self.image_button.setToolTip("p(z|x) on a grid and q(z|x)'s ellipses, for one test or drawn image")
        self.aggregate_button = QPushButton("All test images")
        self.aggregate_button.setToolTip("the aggregate posterior of the test codes against the prior N(0, I)")
        self.modes = QButtonGroup(self)
        for number, button in enumerate((self.image_button, self.aggregate_button)):
            button.setCheckable(True)
            self.modes.addButton(button, number)
        self.image_button.setChecked(True)
        self.modes.idToggled.connect(self._on_mode)
        self.index = QSpinBox()
        self.index.setPrefix("test image #")
        self.index.setKeyboardTracking(False)  # typed numbers count once complete
        self.index.valueChanged.connect(self.index_chosen.emit)
        self.image = ImagePanel("", min_size=72)
        self.image.setFixedSize(120, 150)
        self.note = note_label()
        self.readout = QLabel()
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.holes_readout = QLabel()
        self.holes_readout.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self._image_page())
        self.stack.addWidget(self._aggregate_page())

        buttons = QHBoxLayout()
        buttons.addWidget(self.image_button)
        buttons.addWidget(self.aggregate_button)
        buttons.addStretch(1)
        buttons.addWidget(self.index)
        header = QHBoxLayout()
        header.addLayout(buttons, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.note)
        layout.addWidget(self.stack, 1)
        self.set_look(self._look)
        self.reset()

    # --- building

    def _image_page(self) -> QWidget:
        self.plots = pg.GraphicsLayoutWidget()
        self.heat_plot, self.heat = _heat_plot(self.plots, 0, "true posterior p(z|x); rings: q(z|x)")
        self.iwae_plots = pg.GraphicsLayoutWidget()
        self.prior_rings = [self.heat_plot.plot() for _ in range(2)]
        self.q_rings = [self.heat_plot.plot() for _ in range(2)]
        self.q_centre = pg.ScatterPlotItem(symbol="+")
        self.heat_plot.addItem(self.q_centre)
        self.iwae_plot = self.iwae_plots.addPlot(row=0, col=0, title="IWAE-k rises to log p(x)")
        self.iwae_plot.setMenuEnabled(False)
        self.iwae_plot.setMouseEnabled(x=False, y=False)
        self.iwae_plot.hideButtons()
        self.iwae_plot.setLogMode(x=True, y=False)
        self.iwae_plot.setLabel("bottom", "k (samples from q)")
        self.iwae_plot.setLabel("left", "nats")
        self.iwae_plot.showGrid(x=True, y=True, alpha=0.2)
        self.iwae_plot.getAxis("bottom").setTicks([[(float(p), f"{10**p:,}") for p in range(5)], []])
        self.iwae_legend = self.iwae_plot.addLegend(offset=(-8, -8))
        self.iwae_errors = pg.ErrorBarItem()
        self.iwae_plot.addItem(self.iwae_errors)
        self.iwae_line = self.iwae_plot.plot(name="IWAE-k (mean ± s.e.)", symbol="o")
        self.log_px_line = pg.InfiniteLine(angle=0, movable=False)
        self.iwae_plot.addItem(self.log_px_line)
        self.log_px_key = self.iwae_plot.plot(name="log p(x) from the grid")  # the legend's sample of the line
        self.elbo_mark = self.iwae_plot.plot(name="ELBO (k = 1)", symbol="s")
        self.zoom = QCheckBox("zoom to the posterior")
        self.zoom.setChecked(True)
        self.zoom.setToolTip("frame p(z|x) and q's 2σ ellipse; unticked, the whole grid (the prior to ±4σ)")
        self.zoom.toggled.connect(lambda _: self._frame_heat())
        plots = QHBoxLayout()
        plots.addWidget(self.plots, 1)
        plots.addWidget(self.iwae_plots, 1)
        readouts = QHBoxLayout()
        readouts.addWidget(self.image)
        readouts.addWidget(self.readout, 1)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(plots, 1)
        layout.addWidget(self.zoom)
        layout.addLayout(readouts)
        return page

    def _aggregate_page(self) -> QWidget:
        self.aggregate_plots = pg.GraphicsLayoutWidget()
        self.aggregate_plot, self.aggregate_heat = _heat_plot(self.aggregate_plots, 0,
                                                              "aggregate posterior: the test codes' density")
        self.prior_plot, self.prior_heat = _heat_plot(self.aggregate_plots, 1, "the prior N(0, I)")
        self.hole_images = [pg.ImageItem() for _ in range(2)]
        for plot, holes in zip((self.aggregate_plot, self.prior_plot), self.hole_images, strict=True):
            plot.addItem(holes)
        self.prior_plot.setXLink(self.aggregate_plot)
        self.prior_plot.setYLink(self.aggregate_plot)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.aggregate_plots, 1)
        layout.addWidget(self.holes_readout)
        return page

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: larger text in ink, thicker rings and lines), now and later."""
        self._look = look
        palette = look.palette
        for widget in (self.plots, self.iwae_plots, self.aggregate_plots):
            widget.setBackground(palette.plot_background)
        for plot in (self.heat_plot, self.iwae_plot, self.aggregate_plot, self.prior_plot):
            theme.style_axes(plot, look)
            plot.setTitle(plot.titleLabel.text, size=look.size(TITLE_POINTS), color=look.title_colour)
        theme.style_legend(self.iwae_legend, look)
        for heat in (self.heat, self.aggregate_heat, self.prior_heat):
            heat.setColorMap(heat_colours(look))
        guide = pg.mkPen(palette.plot_guide, width=look.width(1), style=Qt.PenStyle.DashLine)
        for ring in self.prior_rings:
            ring.setPen(guide)
        q = palette.series[1]
        self.q_rings[0].setPen(pg.mkPen(q, width=look.width(2.5)))
        self.q_rings[1].setPen(pg.mkPen(q, width=look.width(2), style=Qt.PenStyle.DashLine))
        self.q_centre.setPen(pg.mkPen(q, width=look.width(2)))
        self.q_centre.setSize(look.points(14))
        ink = palette.plot_ink
        self.iwae_line.setPen(pg.mkPen(palette.series[0], width=look.width(2)))
        self.iwae_line.setSymbolBrush(palette.series[0])
        self.iwae_line.setSymbolSize(look.points(7))
        self.iwae_errors.setOpts(pen=pg.mkPen(palette.series[0], width=look.width(1)))
        log_px_pen = pg.mkPen(ink, width=look.width(2), style=Qt.PenStyle.DashLine)
        self.log_px_line.setPen(log_px_pen)
        self.log_px_key.setPen(log_px_pen)
        self.elbo_mark.setPen(None)
        self.elbo_mark.setSymbolBrush(q)
        self.elbo_mark.setSymbolPen(pg.mkPen(ink, width=look.width(1)))
        self.elbo_mark.setSymbolSize(look.points(12))
        for label in (self.readout, self.holes_readout):  # their colour is the application palette's text
            font = QFont(label.font())
            font.setPointSizeF(READOUT_POINTS * look.font_scale)
            label.setFont(font)
        self.image.set_look(look)
        if self.aggregate is not None:
            self._draw_holes(self.aggregate)

    # --- state

    def reset(self, usable: bool = False, note: str = "") -> None:
        """No results; ``usable`` when a 2-d VAE is loaded (else the page says why it is empty)."""
        self.usable, self.posterior, self.iwae, self.aggregate, self.pending = usable, None, None, None, None
        for item in (self.heat, self.aggregate_heat, self.prior_heat, *self.hole_images):
            item.clear()
        for curve in (*self.prior_rings, *self.q_rings, self.iwae_line, self.elbo_mark, self.log_px_key):
            curve.setData([], [])
        self.q_centre.setData([], [])
        self.iwae_errors.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
        self.log_px_line.setVisible(False)
        self.image.clear("")
        self.readout.setText("")
        self.holes_readout.setText("")
        self.stack.setVisible(usable)
        for button in (self.image_button, self.aggregate_button):
            button.setEnabled(usable)
        self.index.setEnabled(False)  # until a run's test images arrive
        self.note.setText(note or (NO_IMAGE if usable else NOT_2D))
        self.note.setVisible(not usable or self.mode() == "image")

    def mode(self) -> str:
        """"image" (one image's posterior) or "aggregate"."""
        return "aggregate" if self.aggregate_button.isChecked() else "image"

    def set_mode(self, mode: str) -> None:
        (self.aggregate_button if mode == "aggregate" else self.image_button).setChecked(True)

    def _on_mode(self, number: int, checked: bool) -> None:
        if checked:
            self.stack.setCurrentIndex(number)
            self.note.setVisible(number == 0)  # the aggregate page's text is under its maps
            self.mode_changed.emit()

    def set_image(self, image: np.ndarray, label: int | None, source: str) -> None:
        """The image to show next: kept in ``pending`` until the explorer asks the worker about it."""
        if self.usable:
            self.pending = (np.asarray(image, "float32"), label, source)
            self.image.set_picture(np.clip(image, 0.0, 1.0), source)
            self.note.setText(f"computing the posterior of {source}…")

    def set_test_images(self, count: int) -> None:
        """Offer test images 0..count-1 by number (0: none to offer)."""
        self.index.blockSignals(True)
        self.index.setRange(0, max(0, count - 1))
        self.index.blockSignals(False)
        self.index.setEnabled(self.usable and count > 0)

    def show_index(self, index: int) -> None:
        """Show test image ``index``'s number without asking for it again."""
        self.index.blockSignals(True)
        self.index.setValue(index)
        self.index.blockSignals(False)

    def take_pending(self) -> tuple[np.ndarray, int | None, str] | None:
        """The image waiting to be asked about (once), or None."""
        pending, self.pending = self.pending, None
        return pending

    # --- results

    def show_error(self, message: str) -> None:
        self.note.setText(f"error: {message}")

    def show_posterior(self, event: dict) -> None:
        """Draw a "posterior" event: the heat map, q's ellipses, the readouts and the IWAE curve."""
        post, curve = event["posterior"], event["iwae"]
        self.posterior, self.iwae = post, curve
        _place(self.heat, post.density, post.z0, post.z1, (0.0, float(post.density.max())))
        for ring, k in zip(self.prior_rings, (1.0, 2.0), strict=True):
            ring.setData(*ellipse_points(np.zeros(2), np.eye(2), k))
        for ring, k in zip(self.q_rings, (1.0, 2.0), strict=True):
            ring.setData(*ellipse_points(post.q_mean, post.q_cov, k))
        self.q_centre.setData([post.q_mean[0]], [post.q_mean[1]])
        self._frame_heat()
        self.image.set_picture(np.clip(event["image"], 0.0, 1.0), event["source"])
        self._draw_iwae(post, curve)
        self.readout.setText(self._posterior_text(post, curve))
        self.note.setText(f"{event['source']}: the heat map is p(z|x) ∝ p(x|z) p(z) on a "
                          f"{len(post.z0)}×{len(post.z1)} grid; solid ring q's 1σ, dashed 2σ; "
                          "grey circles the prior's 1σ and 2σ.")

    def _frame_heat(self) -> None:
        """Frame the heat map: where p(z|x) is above 1/1000 of its peak and q's 2-sigma ellipse
        (zoomed), or the whole grid."""
        post = self.posterior
        if post is None:
            return
        if not self.zoom.isChecked():
            self.heat_plot.setRange(xRange=(post.z0[0], post.z0[-1]), yRange=(post.z1[0], post.z1[-1]), padding=0)
            return
        i0, i1 = np.nonzero(post.density > 1e-3 * post.density.max())
        ex, ey = ellipse_points(post.q_mean, post.q_cov, 2.0)
        x = np.concatenate([post.z0[i0], ex])
        y = np.concatenate([post.z1[i1], ey])
        self.heat_plot.setRange(xRange=(x.min(), x.max()), yRange=(y.min(), y.max()), padding=0.08)

    def _draw_iwae(self, post, curve) -> None:
        log_k = np.log10(curve.ks.astype("float64"))
        self.iwae_line.setData(curve.ks.astype("float64"), curve.mean)
        self.iwae_errors.setData(x=log_k, y=curve.mean, height=2 * curve.standard_error)
        self.log_px_line.setPos(post.log_px)
        self.log_px_line.setVisible(True)
        self.log_px_key.setData([], [])
        self.elbo_mark.setData([1.0], [post.elbo])
        low = min(float(np.min(curve.mean - curve.standard_error)), post.elbo)
        high = max(float(np.max(curve.mean + curve.standard_error)), post.log_px)
        span = max(high - low, 0.05)
        self.iwae_plot.setYRange(low - 0.1 * span, high + 0.15 * span, padding=0)
        self.iwae_plot.setXRange(-0.15, float(log_k[-1]) + 0.25, padding=0)

    @staticmethod
    def _posterior_text(post, curve) -> str:
        return (f"<table cellspacing=6>"
                f"<tr><td>log p(x) (grid)</td><td align=right><b>{post.log_px:.3f}</b></td><td>nats</td></tr>"
                f"<tr><td>ELBO</td><td align=right><b>{post.elbo:.3f}</b></td>"
                f"<td>= E<sub>q</sub> log p(x|z) {post.expected_log_likelihood:.2f} − KL(q‖p(z)) {post.kl_prior:.2f}</td></tr>"
                f"<tr><td>gap = KL(q ‖ p(z|x))</td><td align=right><b>{post.gap:.3f}</b></td>"
                f"<td>(summed on the grid: {post.kl_grid:.3f})</td></tr>"
                f"<tr><td>IWAE-{int(curve.ks[-1])}</td><td align=right><b>{curve.mean[-1]:.3f}</b></td>"
                f"<td>± {curve.standard_error[-1]:.3f}, {curve.pool:,} draws from q shared by every k</td></tr>"
                f"</table>")

    def show_aggregate(self, event: dict) -> None:
        """Draw an "aggregate" event: the test codes' density beside N(0, I), holes shaded."""
        agg = self.aggregate = event["aggregate"]
        peak = max(float(agg.density.max()), float(agg.prior.max()))
        for heat, values in ((self.aggregate_heat, agg.density), (self.prior_heat, agg.prior)):
            _place(heat, values, agg.z0, agg.z1, (0.0, peak))  # one colour scale for both
        self._draw_holes(agg)
        self.aggregate_plot.setRange(xRange=(agg.z0[0], agg.z0[-1]), yRange=(agg.z1[0], agg.z1[-1]), padding=0)
        self.holes_readout.setText(
            f"Left: the mixture of all {agg.codes:,} {event.get('dataset', '')} test images' q(z|x); right: the prior; "
            f"on one colour scale. Shaded: holes, where the codes' density is below {HOLE_FRACTION:.0%} of the "
            f"prior's. <b>{agg.holes:.1%}</b> of prior draws z ~ N(0, I) land in a hole, where the decoder "
            "has seen no code: that is where prior samples go wrong.")

    def _draw_holes(self, agg) -> None:
        """Shade the holes (only where the prior has some density) on both maps."""
        holes = (agg.density < HOLE_FRACTION * agg.prior) & (agg.prior > 0.01 * agg.prior.max())
        colour = pg.mkColor(self._look.palette.series[3])
        rgba = np.zeros((*holes.shape, 4), np.uint8)
        rgba[holes] = (colour.red(), colour.green(), colour.blue(), 110)
        for item in self.hole_images:
            _place(item, rgba, agg.z0, agg.z1, (0, 255))
