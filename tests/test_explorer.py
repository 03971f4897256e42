"""The latent explorer's worker: it answers the latest slider code and analyses a run's data."""

import os
import signal
import time

import numpy as np
import pytest
from latent_runs import trained_vae_run

from kgen.config import GANConfig, RunConfig, TrainConfig, VAEConfig
from kgen.data import load_dataset
from kgen.eval.latent import encode_dataset, kl_per_dimension, manifold_grid
from kgen.models import build_model
from kgen.models.saving import load_model_file
from kgen.pictures import image_grid
from kgen.runs import Run
from kgen.services.explorer import (
    DecodeService,
    ExplorerData,
    collapse_warning,
    collapsed_dimensions,
)

TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    model = build_model(RunConfig(TrainConfig(), VAEConfig(latent_dim=2, hidden=(16,))), (8, 8, 1))
    path = tmp_path_factory.mktemp("explorer") / "vae.keras"
    model.save(path)
    return path, model


@pytest.fixture
def service(vae_file):
    service = DecodeService(vae_file[0])
    yield service
    service.close()


def wait_for(condition, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def drain(service: DecodeService, z_last: np.ndarray) -> list:
    """Every result until the one for ``z_last`` arrives."""
    results = []
    wait_for(lambda: bool(results.extend(service.poll()) or (results and np.array_equal(results[-1][0], z_last))))
    return results


def test_loads_and_reports_the_model(service):
    assert service.wait_loaded(TIMEOUT_S) and service.ready
    assert (service.latent_dim, service.num_classes, service.image_shape) == (2, 0, (8, 8, 1))
    events = service.events()
    assert events == [{"type": "loaded", "latent_dim": 2, "num_classes": 0, "image_shape": (8, 8, 1),
                       "points": False, "encoder": True, "views": ["reconstructions"]}]
    assert service.views == {"reconstructions"}


def test_rapid_requests_end_with_the_last_code_decoded(service, vae_file):
    _, model = vae_file
    assert service.wait_loaded(TIMEOUT_S)
    codes = np.random.default_rng(0).standard_normal((200, 2)).astype("float32")
    for z in codes:
        service.request(z)
    results = drain(service, codes[-1])
    z_last, image = results[-1]
    assert image.shape == (8, 8, 1) and image.dtype == np.float32
    expected = np.clip(np.asarray(model.decode(codes[-1:]))[0], 0.0, 1.0)
    np.testing.assert_allclose(image, expected, atol=1e-5)
    assert service.requests == 200
    assert service.decodes == len(results) < 200  # requests came faster than decodes: coalesced
    wait_for(service.idle)
    assert service.poll() == []  # nothing left behind the last answer


def test_each_result_answers_its_own_code(service, vae_file):
    _, model = vae_file
    z = np.array([0.5, -1.0], np.float32)
    service.request(z)
    [(got_z, image)] = drain(service, z)
    np.testing.assert_array_equal(got_z, z)
    np.testing.assert_allclose(image, np.clip(np.asarray(model.decode(z[None]))[0], 0, 1), atol=1e-5)


def test_a_bad_path_is_a_one_line_error_event(tmp_path):
    service = DecodeService(tmp_path / "missing.keras")
    assert service.wait_loaded(TIMEOUT_S) and not service.ready
    [event] = service.events()
    assert event["type"] == "error" and "no such model file" in event["message"]
    assert "\n" not in event["message"]
    service.request(np.zeros(2))  # ignored, never blocks
    service.close()


def test_a_code_of_the_wrong_size_is_an_error_and_the_service_goes_on(service):
    assert service.wait_loaded(TIMEOUT_S)
    service.events()
    service.request(np.zeros(5))
    wait_for(lambda: service.idle())
    z = np.zeros(2, np.float32)
    service.request(z)
    assert len(drain(service, z)) == 1
    [event] = service.events()
    assert event["type"] == "error" and "\n" not in event["message"]


# --- a run's data: KL, codes, manifold, interpolation, nearest image


@pytest.fixture(scope="module")
def healthy_run(tmp_path_factory):
    return trained_vae_run(tmp_path_factory, beta=1.0)


@pytest.fixture(scope="module")
def collapsed_run(tmp_path_factory):
    return trained_vae_run(tmp_path_factory, beta=30.0)


@pytest.fixture(scope="module")
def run_service(healthy_run):
    service = DecodeService(run_dir=healthy_run)
    yield service
    service.close()


@pytest.fixture(scope="module")
def healthy(healthy_run):
    return load_model_file(Run(healthy_run).model_path), load_dataset("digits")


def next_event(service: DecodeService, kind: str) -> dict:
    """The next event of ``kind``; an error event fails the test with its message."""
    found = []

    def arrived():
        for event in service.events():
            assert event["type"] != "error", event["message"]
            if event["type"] == kind:
                found.append(event)
        return bool(found)

    wait_for(arrived)
    return found[0]


@pytest.fixture(scope="module")
def run_data(run_service) -> ExplorerData:
    return next_event(run_service, "data")["data"]


def test_a_run_brings_its_test_set_codes_and_kl(run_data, healthy):
    model, data = healthy
    assert run_data.dataset == "digits" and run_data.class_names == tuple(str(i) for i in range(10))
    np.testing.assert_array_equal(run_data.images, data.x_test)
    np.testing.assert_array_equal(run_data.labels, data.y_test)
    np.testing.assert_allclose(run_data.codes, encode_dataset(model, data.x_test).mean, atol=1e-5)
    np.testing.assert_allclose(run_data.kl, kl_per_dimension(model, data.x_test), rtol=1e-4)
    assert run_data.xy.shape == (len(data.x_test), 2) and run_data.active.shape == (4,)
    assert collapse_warning(run_data.kl) is None  # every unit of the healthy VAE is used


def test_a_heavy_beta_collapses_to_the_prior_and_is_named(collapsed_run):
    service = DecodeService(run_dir=collapsed_run)
    try:
        kl = next_event(service, "data")["data"].kl
    finally:
        service.close()
    assert kl.max() < 0.01 and collapsed_dimensions(kl) == [0, 1, 2, 3]
    assert collapse_warning(kl).startswith("4 of 4 dimensions carry no information (posterior collapse")


def test_the_collapse_warning_names_only_the_collapsed_dimensions():
    assert collapse_warning(np.array([0.8, 0.004, 1.2, 0.0])) == (
        "2 of 4 dimensions carry no information (posterior collapse, KL < 0.01 nats): z1, z3")
    assert "1 of 2 dimensions carries" in collapse_warning(np.array([0.005, 2.0]))
    assert collapse_warning(np.array([0.5, 0.02])) is None


def test_the_manifold_is_the_grid_over_the_chosen_dims(run_service, run_data, healthy):
    model, _ = healthy
    base = np.array([0.3, -0.2, 0.5, 1.0], np.float32)
    pictures = {}
    for dims in ((0, 1), (2, 3)):
        run_service.request_manifold(dims, base, n=5)
        event = next_event(run_service, "manifold")
        assert event["dims"] == dims and event["picture"].shape == (5 * 9 + 1, 5 * 9 + 1, 1)
        expected = image_grid(manifold_grid(model, 5, dims, base), columns=5)
        np.testing.assert_allclose(event["picture"], expected, atol=1)
        pictures[dims] = event["picture"]
    assert not np.array_equal(pictures[(0, 1)], pictures[(2, 3)])


def test_interpolation_ends_are_the_reconstructions(run_service, run_data, healthy):
    model, _ = healthy
    a, b = run_data.codes[3], run_data.codes[40]
    for method in ("linear", "slerp"):
        run_service.request_interpolation(a, b, steps=7, method=method)
        frames = next_event(run_service, "interpolation")["frames"]
        assert frames.shape == (7, 8, 8, 1)
        ends = np.clip(np.asarray(model.decode(np.stack([a, b]))), 0, 1)
        np.testing.assert_allclose(frames[[0, -1]], ends, atol=1e-5)


def test_the_nearest_training_image_is_the_brute_force_nearest(run_service, run_data, healthy):
    model, data = healthy
    train_codes = encode_dataset(model, data.x_train).mean
    for z in np.random.default_rng(1).standard_normal((3, 4)).astype("float32"):
        run_service.request_nearest(z)
        event = next_event(run_service, "nearest")
        distances = np.linalg.norm(train_codes - z, axis=1)
        assert event["index"] == int(distances.argmin()) and event["space"] == "code"
        assert event["distance"] == pytest.approx(distances.min(), rel=1e-4)
        np.testing.assert_array_equal(event["image"], data.x_train[event["index"]])


def test_a_gans_nearest_image_is_nearest_in_pixels(tmp_path):
    config = RunConfig(TrainConfig(model="gan", dataset="digits"), GANConfig(latent_dim=3, hidden=(16,)))
    model = build_model(config, (8, 8, 1))
    run = Run.create(tmp_path / "gan", config)
    model.save(run.model_path)
    service = DecodeService(run_dir=run.path)
    try:
        data = next_event(service, "data")["data"]
        assert data.codes is None and data.kl is None and len(data.images) == 360
        z = np.array([0.5, -1.0, 2.0], np.float32)
        service.request_nearest(z)
        event = next_event(service, "nearest")
    finally:
        service.close()
    x_train = load_dataset("digits").x_train
    fake = np.asarray(model.decode(z[None]))[0]
    distances = ((x_train - fake) ** 2).sum(axis=(1, 2, 3))
    assert event["space"] == "pixels" and event["index"] == int(distances.argmin())


def test_a_model_file_alone_has_no_data_and_says_so(service):
    assert service.wait_loaded(TIMEOUT_S)
    service.request_nearest(np.zeros(2, np.float32))
    errors = []
    wait_for(lambda: bool(errors.extend(e for e in service.events() if e["type"] == "error") or errors))
    assert errors[0]["message"].startswith("nearest: no dataset: open a run directory")


def test_projections_are_answered_and_a_bad_one_is_an_error(run_service, run_data):
    run_service.request_projection("pca")
    np.testing.assert_allclose(next_event(run_service, "projection")["xy"], run_data.xy, atol=1e-5)
    run_service.request_projection("umap")
    errors = []
    wait_for(lambda: bool(errors.extend(e for e in run_service.events() if e["type"] == "error") or errors))
    assert errors[0]["message"].startswith("projection: projection must be one of pca, tsne")


def test_a_worker_that_dies_is_one_line_and_the_next_request_starts_a_new_one(vae_file):
    service = DecodeService(vae_file[0])
    try:
        assert service.wait_loaded(TIMEOUT_S)
        assert service.pid != os.getpid()  # the model is loaded in a worker process, not here
        first = service.pid
        service.events()
        os.kill(first, signal.SIGKILL)
        errors = []
        wait_for(lambda: bool(errors.extend(e for e in service.events() if e["type"] == "error") or errors))
        assert "SIGKILL" in errors[0]["message"] and "\n" not in errors[0]["message"]
        assert service.pid is None and service.ready
        z = np.full(2, 0.5, np.float32)
        service.request(z)
        [(_, image)] = drain(service, z)
        np.testing.assert_allclose(image, vae_file[1].decode(z[None])[0], atol=1e-5)
        assert service.pid not in (None, first)
        assert service.events() == []  # the new worker's load is not announced again
    finally:
        service.close()


# --- the drawing pad's encode request and slide 9's draws from p(x|z)


def wait_events(service: DecodeService, kind: str) -> list[dict]:
    """Every event until one of ``kind`` (or an error) arrives and nothing is left to answer."""
    events: list[dict] = []
    wait_for(lambda: bool(events.extend(service.events()) or
                          (service.idle() and any(e["type"] in (kind, "error") for e in events))))
    return events


def test_encode_answers_with_the_models_own_encoder(service, vae_file):
    _, model = vae_file
    assert service.wait_loaded(TIMEOUT_S)
    image = np.random.default_rng(1).random((8, 8, 1)).astype("float32")
    service.request_encode(image)
    (event,) = [e for e in wait_events(service, "encoded") if e["type"] == "encoded"]
    mean, log_var = (np.asarray(t)[0] for t in model.encode(image[None]))
    np.testing.assert_allclose(event["mean"], mean, atol=1e-5)
    np.testing.assert_allclose(event["log_var"], log_var, atol=1e-5)
    np.testing.assert_allclose(event["reconstruction"], np.asarray(model.decode(mean[None]))[0], atol=1e-5)
    np.testing.assert_allclose(event["xy"], mean, atol=1e-5)  # a 2-d latent is its own plane
    np.testing.assert_allclose(event["cov"], np.diag(np.exp(log_var)), rtol=1e-5)
    assert event["plane"].startswith("z0, z1")


def test_encode_requests_are_latest_only(service):
    assert service.wait_loaded(TIMEOUT_S)
    images = np.random.default_rng(2).random((100, 8, 8, 1)).astype("float32")
    for image in images:
        service.request_encode(image)
    encoded = [e for e in wait_events(service, "encoded") if e["type"] == "encoded"]
    np.testing.assert_array_equal(encoded[-1]["image"], images[-1])  # the last drawing is answered
    assert service.encodes == len(encoded) < 100  # the ones in between were replaced, not queued


def test_encoding_an_image_of_the_wrong_size_is_a_one_line_error(service):
    assert service.wait_loaded(TIMEOUT_S)
    service.request_encode(np.zeros((28, 28, 1), np.float32))
    (error,) = [e for e in wait_events(service, "error") if e["type"] == "error"]
    assert error["message"] == "encode: the image to encode must be 8x8x1, got 28x28x1"


def test_bernoulli_draws_are_binary_and_average_to_the_decoders_mean(service, vae_file):
    _, model = vae_file
    assert service.wait_loaded(TIMEOUT_S)
    z = np.array([0.5, -1.0], np.float32)
    service.request_draws(z, n=4000, seed=0)
    (event,) = [e for e in wait_events(service, "draws") if e["type"] == "draws"]
    mean = np.asarray(model.decode(z[None]))[0]
    np.testing.assert_allclose(event["mean"], mean, atol=1e-5)
    assert event["likelihood"] == "bernoulli" and event["draws"].shape == (4000, 8, 8, 1)
    assert set(np.unique(event["draws"])) <= {0.0, 1.0}
    np.testing.assert_allclose(event["draws"].mean(axis=0), mean, atol=0.03)  # 4.5 standard errors


def test_gaussian_draws_have_the_decoders_sigma(tmp_path):
    config = RunConfig(TrainConfig(), VAEConfig(latent_dim=2, hidden=(16,), likelihood="gaussian", sigma=0.2))
    model = build_model(config, (8, 8, 1))
    model.save(tmp_path / "gaussian.keras")
    service = DecodeService(tmp_path / "gaussian.keras")
    try:
        assert service.wait_loaded(TIMEOUT_S)
        service.request_draws(np.zeros(2, np.float32), n=500, seed=0)
        (event,) = [e for e in wait_events(service, "draws") if e["type"] == "draws"]
    finally:
        service.close()
    assert event["likelihood"] == "gaussian" and event["sigma"] == pytest.approx(0.2)
    noise = event["draws"] - event["mean"]
    assert abs(noise.mean()) < 0.01 and noise.std() == pytest.approx(0.2, rel=0.03)


def test_learned_sigma_draws_come_with_the_decoders_sigma_map(tmp_path):
    from kgen.sigma_maps import decode_with_sigma

    config = RunConfig(TrainConfig(), VAEConfig(latent_dim=2, hidden=(16,), likelihood="gaussian-learned"))
    model = build_model(config, (8, 8, 1))
    model.save(tmp_path / "learned.keras")
    service = DecodeService(tmp_path / "learned.keras")
    z = np.array([0.3, -0.7], np.float32)
    try:
        assert service.wait_loaded(TIMEOUT_S)
        service.request_draws(z, n=3, seed=0)
        (event,) = [e for e in wait_events(service, "draws") if e["type"] == "draws"]
    finally:
        service.close()
    _, sigma = decode_with_sigma(model, z[None])
    np.testing.assert_allclose(event["sigma_map"], sigma[0], rtol=1e-5)
    assert event["sigma"] == pytest.approx(float(sigma.mean()), rel=1e-5)


def test_the_pads_plane_is_the_scatters_pca(vae_file):
    from kgen.eval.latent import project_2d
    from kgen.services.explorer_worker import LatentPlane

    codes = np.random.default_rng(3).standard_normal((300, 5)).astype("float32") * [3, 2, 1, 0.5, 0.1]
    plane = LatentPlane.pca(codes)
    xy = np.array([plane.place(code, None)[0] for code in codes[:10]])
    np.testing.assert_allclose(xy, project_2d(codes, "pca")[:10], atol=1e-4)
    var = np.array([1.0, 4.0, 9.0, 16.0, 25.0])
    _, cov = plane.place(codes[0], var)
    np.testing.assert_allclose(cov, plane.axes @ np.diag(var) @ plane.axes.T, rtol=1e-5)


def test_a_conditional_model_encodes_with_the_chosen_class(tmp_path):
    config = RunConfig(TrainConfig(model="cvae"), VAEConfig(latent_dim=3, hidden=(16,)))
    model = build_model(config, (8, 8, 1), 3)
    model.save(tmp_path / "cvae.keras")
    image = np.random.default_rng(4).random((8, 8, 1)).astype("float32")
    service = DecodeService(tmp_path / "cvae.keras")
    try:
        assert service.wait_loaded(TIMEOUT_S)
        service.request_encode(image, label=2)
        (event,) = [e for e in wait_events(service, "encoded") if e["type"] == "encoded"]
    finally:
        service.close()
    mean, _ = model.encode(image[None], labels=np.array([2]))
    np.testing.assert_allclose(event["mean"], np.asarray(mean)[0], atol=1e-5)
    np.testing.assert_allclose(event["reconstruction"],
                               np.asarray(model.decode(np.asarray(mean), labels=np.array([2])))[0], atol=1e-5)
    assert event["plane"].startswith("z0, z1 (the first 2 of 3")  # no run, so no PCA: the first two dims
