"""Numerics the shaders depend on: hyperparameters checked in float32's range (they reach the
GPU as float32), options that can't change after construction, metrics that keep their own
values, and activations accurate to a few float32 ulps over their whole range."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from intricate import Model, TrainingOptions, gpu, initializers, losses, optimizers
from intricate.layers import (
    ELU,
    GELU,
    Dense,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    SoftMax,
    Softplus,
    TanH,
)
from intricate.ops.gemm import record_gemm

import reference
from harness import abs_matmul, assert_close, run_programs

F32_MAX = float(np.finfo(np.float32).max)

BAD_HYPERPARAMETERS = {
    # 1e-50 is 0 in float32: Adam's v̂/(√v̂ + ε) became 0/0 = NaN weights.
    "adam epsilon 1e-50": (lambda: optimizers.Adam(epsilon=1e-50), "epsilon", "1e-50"),
    "adagrad epsilon 1e-45": (lambda: optimizers.Adagrad(epsilon=1e-45), "epsilon", "1e-45"),
    # rounds to 0 in float32: training silently did nothing
    "learning_rate 1e-50": (lambda: optimizers.SGD(1e-50), "learning_rate", "1e-50"),
    # beyond float32: OverflowError at the first fit, inf weights after it
    "learning_rate 1e39": (lambda: optimizers.Adam(1e39), "learning_rate", r"1e\+39"),
    "weight_decay 1e39": (lambda: optimizers.AdamW(weight_decay=1e39), "weight_decay",
                          r"1e\+39"),
    # < 1 in float64, 1.0 in float32: Adam's 1 - β would be 0 on the GPU
    "beta_2 rounds to 1": (lambda: optimizers.Adam(beta_2=1 - 1e-10), "beta_2", "0.9999999999"),
    "constant 1e39": (lambda: initializers.Constant(1e39), "value", r"1e\+39"),
    "constant -1e39": (lambda: initializers.Constant(-1e39), "value", r"-1e\+39"),
    "uniform maxval 1e39": (lambda: initializers.Uniform(0.0, 1e39), "maxval", r"1e\+39"),
    "normal stddev 1e39": (lambda: initializers.Normal(0.0, 1e39), "stddev", r"1e\+39"),
}


@pytest.mark.parametrize("case", sorted(BAD_HYPERPARAMETERS))
def test_hyperparameters_outside_float32_are_refused_when_made(case):
    make, name, received = BAD_HYPERPARAMETERS[case]
    with pytest.raises(ValueError, match=rf"{name}: expected a finite number in .*"
                                         rf"received {received} \(hyperparameters must fit"):
        make()


def test_hyperparameters_at_float32_edges_are_kept():
    assert TrainingOptions(validation_split=1 - 1e-10).validation_split == 1 - 1e-10  # host
    assert optimizers.Adam(epsilon=1e-37).epsilon == 1e-37
    assert optimizers.SGD(F32_MAX).learning_rate == F32_MAX
    assert initializers.Constant(-F32_MAX).value == -F32_MAX


def test_draws_beyond_float32_are_refused_not_inf():
    with pytest.raises(ValueError, match=r"Normal\(mean=3e\+38.*float32's range"):
        initializers.Normal(3e38, 1e38)((100,), np.random.default_rng(0))


# TrainingOptions ------------------------------------------------------------------------------
def test_options_refuse_changes_and_say_to_use_replace():
    options = TrainingOptions(learning_rate=0.1, batch_size=4)
    for name, value in (("learning_rate", 0.5), ("batch_size", -2), ("epochs", 3)):
        with pytest.raises(dataclasses.FrozenInstanceError,
                           match=rf"options\.{name}.*dataclasses\.replace\(options, {name}="):
            setattr(options, name, value)
    assert options.learning_rate == 0.1 and options.optimizer.learning_rate == 0.1
    assert options.batch_size == 4


def test_options_replace_validates_and_rederives():
    options = TrainingOptions(optimizer="adam", learning_rate=0.01, batch_size=32)
    again = dataclasses.replace(options, epochs=3)
    assert again.optimizer is options.optimizer and again.epochs == 3  # state continues
    faster = dataclasses.replace(again, learning_rate=0.5)
    assert isinstance(faster.optimizer, optimizers.Adam)
    assert faster.optimizer.learning_rate == faster.learning_rate == 0.5
    assert options.optimizer.learning_rate == 0.01
    assert dataclasses.replace(options, batch_size=None).shuffles is False
    assert dataclasses.replace(TrainingOptions(), should_print_information=True).verbosity == 1
    # What a copy is given explicitly is kept, even when it equals what was derived before
    # (a copy that silently shuffled data asked to stay in order).
    batched = dataclasses.replace(TrainingOptions(), batch_size=32, shuffle=False)
    assert batched.shuffle is False and not batched.shuffles
    whole = dataclasses.replace(TrainingOptions(batch_size=32), batch_size=None, shuffle=True)
    assert whole.shuffles
    quiet = TrainingOptions(should_print_information=True)
    assert dataclasses.replace(quiet, should_print_information=False, verbose=1).verbosity == 1
    adam = optimizers.Adam(0.02)
    assert dataclasses.replace(TrainingOptions(), optimizer=adam).learning_rate == 0.02
    with pytest.raises(ValueError, match=r"batch_size: expected an integer >= 1, received -2"):
        dataclasses.replace(options, batch_size=-2)


# Metrics ---------------------------------------------------------------------------------------
# Outputs (a Dense layer with identity weights passes x through) and targets chosen so that the
# two accuracies differ, with Keras' edge cases: a prediction of exactly 0.5 is 0 ((ŷ > 0.5)
# is strict), soft targets (0.7) never match, argmax ties go to the first maximum.
METRIC_OUTPUTS = np.array([[0.9, 0.2, 0.1], [0.5, 0.4, 0.1], [0.4, 0.4, 0.2],
                           [0.2, 0.6, 0.7], [0.8, 0.3, 0.3], [0.1, 0.9, 0.0]], np.float32)
METRIC_TARGETS = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0],
                           [0, 0.7, 0.3], [0.7, 0.2, 0.1], [0, 1, 0]], np.float32)


def keras_binary_accuracy(outputs, targets):
    return np.mean((outputs > 0.5).astype(np.float64) == targets, axis=1).mean()


def keras_categorical_accuracy(outputs, targets):
    return np.mean(outputs.argmax(axis=1) == targets.argmax(axis=1))


async def test_binary_and_categorical_accuracy_keep_their_own_values(device):
    model = Model([Dense(3, 3)], device=device)
    model.set_weights([np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    names = ["binary_accuracy", "categorical_accuracy", "accuracy", "mae"]
    logs = await model.evaluate(METRIC_OUTPUTS, METRIC_TARGETS, metrics=names, return_dict=True)
    binary = keras_binary_accuracy(METRIC_OUTPUTS, METRIC_TARGETS)
    categorical = keras_categorical_accuracy(METRIC_OUTPUTS, METRIC_TARGETS)
    assert (binary, categorical) == pytest.approx((11 / 18, 4 / 6))  # they differ here
    assert logs["binary_accuracy"] == pytest.approx(binary, rel=1e-6)
    assert logs["categorical_accuracy"] == pytest.approx(categorical, rel=1e-6)
    assert logs["accuracy"] == pytest.approx(categorical, rel=1e-6)  # several outputs
    mae = np.abs(METRIC_OUTPUTS.astype(np.float64) - METRIC_TARGETS).mean()
    assert logs["mae"] == pytest.approx(mae, rel=1e-6)
    reversed_logs = await model.evaluate(METRIC_OUTPUTS, METRIC_TARGETS, metrics=names[::-1],
                                         return_dict=True)
    assert reversed_logs == pytest.approx(logs, rel=1e-6)


async def test_fit_history_keeps_each_accuracy(device):
    model = Model([Dense(3, 3)], device=device)
    model.set_weights([np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    history = await model.fit(METRIC_OUTPUTS, METRIC_TARGETS, TrainingOptions(
        learning_rate=1e-30, epochs=1, validation_data=(METRIC_OUTPUTS, METRIC_TARGETS),
        metrics=["binary_accuracy", "categorical_accuracy"]))
    for prefix in ("", "val_"):
        assert history.history[prefix + "binary_accuracy"] == pytest.approx([11 / 18])
        assert history.history[prefix + "categorical_accuracy"] == pytest.approx([4 / 6])


# Activations: a few float32 ulps from 1e-30 to 1e4 ------------------------------------------------
ULPS = 4
TINY = 1e-30  # below float32's smallest normal (1.2e-38) GPUs may flush; test_activations' floor
MAGNITUDES = np.logspace(-30, 4, 681)  # 20 a decade
SWEEP = np.concatenate([MAGNITUDES, -MAGNITUDES, [0.0, 0.5, -0.5, 0.55, -0.55, 1.0, -1.0]])
ACTIVATIONS = {"ReLU": ReLU, "TanH": TanH, "Sigmoid": Sigmoid, "LeakyReLU": LeakyReLU,
               "ELU": ELU, "GELU": GELU, "SiLU": SiLU, "Softplus": Softplus}


def ulp(values):
    """float32's unit in the last place at |values| (float64)."""
    return np.spacing(np.abs(values).astype(np.float32)).astype(np.float64)


