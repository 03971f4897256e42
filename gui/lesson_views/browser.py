"""The lesson browser: the lecture's lessons in order, each with its slides, title, a thumbnail
and whether its demo has run here; a broken lesson file is listed greyed with its one-line error."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from gui import theme
from gui.lesson_views.formula_label import FormulaJob, to_pixmap
from gui.lesson_views.panel import slides_text
from kgen.lessons import Lesson, LessonError

THUMB = QSize(160, 60)
THUMB_POINTS = 10.0  # a thumbnail formula's size before it is scaled into THUMB
NAME_ROLE = Qt.ItemDataRole.UserRole


def last_grid(run_dir: Path | None) -> Path | None:
    """The last sample grid a run folder holds (samples/epoch_NNNN.png), if any."""
    if run_dir is None:
        return None
    grids = sorted((Path(run_dir) / "samples").glob("epoch_*.png"))
    return grids[-1] if grids else None


def text_thumbnail(text: str) -> QPixmap:
    """A thumbnail that says ``text`` (a lesson with neither a run nor a formula to show)."""
    pixmap = QPixmap(THUMB)
    pixmap.fill(QColor(theme.PALETTE.base))
    painter = QPainter(pixmap)
    painter.setPen(QColor(theme.PALETTE.text))
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    painter.end()
    return pixmap


def grid_thumbnail(grid: QPixmap) -> QPixmap:
    """The top rows of a sample grid, cut to the thumbnail's shape: a few samples large enough to
    tell apart, rather than the whole grid shrunk to stripes."""
    height = min(grid.height(), round(grid.width() * THUMB.height() / THUMB.width()))
    return fitted(grid.copy(0, 0, grid.width(), height))


def icon_of(pixmap: QPixmap) -> QIcon:
    """An icon that looks the same selected (not tinted by the selection colour)."""
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)
    return icon


def fitted(pixmap: QPixmap) -> QPixmap:
    """``pixmap`` scaled (keeping its shape) into the thumbnail box, centred on its background."""
    scaled = pixmap.scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                           Qt.TransformationMode.FastTransformation if pixmap.width() < THUMB.width() // 2
                           else Qt.TransformationMode.SmoothTransformation)
    box = QPixmap(THUMB)
    box.fill(QColor(theme.PALETTE.base))
    painter = QPainter(box)
    painter.drawPixmap((THUMB.width() - scaled.width()) // 2, (THUMB.height() - scaled.height()) // 2, scaled)
    painter.end()
    return box


class LessonBrowser(QWidget):
    """The list of lessons; activating one (double click, Enter) asks the window to open it."""

    opened = Signal(str)  # the lesson's name

    def __init__(self, parent=None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setIconSize(THUMB)
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.setUniformItemSizes(False)
        self.list.itemActivated.connect(self._on_activated)
        self.header = QLabel("The lecture's lessons, in order: double-click one to open it.")
        self.header.setWordWrap(True)
        theme.set_role(self.header, "muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.list)
        self._jobs: list[FormulaJob] = []

    def set_lessons(self, items: Sequence[Lesson | LessonError], has_run: Callable[[Lesson], bool],
                    run_folder: Callable[[Lesson], Path | None]) -> None:
        """List ``items`` (lessons, in the given order, and broken files) with their thumbnails:
        the last sample grid of ``run_folder(lesson)``, else its first formula, else its slides."""
        for job in self._jobs:  # renders for the items about to go: never call back into them
            job.cancel()
        self._jobs = []
        self.list.clear()
        for item in items:
            if isinstance(item, Lesson):
                self._add_lesson(item, has_run(item), last_grid(run_folder(item)))
            else:
                self._add_broken(item)

    def _add_lesson(self, lesson: Lesson, ran: bool, grid: Path | None) -> None:
        done = "✓ its demo has run" if ran else "not run yet"
        entry = QListWidgetItem(f"{slides_text(lesson.slides).capitalize()}: {lesson.title}\n{done}")
        entry.setData(NAME_ROLE, lesson.name)
        entry.setToolTip(f"{lesson.name}: {', '.join(run.name for run in lesson.runs)}")
        self.list.addItem(entry)
        picture = QPixmap(str(grid)) if grid is not None else QPixmap()
        if not picture.isNull():
            entry.setIcon(icon_of(grid_thumbnail(picture)))
            return
        entry.setIcon(icon_of(text_thumbnail(slides_text(lesson.slides))))
        if lesson.formulas:  # the slide numbers until the formula is typeset
            self._jobs.append(FormulaJob(lesson.formulas[0].tex, THUMB_POINTS, theme.PALETTE.text,
                                         lambda p, name=lesson.name: self._set_icon(name, p), lambda _: None, self))

    def _set_icon(self, name: str, picture: np.ndarray) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(NAME_ROLE) == name:
                self.list.item(i).setIcon(icon_of(fitted(to_pixmap(picture))))

    def _add_broken(self, error: LessonError) -> None:
        entry = QListWidgetItem(f"Broken lesson file\n{error}")
        entry.setFlags(Qt.ItemFlag.NoItemFlags)  # greyed: it cannot be opened
        entry.setToolTip(str(error))
        entry.setIcon(icon_of(text_thumbnail("cannot be read")))
        self.list.addItem(entry)

    def names(self) -> list[str]:
        """The names of the listed lessons, in order (broken files left out)."""
        return [n for n in (self.list.item(i).data(NAME_ROLE) for i in range(self.list.count())) if n]

    def select(self, name: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(NAME_ROLE) == name:
                self.list.setCurrentRow(i)

    def _on_activated(self, entry: QListWidgetItem) -> None:
        name = entry.data(NAME_ROLE)
        if name:
            self.opened.emit(name)
