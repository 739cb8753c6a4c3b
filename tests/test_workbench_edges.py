"""The kernel workbench at its edges, as a hostile user meets them: user WGSL can't run Python
through its template, odd values and declarations are refused before any GPU work with a
message that says what to do, and the CLI reports every bad argument in one line."""

from __future__ import annotations

import asyncio
import json
import os
import re

import numpy as np
import pytest
from test_kernels import SCALE
from test_wgsl_layer import SCALE_BIAS, SQUAREPLUS

from intricate import Model, ModelFileError, ShaderError, gpu
from intricate.io import files
from intricate.kernels import Kernel, check_gradients
from intricate.kernels.report import compare
from intricate.layers import Dense, WGSLLayer


def work(device) -> dict[str, int]:
    """GPU work done (live buffers may fall meanwhile: earlier tests' arrays being collected)."""
    return {name: device.stats[name] for name in ("dispatches", "submits", "uploads", "readbacks")}


# Jinja2 outside its sandbox reaches Python from template text: this one would set a variable.
INJECTION = "// {{ cycler.__init__.__globals__.os.environ.update(INTRICATE_INJECTED='1') }}\n"


def test_user_wgsl_renders_in_jinjas_sandbox():
    os.environ.pop("INTRICATE_INJECTED", None)
    with pytest.raises(ShaderError, match=r"SecurityError: .*unsafe. \(user WGSL renders in "
                                          r"Jinja2's sandbox: no Python objects\)"):
        Kernel(INJECTION + SCALE)
    with pytest.raises(ValueError, match="sandbox"):
        WGSLLayer(INJECTION + SQUAREPLUS)
    assert "INTRICATE_INJECTED" not in os.environ
    for outside in ("/etc/passwd", "../" * 12 + "etc/passwd"):  # includes stay in shaders/
        with pytest.raises(ShaderError, match=rf"includes '{outside}', which is in none of"):
            Kernel(f'{{% include "{outside}" %}}\n' + SCALE)
    # Values given and includes of built-in files still work.
    assert Kernel(SCALE.replace("= 64;", "= {{ size }};"), template={"size": 32}
                  ).workgroup_size == (32, 1, 1)


def test_a_literal_double_brace_says_how_to_write_it():
    nested = SCALE.replace("if (i >= params.n) { return; }", "if (i >= params.n) {{ return; }}")
    with pytest.raises(ShaderError, match=r"template syntax: .*a literal \{\{ opens a Jinja2 "
                                          r"tag: write \{ \{ or \{% raw %\}"):
        Kernel(nested)
    assert Kernel("{% raw %}" + nested + "{% endraw %}").entry == "main"


async def test_a_model_file_whose_wgsl_reaches_for_python_is_refused(device, tmp_path):
    path, tampered = str(tmp_path / "good.safetensors"), str(tmp_path / "bad.safetensors")
    Model([Dense(2, 2), WGSLLayer(SQUAREPLUS)], device=device, seed=0).save(path)
    tensors, metadata = files.read(path)
    config = json.loads(metadata["config"])
    config["layers"][1]["config"]["source"] += INJECTION
    metadata["config"] = json.dumps(config)
    files.write_atomically(tampered, files.encode(tensors, metadata))
    os.environ.pop("INTRICATE_INJECTED", None)
    before = work(device)
    with pytest.raises(ModelFileError, match="sandbox"):
        Model.load(tampered, device=device, allow_code=True)
    assert "INTRICATE_INJECTED" not in os.environ and work(device) == before


# A uniform field named like a storage binding (x), and a uniform that is one scalar (n).
CLASH = """
struct Params { x: u32, offset: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(1)
fn main() { y[0] = x[0] * f32(params.x) + params.offset; }
"""
SCALAR_UNIFORM = """
@group(0) @binding(0) var<uniform> n: u32;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1)
fn main() { y[0] = f32(n); }
"""
NO_DEFAULT = """
override scale: f32;
override lanes: u32;
override unused: u32;
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(lanes)
fn main(@builtin(local_invocation_index) i: u32) { y[i] = scale; }
"""


async def test_uniform_fields_named_like_bindings_and_scalar_uniforms(device):
    one = np.ones(1, np.float32)
    clash = Kernel(CLASH, device=device)
    before = work(device)
    with pytest.raises(ValueError, match=r"uniform field\(s\) \['x'\] are named like storage "
                                         r"bindings.*params=\{'x': \.\.\., 'offset': \.\.\.\}"):
        await clash.run(x=one, offset=0.5, shapes={"y": (1,)})
    with pytest.raises(ValueError, match=r"params= gives the uniform's fields at once: expected "
                                         r"a dict of \['x', 'offset'\], received 5"):
        await clash.run(x=one, params=5, shapes={"y": (1,)})
    with pytest.raises(ValueError, match=r"field\(s\) \['offset'\] given both by name and in "
                                         r"params=; give each once"):
        await clash.run(x=one, params={"x": 3, "offset": 0.5}, offset=1.0, shapes={"y": (1,)})
    assert work(device) == before
    outputs = await clash.run(x=one, params={"x": 3, "offset": 0.5}, shapes={"y": (1,)})
    assert outputs["y"].tolist() == [3.5]
    scalar = Kernel(SCALAR_UNIFORM, device=device)
    assert scalar.params == [("n", "u32")]
    assert (await scalar.run(n=7, shapes={"y": (1,)}))["y"].tolist() == [7.0]
    with pytest.raises(ValueError, match=r"field 'n' \(u32\): values from -1 to -1 don't fit"):
        await scalar.run(n=-1, shapes={"y": (1,)})


