"""Decode latent codes in a worker thread for an interactive explorer: no Qt here.

A `DecodeService` loads one model file in its own daemon thread and decodes one code at a
time with `kgen.latent.decode_one`. Only the latest request is kept: while the worker is busy,
newer requests replace older ones, so a dragged slider never builds up a backlog. The interface
thread calls `request` and drains `poll` (finished decodes) and `events` (loaded or error).

Example::

    service = DecodeService("runs/vae-digits/model.keras")
    service.request(np.zeros(2, np.float32))
    ...
    for z, image in service.poll():
        show(image)
    service.close()
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kgen.errors import one_line


class DecodeService:
    """Owns a model loaded from ``path`` and a daemon thread that decodes the latest requested code."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.latent_dim: int | None = None
        self.num_classes: int = 0
        self.image_shape: tuple[int, ...] | None = None
        self.points = False  # a GAN on 2-D points: its decode gives points, not images
        self.error: str | None = None
        self.requests = 0  # how many codes were requested
        self.decodes = 0  # how many were decoded (fewer when requests were coalesced)
        self.loaded = threading.Event()  # set once the model is loaded or failed to load
        self._condition = threading.Condition()
        self._pending: tuple[np.ndarray, int | None] | None = None
        self._results: list[tuple[np.ndarray, np.ndarray]] = []
        self._events: list[dict[str, Any]] = []
        self._closed = False
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

    def poll(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Finished decodes since the last call: (z, image) with image float32 (H, W, C) in [0, 1]."""
        with self._condition:
            results, self._results = self._results, []
        return results

    def events(self) -> list[dict[str, Any]]:
        """Status events since the last call: {"type": "loaded", ...} or {"type": "error", "message"}."""
        with self._condition:
            events, self._events = self._events, []
        return events

    def idle(self) -> bool:
        """True when no request is waiting (the worker may still be finishing one)."""
        with self._condition:
            return self._pending is None

    def close(self, timeout: float | None = 1.0) -> None:
        """Stop the worker (it finishes the decode in progress); waits up to ``timeout`` seconds."""
        with self._condition:
            self._closed = True
            self._pending = None
            self._condition.notify_all()
        if timeout and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # The worker ---------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> None:
        with self._condition:
            self._events.append({"type": kind, **fields})

    def _load(self):
        from kgen.latent import decode_one
        from kgen.runs import load_model_file

        model = load_model_file(self.path)
        self.latent_dim = int(model.latent_dim)
        self.num_classes = int(getattr(model, "num_classes", 0) or 0)
        self.image_shape = tuple(int(s) for s in model.image_shape)
        self.points = bool(getattr(model, "points", False))
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
                    image_shape=self.image_shape, points=self.points)
        self.loaded.set()
        while True:
            with self._condition:
                while self._pending is None and not self._closed:
                    self._condition.wait()
                if self._closed:
                    return
                (z, label), self._pending = self._pending, None
            try:
                image = decode(z, label or 0) if self.num_classes else decode(z)
            except Exception as err:  # a bad code (wrong size, bad label): say so, keep serving
                self._event("error", message=one_line(err))
                continue
            image = np.array(image, dtype="float32")
            with self._condition:
                self.decodes += 1
                self._results.append((z, image))
