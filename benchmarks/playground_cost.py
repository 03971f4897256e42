"""What the GAN playground's live snapshots cost training: ring8 GAN with and without the probe.

The same config is trained by ``kgen.train.training.train`` alone and with a `PlaygroundProbe`
(defaults: every 10 steps, at most ~5% of the thread's time), alternating, several repeats.
Speeds come from each run's events.jsonl (images between the first and last step event over
the time between them); the probe also reports its own time and the cost of one snapshot.
With ``--calls N`` it times the compiled snapshot itself, N calls with G's mesh (a 21 x 21
grid of z) and N with an empty mesh, interleaved, to isolate what the mesh adds.
With ``--draws N`` it then draws the last snapshot N times in the playground view (offscreen,
1200 x 800), with the heat map and with G's mesh, and reports the interface thread's CPU
milliseconds per drawing (update and paint), then runs the z -> G(z) animation once (frames a
second, the thread's share of a core).

Usage: python benchmarks/playground_cost.py [--repeats 3] [--epochs 8] [--calls 0] [--draws 0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import median, write_results

from kgen.config import GANConfig, RunConfig, TrainConfig
from kgen.data import load_dataset
from kgen.models import build_model
from kgen.models.sampling import latent_noise
from kgen.runs import read_events
from kgen.services.generator_mesh import noise_grid
from kgen.services.playground import PlaygroundProbe, data_box, grid_points, snapshot_tensors
from kgen.train.training import train


def images_per_second(run_dir: Path, batch_size: int) -> float:
    steps = [e for e in read_events(run_dir / "events.jsonl") if e["type"] == "step"]
    return (steps[-1]["step"] - steps[0]["step"]) * batch_size / (steps[-1]["time"] - steps[0]["time"])


def snapshot_ms(config: RunConfig, real, calls: int) -> dict[str, float]:
    """Median milliseconds of one compiled snapshot with G's mesh and with an empty one."""
    import numpy as np
    import tensorflow as tf

    gan = build_model(config, (2,))
    compute = tf.function(snapshot_tensors)
    grid, noise = grid_points(data_box(real)), latent_noise(200, gan.latent_dim, 0)
    meshes = {"with the mesh": noise_grid(gan.latent_dim).reshape(-1, gan.latent_dim),
              "empty mesh": np.zeros((0, gan.latent_dim), np.float32)}
    times: dict[str, list[float]] = {name: [] for name in meshes}
    for i in range(calls + 3):  # the first three trace and warm up
        for name, mesh in meshes.items():
            start = time.perf_counter()
            [t.numpy() for t in compute(gan, grid, noise, mesh)]
            if i >= 3:
                times[name].append(1000 * (time.perf_counter() - start))
    return {name: median(values) for name, values in times.items()}


def drawing_ms(event: dict, draws: int) -> dict[str, float]:
    """CPU milliseconds the interface thread spends per drawing of ``event``, for each backdrop."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from gui.playground_view import BACKDROPS, PlaygroundView

    app = QApplication.instance() or QApplication([])
    view = PlaygroundView()
    view.resize(1200, 800)
    view.show()
    costs = {}
    for backdrop in BACKDROPS[:2]:
        view.backdrop.setCurrentText(backdrop)
        view.add_snapshot(event)
        app.processEvents()
        start = time.thread_time()
        for _ in range(draws):
            view._redraw()
            view.plot.viewport().repaint()
        costs[backdrop] = 1000 * (time.thread_time() - start) / draws
    costs.update(animation_cost(app, view))
    view.close()
    return costs


def animation_cost(app, view) -> dict[str, float]:
    """Frames a second and the interface thread's share of a core while the z -> G(z) animation runs."""
    from PySide6.QtCore import QEventLoop

    frames = []
    view._animation.valueChanged.connect(lambda _: frames.append(1))
    loop = QEventLoop()
    view._animation.finished.connect(loop.quit)
    cpu, wall = time.thread_time(), time.perf_counter()
    view.animate()
    loop.exec()
    wall = time.perf_counter() - wall
    return {"animation frames/s": len(frames) / wall, "animation % of a core": 100 * (time.thread_time() - cpu) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--calls", type=int, default=0, help="compiled snapshots to time with and without the mesh")
    parser.add_argument("--draws", type=int, default=0, help="drawings of the view to time per backdrop (0: none)")
    args = parser.parse_args()
    started = time.monotonic()
    config = RunConfig(TrainConfig(model="gan", dataset="ring8", epochs=args.epochs), GANConfig())
    real = load_dataset("ring8").x_test
    rates: dict[str, list[float]] = {"alone": [], "probe": []}
    shares, costs, counts = [], [], []
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            for kind in ("alone", "probe"):
                run_dir = Path(root) / f"{kind}-{repeat}"
                events: list[dict] = []
                probe = PlaygroundProbe(events.append, real)
                result = train(config, run_dir, extra_callbacks=[probe] if kind == "probe" else [], verbose=0)
                rates[kind].append(images_per_second(run_dir, config.train.batch_size))
                if kind == "probe":
                    shares.append(probe.probe_seconds / result.seconds)
                    costs.append(1000 * probe.probe_seconds / probe.probes)
                    counts.append(probe.probes)
    ratio = median(rates["probe"]) / median(rates["alone"])
    rows = [["ring8 GAN, batch 64", f"{median(rates['alone']):,.0f}", f"{median(rates['probe']):,.0f}",
             f"{ratio:.2f}", f"{median(costs):.1f}", f"{median(counts):.0f}", f"{100 * median(shares):.1f}%"]]
    header = ["case", "images/s alone", "images/s with probe", "ratio", "ms per snapshot",
              "snapshots per run", "probe share of run time"]
    mesh = "mesh" in events[-1] and events[-1]["mesh"] is not None
    notes = [f"{args.epochs} epochs of 156 steps; medians of {args.repeats} alternating repeats.",
             "A snapshot: D on a 48x48 grid, G on 200 fixed z, the generator loss's gradient at each point"
             + (f", G on a {events[-1]['mesh'].shape[0]}² grid of z (the mesh)." if mesh else ".")]
    raw = {"rates": rates, "shares": shares, "ms_per_snapshot": costs, "snapshots": counts}
    if args.calls:
        raw["ms_per_compiled_snapshot"] = snapshot_ms(config, real, args.calls)
        notes.append(f"One compiled snapshot (median of {args.calls}, interleaved): "
                     + ", ".join(f"{k} {v:.2f} ms" for k, v in raw["ms_per_compiled_snapshot"].items()))
    if args.draws:
        raw["ms_per_drawing"] = drawing_ms(events[-1], args.draws)
        notes.append("Interface-thread CPU per drawing of the view (1200 x 800, offscreen, "
                     f"{args.draws} drawings): " + ", ".join(f"{k} {v:.1f}" + (" ms" if "animation" not in k else "")
                                                            for k, v in raw["ms_per_drawing"].items()))
    write_results("playground_cost", "GAN playground: cost of live snapshots", header, rows, notes, raw, started)


if __name__ == "__main__":
    main()
