"""mixed_float16 in the shader library and the kernel workbench: SoftMax's narrow and wide
paths, batch row copies of f16 rows, ``Kernel(..., dtype="mixed_float16")`` on built-in
kernels (f16 data, f32 sums), ``check_gradients`` in f16, and an adapter without shader-f16
refused before any GPU work. (Activations and gather in every dtype: test_activations.py,
test_shaders.py.)"""

from __future__ import annotations

import re

import numpy as np
import pytest

from intricate import Model, gpu
from intricate.gpu.dtypes import MIXED_FLOAT16
from intricate.kernels import Kernel, check_gradients
from intricate.kernels.gradients import RTOLS, STEPS
from intricate.layers import ELU, GELU, Dense, LeakyReLU, Sigmoid, SiLU, SoftMax, Softplus, TanH
from intricate.ops import gather, loops

import reference
from harness import assert_close, masked, run_programs, skip_unsupported

pytestmark = pytest.mark.usefixtures("f16_device")


@pytest.fixture
def f16_device(device):
    skip_unsupported(device, MIXED_FLOAT16)


@pytest.mark.parametrize("bound,suffix", [(2, "_wide"), (loops.LOOP_BOUND, "")],
                         ids=["a workgroup per row", "an invocation per row"])
@pytest.mark.parametrize("rows,width", [(1, 1), (3, 257), (2, 300)])
async def test_softmax_in_f16_on_both_paths(device, rng, monkeypatch, rows, width, bound,
                                            suffix):
    """f16 rows, f32 max/exp/sums: each output within 1e-3 of the float64 SoftMax of the f16
    inputs (one rounding, 2^-11, and f32's error), the gradient within 1e-2 of its terms."""
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)  # 2: every row takes the wide entries
    entries = []
    original = gpu.Program.dispatch
    monkeypatch.setattr(gpu.Program, "dispatch", lambda self, shader, entry, **kwargs: (
        entries.append(entry), original(self, shader, entry, **kwargs))[1])
    x = rng.uniform(-10, 10, (rows, width)).astype(np.float16)
    x[0, 0] = 60.0  # the max is subtracted in f32: exp(60 - 60), never exp(60) in f16
    dy = rng.uniform(-1, 1, (rows, width)).astype(np.float16)
    layer = SoftMax()

    def record(program, a):
        outputs = layer.propagate(program, a["x"])
        return [outputs, layer.back_propagate(program, a["dy"])]

    got = await run_programs(device, record, {"x": x, "dy": dy}, rows, MIXED_FLOAT16)
    assert entries == [f"forward{suffix}", f"backward{suffix}"]
    assert got[0].dtype == got[1].dtype == np.float16
    want = reference.softmax_forward(x.astype(np.float64))
    floor = MIXED_FLOAT16.stored_floor
    assert_close(got[0], want, 1e-3, scale=np.abs(want) + floor / 1e-3)
    # dE/dI = o (dE/dO - Σ dE/dO · o) reads o stored in f16: 2^-11 of each o (within rtol of
    # the terms) and, below f16's normal range, up to the floor absolute, which rtol can't cover.
    d = dy.astype(np.float64)
    dot = (np.abs(d) * want).sum(1, keepdims=True)
    terms = np.abs(want) * (np.abs(d) + dot)
    subnormal = floor * (np.abs(d) + dot + np.abs(want) * np.abs(d).sum(1, keepdims=True) + 1)
    assert_close(got[1], reference.softmax_backward(want, d), 1e-2, scale=terms + subnormal / 1e-2)


async def test_f16_rows_copy_from_word_boundaries_only(device, rng):
    """Buffer copies start on 4-byte words: f16 rows of odd width start 2 bytes past one at
    every odd row, which copy_rows refuses before encoding anything (gather those)."""
    source = rng.normal(size=(5, 3)).astype(np.float16)
    array = gpu.from_numpy(device, source, np.float16)
    assert [gather.copyable(array, start) for start in range(4)] == [True, False, True, False]

    def copy_two_rows(start):
        batch = gpu.empty(device, (2, 3), np.float16)
        encoder = device.handle.create_command_encoder()
        gather.copy_rows(encoder, array, start, batch)
        staged = gpu.StagedRead(device, encoder, [batch])
        device.submit(encoder)
        return staged.collect()[0]

    assert np.array_equal(await device.run(copy_two_rows, 2), source[2:4])  # 12 bytes: 3 words
    with pytest.raises(ValueError, match=r"copy_rows: row 1 of .* starts 2 bytes past a 4-byte "
                                         r"word.*record_gather with an identity permutation"):
        await device.run(copy_two_rows, 1)
    even = gpu.from_numpy(device, source[:, :2], np.float16)
    assert all(gather.copyable(even, start) for start in range(5))


