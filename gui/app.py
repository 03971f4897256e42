"""Entry point of ``kgen-studio``, the desktop app: train a model and watch it learn."""

from __future__ import annotations

import argparse
import gc
import os
import sys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kgen-studio", description="Train kgen's generative models and watch them learn.")
    parser.add_argument("--start", action="store_true", help="start training the default config at once")
    parser.add_argument("--runs", default="runs", help="folder for new runs (default: runs)")
    parser.add_argument("--monitor", metavar="RUN", help="follow the run directory RUN (live or finished)")
    parser.add_argument("--lesson", metavar="NAME", help="open the lesson NAME at start (`kgen lessons` lists them)")
    return parser.parse_args(argv)


def freeze_imports() -> None:
    """Put every object alive now out of the garbage collector's reach. Without TensorFlow the
    window's process still holds about 140,000 objects (Qt, pyqtgraph, SciPy, none of them
    garbage): a full collection over them held the interface thread ~200 ms, a freeze the user
    sees at random; with them frozen it takes well under a millisecond (docs/BENCHMARKS.md).
    Call it once, after the imports."""
    gc.freeze()


def find_start_lesson(name: str):
    """The lessons (and broken files) to list, and the lesson ``name`` among them; a LessonError
    naming the lessons if there is none of that name (read before any window opens)."""
    from kgen.lessons import Lesson, LessonError, shipped

    items = shipped()
    good = [item for item in items if isinstance(item, Lesson)]
    lesson = next((item for item in good if item.name == name), None)
    if lesson is None:
        raise LessonError(f"no lesson named {name!r}; the lessons are {', '.join(x.name for x in good)}")
    return items, lesson


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    start_lesson = None
    if args.lesson:
        from kgen.lessons import LessonError

        try:
            start_lesson = find_start_lesson(args.lesson)
        except LessonError as err:
            print(f"kgen-studio: {err}", file=sys.stderr)
            return 2
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui import theme
    from gui.main_window import MainWindow
    from kgen.services.training_process import discard_spare

    freeze_imports()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("kgen studio")
    app.setDesktopFileName(theme.ICON_NAME)  # pairs the window with assets/kgen-studio.desktop
    theme.apply(app)
    window = MainWindow(runs_root=args.runs)
    window.setWindowIcon(theme.icon())
    screen = app.primaryScreen().availableGeometry()
    window.resize(min(1400, screen.width()), min(900, screen.height()))
    window.show()
    if start_lesson is not None:
        items, lesson = start_lesson
        window.show_lessons(items)
        window.open_lesson(lesson)
    if args.monitor:
        window.open_run(args.monitor)
    elif args.start:
        QTimer.singleShot(0, window.start_training)
    try:
        return app.exec()
    finally:
        discard_spare()  # the training process kept ready for a next run


if __name__ == "__main__":
    sys.exit(main())
