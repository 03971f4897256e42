"""FLOPs counted from layer shapes, checked against hand counts on tiny models."""

import keras
import pytest

from kgen.config import GANConfig, RunConfig, TrainConfig, VAEConfig
from kgen.models import build_model
from kgen.models.flops import forward_flops, training_flops_per_example


def test_conv_dense_and_transposed_conv_layers_are_counted_by_hand():
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, padding="same"),  # 2 * 8*8 outputs * 3*3*1 taps * 4 filters = 4608
        keras.layers.Conv2D(6, 3, strides=2, padding="same"),  # 2 * 4*4 * 3*3*4 * 6 = 6912
        keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same"),  # 2 * 4*4 inputs * 3*3*6 * 3 = 5184
        keras.layers.BatchNormalization(),  # 4 * 8*8*3 = 768
        keras.layers.ReLU(),  # free
        keras.layers.Flatten(),
        keras.layers.Dense(10),  # 2 * 192 * 10 = 3840
    ])
    assert forward_flops(model) == 4608 + 6912 + 5184 + 768 + 3840
    assert training_flops_per_example(model) == 3 * forward_flops(model)


def test_a_vae_costs_three_passes_of_encoder_and_decoder():
    config = RunConfig(TrainConfig(model="vae"), VAEConfig(latent_dim=8, hidden=(256, 128)))
    model = build_model(config, (8, 8, 1))
    encoder = 2 * (64 * 256 + 256 * 128 + 2 * 128 * 8)  # two hidden layers, then z_mean and z_log_var
    decoder = 2 * (8 * 128 + 128 * 256 + 256 * 64)
    assert forward_flops(model.encoder) == encoder and forward_flops(model.decoder) == decoder
    assert training_flops_per_example(model) == 3 * (encoder + decoder)


@pytest.mark.parametrize("d_steps", [1, 2])
def test_a_gan_step_is_counted_per_real_image(d_steps):
    config = RunConfig(TrainConfig(model="gan", dataset="digits"),
                       GANConfig(latent_dim=4, hidden=(16,), d_steps=d_steps))
    model = build_model(config, (8, 8, 1))
    g = 2 * (4 * 16 + 16 * 64)
    d = 2 * (64 * 16 + 16 * 1)
    assert forward_flops(model.generator) == g and forward_flops(model.discriminator) == d
    assert training_flops_per_example(model) == round(g + 6 * d + 3 * (g + d) / d_steps)
