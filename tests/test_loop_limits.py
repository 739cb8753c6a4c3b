"""Loops bounded whatever the data size (llvmpipe silently stops a shader's loops after 65535
iterations per invocation), and the fused SoftMax + cross-entropy gradient for any targets.

The split / multi-pass paths run by default at small sizes by lowering ``loops.LOOP_BOUND``;
the sizes past llvmpipe's cap (1M-row dW, 4.2M outputs, 30,000 classes) are in the slow tier.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_reference import numerical_gradient

from intricate import Model, TrainingOptions, gpu, losses
from intricate.layers import Dense, SoftMax
from intricate.ops import loops
from intricate.ops.gemm import GemmConfig, SubgroupConfig, record_gemm
from intricate.ops.gemm import subgroup as gemm_subgroup
from intricate.ops.gemm import tiled as gemm

import reference
from harness import run_programs


def assert_relative(got, want, rtol: float = 1e-4) -> None:
    """float32 vs float64 with a tiny absolute floor (a small gradient's error is not hidden)."""
    want = np.asarray(want, np.float64)
    floor = 1e-6 * float(np.abs(want).max()) if want.size else 0.0
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=floor)


def unnormalised_targets(rng, rows, width):
    """Rows of y that don't sum to 1: smoothed by hand, partial, or over-full labels."""
    targets = rng.uniform(0.0, 1.0, (rows, width)) * rng.uniform(0.2, 3.0, (rows, 1))
    targets[0] = 0.0
    targets[0, 0] = 0.5  # a partial one-hot label
    return targets


def test_fused_softmax_crossentropy_gradient_matches_finite_differences(rng):
    logits = rng.normal(size=(4, 6))
    targets = unnormalised_targets(rng, 4, 6)
    numeric = numerical_gradient(
        lambda z: reference.categorical_crossentropy_value(reference.softmax_forward(z), targets),
        logits)
    analytic = reference.softmax_crossentropy_gradient(reference.softmax_forward(logits), targets)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def softmax_loss_record(accuracy):
    def record(program, a):
        statistics = gpu.empty(program.device, (8,))  # WebGPU buffers start zeroed
        grad = gpu.empty(program.device, a["predictions"].shape)
        losses.CategoricalCrossEntropy().record_training(
            program, a["predictions"], a["targets"], statistics, grad, accuracy, True)
        return [statistics, grad]

    return record


def assert_softmax_loss(got, predictions, targets, rtol=1e-4):
    """got = [statistics, dL/dz] (categorical accuracy asked) against float64."""
    p, y = predictions.astype(np.float64), targets.astype(np.float64)
    assert_relative(got[1], reference.softmax_crossentropy_gradient(p, y), rtol)
    want = [reference.categorical_crossentropy_value(p, y) * len(p), 0.0,
            reference.mean_absolute_error(p, y).sum(), reference.categorical_accuracy(p, y).sum()]
    assert_relative(got[0][:4], want, rtol)  # statistics.FIELDS, categorical accuracy only


@pytest.mark.parametrize("bound", [loops.LOOP_BOUND, 8], ids=["one dispatch", "row workgroups"])
@pytest.mark.parametrize("rows,width", [(1, 1), (3, 7), (257, 3), (2, 300)])
async def test_fused_softmax_crossentropy_gradient_for_targets_not_summing_to_one(
        device, rng, monkeypatch, bound, rows, width):
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)
    predictions = reference.softmax_forward(rng.normal(size=(rows, width)))
    targets = unnormalised_targets(rng, rows, width)
    p, y = predictions.astype(np.float32), targets.astype(np.float32)
    got = await run_programs(device, softmax_loss_record(2), {"predictions": p, "targets": y},
                             rows)
    assert_softmax_loss(got, p, y)


# The GEMM: K split so that no invocation's K loop passes loops.LOOP_BOUND -------------------
GEMM_LAYOUTS = {  # a(m, i), b(i, n) strides of the Dense layer's three GEMM forms
    "forward": lambda m, n, k: ((k, 1), (n, 1)),
    "dx": lambda m, n, k: ((k, 1), (1, k)),
    "dw": lambda m, n, k: ((1, m), (n, 1)),
}


