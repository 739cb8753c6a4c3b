"""The GEMM in mixed_float16: f16 operands, f32 sums, c in f16 (forward y, dX) or f32 (dW and its
column sums, into the f32 gradient buffer), for both kernels, against the NumPy float64 product
of the f16-rounded operands. Bounds: rtol 1e-3 of Σ|a||b| plus c's own f16 rounding; f32 outputs
to 1e-5, which only f32 accumulation over the whole K meets (K = 4096 sums of values near 1)."""

from __future__ import annotations

import numpy as np
import pytest
from test_gemm import LAYOUTS, needs_subgroup_kernel, strided

from intricate import gpu
from intricate.gpu.dtypes import MIXED_FLOAT16
from intricate.ops import loops
from intricate.ops.gemm import GemmConfig, SubgroupConfig, record_gemm
from intricate.ops.gemm import tiled as gemm
from intricate.ops.gemm.configs import DTYPE_CONFIGS

import reference
from harness import abs_matmul, assert_close, run_programs, skip_unsupported

RTOL = MIXED_FLOAT16.rtol
# c's own f16 rounding: 2^-11 of |c|, and at least half f16's smallest subnormal, 2^-25
ROUNDING, SMALLEST_ROUNDING = 2.0 ** -11, MIXED_FLOAT16.stored_floor
F32_RTOL = 1e-5  # f32 sums of K terms near 1: ~sqrt(K)·2^-24 relative; f16 sums: ~1e-3
FORWARD, DX, DW = "forward x·W", "input gradient dY·Wᵀ", "weight gradient xᵀ·dY"
# activation → (f(z), f'(x, o) as the dX epilogue computes it from x and o = f(x))
ACTIVATIONS = {
    "relu": (reference.relu_forward, lambda x, o: (o > 0) * 1.0),
    "hyperbolic_tangent": (np.tanh, lambda x, o: 1 - o ** 2),
    "gelu": (reference.gelu_forward, lambda x, o: reference.gelu_derivative(x)),
}
KERNELS = ["tiled", "tiled_widened", "subgroup"]  # widened: f16 staged into f32 slabs


def f16_scale(scale, want):
    """assert_close's scale at RTOL for an f16 c: the sum's bound plus c's rounding."""
    return np.asarray(scale) + (ROUNDING * np.abs(want) + SMALLEST_ROUNDING) / RTOL


def kernel_config(device, kernel: str, config: GemmConfig | None = None):
    """The configuration a test forces: a tile (the tiled kernel of GPUs, which lavapipe runs
    too when asked), or the subgroup kernel (skipped where it doesn't run)."""
    skip_unsupported(device, MIXED_FLOAT16)
    if kernel == "subgroup":
        needs_subgroup_kernel(device)
        return SubgroupConfig()
    return config or GemmConfig(32, 32, 16, side=8, widened=kernel == "tiled_widened")


async def run_f16(device, rng, m, n, k, layout, config, low=-1.0, bias=False, activation=None,
                  derivative=None):
    """Our GEMM in a mixed_float16 program (c f32 with column sums for dW, else f16), and the
    float64 references from the f16-rounded values: a @ b, Σ|a||b|, bias, and for a derivative
    epilogue x (activation_inputs when it reads x) and o = f(x) (activation_outputs)."""
    a_strides, b_strides = (f(m, n, k) for f in LAYOUTS[layout])
    a = rng.uniform(low, 1, (m, k)).astype(np.float16)
    b = rng.uniform(low, 1, (k, n)).astype(np.float16)
    x = rng.uniform(-2, 2, (m, n)).astype(np.float16)
    o = (ACTIVATIONS[derivative][0](x.astype(np.float64)).astype(np.float16) if derivative
         else x)
    arrays = {"a": strided(a, a_strides, m, k), "b": strided(b, b_strides, k, n),
              "bias": rng.uniform(-1, 1, n).astype(np.float16), "x": x, "o": o}
    weight_gradient = layout == DW
    output = np.float32 if weight_gradient else np.float16

    def record(program, uploaded):
        c = gpu.empty(program.device, (m, n), output)
        sums = gpu.empty(program.device, (n,), output)
        kept = gpu.empty(program.device, (m, n), np.float16)
        record_gemm(program, uploaded["a"], uploaded["b"], c, m, n, k, a_strides, b_strides,
                    bias=uploaded["bias"] if bias else None, activation=activation,
                    derivative=derivative and (derivative, uploaded["o"], uploaded["x"]
                                               if derivative == "gelu" else None),
                    grad_bias=sums if weight_gradient else None, config=config,
                    pre_activations=kept if activation == "gelu" else None)
        return [c, sums, kept]

    c, sums, kept = await run_programs(device, record, arrays, m, MIXED_FLOAT16)
    assert c.dtype == output
    wide = {name: arrays[name].astype(np.float64) for name in ("bias", "x", "o")}
    return {"c": c, "sums": sums, "kept": kept, "want": a.astype(np.float64) @ b,
            "scale": abs_matmul(a, b), "b": b.astype(np.float64), **wide}


