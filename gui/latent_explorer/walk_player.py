"""The dream walk's Play/Pause and speed: z wanders through the prior, one frame per decoded answer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from kgen.services.explorer import DreamWalk

FRAME_MS = 40  # at most 25 frames a second; fewer when the decoder answers slower
SPEEDS = (1, 10)  # the speed slider's range
LEG_FRAMES = 150  # frames from one prior draw to the next at speed 1


def frames_per_leg(speed: int) -> int:
    """Frames between two keyframes at ``speed``: 150 at speed 1 (6 s at 25 fps), 15 at speed 10."""
    return max(1, round(LEG_FRAMES / speed))


class WalkPlayer(QWidget):
    """Play/Pause and a speed slider; while playing, ``frame`` carries the walk's next code whenever
    ``ready()`` says the previous one has been decoded, so the walk never builds a backlog."""

    frame = Signal(object)  # np.ndarray (D,)

    def __init__(self, ready: Callable[[], bool], parent=None, seed: int | None = None):
        super().__init__(parent)
        self._ready = ready
        self._seed = seed
        self.walk: DreamWalk | None = None
        self.frames = 0  # frames sent since Play
        self.play_button = QPushButton("Play dream walk")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("wander through z along a smooth random walk through the prior "
                                    "(slerp between draws z ~ N(0, I)); the sliders follow")
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(*SPEEDS)
        self.speed.setValue(3)
        self.speed.setMaximumWidth(120)
        self.speed.setToolTip("how fast the walk moves from one prior draw to the next")
        self.speed.valueChanged.connect(self._on_speed)
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._tick)
        self._start_z: Callable[[], np.ndarray] = lambda: np.zeros(0, np.float32)
        self.play_button.toggled.connect(self._on_toggled)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.play_button)
        layout.addWidget(QLabel("speed"))
        layout.addWidget(self.speed)

    def set_start(self, current_z: Callable[[], np.ndarray]) -> None:
        """Where Play starts from: the code the sliders show when it is pressed."""
        self._start_z = current_z

    @property
    def playing(self) -> bool:
        return self.play_button.isChecked()

    def pause(self) -> None:
        self.play_button.setChecked(False)

    def _on_toggled(self, on: bool) -> None:
        self.play_button.setText("Pause dream walk" if on else "Play dream walk")
        if not on:
            self._timer.stop()
            return
        z = self._start_z()
        if len(z) == 0:
            self.play_button.setChecked(False)
            return
        self.walk = DreamWalk(len(z), self._seed, start=z, steps_per_leg=frames_per_leg(self.speed.value()))
        self.frames = 0
        self._timer.start()

    def _on_speed(self, speed: int) -> None:
        if self.walk is not None:
            self.walk.steps_per_leg = frames_per_leg(speed)

    def _tick(self) -> None:
        if self.walk is None or not self._ready():  # the last frame is still being decoded
            return
        self.frames += 1
        self.frame.emit(self.walk.step())
