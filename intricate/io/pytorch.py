"""PyTorch interop: weights from an ``nn.Sequential`` state dict (or its safetensors file), each
module with tensors feeding the next layer with weights: ``nn.Linear`` a Dense (its weight
[out, in] transposed into the kernel [in, out]), ``nn.BatchNorm2d`` a BatchNormalization
(weight, bias, running_mean, running_var; its num_batches_tracked is ignored), ... as each
layer's ``torch_names`` / ``from_torch`` say. Writing the PyTorch layout is
``model.save(path, layout="torch")`` (intricate.io.model_files).

Flat features that were an image: PyTorch's nn.Flatten flattens NCHW samples as (C, H, W), ours
NHWC ones as (H, W, C) (and nn.Unflatten / our Reshape read a vector back so), so a Linear after
a Flatten takes its input columns in another order than our Dense its kernel rows, as does a
BatchNorm1d between them its vectors, and a Linear before an Unflatten gives its rows in another
order: ``feature_orders`` says where, ``to_torch`` / ``from_torch`` permute them.

Which module feeds which layer: the order of the modules, never guessed. A dict keeps its
order (``state_dict()`` lists modules in call order); a file doesn't (safetensors sorts names
as text: "10" before "2"), so its modules are ordered by their numeric index in the container
("0", "2", "10"; "net.0", "net.3.fc") when every one has a distinct index, else ``order`` must
name them (``order=["fc", "classifier"]``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from .. import layers
from ..gpu import dtypes
from ..layers.chain import check_chain
from .files import ModelFileError, check_finite, read


# PyTorch -----------------------------------------------------------------------------------------
def module_indices(names: list[str]) -> list[int] | None:
    """Each module's index in the container, after the prefix all names share ("net.0.fc",
    "net.2.fc" → [0, 2]); None unless every name has one and no two share it."""
    parts = [name.split(".") for name in names]
    shared = 0
    while all(len(split) > shared + 1 for split in parts) and len(
            {split[shared] for split in parts}) == 1:
        shared += 1
    firsts = [split[shared] if len(split) > shared else "" for split in parts]
    if not all(first.isdecimal() and first.isascii() for first in firsts) or len(
            set(map(int, firsts))) < len(names):  # ("²".isdigit() is true, int("²") fails)
        return None
    return [int(first) for first in firsts]


def linear_order(path: str, names: list[str], order: Sequence[str] | None,
                 from_file: bool) -> list[str]:
    """The Linear module names in the order the Dense layers take them (see the module doc)."""
    if order is not None:
        order = order if isinstance(order, str) else list(order)  # a generator is read once
        if isinstance(order, str) or not all(isinstance(name, str) for name in order):
            raise ValueError(f"order: expected a list of module names, received {order!r}")
        if sorted(order) != sorted(names):
            raise ModelFileError(path, f"order {list(order)} must name each Linear module once; "
                                       f"the state dict has {sorted(names)}")
        return list(order)
    indices = module_indices(names)
    by_index = None if indices is None else [name for _, name in sorted(zip(indices, names))]
    if not from_file:
        if by_index is not None and by_index != names:
            raise ModelFileError(path, f"the dict lists its Linear modules as {names}, but "
                                       f"their indices say {by_index}; pass order=[...] to say "
                                       "which is meant")
        return names
    if by_index is None and len(names) > 1:
        raise ModelFileError(path, f"Linear modules {sorted(names)} carry no distinct numeric "
                                   "index and a file does not keep their order; pass "
                                   "order=[...], the module names in the order the Dense layers "
                                   "take them")
    return by_index or names


# NCHW against NHWC flattening ---------------------------------------------------------------------
def torch_positions(image_shape: tuple[int, ...]) -> np.ndarray | None:
    """Where PyTorch's flattened (C, H, W) sample holds each value of our flattened (H, W, C)
    one (None where both orders agree: one channel, or one pixel)."""
    height, width, channels = image_shape
    if channels == 1 or height * width == 1:
        return None
    return np.arange(channels * height * width).reshape(channels, height, width).transpose(
        1, 2, 0).ravel()


def feature_orders(model_layers: Sequence[layers.Layer]
                   ) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """Per built layer, (inputs, outputs): where PyTorch's equivalent module keeps each flat
    feature of ours (index i here is index order[i] there), or None (the same order; images).

    The flat activations that layers keeping each feature in place join (activations, Dropout,
    a BatchNormalization: a same-shape flat layer whose weights are all per feature) share one
    order, which a Flatten of an image at their start sets ((C, H, W) there), else a Reshape
    into an image at their end (nn.Unflatten reads (C, H, W)); layers mixing features (Dense)
    take their inputs and give their outputs in any order, through their kernel's rows and
    columns and their bias.
    """
    group, groups, fixed = 0, [0], {}
    for index, layer in enumerate(model_layers):
        ins, outs = tuple(layer.input_shape), tuple(layer.output_shape)
        # A Flatten or Reshape between images and flat samples keeps the values (a global
        # pooling to (C,) doesn't: its channels are in the same order in both).
        values_kept = math.prod(ins) == math.prod(outs)
        if len(ins) == 1 and len(outs) == 3 and values_kept:  # a start set wins over this end
            fixed.setdefault(groups[index], torch_positions(outs))
        if not (len(ins) == 1 and outs == ins and all(
                tuple(shape) == ins for _, shape in layer.weight_shapes())):
            group += 1  # a layer that mixes or reshapes features: a new group after it
        groups.append(group)
        if len(ins) == 3 and len(outs) == 1 and values_kept:
            fixed[group] = torch_positions(ins)
    return [(fixed.get(groups[index]) if len(layer.input_shape) == 1 else None,
             fixed.get(groups[index + 1]) if len(layer.output_shape) == 1 else None)
            for index, layer in enumerate(model_layers)]


def _reorder(value: np.ndarray, orders: tuple, inverse: bool) -> np.ndarray:
    """A weight's feature axes in our order (or PyTorch's, ``inverse``): a 2-D kernel's rows
    (inputs) and columns (outputs), a 1-D weight's outputs (a bias; a per-feature vector)."""
    axes = orders if value.ndim == 2 else orders[1:] if value.ndim == 1 else ()
    for axis, order in enumerate(axes):
        if order is not None:
            value = np.take(value, np.argsort(order) if inverse else order, axis=axis)
    return value


