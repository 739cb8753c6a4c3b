"""The Dense layer's GEMMs: shaders/gemm.wgsl plus the unrolled code spliced into it.

c[m, n] = epilogue(Σ_i a(m, i) · b(i, n)) where a(m, i) = a[m·a_row_stride + i·a_col_stride] and
b(i, n) = b[i·b_row_stride + n·b_col_stride]: the three GEMM forms of a Dense layer (x·W, dY·Wᵀ,
xᵀ·dY) are the same kernel with other strides. Each configuration (block tile BM × BN, K slab BK)
is a separate pipeline; ``choose`` picks one per shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .gpu import GPUArray, Program, fold_grid

# Epilogue activations, fused into the forward GEMM's store (the activation layer then only
# adopts the result). Same formulas as shaders/activations.wgsl.
ACTIVATIONS = {
    None: "return x;",
    "relu": "return max(x, 0.0);",
    "tanh": "let t = exp(-2.0 * abs(x));\n    return sign(x) * (1.0 - t) / (1.0 + t);",
    "sigmoid": "let e = exp(-abs(x));\n    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);",
}


@dataclass(frozen=True)
class GemmConfig:
    """A block tile of BM × BN outputs per workgroup of 256, K consumed BK at a time."""

    bm: int
    bn: int
    bk: int

    def __post_init__(self) -> None:
        if self.bm not in (64, 128) or self.bn not in (64, 128) or self.bk not in (8, 16, 32):
            raise ValueError(f"GemmConfig: expected bm, bn in (64, 128) and bk in (8, 16, 32), "
                             f"received {self}")

    @property
    def workgroup_bytes(self) -> int:
        return 4 * self.bk * (self.bm + self.bn)


CONFIGS = (GemmConfig(128, 128, 16), GemmConfig(128, 128, 8), GemmConfig(64, 64, 16),
           GemmConfig(128, 64, 16), GemmConfig(64, 128, 16), GemmConfig(128, 128, 32),
           GemmConfig(64, 64, 32))


def choose(m: int, n: int, device_limit: int) -> GemmConfig:
    """The configuration for an m × n output: big tiles when there are enough of them to fill
    a GPU, 64 × 64 otherwise; always within the device's workgroup storage."""
    fitting = [c for c in CONFIGS if c.workgroup_bytes <= device_limit]
    if math.ceil(m / 128) * math.ceil(n / 128) >= 64:
        return fitting[0]
    return next(c for c in fitting if (c.bm, c.bn) == (64, 64))


def template(config: GemmConfig, a_k_contiguous: bool, b_n_contiguous: bool,
             bias: bool, activation: str | None) -> dict[str, str]:
    """The placeholder values of gemm.wgsl: unrolled accumulators, loads, FMAs and stores."""
    rows, cols = config.bm // 16, config.bn // 16  # outputs per invocation: rows × cols
    pad = " " * 12
    accumulators = "\n".join(f"    var acc_{r}_{g} = vec4<f32>(0.0);"
                             for r in range(rows) for g in range(cols // 4))
    fragments = [f"{pad}let a{g} = a_tile[(i * BM + {64 * g}u + ty * 4u) / 4u];"
                 for g in range(rows // 4)]
    fragments += [f"{pad}let b{g} = b_tile[(i * BN + {64 * g}u + tx * 4u) / 4u];"
                  for g in range(cols // 4)]
    products = [f"{pad}acc_{r}_{g} += a{r // 4}[{r % 4}] * b{g};"
                for r in range(rows) for g in range(cols // 4)]
    stores = []
    for r in range(rows):
        for g in range(cols // 4):
            row = f"row0 + {64 * (r // 4) + r % 4}u + ty * 4u"
            for lane in range(4):
                stores.append(f"    store({row}, col0 + {64 * g + lane}u + tx * 4u, "
                              f"acc_{r}_{g}[{lane}]);")
    return {
        "bm": config.bm, "bn": config.bn, "bk": config.bk,
        "declare_accumulators": accumulators,
        "a_coordinates": (f"{pad}let m = e / BK;\n{pad}let i = e % BK;" if a_k_contiguous
                          else f"{pad}let i = e / BM;\n{pad}let m = e % BM;"),
        "b_coordinates": (f"{pad}let i = e / BN;\n{pad}let n = e % BN;" if b_n_contiguous
                          else f"{pad}let n = e / BK;\n{pad}let i = e % BK;"),
        "inner_product": "\n".join(fragments + products),
        "stores": "\n".join(stores),
        "activation": ACTIVATIONS[activation],
        "epilogue": "activate(value + bias[col])" if bias else "activate(value)",
    }


def record_gemm(program: Program, a: GPUArray, b: GPUArray, c: GPUArray, m: int, n: int, k: int,
                a_strides: tuple[int, int], b_strides: tuple[int, int],
                bias: GPUArray | None = None, activation: str | None = None,
                config: GemmConfig | None = None) -> None:
    """Record c[m, n] = activation(a · b (+ bias)) with strided a and b (see module docstring).

    ``config`` forces a tile configuration; by default ``choose`` picks one.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(map(str, ACTIVATIONS))}, "
                         f"received {activation!r}")
    limit = program.device.limits["max-compute-workgroup-storage-size"]
    config = config or choose(m, n, limit)
    values = template(config, a_k_contiguous=a_strides[1] == 1,
                      b_n_contiguous=b_strides[1] == 1, bias=bias is not None,
                      activation=activation)
    row_groups = fold_grid(math.ceil(m / config.bm))
    extra = {"bias": bias} if bias is not None else {}
    program.dispatch(
        "gemm.wgsl", "gemm", groups=(math.ceil(n / config.bn), row_groups[0], row_groups[1]),
        template=values, a=a, b=b, c=c, **extra,
        params={"m": m, "n": n, "k": k, "a_row_stride": a_strides[0],
                "a_col_stride": a_strides[1], "b_row_stride": b_strides[0],
                "b_col_stride": b_strides[1]},
    )
