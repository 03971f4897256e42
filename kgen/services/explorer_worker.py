"""The latent explorer's child process: it loads one model (and a run's dataset) and computes.

`kgen.services.explorer.DecodeService` starts it in a prewarmed worker process and sends one
request at a time: ("decode", z, label), ("encode", image, label) or ("job", kind, params); each
gets one reply, ("done", kind, answer), with the decoded (z, image) or an event dict. A t-SNE projection takes
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
from kgen.sigma_maps import gaussian_draw

KL_IMAGES = 1000  # test images the KL of each step is averaged over for an opened DRAW run


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
        elif message[0] == "encode":
            send(("done", "encode", worker.encode(*message[1:])))
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
        self._plane: LatentPlane | None = None  # where encoded images are placed in 2-D

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
        self._plane = LatentPlane.first_dims(int(model.latent_dim))
        return {"latent_dim": int(model.latent_dim), "num_classes": self.num_classes,
                "image_shape": tuple(int(s) for s in model.image_shape), "points": self.points,
                "encoder": self.encoder, "views": sorted(model_views(model))}

    def decode(self, z: np.ndarray, label: int | None) -> tuple[np.ndarray, np.ndarray] | dict[str, Any]:
        """(z, its image float32 (H, W, C) in [0, 1]), or an error event (a code of the wrong size)."""
        try:
            image = self._decode_image(z, label)
        except Exception as err:  # a bad code (wrong size, bad label): say so, keep serving
            return {"type": "error", "message": one_line(err)}
        return z, image

    def _decode_image(self, z: np.ndarray, label: int | None) -> np.ndarray:
        image = self._decode(z, label or 0) if self.num_classes else self._decode(z)
        return np.array(image, dtype="float32")

    def encode(self, image: np.ndarray, label: int | None) -> dict[str, Any]:
        """The "encoded" event of one image (H, W, C): q(z|x)'s mean and log-variance (None for an
        AE), the reconstruction (the decoder's mean at the mean code) and their place in the plane."""
        from kgen.eval.latent import encode_dataset

        try:
            if not self.encoder:
                raise ConfigError("this model has no encoder: a GAN cannot encode an image")
            shape = tuple(int(s) for s in self.model.image_shape)
            if image.shape != shape:
                raise ConfigError(f"the image to encode must be {'x'.join(map(str, shape))}, "
                                  f"got {'x'.join(map(str, image.shape))}")
            codes = encode_dataset(self.model, image[None], self._label(label))
            mean = codes.mean[0]
            log_var = None if codes.log_var is None else codes.log_var[0]
            reconstruction = self._decode_image(mean, label)
        except Exception as err:  # a bad image or label: one line, keep serving
            return {"type": "error", "message": f"encode: {one_line(err)}"}
        xy, cov = self._plane.place(mean, None if log_var is None else np.exp(log_var))
        return {"type": "encoded", "image": image, "label": label, "mean": mean, "log_var": log_var,
                "reconstruction": reconstruction, "xy": xy, "cov": cov, "plane": self._plane.name}

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
            self._plane = LatentPlane.pca(codes)
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

    def _job_draws(self, z, label, n, seed) -> dict[str, Any]:
        """The decoder's mean at z and ``n`` draws of x from p(x|z) (slide 9's generative process)."""
        from keras import ops

        if not hasattr(self.model, "decoder_params"):
            raise ConfigError("a GAN's generator is deterministic: x = G(z), with no p(x|z) to draw from")
        labels = None if not self.num_classes else np.array([self._label(label)], np.int32)
        location, log_var = self.model.pixel_distribution(self.model.decoder_params(z[None], labels))
        likelihood = self.model.likelihood
        if likelihood == "bernoulli":
            mean, sigma = np.asarray(ops.sigmoid(location), "float32")[0], None
        else:
            mean = np.asarray(location, "float32")[0]
            sigma = np.broadcast_to(np.exp(0.5 * np.asarray(log_var, "float32")), (1, *mean.shape))[0]
        draws = draw_pixels(mean, sigma, n, np.random.default_rng(seed))
        return {"z": z, "label": label, "mean": mean, "draws": draws, "likelihood": likelihood,
                "sigma": None if sigma is None else float(np.mean(sigma)), "sigma_map": sigma}

    def _job_draw_steps(self) -> dict[str, Any]:
        """A DRAW model drawing, as its live probe shows it while training (the run's fixed noise
        and shown test images), with the KL of each step averaged over test images."""
        from kgen.models.sampling import latent_noise
        from kgen.runs import Run, read_events
        from kgen.services.probes import (
            DRAW_SAMPLES,
            draw_steps_record,
            draw_traces,
            shown_test_images,
            to_uint8,
        )
        from kgen.train.training import GRID_SEED_OFFSET

        if "draw_steps" not in model_views(self.model):
            raise ConfigError("only a DRAW model draws in steps")
        data, model, run = self._dataset(), self.model, Run.open(self.run_dir)
        images = data.x_test[shown_test_images(data)[:DRAW_SAMPLES]]
        noise = latent_noise(DRAW_SAMPLES, model.latent_dim, run.config().train.seed + GRID_SEED_OFFSET)
        epochs = [e for e in read_events(run.events_path) if e.kind == "epoch"] if run.events_path.exists() else []
        step, epoch = (epochs[-1]["step"], epochs[-1]["epoch"]) if epochs else (0, 0)
        kl = test_kl_per_step(model, data.x_test[:KL_IMAGES])
        return {"event": draw_steps_record(draw_traces(model, noise, images), to_uint8(images), kl, step, epoch)}

    def _job_posterior(self, image, label, source) -> dict[str, Any]:
        """One image's true posterior on a grid beside q(z|x), and its IWAE-k curve (slides 10, 15)."""
        from kgen.eval.likelihood import evaluation_images
        from kgen.eval.posterior import iwae_curve, posterior_grid

        self._need_2d_vae("the true posterior on a grid")
        shape = tuple(int(s) for s in self.model.image_shape)
        if image.shape != shape:
            raise ConfigError(f"the image must be {'x'.join(map(str, shape))}, got {'x'.join(map(str, image.shape))}")
        x = evaluation_images(self.model, image[None])[0]  # what the likelihood scores (binary when binarising)
        label = self._label(label)
        return {"posterior": posterior_grid(self.model, x, label), "iwae": iwae_curve(self.model, x, label),
                "image": image, "label": label, "source": source}

    def _job_aggregate(self) -> dict[str, Any]:
        """The mixture of every test image's q(z|x) beside N(0, I), and the prior's mass in its holes."""
        from kgen.eval.posterior import aggregate_posterior

        self._need_2d_vae("the aggregate posterior")
        self._dataset()
        codes = self._test_codes
        return {"aggregate": aggregate_posterior(codes.mean, codes.log_var), "dataset": self._data.name}

    def _need_2d_vae(self, what: str) -> None:
        latent_dim = int(self.model.latent_dim)
        gaussian = self.encoder and getattr(self.model, "variational", False) and type(self.model).__name__ != "BinaryVAE"
        if not gaussian:
            raise ConfigError(f"{what} needs a VAE with a Gaussian q(z|x); this is a {type(self.model).__name__}")
        if latent_dim != 2:
            raise ConfigError(f"{what} is drawn for a 2-d latent; this model's has {latent_dim} dimensions")

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


def model_views(model) -> frozenset[str]:
    """The registry views of a loaded model's kind (none for a kind the registry lacks)."""
    from kgen import registry
    from kgen.models.saving import model_kind

    kind = model_kind(model)
    return registry.spec(kind).views if kind in registry.kinds() else frozenset()


def test_kl_per_step(model, images: np.ndarray, batch_size: int = 250, seed: int = 0) -> np.ndarray:
    """A DRAW model's mean KL of each step (T,) over ``images`` (binarised once for a binarising
    model, as its likelihood is scored), one posterior draw each."""
    from kgen.eval.likelihood import evaluation_images

    images, rng = evaluation_images(model, images, seed), np.random.default_rng(seed)
    total = np.zeros(model.steps)
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        eps = rng.standard_normal((len(x), model.latent_dim)).astype("float32")
        total += np.asarray(model.sample_terms(x, eps=eps)["kl_steps"]).sum(axis=0)
    return (total / max(len(images), 1)).astype("float32")


def draw_pixels(mean: np.ndarray, sigma: np.ndarray | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws (n, *mean.shape) float32 of x from p(x|z): Bernoulli pixels (0 or 1) with
    probabilities ``mean`` when ``sigma`` is None, else mean + sigma * noise (not clipped)."""
    if sigma is None:
        return (rng.random((n, *np.shape(mean))) < np.asarray(mean, "float32")).astype("float32")
    return gaussian_draw(mean, sigma, rng, n)


class LatentPlane:
    """The 2-D plane of the explorer's scatter: codes x -> axes (x - centre); named for the pad."""

    def __init__(self, centre: np.ndarray, axes: np.ndarray, name: str):
        self.centre, self.axes, self.name = centre, axes, name

    @classmethod
    def first_dims(cls, latent_dim: int) -> LatentPlane:
        """The codes themselves (a 1- or 2-d latent), else their first two dimensions."""
        name = "z0, z1 (the codes)" if latent_dim <= 2 else f"z0, z1 (the first 2 of {latent_dim} dimensions)"
        return cls(np.zeros(latent_dim), np.eye(2, latent_dim), name)

    @classmethod
    def pca(cls, codes: np.ndarray) -> LatentPlane:
        """The scatter's PCA plane of the test codes (`project_2d`'s), or the codes when D <= 2."""
        from kgen.eval.latent import pca_axes

        d = codes.shape[1]
        if d <= 2:
            return cls.first_dims(d)
        centre, axes = pca_axes(codes)
        return cls(centre, np.pad(axes, ((0, 2 - len(axes)), (0, 0))), f"PCA of the {d}-d test codes, as in the scatter")

    def place(self, mean: np.ndarray, var: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """A Gaussian N(mean, diag(var)) seen in the plane: its centre (2,) and covariance (2, 2)."""
        xy = self.axes @ (np.asarray(mean, "float64") - self.centre)
        cov = None if var is None else (self.axes * np.asarray(var, "float64")) @ self.axes.T
        return xy.astype("float32"), None if cov is None else cov.astype("float32")
