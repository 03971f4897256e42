"""The drawing pad: draw an image with the mouse and see, live, what the model's encoder makes of it.

The canvas has the model's own image size, shown large, and a soft brush so strokes look like the
data. Each change goes to the latent explorer's worker as an encode request (the latest one wins,
so a stroke never builds a backlog); its answer gives q(z|x)'s mean and variance, the
reconstruction (the decoder's mean at the mean code) and their place in the test set's scatter,
with the 1- and 2-sigma ellipses of q(z|x). The pad shares the explorer's `DecodeService`: no
second worker process, and this process never imports TensorFlow.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from gui import theme
from gui.latent_explorer.image_panel import ImagePanel, note_label
from gui.latent_explorer.latent_view import LatentView
from gui.latent_explorer.scatter_view import LEGEND_POINTS, POINT_SIZE
from kgen.eval.posterior import ellipse_points

STAMP_SPACING = 0.25  # brush stamps along a stroke, in image pixels
ELLIPSE_SIGMAS = (1.0, 2.0)
SHOWN_DIMS = 4  # the code's numbers written out under the reconstruction
RING_WIDTHS = (3.0, 2.0)  # the 1- and 2-sigma rings' pens, in the normal look
MARKER_SIZE, MARKER_WIDTH = 14, 3.0  # the code's cross
TITLE_POINTS = 9.0
NO_MODEL = "The pad uses the latent explorer's model: finish a run, or open one in the Latent explorer."


def brush_sigma(width: int) -> float:
    """The brush's Gaussian width in pixels: about one pixel on 28x28 images, half one on 8x8."""
    return max(0.5, width / 28.0)


class PadCanvas(QWidget):
    """A grey image (H, W) in [0, 1] painted with a soft round brush; ``changed`` after each stroke part."""

    changed = Signal()

    def __init__(self, shape: tuple[int, int] = (28, 28), parent=None):
        super().__init__(parent)
        self.image = np.zeros(shape, np.float32)
        self._last: tuple[float, float] | None = None  # the stroke's previous point, in image pixels
        self.look = theme.NORMAL_LOOK  # its background and frame (`set_look`)
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("draw with the left mouse button")

    def set_look(self, look: theme.Look) -> None:
        """Paint on ``look``'s plot background with its ink frame, thicker in projector mode."""
        self.look = look
        self.update()

    def set_shape(self, shape: tuple[int, int]) -> None:
        """A blank canvas of ``shape`` (the model's image size)."""
        self.image = np.zeros(shape, np.float32)
        self.update()

    def clear(self) -> None:
        self.image[:] = 0.0
        self.update()
        self.changed.emit()

    def set_image(self, image: np.ndarray) -> None:
        """Show ``image`` (H, W) or (H, W, C) in [0, 1] (colour averaged to grey) to draw over."""
        image = np.asarray(image, np.float32)
        self.image = (image.mean(axis=-1) if image.ndim == 3 else image).copy()
        self.update()
        self.changed.emit()

    def image_rect(self) -> QRectF:
        """Where the image is drawn: the largest centred rectangle of its aspect ratio."""
        h, w = self.image.shape
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def to_pixels(self, pos: QPointF) -> tuple[float, float]:
        """Widget coordinates to image coordinates (x, y), pixel i spanning [i, i + 1)."""
        rect = self.image_rect()
        h, w = self.image.shape
        return ((pos.x() - rect.left()) / rect.width() * w, (pos.y() - rect.top()) / rect.height() * h)

    def stroke_to(self, point: tuple[float, float]) -> None:
        """Paint from the stroke's last point to ``point`` (image coordinates), stamping the brush."""
        start = self._last or point
        length = float(np.hypot(point[0] - start[0], point[1] - start[1]))
        for t in np.linspace(0.0, 1.0, max(2, int(length / STAMP_SPACING) + 1)):
            self._stamp(start[0] + t * (point[0] - start[0]), start[1] + t * (point[1] - start[1]))
        self._last = point
        self.update()
        self.changed.emit()

    def _stamp(self, x: float, y: float) -> None:
        h, w = self.image.shape
        sigma = brush_sigma(w)
        ys, xs = np.mgrid[0:h, 0:w] + 0.5
        blob = np.minimum(1.0, 1.5 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)))
        np.maximum(self.image, blob.astype(np.float32), out=self.image)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = None
            self.stroke_to(self.to_pixels(event.position()))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._last is not None:
            self.stroke_to(self.to_pixels(event.position()))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._last = None

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        palette = self.look.palette
        painter.fillRect(self.rect(), QColor(palette.plot_background))
        grey = np.ascontiguousarray((np.clip(self.image, 0.0, 1.0) * 255).astype(np.uint8))
        h, w = grey.shape
        picture = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8)
        rect = self.image_rect()
        painter.drawImage(rect, picture)  # no smoothing: the model's pixels, large
        painter.setPen(QPen(QColor(palette.plot_ink), self.look.width(1)))
        painter.drawRect(rect)
        painter.end()


