"""The latent explorer's posterior and aggregate jobs: the worker's answers are kgen.eval.posterior's."""

from __future__ import annotations

import numpy as np
import pytest
from test_explorer import next_event, wait_for

from kgen.config import RunConfig, TrainConfig, VAEConfig
from kgen.data import load_dataset
from kgen.eval import posterior
from kgen.eval.latent import encode_dataset
from kgen.models import build_model
from kgen.models.saving import load_model_file
from kgen.runs import Run
from kgen.services.explorer import DecodeService
from kgen.services.explorer_worker import ExplorerWorker
from kgen.train.training import train


def tiny_run(tmp_path_factory, latent_dim: int):
    config = RunConfig(TrainConfig(model="vae", dataset="digits", epochs=2, batch_size=64, grid_size=2),
                       VAEConfig(latent_dim=latent_dim, hidden=(16,)))
    return train(config, tmp_path_factory.mktemp(f"vae{latent_dim}d") / "run", verbose=0).run.path


@pytest.fixture(scope="module")
def run_2d(tmp_path_factory):
    return tiny_run(tmp_path_factory, 2)


@pytest.fixture(scope="module")
def service_2d(run_2d):
    service = DecodeService(run_dir=run_2d)
    next_event(service, "data")
    yield service
    service.close()


def test_the_posterior_job_is_the_grid_of_the_model(service_2d, run_2d):
    image = load_dataset("digits").x_test[5]
    service_2d.request_posterior(image, source="test image #5")
    event = next_event(service_2d, "posterior")
    expected = posterior.posterior_grid(load_model_file(Run(run_2d).model_path), image)
    got = event["posterior"]
    assert event["source"] == "test image #5" and event["label"] is None
    assert got.log_px == pytest.approx(expected.log_px, abs=1e-4)
    assert got.gap == pytest.approx(expected.gap, abs=1e-4)
    assert got.gap >= 0 and got.kl_grid == pytest.approx(got.gap, abs=0.01)
    np.testing.assert_allclose(got.density, expected.density, rtol=1e-4, atol=1e-8)
    curve = event["iwae"]
    assert list(curve.ks) == list(posterior.IWAE_KS)
    assert curve.mean[0] == pytest.approx(got.elbo, abs=4 * curve.standard_error[0] + 1e-3)
    assert abs(curve.mean[-1] - got.log_px) < 0.1


def test_posterior_requests_are_latest_only(service_2d):
    images = load_dataset("digits").x_test[:3]
    wait_for(service_2d.idle)
    for i, image in enumerate(images):
        service_2d.request_posterior(image, source=str(i))
    sources = []
    wait_for(lambda: bool(sources.extend(e["source"] for e in service_2d.events() if e["type"] == "posterior")
                          or "2" in sources))
    assert sources == ["0", "2"]  # the first went at once; the third replaced the second


def test_the_aggregate_job_mixes_every_test_code(service_2d, run_2d):
    service_2d.request_aggregate()
    event = next_event(service_2d, "aggregate")
    data = load_dataset("digits")
    codes = encode_dataset(load_model_file(Run(run_2d).model_path), data.x_test)
    expected = posterior.aggregate_posterior(codes.mean, codes.log_var)
    got = event["aggregate"]
    assert got.codes == len(data.x_test) and got.mass == pytest.approx(1.0, abs=1e-3)
    assert got.holes == pytest.approx(expected.holes, abs=1e-4)


def test_a_model_without_a_2d_latent_is_a_one_line_error(tmp_path):
    path = tmp_path / "vae3d.keras"
    build_model(RunConfig(TrainConfig(), VAEConfig(latent_dim=3, hidden=(8,))), (8, 8, 1)).save(path)
    worker = ExplorerWorker(path, None, send=lambda message: None)  # in this process: the jobs alone
    worker.load()
    for kind, params in (("posterior", {"image": np.zeros((8, 8, 1), "float32"), "label": None, "source": ""}),
                         ("aggregate", {})):
        event = worker.job(kind, params)
        assert event["type"] == "error" and "2-d latent" in event["message"] and "\n" not in event["message"]
