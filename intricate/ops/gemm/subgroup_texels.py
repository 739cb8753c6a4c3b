"""The subgroup GEMM's reads (shaders/ops/gemm/subgroup.wgsl): which operand comes as vec4s or
texels (see gpu/texels.py), and the unrolled code of one block of 4·W k's from texels, spliced
into the kernel by subgroup.template."""

from __future__ import annotations

from dataclasses import replace

from ...gpu import texels


def operand_reads(config, a, b, params: dict, lanes: int, gathers: tuple[str | None, ...]):
    """How subgroup.record reads a and b: (config, b_vec4, a_texels), ``config`` with its
    ``transposed_a`` rows and quads when a comes as texels of four rows at one k.

    b_vec4: "n" (b's rows are whole vec4s of columns), "k" (each column contiguous in k), None
    (scalar loads). a_texels: with ``config.texels``, "k" (texels of four k's of a row) or "m"
    (four rows at one k); b then as texels too, or (b_vec4 None, not gathered: an output too
    narrow for texels, N = 10) from its buffer, so a, its costly operand, still comes a texel at
    a time. None: from buffers."""
    a_gather, b_gather = gathers
    b_row, b_col, n = params["b_row_stride"], params["b_col_stride"], params["n"]
    b_vec4, aligned = None, b.offset % (4 * b.dtype.itemsize) == 0
    if b_gather:  # the kernel read transposed: runs of F contiguous k's (im2col.wgsl)
        if aligned and b_gather == "kernel_transposed" and params["conv_out_channels"] % 4 == 0 \
                and lanes % 4 == 0:
            b_vec4 = "k"
    elif aligned and b_col == 1 and b_row % 4 == 0 and n % 4 == 0:
        b_vec4 = "n"
    elif aligned and b_row == 1 and b_col % 4 == 0 and lanes % 4 == 0:
        b_vec4 = "k"
    a_row, a_col, a_texels = params["a_row_stride"], params["a_col_stride"], None
    if config.texels and not a_gather and texels.fits(a) and (
            texels.fits(b) if b_vec4 else not b_gather):
        if a_col == 1 and a_row % 4 == 0:
            a_texels = "k"
        elif a_row == 1 and a_col % 4 == 0 and config.transposed_a:
            a_texels = "m"
            config = replace(config, rows=config.transposed_a[0], quads=config.transposed_a[1])
        elif a_row == 1 and a_col % 4 == 0 and config.rows % 4 == 0:
            a_texels = "m"
    return config, b_vec4, a_texels


def texel_steps(rows: int, quads: int, width: int, a_texels: str, b_texels: str, products,
                pad: str) -> list[str]:
    """One block of 4·W k's from texels (k = k0 + offset): the a texels of the whole block
    (one per row and lane for "k", one per four rows, lane and W k's for "m"), its b texels,
    then the FMAs. ``b_texels`` None: b from its buffer instead, four
    scalar loads per vec4 of columns (b's rows are no whole texels: a 10-wide layer's W or dY),
    so that a, which every column of b multiplies, still comes a texel at a time."""
    def fetch(texture: str, index: str) -> str:
        return f"textureLoad({texture}, texel({index}), 0)"

    groups, rows, quads = rows // 4, range(rows), range(quads)
    zero = "vec4<f32>(0.0)"  # a past K (the last block): its texels hold other rows' values
    if a_texels == "k":  # lane j holds k0 + 4j … 4j + 3 of each row: offset 4j + c
        lines = [f"{pad}let a_valid = k0 + 4u * lane + vec4<u32>(0u, 1u, 2u, 3u) < "
                 f"vec4<u32>(k_end);"]
        lines += [f"{pad}let a_{r} = select({zero}, "
                  f"{fetch('a_texels', f'a_row_{r} / 4u + k0 / 4u + lane')}, a_valid);"
                  for r in rows]
        steps = [(f"{j}_{c}", lambda r, c=c: f"a_{r}[{c}]", j, 4 * j + c)
                 for j in range(width) for c in range(4)]
    else:  # lane j holds k0 + W·p + j of rows 4g … 4g + 3: offset W·p + j
        lines = [f"{pad}let a_{g}_{p} = select({zero}, " + fetch(
            "a_texels", f"((k0 + {width * p}u + lane) * params.a_col_stride + a_quad_{g}) / 4u")
            + f", k0 + {width * p}u + lane < k_end);"
            for g in range(groups) for p in range(4)]
        steps = [(f"{p}_{j}", lambda r, p=p: f"a_{r // 4}_{p}[{r % 4}]", j, width * p + j)
                 for p in range(4) for j in range(width)]
    # The whole block's b first, then the FMAs row by row over all 4·W steps: a row's
    # accumulators are loaded and stored (llvmpipe spills them) once per block, not once per W
    # steps (4096 × 512 × 512 on 2 cores, CPU time, same process: 6% less than per W steps).
    for step, _, _, offset in steps:
        if b_texels is None:  # scalar loads of four columns; rows past K: the last one
            lines += [f"{pad}let b{step}_{q} = vec4<f32>(" + ", ".join(
                f"b[min(k0 + {offset}u, last_k) * params.b_row_stride + b_col_{q}_{j}]"
                for j in range(4)) + ");" for q in quads]
        elif b_texels == "n":  # rows past K: the last one (a is zero there)
            lines += [f"{pad}let b{step}_{q} = " + fetch(
                "b_texels", f"min(k0 + {offset}u, last_k) * (params.b_row_stride / 4u) + "
                f"b_quad_{q}") + ";" for q in quads]
        elif offset % 4 == 0:  # one texel per column holds this k and the next three
            lines += [f"{pad}let b_{q}_{j}_{offset} = " + fetch(
                "b_texels", f"(b_col_{q}_{j} + k0 + {offset}u) / 4u") + ";"
                for q in quads for j in range(4)]
    if b_texels == "k":
        lines += [f"{pad}let b{step}_{q} = vec4<f32>(" + ", ".join(
            f"b_{q}_{j}_{offset - offset % 4}[{offset % 4}]" for j in range(4)) + ");"
            for step, _, _, offset in steps for q in quads]
    lines += products(steps, pad)
    return lines
