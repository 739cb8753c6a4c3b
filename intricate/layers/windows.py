"""The geometry of pooling windows on NHWC images, as TensorFlow lays them out: "valid" takes
the windows that fit, floor((in - pool) / stride) + 1 per axis; "same" gives ceil(in / stride)
per axis, the padding split evenly with its odd cell at the bottom/right. An int padding p is
PyTorch's: p cells on each side, floor((in + 2p - pool) / stride) + 1 windows per axis. Used by
the pooling layers (layers/pooling.py) and their kernel catalog entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Layer, check_size

PADDINGS = ("valid", "same")


def check_pair(name: str, value: object) -> tuple[int, int]:
    """A positive int or a pair of them (height, width) as a pair, or a ValueError naming it.
    The pair may be a tuple, a list or a 1-D NumPy array (``np.array(shape[:2]) // 4``)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = tuple(value.tolist())
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: expected a positive integer or a pair (height, width), "
                             f"received {value!r}")
        return check_size(f"{name}[0]", value[0]), check_size(f"{name}[1]", value[1])
    size = check_size(name, value)
    return size, size


def check_padding(value: object) -> str | tuple[int, int]:
    """"valid" or "same" (any case, as Keras takes them), or PyTorch's symmetric zero padding,
    a non-negative int or (height, width) pair (a tuple, list or 1-D NumPy array); or a
    ValueError naming it."""
    if isinstance(value, str) and value.lower() in PADDINGS:
        return value.lower()
    if isinstance(value, np.ndarray) and value.ndim == 1:  # a pair as check_pair takes them
        value = tuple(value.tolist())
    pair = value if isinstance(value, (tuple, list)) and len(value) == 2 else (value, value)
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0
               for p in pair):
        raise ValueError(f"padding: expected 'valid', 'same', or a non-negative integer or "
                         f"(height, width) pair of them (PyTorch's symmetric zero padding), "
                         f"received {value!r}")
    return int(pair[0]), int(pair[1])


def check_pool_padding(value: object, pool_size: tuple[int, int]) -> str | tuple[int, int]:
    """A pooling's padding (``check_padding``), an int or pair of at most half the pool each
    (so every window holds an image cell, as PyTorch requires); or a ValueError naming it."""
    padding = check_padding(value)
    if not isinstance(padding, str) and any(2 * pad > pool
                                            for pad, pool in zip(padding, pool_size)):
        raise ValueError(f"padding: expected at most half the pool_size {pool_size} on each "
                         f"side, as PyTorch (a window of padding alone has no value), received "
                         f"{value!r}; use a smaller padding or a larger pool_size")
    return padding


def check_image_shape(layer: Layer, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``input_shape`` as (height, width, channels), or a ValueError naming ``layer``."""
    if len(input_shape) != 3:
        raise ValueError(f"{layer!r} takes images (height, width, channels), received samples of "
                         f"shape {input_shape}; give the model input_shape=(H, W, C), or "
                         "Reshape((H, W, C)) before it")
    return input_shape


@dataclass(frozen=True)
class Windows:
    """Where the windows of a pooling lie on an image: the shader's Params, less ``count``."""

    height: int
    width: int
    channels: int
    out_height: int
    out_width: int
    pool_height: int
    pool_width: int
    stride_height: int
    stride_width: int
    pad_top: int = 0
    pad_left: int = 0
    count_padding: int = 0  # 1: averages divide by their cells in the padded image (PyTorch's)

    @property
    def trips(self) -> int:
        """Loop iterations of one invocation (the rows, then each row's cells, of a window)."""
        return self.pool_height * (self.pool_width + 1)

    def params(self, count: int, parts: int = 0, part_cells: int = 0) -> dict[str, int]:
        return {**self.__dict__, "count": count, "parts": parts, "part_cells": part_cells}


def out_size(size: int, pool: int, stride: int, padding: str | int,
             ceil_mode: bool = False) -> tuple[int, int]:
    """(outputs, padding before) along one axis of ``size`` cells, as TensorFlow counts them
    ("valid", "same"), or PyTorch (``padding`` cells on each side; ``ceil_mode`` rounds the
    count up, less a last window that would start past the image and its first padding)."""
    if not isinstance(padding, str):
        span = size + 2 * padding - pool
        outputs = (-(-span // stride) if ceil_mode else span // stride) + 1
        if ceil_mode and (outputs - 1) * stride >= size + padding:
            outputs -= 1
        return outputs, padding
    if padding == "valid":
        return (size - pool) // stride + 1, 0
    outputs = -(-size // stride)
    return outputs, max((outputs - 1) * stride + pool - size, 0) // 2
