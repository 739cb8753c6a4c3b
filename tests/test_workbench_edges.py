"""The kernel workbench at its edges, as a hostile user meets them: user WGSL can't run Python
through its template, odd values and declarations are refused before any GPU work with a
message that says what to do, and the CLI reports every bad argument in one line."""

from __future__ import annotations

import json
import os

import pytest
from test_kernels import SCALE, counters
from test_wgsl_layer import SQUAREPLUS

from intricate import Model, ModelFileError, ShaderError
from intricate.io import files
from intricate.kernels import Kernel
from intricate.layers import Dense, WGSLLayer

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
    before = counters(device)
    with pytest.raises(ModelFileError, match="sandbox"):
        Model.load(tampered, device=device, allow_code=True)
    assert "INTRICATE_INJECTED" not in os.environ and counters(device) == before