GELU_FORWARD = {"activation": "gelu", "inputs_kept": False}


async def test_the_workbench_runs_builtin_kernels_in_mixed_float16(device, rng):
    """f16 bindings filled from any float array (rounded on the way), f32 math: GELU and
    SoftMax pass at f16's 1e-3 against the float64 function of the rounded inputs."""
    kernel = Kernel("layers/activation.wgsl", "forward", device=device, dtype="mixed_float16",
                    template=GELU_FORWARD)
    assert kernel.source.startswith("enable f16;") and "array<f16>" in kernel.source
    assert "fn gelu(x: f32, alpha: f32) -> f32" in kernel.source
    x = rng.uniform(-8, 8, 1001)  # float64 in, f16 bound: the reference sees the f16 values
    report = await kernel.check(lambda inputs, **_: {"outputs": reference.gelu_forward(inputs)},
                                rtol=1e-3, atol=MIXED_FLOAT16.stored_floor, inputs=x,
                                outputs=np.zeros_like(x), count=x.size, alpha=0.0)
    assert report.passed, str(report)
    outputs = (await kernel.run(inputs=x, outputs=np.zeros_like(x), count=x.size,
                                alpha=0.0))["outputs"]
    assert outputs.dtype == np.float16
    rows = rng.normal(size=(7, 33)) * 4
    softmax = Kernel("layers/softmax.wgsl", "forward", device=device, dtype="mixed_float16")
    report = await softmax.check(lambda inputs, **_: reference.softmax_forward(inputs),
                                 rtol=1e-3, atol=MIXED_FLOAT16.stored_floor, inputs=rows,
                                 shapes={"outputs": rows.shape}, count=rows.size, width=33,
                                 grid=1)
    assert report.passed, str(report)
    with pytest.raises(ValueError, match=r"70000.0 is beyond float16.s range \(±65504\)"):
        await kernel.run(inputs=np.array([7e4]), outputs=np.zeros(1), count=1, alpha=0.0)


async def test_check_defaults_to_the_f16_tolerance_in_mixed_float16(device, rng):
    """f16 results round by up to 2^-11 relative: float32's default rtol 1e-4 failed a right
    kernel; the default is the policy's 1e-3, which a 0.3% error still fails."""
    kernel = Kernel("layers/activation.wgsl", "forward", device=device, dtype="mixed_float16",
                    template=GELU_FORWARD)
    x = rng.uniform(1, 8, 301)
    values = {"inputs": x, "outputs": np.zeros_like(x), "count": x.size, "alpha": 0.0}
    report = await kernel.check(lambda inputs, **_: {"outputs": reference.gelu_forward(inputs)},
                                **values)
    assert report.passed and report.rtol == 1e-3, str(report)
    wrong = await kernel.check(lambda inputs, **_: {
        "outputs": reference.gelu_forward(inputs) * 1.003}, **values)
    assert not wrong.passed


async def test_a_device_without_shader_f16_is_refused_before_any_gpu_work(device, rng):
    without = masked(device, "shader-f16")
    kernel = Kernel("layers/activation.wgsl", "forward", device=without, dtype="mixed_float16",
                    template=GELU_FORWARD)  # construction reads the source only
    x = np.ones(4, np.float32)
    before = dict(device.stats)
    message = (rf"dtype: 'mixed_float16' needs the WebGPU feature 'shader-f16', which the "
               rf"adapter {re.escape(repr(device.name))} .* does not offer")
    with pytest.raises(ValueError, match=message):
        await kernel.run(inputs=x, outputs=x, count=4, alpha=0.0)
    with pytest.raises(ValueError, match=message):
        await check_gradients(TanH(), x.reshape(2, 2), device=without, dtype="mixed_float16")
    # float32's policy with a template of f16 elements: refused the same way, not compiled
    own = Kernel("layers/activation.wgsl", "forward", device=without,
                 template={**GELU_FORWARD, "dtype": "f16"})
    with pytest.raises(ValueError, match=r"template: dtype='f16' needs the WebGPU feature "
                                         r"'shader-f16', which the adapter"):
        await own.run(inputs=x, outputs=x, count=4, alpha=0.0)
    assert dict(device.stats) == before


