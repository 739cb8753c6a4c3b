"""Model files: ``layers.{i}.kernel`` / ``layers.{i}.bias`` (i = the layer's index in the
model; a layer's states follow its parameters: ``layers.{i}.moving_mean``) and, with
``include_optimizer=True``, ``optimizer.layers.{i}.{name}.{moment}`` plus ``optimizer.step``
(and a mixed_float16 model's ``optimizer.loss_scale`` and ``optimizer.loss_scale_finite_steps``:
engine/loss_scale.FILE_TENSORS); the config (see io/files.py) names every layer through the
layer registry.
``layout="torch"`` instead writes ``{i}.weight`` ([out, in]) and ``{i}.bias`` as an
``nn.Sequential`` of ``nn.Linear`` + activations names them (each layer's ``torch_names`` and
``to_torch``: BatchNorm2d's ``running_mean``, Conv2d's [out, in, kh, kw]).
"""

from __future__ import annotations

import numpy as np

from .. import optimizers
from ..engine import loss_scale
from ..gpu import dtypes
from ..layers.chain import check_chain
from ..layers.registry import layer_config, layer_from_config
from .files import (
    ModelFileError,
    check_finite,
    check_tensors,
    config_of,
    metadata,
    read,
    read_header,
)
from .pytorch import check_constant, feature_orders, from_torch, to_torch

MOMENTS = ("first_moment", "second_moment")


# Models ------------------------------------------------------------------------------------------
def model_file(model, include_optimizer: bool, layout: str) -> tuple[dict, dict]:
    """(tensors, metadata) of ``model``; reads the weights back from the GPU once."""
    if layout not in ("intricate", "torch"):
        raise ValueError(f"layout: expected 'intricate' or 'torch', received {layout!r}")
    for index, layer in enumerate(model.layers):
        if layout == "torch" and layer.carries_code:
            raise ValueError(f"layout='torch': layers[{index}] {layer!r} carries WGSL code, "
                             "which no PyTorch module holds; save with layout='intricate'")
    weights = iter(model.get_weights())
    tensors = {}  # the torch layout's feature orders: arrays as long as a Flatten's outputs
    orders = feature_orders(model.layers) if layout == "torch" else None
    for index, layer in enumerate(model.layers):
        for name, _ in layer.weight_shapes():  # parameters, then states
            value = next(weights)
            if layout == "torch":
                tensors[f"{index}.{layer.torch_names.get(name, name)}"] = to_torch(
                    layer, name, value, orders[index])
            else:
                tensors[f"layers.{index}.{name}"] = value
        if layout == "torch":  # what PyTorch's module holds beyond the layer's weights
            tensors.update({f"{index}.{name}": constant.astype(model.precision.parameters)
                            for name, constant in layer.torch_constants().items()})
    config = {"layers": [layer_config(layer) for layer in model.layers], "dtype": model.dtype,
              "input_shape": [None, *model.input_shape]}
    if include_optimizer:
        optimizer = model.optimizer
        if optimizer is None:
            raise ValueError("include_optimizer: this model has no optimizer yet; fit it first "
                             "or save with include_optimizer=False")
        config["optimizer"] = {"type": type(optimizer).__name__,
                               "config": optimizer.get_config()}
        state = model.optimizer_state()
        for key, value in state.items():
            tensors[f"optimizer.{key}"] = value
    return tensors, metadata(config, layout)


