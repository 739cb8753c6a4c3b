"""Catalog entries of shaders/layers/dropout.wgsl (forward and backward, with per-workgroup step
counters that differ) and shaders/layers/normalization.wgsl (BatchNormalization's six kernels on
rows of CHANNELS channels, split in parts as intricate/layers/normalization.py splits them), with
the Params those layers compute. Dropout's sizes count elements; BatchNormalization's, rows."""

from __future__ import annotations

import math

import numpy as np

from ...gpu import Device, fold_grid
from ...gpu.dtypes import FLOAT32, Precision
from ...layers import dropout, normalization
from .. import reference_normalization as reference
from .registry import Case, nbytes, register

RATE, SEED = 0.3, (0x1234ABCD, 0x9E3779B9)
CHANNELS = 24  # not a power of two: channel = i % channels wraps mid-workgroup
EPSILON, MOMENTUM = 1e-3, 0.9
TEMPLATE = {"scale": True, "center": True, "activation": "identity", "inputs_kept": False,
            "derivative": "identity", "derivative_reads_inputs": False}  # no fused activation
# Sums over a part's rows (or a channel's parts) of N(0, 1)-sized terms cancel: float32 keeps
# ~1e-7 of their terms' size, not of the result.
SUM_ATOL = 1e-5


# Dropout -----------------------------------------------------------------------------------------
def _dropout_params(count: int) -> dict:
    return {"count": count, "threshold": round(RATE * 2**32), "seed_low": SEED[0],
            "seed_high": SEED[1], "scale": 1 / (1 - RATE)}


def _steps(count: int, rng: np.random.Generator) -> np.ndarray:
    """A counter per workgroup, each at another step (a counter read from the wrong group
    draws another mask)."""
    return rng.integers(1, 1000, math.ceil(count / dropout.WORKGROUP_SIZE)).astype(np.uint32)


def _keep(count, steps, threshold, seed_low, seed_high):
    return reference.dropout_keep(count, steps, seed_low, seed_high, threshold,
                                  dropout.WORKGROUP_SIZE)


def _dropout_case(size: int, inputs: dict, output: str, precision: Precision) -> Case:
    return Case({**inputs, **_dropout_params(size)},
                fold_grid(math.ceil(size / dropout.WORKGROUP_SIZE)),
                nbytes(precision, data=2 * size, words=2 * len(inputs["steps"])), str(size),
                shapes={output: (size,)}, flops=size)


@register("dropout.forward", dropout.SHADER, "forward", small=(1, 1000), standard=(1 << 24,),
          unit="elements", reference=lambda inputs, steps, count, threshold, seed_low,
          seed_high, scale: {
              "outputs": reference.dropout_forward(inputs, _keep(
                  count, steps, threshold, seed_low, seed_high), 1 - 1 / scale),
              "steps": steps + np.uint32(1)})
def dropout_forward(device: Device, size: int, rng: np.random.Generator,
                    precision: Precision = FLOAT32) -> Case:
    inputs = {"inputs": rng.standard_normal(size, np.float32), "steps": _steps(size, rng)}
    return _dropout_case(size, inputs, "outputs", precision)


@register("dropout.backward", dropout.SHADER, "backward", small=(1, 1000), standard=(1 << 24,),
          unit="elements", reference=lambda grad_outputs, steps, count, threshold, seed_low,
          seed_high, scale: {
              "grad_inputs": reference.dropout_backward(grad_outputs, _keep(
                  count, steps - np.uint32(1), threshold, seed_low, seed_high),
                  1 - 1 / scale)})
def dropout_backward(device: Device, size: int, rng: np.random.Generator,
                     precision: Precision = FLOAT32) -> Case:
    inputs = {"grad_outputs": rng.standard_normal(size, np.float32),
              "steps": _steps(size, rng)}
    return _dropout_case(size, inputs, "grad_inputs", precision)


# BatchNormalization --------------------------------------------------------------------------
def _split(rows: int) -> tuple[int, int]:
    return normalization.split_rows(rows, CHANNELS)


def _params(rows: int) -> dict:
    part_rows, parts = _split(rows)
    return {"rows": rows, "channels": CHANNELS, "part_rows": part_rows, "parts": parts,
            "count": rows * CHANNELS, "through_batch": 1, "epsilon": EPSILON,
            "momentum": MOMENTUM, "alpha": 0.0}