def strided(values, strides, rows, cols):
    flat = np.zeros(rows * cols, np.float32)
    for r in range(rows):
        flat[r * strides[0] + np.arange(cols) * strides[1]] = values[r]
    return flat


async def gemm_against_float64(device, a, b, layout, config=None, bias=None, column_sums=False):
    """Our GEMM (with a bias and ReLU when ``bias`` is given) and the float64 answer."""
    (m, k), n = a.shape, b.shape[1]
    a_strides, b_strides = GEMM_LAYOUTS[layout](m, n, k)
    arrays = {"a": strided(a, a_strides, m, k), "b": strided(b, b_strides, k, n)}
    if bias is not None:
        arrays["bias"] = bias.astype(np.float32)

    def record(program, uploaded):
        c, sums = gpu.empty(program.device, (m, n)), gpu.empty(program.device, (n,))
        record_gemm(program, uploaded["a"], uploaded["b"], c, m, n, k, a_strides, b_strides,
                    bias=uploaded.get("bias"), activation="relu" if bias is not None else None,
                    grad_bias=sums if column_sums else None, config=config)
        return [c, sums]

    got = await run_programs(device, record, arrays, max(m, 1))
    want = a.astype(np.float64) @ b.astype(np.float64)
    if bias is not None:
        want = np.maximum(want + bias, 0.0)
    return got, want, b.astype(np.float64).sum(axis=0)


def uses_subgroup_kernel(device):
    if not gemm_subgroup.usable(device):
        pytest.skip("the subgroup GEMM runs on software adapters with subgroups only")


SPLIT_CASES = [  # (m, n, k, config, layout): K cut into many chunks by a bound of 2
    pytest.param(5, 9, 300, SubgroupConfig(), "dw", id="subgroup_dw_column_sums"),
    pytest.param(7, 6, 161, SubgroupConfig(3, 1), "dx", id="subgroup_dx_short_last_chunk"),
    pytest.param(8, 12, 200, SubgroupConfig(texels=True), "forward", id="subgroup_texels"),
    pytest.param(36, 20, 260, SubgroupConfig(12, 1, texels=True), "dw",
                 id="subgroup_texels_rows_of_a"),
    pytest.param(33, 35, 100, GemmConfig(32, 32, 16, side=8), "dw", id="tiled_dw"),
]


@pytest.mark.parametrize("m,n,k,config,layout", SPLIT_CASES)
async def test_gemm_splits_k_under_a_lowered_loop_bound(device, rng, monkeypatch, m, n, k,
                                                        config, layout):
    if isinstance(config, SubgroupConfig):
        uses_subgroup_kernel(device)
    monkeypatch.setattr(loops, "LOOP_BOUND", 2)
    splits = (gemm_subgroup.split_k(device, k)[0] if isinstance(config, SubgroupConfig)
              else gemm.split_k(config, m, n, k)[0])
    assert splits > 2
    a, b = rng.uniform(-1, 1, (m, k)), rng.uniform(-1, 1, (k, n))
    column_sums = layout == "dw"
    bias = None if column_sums else rng.uniform(-1, 1, n)
    got, want, sums = await gemm_against_float64(device, a.astype(np.float32),
                                                 b.astype(np.float32), layout, config, bias,
                                                 column_sums)
    assert_relative(got[0], want)
    if column_sums:
        assert_relative(got[1], sums)


def test_every_k_is_split_into_chunks_within_the_loop_bound(device):
    """Whatever K and however many tiles, no chunk needs more than LOOP_BOUND slabs."""
    for config in (GemmConfig(128, 128, 8), GemmConfig(32, 32, 16, side=8)):
        for m, n, k in ((4096, 4096, 1 << 24), (8, 8, (1 << 20) + 3), (1, 1, 300_000)):
            splits, chunk = gemm.split_k(config, m, n, k)
            assert chunk <= loops.LOOP_BOUND * config.bk and (splits - 1) * chunk < k
            assert splits * chunk >= k
    if gemm_subgroup.usable(device):
        block = 4 * gemm_subgroup.width(device)
        for k in (1, block, 1 << 20, (1 << 20) + 7):
            splits, chunk = gemm_subgroup.split_k(device, k)
            assert chunk % block == 0 or splits == 1
            assert chunk // (block // 4) <= loops.LOOP_BOUND and splits * chunk >= k


