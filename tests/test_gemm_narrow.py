"""The subgroup GEMM's per-layout reads on software adapters, against the float64 NumPy product
at edge sizes, through split K and past loops.LOOP_BOUND: narrow outputs (N = 10: the last Dense
layer of a classifier) read a from texels and b (no whole texels in its rows) by scalar loads from
its buffer; the weight gradient (a = xᵀ as texels of four rows) takes the config's
transposed_a rows and quads."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from test_gemm import LAYOUTS, needs_subgroup_kernel, run_gemm

from intricate import gpu
from intricate.ops import loops
from intricate.ops.gemm import SubgroupConfig, record_gemm
from intricate.ops.gemm import subgroup as gemm_subgroup

from harness import assert_close, run_programs

FORWARD, WEIGHTS = "forward x·W", "weight gradient xᵀ·dY"
NARROW = SubgroupConfig(64, 1, texels=True)  # what choose gives a 10-wide output from texels
WIDE = SubgroupConfig(32, 2, texels=True, transposed_a=(64, 1))  # and a wide one

CASES = [  # (m, n, k, layout, config): a's texels need K (forward) or M (xᵀ) a multiple of 4
    pytest.param(68, 10, 100, FORWARD, NARROW, id="rows_past_a_group_and_a_short_last_block"),
    pytest.param(65, 10, 100, FORWARD, NARROW, id="one_row_past_a_group"),
    pytest.param(64, 1, 32, FORWARD, NARROW, id="one_column_one_whole_block"),
    pytest.param(3, 7, 4, FORWARD, SubgroupConfig(3, 1, texels=True), id="k_of_one_texel"),
    pytest.param(68, 10, 100, WEIGHTS, NARROW, id="four_rows_a_texel_with_column_sums"),
    pytest.param(8, 3, 33, WEIGHTS, SubgroupConfig(4, 1, texels=True), id="k_one_past_a_block"),
    pytest.param(68, 36, 100, WEIGHTS, WIDE, id="transposed_a_rows_past_a_group"),
    pytest.param(132, 68, 65, WEIGHTS, SubgroupConfig(8, 1, texels=True, transposed_a=(4, 4)),
                 id="transposed_a_small_groups_wide_columns"),
    pytest.param(68, 36, 100, FORWARD, WIDE, id="forward_keeps_its_rows"),
]


@pytest.mark.parametrize("m,n,k,layout,config", CASES)
async def test_narrow_output_from_texels_matches_reference(device, rng, m, n, k, layout, config):
    needs_subgroup_kernel(device)
    got, want, _, _, scale = await run_gemm(device, rng, m, n, k, layout, config,
                                            column_sums=layout == WEIGHTS)
    assert_close(got, want, scale=scale)


async def test_narrow_output_epilogues_from_texels(device, rng):
    """The forward's bias and activation, and a dX epilogue's f'(o), after a's texels."""
    needs_subgroup_kernel(device)
    got, want, bias, _, scale = await run_gemm(device, rng, 68, 10, 100, FORWARD, NARROW,
                                               bias=True, activation="relu")
    assert_close(got, np.maximum(want + bias, 0), scale=scale + np.abs(bias))
    got, want, _, outputs, scale = await run_gemm(device, rng, 68, 10, 100, FORWARD, NARROW,
                                                  derivative="sigmoid")
    assert_close(got, want * outputs * (1 - outputs), scale=scale)


@pytest.mark.parametrize("bound", [8, loops.LOOP_BOUND], ids=["split_k", "whole_k"])
@pytest.mark.parametrize("n,config", [(10, NARROW), (36, WIDE)], ids=["narrow", "wide"])
async def test_kept_pre_activations_include_the_bias_loaded_once(device, rng, monkeypatch, n,
                                                                 config, bound):
    """The bias is added to the sums before the epilogue (rendered without one): the kept x
    (pre_activations, for a derivative that reads it) must hold a·b + bias too, from texels and
    through split K (sum_splits adds the bias there)."""
    needs_subgroup_kernel(device)
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)
    m, k = 68, 100
    a, b = rng.uniform(-1, 1, (m, k)), rng.uniform(-1, 1, (k, n))
    bias = rng.uniform(-1, 1, n)

    def record(program, uploaded):
        c, kept = gpu.empty(program.device, (m, n)), gpu.empty(program.device, (m, n))
        record_gemm(program, uploaded["a"], uploaded["b"], c, m, n, k, (k, 1), (n, 1),
                    bias=uploaded["bias"], activation="hyperbolic_tangent", pre_activations=kept,
                    config=config)
        return [c, kept]

    c, kept = await run_programs(device, record, {"a": a, "b": b, "bias": bias}, m)
    x = a.astype(np.float32).astype(np.float64) @ b.astype(np.float32) + bias.astype(np.float32)
    scale = np.abs(a) @ np.abs(b) + np.abs(bias)
    assert_close(kept, x, scale=scale)
    assert_close(c, np.tanh(x), scale=scale)


@pytest.mark.parametrize("layout,n,config", [(FORWARD, 10, NARROW), (WEIGHTS, 10, NARROW),
                                             (WEIGHTS, 36, WIDE)])
async def test_split_k_with_lowered_loop_bound(device, rng, monkeypatch, layout, n, config):
    """LOOP_BOUND 8: chunks of two 4·W blocks, the last one short, summed by sum_splits (which
    adds the column sums too)."""
    needs_subgroup_kernel(device)
    monkeypatch.setattr(loops, "LOOP_BOUND", 8)
    splits, chunk = await device.run(gemm_subgroup.split_k, device, 200)
    assert splits > 1 and (splits - 1) * chunk < 200
    got, want, _, _, scale = await run_gemm(device, rng, 68, n, 200, layout, config,
                                            column_sums=layout == WEIGHTS)
    assert_close(got, want, scale=scale)


async def test_narrow_output_past_the_real_loop_bound(device, rng):
    """K past LOOP_BOUND blocks of 4·W k's (and past llvmpipe's 65535 iterations had it been one
    loop): split K, every k counted (a loop stopped early would drop whole chunks)."""
    needs_subgroup_kernel(device)
    block = 4 * await device.run(gemm_subgroup.width, device)
    k = loops.LOOP_BOUND * block + 36
    splits, _ = await device.run(gemm_subgroup.split_k, device, k)
    assert splits >= 2
    got, want, _, _, scale = await run_gemm(device, rng, 4, 10, k, FORWARD, NARROW)
    assert_close(got, want, scale=scale)


@pytest.mark.parametrize("layout", [FORWARD, WEIGHTS])
async def test_narrow_output_copies_only_a_into_texels(device, layout, monkeypatch):
    """A 10-wide output from texels: a's texels ("k" of x, "m" of xᵀ), b's scalar loads (b_vec4
    None), one texel copy; from buffers (texels off, or a's rows not on texels) no copy."""
    needs_subgroup_kernel(device)
    chosen, original = [], gemm_subgroup.template
    monkeypatch.setattr(gemm_subgroup, "template", lambda *args: (
        chosen.append((args[2], args[7])), original(*args))[1])

    def record(m: int, k: int, texels: bool) -> list[str]:
        program = gpu.Program(gpu.Workspace(device, m))
        a, b = gpu.empty(device, (m, k)), gpu.empty(device, (k, 10))
        record_gemm(program, a, b, gpu.empty(device, (m, 10)), m, 10, k,
                    *(f(m, 10, k) for f in LAYOUTS[layout]),
                    config=SubgroupConfig(64, 1, texels=texels))
        return [type(step).__name__ for step in program.steps]

    assert await device.run(record, 64, 64, True) == ["TexelCopy", "Dispatch"]
    assert await device.run(record, 64, 64, False) == ["Dispatch"]
    # a's rows (forward: K) or its columns of xᵀ (M) not on texels: from buffers.
    odd = (64, 63) if layout == FORWARD else (63, 64)
    assert await device.run(record, *odd, True) == ["Dispatch"]
    a_expected = "k" if layout == FORWARD else "m"
    assert chosen == [(None, a_expected), (None, None), (None, None)]



async def test_weight_gradient_by_default_matches_reference(device, rng):
    """No config: choose's (texels from TEXELS_FROM multiply-adds, transposed_a for xᵀ)."""
    needs_subgroup_kernel(device)
    assert 68 * 64 * 1000 >= gemm_subgroup.TEXELS_FROM
    got, want, _, _, scale = await run_gemm(device, rng, 68, 64, 1000, WEIGHTS,
                                            column_sums=True)
    assert_close(got, want, scale=scale)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_only_the_weight_gradient_takes_transposed_a(device, layout, monkeypatch):
    """transposed_a's rows and quads (template and grid) where a comes as four rows at one k;
    the config's own elsewhere, and wherever a comes from buffers."""
    needs_subgroup_kernel(device)
    chosen, original = [], gemm_subgroup.template
    monkeypatch.setattr(gemm_subgroup, "template", lambda *args: (
        chosen.append((args[0].rows, args[0].quads, args[7])), original(*args))[1])
    lanes = await device.run(gemm_subgroup.width, device)

    def grid(size: int, texels: bool) -> tuple[int, int, int]:
        program = gpu.Program(gpu.Workspace(device, size))
        a, b, c = (gpu.empty(device, (size, size)) for _ in range(3))
        record_gemm(program, a, b, c, size, size, size,
                    *(f(size, size, size) for f in LAYOUTS[layout]),
                    config=SubgroupConfig(32, 2, texels=texels, transposed_a=(64, 1)))
        return program.steps[-1].grid

    texel_grid, buffer_grid = await device.run(grid, 256, True), await device.run(grid, 256, False)
    if layout == WEIGHTS:
        assert chosen == [(64, 1, "m"), (32, 2, None)]
        assert texel_grid == (256 // (4 * lanes), 256 // 64, 1)
    else:
        assert chosen == [(32, 2, "k"), (32, 2, None)]
        assert texel_grid == (256 // (8 * lanes), 256 // 32, 1)
    assert buffer_grid == (256 // (8 * lanes), 256 // 32, 1)


def test_transposed_a_is_checked_and_survives_json():
    """A tuning table (ops/gemm/tuning.py) stores configs as JSON: the list comes back equal."""
    config = gemm_subgroup.choose(4096, 512, 4096, 8)
    assert SubgroupConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
    for bad in ((30, 1), (68, 1), (64, 3), (0, 1)):
        with pytest.raises(ValueError, match="transposed_a's rows a multiple of 4"):
            SubgroupConfig(transposed_a=bad)
