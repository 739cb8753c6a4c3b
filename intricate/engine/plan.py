"""The fusion plan: the one place that decides which layers run together.

Two fusions, both read from what the layers and losses declare:
- a layer that ``applies_activations`` (Dense) followed by an ``elementwise`` activation: the
  GEMM epilogue applies the activation (forward), and the dX GEMM of the layer above an
  activation multiplies by its derivative (backward): one dispatch each instead of two;
- a last layer whose ``fused_loss`` names the loss (SoftMax with CategoricalCrossEntropy): the
  loss writes the gradient through that layer, whose backward is then skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..layers import Activation, Layer


@dataclass(frozen=True)
class Step:
    """One recorded call: ``layer`` with ``activation`` fused into it (None: alone).

    Forward: ``layer.propagate(program, x, activation=...)`` also runs the activation after it.
    Backward: ``layer.back_propagate(..., activation=...)`` also runs the backward of the
    activation before it; ``need_grad_inputs`` is False when no layer below has parameters.
    """

    layer: Layer
    activation: Layer | None = None
    need_grad_inputs: bool = True


def fuses(layer: Layer, activation: Layer | None) -> bool:
    """Whether ``activation`` can run in ``layer``'s GEMM epilogue (and its derivative in the
    dX GEMM of ``layer`` when ``activation`` comes first): an ``elementwise`` Activation whose
    class keeps Activation's own propagate/back_propagate (a subclass that records its own
    work runs it, unfused)."""
    if not getattr(layer, "applies_activations", False) or not isinstance(activation, Activation):
        return False
    kind = type(activation)
    return (activation.elementwise and kind.propagate is Activation.propagate
            and kind.back_propagate is Activation.back_propagate)


def forward_steps(layers: list[Layer]) -> list[Step]:
    """The forward pass in order: each layer alone or with the activation that follows it."""
    steps, index = [], 0
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1] if index + 1 < len(layers) else None
        if fuses(layer, following):
            steps.append(Step(layer, following))
            index += 2
        else:
            steps.append(Step(layer))
            index += 1
    return steps


def loss_through_last_layer(layers: list[Layer], loss: object) -> bool:
    """Whether ``loss`` writes its gradient through the last layer (which then skips its own
    backward), as that layer declares with ``fused_loss``."""
    return getattr(layers[-1], "fused_loss", None) == type(loss).__name__


def backward_steps(layers: list[Layer], loss: object) -> list[Step]:
    """The backward pass from the top: each layer alone or with the activation below it (when
    that activation's dE/dI is needed: some layer below it has parameters)."""
    backward = layers[:-1] if loss_through_last_layer(layers, loss) else layers
    steps, index = [], len(backward) - 1
    while index >= 0:
        layer, below = backward[index], backward[index - 1] if index else None
        needed = any(lower.parameter_shapes() for lower in backward[:index])
        if needed and fuses(layer, below):
            steps.append(Step(layer, below))
            index -= 2
        else:
            steps.append(Step(layer, need_grad_inputs=needed))
            index -= 1
    return steps
