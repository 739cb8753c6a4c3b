"""Long GPU work split into several submits: one command encoder that is submitted and restarted
once it holds ``MAX_DISPATCHES_PER_SUBMIT`` dispatches, so the host memory a recorded encoder
takes stays bounded (fit's epochs, validation, evaluate and predict all encode through it).
Runs on the device's GPU thread."""

from __future__ import annotations

import threading

import wgpu

from ..gpu import Device
from ..gpu.encoding import Encoder

MAX_DISPATCHES_PER_SUBMIT = 4096  # longer work is split into chunks of whole batches
# Estimated multiply-adds per submit of a fit (6 · rows · parameters per step): a cancelled fit
# stops between two chunks, so a chunk is at most ~0.1 s of work on a software adapter and
# ~25 ms on an H200 (~1 s on a 1 TFLOP/s integrated GPU). Smaller GPU chunks cost speed: on an
# H200, 2^37 (one 4096-4096-4096-10 b1024 step per chunk, each waiting on a fence) trained it at
# 215k samples/s against 222-224k for 2^39 to 2^41 and 221k unchunked (benchmarks/RESULTS.md).
MAX_WORK_PER_SUBMIT = {"CPU": 2**31}
DEFAULT_WORK_PER_SUBMIT = 2**39


def work_per_submit(device: Device) -> int:
    """The estimated multiply-adds one submit of a fit carries at most on ``device``."""
    return MAX_WORK_PER_SUBMIT.get(device.adapter_info.get("adapter_type", ""),
                                   DEFAULT_WORK_PER_SUBMIT)


class Stopped(Exception):
    """Raised by ``ChunkedEncoder.reserve`` when its ``stop`` event is set at a chunk boundary:
    the chunks before are submitted, the rest of the work is not encoded."""


class InFlight:
    """Bounds how much of a fit's work is queued on the GPU, so a stopped fit waits for about
    two chunks (MAX_WORK_PER_SUBMIT each) at most, on any adapter: a discrete GPU's submit
    returns at once, and the GPU thread would otherwise queue a whole window of epochs ahead.

    Once a chunk's worth of work has been submitted since the last checkpoint, the next submit
    clears one of two small mappable fence buffers (a checkpoint); before that, mapping the
    fence waits until the checkpoint two back has finished. Tiny epochs pass many submits
    between checkpoints, so they pay nothing.
    """

    def __init__(self, device: Device) -> None:
        usage = wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
        self.device = device
        self.fences = [device.create_buffer(4, usage, label="fence") for _ in range(2)]
        self.used = [False, False]
        self.next = 0
        self.unfenced = 0  # work submitted since the last checkpoint
        self.max_work = work_per_submit(device)
        self.waits = 0  # checkpoints that waited for the one two back (a counter for tests)

    def submit(self, encoder: wgpu.GPUCommandEncoder, work: int) -> None:
        """Submit ``encoder`` (about ``work`` multiply-adds); GPU thread."""
        self.unfenced += work
        if self.unfenced >= self.max_work:
            index, self.next = self.next, 1 - self.next
            fence = self.fences[index]
            if self.used[index]:  # map (waits for the GPU), unmap before it is used again
                fence.map_sync(wgpu.MapMode.READ)
                fence.unmap()
                self.waits += 1
            encoder.clear_buffer(fence, 0, 4)
            self.used[index], self.unfenced = True, 0
        self.device.submit(encoder)


class ChunkedEncoder:
    """A command encoder that ``reserve`` submits and restarts whenever it is full.

    Chunks end between whole programs (a batch's step is never split), and queue order keeps
    them in sequence, so a staged read encoded into the last chunk sees all of them. The
    encoder is a gpu.encoding.Encoder: programs encoded one after another share its compute
    pass until a copy (or the chunk's end) ends it.
    """

    def __init__(self, device: Device, stop: threading.Event | None = None,
                 in_flight: InFlight | None = None) -> None:
        self.device = device
        self.stop, self.in_flight = stop, in_flight
        self.encoder = Encoder(device)
        self.dispatches = self.work = 0
        self.max_work = work_per_submit(device)

    def reserve(self, dispatches: int, work: int = 0) -> Encoder:
        """The encoder to record ``dispatches`` more dispatches (about ``work`` multiply-adds)
        into: the current one, or a new one after submitting the current one if it already
        holds MAX_DISPATCHES_PER_SUBMIT dispatches or ``max_work``.

        Raises:
            Stopped: ``stop`` was set when a chunk was submitted (nothing more is encoded).
        """
        if self.dispatches >= MAX_DISPATCHES_PER_SUBMIT or (  # read at call time: tests lower it
                work and self.work and self.work + work > self.max_work):
            self.submit()
            if self.stop is not None and self.stop.is_set():
                raise Stopped
            self.encoder = Encoder(self.device)
            self.dispatches = self.work = 0
        self.dispatches += dispatches
        self.work += work
        return self.encoder

    def submit(self) -> None:
        """Submit what the current encoder holds (it can't be used afterwards)."""
        if self.in_flight is not None:
            self.in_flight.submit(self.encoder, self.work)
        else:
            self.device.submit(self.encoder)
