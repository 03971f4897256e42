"""The interpolation page: two chosen ends A and B and the strip of images decoded between them."""

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
from kgen.pictures import image_grid

# The methods of kgen.eval.latent.interpolate (not imported: it needs Keras); a test keeps them equal.
INTERPOLATIONS = ("linear", "slerp")
DEFAULT_STEPS = 10


class InterpolateView(QWidget):
    """Ends come from the scatter ("Use as A/B") or "Random pair"; the strip comes from the worker."""

    changed = Signal()  # method or steps changed: ask for a new strip
    random_pair_requested = Signal()
    export_gif_requested = Signal()
    export_png_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frames: np.ndarray | None = None  # (steps, H, W, C) in [0, 1], for the GIF
        self.strip: np.ndarray | None = None  # uint8 picture of the frames side by side, for the PNG
        self.end_panels = {end: ImagePanel(f"{end}: none yet", min_size=80) for end in "AB"}
        self.random_button = QPushButton("Random pair")
        self.random_button.setToolTip("two random test images (a GAN: two random codes)")
        self.method = QComboBox()
        self.method.addItems(list(INTERPOLATIONS))
        self.method.setToolTip("slerp follows the great circle, keeping codes at a typical prior radius")
        self.steps = QSpinBox()
        self.steps.setRange(3, 24)
        self.steps.setValue(DEFAULT_STEPS)
        self.steps.setToolTip("images in the strip, both ends included")
        self.gif_button = QPushButton("GIF…")
        self.gif_button.setToolTip("save the strip as an animated GIF")
        self.png_button = QPushButton("PNG…")
        self.png_button.setToolTip("save the strip as a PNG")
        self.strip_panel = ImagePanel("pick A and B on the Scatter page, or a random pair", min_size=60)
        self.note = note_label()
        self.random_button.clicked.connect(self.random_pair_requested.emit)
        self.method.currentIndexChanged.connect(lambda _: self.changed.emit())
        self.steps.valueChanged.connect(lambda _: self.changed.emit())
        self.gif_button.clicked.connect(self.export_gif_requested.emit)
        self.png_button.clicked.connect(self.export_png_requested.emit)

        controls = QHBoxLayout()
        controls.addWidget(self.random_button)
        controls.addWidget(self.method)
        controls.addWidget(QLabel("steps"))
        controls.addWidget(self.steps)
        controls.addStretch(1)
        controls.addWidget(self.gif_button)
        controls.addWidget(self.png_button)
        ends = QHBoxLayout()
        ends.addWidget(self.end_panels["A"])
        ends.addWidget(self.end_panels["B"])
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.note)
        layout.addLayout(ends, 2)
        layout.addWidget(self.strip_panel, 2)
        layout.addStretch(1)
        self.reset()

    def set_look(self, look: theme.Look) -> None:
        """Draw its pictures in ``look`` (see `ImagePanel.set_look`)."""
        for panel in (*self.end_panels.values(), self.strip_panel):
            panel.set_look(look)

    def reset(self, enabled: bool = False, note: str = "") -> None:
        """Forget the ends and the strip."""
        for end, panel in self.end_panels.items():
            panel.clear(f"{end}: none yet")
        self.strip_panel.clear("pick A and B on the Scatter page, or a random pair")
        self.frames = self.strip = None
        self.random_button.setEnabled(enabled)
        self._set_exportable(False)
        self.note.setText(note)

    def set_end(self, end: str, image: np.ndarray | None, title: str) -> None:
        """Show end "A" or "B": its image (None for a random code with no image) and caption."""
        panel = self.end_panels[end]
        if image is None:
            panel.clear(title)
        else:
            panel.set_picture(image, title)

    def show_frames(self, frames: np.ndarray, method: str) -> None:
        """Show the worker's decoded path (steps, H, W, C) as one strip."""
        self.frames = frames
        self.strip = image_grid(frames, columns=len(frames))
        self.strip_panel.set_picture(self.strip, f"A → B, {method}, {len(frames)} steps")
        self._set_exportable(True)

    def method_name(self) -> str:
        return self.method.currentText()

    def _set_exportable(self, on: bool) -> None:
        self.gif_button.setEnabled(on)
        self.png_button.setEnabled(on)
