"""The model's state on the GPU: its parameters in one flat buffer, gradients laid out alike,
the loss/metric sums, and copies of the parameters (snapshots)."""

from __future__ import annotations

import math

import numpy as np

from .. import gpu
from ..gpu import GPUArray
from ..ops import statistics
from ..optimizers import write_optimizer_state


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
    model.statistics = gpu.empty(model.device, (statistics.SIZE,), label="statistics")
    model.epoch_result = gpu.empty(model.device, (statistics.SIZE,), label="epoch_result")
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
