"""Ownership of GPU state: optimizer state per model (never per id()), a layer in one model,
bounded inference caches, long predict/evaluate split into submits, and fit's arrays untouched
by predict. Counters (live buffers, submits, dispatches, readbacks), never clocks."""

from __future__ import annotations

import asyncio
import gc

import numpy as np
import pytest

from intricate import Model, TrainingOptions, callbacks, gpu, optimizers
from intricate.engine import inference, submits
from intricate.engine.state import ModelState
from intricate.io.files import ModelFileError
from intricate.layers import Dense, Sigmoid, TanH

from harness import small_data, small_model


def sized_model(device, hidden: int) -> Model:
    return Model([Dense(3, hidden), TanH(), Dense(hidden, 2), Sigmoid()], device=device, seed=0)


async def fit_losses(model: Model, x, y, optimizer) -> list[float]:
    history = await model.fit(x, y, TrainingOptions(optimizer=optimizer, epochs=3))
    return history.history["loss"]


async def test_a_shared_optimizer_gives_each_model_fresh_state_and_frees_it(device, rng):
    """Create, fit, delete models in a loop with one Adam (CPython reuses freed ids): each new
    model starts at step 0 with zero moments, as with a fresh Adam, even when the dead model had
    another size; and live buffers don't grow per model."""
    x, y = small_data(rng)
    want = {}
    for hidden in (5, 4):  # fresh optimizers; also warms the device's staging buffers
        model = sized_model(device, hidden)
        want[hidden] = await fit_losses(model, x, y, optimizers.Adam(learning_rate=0.05))
        model.optimizer_state()
    del model
    gc.collect()
    baseline = device.stats["live_buffers"]
    shared = optimizers.Adam(learning_rate=0.05)
    for round_ in range(6):
        hidden = (5, 4)[round_ % 2]
        model = sized_model(device, hidden)
        assert await fit_losses(model, x, y, shared) == want[hidden]
        assert model.optimizer_state()["step"][0] == 3  # its own 3 steps, not the dead one's
        del model
        gc.collect()
        assert device.stats["live_buffers"] == baseline


async def test_a_layer_in_a_second_model_is_refused(device):
    dense = Dense(3, 2)
    first = Model([dense], device=device)
    with pytest.raises(ValueError, match=r"layers\[1\]: Dense\(3, 2\) already belongs to "
                                         r"Model\(.*layer\.copy\(\).*model\.clone\(\)"):
        Model([Dense(3, 3), dense], device=device)
    del first
    with pytest.raises(ValueError, match=r"already belongs to a model that no longer exists"):
        Model([dense], device=device)  # a layer belongs to its model for good


async def test_a_layer_twice_in_one_model_is_refused(device):
    tanh = TanH()
    with pytest.raises(ValueError, match=r"layers\[3\]: TanH\(\) is the same object as "
                                         r"layers\[1\].*layer\.copy\(\)"):
        Model([Dense(3, 3), tanh, Dense(3, 3), tanh], device=device)


async def test_a_refused_model_leaves_its_layers_free(device, rng):
    first, tanh, last = Dense(3, 3), TanH(), Dense(3, 2)
    with pytest.raises(ValueError, match="same object"):
        Model([first, tanh, last, tanh], device=device)
    with pytest.raises(ValueError, match="expects 4 inputs"):
        Model([first, tanh, Dense(4, 2)], device=device)
    model = Model([first, tanh, last], device=device, seed=0)  # all of them still free
    x, _ = small_data(rng)
    assert (await model.predict(x)).shape == (10, 2)


