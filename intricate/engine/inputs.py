"""The host-side checks every dataset passes before any GPU work (the first step of fit,
evaluate and predict): shapes, sample counts, dtypes and finite values, each failure a
ValueError naming the argument, the expected and the received value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..dataset import Dataset
from ..options import TrainingOptions

FLOAT32_MAX = float(np.finfo(np.float32).max)


def _ragged(name: str, values: object, width: int) -> ValueError:
    lengths = sorted({len(row) if isinstance(row, Sequence | np.ndarray) else 1
                      for row in values}) if isinstance(values, Sequence) else []
    return ValueError(f"{name}: expected a rectangular 2-D array [samples, {width}], received "
                      f"a ragged sequence (rows of lengths {lengths[:8]}); give every sample "
                      f"the same {width} values")


def check_seed(seed: object) -> int | None:
    """``seed`` as Model takes it: None or a non-negative int."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                             or seed < 0):
        raise ValueError(f"seed: expected None or a non-negative integer, received {seed!r}")
    return seed


def check_array(name: str, values: object, width: int, width_meaning: str) -> np.ndarray:
    """``values`` as a float32 [samples, width] array, or a ValueError that names ``name``."""
    try:
        array = np.asarray(values)
    except ValueError as error:  # NumPy refuses ragged nested lists ("inhomogeneous shape")
        raise _ragged(name, values, width) from error
    if array.dtype == object and isinstance(values, Sequence):
        raise _ragged(name, values, width)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected numbers (e.g. np.float32), received dtype "
                         f"{array.dtype}; convert with np.asarray({name}, dtype=np.float32)")
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array [samples, {width}], received shape "
                         f"{array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, received shape {array.shape}")
    if array.shape[1] != width:
        raise ValueError(f"{name}: expected {width} {width_meaning} per sample, received "
                         f"shape {array.shape}")
    if not np.isfinite(array).all():  # before the cast: 1e300 would read as inf
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name}: expected finite values, received "
                         f"{array[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    if array.dtype.kind == "f" and array.dtype.itemsize > 4 and (
            np.abs(array) > FLOAT32_MAX).any():
        bad = np.argwhere(np.abs(array) > FLOAT32_MAX)[0]
        raise ValueError(f"{name}: expected values within float32's range (±{FLOAT32_MAX:.4g}), "
                         f"received {array[tuple(bad)]} at index {tuple(int(i) for i in bad)}, "
                         "which overflows float32 to inf; scale the data")
    return np.ascontiguousarray(array, dtype=np.float32)


def check_dataset(x: object, y: object, inputs: int, outputs: int,
                  names: tuple[str, str] = ("x", "y")) -> tuple[np.ndarray, np.ndarray]:
    """Checks for ``fit``: x [samples, inputs], y [samples, outputs], finite numbers."""
    x_array = check_array(names[0], x, inputs, "features (the first layer's inputs)")
    try:
        flat = outputs == 1 and np.ndim(y) == 1  # Keras accepts y [samples] for one output
    except ValueError:  # ragged: check_array names it
        flat = False
    if flat:
        y = np.reshape(y, (-1, 1))
    y_array = check_array(names[1], y, outputs, "values (the model's outputs)")
    if len(x_array) != len(y_array):
        raise ValueError(f"{names[0]} and {names[1]}: expected the same number of samples, "
                         f"received {len(x_array)} in {names[0]} and {len(y_array)} in {names[1]}")
    return x_array, y_array


def check_weights(weights: Sequence[np.ndarray], shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """``weights`` as float32 arrays of ``shapes``, or a ValueError naming the bad one."""
    if len(weights) != len(shapes):
        raise ValueError(f"weights: expected {len(shapes)} arrays (shapes {shapes}), "
                         f"received {len(weights)}")
    checked = []
    for index, (values, shape) in enumerate(zip(weights, shapes)):
        array = np.asarray(values)
        if array.shape != shape or array.dtype.kind not in "biuf":
            raise ValueError(f"weights[{index}]: expected numbers of shape {shape}, received "
                             f"{array.dtype} of shape {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"weights[{index}]: expected finite values")
        checked.append(np.array(array, dtype=np.float32))
    return checked


def check_data(x: object, y: object, inputs: int, outputs: int):
    """fit's and evaluate's (x, y): checked arrays, or a Dataset x and no y (the Dataset is
    checked against the model once the model has its device)."""
    if not isinstance(x, Dataset):
        return check_dataset(x, y, inputs, outputs)
    if y is not None:
        raise ValueError("y: a Dataset carries its targets; pass the Dataset as x and no y")
    return x, None


def split_validation(x, y, options: TrainingOptions, inputs: int, outputs: int):
    """(x, y, validation or None): validation_data checked, or the last validation_split of
    the samples held out (Keras' rounding). A Dataset x (y None) is split into two Datasets
    (views, no copy); a Dataset validation_data is passed on (fit checks it on the device)."""
    if isinstance(options.validation_data, Dataset):
        return x, y, options.validation_data
    if options.validation_data is not None:
        return x, y, check_dataset(*options.validation_data, inputs, outputs,
                                   names=("validation_data x", "validation_data y"))
    if options.validation_split == 0:
        return x, y, None
    held_out = len(x) - int(len(x) * (1.0 - options.validation_split))  # Keras' rounding
    if held_out == 0 or held_out == len(x):
        raise ValueError(f"validation_split: {options.validation_split} of {len(x)} samples "
                         f"holds out {held_out}; expected at least one sample on each side")
    if isinstance(x, Dataset):
        return x.rows(0, len(x) - held_out), None, x.rows(len(x) - held_out, held_out)
    return x[:-held_out], y[:-held_out], (x[-held_out:], y[-held_out:])
