"""The latent explorer's decode service: a worker thread that answers the latest request."""

import time

import numpy as np
import pytest

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.explorer import DecodeService
from kgen.models import build_model

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
    assert service.loaded.wait(TIMEOUT_S) and service.ready
    assert (service.latent_dim, service.num_classes, service.image_shape) == (2, 0, (8, 8, 1))
    events = service.events()
    assert events == [{"type": "loaded", "latent_dim": 2, "num_classes": 0, "image_shape": (8, 8, 1), "points": False}]


def test_rapid_requests_end_with_the_last_code_decoded(service, vae_file):
    _, model = vae_file
    assert service.loaded.wait(TIMEOUT_S)
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
    assert service.loaded.wait(TIMEOUT_S) and not service.ready
    [event] = service.events()
    assert event["type"] == "error" and "no such model file" in event["message"]
    assert "\n" not in event["message"]
    service.request(np.zeros(2))  # ignored, never blocks
    service.close()


def test_a_code_of_the_wrong_size_is_an_error_and_the_service_goes_on(service):
    assert service.loaded.wait(TIMEOUT_S)
    service.events()
    service.request(np.zeros(5))
    wait_for(lambda: service.idle())
    z = np.zeros(2, np.float32)
    service.request(z)
    assert len(drain(service, z)) == 1
    [event] = service.events()
    assert event["type"] == "error" and "\n" not in event["message"]
