"""PyTorch interop: Dense weights from an ``nn.Sequential`` state dict (or its safetensors
file). PyTorch stores ``nn.Linear.weight`` as [out, in]; intricate's kernels are [in, out].
Writing the PyTorch layout is ``model.save(path, layout="torch")`` (intricate.io.model_files)."""

from __future__ import annotations

import os
import re

import numpy as np

from .. import layers
from .files import ModelFileError, check_finite, read


# PyTorch -----------------------------------------------------------------------------------------
def _natural(key: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"[.]", key)]


def torch_weights(source, model_layers: list[layers.Layer]) -> list[np.ndarray]:
    """Dense weights (Keras order) from a PyTorch ``nn.Sequential`` state dict or its
    safetensors file: the i-th ``nn.Linear`` feeds the i-th Dense, its weight transposed."""
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "state_dict"
    if isinstance(source, (str, os.PathLike)):
        state, _ = read(source)
    elif isinstance(source, dict):
        state = {key: np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach")
                                 else value) for key, value in source.items()}
    else:
        raise ValueError(f"path_or_dict: expected a file path or a state dict, received "
                         f"{type(source).__name__}")
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key in sorted(state, key=_natural):
        module, _, name = key.rpartition(".")
        modules.setdefault(module, {})[name] = state[key]
    linear = [(module, parts) for module, parts in modules.items()
              if np.ndim(parts.get("weight")) == 2]
    dense = [layer for layer in model_layers if isinstance(layer, layers.Dense)]
    if len(linear) != len(dense):
        raise ModelFileError(path, f"holds {len(linear)} Linear weights "
                                   f"({[m for m, _ in linear]}) for {len(dense)} Dense layers")
    weights = []
    for (module, parts), layer in zip(linear, dense):
        weight = np.asarray(parts["weight"], np.float32)
        if weight.shape != (layer.output_size, layer.input_size):
            raise ModelFileError(path, f"{module}.weight is {weight.shape} ([out, in]) but "
                                       f"{layer!r} needs ({layer.output_size}, "
                                       f"{layer.input_size})")
        bias = np.asarray(parts.get("bias", np.zeros(layer.output_size)), np.float32)
        if bias.shape != (layer.output_size,):
            raise ModelFileError(path, f"{module}.bias is {bias.shape}, {layer!r} needs "
                                       f"({layer.output_size},)")
        check_finite(path, {f"{module}.weight": weight, f"{module}.bias": bias})
        weights += [np.ascontiguousarray(weight.T), bias]
    return weights
