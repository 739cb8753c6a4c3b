"""Optimizers: parameter updates in WGSL over the model's flat parameter buffer.

One dispatch updates every parameter of the model (shaders/optimizers.wgsl).
"""

from __future__ import annotations

import math

from .gpu import GPUArray, Program


def check_learning_rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"learning_rate: expected a finite number > 0, received {value!r}")
    return float(value)


class SGD:
    """Plain stochastic gradient descent: θ ← θ - learning_rate · ∂L/∂θ (Keras/PyTorch SGD
    without momentum).

    Args:
        learning_rate: the step size, a finite number > 0.
    """

    def __init__(self, learning_rate: float = 0.01) -> None:
        self.learning_rate = check_learning_rate(learning_rate)

    def record_update(self, program: Program, parameters: GPUArray, gradients: GPUArray) -> None:
        """Record one update of all ``parameters`` from ``gradients`` (same flat layout)."""
        program.dispatch("optimizers.wgsl", "sgd", threads=parameters.size,
                         params={"count": parameters.size, "learning_rate": self.learning_rate},
                         parameters=parameters, gradients=gradients)

    def __repr__(self) -> str:
        return f"SGD(learning_rate={self.learning_rate})"
