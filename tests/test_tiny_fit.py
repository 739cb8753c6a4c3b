"""Tiny fits in one workgroup (engine/tiny.py, engine/tiny_epochs.py, engine/tiny_fit.wgsl): the
same fit through both paths gives the same weights and History, for every optimizer, loss and
activation the rule admits, partial batches and shuffling; a NumPy float64 reference; a window
past llvmpipe's 65535-iteration cap; the counters; and ineligible fits on the normal path."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from intricate import Model, TrainingOptions, gpu, optimizers
from intricate.callbacks import Callback
from intricate.engine import submits, tiny, tiny_epochs
from intricate.gpu import default_device, reflect
from intricate.layers import (
    ELU,
    GELU,
    Dense,
    Dropout,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    SoftMax,
    Softplus,
    TanH,
)
from intricate.ops import loops

import reference
from harness import assert_close, small_data

ROOT = Path(__file__).resolve().parents[1]
RTOL, ATOL = 1e-5, 1e-6  # float32, two summation orders over a few epochs


def net(hidden=None, last=None, sizes=(3, 5, 2)):
    """Dense(3, 5) hidden Dense(5, 2) last (TanH, Sigmoid by default)."""
    layers = [Dense(sizes[0], sizes[1])]
    layers += [] if hidden is False else [hidden or TanH()]
    layers += [Dense(sizes[1], sizes[2])]
    return layers + ([] if last is False else [last or Sigmoid()])


async def fit_on(device, monkeypatch, enabled, layers, x, y, dtype="float32", fits=1,
                 **options):
    """(path taken, History dict, weights, device counters of the last fit) of a fresh seeded
    model trained ``fits`` times with one optimizer object."""
    monkeypatch.setattr(tiny, "ENABLED", enabled)
    model = Model(layers, device=device, seed=0, dtype=dtype)
    if isinstance(options.get("optimizer"), type):
        options["optimizer"] = options["optimizer"](learning_rate=0.05)
    before = tiny.COUNTS["tiny"]
    for _ in range(fits):
        device.stats.reset()
        history = await model.fit(x, y, TrainingOptions(**options))
        stats = dict(device.stats)
    path = "tiny" if tiny.COUNTS["tiny"] > before else "normal"
    return path, history.history, model.get_weights(), stats


async def assert_paths_agree(device, monkeypatch, make_layers, x, y, **options):
    """Train the same seeded model on both paths; the tiny one must be taken and agree."""
    tiny_run = await fit_on(device, monkeypatch, True, make_layers(), x, y, **dict(options))
    normal_run = await fit_on(device, monkeypatch, False, make_layers(), x, y, **dict(options))
    assert (tiny_run[0], normal_run[0]) == ("tiny", "normal")
    assert tiny_run[1].keys() == normal_run[1].keys()
    for key, values in normal_run[1].items():
        np.testing.assert_allclose(tiny_run[1][key], values, rtol=RTOL, atol=ATOL, err_msg=key)
    for got, want in zip(tiny_run[2], normal_run[2], strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    return tiny_run, normal_run


@pytest.mark.parametrize("optimizer", [optimizers.SGD, optimizers.Momentum, optimizers.Nesterov,
                                       optimizers.Adagrad, optimizers.Adam, optimizers.AdamW])
async def test_each_optimizer_trains_as_on_the_normal_path(device, monkeypatch, rng, optimizer):
    """10 samples in shuffled batches 4, 4, 2 (the last partial), three epochs, binary accuracy."""
    x, y = small_data(rng)
    await assert_paths_agree(device, monkeypatch, net, x, y, optimizer=optimizer, epochs=3,
                             batch_size=4, seed=3, loss_algorithm="bce",
                             metrics=["binary_accuracy", "mae"])


async def test_adam_continues_its_step_count_across_fits(device, monkeypatch, rng):
    """A second fit with the same Adam continues t (step_in/step_out written back)."""
    x, y = small_data(rng)
    await assert_paths_agree(device, monkeypatch, net, x, y, optimizer=optimizers.Adam, fits=2,
                             epochs=2, batch_size=3, seed=1, loss_algorithm="mse")


@pytest.mark.parametrize("loss, last, metrics", [
    ("mse", Sigmoid, ["mae"]), ("mae", TanH, ["binary_accuracy"]),
    ("bce", Sigmoid, ["binary_accuracy", "categorical_accuracy"]),
    ("categorical_crossentropy", Sigmoid, ["categorical_accuracy"])])
async def test_each_loss_trains_as_on_the_normal_path(device, monkeypatch, rng, loss, last,
                                                      metrics):
    x, y = small_data(rng, samples=9)
    await assert_paths_agree(device, monkeypatch, lambda: net(last=last()), x, y,
                             loss_algorithm=loss, metrics=metrics, epochs=3, batch_size=4,
                             learning_rate=0.2, seed=5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("classes", [1, 4])
async def test_softmax_with_categorical_crossentropy_trains_as_on_the_normal_path(
        device, monkeypatch, rng, optimizer, classes):
    """A last SoftMax, its gradient fused into the loss (ŷ·Σy - y) / batch, targets that are
    one-hot and rows that don't sum to 1 (exact for any y), one class too; 10 = 4 + 4 + 2."""
    x = rng.normal(size=(10, 3)).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, 10)]
    y[:3] *= 0.5
    await assert_paths_agree(
        device, monkeypatch, lambda: net(ReLU(), SoftMax(), sizes=(3, 6, classes)), x, y,
        loss_algorithm="categorical_crossentropy", optimizer=optimizer, learning_rate=0.05,
        metrics=["categorical_accuracy"], epochs=3, batch_size=4, seed=8)


