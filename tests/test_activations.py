"""The element-wise activations (old and new) against the float64 reference: forward, backward
vs finite differences, unfused (their own kernel) and fused into the Dense GEMMs (both GEMM
kernels, and through a model's training step), at edge values; alpha reaches the shaders and
survives saving; the fusion planner's decisions."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions, gpu, losses
from intricate.engine import plan
from intricate.gpu.dtypes import FLOAT32, FLOAT64
from intricate.io.files import ModelFileError
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
    Swish,
    TanH,
    register,
)
from intricate.layers.activations import Activation
from intricate.layers.registry import LAYERS
from intricate.ops.gemm import GemmConfig, SubgroupConfig, record_gemm
from intricate.ops.gemm import subgroup as gemm_subgroup
from intricate.ops.gemm.tiled import activation_functions

import reference
from harness import (
    ALL_PRECISIONS,
    abs_matmul,
    assert_close,
    gradient_rtol,
    run_programs,
    skip_unsupported,
)

# (layer factory, reference name, alpha): every element-wise activation, alphas included.
CASES = {
    "ReLU": (ReLU, "ReLU", 0.0),
    "TanH": (TanH, "TanH", 0.0),
    "Sigmoid": (Sigmoid, "Sigmoid", 0.0),
    "LeakyReLU": (LeakyReLU, "LeakyReLU", 0.01),
    "LeakyReLU(0.2)": (lambda: LeakyReLU(0.2), "LeakyReLU", 0.2),
    "ELU": (ELU, "ELU", 1.0),
    "ELU(0.5)": (lambda: ELU(0.5), "ELU", 0.5),
    "GELU": (GELU, "GELU", 0.0),
    "SiLU": (SiLU, "SiLU", 0.0),
    "Softplus": (Softplus, "Softplus", 0.0),
}
EDGES = [0.0, 60.0, -60.0, 12.0, -12.0, -1e-3, 1e-3, -0.5, 3.0, -3.0, 1e30, -1e30]


# The absolute floor: intermediates below f32's smallest normal (1.2e-38) may flush to 0 on a
# GPU, so results near 1e-37 (GELU(-10) = -1.2e-37) may too; anything larger must keep its
# relative accuracy (e.g. Softplus(-60) = 8.8e-27, not 0).
TINY = 1e-30


def close(got, want, atol: float = TINY, rtol: float = 1e-4) -> None:
    """f32 vs float64: rtol 1e-4 (f64: 1e-12) with the tiny absolute floor ``TINY``."""
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)


# TanH's and Sigmoid's derivatives are read from their output o (1 - o², o·(1 - o)), as
# PyTorch's are: where o rounds to ±1 in f32 they are off by up to one unit in the last place of
# 1 (6e-8) times dE/dO. Every other derivative keeps its relative accuracy.
FROM_OUTPUTS_ATOL = 1.2e-7


def numerical_derivative(forward, x, alpha, step=1e-6):
    return (forward(x + step, alpha) - forward(x - step, alpha)) / (2 * step)


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_derivatives_match_finite_differences(rng, case):
    _, name, alpha = CASES[case]
    forward, derivative = reference.ELEMENTWISE[name]
    x = np.concatenate([rng.normal(size=50) * 3, [-60.0, 60.0, -0.5, 2.0]])
    x = x[np.abs(x) > 1e-3]  # the kinks of ReLU, LeakyReLU and ELU are not differentiable
    np.testing.assert_allclose(derivative(x, alpha), numerical_derivative(forward, x, alpha),
                               rtol=1e-6, atol=1e-8)


def edge_inputs(rng, rows, width, dtype=np.float32):
    """Uniform in ±6 after EDGES, whose ±1e30 become the dtype's largest (f16: ±65504)."""
    x = rng.uniform(-6, 6, (rows, width)).astype(dtype)
    largest = float(np.finfo(dtype).max)
    x.flat[:len(EDGES)] = np.clip(EDGES, -largest, largest)[:x.size]
    return x