def load_model(model_class, path, device=None, allow_code: bool = False):
    """The model a file describes. Everything the file declares (config, tensor names, shapes
    and dtypes, sizes against the file's length) is checked before any tensor is read, and the
    layers get the file's weights before the model is made, so no initial weights are drawn.
    Layers that carry code (WGSLLayer) are refused unless ``allow_code``."""
    header, metadata = read_header(path)
    config = config_of(path, metadata)
    built = [layer_from_config(entry, path, f"layers[{index}]", allow_code)
             for index, entry in enumerate(config["layers"])]
    name = config.get("dtype", "float32")
    policy = dtypes.POLICIES.get(name) if isinstance(name, str) else None  # [] can't be a key
    if policy is None:
        raise ModelFileError(path, f"holds a {name!r} model; this version reads "
                                   f"{list(dtypes.POLICIES)} models: upgrade intricate")
    dtype = policy.parameters  # F64 for float64
    stored = config.get("input_shape")  # [None, *per-sample shape]; older files: [None, size]
    if stored is not None and not (isinstance(stored, list) and len(stored) > 1
                                   and stored[0] is None):
        raise ModelFileError(path, f"input_shape {stored!r} is not [None, *per-sample shape]")
    try:
        input_shape, _ = check_chain(built, None if stored is None else stored[1:])
    except ValueError as error:
        shape = "" if stored is None else f" with input_shape {stored!r}"
        raise ModelFileError(path, f"the config's layers don't form a model{shape} "
                                   f"({error})") from None
    torch_layout = metadata.get("layout") == "torch"
    wanted = {}  # tensor name → (shape, dtype), in the order the layers take them
    for index, layer in enumerate(built):
        for name, shape in layer.weight_shapes():
            if torch_layout:  # the shape of the layout, from a stand-in that holds no memory
                torch_shape = layer.to_torch(name, np.broadcast_to(np.float32(0), shape)).shape
                wanted[f"{index}.{layer.torch_names.get(name, name)}"] = (torch_shape, dtype)
            else:
                wanted[f"layers.{index}.{name}"] = (shape, dtype)
        if torch_layout:  # optional: older files lack them
            wanted.update({key: (constant.shape, dtype) for key, constant in
                           _torch_constants(layer, index).items() if key in header})
    optimizer = None
    if "optimizer" in config:
        optimizer = _optimizer_from(path, config["optimizer"])
        wanted.update({f"optimizer.{key}": value
                       for key, value in _optimizer_tensors(built, optimizer, dtype).items()})
        if loss_scale.applies(policy):  # mixed_float16: the scale a resumed fit continues from
            wanted.update({f"optimizer.{key}": spec
                           for key, spec in loss_scale.FILE_TENSORS.items()})
    check_tensors(path, header, wanted)
    tensors, _ = read(path, list(wanted))
    check_finite(path, tensors)
    scale = tensors.get("optimizer.loss_scale")
    if scale is not None and not scale[0] >= loss_scale.MINIMUM_SCALE:  # 0: g / 0 = NaN weights
        raise ModelFileError(path, f"holds loss scale {float(scale[0])!r}; a mixed_float16 "
                                   f"scale is at least {loss_scale.MINIMUM_SCALE} (halving stops "
                                   "there), as every saved one is: the file is damaged")
    values = iter(tensors.items())
    orders = feature_orders(built) if torch_layout else [None] * len(built)
    for index, (layer, layer_orders) in enumerate(zip(built, orders)):
        weights = []
        for name, _ in layer.weight_shapes():
            value = next(values)[1]
            weights.append(from_torch(layer, name, value, layer_orders) if torch_layout
                           else value)
        for key, constant in _torch_constants(layer, index).items():
            if torch_layout and key in header:
                check_constant(path, key, next(values)[1], constant)
        layer.host_weights = weights
    if device is not None:  # a clear word on the missing feature, not a ModelFileError
        dtypes.check_supported(policy, device)
    try:
        model = model_class(built, device=device, dtype=policy.name, input_shape=input_shape)
    except ValueError as error:
        raise ModelFileError(path, f"the config's layers don't form a model ({error})") from None
    if optimizer is not None:
        model.optimizer = optimizer
        model._pending_optimizer_state = {key[len("optimizer."):]: value
                                          for key, value in values}
    return model


def _torch_constants(layer, index: int) -> dict[str, np.ndarray]:
    """``layer.torch_constants()`` by their torch-layout file names."""
    return {f"{index}.{name}": value for name, value in layer.torch_constants().items()}


def _optimizer_from(path, entry: object) -> optimizers.Optimizer:
    names = {kind.__name__ for kind in optimizers.OPTIMIZERS.values()}
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str) or (
            entry["type"] not in names) or not isinstance(entry.get("config", {}), dict):
        raise ModelFileError(path, f"unknown optimizer {entry!r}")
    kind = next(k for k in optimizers.OPTIMIZERS.values() if k.__name__ == entry["type"])
    try:
        return kind(**entry.get("config", {}))
    except (TypeError, ValueError) as error:
        raise ModelFileError(path, f"bad optimizer config ({error})") from None


def _optimizer_tensors(layers, optimizer, dtype) -> dict[str, tuple[tuple, type]]:
    wanted = {}
    for index, layer in enumerate(layers):
        for name, shape in layer.parameter_shapes():
            for moment in MOMENTS[:optimizer.moments]:
                wanted[f"layers.{index}.{name}.{moment}"] = (shape, dtype)
    if optimizer.counts_steps:
        wanted["step"] = ((1,), np.uint32)
    return wanted
