"""The host side of ``Model.fit``: epochs submitted in windows (the GPU side is
epochs.Epochs), their statistics read back once per window, callbacks and progress.

Without callbacks, window n + 1 is encoded while the GPU runs window n; callbacks see each
epoch before the next starts (they may stop training). Cancelling stops after the epoch in
flight.
"""

from __future__ import annotations

import asyncio
import math
import threading

import numpy as np

from .. import callbacks as callback_hooks
from ..dataset import Dataset
from ..metrics import resolve as resolve_metrics
from ..ops import statistics
from ..options import History, TrainingOptions
from .epochs import Epochs
from .progress import Progress

LOSS_READS_PER_FIT = 100  # very short epochs: read the statistics ~100 times, not every epoch


def loss_read_interval(epochs: int) -> int:
    """Epochs between two readbacks: 1 for short fits, ``epochs / 100`` for long ones."""
    return max(1, math.ceil(epochs / LOSS_READS_PER_FIT))


async def run_fit(model, x, y, validation, options: TrainingOptions) -> History:
    """Train ``model`` on checked data (arrays, or Datasets); see Model.fit."""
    chosen = resolve_metrics(options.metrics, model.output_size)
    device = await model._ready_device(options.instantiate_gpu)
    for name, data in (("x", x), ("validation_data", validation)):
        if isinstance(data, Dataset):
            data.check_for(name, model)
    hooks = options.callbacks
    interval = 1 if hooks else loss_read_interval(options.epochs)
    epochs = await device.run(Epochs, model._state, x, y, validation, options, chosen.accuracy,
                              interval)
    model._last_fit, model.optimizer = options, options.optimizer
    history = model.history = History()
    model.stop_training = False
    for hook in hooks:
        hook.model = model
    await callback_hooks.call(hooks, "on_train_begin", {})
    shuffler = np.random.default_rng(options.seed)
    stop, progress, logs = threading.Event(), Progress(options.verbose, options.epochs), {}
    scheduled, pending = 0, []  # epochs submitted; their statistics not yet read

    async def read_pending() -> None:
        nonlocal logs
        staged = pending.pop(0)
        if staged is None:  # stopped midway
            return
        (rows,) = await device.run(staged.collect)
        for values in rows:
            logs = chosen.logs(statistics.slot_values(values, statistics.TRAINING))
            if validation is not None:
                logs |= chosen.logs(statistics.slot_values(values, statistics.VALIDATION),
                                     prefix="val_")
            epoch = len(history.epoch)
            history.append(logs)
            progress.update(epoch, logs)
            await callback_hooks.call(hooks, "on_epoch_end", epoch, logs)

    try:
        while scheduled < options.epochs and not model.stop_training:
            count = min(interval, options.epochs - scheduled)
            await callback_hooks.call(hooks, "on_epoch_begin", scheduled, {})
            orders = [shuffler.permutation(len(x)).astype(np.uint32) if options.shuffle
                      else None for _ in range(count)]
            pending.append(await device.run(epochs.submit, orders, stop))
            scheduled += count
            # Without callbacks the next window is encoded while the GPU runs this one;
            # callbacks see each epoch before the next starts (they may stop training).
            if hooks or len(pending) > 1:
                await read_pending()
        while pending:
            await read_pending()
    except asyncio.CancelledError:
        stop.set()  # the GPU thread finishes the epoch in flight, then stops
        raise
    finally:
        progress.close()
    await callback_hooks.call(hooks, "on_train_end", logs)
    return history
