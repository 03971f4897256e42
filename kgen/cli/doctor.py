"""What this machine offers kgen: versions, devices, CUDA, mixed precision, data; for `kgen doctor`."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field


@dataclass
class Report:
    """A snapshot of the software and hardware kgen trains on."""

    python: str
    tensorflow: str
    keras: str
    backend: str
    devices: list[str]  # every device TensorFlow sees, e.g. "CPU:0 (AMD EPYC ...)", "GPU:0 (NVIDIA H100)"
    gpu_usable: bool  # a GPU is visible and ran an op
    cuda_build: str  # TensorFlow's CUDA/cuDNN build, or why there is none
    mixed_precision: list[str]  # the policies with hardware support here (all of them run correctly)
    threads: str  # TensorFlow's intra-op and inter-op thread settings
    cpu_count: int
    cache_dir: str  # where kgen caches its dataset classifiers
    datasets: dict[str, bool] = field(default_factory=dict)  # built-in dataset -> available offline
    notes: list[str] = field(default_factory=list)  # problems found on the way


def diagnose() -> Report:
    """Inspect this machine: imports TensorFlow and runs one tiny op on each GPU it finds."""
    import keras
    import tensorflow as tf

    from kgen.data import BUILTINS, list_datasets
    from kgen.eval.classifier import default_cache_dir
    from kgen.train.callbacks import device_name

    notes: list[str] = []
    gpus = tf.config.list_physical_devices("GPU")
    devices = [_describe(tf, d) for d in tf.config.list_physical_devices()]
    if not gpus:
        devices = [d if not d.startswith("CPU") else f"{d} ({device_name().removeprefix('CPU: ')})" for d in devices]
    gpu_usable = bool(gpus) and _runs_on_gpu(tf, notes)
    datasets = {info.name: info.available for info in list_datasets() if info.name in BUILTINS}
    return Report(
        python=f"{platform.python_version()} ({sys.executable})",
        tensorflow=tf.__version__,
        keras=keras.__version__,
        backend=keras.backend.backend(),
        devices=devices,
        gpu_usable=gpu_usable,
        cuda_build=_cuda_build(tf),
        mixed_precision=_fast_policies(tf, gpus),
        threads=_threads(tf),
        cpu_count=os.cpu_count() or 1,
        cache_dir=str(default_cache_dir()),
        datasets=datasets,
        notes=notes,
    )


def format_report(report: Report) -> str:
    """The report as aligned ``name: value`` lines for a terminal."""
    datasets = ", ".join(f"{name}{'' if ok else ' (missing)'}" for name, ok in report.datasets.items())
    rows = [
        ("python", report.python),
        ("tensorflow", report.tensorflow),
        ("keras", f"{report.keras} (backend {report.backend})"),
        ("devices", "; ".join(report.devices) or "none"),
        ("gpu", "usable" if report.gpu_usable else "none usable: training runs on the CPU"),
        ("cuda build", report.cuda_build),
        ("mixed precision", ", ".join(report.mixed_precision) or "runs, but no hardware support here"),
        ("threads", f"{report.threads}; {report.cpu_count} CPUs"),
        ("cache", report.cache_dir),
        ("datasets", datasets),
    ]
    rows += [("note", note) for note in report.notes]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _describe(tf, device) -> str:
    """'GPU:0 (NVIDIA H100 80GB HBM3, compute 9.0)' from a physical device."""
    name = device.name.removeprefix("/physical_device:")
    if device.device_type != "GPU":
        return name
    details = tf.config.experimental.get_device_details(device)
    capability = details.get("compute_capability")
    extra = f", compute {capability[0]}.{capability[1]}" if capability else ""
    return f"{name} ({details.get('device_name', 'unknown GPU')}{extra})"


def _runs_on_gpu(tf, notes: list[str]) -> bool:
    try:
        with tf.device("/GPU:0"):
            value = float(tf.reduce_sum(tf.ones((8, 8)) @ tf.ones((8, 8))))
        return value == 512.0
    except Exception as err:  # a broken driver shows up here, not in device listing
        notes.append(f"GPU:0 is listed but failed a test op: {str(err).splitlines()[0]}")
        return False


def _cuda_build(tf) -> str:
    info = tf.sysconfig.get_build_info()
    if not info.get("is_cuda_build"):
        return "TensorFlow was built without CUDA (CPU only)"
    return f"CUDA {info.get('cuda_version', '?')}, cuDNN {info.get('cudnn_version', '?')}"


def _fast_policies(tf, gpus, cpu_flags: frozenset[str] | None = None) -> list[str]:
    """Policies with hardware support: on GPUs float16 from compute capability 7.0 (tensor
    cores), bfloat16 from 8.0; without a GPU, bfloat16 on CPUs with AVX512-BF16 or AMX (a conv
    VAE ran about 10% faster in it on such a 2-core CPU; float16 is emulated, slower)."""
    policies: set[str] = set()
    if not gpus:
        flags = _cpu_flags() if cpu_flags is None else cpu_flags
        return ["mixed_bfloat16"] if flags & {"avx512_bf16", "amx_bf16"} else []
    for gpu in gpus:
        major, _ = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        if major >= 7:
            policies.add("mixed_float16")
        if major >= 8:
            policies.add("mixed_bfloat16")
    return sorted(policies)


def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _threads(tf) -> str:
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    return f"intra-op {intra or 'auto'}, inter-op {inter or 'auto'}"
