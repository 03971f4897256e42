"""The latent explorer's service: a child process per loaded model decodes and analyses; no Qt.

A `DecodeService` has a prewarmed worker process (`kgen.services.explorer_worker`) load a model
file (and, given a run directory, the run's dataset), so the window's process never imports
TensorFlow. One request is with the child at a time: while it works, a newer slider code
replaces an older one waiting here, so a dragged slider never builds up a backlog; a drawn image
to encode (the drawing pad) is kept the same way, latest only. Slower jobs (the manifold grid, an
interpolation, the nearest training image, draws from p(x|z), a t-SNE projection, a 2-d VAE's
true posterior on a grid and its aggregate posterior) wait behind them, again only the latest of
each kind. The interface thread calls `request` / `request_*` and
drains `poll` (decoded slider codes) and `events` (loaded, data, encoded, manifold,
interpolation, nearest, draws, projection, posterior, aggregate, error); none of them blocks, and `fileno` lets it wake
as soon as an answer arrives. Only copies of arrays cross. A child that dies is a one-line error
event; the next request starts a new one.

Example::

    service = DecodeService("runs/vae-digits/model.keras", run_dir="runs/vae-digits")
    service.request(np.zeros(2, np.float32))
    service.request_manifold(dims=(0, 1), base=np.zeros(2, np.float32))
    ...
    for z, image in service.poll():
        show(image)
    for event in service.events():
        ...
    service.close()
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgen.latent_paths import slerp

COLLAPSE_NATS = 0.01  # a latent unit whose mean KL is below this carries no information
SCATTER_POINTS = 2000  # test images encoded for the scatter (the KL uses the whole test set)


@dataclass(frozen=True)
class ExplorerData:
    """What the worker learns from a run's dataset, sent once to the interface.

    ``images``/``labels``/``codes``/``xy`` are the first `SCATTER_POINTS` test images, their
    classes, posterior means and 2-D scatter coordinates; ``kl`` is over the whole test set.
    An encoder-less model (a GAN) has no codes, xy, kl or activity.
    """

    dataset: str
    class_names: tuple[str, ...]
    images: np.ndarray
    labels: np.ndarray | None
    codes: np.ndarray | None
    xy: np.ndarray | None
    kl: np.ndarray | None
    active: np.ndarray | None  # Burda et al.'s active units: Var_x E[z_u|x] > 0.01


def collapsed_dimensions(kl: np.ndarray, threshold: float = COLLAPSE_NATS) -> list[int]:
    """The latent units whose mean KL to the prior is below ``threshold`` nats."""
    return [int(d) for d in np.flatnonzero(np.asarray(kl) < threshold)]


def collapse_warning(kl: np.ndarray, threshold: float = COLLAPSE_NATS) -> str | None:
    """A one-line warning naming the dimensions collapsed to the prior, or None if there are none."""
    dims = collapsed_dimensions(kl, threshold)
    if not dims:
        return None
    names = ", ".join(f"z{d}" for d in dims[:12]) + (", …" if len(dims) > 12 else "")
    verb = "carries" if len(dims) == 1 else "carry"
    return (f"{len(dims)} of {len(kl)} dimensions {verb} no information (posterior collapse, "
            f"KL < {threshold:g} nats): {names}")


class DecodeService:
    """Owns a worker process that loads a model and decodes and analyses it.

    The model is the file ``path``, or else the run's trained model (``model.keras`` or its
    latest checkpoint). With ``run_dir`` the worker also loads the run's dataset (from its
    ``config.json``), encodes the test set and sends an `ExplorerData` event; without it, jobs
    needing data report an error.
    """

    def __init__(self, path: str | os.PathLike | None = None, run_dir: str | os.PathLike | None = None):
        if path is None and run_dir is None:
            raise ValueError("give a model file, a run directory or both")
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.path = Path(path) if path is not None else self.run_dir  # what is shown as the source
        self._model_file = None if path is None else Path(path)
        self.latent_dim: int | None = None
        self.num_classes: int = 0
        self.image_shape: tuple[int, ...] | None = None
        self.points = False  # a GAN on 2-D points: its decode gives points, not images
        self.encoder = False  # True for the AE/VAE/CVAE: it has codes for images
        self.views: frozenset[str] = frozenset()  # the registry views of the model's kind
        self.error: str | None = None  # why the model could not be loaded
        self.loaded = False  # the model is loaded, or failed to load
        self.requests = 0  # how many codes were requested
        self.decodes = 0  # how many were decoded (fewer when requests were coalesced)
        self.encodes = 0  # how many drawn images were encoded (fewer than asked when coalesced)
        self._pending: tuple[np.ndarray, int | None] | None = None
        self._pending_encode: tuple[np.ndarray, int | None] | None = None
        self._jobs: dict[str, dict[str, Any]] = {}  # kind -> latest parameters, oldest kind first
        self._results: list[tuple[np.ndarray, np.ndarray]] = []
        self._events: list[dict[str, Any]] = []
        self._process = None  # the worker process; None once it has died or been closed
        self._busy = False  # a request is with the worker
        self._busy_with: str | None = None  # what that request is: "decode", "encode", a job's kind
        self._restarted = False  # a new worker reloads what the interface already has: not re-sent
        self._closed = False
        self._start()

    @property
    def ready(self) -> bool:
        """True once the model is loaded without error."""
        return self.loaded and self.error is None

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Block until the model is loaded or failed to (tests and scripts only); True when it is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.loaded and self._process is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._process.conn.poll(left):
                break
            self._receive()
        return self.loaded

    def request(self, z: np.ndarray, label: int | None = None) -> None:
        """Ask for the image of code ``z`` (D,); replaces any request not yet started."""
        self.requests += 1
        self._pending = (np.array(z, dtype="float32").ravel(), None if label is None else int(label))
        self._pump(restart=True)

    def request_encode(self, image: np.ndarray, label: int | None = None) -> None:
        """Ask for q(z|x) of ``image`` (H, W, C) in [0, 1]: an "encoded" event with its mean,
        log-variance, reconstruction and place in the scatter's plane; replaces any not yet started."""
        self._pending_encode = (np.array(image, dtype="float32"), None if label is None else int(label))
        self._pump(restart=True)

    def request_draws(self, z, label: int | None = None, n: int = 3, seed: int | None = None) -> None:
        """Ask for ``n`` draws of x from p(x|z) beside the decoder's mean: a "draws" event."""
        self._submit("draws", z=np.array(z, dtype="float32"), label=label, n=int(n), seed=seed)

    @property
    def decoding(self) -> bool:
        """True while a slider code waits here or is with the worker (a paced animation waits for it)."""
        return self._pending is not None or (self._busy and self._busy_with == "decode")

    def request_manifold(self, dims: Sequence[int] = (0, 1), base=None, label: int | None = None,
                         n: int = 11) -> None:
        """Ask for the n x n Gaussian-quantile grid over ``dims``, other dims at ``base``."""
        self._submit("manifold", dims=tuple(int(d) for d in dims), n=int(n), label=label,
                     base=None if base is None else np.array(base, dtype="float32"))

    def request_interpolation(self, z_a, z_b, steps: int = 10, method: str = "linear",
                              labels=None) -> None:
        """Ask for the images along the path from code z_a to z_b (``labels``: one id or one a step)."""
        self._submit("interpolation", z_a=np.array(z_a, dtype="float32"), z_b=np.array(z_b, dtype="float32"),
                     steps=int(steps), method=method, labels=None if labels is None else np.array(labels))

    def request_nearest(self, z, label: int | None = None) -> None:
        """Ask for the training image nearest to code z: by encoder mean, or (a GAN) in pixels."""
        self._submit("nearest", z=np.array(z, dtype="float32"), label=label)

    def request_draw_steps(self) -> None:
        """Ask a DRAW model (a run directory's) for its drawing step by step: a "draw_steps" event
        whose "event" is the `kgen.events.DrawSteps` its live probe would send."""
        self._submit("draw_steps")

    def request_posterior(self, image, label: int | None = None, source: str = "") -> None:
        """Ask a 2-d VAE for the true posterior of ``image`` (H, W, C) on a grid beside q(z|x), and
        its IWAE-k curve: a "posterior" event (`kgen.eval.posterior`); ``source`` names the image."""
        self._submit("posterior", image=np.array(image, dtype="float32"), label=label, source=source)

    def request_aggregate(self) -> None:
        """Ask a 2-d VAE for the aggregate posterior of the run's test codes beside N(0, I)."""
        self._submit("aggregate")

    def request_projection(self, method: str = "pca") -> None:
        """Ask for the scatter coordinates of the encoded test images by ``method`` (pca, tsne)."""
        self._submit("projection", method=method)

    def poll(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Finished decodes since the last call: (z, image) with image float32 (H, W, C) in [0, 1]."""
        self._receive()
        results, self._results = self._results, []
        return results

    def events(self) -> list[dict[str, Any]]:
        """Events since the last call, each {"type": ...}: "loaded", "data" (an `ExplorerData`),
        "encoded", "manifold", "interpolation", "nearest", "draws", "draw_steps", "projection", "posterior",
        "aggregate", or "error" with a one-line "message"."""
        self._receive()
        events, self._events = self._events, []
        return events

    def idle(self) -> bool:
        """True when no request or job is waiting or with the worker (a projection may still run)."""
        self._receive()
        return self._pending is None and self._pending_encode is None and not self._jobs and not self._busy

    @property
    def pid(self) -> int | None:
        """The worker process's id; None once it has died or been closed."""
        return None if self._process is None else self._process.pid

    def fileno(self) -> int | None:
        """The pipe an interface may watch to call `poll` as soon as an answer arrives; None without a worker."""
        return None if self._process is None else self._process.conn.fileno()

    def close(self, timeout: float | None = 1.0) -> None:
        """End the worker; waits up to ``timeout`` seconds for it to go before killing it (None: at once)."""
        self._closed = True
        self._pending = self._pending_encode = None
        self._jobs.clear()
        self._stop_worker(timeout or 0.0)

    # Talking to the worker ---------------------------------------------------------------------

    def _start(self) -> None:
        from kgen.services.training_process import take_spare

        self._process = take_spare(replace=True)
        self._process.serve("kgen.services.explorer_worker:serve", self._model_file, self.run_dir)
        self._busy = True  # loading
        if self.run_dir is not None:  # the data first: the other jobs need it
            self._jobs = {"data": {}, **self._jobs}

    def _submit(self, kind: str, **params: Any) -> None:
        self._jobs[kind] = params
        self._pump(restart=True)

    def _pump(self, restart: bool = False) -> None:
        """Hand the worker the next request (a slider code before any job) if it has none."""
        if self.error is not None:  # no model: nothing will ever answer
            self._pending = self._pending_encode = None
            self._jobs.clear()
        waiting = self._pending is not None or self._pending_encode is not None or self._jobs
        if self._closed or not self.ready or self._busy or not waiting:
            return
        if self._process is None:
            if not restart:
                return
            self._restarted = True
            self._start()
            return
        if self._pending is not None:
            message, self._pending = ("decode", *self._pending), None
        elif self._pending_encode is not None:
            message, self._pending_encode = ("encode", *self._pending_encode), None
        else:
            kind = next(iter(self._jobs))
            message = ("job", kind, self._jobs.pop(kind))
        try:
            self._process.conn.send(message)
        except OSError:  # it died this moment; _receive reports it
            return
        self._busy, self._busy_with = True, message[1] if message[0] == "job" else message[0]

    def _receive(self) -> None:
        process = self._process
        try:
            while process is not None and self._process is process and process.conn.poll():
                self._handle(process.conn.recv())
        except (EOFError, OSError):
            self._died()
        self._pump()

    def _handle(self, message: tuple) -> None:
        """("done", kind, answer): the answer to the request with the worker; ("event", event): a
        projection's late answer."""
        if message[0] == "ready":  # the worker had loaded TensorFlow before it was given this
            return
        if message[0] == "event":
            self._events.append(message[1])
            return
        _, kind, answer = message
        self._busy, self._busy_with = False, None
        if kind == "decode" and isinstance(answer, tuple):
            self.decodes += 1
            self._results.append(answer)
        elif kind == "encode":
            self.encodes += 1
            self._events.append(answer)
        elif kind == "load":
            self._on_loaded(answer)
        elif answer is not None and not (self._restarted and kind == "data" and answer["type"] == "data"):
            self._events.append(answer)
        if kind == "data":
            self._restarted = False

    def _on_loaded(self, event: dict[str, Any]) -> None:
        self.loaded = True
        if event["type"] == "error":
            self.error = event["message"]
            self._events.append(event)
            self._stop_worker(0.2)  # it ends itself after saying so
            return
        self.latent_dim, self.num_classes = event["latent_dim"], event["num_classes"]
        self.image_shape, self.points, self.encoder = event["image_shape"], event["points"], event["encoder"]
        self.views = frozenset(event["views"])
        if not self._restarted:
            self._events.append(event)
        elif self.run_dir is None:
            self._restarted = False

    def _died(self) -> None:
        """The worker went without a word (killed, out of memory): one error event; the next request
        starts a new worker (a model it could not even load stays an error)."""
        from kgen.services.training_process import died_message

        process, self._process, self._busy = self._process, None, False
        process.process.join(1.0)
        message = died_message(process.process.exitcode, "the latent explorer's process",
                               "the next request starts it again")
        if not self.loaded:
            self.loaded, self.error = True, message
        self._events.append({"type": "error", "message": message})
        process.close(0.0)

    def _stop_worker(self, timeout: float) -> None:
        process, self._process, self._busy = self._process, None, False
        if process is not None:
            process.close(timeout)


class DreamWalk:
    """A smooth random walk through the prior for the explorer's autoplay (slide 20's "dreams").

    Keyframes are draws z_k ~ N(0, I) (clipped to +-``limit``, the sliders' range); between two the
    code moves along slerp's great circle with an eased pace, so each leg starts and ends at rest and
    the path has no jumps or kinks. Slerp keeps the code at the prior's typical radius, where a
    straight line would cut through the rarely-seen middle; an Ornstein-Uhlenbeck walk would also
    stay near the prior, but its frames jitter like Brownian motion. Deterministic for a ``seed``.
    """

    def __init__(self, latent_dim: int, seed: int | None = None, start=None,
                 steps_per_leg: int = 40, limit: float = 3.0):
        if latent_dim < 1:
            raise ValueError(f"a walk needs at least one latent dimension, got {latent_dim}")
        self.latent_dim, self.limit = int(latent_dim), float(limit)
        self.steps_per_leg = steps_per_leg
        self._rng = np.random.default_rng(seed)
        self._from = self._draw() if start is None else np.clip(np.asarray(start, np.float64), -limit, limit)
        self._to = self._draw()
        self._progress = 0.0  # how far along the current leg, 0 to 1

    @property
    def steps_per_leg(self) -> int:
        return self._steps

    @steps_per_leg.setter
    def steps_per_leg(self, steps: int) -> None:
        """Frames from one keyframe to the next: the walk's speed (fewer is faster)."""
        if int(steps) < 1:
            raise ValueError(f"a leg needs at least one step, got {steps}")
        self._steps = int(steps)

    def step(self) -> np.ndarray:
        """The next code (D,) float32 on the walk."""
        if self._progress >= 1.0:  # at a keyframe: the next leg starts here
            self._from, self._to, self._progress = self._to, self._draw(), 0.0
        self._progress = min(1.0, self._progress + 1.0 / self._steps)
        eased = 0.5 - 0.5 * np.cos(np.pi * self._progress)  # zero speed at both ends of a leg
        return slerp(self._from, self._to, eased)

    def _draw(self) -> np.ndarray:
        return np.clip(self._rng.standard_normal(self.latent_dim), -self.limit, self.limit)