def derivative_tolerance(name, x, want):
    """ULPS ulps of the derivative's scale, plus what a derivative read from the output o owes
    to o's own rounding (TanH: 1 - o², Sigmoid: o (1 - o), as PyTorch computes them)."""
    if name == "GELU":  # f' = s + 2 x s (1 - s) u': its terms cancel near x = -0.75
        u = reference.GELU_C * (x + 0.044715 * x**3)
        s, rest = reference.sigmoid_forward(2 * u), reference.sigmoid_forward(-2 * u)
        scale = s + np.abs(2 * x * s * rest * reference.GELU_C * (1 + 3 * 0.044715 * x**2))
    elif name == "SiLU":  # f' = s (1 + x (1 - s)): cancels near x = -1.28
        s = reference.sigmoid_forward(x)
        scale = s * (1 + np.abs(x) * reference.sigmoid_forward(-x))
    else:
        scale = np.abs(want)
    tolerance = ULPS * ulp(scale)
    if name in ("TanH", "Sigmoid"):
        o = reference.ELEMENTWISE[name][0](x)
        slope = 2 * np.abs(o) if name == "TanH" else np.abs(1 - 2 * o)
        tolerance += ULPS * ulp(o) * slope
    return tolerance


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
async def test_activations_are_within_a_few_ulps_from_1e_30_to_1e4(device, name):
    layer = ACTIVATIONS[name]()
    x = SWEEP.astype(np.float32).reshape(1, -1)

    def record(program, a):
        outputs = layer.propagate(program, a["x"])
        return [outputs, layer.back_propagate(program, a["dy"])]

    got = await run_programs(device, record, {"x": x, "dy": np.ones_like(x)}, 1)
    forward, derivative = reference.ELEMENTWISE[name]
    x64 = x.ravel().astype(np.float64)
    want_forward, want_derivative = forward(x64, layer.alpha), derivative(x64, layer.alpha)
    for label, values, want, tolerance in (
            ("forward", got[0], want_forward, ULPS * ulp(want_forward)),
            ("derivative", got[1], want_derivative,
             derivative_tolerance(name, x64, want_derivative))):
        error = np.abs(values.ravel().astype(np.float64) - want)
        bad = error > tolerance + TINY
        assert not bad.any(), (
            f"{name} {label}: {bad.sum()} inputs beyond {ULPS} ulps, e.g. x = {x64[bad][:4]}: "
            f"got {values.ravel()[bad][:4]}, want {want[bad][:4]} "
            f"({(error / ulp(want))[bad][:4]} ulps)")


