"""Catalog entries of shaders/ops/: the copy kernel (the bandwidth roofline), the batch gather,
the epoch's means, and the GEMMs (tiled for GPUs, subgroup for software adapters, split-K sums)
rendered as intricate/ops/gemm/ renders them for a row-major a · b."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ...gpu import Device, fold_grid
from ...gpu.dtypes import FLOAT32, Precision
from ...ops import gather
from ...ops import statistics as layout  # (statistics is also a binding's name)
from ...ops.gemm import codegen, subgroup, tiled
from .registry import Case, nbytes, register

FLOAT = 4  # bytes per f32 and u32
GATHER_WIDTHS = (784, 10)  # x and y columns of a gathered batch (MNIST-like; x spans 4 groups)
SPLITS = 4  # K chunks summed by gemm.sum_splits


@register("copy", "ops/copy.wgsl", "copy", unit="floats (rounded up to a multiple of 4)",
          reference=lambda source, **_: {"destination": source},
          small=(4, 4100), standard=(1 << 26,))
def copy(device: Device, size: int, rng: np.random.Generator,
         precision: Precision = FLOAT32) -> Case:
    # Whole vec4s, and at most what one binding holds (lavapipe: 128 MiB): the roofline copy
    # must be large, to stream past the caches of big GPUs.
    limit = device.limits["max-storage-buffer-binding-size"] // FLOAT // 4 * 4
    floats = min(-(-size // 4) * 4, limit)
    source = rng.standard_normal(floats, np.float32)
    return Case({"source": source, "count": floats // 4}, fold_grid(-(-floats // 4 // 256)),
                nbytes(precision, words=2 * floats), str(floats),  # vec4<f32> in any dtype
                shapes={"destination": (floats,)})


@register("gather", "ops/gather.wgsl", "gather_rows",
          unit=f"rows of {GATHER_WIDTHS[0]} + {GATHER_WIDTHS[1]} columns",
          reference=lambda indices, source_x, source_y, **_: {
              "batch_x": source_x[indices], "batch_y": source_y[indices]},
          small=(1, 37), standard=(16384,))
def gather_rows(device: Device, size: int, rng: np.random.Generator,
                precision: Precision = FLOAT32) -> Case:
    x_width, y_width = GATHER_WIDTHS
    samples = 2 * size
    inputs = {"indices": rng.permutation(samples)[:size].astype(np.uint32),
              "source_x": rng.standard_normal((samples, x_width), np.float32),
              "source_y": rng.standard_normal((samples, y_width), np.float32),
              "rows": size, "x_width": x_width, "y_width": y_width}
    x_lanes, y_lanes = (gather.lanes(width, precision.itemsize) for width in GATHER_WIDTHS)
    constants, grid = gather.launch(size, x_width // x_lanes, y_width // y_lanes)
    return Case(inputs, grid, nbytes(precision, data=2 * size * (x_width + y_width), words=size),
                f"{size}x({x_width}+{y_width})",
                shapes={"batch_x": (size, x_width), "batch_y": (size, y_width)},
                constants={"workgroup_size": gather.GATHER_WORKGROUP, **constants},
                template=gather.template(x_lanes, y_lanes))


def _epoch_means(statistics, train_count, val_count, **_):
    return {"epoch_result": layout.epoch_means(statistics, train_count, val_count),
            "statistics": np.zeros_like(statistics)}


@register("finish_epoch", "ops/statistics.wgsl", "finish_epoch",
          unit=f"floats (always the layout's {layout.SIZE})", reference=_epoch_means,
          small=(layout.SIZE,), standard=(layout.SIZE,))
def finish_epoch(device: Device, size: int, rng: np.random.Generator,
                 precision: Precision = FLOAT32) -> Case:
    inputs = {"statistics": rng.uniform(0, 100, layout.SIZE).astype(np.float32),
              "train_count": 37, "val_count": 0}  # no validation: divides by 1, not 0
    return Case(inputs, (1, 1, 1), nbytes(precision, sums=3 * layout.SIZE), str(layout.SIZE),
                shapes={"epoch_result": (layout.SIZE,)},
                template={"slot": layout.SLOT, "size": layout.SIZE},
                flops=layout.SIZE)


def _gemm_params(m: int, n: int, k: int, splits: int = 1) -> dict[str, float]:
    """interface.wgsl's Params for row-major a [m, k] and b [k, n] (record_gemm's layout)."""
    return {"m": m, "n": n, "k": k, "a_row_stride": k, "a_col_stride": 1, "b_row_stride": n,
            "b_col_stride": 1, "k_chunk": math.ceil(k / splits), "splits": splits, "alpha": 0.0}


def _operands(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    # Uniform in [0, 1): no cancellation, so every entry of a · b is judged relatively.
    return (rng.random((size, size), np.float32), rng.random((size, size), np.float32))


def _matmul(a, b=None, b4=None, **_):
    """c = a · b; b arrives as b4 alone when only its vec4 binding is read (subgroup.wgsl)."""
    return {"c": a.astype(np.float64) @ (b if b is not None else b4)}


def _gemm_case(size: int, inputs: dict, grid: tuple[int, int, int], template: dict,
               precision: Precision) -> Case:
    return Case(inputs, grid, nbytes(precision, data=3 * size * size), f"{size}x{size}x{size}",
                shapes={"c": (size, size)}, template=template, flops=2 * size ** 3)


@register("gemm.tiled", "ops/gemm/tiled.wgsl", "gemm", unit="m = n = k", reference=_matmul,
          small=(33, 128), standard=(4096,))
def tiled_gemm(device: Device, size: int, rng: np.random.Generator,
               precision: Precision = FLOAT32) -> Case:
    limit, itemsize = device.limits["max-compute-workgroup-storage-size"], precision.itemsize
    config = (tiled.choose_on_cpu(size, size, limit, itemsize) if device.adapter_info.get(
        "adapter_type") == "CPU" else tiled.choose(size, size, limit, itemsize))
    if tiled.split_k(config, size, size, size)[0] > 1:
        raise ValueError(f"gemm.tiled: {size}³ splits K on this adapter; time it as "
                         "gemm.tiled at a size whose output fills the GPU (>= 2048)")
    vec4 = size % 4 == 0 and tiled.vector_loads_fit(config, config.bm)
    vec4_b = size % 4 == 0 and tiled.vector_loads_fit(config, config.bn)
    a, b = _operands(rng, size)
    inputs = {"a": a, "b": b, **({"a4": a} if vec4 else {}), **({"b4": b} if vec4_b else {}),
              **_gemm_params(size, size, size)}
    template = codegen.template(config, True, True, bias=False, activation=None, a_vec4=vec4,
                                b_vec4=vec4_b, precision=precision)
    grid = (math.ceil(size / config.bn), math.ceil(size / config.bm), 1)
    return _gemm_case(size, inputs, grid, template, precision)


def _subgroup_config(device: Device, size: int) -> tuple[subgroup.SubgroupConfig, int]:
    width = subgroup.width(device)
    # From buffers: the texel path's copies are separate steps the catalog doesn't record.
    return dataclasses.replace(subgroup.choose(size, size, size, width), texels=False), width


@register("gemm.subgroup", "ops/gemm/subgroup.wgsl", "gemm", unit="m = n = k",
          reference=_matmul, small=(33, 128), standard=(2048,), available=subgroup.usable,
          needs="a software adapter with subgroups (on GPUs a workgroup of W lanes is not "
          "always one subgroup)")
def subgroup_gemm(device: Device, size: int, rng: np.random.Generator,
                  precision: Precision = FLOAT32) -> Case:
    """Only on software adapters with subgroups (subgroup.usable: on GPUs a workgroup of W
    lanes is not always one subgroup)."""
    config, width = _subgroup_config(device, size)
    if subgroup.split_k(device, size)[0] > 1:
        raise ValueError(f"gemm.subgroup: K = {size} splits on this adapter; use a smaller size")
    a, b = _operands(rng, size)
    b_vec4 = "n" if size % 4 == 0 else None  # b's rows as whole vec4s (subgroup.record's test)
    inputs = {"a": a, **({"b4": b} if b_vec4 else {"b": b}), **_gemm_params(size, size, size)}
    template = subgroup.template(config, width, b_vec4, False, None, None, False,
                                 precision=precision)
    grid = (math.ceil(size / (4 * width * config.quads)), math.ceil(size / config.rows), 1)
    return _gemm_case(size, inputs, grid, template, precision)


@register("gemm.sum_splits", "ops/gemm/tiled.wgsl", "sum_splits",
          unit=f"m = n (c's sides; {SPLITS} K chunks)",
          reference=lambda partials, **_: {"c": partials.astype(np.float64).sum(axis=0)},
          small=(1, 33), standard=(4096,))
def sum_splits(device: Device, size: int, rng: np.random.Generator,
               precision: Precision = FLOAT32) -> Case:
    # Past the caches of big GPUs (256 MB of partials), within what one binding holds.
    limit = (device.limits["max-storage-buffer-binding-size"]
             // np.dtype(precision.parameters).itemsize // SPLITS)  # partials: accumulate type
    size = min(size, math.isqrt(limit))
    partials = rng.random((SPLITS, size, size), np.float32)  # no cancellation
    inputs = {"partials": partials, **_gemm_params(size, size, SPLITS * 64, SPLITS)}
    template = codegen.template(tiled.SUM_CONFIG, True, True, bias=False, activation=None,
                                split=True, precision=precision)
    return Case(inputs, fold_grid(math.ceil(size * size / 256)),
                nbytes(precision, data=size * size, sums=SPLITS * size * size),
                f"{SPLITS}x{size}x{size}",
                shapes={"c": (size, size)}, template=template, flops=SPLITS * size * size)
