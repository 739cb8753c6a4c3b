"""Dense: y = x @ kernel + bias, with kernel [inputs, outputs] and bias [outputs] (Keras layout)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers
from ..gpu import GPUArray, Program
from ..initializers import Initializer
from ..ops.gemm import record_gemm
from .activations import Activation
from .base import Layer, check_size
from .epilogues import forward_outputs, grad_inputs_of, remember_forward
from .registry import register


@register
class Dense(Layer):
    """A fully connected layer.

    Args:
        inputs: features in (the original's ``inputs_amount``).
        outputs: features out (``outputs_amount``).
        kernel_initializer: an ``intricate.initializers`` instance or Keras name.
        bias_initializer: likewise.

    Shapes: propagate [batch, inputs] → [batch, outputs]. Parameters: kernel [inputs, outputs]
    (Glorot-uniform by default), bias [outputs] (zeros by default).
    """

    def __init__(self, inputs: int, outputs: int,
                 kernel_initializer: Initializer | str = "glorot_uniform",
                 bias_initializer: Initializer | str = "zeros") -> None:
        super().__init__()
        self.input_size = check_size("inputs", inputs)
        self.output_size = check_size("outputs", outputs)
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")

    def output_size_for(self, input_size: int) -> int:
        return self.output_size

    def parameter_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("kernel", (self.input_size, self.output_size)), ("bias", (self.output_size,))]

    def initial_parameters(self, rng: np.random.Generator) -> list[np.ndarray]:
        return [self.kernel_initializer((self.input_size, self.output_size), rng),
                self.bias_initializer((self.output_size,), rng)]

    # The planner (intricate/engine/plan.py) may hand an element-wise activation to propagate
    # and back_propagate: the GEMM epilogues apply it and its derivative.
    applies_activations = True

    def propagate(self, program: Program, inputs: GPUArray,
                  activation: Activation | None = None) -> GPUArray:
        """y = x·W + b. Shapes: [batch, inputs] → [batch, outputs].

        With ``activation`` (the next layer, element-wise: as the planner decides) the GEMM
        applies it as it stores, writes the activation layer's outputs (and its inputs when its
        derivative reads them) and hands them to it."""
        kernel, bias = self.parameters
        rows = inputs.shape[0]
        outputs, epilogue = forward_outputs(program, self, activation, (rows, self.output_size))
        record_gemm(program, inputs, kernel, outputs, rows, self.output_size, self.input_size,
                    (self.input_size, 1), (self.output_size, 1), bias=bias, **epilogue)
        remember_forward(self, activation, inputs, outputs, epilogue)
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True,
                       activation: Activation | None = None) -> GPUArray | None:
        """dW = xᵀ·dY with db = Σ dY in the same GEMM, then dX = dY·Wᵀ.

        Shapes: dY [batch, outputs] → dX [batch, inputs].
        With ``activation`` (the layer below, element-wise: as the planner decides) the dX GEMM
        multiplies by its derivative as it stores and returns the activation's dE/dI: that
        layer's backward is done too."""
        kernel, _ = self.parameters
        grad_kernel, grad_bias = self.gradients
        rows, ins, outs = grad_outputs.shape[0], self.input_size, self.output_size
        # a = x read transposed, b = dY; the column sums of dY are the bias gradient.
        record_gemm(program, self.last_inputs, grad_outputs, grad_kernel, ins, outs, rows,
                    (1, ins), (outs, 1), grad_bias=grad_bias)
        if not need_grad_inputs:
            return None
        grad_inputs, epilogue = grad_inputs_of(program, self, activation, (rows, ins))
        # b = W read transposed.
        record_gemm(program, grad_outputs, kernel, grad_inputs, rows, ins, outs,
                    (outs, 1), (1, outs), **epilogue)
        return grad_inputs

    def get_config(self) -> dict[str, Any]:
        return {"inputs": self.input_size, "outputs": self.output_size,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}

    def __repr__(self) -> str:
        return f"Dense({self.input_size}, {self.output_size})"
