"""Training curves: one plot per quantity, each metric raw (faint) and smoothed per step, its
epoch means and validation values, test scores as they come, and hyperparameter-change markers.

Every plot shares the step axis. Lines downsample and clip to the view, so 100,000 steps stay
fluid; the smoothed line is TensorBoard's debiased exponential moving average.

Painting is what costs the interface thread time while a run trains, and most of a paint is
axis text. So the views follow the data with headroom (`stable_range`) instead of refitting at
every redraw, axes and titles are cached as pixmaps until their range changes, and plots are
built one per event-loop turn (`expect` builds a model's plots before its first step).
"""

from __future__ import annotations

import csv
import functools
import math
import os
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from scipy.signal import lfilter

from gui import theme
from gui.pacing import Pacer
from kgen.errors import KgenError
from kgen.safe_io import atomic_path

REDRAW_MS = 100  # curves are redrawn at most this often, however fast steps arrive
# ... and less often when drawing is slow: redrawing (the lines' data, the scene and the paint)
# may take at most this share of the interface thread's time (`gui.pacing.Pacer`); but the
# curves are redrawn at least every REDRAW_MAX_MS.
MAX_DRAW_SHARE = 0.03
REDRAW_MAX_MS = 2000
# A followed view keeps its range while the data stay inside and fill at least FILL of it; a new
# range leaves room to grow: STEP_ROOM of the steps' span to the right (never past the run's last
# step, when known), VALUE_ROOM above and below.
FILL = 0.4
AXIS_WIDTH = 54  # pixels for the value axes' tick labels
STEP_ROOM = 1.0
VALUE_ROOM = 0.1
DEFAULT_SMOOTHING = 0.6  # TensorBoard's default weight
# Says what each kind of line is (the plot titles name the metrics in their colours).
HOVER_HINT = "line: smoothed, faint: raw · ●: epoch mean · □: validation · ★: test · hover a plot to read values"
COLORS = theme.PALETTE.series
# (plot title, the metrics it holds); any other metric gets a plot of its own, named after it.
# A "val_" metric goes on the plot of the metric it validates; a "<name>/<part>" metric (the
# gradient SNR of one encoder layer) on the plot of <name>.
GROUPS = (
    ("loss", ("loss",)),
    ("reconstruction", ("reconstruction",)),
    ("KL", ("kl",)),
    ("GAN losses", ("d_loss", "g_loss")),
    ("discriminator output D(x), D(G(z))", ("d_real", "d_fake")),
    # D's accuracy at threshold 1/2 on equal real and fake halves: 1/2 at the game's equilibrium,
    # near 1 when D tells every fake apart (GANs on binary pixels whose fakes are grey)
    ("discriminator accuracy", ("d_accuracy",)),
    ("gradient norm", ("d_grad_norm", "g_grad_norm")),
    ("gradient SNR of the encoder: all, per layer", ("grad_snr",)),
)


MAX_AXIS = 1e300  # an axis end beyond this overflows in pyqtgraph's range arithmetic


def stable_range(view: tuple[float, float] | None, lo: float, hi: float, below: float,
                 above: float) -> tuple[float, float] | None:
    """A new view range for data spanning [lo, hi], or None to keep ``view``.

    ``view`` is kept while it holds the data and the data fill at least `FILL` of it; a new range
    adds ``below`` and ``above`` times the data's span on either side, so a growing curve changes
    its axes a few times (about log(n) for n steps), not at every redraw.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return None
    if view is not None and view[0] <= lo and hi <= view[1] and hi - lo >= FILL * (view[1] - view[0]):
        return None
    span = hi - lo or max(abs(hi) * 0.1, 1e-9)
    low, high = lo - below * span, hi + above * span
    # pyqtgraph adds the ends (overflowing near 1e308): such values are left out of view
    return (low, high) if max(abs(low), abs(high)) <= MAX_AXIS else None


@functools.cache
def plot_title(key: str) -> str:
    """The plot a metric is drawn on: its group's title, or its own name."""
    base = key.removeprefix("val_")
    root = base.partition("/")[0]
    return next((title for title, keys in GROUPS if base in keys or root in keys), base)


