"""The "KL of two Gaussians" tab (slide 14): two densities, the integrand of their KL, and its value.

Sliders set q = N(mu_q, sigma_q^2), p = N(mu_p, sigma_p^2) and the Monte Carlo sample count n; the
closed form of KL(q || p) and KL(p || q) sits beside a Monte Carlo estimate of each (± its standard
error), so the class sees that the KL is not symmetric and that sampling agrees with the formula.
Everything is NumPy in the UI thread (`kgen.eval.gaussians`), redrawn while a slider is dragged.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from kgen.eval.gaussians import Gaussian, kl_integrand, kl_monte_carlo, kl_normal, standard_draws

X_RANGE = (-7.0, 7.0)
GRID_POINTS = 561  # where the densities and the integrand are drawn
MU_RANGE, MU_STEP = (-4.0, 4.0), 0.05
SIGMA_RANGE, SIGMA_STEP = (0.2, 3.0), 0.05
SAMPLE_COUNTS = (10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
DEFAULT_SAMPLES = 10_000
Q_COLOUR, P_COLOUR = theme.PALETTE.series[0], theme.PALETTE.series[1]
FORMULA = ("KL(q ‖ p) = log(σ<sub>p</sub>/σ<sub>q</sub>) + (σ<sub>q</sub>² + (μ<sub>q</sub> − μ<sub>p</sub>)²)"
           " / (2σ<sub>p</sub>²) − ½")


class ValueSlider(QWidget):
    """A horizontal slider over evenly spaced values (or a list of them), with its name and value."""

    def __init__(self, name: str, values: np.ndarray | tuple, value: float, fmt: str = "{:.2f}", parent=None):
        super().__init__(parent)
        self.values, self.fmt = np.asarray(values, np.float64), fmt
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, len(self.values) - 1)
        self.slider.setValue(int(np.argmin(np.abs(self.values - value))))
        self.name = QLabel(name)
        self.shown = QLabel()
        self.shown.setMinimumWidth(64)
        self.shown.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.name)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.shown)
        self.slider.valueChanged.connect(self._show)
        self._show()

    def value(self) -> float:
        return float(self.values[self.slider.value()])

    def set_value(self, value: float) -> None:
        """Move to the allowed value nearest ``value``."""
        self.slider.setValue(int(np.argmin(np.abs(self.values - value))))

    def _show(self, *_) -> None:
        self.shown.setText(self.fmt.format(self.value()))


def steps(lo: float, hi: float, step: float) -> np.ndarray:
    return np.round(np.arange(lo, hi + step / 2, step), 10)


class KLGaussiansView(QWidget):
    """Densities of q and p, the integrand q log(q/p) shaded, and the KL both ways: formula and Monte Carlo."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.x = np.linspace(*X_RANGE, GRID_POINTS)
        self.seed = 0
        self._draws: tuple[tuple[int, int], np.ndarray] | None = None  # ((n, seed), N(0, 1) draws)
        self.update_ms = 0.0  # how long the latest update took
        self._build_plots()
        self.mu_q = ValueSlider("μ<sub>q</sub>", steps(*MU_RANGE, MU_STEP), 0.0)
        self.sigma_q = ValueSlider("σ<sub>q</sub>", steps(*SIGMA_RANGE, SIGMA_STEP), 1.0)
        self.mu_p = ValueSlider("μ<sub>p</sub>", steps(*MU_RANGE, MU_STEP), 1.0)
        self.sigma_p = ValueSlider("σ<sub>p</sub>", steps(*SIGMA_RANGE, SIGMA_STEP), 2.0)
        self.samples = ValueSlider("n", SAMPLE_COUNTS, DEFAULT_SAMPLES, "{:,.0f}")
        self.redraw_button = QPushButton("Draw new samples")
        self.redraw_button.setToolTip("the Monte Carlo estimates from fresh draws x ~ q (a new seed)")
        self.redraw_button.clicked.connect(self.draw_again)
        self.table = self._build_table()
        self.timing = QLabel()
        self.timing.setWordWrap(True)
        theme.set_role(self.timing, "muted")
        layout = QVBoxLayout(self)  # plots above, controls below: it fits a narrow tab and a projector
        layout.addWidget(self.plots, 1)
        layout.addWidget(self._build_controls())
        for slider in (self.mu_q, self.sigma_q, self.mu_p, self.sigma_p, self.samples):
            slider.slider.valueChanged.connect(self.refresh)
        self.refresh()

    # --- building

    def _build_plots(self) -> None:
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(theme.PALETTE.plot_background)
        self.density_plot = self.plots.addPlot(row=0, col=0, title="densities")
        self.integrand_plot = self.plots.addPlot(row=1, col=0, title="integrands: the area is the KL")
        for plot in (self.density_plot, self.integrand_plot):
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setXRange(*X_RANGE, padding=0)
            plot.setMouseEnabled(x=False, y=False)
        self.integrand_plot.setXLink(self.density_plot)
        self.density_plot.addLegend(offset=(8, 8), brush=pg.mkBrush(theme.PALETTE.plot_overlay),
                                      pen=pg.mkPen(theme.PALETTE.legend_border))
        self.q_curve = self.density_plot.plot(pen=pg.mkPen(Q_COLOUR, width=3), name="q(x)")
        self.p_curve = self.density_plot.plot(pen=pg.mkPen(P_COLOUR, width=3), name="p(x)")
        self.integrand_plot.addLegend(offset=(8, 8), brush=pg.mkBrush(theme.PALETTE.plot_overlay),
                                      pen=pg.mkPen(theme.PALETTE.legend_border))
        self.forward_curve = self.integrand_plot.plot(
            pen=pg.mkPen(Q_COLOUR, width=2.5), fillLevel=0.0, brush=theme.translucent(Q_COLOUR, 0x55),
            name="q log(q/p): area KL(q‖p)")
        self.backward_curve = self.integrand_plot.plot(
            pen=pg.mkPen(P_COLOUR, width=2.5, style=Qt.PenStyle.DashLine), name="p log(p/q): area KL(p‖q)")
        self.integrand_plot.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen(theme.PALETTE.plot_guide)))

    def set_look(self, look: theme.Look) -> None:
        """Projector mode (gui/projector.py): axes, titles and legends larger and in ink (the lines are thick already)."""
        for plot in (self.density_plot, self.integrand_plot):
            theme.style_axes(plot, look)
            plot.setTitle(plot.titleLabel.text, size=look.size(11), color=look.title_colour)  # 11pt: pyqtgraph's
            theme.style_legend(plot.legend, look)

    def _build_table(self) -> dict[str, QLabel]:
        """Labels of the results grid, by (direction, column): 'forward'/'backward' x 'closed'/'mc'."""
        cells = {f"{d}_{c}": QLabel() for d in ("forward", "backward") for c in ("closed", "mc")}
        for label in cells.values():
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            theme.set_role(label, "figure")
        return cells

    def _build_controls(self) -> QWidget:
        q_box, p_box = QGroupBox("q: the approximation"), QGroupBox("p: the target")
        for box, sliders, role in ((q_box, (self.mu_q, self.sigma_q), "series0"),
                                   (p_box, (self.mu_p, self.sigma_p), "series1")):
            theme.set_role(box, role)  # titled in the colour of its density's curve
            inner = QVBoxLayout(box)
            for slider in sliders:
                inner.addWidget(slider)
        mc_box = QGroupBox("Monte Carlo: mean of log q(x) − log p(x), x ~ q")
        inner = QVBoxLayout(mc_box)
        inner.addWidget(self.samples)
        inner.addWidget(self.redraw_button)
        results = QGroupBox("KL divergence (nats)")
        grid = QGridLayout(results)
        grid.setHorizontalSpacing(18)
        for col, text in enumerate(("", "closed form", "Monte Carlo ± s.e.")):
            grid.addWidget(QLabel(f"<b>{text}</b>"), 0, col)
        for row, (direction, text) in enumerate((("forward", "KL(q ‖ p)"), ("backward", "KL(p ‖ q)")), start=1):
            name = QLabel(text)
            theme.set_role(name, "figure_name")
            grid.addWidget(name, row, 0)
            grid.addWidget(self.table[f"{direction}_closed"], row, 1)
            grid.addWidget(self.table[f"{direction}_mc"], row, 2)
        formula = QLabel(FORMULA)
        formula.setWordWrap(True)
        grid.addWidget(formula, 3, 0, 1, 3)
        panel = QWidget()
        boxes = QGridLayout(panel)
        boxes.setContentsMargins(0, 0, 0, 0)
        boxes.addWidget(q_box, 0, 0)
        boxes.addWidget(p_box, 0, 1)
        boxes.addWidget(mc_box, 1, 0)
        boxes.addWidget(results, 1, 1)
        boxes.addWidget(self.timing, 2, 0, 1, 2)
        scroll = QScrollArea()  # a narrow window scrolls the controls rather than widening itself
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(panel.sizeHint().height())
        return scroll

    # --- state

    def gaussians(self) -> tuple[Gaussian, Gaussian]:
        """(q, p) as the sliders set them."""
        return Gaussian(self.mu_q.value(), self.sigma_q.value()), Gaussian(self.mu_p.value(), self.sigma_p.value())

    def set_gaussians(self, mu_q: float, sigma_q: float, mu_p: float, sigma_p: float) -> None:
        """Move the sliders (a lesson's starting point, a test)."""
        for slider, value in ((self.mu_q, mu_q), (self.sigma_q, sigma_q), (self.mu_p, mu_p), (self.sigma_p, sigma_p)):
            slider.set_value(value)

    def draw_again(self) -> None:
        """Fresh Monte Carlo draws (the next seed): the estimates move within their standard errors."""
        self.seed += 1
        self.refresh()

    def draws(self) -> np.ndarray:
        """The N(0, 1) draws behind the estimates, reused while only mu and sigma change, so the
        estimate follows a slider smoothly instead of jittering."""
        key = (int(self.samples.value()), self.seed)
        if self._draws is None or self._draws[0] != key:
            self._draws = key, standard_draws(key[0], seed=key[1])
        return self._draws[1]

    def refresh(self, *_) -> None:
        """Recompute both KLs and redraw the curves (called on every slider move)."""
        start = time.perf_counter()
        q, p = self.gaussians()
        self.q_curve.setData(self.x, q.density(self.x))
        self.p_curve.setData(self.x, p.density(self.x))
        self.forward_curve.setData(self.x, kl_integrand(q, p, self.x))
        self.backward_curve.setData(self.x, kl_integrand(p, q, self.x))
        draws = self.draws()
        for direction, (a, b) in (("forward", (q, p)), ("backward", (p, q))):
            estimate = kl_monte_carlo(a, b, draws=draws)
            self.table[f"{direction}_closed"].setText(f"{float(kl_normal(a, b)):.4f}")
            self.table[f"{direction}_mc"].setText(f"{estimate.estimate:.4f} ± {estimate.standard_error:.4f}")
        self.update_ms = 1000 * (time.perf_counter() - start)
        self.timing.setText(f"n = {len(draws):,} draws of N(0, 1), seed {self.seed}, moved onto q (or p): "
                            "the same draws while a slider moves")
