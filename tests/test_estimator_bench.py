"""The estimator benchmark (benchmarks/estimator_variance.py): its configs refuse what this kgen
lacks with a clear message, its report's ratios, and a short budgeted run with the
reparameterised VAE that records the gradient noise at each mark."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import estimator_variance as bench  # noqa: E402

from kgen import registry  # noqa: E402


def args(*extra: str):
    return bench.parser().parse_args(["train", "--dataset", "digits", *extra])


def has_estimator_option(kind: str) -> bool:
    return kind in registry.kinds() and "estimator" in {f.name for f in dataclasses.fields(registry.spec(kind).config)}


def test_the_reparameterised_vae_is_always_available():
    config = bench.run_config("gaussian", "reparameterisation", args())
    assert config.train.model == "vae" and config.model.binarize and config.model.latent_dim == 50
    assert getattr(config.model, "estimator", "reparameterisation") == "reparameterisation"


def test_a_missing_estimator_option_or_kind_is_named():
    if has_estimator_option("vae"):
        assert bench.run_config("gaussian", "reinforce", args()).model.estimator == "reinforce"
    else:
        with pytest.raises(SystemExit, match="no 'estimator' option .*only reparameterisation"):
            bench.run_config("gaussian", "reinforce", args())
    if "bvae" not in registry.kinds():
        with pytest.raises(SystemExit, match="no model kind 'bvae'"):
            bench.run_config("binary", "relaxed", args())
    with pytest.raises(SystemExit, match="a binary latent has the estimators"):
        bench.run_config("binary", "reparameterisation", args())
    with pytest.raises(SystemExit, match="train needs --estimator"):
        bench.main(["train"])


def test_rows_give_each_estimators_variance_over_the_reference_at_the_same_mark():
    marks = [{"mark_min": 5.0, "estimator": "reinforce", "grad_var": 8.0},
             {"mark_min": 5.0, "estimator": "reparameterisation", "grad_var": 2.0},
             {"mark_min": 10.0, "estimator": "nvil", "grad_var": 3.0},
             {"mark_min": 10.0, "estimator": "reparameterisation", "grad_var": 0.5},
             {"mark_min": 20.0, "estimator": "nvil", "grad_var": 1.0}]
    rows = bench.mark_rows(marks, "reparameterisation")
    assert [(r["mark_min"], r["estimator"], r["var_ratio"]) for r in rows] == [
        (5.0, "reparameterisation", 1.0), (5.0, "reinforce", 4.0),
        (10.0, "reparameterisation", 1.0), (10.0, "nvil", 6.0), (20.0, "nvil", None)]


@pytest.mark.slow  # trains for about 10 CPU seconds
def test_a_budgeted_run_measures_the_gradient_noise_at_each_mark(tmp_path, capsys):
    out = str(tmp_path)
    bench.main(["train", "--estimator", "reparameterisation", "--dataset", "digits", "--out", out,
                "--marks", "0.05,0.1", "--samples", "4", "--probe", "32"])
    ledger = json.loads((tmp_path / "reparameterisation-budget.json").read_text())
    assert [r["folder"] for r in ledger["reached"]] == ["reparameterisation-cpu0.05", "reparameterisation-cpu0.1"]
    for record in ledger["reached"]:
        assert record["grad_var"] > 0 and record["grad_snr"] > 0
        assert set(record["grad_layers"]) == {"dense_0", "dense_1", "z_mean", "z_log_var"}
        mark = json.loads((tmp_path / "marks" / record["folder"] / "mark.json").read_text())
        assert mark["grad_var"] == record["grad_var"] and mark["estimator"] == "reparameterisation"
    capsys.readouterr()
    bench.main(["report", "--out", out, "--results", str(tmp_path / "none.json")])
    table = capsys.readouterr().out
    assert "| reparameterisation-cpu0.05 | reparameterisation |" in table and "| 1 |" in table
    # measured again from the saved marks (more estimates): the records change, the folders stay
    bench.main(["noise", "--out", out, "--samples", "6", "--probe", "32", "--dataset", "digits"])
    again = json.loads((tmp_path / "reparameterisation-budget.json").read_text())["reached"]
    assert [r["folder"] for r in again] == [r["folder"] for r in ledger["reached"]]
    assert all(a["grad_var"] > 0 and a["grad_var"] != r["grad_var"] for a, r in zip(again, ledger["reached"], strict=True))
    assert json.loads((tmp_path / "marks" / again[0]["folder"] / "mark.json").read_text())["grad_var"] == again[0]["grad_var"]
