"""TrainingOptions, History, and the host-side checks every dataset passes before GPU work."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import losses
from .losses import Loss
from .optimizers import check_learning_rate


@dataclass
class TrainingOptions:
    """How ``Model.fit`` trains (the original's field names).

    Args:
        learning_rate: SGD step size, a finite number > 0.
        loss_algorithm: a Loss (``MeanSquared()``) or its name ("mse").
        should_print_information: print the loss as training goes.
        instantiate_gpu: let ``fit`` open a device when the model has none; with False the
            model must have been given one (``Model(layers, device=...)``).
        epochs: passes over the dataset, at least 1.

    Raises:
        ValueError: an option is out of range; nothing has touched the GPU yet.
    """

    learning_rate: float = 0.01
    loss_algorithm: Loss | str = field(default_factory=losses.MeanSquared)
    should_print_information: bool = False
    instantiate_gpu: bool = True
    epochs: int = 1

    def __post_init__(self) -> None:
        self.learning_rate = check_learning_rate(self.learning_rate)
        self.loss_algorithm = losses.get(self.loss_algorithm)
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, np.integer)) or (
            self.epochs < 1
        ):
            raise ValueError(f"epochs: expected an integer >= 1, received {self.epochs!r}")
        self.epochs = int(self.epochs)
        for name in ("should_print_information", "instantiate_gpu"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected True or False, "
                                 f"received {getattr(self, name)!r}")


@dataclass
class History:
    """What ``fit`` returns: ``loss`` holds one float per finished epoch."""

    loss: list[float] = field(default_factory=list)

    @property
    def history(self) -> dict[str, list[float]]:
        """Keras-style: {"loss": [...]}."""
        return {"loss": self.loss}

    @property
    def epoch(self) -> list[int]:
        return list(range(len(self.loss)))


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


def check_dataset(x: object, y: object, inputs: int, outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Checks for ``fit``: x [samples, inputs], y [samples, outputs], finite numbers."""
    x_array = check_array("x", x, inputs, "features (the first layer's inputs)")
    if outputs == 1 and np.ndim(y) == 1:  # Keras accepts y of shape [samples] for one output
        y = np.reshape(y, (-1, 1))
    y_array = check_array("y", y, outputs, "values (the model's outputs)")
    if len(x_array) != len(y_array):
        raise ValueError(f"x and y: expected the same number of samples, received "
                         f"{len(x_array)} in x and {len(y_array)} in y")
    return x_array, y_array
