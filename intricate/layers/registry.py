"""The layer registry (as Keras' ``register_keras_serializable``): each layer class registers
itself under its name where it is defined (``@register``), and files name layers that way; no
central list of saveable layers. Also the per-layer files of the original (``layer.save``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers
from ..initializers import Initializer
from ..io.files import (
    ModelFileError,
    check_finite,
    check_tensors,
    config_of,
    encode,
    metadata,
    read,
    read_header,
    write_atomically,
)

LAYERS: dict[str, type] = {}  # saved name → layer class, filled by @register


def register(kind: type) -> type:
    """Class decorator: files may name ``kind`` (a Layer subclass) by its class name.

    Registering a class again under the same module and name replaces it (a re-run notebook
    cell); another class under a taken name is refused.

    Raises:
        ValueError: ``kind`` is not a layer class, or its name belongs to another class.
    """
    if not isinstance(kind, type) or not all(
            callable(getattr(kind, method, None))
            for method in ("propagate", "back_propagate", "get_config", "parameter_shapes")):
        raise ValueError(f"register: expected a Layer subclass, received {kind!r}")
    name, known = kind.__name__, LAYERS.get(kind.__name__)
    if known is not None and known is not kind and (
            known.__module__, known.__qualname__) != (kind.__module__, kind.__qualname__):
        raise ValueError(f"layer name {name!r} is already registered to {known!r}; "
                         "give the new layer another class name")
    LAYERS[name] = kind
    return kind


# Configs -----------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A config value as JSON: initializers as {"class", "config"}, also inside a dict (a
    WGSLLayer's ``initializers``)."""
    if isinstance(value, Initializer):
        return {"class": type(value).__name__, "config": value.get_config()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _decoded(value: Any, path, where: str) -> Any:
    """``_plain``'s inverse: {"class", "config"} dicts become initializers again."""
    if not isinstance(value, dict):
        return value
    if "class" not in value:
        return {key: _decoded(item, path, where) for key, item in value.items()}
    kind = initializers.INITIALIZERS_BY_CLASS.get(value["class"])
    if kind is None:
        raise ModelFileError(path, f"{where}: unknown initializer {value['class']!r}")
    return kind(**value.get("config", {}))


def layer_config(layer: Any) -> dict:
    if LAYERS.get(type(layer).__name__) is not type(layer):
        raise ValueError(f"layer {layer!r}: only registered layers {sorted(LAYERS)} can be "
                         "saved; decorate its class with intricate.layers.register")
    return {"type": type(layer).__name__,
            "config": {key: _plain(value) for key, value in layer.get_config().items()}}


def layer_from_config(entry: object, path, where: str, allow_code: bool = False) -> Any:
    """The layer a file's config entry describes.

    Raises:
        ModelFileError: an unknown type, bad arguments, or a layer that carries code (a
            WGSLLayer) without ``allow_code``: refused before anything of it is built.
    """
    kind = entry.get("type") if isinstance(entry, dict) else entry
    if not isinstance(kind, str) or kind not in LAYERS:
        raise ModelFileError(path, f"{where}: unknown layer type {kind!r}; this version knows "
                                   f"{sorted(LAYERS)}")
    if getattr(LAYERS[kind], "carries_code", False) and not allow_code:
        raise ModelFileError(path, f"{where} is a {kind}, which carries WGSL code: loading it "
                                   "compiles that code and runs it on the GPU (and renders it "
                                   "as a Jinja2 template on this machine). Pass "
                                   "allow_code=True to load it, only if you trust the file")
    if not isinstance(entry.get("config", {}), dict):
        raise ModelFileError(path, f"{where}: the config of {kind} is "
                                   f"{entry.get('config')!r}, expected a JSON object of its "
                                   "constructor arguments")
    try:
        arguments = {key: _decoded(value, path, where)
                     for key, value in entry.get("config", {}).items()}
        return LAYERS[entry["type"]](**arguments)
    except (TypeError, ValueError) as error:
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(path, f"{where}: bad arguments for {entry['type']} "
                                   f"({error})") from None


# Layers ------------------------------------------------------------------------------------------
def save_layer(layer: Any, path) -> None:
    values = layer.current_weights()
    if layer.weight_shapes() and not values:  # a file without them could not be read back
        raise ValueError(f"{layer!r} has no weights yet to save; put it in a Model (which "
                         "draws them) or load some first")
    tensors = {name: value for (name, _), value in zip(layer.weight_shapes(), values)}
    entry = layer_config(layer)
    if layer.input_shape is not None:  # built: weight shapes may follow it (channels)
        entry["input_shape"] = list(layer.input_shape)
    write_atomically(path, encode(tensors, metadata({"layers": [entry]}, "intricate")))


def read_layer(path, allow_code: bool = False) -> tuple[Any, list[np.ndarray]]:
    """The layer a per-layer file describes, and its weights (checked against it before any
    tensor is read); a layer carrying code needs ``allow_code``."""
    header, metadata = read_header(path)
    config = config_of(path, metadata)
    if len(config["layers"]) != 1:
        raise ModelFileError(path, f"holds {len(config['layers'])} layers; load it with "
                                   "Model.load")
    layer = layer_from_config(config["layers"][0], path, "layer", allow_code)
    shape = config["layers"][0].get("input_shape")
    if shape is not None:  # the per-sample shape it was built with
        if not isinstance(shape, list) or not shape or not all(
                type(n) is int and n > 0 for n in shape):
            raise ModelFileError(path, f"layer input_shape {shape!r} is not a list of positive "
                                       "integers")
        try:
            layer.build(tuple(shape))
        except ValueError as error:
            raise ModelFileError(path, f"layer input_shape {shape!r}: {error}") from None
    # A layer file keeps its model's dtype (float32 or float64, all tensors alike); loading
    # converts to the dtype of the model the layer is in.
    stored = {dtype for dtype, _ in header.values()}
    dtype = stored.pop() if len(stored) == 1 and stored <= {"float32", "float64"} else "float32"
    wanted = {name: (shape, np.dtype(dtype)) for name, shape in layer.weight_shapes()}
    check_tensors(path, header, wanted)
    tensors, _ = read(path, list(wanted))
    check_finite(path, tensors)
    return layer, [tensors[name] for name in wanted]