def _parts_of(values: np.ndarray, part_rows: int) -> list[np.ndarray]:
    return [values[first:first + part_rows] for first in range(0, len(values), part_rows)]


def _statistics_parts(inputs, part_rows, **_):
    parts = _parts_of(inputs, part_rows)
    means = np.stack([part.mean(axis=0) for part in parts])
    return {"partial_first": means,
            "partial_second": np.stack([((part - mean) ** 2).sum(axis=0)
                                        for part, mean in zip(parts, means)])}


def _gradient_parts(inputs, grad_outputs, mean, variance, part_rows, epsilon, **_):
    normalized = (inputs - mean) / np.sqrt(variance + epsilon)
    products = grad_outputs * normalized
    return {"partial_first": np.stack([p.sum(0) for p in _parts_of(grad_outputs, part_rows)]),
            "partial_second": np.stack([p.sum(0) for p in _parts_of(products, part_rows)])}


def _rows(size: int, rng: np.random.Generator, centre: float = 0.0) -> np.ndarray:
    return (centre + rng.standard_normal((size, CHANNELS))).astype(np.float32)


def _channel_values(rng: np.random.Generator, low: float = 0.5) -> np.ndarray:
    return rng.uniform(low, 2.0, CHANNELS).astype(np.float32)


def _batch(size: int, rng: np.random.Generator) -> dict:
    """Inputs [size, CHANNELS] with their batch mean and variance."""
    x = _rows(size, rng, centre=1.0)
    mean, variance = reference.batch_norm_moments(x)
    return {"inputs": x, "mean": mean.astype(np.float32),
            "variance": variance.astype(np.float32)}


def _bn_case(size: int, inputs: dict, shapes: dict, grid: str, data: int, sums: int,
             precision: Precision) -> Case:
    """``grid``: "parts" (an invocation per part and channel), "channels" (a workgroup each)
    or "elements"; ``data``/``sums`` elements moved of the data / accumulate types."""
    parts = _split(size)[1]
    threads = {"parts": parts * CHANNELS, "elements": size * CHANNELS}
    groups = (CHANNELS if grid == "channels" else
              math.ceil(threads[grid] / normalization.WORKGROUP_SIZE))
    shapes = {name: tuple(parts if axis == "parts" else axis for axis in shape)
              for name, shape in shapes.items()}
    constants = ({"workgroup_size": normalization.MERGE_WORKGROUP_SIZE} if grid == "channels"
                 else {})
    return Case({**inputs, **_params(size)}, fold_grid(groups),
                nbytes(precision, data=data, sums=sums), f"{size}x{CHANNELS}", shapes=shapes,
                template=TEMPLATE, constants=constants, flops=4 * size * CHANNELS)


_BN = {"small": (1, 1000), "standard": (1 << 18,), "unit": f"rows of {CHANNELS} channels"}
_PARTIALS = {"partial_first": ("parts", CHANNELS), "partial_second": ("parts", CHANNELS)}


@register("normalization.statistics_parts", normalization.SHADER, "statistics_parts", **_BN,
          atol=SUM_ATOL, reference=_statistics_parts)
def statistics_parts(device: Device, size: int, rng: np.random.Generator,
                     precision: Precision = FLOAT32) -> Case:
    return _bn_case(size, {"inputs": _rows(size, rng, 1.0)}, _PARTIALS, "parts",
                    size * CHANNELS, 2 * _split(size)[1] * CHANNELS, precision)


def _statistics(partial_first, partial_second, moving_mean, moving_variance, rows, part_rows,
                momentum, **_):
    counts = np.minimum(part_rows, rows - part_rows * np.arange(len(partial_first)))[:, None]
    mean = (counts * partial_first).sum(axis=0) / rows
    variance = (partial_second + counts * (partial_first - mean) ** 2).sum(axis=0) / rows
    return {"mean": mean, "variance": variance,
            "moving_mean": reference.batch_norm_moving(moving_mean, mean, momentum),
            "moving_variance": reference.batch_norm_moving(moving_variance, variance, momentum)}


@register("normalization.statistics", normalization.SHADER, "statistics", **_BN,
          atol=SUM_ATOL, reference=_statistics)