def _plot_rank(key: str) -> int:
    """Plots are stacked in the order of GROUPS (loss first), then other metrics as they come."""
    title = plot_title(key)
    return next((i for i, (t, _) in enumerate(GROUPS) if t == title), len(GROUPS))


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average over the finite values
    (``weight`` in [0, 1): 0 keeps the values); a non-finite value passes through unchanged."""
    values = np.asarray(values, dtype=float)
    out = values.copy()
    finite = np.isfinite(values)
    n = int(finite.sum())
    if n and weight > 0:
        running = lfilter([1.0 - weight], [1.0, -weight], values[finite])
        out[finite] = running / -np.expm1(np.arange(1, n + 1) * np.log(weight))  # 1 - weight**k, fast
    return out


class Series:
    """A growing (step, value) buffer that doubles its capacity when full."""

    def __init__(self, capacity: int = 1024):
        self._data = np.empty((capacity, 2))
        self.size = 0
        self.lo = self.hi = math.nan  # the finite values' bounds, kept as they come
        self.lo_positive = math.inf  # the smallest value > 0 (for log axes)

    def append(self, x: float, y: float) -> None:
        if self.size == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self.size] = x, y
        self.size += 1
        if math.isfinite(y):
            if not y >= self.lo:  # also when lo is still nan
                self.lo = y
            if not y <= self.hi:
                self.hi = y
            if 0 < y < self.lo_positive:
                self.lo_positive = y

    @property
    def x(self) -> np.ndarray:
        return self._data[: self.size, 0]

    @property
    def y(self) -> np.ndarray:
        return self._data[: self.size, 1]

    def as_dict(self) -> dict[float, float]:
        """{step: value}; the latest value wins where a step repeats (a resumed run)."""
        return dict(zip(self.x.tolist(), self.y.tolist(), strict=True))

    def nearest(self, x: float) -> tuple[float, float] | None:
        """The recorded point whose step is closest to ``x`` (steps are increasing)."""
        if not self.size:
            return None
        i = int(np.clip(np.searchsorted(self.x, x), 1, self.size - 1)) if self.size > 1 else 0
        if self.size > 1 and abs(self.x[i - 1] - x) <= abs(self.x[i] - x):
            i -= 1
        return float(self.x[i]), float(self.y[i])


class CurvesView(QWidget):
    """Live curves fed event by event (`add_event`); plots appear as their first metric arrives."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.PALETTE.plot_background)
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(round(DEFAULT_SMOOTHING * 100))
        self.smoothing.setMinimumWidth(50)
        self.smoothing.setMaximumWidth(140)
        self.smoothing.setToolTip("weight of the exponential moving average (0: raw values)")
        self.smoothing_label = QLabel()
        self.log_scale = QCheckBox("log y")
        self.log_scale.setToolTip("logarithmic value axes")
        self.export_button = QToolButton(text="Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.addAction("Curves as PNG…", lambda: self._ask_and_export("PNG picture (*.png)", self.export_png))
        export_menu.addAction("Values as CSV…", lambda: self._ask_and_export("CSV table (*.csv)", self.export_csv))
        self.export_button.setMenu(export_menu)
        self.hover_label = QLabel(HOVER_HINT)  # the values under the mouse
        theme.set_role(self.hover_label, "hint")
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens
        self.eval_label = QLabel()
        self.eval_label.setWordWrap(True)
        self.eval_label.hide()
        bar = QHBoxLayout()
        bar.addWidget(QLabel("smoothing"))
        bar.addWidget(self.smoothing)
        bar.addWidget(self.smoothing_label)
        bar.addWidget(self.log_scale)
        bar.addStretch(1)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.eval_label)
        layout.addWidget(self.hover_label)
        layout.addWidget(self.graphics, 1)

        self._plots: dict[str, pg.PlotItem] = {}
        self._hover: dict[str, pg.InfiniteLine] = {}  # each plot's crosshair
        self._raw: dict[str, pg.PlotDataItem] = {}
        self._smooth: dict[str, pg.PlotDataItem] = {}
        self._series: dict[str, Series] = {}
        self._epoch_curves: dict[str, pg.PlotDataItem] = {}
        self._epoch_series: dict[str, Series] = {}
        self._eval_points: dict[str, pg.PlotDataItem] = {}
        self._eval_series: dict[str, Series] = {}
        self._markers: list[tuple[float, str]] = []
        self.evaluations: dict[str, float] = {}
        self._colors: dict[str, str] = {}  # metric (without val_) -> its colour on its plot
        self._color_index: dict[str, int] = {}  # ... and its place in the palette's series
        self._marker_lines: list[pg.InfiniteLine] = []
        self._look = theme.NORMAL_LOOK  # colours, pen widths and font sizes (`set_look`)
        self._last_step = 0
        self._drawn: dict[int, int] = {}  # id of a line -> how many points it was last given
        self._total_steps = 0  # the run's last step, when known: the step axis need not go further
        self._stale: set[str] = set()  # titles of plots with something new to draw
        self._last_drawn: str | None = None  # the plot drawn last (plots take turns)
        self._following = True  # the views follow the data; off once the user pans or zooms
        self._refit_steps = False  # fit the step axis afresh at the next drawing
        self._refit_values: set[str] = set()  # ... and these plots' value axes
        self._pending: list[str] = []  # titles of plots still to build, one per event-loop turn
        self._build_timer = QTimer(self)
        self._build_timer.setSingleShot(True)
        self._build_timer.setInterval(0)
        self._build_timer.timeout.connect(self._build_next_plot)
        self._pacer = Pacer(self._draw_next, min_ms=REDRAW_MS, max_ms=REDRAW_MAX_MS, share=MAX_DRAW_SHARE, parent=self)
        self.smoothing.valueChanged.connect(self._on_smoothing_changed)
        self.log_scale.toggled.connect(self.set_log_scale)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._on_smoothing_changed(self.smoothing.value())

    # What the view holds ------------------------------------------------------------------

    def keys(self) -> list[str]:
        """Metrics recorded per step."""
        return list(self._series)

    def epoch_keys(self) -> list[str]:
        """Metrics recorded per epoch (training means and ``val_`` values)."""
        return list(self._epoch_series)

    def data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) recorded for ``key``, copies."""
        series = self._series[key]
        return series.x.copy(), series.y.copy()

    def smoothed(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, smoothed values) of ``key`` at the current smoothing weight."""
        series = self._series[key]
        return series.x.copy(), ema(series.y, self.smoothing_weight)

    def epoch_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(step at the epoch's end, value) of an epoch metric, copies."""
        series = self._epoch_series[key]
        return series.x.copy(), series.y.copy()

    def markers(self) -> list[tuple[float, str]]:
        """(step, label) of every hyperparameter-change marker."""
        return list(self._markers)

    @property
    def smoothing_weight(self) -> float:
        return self.smoothing.value() / 100.0

    # Feeding events -------------------------------------------------------------------------

    def add_event(self, event: dict) -> None:
        """Take any run event; the kinds curves show are step, epoch, eval and hparam."""
        handler = {"step": self.add_step, "epoch": self.add_epoch, "eval": self.add_eval,
                   "hparam": self.add_hparam}.get(event.get("type"))
        if handler is not None:
            handler(event)

    def set_total_steps(self, steps: int) -> None:
        """The step the run will end on (0: unknown): a followed step axis grows from 0 up to
        it, doubling a few times (each a repaint of every plot), and then stays."""
        self._total_steps = max(0, int(steps))

    def expect(self, keys: Iterable[str]) -> None:
        """Build the plots of metrics about to come (one per event-loop turn), so a run's first
        step is drawn at once instead of waiting for its plots."""
        for key in sorted(keys, key=_plot_rank):
            self._request_plot(plot_title(key))

    def add_step(self, event: dict) -> None:
        """Record one step event's metrics; the curves catch up at the next redraw."""
        step = event["step"]
        for key in sorted((k for k in event["metrics"] if k not in self._series), key=_plot_rank):
            self._series[key] = Series()
            self._request_plot(plot_title(key))
        for key, value in event["metrics"].items():
            self._series[key].append(step, value)
        self._last_step = max(self._last_step, step)
        self._changed(map(plot_title, event["metrics"]))

    def add_epoch(self, event: dict) -> None:
        """Record an epoch's metrics at the step the epoch ended on (its epoch number before any step)."""
        x = event.get("step") or self._last_step or event["epoch"]
        for key in sorted((k for k in event["metrics"] if k not in self._epoch_series), key=_plot_rank):
            self._epoch_series[key] = Series(64)
            self._request_plot(plot_title(key))
        for key, value in event["metrics"].items():
            self._epoch_series[key].append(x, value)
        self._changed(map(plot_title, event["metrics"]))

    def add_eval(self, event: dict) -> None:
        """Show test scores as they come: listed above the plots, and a star on a matching plot."""
        for key, value in event.get("metrics", {}).items():
            self.evaluations[key] = float(value)
            if plot_title(key) in self._plots and key in self._colors:  # a metric drawn already
                if key not in self._eval_points:
                    color = self._colors[key]
                    self._eval_points[key] = self._plots[plot_title(key)].plot(
                        pen=None, symbol="star", symbolSize=self._look.points(14), symbolBrush=color, symbolPen=color,
                        name=f"{key} (test)")
                    self._eval_series[key] = Series(16)
                self._eval_series[key].append(self._last_step, value)
        self._changed(map(plot_title, event.get("metrics", {})))
        split = event.get("split", "test")
        shown = " · ".join(f"{k} {v:.5g}" for k, v in self.evaluations.items())
        self.eval_label.setText(f"<b>{split}</b>: {shown}")
        self.eval_label.setVisible(bool(self.evaluations))

    def add_hparam(self, event: dict) -> None:
        """A vertical line, labelled with the change, where a hyperparameter changed."""
        text = f"{event.get('name', '?')} {_short(event.get('old'))} → {_short(event.get('new'))}"
        step = event.get("step", self._last_step)
        self._markers.append((step, text))
        for plot in self._plots.values():
            self._draw_marker(plot, step, text)

    def clear(self) -> None:
        self.graphics.clear()
        for store in (self._plots, self._hover, self._raw, self._smooth, self._series, self._epoch_curves,
                      self._epoch_series, self._eval_points, self._eval_series, self.evaluations, self._colors,
                      self._color_index):
            store.clear()
        self._markers.clear()
        self._marker_lines.clear()
        self._drawn.clear()
        self._pending.clear()
        self._pacer.cancel()
        self._build_timer.stop()
        self._last_step = self._total_steps = 0
        self.eval_label.hide()
        self.hover_label.setText(HOVER_HINT)
        self._stale.clear()
        self._last_drawn = None
        self._following = True

    # Drawing ---------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Draw every plot with something new now (a run's end, exports, tests)."""
        while self._draw_next():
            pass

    def _draw_next(self) -> bool:
        """Draw the next plot with something new (plots take turns; one a call keeps each paint
        small, and the pacer comes back soon for the others); False when none is left."""
        order = list(self._plots)
        if self._last_drawn in order:
            start = order.index(self._last_drawn) + 1
            order = order[start:] + order[:start]
        title = next((t for t in order if t in self._stale), None)
        if title is None:
            return False
        self._stale.discard(title)
        self._last_drawn = title
        self._draw_plot(title)
        if any(t in self._plots for t in self._stale):
            self._pacer.request()
        return True

    def _draw_plot(self, title: str) -> None:
        """Hand the lines of plot ``title`` their new points; follow the data with its view."""
        weight = self.smoothing_weight
        for key, series in self._series.items():
            if plot_title(key) != title:
                continue
            if key not in self._raw:
                self._raw[key], self._smooth[key] = self._add_step_curves(key)
            if self._set_data(self._raw[key], series):
                self._smooth[key].setData(series.x, ema(series.y, weight))
        for key, series in self._epoch_series.items():
            if plot_title(key) != title:
                continue
            if key not in self._epoch_curves:
                self._epoch_curves[key] = self._add_epoch_curve(key)
            self._set_data(self._epoch_curves[key], series)
        for key, series in self._eval_series.items():
            if plot_title(key) == title:
                self._set_data(self._eval_points[key], series)
        if self._following:
            self._fit_steps()
            self._fit_values(title)

    def _set_data(self, line: pg.PlotDataItem, series: Series) -> bool:
        """Give ``line`` the series' points if it has new ones; True when it did."""
        if self._drawn.get(id(line)) == series.size:
            return False
        line.setData(series.x, series.y)
        self._drawn[id(line)] = series.size
        return True

    def settle(self) -> None:
        """Build every plot still waiting and draw all the data now (exports, tests)."""
        while self._pending:
            self._add_plot(self._pending.pop(0))
        self._stale.update(self._plots)
        self.redraw()

    @property
    def following(self) -> bool:
        """Whether the views follow the data (until the user pans or zooms; "A" follows again)."""
        return self._following

    def set_following(self, on: bool) -> None:
        self._following = on
        if on:
            for plot in self._plots.values():
                plot.vb.disableAutoRange()  # kgen's headroom fit, not pyqtgraph's exact one
            self._refit_all()
            self.redraw()

    def _refit_all(self) -> None:
        """Fit every view afresh as its plot is drawn next."""
        self._refit_steps = True
        self._refit_values = set(self._plots)
        self._stale.update(self._plots)

    def _fit_steps(self) -> None:
        """The step axis every plot shares: the data with room to grow (`stable_range`), from 0
        and no further than the run's last step when its length is known. Spanning the whole run
        from the start would squeeze a long run's first epochs, the liveliest part, to a sliver."""
        drawn = [s for _, s in self._all_series() if s.size]
        if not drawn or not self._plots:
            return
        first = next(iter(self._plots.values()))
        view = None if self._refit_steps else tuple(first.vb.viewRange()[0])
        self._refit_steps = False
        lo, hi = min(s.x[0] for s in drawn), max(s.x[-1] for s in drawn)
        known = hi <= self._total_steps  # a run of known length: its axis starts at 0
        steps = stable_range(view, 0.0 if known else lo, hi, 0.0, STEP_ROOM)
        if steps is not None:
            if known:
                steps = (0.0, min(steps[1], float(self._total_steps)))
            first.vb.setXRange(*steps, padding=0)  # the other plots are linked to it

    def _fit_values(self, title: str) -> None:
        """Plot ``title``'s value axis, refitted only when the data leave it or shrink in it."""
        plot = self._plots[title]
        mine = [s for key, s in self._all_series() if plot_title(key) == title and s.size]
        if self.log_scale.isChecked():
            lows = [math.log10(s.lo_positive) for s in mine if s.lo_positive < math.inf]
            highs = [math.log10(s.hi) for s in mine if s.hi > 0]
        else:
            lows = [s.lo for s in mine if math.isfinite(s.lo)]
            highs = [s.hi for s in mine if math.isfinite(s.hi)]
        if not lows or not highs:
            return
        view = None if title in self._refit_values else tuple(plot.vb.viewRange()[1])
        self._refit_values.discard(title)
        values = stable_range(view, min(lows), max(highs), VALUE_ROOM, VALUE_ROOM)
        if values is not None:
            plot.vb.setYRange(*values, padding=0)

    def _all_series(self) -> Iterable[tuple[str, Series]]:
        for store in (self._series, self._epoch_series, self._eval_series):
            yield from store.items()

    def _changed(self, titles: Iterable[str]) -> None:
        """Plots ``titles`` have something new to draw: the pacer draws now or when its pause is
        over (a plot not built yet is drawn once it is)."""
        self._stale.update(titles)
        self._pacer.request()

    def _request_plot(self, title: str) -> None:
        if title not in self._plots and title not in self._pending:
            self._pending.append(title)
            self._build_timer.start()

    def _build_next_plot(self) -> None:
        """Build one waiting plot, and come back at the next event-loop turn for the others:
        building a plot lays out the whole stack, tens of milliseconds each."""
        if self._pending:
            title = self._pending.pop(0)
            self._add_plot(title)
            self._changed([title])
        if self._pending:
            self._build_timer.start()

    def set_log_scale(self, on: bool) -> None:
        if self.log_scale.isChecked() != on:
            self.log_scale.setChecked(on)  # comes back here through the toggled signal
            return
        for plot in self._plots.values():
            plot.setLogMode(y=on)
        self._refit_all()
        self._pacer.request()

    def set_smoothing(self, weight: float) -> None:
        self.smoothing.setValue(round(weight * 100))

    def _on_smoothing_changed(self, value: int) -> None:
        self.smoothing_label.setText(f"{value / 100:.2f}")
        for line in self._raw.values():
            self._drawn.pop(id(line), None)  # the smoothed lines are drawn anew
        self._stale.update(self._plots)
        self.redraw()

    def _add_step_curves(self, key: str) -> tuple[pg.PlotDataItem, pg.PlotDataItem]:
        plot, _ = self._plot_and_color(key)
        raw = plot.plot()
        raw.setOpacity(0.25)  # faint: the smoothed line carries the trend
        smooth = plot.plot(name=key)
        self._style_step_curves(key, raw, smooth)
        for curve in (raw, smooth):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        return raw, smooth

    def _style_step_curves(self, key: str, raw: pg.PlotDataItem, smooth: pg.PlotDataItem) -> None:
        color = self._colors[key.removeprefix("val_")]
        raw.setPen(pg.mkPen(color, width=self._look.width(1)))
        smooth.setPen(pg.mkPen(color, width=self._look.width(2)))

    def _add_epoch_curve(self, key: str) -> pg.PlotDataItem:
        plot, _ = self._plot_and_color(key)
        validation = key.startswith("val_")
        curve = plot.plot(name=key if validation else f"{key} epoch mean", symbol="s" if validation else "o")
        self._style_epoch_curve(key, curve)
        return curve

    def _style_epoch_curve(self, key: str, curve: pg.PlotDataItem) -> None:
        """Validation values dashed with hollow squares; epoch means dotted with dots."""
        color = self._colors[key.removeprefix("val_")]
        validation = key.startswith("val_")
        style = Qt.PenStyle.DashLine if validation else Qt.PenStyle.DotLine
        curve.setPen(pg.mkPen(color, width=self._look.width(1.5), style=style))
        curve.setSymbolSize(self._look.points(6))
        curve.setSymbolPen(pg.mkPen(color, width=self._look.width(1)))
        curve.setSymbolBrush(pg.mkBrush(self._look.palette.plot_background if validation else color))

    def _plot_and_color(self, key: str) -> tuple[pg.PlotItem, str]:
        title = plot_title(key)
        plot = self._plots.get(title) or self._add_plot(title)
        base = key.removeprefix("val_")
        if base not in self._colors:
            series = self._look.palette.series
            self._color_index[base] = sum(plot_title(k) == title for k in self._colors)
            self._colors[base] = series[self._color_index[base] % len(series)]
            self._set_title(title)
        return plot, self._colors[base]

    def _set_title(self, title: str) -> None:
        """The plot's title; it is the legend too: its metrics in their colours, unless it holds
        one metric of the title's name."""
        keys = [k for k in self._colors if plot_title(k) == title]
        text = title
        if len(keys) > 1 or (keys and keys[0].lower() != title.lower()):
            text += ": " + " ".join(f"<span style='color:{self._colors[k]}'>{k}</span>" for k in keys)
        self._plots[title].setTitle(text, size=self._look.size(10), color=self._look.title_colour)

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` from now on, and redraw what is drawn already in it (projector mode:
        thick lines, large text, its palette)."""
        self._look = look
        self.graphics.setBackground(look.palette.plot_background)
        series = look.palette.series
        self._colors = {base: series[i % len(series)] for base, i in self._color_index.items()}
        for title, plot in self._plots.items():
            self._style_plot(plot)
            self._set_title(title)
        for key, raw in self._raw.items():
            self._style_step_curves(key, raw, self._smooth[key])
        for key, curve in self._epoch_curves.items():
            self._style_epoch_curve(key, curve)
        for key, points in self._eval_points.items():
            color = self._colors[key.removeprefix("val_")]
            points.setSymbolSize(look.points(14))
            points.setSymbolBrush(color)
            points.setSymbolPen(color)
        for line in self._hover.values():
            line.setPen(self._hover_pen())
        for line in self._marker_lines:
            self._style_marker(line)

    def _style_plot(self, plot: pg.PlotItem) -> None:
        theme.style_axes(plot, self._look)
        # A fixed width: tick labels of a new length then never shift the plot, which would move
        # the linked step axes of every plot (and repaint them all); the plots also line up.
        plot.getAxis("left").setWidth(round(AXIS_WIDTH * self._look.font_scale))

    def _hover_pen(self):
        return pg.mkPen(self._look.palette.plot_guide, width=self._look.width(1), style=Qt.PenStyle.DashLine)

    def _add_plot(self, title: str) -> pg.PlotItem:
        if self._plots:
            self.graphics.nextRow()
        plot = self.graphics.addPlot()
        plot.setTitle(title, size=self._look.size(10), color=self._look.title_colour)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setLabel("bottom", "step")
        plot.setLogMode(y=self.log_scale.isChecked())
        for item in (plot.getAxis("left"), plot.getAxis("bottom"), plot.titleLabel):
            # Painted from a pixmap until their text changes: axis text is most of a paint's cost.
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        for name in ("left", "bottom"):
            plot.getAxis(name).enableAutoSIPrefix(False)  # a prefix change would resize the plot
        self._style_plot(plot)
        if self._following:
            plot.vb.disableAutoRange()  # `_fit_views` follows the data instead
        plot.vb.sigRangeChangedManually.connect(lambda *_: self.set_following(False))  # the user pans or zooms
        plot.autoBtn.clicked.connect(lambda: self.set_following(True))  # the plot's "A" button
        if self._plots:  # every plot scrolls and zooms along the first one's steps
            plot.setXLink(next(iter(self._plots.values())))
        line = pg.InfiniteLine(angle=90, pen=self._hover_pen())
        line.hide()
        plot.addItem(line, ignoreBounds=True)
        self._hover[title] = line
        self._plots[title] = plot
        for step, text in self._markers:
            self._draw_marker(plot, step, text)
        return plot

    def _draw_marker(self, plot: pg.PlotItem, step: float, text: str) -> None:
        line = pg.InfiniteLine(pos=step, angle=90, label=text, labelOpts={"position": 0.92})
        self._style_marker(line)
        plot.addItem(line, ignoreBounds=True)
        self._marker_lines.append(line)

    def _style_marker(self, line: pg.InfiniteLine) -> None:
        palette = self._look.palette
        line.setPen(pg.mkPen(palette.marker, width=self._look.width(1.5), style=Qt.PenStyle.DashDotLine))
        line.label.setColor(palette.marker_label)
        line.label.fill = pg.mkBrush(palette.plot_overlay)
        line.label.setFont(theme.plot_font(self._look))

    # Hover values -----------------------------------------------------------------------------

    def hover_text(self, title: str, step: float) -> str:
        """What hovering at ``step`` over plot ``title`` shows: the nearest step and, per metric,
        its value there (raw and smoothed) and its nearest epoch values."""
        lines = []
        nearest_step = None
        for key, series in self._series.items():
            if plot_title(key) != title:
                continue
            point = series.nearest(step)
            if point is None:
                continue
            nearest_step = point[0] if nearest_step is None else nearest_step
            i = int(np.searchsorted(series.x, point[0]))
            smoothed = ema(series.y[: i + 1], self.smoothing_weight)[-1]
            lines.append(f"<b>{key}</b> {point[1]:.4g} (smoothed {smoothed:.4g})")
        for key, series in self._epoch_series.items():
            if plot_title(key) == title and series.size:
                point = series.nearest(step)
                name = key if key.startswith("val_") else f"{key} epoch"
                lines.append(f"<b>{name}</b> {point[1]:.4g} @ {point[0]:g}")
        head = f"step {nearest_step:g}" if nearest_step is not None else f"step {step:.0f}"
        return " · ".join([head, *lines])

    def _on_mouse_moved(self, position: QPointF) -> None:
        """A crosshair at the mouse's step on every plot; the hovered plot's values in the readout."""
        hovered = next((t for t, p in self._plots.items() if p.sceneBoundingRect().contains(position)), None)
        if hovered is None:
            for line in self._hover.values():
                line.hide()
            self.hover_label.setText(HOVER_HINT)
            return
        step = self._plots[hovered].vb.mapSceneToView(position).x()
        for line in self._hover.values():
            line.setPos(step)
            line.show()
        self.hover_label.setText(self.hover_text(hovered, step))

    # Export -------------------------------------------------------------------------------------

    def export_png(self, path: str | os.PathLike) -> None:
        """The plots as they are drawn now, as a PNG picture."""
        self.settle()
        with atomic_path(path) as tmp:
            if not self.graphics.grab().save(str(tmp), "PNG"):
                raise OSError(f"could not write {path}")

    def export_csv(self, path: str | os.PathLike) -> None:
        """Every value as a table: step, each per-step metric, then ``epoch/<metric>`` columns
        (filled on the step each epoch ended on); empty where a metric has no value."""
        columns = {key: s.as_dict() for key, s in self._series.items()}
        columns |= {f"epoch/{key}": s.as_dict() for key, s in self._epoch_series.items()}
        steps = sorted(set().union(*columns.values())) if columns else []
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["step", *columns])
            for step in steps:
                writer.writerow([_number(step), *(_number(c[step]) if step in c else "" for c in columns.values())])

    def _ask_and_export(self, kind: str, export) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", "", kind)
        if path:
            try:
                export(path)
            except (OSError, KgenError) as err:  # a full disk, a read-only folder
                window = self.window()
                if hasattr(window, "statusBar"):
                    window.statusBar().showMessage(f"could not export the curves: {err}")


def _number(value: float) -> str:
    """A step or metric value as CSV text: whole steps without '.0', values round-tripping exactly."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) and math.isfinite(value) else str(value)
