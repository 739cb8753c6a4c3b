"""How a model's layers chain: each layer is built (``Layer.build``) with the per-sample shape
the one before outputs, from the model's input shape: given (``Model(..., input_shape=)``), or
the first layer of known input size's (Dense) when every layer before it keeps its input's
shape (activations)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Layer, check_free


def check_input_shape(input_shape: object) -> tuple[int, ...] | None:
    """``input_shape`` as a tuple of positive ints (None stays None), or a ValueError."""
    if input_shape is None:
        return None
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    def positive(n: object) -> bool:
        return isinstance(n, int | np.integer) and not isinstance(n, bool | np.bool_) and n > 0

    if isinstance(input_shape, str) or not shape or not all(map(positive, shape)):
        hint = ""  # Keras' batch shape (None, 28, 28, 1); a bare int, (4) for (4,)
        if len(shape) > 1 and shape[0] is None and all(map(positive, shape[1:])):
            hint = f"; leave out the batch dimension: input_shape={tuple(shape[1:])}"
        elif positive(input_shape):
            hint = f"; for flat samples write input_shape=({int(input_shape)},)"
        raise ValueError(f"input_shape: expected a per-sample shape of positive ints, (H, W, C) "
                         f"for images or (features,), received {input_shape!r}{hint}")
    return tuple(int(n) for n in shape)  # x.shape[1:] of a NumPy array's ints works too


def keeps_shape(layer: Layer) -> bool:
    """Whether ``layer`` takes the shape it is given without needing to know it (activations,
    Dropout; a WGSLLayer of output_size only): its class keeps Layer's shape rules and has no
    input size of its own."""
    kind = type(layer)
    return (layer.input_size is None and kind.output_shape_for is Layer.output_shape_for
            and kind.build is Layer.build)


def check_chain(layers: Sequence[Layer], input_shape: Sequence[int] | None = None
                ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Build every layer with the shape the one before outputs; return the model's per-sample
    (input shape, output shape).

    Args:
        layers: the model's layers; none may belong to a model (checked before any is built,
            so a refused list leaves every layer as it was).
        input_shape: the per-sample input shape ((H, W, C) for NHWC images, (features,) for
            flat samples); None: the first layer with an input size (Dense) gives it.

    Raises:
        ValueError: no layers, a non-Layer, a layer already in a model, no known input shape,
            or a layer that can't take the shape before it (naming its index, the layer and
            both shapes).
    """
    if not layers:
        raise ValueError("layers: expected at least one layer, received none")
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValueError(f"layers[{index}]: expected a Layer (e.g. Dense(2, 3)), "
                             f"received {layer!r}")
    check_free(layers)
    shape = check_input_shape(input_shape)
    if shape is None:
        shape = _implied_input_shape(layers)
    first, previous = shape, None
    for index, layer in enumerate(layers):
        source = ("the model's input_shape is" if previous is None else
                  f"layers[{index - 1}] {previous!r} outputs")
        if layer.input_size is not None and len(shape) == 1 and layer.input_size != shape[0]:
            given = shape if previous is None else shape[0]
            raise ValueError(f"layers[{index}] {layer!r} expects {layer.input_size} inputs, "
                             f"but {source} {given}; make them agree")
        try:
            layer.build(shape)
        except ValueError as error:
            raise ValueError(f"layers[{index}] {error} ({source} {shape}"
                             f"{_nchw_hint(layer, shape) if previous is None else ''})") from None
        shape, previous = layer.output_shape, layer
    return first, shape


def _nchw_hint(layer: Layer, shape: tuple[int, ...]) -> str:
    """A word on an input_shape given as PyTorch's (C, H, W) where (H, W, C) would do."""
    if len(shape) != 3:
        return ""
    nhwc = (shape[1], shape[2], shape[0])
    try:
        layer.output_shape_for(nhwc)
    except ValueError:
        return ""
    return f"; it looks like PyTorch's (C, H, W): images here are NHWC, input_shape={nhwc}"


def _implied_input_shape(layers: Sequence[Layer]) -> tuple[int, ...]:
    """The input shape the first layer of known input size implies, for layers before it that
    all keep shapes; else a ValueError asking for ``input_shape``."""
    for index, layer in enumerate(layers):
        if layer.input_size is not None:
            return (layer.input_size,)
        if not keeps_shape(layer):
            raise ValueError(f"layers[{index}] {layer!r} needs the shape of its inputs, which "
                             "no layer before it gives; pass Model(layers, input_shape=(H, W, "
                             "C)) (NHWC images; (features,) for flat samples)")
    raise ValueError("layers: expected a layer with a known input size (e.g. Dense) so the "
                     f"model knows its inputs, or Model(..., input_shape=...), received "
                     f"{list(layers)!r}")

