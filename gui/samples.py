"""The run's sample grids: the latest one, and a slider back through every epoch's grid."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget


class SamplesView(QWidget):
    """Shows one sample grid; new grids are kept in memory and shown while the slider is at the end."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._grids: list[tuple[int, np.ndarray]] = []
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._show)
        self.label = QLabel("no samples yet")
        self.label.setMinimumWidth(90)
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(row)

    def count(self) -> int:
        return len(self._grids)

    def shown_epoch(self) -> int | None:
        return self._grids[self.slider.value()][0] if self._grids else None

    def add_grid(self, epoch: int, picture: np.ndarray) -> None:
        """Keep ``picture`` (uint8, (H, W) or (H, W, 3)); show it unless the user scrubbed back."""
        following = not self._grids or self.slider.value() == self.slider.maximum()
        self._grids.append((epoch, np.ascontiguousarray(picture)))
        self.slider.setEnabled(len(self._grids) > 1)
        self.slider.setMaximum(len(self._grids) - 1)
        if following:
            self.slider.setValue(len(self._grids) - 1)
        self._show(self.slider.value())

    def clear(self) -> None:
        self._grids.clear()
        self.slider.setMaximum(0)
        self.slider.setEnabled(False)
        self.image.clear()
        self.label.setText("no samples yet")

    def _show(self, index: int) -> None:
        if not 0 <= index < len(self._grids):
            return
        epoch, picture = self._grids[index]
        resized = self.image.image is None or self.image.image.shape[:2] != picture.shape[:2]
        self.image.setImage(picture, levels=(0, 255))
        if resized:
            self.view.autoRange(padding=0.01)
        self.label.setText(f"epoch {epoch}")
