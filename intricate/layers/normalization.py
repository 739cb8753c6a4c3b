"""BatchNormalization: normalise each channel (the last axis: NHWC images' C, flat data's
features) by the batch's statistics in a training step, and by moving statistics that those steps
update on the GPU everywhere else (Keras' layer, its defaults and its weights' order).

The sums over a batch's rows (batch · H · W of them per channel) are split in parts of a bounded
number of rows, whose per-part values a workgroup per channel then merges: see
shaders/layers/normalization.wgsl. The variance is merged from each part's two-pass one (Chan's
formula), never E[x²] - E[x]², which cancels for data far from 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..gpu import GPUArray, Program
from ..ops import loops
from ..optimizers import check_number
from .activations import Activation
from .base import Layer
from .registry import register

SHADER = "layers/normalization.wgsl"
WORKGROUP_SIZE = 256  # the shader's default workgroup_size: the element and part kernels'
# The merges' lanes (a workgroup per channel, tree sums: a power of two). 64, not 256: lavapipe
# runs a merge 4x faster (fewer lanes meet at each barrier), and a GPU's merges are tiny anyway.
MERGE_WORKGROUP_SIZE = 64
TARGET_INVOCATIONS = 1 << 16  # parts · channels to aim for: enough to fill a GPU
MIN_PART_ROWS = 16  # shorter parts would cost their merge more than their loops save


def split_rows(rows: int, channels: int) -> tuple[int, int]:
    """(part_rows, parts): the rows per part of the batch sums and how many parts, so that an
    invocation loops over at most ``loops.LOOP_BOUND`` rows or parts.

    Raises:
        ValueError: more rows than any split keeps within the bound.
    """
    bound = loops.LOOP_BOUND
    # A merge's lanes loop twice over their parts, plus two tree sums of log2(lanes) steps.
    lanes = MERGE_WORKGROUP_SIZE
    most_parts = lanes * max(0, (bound - 2 * int(math.log2(lanes))) // 2)
    part_rows = max(MIN_PART_ROWS, math.ceil(rows * channels / TARGET_INVOCATIONS),
                    math.ceil(rows / max(most_parts, 1)))
    part_rows = max(1, min(part_rows, bound // 2, rows))  # statistics_parts loops twice
    parts = math.ceil(rows / part_rows)
    if parts > most_parts:
        raise ValueError(f"BatchNormalization: {rows} values per channel, more than its "
                         f"bounded reductions sum ({bound // 2 * most_parts}); use smaller "
                         "batches or images")
    return part_rows, parts


@register
class BatchNormalization(Layer):
    """Batch normalisation over every axis but the last (Keras' ``axis=-1``).

    Args:
        momentum: of the moving statistics, in [0, 1]: moving = momentum · moving +
            (1 - momentum) · batch statistic (PyTorch's momentum is 1 - this).
        epsilon: added to the variance before its square root, > 0.
        center: learn beta, the shift (else 0).
        scale: learn gamma, the scale (else 1).
        axis: the normalised (channels) axis, Keras' argument: -1, or the last axis counted
            with the batch's (3 for NHWC images); no other axis is supported.

    Shapes: any per-sample shape, kept; C = its last axis. Weights (Keras' order): gamma [C]
    (ones; if scale), beta [C] (zeros; if center), then the non-trainable states moving_mean [C]
    (zeros) and moving_variance [C] (ones).
    Training steps: y = gamma (x - mean) / sqrt(var + epsilon) + beta with the batch's mean and
    biased variance per channel (over batch · H · W values), which also update the moving
    statistics (Keras: the biased variance too); the backward is the exact gradient through the
    batch statistics. Predict, evaluate and validation use the moving statistics, unchanged.

    Raises:
        ValueError: momentum outside [0, 1], epsilon <= 0, center or scale not a bool, axis
            not an int (once built: not the last axis, which Model checks).
    """

    torch_names = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
                   "moving_variance": "running_var"}  # BatchNorm1d/2d's state_dict names

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, axis: int = -1) -> None:
        super().__init__()
        self.momentum = check_number("momentum", momentum, low=0.0, high=1.0)
        self.epsilon = check_number("epsilon", epsilon, low=0.0, low_inclusive=False)
        for name, flag in (("center", center), ("scale", scale)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"{name}: expected True or False, received {flag!r}")
        self.center, self.scale = bool(center), bool(scale)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"axis: expected an int, the channels axis (-1: the last, as "
                             f"Keras' default), received {axis!r}")
        self.axis = int(axis)
        self.through_batch = True  # whether the forward recorded last used batch statistics

    @property
    def channels(self) -> int:
        """C, the last axis of the per-sample input shape (known once built)."""
        if self.input_shape is None:
            raise ValueError(f"{self!r}: its channels come from its input shape; put it in a "
                             "Model (or call layer.build(input_shape)) first")
        rank = len(self.input_shape)  # axis counts the batch's too, as Keras'
        if self.axis not in (-1, rank):  # checked here: Layer's own shape rules keep any shape
            raise ValueError(f"{self!r}: axis={self.axis}, but it normalises the last axis "
                             f"(the channels) only, axis=-1 or {rank} for inputs (None, "
                             f"{', '.join(map(str, self.input_shape))}); images here are NHWC "
                             "(PyTorch's channels axis 1 is the last): use axis=-1")
        return self.input_shape[-1]

    def torch_constants(self) -> dict[str, np.ndarray]:
        """An affine BatchNorm (weight or bias learned) has both: the one this layer keeps
        fixed, bias 0 (center=False) or weight 1 (scale=False), for load_state_dict."""
        if self.scale == self.center:  # both learned, or neither (affine=False: none)
            return {}
        name, value = ("bias", 0.0) if self.scale else ("weight", 1.0)
        return {name: np.full(self.channels, value, np.float32)}

    def parameter_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        names = ["gamma"] * self.scale + ["beta"] * self.center
        return [(name, (self.channels,)) for name in names]

    def initial_parameters(self, rng: np.random.Generator) -> list[np.ndarray]:
        ones, zeros = np.ones(self.channels, np.float32), np.zeros(self.channels, np.float32)
        return [ones] * self.scale + [zeros] * self.center

    def state_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("moving_mean", (self.channels,)), ("moving_variance", (self.channels,))]

    def initial_state(self) -> list[np.ndarray]:
        return [np.zeros(self.channels, np.float32), np.ones(self.channels, np.float32)]

    # The planner (intricate/engine/plan.py) may hand an element-wise activation to propagate
    # (the one after this layer: normalize applies it as it stores) and to back_propagate (the
    # one before it: grad_inputs_of multiplies by its derivative), one dispatch fewer each.
    applies_activations = True

    def propagate(self, program: Program, inputs: GPUArray,
                  activation: Activation | None = None) -> GPUArray:
        """Record y: normalised by the batch's statistics (updating the moving ones) in a
        training step, by the moving statistics elsewhere. Shapes: [batch, features] → same.

        With ``activation`` (the next layer, as the planner decides) normalize stores its
        outputs (and its inputs y when its derivative reads them) and hands them to it."""
        outputs = program.array(self if activation is None else activation, "outputs",
                                inputs.shape)
        bound = {"inputs": inputs, "outputs": outputs, **self._parameters()}
        if activation is not None and activation.derivative_uses_inputs:
            bound["pre_activations"] = program.array(activation, "inputs", inputs.shape)
        if activation is not None:
            activation.last_inputs = bound.get("pre_activations")
            activation.last_outputs = outputs
        self.through_batch = bool(getattr(program, "training", False))
        if self.through_batch:
            moving_mean, moving_variance = self.states
            mean, variance = self._batch_statistics(program)
            parts = self._parts(program, inputs.size // self.channels)
            self._record(program, "statistics_parts", inputs, inputs=inputs, **parts)
            self._record(program, "statistics", inputs, mean=mean, variance=variance,
                         moving_mean=moving_mean, moving_variance=moving_variance, **parts)
        else:
            mean, variance = self.states
        self._record(program, "normalize", inputs, mean=mean, variance=variance, **bound,
                     fused=activation)
        self.last_inputs, self.last_outputs = inputs, outputs
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True,
                       activation: Activation | None = None) -> GPUArray | None:
        """Record dE/dgamma = Σ dE/dy · x̂, dE/dbeta = Σ dE/dy and dE/dx, of the forward
        recorded last: through the batch statistics after a training step's; with the moving
        statistics as constants after an inference forward (``check_gradients`` runs one).
        Shapes: [batch, features] → same.

        With ``activation`` (the layer below, as the planner decides) dE/dx is multiplied by
        its derivative: the activation's dE/dI is returned, its backward done too."""
        inputs = self.last_inputs
        mean, variance = (self._batch_statistics(program) if self.through_batch
                          else self.states)
        parts = self._parts(program, inputs.size // self.channels)
        channel_sums = program.array(self, "channel_sums", (2, self.channels),
                                     program.precision.parameters)
        gradients = dict(zip([name for name, _ in self.parameter_shapes()], self.gradients))
        self._record(program, "gradient_parts", inputs, inputs=inputs, grad_outputs=grad_outputs,
                     mean=mean, variance=variance, **parts)
        self._record(program, "gradient_sums", inputs, channel_sums=channel_sums, **parts,
                     **{f"grad_{name}": array for name, array in gradients.items()})
        if not need_grad_inputs:
            return None
        grad_inputs = program.array(self if activation is None else activation, "grad_inputs",
                                    grad_outputs.shape)
        below = {}
        if activation is not None and activation.derivative_uses_inputs:
            below["activation_inputs"] = activation.last_inputs
        self._record(program, "grad_inputs_of", inputs, inputs=inputs, grad_outputs=grad_outputs,
                     mean=mean, variance=variance, channel_sums=channel_sums,
                     grad_inputs=grad_inputs, **{name: array for name, array in
                                                 self._parameters().items() if name == "gamma"},
                     **below, derivative_of=activation)
        return grad_inputs

    def _parameters(self) -> dict[str, GPUArray]:
        return dict(zip([name for name, _ in self.parameter_shapes()], self.parameters))

    def _batch_statistics(self, program: Program) -> tuple[GPUArray, GPUArray]:
        """The batch's mean and biased variance per channel ({{ accumulate }}), which a
        training step's forward writes and its backward reads."""
        return tuple(program.array(self, role, (self.channels,), program.precision.parameters)
                     for role in ("batch_mean", "batch_variance"))

    def _parts(self, program: Program, rows: int) -> dict[str, GPUArray]:
        """The per-part sums, shared by the forward's statistics and the backward's sums."""
        shape = (split_rows(rows, self.channels)[1], self.channels)
        return {name: program.array(self, name, shape, program.precision.parameters)
                for name in ("partial_first", "partial_second")}

    def _record(self, program: Program, entry: str, like: GPUArray,
                fused: Activation | None = None, derivative_of: Activation | None = None,
                **bound: GPUArray) -> None:
        """Dispatch ``entry`` on batches the size of ``like``: a workgroup per channel for the
        merges, an invocation per (part, channel) or per element for the others; ``fused``
        applied by normalize, ``derivative_of``'s derivative by grad_inputs_of."""
        channels, count = self.channels, like.size
        rows = count // channels
        part_rows, parts = split_rows(rows, channels)
        lanes = WORKGROUP_SIZE
        if entry in ("statistics", "gradient_sums"):
            grid, lanes = {"groups": channels}, MERGE_WORKGROUP_SIZE
        elif entry.endswith("_parts"):
            grid = {"threads": parts * channels}
        else:
            grid = {"threads": count}
        template = {"scale": self.scale, "center": self.center,
                    "activation": fused.function if fused else "identity",
                    "inputs_kept": bool(fused and fused.derivative_uses_inputs),
                    "derivative": derivative_of.function if derivative_of else "identity",
                    "derivative_reads_inputs": bool(derivative_of and
                                                    derivative_of.derivative_uses_inputs)}
        alpha = (fused or derivative_of).alpha if (fused or derivative_of) else 0.0
        program.dispatch(SHADER, entry, workgroup_size=lanes, **grid, template=template,
                         params={"rows": rows, "channels": channels, "part_rows": part_rows,
                                 "parts": parts, "count": count,
                                 "through_batch": int(self.through_batch),
                                 "epsilon": self.epsilon, "momentum": self.momentum,
                                 "alpha": alpha}, **bound)

    def settings(self) -> dict[str, Any]:
        """The config, axis as -1 where it names the last axis (axis=3 of NHWC images is -1):
        a file of either loads into the other."""
        settings = super().settings()
        if self.input_shape is not None and self.axis == len(self.input_shape):
            settings["axis"] = -1
        return settings

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "axis": self.axis}
