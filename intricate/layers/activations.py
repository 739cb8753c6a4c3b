"""Activation layers: TanH, Sigmoid, ReLU and SoftMax (over each row); see activations.wgsl."""

from __future__ import annotations

from ..gpu import GPUArray, Program
from .base import Layer
from .registry import register


class Activation(Layer):
    """A parameter-free layer whose forward and backward are ``{entry}_forward/_backward``.

    Its backward reads the layer's own outputs (every derivative here is a function of them).
    """

    entry = ""
    per_row = False  # SoftMax runs one invocation per row, the others one per element

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        outputs = program.array(self, "outputs", inputs.shape)
        self._record(program, "forward", inputs.shape, inputs=inputs, outputs=outputs)
        self.last_inputs, self.last_outputs = inputs, outputs
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        if not need_grad_inputs:
            return None
        grad_inputs = program.array(self, "grad_inputs", grad_outputs.shape)
        self._record(program, "backward", grad_outputs.shape, grad_outputs=grad_outputs,
                     outputs=self.last_outputs, grad_inputs=grad_inputs)
        return grad_inputs

    def _record(self, program: Program, direction: str, shape: tuple[int, ...],
                **bound: GPUArray) -> None:
        rows, width = shape
        program.dispatch("layers/activations.wgsl", f"{self.entry}_{direction}",
                         threads=rows if self.per_row else rows * width,
                         params={"count": rows * width, "width": width}, **bound)


@register
class TanH(Activation):
    """o = tanh(x)."""

    entry = "tanh"


@register
class Sigmoid(Activation):
    """o = 1 / (1 + exp(-x))."""

    entry = "sigmoid"


@register
class ReLU(Activation):
    """o = max(x, 0)."""

    entry = "relu"


@register
class SoftMax(Activation):
    """o = exp(x) / Σ exp(x) over each sample's features. Followed by CategoricalCrossEntropy,
    the model skips its backward and uses the fused gradient (ŷ - y) / batch."""

    entry = "softmax"
    per_row = True
