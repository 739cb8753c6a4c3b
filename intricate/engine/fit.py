"""The host side of ``Model.fit``: epochs submitted in windows (the GPU side is
epochs.Epochs), their statistics read back once per window, callbacks and progress.

Without callbacks, window n + 1 is encoded while the GPU runs window n; callbacks see each
epoch before the next starts (they may stop training). Cancelling (or Ctrl-C) stops at a step
boundary within one chunk of GPU work (submits.MAX_WORK_PER_SUBMIT); every epoch that completed
stays in ``model.history``, and watching callbacks (``waits_for_each_epoch = False``: a live
plot) still get its ``on_epoch_end``, so they show what the history has; the others hear
nothing more, as in Keras.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading

import numpy as np

from .. import callbacks as callback_hooks
from ..dataset import Dataset
from ..metrics import resolve as resolve_metrics
from ..ops import statistics
from ..options import History, TrainingOptions
from . import loss_scale
from .inference import check_batch_binding
from .progress import Progress
from .tiny_epochs import epochs_for

ROWS_PER_YIELD = 1000  # history rows filed between two yields to the event loop (~5 ms)
LOSS_READS_PER_FIT = 100  # very short epochs: read the statistics ~100 times, not every epoch


def loss_read_interval(epochs: int) -> int:
    """Epochs between two readbacks: 1 for short fits, ``epochs / 100`` for long ones."""
    return max(1, math.ceil(epochs / LOSS_READS_PER_FIT))


def check_monitors(hooks, keys: list[str]) -> None:
    """Refuse a callback's unknown ``monitor`` (or any of its ``log_keys``: a live plot's)
    before any GPU work (it failed after epoch 1); a ModelCheckpoint that saves every epoch
    reads no monitor, as in Keras."""
    for hook in hooks:
        monitor = getattr(hook, "_monitor", None)
        key = getattr(hook, "monitor", None) or getattr(monitor, "key", None)
        wanted = [("monitor", key)] if isinstance(key, str) and getattr(
            hook, "save_best_only", True) else []
        wanted += [("key", name) for name in getattr(hook, "log_keys", None) or ()]
        for what, name in wanted:
            if name not in keys:
                raise ValueError(f"{type(hook).__name__}: {what} {name!r} is not among the "
                                 f"logged values {sorted(keys)}; pick one of those (val_* "
                                 "needs validation data)")


async def run_fit(model, x, y, validation, options: TrainingOptions) -> History:
    """Train ``model`` on checked data (arrays, or Datasets); see Model.fit."""
    options.optimizer.check()  # its attributes may have changed since it was built
    chosen = resolve_metrics(options.metrics, model.output_size)
    names = list(chosen.logs(statistics.slot_values([0.0] * statistics.SIZE, 0)))
    scaled = loss_scale.applies(model.precision)  # mixed_float16: loss_scale, skipped_steps
    extra = list(statistics.loss_scaling_logs([0.0] * statistics.SIZE)) if scaled else []
    check_monitors(options.callbacks, names + extra + ([f"val_{name}" for name in names]
                                                       if validation is not None else []))
    device = await model._ready_device(options.instantiate_gpu)
    for name, data in (("x", x), ("validation_data", validation)):
        if isinstance(data, Dataset):
            data.check_for(name, model)
    for samples in (len(x), len(validation) if isinstance(validation, Dataset) else
                    0 if validation is None else len(validation[0])):  # as Epochs cuts batches
        if samples:
            check_batch_binding(model, device, min(options.batch_size or samples, samples))
    hooks = options.callbacks
    # A callback that may act on each epoch (stop, save) sees it before the next one trains, so
    # fit reads every epoch; the others (waits_for_each_epoch False: a live plot) take the
    # epochs as fit reads them anyway and cost no readback.
    prompt = any(getattr(hook, "waits_for_each_epoch", True) for hook in hooks)
    interval = 1 if prompt else loss_read_interval(options.epochs)
    # A tiny Dense model trains whole windows of epochs in one workgroup (tiny.py decides).
    epochs = await device.run(epochs_for, model._state, x, y, validation, options,
                              chosen.accuracy, interval)
    model._last_fit, model.optimizer = options, options.optimizer
    history = model.history = History()
    model.stop_training = False
    for hook in hooks:
        hook.model = model
    await callback_hooks.call(hooks, "on_train_begin", {})
    shuffler = np.random.default_rng(options.seed)
    stop, progress, logs = threading.Event(), Progress(options.verbosity, options.epochs), {}
    scheduled = 0  # epochs submitted
    # Windows submitted, oldest first: futures of their staged reads, then of the rows read.
    # Shielded, so a cancelled fit still collects what the GPU thread did (see stopped()).
    pending: list[asyncio.Future] = []
    filing = iter(())  # the rows of the window being filed, the next one first
    watchers = [hook for hook in hooks if not getattr(hook, "waits_for_each_epoch", True)]

    def epoch_logs(values) -> dict[str, float]:
        logs = chosen.logs(statistics.slot_values(values, statistics.TRAINING))
        if validation is not None:
            logs |= chosen.logs(statistics.slot_values(values, statistics.VALIDATION),
                                prefix="val_")
        return logs | statistics.loss_scaling_logs(values) if scaled else logs

    async def collect(window: asyncio.Future) -> list:
        staged = await window
        return [] if staged is None else (await device.run(staged.collect))[0]

    async def read_pending() -> None:
        nonlocal logs, filing
        pending[0] = asyncio.ensure_future(pending[0])  # the read continues if we're cancelled
        filing = iter(await asyncio.shield(pending[0]))  # a cancel below: stopped() files the rest
        pending.pop(0)
        for index, values in enumerate(filing):
            logs = epoch_logs(values)
            epoch = len(history.epoch)
            history.append(logs)
            progress.update(epoch, logs)
            await callback_hooks.call(hooks, "on_epoch_end", epoch, logs)
            if index % ROWS_PER_YIELD == ROWS_PER_YIELD - 1:  # a huge fit's window: 10**6 rows
                await asyncio.sleep(0)

    async def stopped() -> None:
        """After a cancel: wait for the GPU thread to stop at a step boundary and keep every
        epoch that completed in the history: the rest of the window being filed, then the
        windows not read yet. Only watchers hear of them (nothing may act on a cancelled fit)."""
        stop.set()
        for rows in itertools.chain([filing], [await window for window in pending]):
            for values in rows:
                row_logs = epoch_logs(values)
                epoch = len(history.epoch)
                history.append(row_logs)
                await callback_hooks.call(watchers, "on_epoch_end", epoch, row_logs)

    try:
        while scheduled < options.epochs and not model.stop_training:
            count = min(interval, options.epochs - scheduled)
            await callback_hooks.call(hooks, "on_epoch_begin", scheduled, {})
            # Made one at a time on the GPU thread as it encodes: a window of a huge fit never
            # holds more than one permutation, and the event loop never makes them.
            orders = (shuffler.permutation(len(x)).astype(np.uint32) for _ in range(count)) \
                if options.shuffles else itertools.repeat(None, count)
            window = asyncio.ensure_future(device.run(epochs.submit, orders, stop))
            pending.append(collect(window))
            scheduled += count
            await asyncio.shield(window)
            # Without prompt callbacks the next window is encoded while the GPU runs this
            # one; prompt ones see each epoch before the next starts (they may stop training).
            if prompt or len(pending) > 1:
                await read_pending()
        while pending:
            await read_pending()
    except asyncio.CancelledError:
        await stopped()
        raise
    finally:
        stop.set()  # a callback's error too: the GPU thread stops at the next boundary
        for item in pending:
            if asyncio.iscoroutine(item):  # never awaited: nothing to read
                item.close()
        progress.close()
    await callback_hooks.call(hooks, "on_train_end", logs)
    return history