# mixed_float16: f16 x and dE/dO, computed in f32, rounded to f16 as stored. The reference is
# the float64 function of the f16 inputs; a stored value is off by f32's error (<= 1e-4, the
# float32 rows prove it) plus its own rounding, 2^-11 = 4.9e-4 relative (2^-25 absolute below
# f16's normal range: stored_floor): within 1e-3 forward. Backward (gradient_rtol 1e-2) reads o
# rounded to f16 too: TanH's 1 - o² and Sigmoid's o(1 - o) move by up to 2·2^-11 = 2^-10 per
# unit of |dE/dO| (f32's one ulp of 1, FROM_OUTPUTS_ATOL, scaled to f16's epsilon).
@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("rows,width", [(1, 1), (3, 100), (257, 1)])
async def test_unfused_kernel_matches_reference(device, rng, case, rows, width, precision):
    skip_unsupported(device, precision)
    make, name, alpha = CASES[case]
    forward, derivative = reference.ELEMENTWISE[name]
    dtype = precision.numpy
    x, dy = edge_inputs(rng, rows, width, dtype), rng.uniform(-1, 1, (rows, width)).astype(dtype)
    layer = make()

    def record(program, a):
        outputs = layer.propagate(program, a["x"])
        return [outputs, layer.back_propagate(program, a["dy"])]

    got = await run_programs(device, record, {"x": x, "dy": dy}, rows, precision)
    assert got[0].dtype == got[1].dtype == dtype
    x64 = x.astype(np.float64)
    # From o, one unit in the last place of 1 (f32's FROM_OUTPUTS_ATOL; 2.2e-16 in f64, 2^-10
    # in f16).
    from_outputs = FROM_OUTPUTS_ATOL * float(np.finfo(dtype).eps / np.finfo(np.float32).eps)
    floor = max(TINY, precision.stored_floor)
    close(got[0], forward(x64, alpha), rtol=precision.rtol, atol=floor)
    close(got[1], dy * derivative(x64, alpha), rtol=gradient_rtol(precision),
          atol=floor + (from_outputs if name in ("TanH", "Sigmoid") else 0.0))


def gemm_config(device, kernel: str):
    """The tiled GEMM, or the subgroup GEMM of software adapters (None where there is none)."""
    if kernel == "tiled":
        return GemmConfig(32, 32, 16, side=8)
    return SubgroupConfig() if gemm_subgroup.usable(device) else None


# Both GEMM kernels include the same epilogue.wgsl: every activation runs through the tiled
# kernel by default, one that keeps x and one that doesn't through the subgroup kernel (compiling
# it for each activation on lavapipe costs ~6 s; the slow tier runs them all).
# float64: the epilogues of both kernels once each, every activation of the f64 library in
# one kernel or the other (the f32 slack below shrinks to f64's: rtol 1e-12).
FUSED_CASES = [pytest.param(case, kernel, FLOAT32, marks=[pytest.mark.slow] if kernel ==
                            "subgroup" and case not in ("GELU", "LeakyReLU(0.2)") else [])
               for case in ["LeakyReLU(0.2)", "ELU(0.5)", "GELU", "SiLU", "Softplus"]
               for kernel in ("tiled", "subgroup")] + [
    pytest.param(case, kernel, FLOAT64, id=f"{case}-{kernel}-float64")
    for case, kernel in [("GELU", "tiled"), ("ELU(0.5)", "tiled"), ("SiLU", "subgroup"),
                         ("Softplus", "subgroup")]]