def statistics(device: Device, size: int, rng: np.random.Generator,
               precision: Precision = FLOAT32) -> Case:
    partials = _statistics_parts(_rows(size, rng, 1.0).astype(np.float64), _split(size)[0])
    inputs = {name: values.astype(np.float32) for name, values in partials.items()}
    inputs.update(moving_mean=rng.standard_normal(CHANNELS, np.float32),
                  moving_variance=_channel_values(rng))
    shapes = {name: (CHANNELS,) for name in ("mean", "variance")}
    return _bn_case(size, inputs, shapes, "channels", 0,
                    2 * _split(size)[1] * CHANNELS + 6 * CHANNELS, precision)


@register("normalization.normalize", normalization.SHADER, "normalize", **_BN, atol=1e-6,
          reference=lambda inputs, mean, variance, gamma, beta, epsilon, **_: {
              "outputs": reference.batch_norm_forward(inputs, mean, variance, gamma, beta,
                                                      epsilon)})
def normalize(device: Device, size: int, rng: np.random.Generator,
              precision: Precision = FLOAT32) -> Case:
    inputs = {**_batch(size, rng), "gamma": _channel_values(rng),
              "beta": rng.standard_normal(CHANNELS, np.float32)}
    return _bn_case(size, inputs, {"outputs": (size, CHANNELS)}, "elements",
                    2 * size * CHANNELS, 2 * CHANNELS, precision)


@register("normalization.gradient_parts", normalization.SHADER, "gradient_parts", **_BN,
          atol=SUM_ATOL, reference=_gradient_parts)
def gradient_parts(device: Device, size: int, rng: np.random.Generator,
                   precision: Precision = FLOAT32) -> Case:
    inputs = {**_batch(size, rng), "grad_outputs": _rows(size, rng)}
    return _bn_case(size, inputs, _PARTIALS, "parts", 2 * size * CHANNELS,
                    2 * _split(size)[1] * CHANNELS, precision)


@register("normalization.gradient_sums", normalization.SHADER, "gradient_sums", **_BN,
          atol=SUM_ATOL, reference=lambda partial_first, partial_second, **_: {
              "channel_sums": np.stack([partial_first.sum(0), partial_second.sum(0)]),
              "grad_gamma": partial_second.sum(0), "grad_beta": partial_first.sum(0)})
def gradient_sums(device: Device, size: int, rng: np.random.Generator,
                  precision: Precision = FLOAT32) -> Case:
    parts = _split(size)[1]
    inputs = {"partial_first": rng.standard_normal((parts, CHANNELS), np.float32),
              "partial_second": rng.standard_normal((parts, CHANNELS), np.float32)}
    shapes = {"channel_sums": (2, CHANNELS), "grad_gamma": (CHANNELS,),
              "grad_beta": (CHANNELS,)}
    return _bn_case(size, inputs, shapes, "channels", 0, 2 * parts * CHANNELS + 4 * CHANNELS,
                    precision)


def _grad_inputs(inputs, grad_outputs, mean, variance, gamma, channel_sums, rows, epsilon,
                 through_batch, **_):
    spread = 1 / np.sqrt(variance + epsilon)
    normalized = (inputs - mean) * spread
    share = through_batch / rows
    return {"grad_inputs": gamma * spread * (grad_outputs - channel_sums[0] * share
                                             - normalized * channel_sums[1] * share)}


@register("normalization.grad_inputs_of", normalization.SHADER, "grad_inputs_of", **_BN,
          atol=1e-6, reference=_grad_inputs)
def grad_inputs_of(device: Device, size: int, rng: np.random.Generator,
                   precision: Precision = FLOAT32) -> Case:
    batch = _batch(size, rng)
    grad_outputs = _rows(size, rng)
    normalized = (batch["inputs"] - batch["mean"]) / np.sqrt(batch["variance"] + EPSILON)
    sums = np.stack([grad_outputs.sum(0), (grad_outputs * normalized).sum(0)])
    inputs = {**batch, "grad_outputs": grad_outputs, "gamma": _channel_values(rng),
              "channel_sums": sums.astype(np.float32)}
    return _bn_case(size, inputs, {"grad_inputs": (size, CHANNELS)}, "elements",
                    3 * size * CHANNELS, 5 * CHANNELS, precision)