# The harness ------------------------------------------------------------------------------------
def test_assert_close_is_relative_with_a_tiny_floor():
    with pytest.raises(AssertionError):  # a 30% error in a small gradient (passed with 1.0)
        assert_close([1.3e-3], [1e-3])
    with pytest.raises(AssertionError):
        assert_close([float("nan")], [1.0])
    with pytest.raises(AssertionError):
        assert_close([1e-20], [0.0])
    assert_close([1e-31], [0.0])  # below what a GPU may flush
    # a sum that cancels is judged at the size of its terms, passed as its scale
    assert_close([1e-9], [0.0], scale=[abs(1.0) + abs(-1.0)])
    with pytest.raises(AssertionError):
        assert_close([1e-3], [0.0], scale=[2.0])
    assert_close(abs_matmul([[1.0, -1.0]], [[1.0], [1.0]]), [[2.0]])


# Mutants these tests kill ------------------------------------------------------------------------
@pytest.mark.parametrize("rows,width", [(4, 4), (2, 1000)])
async def test_softmax_of_plus_minus_100_matches_float64(device, rng, rows, width):
    """exp(100) overflows float32: only max-subtraction keeps SoftMax finite."""
    x = rng.uniform(-100, 100, (rows, width)).astype(np.float32)
    x[0, :4] = [100.0, -100.0, 0.0, 99.5]
    x[1, :4] = [-100.0, -100.0, -100.0, -100.0] if width == 4 else [100.0] * 4
    dy = rng.uniform(-1, 1, (rows, width)).astype(np.float32)
    layer = SoftMax()

    def record(program, a):
        return [layer.propagate(program, a["x"]), layer.back_propagate(program, a["dy"])]

    got = await run_programs(device, record, {"x": x, "dy": dy}, rows)
    want = reference.softmax_forward(x.astype(np.float64))
    assert_close(got[0], want, scale=np.maximum(np.abs(want), 1e-30) * 4)  # exp's few ulps
    backward = reference.softmax_backward(want, dy.astype(np.float64))
    dot_terms = (np.abs(dy) * want).sum(axis=1, keepdims=True)
    assert_close(got[1], backward, scale=want * (np.abs(dy) + dot_terms) * 4)


