"""A model's weights laid out on the GPU: trainable parameters in one flat buffer (with a
gradient buffer laid out alike, and mixed_float16's f16 compute copy), non-trainable states
(BatchNormalization's moving statistics) in another; each layer binds views of them. Also the
initial draw of the weights on the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import gpu
from ..gpu import Device, GPUArray
from ..gpu.dtypes import Precision
from ..layers import Layer
from .inputs import check_weights


def initial_weights(layers: Sequence[Layer], seed: int | None, precision: Precision) -> None:
    """Draw the weights of layers that have none (not loaded from a file) from ``seed`` (the
    parameters, then the layer's initial states), and keep every layer's host weights in the
    policy's parameter type. The draws are the same for every dtype (initializers return
    float32), so one seed starts float32 and float64 models from the same point."""
    rng = np.random.default_rng(seed)
    for layer in layers:
        if layer.host_weights is None:
            layer.host_weights = [*layer.initial_parameters(rng), *layer.initial_state()]
        layer.host_weights = [np.asarray(w, precision.parameters) for w in layer.host_weights]


def check_layer_weights(layers: Sequence[Layer], weights: Sequence[np.ndarray],
                        precision: Precision) -> list[list[np.ndarray]]:
    """``weights`` (get_weights' order: each layer's parameters, then its states) checked
    (inputs.check_weights: count, shapes, finite values within the dtype; the parameters also
    within mixed_float16's f16 copy) and split per layer, in the policy's parameter type."""
    shapes = [shape for layer in layers for _, shape in layer.weight_shapes()]
    copied = [index < len(layer.parameter_shapes()) for layer in layers
              for index in range(len(layer.weight_shapes()))]
    remaining = iter(check_weights(weights, shapes, precision.parameters, precision.numpy,
                                   copied))
    return [[next(remaining) for _ in layer.weight_shapes()] for layer in layers]


def _flat(device: Device, shapes: list[tuple[int, ...]], values: list[np.ndarray],
          dtype: np.dtype, precision: Precision) -> tuple[np.ndarray, list[int]]:
    """``values`` (of ``shapes``) in one flat array of ``dtype``, each at an offset aligned for
    binding; returns it and the offsets (elements)."""
    # Offsets in elements, aligned for the smaller type's bytes: then the wider one's are too.
    smaller = min(dtype.itemsize, precision.numpy.itemsize)
    align = max(1, device.limits["min-storage-buffer-offset-alignment"] // smaller)
    starts, total = [], 0
    for shape in shapes:
        starts.append(total)
        total += math.ceil(math.prod(shape) / align) * align
    flat = np.zeros(max(total, 1), dtype)
    for start, weights in zip(starts, values):
        flat[start:start + weights.size] = weights.reshape(-1)
    return flat, starts


def upload_parameters(device: Device, layers: list[Layer], precision: Precision
                      ) -> tuple[GPUArray, GPUArray, GPUArray | None, list[GPUArray]]:
    """The layers' host parameters in one flat buffer of the policy's parameter type (each
    tensor at an aligned offset, so layers bind views of it), a gradient buffer laid out alike,
    and for mixed_float16 an f16 compute copy laid out alike (else None); points each layer's
    ``parameters`` at its views of the compute copy (else of the parameters) and ``gradients``
    at its gradient views. Returns the three buffers and the parameters' views, Keras order."""
    dtype = precision.parameters
    shapes = [shape for layer in layers for _, shape in layer.parameter_shapes()]
    host = [w for layer in layers for w in layer.host_weights[:len(layer.parameter_shapes())]]
    flat, starts = _flat(device, shapes, host, dtype, precision)
    parameters = gpu.from_numpy(device, flat, dtype, label="parameters")
    gradients = gpu.empty(device, flat.shape, dtype, label="gradients")
    compute = None
    if precision.master_copy:
        compute = gpu.from_numpy(device, flat.astype(precision.numpy), precision.numpy,
                                 label="compute_parameters")
    views, masters = iter(zip(starts, shapes)), []
    for layer in layers:
        layer.parameters, layer.gradients, layer.master_parameters = [], [], []
        for _ in layer.parameter_shapes():
            start, shape = next(views)
            masters.append(parameters.view(start, shape))
            layer.gradients.append(gradients.view(start, shape))
            if compute is None:
                layer.parameters.append(masters[-1])
            else:
                layer.parameters.append(compute.view(start, shape))
                layer.master_parameters.append(masters[-1])
    return parameters, gradients, compute, masters


def upload_states(device: Device, layers: list[Layer], precision: Precision) -> GPUArray | None:
    """The layers' host states (``state_shapes``) in one flat buffer of the policy's parameter
    type (mixed_float16: float32, bound as it is; no f16 copy), each layer's ``states`` pointed
    at its views; None (and no buffer) when no layer has a state."""
    shapes = [shape for layer in layers for _, shape in layer.state_shapes()]
    for layer in layers:
        layer.states = []
    if not shapes:
        return None
    host = [w for layer in layers for w in layer.host_weights[len(layer.parameter_shapes()):]]
    flat, starts = _flat(device, shapes, host, precision.parameters, precision)
    states = gpu.from_numpy(device, flat, precision.parameters, label="states")
    views = iter(zip(starts, shapes))
    for layer in layers:
        for _ in layer.state_shapes():
            start, shape = next(views)
            layer.states.append(states.view(start, shape))
    return states
