"""The kernel catalog: every @compute entry point of shaders/ is registered, every entry verifies
against its float64 reference at the small sizes (through ``intricate bench``'s measure, which
then times it) and in float64 and mixed_float16 at its largest small size, a wrong reference or
a wrong kernel fails with the worst index named, and names, families and globs select
entries."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from intricate.cli import bench
from intricate.gpu import shaders
from intricate.gpu.dtypes import FLOAT32, FLOAT64, MIXED_FLOAT16
from intricate.kernels import catalog
from intricate.ops.gemm import subgroup

from harness import masked, skip_unsupported

COMPUTE = re.compile(r"@compute\b(?:(?!\bfn\b).)*\bfn\s+(\w+)", re.S)  # up to the next fn


def test_every_compute_entry_point_of_the_shader_folder_is_in_the_catalog():
    root = next(folder for folder in shaders.SHADER_DIRS if folder.is_dir())
    declared = {(path.relative_to(root).as_posix(), entry)
                for path in root.rglob("*.wgsl") for entry in COMPUTE.findall(path.read_text())}
    registered = {(entry.shader, entry.entry) for entry in catalog.ENTRIES.values()}
    assert declared - registered == set(), "register these in intricate/kernels/catalog"
    assert registered <= declared


def test_every_activation_has_both_directions_and_every_optimizer_an_entry():
    names = set(catalog.ENTRIES)
    for function in ("tanh", "sigmoid", "relu", "leakyrelu", "elu", "gelu", "silu", "softplus"):
        assert {f"activation.forward.{function}", f"activation.backward.{function}"} <= names
    assert {f"optimizer.{name}" for name in
            ("sgd", "momentum", "nesterov", "adagrad", "adam", "adamw")} <= names


SMALL = [(name, size) for name, entry in catalog.ENTRIES.items()
         for size in entry.sizes["small"]]


@pytest.mark.parametrize(("name", "size"), SMALL, ids=[f"{n}-{s}" for n, s in SMALL])
async def test_every_entry_verifies_at_its_small_sizes(device, name, size):
    entry = catalog.ENTRIES[name]
    if not entry.available(device):
        assert (name == "gemm.subgroup" and not subgroup.usable(device)) or (
            name == "optimizer.compute_copy" and "shader-f16" not in device.features)
        pytest.skip(catalog.skip_reason(entry, device, FLOAT32))
    result = await bench.measure(entry, device, size, repeat=1)
    assert result["passed"], result["error"]
    assert result["outputs"] and all(output["passed"] for output in result["outputs"].values())
    assert result["median_s"] > 0 and result["gbps"] > 0


WIDER = [pytest.param(name, precision, id=f"{name}-{precision.name}")
         for name in catalog.ENTRIES for precision in (FLOAT64, MIXED_FLOAT16)]


@pytest.mark.parametrize(("name", "precision"), WIDER)
async def test_every_entry_verifies_in_float64_and_mixed_float16(device, name, precision):
    """Rendered in the dtype, inputs bound in its types, judged at catalog.tolerances (checked
    only, at the largest small size: the float32 test above times them)."""
    skip_unsupported(device, precision)
    entry = catalog.ENTRIES[name]
    if reason := catalog.skip_reason(entry, device, precision):
        pytest.skip(reason)
    result = await bench.verify(entry, device, max(entry.sizes["small"]), precision)
    assert result["passed"], result["error"]


def test_bytes_count_each_arrays_element_size_in_the_dtype(device, rng):
    """GB/s in each dtype: the gather's u32 indices are 4 bytes, its data 2 (f16), 4 or 8; an
    optimizer's master weights and moments stay f32 in mixed_float16, plus the f16 copy."""
    rows, columns = 5, sum(catalog.ops.GATHER_WIDTHS)  # indices, then x and y read + written
    gather, adam = catalog.ENTRIES["gather"], catalog.ENTRIES["optimizer.adam"]
    for precision, data in ((FLOAT32, 4), (FLOAT64, 8), (MIXED_FLOAT16, 2)):
        assert gather.setup(device, rows, rng, precision).bytes == 4 * rows + data * 2 * rows * (
            columns)
    assert adam.setup(device, 10, rng, FLOAT32).bytes == 4 * 7 * 10  # g, θ twice, m, v twice
    assert adam.setup(device, 10, rng, MIXED_FLOAT16).bytes == (4 * 7 + 2) * 10


def test_tolerances_scale_with_the_dtype():
    entry = catalog.ENTRIES["activation.backward.tanh"]  # rtol 1e-4, atol 4.8e-7 in float32
    assert catalog.tolerances(entry, FLOAT32) == (entry.rtol, entry.atol)
    rtol, atol = catalog.tolerances(entry, MIXED_FLOAT16)
    assert rtol == pytest.approx(1e-3) and atol == pytest.approx(entry.atol * 8192)
    rtol, atol = catalog.tolerances(entry, FLOAT64)
    assert rtol == pytest.approx(1e-12) and atol == pytest.approx(entry.atol * 2.0**-29)
    copy = catalog.ENTRIES["copy"]  # atol 1e-30: f16 data is judged at its storage floor
    assert catalog.tolerances(copy, MIXED_FLOAT16)[1] == 2.0**-25