SHAPES = [  # (m, n, k) named after the edge they probe, for a 32 × 32 tile
    pytest.param(1, 1, 1, id="one_by_one_by_one"),
    pytest.param(33, 31, 17, id="workgroup_plus_and_minus_one"),
    pytest.param(65, 63, 40, id="blocks_divide_shapes_unevenly"),
    pytest.param(64, 64, 64, id="whole_tiles_with_8_byte_vec4_loads"),
]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("kernel", KERNELS)
async def test_every_dense_gemm_form_matches_the_f16_rounded_product(device, rng, kernel, m, n,
                                                                     k, layout):
    config = kernel_config(device, kernel)
    got = await run_f16(device, rng, m, n, k, layout, config)
    if layout == DW:  # f32 c and column sums: f32 sums, f32 rounding
        assert_close(got["c"], got["want"], F32_RTOL, scale=got["scale"])
        assert_close(got["sums"], got["b"].sum(axis=0), F32_RTOL,
                     scale=np.abs(got["b"]).sum(axis=0))
    else:
        assert_close(got["c"], got["want"], RTOL, scale=f16_scale(got["scale"], got["want"]))


@pytest.mark.parametrize("split", [False, True], ids=["whole_k", "split_k"])
@pytest.mark.parametrize("kernel", KERNELS)
async def test_f32_weight_gradient_sums_4096_terms_in_f32(device, rng, monkeypatch, kernel,
                                                           split):
    """Terms in [0.5, 1): the sums reach ~3000, where f16's spacing is 2; an f16 accumulator
    (over the whole K, or a chunk of it) misses by far more than 1e-5."""
    config = kernel_config(device, kernel)
    force_split(monkeypatch, kernel, split)
    got = await run_f16(device, rng, 8, 12, 4096, DW, config, low=0.5)
    assert_close(got["c"], got["want"], F32_RTOL)
    assert_close(got["sums"], got["b"].sum(axis=0), F32_RTOL)


def force_split(monkeypatch, kernel: str, split: bool) -> None:
    """Split K (or not) whatever the shape: the tiled kernel splits a long K of a small output
    from SPLIT_FROM_K on, the subgroup kernel beyond its loop bound."""
    if kernel != "subgroup":
        monkeypatch.setattr(gemm, "SPLIT_FROM_K", 1024 if split else 1 << 30)
    elif split:
        monkeypatch.setattr(loops, "LOOP_BOUND", 64)  # chunks of 16 blocks of 4·W


