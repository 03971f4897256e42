"""kgen doctor: what TensorFlow sees on this machine, as a typed report and as CLI output."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

from kgen.cli import doctor


@pytest.fixture(scope="module")
def report() -> doctor.Report:
    return doctor.diagnose()


def test_report_names_versions_devices_and_data(report):
    import keras
    import tensorflow as tf

    assert report.tensorflow == tf.__version__ and report.keras == keras.__version__
    assert report.backend == "tensorflow"
    assert any(d.startswith("CPU:0") for d in report.devices)
    assert report.gpu_usable == bool(tf.config.list_physical_devices("GPU"))
    assert report.cuda_build.startswith(("CUDA ", "TensorFlow was built without CUDA"))
    assert report.datasets["digits"] is True and "ring8" in report.datasets
    assert report.cpu_count >= 1 and "intra-op" in report.threads


def test_format_report_has_one_aligned_line_per_fact(report):
    text = doctor.format_report(report)
    names = [line.split("  ")[0].strip() for line in text.splitlines()]
    assert names[:6] == ["python", "tensorflow", "keras", "devices", "gpu", "cuda build"]
    assert f"tensorflow       {report.tensorflow}" in text


def test_cli_doctor_prints_the_report(capsys):
    from kgen.cli import main

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "tensorflow" in out and "mixed precision" in out and "digits" in out


def _fake_tf(capabilities, fails=False):
    """A stand-in for tensorflow with GPUs of the given compute capabilities."""

    @contextlib.contextmanager
    def device(name):
        if fails:
            raise RuntimeError("CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\nmore")
        yield

    details = {i: {"compute_capability": c, "device_name": f"GPU {i}"} for i, c in enumerate(capabilities)}
    experimental = SimpleNamespace(get_device_details=lambda gpu: details[gpu])
    return SimpleNamespace(device=device, config=SimpleNamespace(experimental=experimental))


@pytest.mark.parametrize(("capability", "policies"), [
    ((6, 1), []), ((7, 5), ["mixed_float16"]), ((9, 0), ["mixed_bfloat16", "mixed_float16"]),
])
def test_fast_policies_follow_compute_capability(capability, policies):
    assert doctor._fast_policies(_fake_tf([capability]), [0]) == policies


@pytest.mark.parametrize(("flags", "policies"), [
    ({"avx2", "fma"}, []), ({"avx512f", "avx512_bf16"}, ["mixed_bfloat16"]), ({"amx_bf16"}, ["mixed_bfloat16"]),
])
def test_without_a_gpu_bfloat16_is_listed_where_the_cpu_has_it(flags, policies):
    assert doctor._fast_policies(_fake_tf([]), [], cpu_flags=frozenset(flags)) == policies


def test_a_listed_gpu_that_fails_an_op_is_reported_unusable():
    notes: list[str] = []
    assert doctor._runs_on_gpu(_fake_tf([(8, 0)], fails=True), notes) is False
    assert notes == ["GPU:0 is listed but failed a test op: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"]
