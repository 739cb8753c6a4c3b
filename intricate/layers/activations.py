"""Activation layers. Each class declares its WGSL function in shaders/layers/activations.wgsl
(``fn NAME(x, alpha)`` and ``fn NAME_derivative(x, o, alpha)``), whether that derivative reads
the inputs x (else only the outputs o), its ``alpha`` and whether it is element-wise (then the
fusion planner, intricate/engine/plan.py, may apply it in a Dense layer's GEMM epilogue).

Adding one: a class here (``function``, ``derivative_uses_inputs``, ``@register``, and
``alpha`` with ``get_config`` if it has one) and its two functions in activations.wgsl.
"""

from __future__ import annotations

import math
from typing import Any

from ..gpu import GPUArray, Program
from ..ops import loops
from ..ops.gemm.tiled import activation_functions
from ..optimizers import check_number
from .base import Layer
from .registry import register

__all__ = ["ELU", "GELU", "Activation", "LeakyReLU", "ReLU", "SiLU", "Sigmoid", "SoftMax",
           "Softplus", "Swish", "TanH"]


class Activation(Layer):
    """A parameter-free, element-wise layer: o = f(x), dE/dI = dE/dO * f'(x, o).

    Declarations (class attributes): ``function``, the WGSL function name; ``alpha``, its one
    hyperparameter (0 when unused); ``derivative_uses_inputs``, whether f' reads x (then the
    inputs are kept for the backward); ``elementwise``, whether it may be fused into a GEMM
    epilogue; ``fused_loss``, the loss whose gradient already includes this layer's backward.
    """

    function = ""
    alpha = 0.0
    derivative_uses_inputs = False
    elementwise = True
    fused_loss: str | None = None
    shader = "layers/activation.wgsl"

    def __init__(self) -> None:
        super().__init__()
        if self.shader == Activation.shader and self.function not in activation_functions():
            raise ValueError(
                f"{type(self).__name__}: function {self.function!r} is not defined in "
                f"shaders/layers/activations.wgsl (it has {activation_functions()}); add "
                f"fn {self.function or 'NAME'}(x, alpha) and fn "
                f"{self.function or 'NAME'}_derivative(x, o, alpha) there")

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        """Record o = f(x). Shapes: [batch, features] → same."""
        outputs = program.array(self, "outputs", inputs.shape)
        self._record(program, "forward", inputs.shape, inputs=inputs, outputs=outputs)
        self.last_inputs, self.last_outputs = inputs, outputs
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        """Record dE/dI = dE/dO * f'(x, o). Shapes: [batch, features] → same."""
        if not need_grad_inputs:
            return None
        grad_inputs = program.array(self, "grad_inputs", grad_outputs.shape)
        inputs = {"inputs": self.last_inputs} if self.derivative_uses_inputs else {}
        self._record(program, "backward", grad_outputs.shape, grad_outputs=grad_outputs,
                     outputs=self.last_outputs, grad_inputs=grad_inputs, **inputs)
        return grad_inputs

    def _record(self, program: Program, direction: str, shape: tuple[int, ...],
                **bound: GPUArray) -> None:
        rows, width = shape
        program.dispatch(self.shader, direction, threads=rows * width,
                         params={"count": rows * width, "alpha": self.alpha},
                         template={"activation": self.function,
                                   "inputs_kept": self.derivative_uses_inputs}, **bound)


def check_alpha(value: object) -> float:
    """``alpha`` as a float (Python or NumPy number), finite, >= 0 and within float32's range
    (it reaches the shaders as an f32), else a ValueError: optimizers' check_number."""
    return check_number("alpha", value, low=0.0)

@register
class TanH(Activation):
    """o = tanh(x)."""

    function = "hyperbolic_tangent"


@register
class Sigmoid(Activation):
    """o = 1 / (1 + exp(-x))."""

    function = "sigmoid"


@register
class ReLU(Activation):
    """o = max(x, 0)."""

    function = "relu"


@register
class LeakyReLU(Activation):
    """o = x where x > 0, else alpha·x (Keras' ``negative_slope``, PyTorch's default 0.01).

    Raises:
        ValueError: alpha < 0 (the derivative is read from o, which needs alpha >= 0).
    """

    function = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = check_alpha(alpha)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@register
class ELU(Activation):
    """o = x where x > 0, else alpha·(exp(x) - 1). Its derivative is read from x, as PyTorch
    does (from o, 1 + o loses the relative accuracy of alpha·exp(x) once x < -5).

    Raises:
        ValueError: alpha < 0 or not finite.
    """

    function = "elu"
    derivative_uses_inputs = True

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_alpha(alpha)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@register
class GELU(Activation):
    """o = x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2 (PyTorch's ``approximate="tanh"``)."""

    function = "gelu"
    derivative_uses_inputs = True


@register
class SiLU(Activation):
    """o = x·sigmoid(x) (also called Swish)."""

    function = "silu"
    derivative_uses_inputs = True


Swish = SiLU


@register
class Softplus(Activation):
    """o = log(1 + exp(x)), computed as max(x, 0) + log(1 + exp(-|x|))."""

    function = "softplus"
    derivative_uses_inputs = True


WIDE_WORKGROUP = 256  # invocations that share one row on SoftMax's wide path


@register
class SoftMax(Activation):
    """o = exp(x) / Σ exp(x) over each sample's features (an invocation per row, a workgroup per
    wide row: see layers/softmax.wgsl). Followed by CategoricalCrossEntropy, the planner skips
    its backward and the loss writes the fused gradient (ŷ·Σy - y) / batch."""

    elementwise = False
    fused_loss = "CategoricalCrossEntropy"
    shader = "layers/softmax.wgsl"

    def _record(self, program: Program, direction: str, shape: tuple[int, ...],
                **bound: GPUArray) -> None:
        if self.input_shape is not None and len(self.input_shape) != 1:
            # On (H, W, C) images Keras' Softmax normalizes each pixel's channels (axis=-1),
            # where a row here would be the whole image: refused rather than silently other.
            raise ValueError(f"{self!r} normalizes each sample's values as one distribution and "
                             f"takes flat samples, received samples of shape {self.input_shape} "
                             "(Keras' Softmax would normalize the last axis at each position, "
                             "which it doesn't); put Flatten() before it for one distribution "
                             "per sample, or pool the images to their channels first "
                             "(GlobalAveragePooling2D)")
        rows, width = shape
        params = {"count": rows * width, "width": width}
        # The wide path's lanes loop 3 · ceil(width / WIDE_WORKGROUP) + 2 · log2 times.
        trips = 3 * math.ceil(width / WIDE_WORKGROUP) + 2 * WIDE_WORKGROUP.bit_length()
        if trips > loops.LLVMPIPE_CAP:
            raise ValueError(f"{self!r}: rows of {width} values need {trips} loop iterations "
                             f"per lane, past the {loops.LLVMPIPE_CAP} some adapters run "
                             "(llvmpipe stops there silently); use fewer classes")
        if 3 * width > loops.LOOP_BOUND:  # a workgroup per row: bounded loops (see the shader)
            program.dispatch(self.shader, f"{direction}_wide", groups=rows, params=params,
                             workgroup_size=WIDE_WORKGROUP, **bound)
        else:
            program.dispatch(self.shader, direction, threads=rows, params=params, **bound)