@pytest.mark.parametrize("hidden", [ReLU, TanH, Sigmoid, lambda: LeakyReLU(0.2),
                                    lambda: ELU(0.5), GELU, SiLU, Softplus, None],
                         ids=["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "silu",
                              "softplus", "no_activation"])
async def test_each_activation_trains_as_on_the_normal_path(device, monkeypatch, rng, hidden):
    x, y = small_data(rng)
    await assert_paths_agree(
        device, monkeypatch, lambda: net(hidden=False if hidden is None else hidden(),
                                         last=False), x, y,
        loss_algorithm="mse", epochs=3, batch_size=3, learning_rate=0.1, seed=2)


@pytest.mark.parametrize("batch_size, shuffle", [(3, True), (3, False), (10, False),
                                                 (None, True), (1, True), (4, None)])
async def test_batching_and_shuffling_train_as_on_the_normal_path(device, monkeypatch, rng,
                                                                  batch_size, shuffle):
    """Partial last batches (10 = 3 + 3 + 3 + 1), one full batch, batches of one, each with and
    without shuffling."""
    x, y = small_data(rng)
    await assert_paths_agree(device, monkeypatch, net, x, y, batch_size=batch_size,
                             shuffle=shuffle, epochs=3, learning_rate=0.3, seed=4)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
async def test_matches_the_float64_reference(device, monkeypatch, rng, optimizer):
    """Shuffled batches 3, 3, 3, 1 over three epochs as reference.train_epochs trains them."""
    x, y = small_data(rng)
    monkeypatch.setattr(tiny, "ENABLED", True)
    model = Model(net(), device=device, seed=0)
    start = model.get_weights()
    before = tiny.COUNTS["tiny"]
    history = await model.fit(x, y, TrainingOptions(
        optimizer=optimizer, learning_rate=0.05, loss_algorithm="bce", epochs=3, batch_size=3,
        seed=9))
    assert tiny.COUNTS["tiny"] == before + 1
    shuffler = np.random.default_rng(9)
    orders = [shuffler.permutation(10) for _ in range(3)]
    losses, want = reference.train_epochs(["Dense", "TanH", "Dense", "Sigmoid"], start, x, y,
                                          "BinaryCrossEntropy",
                                          reference.OptimizerReference(optimizer, 0.05), orders, 3)
    assert_close(history.loss, losses)
    for got, expected in zip(model.get_weights(), want, strict=True):
        assert_close(got, expected, scale=np.abs(expected) + 1e-3)