async def test_override_constants_are_checked_against_their_declarations(device):
    with pytest.raises(ValueError, match=r"override constant\(s\) \['scale', 'lanes'\] have no "
                                         r"default; give their values: constants=\{'scale': "):
        Kernel(NO_DEFAULT)  # unused needs none: the entry doesn't use it
    refusals = {"lanes": (-1, r"lanes: u32; give a whole number 0 to 4294967295"),
                "scale": (float("nan"), r"scale: f32; give a finite number within"),
                "unused": (2.5, r"unused: u32; give a whole number")}
    for name, (value, message) in refusals.items():
        with pytest.raises(ValueError, match=rf"constants\['{name}'\] = .* doesn't fit override "
                                             + message):
            Kernel(NO_DEFAULT, constants={"scale": 1.0, "lanes": 4, name: value})
    with pytest.raises(ValueError, match=r"scale: f32; give a finite number"):
        Kernel(NO_DEFAULT, constants={"scale": 1e39, "lanes": 4})
    kernel = Kernel(NO_DEFAULT, device=device, constants={"scale": 2, "lanes": 0})
    before = work(device)
    with pytest.raises(ValueError, match=r"@workgroup_size \(0, 1, 1\): every size must be >= 1"):
        await kernel.run(shapes={"y": (4,)})
    assert work(device) == before
    kernel = Kernel(NO_DEFAULT, device=device, constants={"scale": 2, "lanes": 4})
    assert (await kernel.run(shapes={"y": (4,)}))["y"].tolist() == [2.0] * 4


@pytest.mark.parametrize("shape", [(-8,), (2.5,), (-2, -4), "8", True, ()])
async def test_output_shapes_must_be_whole_numbers(device, shape):
    before = work(device)
    with pytest.raises(ValueError, match=r"shapes\['y'\] must be a whole number or a tuple of "
                                         r"them, none negative, received"):
        await Kernel(SCALE, device=device).run(x=np.ones(8, np.float32), n=8, scale=1.0,
                                               shapes={"y": shape})
    assert work(device) == before


async def test_shapes_must_be_a_dict_and_a_numpy_grid_is_a_grid(device):
    kernel = Kernel(SCALE, device=device)
    with pytest.raises(ValueError, match=r"shapes= expects a dict \{output name: shape\}"):
        await kernel.run(x=np.ones(8, np.float32), n=8, scale=1.0, shapes=[("y", 8)])
    outputs = await kernel.run(np.int64(1), x=np.ones(8, np.float32), n=8, scale=2.0,
                               shapes={"y": np.array([8])})
    assert outputs["y"].tolist() == [2.0] * 8


CLI_KERNEL = """
struct Params { n: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
    if (id.x < params.n) { y[id.x] = x[id.x] * params.scale; }
}
"""
CLI_REFERENCES = """
def raises(x, n, scale):
    raise KeyError("oops")

def takes_a(a):
    return a
"""


@pytest.mark.parametrize(("extra", "message"), [
    (["--check", "{folder}/ref.py:raises"], "--check {folder}/ref.py:raises: calling it with "
                                            "x, n, scale raised KeyError: 'oops'"),
    (["--check", "{folder}/ref.py:takes_a"], "raised TypeError: takes_a() got an unexpected "
                                             "keyword argument 'x'"),
    (["--input", "z={folder}/z.npz"], "--input z: '{folder}/z.npz' is a .npz archive of "
                                      "['a']; give one .npy file per input (np.save)"),
    (["--output", "{folder}/file/out"], "--output: cannot create the folder {folder}/file/out "
                                        "(Not a directory)"),
])
def test_cli_run_reports_bad_files_in_one_line_before_gpu_work(tmp_path, capsys, extra,
                                                               message):
    from intricate.cli import main

    device = asyncio.run(gpu.default_device())  # where the CLI runs
    (tmp_path / "k.wgsl").write_text(CLI_KERNEL)
    (tmp_path / "ref.py").write_text(CLI_REFERENCES)
    (tmp_path / "file").write_text("")
    np.save(tmp_path / "x.npy", np.ones(4, np.float32))
    np.savez(tmp_path / "z.npz", a=np.ones(3))
    arguments = ["run", str(tmp_path / "k.wgsl"), "--input", f"x={tmp_path / 'x.npy'}",
                 "--param", "n=4", "--param", "scale=2", "--shape", "y=4"]
    before = work(device)
    code = main([*arguments, *(part.format(folder=tmp_path) for part in extra)])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith("intricate run: error: ") and captured.err.count("\n") == 1
    assert message.format(folder=tmp_path) in captured.err
    if "--check" not in extra:  # the check runs after the kernel; the others before any work
        assert work(device) == before


