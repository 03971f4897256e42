"""The run's pictures: every epoch's sample grid with a slider back through them, class names
over the columns of conditional grids, and the encoder models' reconstructions. A decoder with a
learned variance shows, beside each grid of means, its sigma map and a draw x ~ N(mean, sigma^2)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.pacing import Pacer
from gui.sigma_panels import SigmaPanels
from kgen.data import DIGIT_CLASSES, FASHION_CLASSES
from kgen.pictures import save_png

BUILTIN_CLASS_NAMES = {"digits": DIGIT_CLASSES, "mnist": DIGIT_CLASSES, "fashion-mnist": FASHION_CLASSES}
TITLE_SIZE = "9pt"
SPLIT_SIZES = (600, 250)  # the sample grid above the reconstructions (beside them in projector mode)
SHORT_NAME = 3  # class names up to this long go over the columns; longer ones get a key below
# While grids come faster than the window can afford to show them (a small dataset's epochs),
# the newest is shown, at most every PICTURE_MS and taking at most PICTURE_SHARE of the
# interface thread's time (`gui.pacing.Pacer`), but at least every PICTURE_MAX_MS.
PICTURE_MS = 250
PICTURE_SHARE = 0.015
PICTURE_MAX_MS = 2000


def builtin_class_names(dataset: str) -> tuple[str, ...]:
    """The class names of a built-in labelled dataset, known without loading it; () otherwise."""
    return tuple(BUILTIN_CLASS_NAMES.get(dataset.split(":")[0], ()))


def column_ticks(width: int, names: Sequence[str]) -> list[tuple[float, str]]:
    """Axis ticks putting ``names`` over the centres of equal columns of a picture ``width`` wide."""
    return [((c + 0.5) * width / len(names), name) for c, name in enumerate(names)]


def fit_on_resize(plot: pg.PlotItem, image: pg.ImageItem) -> None:
    """Keep the whole picture in view whenever the plot changes size (or is first shown)."""
    view = plot.getViewBox()
    view.sigResized.connect(lambda *_: image.image is not None and view.autoRange(padding=0.01))


def picture_plot(title: str) -> pg.PlotItem:
    """A plot showing one picture pixel for pixel: y down, square pixels, no mouse, no axes."""
    plot = pg.PlotItem()
    plot.setTitle(title, size=TITLE_SIZE)
    plot.setAspectLocked(True)
    plot.invertY(True)
    plot.setMouseEnabled(False, False)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    for axis in ("left", "bottom"):
        plot.hideAxis(axis)
    return plot


class Packed:
    """A uint8 picture kept zlib-compressed: a long run's history costs a fraction of its pixels."""

    def __init__(self, picture: np.ndarray):
        picture = np.ascontiguousarray(picture, np.uint8)
        self.shape = picture.shape
        self._data = zlib.compress(picture.tobytes(), 1)

    def array(self) -> np.ndarray:
        return np.frombuffer(zlib.decompress(self._data), np.uint8).reshape(self.shape)


