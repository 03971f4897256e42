"""The latent explorer's child process: it loads one model (and a run's dataset) and computes.

`kgen.services.explorer.DecodeService` starts it in a prewarmed worker process and sends one
request at a time: ("decode", z, label) or ("job", kind, params); each gets one reply,
("done", kind, answer), with the decoded (z, image) or an event dict. A t-SNE projection takes
seconds to minutes and needs no model, so it runs in a thread here and its event follows later
as ("event", event); the sliders keep decoding meanwhile. Only copies of arrays cross the pipe.
"""

from __future__ import annotations

import contextlib
import os
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from kgen.errors import ConfigError, RunError, one_line
from kgen.services.explorer import SCATTER_POINTS, ExplorerData
from kgen.services.jobs import BACKGROUND_NICE


def serve(conn: Connection, model_file: str | os.PathLike | None, run_dir: str | os.PathLike | None) -> None:
    """Load the model, reply with a "loaded" (or "error") event, then answer requests until told to exit."""
    lock = threading.Lock()

    def send(message: tuple) -> None:
        with lock:
            conn.send(message)

    worker = ExplorerWorker(model_file, run_dir, send)
    try:
        loaded = worker.load()
    except Exception as err:  # a missing or foreign file: one line, and this process ends
        send(("done", "load", {"type": "error", "message": one_line(err)}))
        return
    send(("done", "load", {"type": "loaded", **loaded}))
    while True:
        message = conn.recv()
        if message[0] == "decode":
            send(("done", "decode", worker.decode(*message[1:])))
        elif message[0] == "job":
            send(("done", message[1], worker.job(message[1], message[2])))
        else:  # "exit"
            return


class ExplorerWorker:
    """One model (the file ``model_file``, else the run's trained model) and, with ``run_dir``,
    the run's dataset; `decode` and `job` answer requests, ``send`` carries late events."""

    def __init__(self, model_file, run_dir, send) -> None:
        self.model_file = None if model_file is None else Path(model_file)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.send = send
        self.model = None
        self.num_classes = 0
        self.points = False
        self.encoder = False
        self._decode = None
        self._data = None  # the run's kgen.data.Dataset
        self._train_codes: np.ndarray | None = None
        self._test_codes = None  # LatentCodes of the test set

    def load(self) -> dict[str, Any]:
        """Load the model; the fields of the "loaded" event."""
        from kgen.eval.latent import decode_one
        from kgen.models.saving import load_model_file, load_run_model
        from kgen.runs import Run

        model = load_model_file(self.model_file) if self.model_file is not None else load_run_model(Run.open(self.run_dir))
        self.model = model
        self.num_classes = int(getattr(model, "num_classes", 0) or 0)
        self.points = bool(getattr(model, "points", False))
        self.encoder = hasattr(model, "encode")
        self._decode = decode_one(model)
        return {"latent_dim": int(model.latent_dim), "num_classes": self.num_classes,
                "image_shape": tuple(int(s) for s in model.image_shape), "points": self.points,
                "encoder": self.encoder}

    def decode(self, z: np.ndarray, label: int | None) -> tuple[np.ndarray, np.ndarray] | dict[str, Any]:
        """(z, its image float32 (H, W, C) in [0, 1]), or an error event (a code of the wrong size)."""
        try:
            image = self._decode(z, label or 0) if self.num_classes else self._decode(z)
        except Exception as err:  # a bad code (wrong size, bad label): say so, keep serving
            return {"type": "error", "message": one_line(err)}
        return z, np.array(image, dtype="float32")

    def job(self, kind: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The event answering job ``kind``; None when it answers later (a projection)."""
        try:
            if kind != "data" and self.points:
                raise ConfigError("this GAN makes 2-D points, not images")
            fields = getattr(self, f"_job_{kind}")(**params)
        except Exception as err:  # a failed job is a one-line event; the worker goes on
            return {"type": "error", "message": f"{kind}: {one_line(err)}"}
        return None if fields is None else {"type": kind, **fields}

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
        model, shown = self.model, slice(0, SCATTER_POINTS)
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
        from kgen.pictures import image_grid

        images = manifold_grid(self.model, n, dims, base, labels=self._label(label))
        return {"picture": image_grid(images, columns=n), "dims": dims, "n": n}

    def _job_interpolation(self, z_a, z_b, steps, method, labels) -> dict[str, Any]:
        from kgen.eval.latent import interpolate

        if labels is None and self.num_classes:
            labels = 0
        return {"frames": interpolate(self.model, z_a, z_b, steps, method, labels), "method": method}

    def _job_nearest(self, z, label) -> dict[str, Any]:
        from kgen.eval.latent import decode_codes, encode_dataset, nearest_index
        from kgen.train.training import model_labels

        data, model = self._dataset(), self.model
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
        """Project in a thread of its own, so the sliders keep decoding; the event follows later."""
        from kgen.eval.latent import PROJECTIONS, project_2d

        self._dataset()
        if self._test_codes is None:
            raise ConfigError("this model has no encoder, so no codes to project")
        if method not in PROJECTIONS:
            raise ConfigError(f"projection must be one of {', '.join(PROJECTIONS)}; got {method!r}")
        codes = self._test_codes.mean[:SCATTER_POINTS].copy()

        def project() -> None:
            with contextlib.suppress(OSError, AttributeError):  # Linux: the nice value of this thread alone
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
            try:
                event = {"type": "projection", "xy": project_2d(codes, method), "method": method}
            except Exception as err:  # noqa: BLE001 (reported, never raised in a bare thread)
                event = {"type": "error", "message": f"projection: {one_line(err)}"}
            self.send(("event", event))

        threading.Thread(target=project, name="kgen-projection", daemon=True).start()

    def _label(self, label: int | None) -> int | None:
        """The class id for a conditional model (class 0 if none given); None otherwise."""
        return (0 if label is None else int(label)) if self.num_classes else None