class DrawingPad(QWidget):
    """The canvas, its reconstruction and code, and its place with q(z|x)'s ellipses in the scatter."""

    def __init__(self, latent_view: LatentView, parent=None):
        super().__init__(parent)
        self.latent_view = latent_view
        self.channels = 1
        self.images: np.ndarray | None = None  # the run's test images to pick from
        self.labels: np.ndarray | None = None
        self.class_names: tuple[str, ...] = ()
        self._rng = np.random.default_rng()
        self._scatter_items: list[pg.ScatterPlotItem] = []
        self._classes: dict[pg.ScatterPlotItem, int] = {}  # each scatter item's class, for its colour
        self._look = theme.NORMAL_LOOK  # colours, pen widths, point and text sizes (`set_look`)
        self._title: str | None = None  # the plot's: the plane the scatter shows, once a code came

        self.canvas = PadCanvas()
        self.canvas.changed.connect(self.request_encode)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.test_button = QPushButton("Test image")
        self.test_button.setToolTip("start from a random test image of the run's dataset (draw over it)")
        self.test_button.clicked.connect(lambda: self.pick_test_image())
        self.note = note_label()
        self.reconstruction = ImagePanel("reconstruction (the decoder's mean at μ)", min_size=140)
        self.code_label = QLabel()
        self.code_label.setWordWrap(True)
        self.plot = self._make_plot()

        buttons = QHBoxLayout()
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.note, 1)
        answer = QHBoxLayout()
        answer.addWidget(self.reconstruction, 1)
        answer.addWidget(self.code_label, 1)
        left = QVBoxLayout()
        left.addWidget(self.canvas, 3)
        left.addLayout(answer, 2)
        row = QHBoxLayout()
        row.addLayout(left, 2)
        row.addWidget(self.plot, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(row, 1)

        latent_view.service_changed.connect(self.reset)
        latent_view.model_loaded.connect(self.on_model_loaded)
        latent_view.data_loaded.connect(self.on_data)
        latent_view.encoded.connect(self.show_encoded)
        latent_view.class_picker.currentIndexChanged.connect(lambda _: self.request_encode())  # a CVAE's class
        self.reset()
        self.set_look(self._look)

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: thick rings and cross, larger points, its palette, axes
        and text large and in ink), now and for points and rings drawn later."""
        self._look = look
        self.plot.setBackground(look.palette.plot_background)
        theme.style_axes(self.plot.getPlotItem(), look)
        theme.style_legend(self.legend, look, LEGEND_POINTS)
        ink = look.palette.plot_ink
        for width, curve in zip(RING_WIDTHS, self.ellipses, strict=True):
            curve.setPen(pg.mkPen(ink, width=look.width(width), style=curve.opts["pen"].style()))
        self.marker.setSize(look.points(MARKER_SIZE))
        self.marker.setPen(pg.mkPen(ink, width=look.width(MARKER_WIDTH)))
        for item in self._scatter_items:
            self._style_points(item)
        self._set_title(self._title)
        self.canvas.set_look(look)
        self.reconstruction.set_look(look)

    def _style_points(self, item: pg.ScatterPlotItem) -> None:
        """One class's points in the look: its colour of the palette's series, their size."""
        series = self._look.palette.series
        item.setSize(self._look.points(POINT_SIZE))
        item.setBrush(pg.mkBrush(series[self._classes[item] % len(series)]))

    def _set_title(self, text: str | None) -> None:
        self._title = text
        self.plot.setTitle(text, size=self._look.size(TITLE_POINTS), color=self._look.title_colour)

    def _make_plot(self) -> pg.PlotWidget:
        plot = pg.PlotWidget()  # coloured by `set_look`
        plot.setMenuEnabled(False)
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setAspectLocked(True)
        self.legend = plot.addLegend(offset=(-5, 5), verSpacing=-6)
        self.legend.setColumnCount(2)
        self.ellipses = [pg.PlotCurveItem(pen=pg.mkPen(style=Qt.PenStyle.SolidLine if k == 1 else Qt.PenStyle.DashLine))
                         for k in ELLIPSE_SIGMAS]
        self.marker = pg.ScatterPlotItem(symbol="+")
        for item in (*self.ellipses, self.marker):
            item.setZValue(10)
            plot.addItem(item, ignoreBounds=True)
        return plot

    # Following the explorer's model ------------------------------------------------------------

    def reset(self) -> None:
        """No model yet (or a new one loading): nothing to encode with."""
        self._set_enabled(False)
        self.images = self.labels = None
        self._show_points(None, None)
        self._hide_code()
        self.reconstruction.clear()
        service = self.latent_view.service
        self.note.setText(NO_MODEL if service is None else f"loading {service.path.name}…")

    def on_model_loaded(self, event: dict) -> None:
        if not event["encoder"]:
            self.note.setText("a GAN has no encoder: it cannot say which code made a drawing")
            return
        h, w, self.channels = event["image_shape"]
        self.canvas.set_shape((h, w))
        self._set_enabled(True)
        self.test_button.setEnabled(False)  # until the run's test images are in
        conditional = "; its class is the one picked in the Latent explorer" if event["num_classes"] else ""
        self.note.setText(f"draw a digit ({w}x{h} pixels, as the model sees them){conditional}")

    def on_data(self, data) -> None:
        """The run's test images (to pick from) and their codes in the scatter's plane."""
        self.images, self.labels, self.class_names = data.images, data.labels, tuple(data.class_names)
        self.test_button.setEnabled(self.latent_view.usable() and self.latent_view.service.encoder)
        if data.codes is not None:
            self._show_points(data.xy, data.labels)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.canvas, self.clear_button, self.test_button):
            widget.setEnabled(enabled)

    def _show_points(self, xy: np.ndarray | None, labels: np.ndarray | None) -> None:
        for item in self._scatter_items:
            self.plot.removeItem(item)
        self._scatter_items.clear()
        self._classes.clear()
        self.legend.clear()
        if xy is None:
            return
        groups = [(0, np.arange(len(xy)))] if labels is None else [(c, np.flatnonzero(labels == c)) for c in np.unique(labels)]
        for c, rows in groups:
            name = None if labels is None else (self.class_names[c] if c < len(self.class_names) else str(c))
            item = pg.ScatterPlotItem(xy[rows, 0], xy[rows, 1], pen=None, name=name)
            self._classes[item] = int(c)
            self._style_points(item)
            item.setOpacity(0.55)
            self.plot.addItem(item)
            self._scatter_items.append(item)
        self.plot.autoRange()

    # Drawing and encoding -------------------------------------------------------------------

    def pick_test_image(self, index: int | None = None) -> None:
        """Put test image ``index`` (random if None) on the canvas, to see its code or draw over it."""
        if self.images is None:
            return
        index = int(self._rng.integers(len(self.images))) if index is None else index
        self.canvas.set_image(self.images[index])
        name = ""
        if self.labels is not None:
            label = int(self.labels[index])
            name = f": {self.class_names[label] if label < len(self.class_names) else label}"
        self.note.setText(f"test image #{index}{name}; draw over it or Clear")

    def request_encode(self) -> None:
        """Send the canvas to the worker (the latest request replaces one not yet started)."""
        view = self.latent_view
        if not (view.usable() and view.service.encoder):
            return
        image = np.repeat(self.canvas.image[..., None], self.channels, axis=-1)
        view.service.request_encode(image, view.label())

    def show_encoded(self, event: dict) -> None:
        """Show an "encoded" answer: reconstruction, code, the point and q(z|x)'s ellipses."""
        self.reconstruction.set_picture(event["reconstruction"])
        xy, cov = event["xy"], event["cov"]
        self.marker.setData([xy[0]], [xy[1]])
        for k, curve in zip(ELLIPSE_SIGMAS, self.ellipses, strict=True):
            if cov is None:
                curve.setData([], [])
            else:
                curve.setData(*ellipse_points(xy, cov, k))
        self.code_label.setText(self._describe(event))
        self._set_title(f"plane: {event['plane']}")

    def _describe(self, event: dict) -> str:
        mean, log_var = event["mean"], event["log_var"]
        more = " …" if len(mean) > SHOWN_DIMS else ""
        text = "μ = " + ", ".join(f"{m:+.2f}" for m in mean[:SHOWN_DIMS]) + more
        if log_var is None:
            return text + "\nan autoencoder's code is one point: no spread, no ellipse"
        sigma = np.exp(0.5 * log_var)
        return (text + "\nσ = " + ", ".join(f"{s:.2f}" for s in sigma[:SHOWN_DIMS]) + more
                + "\nrings: 1σ (solid) and 2σ (dashed) of q(z|x)")

    def _hide_code(self) -> None:
        self.marker.setData([], [])
        for curve in self.ellipses:
            curve.setData([], [])
        self.code_label.setText("")
        self._set_title(None)
