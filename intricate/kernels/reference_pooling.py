"""The NumPy float64 oracle of the pooling layers (intricate/layers/pooling.py), forward beside
backward, written as plainly as possible: a loop over the windows of NHWC images
[batch, height, width, channels]. Part of intricate/kernels/reference.py's oracle (tests import
both through tests/reference.py), kept apart so each module stays short.

Windows follow TensorFlow: "valid" gives floor((in - pool) / stride) + 1 windows per axis, "same"
ceil(in / stride) with the padding's odd cell at the bottom/right; an int padding p (or a pair,
one per axis) is PyTorch's, p cells on each side (and ``ceil_mode`` its rounding up). Padding
cells take no part, except in an average with ``count_include_pad`` (PyTorch's), which divides
by the cells inside the padded image.
"""

from __future__ import annotations

import math

import numpy as np


def pool_windows(size: int, pool: int, stride: int, padding, ceil_mode=False) -> list[slice]:
    """The cells of each window along one axis of ``size`` cells (padding clipped off)."""
    return [slice(max(start, 0), min(end, size))
            for start, end in padded_windows(size, pool, stride, padding, ceil_mode)]


def padded_windows(size: int, pool: int, stride: int, padding,
                   ceil_mode=False) -> list[tuple[int, int]]:
    """(start, end) of each window along one axis, padding cells included (start may be < 0),
    clipped to the padded image as PyTorch's divisor is. ``ceil_mode`` (PyTorch's, "valid"
    then padding 0): windows while one starts inside the image or its first padding."""
    if ceil_mode or not isinstance(padding, str):  # PyTorch's count, as its docs give it
        padding = 0 if padding == "valid" else padding
        span = size + 2 * padding - pool
        count = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
        if ceil_mode and (count - 1) * stride >= size + padding:
            count -= 1  # the last window would start in the bottom/right padding
        return [(i * stride - padding, min(i * stride - padding + pool, size + padding))
                for i in range(count)]
    if padding == "valid":
        count, before = (size - pool) // stride + 1, 0
    else:
        count = -(-size // stride)
        before = max((count - 1) * stride + pool - size, 0) // 2
    return [(index * stride - before, index * stride - before + pool) for index in range(count)]


def _axes(padding):
    """``padding`` per axis: a string or int for both, or a (height, width) pair."""
    return tuple(padding) if isinstance(padding, (tuple, list)) else (padding, padding)


def _windows(x, pool_size, strides, padding, ceil_mode=False):
    _, height, width, _ = x.shape
    pads = _axes(padding)
    rows = pool_windows(height, pool_size[0], strides[0], pads[0], ceil_mode)
    columns = pool_windows(width, pool_size[1], strides[1], pads[1], ceil_mode)
    return [(i, j, r, c) for i, r in enumerate(rows) for j, c in enumerate(columns)], (
        len(rows), len(columns))


def _divisors(x_shape, pool_size, strides, padding, count_include_pad, ceil_mode):
    """[OH, OW]: what each window's average divides by (its real cells, or with
    ``count_include_pad`` its cells inside the padded image)."""
    lengths = []
    for size, pool, stride, pad in zip(x_shape[1:3], pool_size, strides, _axes(padding)):
        spans = padded_windows(size, pool, stride, pad, ceil_mode)
        if not count_include_pad:
            spans = [(max(first, 0), min(end, size)) for first, end in spans]
        lengths.append(np.array([end - first for first, end in spans], np.float64))
    return np.outer(*lengths)


def max_pool_forward(x, pool_size, strides, padding="valid", ceil_mode=False):
    """(y [batch, OH, OW, C], argmax [batch, OH, OW, C]: each window's first maximal cell
    h · width + w in row-major order, or its first NaN)."""
    x = np.asarray(x, np.float64)
    batch, _, width, channels = x.shape
    windows, (out_h, out_w) = _windows(x, pool_size, strides, padding, ceil_mode)
    y = np.empty((batch, out_h, out_w, channels))
    argmax = np.empty((batch, out_h, out_w, channels), np.int64)
    for i, j, rows, columns in windows:
        cells = x[:, rows, columns, :].reshape(batch, -1, channels)
        nan = np.isnan(cells)
        # The first NaN where there is one, else the first maximum (np.argmax takes the first).
        first = np.where(nan.any(axis=1), nan.argmax(axis=1),
                         np.nan_to_num(cells, nan=-np.inf).argmax(axis=1))
        y[:, i, j, :] = np.take_along_axis(cells, first[:, None, :], axis=1)[:, 0, :]
        window_width = columns.stop - columns.start
        argmax[:, i, j, :] = ((rows.start + first // window_width) * width
                              + columns.start + first % window_width)
    return y, argmax


def max_pool_backward(x_shape, argmax, grad_outputs):
    """dE/dx [batch, H, W, C]: each dE/dy added to its window's argmax cell."""
    batch, height, width, channels = x_shape
    grad = np.zeros((batch, height * width, channels))
    argmax = np.asarray(argmax).reshape(batch, -1, channels)
    grad_outputs = np.asarray(grad_outputs, np.float64).reshape(batch, -1, channels)
    for n in range(batch):
        for c in range(channels):
            np.add.at(grad[n, :, c], argmax[n, :, c], grad_outputs[n, :, c])
    return grad.reshape(x_shape)


def average_pool_forward(x, pool_size, strides, padding="valid", count_include_pad=False,
                         ceil_mode=False):
    """y [batch, OH, OW, C]: each window's sum over its real cells / its divisor."""
    x = np.asarray(x, np.float64)
    windows, (out_h, out_w) = _windows(x, pool_size, strides, padding, ceil_mode)
    divisors = _divisors(x.shape, pool_size, strides, padding, count_include_pad, ceil_mode)
    y = np.empty((x.shape[0], out_h, out_w, x.shape[3]))
    for i, j, rows, columns in windows:
        y[:, i, j, :] = x[:, rows, columns, :].sum(axis=(1, 2)) / divisors[i, j]
    return y


def average_pool_backward(x_shape, grad_outputs, pool_size, strides, padding="valid",
                          count_include_pad=False, ceil_mode=False):
    """dE/dx [batch, H, W, C]: each dE/dy / its window's divisor, at each of its real cells."""
    grad = np.zeros(x_shape)
    grad_outputs = np.asarray(grad_outputs, np.float64)
    windows, _ = _windows(grad, pool_size, strides, padding, ceil_mode)
    divisors = _divisors(x_shape, pool_size, strides, padding, count_include_pad, ceil_mode)
    for i, j, rows, columns in windows:
        grad[:, rows, columns, :] += grad_outputs[:, i, j, None, None, :] / divisors[i, j]
    return grad


def global_average_pool_forward(x):
    """y [batch, C]: the mean over height and width."""
    return np.asarray(x, np.float64).mean(axis=(1, 2))


def global_average_pool_backward(x_shape, grad_outputs):
    """dE/dx [batch, H, W, C] = dE/dy [batch, C] / (H · W) at every cell."""
    _, height, width, _ = x_shape
    grad = np.asarray(grad_outputs, np.float64)[:, None, None, :] / (height * width)
    return np.broadcast_to(grad, x_shape).copy()