@pytest.mark.slow
async def test_dw_gemm_of_a_million_rows_matches_float64(device, rng):
    """xᵀ·dY with K = 2^20 rows, sorted so that rows dropped past llvmpipe's cap change it."""
    rows = 1 << 20
    x = np.sort(rng.uniform(0, 1, (rows, 3)), axis=0).astype(np.float32)
    dy = np.linspace(-1, 5, rows, dtype=np.float32)[:, None].repeat(2, axis=1)
    got, want, sums = await gemm_against_float64(device, x.T.copy(), dy, "dw",
                                                 column_sums=True)
    assert_relative(got[0], want, rtol=1e-3)
    assert_relative(got[1], sums, rtol=1e-3)


# Loss and metric sums: many workgroups and a fixed-order second pass past one workgroup's bound --
def loss_and_metrics_data(rng, rows, width, categorical):
    """Predictions with ties (argmax takes the first maximum) and targets of the loss's kind."""
    if categorical:
        predictions = np.maximum(np.round(reference.softmax_forward(
            rng.normal(size=(rows, width))), 2), 0.005)
        targets = np.eye(width)[rng.integers(0, width, rows)]
    else:
        predictions = np.round(rng.uniform(0.1, 0.9, (rows, width)), 1)  # 0, 1: float32's clip
        targets = rng.integers(0, 2, (rows, width)).astype(np.float64)
    return predictions.astype(np.float32), targets.astype(np.float32)


def statistics_record(loss, with_gradient):
    def record(program, a):
        statistics = gpu.empty(program.device, (8,))
        grad = gpu.empty(program.device, a["predictions"].shape)
        loss.record_statistics(program, a["predictions"], a["targets"], statistics, 4,
                               BOTH_ACCURACIES, grad if with_gradient else None)
        return [statistics, grad]

    return record


BOTH_ACCURACIES = 3  # ops/statistics.py's BINARY | CATEGORICAL flags


def want_statistics(loss, p, y):
    value = reference.LOSSES[type(loss).__name__][0]
    return [value(p, y) * len(p), reference.binary_accuracy(p, y).sum(),
            reference.mean_absolute_error(p, y).sum(), reference.categorical_accuracy(p, y).sum()]


STATISTICS_CASES = [  # (loop bound, rows, width): lanes own rows / a workgroup per row
    pytest.param(20, 700, 5, id="rows_per_lane_3_groups"),
    pytest.param(30, 20, 600, id="workgroup_per_row_20_groups"),
    pytest.param(30, 3, 3000, id="rows_wider_than_the_bound"),
]


@pytest.mark.parametrize("with_gradient", [False, True], ids=["evaluate", "training"])
@pytest.mark.parametrize("kind", losses.LOSSES, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("bound,rows,width", STATISTICS_CASES)
async def test_statistics_split_over_workgroups_match_float64(device, rng, monkeypatch, bound,
                                                              rows, width, kind, with_gradient):
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)
    plan = losses.statistics_plan(rows, width, BOTH_ACCURACIES)
    assert plan["groups"] > 1
    assert plan["cooperative"] == (width > 100)
    loss = kind()
    categorical = kind is losses.CategoricalCrossEntropy
    predictions, targets = loss_and_metrics_data(rng, rows, width, categorical)
    got = await run_programs(device, statistics_record(loss, with_gradient),
                             {"predictions": predictions, "targets": targets}, rows)
    p, y = predictions.astype(np.float64), targets.astype(np.float64)
    assert_relative(got[0][4:8], want_statistics(loss, p, y))
    assert not got[0][:4].any()
    if with_gradient:
        assert_relative(got[1], reference.LOSSES[kind.__name__][1](p, y))


