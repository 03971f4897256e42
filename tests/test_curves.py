"""The training curves: values, smoothing, epoch and test points, markers, hover, export, speed."""

import csv
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QPointF, QTimer  # noqa: E402

from gui.curves_view import HOVER_HINT, CurvesView, ema, plot_title  # noqa: E402


@pytest.fixture
def view(qtbot):
    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    return view


def numpy_ema(values, weight):
    """TensorBoard's smoothing written out step by step."""
    out, last, count = [], 0.0, 0
    for v in values:
        if not np.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight**count))
    return np.array(out)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.99])
def test_ema_is_tensorboards_debiased_average(weight):
    values = np.random.default_rng(1).normal(3.0, 1.0, 500)
    values[[10, 200]] = np.nan, np.inf
    np.testing.assert_allclose(ema(values, weight), numpy_ema(values, weight), rtol=1e-12, equal_nan=True)
    assert ema(values, weight)[0] == pytest.approx(values[0], rel=1e-12)  # debiased: no pull towards 0


def feed_vae(view, steps=40, steps_per_epoch=10):
    rng = np.random.default_rng(0)
    offsets = {"kl": 5.0, "loss": 50.0, "reconstruction": 45.0}  # in Keras' (sorted) order
    values = {k: rng.random(steps) + offset for k, offset in offsets.items()}
    for i in range(steps):
        view.add_event({"type": "step", "step": i + 1, "epoch": i // steps_per_epoch + 1,
                        "metrics": {k: float(v[i]) for k, v in values.items()}})
        if (i + 1) % steps_per_epoch == 0:
            view.add_event({"type": "epoch", "epoch": (i + 1) // steps_per_epoch,
                            "metrics": {"loss": 50.5, "val_loss": 51.0, "kl": 5.5, "val_kl": 5.2}})
    view.settle()
    return values


def test_curves_hold_the_events_values_smoothed_and_per_epoch(view):
    values = feed_vae(view)
    assert set(view.keys()) == {"loss", "reconstruction", "kl"}
    assert list(view._plots) == ["loss", "reconstruction", "KL"]  # VAE terms on separate axes
    x, y = view.data("kl")
    assert list(x) == list(range(1, 41)) and np.array_equal(y, values["kl"])
    view.set_smoothing(0.9)
    sx, sy = view.smoothed("loss")
    np.testing.assert_allclose(sy, numpy_ema(values["loss"], 0.9))
    drawn_x, drawn_y = view._smooth["loss"].getOriginalDataset()
    np.testing.assert_allclose(drawn_y, sy)  # the line on screen is the smoothed one
    assert np.array_equal(view._raw["loss"].getOriginalDataset()[1], values["loss"])
    ex, ey = view.epoch_data("val_loss")
    assert list(ex) == [10, 20, 30, 40] and list(ey) == [51.0] * 4  # at the step each epoch ended
    assert plot_title("val_kl") == "KL" and set(view.epoch_keys()) == {"loss", "val_loss", "kl", "val_kl"}


def test_gan_metrics_are_grouped_by_quantity(view):
    view.add_step({"step": 1, "metrics": {"d_loss": 1.3, "g_loss": 0.7, "d_real": 0.6, "d_fake": 0.4,
                                          "d_accuracy": 0.55, "d_grad_norm": 2.0, "g_grad_norm": 1.0,
                                          "accuracy": 0.5}})
    view.settle()
    assert list(view._plots) == ["GAN losses", "discriminator output D(x), D(G(z))", "discriminator accuracy",
                                 "gradient norm", "accuracy"]
    title = view._plots["GAN losses"].titleLabel.text  # the title names each metric in its colour
    assert "GAN losses: " in title and "d_loss</span>" in title and "g_loss</span>" in title
    assert view._plots["accuracy"].titleLabel.text == "accuracy"


def test_test_scores_markers_hover_and_log_scale(qtbot, view):
    feed_vae(view)
    view.add_event({"type": "hparam", "step": 25, "name": "lr", "old": 0.002, "new": 0.0005})
    view.add_event({"type": "eval", "split": "test", "metrics": {"elbo": -50.2, "kl": 5.4}})
    view.settle()
    assert view.markers() == [(25, "lr 0.002 → 0.0005")]
    lines = [item for item in view._plots["KL"].items if getattr(item, "label", None) is not None
             and item.label.toPlainText() == "lr 0.002 → 0.0005"]
    assert len(lines) == 1 and lines[0].value() == 25
    assert view.evaluations == {"elbo": -50.2, "kl": 5.4} and "elbo -50.2" in view.eval_label.text()
    assert view._eval_points["kl"].getOriginalDataset()[1].tolist() == [5.4]  # a star on the KL plot
    view.add_step({"step": 41, "metrics": {"loss": 1.0}})  # a plot made after the marker gets it too
    view.settle()
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(50)  # the plots take their places
    plot = view._plots["KL"]
    view._on_mouse_moved(plot.vb.mapViewToScene(QPointF(17.2, 5.3)))
    assert all(line.isVisible() and line.value() == pytest.approx(17.2, abs=0.01) for line in view._hover.values())
    kl, smoothed = view.data("kl")[1][16], view.smoothed("kl")[1][16]
    shown = view.hover_label.text()
    assert shown.startswith("step 17 · ") and f"<b>kl</b> {kl:.4g} (smoothed {smoothed:.4g})" in shown
    assert "<b>val_kl</b> 5.2 @ 20" in shown and "loss" not in shown  # the hovered plot's values only
    view._on_mouse_moved(QPointF(-5, -5))
    assert not view._hover["KL"].isVisible() and view.hover_label.text() == HOVER_HINT
    view.log_scale.setChecked(True)
    assert all(p.ctrl.logYCheck.isChecked() for p in view._plots.values())


