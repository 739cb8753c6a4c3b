"""The GPU side of fit: epochs encoded into as few submits as possible (the programs they
run are in programs.py; evaluate and predict in inference.py). Everything here runs on the
device's GPU thread.

An epoch: clear the gather's cursor; for each batch, the gather (the batch's rows of the
permutation, or of the samples in order when unshuffled, from the cursor, which it moves on) and
the step; then the validation batches (copied rows → forward → sums); then one dispatch turns
the sums into the epoch's means and a copy files them in the loss log. The host reads the log
once per ``interval`` epochs. Nothing but dispatches runs between the clear and the validation,
so the training steps share one compute pass (gpu/encoding.py); only unshuffled data too large
to bind whole is copied batch by batch (a pass per step).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

from .. import gpu
from ..dataset import Dataset
from ..gpu import Program, StagedRead
from ..ops import statistics
from ..ops.gather import batch_sizes, batches, copy_rows, record_gather
from .inference import copied_batches, encode_evaluation, realigned, rows_copyable
from .programs import Programs
from .submits import ChunkedEncoder, InFlight, Stopped

_END = object()  # the end of an epoch window's permutations


class Epochs:
    """Everything one fit needs on the GPU, and the loop that encodes and submits its epochs."""

    def __init__(self, state, x, y, validation, options, accuracy: int, interval: int) -> None:
        """state: the model's ModelState. x, y: checked arrays, or a Dataset x (y None);
        validation likewise: (x, y), a Dataset, or None."""
        self.device = state.device
        programs = Programs(state)
        x, validation = realigned(state, x), realigned(state, validation, "validation")
        self.shuffle = options.shuffles
        samples = len(x)
        val_samples = 0 if validation is None else len(
            validation if isinstance(validation, Dataset) else validation[0])
        self.steps = batches(samples, options.batch_size)
        self.val_steps = [] if validation is None else copied_batches(
            (validation.x, validation.y) if isinstance(validation, Dataset) else validation,
            val_samples, options.batch_size)
        state.keep_workspaces({1, *batch_sizes(self.steps), *batch_sizes(self.val_steps)})
        # One unshuffled batch that no validation batch shares a workspace with (the original's
        # full-batch training): upload it straight into the batch arrays, copy nothing per epoch.
        self.in_place = not self.shuffle and len(self.steps) == 1 and (
            self.steps[0][1] not in {rows for _, rows in self.val_steps})
        # Batches are gathered (unshuffled: in order) from data a shader binds whole; larger
        # unshuffled data is copied batch by batch, unless a batch starts an f16 row of odd
        # width off a 4-byte word (ops.gather.copyable): such data can't be trained on.
        arrays = (x.x, x.y) if isinstance(x, Dataset) else (x, y)
        limit = self.device.limits["max-storage-buffer-binding-size"]
        nbytes = max(array.nbytes for array in arrays)
        bindable = nbytes <= limit and not (isinstance(x, Dataset) and not x.bindable)
        self.gathered = not self.in_place and (self.shuffle or bindable)
        if self.in_place and isinstance(x, Dataset):  # the batch arrays take it once
            inputs, targets, _ = programs.io(samples)
            encoder = self.device.handle.create_command_encoder()
            copy_rows(encoder, x.x, 0, inputs)
            copy_rows(encoder, x.y, 0, targets)
            self.device.submit(encoder)
        elif self.in_place:
            inputs, targets, _ = programs.io(samples)
            gpu.upload(inputs, x)
            gpu.upload(targets, y)
        else:
            # Why the data can't be bound: its size, or a Dataset uploaded unbindable or viewed
            # from a row past 0 (binding offsets must be aligned), however small.
            unbound = "this Dataset can't be bound whole (a row view that starts past sample " \
                "0, or uploaded with bindable=False)" if nbytes <= limit else None
            too_large = "this data is too large to gather from (the adapter's binding limit)"
            if self.shuffle and not bindable:
                raise ValueError(
                    f"x: {unbound}, which shuffled training needs (the gather shader binds the "
                    "whole dataset); pass shuffle=False (batches are then copied, not bound)"
                    if unbound else
                    f"x: {samples}×{state.input_size} floats ({nbytes / 2**20:.0f} MiB) exceed "
                    f"this adapter's storage binding limit ({limit / 2**20:.0f} MiB), which "
                    "shuffled training needs (the gather shader binds the whole dataset); pass "
                    "shuffle=False (batches are then copied, not bound) or fewer samples")
            if not self.gathered and not rows_copyable(arrays, self.steps):
                raise ValueError(f"batch_size: {options.batch_size} starts f16 rows off the "
                                 f"4-byte words buffer copies need, and {unbound or too_large}"
                                 "; use an even batch_size")
            self.train = x if isinstance(x, Dataset) else Dataset.upload(
                self.device, x, y, bindable=self.gathered)
        loss = options.loss_algorithm
        self.training = {rows: programs.training(rows, None, loss, options.optimizer, accuracy)
                         for rows in batch_sizes(self.steps)}
        self.permutation = gpu.empty(self.device, (samples,), np.uint32,
                                     label="permutation") if self.shuffle else None
        # The gather's cursor: the position of the batch in the epoch's order. Step k reads
        # one word and writes the next batch's position into the other (odd steps swap them),
        # so the same recorded gather takes each batch in turn with no copy between steps.
        self.cursor = tuple(gpu.empty(self.device, (1,), np.uint32, label="cursor")
                            for _ in range(2)) if self.gathered else None
        self.gathers = {}
        for rows in batch_sizes(self.steps) if self.gathered else ():
            gather = self.gathers[rows] = Program(state.workspace(rows))
            inputs, targets, _ = programs.io(rows)
            record_gather(gather, self.permutation, self.train.x, self.train.y, inputs, targets,
                          cursor=self.cursor)
        self.validation, self.evaluating = None, {}
        if validation is not None:  # uploaded after the checks above, so a refusal costs nothing
            self.validation = validation if isinstance(validation, Dataset) else Dataset.upload(
                self.device, *validation, bindable=False)
            self.evaluating = {rows: programs.evaluation(rows, loss, accuracy, 4)
                               for rows in batch_sizes(self.val_steps)}
        self.finish = Program(state.workspace(1))
        statistics.record_finish_epoch(self.finish, state.statistics, state.epoch_result,
                                       samples, val_samples)
        self.log = gpu.empty(self.device, (interval, statistics.SIZE), state.epoch_result.dtype,
                             label="epoch_log", bindable=False)
        self.epoch_result, self.sums = state.epoch_result, state.statistics
        self.in_flight = InFlight(self.device)
        # Multiply-adds of one training step (forward and both backward GEMMs): chunk sizes.
        self.step_work = {rows: 6 * rows * state.parameters.size
                          for rows in batch_sizes(self.steps)}
        # What an epoch's last submit carries, at most (earlier chunks are counted as sent).
        self.epoch_work = min(sum(self.step_work[rows] for _, rows in self.steps),
                              self.in_flight.max_work)

    def submit(self, permutations: Iterable[np.ndarray | None],
               stop: threading.Event) -> StagedRead | None:
        """Train one epoch per item of ``permutations`` (made lazily, one at a time; ignored
        without shuffle), one submit per epoch (more for epochs over MAX_DISPATCHES_PER_SUBMIT
        dispatches or MAX_WORK_PER_SUBMIT work), without waiting for the GPU.

        ``stop`` is checked between two epochs and between two chunks of an epoch: a set stop
        leaves the weights as the last submitted step made them, drops the partial epoch's
        sums, and returns the read of the epochs that completed (None if none did).

        Returns the staged read of their statistics [epochs, 8] (``collect`` it later, so the
        next window can be encoded while the GPU works). The log is reused by the next window
        safely: its copy to the staging buffer comes first in queue order."""
        done, encoder, orders = 0, None, iter(permutations)
        permutation = next(orders, _END)
        while permutation is not _END and not stop.is_set():
            if self.shuffle:
                gpu.upload(self.permutation, permutation)
            try:
                encoder = self.encode_epoch(done, stop)
            except Stopped:  # mid-epoch: its sums are partial, so the next fit starts at zero
                encoder = self.device.handle.create_command_encoder()
                encoder.clear_buffer(self.sums.buffer, self.sums.offset, self.sums.nbytes)
                break
            done += 1
            permutation = next(orders, _END)
            if permutation is _END or stop.is_set():  # the read goes with the last epoch
                break
            self.in_flight.submit(encoder, self.epoch_work)
            encoder = None
        if done:
            encoder = encoder or self.device.handle.create_command_encoder()
            staged = StagedRead(self.device, encoder, [self.log.view(0, (done, statistics.SIZE))])
        if encoder is not None:
            self.in_flight.submit(encoder, self.epoch_work)
        return staged if done else None

    def encode_epoch(self, slot: int, stop: threading.Event | None = None):
        """Encode one epoch; submits (and restarts) the encoder whenever it grows past
        MAX_DISPATCHES_PER_SUBMIT or MAX_WORK_PER_SUBMIT (see submits.py). Returns the last,
        unsubmitted encoder.

        Raises:
            Stopped: ``stop`` was set at a chunk boundary; the steps before were submitted."""
        chunks = ChunkedEncoder(self.device, stop, self.in_flight)
        if self.gathered:  # the first batch starts at position 0 (before the pass begins)
            chunks.encoder.clear_buffer(self.cursor[0].buffer, self.cursor[0].offset, 4)
        for phase, (start, rows) in enumerate(self.steps):
            program, gather = self.training[rows], self.gathers.get(rows)
            encoder = chunks.reserve(program.dispatch_count + (
                0 if gather is None else gather.dispatch_count), self.step_work[rows])
            if gather is not None:  # phase: which cursor word this step reads (see __init__)
                gather.encode(encoder, phase)
            elif not self.in_place:
                copy_rows(encoder, self.train.x, start, program.inputs)
                copy_rows(encoder, self.train.y, start, program.targets)
            program.encode(encoder)
        encode_evaluation(chunks, self.validation, self.val_steps, self.evaluating)
        encoder = chunks.reserve(self.finish.dispatch_count)
        self.finish.encode(encoder)
        row_bytes = statistics.SIZE * self.log.dtype.itemsize
        encoder.copy_buffer_to_buffer(self.epoch_result.buffer, self.epoch_result.offset,
                                      self.log.buffer, self.log.offset + slot * row_bytes,
                                      row_bytes)
        return encoder