def to_torch(layer: layers.Layer, name: str, value: np.ndarray, orders: tuple) -> np.ndarray:
    """Weight ``name`` of ``layer`` as its PyTorch module keeps it (``orders``: the layer's
    ``feature_orders``)."""
    return layer.to_torch(name, _reorder(value, orders, inverse=True))


def from_torch(layer: layers.Layer, name: str, value: np.ndarray, orders: tuple) -> np.ndarray:
    """``to_torch``'s inverse."""
    return np.ascontiguousarray(_reorder(layer.from_torch(name, value), orders, inverse=False))


def _numpy(value) -> np.ndarray:
    """A state dict's tensor as NumPy; bfloat16, which NumPy lacks (torch's numpy() raises
    TypeError), as the float32 values it holds exactly."""
    if not hasattr(value, "detach"):
        return np.asarray(value)
    value = value.detach().cpu()
    return np.asarray(value.float() if str(value.dtype) == "torch.bfloat16" else value.numpy())


def torch_weights(source, model_layers: list[layers.Layer],
                  order: Sequence[str] | None = None,
                  sources: list[tuple[str, np.ndarray, bool]] | None = None
                  ) -> list[np.ndarray]:
    """Weights (get_weights' order) from a PyTorch ``nn.Sequential`` state dict or its
    safetensors file: the i-th module with tensors (in the order above) feeds the i-th layer
    with weights, its tensors named and laid out by the layer (``torch_names``,
    ``from_torch``); a missing bias is zeros (``bias=False``). ``sources``, when given, gets
    (tensor name, its values as the file holds them, whether trainable) per weight.

    Raises:
        ModelFileError (a ValueError): the state dict doesn't fit the layers, holds NaN or
            infinite values, or its module order is ambiguous (then pass ``order``).
    """
    from_file = isinstance(source, (str, os.PathLike))
    path = os.fspath(source) if from_file else "state_dict"
    if from_file:
        state, _ = read(source)
    elif isinstance(source, dict):
        state = {key: _numpy(value) for key, value in source.items()}
    else:
        raise ValueError(f"path_or_dict: expected a file path or a state dict, received "
                         f"{type(source).__name__}")
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, _, name = key.rpartition(".")
        if module in modules and module != next(reversed(modules)) and not from_file and (
                order is None):
            # A dict's order is its modules' order only if each module's keys are together.
            raise ModelFileError(path, f"{module}'s tensors are not together in the dict (a "
                                       f"{key!r} after another module's), so its order says no "
                                       "module order; pass order=[...], the module names in the "
                                       "order the Dense layers take them")
        modules.setdefault(module, {})[name] = value
    for parts in modules.values():  # BatchNorm's step count: no layer keeps it
        parts.pop("num_batches_tracked", None)
    linear = {module: parts for module, parts in modules.items() if parts}
    weighted = [layer for layer in model_layers if layer.weight_shapes()]
    if len(linear) != len(weighted):
        raise ModelFileError(path, f"holds {len(linear)} modules with weights "
                                   f"({list(linear)}) for {len(weighted)} layers with weights "
                                   f"({weighted})")
    weights, orders = [], dict(zip(map(id, model_layers), feature_orders(model_layers)))
    for module, layer in zip(linear_order(path, list(linear), order, from_file), weighted):
        parts, taken = linear[module], []
        for name, shape in layer.weight_shapes():
            key = layer.torch_names.get(name, name)
            wanted = layer.to_torch(name, np.broadcast_to(np.float64(0), shape)).shape
            value = np.asarray(parts.get(key, np.zeros(wanted) if key == "bias" else None),
                               np.float64)  # Linear(bias=False) has none; the model converts
            if value.shape != wanted:
                got = "missing" if key not in parts else f"{value.shape}"
                hint = ("; a BatchNorm with track_running_stats=False keeps none, and "
                        "BatchNormalization predicts with them: build it with the default "
                        "track_running_stats=True" if key.startswith("running_") and
                        key not in parts else "")
                raise ModelFileError(path, f"{module}.{key} is {got} (PyTorch's layout) but "
                                           f"{layer!r} needs {wanted}{hint}")
            check_finite(path, {f"{module}.{key}": value})
            weights.append(from_torch(layer, name, value, orders[id(layer)]))
            taken.append(key)
            if sources is not None:  # the tensors as the file holds them, for messages
                trainable = len(taken) <= len(layer.parameter_shapes())
                sources.append((f"{module}.{key}", value, trainable))
        for key, constant in layer.torch_constants().items():  # affine BatchNorm's fixed one
            if key in parts:
                check_constant(path, f"{module}.{key}", parts[key], constant)
                taken.append(key)
        if parts.keys() - set(taken):
            raise ModelFileError(path, f"{module} holds {sorted(parts.keys() - set(taken))}, "
                                       f"which {layer!r} has no weight for (it takes {taken})")
    return weights


