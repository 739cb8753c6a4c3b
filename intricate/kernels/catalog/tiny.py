"""Catalog entry of the one-workgroup fit (engine/tiny_fit.wgsl, see engine/tiny.py): one
shuffled epoch of a 3 → 5 (TanH) → 2 (Sigmoid) model, mean squared error, SGD, in batches of 4
(the last one partial when the size doesn't divide), both accuracies counted; checked against
the NumPy float64 training of the same steps."""

from __future__ import annotations

import math

import numpy as np

from ... import losses, optimizers
from ...engine import tiny
from ...gpu import Device
from ...gpu.dtypes import FLOAT32, Precision
from ...ops import statistics as layout
from .. import reference
from .registry import Case, nbytes, register

BATCH = 4
INPUTS, HIDDEN, OUTPUTS = 3, 5, 2
# (inputs, outputs, kernel offset, bias offset, activation, alpha, inputs_kept) per Dense layer,
# the parameters laid out as the engine lays them: W0, b0, W1, b1.
LAYERS = ((INPUTS, HIDDEN, 0, 15, "hyperbolic_tangent", 0.0, False),
          (HIDDEN, OUTPUTS, 20, 30, "sigmoid", 0.0, False))
NAMES = ["Dense", "TanH", "Dense", "Sigmoid"]
PARAMETERS = 32
SHAPES = [(INPUTS, HIDDEN), (HIDDEN,), (HIDDEN, OUTPUTS), (OUTPUTS,)]
ACCURACY = layout.BINARY | layout.CATEGORICAL
LEARNING_RATE = 0.1


def _setup(device: Device, size: int, rng: np.random.Generator,
           precision: Precision = FLOAT32) -> Case:
    rows = min(BATCH, size)
    steps = math.ceil(size / rows)
    inputs = {
        "source_x": rng.standard_normal((size, INPUTS)).astype(np.float32),
        "source_y": rng.uniform(0, 1, (size, OUTPUTS)).round().astype(np.float32),
        "orders": rng.permutation(size).astype(np.uint32),
        "parameters": (0.5 * rng.standard_normal(PARAMETERS)).astype(np.float32),
        "gradients": np.zeros(PARAMETERS, np.float32),
        "statistics": np.concatenate([rng.uniform(0, 1, layout.SLOT),
                                      np.zeros(layout.SIZE - layout.SLOT)]).astype(np.float32),
        "epoch_log": np.zeros((1, layout.SIZE), np.float32),
        "cursor": np.array([0, steps, 0, 0], np.uint32),
        "samples": size, "batch_size": rows, "steps_per_epoch": steps,
        "steps_per_dispatch": steps, "shuffled": 1, "accuracy": ACCURACY,
        **tiny.loss_factors(losses.MeanSquared(), rows, size - (steps - 1) * rows, OUTPUTS,
                            ACCURACY),
        **dict.fromkeys(optimizers.HYPERPARAMETERS, 0.0), "learning_rate": LEARNING_RATE}
    template = {"layers": LAYERS, "parameter_count": PARAMETERS, "batch_size": rows,
                "moments": 0, "optimizer": "sgd", "loss": "mean_squared", "softmax": False,
                "slot": layout.SLOT, "size": layout.SIZE}
    moved = nbytes(precision, data=size * (INPUTS + OUTPUTS), sums=4 * PARAMETERS + 2 * layout.SIZE,
                   words=size + 8)
    return Case(inputs, (1, 1, 1), moved, f"{size} samples", template=template,
                constants={"workgroup_size": 32}, flops=6 * size * PARAMETERS)


def _unflatten(flat: np.ndarray) -> list[np.ndarray]:
    parts, start = [], 0
    for shape in SHAPES:
        count = math.prod(shape)
        parts.append(flat[start:start + count].reshape(shape))
        start += count
    return parts


def _expected(source_x, source_y, orders, parameters, statistics, samples, batch_size,
              **_) -> dict[str, np.ndarray]:
    """The epoch in float64: each batch's statistics sums and SGD step, then the log row."""
    flat, sums = parameters.astype(np.float64), statistics.astype(np.float64)
    x, y = source_x.astype(np.float64), source_y.astype(np.float64)
    gradients = np.zeros(PARAMETERS)
    for start in range(0, samples, batch_size):
        batch = orders[start:start + batch_size]
        w0, b0, w1, b1 = _unflatten(flat)
        predictions = reference.sigmoid_forward(np.tanh(x[batch] @ w0 + b0) @ w1 + b1)
        sums[:layout.SLOT] += reference.statistics_sums(predictions, y[batch], "MeanSquared",
                                                        ACCURACY)
        _, parts = reference.loss_and_gradients(NAMES, _unflatten(flat), x[batch], y[batch],
                                                "MeanSquared")
        gradients = np.concatenate([np.ravel(part) for part in parts])
        flat = reference.sgd(flat, gradients, LEARNING_RATE)
    log = layout.epoch_means(sums, samples, 0)[None, :]
    sums[:layout.SLOT] = 0.0
    steps = math.ceil(samples / batch_size)
    return {"parameters": flat, "gradients": gradients, "statistics": sums, "epoch_log": log,
            "cursor": np.array([steps, steps, 0, 0], np.uint32)}


register("fit.tiny", "engine/tiny_fit.wgsl", "train", reference=_expected, small=(1, 10),
         standard=(512,), unit="samples (one epoch, batches of 4)", atol=1e-6,
         unsupported={"mixed_float16": "tiny fits train float32 and float64 models only"}
         )(_setup)
