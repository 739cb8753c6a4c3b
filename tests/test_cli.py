"""The ``intricate`` command line, in process through ``main(argv)`` (plus one real
``python -m intricate info --json``): info and bench print JSON with the documented keys, bench
fails on a wrong reference and flags a doctored regression, runs in each dtype (refusing a
baseline of another, or an adapter without the dtype's feature) and lists what it skips, run
writes, checks and times a kernel file, and mistakes are one line on stderr with exit code 2."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import intricate.cli
from intricate.cli import main
from intricate.gpu.dtypes import MIXED_FLOAT16
from intricate.kernels import catalog

from harness import masked, skip_unsupported

DEVICE_KEYS = {"name", "vendor", "backend", "type", "driver", "vendor_id", "device_id"}
RESULT_KEYS = {"name", "shader", "entry", "size", "shape", "passed", "skipped", "error",
               "outputs",
               "median_s", "min_s", "max_s", "repeat", "method", "gflops", "gbps",
               "roofline_percent"}


def check_info(document: dict) -> None:
    assert {"intricate", "wgpu", "adapters", "device"} <= document.keys()
    device = document["device"]
    assert DEVICE_KEYS | {"features", "limits", "dtypes", "model_dtypes", "timestamps",
                          "subgroups"} <= set(device)
    assert device["dtypes"][0] == "float32" and device["limits"]["max-buffer-size"] > 0
    features = device["features"]
    assert device["model_dtypes"] == ["float32", *(["float64"] if "shader-f64" in features
                                                   else []),
                                      *(["mixed_float16"] if "shader-f16" in features else [])]
    assert sum(adapter["chosen"] for adapter in document["adapters"]) == 1
    for adapter in document["adapters"]:
        assert DEVICE_KEYS | {"features", "limits", "chosen"} <= set(adapter)


def test_info_json_in_process(capsys):
    assert main(["info", "--json"]) == 0
    check_info(json.loads(capsys.readouterr().out))
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "dtypes: float32" in text and "adapters (" in text and " * " in text
    if "shader-f16" in text:  # the feature list names it: the policy it enables is listed
        assert re.search(r"models: float32(, float64)?, mixed_float16", text), text


def test_python_dash_m_intricate_info_json():
    result = subprocess.run([sys.executable, "-m", "intricate", "info", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    check_info(json.loads(result.stdout))


def run_bench(tmp_path, capsys, *arguments: str) -> tuple[dict, str]:
    """``intricate bench ARGUMENTS --json FILE``, which must exit 0: the JSON and the table."""
    out = tmp_path / "bench.json"
    code = main(["bench", *arguments, "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    return json.loads(out.read_text()), printed


def test_bench_json_has_the_documented_keys(tmp_path, capsys):
    document, printed = run_bench(tmp_path, capsys, "copy", "softmax.forward", "--size",
                                  "small", "--repeat", "2")
    assert {"intricate", "device", "sizes", "roofline", "results", "failed"} <= document.keys()
    assert document["sizes"] == "small" and document["failed"] == 0
    assert {"gbps", "gflops", "bandwidth_kernel", "bandwidth_shape", "compute_kernel",
            "compute_shape"} <= document["roofline"].keys()
    assert [(r["name"], r["size"]) for r in document["results"]] == [
        ("copy", 4), ("copy", 4100), ("softmax.forward", 1), ("softmax.forward", 257)]
    for result in document["results"]:
        assert set(result) == RESULT_KEYS and result["passed"] and result["repeat"] == 2
        assert result["median_s"] > 0 and result["roofline_percent"] > 0
        assert result["method"] in ("timestamp", "wall clock")
        for output in result["outputs"].values():
            assert {"max_abs_error", "max_rel_error", "worst_index", "passed"} == set(output)
    assert "softmax.forward" in printed and "GB/s" in printed and "% roof" in printed


def test_bench_compare_flags_a_doctored_regression(tmp_path, capsys):
    old = tmp_path / "old.json"
    common = ["bench", "gather", "--size", "37", "--repeat", "3", "--roofline", "small"]
    assert main([*common, "--json", str(old)]) == 0
    baseline = json.loads(old.read_text())
    baseline["results"][0]["median_s"] /= 1e6  # "it used to be a million times faster":
    # far past any timing noise of a loaded machine (a 10x doctoring failed under load)
    old.write_text(json.dumps(baseline))
    capsys.readouterr()
    new = tmp_path / "new.json"
    code = main([*common, "--compare", str(old), "--json", str(new)])
    printed = capsys.readouterr().out
    assert code == 3, printed
    assert "SLOWER" in printed and "REGRESSED gather (37)" in printed
    (row,) = json.loads(new.read_text())["compare"]["results"]
    assert row["regressed"] and row["speedup"] < 0.2 and row["name"] == "gather"
    baseline["results"][0]["median_s"] *= 1e12  # now it used to be 1e6x slower: no regression
    old.write_text(json.dumps(baseline))
    capsys.readouterr()
    assert main([*common, "--compare", str(old)]) == 0
    assert "nothing was compared" not in capsys.readouterr().out
    baseline["results"][0]["size"] = 38  # a baseline of other sizes: said, not silently empty
    old.write_text(json.dumps(baseline))
    assert main([*common, "--compare", str(old)]) == 0
    assert "no kernel and size of this run is in it (nothing was compared)" in \
        capsys.readouterr().out


def test_bench_in_mixed_float16_records_its_dtype_and_refuses_other_baselines(
        device, tmp_path, capsys):
    """The f16 kernels (SoftMax, an activation, the GEMMs) verify at f16's tolerances and the
    roofline GEMM runs in f16; a float32 run refuses an f16 baseline before any GPU work."""
    skip_unsupported(device, MIXED_FLOAT16)
    document, printed = run_bench(tmp_path, capsys, "softmax.forward", "activation.forward.gelu",
                                  "gemm", "--size", "small", "--dtype", "mixed_float16",
                                  "--repeat", "1")
    assert document["dtype"] == "mixed_float16" and document["failed"] == 0
    assert all(result["passed"] and result["skipped"] is None
               for result in document["results"]
               if catalog.ENTRIES[result["name"]].available(device))
    # They ran in f16: the GEMMs' results (of positive terms, far from f16's subnormals, where
    # SoftMax's and GELU's err relatively) are rounded to 2^-11; float32's within ~1e-7.
    errors = [output["max_rel_error"] for result in document["results"]
              if result["name"].startswith("gemm") for output in result["outputs"].values()]
    assert 1e-5 < max(errors) < 1e-3
    assert document["roofline"]["compute_dtype"] == "mixed_float16"
    assert "], mixed_float16: roofline" in printed
    code = main(["bench", "softmax.forward", "--size", "small", "--compare",
                 str(tmp_path / "bench.json")])
    captured = capsys.readouterr()
    assert code == 2 and "its kernels ran in 'mixed_float16', these in 'float32'" in captured.err


def test_bench_lists_what_it_skips_with_the_reason(monkeypatch, tmp_path, capsys):
    """An entry a dtype can't run and one the adapter can't are results with the reason,
    neither silently dropped nor counted as failures."""
    monkeypatch.setitem(catalog.ENTRIES, "copy", dataclasses.replace(
        catalog.ENTRIES["copy"], unsupported={"float32": "a test says so"}))
    monkeypatch.setitem(catalog.ENTRIES, "softmax.forward", dataclasses.replace(
        catalog.ENTRIES["softmax.forward"], available=lambda device: False,
        needs="an adapter this test has not"))
    document, printed = run_bench(tmp_path, capsys, "copy", "softmax.forward", "--size", "small",
                                  "--repeat", "1")
    assert document["failed"] == 0 and len(document["results"]) == 4
    assert {result["skipped"] for result in document["results"]} == {
        "not in float32: a test says so",
        f"not on {document['device']['name']}: an adapter this test has not"}
    assert not any(result["passed"] or result["median_s"] for result in document["results"])
    assert "SKIPPED copy 4: not in float32: a test says so" in printed
    assert re.search(r"softmax.forward +1 +skipped", printed), printed


def test_bench_refuses_a_dtype_the_adapter_lacks_before_any_gpu_work(
        device, monkeypatch, capsys):
    without = masked(device, "shader-f16")

    async def masked_default():
        return without

    monkeypatch.setattr(intricate.cli, "default_device", masked_default)
    before = dict(device.stats)
    code = main(["bench", "softmax.forward", "--size", "small", "--dtype", "mixed_float16"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert (f"needs the WebGPU feature 'shader-f16', which the adapter {device.name!r}"
            in captured.err)
    assert dict(device.stats) == before


def test_bench_fails_on_a_wrong_reference(monkeypatch, capsys):
    entry = catalog.ENTRIES["copy"]
    wrong = entry.__class__(**{**entry.__dict__, "reference": lambda source, **_: {
        "destination": -source}})
    monkeypatch.setitem(catalog.ENTRIES, "copy", wrong)
    code = main(["bench", "copy", "--size", "small", "--repeat", "1"])
    printed = capsys.readouterr().out
    assert code == 1 and "FAILED copy 4100" in printed and "FAIL destination" in printed


KERNEL = """
struct Params { count: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn axpy(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.count) { return; }
    y[id.x] = params.scale * x[id.x] + y[id.x];
}
"""
REFERENCE = """
def axpy(x, y, scale, count):
    return {"y": scale * x + y}

