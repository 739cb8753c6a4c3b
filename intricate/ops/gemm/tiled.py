"""The Dense layer's GEMMs: shaders/ops/gemm/tiled.wgsl plus the unrolled code spliced into it.

c[m, n] = epilogue(Σ_i a(m, i) · b(i, n)) where a(m, i) = a[m·a_row_stride + i·a_col_stride] and
b(i, n) = b[i·b_row_stride + n·b_col_stride]: the three GEMM forms of a Dense layer (x·W, dY·Wᵀ,
xᵀ·dY) are the same kernel with other strides. Each configuration (block tile BM × BN, K slab BK)
is a separate pipeline; ``select`` picks one per shape (timed, see intricate.tuning, or by
``choose``'s heuristic). The WGSL text spliced into the shader comes from codegen.py.
"""

from __future__ import annotations

import math

from ...gpu import GPUArray, Program, fold_grid
from ...gpu.dtypes import FLOAT32, Precision
from ...gpu.layout import SCALARS
from ...gpu.shaders import functions_of
from .. import loops
from . import subgroup as gemm_subgroup
from . import tuning
from .codegen import element_type, template
from .configs import (
    CONFIGS,
    DTYPE_CONFIGS,
    ENOUGH_WORKGROUPS,
    SUM_CONFIG,
    GemmConfig,
    choose,
    choose_on_cpu,
    vector_loads_fit,
)
from .im2col import Gather
from .subgroup import SubgroupConfig

SHADER = "ops/gemm/tiled.wgsl"
# Split K only from SPLIT_FROM_K on (below, a workgroup's serial K loop is short, and the extra
# dispatch costs more than it saves), in chunks of at least SPLIT_MIN_K (8 slabs of 16). On an
# H200 (benchmarks/split_sweep.py) the b128 MLP GEMMs, 128×784×512 and 128×512×512 in each form,
# ran fastest split 4 ways (e.g. 3.6 vs 2.4 TFLOP/s unsplit); 784×512×128 fastest unsplit.
SPLIT_FROM_K, SPLIT_MIN_K = 512, 128
ACTIVATION_LIBRARY = "layers/activations.wgsl"  # the functions an epilogue may apply


def activation_functions() -> list[str]:
    """The activations the WGSL library defines: every NAME that has a NAME_derivative beside
    it (helpers such as exp_minus_one are not activations)."""
    names = functions_of(ACTIVATION_LIBRARY)
    return sorted(name for name in names if f"{name}_derivative" in names)


def select(device, a: GPUArray, b: GPUArray, c: GPUArray, m: int, n: int, k: int,
           a_strides: tuple[int, int], b_strides: tuple[int, int],
           precision: Precision = FLOAT32, gather: Gather | None = None
           ) -> GemmConfig | SubgroupConfig:
    """The configuration for this GEMM: timed once per shape class and remembered (see
    intricate.tuning), or ``choose``'s heuristic when tuning is off or the GEMM is small (its
    time is then mostly launch overhead, and timing would cost more than it could save). On
    software adapters: the subgroup kernel (gemm_subgroup.py) when they have subgroups, else
    ``choose_on_cpu``'s tile. A convolution's GEMM (``gather``) is timed with its gathers, as
    a shape class of its own."""
    limit, itemsize = device.limits["max-compute-workgroup-storage-size"], a.dtype.itemsize
    if device.adapter_info.get("adapter_type") == "CPU" and not tuning.forced():
        if gemm_subgroup.usable(device):
            return gemm_subgroup.choose(m, n, k, gemm_subgroup.width(device))
        return choose_on_cpu(m, n, limit, itemsize)
    if not tuning.enabled() or m * n * k < tuning.SMALLEST_TUNED:
        return choose(m, n, limit, itemsize)
    fitting = [config for config in CONFIGS + DTYPE_CONFIGS.get(itemsize, ())
               if config.bytes_for(itemsize) <= limit]
    if gemm_subgroup.usable(device):  # tuning forced on a software adapter: its kernel competes
        fitting.append(gemm_subgroup.choose(m, n, k, gemm_subgroup.width(device)))
    return tuning.Tuner.of(device).choose(a, b, c, m, n, k, a_strides, b_strides, fitting,
                                          record_gemm, precision, gather)



