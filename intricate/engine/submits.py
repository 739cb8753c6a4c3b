"""Long GPU work split into several submits: one command encoder that is submitted and restarted
once it holds ``MAX_DISPATCHES_PER_SUBMIT`` dispatches, so the host memory a recorded encoder
takes stays bounded (fit's epochs, validation, evaluate and predict all encode through it).
Runs on the device's GPU thread."""

from __future__ import annotations

import wgpu

from ..gpu import Device

MAX_DISPATCHES_PER_SUBMIT = 4096  # longer work is split into chunks of whole batches


class ChunkedEncoder:
    """A command encoder that ``reserve`` submits and restarts whenever it is full.

    Chunks end between whole programs (a batch's step is never split), and queue order keeps
    them in sequence, so a staged read encoded into the last chunk sees all of them.
    """

    def __init__(self, device: Device) -> None:
        self.device = device
        self.encoder = device.handle.create_command_encoder()
        self.dispatches = 0

    def reserve(self, dispatches: int) -> wgpu.GPUCommandEncoder:
        """The encoder to record ``dispatches`` more dispatches into: the current one, or a new
        one after submitting the current one if it already holds MAX_DISPATCHES_PER_SUBMIT."""
        if self.dispatches >= MAX_DISPATCHES_PER_SUBMIT:  # read at call time: tests lower it
            self.submit()
            self.encoder, self.dispatches = self.device.handle.create_command_encoder(), 0
        self.dispatches += dispatches
        return self.encoder

    def submit(self) -> None:
        """Submit what the current encoder holds (it can't be used afterwards)."""
        self.device.submit(self.encoder)
