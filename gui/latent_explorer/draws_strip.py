"""Draws of x from p(x|z) beside the decoder's mean: slide 9's generative process, made visible.
A decoder with a learned variance also shows its sigma map between them (slide 18)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui import theme
from gui.latent_explorer.image_panel import ImagePanel, note_label
from gui.sigma_panels import SIGMA_COLOURS
from kgen.sigma_maps import sigma_scale_top

DRAWS = 3  # draws shown beside the mean


class SigmaMapPanel(ImagePanel):
    """The sigma of every pixel on a colour scale, with a colour bar of its range in pixel units."""

    def __init__(self, min_size: int = 64):
        super().__init__("σ map", min_size=min_size)
        self.colour_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get(SIGMA_COLOURS), width=12,
                                          interactive=False, colorMapMenu=False)  # the title and note say its unit
        self.colour_bar.setImageItem(self.image)
        self.graphics.addItem(self.colour_bar, row=0, col=1)
        self.top: float | None = None

    def show_sigma(self, sigma: np.ndarray) -> None:
        """Show sigma (H, W[, 1]) in pixel units, its scale from 0 to a round number above its largest."""
        sigma = np.asarray(sigma, np.float32)
        sigma = sigma[..., 0] if sigma.ndim == 3 and sigma.shape[-1] == 1 else sigma
        self.top = sigma_scale_top(sigma)
        resized = self.image.image is None or self.image.image.shape[:2] != sigma.shape[:2]
        self.image.setImage(sigma, autoLevels=False)
        self.colour_bar.setLevels((0.0, self.top))
        if resized:
            self.view.autoRange(padding=0.01)
        self.title.setText(f"σ of each pixel, 0 to {self.top:g}")

    def set_look(self, look: theme.Look) -> None:
        super().set_look(look)
        theme.style_axes(self.colour_bar, look)  # its ticks on the right, its label on the left


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
        self.sigma = SigmaMapPanel(min_size=64)
        self.sigma.setVisible(False)  # a learned variance only
        self.draws = [ImagePanel(f"draw {i + 1}", min_size=64) for i in range(draws)]
        self.note = note_label()
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.redraw_button)
        row = QHBoxLayout()
        for panel in (self.mean, self.sigma, *self.draws):
            row.addWidget(panel, 5 if panel is self.sigma else 4)  # the map's colour bar takes a fifth
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addLayout(row, 1)
        layout.addWidget(self.note)

    def set_look(self, look: theme.Look) -> None:
        """Draw its pictures in ``look`` (see `ImagePanel.set_look`)."""
        for panel in (self.mean, self.sigma, *self.draws):
            panel.set_look(look)

    def show_draws(self, event: dict) -> None:
        """Show a "draws" event: the mean, the sigma map of a learned variance, the draws (clipped to [0, 1]
        for display) and what they are."""
        self.mean.set_picture(event["mean"], "mean")
        for panel, draw in zip(self.draws, event["draws"], strict=False):
            panel.set_picture(np.clip(draw, 0.0, 1.0))
        learned = event["likelihood"] == "gaussian-learned" and event.get("sigma_map") is not None
        self.sigma.setVisible(learned)
        if learned:
            self.sigma.show_sigma(event["sigma_map"])
            self.note.setText("Learned variance: each pixel has its own sigma (the map, in pixel units: pixels run "
                              "from 0 to 1); a draw is mean + sigma * noise (clipped to [0, 1] for display)")
        elif event["likelihood"] == "bernoulli":
            self.note.setText("Bernoulli decoder: each pixel is 1 with the mean's probability, else 0")
        else:
            self.note.setText(f"Gaussian decoder: mean + sigma * noise, sigma about {event['sigma']:.3g} "
                              "(draws clipped to [0, 1] for display)")

    def clear(self, note: str = "") -> None:
        for panel in (self.mean, self.sigma, *self.draws):
            panel.clear()
        self.note.setText(note)

    def set_enabled(self, enabled: bool, note: str = "") -> None:
        self.redraw_button.setEnabled(enabled)
        if not enabled:
            self.clear(note)
