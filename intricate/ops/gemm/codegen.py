"""The generated part of shaders/ops/gemm/tiled.wgsl: unrolled loads, FMAs and stores for one
tile configuration and operand layout (tiled.py picks the configuration and records the
dispatch). Each function returns WGSL statements, brace-balanced: every block and loop around
them, the interface and the epilogue are WGSL (tiled.wgsl, interface.wgsl, epilogue.wgsl).
``template`` returns the placeholder values.
"""

from __future__ import annotations

import numpy as np

from ...gpu.dtypes import FLOAT32, Precision
from ...gpu.layout import SCALARS


def element_type(dtype) -> str:
    """The WGSL scalar type of a GPUArray's NumPy ``dtype`` ("f16", "f32", "f64"): a GEMM's c
    and grad_bias are declared with their own (an f32 dW beside f16 operands)."""
    return next(name for name, scalar in SCALARS.items() if scalar == np.dtype(dtype))


def widen(expression: str, precision: Precision, vector: bool = False) -> str:
    """``expression`` (of the element type, a vec4 if ``vector``) converted to the accumulator
    type where the two differ (f16 data, f32 sums); as it is otherwise (f32 and f64 GEMMs render
    without conversions)."""
    if precision.wgsl == precision.accumulate:
        return expression
    total = f"vec4<{precision.accumulate}>" if vector else precision.accumulate
    return f"{total}({expression})"


def narrow(expression: str, precision: Precision, output: str) -> str:
    """A sum (of the accumulator type) converted to ``output``, c's element type, if they differ."""
    return expression if output == precision.accumulate else f"{output}({expression})"


def epilogue_values(bias: bool, activation: str | None, derivative: str | None,
                    inputs_kept: bool, output: str) -> dict[str, object]:
    """The template values of ops/gemm/epilogue.wgsl (see its header), for both GEMM kernels;
    ``output`` is c's element type (what the epilogue returns)."""
    return {"bias": bias, "activation": activation or "identity", "derivative": derivative or "",
            "inputs_kept": inputs_kept, "output": output}


def gather_values(a_gather: str | None = None, b_gather: str | None = None
                  ) -> dict[str, object]:
    """The template values of the operand gathers (interface.wgsl's conv_* Params fields and
    tiled.wgsl's load_a/load_b): none for a plain GEMM (the subgroup kernel's only case)."""
    return {"gather": bool(a_gather or b_gather), "a_gather": a_gather or "",
            "b_gather": b_gather or ""}


