"""The latent explorer's worker: one thread per loaded model that decodes and analyses, no Qt.

A `DecodeService` loads a model file (and, given a run directory, the run's dataset) in its own
daemon thread. Slider codes are decoded one at a time with `kgen.eval.latent.decode_one`, and only
the latest is kept: while the worker is busy, newer requests replace older ones, so a dragged
slider never builds up a backlog. Slower jobs (the manifold grid, an interpolation, the nearest
training image, a t-SNE projection) queue behind it, again only the latest of each kind. The
interface thread calls `request` / `request_*` and drains `poll` (decoded slider codes) and
`events` (loaded, data, manifold, interpolation, nearest, projection, error). Only copies of
arrays cross threads.

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
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgen.errors import ConfigError, RunError, one_line

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
    """Owns a model and a daemon thread that decodes and analyses it.

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
        self.error: str | None = None
        self.requests = 0  # how many codes were requested
        self.decodes = 0  # how many were decoded (fewer when requests were coalesced)
        self.loaded = threading.Event()  # set once the model is loaded or failed to load
        self._condition = threading.Condition()
        self._pending: tuple[np.ndarray, int | None] | None = None
        self._jobs: dict[str, dict[str, Any]] = {}  # kind -> latest parameters, oldest kind first
        self._results: list[tuple[np.ndarray, np.ndarray]] = []
        self._events: list[dict[str, Any]] = []
        self._closed = False
        # Worker-only state.
        self._model = None
        self._data = None  # the run's kgen.data.Dataset
        self._train_codes: np.ndarray | None = None
        self._test_codes = None  # LatentCodes of the scatter subset
        if self.run_dir is not None:
            self._jobs["data"] = {}
        self._thread = threading.Thread(target=self._run, name="kgen-decode", daemon=True)
        self._thread.start()

    @property
    def ready(self) -> bool:
        """True once the model is loaded without error."""
        return self.loaded.is_set() and self.error is None

    def request(self, z: np.ndarray, label: int | None = None) -> None:
        """Ask for the image of code ``z`` (D,); replaces any request not yet started."""
        code = np.array(z, dtype="float32").ravel()
        with self._condition:
            self.requests += 1
            self._pending = (code, None if label is None else int(label))
            self._condition.notify_all()

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

    def request_projection(self, method: str = "pca") -> None:
        """Ask for the scatter coordinates of the encoded test images by ``method`` (pca, tsne)."""
        self._submit("projection", method=method)

    def poll(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Finished decodes since the last call: (z, image) with image float32 (H, W, C) in [0, 1]."""
        with self._condition:
            results, self._results = self._results, []
        return results

    def events(self) -> list[dict[str, Any]]:
        """Events since the last call, each {"type": ...}: "loaded", "data" (an `ExplorerData`),
        "manifold", "interpolation", "nearest", "projection", or "error" with a one-line "message"."""
        with self._condition:
            events, self._events = self._events, []
        return events

    def idle(self) -> bool:
        """True when no request or job is waiting (the worker may still be finishing one)."""
        with self._condition:
            return self._pending is None and not self._jobs

    def close(self, timeout: float | None = 1.0) -> None:
        """Stop the worker (it finishes the work in progress); waits up to ``timeout`` seconds."""
        with self._condition:
            self._closed = True
            self._pending = None
            self._jobs.clear()
            self._condition.notify_all()
        if timeout and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _submit(self, kind: str, **params: Any) -> None:
        with self._condition:
            self._jobs[kind] = params
            self._condition.notify_all()

    def _event(self, kind: str, **fields: Any) -> None:
        with self._condition:
            self._events.append({"type": kind, **fields})

    # The worker ---------------------------------------------------------------------------

    def _load(self):
        from kgen.eval.latent import decode_one
        from kgen.models.saving import load_model_file, load_run_model
        from kgen.runs import Run

        if self._model_file is not None:
            model = load_model_file(self._model_file)
        else:
            model = load_run_model(Run.open(self.run_dir))
        self._model = model
        self.latent_dim = int(model.latent_dim)
        self.num_classes = int(getattr(model, "num_classes", 0) or 0)
        self.image_shape = tuple(int(s) for s in model.image_shape)
        self.points = bool(getattr(model, "points", False))
        self.encoder = hasattr(model, "encode")
        return decode_one(model)

    def _run(self) -> None:
        try:
            decode = self._load()
        except Exception as err:  # any failure becomes a one-line event; the thread ends
            self.error = one_line(err)
            self._event("error", message=self.error)
            self.loaded.set()
            return
        self._event("loaded", latent_dim=self.latent_dim, num_classes=self.num_classes,
                    image_shape=self.image_shape, points=self.points, encoder=self.encoder)
        self.loaded.set()
        while True:
            with self._condition:
                while self._pending is None and not self._jobs and not self._closed:
                    self._condition.wait()
                if self._closed:
                    return
                if self._pending is not None:  # a slider comes before any slower job
                    (z, label), self._pending = self._pending, None
                    job = None
                else:
                    kind = next(iter(self._jobs))
                    job = (kind, self._jobs.pop(kind))
            if job is None:
                self._decode(decode, z, label)
            else:
                self._do(*job)

    def _decode(self, decode, z: np.ndarray, label: int | None) -> None:
        try:
            image = decode(z, label or 0) if self.num_classes else decode(z)
        except Exception as err:  # a bad code (wrong size, bad label): say so, keep serving
            self._event("error", message=one_line(err))
            return
        image = np.array(image, dtype="float32")
        with self._condition:
            self.decodes += 1
            self._results.append((z, image))

    def _do(self, kind: str, params: dict[str, Any]) -> None:
        try:
            if kind != "data" and self.points:
                raise ConfigError("this GAN makes 2-D points, not images")
            fields = getattr(self, f"_job_{kind}")(**params)
        except Exception as err:  # a failed job is a one-line event; the worker goes on
            self._event("error", message=f"{kind}: {one_line(err)}")
            return
        if fields is not None:  # None: the job answers from its own thread
            self._event(kind, **fields)

    def _dataset(self):
        if self._data is None:
            raise RunError("no dataset: open a run directory (not just a model file) for this")
        return self._data

    def _job_data(self) -> dict[str, Any]:
        from kgen.eval.latent import active_units_of, encode_dataset, kl_of_codes, project_2d
        from kgen.runs import Run
        from kgen.train.training import load_training_data, model_labels

        data = load_training_data(Run.open(self.run_dir).config())
        if data.kind != "images":
            raise ConfigError(f"dataset {data.name} holds 2-D points, not images")
        self._data = data
        model, shown = self._model, slice(0, SCATTER_POINTS)
        codes = xy = kl = active = None
        if self.encoder:
            all_codes = encode_dataset(model, data.x_test, model_labels(model, data.y_test))
            self._test_codes = all_codes
            codes = all_codes.mean[shown]
            xy = project_2d(codes, "pca")
            kl = None if all_codes.log_var is None else kl_of_codes(all_codes)
            active = active_units_of(all_codes.mean).active
        labels = None if data.y_test is None else data.y_test[shown].copy()
        return {"data": ExplorerData(data.name, tuple(data.class_names), data.x_test[shown].copy(), labels,
                                     codes, xy, kl, active)}

    def _job_manifold(self, dims, n, label, base) -> dict[str, Any]:
        from kgen.eval.latent import manifold_grid
        from kgen.models.sampling import image_grid

        images = manifold_grid(self._model, n, dims, base, labels=self._label(label))
        return {"picture": image_grid(images, columns=n), "dims": dims, "n": n}

    def _job_interpolation(self, z_a, z_b, steps, method, labels) -> dict[str, Any]:
        from kgen.eval.latent import interpolate

        if labels is None and self.num_classes:
            labels = 0
        frames = interpolate(self._model, z_a, z_b, steps, method, labels)
        return {"frames": frames, "method": method}

    def _job_nearest(self, z, label) -> dict[str, Any]:
        from kgen.eval.latent import decode_codes, encode_dataset, nearest_index
        from kgen.train.training import model_labels

        data, model = self._dataset(), self._model
        label = self._label(label)
        if self.encoder:  # nearest by code: the training images' posterior means
            if self._train_codes is None:
                self._train_codes = encode_dataset(model, data.x_train, model_labels(model, data.y_train)).mean
            space, points, query = "code", self._train_codes, z
        else:  # a GAN has no encoder: nearest to its image, pixel by pixel
            space, points, query = "pixels", data.x_train, decode_codes(model, z[None], label)[0]
        candidates = np.arange(len(data.x_train))
        if label is not None and data.y_train is not None:  # a conditional model: the same class
            candidates = np.flatnonzero(data.y_train == label)
        index = int(candidates[nearest_index(points[candidates], query)])
        distance = float(np.linalg.norm(np.ravel(points[index]) - np.ravel(query)))
        return {"index": index, "image": data.x_train[index].copy(), "space": space, "distance": distance,
                "label": None if data.y_train is None else int(data.y_train[index])}

    def _job_projection(self, method) -> None:
        """Project in a thread of its own: t-SNE takes seconds to minutes and needs no model, so
        the sliders keep decoding meanwhile."""
        from kgen.eval.latent import PROJECTIONS, project_2d

        self._dataset()
        if self._test_codes is None:
            raise ConfigError("this model has no encoder, so no codes to project")
        if method not in PROJECTIONS:
            raise ConfigError(f"projection must be one of {', '.join(PROJECTIONS)}; got {method!r}")
        codes = self._test_codes.mean[:SCATTER_POINTS].copy()

        def project() -> None:
            try:
                self._event("projection", xy=project_2d(codes, method), method=method)
            except Exception as err:  # noqa: BLE001 (reported, never raised in a bare thread)
                self._event("error", message=f"projection: {one_line(err)}")

        threading.Thread(target=project, name="kgen-projection", daemon=True).start()

    def _label(self, label: int | None) -> int | None:
        """The class id for a conditional model (class 0 if none given); None otherwise."""
        return (0 if label is None else int(label)) if self.num_classes else None
