"""Every script in examples/ runs to the end (each checks its own result) and the wheel built
from this checkout carries the shaders, so `pip install .` works outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_datasets import idx_bytes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
# Shorter runs where the full one takes long on lavapipe; each script checks its own result.
ARGUMENTS = {"digits.py": ["--epochs", "8", "--min-accuracy", "0.90"],
             # Not over the README's committed pictures: into a scratch folder.
             "make_pictures.py": ["--output", str(Path(tempfile.gettempdir())
                                                  / "intricate-make-pictures")]}




def write_learnable_mnist(folder: Path, counts=(160, 60)) -> Path:
    """A small stand-in for the four MNIST files: 28×28 images, each label a bright 6×6 square at
    its own place (plus noise), so mnist_cnn.py's network can learn it in a few epochs."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, count in zip(("train", "t10k"), counts):
        labels = (np.arange(count) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels):
            row, column = 2 + 12 * (label // 5), 2 + 5 * (label % 5)
            image[row:row + 6, column:column + 6] = 255
        (folder / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return folder


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(script, tmp_path):
    arguments = ARGUMENTS.get(script.name, [])
    if script.name == "mnist_cnn.py":  # on stand-in files: nothing is downloaded in tests
        arguments = ["--data", str(write_learnable_mnist(tmp_path / "mnist")), "--epochs", "2",
                     "--min-accuracy", "0.9"]
    result = subprocess.run([sys.executable, str(script), *arguments],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout[-300:])


def test_mnist_example_without_the_files_says_where_to_get_them(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "mnist_cnn.py"), "--data",
                             str(tmp_path / "nowhere")], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "is not a folder" in result.stderr and "train-images-idx3-ubyte" in result.stderr
    assert "ossci-datasets" in result.stderr and "Traceback" not in result.stderr


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