async def test_a_window_past_the_loop_cap_runs_in_bounded_dispatches(device, monkeypatch, rng):
    """3000 steps of one epoch: ~90,000 loop iterations per lane in all, past llvmpipe's 65535,
    which would cut one dispatch silently; split into dispatches of steps_per_dispatch steps,
    each within LOOP_BOUND, it trains as the normal path."""
    x = rng.normal(size=(3000, 2)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:] > 0).astype(np.float32)
    model = Model(net(sizes=(2, 3, 1)), device=device, seed=0)
    await model._ready_device(False)
    kernel = tiny.plan(model._state, 1, optimizers.SGD(), 0)
    per_step = tiny.step_trips([(2, 3), (3, 1)], 1, 13, kernel.lanes, False)
    assert 3000 * per_step > loops.LLVMPIPE_CAP
    assert kernel.steps_per_dispatch * per_step <= loops.LOOP_BOUND
    tiny_run, _ = await assert_paths_agree(device, monkeypatch, lambda: net(sizes=(2, 3, 1)), x,
                                           y, batch_size=1, epochs=1, loss_algorithm="bce",
                                           seed=6)
    assert tiny_run[3]["dispatches"] == math.ceil(3000 / kernel.steps_per_dispatch) > 1


async def test_counters_one_submit_and_readback_per_window(device, monkeypatch, rng):
    """2-3-1 in batches of 4, 200 samples (50 steps an epoch), 300 epochs read 100 times: one
    dispatch per window of 3 epochs (150 steps fit one), one submit, one readback (the normal
    path: 9 dispatches a step, a submit an epoch)."""
    x = rng.normal(size=(200, 2)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    run = await fit_on(device, monkeypatch, True, net(ReLU(), sizes=(2, 3, 1)), x, y,
                       batch_size=4, epochs=300, loss_algorithm="bce", optimizer="adam")
    assert run[0] == "tiny"
    assert run[3]["dispatches"] == run[3]["submits"] == run[3]["readbacks"] == 100


async def test_the_xor_walkthrough_is_about_a_hundred_dispatches():
    """examples/xor.py (the README's walkthrough): 10000 epochs, read 100 times, in 100
    dispatches and submits (90,000 and 10,000 on the normal path), plus its predict."""
    spec = importlib.util.spec_from_file_location("xor_example", ROOT / "examples" / "xor.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    shared = await default_device()
    before, paths = dict(shared.stats), tiny.COUNTS["tiny"]
    await example.main()
    assert tiny.COUNTS["tiny"] == paths + 1
    dispatches = shared.stats["dispatches"] - before.get("dispatches", 0)
    submits = shared.stats["submits"] - before.get("submits", 0)
    assert 100 <= dispatches <= 110 and 100 <= submits <= 110


class StopAfter(Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    async def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


async def test_a_callback_stops_both_paths_after_the_same_epoch(device, monkeypatch, rng):
    x, y = small_data(rng)
    run, _ = await assert_paths_agree(device, monkeypatch, net, x, y, batch_size=4, epochs=50,
                                      callbacks=[StopAfter(3)], seed=1)
    assert len(run[1]["loss"]) == 4


async def test_stop_between_chunks_keeps_whole_epochs_and_drops_the_partial_sums(
        device, monkeypatch, rng):
    """A stop seen at a chunk boundary mid-window: the read holds the epochs that completed,
    the partial epoch's sums are cleared (the next fit starts from zero)."""
    x, y = small_data(rng, samples=12)
    model = Model(net(), device=device, seed=0)
    await model.fit(x, y, TrainingOptions(epochs=1, batch_size=1))
    monkeypatch.setattr(loops, "LOOP_BOUND", 400)  # a few steps per dispatch
    monkeypatch.setattr(submits, "MAX_DISPATCHES_PER_SUBMIT", 1)
    options = TrainingOptions(epochs=6, batch_size=1, shuffle=False)
    epochs = await device.run(tiny_epochs.epochs_for, model._state, x, y, None, options, 0, 6)
    assert isinstance(epochs, tiny_epochs.TinyEpochs)
    per_dispatch = epochs.plan.steps_per_dispatch
    assert 1 <= per_dispatch < 12

    class StopLater(threading.Event):  # set once `after` chunks were submitted
        def __init__(self, after):
            super().__init__()
            self.after, self.seen = after, 0

        def is_set(self):
            self.seen += 1
            return self.seen > self.after

    # The first check is submit's own; then one after each chunk (one dispatch) is submitted.
    chunks = 12 // per_dispatch + 3  # past the first epoch, within the window
    staged = await device.run(epochs.submit, [None] * 6, StopLater(chunks))
    rows = (await device.run(staged.collect))[0]
    ran = chunks * per_dispatch  # steps of the chunks submitted before the stop was seen
    assert ran % 12 and len(rows) == ran // 12 >= 1
    assert np.all(rows[:, 0] > 0)
    sums = (await device.run(gpu.read, epochs.sums))[0]
    assert not sums.any()


@pytest.mark.parametrize("case", ["softmax_mse", "softmax_after_tanh", "validation", "dropout",
                                  "optimizer_subclass", "disabled", "too_large"])
async def test_ineligible_fits_take_the_normal_path(device, monkeypatch, rng, case):
    x, y = small_data(rng)
    layers, extra = net(), {}
    if case == "softmax_mse":  # its backward is not fused into this loss
        layers, extra = net(last=SoftMax()), {"loss_algorithm": "mse"}
    elif case == "softmax_after_tanh":
        layers = net(last=False) + [TanH(), SoftMax()]
        extra = {"loss_algorithm": "categorical_crossentropy"}
    elif case == "validation":
        extra = {"validation_data": (x[:4], y[:4])}
    elif case == "dropout":
        layers = [Dense(3, 5), Dropout(0.5), Dense(5, 2)]
    elif case == "optimizer_subclass":
        extra = {"optimizer": type("MySGD", (optimizers.SGD,), {})(0.1)}
    elif case == "disabled":
        monkeypatch.setattr(tiny, "ENABLED", False)
    elif case == "too_large":
        layers = net(sizes=(3, 2048, 2))
    model = Model(layers, device=device, seed=0)
    options = TrainingOptions(epochs=2, batch_size=4, **extra)
    await model._ready_device(False)
    reason = tiny.eligibility(model._state, x, extra.get("validation_data"), options, 0)
    assert reason
    before = dict(tiny.COUNTS)
    history = await model.fit(x, y, options)
    assert tiny.COUNTS["normal"] == before.get("normal", 0) + 1
    assert tiny.COUNTS["tiny"] == before.get("tiny", 0)
    assert np.isfinite(history.loss).all()


async def test_float64_trains_as_on_the_normal_path(device, monkeypatch, rng):
    if "shader-f64" not in device.features:
        pytest.skip("no shader-f64 on this adapter")
    x, y = small_data(rng)
    await assert_paths_agree(device, monkeypatch, net, x, y, dtype="float64", batch_size=4,
                             epochs=3, optimizer=optimizers.Adam, seed=2)


async def test_float64_xor_follows_the_normal_path_to_1e_9(device, monkeypatch):
    """The README's network in float64, full batch, 3000 epochs: every epoch's loss as the
    normal path's (itself NumPy float64's to 1e-9, test_precision.py) to 1e-9, past 1e-10."""
    if "shader-f64" not in device.features:
        pytest.skip("no shader-f64 on this adapter")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
    y = np.array([[0], [0.8], [0.8], [0]], np.float64)
    runs = [await fit_on(device, monkeypatch, enabled, [Dense(2, 3), TanH(), Dense(3, 1), TanH()],
                         x, y, dtype="float64", learning_rate=0.1, epochs=3000)
            for enabled in (True, False)]
    assert [run[0] for run in runs] == ["tiny", "normal"]
    np.testing.assert_allclose(runs[0][1]["loss"], runs[1][1]["loss"], rtol=1e-9)
    assert runs[0][1]["loss"][-1] < 1e-10
    assert runs[0][3]["dispatches"] == 100


async def test_cancelling_a_tiny_fit_keeps_its_epochs_and_drops_the_partial_sums(
        device, monkeypatch):
    """A cancelled fit stops within a chunk or two (tiny.TRIPS_PER_SUBMIT), keeps the epochs
    that completed and drops the partial one's sums: a fit that doesn't move the weights then
    reports exactly evaluate's loss."""
    x = np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32), (100, 1))
    y = np.tile(np.array([[0], [1], [1], [0]], np.float32), (100, 1))
    model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0)
    await model.predict(x[:4])
    device.stats.reset()
    before = tiny.COUNTS["tiny"]
    task = asyncio.create_task(model.fit(x, y, TrainingOptions(
        batch_size=1, learning_rate=0.01, epochs=10**6)))
    for _ in range(60000):
        if device.stats["submits"] > 3:
            break
        await asyncio.sleep(0.002)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tiny.COUNTS["tiny"] == before + 1
    kernel = tiny.plan(model._state, 1, optimizers.SGD(), 0)
    steps = device.stats["dispatches"] * kernel.steps_per_dispatch
    assert 1 <= len(model.history.loss) <= steps // 400
    loss = await model.evaluate(x, y)
    history = await model.fit(x, y, TrainingOptions(learning_rate=1e-30, epochs=1,
                                                    shuffle=False))
    assert history.loss[0] == pytest.approx(loss, rel=1e-5)


