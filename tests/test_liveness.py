"""Liveness: timing without timestamp-query, fork refused at once, huge epoch counts without
a stall, cancellation at a step boundary, one shared default device."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from intricate import ForkedProcessError, Model, TrainingOptions, gpu
from intricate.engine import epochs as epochs_module
from intricate.engine import submits, tiny, tiny_epochs
from intricate.gpu import Program, Workspace, time_steps
from intricate.layers import Dense, TanH

XOR_DISPATCHES_PER_STEP = 8  # as in test_training.py

CHILD_SECONDS = 60  # a child that refuses or stops takes seconds; a hang would take forever


async def test_timing_falls_back_to_the_wall_clock_without_timestamp_query(device, monkeypatch):
    monkeypatch.setattr(device, "features", device.features - {"timestamp-query"})
    program = Program(Workspace(device, 1))
    source = await device.run(gpu.from_numpy, device, np.ones(256, np.float32))
    destination = await device.run(gpu.empty, device, (256,))
    program.copy(source, destination)
    before = device.stats["submits"]
    gpu_seconds, wall_seconds = await device.run(time_steps, device, program.steps, 2, 2)
    assert gpu_seconds > 0 and wall_seconds > 0
    assert device.stats["submits"] - before >= 3  # a warm-up and two samples, each waited


async def test_timing_steps_that_form_several_compute_passes(device):
    """Copies between dispatches (a GEMM's operands into texels, a split-K sum) cut the steps
    into several passes; repeated three times, a middle pass writes no timestamp (WebGPU refuses
    timestamp_writes without an index, which timing every lavapipe GEMM of 256³ hit)."""
    if "timestamp-query" not in device.features:
        pytest.skip("no timestamp-query")
    program = Program(Workspace(device, 1))
    source = await device.run(gpu.from_numpy, device, np.ones((1, 2), np.float32))
    copied = await device.run(gpu.empty, device, (1, 2))

    def record():
        layer = TanH()
        outputs = layer.propagate(program, source)
        program.copy(outputs, copied)
        layer.propagate(program, copied)

    await device.run(record)
    gpu_seconds, _ = await device.run(time_steps, device, program.steps, 3, 2)
    assert gpu_seconds > 0


def forked_child(trained: Model, answers) -> None:
    """In a forked child: a fresh model (which opens a device), then one the parent trained."""
    asyncio.events._set_running_loop(None)  # the fork copied pytest's running-loop marker
    for attempt in (lambda: Model([Dense(2, 1)]).predict(np.ones((1, 2), np.float32)),
                    lambda: trained.predict(np.ones((1, 2), np.float32))):
        try:
            asyncio.run(attempt())
            answers.send("no error")
        except ForkedProcessError as error:
            answers.send(str(error))
        except BaseException as error:  # reported to the parent
            answers.send(f"{type(error).__name__}: {error}")


async def test_a_forked_child_is_refused_at_once_naming_spawn(device):
    trained = Model([Dense(2, 1)], device=device, seed=0)
    await trained.predict(np.ones((1, 2), np.float32))  # the parent has used the GPU
    answers, child_end = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=forked_child,
                                                        args=(trained, child_end))
    child.start()
    child.join(CHILD_SECONDS)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung instead of refusing")
    messages = [answers.recv() for _ in range(2)]
    for message in messages:
        assert "forked" in message and "'spawn'" in message, message


def xor_model(device) -> Model:
    return Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0)


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


async def wait_for(condition, seconds: float = 120) -> None:
    for _ in range(int(seconds / 0.002)):
        if condition():
            return
        await asyncio.sleep(0.002)
    pytest.fail("the fit never got that far")


async def test_huge_epoch_counts_make_permutations_one_at_a_time(device):
    model = xor_model(device)
    await model.predict(XOR_X)  # the model's buffers exist before we measure
    device.stats.reset()
    tracemalloc.start()
    try:
        task = asyncio.create_task(model.fit(XOR_X, XOR_Y, TrainingOptions(
            epochs=10**8, shuffle=True)))
        await wait_for(lambda: device.stats["submits"] > 0)  # inside the first window
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The first window is 10**6 epochs; their permutations at once took ~130 MB and seconds.
    assert peak < 16 * 2**20, peak
    assert 0 < len(model.history.loss) < 10**6  # the epochs that trained, kept


async def test_cancelling_stops_within_a_chunk_and_keeps_the_trained_epochs(device,
                                                                              monkeypatch):
    chunk = 10 * XOR_DISPATCHES_PER_STEP
    monkeypatch.setattr(tiny, "ENABLED", False)  # the normal path's dispatches (tiny: its tests)
    monkeypatch.setattr(submits, "MAX_DISPATCHES_PER_SUBMIT", chunk)
    x, y = np.tile(XOR_X, (100, 1)), np.tile(XOR_Y, (100, 1))
    per_epoch = len(x) * XOR_DISPATCHES_PER_STEP + 1  # batch 1, then the epoch's means
    model = xor_model(device)
    await model.predict(XOR_X)
    device.stats.reset()
    task = asyncio.create_task(model.fit(x, y, TrainingOptions(
        batch_size=1, learning_rate=0.01, epochs=10**6)))
    await wait_for(lambda: device.stats["dispatches"] > 2.5 * per_epoch)
    at_cancel = device.stats["dispatches"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    dispatched = device.stats["dispatches"]
    # The chunk being encoded when the stop came, and at most the next one.
    assert dispatched - at_cancel <= 2 * chunk
    assert len(model.history.loss) == dispatched // per_epoch >= 2
    # The partial epoch's sums were dropped: a fit that doesn't move the weights reports
    # exactly evaluate's loss.
    loss = await model.evaluate(x, y)
    history = await model.fit(x, y, TrainingOptions(learning_rate=1e-30, epochs=1,
                                                    shuffle=False))
    assert history.loss[0] == pytest.approx(loss, rel=1e-5)


async def test_models_without_a_device_share_the_default_one(device):
    first, second = Model([Dense(2, 1)], seed=0), Model([Dense(2, 1)], seed=1)
    await first.predict(XOR_X)
    await second.fit(XOR_X, XOR_Y, TrainingOptions(epochs=1))
    assert first.device is second.device is await gpu.default_device()
    assert first.device is not device  # setup_device() (the fixture's) opens its own


CTRL_C_CHILD = """
import asyncio, atexit, faulthandler, signal, sys
faulthandler.dump_traceback_later(CHILD_SECONDS - 10, exit=True)  # a hang shows its stacks
# Ctrl-C as a terminal delivers it: a pytest-xdist worker may pass on SIGINT ignored or blocked
# (under the full suite the child kept training past 50 s, never cancelled)
print(signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, []),
      file=sys.stderr, flush=True)
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
import numpy as np
from intricate import Model, TrainingOptions
from intricate.engine import submits
from intricate.layers import Dense, TanH

