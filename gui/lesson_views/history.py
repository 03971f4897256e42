"""Which lessons' demos have run in this app, and the run folder of each one's last finished run:
remembered across restarts in QSettings, keyed by the lesson's name and a hash of its runs (a
lesson whose runs a teacher edits has not run yet)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QSettings

from kgen.lessons import Lesson

ORGANIZATION, APPLICATION = "kgen", "kgen-studio"  # where QSettings keeps the studio's settings
GROUP = "lessons"


def settings() -> QSettings:
    """The studio's settings store (tests point it at a temporary file with QSettings.setPath)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def lesson_key(lesson: Lesson) -> str:
    """The lesson's name and a short hash of its runs' names and configs."""
    runs = "".join(f"{run.name}:{run.config.fingerprint()};" for run in lesson.runs)
    return f"{lesson.name}-{hashlib.sha256(runs.encode()).hexdigest()[:12]}"


class LessonHistory:
    """Has a lesson's demo run here, and where its last finished run is (its thumbnail's grid)."""

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else settings()

    def has_run(self, lesson: Lesson) -> bool:
        """True once one of its runs finished here (even if its folder was deleted since)."""
        return self.store.contains(f"{GROUP}/{lesson_key(lesson)}")

    def last_run(self, lesson: Lesson) -> Path | None:
        """The folder of the lesson's last run that finished in this app, if it is still there."""
        value = self.store.value(f"{GROUP}/{lesson_key(lesson)}")
        return Path(value) if isinstance(value, str) and value and Path(value).is_dir() else None

    def mark_run(self, lesson: Lesson, run_dir: str | Path) -> None:
        """Remember that ``lesson``'s demo finished, into ``run_dir``."""
        self.store.setValue(f"{GROUP}/{lesson_key(lesson)}", str(Path(run_dir).resolve()))
        self.store.sync()
