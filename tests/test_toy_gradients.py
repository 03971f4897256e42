"""The toy gradient estimators of slide 19: their formulas against Monte Carlo, and the view."""

import math

import numpy as np
import pytest

from kgen.eval.toy_gradients import (
    CURVE_COUNTS,
    ESTIMATORS,
    closed_form_variance,
    empirical_variance,
    estimates,
    exact_gradient,
    per_sample_terms,
    variance_curves,
)


def test_per_sample_terms_are_the_formulas():
    eps = np.array([-1.0, 0.0, 0.5, 2.0])
    theta = 1.5
    x = theta + eps
    np.testing.assert_allclose(per_sample_terms("reparameterisation", theta, eps), 2 * x)
    np.testing.assert_allclose(per_sample_terms("score function", theta, eps), x**2 * eps)
    with pytest.raises(ValueError, match="estimator must be"):
        per_sample_terms("nvil", theta, eps)


@pytest.mark.parametrize("theta", [-2.0, 0.0, 0.7, 3.0])
def test_both_estimators_are_unbiased(theta):
    eps = np.random.default_rng(1).standard_normal((200_000, 1))
    for name in ESTIMATORS:
        values = estimates(name, theta, eps)
        standard_error = values.std() / math.sqrt(len(values))
        assert abs(values.mean() - exact_gradient(theta)) < 4 * standard_error
    assert exact_gradient(theta) == 2 * theta


@pytest.mark.parametrize("theta", [0.0, 0.5, 1.5, -2.5])
def test_closed_form_variances_match_monte_carlo(theta):
    """Var of one-sample terms over 400,000 draws against 4 and θ⁴ + 14θ² + 15 (relative error of a
    sample variance ~ sqrt(kurtosis / n): under 2% here even for the heavy-tailed score function)."""
    eps = np.random.default_rng(2).standard_normal(400_000)
    for name in ESTIMATORS:
        measured = per_sample_terms(name, theta, eps).var(ddof=1)
        assert measured == pytest.approx(closed_form_variance(name, theta, 1), rel=0.05)
    assert closed_form_variance("score function", theta, 1) == theta**4 + 14 * theta**2 + 15


def test_variance_falls_as_one_over_s():
    for name in ESTIMATORS:
        one, hundred = (empirical_variance(name, 1.0, s, repeats=4000, rng=np.random.default_rng(3)) for s in (1, 100))
        assert one / hundred == pytest.approx(100, rel=0.15)
    np.testing.assert_allclose(closed_form_variance("reparameterisation", 0.3, [1, 4, 1000]), [4, 1, 0.004])


def test_variance_curves_cover_one_to_a_thousand_and_agree_with_their_formula():
    assert CURVE_COUNTS[0] == 1 and CURVE_COUNTS[-1] == 1000 and list(CURVE_COUNTS) == sorted(set(CURVE_COUNTS))
    curves = variance_curves(1.0, repeats=400, seed=0)
    for name in ESTIMATORS:
        ratio = curves[name]["empirical"] / curves[name]["closed"]
        assert len(ratio) == len(CURVE_COUNTS) and 0.6 < np.median(ratio) < 1.4
    gap = curves["score function"]["closed"] / curves["reparameterisation"]["closed"]
    np.testing.assert_allclose(gap, 30 / 4)  # (1 + 14 + 15) / 4 at θ = 1, at every S


# The view ------------------------------------------------------------------------------------


@pytest.fixture
def view(qtbot):
    pytest.importorskip("pyqtgraph")
    from gui.estimator_toy_view import EstimatorToyView

    made = EstimatorToyView()
    qtbot.addWidget(made)
    made.resize(1200, 800)
    made.show()
    return made


def readout(label) -> float:
    return float(label.text().split()[0])


def test_the_plot_holds_both_formulas_and_the_measured_points_on_log_axes(view):
    view.set_theta(0.0)
    assert view.plot.getPlotItem().ctrl.logXCheck.isChecked() and view.plot.getPlotItem().ctrl.logYCheck.isChecked()
    for name in ESTIMATORS:
        x, y = view.lines[name].getOriginalDataset()
        assert x[0] == 1 and x[-1] == 1000
        np.testing.assert_allclose(y, closed_form_variance(name, 0.0, x))
        px, py = view.points[name].getOriginalDataset()
        assert list(px) == list(CURVE_COUNTS) and np.all(py > 0)
    _, reparam = view.lines["reparameterisation"].getOriginalDataset()
    _, score = view.lines["score function"].getOriginalDataset()
    np.testing.assert_allclose(score / reparam, 15 / 4)


def test_theta_moves_the_score_functions_curve_and_the_exact_gradient(view):
    view.set_theta(2.0)
    assert readout(view.readout["exact"]) == pytest.approx(4.0)
    _, score = view.lines["score function"].getOriginalDataset()
    assert score[0] == pytest.approx(16 + 56 + 15)
    _, measured = view.points["score function"].getOriginalDataset()
    closed = closed_form_variance("score function", 2.0, np.asarray(CURVE_COUNTS, float))
    assert 0.5 < float(np.median(measured / closed)) < 1.5


def test_the_readout_is_one_draw_of_each_near_the_exact_value(view):
    view.set_theta(1.0)
    view.readout_samples.set_value(1000)
    for name in ESTIMATORS:
        spread = math.sqrt(closed_form_variance(name, 1.0, 1000))
        assert abs(readout(view.readout[name]) - 2.0) < 5 * spread
    before = view.readout["score function"].text()
    view.draw_again()
    assert view.seed == 1 and view.readout["score function"].text() != before
    assert readout(view.readout["exact"]) == pytest.approx(2.0)


def test_an_update_takes_a_few_milliseconds(view):
    times = []
    for theta in np.linspace(-2, 2, 21):
        view.set_theta(theta)
        times.append(view.update_ms)
    assert float(np.median(times)) < 100.0, times


def test_the_window_has_the_tab_as_a_lesson_view(qtbot, tmp_path):
    from gui.main_window import MainWindow
    from kgen.lessons import VIEWS

    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    assert window.tabs.tabText(window.tabs.indexOf(window.estimator_toy)) == "Gradient estimators"
    assert window.view_widgets["estimator_toy"] is window.estimator_toy and "estimator_toy" in VIEWS
    window.close()
