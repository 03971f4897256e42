"""The encoded test set as a scatter coloured by class; clicking a point shows it and its reconstruction."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui import theme
from gui.latent_explorer.image_panel import ImagePanel, note_label

POINT_SIZE, HOVER_SIZE, MARKER_SIZE = 6, 9, 16  # pixels across, in the normal look
LEGEND_POINTS = 8.0
PROJECTIONS = {"PCA": "pca", "t-SNE": "tsne"}


class ScatterView(QWidget):
    """Points are the test images' posterior means (or their 2-D projection), one colour per class."""

    point_clicked = Signal(int)  # index into the shown test images
    use_as = Signal(str, int)  # ("A" or "B", index): an interpolation end
    projection_changed = Signal(str)  # "pca" or "tsne"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.xy: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.selected: int | None = None
        self.ends: dict[str, int] = {}  # interpolation end ("A", "B") -> index
        self._items: list[pg.ScatterPlotItem] = []
        self._classes: dict[pg.ScatterPlotItem, int] = {}  # each item's class, for its colour
        self._look = theme.NORMAL_LOOK  # colours, point sizes and text (`set_look`)

        self.projection = QComboBox()
        self.projection.addItems(list(PROJECTIONS))
        self.projection.currentTextChanged.connect(lambda text: self.projection_changed.emit(PROJECTIONS[text]))
        self.projection_label = QLabel("projection")
        self.note = note_label()
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.legend = self.plot.addLegend(offset=(-5, 5), verSpacing=-6)
        self.legend.setColumnCount(2)
        self.marker = pg.ScatterPlotItem(symbol="o", brush=None)
        self.marker.setZValue(10)
        self.plot.addItem(self.marker, ignoreBounds=True)
        self.end_labels = {end: pg.TextItem(end, anchor=(0.5, 1.3)) for end in "AB"}
        for text in self.end_labels.values():
            text.setZValue(11)
            self.plot.addItem(text, ignoreBounds=True)
            text.setVisible(False)

        self.original = ImagePanel("click a point", min_size=90)
        self.reconstruction = ImagePanel("its reconstruction", min_size=90)
        self.a_button = QPushButton("Use as A")
        self.b_button = QPushButton("Use as B")
        self.a_button.setToolTip("the start of the interpolation (Interpolate page)")
        self.b_button.setToolTip("the end of the interpolation (Interpolate page)")
        self.a_button.clicked.connect(lambda: self.use_as.emit("A", self.selected))
        self.b_button.clicked.connect(lambda: self.use_as.emit("B", self.selected))

        controls = QHBoxLayout()
        controls.addWidget(self.projection_label)
        controls.addWidget(self.projection)
        controls.addWidget(self.note, 1)
        ends = QVBoxLayout()
        ends.addStretch(1)
        ends.addWidget(self.a_button)
        ends.addWidget(self.b_button)
        ends.addStretch(1)
        detail = QWidget()
        detail.setMaximumHeight(230)
        detail_layout = QHBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.original, 1)
        detail_layout.addWidget(self.reconstruction, 1)
        detail_layout.addLayout(ends)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(detail)
        self.set_points(None, None, (), note="")
        self.set_look(self._look)

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: larger points and ring, class colours of its palette,
        axes, legend and A/B labels large and in ink), now and from now on."""
        self._look = look
        self.plot.setBackground(look.palette.plot_background)
        theme.style_axes(self.plot.getPlotItem(), look)
        theme.style_legend(self.legend, look, LEGEND_POINTS)
        self.marker.setSize(look.points(MARKER_SIZE))
        self.marker.setPen(pg.mkPen(look.palette.plot_ink, width=look.width(2)))
        for text in self.end_labels.values():
            text.setColor(look.palette.plot_ink)
            text.setFont(theme.plot_font(look))
        for item in self._items:
            self._style_points(item)
        for panel in (self.original, self.reconstruction):
            panel.set_look(look)

    def _style_points(self, item: pg.ScatterPlotItem) -> None:
        """One class's points in the look: its colour of the palette's series, their size."""
        series = self._look.palette.series
        item.opts["hoverSize"] = self._look.points(HOVER_SIZE)
        item.setSize(self._look.points(POINT_SIZE))
        item.setBrush(pg.mkBrush(series[self._classes[item] % len(series)]))

    def set_points(self, xy: np.ndarray | None, labels: np.ndarray | None, class_names=(),
                   note: str = "", projectable: bool = False) -> None:
        """Plot ``xy`` (N, 2) coloured by ``labels``; None shows only ``note`` (why there is no scatter)."""
        for item in self._items:
            self.plot.removeItem(item)
        self._items.clear()
        self._classes.clear()
        self.legend.clear()
        self.xy, self.labels, self.selected = xy, labels, None
        self.marker.setData([], [])
        self.ends.clear()
        for text in self.end_labels.values():
            text.setVisible(False)
        self.original.clear("click a point")
        self.reconstruction.clear("its reconstruction")
        self.projection.setVisible(projectable)
        self.projection_label.setVisible(projectable)
        self.note.setText(note)
        self.plot.setEnabled(xy is not None)
        for button in (self.a_button, self.b_button):
            button.setEnabled(False)
        if xy is None:
            return
        groups = [(None, np.arange(len(xy)))] if labels is None else \
            [(c, np.flatnonzero(labels == c)) for c in np.unique(labels)]
        for c, rows in groups:
            name = None if c is None else (class_names[c] if c < len(class_names) else str(c))
            item = pg.ScatterPlotItem(xy[rows, 0], xy[rows, 1], data=rows, pen=None, hoverable=True, name=name)
            self._classes[item] = 0 if c is None else int(c)
            self._style_points(item)
            item.sigClicked.connect(self._on_clicked)
            self.plot.addItem(item)
            self._items.append(item)
        self.plot.autoRange()

    def set_xy(self, xy: np.ndarray) -> None:
        """New coordinates for the same points (another projection), keeping the selection."""
        self.xy = xy
        for item in self._items:
            rows = np.array([spot.data() for spot in item.points()], dtype=int)
            item.setData(xy[rows, 0], xy[rows, 1], data=rows, brush=item.opts["brush"])
        self._place_marker()
        self.plot.autoRange()

    def _on_clicked(self, _item, spots, _event=None) -> None:
        if len(spots):
            self.point_clicked.emit(int(spots[0].data()))

    def select(self, index: int, image: np.ndarray, title: str) -> None:
        """Ring point ``index`` and show its test image."""
        self.selected = index
        self.original.set_picture(image, title)
        self.reconstruction.clear("its reconstruction")
        for button in (self.a_button, self.b_button):
            button.setEnabled(True)
        self._place_marker()

    def show_reconstruction(self, image: np.ndarray) -> None:
        self.reconstruction.set_picture(image, "its reconstruction (decoded mean)")

    def mark_end(self, end: str, index: int | None) -> None:
        """Label point ``index`` as interpolation end "A" or "B" (None hides the label)."""
        self.ends.pop(end, None)
        if index is not None:
            self.ends[end] = index
        self._place_marker()

    def _place_marker(self) -> None:
        if self.xy is None:
            return
        if self.selected is not None:
            self.marker.setData([self.xy[self.selected, 0]], [self.xy[self.selected, 1]])
        for end, text in self.end_labels.items():
            text.setVisible(end in self.ends)
            if end in self.ends:
                text.setPos(*self.xy[self.ends[end]])