async def test_a_window_of_several_uploads_files_every_epoch_row(device, monkeypatch, rng):
    """1000 shuffled epochs read every 10, uploaded 3 at a time (MAX_ROWS lowered): each
    upload's rows are copied after the ones before in the window's log (the kernel binds only
    an upload's rows: a 10**7-epoch window's log exceeds any binding limit)."""
    monkeypatch.setattr(tiny_epochs, "MAX_ROWS", 3)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    run, _ = await assert_paths_agree(
        device, monkeypatch, lambda: [Dense(2, 3), TanH(), Dense(3, 1), TanH()], x, y,
        learning_rate=0.1, epochs=1000, batch_size=2, seed=3)
    # Per window: uploads of 3, 3, 3 and 1 epochs, each a dispatch and a submit (the next
    # upload's permutations are written after it), one readback.
    assert run[3]["dispatches"] == run[3]["submits"] == 100 * 4
    assert run[3]["readbacks"] == 100


@pytest.mark.parametrize("value, enabled", [("0", False), ("off", False), (" False", False),
                                            ("no", False), ("1", True), (None, True)])
def test_the_environment_switch_forces_the_normal_path_for_a_whole_run(value, enabled):
    """INTRICATE_TINY_FITS=0: any script (benchmarks/mlp.py) A/B without changing it."""
    environment = {key: item for key, item in os.environ.items() if key != "INTRICATE_TINY_FITS"}
    if value is not None:
        environment["INTRICATE_TINY_FITS"] = value
    printed = subprocess.run(
        [sys.executable, "-c", "from intricate.engine import tiny; print(tiny.ENABLED)"],
        env=environment, capture_output=True, text=True, check=True).stdout.strip()
    assert printed == str(enabled)


