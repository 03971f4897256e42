"""The latent explorer: a slider per latent dimension, decoded live by a `DecodeService`.

The UI thread never calls TensorFlow: it hands codes to the service and polls its results.
"""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from kgen.explorer import DecodeService

POLL_MS = 30
MAX_SLIDERS = 16  # sliders for the first this many dimensions; the rest stay as set
STEP = 0.05  # one slider tick
LIMIT = 3.0  # sliders run from -LIMIT to LIMIT


class LatentView(QWidget):
    """Sliders for z, a class picker for conditional models, and the decoded image."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.service: DecodeService | None = None
        self.z = np.zeros(0, np.float32)
        self.sliders: list[QSlider] = []
        self._value_labels: list[QLabel] = []
        self._rng = np.random.default_rng()

        self.open_button = QPushButton("Open model…")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.status = QLabel("no model yet: finish a run or open a .keras file")
        self.status.setWordWrap(False)
        self.note = QLabel()
        self.note.setVisible(False)
        self.class_label = QLabel("class")
        self.class_picker = QComboBox()
        self.class_picker.currentIndexChanged.connect(lambda _: self._request())
        self.random_button = QPushButton("Random z")
        self.zero_button = QPushButton("Zero")
        self.random_button.clicked.connect(self.randomize)
        self.zero_button.clicked.connect(self.zero)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)

        self._slider_box = QWidget()
        self._slider_grid = QGridLayout(self._slider_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._slider_box)
        scroll.setMinimumWidth(240)
        scroll.setMaximumWidth(300)

        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.status, 1)
        controls = QHBoxLayout()
        controls.addWidget(self.class_label)
        controls.addWidget(self.class_picker)
        controls.addStretch(1)
        controls.addWidget(self.random_button)
        controls.addWidget(self.zero_button)
        body = QHBoxLayout()
        body.addWidget(scroll)
        body.addWidget(self.graphics, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(controls)
        layout.addWidget(self.note)
        layout.addLayout(body, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._set_controls(False, conditional=False)

    # Loading -------------------------------------------------------------------------------

    def load_model(self, path: str | os.PathLike) -> None:
        """Load the model at ``path`` in the service's thread; the sliders appear once it is loaded."""
        self.close_service()
        self._clear_sliders()
        self.image.clear()
        self.note.setVisible(False)
        self._set_controls(False, conditional=False)
        self.status.setText(f"loading {os.fspath(path)}…")
        self.service = DecodeService(path)
        self._timer.start()

    def close_service(self) -> None:
        self._timer.stop()
        if self.service is not None:
            self.service.close(timeout=None)  # a daemon thread: never block the UI on it
            self.service = None

    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a kgen model", "", "Keras models (*.keras)")
        if path:
            self.load_model(path)

    def _on_loaded(self, event: dict) -> None:
        service = self.service
        self.z = np.zeros(event["latent_dim"], np.float32)
        self.status.setText(f"{service.path.name}: {event['latent_dim']}-d latent, "
                            + ("2-D points" if event["points"] else "x".join(map(str, event["image_shape"]))))
        if event["points"]:
            self._show_note("this GAN makes 2-D points, not images: there is nothing to show here")
            return
        shown = min(event["latent_dim"], MAX_SLIDERS)
        if event["latent_dim"] > MAX_SLIDERS:
            self._show_note(f"sliders for the first {MAX_SLIDERS} of {event['latent_dim']} dimensions; "
                            "Random z sets them all")
        for dim in range(shown):
            self._add_slider(dim)
        self._slider_grid.setRowStretch(shown, 1)  # sliders packed at the top
        self.class_picker.blockSignals(True)
        self.class_picker.clear()
        self.class_picker.addItems([str(c) for c in range(event["num_classes"])])
        self.class_picker.blockSignals(False)
        self._set_controls(True, conditional=event["num_classes"] > 0)
        self._request()

    # Sliders -------------------------------------------------------------------------------

    def _add_slider(self, dim: int) -> None:
        slider = QSlider(Qt.Orientation.Horizontal)
        ticks = round(LIMIT / STEP)
        slider.setRange(-ticks, ticks)
        slider.setMinimumWidth(140)
        value = QLabel("0.00")
        value.setMinimumWidth(40)
        slider.valueChanged.connect(lambda tick, d=dim: self._on_slider(d, tick))
        self._slider_grid.addWidget(QLabel(f"z{dim}"), dim, 0)
        self._slider_grid.addWidget(slider, dim, 1)
        self._slider_grid.addWidget(value, dim, 2)
        self.sliders.append(slider)
        self._value_labels.append(value)

    def _clear_sliders(self) -> None:
        self._slider_grid.setRowStretch(len(self.sliders), 0)
        while self._slider_grid.count():
            widget = self._slider_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.sliders.clear()
        self._value_labels.clear()

    def _on_slider(self, dim: int, tick: int) -> None:
        self.z[dim] = tick * STEP
        self._value_labels[dim].setText(f"{tick * STEP:.2f}")
        self._request()

    def set_z(self, z: np.ndarray) -> None:
        """Set the whole code (sliders follow, clipped to their range) and decode it once."""
        self.z = np.asarray(z, np.float32).copy()
        for dim, slider in enumerate(self.sliders):
            slider.blockSignals(True)
            slider.setValue(round(float(np.clip(self.z[dim], -LIMIT, LIMIT)) / STEP))
            slider.blockSignals(False)
            self._value_labels[dim].setText(f"{self.z[dim]:.2f}")
        self._request()

    def randomize(self) -> None:
        self.set_z(self._rng.standard_normal(len(self.z)).astype(np.float32))

    def zero(self) -> None:
        self.set_z(np.zeros(len(self.z), np.float32))

    def label(self) -> int | None:
        """The picked class for a conditional model, else None."""
        conditional = self.service is not None and self.service.num_classes > 0
        return max(0, self.class_picker.currentIndex()) if conditional else None

    # Talking to the service ----------------------------------------------------------------

    def _request(self) -> None:
        if self.service is not None and self.service.ready and not self.service.points:
            self.service.request(self.z, self.label())

    def poll(self) -> None:
        service = self.service
        if service is None:
            return
        for event in service.events():
            if event["type"] == "loaded":
                self._on_loaded(event)
            else:
                self.status.setText(f"error: {event['message']}")
        results = service.poll()
        if results:
            self._show(results[-1][1])

    def _show(self, image: np.ndarray) -> None:
        picture = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
        resized = self.image.image is None or self.image.image.shape[:2] != picture.shape[:2]
        self.image.setImage(picture, levels=(0.0, 1.0))
        if resized:
            self.view.autoRange(padding=0.01)

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(True)

    def _set_controls(self, enabled: bool, conditional: bool) -> None:
        self.random_button.setEnabled(enabled)
        self.zero_button.setEnabled(enabled)
        self.class_label.setVisible(conditional)
        self.class_picker.setVisible(conditional)
