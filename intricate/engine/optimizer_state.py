"""A model's optimizer state on the host side: per parameter, as model files name it
("layers.0.kernel.first_moment", "step"), plus mixed_float16's loss scale, so a model saved with
``include_optimizer=True`` resumes with the same moments, step count and scale. The arrays live
in the optimizer (optimizers.py: ``Optimizer.state_for``) and the ``ModelState``.
"""

from __future__ import annotations

import numpy as np

from .. import gpu
from ..gpu import GPUArray
from ..optimizers import Optimizer
from . import loss_scale


def state_views(optimizer: Optimizer, state) -> dict[str, GPUArray]:
    """``optimizer``'s GPU state for the model whose ``ModelState`` is ``state``, per parameter,
    named as in model files (GPU thread)."""
    views, moments = {}, optimizer.state_for(state.parameters)
    for index, layer in enumerate(state.layers):
        # The gradients share the master parameters' layout and dtype (layers' parameters may
        # be views of mixed_float16's f16 compute copy).
        for (name, shape), view in zip(layer.parameter_shapes(), layer.gradients):
            start = (view.offset - state.gradients.offset) // view.dtype.itemsize
            for moment, array in zip(("first_moment", "second_moment"),
                                     moments[:optimizer.moments]):
                views[f"layers.{index}.{name}.{moment}"] = array.view(start, shape)
    if optimizer.counts_steps:
        views["step"] = moments[-2]
    return views


def read_state(optimizer: Optimizer, state) -> dict[str, np.ndarray]:
    """``optimizer``'s state for the model whose ``ModelState`` is ``state``, as numpy named as
    ``state_views`` names it, plus a mixed_float16 model's loss scale (loss_scale.tensors),
    which a resumed fit continues from; one readback (GPU thread)."""
    views = state_views(optimizer, state)
    scaled = state.loss_scale is not None
    values = gpu.read(*views.values(), *[state.loss_scale] * scaled)
    result = dict(zip(views, values))
    return result | loss_scale.tensors(values[-1]) if scaled else result


def write_state(optimizer: Optimizer, state, values: dict[str, np.ndarray]) -> None:
    """Upload loaded optimizer state (as ``read_state`` names it) into ``optimizer``'s GPU
    arrays (and the loss scale) for the model whose ``ModelState`` is ``state`` (GPU thread)."""
    views = state_views(optimizer, state)
    values = dict(values)
    if state.loss_scale is not None and loss_scale.FILE_TENSORS.keys() <= values.keys():
        gpu.upload(state.loss_scale, loss_scale.words(
            {name: values.pop(name) for name in loss_scale.FILE_TENSORS}))
    for name, array in values.items():
        gpu.upload(views[name], array)
    if "step" in values:  # the shader reads step_in and writes step_out: both hold t
        gpu.upload(optimizer.state_for(state.parameters)[-1], values["step"])