@pytest.mark.parametrize("split", [False, True], ids=["one_pass", "split_k"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("kernel", KERNELS)
async def test_fused_bias_and_activation_in_f16(device, rng, monkeypatch, kernel, activation,
                                                split):
    config = kernel_config(device, kernel)
    force_split(monkeypatch, kernel, split)
    got = await run_f16(device, rng, 37, 20, 1100 if split else 24, FORWARD, config, bias=True,
                        activation=activation)
    function, derivative = ACTIVATIONS[activation]
    z = got["want"] + got["bias"]
    z_scale = got["scale"] + np.abs(got["bias"])
    if activation == "gelu":  # x kept for the backward, rounded to f16
        assert_close(got["kept"], z, RTOL, scale=f16_scale(z_scale, z))
    # relu: slope 1 on both sides of its kink (a z of ~0 may round across it)
    slope = np.ones_like(z) if activation == "relu" else np.abs(derivative(z, function(z)))
    want = function(z)
    assert_close(got["c"], want, RTOL, scale=f16_scale(slope * z_scale, want))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("kernel", KERNELS)
async def test_fused_activation_derivative_in_f16(device, rng, kernel, activation):
    config = kernel_config(device, kernel)
    got = await run_f16(device, rng, 37, 20, 24, DX, config, derivative=activation)
    slope = ACTIVATIONS[activation][1](got["x"], got["o"])
    want = got["want"] * slope
    assert_close(got["c"], want, RTOL, scale=f16_scale(np.abs(slope) * got["scale"], want))


F16_TILES = [GemmConfig(128, 128, 16, stages=2), GemmConfig(64, 64, 16), *DTYPE_CONFIGS[2]]


@pytest.mark.parametrize("config", F16_TILES, ids=str)
async def test_whole_f16_tiles_take_the_vec4_loads(device, rng, monkeypatch, config):
    """f16 rows of 4 elements are 8 bytes: aligned operands load vec4<f16>, and every tile (the
    f16-only ones too, f16 or widened slabs, pipelined in one or two stages) computes right."""
    skip_unsupported(device, MIXED_FLOAT16)
    if config.bytes_for(2) > device.limits["max-compute-workgroup-storage-size"]:
        pytest.skip(f"{config} in f16 needs more workgroup storage than this adapter has")
    chosen, original = [], gemm.template
    monkeypatch.setattr(gemm, "template", lambda *args, **kwargs: (
        chosen.append((kwargs["a_vec4"], kwargs["b_vec4"])), original(*args, **kwargs))[1])
    got = await run_f16(device, rng, 256, 256, 64, FORWARD, config)
    assert chosen == [(True, True)]
    assert_close(got["c"], got["want"], RTOL, scale=f16_scale(got["scale"], got["want"]))


async def test_mismatched_dtypes_are_refused_before_any_gpu_work(device):
    skip_unsupported(device, MIXED_FLOAT16)

    def attempt(a_dtype, c_dtype, sums_dtype=None):
        program = gpu.Program(gpu.Workspace(device, 4, MIXED_FLOAT16))
        a, c = gpu.empty(device, (4, 4), a_dtype), gpu.empty(device, (4, 4), c_dtype)
        sums = sums_dtype and gpu.empty(device, (4,), sums_dtype)
        try:
            record_gemm(program, a, a, c, 4, 4, 4, (4, 1), (4, 1), grad_bias=sums)
        finally:
            assert program.steps == []

    with pytest.raises(ValueError, match=r"a: expected float16 \(the program's mixed_float16 "
                                         r"elements\), received float32; convert it first"):
        await device.run(attempt, np.float32, np.float16)
    with pytest.raises(ValueError, match=r"c: expected float16 or float32 \(mixed_float16\), "
                                         r"received float64"):
        await device.run(attempt, np.float16, np.float64)
    with pytest.raises(ValueError, match="grad_bias: expected c's dtype float32, received "
                                         "float16"):
        await device.run(attempt, np.float16, np.float32, np.float16)


@pytest.mark.parametrize("kernel", KERNELS)
async def test_sums_past_f16s_range_stay_f32_and_round_to_inf_only_in_f16_outputs(device, kernel):
    """Rows of 65504 (f16's max) beside 1, -65504 and 2^-24 (its smallest subnormal): f32 sums
    hold 131008 and the cancelled 0 exactly, the subnormal survives; an f16 c of 131008 is inf,
    as PyTorch's float16 matmul gives (the loss scale's non-finite check then skips the step)."""
    config = kernel_config(device, kernel)
    a = np.array([[65504, 65504, 0], [65504, -65504, 2.0**-24]], np.float16)
    b = np.array([[1, 1], [1, 1], [1, 0.5]], np.float16)

    def record(program, uploaded):
        outputs = [gpu.empty(program.device, (2, 2), dtype) for dtype in (np.float32, np.float16)]
        for c in outputs:
            record_gemm(program, uploaded["a"], uploaded["b"], c, 2, 2, 3, (3, 1), (2, 1),
                        config=config)
        return outputs

    wide, narrow = await run_programs(device, record, {"a": a, "b": b}, 2, MIXED_FLOAT16)
    np.testing.assert_array_equal(wide, [[131008, 131008], [2.0**-24, 2.0**-25]])
    np.testing.assert_array_equal(narrow, [[np.inf, np.inf], [2.0**-24, 0]])


@pytest.mark.parametrize("kernel", KERNELS)
async def test_an_operand_viewed_from_an_unbindable_offset_is_refused_by_name(device, kernel):
    """An f16 view at an odd element (2 bytes in): a ValueError naming the operand and the
    device's alignment when recorded, not wgpu's validation error from the bind group."""
    config = kernel_config(device, kernel)
    align = device.limits["min-storage-buffer-offset-alignment"]

    def attempt(start):
        program = gpu.Program(gpu.Workspace(device, 4, MIXED_FLOAT16))
        flat = gpu.empty(device, (64,), np.float16)
        c = gpu.empty(device, (4, 4), np.float16)
        record_gemm(program, flat.view(0, (4, 4)), flat.view(start, (4, 4)), c, 4, 4, 4,
                    (4, 1), (4, 1), config=config)
        return len(program.steps)

    assert await device.run(attempt, align // 2) == 1  # an aligned view binds
    with pytest.raises(ValueError, match=rf"gemm: b starts at byte 2 of its buffer; this device "
                                         rf"binds storage only at multiples of {align} bytes"):
        await device.run(attempt, 1)