def wrong(x, y, scale, count):
    return {"y": scale * x - y}
"""


@pytest.fixture
def kernel_files(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "axpy.wgsl").write_text(KERNEL)
    (tmp_path / "reference.py").write_text(REFERENCE)
    x, y = (rng.standard_normal(100).astype(np.float32) for _ in range(2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return tmp_path, x, y


def test_run_writes_checks_and_times_a_kernel_file(kernel_files, capsys):
    folder, x, y = kernel_files
    arguments = ["run", str(folder / "axpy.wgsl"), "--input", f"x={folder / 'x.npy'}",
                 "--input", f"y={folder / 'y.npy'}", "--param", "count=100", "--param",
                 "scale=2.5", "--output", str(folder / "out")]
    code = main([*arguments, "--check", f"{folder / 'reference.py'}:axpy", "--time",
                 "--repeat", "3", "--flops", "200"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    # A GPU may fuse the multiply-add (one rounding instead of two): where 2.5x and y nearly
    # cancel, that differs by an ulp of the terms, not of the sum (an H200: 3e-6 relative).
    expected = 2.5 * x.astype(np.float64) + y
    np.testing.assert_allclose(np.load(folder / "out" / "y.npy"), expected, rtol=1e-6,
                               atol=2e-7 * np.abs(2.5 * x).max())
    assert "passed" in printed and "ok   y" in printed
    assert "median" in printed and "timestamp" in printed and "GFLOP/s" in printed
    assert main([*arguments, "--check", f"{folder / 'reference.py'}:wrong"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_run_renders_a_templated_kernel_in_the_dtype_asked(device, kernel_files, capsys):
    """--dtype mixed_float16: {{ dtype }} is f16 (the .npy inputs rounded to it, the outputs
    written as float16), {{ accumulate }} f32."""
    skip_unsupported(device, MIXED_FLOAT16)
    folder, x, y = kernel_files
    templated = KERNEL.replace("array<f32>", "array<{{ dtype }}>").replace(
        "params.scale * x[id.x] + y[id.x]",
        "{{ dtype }}(params.scale * {{ accumulate }}(x[id.x]) + {{ accumulate }}(y[id.x]))")
    (folder / "templated.wgsl").write_text(templated)
    code = main(["run", str(folder / "templated.wgsl"), "--input", f"x={folder / 'x.npy'}",
                 "--input", f"y={folder / 'y.npy'}", "--param", "count=100", "--param",
                 "scale=2.5", "--output", str(folder / "out"), "--dtype", "mixed_float16",
                 "--check", f"{folder / 'reference.py'}:axpy"])  # at f16's default rtol, 1e-3
    assert code == 0, capsys.readouterr()
    got = np.load(folder / "out" / "y.npy")
    x16, y16 = (values.astype(np.float16).astype(np.float64) for values in (x, y))
    assert got.dtype == np.float16
    # One f16 rounding of the f32 sum (2^-11 of it, 2^-25 absolute below f16's normals), plus
    # f32's rounding of its terms where they cancel.
    want, terms = 2.5 * x16 + y16, np.abs(2.5 * x16) + np.abs(y16)
    assert np.all(np.abs(got - want) <= 2.0**-11 * np.abs(want) + 2.0**-23 * terms + 2.0**-25)


@pytest.mark.parametrize(("arguments", "message"), [
    (["bench", "softmx"], "kernel 'softmx': expected a catalog name"),
    (["bench", "copy", "--size", "huge"], "--size: expected one of"),
    (["bench", "copy", "--compare", "/nonexistent.json"], "--compare: /nonexistent.json is "),
    (["run", "{folder}/missing.wgsl"], "is neither a file nor a built-in shader"),
    (["run", "{folder}/axpy.wgsl", "--input", "x"], "--input: expected NAME=VALUE"),
    (["run", "{folder}/axpy.wgsl", "--input", "x={folder}/x.npy", "--param", "count=100",
      "--param", "scale=2", "--shape", "y=100", "--check", "{folder}/reference.py:nothing"],
     "has no function 'nothing'"),
    (["run", "{folder}/axpy.wgsl", "--input", "x={folder}/x.npy", "--param", "count=100",
      "--shape", "y=100"], "scale"),  # a missing uniform field, named before any GPU work
    (["run", "{folder}/broken.wgsl"], "broken.wgsl:10:15: "),  # compile error: file:line:column
])
def test_mistakes_are_one_line_on_stderr_with_exit_code_2(kernel_files, capsys, arguments,
                                                          message):
    folder = kernel_files[0]
    (folder / "broken.wgsl").write_text(KERNEL.replace("y[id.x] = params", "y[id.x] = parms"))
    code = main([argument.format(folder=folder) for argument in arguments])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith(f"intricate {arguments[0]}: error: ")
    assert message in captured.err and "Traceback" not in captured.err
    if "broken" not in arguments[1]:
        assert captured.err.count("\n") == 1
