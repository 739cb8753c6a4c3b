"""Callbacks: hooks that ``fit`` calls at the start and end of training and of every epoch.

Hooks get epochs numbered from 0 and ``ModelCheckpoint`` names files from 1 (``{epoch}``), both
as in Keras 3 (checked against 3.16's callbacks); ``logs`` hold the epoch's "loss", its metrics
and the "val_" ones. A hook may be a coroutine function: ``fit`` awaits it. Setting
``model.stop_training = True`` ends training after the current epoch.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .io.files import NonFiniteWeightsError

Logs = dict[str, float]


class Callback:
    """Base class; ``self.model`` is set by ``fit`` before ``on_train_begin``.

    ``waits_for_each_epoch``: True (the default) makes ``fit`` read every epoch's loss and
    call ``on_epoch_end`` before the next epoch trains, so the callback may stop or save in
    time. A callback that only watches (a live plot) sets it False: ``fit`` then reads as it
    would without callbacks (every ``epochs / 100`` epochs for long fits), and the callback
    gets every epoch's ``on_epoch_end`` in order, a window of epochs at a time, and
    ``on_epoch_begin`` once per window.
    """

    model: Any = None
    waits_for_each_epoch: bool = True

    def on_train_begin(self, logs: Logs | None = None) -> Any: ...
    def on_train_end(self, logs: Logs | None = None) -> Any: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> Any: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> Any: ...


async def call(callbacks: list[Callback], hook: str, *args: Any) -> None:
    """Call ``hook`` on every callback, awaiting those that return awaitables."""
    for callback in callbacks:
        result = getattr(callback, hook)(*args)
        if inspect.isawaitable(result):
            await result


class Monitor:
    """Tracks the best value of one log key; "min" mode wants it lower, "max" higher.

    As Keras 3 (3.16's MonitorCallback): the first value seen becomes the best whatever it is,
    inf or NaN included; later values improve on the best only by more than min_delta (a NaN
    best is never beaten, as in Keras).
    """

    def __init__(self, key: str, mode: str, min_delta: float, who: str) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', received {mode!r}")
        self.key, self.min_delta, self.who = key, abs(float(min_delta)), who
        self.maximize = mode == "max" or (mode == "auto" and "acc" in key)
        self.best: float | None = None

    def improved(self, logs: Logs) -> bool:
        """Whether logs[key] beats the best by more than min_delta (then it becomes the best)."""
        if self.key not in logs:
            raise ValueError(f"{self.who}: monitor {self.key!r} is not among the logged values "
                             f"{sorted(logs)}; pick one of those (val_* needs validation data)")
        value = float(logs[self.key])
        if self.best is not None and not (value - self.min_delta > self.best if self.maximize
                                          else value + self.min_delta < self.best):
            return False
        self.best = value
        return True


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: a log key, e.g. "val_loss" or "val_accuracy".
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping. The first epoch's value is the
            first best, inf or NaN included (Keras 3.16): a first inf is beaten by any finite
            value, a first NaN by none, so training stops ``patience`` epochs later.
        mode: "min", "max", or "auto" (max for accuracies, min otherwise).
        restore_best_weights: at the end, put back the weights of the best epoch (kept by a GPU
            copy, not a readback).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience: expected an integer >= 0, received {patience!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, min_delta
        self.patience, self.restore_best_weights = patience, restore_best_weights
        Monitor(monitor, mode, min_delta, "EarlyStopping")  # check the arguments now
        self.stopped_epoch: int | None = None
        self.best_epoch: int | None = None

    def on_train_begin(self, logs=None):
        self._monitor = Monitor(self.monitor, self.mode, self.min_delta, "EarlyStopping")
        self.best_epoch, self.wait, self.stopped_epoch, self._snapshot = None, 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        if self._monitor.improved(logs or {}):
            self.best_epoch, self.wait = epoch, 0
            if self.restore_best_weights:
                self._snapshot = self.model.snapshot_weights(self._snapshot)
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._snapshot is not None:
            self.model.restore_weights(self._snapshot)


class TerminateOnNaN(Callback):
    """Stop in the epoch whose loss is NaN or infinite.

    Args:
        raise_error: raise ``FloatingPointError`` naming the epoch instead of stopping quietly.
    """

    def __init__(self, raise_error: bool = False) -> None:
        self.raise_error = raise_error
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss", 0.0)
        if not np.isfinite(loss):
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.raise_error:
                raise FloatingPointError(f"TerminateOnNaN: the loss became {loss} in epoch "
                                         f"{epoch}; lower the learning rate or check the data")


class ModelCheckpoint(Callback):
    """Save the model after epochs, every time or only when ``monitor`` improves.

    Args:
        filepath: where to save; may contain ``{epoch}`` (1 for the first epoch, as Keras)
            and log keys, e.g. "model-{epoch:03d}-{val_loss:.3f}.safetensors".
        save: how to save, ``save(model, path)``: a coroutine function is awaited, a plain
            function runs on a worker thread; None awaits ``model.save_async(path)``. Either
            way the event loop keeps running while the file is written.
        monitor, mode: as in EarlyStopping.
        save_best_only: save only when ``monitor`` improves on the best so far.

    Weights holding NaN or infinity are never saved (``save`` raises NonFiniteWeightsError): the
    callback warns (RuntimeWarning) and the last good file stays as it was.
    """

    def __init__(self, filepath: str, save: Callable[[Any, str], Any] | None = None,
                 monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = False) -> None:
        self.filepath, self.saver, self.save_best_only = str(filepath), save, save_best_only
        self._monitor = Monitor(monitor, mode, 0.0, "ModelCheckpoint")
        self.saved: list[str] = []

    def on_train_begin(self, logs=None):
        if self.saver is None and not hasattr(self.model, "save_async"):
            raise ValueError("ModelCheckpoint: this model has no save_async(); pass "
                             "save=lambda model, path: ... to ModelCheckpoint")

    async def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only and not self._monitor.improved(logs):
            return
        path = self.filepath.format(epoch=epoch + 1, **logs)  # Keras numbers files from 1
        try:
            if self.saver is None:
                await self.model.save_async(path)
            else:  # a plain function runs on a worker thread, off the event loop
                result = (self.saver(self.model, path) if inspect.iscoroutinefunction(self.saver)
                          else await asyncio.to_thread(self.saver, self.model, path))
                if inspect.isawaitable(result):
                    await result
        except NonFiniteWeightsError as error:  # keep the last good checkpoint loadable
            warnings.warn(f"ModelCheckpoint: {path} not saved after epoch {epoch + 1}: {error}",
                          RuntimeWarning, stacklevel=2)
            return
        self.saved.append(path)


class LambdaCallback(Callback):
    """A callback from functions (plain or async), each optional:
    ``on_train_begin(logs)``, ``on_train_end(logs)``, ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``."""

    def __init__(self, on_train_begin=None, on_train_end=None, on_epoch_begin=None,
                 on_epoch_end=None) -> None:
        for name, function in (("on_train_begin", on_train_begin),
                               ("on_train_end", on_train_end),
                               ("on_epoch_begin", on_epoch_begin),
                               ("on_epoch_end", on_epoch_end)):
            if function is not None:
                if not callable(function):
                    raise ValueError(f"{name}: expected a function, received {function!r}")
                setattr(self, name, function)
