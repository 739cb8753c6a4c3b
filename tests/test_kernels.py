"""The kernel workbench (intricate.kernels.Kernel): user WGSL run from NumPy by binding name,
checked against float64 references, timed by GPU timestamps; compile errors with file, line,
column and caret; every bad input refused before any GPU work; buffers reused; built-in shaders
run through it give the engine's results."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from intricate import gpu
from intricate.gpu import shaders
from intricate.gpu import timing as timing_module
from intricate.kernels import Kernel, KernelCompileError, WGSLSource
from intricate.kernels.report import compare
from intricate.layers import ELU

from harness import run_programs

# One invocation per element, the index rebuilt from a grid folded over x and y (as the
# built-in kernels do), so any size works.
SCALE = """
struct Params {
    n: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override workgroup_size: u32 = 64;

@compute @workgroup_size(workgroup_size)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let i = (group.x + group.y * groups.x) * workgroup_size + lane;
    if (i >= params.n) { return; }
    y[i] = x[i] * params.scale;
}
"""
WRONG_AT = 37
WRONG = SCALE.replace("y[i] = x[i] * params.scale;",
                      f"y[i] = x[i] * params.scale + select(0.0, 1.0, i == {WRONG_AT}u);")

# vec4 elements, a uniform with a vec4 field (at offset 16), a 2-D workgroup.
SHIFT = """
struct Shift { count: u32, offset: vec4<f32> }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> shift: Shift;
@compute @workgroup_size(4, 2)
fn shift_rows(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
    let i = id.y * n.x * 4u + id.x;
    if (i < shift.count) { y[i] = x[i] + shift.offset; }
}
"""


def scaled(x, n, scale):
    return {"y": x * scale}


def counters(device) -> dict[str, int]:
    return {name: device.stats[name]
            for name in ("dispatches", "submits", "uploads", "readbacks", "live_buffers")}


async def test_a_kernel_is_read_before_any_gpu_work():
    kernel = Kernel(SCALE)  # no device: reflection is pure Python
    assert kernel.device is None and kernel.entry == "main" and kernel.origin == "<source>"
    assert [(b.name, b.binding, b.kind, b.access, b.element_type) for b in kernel.bindings] == [
        ("x", 0, "storage", "read", "f32"), ("y", 1, "storage", "read_write", "f32"),
        ("params", 2, "uniform", None, "Params")]
    assert kernel.params == [("n", "u32"), ("scale", "f32")]
    assert kernel.workgroup_size == (64, 1, 1)
    assert Kernel(SCALE, constants={"workgroup_size": 32}).workgroup_size == (32, 1, 1)
    assert Kernel(SHIFT).workgroup_size == (4, 2, 1)
    with pytest.raises(ValueError, match=r"constants \['tile'\] are not override constants"):
        Kernel(SCALE, constants={"tile": 8})


async def test_a_correct_kernel_passes_and_a_wrong_one_names_its_worst_index(device, rng):
    x = rng.standard_normal(100).astype(np.float32)
    report = await Kernel(SCALE, device=device).check(scaled, x=x, n=100, scale=3.0,
                                                      shapes={"y": (100,)})
    assert report.passed and report["y"].max_abs_error < 1e-5 and "passed" in str(report)
    wrong = await Kernel(WRONG, device=device).check(scaled, x=x, n=100, scale=3.0,
                                                     shapes={"y": (100,)})
    assert not wrong.passed and wrong["y"].worst_index == (WRONG_AT,)
    assert wrong["y"].failures == 1 and wrong["y"].max_abs_error == pytest.approx(1.0)
    assert "FAIL y:" in str(wrong) and f"worst at [{WRONG_AT}]" in str(wrong)


async def test_references_get_float64_and_may_return_one_array(device, rng):
    seen = {}

    def reference(x, n, scale):
        seen["dtype"] = x.dtype
        return x * scale  # one array: the kernel's only output

    x = rng.standard_normal(7).astype(np.float32)
    report = await Kernel(SCALE, device=device).check(reference, x=x, n=7, scale=0.5,
                                                      shapes={"y": (7,)})
    assert report.passed and seen["dtype"] == np.float64
    with pytest.raises(ValueError, match=r"returned \['z'\]; the outputs .* are \['y'\]"):
        await Kernel(SCALE, device=device).check(lambda **_: {"z": x}, x=x, n=7, scale=0.5,
                                                 shapes={"y": (7,)})


@pytest.mark.parametrize("size", [1, 63, 64, 65])
async def test_edge_sizes_around_the_workgroup(device, rng, size):
    x = rng.standard_normal(size).astype(np.float32)
    kernel = Kernel(SCALE, device=device, constants={"workgroup_size": 64})
    report = await kernel.check(scaled, x=x, n=size, scale=-2.0, shapes={"y": (size,)})
    assert report.passed, str(report)


async def test_a_grid_past_65535_workgroups_in_x_is_folded(device, rng):
    size = gpu.program.MAX_GROUPS + 2  # one invocation per workgroup: 65537 workgroups
    x = rng.standard_normal(size).astype(np.float32)
    kernel = Kernel(SCALE, device=device, constants={"workgroup_size": 1})
    before = device.stats["dispatches"]
    outputs = await kernel.run(x=x, n=size, scale=2.0, shapes={"y": (size,)})
    np.testing.assert_array_equal(outputs["y"], 2 * x)  # the last two elements too
    assert device.stats["dispatches"] - before == 1
    (_, arrays), = kernel._prepared.values()
    grid = next(iter(kernel._prepared))[0]
    assert grid == (gpu.program.MAX_GROUPS, 2, 1) and arrays["y"].shape == (size,)


async def test_vec4_elements_a_vec4_uniform_field_and_a_2d_workgroup(device, rng):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    offset = np.array([1, 2, 3, 4], np.float32)
    kernel = Kernel(SHIFT, device=device)
    outputs = await kernel.run(x=x, count=10, offset=offset, shapes={"y": (10, 4)})
    np.testing.assert_array_equal(outputs["y"], x + offset)
    # The grid: x along the last axis in vec4 elements (1 of them, 4 lanes), y over 10 rows.
    assert next(iter(kernel._prepared))[0] == (1, 5, 1)


async def test_parse_errors_point_at_file_line_column_with_a_caret(device):
    text = "@compute @workgroup_size(1)\nfn main() {\n    let x: f32 = 1.0\n}\n"
    error = await compile_error(device, text)
    assert (error.kind, error.origin, error.line, error.column) == ("parse", "<source>", 4, 1)
    lines = str(error).splitlines()
    assert lines[0] == "<source>:4:1: parse error: expected `;`, found \"}\""
    assert lines[1] == "  4 | }" and lines[2] == "    | ^ expected `;`"
    assert "naga: Shader" in str(error)


async def test_unknown_identifiers_and_type_mismatches_are_located(device):
    head = "@compute @workgroup_size(1)\nfn main() {\n"
    unknown = await compile_error(device, head + "    let a = b + 1.0;\n}\n")
    assert (unknown.line, unknown.column) == (3, 13)
    assert "no definition in scope for identifier: `b`" in str(unknown)
    assert "\n    |             ^ unknown identifier" in str(unknown)
    mismatch = await compile_error(device, head + "\tlet a: f32 = 1u;\n}\n")
    assert (mismatch.line, mismatch.column) == (3, 6)
    assert "expected to be `f32`, but got `u32`" in str(mismatch)
    assert "  3 | \tlet a: f32 = 1u;\n    | \t    ^" in str(mismatch)  # the tab kept


async def test_validation_errors_name_the_file_not_the_module_label(device, tmp_path):
    path = tmp_path / "store.wgsl"
    path.write_text("@group(0) @binding(0) var<storage, read> x: array<f32>;\n"
                    "@compute @workgroup_size(1)\nfn main() {\n    x[0] = 1.0;\n}\n")
    error = await compile_error(device, path)
    assert (error.kind, error.origin, error.line, error.column) == ("validation", str(path), 4, 5)
    assert str(error).startswith(f"{path}:4:5: validation error: Entry point main at Compute "
                                 "is invalid\n  4 |     x[0] = 1.0;\n    |     ^^^^ writing to "
                                 "this location is not permitted")
    assert f"┌─ {path}:4:5" in error.naga  # naga's own report, relabelled


def test_missing_or_ambiguous_entry_points_are_refused_at_construction():
    with pytest.raises(KernelCompileError, match=r"entry point 'nope' not found; @compute entry "
                                                 r"points are \['main'\]") as caught:
        Kernel(SCALE, "nope")
    assert caught.value.kind == "entry" and caught.value.origin == "<source>"
    two = SCALE + "\n@compute @workgroup_size(1)\nfn other() {}\n"
    with pytest.raises(KernelCompileError, match=r"entry=None .* there are 2 \(main, other\)"):
        Kernel(two)
    assert Kernel(two, "other").bindings == []
    with pytest.raises(KernelCompileError, match=r"there is none: mark a function @compute"):
        Kernel("fn helper() {}")


async def test_built_in_shaders_raise_the_same_compile_error(device, tmp_path, monkeypatch):
    (tmp_path / "broken_builtin.wgsl").write_text(
        "// line 1\n@compute @workgroup_size(1)\nfn main() { let x: f32 = 1u; }\n")
    monkeypatch.setattr(shaders, "SHADER_DIRS", (tmp_path,))
    with pytest.raises(KernelCompileError) as caught:
        await Kernel("broken_builtin.wgsl", device=device).compile()
    error = caught.value
    assert error.origin == str(tmp_path / "broken_builtin.wgsl") and error.line == 3
    assert str(error).startswith(f"{tmp_path / 'broken_builtin.wgsl'}:3:17: parse error")


async def compile_error(device, source) -> KernelCompileError:
    """The KernelCompileError of compiling ``source``."""
    with pytest.raises(KernelCompileError) as caught:
        await Kernel(source, device=device).compile()
    return caught.value


U32 = """
@group(0) @binding(0) var<storage, read> counts: array<u32>;
@group(0) @binding(1) var<storage, read_write> total: array<u32>;
@compute @workgroup_size(1)
fn main() { total[0] = counts[0]; }
"""
PARTICLES = """
struct Particle { pos: vec2<f32>, vel: vec2<f32> }
struct Mixed { a: f32, b: u32 }
@group(0) @binding(0) var<storage, read> particles: array<Particle>;
@group(0) @binding(1) var<storage, read> mixed: array<Mixed>;
@group(0) @binding(2) var<storage, read_write> fixed: array<f32, 16>;
@compute @workgroup_size(16)
fn main(@builtin(local_invocation_index) i: u32) {
    fixed[i] = particles[0].pos.x + f32(mixed[0].b);
}
"""
# WebGPU samples' layout: sizes ahead of the numbers, in one storage buffer.
HEADED = """
struct Matrix { size: vec2f, numbers: array<f32> }
@group(0) @binding(0) var<storage, read> m: Matrix;
@group(0) @binding(1) var<storage, read_write> total: Matrix;
@compute @workgroup_size(1)
fn main() { total.size = m.size; total.numbers[0] = m.numbers[0] + m.numbers[1]; }
"""
MIXED = np.zeros(2, np.dtype({"names": ["a", "b"], "formats": ["<f4", "<u4"]}))
FLOATS = np.ones(8, np.float32)
GOOD_SCALE = {"x": FLOATS, "n": 8, "scale": 1.0, "shapes": {"y": (8,)}}
REFUSALS = {  # kernel, keyword arguments of run, the message expected
    "missing input": (SCALE, {"n": 8, "scale": 1.0, "shapes": {"y": (8,)}},
                      r"missing input 'x' \(array<f32>\); pass x=<numpy array>"),
    "unknown name": (SCALE, {**GOOD_SCALE, "z": FLOATS},
                     r"unknown name\(s\) \['z'\]; the kernel binds \['x', 'y'\] and its "
                     r"uniform has fields \['n', 'scale'\]"),
    "output without a size": (SCALE, {"x": FLOATS, "n": 8, "scale": 1.0},
                              r"output 'y' \(array<f32>\) has no size: pass y=<array> or "
                              r"shapes=\{'y': shape\}"),
    "missing field": (SCALE, {"x": FLOATS, "n": 8, "shapes": {"y": (8,)}},
                      r"params: missing \['scale'\], unknown \[\]"),
    "float for a u32 field": (SCALE, {**GOOD_SCALE, "n": 2.5},
                              r"field 'n' \(u32\): expected integer values"),
    "float32 for array<u32>": (U32, {"counts": FLOATS},
                               r"counts \(array<u32>\): expected integer values \(stored as "
                               r"uint32\), received float32"),
    "negative for array<u32>": (U32, {"counts": np.array([-1, 2])}, r"don't fit uint32"),
    "integers for array<f32>": (SCALE, {**GOOD_SCALE, "x": np.ones(8, np.int64)},
                                r"expected a floating-point array"),
    "shape for an input": (SCALE, {**GOOD_SCALE, "shapes": {"x": (8,)}},
                           r"shapes= names \['x'\], which are not read_write"),
    "array and shape": (SCALE, {**GOOD_SCALE, "y": FLOATS}, r"given both as an array and in "
                                                            r"shapes=; give one"),
    "vec4 elements": (SHIFT, {"x": np.ones(10, np.float32), "count": 2, "offset": [0] * 4,
                              "shapes": {"y": (8,)}},
                      r"x \(array<vec4<f32>>\): 10 values don't fill whole elements: expected "
                      r"a non-zero multiple of 4, 4 float32 per element"),
    "vec4 field": (SHIFT, {"x": FLOATS, "count": 2, "offset": [0] * 3, "shapes": {"y": (8,)}},
                   r"field 'offset' \(vec4<f32>\): expected 4 value\(s\)"),
    "struct elements": (PARTICLES, {"particles": np.ones(6, np.float32), "mixed": MIXED},
                        r"particles \(array<Particle>\): 6 values don't fill whole elements"),
    "mixed struct": (PARTICLES, {"particles": FLOATS, "mixed": FLOATS},
                     r"mixed \(array<Mixed>\): elements are struct Mixed; expected a NumPy "
                     r"structured array"),
    "fixed-size array": (PARTICLES, {"particles": FLOATS, "mixed": MIXED,
                                     "fixed": np.ones(15, np.float32)},
                         r"fixed \(array<f32,16>\): expected exactly 16 values"),
    "header without numbers": (HEADED, {"m": np.ones(2, np.float32), "shapes": {"total": 3}},
                               r"m \(Matrix\): 2 values: expected 2 for the fields before its "
                               r"runtime-sized array, then a non-zero multiple of 1"),
    "under the minimum binding size": (HEADED, {"m": FLOATS, "shapes": {"total": 3}},
                                       r"total \(Matrix\): 12 bytes are less than WebGPU's "
                                       r"minimum binding size for it \(16: its fields and one "
                                       r"element, rounded to its 8-byte alignment\)"),
    "empty input": (SCALE, {**GOOD_SCALE, "x": np.ones(0, np.float32)},
                    r"0 values don't fill whole elements"),
    "grid over the limit": (SCALE, {**GOOD_SCALE, "grid": (65536, 1, 1)},
                            r"grid \(65536, 1, 1\) is over this adapter's "
                            r"max-compute-workgroups-per-dimension \(65535\)"),
    "grid of zero": (SCALE, {**GOOD_SCALE, "grid": (0, 1)}, r"grid must be 1 to 3 whole "
                                                            r"numbers >= 1"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_bad_input_is_refused_before_any_gpu_work(device, case):
    source, arguments, message = REFUSALS[case]
    kernel = Kernel(source, device=device)
    before = counters(device)
    with pytest.raises(ValueError, match=message):
        await kernel.run(**arguments)
    assert counters(device) == before and not kernel._prepared


async def test_structs_ending_in_a_runtime_sized_array(device):
    outputs = await Kernel(HEADED, device=device).run(m=np.float32([2, 1, 3, 4]),
                                                      shapes={"total": (4,)})
    np.testing.assert_array_equal(outputs["total"], [2, 1, 7, 0])


async def test_workgroups_and_bindings_over_the_adapters_limits_are_refused(device,
                                                                           monkeypatch):
    before = counters(device)
    too_wide = Kernel(SCALE, device=device, constants={"workgroup_size": 2048})
    with pytest.raises(ValueError, match=r"\(2048, 1, 1\) is over this adapter's "
                                         r"max-compute-workgroup-size-x \(1024\)"):
        await too_wide.run(**GOOD_SCALE)
    monkeypatch.setattr(device, "limits", {**device.limits,
                                           "max-storage-buffer-binding-size": 16})
    with pytest.raises(ValueError, match=r"x \(array<f32>\): 32 bytes exceed this adapter's "
                                         r"max-storage-buffer-binding-size \(16\)"):
        await Kernel(SCALE, device=device).run(**GOOD_SCALE)
    assert counters(device) == before


async def test_textures_cannot_be_bound_from_numpy(device):
    kernel = Kernel("@group(0) @binding(0) var t: texture_2d<f32>;\n"
                    "@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n"
                    "@compute @workgroup_size(1)\nfn main() { y[0] = textureLoad(t, "
                    "vec2<i32>(0, 0), 0).x; }\n", device=device)
    with pytest.raises(ValueError, match=r"binds storage and uniform buffers of @group\(0\) "
                                         r"from NumPy; \[\('t', 0, 'texture_2d<f32>'\)\]"):
        await kernel.run(shapes={"y": (1,)})


async def test_buffers_and_the_recorded_dispatch_are_reused_across_calls(device, rng):
    kernel = Kernel(SCALE, device=device)
    x = rng.standard_normal(100).astype(np.float32)
    await kernel.run(x=x, n=100, scale=1.0, shapes={"y": (100,)})
    live = device.stats["live_buffers"]
    # New values, a new scale and a smaller n: the same buffers, the output zeroed again (the
    # elements past n are not last call's).
    second = await kernel.run(x=2 * x, n=50, scale=3.0, shapes={"y": (100,)})
    np.testing.assert_array_equal(second["y"], np.concatenate([6 * x[:50], np.zeros(50)]))
    assert device.stats["live_buffers"] == live and len(kernel._prepared) == 1
    third = await kernel.run(x=x[:10], n=10, scale=1.0, shapes={"y": (10,)})  # new shapes
    np.testing.assert_array_equal(third["y"], x[:10])
    assert device.stats["live_buffers"] > live and len(kernel._prepared) == 2


async def test_one_array_given_to_two_read_only_bindings_shares_a_buffer(device, rng):
    """As the engine binds a GEMM's a and a4 (scalar and vec4 views of one matrix)."""
    kernel = Kernel("""
        @group(0) @binding(0) var<storage, read> a: array<f32>;
        @group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
        @group(0) @binding(2) var<storage, read_write> sums: array<f32>;
        @compute @workgroup_size(4)
        fn main(@builtin(global_invocation_id) id: vec3u) {
            let v = a4[id.x];
            sums[id.x] = a[4u * id.x] + v.x + v.y + v.z + v.w;
        }""", device=device)
    x = rng.standard_normal((4, 4)).astype(np.float32)
    before = counters(device)
    outputs = await kernel.run(a=x, a4=x, shapes={"sums": (4,)})
    np.testing.assert_allclose(outputs["sums"], x[:, 0] + x.sum(axis=1), rtol=1e-6)
    assert device.stats["uploads"] - before["uploads"] == 1  # one buffer, uploaded once
    (_, arrays), = kernel._prepared.values()
    assert arrays["a"].buffer is arrays["a4"].buffer and arrays["sums"].buffer is not \
        arrays["a"].buffer
    copy = await kernel.run(a=x, a4=x.copy(), shapes={"sums": (4,)})  # equal, not the same
    np.testing.assert_array_equal(copy["sums"], outputs["sums"])
    assert len(kernel._prepared) == 2


