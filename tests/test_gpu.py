"""The runtime: adapter choice, strict shader templating, binding by name, errors, counters."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import wgpu
from hypothesis import given
from hypothesis import strategies as st

import intricate
from intricate import gpu
from intricate.gpu import shaders, texels
from intricate.ops import gather as gather_ops


async def test_setup_device_rejects_bad_arguments_before_touching_wgpu():
    with pytest.raises(ValueError, match="power_preference: expected one of"):
        await intricate.setup_device(power_preference="fast")
    with pytest.raises(ValueError, match="adapter_name: expected a non-empty string"):
        await intricate.setup_device(adapter_name="")


async def test_adapter_chosen_by_name(device):
    word = device.name.split()[0]  # e.g. "llvmpipe" or "NVIDIA"
    chosen = await intricate.setup_device(adapter_name=word.swapcase())  # any case, any part
    assert word in chosen.name
    assert chosen.adapter_info["backend_type"] != "OpenGL"  # native backend preferred
    with pytest.raises(ValueError, match=r"adapter_name: expected part of one of the adapter"):
        await intricate.setup_device(adapter_name="no such gpu")


async def test_no_adapter_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(wgpu.gpu, "request_adapter_sync", lambda **kwargs: None)
    with pytest.raises(intricate.NoAdapterError, match="mesa-vulkan-drivers"):
        await intricate.setup_device()
    monkeypatch.setattr(wgpu.gpu, "enumerate_adapters_sync", lambda: [])
    with pytest.raises(intricate.NoAdapterError, match="GPU driver"):
        await intricate.setup_device(adapter_name="any")


def test_templating_is_strict():
    with pytest.raises(intricate.ShaderError, match=r"missing values \[.*'a_stride', .*'b_stride'"):
        shaders.render("ops/gemm/tiled.wgsl", {"dtype": "f32"})
    with pytest.raises(intricate.ShaderError, match=r"values given for no placeholder \['tile'\]"):
        shaders.render("layers/activations.wgsl", {"dtype": "f32", "tile": 16})
    text = shaders.render("layers/activations.wgsl", {"dtype": "f16"})
    assert text.startswith("enable f16; //") and "{{" not in text
    assert "enable f16" not in shaders.render("layers/activations.wgsl", {"dtype": "f32"})


async def test_compile_errors_name_the_file_and_line(device, tmp_path, monkeypatch):
    broken = tmp_path / "broken_for_test.wgsl"
    broken.write_text("// a shader with a type error on line 3\n\nfn main() { let x: f32 = 1u; }\n")
    monkeypatch.setattr(shaders, "SHADER_DIRS", (tmp_path,))
    with pytest.raises(intricate.ShaderError, match=r"broken_for_test\.wgsl:3:"):
        await device.run(shaders.kernel, device, "broken_for_test.wgsl", "main")
    with pytest.raises(intricate.ShaderError, match="not found"):
        shaders.shader_path("missing.wgsl")


async def test_kernels_bind_by_name_and_check_params(device):
    def record_with(**bound):
        program = gpu.Program(gpu.Workspace(device, 1))
        program.dispatch("ops/gather.wgsl", "gather_rows", threads=4,
                         params={"rows": 4, "x_width": 1, "y_width": 1},
                         template=gather_ops.template(1, 1), **bound)

    array = await device.run(gpu.empty, device, (4,))
    with pytest.raises(ValueError, match=r"binds \['batch_x', 'batch_y', 'indices', "
                                         r"'source_x', 'source_y'\], received \['batch_x'\]"):
        await device.run(record_with, batch_x=array)
    compiled = await device.run(shaders.kernel, device, "optimizers.wgsl", "sgd", dtype="f32")
    assert compiled.bindings == {"gradients": 0, "parameters": 2, "params": 6}  # only sgd's
    assert compiled.workgroup_size == 256
    gather = await device.run(shaders.kernel, device, "ops/gather.wgsl", "gather_rows",
                              dtype="f32", **gather_ops.template(1, 1))
    assert gather.params == [("rows", "u32"), ("x_width", "u32"), ("y_width", "u32")]
    assert len(gather.pack_params({"rows": 4, "x_width": 1, "y_width": 2})) == 16
    with pytest.raises(ValueError, match=r"missing \['y_width'\], unknown \['width'\]"):
        gather.pack_params({"rows": 4, "x_width": 1, "width": 2})
    # A kernel is built once per device and template.
    again = await device.run(shaders.kernel, device, "optimizers.wgsl", "sgd", dtype="f32")
    assert again is compiled


async def test_words_in_comments_bind_nothing(device, tmp_path, monkeypatch):
    """An entry point binds what its code (and the functions it calls) uses, not what its
    comments mention."""
    (tmp_path / "commented_for_test.wgsl").write_text(
        "@group(0) @binding(0) var<storage, read_write> used: array<f32>;\n"
        "@group(0) @binding(1) var<storage, read_write> unused: array<f32>;\n"
        "fn helper() { used[0] = 1.0; }  // not unused\n"
        "@compute @workgroup_size(1)\n"
        "fn main() {\n    // the unused array stays unbound\n    helper();\n}\n")
    monkeypatch.setattr(shaders, "SHADER_DIRS", (tmp_path,))
    compiled = await device.run(shaders.kernel, device, "commented_for_test.wgsl", "main")
    assert compiled.bindings == {"used": 0}


async def test_counters_count_and_reset(device):
    gc.collect()  # buffers other tests left for the collector must not be counted below
    values = np.arange(10, dtype=np.float32)
    device.stats.reset()
    assert device.stats["dispatches"] == device.stats["submits"] == 0
    array = await device.run(gpu.from_numpy, device, values)
    (back,) = await device.run(gpu.read, array)
    assert np.array_equal(back, values)
    assert device.stats["uploads"] == 1 and device.stats["submits"] == 1
    assert device.stats["readbacks"] == 1
    live = device.stats["live_buffers"]
    await device.run(gpu.read, array)  # the staging buffer is reused, not made again
    assert device.stats["live_buffers"] == live
    del array
    # The GPU thread drops its last job (which held the array) only after handing back the
    # result: one more job guarantees it has.
    await device.run(lambda: None)
    gc.collect()
    assert device.stats["live_buffers"] == live - 1
    device.stats.reset()
    assert device.stats["readbacks"] == 0 and device.stats["live_buffers"] == live - 1


async def test_arrays_larger_than_a_binding_are_refused_before_gpu_work(device):
    limit = device.limits["max-storage-buffer-binding-size"]
    with pytest.raises(ValueError, match="more than this device binds at once"):
        await device.run(gpu.empty, device, (limit // 4 + 1,), label="huge")


@given(st.integers(1, 65535 * 65535))
def test_fold_grid_covers_every_group_within_the_limit(groups):
    x, y, z = gpu.fold_grid(groups)
    assert max(x, y) <= 65535 and z == 1
    assert x * y >= groups > x * (y - 1)  # enough groups, and never a whole spare row


@pytest.mark.parametrize("floats,start", [(4, 0), (4 * texels.ROW, 0), (8 * texels.ROW + 12, 4),
                                          (3 * texels.ROW - 8, 8)],
                         ids=["one_texel", "one_whole_row", "rows_and_a_partial_one_in_a_view",
                              "a_partial_second_row"])
async def test_texels_hold_an_arrays_elements_in_order(device, floats, start):
    """What gemm_subgroup's texel reads rely on: element e at component e % 4 of texel e / 4,
    ROW texels per texture row, wherever the array starts in its buffer (16-byte aligned)."""
    values = np.arange(start + floats + 4, dtype=np.float32)

    def copy_and_read_back() -> np.ndarray:
        whole = gpu.from_numpy(device, values)
        array = whole.view(start, (floats,))
        program = gpu.Program(gpu.Workspace(device, 1))
        held = program.texels(copy_and_read_back, "test", array)
        rows = -(-floats // (4 * texels.ROW))
        usage = wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.MAP_READ
        out = device.handle.create_buffer(size=rows * texels.ROW * 16, usage=usage)
        encoder = device.handle.create_command_encoder()
        program.encode(encoder)
        encoder.copy_texture_to_buffer({"texture": held.texture},
                                       {"buffer": out, "bytes_per_row": texels.ROW * 16,
                                        "rows_per_image": rows}, (texels.ROW, rows, 1))
        device.submit(encoder)
        out.map_sync(wgpu.MapMode.READ)
        return np.frombuffer(out.read_mapped(), np.float32).copy()

    got = await device.run(copy_and_read_back)
    np.testing.assert_array_equal(got[:floats], values[start:start + floats])
    assert not got[floats:].any()  # the rest of the last row stays zero


async def test_texels_refuse_what_they_cannot_hold(device):
    def check() -> list[bool]:
        whole = gpu.empty(device, (64,))
        tall = device.limits["max-texture-dimension-2d"] * texels.ROW * 4 + 4
        return [texels.fits(whole), texels.fits(whole.view(4, (60,))),
                texels.fits(whole.view(1, (60,))),  # starts inside a texel
                texels.fits(whole.view(0, (62,))),  # ends inside one
                texels.fits(gpu.GPUArray(device, whole.buffer, (tall,)))]  # too many rows

    assert await device.run(check) == [True, True, False, False, False]
