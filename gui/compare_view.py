"""Compare runs: one metric of several run directories overlaid, each run in its own colour.

Runs are read (never written) through `kgen.runs.read_events`, so finished runs, runs still
training elsewhere (press Reload) and runs recorded by `kgen.train.RunLogger` all compare alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.curves_view import DEFAULT_SMOOTHING, ema
from kgen.errors import show_path
from kgen.runs import EVENTS_FILE, read_events

MODES = {"per step (smoothed)": "step", "per epoch": "epoch"}
# What the curves are drawn against: the step (or epoch) count, or the training's wall time, so
# runs of unequal step costs (gradient estimators, models) compare at equal time spent.
X_AXES = {"against steps / epochs": "count", "against wall time": "elapsed"}
# Compare reads at most this much of a run's events.jsonl (~60,000 steps, about half a second on
# the window's thread): a larger file is compared over its beginning, and the message says so.
MAX_COMPARE_BYTES = 8 << 20


def run_series(events: list[dict], metric: str, mode: str, x_axis: str = "count") -> tuple[np.ndarray, np.ndarray]:
    """(x, values) of ``metric`` in a run's step events (``mode`` "step") or epoch events ("epoch"),
    x being their step or epoch number (``x_axis`` "count") or `training_seconds` ("elapsed")."""
    times = training_seconds(events) if x_axis == "elapsed" else None
    points = []
    for i, e in enumerate(events):
        if e.get("type") != mode or metric not in e.get("metrics", {}):
            continue
        x = e.get(mode) if times is None else times[i]
        if x is not None:
            points.append((x, e["metrics"][metric]))
    if not points:
        return np.empty(0), np.empty(0)
    x, y = np.array(points, dtype=float).T
    return x, y


def training_seconds(events: list[dict]) -> list[float | None]:
    """Each event's seconds of training since the run first started (None where it has no
    ``elapsed``). ``elapsed`` counts from the start of one training session and restarts when a
    run is resumed, so each session after the first is shifted by the time the earlier ones took
    (their last ``elapsed``); time between sessions is not counted."""
    offset, latest, seconds = 0.0, 0.0, []
    for event in events:
        if event.get("type") == "start":
            offset, latest = offset + latest, 0.0
        elapsed = event.get("elapsed")
        if elapsed is None:
            seconds.append(None)
            continue
        latest = max(latest, float(elapsed))
        seconds.append(offset + float(elapsed))
    return seconds


class CompareView(QWidget):
    """A list of runs (add, remove, reload) beside a plot of the chosen metric of each."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._events: dict[str, list[dict]] = {}  # run directory -> its events
        self._labels: dict[str, str] = {}  # run directory -> the name it is shown by, when given one
        self.run_list = QListWidget()
        self.run_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.add_button = QPushButton("Add run…")
        self.remove_button = QPushButton("Remove")
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("read every run's events again (runs still training grow)")
        self.metric_box = QComboBox()
        self.metric_box.setMinimumContentsLength(12)
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.x_axis = QComboBox()
        self.x_axis.addItems(list(X_AXES))
        self.x_axis.setToolTip("wall time: seconds of training (a resumed run's sessions laid end to end)")
        self.smoothing = QDoubleSpinBox()
        self.smoothing.setRange(0.0, 0.99)
        self.smoothing.setSingleStep(0.05)
        self.smoothing.setValue(DEFAULT_SMOOTHING)
        self.smoothing.setToolTip("weight of the exponential moving average of per-step values")
        self.message = QLabel("add two or more run directories to compare them")
        self.message.setWordWrap(True)
        self.plot = pg.PlotWidget(background=theme.PALETTE.plot_background)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # values as the runs logged them, never "(x0.001)"
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._legend: list[tuple[str, str]] = []  # (name, colour) of each run drawn
        self._look = theme.NORMAL_LOOK  # colours, pen widths and font sizes (`set_look`)

        buttons = QVBoxLayout()
        for button in (self.add_button, self.remove_button, self.reload_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        runs = QHBoxLayout()
        runs.addWidget(self.run_list, 1)
        runs.addLayout(buttons)
        buttons.addWidget(QLabel("smoothing"))
        buttons.addWidget(self.smoothing)
        choices = QHBoxLayout()
        choices.addWidget(QLabel("metric"))
        choices.addWidget(self.metric_box, 1)
        choices.addWidget(self.mode, 1)
        choices.addWidget(self.x_axis, 1)
        controls = QWidget()
        controls_layout = QVBoxLayout(controls)
        controls_layout.setContentsMargins(0, 0, 0, 0)
        controls_layout.addLayout(choices)
        controls_layout.addLayout(runs, 1)
        controls_layout.addWidget(self.message)
        splitter = QSplitter(Qt.Orientation.Vertical)  # the plot above, the runs and choices below
        splitter.addWidget(self.plot)
        splitter.addWidget(controls)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([560, 200])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.reload_button.clicked.connect(self.reload)
        self.metric_box.currentTextChanged.connect(self.redraw)
        self.mode.currentTextChanged.connect(self._refresh_metrics)
        self.x_axis.currentTextChanged.connect(self.redraw)
        self.smoothing.valueChanged.connect(self.redraw)

    def runs(self) -> list[str]:
        return list(self._events)

    def add_run(self, path: str | os.PathLike, label: str | None = None) -> bool:
        """Add the run in ``path``, named ``label`` in the list and legend (default: its folder's
        name); False (and a message) when it has no events to compare."""
        key = str(Path(path))
        if label:
            self._labels[key] = label
        events = read_events(Path(path) / EVENTS_FILE, MAX_COMPARE_BYTES)
        if not any(e.get("type") in ("step", "epoch") for e in events):
            self.message.setText(f"{show_path(key)} has no training events to compare")
            return False
        if key not in self._events:
            item = QListWidgetItem(Path(key).name)
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.run_list.addItem(item)
        self._events[key] = events
        self.message.setText(_cut_note(key))
        self._refresh_metrics()
        return True

    def remove_run(self, path: str | os.PathLike) -> None:
        key = str(Path(path))
        self._labels.pop(key, None)
        if self._events.pop(key, None) is not None:
            for row in reversed(range(self.run_list.count())):
                if self.run_list.item(row).data(Qt.ItemDataRole.UserRole) == key:
                    self.run_list.takeItem(row)
            self._refresh_metrics()

    def reload(self) -> None:
        for key in self._events:
            self._events[key] = read_events(Path(key) / EVENTS_FILE, MAX_COMPARE_BYTES)
        self.message.setText(" ".join(filter(None, map(_cut_note, self._events))))
        self._refresh_metrics()

    def set_metric(self, metric: str) -> None:
        self.metric_box.setCurrentText(metric)

    def set_mode(self, mode: str) -> None:
        """``"step"`` (smoothed per-step values) or ``"epoch"`` (epoch means and val_ values)."""
        self.mode.setCurrentText(next(text for text, m in MODES.items() if m == mode))

    def set_x_axis(self, x_axis: str) -> None:
        """``"count"`` (steps or epochs) or ``"elapsed"`` (seconds of training)."""
        self.x_axis.setCurrentText(next(text for text, x in X_AXES.items() if x == x_axis))

    def metrics(self) -> list[str]:
        """Metrics of the current mode found in at least one run, in first-seen order."""
        mode = MODES[self.mode.currentText()]
        found: dict[str, None] = {}
        for events in self._events.values():
            for event in events:
                if event.get("type") == mode:
                    found.update(dict.fromkeys(event.get("metrics", {})))
        return list(found)

    def curve_data(self, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) drawn for the run in ``path``."""
        x, y = self._curves[str(Path(path))].getOriginalDataset()
        return np.asarray(x), np.asarray(y)

    def legend(self) -> list[tuple[str, str]]:
        """(name, colour) of each run drawn: the run list is the plot's legend."""
        return list(self._legend)

    def redraw(self) -> None:
        self.plot.clear()
        self._curves.clear()
        self._legend.clear()
        metric, mode = self.metric_box.currentText(), MODES[self.mode.currentText()]
        x_axis = X_AXES[self.x_axis.currentText()]
        names = {**_short_names(list(self._events)), **self._labels}
        for i, (key, events) in enumerate(self._events.items()):
            item = self.run_list.item(i)
            item.setText(names[key])
            x, y = run_series(events, metric, mode, x_axis) if metric else (np.empty(0), np.empty(0))
            series = self._look.palette.series
            color = series[i % len(series)]
            drawn = bool(x.size)
            item.setIcon(_swatch(color) if drawn else QIcon())
            item.setForeground(self.palette().text() if drawn else QColor(theme.PALETTE.disabled_text))
            item.setToolTip(key if drawn else f"{key}: no {metric} {mode} values")
            if not drawn:
                continue
            self._legend.append((names[key], color))
            if mode == "step":
                y = ema(y, self.smoothing.value())
                curve = self.plot.plot(x, y, name=names[key], pen=pg.mkPen(color, width=self._look.width(2)))
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)
            else:
                curve = self.plot.plot(x, y, name=names[key], pen=pg.mkPen(color, width=self._look.width(2)),
                                       symbol="o", symbolSize=self._look.points(5), symbolBrush=color, symbolPen=color)
            self._curves[key] = curve
        self.plot.setLabel("bottom", "training time (s)" if x_axis == "elapsed" else mode)
        self.plot.setLabel("left", metric)
        self.smoothing.setEnabled(mode == "step")

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: thick lines, large axis text, its palette), now and from now on."""
        self._look = look
        self.plot.setBackground(look.palette.plot_background)
        theme.style_axes(self.plot.getPlotItem(), look)
        self.redraw()

    def _refresh_metrics(self) -> None:
        current = self.metric_box.currentText()
        metrics = self.metrics()
        self.metric_box.blockSignals(True)
        self.metric_box.clear()
        self.metric_box.addItems(metrics)
        if current in metrics:
            self.metric_box.setCurrentText(current)
        elif current.removeprefix("val_") in metrics:
            self.metric_box.setCurrentText(current.removeprefix("val_"))
        self.metric_box.blockSignals(False)
        self.redraw()

    def _on_add_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a run directory", "runs" if Path("runs").is_dir() else "")
        if path:
            self.add_run(path)

    def _on_remove_clicked(self) -> None:
        for item in self.run_list.selectedItems():
            self.remove_run(item.data(Qt.ItemDataRole.UserRole))


def _cut_note(key: str) -> str:
    """Says so when the run's events.jsonl is larger than Compare reads (see MAX_COMPARE_BYTES)."""
    try:
        size = os.stat(Path(key) / EVENTS_FILE).st_size
    except OSError:
        return ""
    return (f"{show_path(Path(key).name)}: only the first {MAX_COMPARE_BYTES >> 20} MB of its "
            f"{size / 2**20:,.0f} MB of events are compared" if size > MAX_COMPARE_BYTES else "")


def _swatch(color: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


def _short_names(paths: list[str]) -> dict[str, str]:
    """Each run's folder name, with its parent's too where two runs share a folder name."""
    names = {p: Path(p).name for p in paths}
    clashes = {n for n in names.values() if list(names.values()).count(n) > 1}
    return {p: str(Path(*Path(p).parts[-2:])) if n in clashes else n for p, n in names.items()}
