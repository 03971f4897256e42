"""A lesson formula on screen: its text at once, its typeset picture once a background thread has
rendered it (kgen.services.formulas), so the interface never waits for matplotlib."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy

from gui import theme
from kgen.services.formulas import render
from kgen.services.jobs import BackgroundJob

POLL_MS = 40  # how often a waiting label looks whether its picture is ready
FORMULA_POINTS = 15.0


def to_pixmap(picture: np.ndarray) -> QPixmap:
    """An (H, W, 4) uint8 RGBA array as a pixmap (copied: the array may be shared)."""
    height, width = picture.shape[:2]
    image = QImage(picture.data, width, height, width * 4, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(image.copy())


class FormulaJob(QObject):
    """Renders one formula in a background thread; calls ``done(picture)`` or ``failed(message)``
    on the interface thread when it is ready (polled, never waited for)."""

    def __init__(self, tex: str, size: float, color: str, done: Callable[[np.ndarray], None],
                 failed: Callable[[str], None], parent: QObject | None = None):
        super().__init__(parent)
        self._done, self._failed = done, failed
        self._job = BackgroundJob(render, tex, size, color, name="kgen-formula").start()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    @property
    def finished(self) -> bool:
        return not self._timer.isActive()

    def cancel(self) -> None:
        """Never call back (the render itself ends in its thread, and stays cached)."""
        self._timer.stop()
        self.deleteLater()

    def _poll(self) -> None:
        if not self._job.done:
            return
        self._timer.stop()
        if self._job.error is not None:
            self._failed(self._job.error)
        else:
            self._done(self._job.result())


class FormulaLabel(QLabel):
    """One formula: ``waiting`` (its caption, say) as text until the typeset picture replaces it;
    a picture wider than the label is scaled down to fit."""

    def __init__(self, tex: str, size: float = FORMULA_POINTS, parent=None, waiting: str = ""):
        super().__init__(waiting or tex, parent)
        self.tex = tex
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._pixmap: QPixmap | None = None
        self.error: str | None = None
        self.job = FormulaJob(tex, size, theme.PALETTE.text, self._show, self._fail, self)

    @property
    def rendered(self) -> bool:
        return self._pixmap is not None

    def _show(self, picture: np.ndarray) -> None:
        self._pixmap = to_pixmap(picture)
        self.setWordWrap(False)
        self._fit()

    def _fail(self, message: str) -> None:
        self.error = message
        self.setToolTip(message)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is None:
            return
        shown = self._pixmap
        if shown.width() > self.width() > 0:
            shown = shown.scaledToWidth(self.width(), Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(shown)
        self.setMinimumHeight(shown.height())
