"""The Compare view: several runs' curves of one metric overlaid, read-only."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from gui.compare_view import CompareView  # noqa: E402
from gui.curves_view import ema  # noqa: E402
from kgen.runs import EventLog  # noqa: E402


def write_run(path, losses, steps_per_epoch=5, extra=None):
    log = EventLog(path / "events.jsonl")
    log.write("start", device="CPU", epochs=len(losses) // steps_per_epoch, steps_per_epoch=steps_per_epoch)
    for i, loss in enumerate(losses):
        log.write("step", step=i + 1, epoch=i // steps_per_epoch + 1, elapsed=i * 0.1,
                  metrics={"loss": float(loss), **(extra or {})})
        if (i + 1) % steps_per_epoch == 0:
            chunk = losses[i + 1 - steps_per_epoch: i + 1]
            log.write("epoch", epoch=(i + 1) // steps_per_epoch, elapsed=i * 0.1,
                      metrics={"loss": float(np.mean(chunk)), "val_loss": float(np.mean(chunk)) + 1})
    log.write("end", status="finished", elapsed=9.0)
    log.close()


@pytest.fixture
def view(qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    return view


def test_compare_overlays_each_runs_metric_with_its_own_colour_and_name(view, tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.random(20) + 1, rng.random(30) + 2
    write_run(tmp_path / "vae-a", a)
    write_run(tmp_path / "vae-b", b, extra={"accuracy": 0.5})
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert view.add_run(tmp_path / "vae-a") and view.add_run(tmp_path / "vae-b")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written into the runs
    assert view.runs() == [str(tmp_path / "vae-a"), str(tmp_path / "vae-b")]
    assert view.metrics() == ["loss", "accuracy"] and view.metric_box.currentText() == "loss"
    view.smoothing.setValue(0.5)
    x, y = view.curve_data(tmp_path / "vae-b")
    assert list(x) == list(range(1, 31))
    np.testing.assert_allclose(y, ema(b, 0.5))
    pens = [view._curves[r].opts["pen"].color().name() for r in view.runs()]
    assert view.legend() == [("vae-a", pens[0]), ("vae-b", pens[1])] and pens[0] != pens[1]
    assert [view.run_list.item(i).text() for i in range(2)] == ["vae-a", "vae-b"]  # the list is the legend
    assert not view.run_list.item(1).icon().isNull()

    view.set_mode("epoch")
    assert "val_loss" in view.metrics()
    view.set_metric("val_loss")
    x, y = view.curve_data(tmp_path / "vae-a")
    assert list(x) == [1, 2, 3, 4]
    np.testing.assert_allclose(y, a.reshape(4, 5).mean(axis=1) + 1)
    assert not view.smoothing.isEnabled()

    view.set_mode("step")
    view.set_metric("accuracy")  # only one run has it: only it is drawn
    assert list(view._curves) == [str(tmp_path / "vae-b")] and [n for n, _ in view.legend()] == ["vae-b"]
    assert view.run_list.item(0).icon().isNull() and "no accuracy" in view.run_list.item(0).toolTip()
    view.remove_run(tmp_path / "vae-b")
    assert view.runs() == [str(tmp_path / "vae-a")] and view.run_list.count() == 1
    assert view.metric_box.currentText() == "loss"


def test_reload_picks_up_a_run_that_grew_and_bad_dirs_are_refused(view, tmp_path):
    write_run(tmp_path / "live", np.ones(5))
    view.add_run(tmp_path / "live")
    EventLog(tmp_path / "live" / "events.jsonl").write("step", step=6, epoch=2, metrics={"loss": 0.25})
    assert view.curve_data(tmp_path / "live")[0].size == 5
    view.reload()
    assert view.curve_data(tmp_path / "live")[0].size == 6
    assert not view.add_run(tmp_path / "nothing-here")
    assert "no training events" in view.message.text() and view.runs() == [str(tmp_path / "live")]


def test_runs_of_the_same_folder_name_get_told_apart(view, tmp_path):
    for parent in ("x", "y"):
        write_run(tmp_path / parent / "run", np.ones(5))
        view.add_run(tmp_path / parent / "run")
    assert [name for name, _ in view.legend()] == ["x/run", "y/run"]


def write_session(log, losses, first_step, elapsed, snr=None):
    """One training session: a start, a step per loss (elapsed from the session's start), one epoch."""
    log.write("start", device="CPU", epochs=2, steps_per_epoch=len(losses))
    for i, loss in enumerate(losses):
        log.write("step", step=first_step + i, epoch=1, elapsed=elapsed[i], metrics={"loss": float(loss)})
    metrics = {"loss": float(np.mean(losses)), **({"grad_snr": snr} if snr is not None else {})}
    log.write("epoch", epoch=1, step=first_step + len(losses) - 1, elapsed=elapsed[-1], metrics=metrics)


def test_wall_time_lays_a_resumed_runs_sessions_end_to_end(view, tmp_path):
    from gui.compare_view import run_series, training_seconds

    (tmp_path / "resumed").mkdir()
    log = EventLog(tmp_path / "resumed" / "events.jsonl")
    write_session(log, [3.0, 2.0, 1.5], 1, [0.5, 1.0, 1.5], snr=0.4)
    log.write("end", status="stopped", elapsed=2.0)
    write_session(log, [1.2, 1.0], 4, [0.25, 0.75], snr=0.9)  # elapsed restarts with the resume
    log.close()
    assert view.add_run(tmp_path / "resumed")
    view.set_x_axis("elapsed")
    view.smoothing.setValue(0.0)
    x, y = view.curve_data(tmp_path / "resumed")
    np.testing.assert_allclose(x, [0.5, 1.0, 1.5, 2.25, 2.75])  # the second session after the first's 2 s
    np.testing.assert_allclose(y, [3.0, 2.0, 1.5, 1.2, 1.0])
    assert view.plot.getPlotItem().getAxis("bottom").labelText == "training time (s)"
    events = [{"type": "start"}, {"type": "step", "step": 1}, {"type": "step", "step": 2, "elapsed": 3.0}]
    assert training_seconds(events) == [None, None, 3.0]
    assert run_series(events, "loss", "step", "elapsed")[0].size == 0  # no metrics: nothing drawn
    view.set_x_axis("count")
    assert list(view.curve_data(tmp_path / "resumed")[0]) == [1, 2, 3, 4, 5]


def test_gradient_snr_of_two_estimators_overlaid_against_time(view, tmp_path):
    """Runs of unequal step costs meet on one time axis, one colour each."""
    for name, seconds_per_step, snr in (("reparam", 0.1, 2.0), ("reinforce", 0.3, 0.05)):
        (tmp_path / name).mkdir()
        log = EventLog(tmp_path / name / "events.jsonl")
        write_session(log, [5.0, 4.0], 1, [seconds_per_step, 2 * seconds_per_step], snr=snr)
        log.close()
        view.add_run(tmp_path / name)
    view.set_mode("epoch")
    view.set_x_axis("elapsed")
    view.set_metric("grad_snr")
    assert view.metrics() == ["loss", "grad_snr"]
    xs = {name: view.curve_data(tmp_path / name) for name in ("reparam", "reinforce")}
    assert xs["reparam"][0].tolist() == [0.2] and xs["reinforce"][0].tolist() == [0.6]
    assert xs["reinforce"][1].tolist() == [0.05]
    colours = [c for _, c in view.legend()]
    assert len(set(colours)) == 2
    view.set_metric("loss")  # the ELBO's negative, the same way
    assert view.curve_data(tmp_path / "reinforce")[0].tolist() == [0.6]