def check_constant(path, name: str, value: np.ndarray, constant: np.ndarray) -> None:
    """Refuse a tensor the layer keeps fixed (``torch_constants``) holding other values: they
    would be dropped silently."""
    if not np.array_equal(np.asarray(value, np.float64), constant):
        raise ModelFileError(path, f"{name} holds values other than the layer's fixed "
                                   f"{float(constant.flat[0])!r}, which it can't keep (a "
                                   "BatchNormalization learns both only with center=True and "
                                   "scale=True)")


def model_from_state_dict(cls, path_or_dict, model_layers: list, device, order, dtype: str,
                          input_shape=None):
    """``Model.from_torch_state_dict``: the layers built (their weight shapes may depend on
    their input's: BatchNormalization's channels), the weights read and checked before the
    layers are taken; a refusal by the model gives them back."""
    check_chain(model_layers, input_shape)
    sources: list[tuple[str, np.ndarray, bool]] = []
    weights = torch_weights(path_or_dict, model_layers, order, sources)
    # The narrower of the types the weights are kept in: mixed_float16's f16 compute copy of the
    # parameters too (the states have none).
    policy = dtypes.precision(dtype)
    narrowest = min((policy.parameters, policy.numpy), key=lambda kind: np.finfo(kind).max)
    for name, stored, trainable in sources:  # 1e300 from a float64 file, for float32
        kept = narrowest if trainable else policy.parameters
        bad = dtypes.first_beyond(stored, kept)
        if bad is not None:
            why = f"the {dtype} model's"
            raise ModelFileError(path_or_dict if isinstance(path_or_dict, (str, os.PathLike))
                                 else "state_dict",
                                 f"tensor {name!r} holds "
                                 f"{dtypes.beyond_range(stored, bad, kept, why)}; use "
                                 f"dtype={dtypes.wider_dtypes(kept)}")
    model = cls(model_layers, device=device, dtype=dtype, input_shape=input_shape)
    try:
        model.set_weights(weights)
    except BaseException:
        for layer in model.layers:  # refused after all: give the layers back
            layer._owner = None
        raise
    return model
