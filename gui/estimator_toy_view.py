"""The "gradient estimators" tab (slide 19): reparameterisation against the score function on a toy.

The toy is d/dθ E_{x ~ N(θ, 1)}[x²] = 2θ (`kgen.eval.toy_gradients`). A log-log plot shows each
estimator's variance against the number of samples S: the closed form as a line, repeated draws
as points. A θ slider moves both; a readout sets the exact gradient beside one S-sample draw of
each estimator, so the class sees the score function's estimate scatter where the other does not.
NumPy in the UI thread; the draws are kept while θ moves, so the points follow it smoothly.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.kl_gaussians_view import ValueSlider, steps
from kgen.eval.toy_gradients import (
    CURVE_COUNTS,
    ESTIMATORS,
    MAX_SAMPLES,
    closed_form_variance,
    curve_draws,
    estimates,
    exact_gradient,
    variance_curves,
)

THETA_RANGE, THETA_STEP = (-3.0, 3.0), 0.05
DEFAULT_THETA = 1.0
READOUT_COUNTS = (1, 3, 10, 30, 100, 300, 1000)  # S of the readout's single draws
DEFAULT_READOUT_S = 10
LINE_COUNTS = np.unique(np.round(np.logspace(0, np.log10(MAX_SAMPLES), 200)))  # where the closed forms are drawn
# A one-slide view read from the back of the room: its plot text this much larger than other views'.
TEXT_SCALE = 1.5
DECADES = [(float(k), f"{10**k:,}") for k in range(int(math.log10(MAX_SAMPLES)) + 1)]  # the S axis' ticks
COLOURS = dict(zip(ESTIMATORS, theme.PALETTE.series[:2], strict=True))
FORMULA = ("x = θ + ε, ε ~ N(0, 1); exact ∇<sub>θ</sub> E[x²] = 2θ<br>"
           "reparameterisation: mean of 2x; Var = 4 / S<br>"
           "score function: mean of x²(x − θ);<br>&nbsp;&nbsp;Var = (θ⁴ + 14θ² + 15) / S")


class EstimatorToyView(QWidget):
    """Variance against S for both estimators (formula lines, measured points), θ and a readout."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.seed = 0
        self._draws = curve_draws(seed=self.seed)
        self.update_ms = 0.0  # how long the latest update took
        self._build_plot()
        self.theta = ValueSlider("θ", steps(*THETA_RANGE, THETA_STEP), DEFAULT_THETA)
        self.readout_samples = ValueSlider("S", READOUT_COUNTS, DEFAULT_READOUT_S, "{:,.0f}")
        self.redraw_button = QPushButton("Draw again")
        self.redraw_button.setToolTip("fresh draws for the points and the readout (a new seed)")
        self.redraw_button.clicked.connect(self.draw_again)
        self.readout = self._build_readout()
        self.timing = QLabel()
        self.timing.setWordWrap(True)
        theme.set_role(self.timing, "muted")
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self._build_controls())
        for slider in (self.theta, self.readout_samples):
            theme.set_role(slider.name, "figure_name")
            theme.set_role(slider.shown, "figure")
            slider.slider.valueChanged.connect(self.refresh)
        self.set_look(theme.NORMAL_LOOK)
        self.refresh()

    # --- building

    def _build_plot(self) -> None:
        self.plot = pg.PlotWidget(background=theme.PALETTE.plot_background,
                                  title="variance against samples S")
        self.plot.setLogMode(x=True, y=True)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.getAxis("bottom").setTicks([DECADES, []])  # log10 S: 1, 10, 100, 1,000
        self.plot.setLabel("bottom", "samples S")
        self.plot.setLabel("left", "Var of the estimate")
        self.plot.addLegend(offset=(-8, 8), brush=pg.mkBrush(theme.PALETTE.plot_overlay),
                            pen=pg.mkPen(theme.PALETTE.legend_border))
        self.lines, self.points = {}, {}
        for name, colour in COLOURS.items():
            self.lines[name] = self.plot.plot(pen=pg.mkPen(colour, width=3), name=name)
            self.points[name] = self.plot.plot(pen=None, symbol="o", symbolSize=10, symbolBrush=colour,
                                               symbolPen=colour)  # the legend's line stands for both

    def _build_readout(self) -> dict[str, QLabel]:
        cells = {key: QLabel() for key in ("exact", *ESTIMATORS)}
        for label in cells.values():
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            theme.set_role(label, "figure")
        return cells

    def _build_controls(self) -> QWidget:
        settings = QGroupBox("the toy: x ~ N(θ, 1), f(x) = x²")
        inner = QVBoxLayout(settings)
        inner.addWidget(self.theta)
        formula = QLabel(FORMULA)
        formula.setWordWrap(True)
        theme.set_role(formula, "figure_name")
        inner.addWidget(formula)
        results = QGroupBox("one draw of each estimator, from S samples")
        grid = QGridLayout(results)
        grid.setHorizontalSpacing(18)
        grid.addWidget(self.readout_samples, 0, 0, 1, 2)
        rows = (("exact", "exact 2θ"), ("reparameterisation", "reparameterisation"),
                ("score function", "score function"))
        for row, (key, text) in enumerate(rows, start=1):
            name = QLabel(text)
            theme.set_role(name, "figure_name")
            grid.addWidget(name, row, 0)
            grid.addWidget(self.readout[key], row, 1)
        grid.addWidget(self.redraw_button, len(rows) + 1, 0, 1, 2)
        panel = QWidget()
        boxes = QGridLayout(panel)
        boxes.setContentsMargins(0, 0, 0, 0)
        boxes.addWidget(settings, 0, 0)  # stacked: the view fits the narrow pane beside the curves
        boxes.addWidget(results, 1, 0)
        boxes.addWidget(self.timing, 2, 0)
        scroll = QScrollArea()  # a narrow window (projector mode's large text) scrolls, never widens
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(panel.sizeHint().height())
        return scroll

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode, gui/projector.py: thicker lines, larger points), its
        text `TEXT_SCALE` times larger."""
        look = dataclasses.replace(look, font_scale=look.font_scale * TEXT_SCALE)
        item = self.plot.getPlotItem()
        theme.style_axes(item, look)
        item.setTitle(item.titleLabel.text, size=look.size(11), color=look.title_colour)
        theme.style_legend(item.legend, look, points=10.0)
        for name in ESTIMATORS:
            self.lines[name].setPen(pg.mkPen(COLOURS[name], width=look.width(3)))
            self.points[name].setSymbolSize(look.points(10))

    # --- state

    def set_theta(self, theta: float) -> None:
        """Move the θ slider (a lesson's starting point, a test)."""
        self.theta.set_value(theta)

    def draw_again(self) -> None:
        """Fresh draws (the next seed): the points and the readout move, the lines stay."""
        self.seed += 1
        self._draws = curve_draws(seed=self.seed)
        self.refresh()

    def single_draws(self) -> dict[str, float]:
        """One S-sample estimate of each estimator from the same draws (this seed's)."""
        eps = np.random.default_rng(1_000_000 + self.seed).standard_normal(int(self.readout_samples.value()))
        theta = self.theta.value()
        return {name: float(estimates(name, theta, eps)) for name in ESTIMATORS}

    def refresh(self, *_) -> None:
        """Recompute the curves, points and readout for θ (called on every slider move)."""
        start = time.perf_counter()
        theta = self.theta.value()
        curves = variance_curves(theta, draws=self._draws)
        samples = int(self.readout_samples.value())
        self.readout["exact"].setText(f"{exact_gradient(theta):+.3f}")
        for name, value in self.single_draws().items():
            self.lines[name].setData(LINE_COUNTS, closed_form_variance(name, theta, LINE_COUNTS))
            self.points[name].setData(np.asarray(CURVE_COUNTS, float), curves[name]["empirical"])
            spread = float(np.sqrt(closed_form_variance(name, theta, samples)))
            self.readout[name].setText(f"{value:+.3f}   (± {spread:.3f})")
        self.update_ms = 1000 * (time.perf_counter() - start)
        repeats = self._draws[0].shape[0]
        self.timing.setText(f"lines: the formula; points: the variance of {repeats} estimates at each S "
                            f"(seed {self.seed}); ±: the formula's standard deviation at that S")