async def test_timing_uses_gpu_timestamps_on_lavapipe(device, rng):
    assert "timestamp-query" in device.features
    x = rng.standard_normal(4096).astype(np.float32)
    kernel = Kernel(SCALE, device=device)
    before = device.stats["dispatches"]
    timing = await kernel.time(x=x, n=4096, scale=2.0, shapes={"y": (4096,)}, repeat=7,
                               warmup=2, per_sample=3, bytes=8 * 4096, flops=4096)
    assert timing.method == "timestamp" and len(timing.samples) == 7
    assert 0 < timing.min <= timing.median <= timing.max
    assert timing.gbps == pytest.approx(8 * 4096 / timing.median / 1e9)
    assert timing.gflops == pytest.approx(4096 / timing.median / 1e9)
    assert timing.per_sample == 3  # each sample: 3 dispatches back to back in one submit
    assert device.stats["dispatches"] - before == 27  # the warm-up samples are dispatched too
    assert "timestamp" in str(timing) and "GB/s" in str(timing)
    with pytest.raises(ValueError, match=r"repeat: expected a whole number >= 1, received 0"):
        await kernel.time(x=x, n=4096, scale=2.0, shapes={"y": (4096,)}, repeat=0)


async def test_timing_keeps_the_gpu_busy_for_a_short_kernel(device, monkeypatch):
    # One dispatch per submit times a GPU that lowers its clocks between submits: a kernel
    # shorter than MIN_SAMPLE_SECONDS runs several times back to back per sample, sized by a
    # probe (one warm-up and three dispatches); times are per dispatch. A sample length no
    # kernel reaches makes the count the cap, whatever the clock says.
    monkeypatch.setattr(timing_module, "MIN_SAMPLE_SECONDS", 1e9)
    monkeypatch.setattr(timing_module, "MAX_RUNS_PER_SAMPLE", 16)
    kernel = Kernel(SCALE, device=device)
    before = device.stats["dispatches"]
    timing = await kernel.time(repeat=2, warmup=1, **GOOD_SCALE)
    assert timing.per_sample == 16 and len(timing.samples) == 2
    assert device.stats["dispatches"] - before == 4 + 3 * 16
    assert "2 samples of 16 runs" in str(timing)
    with pytest.raises(ValueError, match=r"per_sample: expected a whole number >= 1"):
        await kernel.time(per_sample=0, **GOOD_SCALE)
    assert device.stats["dispatches"] - before == 4 + 3 * 16


