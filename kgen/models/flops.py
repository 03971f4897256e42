"""Floating-point operations of a model counted from its layer shapes, for roofline estimates.

A multiply-add counts as 2 FLOPs; Dense, Conv2D and Conv2DTranspose are counted exactly (bias
adds and activations left out), BatchNormalization as 4 FLOPs per element; other layers are
free. A training step costs about 3 forward passes (the backward pass about twice the forward).
"""

from __future__ import annotations

import math

import keras

BATCH_NORM_FLOPS_PER_ELEMENT = 4  # subtract the mean, divide by the deviation, scale, shift
TRAINING_PASSES = 3  # forward + backward (about twice the forward)


def layer_flops(layer: keras.layers.Layer, input_shape, output_shape) -> int:
    """FLOPs of one forward pass of ``layer`` for one example (shapes without the batch axis)."""
    if isinstance(layer, keras.layers.Dense):
        return 2 * math.prod(input_shape) * layer.units
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # Every input pixel scatters a k x k x C_out kernel per input channel.
        height, width, channels_in = input_shape
        return 2 * height * width * math.prod(layer.kernel_size) * channels_in * layer.filters
    if isinstance(layer, keras.layers.Conv2D):
        height, width, _ = output_shape
        channels_in = input_shape[-1] // layer.groups
        return 2 * height * width * math.prod(layer.kernel_size) * channels_in * layer.filters
    if isinstance(layer, keras.layers.BatchNormalization):
        return BATCH_NORM_FLOPS_PER_ELEMENT * math.prod(output_shape)
    return 0


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one forward pass of a built functional or Sequential model, per example."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
            continue
        if isinstance(layer, keras.layers.InputLayer):
            continue
        total += layer_flops(layer, _shape(layer.input), _shape(layer.output))
    return total


def training_flops_per_example(model: keras.Model) -> int:
    """FLOPs one training example costs a kgen model (or any functional model).

    Encoder-decoder models: 3 x (encoder + decoder). GANs, per real image: each D update runs
    G forward once and D forward-backward on a real and a fake image; the G update, once per
    ``d_steps`` real minibatches, runs G and D forward-backward (4 G + 9 D when d_steps is 1).
    """
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        g, d = forward_flops(model.generator), forward_flops(model.discriminator)
        k = getattr(model, "d_steps", 1)
        return round(g + 2 * TRAINING_PASSES * d + TRAINING_PASSES * (g + d) / k)
    if hasattr(model, "encoder") and hasattr(model, "decoder"):
        return TRAINING_PASSES * (forward_flops(model.encoder) + forward_flops(model.decoder))
    return TRAINING_PASSES * forward_flops(model)


def _shape(tensor) -> tuple[int, ...]:
    """The per-example shape of a symbolic tensor; for a layer fed several, the first one's."""
    if isinstance(tensor, (list, tuple)):
        tensor = tensor[0]
    return tuple(int(d) for d in tensor.shape[1:])