# Kinks (ELU's and LeakyReLU's at 0) differ from finite differences within h = 2^-4 of them.
# Dense(3, 3): 9 kernel values, so the last one's word holds padding (the bias starts on its
# own aligned offset); f16 compute copy perturbed, f32 gradients read.
CHECKED = [lambda: Dense(3, 3), TanH, Sigmoid, GELU, lambda: ELU(0.5), SiLU, Softplus,
           SoftMax, lambda: LeakyReLU(0.2)]


@pytest.mark.parametrize("make", CHECKED, ids=["Dense", "TanH", "Sigmoid", "GELU", "ELU",
                                               "SiLU", "Softplus", "SoftMax", "LeakyReLU"])
async def test_check_gradients_in_mixed_float16(device, rng, make):
    """f16 forwards and backwards pass at rtol 1e-2 with step 2^-4."""
    x = rng.standard_normal((5, 3))
    x = np.where(np.abs(x) < 0.2, x + np.sign(x + 1e-9) * 0.2, x)  # 3h away from the kinks
    report = await check_gradients(make(), x, device=device, dtype="mixed_float16")
    assert report.passed, str(report)
    assert (report.step, report.rtol) == (STEPS["mixed_float16"], RTOLS["mixed_float16"])


async def test_a_mixed_float16_models_layer_is_checked_in_f16_by_default(device, rng):
    model = Model([Dense(3, 2), Softplus()], device=device, dtype="mixed_float16", seed=0)
    x = rng.standard_normal((5, 3))
    await model.predict(x.astype(np.float32))  # on the device: its f16 compute copy is read
    report = await check_gradients(model.layers[0], x)
    assert report.passed and report.step == STEPS["mixed_float16"], str(report)


async def test_check_gradients_in_f16_at_a_flat_point_where_outputs_round_alike(device, rng):
    """Near SiLU's minimum (x = -1.2785) f(v + h) and f(v - h) round to the same f16 value: the
    estimate is 0 by rounding, judged at its array's rounding noise, not at 0 (which failed the
    right backward's -3e-4 there)."""
    x = rng.uniform(0.5, 2.0, (5, 3))
    x[:, 0] = -1.27846 + np.array([8e-4, -8e-4, 1.5e-3, -1.5e-3, 2e-3])
    report = await check_gradients(SiLU(), x, device=device, dtype="mixed_float16")
    assert report.passed, str(report)


async def test_check_gradients_in_f16_where_no_perturbation_of_an_array_shows(device):
    """x = 40000: outputs near 20000 are f16 multiples of 16, so no bias step of 2^-4 moves
    any: grad_bias's estimates are rounding's 0, judged at every output's rounding (the right
    backward failed with 'max rel error 6e+27')."""
    report = await check_gradients(Dense(3, 2), np.full((2, 3), 40000.0), device=device,
                                   dtype="mixed_float16")
    assert report.passed, str(report)


async def test_check_gradients_in_f16_catches_a_backward_five_percent_off(device, rng,
                                                                          monkeypatch):
    layer = LeakyReLU(0.5)
    real = LeakyReLU.back_propagate

    def off(self, program, grad_outputs, **kwargs):
        alpha, self.alpha = self.alpha, self.alpha * 1.05
        try:
            return real(self, program, grad_outputs, **kwargs)
        finally:
            self.alpha = alpha

    x = -np.abs(rng.standard_normal((5, 4))) - 0.2  # every slope is alpha's
    assert (await check_gradients(layer, x, device=device, dtype="mixed_float16")).passed
    monkeypatch.setattr(LeakyReLU, "back_propagate", off)
    assert not (await check_gradients(layer, x, device=device, dtype="mixed_float16")).passed


@pytest.mark.parametrize("dtype", ["float16", "half", "mixed_bfloat16", np.float16])
async def test_dtype_names_other_than_the_policies_are_refused_by_name(device, dtype):
    message = (r"dtype: expected one of \['float32', 'float64', 'mixed_float16'\] \(Keras' "
               r"policy names\), received ")
    with pytest.raises(ValueError, match=message):
        Kernel("ops/gather.wgsl", dtype=dtype)
    with pytest.raises(ValueError, match=message):
        await check_gradients(TanH(), np.ones((1, 2)), device=device, dtype=dtype)
