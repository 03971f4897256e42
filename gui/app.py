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
    parser.add_argument("--lesson", metavar="NAME", help="open the lesson NAME at start (`kgen lessons` lists them), "
                                                           "or a lesson file of your own, PATH.toml")
    parser.add_argument("--pack", metavar="DIR", help="open the lessons of the class pack DIR (kgen lessons prepare), "
                                                      "read-only, with its prepared runs")
    return parser.parse_args(argv)


def freeze_imports() -> None:
    """Put every object alive now out of the garbage collector's reach. Without TensorFlow the
    window's process still holds about 140,000 objects (Qt, pyqtgraph, SciPy, none of them
    garbage): a full collection over them held the interface thread ~200 ms, a freeze the user
    sees at random; with them frozen it takes well under a millisecond (docs/BENCHMARKS.md).
    Call it once, after the imports."""
    gc.freeze()


def find_start_lesson(name: str | None, items: list):
    """The lesson ``name`` among ``items`` (lessons and broken files), None for no name; a
    LessonError naming the lessons if there is none of that name (read before any window opens)."""
    from kgen.lessons import Lesson, LessonError

    if name is None:
        return None
    good = [item for item in items if isinstance(item, Lesson)]
    lesson = next((item for item in good if item.name == name), None)
    if lesson is None:
        raise LessonError(f"no lesson named {name!r}; the lessons are {', '.join(x.name for x in good)}")
    return lesson


def start_lessons(args: argparse.Namespace):
    """(lessons, pack, lesson to open) for --pack and --lesson, read before any window opens
    (a KgenError for a pack that cannot be opened or an unknown lesson); None without either."""
    if not (args.lesson or args.pack):
        return None
    pack = None
    if args.pack:
        from kgen.services.class_pack import open_pack

        pack = open_pack(args.pack)
        items = list(pack.lessons)
    else:
        from kgen.lessons import shipped

        items = shipped()
    from kgen.lessons import is_lesson_path, lecture_order, load_lesson

    if args.lesson and is_lesson_path(args.lesson):  # a teacher's own file, listed with the others
        own = load_lesson(args.lesson)
        items = lecture_order([item for item in items if getattr(item, "name", None) != own.name] + [own])
        return items, pack, own
    return items, pack, find_start_lesson(args.lesson, items)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from kgen.errors import KgenError

    try:
        start = start_lessons(args)
    except KgenError as err:
        print(f"kgen-studio: {err}", file=sys.stderr)
        return 2
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui import theme
    from gui.collector import collect_in_interface_thread
    from gui.main_window import MainWindow
    from kgen.services.training_process import discard_spare

    freeze_imports()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    collect_in_interface_thread(app)
    app.setApplicationName("kgen studio")
    app.setDesktopFileName(theme.ICON_NAME)  # pairs the window with assets/kgen-studio.desktop
    theme.apply(app)
    window = MainWindow(runs_root=args.runs)
    window.setWindowIcon(theme.icon())
    screen = app.primaryScreen().availableGeometry()
    window.resize(min(1400, screen.width()), min(900, screen.height()))
    window.show()
    if start is not None:
        items, pack, lesson = start
        window.show_lessons(items, pack)
        if lesson is not None:
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
