"""Shader templates: each built-in kernel rendered for representative template values equals its
golden file byte for byte (INTRICATE_UPDATE_GOLDEN=1 rewrites them: review the diff), every
rendered kernel and every Python-generated GEMM fragment has balanced braces, templating is
strict with includes, and rendered kernels can be dumped for reading."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import intricate
from intricate.gpu import shaders
from intricate.ops.gemm import GemmConfig, SubgroupConfig, codegen, subgroup

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("INTRICATE_UPDATE_GOLDEN") == "1"


def _tiled(config, a_k, b_n, **epilogue):
    return codegen.template(config, a_k, b_n, **{"bias": False, "activation": None, **epilogue})


# name → (shader, template values); the name is the golden file's.
RENDERS = {
    "tiled.forward_relu_pipelined_two_stage": ("ops/gemm/tiled.wgsl", _tiled(
        GemmConfig(128, 128, 16, stages=2), False, True, bias=True, activation="relu",
        a_vec4=True, b_vec4=True)),
    "tiled.dx_gelu_edge_loads": ("ops/gemm/tiled.wgsl", _tiled(
        GemmConfig(32, 32, 16, side=8), True, False, derivative="gelu", inputs_kept=True)),
    "tiled.dw_column_sums_split_k": ("ops/gemm/tiled.wgsl", _tiled(
        GemmConfig(64, 64, 16), False, True, column_sums=True, a_vec4=True, b_vec4=True,
        split=True)),
    "tiled.conv_dx_gathers_relu_derivative": ("ops/gemm/tiled.wgsl", _tiled(
        GemmConfig(64, 64, 16, side=8), True, False, derivative="relu",
        a_gather="output_patches", b_gather="kernel_transposed")),
    "subgroup.forward_silu_texels": ("ops/gemm/subgroup.wgsl", subgroup.template(
        SubgroupConfig(8, 1, texels=True), 8, "n", True, "silu", None, False, "k",
        inputs_kept=True)),
    "subgroup.conv_forward_patches_relu": ("ops/gemm/subgroup.wgsl", subgroup.template(
        SubgroupConfig(8, 1), 8, "n", True, "relu", None, False, a_gather="patches")),
    "subgroup.dx_tanh_from_buffers": ("ops/gemm/subgroup.wgsl", subgroup.template(
        SubgroupConfig(32, 1), 8, "k", False, None, "hyperbolic_tangent", True)),
    "activation.relu": ("layers/activation.wgsl", {"activation": "relu", "inputs_kept": False}),
    "activation.gelu": ("layers/activation.wgsl", {"activation": "gelu", "inputs_kept": True}),
    "softmax": ("layers/softmax.wgsl", {}),
    "dropout": ("layers/dropout.wgsl", {}),
    "normalization.gelu_after_elu_before": ("layers/normalization.wgsl", {
        "scale": True, "center": True, "activation": "gelu", "inputs_kept": True,
        "derivative": "elu", "derivative_reads_inputs": True}),
    "pooling.argmax": ("layers/pooling.wgsl", {"argmax": True}),
    "losses.mean_squared": ("losses.wgsl", {"loss": "mean_squared"}),
    "losses.categorical_crossentropy": ("losses.wgsl", {"loss": "categorical_crossentropy"}),
    "optimizers": ("optimizers.wgsl", {}),
    "optimizers.mixed_float16": ("optimizers.wgsl", {"dtype": "f16", "accumulate": "f32"}),
    "losses.mean_squared.mixed_float16": ("losses.wgsl", {"loss": "mean_squared", "dtype": "f16",
                                                          "accumulate": "f32"}),
    "loss_scale": ("engine/loss_scale.wgsl", {}),
    "tiny_fit.adam_gelu": ("engine/tiny_fit.wgsl", {
        "layers": ((3, 5, 0, 15, "gelu", 0.0, True), (5, 2, 20, 30, "sigmoid", 0.0, False)),
        "parameter_count": 32, "batch_size": 4, "moments": 2, "optimizer": "adam",
        "loss": "binary_crossentropy", "softmax": False, "slot": 4, "size": 10}),
    "tiny_fit.softmax_momentum": ("engine/tiny_fit.wgsl", {
        "layers": ((3, 5, 0, 15, "relu", 0.0, False), (5, 4, 20, 40, "identity", 0.0, False)),
        "parameter_count": 44, "batch_size": 8, "moments": 1, "optimizer": "momentum",
        "loss": "categorical_crossentropy", "softmax": True, "slot": 4, "size": 10}),
    "gather": ("ops/gather.wgsl", {"x_lanes": 1, "y_lanes": 1, "indexed": True,
                                   "cursor": False}),
    "gather.vec4_permutation_cursor": ("ops/gather.wgsl", {"x_lanes": 4, "y_lanes": 2,
                                                           "indexed": True, "cursor": True}),
    "gather.in_order_cursor": ("ops/gather.wgsl", {"x_lanes": 4, "y_lanes": 1,
                                                   "indexed": False, "cursor": True}),
    "copy": ("ops/copy.wgsl", {}),
    "statistics": ("ops/statistics.wgsl", {"slot": 4, "size": 10}),
}


def balanced(text: str) -> bool:
    depth = 0
    for character in re.sub(r"//[^\n]*", "", text):
        depth += {"{": 1, "}": -1}.get(character, 0)
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_rendered_kernels_equal_their_golden_files(name):
    shader, values = RENDERS[name]
    text = shaders.render(shader, {"dtype": "f32", **values})
    assert balanced(text), f"{name}: unbalanced braces"
    path = GOLDEN / f"{name}.wgsl"
    if UPDATE:
        path.write_text(text)
    assert path.is_file(), f"{path} missing: run with INTRICATE_UPDATE_GOLDEN=1"
    assert text == path.read_text(), (f"{shader} renders differently from {path}; if intended, "
                                      "run with INTRICATE_UPDATE_GOLDEN=1 and review the diff")


def test_every_kernel_file_has_a_golden_render():
    roots = [folder for folder in shaders.SHADER_DIRS if folder.is_dir()]
    kernels = {str(path.relative_to(roots[0])) for path in roots[0].rglob("*.wgsl")
               if "@compute" in path.read_text()}
    assert kernels == {shader for shader, _ in RENDERS.values()}


@pytest.mark.parametrize("name", [n for n in sorted(RENDERS) if "tiled" in n or "subgroup" in n])
def test_python_generated_gemm_fragments_are_balanced_statements(name):
    for key, value in RENDERS[name][1].items():
        if isinstance(value, str):
            assert balanced(value), f"{name}: the value of {key!r} has unbalanced braces"


def test_templates_are_strict_and_include(tmp_path, monkeypatch):
    (tmp_path / "library.wgsl").write_text("fn twice(x: {{ dtype }}) -> {{ dtype }} "
                                           "{ return {{ factor }} * x; }\n")
    (tmp_path / "main.wgsl").write_text("// main\n{% if doubled %}const D = 1;{% endif %}\n"
                                        '{% include "library.wgsl" %}\n')
    monkeypatch.setattr(shaders, "SHADER_DIRS", (tmp_path,))
    text = shaders.render("main.wgsl", {"dtype": "f32", "factor": "2.0", "doubled": True})
    assert text == "// main\nconst D = 1;\nfn twice(x: f32) -> f32 { return 2.0 * x; }\n\n"
    with pytest.raises(intricate.ShaderError, match=r"main\.wgsl: placeholders missing values "
                                                     r"\['factor'\]"):
        shaders.render("main.wgsl", {"dtype": "f32", "doubled": False})
    with pytest.raises(intricate.ShaderError, match=r"values given for no placeholder \['x'\]"):
        shaders.render("main.wgsl", {"dtype": "f32", "factor": 1, "doubled": 1, "x": 1})
    (tmp_path / "broken.wgsl").write_text('{% include "nowhere.wgsl" %}\n')
    with pytest.raises(intricate.ShaderError, match="broken.wgsl: includes 'nowhere.wgsl'"):
        shaders.render("broken.wgsl", {})


async def test_rendered_kernels_can_be_dumped(device, tmp_path, monkeypatch):
    monkeypatch.setenv(shaders.DUMP_VARIABLE, str(tmp_path / "env"))
    built = await device.run(shaders.kernel, device, "layers/activation.wgsl", "forward", 32,
                             dtype="f32", activation="elu", inputs_kept=False)
    (written,) = (tmp_path / "env").iterdir()
    assert written.name.startswith("layers.activation.forward.") and written.suffix == ".wgsl"
    assert written.read_text() == built.source and "fn elu(" in built.source
    files = shaders.dump_shaders(device, tmp_path / "all")
    assert tmp_path / "all" / written.name in files and len(files) == len(set(files))
    assert all(path.read_text().count("{") == path.read_text().count("}") for path in files)


async def test_a_dump_folder_that_cannot_be_written_is_named_in_the_error(device, tmp_path,
                                                                          monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv(shaders.DUMP_VARIABLE, str(blocker / "sub"))
    with pytest.raises(intricate.ShaderError, match=rf"INTRICATE_DUMP_SHADERS={blocker}/sub: "
                                                    r"cannot write .* unset it"):
        # a variant no other test builds, so the kernel cache can't answer first
        await device.run(shaders.kernel, device, "layers/activation.wgsl", "forward", 48,
                         dtype="f32", activation="softplus", inputs_kept=True)