@pytest.mark.parametrize(("baseline", "message"), [
    ("{not json", "failed at JSONDecodeError"),
    ("[1, 2]", "failed at TypeError"),
    ('{"results": [{"name": "copy", "size": 4, "median_s": "fast"}]}',
     "copy (4) has median_s 'fast', expected seconds > 0 or null"),
    ('{"results": [{"name": "copy", "size": 4, "median_s": -1}]}', "has median_s -1"),
    (None, "--json: {folder}/file/bench.json can't be written"),
])
def test_bench_refuses_a_bad_compare_or_json_file_before_any_gpu_work(tmp_path, capsys,
                                                                       baseline, message):
    from intricate.cli import main

    device = asyncio.run(gpu.default_device())  # where the CLI runs
    (tmp_path / "file").write_text("")
    (tmp_path / "old.json").write_text(baseline or '{"results": []}')
    target = tmp_path / ("file/bench.json" if baseline is None else "bench.json")
    before = work(device)
    code = main(["bench", "copy", "--size", "small", "--repeat", "1", "--compare",
                 str(tmp_path / "old.json"), "--json", str(target)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and work(device) == before
    assert captured.err.startswith("intricate bench: error: ") and captured.err.count("\n") == 1
    assert message.format(folder=tmp_path) in captured.err


@pytest.mark.parametrize("declared", ["array<f32, 4>", "f32", "array<f32,4u>"])
async def test_a_wgsl_layer_refuses_arrays_of_a_fixed_size(device, declared):
    """A fixed-size parameter array failed at bind-group creation, inside fit, as a raw
    GPUValidationError (binding size 12 less than minimum 16)."""
    source = SCALE_BIAS.replace("var<storage, read> scale: array<f32>",
                                f"var<storage, read> scale: {declared}")
    before = work(device)
    with pytest.raises(ValueError, match=rf"scale is {re.escape(declared.replace(' ', ''))}, "
                                         r"expected array<f32>"):
        WGSLLayer(source, parameters={"scale": 3, "bias": 3})
    assert work(device) == before


async def test_finite_numbers_that_float32_holds_only_as_infinity_are_refused(device):
    """1e39 for an f32 field, or a float64 array of 1e300, became inf silently (a RuntimeWarning
    at most); NaN and infinity given as such still pass: they are values, not overflow."""
    kernel = Kernel(SCALE, device=device)
    ones = np.ones(4, np.float32)
    before = work(device)
    with pytest.raises(ValueError, match=r"field 'scale' \(f32\): 1e\+39 is beyond float32's "
                                         r"range \(±3.40282e\+38\) and would become infinity"):
        await kernel.run(x=ones, n=4, scale=1e39, shapes={"y": (4,)})
    with pytest.raises(ValueError, match=r"x \(array<f32>\): 1e\+300 is beyond float32's"):
        await kernel.run(x=np.array([1.0, 1e300, 1, 1]), n=4, scale=1.0, shapes={"y": (4,)})
    assert work(device) == before
    outputs = await kernel.run(x=np.array([np.inf, np.nan, 1, 1]), n=4, scale=2.0,
                               shapes={"y": (4,)})
    assert np.isinf(outputs["y"][0]) and np.isnan(outputs["y"][1])


async def test_check_gradients_refuses_empty_and_out_of_range_inputs(device):
    before = work(device)
    with pytest.raises(ValueError, match=r"x: expected a 2-D numeric array \[rows, features\], "
                                         r"received float32 \(4, 0\)"):
        await check_gradients(WGSLLayer(SQUAREPLUS), np.ones((4, 0), np.float32), device=device)
    with pytest.raises(ValueError, match=r"x: expected finite values in float32, received NaN, "
                                         r"infinity or values beyond"):
        await check_gradients(WGSLLayer(SQUAREPLUS), np.full((2, 2), 1e300), device=device)
    assert work(device) == before


def test_relative_errors_below_the_absolute_tolerance_are_measured_against_it():
    """Below atol / rtol the absolute tolerance judges (an f16 result's subnormals, exact
    zeros): the reported relative error is measured against that floor, not the tiny value."""
    floor = 2.0**-25 / 1e-3
    check = compare("y", np.array([1.0005, 3e-8, 1e-8]), np.array([1.0, 5e-8, 0.0]), 1e-3,
                    2.0**-25)
    assert check.passed and check.max_rel_error == pytest.approx(max(5e-4, 2e-8 / floor))
    assert compare("y", np.array([1.0]), np.array([2.0]), 1e-3, 0.0).max_rel_error == 0.5
