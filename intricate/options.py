"""TrainingOptions (how ``fit`` trains) and History (what it returns)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import numpy as np

from . import losses, metrics, optimizers
from .callbacks import Callback
from .dataset import Dataset
from .losses import Loss
from .optimizers import Optimizer, check_number


@dataclass(frozen=True)
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

    Immutable: ``dataclasses.replace(options, learning_rate=0.5)`` makes a changed copy (an
    optimizer that these options built from a name is rebuilt when the rate changes).
    ``shuffle`` and ``verbose`` keep what was given (None: decided by ``batch_size`` and
    ``should_print_information``, so a copy decides again); ``shuffles`` and ``verbosity`` say
    what fit does.

    Raises:
        ValueError: an option is out of range; nothing has touched the GPU yet.
        dataclasses.FrozenInstanceError: on assigning to a field after construction.
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

    # field -> (the value __post_init__ derived, what the user gave): how a copy made by
    # dataclasses.replace tells the fields it changed from those these options derived.
    _derived: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        keep_optimizer = False  # a copy keeps the optimizer (and its state) if the rate stays
        for name, (value, given) in self._derived.items():
            if getattr(self, name) is not value:
                continue  # changed by the copy
            if name == "optimizer" and self.learning_rate in (None, value.learning_rate):
                keep_optimizer = True
            else:
                _set(self, name, given)  # derive it again
        given = {name: getattr(self, name) for name in ("learning_rate", "optimizer")}
        if keep_optimizer:
            given["optimizer"] = self._derived["optimizer"][1]
        _set(self, "optimizer", optimizers.get(
            self.optimizer, None if keep_optimizer else self.learning_rate))
        _set(self, "learning_rate", self.optimizer.learning_rate)
        _set(self, "loss_algorithm", losses.get(self.loss_algorithm))
        _set(self, "epochs", _check_int("epochs", self.epochs, 1))
        if self.batch_size is not None:
            _set(self, "batch_size", _check_int("batch_size", self.batch_size, 1))
        for name in ("should_print_information", "instantiate_gpu"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected True or False, "
                                 f"received {getattr(self, name)!r}")
        if self.shuffle is not None and not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle: expected True, False or None, received {self.shuffle!r}")
        _set(self, "validation_split", check_number(
            "validation_split", self.validation_split, 0.0, 1.0, high_inclusive=False,
            float32=False))  # a fraction of the samples, used on the host
        if self.validation_data is not None and not isinstance(self.validation_data, Dataset) \
                and (not isinstance(self.validation_data, (tuple, list))
                     or len(self.validation_data) != 2):
            raise ValueError(f"validation_data: expected a pair (x, y) or a Dataset, received "
                             f"{type(self.validation_data).__name__}")
        _set(self, "metrics", tuple(metrics.resolve(self.metrics).names))
        _set(self, "callbacks", tuple(self.callbacks))
        for index, callback in enumerate(self.callbacks):
            if not isinstance(callback, Callback):
                raise ValueError(f"callbacks[{index}]: expected an intricate Callback, "
                                 f"received {callback!r}")
        if self.seed is not None:
            _set(self, "seed", _check_int("seed", self.seed, 0))
        if self.verbose is not None and (self.verbose not in (0, 1, 2)
                                         or isinstance(self.verbose, bool)):
            raise ValueError(f"verbose: expected 0, 1 or 2, received {self.verbose!r}")
        derived = {name: (getattr(self, name), value) for name, value in given.items()
                   if value is None or (name == "optimizer" and isinstance(value, str))}
        _set(self, "_derived", derived)


    @property
    def shuffles(self) -> bool:
        """Whether fit shuffles: ``shuffle``, or when None whether it trains in batches."""
        return self.batch_size is not None if self.shuffle is None else self.shuffle

    @property
    def verbosity(self) -> int:
        """What fit prints: ``verbose``, or when None 1 with should_print_information."""
        if self.verbose is None:
            return 1 if self.should_print_information else 0
        return self.verbose

def _set(options: TrainingOptions, name: str, value: Any) -> None:
    object.__setattr__(options, name, value)  # __post_init__ only: the options are frozen


def _refuse_change(options: TrainingOptions, name: str, value: Any = None) -> None:
    # A fit reads its options once, so a change after construction would be ignored or
    # half-applied: refuse it and say how to change options.
    raise FrozenInstanceError(
        f"TrainingOptions can't be changed after construction (options.{name}); make a changed "
        f"copy with dataclasses.replace(options, {name}=...)")


TrainingOptions.__setattr__ = _refuse_change  # type: ignore[method-assign]
TrainingOptions.__delattr__ = _refuse_change  # type: ignore[method-assign]


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