def record_gemm(program: Program, a: GPUArray, b: GPUArray, c: GPUArray, m: int, n: int, k: int,
                a_strides: tuple[int, int], b_strides: tuple[int, int],
                bias: GPUArray | None = None, activation: str | None = None,
                derivative: tuple[str, GPUArray] | tuple[str, GPUArray, GPUArray] | None = None,
                grad_bias: GPUArray | None = None,
                config: GemmConfig | SubgroupConfig | None = None, alpha: float = 0.0,
                pre_activations: GPUArray | None = None, gather: Gather | None = None) -> None:
    """Record c[m, n] = epilogue(a · b) with strided a and b (see module docstring).

    Args:
        bias, activation: the forward epilogue ``activation(a·b + bias)``; ``activation`` names
            a function of shaders/layers/activations.wgsl (None: identity).
        alpha: the activation's hyperparameter (its ``alpha``; 0 when it has none).
        pre_activations: [m, n], where the forward also stores ``a·b + bias`` (the activation's
            input x, for a derivative that reads x).
        derivative: ``(activation function, o)`` or ``(activation function, o, x)``: the dX
            epilogue ``a·b * f'(x, o)``, the activation's backward fused into the dX that feeds it
            (x only for activations whose derivative reads it).
        grad_bias: also write the column sums of b (the bias gradient beside dW = xᵀ·dY).
        config: force a configuration (a GemmConfig tile, or a SubgroupConfig on a software
            adapter); by default ``select`` picks one.
        gather: read a and/or b through an im2col gather (a convolution's implicit GEMM, see
            im2col.py) instead of their strides, which then only say which dimension is
            contiguous.

    Shapes: a(m, k), b(k, n) through their strides; c [m, n].

    Dtypes: a, b, bias and the activation arrays of the program's element type; c of that
        type or of its accumulator type (mixed_float16: an f32 dW), grad_bias of c's type. Sums
        are of the accumulator type whatever c's is.

    Raises:
        ValueError: an activation or derivative that activations.wgsl doesn't define, or an
            array of another dtype than the above, or a gathered operand past the gathers'
            i32 addresses.
    """
    known = activation_functions()
    if activation is not None and activation not in known:
        raise ValueError(f"activation: expected one of {known}, received {activation!r}")
    if derivative is not None and derivative[0] not in known:
        raise ValueError(f"derivative: expected one of {known}, received {derivative[0]!r}")
    _check_dtypes(program.precision, c, {"a": a, "b": b, "bias": bias,
                                         "pre_activations": pre_activations,
                                         **dict(zip(("activation_outputs", "activation_inputs"),
                                                    (derivative or ())[1:]))}, grad_bias)
    if gather is not None:
        gather.check(a, b)
    config = config or select(program.device, a, b, c, m, n, k, a_strides, b_strides,
                              program.precision, gather)
    params = {"m": m, "n": n, "k": k, "a_row_stride": a_strides[0], "a_col_stride": a_strides[1],
              "b_row_stride": b_strides[0], "b_col_stride": b_strides[1], "k_chunk": k,
              "splits": 1, "alpha": alpha, **(gather.geometry.params() if gather else {})}
    epilogue = {"bias": bias} if bias is not None else {}
    if pre_activations is not None:
        epilogue["pre_activations"] = pre_activations
    if derivative is not None:
        epilogue["activation_outputs"] = derivative[1]
        if len(derivative) > 2 and derivative[2] is not None:
            epilogue["activation_inputs"] = derivative[2]
    inputs_kept = "pre_activations" in epilogue or "activation_inputs" in epilogue
    sums = {"grad_bias": grad_bias} if grad_bias is not None else {}
    # Split K (see split_k): chunk sums into scratch (shared by every split GEMM of this shape and
    # batch size: each is summed before the next one runs), then sum_splits adds them up.
    kernel = {"bias": bias is not None, "activation": activation,
              "derivative": derivative and derivative[0], "column_sums": grad_bias is not None,
              "inputs_kept": inputs_kept, "a_gather": gather and gather.a,
              "b_gather": gather and gather.b}
    gathers = (kernel["a_gather"], kernel["b_gather"])
    if isinstance(config, SubgroupConfig):
        params["splits"], params["k_chunk"] = gemm_subgroup.split_k(program.device, k)
        if params["splits"] == 1:
            gemm_subgroup.record(program, a, b, c, config, params, {**epilogue, **sums},
                                 activation, derivative and derivative[0], gathers)
            return
        partials, partial_sums = _split_scratch(program, params, grad_bias)
        gemm_subgroup.record(program, a, b, partials, config, params, partial_sums, None, None,
                             gathers)
        sum_values = template(SUM_CONFIG, True, True, split=True, precision=program.precision,
                              output=element_type(c.dtype), **kernel)
    else:
        partials, partial_sums, sum_values = _record_tiled(
            program, a, b, c, config, params, a_strides, b_strides, epilogue, sums, kernel)
        if partials is None:
            return
    program.dispatch(SHADER, "sum_splits", groups=fold_grid(math.ceil(m * n / 256)),
                     template=sum_values, partials=partials, c=c, params=params, **epilogue,
                     **sums, **({"partial_sums": partial_sums["grad_bias"]} if sums else {}))


