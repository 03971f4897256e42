"""How long the "KL of two Gaussians" tab takes to follow a dragged slider, at n = 10,000 draws.

Drags mu_q across its range and times, per slider value, kgen's update (both closed forms, both
Monte Carlo estimates, four curves handed to pyqtgraph: ``KLGaussiansView.update_ms``) and that
update plus Qt's repaint of the plots. Usage:
QT_QPA_PLATFORM=offscreen python benchmarks/kl_view_update.py [--width W --height H]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from PySide6.QtWidgets import QApplication

from gui import theme
from gui.kl_gaussians_view import KLGaussiansView


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=750)  # the tab's size in a 1600x1000 window
    parser.add_argument("--height", type=int, default=960)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    theme.apply(app)
    view = KLGaussiansView()
    view.resize(args.width, args.height)
    view.show()
    app.processEvents()
    view.samples.set_value(10_000)
    update, painted = [], []
    for value in np.tile(np.linspace(-2, 2, 81), 3):
        start = time.perf_counter()
        view.mu_q.set_value(value)
        update.append(view.update_ms)
        view.plots.viewport().repaint()
        painted.append(1000 * (time.perf_counter() - start))
    for name, times in (("update (numpy + setData)", update), ("update + repaint", painted)):
        print(f"{name}: median {statistics.median(times):.2f} ms, 90th percentile "
              f"{np.percentile(times, 90):.2f} ms over {len(times)} slider moves")


if __name__ == "__main__":
    main()
