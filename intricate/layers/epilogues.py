"""What a GEMM layer (Dense, Conv2D: ``applies_activations``) records around its GEMMs when the
planner (intricate/engine/plan.py) fuses an element-wise activation into them: the forward's
outputs are the activation's, the dX GEMM multiplies by the derivative of the activation below
and returns that activation's dE/dI. The GEMM side is ops/gemm/epilogue.wgsl.
"""

from __future__ import annotations

from typing import Any

from ..gpu import GPUArray, Program
from .activations import Activation
from .base import Layer


def forward_outputs(program: Program, layer: Layer, activation: Activation | None,
                    shape: tuple[int, int]) -> tuple[GPUArray, dict[str, Any]]:
    """The forward GEMM's c [rows, width] (the activation's outputs when one is fused) and
    record_gemm's epilogue arguments: the activation, its alpha, and where it keeps x when its
    derivative reads it."""
    outputs = program.array(layer if activation is None else activation, "outputs", shape)
    pre_activations = None
    if activation is not None and activation.derivative_uses_inputs:
        pre_activations = program.array(activation, "inputs", shape)
    return outputs, {"activation": None if activation is None else activation.function,
                     "alpha": 0.0 if activation is None else activation.alpha,
                     "pre_activations": pre_activations}


def remember_forward(layer: Layer, activation: Activation | None, inputs: GPUArray,
                     outputs: GPUArray, epilogue: dict[str, Any]) -> None:
    """Keep the arrays the backward reads: the layer's inputs, and the fused activation's x and
    o (the activation ran inside the GEMM, so the GEMM hands them to it)."""
    layer.last_inputs, layer.last_outputs = inputs, outputs
    if activation is not None:
        activation.last_inputs, activation.last_outputs = epilogue["pre_activations"], outputs


def grad_inputs_of(program: Program, layer: Layer, activation: Activation | None,
                   shape: tuple[int, int]) -> tuple[GPUArray, dict[str, Any]]:
    """The dX GEMM's c [rows, width] (the activation below's dE/dI when its backward is fused)
    and record_gemm's epilogue arguments: the derivative (function, o, x or None), its alpha."""
    grad_inputs = program.array(layer if activation is None else activation, "grad_inputs",
                                shape)
    if activation is None:
        return grad_inputs, {"derivative": None, "alpha": 0.0}
    return grad_inputs, {"derivative": (
        activation.function, activation.last_outputs,
        activation.last_inputs if activation.derivative_uses_inputs else None),
        "alpha": activation.alpha}
