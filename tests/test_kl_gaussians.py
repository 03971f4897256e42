"""The KL between two Gaussians (kgen.eval.gaussians) against its formula, and its view."""

import math
import time

import numpy as np
import pytest

from kgen.errors import ConfigError
from kgen.eval.gaussians import (
    Gaussian,
    kl_diagonal,
    kl_integrand,
    kl_monte_carlo,
    kl_normal,
    standard_draws,
)


def test_kl_of_a_gaussian_to_itself_is_zero():
    for mu, sigma in ((0.0, 1.0), (3.0, 0.2), (-1.5, 4.0)):
        g = Gaussian(mu, sigma)
        assert kl_normal(g, g) == pytest.approx(0.0, abs=1e-12)
        assert kl_monte_carlo(g, g, n=1000).estimate == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("q, p, expected", [
    ((0.0, 1.0), (1.0, 1.0), 0.5),  # a unit shift: (mu_q - mu_p)^2 / 2
    ((0.0, 1.0), (0.0, 2.0), math.log(2.0) + 1 / 8 - 1 / 2),
    ((0.0, 2.0), (0.0, 1.0), -math.log(2.0) + 2.0 - 1 / 2),
    ((1.0, 0.5), (-1.0, 2.0), math.log(4.0) + (0.25 + 4.0) / 8.0 - 0.5),
])
def test_known_values(q, p, expected):
    assert float(kl_normal(Gaussian(*q), Gaussian(*p))) == pytest.approx(expected, rel=1e-12)


def test_kl_is_not_symmetric():
    narrow, wide = Gaussian(0.0, 1.0), Gaussian(0.0, 2.0)
    forward, backward = float(kl_normal(narrow, wide)), float(kl_normal(wide, narrow))
    assert forward == pytest.approx(0.318147, abs=1e-6)
    assert backward == pytest.approx(0.806853, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("q, p", [((0.0, 1.0), (1.0, 1.5)), ((2.0, 0.3), (0.0, 1.0)), ((0.0, 2.0), (0.5, 1.0))])
def test_monte_carlo_is_within_four_standard_errors_of_the_closed_form(q, p, seed):
    q, p = Gaussian(*q), Gaussian(*p)
    mc = kl_monte_carlo(q, p, n=20_000, seed=seed)
    assert mc.n == 20_000 and 0 < mc.standard_error < 0.05
    assert abs(mc.estimate - float(kl_normal(q, p))) < 4 * mc.standard_error


def test_standard_error_shrinks_as_one_over_root_n():
    q, p = Gaussian(0.0, 1.0), Gaussian(1.0, 2.0)
    small, large = kl_monte_carlo(q, p, n=1_000), kl_monte_carlo(q, p, n=100_000)
    assert large.standard_error == pytest.approx(small.standard_error / 10, rel=0.15)


def test_monte_carlo_is_seeded():
    q, p = Gaussian(0.0, 1.0), Gaussian(1.0, 2.0)
    assert kl_monte_carlo(q, p, n=500, seed=7) == kl_monte_carlo(q, p, n=500, seed=7)
    assert kl_monte_carlo(q, p, n=500, seed=7) != kl_monte_carlo(q, p, n=500, seed=8)
    draws = standard_draws(500, seed=7)
    assert kl_monte_carlo(q, p, draws=draws) == kl_monte_carlo(q, p, n=500, seed=7)


def test_diagonal_kl_is_the_sum_over_dimensions():
    q = Gaussian(np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 3.0]))
    p = Gaussian(np.array([0.5, 0.0, 0.0]), np.array([2.0, 1.0, 1.0]))
    per_dimension = [float(kl_normal(Gaussian(q.mu[i], q.sigma[i]), Gaussian(p.mu[i], p.sigma[i]))) for i in range(3)]
    assert kl_diagonal(q, p) == pytest.approx(sum(per_dimension), rel=1e-12)
    mc = kl_monte_carlo(q, p, n=50_000, seed=3)
    assert abs(mc.estimate - kl_diagonal(q, p)) < 4 * mc.standard_error


def test_agrees_with_the_vae_loss_kl_to_the_standard_normal():
    from keras import ops

    from kgen.models.losses import kl_to_standard_normal

    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    theirs = ops.convert_to_numpy(kl_to_standard_normal(ops.convert_to_tensor(mean), ops.convert_to_tensor(log_var)))
    prior = Gaussian(np.zeros(6), np.ones(6))
    ours = [kl_diagonal(Gaussian(m, np.exp(0.5 * lv)), prior) for m, lv in zip(mean, log_var, strict=True)]
    np.testing.assert_allclose(theirs, ours, rtol=1e-5)


