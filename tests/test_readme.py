"""The README stays true: its Python examples run, and CI runs its test command verbatim (and
then the slow tier)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_python_example_runs(index, tmp_path):
    result = subprocess.run([sys.executable, "-c", PYTHON_BLOCKS[index]], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command():
    demo, tests = (block.strip() for block in SHELL_BLOCKS[:2])
    assert demo.endswith("examples/xor.py") and "pytest" in tests
    ci_commands = [line for line in (ROOT / ".ci/run").read_text().splitlines()
                   if line and not line.startswith(("#", "set ", "cd ", "export "))]
    assert ci_commands == [tests, ".venv/bin/python -m pytest -m serial -n 0",
                           ".venv/bin/python -m pytest -m slow"]  # then the other tiers