async def test_timing_falls_back_to_the_wall_clock_without_timestamps(device, monkeypatch):
    monkeypatch.setattr(device, "features", device.features - {"timestamp-query"})
    timing = await Kernel(SCALE, device=device).time(repeat=3, warmup=1, **GOOD_SCALE)
    assert timing.method == "wall clock" and timing.median > 0 and len(timing.samples) == 3
    assert "wall clock" in str(timing)


async def test_a_built_in_shader_through_kernel_gives_the_engines_result(device, rng):
    layer = ELU(0.5)
    x = rng.uniform(-3, 3, (5, 70)).astype(np.float32)
    (engine,) = await run_programs(device, lambda program, a: [layer.propagate(program, a["x"])],
                                   {"x": x}, 5)
    kernel = Kernel("layers/activation.wgsl", "forward", device=device,
                    template={"activation": layer.function, "inputs_kept": False})
    assert [b.name for b in kernel.bindings] == ["inputs", "outputs", "params"]
    outputs = await kernel.run(inputs=x, count=x.size, alpha=0.5, shapes={"outputs": x.shape})
    np.testing.assert_array_equal(outputs["outputs"], engine)
    assert outputs["outputs"].shape == x.shape


def test_sources_are_text_paths_or_built_in_names(tmp_path):
    path = tmp_path / "scale.wgsl"
    path.write_text(SCALE)
    assert Kernel(path).origin == str(path) and Kernel(str(path)).origin == str(path)
    assert Kernel(WGSLSource(SCALE, "mine.wgsl")).name == "mine.wgsl:main"
    assert Kernel("ops/copy.wgsl").shader == "ops/copy.wgsl"
    with pytest.raises(FileNotFoundError, match=r"'nowhere.wgsl' is neither a file nor a "
                                                r"built-in shader"):
        Kernel("nowhere.wgsl")
    with pytest.raises(TypeError, match="received int"):
        Kernel(3)