async def test_each_output_is_judged_at_its_own_types_tolerances(device):
    """mixed_float16's optimizer writes f32 master weights and moments beside their f16 copy:
    judged at f16's atol (8192x float32's, 4e-3), a reference claiming Adam moved no weight
    (its steps are below 1e-3) passed; at float32's it fails, the f16 copy still passing."""
    skip_unsupported(device, MIXED_FLOAT16)
    adam = catalog.ENTRIES["optimizer.adam"]

    def no_step(parameters, **inputs):
        return {**adam.reference(parameters=parameters, **inputs), "parameters": parameters}

    result = await bench.verify(dataclasses.replace(adam, reference=no_step), device, 1000,
                                MIXED_FLOAT16)
    outputs = result["outputs"]
    assert not result["passed"] and not outputs["parameters"]["passed"]
    assert outputs["first_moment"]["passed"] and outputs["compute_parameters"]["passed"]
    rtol, atol = catalog.output_tolerances(adam, {"w": "f32", "h": "vec4<f16>", "s": "State"})
    assert (rtol["w"], atol["w"]) == (rtol["s"], atol["s"]) == (adam.rtol, adam.atol)
    assert (rtol["h"], atol["h"]) == catalog.tolerances(adam, MIXED_FLOAT16)


def test_an_entry_of_fixed_f16_elements_is_skipped_without_shader_f16(device):
    """optimizer.compute_copy renders f16 in every dtype's run: where the adapter lacks
    shader-f16, bench lists it as skipped with the reason instead of failing it."""
    entry = catalog.ENTRIES["optimizer.compute_copy"]
    reason = catalog.skip_reason(entry, masked(device, "shader-f16"), FLOAT32)
    assert reason == f"not on {device.name}: {entry.needs}" and "'shader-f16'" in reason
    assert catalog.skip_reason(entry, device, FLOAT32) is None or (
        "shader-f16" not in device.features)

async def test_a_wrong_reference_fails_and_names_the_worst_index(device):
    entry = catalog.ENTRIES["copy"]

    def off_by_one_element(source, **_):
        expected = source.copy()
        expected[13] += 1.0
        return {"destination": expected}

    result = await bench.measure(dataclasses.replace(entry, reference=off_by_one_element),
                                 device, 4100, repeat=1)
    assert not result["passed"] and result["median_s"] is None  # a failed kernel isn't timed
    assert result["outputs"]["destination"]["worst_index"] == [13]
    assert "FAIL destination" in result["error"] and "[13]" in result["error"]


async def test_a_wrong_kernel_fails_its_entry(device):
    """sum_splits told of 3 splits where 4 partial sums are given, as a wrong Params value in
    the engine would: the check catches the chunk it leaves out."""
    entry = catalog.ENTRIES["gemm.sum_splits"]

    def three_splits(device, size, rng, precision=FLOAT32):
        case = entry.setup(device, size, rng, precision)
        case.inputs["splits"] = 3  # the kernel now skips the last chunk
        return case

    result = await bench.measure(dataclasses.replace(entry, setup=three_splits), device, 33,
                                 repeat=1)
    assert not result["passed"] and result["outputs"]["c"]["max_rel_error"] > 0.1


async def test_a_kernel_that_cannot_run_is_reported_not_raised(device):
    entry = catalog.ENTRIES["copy"]

    def no_destination_shape(device, size, rng, precision=FLOAT32):
        case = entry.setup(device, size, rng, precision)
        case.shapes.clear()  # destination neither given nor shaped
        case.inputs["count"] = np.float32(1.5)
        return case

    result = await bench.measure(dataclasses.replace(entry, setup=no_destination_shape),
                                 device, 4, repeat=1)
    assert not result["passed"] and result["error"].startswith("ValueError")


def test_names_families_and_globs_select_entries():
    assert [entry.name for entry in catalog.select(["copy"])] == ["copy"]
    softmax = [entry.name for entry in catalog.select(["softmax"])]
    assert softmax == ["softmax.forward", "softmax.backward", "softmax.forward_wide",
                       "softmax.backward_wide"]
    gelu = {entry.name for entry in catalog.select(["*.gelu", "activation.forward.gelu"])}
    assert gelu == {"activation.forward.gelu", "activation.backward.gelu"}
    assert len(catalog.select([])) == len(catalog.ENTRIES)
    with pytest.raises(ValueError, match=r"kernel 'softmx': expected a catalog name.*'copy'"):
        catalog.select(["softmx"])


def test_sizes_and_registration_are_checked():
    entry = catalog.ENTRIES["gemm.tiled"]
    assert catalog.sizes_of(entry, "small") == entry.sizes["small"]
    assert catalog.sizes_of(entry, [64, 96]) == (64, 96)
    with pytest.raises(ValueError, match="size: expected one of"):
        catalog.sizes_of(entry, "huge")
    with pytest.raises(ValueError, match=r"whole numbers >= 1, received \(0,\)"):
        catalog.sizes_of(entry, [0])
    with pytest.raises(ValueError, match="'copy' is registered twice"):
        catalog.register("copy", "ops/copy.wgsl", "copy", reference=entry.reference,
                         small=(1,), standard=(1,), unit="floats")(entry.setup)