WORKGROUP_VARIABLE = re.compile(r"var<workgroup>\s+\w+\s*:\s*array<\s*((?:vec4<\s*)?\w+)>?\s*,"
                                r"\s*([^;]+?)>\s*;")


def declared_workgroup_bytes(source: str, lanes: int) -> int:
    """The workgroup memory a rendered kernel declares: its var<workgroup> arrays in source
    order, each at its element's alignment (vec4 of f32: 16 bytes, of f64: 32)."""
    names = reflect.integers(source, {"workgroup_size": lanes})
    total = 0
    for element, count in WORKGROUP_VARIABLE.findall(reflect.strip_comments(source)):
        scalar = 8 if element.endswith("f64") else 4
        size = scalar * (4 if element.startswith("vec4") else 1)
        total = -(-total // size) * size + size * reflect.evaluate(count, names)
    return total


@pytest.mark.parametrize("dtype, layers, options, accuracy", [
    ("float32", lambda: net(), {"batch_size": 4}, 0),
    ("float32", lambda: [Dense(3, 7), ELU(0.5), Dense(7, 4), SoftMax()],
     {"batch_size": 3, "optimizer": "adam", "loss_algorithm": "categorical_crossentropy"}, 2),
    ("float64", lambda: [Dense(5, 9), GELU(), Dense(9, 9), Dense(9, 1), Sigmoid()],
     {"batch_size": 7, "optimizer": "adamw", "loss_algorithm": "bce"}, 1),
    ("float32", lambda: [Dense(3, 500), TanH(), Dense(500, 1)], {"batch_size": 1}, 0)],
    ids=["sgd", "adam_softmax_kept", "float64_adamw", "wide"])
async def test_the_workgroup_budget_covers_what_the_kernel_declares(device, rng, dtype, layers,
                                                                    options, accuracy):
    """tiny.plan's workgroup_bytes (what eligibility holds against the adapter's
    max-compute-workgroup-storage-size) is the memory the rendered kernel declares, alignment
    padding included: neither wgpu nor lavapipe refuses a kernel past that limit (one 4 KiB
    over ran here), so an undercount would only show on adapters that enforce it."""
    if dtype == "float64" and "shader-f64" not in device.features:
        pytest.skip("no shader-f64 on this adapter")
    x = rng.normal(size=(10, layers()[0].input_size)).astype(dtype)
    y = np.zeros((10, Model(layers(), device=device).output_size), dtype)
    model = Model(layers(), device=device, seed=0, dtype=dtype)
    await model._ready_device(False)
    fit_options = TrainingOptions(epochs=1, **options)
    assert not tiny.eligibility(model._state, x, None, fit_options, accuracy)
    epochs = await device.run(tiny_epochs.epochs_for, model._state, x, y, None, fit_options,
                              accuracy, 1)
    pipeline = epochs.program.steps[0].pipeline
    [source] = [compiled.source for compiled in device.cache.values()
                if getattr(compiled, "pipeline", None) is pipeline]
    declared = declared_workgroup_bytes(source, epochs.plan.lanes)
    assert declared == epochs.plan.workgroup_bytes


@pytest.mark.parametrize("make_layers, classes, batch_size", [
    (lambda: [Dense(1, 1)], 1, 1),
    (lambda: net(sizes=(2, 3, 1)), 1, 1),
    (lambda: [Dense(2, 3), ReLU(), Dense(3, 4), SoftMax()], 4, 2)],
    ids=["dense_1_1", "xor", "softmax"])
async def test_step_trips_is_within_half_of_llvmpipes_count(device, monkeypatch, rng,
                                                            make_layers, classes, batch_size):
    """With LOOP_BOUND at half llvmpipe's cap, dispatches as long as step_trips allows still
    train as the normal path: step_trips undercounts llvmpipe's loop trips by less than 2x
    (measured: 10-30% for the smallest steps, where each loop's exit pass weighs most), well
    inside LOOP_BOUND's 4x margin; an undercount past it would cut dispatches silently."""
    x = rng.normal(size=(3000, make_layers()[0].input_size)).astype(np.float32)
    y = (np.eye(classes, dtype=np.float32)[rng.integers(0, classes, len(x))] if classes > 1
         else (x[:, :1] > 0).astype(np.float32))
    loss = "categorical_crossentropy" if classes > 1 else "mse"
    monkeypatch.setattr(loops, "LOOP_BOUND", loops.LLVMPIPE_CAP // 2)
    tiny_run, _ = await assert_paths_agree(
        device, monkeypatch, make_layers, x, y, batch_size=batch_size, epochs=1, seed=6,
        loss_algorithm=loss, optimizer="adam", metrics=["accuracy"])
    assert tiny_run[3]["dispatches"] > 1
