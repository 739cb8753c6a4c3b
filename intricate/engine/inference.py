"""evaluate and predict on the GPU thread: forward passes over data batch by batch, loss and
metrics summed on the GPU, predictions gathered into one array and read back once."""

from __future__ import annotations

import numpy as np

from .. import gpu
from ..dataset import Dataset
from ..gpu import GPUArray, Program, StagedRead
from ..ops import statistics
from ..ops.gather import batch_sizes, batches, copy_rows
from .programs import Programs


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
    statistics.record_finish_epoch(finish, model.statistics, model.epoch_result, len(x), 0)
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


