"""The mode-collapse benchmark (benchmarks/mode_collapse.py): labels, continuing a killed run, and
a report of kgen's seeds (mean ± spread) beside the papers' rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import mode_collapse as bench  # noqa: E402


def test_labels_name_the_kind_and_its_options():
    assert bench.default_label("gan", []) == "gan"
    assert bench.default_label("gan", ["--d-steps", "5"]) == "gan_d-steps_5"


def test_a_killed_run_is_continued(tmp_path):
    fresh = bench.train_command("gan", "grid25", 2, ["--d-steps", "5"], tmp_path)
    assert fresh == ["train", "gan", "--dataset", "grid25", "--seed", "2", "--d-steps", "5", "--out", str(tmp_path)]
    (tmp_path / "config.json").write_text("{}")
    assert bench.train_command("gan", "grid25", 2, [], tmp_path) == ["train", "gan", "--resume", str(tmp_path)]


def fake_run(out: Path, seed: int, covered: float, touched: float, quality: float, kl: float) -> None:
    run = out / "gan" / "grid25" / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"train": {"model": "gan", "dataset": "grid25", "epochs": 60,
                                                                   "batch_size": 64, "lr": 2e-4},
                                                         "model": {"arch": "auto", "hidden": [256, 256],
                                                                   "filters": 64, "latent_dim": 2}}))
    (run / "done.json").write_text(json.dumps({"seed": seed, "seconds": 100.0 + seed, "command":
                                               f"kgen train gan --dataset grid25 --seed {seed} --out {run}"}))
    metrics = {"modes_covered": covered, "modes_touched": touched, "high_quality": quality, "mode_kl": kl}
    (run / "eval.json").write_text(json.dumps({"metrics": metrics}))


def test_report_puts_kgen_seeds_beside_the_papers(tmp_path, capsys):
    for seed, covered in enumerate((20.0, 22.0, 24.0)):
        fake_run(tmp_path, seed, covered, 25.0, 0.9, 0.1 * (seed + 1))
    bench.main(["--out", str(tmp_path), "report"])
    out = capsys.readouterr().out
    grid = out[out.index("**grid25**"):out.index("**stacked-mnist**")]
    assert "| PacGAN table 1 | PacGAN4 | 24.8 | 93.6 | 0.04 |" in grid
    row = next(line for line in grid.splitlines() if line.startswith("| kgen"))
    assert "| 22.0 ± 2.0 (25.0 ± 0.0) | 90.0 ± 0.0 | 0.20 ± 0.10 | 101 |" in row
    assert "(MLP 256-256, z 2, 60 epochs, batch 64, lr 0.0002; seeds 0, 1, 2)" in row and "--seed {S}" in row and "seed{S}" in row
