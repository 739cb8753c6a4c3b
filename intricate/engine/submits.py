"""Long GPU work split into several submits: one command encoder that is submitted and restarted
once it holds ``MAX_DISPATCHES_PER_SUBMIT`` dispatches, so the host memory a recorded encoder
takes stays bounded (fit's epochs, validation, evaluate and predict all encode through it).
Runs on the device's GPU thread."""

from __future__ import annotations

import threading

import wgpu

from ..gpu import Device

MAX_DISPATCHES_PER_SUBMIT = 4096  # longer work is split into chunks of whole batches
# Estimated multiply-adds per submit of a fit (6 · rows · parameters per step): a cancelled fit
# stops between two chunks, so a chunk is at most ~0.5 s of work on the slowest adapters
# (software ones) and a few ms on a discrete GPU, where submits are cheap next to it.
MAX_WORK_PER_SUBMIT = {"CPU": 2**31}
DEFAULT_WORK_PER_SUBMIT = 2**37


class Stopped(Exception):
    """Raised by ``ChunkedEncoder.reserve`` when its ``stop`` event is set at a chunk boundary:
    the chunks before are submitted, the rest of the work is not encoded."""


class ChunkedEncoder:
    """A command encoder that ``reserve`` submits and restarts whenever it is full.

    Chunks end between whole programs (a batch's step is never split), and queue order keeps
    them in sequence, so a staged read encoded into the last chunk sees all of them.
    """

    def __init__(self, device: Device, stop: threading.Event | None = None) -> None:
        self.device = device
        self.stop = stop
        self.encoder = device.handle.create_command_encoder()
        self.dispatches = self.work = 0
        adapter_type = device.adapter_info.get("adapter_type", "")
        self.max_work = MAX_WORK_PER_SUBMIT.get(adapter_type, DEFAULT_WORK_PER_SUBMIT)

    def reserve(self, dispatches: int, work: int = 0) -> wgpu.GPUCommandEncoder:
        """The encoder to record ``dispatches`` more dispatches (about ``work`` multiply-adds)
        into: the current one, or a new one after submitting the current one if it already
        holds MAX_DISPATCHES_PER_SUBMIT dispatches or ``max_work``.

        Raises:
            Stopped: ``stop`` was set when a chunk was submitted (nothing more is encoded).
        """
        if self.dispatches >= MAX_DISPATCHES_PER_SUBMIT or (  # read at call time: tests lower it
                self.work and self.work + work > self.max_work):
            self.submit()
            if self.stop is not None and self.stop.is_set():
                raise Stopped
            self.encoder = self.device.handle.create_command_encoder()
            self.dispatches = self.work = 0
        self.dispatches += dispatches
        self.work += work
        return self.encoder

    def submit(self) -> None:
        """Submit what the current encoder holds (it can't be used afterwards)."""
        self.device.submit(self.encoder)
