"""The drawing pad's and the dream walk's pace, on a trained run (e.g. a 2-d VAE on digits:
``kgen train vae --dataset digits --latent-dim 2 --epochs 20 --out /tmp/vae2``):

- the encode round trip (the pad's request answered by the explorer's worker) and the draws job
  (x from p(x|z)), median and 95th percentile over 190 requests;
- the dream walk's frames per second in the latent explorer over 10 s (offscreen; capped by its
  40 ms pace).

    QT_QPA_PLATFORM=offscreen python benchmarks/explorer_teaching.py RUN
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def round_trips(service, ask, kind: str, n: int = 200) -> str:
    """Median and p95 of ask(i) until an event of ``kind`` comes back (the first 10 are warm-up)."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        ask(i)
        while not any(event["type"] == kind for event in service.events()):
            time.sleep(0.0005)
        times.append((time.perf_counter() - start) * 1000)
    kept = np.array(times[10:])
    return f"{kind}: median {np.median(kept):.1f} ms, p95 {np.percentile(kept, 95):.1f} ms over {len(kept)}"


def service_latency(run: str) -> None:
    from kgen.services.explorer import DecodeService

    service = DecodeService(run_dir=run)
    service.wait_loaded(120)
    while not any(event["type"] == "data" for event in service.events()):
        time.sleep(0.01)
    rng = np.random.default_rng(0)
    shape = service.image_shape
    images = rng.random((200, *shape)).astype("float32")
    print(round_trips(service, lambda i: service.request_encode(images[i]), "encoded"))
    print(round_trips(service, lambda i: service.request_draws(rng.standard_normal(service.latent_dim), n=3), "draws"))
    service.close()


def walk_pace(run: str, seconds: float = 10.0) -> None:
    from PySide6.QtWidgets import QApplication

    from gui.latent_explorer.latent_view import LatentView

    app = QApplication.instance() or QApplication([])
    view = LatentView()
    view.resize(1200, 800)
    view.show()
    view.load_run(run)
    while view.data is None:
        app.processEvents()
        time.sleep(0.005)
    view.walk_player.play_button.click()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        app.processEvents()
        time.sleep(0.002)
    print(f"dream walk: {view.walk_player.frames / seconds:.1f} frames/s over {seconds:g} s "
          f"({view.service.decodes} decodes)")
    view.close_service()


if __name__ == "__main__":
    service_latency(sys.argv[1])
    walk_pace(sys.argv[1])