def test_sync_twins_refuse_inside_a_running_loop():
    import asyncio

    async def inside():
        Kernel(SCALE).run_sync(**GOOD_SCALE)

    with pytest.raises(RuntimeError, match=r"await run/check/time instead"):
        asyncio.run(inside())


def test_sync_twins_run_check_and_time(rng):
    kernel = Kernel(SCALE)  # the default device
    x = rng.standard_normal(9).astype(np.float32)
    assert np.array_equal(kernel.run_sync(x=x, n=9, scale=2.0, shapes={"y": (9,)})["y"], 2 * x)
    assert kernel.check_sync(scaled, x=x, n=9, scale=2.0, shapes={"y": (9,)}).passed
    assert kernel.time_sync(x=x, n=9, scale=2.0, shapes={"y": (9,)}, repeat=2).median > 0
    assert math.isfinite(kernel.time_sync(repeat=1, warmup=0, **GOOD_SCALE).median)
    assert re.match(r"<source>:main: median", str(kernel.time_sync(repeat=1, **GOOD_SCALE)))


def test_the_porting_guides_python_runs(tmp_path):
    """shaders/README.md's examples stay true (up to the layer section, which has its own)."""
    guide = (Path(__file__).resolve().parents[1] / "shaders" / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide.split("## Turning a kernel into")[0], re.S)
    assert blocks
    for block in blocks:
        result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr


def test_tolerances_per_output_name_judge_each_output_at_its_own():
    """Kernel.check's rtol/atol may be {output: number}; one that leaves an output out is a
    ValueError naming it, not a KeyError from inside the comparison."""
    got, expected = np.array([1.0, 2.0], np.float32), np.array([1.0, 2.001])
    assert compare("y", got, expected, {"x": 1e-6, "y": 1e-3}, {"y": 0.0}).passed
    assert not compare("x", got, expected, {"x": 1e-6, "y": 1e-3}, 0.0).passed
    with pytest.raises(ValueError, match=r"output 'y': the tolerances given per output name "
                                         r"only \['x'\]; give every output's"):
        compare("y", got, expected, {"x": 1e-3}, 1e-6)
