"""Catalog entries of shaders/layers/pooling.wgsl: max and average pooling forward and backward
on overlapping "same" windows (3x3, stride 2, images of 17x13x10: odd sizes, channels not a
multiple of 4), and the global average's two passes, with the Params intricate/layers/pooling.py
computes for them. Sizes count images."""

from __future__ import annotations

import math

import numpy as np

from ...gpu import Device, fold_grid
from ...gpu.dtypes import FLOAT32, Precision
from ...layers.pooling import SHADER, AvgPool2D, MaxPool2D
from ...layers.windows import Windows
from .. import reference_pooling as reference
from .registry import Case, nbytes, register

IMAGE = (17, 13, 10)  # height, width, channels
POOL, STRIDE, PADDING = (3, 3), (2, 2), "same"
PART_CELLS = 50  # the global average's cells per partial sum: 221 cells in 5 parts
WORKGROUP = 256  # pooling.wgsl's default workgroup_size
SMALL, STANDARD = (1, 3), (2048,)
# Sums of N(0, 1) values cancel: float32 keeps ~1e-7 of their terms' size (a few), not of the
# result (a window of 9, a part of 50 cells, the up to 4 windows a cell's gradient sums).
WINDOW_ATOL, PART_ATOL = 1e-6, 1e-5
SHAPE = "x".join(map(str, IMAGE))
UNIT = f"images of {SHAPE}"


def _windows(kind: type) -> Windows:
    return kind(POOL, STRIDE, PADDING).windows_for(IMAGE)


def _case(windows: Windows, size: int, count: int, inputs: dict, outputs: dict[str, int],
          moved: int, precision: Precision, words: int = 0, sums: int = 0,
          parts: int = 0, part_cells: int = 0, argmax: bool = False) -> Case:
    """A Case of ``count`` invocations on ``size`` images; ``outputs`` name → elements per
    image; ``moved`` data elements read + written (each array once), ``words`` u32 ones."""
    return Case({**inputs, **windows.params(count, parts, part_cells)},
                fold_grid(math.ceil(count / WORKGROUP)),
                nbytes(precision, data=moved, sums=sums, words=words), f"{size}x{SHAPE}",
                shapes={name: (size, width) for name, width in outputs.items()},
                template={"argmax": argmax})


