"""The 2-D manifold page: decoded images at Gaussian quantiles over two chosen latent dimensions."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.latent_explorer.image_panel import ImagePanel, note_label

DEFAULT_SIZE = 11  # images a side


class ManifoldView(QWidget):
    """Pick the dimension that rises across and the one that rises up; the grid comes from the worker."""

    changed = Signal()  # the dims or the grid size changed: ask for a new grid
    export_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.across = QComboBox()
        self.up = QComboBox()
        self.size = QSpinBox()
        self.size.setRange(3, 25)
        self.size.setValue(DEFAULT_SIZE)
        self.size.setToolTip("images a side")
        self.export_button = QPushButton("PNG…")
        self.export_button.setToolTip("save the grid as a PNG")
        self.panel = ImagePanel("", min_size=200)
        self.note = note_label()
        self._previous = (0, 1)
        self.grid: np.ndarray | None = None  # the picture shown, uint8 (H, W, C), for export
        self.across.currentIndexChanged.connect(lambda _: self._on_dims(self.across))
        self.up.currentIndexChanged.connect(lambda _: self._on_dims(self.up))
        self.size.valueChanged.connect(lambda _: self.changed.emit())
        self.export_button.clicked.connect(self.export_requested.emit)

        controls = QHBoxLayout()
        for text, widget in (("→", self.across), ("↑", self.up), ("n", self.size)):
            controls.addWidget(QLabel(text))
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.note)
        layout.addWidget(self.panel, 1)
        self.set_latent_dim(0)

    def set_look(self, look: theme.Look) -> None:
        """Draw its pictures in ``look`` (see `ImagePanel.set_look`)."""
        self.panel.set_look(look)

    def set_latent_dim(self, latent_dim: int, note: str = "") -> None:
        """Offer dims 0..latent_dim-1 (z0 across, z1 up); fewer than 2 dims disables the page."""
        usable = latent_dim >= 2
        for combo, dim in ((self.across, 0), (self.up, 1)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([f"z{d}" for d in range(latent_dim)])
            combo.setCurrentIndex(dim if usable else -1)
            combo.blockSignals(False)
        self._previous = (0, 1)
        for widget in (self.across, self.up, self.size, self.export_button):
            widget.setEnabled(usable)
        self.panel.clear("")
        self.grid = None
        if latent_dim == 1:
            note = "a 1-d latent has no 2-D manifold"
        self.note.setText(note or "Other dimensions and the class come from the Sliders page; "
                          "the grid spans the N(0, 1) prior's 5%-95% quantiles.")

    def dims(self) -> tuple[int, int]:
        return self.across.currentIndex(), self.up.currentIndex()

    def _on_dims(self, moved: QComboBox) -> None:
        """Keep the two dims different: picking the other's dim swaps them."""
        across, up = self.dims()
        if across == up:
            other = self.up if moved is self.across else self.across
            other.blockSignals(True)
            other.setCurrentIndex(self._previous[1] if moved is self.up else self._previous[0])
            other.blockSignals(False)
        self._previous = self.dims()
        self.changed.emit()

    def show_grid(self, picture: np.ndarray, dims: tuple[int, int]) -> None:
        """Show the worker's grid picture (uint8) for ``dims``."""
        across, up = dims
        self.grid = picture
        self.panel.set_picture(picture, f"z{across} rises left → right, z{up} rises bottom → top")
