"""The model's recorded programs: a training step, an evaluation batch, a forward pass.

One training step (a program per batch size):
    gather the batch from the resident dataset → forward (activations fused into the GEMMs) →
    loss + metrics + dL/dŷ → every layer's backward (activation derivatives fused into the
    GEMMs) → one optimizer update of all parameters
mixed_float16 adds loss scaling (loss_scale.py): dL/dŷ scaled, a check of the gradients before
the update (which unscales them, or skips the step), and the scale's update after it.
What runs fused is plan.py's decision, not this module's.
Everything here runs on the device's GPU thread.
"""

from __future__ import annotations

import numpy as np

from ..gpu import GPUArray, Program
from ..losses import Loss
from ..ops.gather import record_gather
from ..optimizers import Optimizer
from . import loss_scale, plan


class Programs:
    """The model's recorded programs; ``model`` supplies layers, parameters and workspaces."""

    def __init__(self, model) -> None:
        self.model = model

    def io(self, rows: int) -> tuple[GPUArray, GPUArray, GPUArray]:
        """The batch inputs, targets and sample indices of the workspace for ``rows``."""
        workspace, model = self.model.workspace(rows), self.model
        return (workspace.array(model, "inputs", (rows, model.input_size)),
                workspace.array(model, "targets", (rows, model.output_size)),
                workspace.array(model, "indices", (rows,), np.uint32))

    def program(self, rows: int) -> Program:
        """An empty program for batches of ``rows``, with its inputs and targets arrays."""
        program = Program(self.model.workspace(rows))
        program.inputs, program.targets, _ = self.io(rows)
        return program

    def forward(self, program: Program) -> GPUArray:
        """Record the forward pass of ``program.inputs``; return (and keep) the predictions.

        The fusion planner (plan.py) pairs a Dense layer with the element-wise activation
        that follows it: one dispatch for the pair."""
        outputs = program.inputs
        for step in plan.forward_steps(self.model.layers):
            if step.activation is None:
                outputs = step.layer.propagate(program, outputs)
            else:
                outputs = step.layer.propagate(program, outputs, activation=step.activation)
        program.outputs = outputs
        return outputs

    def evaluation(self, rows: int, loss: Loss, accuracy: int, slot: int) -> Program:
        """forward → loss and metrics added to the statistics at ``slot``."""
        program = self.program(rows)
        predictions = self.forward(program)
        loss.record_statistics(program, predictions, program.targets, self.model.statistics,
                               slot, accuracy)
        return program

    def training(self, rows: int, data, loss: Loss, optimizer: Optimizer,
                 accuracy: int) -> Program:
        """[gather] → forward → statistics → dL/dŷ → backward → one optimizer update
        (mixed_float16: → check → update → loss-scale update).

        With ``data`` the batch is gathered from it by ``indices`` (shuffled training); without,
        the caller copies the batch's rows into ``program.inputs``/``targets`` first.
        """
        model, program = self.model, self.program(rows)
        program.training = True  # layers read it as they record (Dropout, BatchNormalization)
        inputs, targets, indices = self.io(rows)
        if data is not None:
            record_gather(program, indices, data.x, data.y, inputs, targets)
        predictions = self.forward(program)
        fused = plan.loss_through_last_layer(model.layers, loss)
        grad = program.array(model, "grad_predictions", predictions.shape)
        scale = model.loss_scale  # mixed_float16's state, else None
        loss.record_training(program, predictions, targets, model.statistics, grad, accuracy,
                             through_softmax=fused, loss_scale=scale)
        for step in plan.backward_steps(model.layers, loss):
            if grad is None:
                break
            if step.activation is None:
                grad = step.layer.back_propagate(program, grad,
                                                 need_grad_inputs=step.need_grad_inputs)
            else:  # the dX GEMM applies the activation's derivative: one dispatch for both
                grad = step.layer.back_propagate(program, grad, activation=step.activation)
        if scale is None:
            optimizer.record_update(program, model.parameters, model.gradients)
            return program
        loss_scale.record_check(program, model.gradients, scale)
        optimizer.record_update(program, model.parameters, model.gradients,
                                model.compute_parameters, scale)
        loss_scale.record_update(program, scale, model.statistics)
        return program
