"""The kgen command: each command end to end, and one-line errors for bad input."""

import subprocess
import sys

import numpy as np
import pytest

from kgen.cli import main
from kgen.runs import read_events


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """`kgen train vae` on a small real dataset, run in-process."""
    root = tmp_path_factory.mktemp("cli")
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype("float32")
    np.savez(root / "data.npz", x=x)
    args = ["train", "vae", "--dataset", f"npz:{root / 'data.npz'}", "--epochs", "2",
            "--batch-size", "16", "--latent-dim", "2", "--out", str(root / "run"), "--iwae", "5"]
    assert main(args) == 0
    return root / "run"


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_prints_where_results_are(trained_run):
    assert (trained_run / "samples" / "epoch_0002.png").is_file()
    assert (trained_run / "model.keras").is_file()
    final = read_events(trained_run / "events.jsonl")[-1]
    assert {"elbo", "iwae_5"} <= set(final["metrics"])


def test_sample_png_and_npz(trained_run, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "sample", str(trained_run), "-n", "9", "-o", str(tmp_path / "g.png"))
    assert code == 0 and (tmp_path / "g.png").stat().st_size > 0
    code, _, _ = run_cli(capsys, "sample", str(trained_run), "-n", "5", "-o", str(tmp_path / "s.npz"), "--seed", "3")
    x = np.load(tmp_path / "s.npz", allow_pickle=False)["x"]
    assert code == 0 and x.shape == (5, 8, 8, 1) and x.min() >= 0 and x.max() <= 1
    run_cli(capsys, "sample", str(trained_run), "-n", "5", "-o", str(tmp_path / "t.npz"), "--seed", "3")
    assert np.array_equal(x, np.load(tmp_path / "t.npz")["x"])  # same seed, same samples


def test_eval_prints_elbo_and_iwae(trained_run, capsys):
    code, out, _ = run_cli(capsys, "eval", str(trained_run), "-k", "20", "--limit", "3")
    assert code == 0
    assert "elbo" in out and "iwae_20" in out
    elbo = next(line for line in out.splitlines() if line.startswith("elbo "))
    assert "higher" in elbo and "evidence lower bound" in elbo  # what it means, from kgen.eval.descriptions
    assert read_events(trained_run / "events.jsonl")[-1]["n"] == 3


def test_eval_writes_the_bound_over_k(trained_run, capsys):
    code, out, _ = run_cli(capsys, "eval", str(trained_run), "-k", "0", "--limit", "4", "--no-quality",
                           "--iwae-curve", "10")
    metrics = read_events(trained_run / "events.jsonl")[-1]["metrics"]
    assert code == 0 and "iwae_se_10" in out
    assert {f"iwae_{k}" for k in (1, 2, 5, 10)} | {"iwae_se_1", "iwae_se_10"} <= set(metrics)
    assert metrics["iwae_10"] >= metrics["iwae_1"]


def test_the_bound_over_k_reports_progress_from_a_child_process(trained_run):
    from kgen.services.jobs import ProcessJob

    job = ProcessJob.reporting("kgen.services.commands:evaluate_run", trained_run, k=0, limit=4, quality=False,
                               curve=5, record=False).start()
    assert job.wait(120.0) and job.error is None
    assert job.progress == 1.0 and {"iwae_5", "iwae_se_5"} <= set(job.result())


def test_datasets_lists_availability(capsys):
    code, out, _ = run_cli(capsys, "datasets")
    assert code == 0
    assert any(line.startswith("digits") and " yes " in line for line in out.splitlines())
    assert "ring8" in out and "fashion-mnist" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "vae", "--epochs", "-3"], "epochs must be a whole number >= 1, got -3"),
        (["train", "vae", "--latent-dim", "0"], "latent_dim must be a whole number >= 1, got 0"),
        (["train", "vae", "--lr", "nan"], "lr must be a finite number"),
        (["train", "vae", "--batch-size", "5000", "--epochs", "1"], "batch_size is larger than the 1437 training examples of digits"),
        (["train", "vae", "--dataset", "npz:/no/such.npz"], "/no/such.npz"),
        (["train", "vae", "--dataset", "ring8"], "holds 2-D points"),
        (["train", "vae", "--likelihood", "gaussian", "--binarize"], "binarize needs likelihood=bernoulli"),
        (["sample", "/no/such/run", "-o", "x.png"], "/no/such/run: no such run directory"),
        (["eval", "/no/such/run"], "no such run directory"),
    ],
)
def test_bad_input_is_one_clear_line(args, message, capsys, tmp_path):
    if args[0] == "train":
        args = [*args, "--out", str(tmp_path / "r")]
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert err.startswith("kgen: error: ") and err.count("\n") == 1
    assert message in err


