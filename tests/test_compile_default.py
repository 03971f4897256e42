"""kgen trains without XLA on a CPU: measured slower there for every model (docs/BENCHMARKS.md,
benchmarks/compile_choices.py); Keras' "auto" keeps XLA for GPUs."""

import pytest
import tensorflow as tf

from kgen.config import GANConfig, RunConfig, TrainConfig, VAEConfig
from kgen.models import build_model


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="the CPU default")
@pytest.mark.parametrize("config, shape", [
    (RunConfig(TrainConfig(model="vae"), VAEConfig()), (8, 8, 1)),
    (RunConfig(TrainConfig(model="vae"), VAEConfig(arch="conv")), (28, 28, 1)),
    (RunConfig(TrainConfig(model="dcgan", dataset="fashion-mnist"), GANConfig()), (28, 28, 1)),
])
def test_models_compile_without_xla_on_a_cpu(config, shape):
    model = build_model(config, shape)
    assert model.jit_compile is False
    assert model.steps_per_execution == 1  # step events stay one per step