def test_statistics_plan_keeps_every_lane_within_the_bound():
    for rows, width in ((4_200_000, 1), (1_050_000, 4), (1, 30_000), (64, 30_000), (1, 1 << 20)):
        for accuracy in (0, 1, 2, 3):
            plan = losses.statistics_plan(rows, width, accuracy)
            trips = losses._trips(plan["rows_per_group"], width, accuracy, plan["cooperative"])
            assert trips <= loops.LOOP_BOUND or (plan["rows_per_group"] == 1 and width > 1 << 19)
            assert -(-plan["groups"] // 256) + 8 <= loops.LOOP_BOUND
            assert plan["groups"] * plan["rows_per_group"] >= rows


async def test_small_batches_keep_one_statistics_dispatch(device, rng):
    """The training step's loss work stays one dispatch below a workgroup's bound."""
    for rows, width, through_softmax in ((32, 10, True), (256, 1, False), (128, 10, False)):
        predictions, targets = loss_and_metrics_data(rng, rows, width, through_softmax)
        program = gpu.Program(gpu.Workspace(device, rows))
        arrays = [gpu.from_numpy(device, values) for values in (predictions, targets)]
        statistics, grad = gpu.empty(device, (8,)), gpu.empty(device, (rows, width))
        loss = losses.CategoricalCrossEntropy() if through_softmax else losses.MeanSquared()
        await device.run(loss.record_training, program, *arrays, statistics, grad,
                         BOTH_ACCURACIES, through_softmax)
        assert len(program.steps) == 1


@pytest.mark.slow
async def test_loss_and_metrics_of_4_2_million_outputs_in_evaluate_match_float64(device, rng):
    rows, width = 4_200_000, 1  # 4.2M outputs in one batch: one row per output
    model = Model([Dense(2, width)], device=device, seed=0)
    x = rng.normal(size=(rows, 2)).astype(np.float32)
    y = rng.integers(0, 2, (rows, width)).astype(np.float32)
    logs = await model.evaluate(x, y, loss_algorithm="mse",
                                metrics=["binary_accuracy", "categorical_accuracy", "mae"],
                                return_dict=True)
    kernel, bias = (weights.astype(np.float64) for weights in model.get_weights())
    p, y = x.astype(np.float64) @ kernel + bias, y.astype(np.float64)
    want = {"loss": reference.mean_squared_value(p, y),
            "binary_accuracy": reference.binary_accuracy(p, y).mean(),
            "categorical_accuracy": reference.categorical_accuracy(p, y).mean(),
            "mae": reference.mean_absolute_error(p, y).mean()}
    for name, value in want.items():
        np.testing.assert_allclose(logs[name], value, rtol=1e-4, err_msg=name)


# SoftMax: a workgroup per row once one invocation would loop past loops.LOOP_BOUND -----------
async def softmax_against_float64(device, rng, rows, width):
    x = rng.uniform(-100, 100, (rows, width)).astype(np.float32)  # needs the max subtracted
    x[:, 0] = 100.0  # a tie for the max (two at the first row's end when it is one wide)
    x[0, -1] = 100.0
    dy = rng.uniform(-1, 1, (rows, width)).astype(np.float32)

    def record(program, a):
        layer = SoftMax()
        outputs = layer.propagate(program, a["x"])
        return [outputs, layer.back_propagate(program, a["grad_outputs"])]

    got = await run_programs(device, record, {"x": x, "grad_outputs": dy}, rows)
    forward, backward = reference.ACTIVATIONS["SoftMax"]
    want = forward(x.astype(np.float64))
    return got, want, backward(want, dy.astype(np.float64))


@pytest.mark.parametrize("bound,suffix", [(2, "_wide"), (loops.LOOP_BOUND, "")],
                         ids=["a workgroup per row", "an invocation per row"])
@pytest.mark.parametrize("rows,width", [(1, 1), (3, 255), (2, 256), (3, 257), (2, 1000)])
async def test_softmax_wide_rows_take_a_workgroup_each_and_match_float64(device, rng,
                                                                         monkeypatch, rows,
                                                                         width, bound, suffix):
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)  # 2: every row is "wide"
    entries = []
    original = gpu.Program.dispatch
    monkeypatch.setattr(gpu.Program, "dispatch", lambda self, shader, entry, **kwargs: (
        entries.append(entry), original(self, shader, entry, **kwargs))[1])
    (outputs, grad_inputs), want, want_grad = await softmax_against_float64(device, rng, rows,
                                                                           width)
    assert entries == [f"forward{suffix}", f"backward{suffix}"]
    assert_relative(outputs, want)
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-5)
    assert_relative(grad_inputs, want_grad, rtol=1e-3)


