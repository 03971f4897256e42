"""The DRAW likelihood benchmark (benchmarks/draw_likelihood.py): its budget stops training at the
last mark and saves a run at each, a rerun continues from the time recorded; and DRAW's IWAE
weights cover all T latents."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import draw_likelihood as bench  # noqa: E402

TINY_DRAW = ["--dataset", "digits", "--steps", "3", "--width", "16", "--z-size", "2", "--batch-size", "64"]


def _train(out: Path, marks: str) -> dict:
    bench.main(["train", "--model", "draw", "--out", str(out), "--marks", marks, *TINY_DRAW])
    return json.loads((out / "draw-budget.json").read_text())


def test_checkpoint_keys_match_the_budget_records():
    assert bench.checkpoint_key("latest-0012.keras") == "12-0"
    assert bench.checkpoint_key("interrupted-0003-000042.keras") == "3-42"


@pytest.mark.slow  # trains for about 15 CPU seconds
def test_budget_saves_each_mark_stops_at_the_last_and_continues(tmp_path, capsys):
    from kgen.models.saving import load_run_model
    from kgen.runs import Run

    # Marks past the first step's tracing (a few CPU seconds), a few CPU seconds apart.
    ledger = _train(tmp_path, "0.15,0.2")
    first, last = ledger["reached"]
    assert [first["folder"], last["folder"]] == ["draw-cpu0.15", "draw-cpu0.2"]
    assert 0.15 <= first["cpu_min"] < 0.2 <= last["cpu_min"] < 0.21
    assert last["steps"] > first["steps"] >= 1
    for record in ledger["reached"]:
        mark = Run.open(tmp_path / "marks" / record["folder"])
        assert load_run_model(mark).steps == 3  # a run of its own, with its model
    # The last mark stopped training mid-run, where kgen saved a checkpoint and the clock its time.
    stopped = Run(tmp_path / "draw").latest_checkpoint()[0]
    assert bench.checkpoint_key(stopped.name) in ledger["checkpoints"]

    ledger = _train(tmp_path, "0.15,0.2,0.25")
    assert "continuing from" in capsys.readouterr().out
    third = ledger["reached"][-1]
    assert third["folder"] == "draw-cpu0.25" and third["steps"] > last["steps"] and third["cpu_min"] >= 0.25
    with pytest.raises(SystemExit, match="past the mark"):
        _train(tmp_path, "0.15,0.2,0.22,0.3")


def test_draw_importance_weights_draw_all_t_latents():
    import tensorflow as tf

    from kgen.eval.likelihood import log_weights
    from kgen.models.draw import DRAW

    model = DRAW((8, 8, 1), steps=3, z_size=2, width=8, binarize=True)
    x = (np.random.default_rng(0).random((4, 8, 8, 1)) < 0.5).astype("float32")
    widths = []
    original = model.sample_terms

    def watched(images, labels=None, eps=None, training=False):
        widths.append(int(eps.shape[-1]))
        return original(images, labels, eps, training)

    model.sample_terms = watched
    assert log_weights(model, x, k=5).shape == (4, 5)
    assert widths and set(widths) == {3 * 2}  # one draw of every z_t per importance sample
    # log q(z|x) - log p(z) over the T draws averages to the KL summed over the T steps.
    images = tf.repeat(x[:1], 4000, axis=0)
    terms = original(images, eps=tf.random.stateless_normal((4000, 6), seed=(1, 2)))
    monte_carlo = float(np.mean(terms["log_qz"] - terms["log_pz"]))
    assert monte_carlo == pytest.approx(float(terms["kl"][0]), abs=0.1)


def test_the_iwae_run_is_the_vae_of_the_same_setting_trained_on_k_draws():
    args = bench.parser().parse_args(["train", "--model", "iwae", "--draws", "5"])
    iwae, vae = bench.run_config("iwae", args), bench.run_config("vae", args)
    assert iwae.train.model == vae.train.model == "vae" and bench.run_name("iwae", args) == "iwae-k5"
    assert iwae.model.importance_samples == 5 and vae.model.importance_samples == 1
    assert iwae.model.latent_dim == vae.model.latent_dim == 50 and iwae.train == vae.train
