"""GEMM tuning: timed once per shape class, remembered on disk per adapter, off in tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from intricate import gpu
from intricate.ops.gemm import CONFIGS, GemmConfig, SubgroupConfig, tuning
from intricate.ops.gemm import subgroup as gemm_subgroup
from intricate.ops.gemm import tiled as gemm

from harness import abs_matmul, assert_close, run_programs


def test_the_test_suite_never_tunes():
    assert not tuning.enabled()


def test_shape_classes_round_up_to_powers_of_two():
    assert tuning.shape_class(100, 512, 513, (513, 1), (512, 1)) == "kn:128x512x1024"
    assert tuning.shape_class(1, 1, 1, (1, 100), (1, 5)) == "mk:16x16x16"


@pytest.mark.parametrize("tiles", [pytest.param(2, id="two_tiles"),  # compiling is the cost
                                   pytest.param(len(CONFIGS), id="every_tile",
                                                marks=pytest.mark.slow)])
async def test_first_use_times_candidates_then_remembers(device, tmp_path, monkeypatch, rng,
                                                         tiles):
    monkeypatch.setattr(gemm, "CONFIGS", CONFIGS[:tiles])
    monkeypatch.setenv("INTRICATE_GEMM_TUNING", "on")
    monkeypatch.setenv("INTRICATE_CACHE_DIR", str(tmp_path))
    timed = []
    real = tuning.time_steps

    def counting(device, steps, repeats=1, samples=2):
        timed.append(steps)
        return real(device, steps, repeats, samples)

    monkeypatch.setattr(tuning, "time_steps", counting)
    monkeypatch.setattr(tuning, "SMALLEST_TUNED", 0)  # tune even this small GEMM
    m, n, k = 70, 40, 30
    x = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    w = rng.uniform(-1, 1, (k, n)).astype(np.float32)

    def record(program, a):
        c = gpu.empty(program.device, (m, n))
        gemm.record_gemm(program, a["x"], a["w"], c, m, n, k, (k, 1), (n, 1))
        return [c]

    tuner = tuning.Tuner(device)  # a fresh one, as in a new process
    device.cache["gemm-tuner"] = tuner
    try:
        (got,) = await run_programs(device, record, {"x": x, "w": w}, m)
        candidates = [c for c in CONFIGS[:tiles]
                      if c.workgroup_bytes <= device.limits["max-compute-workgroup-storage-size"]]
        if gemm_subgroup.usable(device):  # a software adapter's own kernel competes too
            candidates.append(gemm_subgroup.choose(m, n, k, await device.run(gemm_subgroup.width,
                                                                        device)))
        assert len(timed) == len(candidates) and tuner.timed == 1
        assert_close(got, x.astype(np.float64) @ w, scale=abs_matmul(x, w))
        stored = json.loads((tmp_path / "gemm-tuning.json").read_text())
        choice = stored[tuner.key]["kn:128x64x32"]
        kind = SubgroupConfig if "rows" in choice else GemmConfig
        assert kind(**choice) in candidates
        # Same shape class again, and a new process (a new Tuner reading the file): no timing.
        await run_programs(device, record, {"x": x, "w": w}, m)
        device.cache["gemm-tuner"] = tuning.Tuner(device)
        await run_programs(device, record, {"x": x, "w": w}, m)
        assert len(timed) == len(candidates)
        assert device.cache["gemm-tuner"].table == tuner.table
    finally:
        del device.cache["gemm-tuner"]


async def test_small_gemms_keep_the_heuristic(device, monkeypatch):
    monkeypatch.setenv("INTRICATE_GEMM_TUNING", "on")
    a, b, c = [await device.run(gpu.empty, device, (64, 64)) for _ in range(3)]
    chosen = await device.run(gemm.select, device, a, b, c, 64, 64, 64, (64, 1), (64, 1))
    assert chosen == gemm.choose(64, 64, device.limits["max-compute-workgroup-storage-size"])
    assert "gemm-tuner" not in device.cache


def test_a_broken_cache_file_is_ignored(device, tmp_path, monkeypatch):
    monkeypatch.setenv("INTRICATE_CACHE_DIR", str(tmp_path))
    (tmp_path / "gemm-tuning.json").write_text("{not json")
    assert tuning.Tuner(device).table == {}
