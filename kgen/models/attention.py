"""DRAW's selective attention (Gregor et al. 2015, section 3.2): N x N grids of Gaussian filters.

Five numbers chosen by the decoder place a grid over an A x B image: its centre (g_x, g_y), the
stride delta between filters, the filters' variance sigma^2 and an intensity gamma. Reading
extracts an N x N glimpse ``gamma * F_Y x F_X^T``; writing pastes a patch back with
``F_Y^T w F_X / gamma``. Pixel coordinates here count from 0 (the paper counts from 1).
"""

from __future__ import annotations

from typing import NamedTuple

from keras import ops

# sigma^2 and delta below this keep the filterbank's normalisation finite.
_TINY = 1e-8


class Window(NamedTuple):
    """One grid's parameters per example, each of shape (batch,), in pixel units."""

    centre_x: object
    centre_y: object
    stride: object
    variance: object
    intensity: object


def window(params, height: int, width: int, size: int) -> Window:
    """The grid the raw (batch, 5) ``params`` (g~_x, g~_y, log sigma^2, log delta~, log gamma)
    describe over a ``height`` x ``width`` image, for an ``size`` x ``size`` grid (eq. 21-24)."""
    gx_raw, gy_raw, log_var, log_stride, log_gamma = (params[:, i] for i in range(5))
    centre_x = (width + 1) / 2.0 * (gx_raw + 1.0) - 1.0
    centre_y = (height + 1) / 2.0 * (gy_raw + 1.0) - 1.0
    stride = (max(height, width) - 1) / max(size - 1, 1) * ops.exp(log_stride)
    return Window(centre_x, centre_y, stride, ops.exp(log_var), ops.exp(log_gamma))


def filter_centres(centre, stride, size: int):
    """mu_i = g + (i - N/2 + 1/2) delta for i = 0..N-1: (batch, N) (eq. 19-20, 0-based)."""
    offsets = ops.arange(size, dtype="float32") - size / 2.0 + 0.5
    return centre[:, None] + offsets[None, :] * stride[:, None]


def filterbank(centre, stride, variance, size: int, pixels: int):
    """F[b, i, a] = exp(-(a - mu_i)^2 / (2 sigma^2)) / Z_i, each row summing to 1: (batch, N, pixels)."""
    mu = filter_centres(centre, stride, size)[:, :, None]
    a = ops.arange(pixels, dtype="float32")[None, None, :]
    f = ops.exp(-ops.square(a - mu) / (2.0 * ops.maximum(variance, _TINY)[:, None, None]))
    return f / ops.maximum(ops.sum(f, axis=-1, keepdims=True), _TINY)


def filterbanks(grid: Window, height: int, width: int, size: int):
    """(F_X, F_Y): (batch, N, width) and (batch, N, height)."""
    fx = filterbank(grid.centre_x, grid.stride, grid.variance, size, width)
    fy = filterbank(grid.centre_y, grid.stride, grid.variance, size, height)
    return fx, fy


def read(images, grid: Window, size: int):
    """gamma * F_Y x F_X^T for (batch, C, H, W) images: (batch, C, N, N) glimpses."""
    height, width = images.shape[2], images.shape[3]
    fx, fy = filterbanks(grid, height, width, size)
    glimpse = ops.matmul(ops.matmul(fy[:, None], images), ops.transpose(fx, (0, 2, 1))[:, None])
    return grid.intensity[:, None, None, None] * glimpse


def write(patches, grid: Window, height: int, width: int):
    """F_Y^T w F_X / gamma for (batch, C, N, N) patches: (batch, C, H, W)."""
    size = patches.shape[2]
    fx, fy = filterbanks(grid, height, width, size)
    canvas = ops.matmul(ops.matmul(ops.transpose(fy, (0, 2, 1))[:, None], patches), fx[:, None])
    return canvas / ops.maximum(grid.intensity, _TINY)[:, None, None, None]


def corners(grid: Window, size: int):
    """The grid's box in pixels, (batch, 4): x0, y0, x1, y1 of its outermost filter centres."""
    half = (size - 1) / 2.0 * grid.stride
    return ops.stack([grid.centre_x - half, grid.centre_y - half, grid.centre_x + half, grid.centre_y + half],
                     axis=-1)