@pytest.mark.parametrize("case,kernel,precision", FUSED_CASES)
async def test_fused_gemm_epilogues_match_reference(device, rng, case, kernel, precision):
    """Forward: c = f(x·W + b), storing x·W + b when f' reads it; dX: c = dY·Wᵀ · f'(x, o)."""
    skip_unsupported(device, precision)
    make, name, alpha = CASES[case]
    layer, (forward, derivative) = make(), reference.ELEMENTWISE[name]
    m, n = 37, 20
    k = n  # square W: the dX GEMM's output has the forward's shape, so o and x fit it
    dtype, rtol = precision.numpy, precision.rtol
    a = (rng.uniform(-1, 1, (m, k)) * 3).astype(dtype)
    w = rng.uniform(-1, 1, (k, n)).astype(dtype)
    bias = rng.uniform(-1, 1, n).astype(dtype)
    config = gemm_config(device, kernel)
    if config is None:
        pytest.skip("the subgroup GEMM runs on software adapters with subgroups only")

    def record(program, u):
        c, dx = gpu.empty(program.device, (m, n), dtype), gpu.empty(program.device, (m, k), dtype)
        kept = gpu.empty(program.device, (m, n), dtype) if layer.derivative_uses_inputs else None
        record_gemm(program, u["a"], u["w"], c, m, n, k, (k, 1), (n, 1), bias=u["bias"],
                    activation=layer.function, alpha=layer.alpha, pre_activations=kept,
                    config=config)
        # dX = dY·Wᵀ times f'(x, o), with this forward's x and o.
        record_gemm(program, u["dy"], u["w"], dx, m, k, n, (n, 1), (1, n),
                    derivative=(layer.function, c, kept), alpha=layer.alpha, config=config)
        return [c, dx] + ([kept] if kept is not None else [])

    dy = rng.uniform(-1, 1, (m, n)).astype(dtype)
    got = await run_programs(device, record, {"a": a, "w": w, "bias": bias, "dy": dy}, m,
                             precision)
    x = a.astype(np.float64) @ w + bias
    # The GEMM's x carries the rounding of its k terms (f32: 1e-6 of them, f64: 1e-15): judge
    # f(x) with that much slack times |f'(x)| (steep tails such as GELU(-7) amplify it).
    x_error = (1e-6 if precision is FLOAT32 else 1e-15) * (
        np.abs(a.astype(np.float64)) @ np.abs(w) + np.abs(bias))
    slack = np.abs(derivative(x, alpha)) * x_error
    want = forward(x, alpha)
    assert np.all(np.abs(got[0] - want) <= rtol * np.abs(want) + slack + TINY), case
    # Sums of k products: judged against the size of their terms (see assert_close), plus what
    # x's own rounding moves f'(x) by (its slope, by central differences of the reference).
    grad = dy.astype(np.float64) @ w.T
    bend = np.abs(derivative(x + 1e-6, alpha) - derivative(x - 1e-6, alpha)) / 2e-6
    scale = (abs_matmul(dy, w.T) * np.abs(derivative(x, alpha))
             + np.abs(grad) * bend * x_error / rtol)  # x_error is absolute, not relative
    assert_close(got[1], grad * derivative(x, alpha), rtol, scale=scale)
    if layer.derivative_uses_inputs:
        assert_close(got[2], x, rtol, scale=abs_matmul(a, w) + np.abs(bias))


MODEL_CASES = sorted(set(CASES) - {"ReLU", "TanH", "Sigmoid"})


# A model's fused step compiles its own GEMMs per activation (~4-7 s each on lavapipe): by
# default one activation that keeps x and one that doesn't, the rest in the slow tier (every
# epilogue is also checked above, kernel by kernel).
MODEL_SHAPES = [pytest.param(case, shape, marks=[pytest.mark.slow] if shape == "fused" and case
                             not in ("GELU", "LeakyReLU") else [])
                for case in MODEL_CASES for shape in ("fused", "unfused")]


@pytest.mark.parametrize("case,shape", MODEL_SHAPES)
async def test_training_step_matches_reference(device, rng, case, shape):
    """fused: Dense + act (epilogue) and its derivative in the next Dense's dX GEMM; unfused:
    the activation after another activation (its own kernels), and as the first layer."""
    make, name, alpha = CASES[case]
    if shape == "fused":
        layers, names = [Dense(3, 5), make(), Dense(5, 2)], ["Dense", (name, alpha), "Dense"]
    else:
        layers = [make(), Dense(3, 5), Sigmoid(), make(), Dense(5, 2)]
        names = [(name, alpha), "Dense", "Sigmoid", (name, alpha), "Dense"]
    model = Model(layers, device=device, seed=3)
    weights = model.get_weights()
    x = (rng.normal(size=(9, 3)) * 2).astype(np.float32)
    x[0] = [0.0, -60.0, 60.0]
    y = rng.normal(size=(9, 2)).astype(np.float32)
    options = TrainingOptions(learning_rate=0.5, loss_algorithm=losses.MeanSquared(), epochs=1)
    history = await model.fit(x, y, options)
    loss, stepped = reference.train_step(names, weights, x, y, "MeanSquared", 0.5)
    assert_close(history.loss[0], loss)
    for got, want in zip(model.get_weights(), stepped, strict=True):
        assert_close(got, want)


async def test_alpha_is_saved_loaded_and_reaches_the_shaders(device, rng, tmp_path):
    def model_with(alpha):
        return Model([Dense(2, 8), LeakyReLU(alpha), Dense(8, 3), ELU(0.5), LeakyReLU(alpha)],
                     device=device, seed=0)

    x = rng.normal(size=(16, 2)).astype(np.float32)
    model = model_with(0.2)
    path = tmp_path / "alpha.safetensors"
    model.save(path)
    loaded = Model.load(path, device=device)
    assert [(type(layer), getattr(layer, "alpha", None)) for layer in loaded.layers[1:]] == [
        (LeakyReLU, 0.2), (Dense, None), (ELU, 0.5), (LeakyReLU, 0.2)]
    assert repr(loaded.layers[1]) == "LeakyReLU(0.2)"
    assert np.array_equal(await model.predict(x), await loaded.predict(x))
    # The same weights with another alpha predict differently (fused and unfused paths).
    other = model_with(0.01)
    other.set_weights(model.get_weights())
    assert not np.allclose(await model.predict(x), await other.predict(x))