def test_the_integrand_integrates_to_the_kl():
    q, p = Gaussian(0.5, 0.7), Gaussian(-1.0, 1.5)
    x = np.linspace(-10, 10, 40_001)
    integral = float(np.sum(kl_integrand(q, p, x)) * (x[1] - x[0]))
    assert integral == pytest.approx(float(kl_normal(q, p)), rel=1e-6)


@pytest.mark.parametrize("mu, sigma", [(0.0, 0.0), (0.0, -1.0), (math.nan, 1.0), (0.0, math.inf),
                                       (np.zeros(2), np.ones(3))])
def test_bad_parameters_are_one_line_errors(mu, sigma):
    with pytest.raises(ConfigError, match="Gaussian"):
        Gaussian(mu, sigma)


@pytest.mark.parametrize("n", [0, 1, 2.5, True])
def test_bad_sample_counts_are_refused(n):
    with pytest.raises(ConfigError, match="n >= 2"):
        kl_monte_carlo(Gaussian(0.0, 1.0), Gaussian(0.0, 1.0), n=n)


def test_one_estimate_at_ten_thousand_samples_is_fast():
    q, p, draws = Gaussian(0.3, 0.8), Gaussian(0.0, 1.0), standard_draws(10_000)
    start = time.perf_counter()
    for _ in range(20):
        kl_monte_carlo(q, p, draws=draws)
        kl_monte_carlo(p, q, draws=draws)
    assert (time.perf_counter() - start) / 20 < 0.02  # ~1 ms measured; generous for a busy machine


# The view ------------------------------------------------------------------------------------


@pytest.fixture
def view(qtbot):
    pytest.importorskip("pyqtgraph")
    from gui.kl_gaussians_view import KLGaussiansView

    made = KLGaussiansView()
    qtbot.addWidget(made)
    made.resize(1200, 700)
    made.show()
    return made


def shown_numbers(label) -> list[float]:
    return [float(part) for part in label.text().replace("±", " ").split()]


def test_the_view_shows_the_closed_form_beside_the_estimate_both_ways(view):
    view.set_gaussians(0.0, 1.0, 0.0, 2.0)
    q, p = view.gaussians()
    assert (q.mu, q.sigma, p.mu, p.sigma) == (0.0, 1.0, 0.0, 2.0)
    (forward,) = shown_numbers(view.table["forward_closed"])
    (backward,) = shown_numbers(view.table["backward_closed"])
    assert forward == pytest.approx(0.3181, abs=1e-4) and backward == pytest.approx(0.8069, abs=1e-4)
    for direction, exact in (("forward", forward), ("backward", backward)):
        estimate, error = shown_numbers(view.table[f"{direction}_mc"])
        assert 0 < error < 0.05 and abs(estimate - exact) < 4 * error + 1e-4


def test_the_curves_follow_the_sliders(view):
    view.set_gaussians(-1.0, 0.5, 1.0, 1.0)
    x, q = view.q_curve.getData()
    assert x[np.argmax(q)] == pytest.approx(-1.0, abs=0.03)
    assert q.max() == pytest.approx(1 / (0.5 * math.sqrt(2 * math.pi)), rel=1e-3)
    _, integrand = view.forward_curve.getData()
    area = float(np.sum(integrand) * (x[1] - x[0]))
    assert area == pytest.approx(float(kl_normal(*view.gaussians())), rel=1e-3)
    view.mu_p.set_value(-1.0)
    view.sigma_p.set_value(0.5)  # p = q: no divergence
    assert shown_numbers(view.table["forward_closed"]) == [0.0]
    assert shown_numbers(view.table["backward_mc"])[0] == pytest.approx(0.0, abs=1e-9)


def test_fresh_draws_and_the_sample_count_change_the_estimate_only(view):
    view.set_gaussians(0.0, 1.0, 1.0, 2.0)
    closed, estimate = view.table["forward_closed"].text(), view.table["forward_mc"].text()
    view.draw_again()
    assert view.seed == 1 and view.table["forward_mc"].text() != estimate
    assert view.table["forward_closed"].text() == closed
    view.samples.set_value(100)
    assert len(view.draws()) == 100 and shown_numbers(view.table["forward_mc"])[1] > 0.02


def test_an_update_at_ten_thousand_samples_takes_a_few_milliseconds(view):
    """A drag redraws at every slider value: the whole update (both estimates, four curves) is timed."""
    view.samples.set_value(10_000)
    times = []
    for value in np.linspace(-2, 2, 41):
        view.mu_q.set_value(value)
        times.append(view.update_ms)
    assert len(view.draws()) == 10_000
    assert float(np.median(times)) < 20.0, times  # ~2 ms measured on the 2-core machine (see the report)


def test_the_window_has_the_tab(qtbot, tmp_path):
    from gui.main_window import MainWindow

    window = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    assert window.tabs.tabText(window.tabs.indexOf(window.kl_gaussians)) == "KL of two Gaussians"
    window.close()
