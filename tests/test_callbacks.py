"""Callbacks: hooks and their order, coroutines, EarlyStopping, TerminateOnNaN, ModelCheckpoint."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest

from intricate import Model, TrainingOptions
from intricate.callbacks import (
    Callback,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    TerminateOnNaN,
)
from intricate.io import files
from intricate.layers import Dense, TanH

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)


def xor_model(device):
    return Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"begin {epoch}")

    async def on_epoch_end(self, epoch, logs=None):  # a coroutine: fit awaits it
        await asyncio.sleep(0)
        self.calls.append(f"end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


async def test_hooks_run_in_order_with_logs_and_coroutines_awaited(device):
    recorder = Recorder()
    model = xor_model(device)
    device.stats.reset()
    await model.fit(X, Y, TrainingOptions(epochs=2, callbacks=[recorder], metrics=["mae"]))
    assert recorder.model is model
    assert recorder.calls == ["train_begin", "begin 0", "end 0 ['loss', 'mae']", "begin 1",
                              "end 1 ['loss', 'mae']", "train_end"]
    assert device.stats["readbacks"] == 2  # callbacks get every epoch's logs: one read each


async def test_lambda_callback_can_stop_training(device):
    seen = []
    model = xor_model(device)

    async def stop_after_three(epoch, logs):
        seen.append(logs["loss"])
        if epoch == 2:
            model.stop_training = True

    history = await model.fit(X, Y, TrainingOptions(epochs=50, callbacks=[
        LambdaCallback(on_epoch_end=stop_after_three)]))
    assert len(history.loss) == 3 and seen == history.loss
    with pytest.raises(ValueError, match="on_epoch_end: expected a function"):
        LambdaCallback(on_epoch_end=3)


async def test_early_stopping_restores_the_best_weights(device):
    # Watching the training loss in "max" mode: it falls every epoch, so epoch 0 stays best.
    weights_after = []
    model = xor_model(device)
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: weights_after.append(
        model.get_weights()))
    stopper = EarlyStopping(monitor="val_loss", mode="max", patience=2,
                            restore_best_weights=True)
    history = await model.fit(X, Y, TrainingOptions(
        learning_rate=0.1, epochs=100, validation_data=(X, Y), callbacks=[keep, stopper]))
    assert np.all(np.diff(history.history["val_loss"]) < 0)
    assert stopper.best_epoch == 0 and stopper.stopped_epoch == 2
    assert len(history.loss) == 3
    for got, best in zip(model.get_weights(), weights_after[0]):
        assert np.array_equal(got, best)
    assert not np.array_equal(model.get_weights()[0], weights_after[-1][0])


async def test_early_stopping_waits_for_patience_and_min_delta(device):
    stopper = EarlyStopping(monitor="loss", patience=3, min_delta=10.0)  # nothing improves by 10
    history = await xor_model(device).fit(X, Y, TrainingOptions(
        learning_rate=0.1, epochs=100, callbacks=[stopper]))
    assert len(history.loss) == 4 and stopper.best_epoch == 0
    with pytest.raises(ValueError, match="monitor 'val_loss' is not among the logged values"):
        await xor_model(device).fit(X, Y, TrainingOptions(epochs=2, callbacks=[EarlyStopping()]))
    with pytest.raises(ValueError, match="patience: expected an integer >= 0"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode: expected 'auto', 'min' or 'max'"):
        EarlyStopping(mode="up")


async def test_terminate_on_nan_stops_in_the_epoch_the_loss_explodes(device):
    x = np.full((8, 2), 1000.0, np.float32)
    y = np.full((8, 1), -1000.0, np.float32)
    model = Model([Dense(2, 4), Dense(4, 1)], device=device, seed=0)
    terminate = TerminateOnNaN()
    history = await model.fit(x, y, TrainingOptions(learning_rate=10.0, epochs=50,
                                                    callbacks=[terminate]))
    first_bad = next(i for i, loss in enumerate(history.loss) if not np.isfinite(loss))
    assert terminate.stopped_epoch == first_bad == len(history.loss) - 1
    assert all(np.isfinite(history.loss[:first_bad]))
    with pytest.raises(FloatingPointError, match=f"in epoch {first_bad}"):
        await Model([Dense(2, 4), Dense(4, 1)], device=device, seed=0).fit(
            x, y, TrainingOptions(learning_rate=10.0, epochs=50,
                                  callbacks=[TerminateOnNaN(raise_error=True)]))


async def test_model_checkpoint_saves_every_epoch_or_the_best(device):
    saved = []
    every = ModelCheckpoint("every-{epoch}.safetensors",
                            save=lambda model, path: saved.append((path, model.get_weights())))
    best = ModelCheckpoint("best-{epoch}-{loss:.4f}", monitor="loss", save_best_only=True,
                           save=lambda model, path: None)
    history = await xor_model(device).fit(X, Y, TrainingOptions(
        learning_rate=0.1, epochs=3, callbacks=[every, best]))
    assert [path for path, _ in saved] == [f"every-{i + 1}.safetensors" for i in range(3)]
    assert best.saved == [f"best-{i + 1}-{history.loss[i]:.4f}" for i in range(3)]  # loss falls
    assert not np.array_equal(saved[0][1][0], saved[-1][1][0])


# Keras 3.16 parity (issue 12 item 19): hooks driven by hand, no GPU --------------------------
def run_epochs(callback, values, key="loss"):
    callback.model = Model([Dense(2, 1)], seed=0)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {key: value})
        if callback.model.stop_training:
            break
    return callback


@pytest.mark.parametrize("mode,values", [("min", [math.inf, 5.0, 4.0]),
                                         ("max", [-math.inf, 0.2, 0.3])])
def test_early_stopping_takes_a_first_infinity_as_its_best_then_improves(mode, values):
    stopper = run_epochs(EarlyStopping(monitor="loss", mode=mode, patience=1), values)
    assert stopper.stopped_epoch is None and stopper.best_epoch == 2  # Keras: no stop


def test_early_stopping_with_a_first_nan_stops_after_patience_like_keras():
    # Keras 3.16: the first value is the best even if NaN, and nothing compares better than NaN.
    stopper = run_epochs(EarlyStopping(monitor="loss", patience=2), [math.nan, 1.0, 0.5, 0.1])
    assert stopper.best_epoch == 0 and stopper.stopped_epoch == 2


async def test_model_checkpoint_numbers_files_from_one_and_saves_a_first_infinity():
    saved = []
    checkpoint = ModelCheckpoint("m-{epoch:02d}", monitor="val_loss", save_best_only=True,
                                 save=lambda model, path: saved.append(path))
    checkpoint.model = Model([Dense(2, 1)], seed=0)
    checkpoint.on_train_begin()
    for epoch, value in enumerate([math.inf, 2.0, 3.0, 1.0]):
        await checkpoint.on_epoch_end(epoch, {"val_loss": value})
    assert saved == checkpoint.saved == ["m-01", "m-02", "m-04"]


# Off the event loop (issue 12 item 16) ------------------------------------------------------
async def ticks_during(save, seconds: float = 0.3) -> int:
    """How many times a ticker coroutine ran while ``save`` wrote its (slowed) file."""
    ticks, during = 0, []

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.002)

    def slow_write(path, data, write=files.write_atomically):
        start = ticks
        time.sleep(seconds)  # a big model on a slow disk
        during.append(ticks - start)
        write(path, data)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(files, "write_atomically", slow_write)
            await save()
    finally:
        task.cancel()
    assert len(during) == 1
    return during[0]


@pytest.mark.parametrize("saver", [None, "plain function"])
async def test_model_checkpoint_writes_off_the_event_loop(tmp_path, saver):
    checkpoint = ModelCheckpoint(str(tmp_path / "m-{epoch}.safetensors"),
                                 save=saver and (lambda model, path: model.save(path)))
    checkpoint.model = Model([Dense(2, 1)], seed=0)
    checkpoint.on_train_begin()
    ticks = await ticks_during(lambda: checkpoint.on_epoch_end(0, {"loss": 1.0}))
    assert ticks >= 5, ticks  # a save on the loop lets the ticker run 0 times
    assert (tmp_path / "m-1.safetensors").exists()