def _check_dtypes(precision: Precision, c: GPUArray, operands: dict[str, GPUArray | None],
                  grad_bias: GPUArray | None) -> None:
    """record_gemm's dtype rules (see its docstring), before any GPU work."""
    element, total = precision.numpy, SCALARS[precision.accumulate]
    for name, array in operands.items():
        if array is not None and array.dtype != element:
            raise ValueError(f"{name}: expected {element.name} (the program's {precision.name} "
                             f"elements), received {array.dtype.name}; convert it first")
    if c.dtype not in (element, total):
        raise ValueError(f"c: expected {element.name} or {total.name} ({precision.name}), "
                         f"received {c.dtype.name}")
    if grad_bias is not None and grad_bias.dtype != c.dtype:
        raise ValueError(f"grad_bias: expected c's dtype {c.dtype.name}, received "
                         f"{grad_bias.dtype.name}")


def _split_scratch(program: Program, params: dict, grad_bias: GPUArray | None):
    """Split K's chunk sums: of the accumulator type, whatever c's type."""
    splits, m, n, total = params["splits"], params["m"], params["n"], program.precision.accumulate
    partials = program.array(record_gemm, "split_partials", (splits, m, n), SCALARS[total])
    return partials, ({"grad_bias": program.array(record_gemm, "split_sums", (splits, n),
                                                  SCALARS[total])}
                      if grad_bias is not None else {})


def _record_tiled(program: Program, a: GPUArray, b: GPUArray, c: GPUArray, config: GemmConfig,
                  params: dict, a_strides: tuple[int, int], b_strides: tuple[int, int],
                  epilogue: dict, sums: dict, kernel: dict[str, object]):
    """The tiled kernel's dispatch into c, or (split K) into scratch: then (partials, partial
    sums, template values) for sum_splits, else Nones. ``kernel``: the epilogue's values."""
    m, n, k = params["m"], params["n"], params["k"]
    # vec4 loads need every tile row to start on a vec4 boundary (16 bytes, 32 for f64): the
    # operand's other stride a multiple of 4 elements, and the binding offset aligned.
    vector = 4 * a.dtype.itemsize
    # A gathered operand (a convolution's patches) is never read by vectors.
    a_vec4 = (not kernel["a_gather"] and max(a_strides) % 4 == 0 and min(a_strides) == 1
              and a.offset % vector == 0 and vector_loads_fit(config, config.bm))
    b_vec4 = (not kernel["b_gather"] and max(b_strides) % 4 == 0 and min(b_strides) == 1
              and b.offset % vector == 0 and vector_loads_fit(config, config.bn))
    params["splits"], params["k_chunk"] = split_k(config, m, n, k)
    split, output = params["splits"] > 1, element_type(c.dtype)

    def render(output: str) -> dict[str, object]:
        return template(config, a_k_contiguous=a_strides[1] == 1,
                        b_n_contiguous=b_strides[1] == 1, a_vec4=a_vec4, b_vec4=b_vec4,
                        split=split, precision=program.precision, output=output, **kernel)

    # Split K: the gemm entry stores chunk sums of the accumulator type (c is then the partials)
    values = render(program.precision.accumulate if split else output)
    operands = {"a": a, "b": b}
    if a_vec4:
        operands["a4"] = a
    if b_vec4:
        operands["b4"] = b
    row_groups = fold_grid(math.ceil(m / config.bm) * params["splits"])
    groups = (math.ceil(n / config.bn), row_groups[0], row_groups[1])
    if params["splits"] == 1:
        program.dispatch(SHADER, "gemm", groups=groups, template=values, c=c, params=params,
                         **operands, **epilogue, **sums)
        return None, None, None
    partials, partial_sums = _split_scratch(program, params, sums.get("grad_bias"))
    program.dispatch(SHADER, "gemm", groups=groups, template=values, c=partials,
                     params=params, **operands, **partial_sums)
    return partials, partial_sums, values if values["output"] == output else render(output)


def split_k(config: GemmConfig, m: int, n: int, k: int) -> tuple[int, int]:
    """(splits, k_chunk): a long K cut into chunks (multiples of BK, at least SPLIT_MIN_K long)
    when the output has too few tiles to fill a large GPU, up to about 2 · ENOUGH_WORKGROUPS
    workgroups, and always into chunks of at most loops.LOOP_BOUND slabs; (1, k) otherwise."""
    tiles = math.ceil(m / config.bm) * math.ceil(n / config.bn)
    longest = loops.LOOP_BOUND * config.bk  # the K loop's trip count stays within the bound
    splits = 1
    if tiles < ENOUGH_WORKGROUPS and k >= SPLIT_FROM_K:
        splits = min(math.ceil(2 * ENOUGH_WORKGROUPS / tiles), k // SPLIT_MIN_K)
    splits = max(splits, math.ceil(k / longest))
    if splits == 1:
        return 1, k
    chunk = math.ceil(math.ceil(k / splits) / config.bk) * config.bk
    return math.ceil(k / chunk), chunk