def test_export_menu_saves_where_the_user_chose(view, tmp_path, monkeypatch):
    feed_vae(view, steps=10)
    chosen = iter([str(tmp_path / "a.png"), str(tmp_path / "b.csv")])
    monkeypatch.setattr("gui.curves_view.QFileDialog.getSaveFileName", lambda *args: (next(chosen), ""))
    png, csv_action = view.export_button.menu().actions()
    png.trigger()
    csv_action.trigger()
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "b.csv").read_text().startswith("step,loss,reconstruction,kl")


def test_csv_round_trips_and_png_is_a_real_picture(view, tmp_path):
    values = feed_vae(view, steps=30)
    view.add_step({"step": 31, "metrics": {"loss": float("nan")}})
    view.export_csv(tmp_path / "curves.csv")
    with open(tmp_path / "curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "loss", "reconstruction", "kl", "epoch/loss", "epoch/val_loss", "epoch/kl",
                             "epoch/val_kl"]
    assert [int(r["step"]) for r in rows] == list(range(1, 32))
    assert [float(r["kl"]) for r in rows[:30]] == values["kl"].tolist()  # exact round trip
    assert rows[30]["kl"] == "" and np.isnan(float(rows[30]["loss"]))
    assert [r["epoch/val_loss"] for r in rows[8:11]] == ["", "51", ""]

    view.export_png(tmp_path / "curves.png")
    from PIL import Image

    picture = np.asarray(Image.open(tmp_path / "curves.png").convert("L"))
    assert picture.shape[0] >= 300 and picture.shape[1] >= 300
    assert (picture < 200).mean() > 0.01  # lines, axes and text, not a blank page


def test_one_hundred_thousand_steps_stay_fluid(view):
    n = 100_000
    rng = np.random.default_rng(0)
    metrics = {"loss": 50 + rng.normal(size=n).cumsum() * 0.01, "kl": 5 + rng.random(n)}
    view.show()
    start = time.perf_counter()
    for i in range(n):
        view.add_step({"step": i + 1, "metrics": {"loss": metrics["loss"][i], "kl": metrics["kl"][i]}})
    feed = time.perf_counter() - start
    view.settle()  # the plots are built
    timings = []
    for _ in range(3):
        view._drawn.clear()  # every line takes all its data again
        start = time.perf_counter()
        view.settle()
        view.graphics.grab()  # paints every plot, as the screen would
        timings.append(time.perf_counter() - start)
    view.set_following(False)  # as when the user zooms
    view._plots["loss"].setXRange(40_000, 41_000, padding=0)  # zoomed in: clipped to the view
    view._drawn.clear()
    start = time.perf_counter()
    view.settle()
    view.graphics.grab()
    zoomed = time.perf_counter() - start
    print(f"\n100k steps x 2 metrics: feeding {feed:.2f} s, redraw+paint {min(timings) * 1000:.0f} ms "
          f"(zoomed {zoomed * 1000:.0f} ms)")
    assert view.data("loss")[0].size == n
    assert min(timings) < 1.0 and zoomed < 1.0  # generous for a loaded 2-core machine; typical is far less


def test_stable_range_keeps_the_view_until_the_data_leave_or_shrink_in_it():
    from gui.curves_view import stable_range

    assert stable_range(None, 0.0, 10.0, 0.1, 0.1) == pytest.approx((-1.0, 11.0))
    assert stable_range((-1.0, 11.0), 1.0, 9.0, 0.1, 0.1) is None  # inside, fills 2/3: kept
    assert stable_range((-1.0, 11.0), 0.0, 12.0, 0.1, 0.1) == pytest.approx((-1.2, 13.2))  # left it
    assert stable_range((-1.0, 11.0), 4.0, 5.0, 0.1, 0.1) == pytest.approx((3.9, 5.1))  # a sliver: zoom in
    assert stable_range(None, 3.0, 3.0, 0.1, 0.1) is not None  # one value still gets a range
    assert stable_range((0.0, 1.0), float("nan"), 1.0, 0.1, 0.1) is None
    # A growing step axis changes about log(n) times, not at every redraw.
    view, changes = None, 0
    for hi in range(2, 10_001):
        new = stable_range(view, 1.0, float(hi), 0.0, 1.0)
        if new is not None:
            view, changes = new, changes + 1
    assert changes <= 15