@pytest.mark.parametrize("name", ["BinaryCrossEntropy", "CategoricalCrossEntropy"])
async def test_crossentropy_gradient_is_zero_where_the_probability_is_clipped(device, name):
    """Keras clips p to [1e-7, 1 - 1e-7]: the loss's gradient is 0 outside (a saturated
    output's 0 or 1 gave 0/0 = NaN or -1/0, 1e-9 a gradient 1e2 times too large)."""
    predictions = np.array([[0.0, 1.0, 1e-9, 1 - 1e-8, 0.3, 1e-7]], np.float32)
    targets = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]], np.float32)
    loss = getattr(losses, name)()

    def record(program, a):
        statistics = gpu.empty(program.device, (8,))
        grad = gpu.empty(program.device, a["predictions"].shape)
        loss.record_training(program, a["predictions"], a["targets"], statistics, grad)
        return [statistics, grad]

    got = await run_programs(device, record, {"predictions": predictions, "targets": targets}, 1)
    gradient = reference.LOSSES[name][1]
    with np.errstate(divide="ignore", invalid="ignore"):  # np.where computes both sides
        want = gradient(predictions.astype(np.float64), targets.astype(np.float64))
    assert want[0, :4].tolist() == [0.0] * 4 and np.isfinite(got[0]).all()
    assert_close(got[1], want)


async def test_fused_relu_derivative_is_zero_where_the_output_is_exactly_zero(device, rng):
    """dX = (dY·Wᵀ) · (o > 0) in the dX GEMM's epilogue: a ReLU output of exactly 0 (every
    negative input) passes no gradient, as in PyTorch."""
    m, n, k = 5, 7, 3  # dX [m, k] = dY [m, n] · Wᵀ [n, k]
    dy = rng.uniform(-1, 1, (m, n)).astype(np.float32)
    w = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    outputs = np.maximum(rng.uniform(-1, 1, (m, k)), 0).astype(np.float32)
    outputs[0] = 0.0

    def record(program, a):
        dx = gpu.empty(program.device, (m, k))
        record_gemm(program, a["dy"], a["w"], dx, m, k, n, (n, 1), (1, n),
                    derivative=("relu", a["outputs"]))
        return [dx]

    (got,) = await run_programs(device, record, {"dy": dy, "w": w, "outputs": outputs}, m)
    grad = dy.astype(np.float64) @ w.T.astype(np.float64)
    assert (got[outputs == 0] == 0).all() and (outputs == 0).sum() >= k
    assert_close(got, grad * (outputs > 0), scale=abs_matmul(dy, w.T) * (outputs > 0))


async def test_an_optimizer_changed_after_it_was_built_is_checked_by_fit(device):
    """Optimizer hyperparameters are plain attributes: fit checks them again before any GPU
    work (a learning rate set to 0 trained nothing; 1e39 failed late packing a uniform)."""
    model = Model([Dense(2, 1)], device=device, seed=0)
    x, y = np.ones((4, 2), np.float32), np.ones((4, 1), np.float32)
    for name, value in (("learning_rate", 0.0), ("learning_rate", 1e39), ("epsilon", 1e-50)):
        optimizer = optimizers.Adam()
        options = TrainingOptions(optimizer=optimizer)
        setattr(optimizer, name, value)
        device.stats.reset()
        with pytest.raises(ValueError, match=name):
            await model.fit(x, y, options)
        assert device.stats["dispatches"] == 0


def test_float32s_largest_written_as_a_float64_literal_is_taken():
    """3.4028235e38 is a hair above float32's largest but rounds to it: the message used to
    refuse it while printing the same number as the bound."""
    assert optimizers.SGD(learning_rate=3.4028235e38).learning_rate == 3.4028235e38
    assert initializers.Constant(3.4028235e38)((2,), np.random.default_rng(0))[0] == np.float32(
        3.4028235e38)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate=3.5e38)


def test_a_metric_listed_twice_is_refused():
    with pytest.raises(ValueError, match=r"metrics: 'accuracy' is listed twice"):
        TrainingOptions(metrics=["accuracy", "mae", "accuracy"])