@pytest.mark.slow
async def test_softmax_of_30000_classes_matches_float64(device, rng):
    (outputs, grad_inputs), want, want_grad = await softmax_against_float64(device, rng, 3,
                                                                           30_000)
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-5)
    assert_relative(outputs, want)
    assert_relative(grad_inputs, want_grad, rtol=1e-3)


@pytest.mark.slow
async def test_softmax_crossentropy_of_30000_classes_matches_float64(device, rng):
    """The fused loss at 30,000 classes: the categorical argmax a workgroup per row, the
    gradient (ŷ·Σy - y) / batch a workgroup per row."""
    rows, width = 3, 30_000
    predictions = reference.softmax_forward(rng.normal(size=(rows, width)))
    targets = unnormalised_targets(rng, rows, width)
    p, y = predictions.astype(np.float32), targets.astype(np.float32)
    got = await run_programs(device, softmax_loss_record(2), {"predictions": p, "targets": y},
                             rows)
    assert_softmax_loss(got, p, y, rtol=1e-3)


@pytest.mark.slow
async def test_full_batch_fit_of_a_million_sorted_rows_takes_the_float64_step(device):
    """One full-batch SGD step on 2^20 rows sorted by target: the dW and db sums need every row
    (a dW GEMM that dropped rows past ~524k moved the weights toward the first half's targets)."""
    rows = 1 << 20
    x = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None]
    y = np.where(np.arange(rows) < rows // 2, 0.0, 10.0).astype(np.float32)[:, None]
    model = Model([Dense(1, 1)], device=device, seed=0)
    kernel, bias = (weights.astype(np.float64) for weights in model.get_weights())
    await model.fit(x, y, TrainingOptions(learning_rate=0.1, epochs=1, verbose=0))
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    error = 2.0 * (x64 @ kernel + bias - y64) / rows  # dL/dŷ of the mean squared error
    want = [kernel - 0.1 * x64.T @ error, bias - 0.1 * error.sum(axis=0)]
    for got, expected in zip(model.get_weights(), want):
        assert_relative(got, expected, rtol=1e-3)


async def test_softmax_rows_too_wide_for_any_split_are_refused(device, rng, monkeypatch):
    """Past llvmpipe's cap even a workgroup per row would be cut silently: refused instead
    (the cap lowered so a 2,000-wide row stands for a ~5.6M-wide one)."""
    monkeypatch.setattr(loops, "LLVMPIPE_CAP", 20)
    with pytest.raises(ValueError, match=r"SoftMax\(\): rows of 2000 values need 42 loop "
                                         r"iterations per lane, past the 20"):
        await softmax_against_float64(device, rng, 2, 2000)


def test_loss_rows_too_wide_for_any_split_are_refused(monkeypatch):
    """Past llvmpipe's cap even one row per statistics workgroup would be cut silently: refused
    (the cap lowered so a 2,000-wide row stands for one of millions)."""
    monkeypatch.setattr(loops, "LLVMPIPE_CAP", 20)
    with pytest.raises(ValueError, match=r"loss: rows of 2000 values need \d+ loop iterations "
                                         r"per lane, past the 20"):
        losses.statistics_plan(1, 2000, BOTH_ACCURACIES)
