"""Tiny fits in one workgroup: which fits qualify, and the shape of their kernel.

A model whose weights, batch, gradients and optimizer state are a few hundred floats spends its
steps waiting between tiny dependent dispatches (nine per step on the normal path). When they
all fit one workgroup's memory, shaders/engine/tiny_fit.wgsl runs forward, loss, backward and
update of many steps inside one dispatch, whole epochs at a time (tiny_epochs.TinyEpochs: a
10000-epoch XoR fit is ~100 dispatches, one per window the host reads, not 90,000).

``eligibility`` is the rule; ``plan`` gives the kernel's template and bounds. The path is
chosen by ``tiny_epochs.epochs_for`` (fit.py calls it), counted in ``COUNTS``; set ``ENABLED``
to False (or run with INTRICATE_TINY_FITS=0) to force the normal path, as A/B benchmarks
(benchmarks/tiny_ab.py) and the parity tests do.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

from ..dataset import Dataset
from ..layers import Activation, SoftMax
from ..layers.dense import Dense
from ..losses import LOSSES
from ..ops import loops
from ..ops.gather import batches
from ..optimizers import SGD, Adagrad, Adam, AdamW, Momentum, Nesterov
from . import plan as fusion

# False: every fit takes the normal path (an A/B switch for tests and benchmarks); the
# environment variable INTRICATE_TINY_FITS=0 (or off/false/no, as INTRICATE_GEMM_TUNING reads)
# sets it for a whole run (any script, unchanged).
ENABLED = os.environ.get("INTRICATE_TINY_FITS", "1").strip().lower() not in (
    "0", "off", "false", "no")
COUNTS: Counter = Counter()  # fits per path: COUNTS["tiny"], COUNTS["normal"]
# Optimizer class → (its optimizer_rules.wgsl rule, per-parameter moments). Exact classes only:
# a subclass may change the update.
RULES = {SGD: ("sgd", 0), Momentum: ("momentum", 1), Nesterov: ("nesterov", 1),
         Adagrad: ("adagrad", 1), Adam: ("adam", 2), AdamW: ("adamw", 2)}
DTYPES = ("float32", "float64")
MIN_LANES, MAX_LANES = 8, 256  # the workgroup: a power of two covering the widest phase
SLACK_TRIPS = 8  # loop iterations outside the step loop besides the parameter loads/stores
# A chunk of a tiny fit (what a stop waits for; see submits.py), in step_trips summed over its
# steps: lavapipe runs a 2-3-1 step (~30 trips) in ~30 µs, so 2^17 is ~0.1 s there; an H200 a
# step in a few µs, 2^18 ~25 ms. Tiny steps are latency-bound: their multiply-adds (the normal
# path's measure) would make a chunk of minutes.
TRIPS_PER_SUBMIT = {"CPU": 2**17}
DEFAULT_TRIPS_PER_SUBMIT = 2**18


@dataclass(frozen=True)
class TinyPlan:
    """The kernel of one tiny fit.

    Attributes:
        layers: per Dense layer (inputs, outputs, kernel offset, bias offset, activation function,
            alpha, whether its derivative reads x) — tiny_fit.wgsl's ``layers`` template value.
        lanes: the workgroup's invocations.
        steps_per_dispatch: steps one dispatch runs, within loops.LOOP_BOUND per invocation.
        workgroup_bytes: the workgroup memory the kernel declares.
        step_trips: loop iterations of a lane per step (``step_trips``): what a step costs,
            latency-bound as it is, where the normal path counts multiply-adds.
        softmax: the last Dense layer is followed by a SoftMax whose gradient the categorical
            cross-entropy fuses (the loss writes dE/dx = (ŷ·Σy - y) / batch).
    """

    layers: tuple
    lanes: int
    steps_per_dispatch: int
    workgroup_bytes: int
    step_trips: int
    softmax: bool = False


def dense_groups(layers, loss=None) -> list[tuple[Dense, Activation | None]] | None:
    """The model as Dense layers each followed by at most one element-wise activation of the
    library (layers/activations.wgsl), the last Dense possibly by a SoftMax whose backward
    ``loss`` fuses (plan.loss_through_last_layer: categorical cross-entropy); None if it is
    anything else."""
    softmax = type(layers[-1]) is SoftMax and fusion.loss_through_last_layer(layers, loss)
    body = layers[:-1] if softmax else layers
    groups, index = [], 0
    while index < len(body):
        layer = body[index]
        if type(layer) is not Dense:
            return None
        following = body[index + 1] if index + 1 < len(body) else None
        if following is not None and fusion.fuses(layer, following) and (
                following.shader == Activation.shader):
            groups.append((layer, following))
            index += 2
        elif following is None or type(following) is Dense:
            groups.append((layer, None))
            index += 1
        else:
            return None
    if softmax:
        if not groups or groups[-1][1] is not None:
            return None
        groups[-1] = (groups[-1][0], layers[-1])
    return groups


def _ceil(count: int, lanes: int) -> int:
    return -(-count // lanes)


def step_trips(sizes: list[tuple[int, int]], rows: int, parameters: int, lanes: int,
               categorical: bool, softmax: bool = False) -> int:
    """Loop iterations of one lane in one step of tiny_fit.wgsl (every loop's iterations;
    llvmpipe counts 10-30% more for the smallest steps, its loops' exit passes, which
    LOOP_BOUND's 4x margin covers: test_tiny_fit holds it within 2x): gather, each forward
    (element loop × inputs; a SoftMax: a row per lane, 3 loops over it), the loss (each
    element's row target sum through a SoftMax; + the categorical argmax, + the reduction),
    each backward (dW/db over the rows, dX over the outputs), the update, the epoch's log row,
    the step loop itself."""
    inputs, outputs = sizes[0][0], sizes[-1][1]
    trips = _ceil(rows * inputs, lanes) + _ceil(rows * outputs, lanes)
    trips += sum(_ceil(rows * outs, lanes) * (ins + 1) for ins, outs in sizes)
    trips += _ceil(rows, lanes) * (3 * outputs + 1) if softmax else 0
    trips += _ceil(rows * outputs, lanes) * (outputs + 1 if softmax else 1)
    trips += lanes.bit_length() + 1
    trips += _ceil(rows, lanes) * outputs if categorical else 0
    for index, (ins, outs) in enumerate(sizes):
        trips += _ceil(ins * outs + outs, lanes) * (rows + 1)
        trips += _ceil(rows * ins, lanes) * (outs + 1) if index else 0
    return trips + _ceil(parameters, lanes) + 6 + 1


def plan(state, batch_rows: int, optimizer, accuracy: int, loss=None) -> TinyPlan | None:
    """The kernel for ``state``'s model at batches of ``batch_rows`` (None: not a Dense stack;
    ``loss`` decides whether a last SoftMax is fused).

    Offsets come from the layers' parameter views of the model's flat parameter buffer."""
    groups = dense_groups(state.layers, loss)
    if groups is None:
        return None
    softmax = type(groups[-1][1]) is SoftMax
    if softmax:  # the Dense layer computes the logits; the kernel's SoftMax phase the rest
        groups[-1] = (groups[-1][0], None)
    itemsize = state.parameters.dtype.itemsize
    layers, sizes = [], []
    for dense, activation in groups:
        kernel, bias = (
            (view.offset - state.parameters.offset) // itemsize for view in dense.parameters)
        function = "identity" if activation is None else activation.function
        kept = activation is not None and activation.derivative_uses_inputs
        alpha = 0.0 if activation is None else float(activation.alpha)
        layers.append((dense.input_size, dense.output_size, kernel, bias, function, alpha, kept))
        sizes.append((dense.input_size, dense.output_size))
    widest = max(max(batch_rows * outs, ins * outs + outs) for ins, outs in sizes)
    lanes = min(MAX_LANES, max(MIN_LANES, 1 << (widest - 1).bit_length()))
    count, moments = state.parameters.size, RULES[type(optimizer)][1]
    values = count * (2 + moments) + batch_rows * (sizes[0][0] + sizes[-1][1]) + sum(
        batch_rows * outs * (2 + kept) + (not kept) for (_, outs, *_, kept) in layers)
    # The scalars and the u32 header, padded to the alignment of the vec4 partial sums after
    # them (workgroup_sum.wgsl), then those.
    vec4 = 4 * itemsize
    workgroup_bytes = _ceil(values * itemsize + 16, vec4) * vec4 + vec4 * lanes
    per_step = step_trips(sizes, batch_rows, count, lanes, bool(accuracy & 2), softmax)
    outside = 2 * _ceil(count, lanes) + SLACK_TRIPS
    steps = max(0, (loops.LOOP_BOUND - outside) // per_step)
    return TinyPlan(tuple(layers), lanes, steps, workgroup_bytes, per_step, softmax)


def eligibility(state, x, validation, options, accuracy: int) -> str:
    """Whether a fit can run in one workgroup: "" if it can, else why not (for tests and logs).

    Eligible: ``ENABLED``; a float32 or float64 model of Dense layers, each followed by at
    most one element-wise activation of the library (ReLU, TanH, Sigmoid, LeakyReLU, ELU, GELU,
    SiLU, Softplus; none is the identity), the last one possibly by a SoftMax with the
    categorical cross-entropy (the fused gradient); a built-in loss (MeanSquared, MeanAbsolute,
    BinaryCrossEntropy, CategoricalCrossEntropy); SGD, Momentum, Nesterov, Adagrad, Adam or
    AdamW (exact classes); no validation data; training data (arrays, or an uploaded bindable
    Dataset starting on a bindable offset) within the adapter's storage binding limit; and the
    kernel's workgroup memory (parameters, gradients, optimizer state, one batch's activations)
    within the adapter's max-compute-workgroup-storage-size, with at least one step per
    dispatch under loops.LOOP_BOUND. Anything else (a SoftMax elsewhere or with another loss,
    Conv2D, Dropout, normalization, mixed_float16, validation, a custom loss or optimizer)
    takes the normal path.
    """
    if not ENABLED:
        return "disabled (engine.tiny.ENABLED is False)"
    if state.precision.name not in DTYPES:
        return f"dtype {state.precision.name} (tiny fits: {DTYPES})"
    if validation is not None:
        return "validation data"
    if type(options.loss_algorithm) not in LOSSES:
        return f"loss {options.loss_algorithm!r}"
    if type(options.optimizer) not in RULES:
        return f"optimizer {options.optimizer!r}"
    device, samples = state.device, len(x)
    limit = device.limits["max-storage-buffer-binding-size"]
    if isinstance(x, Dataset):
        align = device.limits["min-storage-buffer-offset-alignment"]
        if x.y is None or not x.bindable or x.x.offset % align or x.y.offset % align:
            return "a Dataset that can't be bound whole"
    elif max(x.nbytes, x.shape[0] * state.output_size * x.itemsize) > limit:
        return "data past the storage binding limit"
    rows = max(count for _, count in batches(samples, options.batch_size))
    kernel = plan(state, rows, options.optimizer, accuracy, options.loss_algorithm)
    if kernel is None:
        return "layers other than Dense + element-wise activations"
    if kernel.workgroup_bytes > device.limits["max-compute-workgroup-storage-size"]:
        return f"{kernel.workgroup_bytes} bytes of workgroup memory"
    if kernel.steps_per_dispatch < 1:
        return "a step loops past loops.LOOP_BOUND"
    return ""


def loss_factors(loss, rows: int, last_rows: int, width: int, accuracy: int) -> dict:
    """tiny_fit.wgsl's mean_factor, full_scale and last_scale: losses.py's mean_factor and
    gradient_scale (float64, rounded as its dispatches round them) for batches of ``rows`` and
    for the epoch's last batch of ``last_rows``."""
    full, last = (loss._params(SimpleNamespace(shape=(count, width)), 0, accuracy)
                  for count in (rows, last_rows))
    return {"mean_factor": full["mean_factor"], "full_scale": full["gradient_scale"],
            "last_scale": last["gradient_scale"]}


def dispatches(total_steps: int, steps_per_dispatch: int) -> int:
    """Dispatches that run ``total_steps`` steps."""
    return math.ceil(total_steps / steps_per_dispatch)
