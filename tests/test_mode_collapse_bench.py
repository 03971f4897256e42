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


def test_marks_train_in_stages_and_score_each(tmp_path, monkeypatch, capsys):
    """--marks: one new run, then continuations to each epoch count; scores and CPU time kept per
    mark, the last mark's scores are the run's; a rerun skips the marks already reached."""
    commands = []

    def fake_train(command):
        commands.append(command)
        run = Path(command[command.index("--out") + 1] if "--out" in command else command[3])
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps({"train": {"model": "gan", "dataset": "grid25", "epochs": 30,
                                                               "batch_size": 64, "lr": 2e-4}, "model": {}}))
        return 10.0, 15.0

    monkeypatch.setattr(bench, "timed_train", fake_train)
    monkeypatch.setattr(bench, "score", lambda run, seed=0: {"metrics": {"modes_covered": float(len(commands)),
                                                                         "high_quality": 0.5, "mode_kl": 0.1},
                                                             "seconds": 1.0})
    argv = ["--out", str(tmp_path), "train", "gan", "--dataset", "grid25", "--seeds", "0", "--marks", "10", "30"]
    bench.main(argv)
    run = tmp_path / "gan" / "grid25" / "seed0"
    assert commands == [["train", "gan", "--dataset", "grid25", "--seed", "0", "--epochs", "10", "--out", str(run)],
                        ["train", "gan", "--resume", str(run), "--epochs", "30"]]
    second = json.loads((run / "marks" / "e30.json").read_text())
    assert (second["train_seconds"], second["cpu_seconds"], second["metrics"]["modes_covered"]) == (20.0, 30.0, 2.0)
    assert json.loads((run / "eval.json").read_text()) == second
    done = json.loads((run / "done.json").read_text())
    assert done["cpu_seconds"] == 30.0 and done["command"].endswith(f"--epochs 30 --out {run}")
    (run / "done.json").unlink()
    bench.main(argv)  # both marks reached: nothing retrained, the totals read back
    assert len(commands) == 2 and json.loads((run / "done.json").read_text())["seconds"] == 20.0
    capsys.readouterr()
    bench.main(["--out", str(tmp_path), "report"])
    out = capsys.readouterr().out
    assert "| gan | grid25 | 10 | 1 | 1.0 | 50.0 | 0.10 | 10 (15 CPU) |" in out
    assert "| gan | grid25 | 30 | 1 | 2.0 | 50.0 | 0.10 | 20 (30 CPU) |" in out


def test_settings_name_the_options_away_from_their_defaults(tmp_path):
    fake_run(tmp_path, 0, 8.0, 8.0, 0.9, 0.0)
    run = tmp_path / "gan" / "grid25" / "seed0"
    config = json.loads((run / "config.json").read_text())
    config["train"]["lr_decay"] = 0.25
    config["model"].update({"pack": 4, "beta_1": 0.8, "unroll": 0, "generator_loss": "non-saturating"})
    (run / "config.json").write_text(json.dumps(config))
    assert bench.settings(run) == ("MLP 256-256, z 2, pack 4, beta_1 0.8, 60 epochs, batch 64, lr 0.0002, "
                                   "lr_decay 0.25")
