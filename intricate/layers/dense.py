"""Dense: y = x @ kernel + bias, with kernel [inputs, outputs] and bias [outputs] (Keras layout)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import initializers
from ..gpu import GPUArray, Program, fold_grid
from ..initializers import Initializer
from .base import Layer, check_size

TILE = 16  # the GEMM's square tile: workgroups of TILE × TILE invocations
# sum_rows shares dense.wgsl's Params with the GEMMs but reads only m and n.
_NO_GEMM = {"k": 0, "a_row_stride": 0, "a_col_stride": 0, "b_row_stride": 0, "b_col_stride": 0}


def matmul(program: Program, entry: str, a: GPUArray, b: GPUArray, c: GPUArray,
           m: int, n: int, k: int, a_strides: tuple[int, int], b_strides: tuple[int, int],
           **extra: GPUArray) -> None:
    """Record c[m, n] = a · b where a[row, i] = a[row * a_strides[0] + i * a_strides[1]], etc."""
    row_groups = fold_grid(math.ceil(m / TILE))
    program.dispatch(
        "dense.wgsl", entry, groups=(math.ceil(n / TILE), row_groups[0], row_groups[1]),
        template={"tile": TILE}, a=a, b=b, c=c, **extra,
        params={"m": m, "n": n, "k": k, "a_row_stride": a_strides[0],
                "a_col_stride": a_strides[1], "b_row_stride": b_strides[0],
                "b_col_stride": b_strides[1]},
    )


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

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        kernel, bias = self.parameters
        rows = inputs.shape[0]
        outputs = program.array(self, "outputs", (rows, self.output_size))
        matmul(program, "forward", inputs, kernel, outputs, rows, self.output_size,
               self.input_size, (self.input_size, 1), (self.output_size, 1), bias=bias)
        self.last_inputs, self.last_outputs = inputs, outputs
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        kernel, _ = self.parameters
        grad_kernel, grad_bias = self.gradients
        rows, ins, outs = grad_outputs.shape[0], self.input_size, self.output_size
        # dW = xᵀ · dY: a = x read transposed, b = dY.
        matmul(program, "matmul", self.last_inputs, grad_outputs, grad_kernel, ins, outs, rows,
               (1, ins), (outs, 1))
        program.dispatch("dense.wgsl", "sum_rows", groups=outs, template={"tile": TILE},
                         grad_outputs=grad_outputs, grad_bias=grad_bias,
                         params={"m": rows, "n": outs, **_NO_GEMM})
        if not need_grad_inputs:
            return None
        # dX = dY · Wᵀ: b = W read transposed.
        grad_inputs = program.array(self, "grad_inputs", (rows, ins))
        matmul(program, "matmul", grad_outputs, kernel, grad_inputs, rows, ins, outs,
               (outs, 1), (1, outs))
        return grad_inputs

    def get_config(self) -> dict[str, Any]:
        return {"inputs": self.input_size, "outputs": self.output_size,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}

    def __repr__(self) -> str:
        return f"Dense({self.input_size}, {self.output_size})"
