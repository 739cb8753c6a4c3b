"""Every shader against the float64 reference at edge sizes, in float32 (rtol 1e-4) and float64
(rtol 1e-12: the same kernels rendered for f64, see intricate/gpu/dtypes.py); the kernels that
take f16 data (activations, SoftMax, the losses, gather) in mixed_float16 too (see
test_activations.py for its tolerances; the GEMM's f16 forms: test_gemm_f16.py; the optimizers'
f32 masters with their f16 copy: test_catalog.py and test_mixed_precision.py).

Edges: 1, a workgroup (256 for 1-D kernels, a 16×16 tile for the GEMM) minus one, exactly and plus
one, sizes that don't divide, K ≫ M·N, and batch 1.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intricate import gpu, losses, optimizers
from intricate.engine import loss_scale
from intricate.gpu import program as program_module
from intricate.gpu.dtypes import FLOAT32, MIXED_FLOAT16
from intricate.layers import Dense, ReLU, Sigmoid, SoftMax, TanH
from intricate.ops import gather

import reference
from harness import (
    ALL_PRECISIONS,
    PRECISIONS,
    abs_matmul,
    assert_close,
    gradient_rtol,
    run_programs,
    skip_unsupported,
)

DENSE_SHAPES = [  # (batch, inputs, outputs)
    (1, 1, 1),
    (15, 16, 17),  # tile - 1, tile, tile + 1
    (17, 33, 5),  # nothing divides
    (2, 1000, 1),  # K ≫ M·N in the forward and in dX
    (700, 3, 2),  # K ≫ M·N in dW and in the bias sum (rows > workgroup)
    (64, 8, 300),
]


def dense_record(layer: Dense):
    def record(program, a):
        layer.parameters = [a["kernel"], a["bias"]]
        layer.gradients = [gpu.empty(program.device, a["kernel"].shape, a["kernel"].dtype),
                           gpu.empty(program.device, a["bias"].shape, a["bias"].dtype)]
        outputs = layer.propagate(program, a["x"])
        grad_inputs = layer.back_propagate(program, a["grad_outputs"])
        return [outputs, grad_inputs, *layer.gradients]

    return record


async def check_dense(device, rng, batch, inputs, outputs, precision=FLOAT32):
    """Run Dense forward + backward once; compare y, dX, dW and db with the reference."""
    dtype = precision.numpy
    arrays = {
        "x": rng.uniform(-1, 1, (batch, inputs)).astype(dtype),
        "kernel": rng.uniform(-1, 1, (inputs, outputs)).astype(dtype),
        "bias": rng.uniform(-1, 1, outputs).astype(dtype),
        "grad_outputs": rng.uniform(-1, 1, (batch, outputs)).astype(dtype),
    }
    got = await run_programs(device, dense_record(Dense(inputs, outputs)), arrays, batch,
                             precision)
    assert all(result.dtype == dtype for result in got)
    x, kernel, bias, dy = (arrays[k].astype(np.float64) for k in arrays)
    assert_close(got[0], reference.dense_forward(x, kernel, bias), precision.rtol,
                 scale=abs_matmul(x, kernel) + np.abs(bias))
    scales = abs_matmul(dy, kernel.T), abs_matmul(x.T, dy), np.abs(dy).sum(axis=0)
    for result, want, scale in zip(got[1:], reference.dense_backward(x, kernel, dy), scales,
                                   strict=True):
        assert_close(result, want, precision.rtol, scale=scale)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("batch,inputs,outputs", DENSE_SHAPES)
async def test_dense_forward_and_backward_match_reference(device, rng, batch, inputs, outputs,
                                                          precision):
    skip_unsupported(device, precision)
    await check_dense(device, rng, batch, inputs, outputs, precision)


@pytest.mark.slow  # 20 random shapes, each compiled anew
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 40), inputs=st.integers(1, 40), outputs=st.integers(1, 40),
       seed=st.integers(0, 2**32 - 1))
async def test_dense_matches_reference_at_any_shape(device, batch, inputs, outputs, seed):
    await check_dense(device, np.random.default_rng(seed), batch, inputs, outputs)


ACTIVATIONS = [TanH, Sigmoid, ReLU, SoftMax]
ACTIVATION_SHAPES = [(1, 1), (1, 255), (256, 1), (257, 1), (3, 100), (129, 7)]


def activation_record(layer):
    def record(program, a):
        outputs = layer.propagate(program, a["x"])
        return [outputs, layer.back_propagate(program, a["grad_outputs"])]

    return record


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("kind", ACTIVATIONS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("rows,width", ACTIVATION_SHAPES)
async def test_activation_forward_and_backward_match_reference(device, rng, kind, rows, width,
                                                               precision):
    skip_unsupported(device, precision)
    x = rng.uniform(-4, 4, (rows, width)).astype(precision.numpy)
    x.flat[0] = 60.0  # saturating inputs must give 1 (or 0), never NaN
    x.flat[-1] = -60.0
    dy = rng.uniform(-1, 1, (rows, width)).astype(precision.numpy)
    got = await run_programs(device, activation_record(kind()), {"x": x, "grad_outputs": dy}, rows,
                             precision)
    forward, backward = reference.ACTIVATIONS[kind.__name__]
    want = forward(x.astype(np.float64))
    rtol, floor = precision.rtol, precision.stored_floor  # f16: see test_activations.py
    assert_close(got[0], want, rtol, scale=np.abs(want) + floor / rtol)
    # SoftMax's backward sums dE/dO · o over the row: its terms' size is the scale.
    grad_rtol, want_grad = gradient_rtol(precision), backward(want, dy.astype(np.float64))
    scale = (np.abs(want) * (np.abs(dy) + (np.abs(dy) * want).sum(1, keepdims=True))
             if kind is SoftMax and precision is not FLOAT32 else np.abs(want_grad))
    if kind in (TanH, Sigmoid) and precision is MIXED_FLOAT16:  # read from o, rounded to f16:
        scale = scale + np.abs(dy) * 2.0**-10 / grad_rtol  # an ulp of 1 per unit of |dE/dO|
    assert_close(got[1], want_grad, grad_rtol, scale=scale + floor / grad_rtol)


# mixed_float16's dL/dŷ is multiplied by the loss scale (a power of 2, so exactly): the tests
# bind one whose product stays within f16's range, and divide it out.
LOSS_TEST_SCALE = 4.0


def loss_arrays(predictions, targets, precision) -> dict[str, np.ndarray]:
    """The loss kernels' inputs, with mixed_float16's loss-scale state (LOSS_TEST_SCALE)."""
    arrays = {"predictions": predictions, "targets": targets}
    if loss_scale.applies(precision):
        arrays["loss_scaling"] = loss_scale.initial_words(LOSS_TEST_SCALE)
    return arrays


def unscaled(gradient, precision) -> np.ndarray:
    """A loss gradient read back, the loss scale divided out (exact: a power of 2)."""
    return gradient / LOSS_TEST_SCALE if loss_scale.applies(precision) else gradient


def loss_record(loss, accuracy=0, through_softmax=False):
    """A training step's statistics (slot 0) and gradient, and an evaluation's (slot 4)."""
    def record(program, a):
        statistics = gpu.empty(program.device, (8,), program.precision.parameters)
        grad = gpu.empty(program.device, a["predictions"].shape, a["predictions"].dtype)
        loss.record_training(program, a["predictions"], a["targets"], statistics, grad,
                             accuracy, through_softmax, loss_scale=a.get("loss_scaling"))
        loss.record_statistics(program, a["predictions"], a["targets"], statistics, 4, accuracy)
        return [statistics, grad]

    return record


def loss_data(rng, name, rows, width, dtype=np.float32):
    if name == "CategoricalCrossEntropy":
        predictions = reference.softmax_forward(rng.normal(size=(rows, width)))
        targets = np.eye(width)[rng.integers(0, width, rows)]
    else:
        predictions = rng.uniform(0.01, 0.99, (rows, width))
        targets = rng.integers(0, 2, (rows, width)).astype(np.float64)
    return predictions.astype(dtype), targets.astype(dtype)


LOSS_SHAPES = [(1, 1), (1, 255), (256, 1), (257, 1), (3, 1000), (100, 10)]


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("fused", [True, False], ids=["one dispatch", "two dispatches"])
@pytest.mark.parametrize("kind", losses.LOSSES, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("rows,width", LOSS_SHAPES)
async def test_loss_statistics_and_gradient_match_reference(device, rng, monkeypatch, kind, rows,
                                                            width, fused, precision):
    skip_unsupported(device, precision)
    if not fused:  # as for outputs too large for one workgroup to write the gradient
        for limit in ("FUSED_LIMIT", "CPU_FUSED_LIMIT"):  # GPUs', software adapters'
            monkeypatch.setattr(losses, limit, 0)
    predictions, targets = loss_data(rng, kind.__name__, rows, width, precision.numpy)
    got = await run_programs(device, loss_record(kind(), accuracy=3),  # both accuracies
                             loss_arrays(predictions, targets, precision), rows, precision)
    value, gradient = reference.LOSSES[kind.__name__]
    p, y = predictions.astype(np.float64), targets.astype(np.float64)
    # Sample-weighted sums: loss · rows, binary-correct rows, Σ per-row MAE, categorical-correct
    # rows, in both slots (ops/statistics.FIELDS).
    want = [value(p, y) * rows, reference.binary_accuracy(p, y).sum(),
            reference.mean_absolute_error(p, y).sum(), reference.categorical_accuracy(p, y).sum()]
    # A cross-entropy's terms are logs of probabilities rounded to the type they are computed
    # in (mixed_float16: f32), each off by up to its epsilon absolute (p's own rounding): far
    # more than rtol of -log p where p is near 1.
    logs = {"CategoricalCrossEntropy": np.abs(y).sum(),
            "BinaryCrossEntropy": (np.abs(y) + np.abs(1 - y)).sum() / width}
    epsilon = float(np.finfo(precision.parameters).eps) / 2
    scale = np.abs(want) + [logs.get(kind.__name__, 0.0) * epsilon / precision.rtol, 0, 0, 0]
    assert_close(got[0][:4], want, precision.rtol, scale=scale)
    assert_close(got[0][4:8], want, precision.rtol, scale=scale)
    assert_close(unscaled(got[1], precision), gradient(p, y), precision.rtol,
                 scale=np.abs(gradient(p, y)) + precision.stored_floor / precision.rtol)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("rows,width", [(1, 1), (257, 3), (2, 300)])
async def test_fused_softmax_crossentropy_gradient_matches_reference(device, rng, rows, width,
                                                                      precision):
    skip_unsupported(device, precision)
    predictions, targets = loss_data(rng, "CategoricalCrossEntropy", rows, width,
                                     precision.numpy)
    got = await run_programs(device, loss_record(losses.CategoricalCrossEntropy(), 0, True),
                             loss_arrays(predictions, targets, precision), rows, precision)
    want = reference.softmax_crossentropy_gradient(predictions.astype(np.float64),
                                                   targets.astype(np.float64))
    assert_close(unscaled(got[1], precision), want, precision.rtol,
                 scale=np.abs(want) + precision.stored_floor / precision.rtol)


OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "adam", "adamw"]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("count", [1, 255, 256, 257, 1000])
async def test_optimizer_steps_match_reference(device, rng, name, count, precision):
    """One and then several updates (state carried on the GPU) equal torch.optim's rules."""
    skip_unsupported(device, precision)
    dtype = precision.numpy
    rtol, atol = (1e-5, 1e-6) if precision is FLOAT32 else (precision.rtol, 1e-14)
    parameters = rng.normal(size=count).astype(dtype)
    gradients = [rng.normal(size=count).astype(dtype) for _ in range(4)]
    optimizer = optimizers.OPTIMIZERS[name](learning_rate=0.05)
    expected = reference.OptimizerReference(name, 0.05)
    want = parameters.astype(np.float64)

    def record(program, a):
        for index in range(4):  # four steps, each with its own gradients
            optimizer.record_update(program, a["parameters"], a[f"gradients{index}"])
        return [a["parameters"]]

    arrays = {"parameters": parameters} | {f"gradients{i}": g for i, g in enumerate(gradients)}
    got = await run_programs(device, record, arrays, 1, precision)
    for g in gradients:
        want = expected.step(want, g)
    np.testing.assert_allclose(got[0], want, rtol=rtol, atol=atol)
    one = await run_programs(device, lambda program, a: (
        optimizers.OPTIMIZERS[name](learning_rate=0.05).record_update(
            program, a["parameters"], a["gradients0"]), [a["parameters"]])[1],
        {"parameters": parameters, "gradients0": gradients[0]}, 1, precision)
    first = reference.OptimizerReference(name, 0.05).step(parameters, gradients[0])
    np.testing.assert_allclose(one[0], first, rtol=rtol, atol=atol)