class SamplesView(QWidget):
    """Shows one epoch's sample grid (and reconstructions); every epoch's are kept, compressed.

    New grids are shown while the slider is at its end ("following"), paced (`PICTURE_MS`;
    `flush` shows the newest at once); scrubbing back stays on the chosen epoch until "Latest"
    (or dragging to the end) follows again.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._grids: list[tuple[int, Packed]] = []
        self._shown: int | None = None  # index of the grid on screen
        self._pacer = Pacer(self._show_latest, min_ms=PICTURE_MS, max_ms=PICTURE_MAX_MS, share=PICTURE_SHARE,
                            parent=self)
        self._reconstructions: dict[int, Packed] = {}
        self._sigma_maps: dict[tuple[str, int], tuple[Packed, Packed, float]] = {}  # (kind, epoch): sigma, draw, top
        self._class_names: tuple[str, ...] = ()
        self._conditional_rows = 0
        self._look = theme.NORMAL_LOOK  # title sizes and colours, and where the pictures go (`set_look`)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.PALETTE.plot_background)
        self.plot = picture_plot("samples from fixed noise")
        self.graphics.addItem(self.plot)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.view = self.plot.getViewBox()

        self.recon_graphics = pg.GraphicsLayoutWidget()
        self.recon_graphics.setBackground(theme.PALETTE.plot_background)
        self.recon_plot = picture_plot("test images above their reconstructions")
        self.recon_graphics.addItem(self.recon_plot)
        self.recon_image = pg.ImageItem(axisOrder="row-major")
        self.recon_plot.addItem(self.recon_image)
        self.recon_graphics.setVisible(False)  # until a run sends reconstructions
        self.sample_sigma = SigmaPanels(self.graphics, picture_plot)
        self.recon_sigma = SigmaPanels(self.recon_graphics, picture_plot)
        fit_on_resize(self.plot, self.image)
        fit_on_resize(self.recon_plot, self.recon_image)
        self.class_key = QLabel()  # "0 T-shirt/top · 1 Trouser · ..." when names are too long for the columns
        self.class_key.setWordWrap(True)
        self.class_key.setVisible(False)
        self.recon_epoch: int | None = None

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setToolTip("scrub back through the epochs' grids; at the end new grids are followed")
        self.slider.valueChanged.connect(self._show)
        self.label = QLabel("no samples yet")
        self.label.setMinimumWidth(70)
        self.latest_button = QPushButton("Latest")
        self.latest_button.setToolTip("jump to the newest grid and follow new ones")
        self.latest_button.clicked.connect(self.follow_latest)
        self.export_button = QPushButton("Save PNG…")
        self.export_button.setToolTip("save the sample grid shown as a PNG picture")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.note = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        row.addWidget(self.latest_button)
        row.addWidget(self.export_button)
        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.graphics)
        splitter.addWidget(self.recon_graphics)
        splitter.setSizes(list(SPLIT_SIZES))
        self._other_sizes = [1, 1]  # the splitter's sizes in its other orientation (side by side: halves)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.class_key)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self._update_controls()

    # What is shown ----------------------------------------------------------------------

    def count(self) -> int:
        return len(self._grids)

    def shown_epoch(self) -> int | None:
        return self._grids[self._shown][0] if self._shown is not None else None

    def shown_picture(self) -> np.ndarray | None:
        return self._grids[self._shown][1].array() if self._shown is not None else None

    @property
    def following(self) -> bool:
        """True while the newest grid is shown, so new grids are shown as they come."""
        return not self._grids or self.slider.value() == self.slider.maximum()

    # Feeding it -------------------------------------------------------------------------

    def add_grid(self, epoch: int, picture: np.ndarray) -> None:
        """Keep ``picture`` (uint8, (H, W) or (H, W, 3)); show it unless the user scrubbed back."""
        following = self.following
        self._grids.append((epoch, Packed(picture)))
        self.slider.blockSignals(True)  # the slider moves at once; the picture may wait
        self.slider.setMaximum(len(self._grids) - 1)
        if following:
            self.slider.setValue(len(self._grids) - 1)
        self.slider.blockSignals(False)
        self._update_controls()
        if following:
            self._pacer.request()

    def flush(self) -> None:
        """Show the newest grid now if it waits for the pacer (a run that just ended)."""
        self._pacer.flush()

    def add_reconstructions(self, epoch: int, picture: np.ndarray) -> None:
        """Keep an epoch's reconstructions picture; it is shown with that epoch's grid."""
        self._reconstructions[epoch] = Packed(picture)
        self.recon_graphics.setVisible(True)
        self._show_reconstructions()

    def add_sigma_maps(self, event) -> None:
        """Keep the sigma maps and draw of a samples or reconstructions record of a learned variance
        (`kgen.events.Samples`, `Reconstructions`); shown beside that epoch's means."""
        if event.sigma_picture is None or event.draw_picture is None or not event.sigma_max:
            return
        self._sigma_maps[(event.kind, event.epoch)] = (Packed(event.sigma_picture), Packed(event.draw_picture),
                                                       float(event.sigma_max))
        if event.kind == "reconstructions":
            self.recon_epoch = None  # shown again, titled for the row of three
            self._show_reconstructions()
        self._show_sigma_maps()
        if event.kind == "samples" and not self._conditional_rows:
            self._set_title(self.plot, "means of p(x|z), fixed z")
        self._orient()

    def set_class_columns(self, names: Sequence[str] = (), rows: int = 0) -> None:
        """Conditional grids have one class per column and ``rows`` rows: label the columns
        with ``names`` (digits 0, 1, ... when empty). ``rows`` 0: an unconditional grid."""
        self._class_names, self._conditional_rows = tuple(names), int(rows)
        self._set_title(self.plot, "one class per column, one fixed z per row" if rows else "samples from fixed noise")
        self._label_columns()

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: larger titles and class names, its palette). The
        pictures fill their plots and are scaled pixel for pixel (nearest neighbour) in any look."""
        self._look = look
        for graphics in (self.graphics, self.recon_graphics):
            graphics.setBackground(look.palette.plot_background)
        for plot in (self.plot, self.recon_plot):
            self._set_title(plot, plot.titleLabel.text)
            theme.style_axes(plot, look)
        for panels in (self.sample_sigma, self.recon_sigma):
            panels.set_look(look)
        self._orient()

    def _orient(self) -> None:
        """Samples beside reconstructions when the look asks for it, unless each is a row of three
        (mean, sigma map, draw): rows of three are stacked."""
        beside = self._look.side_by_side and not self.sample_sigma.attached
        orientation = Qt.Orientation.Horizontal if beside else Qt.Orientation.Vertical
        if orientation != self.splitter.orientation():
            sizes, self._other_sizes = self._other_sizes, self.splitter.sizes()
            self.splitter.setOrientation(orientation)
            self.splitter.setSizes(sizes)

    def _set_title(self, plot: pg.PlotItem, text: str) -> None:
        plot.setTitle(text, size=self._look.size(9), color=self._look.title_colour)

    def follow_latest(self) -> None:
        self.slider.setValue(self.slider.maximum())

    def clear(self) -> None:
        self._grids.clear()
        self._shown = None
        self._pacer.cancel()
        self._reconstructions.clear()
        self._sigma_maps.clear()
        self.sample_sigma.detach()
        self.recon_sigma.detach()
        self._orient()
        if not self._conditional_rows:
            self._set_title(self.plot, "samples from fixed noise")
        self.recon_epoch = None
        self.slider.setMaximum(0)
        self.image.clear()
        self.recon_image.clear()
        self.recon_graphics.setVisible(False)
        self.label.setText("no samples yet")
        self.note.clear()
        self._update_controls()

    def save_picture(self, path: str | os.PathLike) -> None:
        """Write the sample grid shown as a PNG file (atomically)."""
        picture = self.shown_picture()
        if picture is None:
            raise ValueError("there is no sample grid to save yet")
        save_png(picture[..., None] if picture.ndim == 2 else picture, path)

    # Inside -----------------------------------------------------------------------------

    def _show_latest(self) -> None:
        if self.following:  # the user may have scrubbed back while the grid waited
            self._show(self.slider.value())

    def _show(self, index: int) -> None:
        self._update_controls()
        if not 0 <= index < len(self._grids):
            return
        self._shown = index
        epoch, packed = self._grids[index]
        picture = packed.array()
        resized = self.image.image is None or self.image.image.shape[:2] != picture.shape[:2]
        self.image.setImage(picture, levels=(0, 255))
        if resized:
            self.view.autoRange(padding=0.01)
            self._label_columns()
        self.label.setText(f"epoch {epoch}")
        self._show_reconstructions()
        self._show_sigma_maps()

    def _show_reconstructions(self) -> None:
        """The reconstructions of the epoch shown, or of the latest epoch before it."""
        shown = self.shown_epoch()
        epochs = [e for e in self._reconstructions if shown is None or e <= shown]
        if not epochs:
            return
        epoch = max(epochs)
        if epoch == self.recon_epoch:
            return
        picture = self._reconstructions[epoch].array()
        resized = self.recon_image.image is None or self.recon_image.image.shape[:2] != picture.shape[:2]
        self.recon_image.setImage(picture, levels=(0, 255))
        self.recon_epoch = epoch
        # Beside a sigma map and a draw a column is a third as wide: a shorter title.
        self._set_title(self.recon_plot, f"epoch {epoch}: " + ("inputs over means" if epoch in self._sigma_epochs()
                                                              else "test images above their reconstructions"))
        if resized:
            self.recon_plot.getViewBox().autoRange(padding=0.01)
        self._show_sigma_maps()

    def _sigma_epochs(self) -> set[int]:
        return {epoch for kind, epoch in self._sigma_maps if kind == "reconstructions"}

    def _show_sigma_maps(self) -> None:
        """Beside the grid shown and the reconstructions shown: their epochs' sigma maps and draws."""
        for kind, epoch, panels in (("samples", self.shown_epoch(), self.sample_sigma),
                                    ("reconstructions", self.recon_epoch, self.recon_sigma)):
            found = self._sigma_maps.get((kind, epoch))
            if found is not None:
                sigma, draw, top = found
                panels.show(sigma.array(), draw.array(), top)

    def _label_columns(self) -> None:
        picture = self.shown_picture()
        if not self._conditional_rows or picture is None:
            self.plot.hideAxis("top")
            self.class_key.setVisible(False)
            return
        height, width = picture.shape[:2]
        # Grid cells are square: rows of them stacked make the height, so the width gives the columns.
        columns = max(1, round(width * self._conditional_rows / height))
        names = self._class_names if len(self._class_names) == columns else tuple(str(c) for c in range(columns))
        short = all(len(name) <= SHORT_NAME for name in names)
        self.plot.getAxis("top").setTicks([column_ticks(width, names if short else [str(c) for c in range(columns)])])
        self.plot.showAxis("top")
        self.class_key.setText("columns: " + "  ·  ".join(f"{c}\u00a0{name}" for c, name in enumerate(names)))
        self.class_key.setVisible(not short)

    def _update_controls(self) -> None:
        self.slider.setEnabled(len(self._grids) > 1)
        self.latest_button.setEnabled(not self.following)
        self.export_button.setEnabled(bool(self._grids))

    def _on_export_clicked(self) -> None:
        epoch = self.shown_epoch()
        path, _ = QFileDialog.getSaveFileName(self, "Save the sample grid", f"samples-epoch{epoch:04d}.png",
                                              "PNG pictures (*.png)")
        if not path:
            return
        try:
            self.save_picture(path)
        except OSError as err:
            self.note.setText(f"could not save: {err.strerror or err}")
        else:
            self.note.setText(f"saved epoch {epoch}'s grid to {path}")
