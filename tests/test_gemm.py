"""The GEMM kernel: every tile configuration and every operand layout against the float64
reference at edge shapes, and the fused epilogues against the unfused path."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import gpu
from intricate.gpu import modules, shaders
from intricate.gpu.dtypes import FLOAT32, FLOAT64, MIXED_FLOAT16
from intricate.ops.gemm import CONFIGS, GemmConfig, SubgroupConfig, record_gemm, tuning
from intricate.ops.gemm import subgroup as gemm_subgroup
from intricate.ops.gemm import tiled as gemm
from intricate.ops.gemm.configs import DTYPE_CONFIGS

import reference
from harness import abs_matmul, assert_close, run_programs, skip_unsupported

SHAPES = [  # (m, n, k) named after the edge they probe
    pytest.param(1, 1, 1, id="one_by_one_by_one"),
    pytest.param(65, 63, 17, id="blocks_divide_shapes_unevenly"),
    pytest.param(2, 3, 1000, id="k_much_larger_than_m_times_n"),
    pytest.param(300, 1, 5, id="tall_and_skinny"),
    pytest.param(64, 40, 2064, id="split_k_with_16_byte_loads_and_a_short_last_chunk"),
    pytest.param(129, 130, 33, id="one_past_a_big_tile"),
    pytest.param(256, 256, 64, id="whole_tiles_with_16_byte_loads"),
    pytest.param(256, 128, 48, id="whole_tiles_odd_number_of_slabs"),
    pytest.param(192, 96, 40, id="aligned_with_partial_tiles"),
    pytest.param(68, 36, 100, id="texel_blocks_with_a_short_last_one_and_partial_rows"),
]
LAYOUTS = {  # a(m, i), b(i, n) strides for the Dense layer's three GEMM forms
    "forward x·W": (lambda m, n, k: (k, 1), lambda m, n, k: (n, 1)),
    "input gradient dY·Wᵀ": (lambda m, n, k: (k, 1), lambda m, n, k: (1, k)),
    "weight gradient xᵀ·dY": (lambda m, n, k: (1, m), lambda m, n, k: (n, 1)),
}


def strided(values: np.ndarray, strides: tuple[int, int], rows: int, cols: int) -> np.ndarray:
    """The flat buffer in which values[r, c] sits at r * strides[0] + c * strides[1]."""
    flat = np.zeros(rows * cols, values.dtype)
    for r in range(rows):
        flat[r * strides[0] + np.arange(cols) * strides[1]] = values[r]
    return flat


async def run_gemm(device, rng, m, n, k, layout, config=None, bias=False, activation=None,
                   derivative=None, column_sums=False, precision=FLOAT32):
    """Our GEMM (in ``precision``) and the float64 a @ b; also the bias, the activation outputs
    o given to a ``derivative`` epilogue, and Σ|a||b| (each entry's terms: assert_close's
    scale); checks the column sums of b when asked for."""
    a_strides, b_strides = (f(m, n, k) for f in LAYOUTS[layout])
    dtype = precision.numpy
    a = rng.uniform(-1, 1, (m, k)).astype(dtype)
    b = rng.uniform(-1, 1, (k, n)).astype(dtype)
    arrays = {"a": strided(a, a_strides, m, k), "b": strided(b, b_strides, k, n),
              "bias": rng.uniform(-1, 1, n).astype(dtype),
              "outputs": rng.uniform(-1, 1, (m, n)).astype(dtype)}

    def record(program, uploaded):
        c = gpu.empty(program.device, (m, n), dtype)
        sums = gpu.empty(program.device, (n,), dtype)
        record_gemm(program, uploaded["a"], uploaded["b"], c, m, n, k, a_strides, b_strides,
                    bias=uploaded["bias"] if bias else None, activation=activation,
                    derivative=derivative and (derivative, uploaded["outputs"]),
                    grad_bias=sums if column_sums else None, config=config)
        return [c, sums]

    got, sums = await run_programs(device, record, arrays, m, precision)
    want = a.astype(np.float64) @ b.astype(np.float64)
    if column_sums:
        assert_close(sums, b.astype(np.float64).sum(axis=0), precision.rtol,
                     scale=np.abs(b).sum(axis=0))
    return (got, want, arrays["bias"].astype(np.float64), arrays["outputs"].astype(np.float64),
            abs_matmul(a, b))


def cross_product(configs, config_id, kept: dict, home) -> list:
    """Every (m, n, k, layout, config): the slow tier runs them all. The default run keeps, for
    each config, ``home(config)``'s shape in one layout (the layouts in turn, so each kind runs),
    and the shapes ``kept[config]`` lists in every layout."""
    layouts = sorted(LAYOUTS)
    cases = []
    for shape in SHAPES:
        for layout in layouts:
            for index, config in enumerate(configs):
                default = shape.id in kept.get(config, ()) or (
                    shape.id == home(config) and layout == layouts[index % len(layouts)])
                cases.append(pytest.param(*shape.values, layout, config,
                                          id=f"{shape.id}-{layout}-{config_id(config)}",
                                          marks=() if default else pytest.mark.slow))
    return cases


# The default tier: the two-stage tile at 1, uneven, split-K (with 16-byte loads) and an odd
# number of slabs in every layout; every other tile on the uneven shape.
TILED_CASES = cross_product(
    CONFIGS, lambda c: f"{c.bm}x{c.bn}x{c.bk}s{c.side}{'_two_stage' * (c.stages == 2)}",
    {CONFIGS[0]: ("one_by_one_by_one", "blocks_divide_shapes_unevenly",
                  "split_k_with_16_byte_loads_and_a_short_last_chunk",
                  "whole_tiles_odd_number_of_slabs")},
    home=lambda config: "blocks_divide_shapes_unevenly")


@pytest.mark.parametrize("m,n,k,layout,config", TILED_CASES)
async def test_every_config_and_layout_matches_reference(device, rng, config, layout, m, n, k):
    if config.workgroup_bytes > device.limits["max-compute-workgroup-storage-size"]:
        pytest.skip(f"{config} needs more workgroup storage than this adapter has")
    got, want, _, _, scale = await run_gemm(device, rng, m, n, k, layout, config,
                                            column_sums=layout == "weight gradient xᵀ·dY")
    assert_close(got, want, scale=scale)


# float64: the same kernels rendered for f64 (vec4<f64> loads of 32 bytes, twice the workgroup
# memory: lavapipe's 32 KiB holds no two-stage tile of 16 threads a side), in every layout.
FLOAT64_CASES = [
    ("blocks_divide_shapes_unevenly", GemmConfig(64, 64, 16)),
    ("split_k_with_16_byte_loads_and_a_short_last_chunk", GemmConfig(64, 64, 16)),
    ("whole_tiles_with_16_byte_loads", GemmConfig(64, 64, 8, side=8, stages=2)),  # pipelined
    ("whole_tiles_odd_number_of_slabs", GemmConfig(64, 64, 16, side=8)),  # pipelined, one stage
    ("one_past_a_big_tile", GemmConfig(32, 32, 16, side=8)),
    # the f64-only tiles (configs.DTYPE_CONFIGS[8]): two stages of 4 × 4 and 8 × 8 blocks
    ("whole_tiles_with_16_byte_loads", GemmConfig(64, 64, 16, stages=2)),
    ("whole_tiles_odd_number_of_slabs", GemmConfig(64, 64, 16, side=8, stages=2)),
    ("whole_tiles_with_16_byte_loads", GemmConfig(32, 32, 16, side=8, stages=2)),
    ("one_by_one_by_one", SubgroupConfig()),
    ("blocks_divide_shapes_unevenly", SubgroupConfig(16, 4)),
    ("k_much_larger_than_m_times_n", SubgroupConfig(texels=True)),  # f64: never from texels
]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("shape,config", FLOAT64_CASES, ids=lambda value: str(value))
async def test_float64_gemm_matches_reference_to_1e_12(device, rng, shape, config, layout):
    skip_unsupported(device, FLOAT64)
    if isinstance(config, SubgroupConfig):
        needs_subgroup_kernel(device)
    elif config.bytes_for(8) > device.limits["max-compute-workgroup-storage-size"]:
        pytest.skip(f"{config} in f64 needs more workgroup storage than this adapter has")
    m, n, k = next(case.values for case in SHAPES if case.id == shape)
    got, want, _, _, scale = await run_gemm(device, rng, m, n, k, layout, config,
                                            column_sums=layout == "weight gradient xᵀ·dY",
                                            precision=FLOAT64)
    assert got.dtype == np.float64
    assert_close(got, want, FLOAT64.rtol, scale=scale)


# Texels: rows a multiple of 4 read a's texels of four rows too (xᵀ·dY); 3 rows can't.
SUBGROUP_CONFIGS = [SubgroupConfig(), SubgroupConfig(3, 1), SubgroupConfig(16, 4),
                    SubgroupConfig(texels=True), SubgroupConfig(12, 1, texels=True),
                    SubgroupConfig(3, 1, texels=True)]


def needs_subgroup_kernel(device) -> None:
    if not gemm_subgroup.usable(device):
        pytest.skip("the subgroup GEMM runs on software adapters with subgroups only")


TEXEL_SHAPE = "texel_blocks_with_a_short_last_one_and_partial_rows"
# The default tier: the default kernel at 1, uneven and K ≫ M·N, and the default texel kernel at
# uneven and its texel shape, in every layout; every other kernel on the uneven or texel shape.
SUBGROUP_CASES = cross_product(
    SUBGROUP_CONFIGS, lambda c: f"{c.rows}x{c.quads}{'_texels' * c.texels}",
    {SubgroupConfig(): ("one_by_one_by_one", "blocks_divide_shapes_unevenly",
                        "k_much_larger_than_m_times_n"),
     SubgroupConfig(texels=True): ("blocks_divide_shapes_unevenly", TEXEL_SHAPE)},
    home=lambda config: TEXEL_SHAPE if config.texels else "blocks_divide_shapes_unevenly")


@pytest.mark.parametrize("m,n,k,layout,config", SUBGROUP_CASES)
async def test_subgroup_kernel_matches_reference(device, rng, config, layout, m, n, k):
    needs_subgroup_kernel(device)
    got, want, _, _, scale = await run_gemm(device, rng, m, n, k, layout, config,
                                            column_sums=layout == "weight gradient xᵀ·dY")
    assert_close(got, want, scale=scale)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_subgroup_kernel_takes_16_byte_loads_and_texels_when_aligned(device, layout,
                                                                    monkeypatch):
    needs_subgroup_kernel(device)
    chosen, original = [], gemm_subgroup.template
    monkeypatch.setattr(gemm_subgroup, "template", lambda *args: (
        chosen.append((args[2], args[7])), original(*args))[1])

    def record(size: int, texels: bool) -> gpu.Program:
        program = gpu.Program(gpu.Workspace(device, size))
        a, b, c = (gpu.empty(device, (size, size)) for _ in range(3))
        record_gemm(program, a, b, c, size, size, size,
                    *(f(size, size, size) for f in LAYOUTS[layout]),
                    config=SubgroupConfig(texels=texels))
        return program

    await device.run(record, 64, False)
    await device.run(record, 63, False)  # rows that don't start on 16-byte boundaries
    texel_program = await device.run(record, 64, True)
    await device.run(record, 63, True)  # nor on texels: no copies
    # b = W (row-major): vec4s of columns; b = Wᵀ: vec4s of k; misaligned: scalar loads.
    # Texels: four k's of a row of a = x or dY; four rows of a = xᵀ at one k.
    b_expected = "k" if layout == "input gradient dY·Wᵀ" else "n"
    a_expected = "m" if layout == "weight gradient xᵀ·dY" else "k"
    assert chosen == [(b_expected, None), (None, None), (b_expected, a_expected), (None, None)]
    # The texel program copies both operands, then runs one dispatch.
    kinds = [type(step).__name__ for step in texel_program.steps]
    assert kinds == ["TexelCopy", "TexelCopy", "Dispatch"]


async def test_subgroup_kernel_refuses_hardware_adapters(device, monkeypatch):
    monkeypatch.setattr(gemm_subgroup, "usable", lambda device: False)
    program = gpu.Program(gpu.Workspace(device, 4))
    a = await device.run(gpu.empty, device, (4, 4))
    with pytest.raises(ValueError, match="runs only on software adapters with subgroups"):
        record_gemm(program, a, a, a, 4, 4, 4, (4, 1), (4, 1), config=SubgroupConfig())


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_aligned_operands_take_the_16_byte_loads(device, layout, monkeypatch):
    m = n = k = 256
    a_strides, b_strides = (f(m, n, k) for f in LAYOUTS[layout])
    chosen, original = [], gemm.template
    monkeypatch.setattr(gemm, "template", lambda *args, **kwargs: (
        chosen.append((kwargs["a_vec4"], kwargs["b_vec4"])), original(*args, **kwargs))[1])

    def record(aligned: int):
        program = gpu.Program(gpu.Workspace(device, m))
        a, b, c = (gpu.empty(device, (aligned, aligned)) for _ in range(3))
        config = gemm.choose(aligned, aligned, device.limits["max-compute-workgroup-storage-size"])
        record_gemm(program, a, b, c, aligned, aligned, aligned,
                    *(f(aligned, aligned, aligned) for f in LAYOUTS[layout]), config=config)

    await device.run(record, 256)
    await device.run(record, 255)  # rows that don't start on 16-byte boundaries
    assert chosen == [(True, True), (False, False)]
    monkeypatch.undo()

    config = GemmConfig(128, 128, 16)
    values = gemm.template(config, a_strides[1] == 1, b_strides[1] == 1, False, None,
                           a_vec4=True, b_vec4=True)
    compiled = await device.run(shaders.kernel, device, "ops/gemm/tiled.wgsl", "gemm", dtype="f32",
                                **values)
    assert {"a4", "b4"} <= compiled.bindings.keys()
    assert "a4[" in values["load_inside"] and "b4[" in values["load_inside"]
    assert "a4[" not in values["load_edge"]  # edge tiles keep their bounds-checked loads


EPILOGUE_CASES = [  # (shape, kernel)
    pytest.param((70, 33, 20), "tiled", id="one_pass"),
    pytest.param((70, 33, 1100), "tiled", id="split_k"),  # the epilogue in sum_splits
    pytest.param((70, 33, 20), "subgroup", id="subgroup_kernel"),
]


def epilogue_cases(activations: list) -> list:
    """Every (activation, shape, kernel): the default tier keeps every activation in one pass,
    and split-K and the subgroup kernel with every other activation (in turn); the rest is slow."""
    return [pytest.param(activation, *case.values, id=f"{activation}-{case.id}",
                         marks=() if case.id == "one_pass" or index % 2 == position % 2
                         else pytest.mark.slow)
            for index, activation in enumerate(activations)
            for position, case in enumerate(EPILOGUE_CASES)]


def epilogue_config(device, shape, kernel):
    """The configuration the epilogue tests force: the tiled kernel's heuristic choice, or the
    subgroup kernel (skipped where it doesn't run)."""
    if kernel == "subgroup":
        needs_subgroup_kernel(device)
        return SubgroupConfig()
    return gemm.choose(shape[0], shape[1], device.limits["max-compute-workgroup-storage-size"])


@pytest.mark.parametrize("activation,shape,kernel",
                         epilogue_cases([None, "relu", "hyperbolic_tangent", "sigmoid"]))
async def test_fused_bias_and_activation_equal_the_unfused_path(device, rng, activation, shape,
                                                                kernel):
    got, want, bias, _, scale = await run_gemm(device, rng, *shape, "forward x·W",
                                               epilogue_config(device, shape, kernel),
                                               bias=True, activation=activation)
    forward = {None: lambda v: v, "relu": reference.relu_forward,
               "hyperbolic_tangent": reference.tanh_forward,
               "sigmoid": reference.sigmoid_forward}[activation]
    slope = {None: lambda z: 1.0, "relu": lambda z: (z > 0) * 1.0,
             "hyperbolic_tangent": lambda z: 1 - np.tanh(z) ** 2,
             "sigmoid": lambda z: reference.sigmoid_forward(z) * reference.sigmoid_forward(-z),
             }[activation]
    # the sum's rounding, at the size of its terms, carried through f by its slope
    z = want + bias
    assert_close(got, forward(z), scale=np.abs(forward(z)) + slope(z) * (scale + np.abs(bias)))


@pytest.mark.parametrize("activation,shape,kernel",
                         epilogue_cases(["relu", "hyperbolic_tangent", "sigmoid"]))
async def test_fused_activation_derivative_equals_the_activation_backward(device, rng, activation,
                                                                          shape, kernel):
    got, want, _, outputs, scale = await run_gemm(device, rng, *shape, "input gradient dY·Wᵀ",
                                                  epilogue_config(device, shape, kernel),
                                                  derivative=activation)
    if activation == "relu":
        outputs = np.maximum(outputs, 0)  # ReLU outputs are never negative
    backward = {"relu": reference.relu_backward, "hyperbolic_tangent": reference.tanh_backward,
                "sigmoid": reference.sigmoid_backward}[activation]
    assert_close(got, backward(outputs, want), scale=np.abs(backward(outputs, scale)))


def test_config_choice_fits_the_device_and_the_shape():
    assert gemm.choose(4096, 4096, 49152) == GemmConfig(128, 128, 16, stages=2)
    assert gemm.choose(4096, 4096, 32768) == GemmConfig(128, 128, 8, stages=2)
    assert gemm.choose(4, 3, 49152) == GemmConfig(32, 32, 16, side=8)
    assert gemm.choose(1024, 1024, 49152) == GemmConfig(64, 64, 16)  # 256 tiles of 64²
    assert gemm.choose(4096, 4096, 16384).workgroup_bytes <= 16384
    # Workgroup bytes per element size: f16 slabs half of f32's, widened ones f32's, f64 twice.
    tile, widened = GemmConfig(128, 128, 16, stages=2), GemmConfig(128, 128, 16, 16, 2, True)
    assert 2 * tile.bytes_for(2) == tile.bytes_for(4) == widened.bytes_for(2) == 4 * 16 * 264 * 2
    assert tile.bytes_for(8) == widened.bytes_for(8) == 2 * tile.bytes_for(4)
    assert gemm.choose(4096, 4096, 49152, itemsize=2) == widened  # f16: f32's tile, widened
    assert gemm.choose(4096, 4096, 49152, itemsize=8) == GemmConfig(128, 128, 8, stages=2)
    with pytest.raises(ValueError, match="GemmConfig: expected side 8 or 16"):
        GemmConfig(32, 64, 16)
    with pytest.raises(ValueError, match="GemmConfig: expected side 8 or 16"):
        GemmConfig(128, 128, 16, side=8)
    with pytest.raises(ValueError, match="GemmConfig: expected side 8 or 16"):
        GemmConfig(512, 128, 16)
    # Software adapters: the biggest tile the output fills, never a tuning run.
    assert gemm.choose_on_cpu(4096, 512, 32768) == GemmConfig(256, 128, 16)
    assert gemm.choose_on_cpu(128, 512, 32768) == GemmConfig(128, 128, 16)
    assert gemm.choose_on_cpu(128, 10, 32768) == GemmConfig(32, 32, 16, side=8)
    assert gemm.choose_on_cpu(4096, 4096, 16384).workgroup_bytes <= 16384
    # K is split only when it is long and the output has few tiles; the chunks cover K.
    assert gemm.split_k(GemmConfig(64, 64, 16), 4096, 4096, 4096) == (1, 4096)
    assert gemm.split_k(GemmConfig(64, 64, 16), 784, 512, 128) == (1, 128)  # K < SPLIT_FROM_K
    # A b128 layer's GEMM (16 tiles): up to 2 · ENOUGH_WORKGROUPS workgroups, chunks of at least
    # SPLIT_MIN_K: 6 chunks of 144 (9 slabs) cover 784.
    assert gemm.split_k(GemmConfig(64, 64, 16), 128, 512, 784) == (6, 144)
    for config in CONFIGS:
        splits, chunk = gemm.split_k(config, 64, 40, 2064)  # the split-K edge shape above
        assert splits > 1 and chunk % config.bk == 0 and (splits - 1) * chunk < 2064 <= \
            splits * chunk
    with pytest.raises(ValueError, match="stages 1 or 2"):
        GemmConfig(128, 128, 16, stages=3)
    with pytest.raises(ValueError, match="activation: expected one of"):
        gemm.record_gemm(None, None, None, None, 1, 1, 1, (1, 1), (1, 1), activation="gelu_typo")
    # The subgroup kernel: two vec4s of columns per lane, one when the output is narrower.
    # Texels from TEXELS_FROM multiply-adds on.
    assert gemm_subgroup.choose(128, 512, 64, 8) == SubgroupConfig(32, 2, texels=True,
                                                                  transposed_a=(64, 1))
    assert gemm_subgroup.choose(128, 512, 63, 8) == SubgroupConfig(32, 2)
    # A 10-wide output from texels (a's texels, b's scalar loads): 64 rows share each b load.
    assert gemm_subgroup.choose(4096, 10, 512, 8) == SubgroupConfig(64, 1, texels=True)
    assert gemm_subgroup.choose(128, 10, 512, 8) == SubgroupConfig(32, 1)
    with pytest.raises(ValueError, match="SubgroupConfig: expected rows from 1 to 64"):
        SubgroupConfig(0, 2)
    with pytest.raises(ValueError, match="quads 1, 2 or 4"):
        SubgroupConfig(16, 3)


@pytest.mark.parametrize("precision", [FLOAT32, FLOAT64, MIXED_FLOAT16], ids=lambda p: p.name)
async def test_the_tuner_is_offered_each_dtypes_own_tiles(device, monkeypatch, precision):
    """f16 and f64 tiles (DTYPE_CONFIGS) compete beside the shared ones, within the device's
    workgroup storage at that element size; float32 keeps exactly the shared list."""
    offered = []

    class Tuner:
        def choose(self, *args):
            offered.extend(args[8])
            return args[8][0]

    monkeypatch.setenv(tuning.ENVIRONMENT, "on")
    monkeypatch.setattr(tuning, "SMALLEST_TUNED", 0)
    monkeypatch.setattr(tuning.Tuner, "of", lambda device: Tuner())
    a = await device.run(gpu.empty, device, (64, 64), precision.numpy)
    await device.run(gemm.select, device, a, a, a, 64, 64, 64, (64, 1), (64, 1), precision)
    limit = device.limits["max-compute-workgroup-storage-size"]
    itemsize = precision.itemsize
    tiles = [config for config in offered if isinstance(config, GemmConfig)]
    assert tiles == [config for config in CONFIGS + DTYPE_CONFIGS.get(itemsize, ())
                     if config.bytes_for(itemsize) <= limit]
    assert all(config.bytes_for(itemsize) <= limit for config in tiles)
    assert any(config not in CONFIGS for config in tiles) == (itemsize != 4)


async def test_gemm_compiles_without_runtime_checks_unless_asked(device, monkeypatch):
    """gemm.wgsl is built by wgpu-native's trusted entry point (no index clamps); the
    INTRICATE_SHADER_CHECKS switch brings the checked path back."""
    built = []
    original = modules._unchecked_module
    monkeypatch.setattr(modules, "_unchecked_module", lambda *args: built.append(
        original(*args)) or built[-1])
    source = "@compute @workgroup_size(1) fn main() {}"
    tiled = "ops/gemm/tiled.wgsl"
    assert await device.run(modules.shader_module, device.handle, tiled, source) is built[0]
    assert built[0] is not None  # this wgpu-native has wgpuDeviceCreateShaderModuleTrusted
    monkeypatch.setenv("INTRICATE_SHADER_CHECKS", "on")
    await device.run(modules.shader_module, device.handle, "ops/gemm/tiled.wgsl", source)
    await device.run(modules.shader_module, device.handle, "dense.wgsl", source)
    assert len(built) == 1


async def test_software_adapters_never_tune(device, monkeypatch):
    if device.adapter_info.get("adapter_type") != "CPU":
        pytest.skip("a hardware adapter tunes")
    monkeypatch.delenv(tuning.ENVIRONMENT)  # the default: tuning on, but not here
    monkeypatch.setattr(tuning.Tuner, "of", lambda device: pytest.fail("tuned on a CPU adapter"))
    a, b, c = [await device.run(gpu.empty, device, (512, 512)) for _ in range(3)]
    chosen = gemm.select(device, a, b, c, 512, 512, 512, (512, 1), (512, 1))
    if gemm_subgroup.usable(device):
        assert chosen == gemm_subgroup.choose(512, 512, 512, gemm_subgroup.width(device))
    else:
        assert chosen == gemm.choose_on_cpu(512, 512,
                                            device.limits["max-compute-workgroup-storage-size"])
