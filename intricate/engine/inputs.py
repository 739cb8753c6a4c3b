"""The host-side checks every dataset passes before any GPU work (the first step of fit,
evaluate and predict): shapes, sample counts, dtypes and finite values, each failure a
ValueError naming the argument, the expected and the received value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..dataset import Dataset
from ..gpu.dtypes import first_beyond, wider_dtypes
from ..options import TrainingOptions

FLOAT32 = np.dtype(np.float32)  # the default model dtype
Shape = int | tuple[int, ...]  # a per-sample shape; an int is flat samples of that width


def _ragged(name: str, values: object, shape: tuple[int, ...]) -> ValueError:
    lengths = sorted({len(row) if isinstance(row, Sequence | np.ndarray) else 1
                      for row in values}) if isinstance(values, Sequence) else []
    kind, same = ("2-D array", f"{shape[0]} values") if len(shape) == 1 else ("array", "shape")
    return ValueError(f"{name}: expected a rectangular {kind} [samples, "
                      f"{', '.join(map(str, shape))}], received a ragged sequence (rows of "
                      f"lengths {lengths[:8]}); give every sample the same {same}")


def check_seed(seed: object) -> int | None:
    """``seed`` as Model takes it: None or a non-negative int."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                             or seed < 0):
        raise ValueError(f"seed: expected None or a non-negative integer, received {seed!r}")
    return seed


def check_array(name: str, values: object, shape: int | Sequence[int], meaning: str,
                dtype: np.dtype = FLOAT32) -> np.ndarray:
    """``values`` as samples of per-sample ``shape`` (an int: flat samples of that width), or a
    ValueError that names ``name``; returned as rows [samples, prod(shape)] of the model's
    ``dtype`` (a reshape: no copy beyond the conversion), as the GPU holds them. The conversion
    rule (README, "Precision"): any bool, integer or float array is converted to ``dtype`` by
    NumPy's rounding to nearest; values beyond ``dtype``'s range (float64 data for a float32
    model; 70000, of any type, for mixed_float16's float16) are refused rather than turned into
    inf.

    Args:
        meaning: what a flat sample's values are ("features (the first layer's inputs)").
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    layout = ", ".join(map(str, shape))
    if isinstance(values, Dataset):  # validation_data=(data, None), fit(x, data)
        raise ValueError(f"{name}: received a Dataset inside a pair of arrays; a Dataset "
                         "goes alone, holding its targets: fit(data), evaluate(data), "
                         "validation_data=data")
    try:
        array = np.asarray(values)
    except ValueError as error:  # NumPy refuses ragged nested lists ("inhomogeneous shape")
        raise _ragged(name, values, shape) from error
    if array.dtype == object and isinstance(values, Sequence):
        raise _ragged(name, values, shape)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected numbers (e.g. np.float32), received dtype "
                         f"{array.dtype}; convert with np.asarray({name}, dtype=np.float32)")
    if len(shape) > 1 and array.shape[1:] != shape:  # images: [samples, H, W, C]
        hint = ""
        if len(shape) == 3 and array.shape[1:] == (shape[2], *shape[:2]) != shape:
            hint = ("; these look like NCHW images (PyTorch's layout): transpose them to NHWC "
                    "with .transpose(0, 2, 3, 1)")
        elif array.shape == shape:
            hint = "; for one sample add the batch axis: x[None] (a batch of one)"
        raise ValueError(f"{name}: expected an array [samples, {layout}] (per-sample shape "
                         f"{shape}), received shape {array.shape}{hint}")
    if array.ndim != 2 and len(shape) == 1:
        raise ValueError(f"{name}: expected a 2-D array [samples, {layout}], received shape "
                         f"{array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, received shape {array.shape}")
    if len(shape) == 1 and array.shape[1] != shape[0]:
        raise ValueError(f"{name}: expected {shape[0]} {meaning} per sample, received "
                         f"shape {array.shape}")
    if not np.isfinite(array).all():  # before the cast: 1e300 would read as inf
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name}: expected finite values, received "
                         f"{array[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    bad = first_beyond(array, dtype)  # float64 data; uint16's 65535, float16's inf
    if bad is not None:
        raise ValueError(f"{name}: expected values within {dtype.name}'s range "
                         f"(±{float(np.finfo(dtype).max):.4g}, the model's dtype), received "
                         f"{array[bad]} at index {bad}, which overflows {dtype.name} to inf; "
                         f"scale the data, or use Model(..., dtype={wider_dtypes(dtype)})")
    return np.ascontiguousarray(array, dtype=dtype).reshape(len(array), -1)


def check_x(model, x: object) -> np.ndarray:
    """predict's and upload's x for ``model``: checked, in the model's dtype."""
    return check_array("x", x, model.input_shape, "features (the first layer's inputs)",
                       model.precision.numpy)


