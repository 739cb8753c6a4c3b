// ops/gemm/subgroup.wgsl: the Dense layer's GEMM for software adapters (llvmpipe/lavapipe), the same
// c = epilogue(a · b) with strided operands as tiled.wgsl, shaped for a CPU's SIMD lanes.
//
// Why a second kernel: llvmpipe runs a subgroup's invocations as the lanes of one SIMD vector,
// and (Mesa 22.3) loads every lane's element of a storage or workgroup buffer one at a time in a
// loop, so loads, not FMAs, set a GEMM's speed there; tiled.wgsl's workgroup-memory tiles cost two
// such loads per FMA. Here a workgroup is one subgroup of W = {{ width }} lanes, owning R = {{ rows }}
// rows of c and, per lane, {{ quads }} vec4s of columns (4 · W · {{ quads }} columns in all). For
// each W values of k, every lane loads a(row, k0 + lane) for its R rows, and the value of k0 + j
// reaches every lane by subgroupBroadcast(·, j), a register shuffle; only b is loaded per lane,
// each value feeding R FMAs.
// From texels (BLOCK = 4 · W): a and b come from rgba32float textures holding their elements in
// order, four per texel (intricate/gpu/texels.py), which llvmpipe fetches a whole texel per lane
// at a time. A lane's texel of a holds four k's of a row (or four rows at one k), so one fetch
// per row serves 4 · W k's; b's texels hold four columns at one k (or four k's of a column).
// When b's rows are no whole texels (N = 10), b comes from its buffer by scalar loads instead,
// each serving all R rows, beside a's texels.
//
// Bindings and Params: interface.wgsl's (a, b, a4/b4 for 16-byte loads of b when the layout
// allows, the epilogue's bias, activation_outputs, activation_inputs, pre_activations and
// grad_bias, c, params), and from texels
// 11 a_texels, 12 b_texels (texture_2d<f32>) instead of a, b, a4, b4 (b stays when b's rows are
// no whole texels). Split K as tiled.wgsl's:
// ``splits`` chunks of ``k_chunk`` (a multiple of 4 · W), each chunk's plain a · b (and column
// sums) at c[split · M · N + ...] (grad_bias[split · N + ...]), summed by tiled.wgsl's sum_splits.
// Loop bound: an invocation loops k_chunk / BLOCK + W - 1 times at most; subgroup.py's split_k
// keeps that near intricate/ops/loops.py's LOOP_BOUND (llvmpipe stops loops at 65535).
// Grid: (ceil(N / (4 · W · {{ quads }})), ceil(M / R) · splits folded over y and z). Loads clamp rows and
// columns into the matrices (what they fetch past the edge is never stored). From buffers the
// last K mod W values of k take a separate, checked path; from texels the last block runs past
// K with a's values there zeroed.
// Gathers (a convolution as implicit GEMM, im2col.wgsl): a and/or b read through a gather
// instead of strides, from buffers, b by scalar loads; each row's part of a's addresses (each
// column's of b's) is taken apart once, each block's k part once per lane.
// NumPy: c = activation(a @ b + bias) for forward, c = a @ b for matmul.

const W: u32 = {{ width }}u;
const R: u32 = {{ rows }}u;
const BLOCK: u32 = {{ block }}u;  // k's per step of the main loop: W, or 4 · W from texels
const TEXEL_ROW: u32 = {{ texel_row }}u;

// Where texel ``index`` of a texels texture lies (gpu/texels.py: TEXEL_ROW texels per row).
fn texel(index: u32) -> vec2<u32> {
    return vec2<u32>(index % TEXEL_ROW, index / TEXEL_ROW);
}

// With splits > 1 (no epilogue then): the plain sum of the workgroup's K chunk, at its split's
// slice of c; tiled.wgsl's sum_splits adds the chunks and applies the epilogue.
fn store(split: u32, row: u32, col: u32, value: {{ accumulate }}) {
    if (row < params.m && col < params.n) {
        c[split * params.m * params.n + row * params.n + col] = epilogue(row, col, value);
    }
}

@compute @workgroup_size({{ width }})
fn gemm(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
    // Row groups (folded over y and z) run split after split of K; groups past the last split
    // (a folded grid) get row0 outside c and an empty chunk: no stores.
    let row_tiles = (params.m + R - 1u) / R;
    let row_group = group.y + group.z * groups.y;
    let split = row_group / row_tiles;
    let row0 = select(row_group % row_tiles * R, params.m, split >= params.splits);
    let col0 = group.x * 4u * W * {{ quads }}u;
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let k_begin = min(split * params.k_chunk, params.k);  // a multiple of 4 · W
    let k_end = min(params.k, k_begin + params.k_chunk);
{{ declarations }}
    let last_k = k_end - 1u;
    let k_whole = {{ blocks_end }};
    for (var k0 = k_begin; k0 < k_whole; k0 += BLOCK) {
{{ whole_steps }}
    }
    for (var i = k_whole; i < k_end; i++) {
{{ last_steps }}
    }
{{ stores }}
}

// The texel reads' operands (besides interface.wgsl's bindings): a and b copied into textures.
@group(0) @binding(11) var a_texels: texture_2d<f32>;
@group(0) @binding(12) var b_texels: texture_2d<f32>;

{% include "ops/gemm/interface.wgsl" %}
{% include "ops/gemm/epilogue.wgsl" %}
{%- if gather %}
{% include "ops/gemm/im2col.wgsl" %}{%- endif %}