submits.MAX_DISPATCHES_PER_SUBMIT = 80  # ten XoR steps per chunk

async def main(model):
    x = np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32), (25000, 1))
    y = np.tile(np.array([[0], [1], [1], [0]], np.float32), (25000, 1))
    fit = asyncio.create_task(model.fit(x, y, TrainingOptions(batch_size=1, epochs=2)))
    while model.device is None or model.device.stats["submits"] < 3:
        await asyncio.sleep(0.001)
    print("training", flush=True)
    await fit

def at_exit():  # after the interpreter joined the GPU thread: what it did in all
    print(model.device.stats["dispatches"], len(model.history.loss), flush=True)

model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], seed=0)
atexit.register(at_exit)
try:
    asyncio.run(main(model))
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_stops_a_fit_within_a_chunk():
    code = CTRL_C_CHILD.replace("CHILD_SECONDS", str(CHILD_SECONDS))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "training"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=CHILD_SECONDS)
    finally:
        child.kill()
    assert len(out.split()) == 3, out + err  # else the stacks of a hang, or an error
    word, dispatches, epochs = out.split()
    # An epoch is 100,000 steps (800,001 dispatches); the stop comes within a chunk or two
    # (the GPU thread used to finish the epoch before the process could exit).
    assert word == "interrupted" and int(epochs) == 0
    assert int(dispatches) < 100_000, dispatches


async def test_a_fit_queues_at_most_two_chunks_of_work_ahead_of_the_gpu(device, monkeypatch):
    # Each XoR epoch is one submit; with a chunk's work lowered to one epoch's, every submit
    # after the first two waits for the one two back (a discrete GPU would otherwise run a
    # whole window behind the GPU thread, and a cancelled fit would wait for all of it).
    monkeypatch.setattr(submits, "DEFAULT_WORK_PER_SUBMIT", 1)
    monkeypatch.setattr(submits, "MAX_WORK_PER_SUBMIT", {})
    made = []
    for module in (epochs_module, tiny_epochs):  # either path (XoR takes the tiny one)
        monkeypatch.setattr(module, "InFlight",
                            lambda device: made.append(submits.InFlight(device)) or made[-1])
    await xor_model(device).fit(XOR_X, XOR_Y, TrainingOptions(epochs=20))
    assert made[0].waits == 20 - 2
