"""The Evaluate tab's bound over k: read from the scores, drawn on a log axis, progress and Cancel."""

import numpy as np
import pytest

from gui import theme
from gui.bound_curve import bound_curve
from gui.evaluate_view import DEFAULT_CURVE, EvaluateView
from kgen.config import GANConfig, RunConfig, TrainConfig, VAEConfig
from kgen.runs import Run
from kgen.services.jobs import ProcessJob

SCORES = {"elbo": -30.0, "kl": 5.0, "iwae_1": -30.1, "iwae_se_1": 0.5, "iwae_10": -28.0, "iwae_se_10": 0.4,
          "iwae_2": -29.2, "iwae_se_2": 0.45, "iwae_5000": -27.0}


class FakeJob:
    """A job as the view polls it: not done with some progress, then done with ``scores``."""

    def __init__(self, scores):
        self.done, self.error, self.progress, self.scores, self.cancelled = False, None, 0.4, scores, False

    def start(self):
        return self

    def result(self):
        return self.scores

    def cancel(self):
        self.cancelled = True


def test_the_curve_is_the_iwae_k_that_have_a_standard_error():
    ks, means, errors = bound_curve(SCORES)
    assert ks.tolist() == [1, 2, 10]  # by k; iwae_5000 alone (no standard error) is no point of it
    assert means.tolist() == [-30.1, -29.2, -28.0] and errors.tolist() == [0.5, 0.45, 0.4]
    assert [len(a) for a in bound_curve({"elbo": 1.0})] == [0, 0, 0]


def test_the_view_shows_progress_then_the_curve_over_log_k(qtbot):
    view = EvaluateView()
    qtbot.addWidget(view)
    view.show()
    view.run_dir = None
    view._job = job = FakeJob(SCORES)
    view._set_busy(True, progress=True)
    view._poll()
    assert view.progress.isVisible() and view.progress.value() == 40 and view.cancel_button.isEnabled()
    job.done = True
    view._poll()
    assert not view.progress.isVisible() and not view.cancel_button.isEnabled()
    assert view.curve_box.isVisible()
    x, y = view.curve_plot.curve.getData()
    assert np.allclose(x, np.log10([1, 2, 10])) and y.tolist() == [-30.1, -29.2, -28.0]  # plotted on log10 k
    assert view.curve_plot.elbo.getData()[1].tolist() == [-30.0, -30.0]
    ticks = view.curve_plot.getPlotItem().getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == ["1", "2", "10"]  # a tick at every k of the curve, named plainly
    view.set_look(theme.PROJECTOR_LOOK)
    assert view.curve_plot.curve.opts["pen"].widthF() == 4.0  # projector mode: twice as thick
    view._job = FakeJob({"fid": 2.0})
    view._job.done = True
    view._poll()
    assert not view.curve_box.isVisible()  # a run without a curve shows its table alone


def test_cancel_ends_the_job_and_frees_the_buttons(qtbot):
    view = EvaluateView()
    qtbot.addWidget(view)
    view._job = job = FakeJob(SCORES)
    view._set_busy(True, progress=True)
    view.cancel_button.click()
    assert job.cancelled and not view.busy and view.status.text() == "evaluation cancelled"
    assert view.choose_button.isEnabled() and not view.cancel_button.isEnabled()


def test_the_run_is_read_when_chosen_and_a_gan_is_asked_for_no_curve(qtbot, tmp_path, monkeypatch):
    view = EvaluateView()
    qtbot.addWidget(view)
    asked = []
    monkeypatch.setattr(ProcessJob, "reporting", classmethod(lambda cls, target, run, **kw: asked.append(kw) or FakeJob({})))
    for model, part in (("vae", VAEConfig(latent_dim=2)), ("gan", GANConfig(latent_dim=2))):
        run = Run.create(tmp_path / model, RunConfig(TrainConfig(model=model), part))
        view.set_run(run.path)
        assert not view.evaluate_button.isEnabled()  # until a thread has read the run's config
        qtbot.waitUntil(view.evaluate_button.isEnabled, timeout=5000)
        with monkeypatch.context() as reads:
            reads.setattr(Run, "open", classmethod(lambda cls, *args: pytest.fail("a file read on the click")))
            view.evaluate_button.click()
        view.cancel()
    assert [kw["curve"] for kw in asked] == [DEFAULT_CURVE, 0]  # a GAN has no bound on log p(x) to draw