def test_alpha_is_checked_and_swish_is_silu():
    assert LeakyReLU().alpha == 0.01 and ELU().alpha == 1.0 and LeakyReLU(0).alpha == 0.0
    assert LeakyReLU(np.float32(0.25)).alpha == 0.25 and ELU(np.int64(2)).alpha == 2.0
    with pytest.raises(ValueError, match=r"alpha: expected a finite number in \[0.0, "
                                         r"3.4028235e\+38\], received -0.1"):
        LeakyReLU(-0.1)
    # Each is refused before any GPU work, not when packed into a shader's uniform.
    for bad in (-1, float("nan"), float("inf"), 3.5e38, 10**400, "0.2", True, None, [0.1]):
        with pytest.raises(ValueError, match="alpha: expected a finite number"):
            ELU(bad)
    assert Swish is SiLU


def test_an_activation_without_its_wgsl_function_is_refused_when_built():
    class Mish(Activation):
        function = "mish"

    with pytest.raises(ValueError, match=r"Mish: function 'mish' is not defined in "
                                         r"shaders/layers/activations.wgsl .*fn mish\(x, alpha\)"):
        Mish()
    # What the GEMM epilogue offers: activations only, not the library's helpers.
    known = activation_functions()
    assert {"relu", "gelu", "identity"} <= set(known) and "exp_minus_one" not in known


def test_an_activation_that_records_its_own_work_is_not_fused():
    class Logged(ReLU):
        def propagate(self, program, inputs):
            return super().propagate(program, inputs)

    dense, logged, relu = Dense(2, 3), Logged(), ReLU()
    assert plan.forward_steps([dense, logged]) == [plan.Step(dense), plan.Step(logged)]
    assert plan.forward_steps([dense, relu]) == [plan.Step(dense, relu)]


def test_the_registry_takes_layer_classes_once_per_name():
    with pytest.raises(ValueError, match="register: expected a Layer subclass, received <class"):
        register(int)

    def define():
        @register
        class Scale(Dense):
            pass
        return Scale

    try:
        first, again = define(), define()  # a re-run notebook cell replaces its own class
        assert LAYERS["Scale"] is again and first is not again
    finally:
        LAYERS.pop("Scale", None)
    with pytest.raises(ValueError, match="layer name 'Dense' is already registered"):
        register(type("Dense", (Dense,), {}))


def test_loading_a_layer_file_into_other_settings_is_refused(tmp_path):
    path = tmp_path / "leaky.safetensors"
    LeakyReLU(0.1).save(path)
    with pytest.raises(ModelFileError, match=r"holds LeakyReLU\(0.1\) with \{'alpha': 0.1\}, "
                                             r"but this layer has \{'alpha': 0.9\}"):
        LeakyReLU(0.9).load(path)
    LeakyReLU(0.1).load(path)
    assert LeakyReLU.from_file(path).alpha == 0.1


def test_the_planner_fuses_elementwise_activations_and_softmax_with_cross_entropy():
    dense, gelu, top, softmax = Dense(2, 3), GELU(), Dense(3, 4), SoftMax()
    layers = [dense, gelu, top, softmax]
    assert plan.forward_steps(layers) == [plan.Step(dense, gelu), plan.Step(top),
                                          plan.Step(softmax)]
    cross_entropy = losses.CategoricalCrossEntropy()
    assert plan.loss_through_last_layer(layers, cross_entropy)
    assert not plan.loss_through_last_layer(layers, losses.MeanSquared())
    assert plan.backward_steps(layers, cross_entropy) == [
        plan.Step(top, gelu), plan.Step(dense, need_grad_inputs=False)]
    assert plan.backward_steps(layers, losses.MeanSquared())[0] == plan.Step(softmax)
    # Activations whose derivative reads only o keep no inputs: ReLU's paths stay as fast.
    assert not ReLU.derivative_uses_inputs and not LeakyReLU.derivative_uses_inputs
    assert GELU.derivative_uses_inputs and SiLU.derivative_uses_inputs