def test_sample_refuses_unknown_format(trained_run, capsys, tmp_path):
    code, _, err = run_cli(capsys, "sample", str(trained_run), "-o", str(tmp_path / "x.jpg"))
    assert code == 2 and "must end in .png (a grid) or .npz" in err


def test_kgen_never_imports_qt():
    script = (
        "import sys, kgen, kgen.cli, kgen.data, kgen.models, kgen.train.training, kgen.eval.likelihood, kgen.services.commands\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'PyQt5', 'PyQt6', 'shiboken6')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_walk_writes_grid_traversal_and_gif(trained_run, tmp_path, capsys):
    from PIL import Image

    assert main(["walk", str(trained_run), "--mode", "grid", "--steps", "5", "-o", str(tmp_path / "g.png")]) == 0
    assert main(["walk", str(trained_run), "--mode", "traverse", "--steps", "4", "-o", str(tmp_path / "t.png")]) == 0
    out = capsys.readouterr().out
    assert "active units:" in out and "KL (nats)" in out
    args = ["walk", str(trained_run), "--mode", "interpolate", "--images", "0,1", "--method", "slerp"]
    assert main([*args, "-o", str(tmp_path / "i.gif")]) == 0
    with Image.open(tmp_path / "g.png") as grid, Image.open(tmp_path / "i.gif") as gif:
        assert grid.width == grid.height and gif.format == "GIF"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "grid", "-o", "x.gif"], "write .png, or .gif with --mode interpolate"),
        (["--mode", "grid", "--dims", "0,7", "-o", "x.png"], "latent dimensions must be in [0, 2), got [7]"),
        (["--mode", "interpolate", "--images", "0,999", "-o", "x.png"], "index 999 is outside"),
        (["--mode", "interpolate", "--steps", "1", "-o", "x.png"], "--steps must be between 2 and 200"),
    ],
)
def test_walk_bad_input(trained_run, tmp_path, capsys, args, message):
    args = [a if a not in ("x.gif", "x.png") else str(tmp_path / a) for a in args]
    assert main(["walk", str(trained_run), *args]) == 2
    assert message in capsys.readouterr().err


def test_gui_command_hands_over_to_the_studio_and_checks_the_run_first(tmp_path, capsys):
    from kgen.cli import build_parser, main, studio_argv

    argv = studio_argv(build_parser().parse_args(["gui", "--runs", str(tmp_path)]))
    assert argv[1:] == ["-m", "gui.app", "--runs", str(tmp_path)]
    assert main(["gui", str(tmp_path / "nope")]) == 2
    assert "nope: no such run directory" in capsys.readouterr().err


def test_library_errors_name_parameters_and_the_cli_spells_them_as_flags(tmp_path, capsys):
    """The library says image_size (the app shows it as is); `kgen train` says --image-size."""
    import numpy as np

    from kgen.data import load_dataset
    from kgen.errors import DatasetError

    path = tmp_path / "big.npz"
    np.savez(path, x=np.zeros((4, 600, 600), np.uint8))
    with pytest.raises(DatasetError) as info:
        load_dataset(f"npz:{path}")
    assert "(image_size)" in str(info.value) and "--" not in str(info.value) and info.value.options == ("image_size",)
    assert main(["train", "vae", "--dataset", f"npz:{path}", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "(--image-size)" in err and str(path) in err  # the path's own words are left alone
