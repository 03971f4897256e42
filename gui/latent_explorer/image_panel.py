"""A titled picture scaled to fit its panel with sharp pixels: the explorer's image display."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui import theme


class ImagePanel(QWidget):
    """Shows one picture: float in [0, 1] or uint8, grey (H, W) / (H, W, 1) or RGB (H, W, 3)."""

    def __init__(self, title: str = "", parent=None, min_size: int = 96):
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.PALETTE.plot_background)
        self.graphics.setMinimumSize(min_size, min_size)
        self.graphics.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # sharp pixels, large
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)

    def set_look(self, look: theme.Look) -> None:
        """Draw on ``look``'s plot background; pictures stay scaled pixel for pixel (nearest neighbour)."""
        self.graphics.setBackground(look.palette.plot_background)

    def set_picture(self, picture: np.ndarray, title: str | None = None) -> None:
        """Show ``picture``; the view refits only when its size changes, so live updates don't jump."""
        picture = np.asarray(picture)
        if picture.ndim == 3 and picture.shape[-1] == 1:
            picture = picture[..., 0]
        levels = (0, 255) if picture.dtype == np.uint8 else (0.0, 1.0)
        resized = self.image.image is None or self.image.image.shape[:2] != picture.shape[:2]
        self.image.setImage(picture, levels=levels)
        if resized:
            self.view.autoRange(padding=0.01)
        if title is not None:
            self.title.setText(title)

    def picture(self) -> np.ndarray | None:
        """A copy of the picture shown (grey pictures without their channel axis), or None."""
        return None if self.image.image is None else self.image.image.copy()

    def clear(self, title: str | None = None) -> None:
        self.image.clear()
        if title is not None:
            self.title.setText(title)


def note_label() -> QLabel:
    """The grey, wrapping line of explanation under an explorer page."""
    label = QLabel()
    label.setWordWrap(True)
    theme.set_role(label, "muted")
    return label
