"""Model files: ``layers.{i}.kernel`` / ``layers.{i}.bias`` (i = the layer's index in the
model) and, with ``include_optimizer=True``, ``optimizer.layers.{i}.{name}.{moment}`` plus
``optimizer.step``; the config (see io/files.py) names every layer through the layer registry.
``layout="torch"`` instead writes ``{i}.weight`` ([out, in]) and ``{i}.bias`` as an
``nn.Sequential`` of ``nn.Linear`` + activations names them.
"""

from __future__ import annotations

import numpy as np

from .. import optimizers
from ..layers.registry import layer_config, layer_from_config
from .files import ModelFileError, config_of, metadata, read, take

MOMENTS = ("first_moment", "second_moment")


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
    return tensors, metadata(config, layout)


def load_model(model_class, path, device=None):
    tensors, metadata = read(path)
    config = config_of(path, metadata)
    built = [layer_from_config(entry, path, f"layers[{index}]")
             for index, entry in enumerate(config["layers"])]
    if config.get("dtype", "float32") != "float32":
        raise ModelFileError(path, f"holds a {config.get('dtype')!r} model; this version reads "
                                   "float32 models only: upgrade intricate")
    try:
        model = model_class(built, device=device)
    except ValueError as error:
        raise ModelFileError(path, f"the config's layers don't form a model ({error})") from None
    if config.get("input_shape", [None, model.input_size]) != [None, model.input_size]:
        raise ModelFileError(path, f"input_shape {config.get('input_shape')!r} disagrees with "
                                   f"its layers, which take {model.input_size} inputs")
    torch_layout = metadata.get("layout") == "torch"
    weights = []
    for index, layer in enumerate(model.layers):
        for name, shape in layer.parameter_shapes():
            if torch_layout:
                key = f"{index}.{'weight' if name == 'kernel' else name}"
                stored = shape[::-1] if name == "kernel" else shape
                value = take(path, tensors, key, stored)
                weights.append(value.T if name == "kernel" else value)
            else:
                weights.append(take(path, tensors, f"layers.{index}.{name}", shape))
    model.set_weights(weights)
    if "optimizer" in config:
        model.optimizer = _optimizer_from(path, config["optimizer"])
        state = {key[len("optimizer."):]: tensors.pop(key) for key in list(tensors)
                 if key.startswith("optimizer.")}
        model._pending_optimizer_state = _check_state(path, model, state)
    if tensors:
        raise ModelFileError(path, f"unexpected tensors {sorted(tensors)[:5]} for this config")
    return model


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


def _check_state(path, model, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    optimizer = model.optimizer
    wanted = {}
    for index, layer in enumerate(model.layers):
        for name, shape in layer.parameter_shapes():
            for moment in MOMENTS[:optimizer.moments]:
                wanted[f"layers.{index}.{name}.{moment}"] = (shape, np.float32)
    if optimizer.counts_steps:
        wanted["step"] = ((1,), np.uint32)
    checked = {key: take(path, state, key, shape, dtype)
               for key, (shape, dtype) in wanted.items()}
    if state:
        raise ModelFileError(path, f"unexpected optimizer tensors {sorted(state)[:5]}")
    return checked