async def test_copy_and_clone_carry_config_and_current_weights(device, rng):
    x, y = small_data(rng)
    model = small_model(device)
    await model.fit(x, y, TrainingOptions(epochs=2, learning_rate=0.5))
    trained = model.get_weights()
    copy = model.layers[0].copy()
    assert copy is not model.layers[0] and copy.get_config() == model.layers[0].get_config()
    for got, want in zip(copy.host_weights, trained[:2]):
        assert np.array_equal(got, want)
    Model([copy], device=device)  # a copy belongs to no model
    clone = model.clone()
    assert clone.device is model.device
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    assert np.array_equal(await clone.predict(x), await model.predict(x))
    await clone.fit(x, y, TrainingOptions(epochs=2, learning_rate=0.5))
    for got, want in zip(model.get_weights(), trained):  # the original is untouched
        assert np.array_equal(got, want)


async def test_predict_keeps_live_buffers_flat_over_many_request_sizes(device, rng,
                                                                        monkeypatch):
    """Every request size has its own programs and workspace; past the byte budget the least
    recently used go: 30 sizes (the issue's 400, scaled down) keep live buffers flat."""
    monkeypatch.setattr(inference, "INFERENCE_CACHE_BYTES", 1)  # keep only the current size
    model = small_model(device)
    x = rng.normal(size=(30, 3)).astype(np.float32)
    await model.predict(x[:1])
    live = device.stats["live_buffers"]
    for rows in range(2, 31):
        device.stats.reset()
        await model.predict(x[:rows])
        assert device.stats["live_buffers"] == live
        # One batch: two dispatches (both Dense GEMMs apply their activation), one submit.
        assert (device.stats["dispatches"], device.stats["submits"],
                device.stats["readbacks"]) == (2, 1, 1)


async def test_cached_request_sizes_are_not_recorded_again(device, rng):
    model = small_model(device)
    x, y = small_data(rng)
    for _ in range(2):
        await model.predict(x, batch_size=4)  # batches of 4 and 2: two programs
        await model.evaluate(x, y, batch_size=4)  # two more, sharing those workspaces
    assert model._state.inference.recorded == 4


@pytest.mark.parametrize("call", ["predict", "evaluate"])
async def test_long_predict_and_evaluate_are_split_into_submits(device, rng, monkeypatch, call):
    """10 batches of one row: one submit, or with at most 5 dispatches per submit several,
    with equal results (each batch: 2 forward dispatches, +1 for evaluate's sums)."""
    model = small_model(device)
    x, y = small_data(rng)
    run = {"predict": lambda: model.predict(x, batch_size=1),
           "evaluate": lambda: model.evaluate(x, y, batch_size=1, metrics=["mae"])}[call]
    whole = await run()
    monkeypatch.setattr(submits, "MAX_DISPATCHES_PER_SUBMIT", 5)
    device.stats.reset()
    split = await run()
    # predict: 3 batches (6 dispatches) per chunk, so 4 chunks; evaluate: 2 batches (6) per
    # chunk, so 5, and the finishing dispatch in a 6th.
    assert device.stats["submits"] == {"predict": 4, "evaluate": 6}[call]
    assert device.stats["readbacks"] == 1
    np.testing.assert_array_equal(split, whole)


class PredictEachEpoch(callbacks.Callback):
    """Predicts other data of the training batch's row count between epochs."""

    def __init__(self, x) -> None:
        self.x = x

    async def on_epoch_end(self, epoch, logs=None) -> None:
        await self.model.predict(self.x)
        await self.model.evaluate(self.x, np.zeros((len(self.x), 2), np.float32))


async def test_predict_and_evaluate_during_a_fit_leave_its_arrays_alone(device, rng):
    """A full-batch, unshuffled fit uploads its batch once into its workspace and keeps its sums
    on the GPU; predict/evaluate of the same row count between epochs must not touch them."""
    x, y = small_data(rng)
    options = dict(epochs=3, learning_rate=0.5, shuffle=False)
    quiet, busy = small_model(device), small_model(device)
    want = await quiet.fit(x, y, TrainingOptions(**options))
    got = await busy.fit(x, y, TrainingOptions(
        **options, callbacks=[PredictEachEpoch(rng.normal(size=x.shape).astype(np.float32))]))
    assert got.history["loss"] == want.history["loss"]
    for a, b in zip(busy.get_weights(), quiet.get_weights()):
        assert np.array_equal(a, b)