@pytest.mark.parametrize("samples,rows,x_width,y_width", [(1, 1, 1, 1), (300, 257, 3, 2),
                                                         (10, 4, 300, 1), (5, 3, 2, 600)])
@pytest.mark.parametrize("fold", [False, True], ids=["one_grid_row", "rows_folded"])
@pytest.mark.parametrize("precision", ALL_PRECISIONS)
async def test_gather_rows_matches_numpy_indexing(device, rng, samples, rows, x_width, y_width,
                                                  fold, monkeypatch, precision):
    skip_unsupported(device, precision)
    if fold:  # batch rows spread over grid y and z, as batches past 65535 rows would be
        monkeypatch.setattr(program_module, "MAX_GROUPS", 17)  # 257 rows: 17 × 16
    dtype = precision.numpy
    source_x = rng.normal(size=(samples, x_width)).astype(dtype)
    source_y = rng.normal(size=(samples, y_width)).astype(dtype)
    indices = rng.integers(0, samples, rows).astype(np.uint32)

    def record(program, a):
        batch_x = gpu.empty(program.device, (rows, x_width), dtype)
        batch_y = gpu.empty(program.device, (rows, y_width), dtype)
        gather.record_gather(program, a["indices"], a["x"], a["y"], batch_x, batch_y)
        return [batch_x, batch_y]

    def work():
        program = gpu.Program(gpu.Workspace(device, rows, precision))
        uploaded = {"x": gpu.from_numpy(device, source_x, dtype),
                    "y": gpu.from_numpy(device, source_y, dtype),
                    "indices": gpu.from_numpy(device, indices, np.uint32)}
        outputs = record(program, uploaded)
        encoder = device.handle.create_command_encoder()
        program.encode(encoder)
        staged = gpu.StagedRead(device, encoder, outputs)
        device.submit(encoder)
        return staged.collect()

    got = await device.run(work)
    assert np.array_equal(got[0], source_x[indices]) and np.array_equal(got[1], source_y[indices])


