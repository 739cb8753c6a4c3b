"""Flatten and Reshape: layers that change a sample's shape, not its values.

On the GPU every activation is rows [batch, prod(per-sample shape)] with an NHWC image's values
in row-major order (channels fastest), so the rows of (H, W, C) samples already are the rows of
(H·W·C,) samples: both layers record no GPU work (zero dispatches), pass their inputs on as
their outputs and dE/dO back as dE/dI. Only the per-sample shapes the model chains change.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..gpu import GPUArray, Program
from .base import Layer
from .registry import register


class _SameValues(Layer):
    """A layer whose outputs are its inputs, read as another per-sample shape."""

    def output_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        """The inputs array itself [batch, size]: no dispatch, no copy."""
        self.last_inputs = self.last_outputs = inputs
        return inputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        """dE/dI is dE/dO itself; no parameters."""
        return grad_outputs if need_grad_inputs else None


@register
class Flatten(_SameValues):
    """(H, W, C) → (H·W·C,), Keras' Flatten on NHWC samples (channels fastest), so a Dense after
    it takes its kernel rows in that order. Shapes: propagate [batch, size] → the same array."""

    def output_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    def __repr__(self) -> str:
        return "Flatten()"


@register
class Reshape(_SameValues):
    """Samples of any shape → ``shape`` (the same number of values, in row-major order), as
    Keras' Reshape; one dimension may be -1: whatever the others leave.

    Args:
        shape: the per-sample output shape, e.g. (28, 28, 1) or (-1, 4).

    Raises:
        ValueError: a shape that isn't positive ints (with at most one -1); when built, one
            whose size differs from the input's (naming both).
    """

    def __init__(self, shape: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        try:
            target = tuple(shape)
        except TypeError:
            target = ()
        if isinstance(shape, str) or not target or not all(
                isinstance(n, int | np.integer) and not isinstance(n, bool | np.bool_)
                and (n > 0 or n == -1) for n in target) or target.count(-1) > 1:
            hint = ""  # Reshape((784)) is Reshape(784)
            if isinstance(shape, int | np.integer) and not isinstance(shape, bool | np.bool_) \
                    and (shape > 0 or shape == -1):
                hint = f"; write ({int(shape)},)"
            raise ValueError(f"shape: expected a tuple of positive ints with at most one -1 "
                             f"(e.g. (28, 28, 1) or (-1, 4)), received {shape!r}{hint}")
        self.shape = tuple(int(n) for n in target)

    def output_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        size, known = math.prod(input_shape), math.prod(n for n in self.shape if n != -1)
        if -1 in self.shape and size % known == 0:
            return tuple(size // known if n == -1 else n for n in self.shape)
        if -1 not in self.shape and known == size:
            return self.shape
        raise ValueError(f"{self!r} can't hold samples of shape {input_shape} ({size} values) "
                         f"as {self.shape} ({'a multiple of ' if -1 in self.shape else ''}"
                         f"{known} values); give a shape of {size} values")

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    def __repr__(self) -> str:
        return f"Reshape({self.shape})"