def _gather_parts(operand: str, gather: str, width: int, bk: int, contiguous_k: bool,
                  threads: int) -> list[str]:
    """A gathered operand's address parts that stay fixed over K (declared before the K loop):
    of each row of a (column of b) the lane stages, one when the operand is not contiguous in
    k (the lane's one row), one per staged element otherwise (see im2col.wgsl's parts)."""
    part = f"{gather}_row" if operand == "a" else f"{gather}_col"
    origin, last = ("row0", "params.m - 1u") if operand == "a" else ("col0", "params.n - 1u")
    if not contiguous_k:
        return [f"    let {operand}_part = {part}(min({origin} + {operand}_inner, {last}));"]
    return [f"    let {operand}_part_{j} = {part}(min({origin} + {operand}_outer + "
            f"{j * (threads // bk)}u, {last}));" for j in range(width * bk // threads)]


def _loads(operand: str, tile: str, width: int, bk: int, contiguous_k: bool,
           inside: bool, threads: int, stride: int, stage: Precision | None = None,
           gather: str | None = None) -> list[str]:
    """Unrolled staging of one slab of ``operand`` ("a": width = BM rows; "b": BN columns),
    each element widened to ``stage``'s accumulator type when given (GemmConfig.widened).

    Invocation ``lane`` takes the elements lane, lane + threads, ... of the slab, numbered so that
    neighbouring lanes read neighbouring global addresses: along i when the operand is
    contiguous in i (k), along the row/column otherwise. A ``gather``ed operand puts each
    element's address together from its parts (``_gather_parts``' and k's, taken apart once
    per slab when the lane's k is one), zero outside the matrix."""
    pad, lines = " " * 12, []
    # o is a's row (m) or b's column (n); the stride that steps o, and the one that steps k.
    origin, o_stride, k_stride = (("row0", "a_row_stride", "a_col_stride") if operand == "a"
                                  else ("col0", "b_col_stride", "b_row_stride"))
    k_part = f"{gather}_col" if operand == "a" else f"{gather}_row"
    if gather and contiguous_k:  # the lane's one k of this slab
        lines.append(f"{pad}let {operand}_k_part = {k_part}(min(start + {operand}_inner, "
                     "params.k - 1u));")
    for j in range(width * bk // threads):
        # The lane's slow coordinate advances by threads / (length of the fast one) per element.
        step = threads // bk if contiguous_k else threads // width
        outer, inner = f"{operand}_outer + {j * step}u", f"{operand}_inner"
        o, i = (outer, inner) if contiguous_k else (inner, outer)  # i fastest, or o fastest
        slot = f"{tile}[(({i}) * {stride}u + {o}) / 4u][({o}) % 4u]"
        position, k = f"{origin} + {o}", f"start + {i}"
        if gather:
            parts = (f"{operand}_part_{j}" if contiguous_k else f"{operand}_part",
                     f"{operand}_k_part" if contiguous_k else f"{k_part}(min({k}, params.k - 1u))")
            value = (f"gather_a({parts[0]}, {parts[1]})" if operand == "a"
                     else f"gather_b({parts[1]}, {parts[0]})")
            if not inside:
                size = "params.m" if operand == "a" else "params.n"
                value = f"select(0.0, {value}, {position} < {size} && {k} < k_end)"
        elif not inside:  # bounds-checked: load_a(row, k) / load_b(k, column)
            value = (f"load_a({position}, {k}, k_end)" if operand == "a"
                     else f"load_b({k}, {position}, k_end)")
        elif contiguous_k:
            value = f"{operand}[({position}) * params.{o_stride} + {k}]"
        else:
            value = f"{operand}[({k}) * params.{k_stride} + {position}]"
        lines.append(f"{pad}{slot} = {widen(value, stage) if stage else value};")
    return lines


def _vector_loads(operand: str, tile: str, width: int, bk: int, contiguous_k: bool,
                  threads: int, stride: int, start: str = "start", part: str = "both",
                  pad: str = " " * 12, slab: str = "", stage: Precision | None = None
                  ) -> list[str]:
    """Whole-tile staging with 16-byte loads: four consecutive elements along the operand's
    contiguous dimension per load (the caller checked alignment).

    ``part``: "both" loads and stores to workgroup memory; "load" only assigns the registers
    ``{operand}_quad{j}`` (declared by the caller) from the slab at ``start``; "store" only
    writes those registers to workgroup memory (the pipelined loop's two halves), at
    ``slab`` + the usual index when given (the two-stage loop's other slab)."""
    lines = []
    along = bk if contiguous_k else width  # elements of one slab row in the fast dimension
    lanes_per_row = along // 4
    for j in range(width * bk // 4 // threads):
        slow = f"lane / {lanes_per_row}u + {j * threads // lanes_per_row}u"
        fast = f"(lane % {lanes_per_row}u) * 4u"
        if operand == "a":
            if contiguous_k:  # slow = m, fast = i
                address = f"((row0 + {slow}) * params.a_row_stride + {start} + {fast}) / 4u"
            else:  # slow = i, fast = m
                address = f"(({start} + {slow}) * params.a_col_stride + row0 + {fast}) / 4u"
        elif contiguous_k:  # b: slow = n, fast = i
            address = f"((col0 + {slow}) * params.b_col_stride + {start} + {fast}) / 4u"
        else:  # b: slow = i, fast = n
            address = f"(({start} + {slow}) * params.b_row_stride + col0 + {fast}) / 4u"
        quad, load = f"{operand}_quad{j}", f"{operand}4[{address}]"
        load = widen(load, stage, True) if stage else load  # widened slabs: f32 registers
        if part == "both":
            lines.append(f"{pad}let {quad} = {load};")
        elif part == "load":
            lines.append(f"{pad}{quad} = {load};")
        if part == "load":
            continue
        if contiguous_k:  # four k's of one row/column: four scalar slots
            for c in range(4):
                lines.append(f"{pad}{tile}[{slab}(({fast} + {c}u) * {stride}u + {slow}) / 4u]"
                             f"[({slow}) % 4u] = {quad}[{c}];")
        else:  # four rows/columns of one k: one whole vec4 slot
            lines.append(f"{pad}{tile}[{slab}(({slow}) * {stride}u + {fast}) / 4u] = {quad};")
    return lines


def _quads(config, a_k_contiguous: bool, b_k_contiguous: bool, strides: tuple[int, int],
           part: str, start: str = "", slabs: tuple[str, str] = ("", ""),
           stage: Precision | None = None) -> str:
    """The pipelined loop's register half of the 16-byte staging (see tiled.wgsl): "load" the
    slab at ``start`` into a_quad{j}/b_quad{j}, or "store" them to workgroup memory at ``slabs``
    + the usual index."""
    bm, bn, bk, threads = config.bm, config.bn, config.bk, config.side ** 2
    return "\n".join(
        _vector_loads("a", "a_tile", bm, bk, a_k_contiguous, threads, strides[0], start, part,
                      " " * 12, slabs[0], stage) +
        _vector_loads("b", "b_tile", bn, bk, b_k_contiguous, threads, strides[1], start, part,
                      " " * 12, slabs[1], stage))


def template(config, a_k_contiguous: bool, b_n_contiguous: bool,
             bias: bool, activation: str | None, derivative: str | None = None,
             column_sums: bool = False, a_vec4: bool = False,
             b_vec4: bool = False, split: bool = False,
             inputs_kept: bool = False, precision: Precision = FLOAT32,
             output: str | None = None, a_gather: str | None = None,
             b_gather: str | None = None) -> dict[str, object]:
    """The placeholder values of tiled.wgsl: unrolled accumulators, loads, FMAs and stores, and
    the epilogue's (see ``epilogue_values``), for ``precision``'s element and accumulator types
    and c's element type ``output`` (default: the element type; split K's chunk sums: the
    accumulator type). ``a_gather``/``b_gather``: the im2col.wgsl gather an operand is read
    through (a convolution's implicit GEMM; see ``_loads``)."""
    bm, bn, bk, side = config.bm, config.bn, config.bk, config.side
    threads, spacing = side * side, 4 * side  # 4 × 4 groups lie 4·side apart
    b_k_contiguous = not b_n_contiguous
    # A slab written one k at a time per invocation lands on one memory bank for every lane of a
    # row; 4 floats of padding per k row spread those writes over the banks.
    a_stride, b_stride = bm + 4 * a_k_contiguous, bn + 4 * b_k_contiguous
    rows, cols = bm // side, bn // side  # outputs per invocation: rows × cols
    pad = " " * 8
    element, total = precision.wgsl, precision.accumulate
    output = output or element
    # The slabs' type: the elements', or the sums' when staging widens them (then the fragments
    # need no conversion); f32 and f64 render the same either way.
    staged = precision if config.widened and element != total else None
    tile, fragment = (total, FLOAT32) if staged else (element, precision)  # FLOAT32: no widening
    accumulators = "\n".join(f"    var acc_{r}_{g} = vec4<{total}>(0.0);"
                             for r in range(rows) for g in range(cols // 4))
    a_fast, b_fast = (bk if a_k_contiguous else bm), (bk if b_k_contiguous else bn)
    coordinates = [f"    let a_outer = lane / {a_fast}u;", f"    let a_inner = lane % {a_fast}u;",
                   f"    let b_outer = lane / {b_fast}u;", f"    let b_inner = lane % {b_fast}u;"]
    products = []
    for i in range(bk):  # the whole slab, unrolled: fragment loads then rank-1 updates
        # f16 slabs: each fragment widened once, then f32 FMAs (tiled.wgsl's header says why)
        products += [f"{pad}let a{i}_{g} = " + widen(
            f"a_tile[{(i * a_stride + spacing * g) // 4}u + a_at]", fragment, True) + ";"
            for g in range(rows // 4)]
        products += [f"{pad}let b{i}_{g} = " + widen(
            f"b_tile[{(i * b_stride + spacing * g) // 4}u + b_at]", fragment, True) + ";"
            for g in range(cols // 4)]
        products += [f"{pad}acc_{r}_{g} += a{i}_{r // 4}[{r % 4}] * b{i}_{g};"
                     for r in range(rows) for g in range(cols // 4)]
        if column_sums:
            products += [f"{pad}column_sum_{g} += b{i}_{g};" for g in range(cols // 4)]
    stores = []
    for r in range(rows):
        for g in range(cols // 4):
            row = f"row0 + {spacing * (r // 4) + r % 4}u + ty * 4u"
            for lane in range(4):
                stores.append(f"    store(split, {row}, col0 + {spacing * g + lane}u + tx * 4u, "
                              f"acc_{r}_{g}[{lane}]);")
    sums_stores = []
    if column_sums:  # the first row of workgroups writes; the others summed the same slabs
        sums_stores.append("    if (row0 == 0u && ty == 0u) {")
        for g in range(cols // 4):
            for lane in range(4):
                column = f"col0 + {spacing * g + lane}u + tx * 4u"
                sums_stores.append(f"        if ({column} < params.n) {{ grad_bias[split * "
                                   f"params.n + {column}] = "
                                   f"{narrow(f'column_sum_{g}[{lane}]', precision, output)}; }}")
        sums_stores.append("    }")
    pipelined = a_vec4 and b_vec4

    def quads(part: str, start: str = "", slabs: tuple[str, str] = ("", "")) -> str:
        if not pipelined:
            return ""
        return _quads(config, a_k_contiguous, b_k_contiguous, (a_stride, b_stride), part,
                      start, slabs, staged)

    return {
        "bm": bm, "bn": bn, "bk": bk, "side": side, "a_stride": a_stride, "b_stride": b_stride,
        "stages": config.stages, "tile": tile, **gather_values(a_gather, b_gather),
        "pipelined": pipelined,
        "declare_quads": "\n".join(
            [f"        var a_quad{j}: vec4<{tile}>;" for j in range(bm * bk // 4 // threads)] +
            [f"        var b_quad{j}: vec4<{tile}>;" for j in range(bn * bk // 4 // threads)]),
        "load_quads_at_start": quads("load", "start"),
        "load_quads_at_next": quads("load", "next"),
        "store_quads": quads("store"),
        "store_quads_upper": quads("store", slabs=("A_SLAB + ", "B_SLAB + ")),
        "declare_column_sums": "\n".join(f"    var column_sum_{g} = vec4<{total}>(0.0);"
                                         for g in range(cols // 4)) if column_sums else "",
        "store_column_sums": "\n".join(sums_stores),
        **epilogue_values(bias, activation, derivative, inputs_kept, output),
        "declare_accumulators": accumulators,
        "load_coordinates": "\n".join(
            coordinates
            + (_gather_parts("a", a_gather, bm, bk, a_k_contiguous, threads) if a_gather else [])
            + (_gather_parts("b", b_gather, bn, bk, b_k_contiguous, threads) if b_gather else [])),
        "load_inside": "\n".join(
            (_vector_loads("a", "a_tile", bm, bk, a_k_contiguous, threads, a_stride,
                           stage=staged) if a_vec4
             else _loads("a", "a_tile", bm, bk, a_k_contiguous, True, threads, a_stride, staged,
                         a_gather)) +
            (_vector_loads("b", "b_tile", bn, bk, b_k_contiguous, threads, b_stride,
                           stage=staged) if b_vec4
             else _loads("b", "b_tile", bn, bk, b_k_contiguous, True, threads, b_stride, staged,
                         b_gather))),
        "load_edge": "\n".join(
            _loads("a", "a_tile", bm, bk, a_k_contiguous, False, threads, a_stride, staged,
                   a_gather) +
            _loads("b", "b_tile", bn, bk, b_k_contiguous, False, threads, b_stride, staged,
                   b_gather)),
        "inner_product": "\n".join(products),
        "stores": "\n".join(stores),
        # Split K: the gemm entry stores plain chunk sums, sum_splits applies the epilogue (its
        # render, with c's own type, compiles this entry too: hence the conversion).
        "store_value": narrow("value", precision, output) if split else "epilogue(row, col, value)",
        "sum_column_partials": "\n".join([
            "    if (i < params.n) {", f"        var column: {total} = 0.0;",
            "        for (var split = 0u; split < params.splits; split++) {",
            "            column += partial_sums[split * params.n + i];", "        }",
            f"        grad_bias[i] = {narrow('column', precision, output)};", "    }"])
        if column_sums else "",
    }