async def test_grids_fold_past_the_workgroup_limit(device, rng, monkeypatch):
    # Lower the per-dimension limit so folding over y (1-D kernels) and z (GEMM rows) happens
    # at test sizes; the results must not change.
    monkeypatch.setattr(program_module, "MAX_GROUPS", 3)
    assert gpu.fold_grid(7) == (3, 3, 1)
    await check_dense(device, rng, 70, 5, 4)  # 5 row tiles; 70·4 = 280 elements, 2 groups
    x = rng.uniform(-2, 2, (1, 1000)).astype(np.float32)  # 4 groups of 256 → (3, 2, 1)
    got = await run_programs(device, activation_record(ReLU()), {"x": x, "grad_outputs": x}, 1)
    assert_close(got[0], reference.relu_forward(x))


def test_software_adapters_keep_one_statistics_workgroup_longer():
    """A 4096×10 batch: one fused workgroup on a software adapter (a workgroup per CPU thread,
    where the split's row-per-workgroup gradient cost ~15% of a b4096 step on lavapipe), several
    on a GPU (one workgroup of it took 72 µs on an H200)."""
    cpu = SimpleNamespace(adapter_info={"adapter_type": "CPU"})
    gpu = SimpleNamespace(adapter_info={"adapter_type": "DiscreteGPU"})
    assert losses.statistics_plan(4096, 10, 3, losses.fused_limit(cpu))["groups"] == 1
    assert losses.statistics_plan(4096, 10, 3, losses.fused_limit(gpu))["groups"] == 11
    assert losses.fused_limit(None) == losses.FUSED_LIMIT
