"""check_gradients: a layer's backward against central finite differences of its forward, both
run on the GPU.

The scalar differentiated is E = Σ outputs · R for a fixed random projection R [rows, out], so
one forward gives one value per perturbation and the backward, given dE/dO = R, must return
dE/dI and every dE/dparameter. Each sampled element v of the inputs and of each parameter is
set to v + h and v - h (h = step · max(1, |v|)), the forward re-run, and

    dE/dv ≈ Σ (O(v + h) - O(v - h)) · R / ((v + h) - (v - h))

is computed in float64 from the outputs read back (the difference of the rounded values the
GPU really used, so the step itself adds no error). All perturbations of a check are recorded
one after another (copy the value in, forward, copy the outputs out, copy the value back) and
submitted together: one submit per MAX_DISPATCHES_PER_SUBMIT dispatches, one readback.

Precision (per dtype: a layer in a float64 model, or ``dtype="float64"``, is checked in f64 on
the GPU): the forward's rounding makes the difference noisy by about ε · |O| / h and the step
truncates by about h² · |E'''| / 6; h ≈ ε^(1/3) (2^-7 in float32, 2^-17 in float64) balances
them at ~1e-5 (float32) or ~1e-11 (float64) of the gradient's scale for outputs of order 1.
mixed_float16 stores each output in f16 (ε = 2^-11 per value): h = 2^-4 (near ε^(1/3) = 2^-3.7)
leaves ~5e-3 of the gradient's scale, measured (x ~ N(0, 1), 5 seeds: at most 6e-3 for TanH,
Sigmoid, GELU, ELU, SiLU, Softplus, SoftMax; 2^-3 and 2^-5 do worse), within RTOLS' 1e-2.
An entry passes when |analytic - fd| <= atol + rtol · |fd|, with atol = FLOOR · rtol · the
array's largest |fd| (entries far below it are beyond what finite differences resolve) plus the
estimate's own rounding noise, ε · Σ (|O(v + h)| + |O(v - h)|) · |R| / 2h over the outputs the
perturbation changed (ε the outputs' machine epsilon: it matters for f16, where a row of SoftMax
outputs sums that noise over the row; one that changed none: see _measure).
Measured on lavapipe at x ~ N(0, 1) (3 seeds), the correct float32 backwards of Dense, TanH,
Sigmoid, SoftMax, GELU, ELU, SiLU, Softplus and WGSL layers all pass at rtol = 3e-4: the default
1e-2 leaves 30x or more, while the mistakes backwards are made of (a dropped factor, a wrong
sign, a transposed index) err by 10% or more.
A gradient added to instead of written stays NaN (the gradients are NaN before the backward
runs) and fails as unwritten. Points within h of a kink (ReLU at 0) differ by construction:
keep x away from them (f16's h is 8x float32's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import gpu
from ..engine.state import ModelState, check_range
from ..engine.submits import ChunkedEncoder
from ..gpu import Device, GPUArray, Program, Workspace, dtypes
from ..layers.base import Layer
from ..layers.chain import check_input_shape
from .report import GradientReport, compare_gradient

STEPS = {"float32": 2.0**-7, "float64": 2.0**-17, "mixed_float16": 2.0**-4}
RTOLS = {"float32": 1e-2, "float64": 1e-6, "mixed_float16": 1e-2}
MAX_RESULT_BYTES = 256 * 2**20  # outputs read back: one [rows, out] per perturbation


def _check_arguments(layer: object, x: object, samples: object, dtype: np.dtype,
                     input_shape: object) -> tuple[np.ndarray, tuple[int, ...]]:
    """x as rows [rows, size] and the per-sample shape the layer is built with."""
    if not isinstance(layer, Layer):
        raise ValueError(f"layer: expected an intricate Layer (e.g. a WGSLLayer or Dense), "
                         f"received {layer!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples: expected a positive int, received {samples!r}")
    values = np.asarray(x)
    shape = check_input_shape(input_shape)
    if shape is None and layer.input_shape is not None and len(layer.input_shape) > 1:
        shape = layer.input_shape  # built in a model: the images it takes there
    if shape is not None and values.ndim > 1 and values.shape[1:] in (shape, (math.prod(shape),)):
        values = values.reshape(len(values), -1)  # images [rows, H, W, C] as rows
    elif shape is not None:
        raise ValueError(f"x: expected [rows, {', '.join(map(str, shape))}] (input_shape "
                         f"{shape}), received {values.dtype} {values.shape}")
    if values.ndim != 2 or min(values.shape) < 1 or values.dtype.kind not in "fiu":
        raise ValueError(f"x: expected a 2-D numeric array [rows, features], received "
                         f"{values.dtype} {values.shape}")
    # finite in what the layers compute in
    if not np.isfinite(values).all() or dtypes.first_beyond(values, dtype) is not None:
        raise ValueError(f"x: expected finite values in {dtype.name}, received NaN, infinity or "
                         f"values beyond ±{np.finfo(dtype).max:g}")
    if layer.input_size is not None and values.shape[1] != layer.input_size:
        raise ValueError(f"x: {layer!r} takes {layer.input_size} features, received "
                         f"{values.shape[1]}")
    return values, (values.shape[1],) if shape is None else shape


async def check_gradients(layer: Layer, x: np.ndarray, *, samples: int = 32,
                          step: float | None = None, rtol: float | None = None, seed: int = 0,
                          device: Device | None = None, dtype: str | None = None,
                          input_shape: Sequence[int] | None = None) -> GradientReport:
    """Compare ``layer``'s backward with finite differences of its forward, on the GPU.

    Works on a copy of the layer (its current weights; a layer outside any model gets initial
    weights drawn with ``seed``): the layer and its model are untouched.

    Args:
        layer: a WGSLLayer, or any built-in layer (Dense, activations).
        x: inputs [rows, features] at which to differentiate; or [rows, *input_shape].
        samples: elements checked per array (a seeded random sample of larger arrays).
        step: relative finite-difference step (default STEPS[dtype]).
        rtol: tolerance (default RTOLS[dtype]), see the module doc.
        seed: seeds the projection R, the sample and any initial weights.
        device: where to run when the layer is not on a device yet (default: the shared one).
        dtype: "float32", "float64" or "mixed_float16" (None: the layer's model's, float32
            outside a model); mixed_float16 perturbs the f16 copy of the weights the layer
            computes with, and needs weights within f16's range.
        input_shape: the per-sample shape the layer takes ((H, W, C) for an image layer:
            Conv2D, pooling); None: the image shape it has in its model, else flat samples of
            x's width.

    Returns:
        GradientReport: per gradient max abs/rel error, worst index, passed; ``str()``
            is a table.

    Raises:
        ValueError: a bad argument, or a dtype the layer or the device can't compute in,
            before any GPU work.
    """
    model = layer._owner() if isinstance(layer, Layer) and layer._owner is not None else None
    precision = dtypes.precision(dtype if dtype is not None else
                                 model.dtype if model is not None else "float32")
    x, shape = _check_arguments(layer, x, samples, precision.numpy, input_shape)
    if layer.dtypes is not None and precision.name not in layer.dtypes:
        raise ValueError(f"dtype: {layer!r} computes in {list(layer.dtypes)} only, received "
                         f"{precision.name!r}")
    step = STEPS[precision.name] if step is None else float(step)
    rtol = RTOLS[precision.name] if rtol is None else float(rtol)
    if not (0 < step < 1 and 0 < rtol):
        raise ValueError(f"step, rtol: expected 0 < step < 1 and rtol > 0, received {step}, "
                         f"{rtol}")
    rows, width = x.shape
    twin = layer.blank_copy()
    try:
        twin.build(shape)  # its weight shapes may follow its input's (channels)
    except ValueError as error:
        raise ValueError(f"input_shape: {error}") from None
    outs = math.prod(twin.output_shape)
    shapes = [("grad_inputs", (rows, width))] + [(f"grad_{name}", shape)
                                                  for name, shape in twin.parameter_shapes()]
    perturbations = 2 * sum(min(samples, math.prod(shape)) for _, shape in shapes)
    if perturbations * rows * outs * precision.itemsize > MAX_RESULT_BYTES:
        raise ValueError(f"x, samples: {perturbations} forwards of {rows}x{outs} outputs would "
                         f"read back more than {MAX_RESULT_BYTES >> 20} MiB; use fewer rows or "
                         "samples")
    rng = np.random.default_rng(seed)
    if layer.parameters or layer.states:  # the parameters, then the states (not perturbed)
        device = (layer.parameters or layer.states)[0].device
        weights = await device.run(gpu.read, *layer.parameters, *layer.states)
    else:
        weights = [w.copy() for w in (layer.host_weights if layer.host_weights is not None
                                      else [*twin.initial_parameters(rng),
                                            *twin.initial_state()])]
        device = device or await gpu.default_device()
    dtypes.check_supported(precision, device)
    for number, values in enumerate(weights):  # a float64 file's 1e300, checked in float32
        for kind in dict.fromkeys((precision.parameters, precision.numpy)):  # mixed: f16 too
            check_range(f"{layer!r}: its weights[{number}]", values, kind)
    twin.host_weights = [np.asarray(w, precision.parameters) for w in weights]
    projection = rng.standard_normal((rows, outs)).astype(precision.numpy)
    values = [x.astype(precision.numpy), *twin.host_weights[:len(shapes) - 1]]
    picks = [np.sort(rng.choice(v.size, min(samples, v.size), replace=False)) for v in values]
    analytic, differences, noises = await device.run(_measure, device, twin, values, projection,
                                                     picks, step, precision)
    compared = [compare_gradient(name, shape, got, picks[i], differences[i], noises[i], rtol)
                for i, ((name, shape), got) in enumerate(zip(shapes, analytic))]
    return GradientReport(f"check_gradients({layer!r}, {rows} rows)",
                          [check for check, _ in compared], rtol, 0.0, step,
                          {check.name: unwritten for check, unwritten in compared})


def _measure(device: Device, twin: Layer, values: list[np.ndarray], projection: np.ndarray,
             picks: list[np.ndarray], step: float,
             precision: dtypes.Precision) -> tuple[list[np.ndarray], ...]:
    """On the GPU thread: the backward's gradients (dE/dO = projection) and, per array, the
    finite-difference estimate at each picked element and its rounding noise."""
    x = values[0]
    rows, width = x.shape
    state = ModelState(device, [twin], width, projection.shape[1], precision)
    workspace = Workspace(device, rows, precision)
    inputs = workspace.array(workspace, "inputs", x.shape)
    grad_outputs = gpu.from_numpy(device, projection, projection.dtype, label="projection")
    gpu.upload(inputs, x)
    forward = Program(workspace)
    outputs = twin.propagate(forward, inputs)
    # What the perturbations write into: the buffers of the inputs and of the parameters the
    # layer binds (mixed_float16: the f16 compute copy, not the master weights), each whole,
    # backed up before the forward and read back with the gradients.
    targets = [inputs, *twin.parameters]
    wholes = {id(t.buffer): GPUArray(device, t.buffer, (t.buffer.size // t.dtype.itemsize,),
                                     t.dtype) for t in targets}
    backups = {key: gpu.empty(device, whole.shape, whole.dtype, label="backup")
               for key, whole in wholes.items()}
    analytic = Program(workspace)
    for key, whole in wholes.items():
        analytic.copy(whole, backups[key])
    analytic.steps += forward.steps
    analytic.dispatch_count += forward.dispatch_count
    grad_inputs = twin.back_propagate(analytic, grad_outputs, need_grad_inputs=True)
    # NaN first: an element the backward leaves unwritten (or adds to) stays NaN.
    gpu.upload(state.gradients, np.full(state.gradients.size, np.nan))
    if grad_inputs.buffer is not grad_outputs.buffer:  # dE/dO itself (Flatten): written
        gpu.upload(grad_inputs, np.full(grad_inputs.size, np.nan))
    encoder = device.handle.create_command_encoder()
    analytic.encode(encoder)
    read = [grad_inputs, *twin.gradients]
    staged = gpu.StagedRead(device, encoder, read + list(backups.values()))
    device.submit(encoder)
    collected = staged.collect()
    gradients, held = collected[:len(read)], dict(zip(backups, collected[len(read):]))

    # Finite differences: each perturbation copies one value in, runs the forward, copies the
    # outputs out and the value back. Copies move whole 4-byte words, so an f16 value goes in
    # with its word's other half as it was (read back above).
    per_word = max(1, 4 // precision.itemsize)
    plan = []  # (whole, backup, first element of the word, the word's values, value used)
    for target, picked in zip(targets, picks):
        key, base = id(target.buffer), target.offset // target.dtype.itemsize
        for element in picked:
            position = base + int(element)
            word = position - position % per_word
            v = float(held[key][position])
            h = step * max(1.0, abs(v))
            for value in (v + h, v - h):
                values_of_word = held[key][word:word + per_word].copy()
                values_of_word[position - word] = value
                plan.append((wholes[key], backups[key], word, values_of_word,
                             float(values_of_word[position - word])))
    perturbed = gpu.from_numpy(device, np.concatenate([p[3] for p in plan]), precision.numpy,
                               label="perturbed")
    per = outputs.size
    stride = -(-per // per_word) * per_word  # each perturbation's outputs start on a word
    results = gpu.empty(device, (len(plan), stride), outputs.dtype, label="results",
                        bindable=False)
    chunks = ChunkedEncoder(device)
    for index, (whole, backup, word, _, _) in enumerate(plan):
        program = Program(workspace)
        program.copy(perturbed.view(index * per_word, (per_word,)), whole.view(word, (per_word,)))
        program.steps += forward.steps
        program.dispatch_count = forward.dispatch_count
        program.copy(outputs, results.view(index * stride, outputs.shape))
        program.copy(backup.view(word, (per_word,)), whole.view(word, (per_word,)))
        program.encode(chunks.reserve(program.dispatch_count))
    staged = gpu.StagedRead(device, chunks.encoder, [results])
    chunks.submit()
    (outputs_read,) = staged.collect()
    outputs_read = outputs_read[:, :per].reshape(len(plan), *outputs.shape)
    weighted = np.asarray(projection, np.float64)
    epsilon = float(np.finfo(outputs.dtype).eps)  # a stored output's rounding, with margin
    differences, noises, start = [], [], 0
    values_used = np.array([p[4] for p in plan], np.float64)
    for picked in picks:
        plus = outputs_read[start:start + 2 * len(picked):2].astype(np.float64)
        minus = outputs_read[start + 1:start + 2 * len(picked):2].astype(np.float64)
        spans = values_used[start:start + 2 * len(picked):2] - values_used[
            start + 1:start + 2 * len(picked):2]
        # Outputs the perturbation didn't touch are bit-identical: their differences are 0.
        differences.append(((plus - minus) * weighted).sum(axis=(1, 2)) / spans)
        # What rounding the outputs it did touch can move the estimate by.
        sizes = (np.abs(plus) + np.abs(minus)) * np.abs(weighted)
        noise = epsilon * ((plus != minus) * sizes).sum(axis=(1, 2)) / np.abs(spans)
        # A perturbation that moved no output by a whole step of their type (f16 at a flat
        # point, SiLU's minimum; a bias beside outputs of 20000) read an estimate of 0 that
        # rounding set: judged at its array's largest noise, or where no perturbation of the
        # array moved any, at every output's (each moved by less than its step).
        moved = (plus != minus).any(axis=(1, 2))
        noise[~moved] = (noise.max() if moved.any() else
                         epsilon * sizes.sum(axis=(1, 2))[~moved] / np.abs(spans[~moved]))
        noises.append(noise)
        start += 2 * len(picked)
    return gradients, differences, noises