def count_states(monkeypatch) -> list[int]:
    """Patch ModelState so that every build appends to the returned list."""
    built, build = [], ModelState.__init__

    def counted(self, *args, **kwargs):
        built.append(1)
        build(self, *args, **kwargs)

    monkeypatch.setattr(ModelState, "__init__", counted)
    return built


async def test_a_fresh_model_used_by_two_calls_at_once_builds_one_state(device, rng,
                                                                         monkeypatch):
    """fit and predict gathered on a fresh model: one ModelState (a second would re-point the
    layers' parameter views and the fit would train the other one), and the fit trains exactly
    as alone."""
    x, y = small_data(rng)
    solo = small_model(device)
    want = (await solo.fit(x, y, TrainingOptions(epochs=4, learning_rate=0.1))).history["loss"]
    built = count_states(monkeypatch)
    model = small_model(device)
    history, predicted = await asyncio.gather(
        model.fit(x, y, TrainingOptions(epochs=4, learning_rate=0.1)), model.predict(x[:2]))
    assert len(built) == 1 and predicted.shape == (2, 2)
    assert history.history["loss"] == want
    for got, trained in zip(model.get_weights(), solo.get_weights()):
        assert np.array_equal(got, trained)


async def test_a_model_without_a_device_opens_one_for_two_calls_at_once(device, rng,
                                                                        monkeypatch):
    opened = []

    async def open_device(*args, **kwargs):
        opened.append(1)
        await asyncio.sleep(0)  # as a real setup_device, let the other call run meanwhile
        return device

    monkeypatch.setattr(gpu, "default_device", open_device)
    built = count_states(monkeypatch)
    model = Model([Dense(3, 5), TanH(), Dense(5, 2), Sigmoid()], seed=0)
    x, _ = small_data(rng)
    first, second = await asyncio.gather(model.predict(x), model.predict(x))
    assert (len(opened), len(built)) == (1, 1)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, await small_model(device).predict(x))


@pytest.mark.parametrize("which", [1, 2])
@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_cancelled_first_call_keeps_the_loaded_optimizer_state(device, rng, tmp_path,
                                                                      monkeypatch, which, when):
    """A model loaded with its optimizer state, whose first call is cancelled at its
    ``which``-th wait for the GPU thread (``before`` the job starts, or ``after`` it ran):
    the next fit resumes exactly like one never interrupted, from the saved step."""
    x, y = small_data(rng)
    model = small_model(device)
    await model.fit(x, y, TrainingOptions(optimizer=optimizers.Adam(learning_rate=0.05),
                                          epochs=3))
    path = tmp_path / "resume.safetensors"
    model.save(path, include_optimizer=True)
    calm = Model.load(path, device=device)
    want = await fit_losses(calm, x, y, calm.optimizer)
    cancelled = Model.load(path, device=device)
    calls, run = [], device.run

    async def cancelling_run(fn, *args, **kwargs):
        calls.append(fn)
        if len(calls) == which and when == "before":
            raise asyncio.CancelledError  # as when the task is cancelled while the job waits
        result = await run(fn, *args, **kwargs)
        if len(calls) == which:
            raise asyncio.CancelledError  # the job ran, but its awaiter was cancelled
        return result

    with monkeypatch.context() as patched:
        patched.setattr(device, "run", cancelling_run)
        with pytest.raises(asyncio.CancelledError):
            await cancelled.predict(x)
    await device.run(lambda: None)  # a job that ran past its cancelled awaiter is done now
    assert cancelled.optimizer_state()["step"][0] == 3
    assert await fit_losses(cancelled, x, y, cancelled.optimizer) == want
    assert cancelled.optimizer_state()["step"][0] == 6
    for got, resumed in zip(cancelled.get_weights(), calm.get_weights()):
        assert np.array_equal(got, resumed)