def test_views_follow_the_run_and_stop_following_when_the_user_zooms(qtbot, view):
    view.set_total_steps(400)
    rng = np.random.default_rng(0)
    y_changes = []
    for step in range(1, 201):
        view.add_step({"step": step, "metrics": {"loss": 50 / np.sqrt(step) + rng.random()}})
        if step == 1:
            view.settle()
            view._plots["loss"].vb.sigYRangeChanged.connect(lambda *_: y_changes.append(view._last_step))
        view.settle()
    x_range, y_range = view._plots["loss"].vb.viewRange()
    assert x_range[0] == 0 and 200 <= x_range[1] <= 400  # from 0, with room, never past the run's end
    _, losses = view.data("loss")
    assert y_range[0] < losses.min() and losses.max() < y_range[1]
    assert len(y_changes) <= 12, y_changes  # a falling, noisy loss: a few refits, not 200
    view._plots["loss"].vb.sigRangeChangedManually.emit([True, True])  # the user pans
    assert not view.following
    view._plots["loss"].setYRange(5, 6, padding=0)
    view.add_step({"step": 201, "metrics": {"loss": 100.0}})
    view.settle()
    assert view._plots["loss"].vb.viewRange()[1] == pytest.approx([5, 6])  # left where the user put it
    view.set_following(True)  # the plot's "A" button
    assert view._plots["loss"].vb.viewRange()[1][1] > 100.0


def test_expected_plots_are_built_one_per_event_loop_turn(qtbot, view):
    view.expect(["d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"])
    assert view._plots == {}  # nothing built yet: the caller's turn stays short
    built = []
    probe = QTimer()  # fires once every event-loop turn
    probe.setInterval(0)
    probe.timeout.connect(lambda: built.append(len(view._plots)))
    probe.start()
    qtbot.waitUntil(lambda: len(view._plots) == 3, timeout=5000)
    probe.stop()
    assert list(view._plots) == ["GAN losses", "discriminator output D(x), D(G(z))", "gradient norm"]
    assert all(b - a <= 1 for a, b in zip(built, built[1:], strict=False)), built  # never two in one turn


def test_plots_take_turns_so_each_paint_stays_small(qtbot, view):
    feed_vae(view, steps=10)
    for step in range(11, 21):
        view.add_step({"step": step, "metrics": {"loss": 1.0, "reconstruction": 1.0, "kl": 1.0}})
    # The pacer drew the first new step at once; the rest wait. One turn draws one plot.
    counts = lambda: [view._raw[k].getOriginalDataset()[0].size for k in ("loss", "reconstruction", "kl")]  # noqa: E731
    before = counts()
    assert view._draw_next()
    after = counts()
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1 and max(after) == 20
    qtbot.waitUntil(lambda: counts() == [20, 20, 20], timeout=5000)  # the pacer comes back for the rest
    assert not view._draw_next()


def test_the_step_axis_grows_a_few_times_up_to_the_runs_last_step(qtbot, view):
    view.set_total_steps(1000)
    ranges = []
    for step in range(1, 1001):
        view.add_step({"step": step, "metrics": {"loss": 1.0 / step}})
        if step % 10 == 0:
            view.settle()
            ranges.append(tuple(view._plots["loss"].vb.viewRange()[0]))
    assert ranges[0][1] < 100  # the first steps fill the plot, not a sliver of a long run
    assert all(lo == 0 and step <= hi <= 1000 for (lo, hi), step in zip(ranges, range(10, 1001, 10), strict=True))
    assert ranges[-1] == pytest.approx((0, 1000))  # reaches the run's end and stops there
    assert len(set(ranges)) <= 10  # a few refits, not one per redraw


def test_gradient_snr_of_every_encoder_layer_shares_one_plot(view):
    view.add_event({"type": "epoch", "epoch": 1, "step": 10,
                    "metrics": {"loss": 50.0, "grad_snr": 0.8, "grad_snr/dense_0": 0.5, "grad_snr/z_mean": 1.2,
                                "grad_log_var": -3.0}})
    view.settle()
    assert list(view._plots) == ["loss", "gradient SNR of the encoder: all, per layer", "grad_log_var"]
    assert plot_title("grad_snr/z_log_var") == plot_title("grad_snr") != plot_title("grad_log_var")
    assert list(view.epoch_data("grad_snr/z_mean")[1]) == [1.2]
