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
    return parser.parse_args(argv)


def freeze_imports() -> None:
    """Put every object alive now out of the garbage collector's reach. Without TensorFlow the
    window's process still holds about 140,000 objects (Qt, pyqtgraph, SciPy, none of them
    garbage): a full collection over them held the interface thread ~200 ms, a freeze the user
    sees at random; with them frozen it takes well under a millisecond (docs/BENCHMARKS.md).
    Call it once, after the imports."""
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
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
    app.setOrganizationName("kgen")  # with the name: where QSettings keeps projector mode (gui/projector.py)
    app.setDesktopFileName(theme.ICON_NAME)  # pairs the window with assets/kgen-studio.desktop
    theme.apply(app)
    window = MainWindow(runs_root=args.runs)
    window.setWindowIcon(theme.icon())
    screen = app.primaryScreen().availableGeometry()
    window.resize(min(1400, screen.width()), min(900, screen.height()))
    window.show()
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