def check_dataset(x: object, y: object, inputs: Shape, outputs: Shape,
                  names: tuple[str, str] = ("x", "y"),
                  dtype: np.dtype = FLOAT32) -> tuple[np.ndarray, np.ndarray]:
    """Checks for ``fit``: x [samples, *inputs], y [samples, *outputs] (per-sample shapes, or
    ints for flat samples), finite numbers, both converted to ``dtype`` and returned as rows
    [samples, size] (see check_array)."""
    x_array = check_array(names[0], x, inputs, "features (the first layer's inputs)", dtype)
    try:
        flat = outputs in (1, (1,)) and np.ndim(y) == 1  # Keras: y [samples] for one output
    except ValueError:  # ragged: check_array names it
        flat = False
    if flat:
        y = np.reshape(y, (-1, 1))
    y_array = check_array(names[1], y, outputs, "values (the model's outputs)", dtype)
    if len(x_array) != len(y_array):
        raise ValueError(f"{names[0]} and {names[1]}: expected the same number of samples, "
                         f"received {len(x_array)} in {names[0]} and {len(y_array)} in {names[1]}")
    return x_array, y_array


def check_weights(weights: Sequence[np.ndarray], shapes: list[tuple[int, ...]],
                  dtype: np.dtype = FLOAT32, compute: np.dtype | None = None,
                  copied: Sequence[bool] | None = None) -> list[np.ndarray]:
    """``weights`` as ``dtype`` arrays of ``shapes``, or a ValueError naming the bad one; with
    ``compute`` (mixed_float16's float16 copy) they must also lie within its range, those that
    ``copied`` marks (the parameters; states have no copy) or all when it is None."""
    if len(weights) != len(shapes):
        raise ValueError(f"weights: expected {len(shapes)} arrays (shapes {shapes}), "
                         f"received {len(weights)}")
    checked = []
    for index, (values, shape) in enumerate(zip(weights, shapes)):
        array = np.asarray(values)
        if array.shape != shape or array.dtype.kind not in "biuf":
            raise ValueError(f"weights[{index}]: expected numbers of shape {shape}, received "
                             f"{array.dtype} of shape {array.shape}")
        narrow = compute is None or (copied is not None and not copied[index])
        for kind in dict.fromkeys((np.dtype(dtype if narrow else compute), np.dtype(dtype))):
            if not np.isfinite(array).all() or first_beyond(array, kind) is not None:
                why = "the model's dtype" if kind == dtype else "the copy the shaders compute with"
                raise ValueError(f"weights[{index}]: expected finite values (within "
                                 f"{kind.name}'s range, {why})")
        checked.append(np.array(array, dtype=np.dtype(dtype)))
    return checked


def check_data(x: object, y: object, inputs: Shape, outputs: Shape, dtype: np.dtype = FLOAT32):
    """fit's and evaluate's (x, y): checked arrays of ``dtype``, or a Dataset x and no y (the
    Dataset is checked against the model once the model has its device)."""
    if not isinstance(x, Dataset):
        return check_dataset(x, y, inputs, outputs, dtype=dtype)
    if y is not None:
        raise ValueError("y: a Dataset carries its targets; pass the Dataset as x and no y")
    return x, None


def split_validation(x, y, options: TrainingOptions, inputs: Shape, outputs: Shape,
                     dtype: np.dtype = FLOAT32):
    """(x, y, validation or None): validation_data checked, or the last validation_split of
    the samples held out (Keras' rounding). A Dataset x (y None) is split into two Datasets
    (views, no copy); a Dataset validation_data is passed on (fit checks it on the device)."""
    if isinstance(options.validation_data, Dataset):
        return x, y, options.validation_data
    if options.validation_data is not None:
        return x, y, check_dataset(*options.validation_data, inputs, outputs,
                                   names=("validation_data x", "validation_data y"), dtype=dtype)
    if options.validation_split == 0:
        return x, y, None
    held_out = len(x) - int(len(x) * (1.0 - options.validation_split))  # Keras' rounding
    if held_out == 0 or held_out == len(x):
        raise ValueError(f"validation_split: {options.validation_split} of {len(x)} samples "
                         f"holds out {held_out}; expected at least one sample on each side")
    if isinstance(x, Dataset):
        return x.rows(0, len(x) - held_out), None, x.rows(len(x) - held_out, held_out)
    return x[:-held_out], y[:-held_out], (x[-held_out:], y[-held_out:])
