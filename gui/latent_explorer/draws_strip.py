"""Draws of x from p(x|z) beside the decoder's mean: slide 9's generative process, made visible."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui import theme
from gui.latent_explorer.image_panel import ImagePanel, note_label

DRAWS = 3  # draws shown beside the mean


class DrawsStrip(QWidget):
    """The decoder's mean at z and a few draws x ~ p(x|z) for the same z, redrawn as z moves."""

    redraw_requested = Signal()

    def __init__(self, parent=None, draws: int = DRAWS):
        super().__init__(parent)
        self.title = QLabel("draws of x from p(x|z) for this z")
        self.redraw_button = QPushButton("New draws")
        self.redraw_button.setToolTip("draw again from p(x|z) for the same z")
        self.redraw_button.clicked.connect(self.redraw_requested)
        self.mean = ImagePanel("mean", min_size=64)
        self.draws = [ImagePanel(f"draw {i + 1}", min_size=64) for i in range(draws)]
        self.note = note_label()
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.redraw_button)
        row = QHBoxLayout()
        for panel in (self.mean, *self.draws):
            row.addWidget(panel, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addLayout(row, 1)
        layout.addWidget(self.note)

    def set_look(self, look: theme.Look) -> None:
        """Draw its pictures in ``look`` (see `ImagePanel.set_look`)."""
        for panel in (self.mean, *self.draws):
            panel.set_look(look)

    def show_draws(self, event: dict) -> None:
        """Show a "draws" event: the mean, the draws (clipped to [0, 1] for display) and what they are."""
        self.mean.set_picture(event["mean"], "mean")
        for panel, draw in zip(self.draws, event["draws"], strict=False):
            panel.set_picture(np.clip(draw, 0.0, 1.0))
        if event["likelihood"] == "bernoulli":
            self.note.setText("Bernoulli decoder: each pixel is 1 with the mean's probability, else 0")
        else:
            self.note.setText(f"Gaussian decoder: mean + sigma * noise, sigma about {event['sigma']:.3g} "
                              "(draws clipped to [0, 1] for display)")

    def clear(self, note: str = "") -> None:
        for panel in (self.mean, *self.draws):
            panel.clear()
        self.note.setText(note)

    def set_enabled(self, enabled: bool, note: str = "") -> None:
        self.redraw_button.setEnabled(enabled)
        if not enabled:
            self.clear(note)
