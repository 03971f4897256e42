"""A learned variance beside the means: the sigma map on a labelled colour scale and a draw
x ~ N(mean, sigma^2), two panels placed to the right of a picture of means in its graphics layout."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from gui import theme

SIGMA_COLOURS = "viridis"  # perceptually even, and readable without colour vision
TITLE_POINTS = 9.0


def sigma_values(picture: np.ndarray, top: float) -> np.ndarray:
    """The sigmas of a sigma map's uint8 grey picture (0 is sigma 0, 255 is ``top``), in pixel units."""
    return np.asarray(picture, np.float32) / 255.0 * float(top)


class SigmaPanels:
    """The sigma map (with a colour bar of its range, in pixel units) and a draw, beside ``mean_plot``
    in ``graphics`` (at row 0, column 0); they join its layout with the first pictures and leave it
    on `detach`. ``picture_plot`` makes a plot for one picture (gui.samples_view.picture_plot)."""

    def __init__(self, graphics: pg.GraphicsLayoutWidget, picture_plot):
        self.graphics = graphics
        self.sigma_plot = picture_plot("σ of every pixel")
        self.sigma_image = pg.ImageItem(axisOrder="row-major")
        self.sigma_plot.addItem(self.sigma_image)
        self.colour_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get(SIGMA_COLOURS),
                                          interactive=False, label="σ in pixel units (0 to 1)",
                                          colorMapMenu=False)
        self.colour_bar.setImageItem(self.sigma_image)
        self.draw_plot = picture_plot("a draw x ~ N(mean, σ²)")
        self.draw_image = pg.ImageItem(axisOrder="row-major")
        self.draw_plot.addItem(self.draw_image)
        for plot, image in ((self.sigma_plot, self.sigma_image), (self.draw_plot, self.draw_image)):
            plot.getViewBox().sigResized.connect(
                lambda *_, plot=plot, image=image: image.image is not None and plot.getViewBox().autoRange(padding=0.01))
        self.attached = False
        self.top: float | None = None
        self._look = theme.NORMAL_LOOK

    def show(self, sigma_picture: np.ndarray, draw_picture: np.ndarray, top: float) -> None:
        """Show a sigma map (uint8 grey, white = ``top``) and a draw (titles short: the three share a row)."""
        if not self.attached:
            self.graphics.addItem(self.sigma_plot, row=0, col=1)  # the means' plot is at row 0, column 0
            self.graphics.addItem(self.colour_bar, row=0, col=2)
            self.graphics.addItem(self.draw_plot, row=0, col=3)
            for col, stretch in enumerate((1, 1, 0, 1)):  # the three pictures equally wide, the bar as narrow as it is
                self.graphics.ci.layout.setColumnStretchFactor(col, stretch)
            self.attached = True
        resized = self.sigma_image.image is None or self.sigma_image.image.shape[:2] != sigma_picture.shape[:2]
        self.top = float(top)
        self.sigma_image.setImage(sigma_values(sigma_picture, top))
        self.colour_bar.setLevels((0.0, self.top))
        self.draw_image.setImage(draw_picture, levels=(0, 255))
        self._title(self.sigma_plot, f"σ of each pixel, 0 to {self.top:g}")
        self._title(self.draw_plot, "a draw x ~ N(mean, σ²)")
        if resized:
            for plot in (self.sigma_plot, self.draw_plot):
                plot.getViewBox().autoRange(padding=0.01)

    def detach(self) -> None:
        """Leave the layout (a run without a learned variance, or views starting over)."""
        if self.attached:
            for item in (self.sigma_plot, self.colour_bar, self.draw_plot):
                self.graphics.removeItem(item)
            self.attached = False
        self.sigma_image.clear()
        self.draw_image.clear()
        self.top = None

    def set_look(self, look: theme.Look) -> None:
        """Projector mode: larger titles and colour-bar text, in ink."""
        self._look = look
        for plot in (self.sigma_plot, self.draw_plot):
            self._title(plot, plot.titleLabel.text)
        theme.style_axes(self.colour_bar, look)  # its ticks on the right, its label on the left

    def _title(self, plot: pg.PlotItem, text: str) -> None:
        plot.setTitle(text, size=self._look.size(TITLE_POINTS), color=self._look.title_colour)
