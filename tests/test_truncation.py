"""The truncation sweep end to end: its scores' names and table, `kgen eval --truncation-sweep` on a
toy GAN and a digits VAE, refusals, and the Evaluate tab's plot of it."""

import numpy as np
import pytest
from latent_runs import trained_vae_run

from gui import theme
from gui.evaluate_view import EvaluateView
from kgen.cli import main
from kgen.errors import ConfigError
from kgen.eval.descriptions import describe
from kgen.eval.truncation import (
    check_psis,
    format_sweep,
    is_sweep_key,
    sweep_key,
    sweep_table,
    tempered_codes,
)
from kgen.runs import read_events
from kgen.services.commands import evaluate_run

SWEEP = {"fid": 9.0, "precision_psi_0.5": 0.9, "recall_psi_0.5": 0.2, "precision_psi_1": 0.7, "recall_psi_1": 0.6,
         "fid_psi_0.5": 30.0, "fid_psi_1": 12.0, "precision_psi_1.5": 0.5, "recall_psi_1.5": 0.8, "fid_psi_1.5": 20.0}


@pytest.fixture(scope="module")
def toy_gan_run(tmp_path_factory):
    """`kgen train gan` on ring8 for one epoch with small networks (a few seconds)."""
    run = tmp_path_factory.mktemp("toy") / "run"
    assert main(["train", "gan", "--dataset", "ring8", "--epochs", "1", "--hidden", "32", "--out", str(run)]) == 0
    return run


def test_cells_are_named_by_score_and_psi_and_read_back_in_psi_order():
    assert sweep_key("precision", 0.5) == "precision_psi_0.5" and sweep_key("fid", 1.0) == "fid_psi_1"
    assert is_sweep_key("recall_psi_1.25") and not is_sweep_key("recall") and not is_sweep_key("iwae_5")
    psis, columns = sweep_table(SWEEP)
    assert psis.tolist() == [0.5, 1.0, 1.5]
    assert columns["precision"].tolist() == [0.9, 0.7, 0.5] and columns["fid"].tolist() == [30.0, 12.0, 20.0]
    assert describe("recall_psi_1.5") is describe("recall")  # the sweep's cells explain themselves
    table = format_sweep(SWEEP).splitlines()
    assert table[1].split() == ["psi", "precision", "recall", "fid"] and table[3].split()[:3] == ["1.00", "0.7", "0.6"]
    assert sweep_table({"fid": 1.0})[0].size == 0 and format_sweep({"fid": 1.0}) == ""


def test_bad_psi_values_and_binary_priors_are_refused():
    assert check_psis([1.0, 0.5, 1.0]) == (0.5, 1.0)
    for bad in ([], [0.0], [-1.0], [float("nan")], [5.0]):
        with pytest.raises(ConfigError, match="psi values must lie in"):
            check_psis(bad)

    class BinaryPrior:
        latent_dim = 3

        def prior_codes(self, noise):
            return (noise > 0).astype("float32")

    with pytest.raises(ConfigError, match="prior is not N"):
        tempered_codes(BinaryPrior(), 5, 0.5, seed=0)


def test_the_same_z_is_scaled_at_every_psi():
    class Plain:
        latent_dim = 3

    np.testing.assert_allclose(tempered_codes(Plain(), 4, 0.5, seed=1) * 2, tempered_codes(Plain(), 4, 1.0, seed=1))


def test_eval_prints_the_sweep_of_a_toy_gan_and_records_it(toy_gan_run, capsys):
    code = main(["eval", str(toy_gan_run), "--truncation-sweep", "0.5,1", "--limit", "300", "--invert", "0"])
    out = capsys.readouterr().out
    assert code == 0
    sweep = out[out.index("truncation sweep"):].splitlines()
    assert sweep[1].split() == ["psi", "precision", "recall"]  # no FID of raw 2-D points
    assert [line.split()[0] for line in sweep[2:]] == ["0.50", "1.00"]
    assert "precision_psi_0.5" not in out.split("truncation sweep")[0]  # the score table keeps to its own
    recorded = read_events(toy_gan_run / "events.jsonl")[-1]["metrics"]
    assert {"precision_psi_0.5", "recall_psi_1", "modes_covered"} <= set(recorded)


def test_a_bad_psi_list_is_one_line(toy_gan_run, capsys):
    assert main(["eval", str(toy_gan_run), "--truncation-sweep", "0.5,x", "--invert", "0"]) != 0
    assert "--truncation-sweep takes psi values" in capsys.readouterr().err
    assert main(["eval", str(toy_gan_run), "--truncation-sweep", "0,1", "--invert", "0"]) != 0
    assert "psi values must lie in (0, 4]" in capsys.readouterr().err  # before any score is computed


def test_a_vae_sweeps_its_prior_temperature_after_its_bound_over_k(tmp_path_factory):
    run = trained_vae_run(tmp_path_factory, 1.0)
    shares = []
    scores = evaluate_run(run, k=0, limit=100, quality=False, invert=0, record=False, truncation=(0.5, 1.0),
                          curve=5, progress=shares.append)
    assert shares[-1] == 1.0 and np.all(np.diff(shares) > 0) and 0.5 in shares  # the bound over k, then the sweep
    psis, columns = sweep_table(scores)
    assert psis.tolist() == [0.5, 1.0] and set(columns) == {"precision", "recall", "fid", "classes_covered"}
    assert all(0 <= v <= 1 for v in (*columns["precision"], *columns["recall"]))
    assert np.all(np.isfinite(columns["fid"])) and columns["fid"][0] != columns["fid"][1]  # psi changed the samples


class DoneJob:
    done, error, progress = True, None, 1.0

    def __init__(self, scores):
        self.scores = scores

    def result(self):
        return self.scores


def test_the_tab_plots_precision_recall_and_fid_over_psi(qtbot):
    view = EvaluateView()
    qtbot.addWidget(view)
    view.show()
    view._job = DoneJob(SWEEP)
    view._poll()
    assert view.sweep_plot.isVisible() and not view.curve_box.isVisible()
    drawn = view.sweep_plot.curve_data()
    assert drawn["precision"][0].tolist() == [0.5, 1.0, 1.5] and drawn["recall"][1].tolist() == [0.2, 0.6, 0.8]
    assert drawn["fid"][1].tolist() == [30.0, 12.0, 20.0] and view.sweep_plot.fid_plot.isVisible()
    title = view.sweep_plot.shares.titleLabel
    assert title.opts["color"] == theme.PALETTE.text  # the normal look's titles: the text's colour, not pale grey
    view.set_look(theme.PROJECTOR_LOOK)
    assert view.sweep_plot.precision.opts["pen"].widthF() == 4.0  # projector mode: twice as thick
    assert title.opts["color"] == theme.PROJECTOR_PALETTE.plot_ink
    view._job = DoneJob({k: v for k, v in SWEEP.items() if not k.startswith("fid")})
    view._poll()
    assert view.sweep_plot.isVisible() and not view.sweep_plot.fid_plot.isVisible()  # a toy: no FID panel
    view._job = DoneJob({"fid": 2.0})
    view._poll()
    assert not view.sweep_plot.isVisible()  # no sweep asked: the table alone
