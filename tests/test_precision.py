"""dtype policies (intricate/gpu/dtypes.py, issue 17): float64 models on the GPU against the NumPy
float64 reference, the f64 elementary functions (shaders/gpu/float64.wgsl) over their whole
range, files that keep the dtype, and the refusals (an unknown dtype, one the adapter lacks)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from intricate import Model, TrainingOptions
from intricate.engine import tiny
from intricate.gpu import WGSLSource, dtypes, render
from intricate.gpu.dtypes import FLOAT32, FLOAT64, MIXED_FLOAT16
from intricate.initializers import Constant
from intricate.kernels import Kernel, check_gradients
from intricate.kernels.gradients import RTOLS, STEPS
from intricate.layers import ELU, GELU, Dense, LeakyReLU, Sigmoid, SiLU, SoftMax, Softplus, TanH
from intricate.optimizers import SGD, Adam

import reference
from harness import masked, run_programs, skip_unsupported

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
XOR_Y = np.array([[0], [0.8], [0.8], [0]])  # reachable by TanH: the loss can reach 0
XOR_LAYERS = ["Dense", "TanH", "Dense", "TanH"]

ELEMENTARY = """
struct Params { count: u32, which: u32 }
@group(0) @binding(0) var<storage, read> x: array<f64>;
@group(0) @binding(1) var<storage, read_write> y: array<f64>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
    if (id.x >= params.count) { return; }
    let v = x[id.x];
    switch params.which {
        case 0u: { y[id.x] = exponential(v); }
        case 1u: { y[id.x] = exp_minus_one_f64(v); }
        case 2u: { y[id.x] = logarithm(v); }
        default: { y[id.x] = log_one_plus_f64(v); }
    }
}
{% include "gpu/math.wgsl" %}
"""


def elementary_cases(rng) -> dict[str, tuple[int, object, np.ndarray]]:
    """(entry, NumPy function, inputs): wide random ranges plus the overflow/underflow edges."""
    return {
        "exp": (0, np.exp, np.concatenate([
            rng.uniform(-760, 720, 3000), rng.uniform(-1, 1, 1000),
            [0.0, 1e-300, -1e-300, -708.4, -720.0, -745.1, -745.2, -800.0, 709.7, 709.8, 800.0]])),
        "expm1": (1, np.expm1, np.concatenate([
            rng.uniform(-760, 0, 2000), -np.logspace(-300, 2, 2000), [0.0, -1e-10, -0.3466]])),
        "log": (2, np.log, np.concatenate([
            np.exp(rng.uniform(-744, 709, 3000)), rng.uniform(0.5, 2, 1000),
            [1.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1.7976931348623157e308, np.inf]])),
        "log1p": (3, np.log1p, np.concatenate([
            rng.uniform(0, 1, 2000), np.logspace(-300, 0, 2000), [0.0, 1.0]])),
    }


@pytest.mark.parametrize("name", ["exp", "expm1", "log", "log1p"])
async def test_float64_elementary_functions_match_numpy_to_an_ulp(device, rng, name):
    """shaders/gpu/float64.wgsl against NumPy float64 across the whole range: ±0, subnormals,
    where e^x under- and overflows, inf. 1e-15 relative (a few ulps; measured ≤ 4e-16)."""
    skip_unsupported(device, FLOAT64)
    which, function, x = elementary_cases(rng)[name]
    kernel = Kernel(WGSLSource(ELEMENTARY), device=device, template={"dtype": "f64"})
    got = (await kernel.run(x=x, y=np.zeros_like(x), params={"count": x.size, "which": which}))["y"]
    with np.errstate(over="ignore"):
        want = function(x)
    exact = (got == want) | (np.isinf(want) & (got == want))
    with np.errstate(invalid="ignore"):
        close = np.abs(got - want) <= 1e-15 * np.abs(want) + 5e-324  # a subnormal ulp
    bad = ~(exact | close)
    assert not bad.any(), f"{name}: x={x[bad][:4]}, got {got[bad][:4]}, want {want[bad][:4]}"


WIDE_ACTIVATIONS = {  # name: (layer, alpha, rtol against NumPy float64)
    "TanH": (TanH, 0.0, 1e-14), "Sigmoid": (Sigmoid, 0.0, 1e-14), "ELU": (ELU, 0.5, 1e-14),
    "SiLU": (SiLU, 0.0, 1e-14), "Softplus": (Softplus, 0.0, 1e-14),
    # 2u = C1·x + C3·x³ rounded in f64 (here and in NumPy) is off by ~1e-16 of |2u|, which
    # e^2u turns into a relative error of |2u|·1e-16: 1.8e-13 at x = -20 (|2u| = 640).
    "GELU": (GELU, 0.0, 1e-12),
}


@pytest.mark.parametrize("name", sorted(WIDE_ACTIVATIONS))
async def test_float64_activations_match_numpy_over_their_whole_range(device, rng, name):
    """f64 activations (built on gpu/float64.wgsl) from ±1e-300 to ±750, where e^x under- and
    overflows, against NumPy float64 forward and derivative: ~1e-14 (NumPy's own sigmoid,
    exp(-logaddexp(0, -x)), is off by 3.7e-15 at x = -33). TanH's and Sigmoid's derivatives read
    o (1 - o², o(1 - o), as PyTorch's), which doubles o's error: two units in the last place of
    1, 4.5e-16, absolute (o within 1.24 ulps gave 2.8e-16 on an H200)."""
    skip_unsupported(device, FLOAT64)
    make, alpha, rtol = WIDE_ACTIVATIONS[name]
    x = np.concatenate([rng.uniform(-750, 750, 1000), rng.uniform(-40, 40, 1000),
                        np.logspace(-300, 2.8, 300), -np.logspace(-300, 2.8, 300), [0.0]])[None]
    layer = make(alpha) if alpha else make()

    def record(program, a):
        return [layer.propagate(program, a["x"]), layer.back_propagate(program, a["dy"])]

    got = await run_programs(device, record, {"x": x, "dy": np.ones_like(x)}, 1, FLOAT64)
    forward, derivative = reference.ELEMENTWISE[name]
    from_outputs = 4.5e-16 if name in ("TanH", "Sigmoid") else 0.0
    np.testing.assert_allclose(got[0], forward(x, alpha), rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(got[1], derivative(x, alpha), rtol=rtol,
                               atol=max(from_outputs, 1e-300))


def test_no_float64_kernel_calls_an_undefined_builtin():
    """GLSL.std.450's exp, log, pow, tanh, ... are undefined on f64 (garbage on lavapipe): every
    kernel rendered for f64 reaches them only through gpu/float64.wgsl (log2 only of an f32)."""
    builtins = re.compile(r"(?<![\w.])(exp|exp2|log|pow|tanh|sinh|cosh|sin|cos|tan|atan|asin"
                          r"|acos|atanh|inverseSqrt)\s*\(")
    files = {"layers/activation.wgsl": {"activation": "gelu", "inputs_kept": True},
             "layers/softmax.wgsl": {}, "optimizers.wgsl": {},
             "losses.wgsl": {"loss": "binary_crossentropy"}, "ops/statistics.wgsl":
             {"slot": 4, "size": 8}}
    for name, values in files.items():
        text = render(name, {"dtype": "f64", **values})
        calls = [m.group(0) for m in builtins.finditer(re.sub(r"//.*", "", text))]
        assert not calls, f"{name} calls {calls} in f64"
        assert "log2(f32(" in text or "logarithm" not in text


def xor_model(device, dtype="float64") -> Model:
    return Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0, dtype=dtype)


async def test_float64_xor_reaches_1e_10_and_follows_numpy_float64(device, monkeypatch):
    """The README's network, full-batch SGD lr 0.1, targets 0 and 0.8: the float64 model's loss
    passes 1e-10 within 3000 epochs, and every epoch's loss is NumPy float64's of the same
    training (same initial weights) to 1e-9 relative; 8 dispatches per step, as in float32."""
    skip_unsupported(device, FLOAT64)
    monkeypatch.setattr(tiny, "ENABLED", False)  # the normal path (tiny: test_tiny_fit.py)
    model = xor_model(device)
    weights = model.get_weights()
    assert all(w.dtype == np.float64 for w in weights)
    epochs = 3000
    device.stats.reset()
    history = await model.fit(XOR_X, XOR_Y, TrainingOptions(learning_rate=0.1, epochs=epochs))
    assert device.stats["dispatches"] == epochs * 9  # 8 per step + 1 per epoch (the means)
    losses = np.array(history.loss)
    assert losses[-1] < 1e-10, losses[-1]
    first = int(np.argmax(losses < 1e-10))
    assert 0 < first < epochs
    want = []
    for _ in range(epochs):
        loss, weights = reference.train_step(XOR_LAYERS, weights, XOR_X, XOR_Y, "MeanSquared",
                                             0.1)
        want.append(loss)
    # A loss near 0 is a mean of squared residuals r that cancelled (ŷ - y): its error is that
    # of r (~1e-15 absolute, accumulated over the epochs) times 2|r|, not relative to the loss.
    want = np.array(want)
    assert (np.abs(losses - want) <= 1e-9 * want + 1e-14 * np.sqrt(want)).all()
    for got, expected in zip(model.get_weights(), weights):
        np.testing.assert_allclose(got, expected, rtol=1e-9)


async def test_float64_sgd_and_adam_steps_match_numpy_to_1e_12(device, rng):
    """One SGD step, then three Adam steps, of a small MLP (GELU, SiLU, Softplus, ELU, TanH in
    the middle: every f64 formula on the path) against reference.train_epochs in float64."""
    skip_unsupported(device, FLOAT64)
    layers = [Dense(3, 6), GELU(), Dense(6, 5), SiLU(), Dense(5, 4), Softplus(), Dense(4, 3),
              ELU(0.7), Dense(3, 2), TanH()]
    names = ["Dense", "GELU", "Dense", "SiLU", "Dense", "Softplus", "Dense", ("ELU", 0.7),
             "Dense", "TanH"]
    model = Model(layers, device=device, seed=3, dtype="float64")
    x, y = rng.normal(size=(7, 3)), rng.uniform(-0.5, 0.5, (7, 2))
    weights = model.get_weights()
    for optimizer, steps in ((SGD(learning_rate=0.05), 1), (Adam(learning_rate=0.01), 3)):
        await model.fit(x, y, TrainingOptions(optimizer=optimizer, epochs=steps))
        name = "sgd" if steps == 1 else "adam"
        _, weights = reference.train_epochs(
            names, weights, x, y, "MeanSquared",
            reference.OptimizerReference(name, optimizer.learning_rate),
            [np.arange(len(x))] * steps, len(x))
        for got, want in zip(model.get_weights(), weights, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


async def test_float64_predictions_and_inputs_keep_their_precision(device):
    """Inputs are converted to the model's dtype: float64 data reaches a float64 model unrounded
    (1 + 2^-40 differs from 1 in its predictions), and predictions come back as float64."""
    skip_unsupported(device, FLOAT64)
    model = Model([Dense(1, 1, kernel_initializer=Constant(1.0))], device=device, dtype="float64")
    got = await model.predict(np.array([[1.0], [1.0 + 2.0**-40]]))
    assert got.dtype == np.float64 and got[1, 0] - got[0, 0] == 2.0**-40
    data = await model.upload(np.array([[1.0]], np.float32), np.array([[2.0]]))
    assert data.x.dtype == np.float64
    other = Model([Dense(1, 1)], device=device)  # float32
    with pytest.raises(ValueError, match="this Dataset holds float64, the model computes in "
                                         "float32"):
        await other.predict(data)


async def test_float64_files_keep_their_dtype(device, tmp_path):
    """save/load keep float64 (F64 tensors, optimizer moments too) and predict bit-identically;
    layout="torch" writes F64 tensors that load back into a float64 model."""
    skip_unsupported(device, FLOAT64)
    model = xor_model(device)
    await model.fit(XOR_X, XOR_Y, TrainingOptions(optimizer=Adam(learning_rate=0.01), epochs=5))
    path, torch_path = tmp_path / "xor.safetensors", tmp_path / "torch.safetensors"
    model.save(path, include_optimizer=True)
    model.save(torch_path, layout="torch")
    assert {value.dtype for value in load_file(path).values()} == {np.dtype(np.float64),
                                                                   np.dtype(np.uint32)}
    assert {value.dtype for value in load_file(torch_path).values()} == {np.dtype(np.float64)}
    again = Model.load(path, device=device)
    assert again.dtype == "float64" and repr(again).endswith("dtype='float64')")
    assert np.array_equal(await again.predict(XOR_X), await model.predict(XOR_X))
    state = again.optimizer_state()
    assert all(value.dtype == np.float64 for key, value in state.items() if key != "step")
    torch_again = Model.from_torch_state_dict(torch_path, [Dense(2, 3), TanH(), Dense(3, 1),
                                                           TanH()], device=device,
                                              dtype="float64")
    assert np.array_equal(await torch_again.predict(XOR_X), await model.predict(XOR_X))
    model.layers[0].save(tmp_path / "dense.safetensors")  # a layer file keeps it too
    assert load_file(tmp_path / "dense.safetensors")["kernel"].dtype == np.float64
    assert model.clone().dtype == "float64"


@pytest.mark.parametrize("policy", [FLOAT64, MIXED_FLOAT16], ids=lambda policy: policy.name)
async def test_a_dtype_the_adapter_lacks_is_refused_before_any_gpu_work(device, tmp_path,
                                                                        policy):
    skip_unsupported(device, policy)
    without = masked(device, policy.feature)
    runs = [name for name in dtypes.supported(device) if name != policy.name]
    assert list(dtypes.supported(without)) == runs
    path = tmp_path / "model.safetensors"
    xor_model(device, policy.name).save(path)
    device.stats.reset()
    live = device.stats["live_buffers"]
    message = (rf"dtype: '{policy.name}' needs the WebGPU feature '{policy.feature}', which the "
               rf"adapter {re.escape(repr(device.name))} .* does not offer .* this device runs "
               + re.escape(repr(runs)))
    layers = [Dense(2, 3), TanH()]
    with pytest.raises(ValueError, match=message):
        Model(layers, device=without, dtype=policy.name)
    Model(layers, device=device)  # the refusal left the layers free
    with pytest.raises(ValueError, match=message):
        Model.load(path, device=without)
    assert device.stats["live_buffers"] == live
    assert all(device.stats[name] == 0 for name in device.stats.COUNTERS)


@pytest.mark.parametrize("dtype,message", [
    ("float16", r"dtype: expected one of \['float32', 'float64', 'mixed_float16'\] \(Keras' "
                r"policy names\), received 'float16'"),
    (np.float64, r"dtype: expected one of .* received <class 'numpy.float64'>"),
])
def test_unknown_dtypes_are_refused_by_name(dtype, message):
    with pytest.raises(ValueError, match=message):
        Model([Dense(2, 1)], dtype=dtype)


def test_policies_say_what_each_array_is():
    assert (FLOAT32.wgsl, FLOAT32.accumulate, FLOAT32.numpy) == ("f32", "f32", np.float32)
    assert (FLOAT64.wgsl, FLOAT64.accumulate, FLOAT64.parameters) == ("f64", "f64", np.float64)
    assert FLOAT64.feature == "shader-f64" and FLOAT32.feature is None
    assert dtypes.precision("float64") is FLOAT64 and dtypes.precision(FLOAT32) is FLOAT32


@pytest.mark.parametrize("make", [lambda: Dense(4, 3), TanH, Sigmoid, GELU, lambda: ELU(0.5),
                                  SiLU, Softplus, SoftMax],
                         ids=["Dense", "TanH", "Sigmoid", "GELU", "ELU", "SiLU", "Softplus",
                              "SoftMax"])
async def test_float64_backwards_pass_gradient_checks_a_million_times_tighter(device, rng, make):
    """check_gradients in f64 on the GPU: every built-in backward agrees with finite
    differences of its f64 forward to 1e-8 (float32's default is 1e-2), and a wrong one fails."""
    skip_unsupported(device, FLOAT64)
    layer = make()
    x = rng.standard_normal((5, layer.input_size or 4))
    report = await check_gradients(layer, x, device=device, dtype="float64", rtol=1e-8)
    assert report.passed, str(report)
    assert report.step == STEPS["float64"]
    in_model = Model([Dense(4, 4), make()], device=device, dtype="float64")
    default = await check_gradients(in_model.layers[1], x[:, :4])  # the model's dtype
    assert default.passed and default.rtol == RTOLS["float64"], str(default)


async def test_a_float64_gradient_check_catches_a_float32_sized_error(device, rng, monkeypatch):
    """A backward off by 1e-7 relative (about float32's rounding: LeakyReLU's slope nudged in
    the backward alone) passes float32's check and fails float64's: the tight tolerance bites."""
    skip_unsupported(device, FLOAT64)
    layer = LeakyReLU(0.5)
    real = LeakyReLU.back_propagate

    def nudged(self, program, grad_outputs, **kwargs):
        alpha, self.alpha = self.alpha, self.alpha * (1 + 1e-7)
        try:
            return real(self, program, grad_outputs, **kwargs)
        finally:
            self.alpha = alpha

    x = rng.standard_normal((5, 3))
    assert (await check_gradients(layer, x, device=device, dtype="float64", rtol=1e-8)).passed
    monkeypatch.setattr(LeakyReLU, "back_propagate", nudged)
    assert (await check_gradients(layer, x, device=device, dtype="float32")).passed
    assert not (await check_gradients(layer, x, device=device, dtype="float64",
                                      rtol=1e-8)).passed


async def test_the_workbench_runs_a_builtin_kernel_in_float64(device, rng):
    """Kernel(..., dtype="float64") renders the shader for f64 and binds float64 arrays; a
    device without shader-f64 is refused before any GPU work."""
    skip_unsupported(device, FLOAT64)
    kernel = Kernel("layers/activation.wgsl", "forward", device=device, dtype="float64",
                    template={"activation": "gelu", "inputs_kept": False})
    assert "array<f64>" in kernel.source
    x = rng.uniform(-8, 8, 1000)
    report = await kernel.check(lambda inputs, **_: {
        "outputs": reference.gelu_forward(inputs)}, rtol=1e-12, atol=1e-300, inputs=x,
        outputs=np.zeros_like(x), count=x.size, alpha=0.0)
    assert report.passed, str(report)
    masked_kernel = Kernel("layers/activation.wgsl", "forward", device=masked(device, "shader-f64"),
                           dtype="float64", template={"activation": "gelu", "inputs_kept": False})
    before = dict(device.stats)
    with pytest.raises(ValueError, match="needs the WebGPU feature 'shader-f64'"):
        await masked_kernel.run(inputs=x, outputs=np.zeros_like(x), count=x.size, alpha=0.0)
    assert dict(device.stats) == before
