"""How a model's layers chain: each layer's input is the one before's output."""

from __future__ import annotations

from .base import Layer


def check_chain(layers: list[Layer]) -> tuple[int, int]:
    """(input size, output size) of a layer list whose sizes chain, else a ValueError."""
    if not layers:
        raise ValueError("layers: expected at least one layer, received none")
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValueError(f"layers[{index}]: expected a Layer (e.g. Dense(2, 3)), "
                             f"received {layer!r}")
    sized = [layer for layer in layers if layer.input_size is not None]
    if not sized:
        raise ValueError("layers: expected a layer with a known input size (e.g. Dense) so the "
                         f"model knows its inputs, received {layers!r}")
    size, previous = sized[0].input_size, None
    for index, layer in enumerate(layers):
        if layer.input_size is not None and layer.input_size != size:
            raise ValueError(
                f"layers[{index}] {layer!r} expects {layer.input_size} inputs, but "
                f"layers[{index - 1}] {previous!r} outputs {size}; make them agree")
        size, previous = layer.output_size_for(size), layer
    return sized[0].input_size, size