def _images(size: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((size, math.prod(IMAGE)), np.float32)


def _nhwc(rows: np.ndarray) -> np.ndarray:
    return rows.reshape(rows.shape[0], *IMAGE)


def _out_shape(windows: Windows) -> tuple[int, int, int]:
    return windows.out_height, windows.out_width, windows.channels


def _per_image(windows: Windows) -> tuple[int, int]:
    return math.prod(IMAGE), math.prod(_out_shape(windows))


def _max_forward_reference(inputs, **_):
    y, argmax = reference.max_pool_forward(_nhwc(inputs), POOL, STRIDE, PADDING)
    return {"outputs": y.reshape(len(y), -1), "argmax": argmax.reshape(len(y), -1)}


@register("pooling.max_forward", SHADER, "max_forward", reference=_max_forward_reference,
          small=SMALL, standard=STANDARD, unit=UNIT)
def max_forward(device: Device, size: int, rng: np.random.Generator,
                precision: Precision = FLOAT32) -> Case:
    windows = _windows(MaxPool2D)
    ins, outs = _per_image(windows)
    return _case(windows, size, size * outs, {"inputs": _images(size, rng)},
                 {"outputs": outs, "argmax": outs}, size * (ins + outs), precision,
                 words=size * outs, argmax=True)


def _max_backward_reference(argmax, grad_outputs, **_):
    windows = _windows(MaxPool2D)
    shape = (len(argmax), *IMAGE)
    dy = grad_outputs.reshape(len(argmax), *_out_shape(windows))
    return {"grad_inputs": reference.max_pool_backward(shape, argmax.astype(np.int64),
                                                       dy).reshape(len(argmax), -1)}


@register("pooling.max_backward", SHADER, "max_backward", reference=_max_backward_reference,
          small=SMALL, standard=STANDARD, unit=UNIT, atol=WINDOW_ATOL)
def max_backward(device: Device, size: int, rng: np.random.Generator,
                 precision: Precision = FLOAT32) -> Case:
    windows = _windows(MaxPool2D)
    ins, outs = _per_image(windows)
    argmax = reference.max_pool_forward(_nhwc(_images(size, rng)), POOL, STRIDE, PADDING)[1]
    inputs = {"argmax": argmax.reshape(size, -1).astype(np.uint32),
              "grad_outputs": rng.standard_normal((size, outs), np.float32)}
    return _case(windows, size, size * ins, inputs, {"grad_inputs": ins},
                 size * (ins + outs), precision, words=size * outs)


@register("pooling.average_forward", SHADER, "average_forward", small=SMALL,
          standard=STANDARD, unit=UNIT, atol=WINDOW_ATOL, reference=lambda inputs, **_: {
              "outputs": reference.average_pool_forward(_nhwc(inputs), POOL, STRIDE,
                                                        PADDING).reshape(len(inputs), -1)})
def average_forward(device: Device, size: int, rng: np.random.Generator,
                    precision: Precision = FLOAT32) -> Case:
    windows = _windows(AvgPool2D)
    ins, outs = _per_image(windows)
    case = _case(windows, size, size * outs, {"inputs": _images(size, rng)}, {"outputs": outs},
                 size * (ins + outs), precision)
    case.flops = size * outs * math.prod(POOL)
    return case


def _average_backward_reference(grad_outputs, **_):
    windows = _windows(AvgPool2D)
    dy = grad_outputs.reshape(len(grad_outputs), *_out_shape(windows))
    grad = reference.average_pool_backward((len(dy), *IMAGE), dy, POOL, STRIDE, PADDING)
    return {"grad_inputs": grad.reshape(len(dy), -1)}


@register("pooling.average_backward", SHADER, "average_backward", small=SMALL,
          standard=STANDARD, unit=UNIT, atol=WINDOW_ATOL,
          reference=_average_backward_reference)
def average_backward(device: Device, size: int, rng: np.random.Generator,
                     precision: Precision = FLOAT32) -> Case:
    windows = _windows(AvgPool2D)
    ins, outs = _per_image(windows)
    case = _case(windows, size, size * ins,
                 {"grad_outputs": rng.standard_normal((size, outs), np.float32)},
                 {"grad_inputs": ins}, size * (ins + outs), precision)
    case.flops = size * outs * math.prod(POOL)
    return case


def _global_windows() -> tuple[Windows, int]:
    height, width, channels = IMAGE
    return (Windows(height, width, channels, 1, 1, height, width, height, width),
            -(-height * width // PART_CELLS))


def _partial_sums_reference(inputs, **_):
    cells = _nhwc(inputs).reshape(len(inputs), IMAGE[0] * IMAGE[1], IMAGE[2])
    sums = [cells[:, first:first + PART_CELLS].sum(axis=1)
            for first in range(0, len(cells[0]), PART_CELLS)]
    return {"partials": np.stack(sums, axis=1).reshape(len(inputs), -1)}


@register("pooling.global_partial_sums", SHADER, "global_partial_sums", small=SMALL,
          standard=STANDARD, unit=f"{UNIT} in parts of {PART_CELLS} cells", atol=PART_ATOL,
          reference=_partial_sums_reference)
def global_partial_sums(device: Device, size: int, rng: np.random.Generator,
                        precision: Precision = FLOAT32) -> Case:
    windows, parts = _global_windows()
    count = size * parts * windows.channels
    case = _case(windows, size, count, {"inputs": _images(size, rng)},
                 {"partials": parts * windows.channels}, size * math.prod(IMAGE), precision,
                 sums=count, parts=parts, part_cells=PART_CELLS)
    case.flops = size * math.prod(IMAGE)
    return case


@register("pooling.global_average", SHADER, "global_average", small=SMALL,
          standard=STANDARD, unit=f"{UNIT} in parts of {PART_CELLS} cells", atol=WINDOW_ATOL,
          reference=lambda partials, **_: {"outputs": partials.reshape(
              len(partials), -1, IMAGE[2]).sum(axis=1) / (IMAGE[0] * IMAGE[1])})
def global_average(device: Device, size: int, rng: np.random.Generator,
                   precision: Precision = FLOAT32) -> Case:
    windows, parts = _global_windows()
    partials = _partial_sums_reference(_images(size, rng))["partials"].astype(np.float32)
    return _case(windows, size, size * windows.channels, {"partials": partials},
                 {"outputs": windows.channels}, size * windows.channels, precision,
                 sums=size * parts * windows.channels, parts=parts)
