"""The GPU side of a tiny fit (see tiny.py): whole windows of epochs, each a few dispatches of
shaders/engine/tiny_fit.wgsl, with epochs.Epochs' interface (``submit`` returns the staged read
of the window's per-epoch statistics). Everything here runs on the device's GPU thread.

A window's permutations are uploaded together (at most ORDER_WORDS indices at a time), then
the cursor (next step, steps, first log row) is reset and the same recorded dispatch is encoded
once per ``steps_per_dispatch`` steps: each runs the next steps and advances the cursor on the
GPU; a copy files the upload's epoch rows in the window's log. Chunks of dispatches are
submitted through submits.ChunkedEncoder, so ``stop`` is honoured between chunks as on the
normal path.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable

import numpy as np

from .. import gpu
from ..dataset import Dataset
from ..gpu import Program, StagedRead
from ..ops import statistics
from ..ops.gather import batches
from ..optimizers import HYPERPARAMETERS
from . import tiny
from .epochs import Epochs
from .submits import ChunkedEncoder, InFlight, Stopped

ORDER_WORDS = 1 << 18  # permutation indices uploaded at once (1 MiB), made into one block
MAX_ROWS = 1 << 16  # epochs per upload at most: the kernel's bound log rows (2.5 MiB in f32)


def epochs_for(state, x, y, validation, options, accuracy: int, interval: int):
    """The fit's GPU side: TinyEpochs when ``tiny.eligibility`` allows, else Epochs; counted in
    tiny.COUNTS. Arguments as Epochs takes them."""
    if tiny.eligibility(state, x, validation, options, accuracy):
        tiny.COUNTS["normal"] += 1
        return Epochs(state, x, y, validation, options, accuracy, interval)
    tiny.COUNTS["tiny"] += 1
    return TinyEpochs(state, x, y, options, accuracy, interval)


class TinyEpochs:
    """A tiny fit on the GPU: its data, its one recorded dispatch and the loop that submits it.

    Attributes:
        plan: tiny.TinyPlan (lanes, steps per dispatch).
        steps: steps per epoch.
    """

    def __init__(self, state, x, y, options, accuracy: int, interval: int) -> None:
        """state: the model's ModelState; x, y: checked arrays, or a bindable Dataset x."""
        self.device = device = state.device
        samples = len(x)
        self.samples, self.shuffle = samples, options.shuffles
        steps = batches(samples, options.batch_size)
        self.steps = len(steps)
        rows, last_rows = steps[0][1], steps[-1][1]
        optimizer, loss = options.optimizer, options.loss_algorithm
        self.plan = tiny.plan(state, rows, optimizer, accuracy, loss)
        state.keep_workspaces({1})  # the normal path's batch arrays of earlier fits go
        self.train = x if isinstance(x, Dataset) else Dataset.upload(device, x, y, bindable=True)
        self.epochs_per_upload = max(1, min(interval, ORDER_WORDS // samples, MAX_ROWS))
        uploaded = self.epochs_per_upload if self.shuffle else 0  # permutations at once
        self.block = np.empty((uploaded, samples), np.uint32)
        self.orders = gpu.empty(device, (max(1, uploaded * samples),), np.uint32, label="orders")
        self.cursor = gpu.empty(device, (4,), np.uint32, label="cursor")
        # The kernel writes an upload's epoch rows (bound: small), copied into the window's log
        # (only copied: a 10**7-epoch window's log is past any binding limit).
        dtype = state.epoch_result.dtype
        self.rows = gpu.empty(device, (self.epochs_per_upload, statistics.SIZE), dtype,
                              label="epoch_rows")
        self.log = gpu.empty(device, (interval, statistics.SIZE), dtype, label="epoch_log",
                             bindable=False)
        self.sums = state.statistics
        rule, _ = tiny.RULES[type(optimizer)]
        params = {"samples": samples, "batch_size": rows, "steps_per_epoch": self.steps,
                  "steps_per_dispatch": self.plan.steps_per_dispatch,
                  "shuffled": int(self.shuffle), "accuracy": accuracy,
                  **tiny.loss_factors(loss, rows, last_rows, state.output_size, accuracy),
                  **(dict.fromkeys(HYPERPARAMETERS, 0.0) | optimizer.shader_values())}
        state_arrays = optimizer.state_for(state.parameters)
        bound = dict(zip(("first_moment", "second_moment"), state_arrays[:optimizer.moments]))
        if optimizer.counts_steps:
            bound["step_in"], bound["step_out"] = state_arrays[-2], state_arrays[-1]
        self.program = Program(state.workspace(1))
        self.program.dispatch(
            "engine/tiny_fit.wgsl", "train", groups=1, workgroup_size=self.plan.lanes,
            params=params, template={
                "layers": self.plan.layers, "parameter_count": state.parameters.size,
                "batch_size": rows, "moments": optimizer.moments, "optimizer": rule,
                "loss": loss.entry, "softmax": self.plan.softmax, "slot": statistics.SLOT,
                "size": statistics.SIZE},
            source_x=self.train.x, source_y=self.train.y, orders=self.orders,
            parameters=state.parameters, gradients=state.gradients, statistics=self.sums,
            epoch_log=self.rows, cursor=self.cursor, **bound)
        self.in_flight = InFlight(device)
        # One dispatch's share of a chunk (submits.py's work measure): its loop trips over the
        # trips a chunk may hold (tiny.TRIPS_PER_SUBMIT), so a stop waits as long as on the
        # normal path, whatever the adapter.
        kind = device.adapter_info.get("adapter_type", "")
        budget = tiny.TRIPS_PER_SUBMIT.get(kind, tiny.DEFAULT_TRIPS_PER_SUBMIT)
        self.dispatch_work = max(1, self.in_flight.max_work * self.plan.steps_per_dispatch
                                 * self.plan.step_trips // budget)

    def submit(self, permutations: Iterable[np.ndarray | None],
               stop: threading.Event) -> StagedRead | None:
        """Train one epoch per item of ``permutations`` (ignored without shuffle), as
        Epochs.submit does: ``stop`` is checked between chunks of dispatches and between
        uploads; a stop drops the partial epoch's sums and returns the read of the epochs that
        completed (None if none did). Returns the staged read of their statistics [epochs, 8]
        (``collect`` it later)."""
        done, encoder, orders = 0, None, iter(permutations)
        chunk = self.take(orders)
        while chunk and not stop.is_set():
            if self.shuffle:
                gpu.upload(self.orders.view(0, (chunk * self.samples,)), self.block[:chunk])
            total = chunk * self.steps
            gpu.upload(self.cursor, np.array([0, total, 0, 0], np.uint32))
            chunks = ChunkedEncoder(self.device, stop, self.in_flight)
            encoded = 0
            try:
                for _ in range(tiny.dispatches(total, self.plan.steps_per_dispatch)):
                    encoder = chunks.reserve(1, self.dispatch_work)
                    self.program.encode(encoder)
                    encoded += 1
            except Stopped:  # the chunks before ran: keep their whole epochs, drop the rest
                ran = min(total, encoded * self.plan.steps_per_dispatch)
                encoder = self.device.handle.create_command_encoder()
                done = self.file_rows(encoder, done, ran // self.steps)
                encoder.clear_buffer(self.sums.buffer, self.sums.offset, self.sums.nbytes)
                break
            encoder = chunks.encoder
            done = self.file_rows(encoder, done, chunk)
            chunk = self.take(orders)
            if not chunk or stop.is_set():  # the read goes with the last chunk
                break
            chunks.submit()
            encoder = None
        if done:
            encoder = encoder or self.device.handle.create_command_encoder()
            staged = StagedRead(self.device, encoder, [self.log.view(0, (done, statistics.SIZE))])
        if encoder is not None:
            self.in_flight.submit(encoder, self.dispatch_work)
        return staged if done else None

    def file_rows(self, encoder, done: int, count: int) -> int:
        """Encode the copy of this upload's first ``count`` epoch rows into the window's log
        after its ``done`` rows; returns the rows the log then holds."""
        if count:
            row_bytes = statistics.SIZE * self.log.dtype.itemsize
            encoder.copy_buffer_to_buffer(self.rows.buffer, self.rows.offset, self.log.buffer,
                                          self.log.offset + done * row_bytes, count * row_bytes)
        return done + count

    def take(self, orders) -> int:
        """The next epochs' permutations (up to epochs_per_upload, made one at a time as fit
        hands them) into ``self.block``; returns how many epochs came (0: the window ended)."""
        count = 0
        for order in itertools.islice(orders, self.epochs_per_upload):
            if self.shuffle:
                self.block[count] = order
            count += 1
        return count
