"""Timing GPU work: GPU timestamps around a compute pass when the device has timestamp-query,
the wall clock around a waited submit otherwise (used by GEMM tuning and the benchmarks)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import numpy as np
import wgpu

from .arrays import GPUArray, StagedRead, empty, read
from .device import Device
from .program import Copy, Dispatch, TexelCopy, encode_steps


def time_steps(device: Device, steps: Sequence[Dispatch | Copy | TexelCopy], repeats: int = 1,
               samples: int = 3) -> tuple[float, float]:
    """Median seconds per run of ``steps`` (a program's recorded dispatches and copies) by GPU
    timestamps (wall clock when the device has no timestamp-query), and by the wall clock around
    each waited submit.

    Each sample encodes the steps ``repeats`` times between two empty compute passes that write
    the timestamps; one warm-up sample comes first. Runs on the GPU thread.
    """
    timestamps = "timestamp-query" in device.features
    if timestamps:
        queries = device.handle.create_query_set(type=wgpu.QueryType.timestamp, count=2)
        resolved = device.create_buffer(
            16, wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC, label="timestamps")
        stamps = GPUArray(device, resolved, (2,), np.dtype(np.uint64))
    gpu_times, wall_times = [], []
    for sample in range(samples + 1):
        encoder = device.handle.create_command_encoder()
        if timestamps:
            for index in (0, 1):
                if index:
                    encode_steps(encoder, list(steps) * repeats)
                writes = {"query_set": queries, "beginning_of_pass_write_index": index}
                encoder.begin_compute_pass(timestamp_writes=writes).end()
        else:
            encode_steps(encoder, list(steps) * repeats)
        if timestamps:
            encoder.resolve_query_set(queries, 0, 2, resolved, 0)
            staged = StagedRead(device, encoder, [stamps])
        start = time.perf_counter()
        device.submit(encoder)
        if timestamps:
            begin, end = staged.collect()[0]
        else:
            read(empty(device, (1,)))  # a later copy's readback waits for all earlier work
        wall = (time.perf_counter() - start) / repeats
        if sample:  # the first pass warms up
            wall_times.append(wall)
            gpu_times.append((int(end) - int(begin)) * 1e-9 / repeats if timestamps else wall)
    return statistics.median(gpu_times), statistics.median(wall_times)