async def test_a_predict_of_a_cached_size_weighs_no_entries(device, rng, monkeypatch):
    """The cache keeps a running byte total: a call of cached sizes reads no entry's size (it
    used to sum them all on every call, so latency grew with the cached sizes)."""
    model = small_model(device)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    for rows in range(1, 13):
        await model.predict(x[:rows])
        await model.evaluate(x[:rows], np.zeros((rows, 2), np.float32))
    cache = model._state.inference
    assert len(cache) == 12
    assert cache.nbytes == sum(entry.nbytes for entry in cache._entries.values())
    weighed, nbytes = [], inference._Recording.nbytes

    def counted(entry):
        weighed.append(1)
        return nbytes.fget(entry)

    with monkeypatch.context() as patched:
        patched.setattr(inference._Recording, "nbytes", property(counted))
        await model.predict(x[:5])
        await model.predict(x, batch_size=5)  # batches of 5 and 2
        assert weighed == []
    cache.budget = cache.nbytes // 2  # evictions keep the running total right
    await model.predict(x[:3])
    assert 0 < len(cache) < 12
    assert cache.nbytes == sum(entry.nbytes for entry in cache._entries.values())


async def check_flat_over_request_sizes(device, rng, sizes: int, kept: int) -> None:
    """Predict 1..``sizes`` rows of a tiny model: once ``kept`` sizes are cached, live buffers
    stay flat and the cache holds ``kept`` sizes. (The largest request comes first: the
    device's reused readback buffers grow with it, in powers of two, not per size.)"""
    model = Model([Dense(2, 3), TanH(), Dense(3, 1)], device=device, seed=0)
    x = rng.normal(size=(sizes, 2)).astype(np.float32)
    await model.predict(x)
    for rows in range(1, kept + 1):  # the largest size goes out at the last of these
        await model.predict(x[:rows])
    gc.collect()  # earlier tests' models, not to be freed midway
    live = device.stats["live_buffers"]
    for rows in range(kept + 1, sizes):
        await model.predict(x[:rows])
        assert device.stats["live_buffers"] == live, rows
    assert len(model._state.inference) == kept


async def test_400_request_sizes_keep_live_buffers_flat_by_default(device, rng):
    """The issue's case, default settings: a small model's 400 sizes fit the byte budget
    easily, so the cap on cached row counts is what keeps live buffers flat (~1 s)."""
    await check_flat_over_request_sizes(device, rng, 400, inference.INFERENCE_CACHE_SIZES)


async def test_cached_request_sizes_are_capped(device, rng, monkeypatch):
    """The 400-size case scaled down: a cap of 4 row counts, 40 sizes, default byte budget."""
    monkeypatch.setattr(inference, "INFERENCE_CACHE_SIZES", 4)
    await check_flat_over_request_sizes(device, rng, 40, 4)


@pytest.mark.parametrize("bad", ["shape", "nan"])
async def test_a_refused_state_dict_leaves_the_layers_free(device, rng, bad):
    """A state dict refused for a shape (checked before the model takes the layers) or a NaN
    (checked by set_weights, after): the same layers then take a good one."""
    good = {"0.weight": rng.normal(size=(5, 3)).astype(np.float32),
            "0.bias": np.zeros(5, np.float32),
            "2.weight": rng.normal(size=(2, 5)).astype(np.float32),
            "2.bias": np.zeros(2, np.float32)}
    wrong = dict(good)
    if bad == "shape":
        wrong["0.weight"] = good["0.weight"][:4]
    else:
        wrong["2.bias"] = np.full(2, np.nan, np.float32)
    layers = [Dense(3, 5), TanH(), Dense(5, 2), Sigmoid()]
    with pytest.raises(ModelFileError if bad == "shape" else ValueError):
        Model.from_torch_state_dict(wrong, layers, device=device)
    model = Model.from_torch_state_dict(good, layers, device=device)
    assert np.array_equal(model.get_weights()[0], good["0.weight"].T)
