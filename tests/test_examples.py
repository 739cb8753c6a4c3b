"""Every script in examples/ runs to the end (each checks its own result) and the wheel built
from this checkout carries the shaders, so `pip install .` works outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
# Shorter runs where the full one takes long on lavapipe; each script checks its own result.
ARGUMENTS = {"digits.py": ["--epochs", "8", "--min-accuracy", "0.90"],
             # Not over the README's committed pictures: into a scratch folder.
             "make_pictures.py": ["--output", str(Path(tempfile.gettempdir())
                                                  / "intricate-make-pictures")]}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(script):
    result = subprocess.run([sys.executable, str(script), *ARGUMENTS.get(script.name, [])],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout[-300:])


def test_digits_trains_in_mixed_float16():
    """examples/digits.py --dtype mixed_float16 (about 4 s on lavapipe) reaches the same
    accuracy check as float32; the line it prints names the model's dtype, not the option's."""
    script = ROOT / "examples" / "digits.py"
    result = subprocess.run([sys.executable, str(script), *ARGUMENTS["digits.py"], "--dtype",
                             "mixed_float16"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mixed_float16: validation accuracy" in result.stdout, result.stdout[-300:]


def test_installed_wheel_finds_its_shaders(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("intricate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n[len("intricate/shaders/"):] for n in names
               if n.startswith("intricate/shaders/") and n.endswith(".wgsl")}
    assert shipped == {p.relative_to(ROOT / "shaders").as_posix()
                       for p in (ROOT / "shaders").rglob("*.wgsl")}
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    # Run from an empty folder against the unpacked wheel alone: no source tree to fall back on.
    script = ("import asyncio, numpy as np, intricate\n"
              "from intricate.layers import Dense, ReLU\n"
              "assert 'site' in intricate.__file__, intricate.__file__\n"
              "m = intricate.Model([Dense(2, 2), ReLU()], seed=0)\n"
              "print(asyncio.run(m.predict(np.ones((1, 2)))))\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
