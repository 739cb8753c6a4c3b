"""Liveness: timing without timestamp-query, fork refused at once, huge epoch counts without
a stall, cancellation at a step boundary, one shared default device."""

from __future__ import annotations

import asyncio
import multiprocessing

import numpy as np
import pytest

from intricate import ForkedProcessError, Model, gpu
from intricate.gpu import Program, Workspace, time_steps
from intricate.layers import Dense

FORKED_CHILD_SECONDS = 60  # a refusal takes milliseconds; a hang would take forever


async def test_timing_falls_back_to_the_wall_clock_without_timestamp_query(device, monkeypatch):
    monkeypatch.setattr(device, "features", device.features - {"timestamp-query"})
    program = Program(Workspace(device, 1))
    source = await device.run(gpu.from_numpy, device, np.ones(256, np.float32))
    destination = await device.run(gpu.empty, device, (256,))
    program.copy(source, destination)
    submits = device.stats["submits"]
    gpu_seconds, wall_seconds = await device.run(time_steps, device, program.steps, 2, 2)
    assert gpu_seconds > 0 and wall_seconds > 0
    assert device.stats["submits"] - submits >= 3  # a warm-up and two samples, each waited


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
    child.join(FORKED_CHILD_SECONDS)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung instead of refusing")
    messages = [answers.recv() for _ in range(2)]
    for message in messages:
        assert "forked" in message and "'spawn'" in message, message
