"""Liveness: timing without timestamp-query, fork refused at once, huge epoch counts without
a stall, cancellation at a step boundary, one shared default device."""

from __future__ import annotations

import numpy as np

from intricate import gpu
from intricate.gpu import Program, Workspace, time_steps


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
