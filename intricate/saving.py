"""Model and layer files: safetensors (a length-prefixed JSON header, then raw little-endian
arrays), written and read through the ``safetensors`` package's numpy API. No pickle anywhere.

A model file holds ``layers.{i}.kernel`` / ``layers.{i}.bias`` (i = the layer's index in the
model) and, with ``include_optimizer=True``, ``optimizer.layers.{i}.{name}.{moment}`` plus
``optimizer.step``. Its metadata holds ``format`` ("intricate"), ``format_version``,
``library_version`` and ``config``: JSON with the layers (type + constructor arguments), dtype and
input shape, and the optimizer. ``layout="torch"`` instead writes ``{i}.weight`` ([out, in]) and
``{i}.bias`` as an ``nn.Sequential`` of ``nn.Linear`` + activations names them.

Saving is atomic and durable: a temporary file in the target folder, flushed and fsynced, then
``os.replace`` and an fsync of the folder. A crash leaves the old file or the new one, whole.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as encode_safetensors

from . import initializers, layers, optimizers
from .initializers import Initializer

FORMAT = "intricate"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
LAYERS = {kind.__name__: kind for kind in (layers.Dense, layers.TanH, layers.Sigmoid,
                                           layers.ReLU, layers.SoftMax)}
MOMENTS = ("first_moment", "second_moment")


class ModelFileError(ValueError):
    """A model or layer file is missing, broken, hostile or not what was expected."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path, self.problem = os.fspath(path), problem


# Files -------------------------------------------------------------------------------------------
def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one."""
    target = Path(path)
    if target.is_dir():
        raise ModelFileError(target, "is a directory; give a file name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ModelFileError(target, f"folder {folder} does not exist; create it first")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    return encode_safetensors({name: np.ascontiguousarray(value)
                               for name, value in tensors.items()}, metadata=metadata)


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All tensors and the metadata of a safetensors file, or a ModelFileError saying why not."""
    target = Path(path)
    if target.is_dir():
        raise ModelFileError(target, "is a directory, not a model file")
    try:
        size = target.stat().st_size
        with open(target, "rb") as file:
            prefix = file.read(8)
    except FileNotFoundError:
        raise ModelFileError(target, "no such file") from None
    except OSError as error:
        raise ModelFileError(target, f"cannot be read ({error.strerror})") from None
    if len(prefix) < 8:
        raise ModelFileError(target, f"truncated: {size} bytes, shorter than the 8-byte header "
                                     "length of a safetensors file")
    (header_bytes,) = struct.unpack("<Q", prefix)
    if header_bytes > MAX_HEADER_BYTES:
        raise ModelFileError(target, f"header of {header_bytes} bytes exceeds the "
                                     f"{MAX_HEADER_BYTES} byte limit: not a model file")
    if 8 + header_bytes > size:
        raise ModelFileError(target, f"header length {header_bytes} is larger than the file "
                                     f"({size} bytes): truncated or not a safetensors file")
    try:
        with safe_open(target, framework="np") as file:
            metadata = dict(file.metadata() or {})
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except (SafetensorError, ValueError, TypeError, OSError) as error:
        raise ModelFileError(target, f"not a valid safetensors file ({error})") from None
    return tensors, metadata


# Configs -----------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, Initializer):
        return {"class": type(value).__name__, "config": value.get_config()}
    return value


def layer_config(layer: layers.Layer) -> dict:
    if type(layer).__name__ not in LAYERS:
        raise ValueError(f"layer {layer!r}: only {sorted(LAYERS)} can be saved")
    return {"type": type(layer).__name__,
            "config": {key: _plain(value) for key, value in layer.get_config().items()}}


def layer_from_config(entry: object, path, where: str) -> layers.Layer:
    if not isinstance(entry, dict) or entry.get("type") not in LAYERS or not isinstance(
            entry.get("config", {}), dict):
        kind = entry.get("type") if isinstance(entry, dict) else entry
        raise ModelFileError(path, f"{where}: unknown layer type {kind!r}; this version knows "
                                   f"{sorted(LAYERS)}")
    try:
        arguments = {}
        for key, value in entry.get("config", {}).items():
            if isinstance(value, dict) and "class" in value:
                kind = initializers.INITIALIZERS_BY_CLASS.get(value["class"])
                if kind is None:
                    raise ModelFileError(path, f"{where}: unknown initializer {value['class']!r}")
                value = kind(**value.get("config", {}))
            arguments[key] = value
        return LAYERS[entry["type"]](**arguments)
    except (TypeError, ValueError) as error:
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(path, f"{where}: bad arguments for {entry['type']} "
                                   f"({error})") from None


def _metadata(config: dict, layout: str) -> dict[str, str]:
    from . import __version__

    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "library_version": __version__, "layout": layout, "config": json.dumps(config)}
    if layout == "torch":
        metadata["format"] = "pt"  # what safetensors.torch writes; our keys stay beside it
        metadata["intricate_format"] = FORMAT
    return metadata


def _config_of(path, metadata: dict[str, str]) -> dict:
    if metadata.get("format") != FORMAT and metadata.get("intricate_format") != FORMAT:
        raise ModelFileError(path, "has no intricate model config (is it a PyTorch file? use "
                                   "Model.from_torch_state_dict)")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise ModelFileError(path, f"format_version {metadata.get('format_version')!r} is "
                                   "not a number") from None
    if version > FORMAT_VERSION:
        written_by = metadata.get("library_version", "a newer version")
        raise ModelFileError(path, f"written in format {version} by a newer intricate "
                                   f"({written_by}); this one reads format {FORMAT_VERSION} and "
                                   "older: upgrade intricate")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError) as error:
        raise ModelFileError(path, f"model config is missing or not JSON ({error})") from None
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ModelFileError(path, "model config has no list of layers")
    return config


