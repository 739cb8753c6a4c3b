"""The GPU side of fit / evaluate / predict: epochs encoded into as few submits as possible
(the programs they run are in programs.py). Everything here runs on the device's GPU thread.

An epoch: for each batch, copy its slice of the permutation into the batch's index array and
encode the step; then the validation batches (copied rows → forward → sums); then one dispatch
turns the sums into the epoch's means and a copy files them in the loss log. The host reads the
log once per ``interval`` epochs.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import gpu, losses
from .dataset import Dataset
from .gpu import GPUArray, Program, StagedRead
from .optimizers import write_optimizer_state
from .programs import Programs

MAX_DISPATCHES_PER_SUBMIT = 4096  # longer epochs are split into chunks of whole steps
STATISTICS = 8  # training (loss, accuracy, mae, -) then validation (loss, accuracy, mae, -)


def batches(samples: int, batch_size: int | None) -> list[tuple[int, int]]:
    """(first sample, rows) of each batch; the last one may be partial."""
    size = samples if batch_size is None else min(batch_size, samples)
    return [(start, min(size, samples - start)) for start in range(0, samples, size)]


def batch_sizes(steps: list[tuple[int, int]]) -> list[int]:
    """The distinct batch sizes of ``steps`` (at most two): one program is recorded for each."""
    return sorted({rows for _, rows in steps})


def copy_rows(encoder, source: GPUArray, start: int, destination: GPUArray) -> None:
    """Copy rows [start, start + destination rows) of ``source`` into ``destination``."""
    width = source.shape[1] * source.dtype.itemsize
    encoder.copy_buffer_to_buffer(source.buffer, source.offset + start * width,
                                  destination.buffer, destination.offset, destination.nbytes)


class Epochs:
    """Everything one fit needs on the GPU, and the loop that encodes and submits its epochs."""

    def __init__(self, model, x, y, validation, options, accuracy: int, interval: int) -> None:
        """x, y: checked arrays, or a Dataset x (y None); validation likewise: (x, y), a
        Dataset, or None."""
        self.device = model.device
        programs = Programs(model)
        self.shuffle = options.shuffle
        samples = len(x)
        val_samples = 0 if validation is None else len(
            validation if isinstance(validation, Dataset) else validation[0])
        self.steps = batches(samples, options.batch_size)
        self.val_steps = [] if validation is None else batches(val_samples, options.batch_size)
        # One unshuffled batch that no validation batch shares a workspace with (the original's
        # full-batch training): upload it straight into the batch arrays, copy nothing per epoch.
        self.in_place = not self.shuffle and len(self.steps) == 1 and (
            self.steps[0][1] not in {rows for _, rows in self.val_steps})
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
            limit = self.device.limits["max-storage-buffer-binding-size"]
            arrays = (x.x, x.y) if isinstance(x, Dataset) else (x, y)
            nbytes = max(array.nbytes for array in arrays)
            if self.shuffle and (nbytes > limit or isinstance(x, Dataset) and not x.bindable):
                raise ValueError(
                    f"x: {samples}×{model.input_size} floats ({nbytes / 2**20:.0f} MiB) exceed "
                    f"this adapter's storage binding limit ({limit / 2**20:.0f} MiB), which "
                    "shuffled training needs (the gather shader binds the whole dataset); pass "
                    "shuffle=False (batches are then copied, not bound) or fewer samples")
            self.train = x if isinstance(x, Dataset) else Dataset.upload(
                self.device, x, y, bindable=self.shuffle)
        loss, gather_from = options.loss_algorithm, self.train if self.shuffle else None
        self.training = {rows: programs.training(rows, gather_from, loss, options.optimizer,
                                                 accuracy) for rows in batch_sizes(self.steps)}
        self.indices = {rows: programs.io(rows)[2] for rows in batch_sizes(self.steps)}
        self.validation, self.evaluating = None, {}
        if validation is not None:  # uploaded after the checks above, so a refusal costs nothing
            self.validation = validation if isinstance(validation, Dataset) else Dataset.upload(
                self.device, *validation, bindable=False)
            self.evaluating = {rows: programs.evaluation(rows, loss, accuracy, 4)
                               for rows in batch_sizes(self.val_steps)}
        self.finish = Program(model.workspace(1))
        losses.record_finish_epoch(self.finish, model.statistics, model.epoch_result, samples,
                                   val_samples)
        self.permutation = gpu.empty(self.device, (samples,), np.uint32, label="permutation",
                                     bindable=False) if self.shuffle else None
        self.log = gpu.empty(self.device, (interval, STATISTICS), label="epoch_log",
                             bindable=False)
        self.epoch_result = model.epoch_result

    def submit(self, permutations: list[np.ndarray | None],
               stop: threading.Event) -> StagedRead | None:
        """Train one epoch per entry of ``permutations`` (ignored without shuffle), one submit per
        epoch (more for epochs over MAX_DISPATCHES_PER_SUBMIT), without waiting for the GPU.

        Returns the staged read of their statistics [epochs, 8] (``collect`` it later, so the
        next window can be encoded while the GPU works), or None if ``stop`` was set midway.
        The log is reused by the next window safely: its copy to the staging buffer comes first
        in queue order."""
        for slot, permutation in enumerate(permutations):
            if stop.is_set():
                return None
            if self.shuffle:
                gpu.upload(self.permutation, permutation)
            encoder = self.encode_epoch(slot)
            staged = None
            if slot == len(permutations) - 1:
                staged = StagedRead(self.device, encoder, [self.log.view(0, (slot + 1,
                                                                              STATISTICS))])
            self.device.submit(encoder)
        return staged

    def encode_epoch(self, slot: int):
        """Encode one epoch; submits (and restarts) the encoder whenever it grows too long."""
        device = self.device
        encoder, dispatches = device.handle.create_command_encoder(), 0
        for start, rows in self.steps:
            if dispatches >= MAX_DISPATCHES_PER_SUBMIT:
                device.submit(encoder)
                encoder, dispatches = device.handle.create_command_encoder(), 0
            program = self.training[rows]
            if self.shuffle:
                indices = self.indices[rows]
                encoder.copy_buffer_to_buffer(self.permutation.buffer, start * 4, indices.buffer,
                                              indices.offset, rows * 4)
            elif not self.in_place:
                copy_rows(encoder, self.train.x, start, program.inputs)
                copy_rows(encoder, self.train.y, start, program.targets)
            program.encode(encoder)
            dispatches += program.dispatch_count
        encode_evaluation(encoder, self.validation, self.val_steps, self.evaluating)
        self.finish.encode(encoder)
        row_bytes = STATISTICS * 4
        encoder.copy_buffer_to_buffer(self.epoch_result.buffer, self.epoch_result.offset,
                                      self.log.buffer, self.log.offset + slot * row_bytes,
                                      row_bytes)
        return encoder


def encode_evaluation(encoder, data: Dataset | None, steps, programs: dict[int, Program],
                      outputs: GPUArray | None = None) -> None:
    """Encode forward passes over ``data`` batch by batch (rows copied into the workspace);
    ``outputs`` [samples, width] collects the predictions when given."""
    if data is None:
        return
    for start, rows in steps:
        program = programs[rows]
        copy_rows(encoder, data.x, start, program.inputs)
        if data.y is not None:
            copy_rows(encoder, data.y, start, program.targets)
        program.encode(encoder)
        if outputs is not None:
            row = outputs.shape[1] * 4
            encoder.copy_buffer_to_buffer(program.outputs.buffer, program.outputs.offset,
                                          outputs.buffer, outputs.offset + start * row,
                                          rows * row)


def evaluate_now(model, x, y, batch_size, loss, accuracy) -> np.ndarray:
    """(loss, accuracy, mae) over (x, y): batches of forward + statistics, one submit, one
    readback."""
    data = x if isinstance(x, Dataset) else Dataset.upload(model.device, x, y, bindable=False)
    steps = batches(len(x), batch_size)
    programs = {rows: Programs(model).evaluation(rows, loss, accuracy, 0)
                for rows in batch_sizes(steps)}
    finish = Program(model.workspace(1))
    losses.record_finish_epoch(finish, model.statistics, model.epoch_result, len(x), 0)
    encoder = model.device.handle.create_command_encoder()
    encode_evaluation(encoder, data, steps, programs)
    finish.encode(encoder)
    staged = StagedRead(model.device, encoder, [model.epoch_result])
    model.device.submit(encoder)
    return staged.collect()[0][:3]


def predict_now(model, x: np.ndarray, batch_size: int | None) -> np.ndarray:
    """The model's outputs for x, in batches (programs cached per batch size), one submit and
    one readback."""
    if batch_size is None:
        widest = size = model.input_size
        for layer in model.layers:
            size = layer.output_size_for(size)
            widest = max(widest, size)
        limit = model.device.limits["max-storage-buffer-binding-size"]
        batch_size = max(1, limit // (4 * widest))
    steps = batches(len(x), batch_size)
    programs = Programs(model)
    for _, rows in steps:
        if rows not in model.predicting:
            model.predicting[rows] = programs.program(rows)
            programs.forward(model.predicting[rows])
    outputs = gpu.empty(model.device, (len(x), model.output_size), label="predictions",
                        bindable=False)
    encoder = model.device.handle.create_command_encoder()
    data = x if isinstance(x, Dataset) else Dataset.upload(model.device, x, None, bindable=False)
    encode_evaluation(encoder, data, steps, model.predicting, outputs)
    staged = StagedRead(model.device, encoder, [outputs])
    model.device.submit(encoder)
    return staged.collect()[0]


def copy_parameters(model, snapshot: GPUArray | None, to_snapshot: bool) -> GPUArray:
    """Copy the parameters into ``snapshot`` (new if None) or back, on the GPU."""
    if snapshot is None:
        snapshot = gpu.empty(model.device, model.parameters.shape, label="snapshot")
    source, target = (model.parameters, snapshot) if to_snapshot else (snapshot,
                                                                       model.parameters)
    encoder = model.device.handle.create_command_encoder()
    encoder.copy_buffer_to_buffer(source.buffer, 0, target.buffer, 0, source.nbytes)
    model.device.submit(encoder)
    return snapshot


def upload_parameters(model) -> None:
    """Put the model's parameters in one flat buffer (each tensor at an aligned offset, so
    layers bind views of it), its gradients in another, and the loss/metric sums beside them."""
    align = max(1, model.device.limits["min-storage-buffer-offset-alignment"] // 4)
    shapes = [shape for layer in model.layers for _, shape in layer.parameter_shapes()]
    starts, total = [], 0
    for shape in shapes:
        starts.append(total)
        total += math.ceil(math.prod(shape) / align) * align
    flat = np.zeros(max(total, 1), np.float32)
    host_weights = [w for layer in model.layers for w in layer.host_weights]
    for start, weights in zip(starts, host_weights):
        flat[start:start + weights.size] = weights.reshape(-1)
    model.parameters = gpu.from_numpy(model.device, flat, label="parameters")
    model.gradients = gpu.empty(model.device, flat.shape, label="gradients")
    model.statistics = gpu.empty(model.device, (STATISTICS,), label="statistics")
    model.epoch_result = gpu.empty(model.device, (STATISTICS,), label="epoch_result")
    views = iter(zip(starts, shapes))
    for layer in model.layers:
        layer.parameters, layer.gradients = [], []
        for _ in layer.parameter_shapes():
            start, shape = next(views)
            layer.parameters.append(model.parameters.view(start, shape))
            layer.gradients.append(model.gradients.view(start, shape))
    if model.pending_optimizer_state is not None:  # from a file saved with the optimizer
        write_optimizer_state(model, model.pending_optimizer_state)
        model.pending_optimizer_state = None
