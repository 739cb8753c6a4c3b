"""Timing GPU work: GPU timestamps around a compute pass when the device has timestamp-query,
the wall clock around a waited submit otherwise (used by GEMM tuning, the benchmarks and
``intricate.kernels.Kernel.time``)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import wgpu

from .arrays import GPUArray, StagedRead, empty, read
from .device import Device
from .program import Copy, Dispatch, TexelCopy, encode_steps

TIMESTAMPS = "timestamp"
WALL_CLOCK = "wall clock"
# A sample runs the timed steps back to back in one submit until it lasts about this long: a
# GPU lowers its clocks between short submits (an H200 copied at 1.2 TB/s timed one dispatch per
# submit, at 3.2 TB/s once kept busy), and a timestamp pair has a tick's resolution.
MIN_SAMPLE_SECONDS = 2e-3
MAX_RUNS_PER_SAMPLE = 1024  # a cap on the dispatches encoded into one sample (~8 µs each)


@dataclass
class Samples:
    """Seconds per run of some steps, one value per sample.

    Attributes:
        gpu: by GPU timestamps when ``method`` is "timestamp", else the wall clock's values.
        wall: the wall clock around each waited submit (includes submit and readback latency).
        method: "timestamp" or "wall clock" (the device lacks timestamp-query).
    """

    gpu: list[float]
    wall: list[float]
    method: str


def timestamp_period(device: Device) -> float:
    """Nanoseconds per timestamp tick on ``device``'s queue (1.0 where wgpu-native normalizes
    them or can't say; an Intel GPU's Vulkan ticks are ~52 ns). Runs on the GPU thread."""
    if "timestamp-period" not in device.cache:
        period = 1.0
        try:  # wgpu-py 0.32 has no Python call for it; wgpu-native's C API does
            from wgpu.backends.wgpu_native._ffi import lib

            period = float(lib.wgpuQueueGetTimestampPeriod(device.queue._internal)) or 1.0
        except (ImportError, AttributeError):
            pass
        device.cache["timestamp-period"] = period
    return device.cache["timestamp-period"]


def sample_steps(device: Device, steps: Sequence[Dispatch | Copy | TexelCopy], samples: int,
                 warmup: int = 1, repeats: int = 1) -> Samples:
    """Seconds per run of ``steps`` (a program's recorded dispatches and copies), ``samples``
    times after ``warmup`` unmeasured runs; runs on the GPU thread.

    Each sample is one submit that encodes the steps ``repeats`` times; the first compute pass
    writes a timestamp as it begins and the last one as it ends (steps without dispatches: two
    empty passes around them, which some drivers resolve to 0, wgpu-native #625), scaled by
    ``timestamp_period``. Without timestamp-query: the wall clock around the submit and a
    readback that waits for it. Dispatches are counted in ``device.stats`` like any other.
    """
    timestamps = "timestamp-query" in device.features
    if timestamps:
        queries = device.handle.create_query_set(type=wgpu.QueryType.timestamp, count=2)
        resolved = device.create_buffer(
            16, wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC, label="timestamps")
        stamps = GPUArray(device, resolved, (2,), np.dtype(np.uint64))
        seconds_per_tick = timestamp_period(device) * 1e-9
    else:  # a later copy's readback waits for all earlier work: one tiny array, read per sample
        fence = empty(device, (1,))
    runs = list(steps) * repeats  # encoded into every sample
    dispatches = sum(isinstance(step, Dispatch) for step in runs)
    result = Samples([], [], TIMESTAMPS if timestamps else WALL_CLOCK)
    for sample in range(warmup + samples):
        encoder = device.handle.create_command_encoder()
        if timestamps and dispatches:  # written by the dispatches' own passes
            encode_steps(encoder, runs, timestamps=queries)
        elif timestamps:  # copies alone: two empty passes around them
            for index in (0, 1):
                if index:
                    encode_steps(encoder, runs)
                writes = {"query_set": queries, "beginning_of_pass_write_index": index}
                encoder.begin_compute_pass(timestamp_writes=writes).end()
        else:
            encode_steps(encoder, runs)
        if timestamps:
            encoder.resolve_query_set(queries, 0, 2, resolved, 0)
            staged = StagedRead(device, encoder, [stamps])
        device.stats["dispatches"] += dispatches
        start = time.perf_counter()
        device.submit(encoder)
        if timestamps:
            begin, end = staged.collect()[0]
        else:
            read(fence)
        wall = (time.perf_counter() - start) / repeats
        if sample >= warmup:
            result.wall.append(wall)
            result.gpu.append((int(end) - int(begin)) * seconds_per_tick / repeats
                              if timestamps else wall)
    return result


def runs_per_sample(seconds: float) -> int:
    """How many back-to-back runs of steps taking ``seconds`` each fill one sample of
    MIN_SAMPLE_SECONDS (1 to MAX_RUNS_PER_SAMPLE)."""
    return int(min(MAX_RUNS_PER_SAMPLE, max(1, math.ceil(MIN_SAMPLE_SECONDS / max(seconds, 1e-9)))))


def time_steps(device: Device, steps: Sequence[Dispatch | Copy | TexelCopy], repeats: int = 1,
               samples: int = 3) -> tuple[float, float]:
    """Median seconds per run of ``steps`` by GPU timestamps (wall clock when the device has no
    timestamp-query), and by the wall clock around each waited submit; one warm-up sample
    first (see ``sample_steps``). Runs on the GPU thread."""
    measured = sample_steps(device, steps, samples, warmup=1, repeats=repeats)
    return statistics.median(measured.gpu), statistics.median(measured.wall)