def _take(path, tensors: dict[str, np.ndarray], name: str, shape: tuple, dtype=np.float32):
    if name not in tensors:
        raise ModelFileError(path, f"tensor {name!r} is missing")
    value = tensors.pop(name)
    if value.dtype != np.dtype(dtype) or value.shape != tuple(shape):
        raise ModelFileError(path, f"tensor {name!r} is {value.dtype} {value.shape}, but the "
                                   f"config needs {np.dtype(dtype)} {tuple(shape)}")
    return value


# Models ------------------------------------------------------------------------------------------
def model_file(model, include_optimizer: bool, layout: str) -> tuple[dict, dict]:
    """(tensors, metadata) of ``model``; reads the weights back from the GPU once."""
    if layout not in ("intricate", "torch"):
        raise ValueError(f"layout: expected 'intricate' or 'torch', received {layout!r}")
    weights = iter(model.get_weights())
    tensors = {}
    for index, layer in enumerate(model.layers):
        for name, _ in layer.parameter_shapes():
            value = next(weights)
            if layout == "torch":
                tensors[f"{index}.{'weight' if name == 'kernel' else name}"] = (
                    value.T if name == "kernel" else value)
            else:
                tensors[f"layers.{index}.{name}"] = value
    config = {"layers": [layer_config(layer) for layer in model.layers], "dtype": "float32",
              "input_shape": [None, model.input_size]}
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
    return tensors, _metadata(config, layout)


def load_model(model_class, path, device=None):
    tensors, metadata = read(path)
    config = _config_of(path, metadata)
    built = [layer_from_config(entry, path, f"layers[{index}]")
             for index, entry in enumerate(config["layers"])]
    try:
        model = model_class(built, device=device)
    except ValueError as error:
        raise ModelFileError(path, f"the config's layers don't form a model ({error})") from None
    torch_layout = metadata.get("layout") == "torch"
    weights = []
    for index, layer in enumerate(model.layers):
        for name, shape in layer.parameter_shapes():
            if torch_layout:
                key = f"{index}.{'weight' if name == 'kernel' else name}"
                stored = shape[::-1] if name == "kernel" else shape
                value = _take(path, tensors, key, stored)
                weights.append(value.T if name == "kernel" else value)
            else:
                weights.append(_take(path, tensors, f"layers.{index}.{name}", shape))
    model.set_weights(weights)
    if "optimizer" in config:
        model.optimizer = _optimizer_from(path, config["optimizer"])
        state = {key[len("optimizer."):]: tensors.pop(key) for key in list(tensors)
                 if key.startswith("optimizer.")}
        model.pending_optimizer_state = _check_state(path, model, state)
    if tensors:
        raise ModelFileError(path, f"unexpected tensors {sorted(tensors)[:5]} for this config")
    return model


def _optimizer_from(path, entry: object) -> optimizers.Optimizer:
    if not isinstance(entry, dict) or entry.get("type") not in {
            kind.__name__ for kind in optimizers.OPTIMIZERS.values()}:
        raise ModelFileError(path, f"unknown optimizer {entry!r}")
    kind = next(k for k in optimizers.OPTIMIZERS.values() if k.__name__ == entry["type"])
    try:
        return kind(**entry.get("config", {}))
    except (TypeError, ValueError) as error:
        raise ModelFileError(path, f"bad optimizer config ({error})") from None


def _check_state(path, model, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    optimizer = model.optimizer
    wanted = {}
    for index, layer in enumerate(model.layers):
        for name, shape in layer.parameter_shapes():
            for moment in MOMENTS[:optimizer.moments]:
                wanted[f"layers.{index}.{name}.{moment}"] = (shape, np.float32)
    if optimizer.counts_steps:
        wanted["step"] = ((1,), np.uint32)
    checked = {key: _take(path, state, key, shape, dtype)
               for key, (shape, dtype) in wanted.items()}
    if state:
        raise ModelFileError(path, f"unexpected optimizer tensors {sorted(state)[:5]}")
    return checked


# Layers ------------------------------------------------------------------------------------------
def save_layer(layer: layers.Layer, path) -> None:
    values = layer.current_weights()
    tensors = {name: value for (name, _), value in zip(layer.parameter_shapes(), values)}
    write_atomically(path, encode(tensors, _metadata({"layers": [layer_config(layer)]},
                                                     "intricate")))


def read_layer(path) -> tuple[layers.Layer, list[np.ndarray]]:
    """The layer a per-layer file describes, and its weights (checked against it)."""
    tensors, metadata = read(path)
    config = _config_of(path, metadata)
    if len(config["layers"]) != 1:
        raise ModelFileError(path, f"holds {len(config['layers'])} layers; load it with "
                                   "Model.load")
    layer = layer_from_config(config["layers"][0], path, "layer")
    weights = [_take(path, tensors, name, shape) for name, shape in layer.parameter_shapes()]
    if tensors:
        raise ModelFileError(path, f"unexpected tensors {sorted(tensors)[:5]}")
    return layer, weights
