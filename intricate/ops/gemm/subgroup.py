"""The GEMM for software adapters: shaders/ops/gemm/subgroup.wgsl and the code spliced into it.

Same contract as gemm.record_gemm (strided a and b, the same fused epilogues), built for
llvmpipe, where a subgroup is one SIMD vector of a CPU core and every per-lane load is a scalar
loop: each workgroup is one subgroup, a's values reach all lanes by ``subgroupBroadcast`` and only
b is loaded per lane (see the shader's header). Large GEMMs read a and b as texels instead
(copied into textures first, see gpu/texels.py): llvmpipe fetches a texel per lane without that
loop. gemm.select takes this kernel on CPU adapters with subgroups; on GPUs the tiled kernel of
tiled.wgsl is far faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import wgpu

from ...gpu import GPUArray, Program, fold_grid, texels
from ...gpu.dtypes import FLOAT32, Precision
from .. import loops
from .codegen import element_type, epilogue_values, gather_values, narrow, widen
from .subgroup_texels import operand_reads, texel_steps

# From this many multiply-adds on, a and b are copied into texels first (two buffer-to-texture
# copies: below, their fixed cost outweighs the faster loads).
TEXELS_FROM = 1 << 22

WIDTH_PROBE = """
@group(0) @binding(0) var<storage, read_write> width: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(subgroup_size) size: u32, @builtin(local_invocation_index) i: u32) {
    if (i == 0u) { width[0] = size; }
}
"""


@dataclass(frozen=True)
class SubgroupConfig:
    """A workgroup of one subgroup owning ``rows`` rows of c and, per lane, ``quads`` vec4s of
    columns. rows × quads × 4 accumulators per lane: llvmpipe keeps the ones that don't fit its
    registers on the stack, which still costs less than loading b more often."""

    rows: int = 32
    quads: int = 2
    texels: bool = False  # read a and b as texels when their layouts allow (see record)
    # (rows, quads) instead when a comes as texels of four rows at one k (a = xᵀ: dW = xᵀ·dY)
    transposed_a: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.transposed_a is not None:  # a tuning table's JSON gives a list
            object.__setattr__(self, "transposed_a", tuple(self.transposed_a))
        rows, quads = self.transposed_a or (4, 1)
        if rows % 4 or not 1 <= rows <= 64 or quads not in (1, 2, 4):
            raise ValueError(f"SubgroupConfig: expected transposed_a's rows a multiple of 4 up "
                             f"to 64 and quads 1, 2 or 4, received {self}")
        if not 1 <= self.rows <= 64 or self.quads not in (1, 2, 4):
            raise ValueError(f"SubgroupConfig: expected rows from 1 to 64 and quads 1, 2 or 4, "
                             f"received {self}")


def choose(m: int, n: int, k: int, width: int) -> SubgroupConfig:
    """32 rows and 2 vec4s of columns per lane, one vec4 when the output is narrower; operands
    read as texels from TEXELS_FROM multiply-adds on. On llvmpipe (2 cores, 1024³, GF/s for
    forward / dY·Wᵀ / xᵀ·dY, ±10% between runs), from buffers: 32 × 2 38 / 41 / 40;
    24 × 2 39 / 38 / 38; 48 × 2 37 / 43 / 42; 64 × 2 37 / 29 / 44; 16 × 4 37 / 32 / 35 (each
    lane streams more of Wᵀ's rows at once); gemm.wgsl's 256 × 128 × 16 tile 11 / 10 / 12.
    From texels (forward, 4096 × 512 × 768, best of 3): 32 × 2 53; 48 × 2 51; 64 × 2 51;
    64 × 1 49; 16 × 4 45. One vec4 per lane (N = 10) from texels: 64 rows, each of b's scalar
    loads serving all (4096 × 10 × 512 and 512 × 10 × 4096 from buffers, ms: 32 rows 17.8 /
    17.5, 64 rows 14.1 / 13.2; a from texels at 64 rows: ~4× faster still). a = xᵀ from
    texels (dW): 64 × 1, which took 25-35% less CPU time than 32 × 2 at 512 × 512 × 4096 and
    784 × 512 × 4096 (same process, interleaved; the forward ran the same, dY·Wᵀ 8% slower)."""
    many = m * n * k >= TEXELS_FROM
    if n <= 4 * width:
        return SubgroupConfig(64 if many else 32, 1, texels=many)
    return SubgroupConfig(32, 2, texels=many, transposed_a=(64, 1) if many else None)


def width(device) -> int:
    """The device's subgroup size (GPU thread only): asked once, by a one-workgroup dispatch that
    the device's counters leave out (it is a question about the adapter, not the model's work)."""
    if "subgroup-width" not in device.cache:
        handle = device.handle
        module = handle.create_shader_module(code=WIDTH_PROBE)
        pipeline = handle.create_compute_pipeline(
            layout="auto", compute={"module": module, "entry_point": "main"})
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC
        buffer = handle.create_buffer(size=4, usage=usage)
        bind_group = handle.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
            {"binding": 0, "resource": {"buffer": buffer}}])
        encoder = handle.create_command_encoder()
        compute = encoder.begin_compute_pass()
        compute.set_pipeline(pipeline)
        compute.set_bind_group(0, bind_group)
        compute.dispatch_workgroups(1)
        compute.end()
        handle.queue.submit([encoder.finish()])
        answer = np.frombuffer(handle.queue.read_buffer(buffer), np.uint32)[0]
        device.cache["subgroup-width"] = int(answer)
    return device.cache["subgroup-width"]


def usable(device) -> bool:
    """Whether this kernel may run here: a software adapter with subgroups. (On GPUs whose
    subgroup size varies per pipeline, a workgroup might not be one subgroup.)"""
    return device.adapter_info.get("adapter_type") == "CPU" and "subgroup" in device.features


def template(config: SubgroupConfig, width: int, b_vec4: str | None, bias: bool,
             activation: str | None, derivative: str | None, column_sums: bool,
             a_texels: str | None = None, inputs_kept: bool = False,
             precision: Precision = FLOAT32, output: str | None = None,
             a_gather: str | None = None, b_gather: str | None = None) -> dict[str, object]:
    """The placeholder values of gemm_subgroup.wgsl for one configuration and operand layout.

    ``b_vec4``: "n" when b's rows are whole vec4s of columns (row-major, N a multiple of 4), "k"
    when each column is contiguous in k with 16-byte alignment (b = Wᵀ): a lane then loads four
    k's of a column at once, W / 4 vec4s per column for W steps; None: scalar loads.
    ``a_texels``: read a and b from texels (see gpu/texels.py) in blocks of 4·W k's, a's texels
    holding four k's of a row ("k": a is contiguous in k) or four rows at one k ("m"); b's
    texels as b_vec4 says, or (None) b by scalar loads from its buffer. The last block runs past
    K, with a's values there zeroed; from buffers, the last K mod W k's take a checked loop instead.
    ``output``: c's element type (default: the element type). f16 operands (never as texels)
    are widened to f32 as they are loaded: broadcasts, FMAs and sums are f32.
    ``a_gather``/``b_gather``: an operand read through an im2col.wgsl gather (a convolution's
    GEMM), a from buffers and b by scalar loads: a row's (b column's) part of the address is
    taken apart once, each block's k part once per lane."""
    rows, quads = range(config.rows), range(config.quads)
    vector, output = f"vec4<{precision.accumulate}>", output or precision.wgsl  # loads, sums
    declarations = [f"    let a_row_{r} = {a_gather}_row(min(row0 + {r}u, last_row));" if a_gather
                    else f"    let a_row_{r} = min(row0 + {r}u, last_row) * params.a_row_stride;"
                    for r in rows]
    declarations += [f"    let col_{q} = col0 + 4u * (lane + {q * width}u);" for q in quads]
    if b_vec4 == "n":  # N is a multiple of 4: the last whole vec4 of a row starts at N - 4
        declarations += [f"    let b_quad_{q} = min(col_{q}, params.n - 4u) / 4u;" for q in quads]
    else:
        declarations += [f"    let b_col_{q}_{j} = {b_gather}_col(min(col_{q} + {j}u, last_col));"
                         if b_gather else f"    let b_col_{q}_{j} = min(col_{q} + {j}u, "
                         "last_col) * params.b_col_stride;" for q in quads for j in range(4)]
    if a_texels == "m":  # a's texels hold rows 4g … 4g + 3 (the last whole four: M - 1 rounded)
        declarations += [f"    let a_quad_{g} = min(row0 + {4 * g}u, last_row & ~3u);"
                         for g in range(config.rows // 4)]
    declarations += [f"    var acc_{r}_{q} = {vector}(0.0);" for r in rows for q in quads]
    if column_sums:
        declarations += [f"    var sum_{q} = {vector}(0.0);" for q in quads]

    def load_b(k: str, name: str, pad: str) -> list[str]:
        if b_vec4 == "n":
            return [f"{pad}let {name}_{q} = " + widen(
                f"b4[({k}) * (params.b_row_stride / 4u) + b_quad_{q}]", precision, True) + ";"
                for q in quads]
        value = (f"gather_b({name}_k, b_col_{{q}}_{{j}})" if b_gather
                 else f"b[({k}) * params.b_row_stride + b_col_{{q}}_{{j}}]")
        return [f"{pad}let {name}_k = {b_gather}_row({k});"] * bool(b_gather) + [
            f"{pad}let {name}_{q} = " + widen(f"vec4<{precision.wgsl}>(" + ", ".join(
                value.format(q=q, j=j) for j in range(4)) + ")", precision, True) + ";"
            for q in quads]

    def update(a_value: str, b_name: str, pad: str) -> list[str]:
        lines = [f"{pad}acc_{r}_{q} = fma({vector}({a_value.format(r=r)}), {b_name}_{q}, "
                 f"acc_{r}_{q});" for r in rows for q in quads]
        if column_sums:
            lines += [f"{pad}sum_{q} += {b_name}_{q};" for q in quads]
        return lines

    def products(steps: list[tuple[str, Callable[[int], str], int, int]], pad: str
                 ) -> list[str]:
        """Row by row over a block of k's, given as (step name, row → a's value there, lane
        that holds it, k - k0): a row's accumulators stay in registers for the block (llvmpipe
        spills most of them, and would otherwise store each one every step). b{step}_{q} are
        loaded. From texels, the last block runs past K: a is zero there, and the column sums
        skip those k's."""
        lines = []
        if column_sums:
            lines += [f"{pad}sum_{q} += select(vec4<f32>(0.0), b{step}_{q}, k0 + {offset}u < "
                      f"k_end);" if a_texels else f"{pad}sum_{q} += b{step}_{q};"
                      for step, _, _, offset in steps for q in quads]
        for r in rows:
            lines += [f"{pad}let s{r}_{step} = subgroupBroadcast({value(r)}, {lane}u);"
                      for step, value, lane, _ in steps]
            lines += [f"{pad}acc_{r}_{q} = fma({vector}(s{r}_{step}), b{step}_{q}, acc_{r}_{q});"
                      for step, _, _, _ in steps for q in quads]
        return lines

    pad = " " * 8
    if a_texels:
        whole = texel_steps(config.rows, config.quads, width, a_texels, b_vec4, products, pad)
    else:
        whole = [f"{pad}let a_k = {a_gather}_col(k0 + lane);"] * bool(a_gather)
        whole += [f"{pad}let a_{r} = " + widen(
            f"gather_a(a_row_{r}, a_k)" if a_gather
            else f"a[a_row_{r} + (k0 + lane) * params.a_col_stride]", precision) + ";"
            for r in rows]
        if b_vec4 == "k" and b_gather:  # four k's from a multiple of 4 lie side by side
            whole += [f"{pad}let b_k_{p} = {b_gather}_row(k0 + {4 * p}u).x;"
                      for p in range(width // 4)]
            whole += [f"{pad}let b_{q}_{j}_{p} = " + widen(
                f"b4[u32(b_k_{p} + b_col_{q}_{j}.x) / 4u]", precision, True) + ";"
                for q in quads for j in range(4) for p in range(width // 4)]
        elif b_vec4 == "k":  # b_col_stride and k0 are multiples of 4
            whole += [f"{pad}let b_{q}_{j}_{p} = "
                      + widen(f"b4[(b_col_{q}_{j} + k0) / 4u + {p}u]", precision, True) + ";"
                      for q in quads for j in range(4) for p in range(width // 4)]
        for j in range(width):
            if b_vec4 == "k":
                whole += [f"{pad}let b{j}_{q} = {vector}(" + ", ".join(
                    f"b_{q}_{column}_{j // 4}[{j % 4}]" for column in range(4)) + ");"
                    for q in quads]
            else:
                whole += load_b(f"k0 + {j}u", f"b{j}", pad)
        whole += products([(str(j), lambda r: f"a_{r}", j, j) for j in range(width)], pad)
    last = []
    if not a_texels:  # the last K mod W steps (from texels, the blocks cover them)
        last = load_b("i", "b_last", pad)
        last += [f"{pad}let a_k = {a_gather}_col(i);"] * bool(a_gather)
        last += update(widen("gather_a(a_row_{r}, a_k)" if a_gather
                             else "a[a_row_{r} + i * params.a_col_stride]", precision),
                       "b_last", pad)
    # The bias, a lane's columns' once (epilogue.wgsl would load bias[col] for every row: each
    # a scalar load loop on llvmpipe), added before the epilogue, which then has no bias.
    stores = [f"    let bias_{q} = {vector}(" + ", ".join(
        f"{precision.accumulate}(bias[min(col_{q} + {j}u, last_col)])" for j in range(4)) + ");"
        for q in quads] if bias else []
    stores += [f"    store(split, row0 + {r}u, col_{q} + {j}u, acc_{r}_{q}[{j}]"
               + f" + bias_{q}[{j}]" * bias + ");" for r in rows for q in quads for j in range(4)]
    if column_sums:  # the first row of workgroups writes; the others summed the same b
        stores.append("    if (row0 == 0u) {")
        stores += [f"        if (col_{q} + {j}u < params.n) {{ grad_bias[split * params.n + "
                   f"col_{q} + {j}u] = {narrow(f'sum_{q}[{j}]', precision, output)}; }}"
                   for q in quads for j in range(4)]
        stores.append("    }")
    return {"width": width, "rows": config.rows, "quads": config.quads,
            "block": 4 * width if a_texels else width, "texel_row": texels.ROW,
            # From texels, blocks of 4·W run past K; otherwise whole blocks of W, then the rest.
            "blocks_end": "k_begin + (k_end - k_begin + BLOCK - 1u) / BLOCK * BLOCK" if a_texels
            else "k_end - (k_end - k_begin) % BLOCK",
            **epilogue_values(False, activation, derivative, inputs_kept, output),
            **gather_values(a_gather, b_gather),
            "declarations": "\n".join(declarations), "whole_steps": "\n".join(whole),
            "last_steps": "\n".join(last), "stores": "\n".join(stores)}


def split_k(device, k: int) -> tuple[int, int]:
    """(splits, k_chunk): K cut into chunks of whole 4·W blocks so that no invocation loops more
    than about ``loops.LOOP_BOUND`` times (W + chunk / W iterations); (1, k) when K fits."""
    if not usable(device):  # record refuses it
        return 1, k
    block = 4 * width(device)
    longest = max(1, loops.LOOP_BOUND // 4) * block  # chunk / W <= LOOP_BOUND block steps
    if k <= longest:
        return 1, k
    splits = math.ceil(k / longest)
    chunk = math.ceil(math.ceil(k / splits) / block) * block
    return math.ceil(k / chunk), chunk


def record(program: Program, a: GPUArray, b: GPUArray, c: GPUArray, config: SubgroupConfig,
           params: dict[str, float], epilogue: dict[str, GPUArray], activation: str | None,
           derivative: str | None, gathers: tuple[str | None, str | None] = (None, None)
           ) -> None:
    """Record c = epilogue(a · b) with this kernel: ``params`` (sizes and strides) and
    ``epilogue`` (whichever of bias, activation_outputs, activation_inputs, pre_activations and
    grad_bias it uses) as record_gemm builds them for either kernel. With ``config.texels``, a
    and b are first copied into texels (see gpu/texels.py) when both layouts allow: four
    consecutive elements of each along its contiguous dimension, starting on a texel.
    ``gathers``: the im2col gathers of a and b (record_gemm's Gather), read from buffers."""
    device = program.device
    if not usable(device):
        raise ValueError(f"{config}: the subgroup GEMM runs only on software adapters with "
                         f"subgroups; {device.name} is not one. Leave config=None.")
    lanes, m, n = width(device), params["m"], params["n"]
    a_gather, b_gather = gathers
    config, b_vec4, a_texels = operand_reads(config, a, b, params, lanes, gathers)
    kept = "pre_activations" in epilogue or "activation_inputs" in epilogue  # x for f'(x, o)
    values = template(config, lanes, b_vec4, "bias" in epilogue, activation, derivative,
                      "grad_bias" in epilogue, a_texels, kept, program.precision,
                      element_type(c.dtype), a_gather, b_gather)
    if a_texels:
        operands = {"a_texels": program.texels(record, "a_texels", a),
                    **({"b_texels": program.texels(record, "b_texels", b)} if b_vec4
                       else {"b": b})}
    else:  # b4 for the vector loads; b for the scalar ones (and the last K mod W when "k")
        operands = {"a": a, **({"b4": b} if b_vec4 else {}),
                    **({"b": b} if b_vec4 != "n" else {})}
    row_groups = fold_grid(math.ceil(m / config.rows) * params["splits"])
    groups = (math.ceil(n / (4 * lanes * config.quads)), row_groups[0], row_groups[1])
    program.dispatch("ops/gemm/subgroup.wgsl", "gemm", groups=groups, template=values, c=c,
                     params=params, **operands, **epilogue)
