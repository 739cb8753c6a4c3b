"""TrainingOptions, History, and the host-side checks every dataset passes before GPU work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import losses, metrics, optimizers
from .callbacks import Callback
from .dataset import Dataset
from .losses import Loss
from .optimizers import Optimizer, check_number


@dataclass
class TrainingOptions:
    """How ``Model.fit`` trains. The first five fields are the original's names.

    Args:
        learning_rate: step size of the optimizer named by ``optimizer`` (SGD by default, 0.01
            when None); give the rate on the optimizer instead when passing an instance.
        loss_algorithm: a Loss (``MeanSquared()``) or its name ("mse").
        should_print_information: show progress (same as ``verbose=1``).
        instantiate_gpu: let ``fit`` open a device when the model has none; with False the
            model must have been given one (``Model(layers, device=...)``).
        epochs: passes over the dataset, at least 1.
        batch_size: samples per step; None trains on the whole dataset at once (the original's
            behaviour). A final partial batch is trained too.
        shuffle: a new order every epoch, applied on the GPU; None means True when batching.
        optimizer: an ``intricate.optimizers`` instance or name ("adam").
        validation_data: (x, y), or a Dataset from ``model.upload``, evaluated after every
            epoch ("val_" logs).
        validation_split: the fraction of samples, taken from the end before shuffling, held out
            for validation (as Keras does). Ignored when validation_data is given.
        metrics: names such as ["accuracy", "mae"], computed on the GPU.
        callbacks: ``intricate.callbacks.Callback`` instances.
        seed: seeds the shuffling, so the same seed gives the same order.
        verbose: 0 silent, 1 a progress bar, 2 one line per epoch; None follows
            should_print_information.

    Raises:
        ValueError: an option is out of range; nothing has touched the GPU yet.
    """

    learning_rate: float | None = None
    loss_algorithm: Loss | str = field(default_factory=losses.MeanSquared)
    should_print_information: bool = False
    instantiate_gpu: bool = True
    epochs: int = 1
    batch_size: int | None = None
    shuffle: bool | None = None
    optimizer: Optimizer | str | None = None
    validation_data: tuple | Dataset | None = None
    validation_split: float = 0.0
    metrics: Sequence[str] = ()
    callbacks: Sequence[Callback] = ()
    seed: int | None = None
    verbose: int | None = None

    def __post_init__(self) -> None:
        self.optimizer = optimizers.get(self.optimizer, self.learning_rate)
        self.learning_rate = self.optimizer.learning_rate
        self.loss_algorithm = losses.get(self.loss_algorithm)
        self.epochs = _check_int("epochs", self.epochs, 1)
        if self.batch_size is not None:
            self.batch_size = _check_int("batch_size", self.batch_size, 1)
        for name in ("should_print_information", "instantiate_gpu"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected True or False, "
                                 f"received {getattr(self, name)!r}")
        if self.shuffle is None:
            self.shuffle = self.batch_size is not None
        elif not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle: expected True, False or None, received {self.shuffle!r}")
        self.validation_split = check_number("validation_split", self.validation_split, 0.0, 1.0,
                                             high_inclusive=False)
        if self.validation_data is not None and not isinstance(self.validation_data, Dataset) \
                and (not isinstance(self.validation_data, (tuple, list))
                     or len(self.validation_data) != 2):
            raise ValueError(f"validation_data: expected a pair (x, y) or a Dataset, received "
                             f"{type(self.validation_data).__name__}")
        self.metrics = tuple(metrics.resolve(self.metrics).names)
        self.callbacks = list(self.callbacks)
        for index, callback in enumerate(self.callbacks):
            if not isinstance(callback, Callback):
                raise ValueError(f"callbacks[{index}]: expected an intricate Callback, "
                                 f"received {callback!r}")
        if self.seed is not None:
            self.seed = _check_int("seed", self.seed, 0)
        if self.verbose is None:
            self.verbose = 1 if self.should_print_information else 0
        elif self.verbose not in (0, 1, 2) or isinstance(self.verbose, bool):
            raise ValueError(f"verbose: expected 0, 1 or 2, received {self.verbose!r}")


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, received {value!r}")
    return int(value)


class History:
    """What ``fit`` returns (also kept as ``model.history``).

    Attributes:
        history: Keras-style dict of per-epoch lists: "loss", each metric, "val_loss", ...
        epoch: the epoch numbers recorded, from 0.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {"loss": []}
        self.epoch: list[int] = []

    @property
    def loss(self) -> list[float]:
        """One training loss per finished epoch."""
        return self.history["loss"]

    def append(self, logs: dict[str, float]) -> None:
        self.epoch.append(len(self.epoch))
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


def check_array(name: str, values: object, width: int, width_meaning: str) -> np.ndarray:
    """``values`` as a float32 [samples, width] array, or a ValueError that names ``name``."""
    array = np.asarray(values)
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
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name}: expected finite values, received "
                         f"{array[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return array


def check_dataset(x: object, y: object, inputs: int, outputs: int,
                  names: tuple[str, str] = ("x", "y")) -> tuple[np.ndarray, np.ndarray]:
    """Checks for ``fit``: x [samples, inputs], y [samples, outputs], finite numbers."""
    x_array = check_array(names[0], x, inputs, "features (the first layer's inputs)")
    if outputs == 1 and np.ndim(y) == 1:  # Keras accepts y of shape [samples] for one output
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
