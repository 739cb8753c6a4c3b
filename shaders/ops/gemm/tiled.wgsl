// ops/gemm/tiled.wgsl: the register-blocked GEMM of the Dense layer, c = epilogue(a · b), for all
// three forms it needs (x·W forward, dY·Wᵀ input gradient, xᵀ·dY weight gradient): strides express the
// transposes, so no transposed copy is ever made.
//
// Bindings (group 0), by variable name, T = {{ dtype }}, C = {{ output }} (c's own type: T, or an
// f32 dW beside f16 operands), A = {{ accumulate }} (the accumulators):
//   0 a       read        T    a(m, i) = a[m * a_row_stride + i * a_col_stride], [M, K]
//   1 b       read        T    b(i, n) = b[i * b_row_stride + n * b_col_stride], [K, N]
//   7 a4, 8 b4            read        vec4<T>      a and b again, for vector loads of whole
//                                                  tiles when the layout allows (see gemm.py)
//   2 bias                read        T    [N]     only when the epilogue adds a bias
//   3 activation_outputs  read        T    [M, N]  only when the epilogue multiplies by an
//                                                  activation's derivative (dX of the layer
//                                                  above it: the activation's backward, fused)
//   13 pre_activations    read_write  T    [M, N]  the forward's activation input x, and
//   14 activation_inputs  read        T    [M, N]  that x in the dX GEMM: only for activations
//                                                  whose derivative reads x (GELU, SiLU, ...)
//   4 c                   read_write  C    [M, N]  row-major
//   5 grad_bias           read_write  C    [N]     only with column sums: Σ_i b(i, n), the bias
//                                                  gradient beside dW = xᵀ·dY (b = dY)
//   6 params              uniform     Params
//   9 partials            read        A    [splits, M, N]  split-K: each K chunk's a · b
//   10 partial_sums       read        A    [splits, N]     and its column sums of b
// (All declared in interface.wgsl, included at the end with epilogue.wgsl.)
// Gathers (a convolution as implicit GEMM): with a_gather / b_gather naming a gather of
// im2col.wgsl, that operand's element (row, col) is read at the address its parts put together
// (or is 0, in padding) instead of through its strides, which then only say which dimension is
// contiguous (the order of the loads); no vector loads of it. The parts fixed over K are taken
// apart before the K loop (with load_coordinates), k's once per slab where the lane has one.
// The patches are never stored.
// Precision: the slabs hold T, each fragment read from them widened to A once, or A when
// GemmConfig.widened widens each element as it is staged; every product is summed into A
// over the whole K. f16 data: f32 sums, whose error stays far inside the 1e-3 of Σ|a||b| that
// f16 promises (f16 partial sums per slab would round BK times at 2^-11 of the running sum,
// up to BK · 2^-11 of Σ|a||b|, and an f32 dW's 4096-term sums visibly). The epilogue rounds
// once, into C. With splits > 1 the chunk sums are A (c is then the partials, with C = A).
// Params: m, n, k, the four strides above, alpha (the fused activation's), and the split of K: ``splits`` chunks of ``k_chunk``
// (a multiple of BK). With splits > 1 the gemm entry writes each chunk's plain a · b (and column
// sums) at c[split · M · N + ...] (grad_bias[split · N + ...]), and sum_splits adds the chunks in
// a fixed order and applies the epilogue: deterministic, and many more workgroups when M · N is
// small and K large (the weight gradient of a big batch).
// Workgroup S × S invocations (S = {{ side }}); each owns a TM × TN block of c laid out as
// (TM / 4) × (TN / 4) groups of 4 × 4 spaced 4·S apart, so its workgroup-memory reads are whole
// vec4s that neighbouring invocations take side by side. Block tile BM × BN = {{ bm }} × {{ bn }},
// K slab BK = {{ bk }}; a slab of a is stored k-major (a_tile[i][m]) like b's (b_tile[i][n]).
// Grid: (ceil(N / BN), ceil(M / BM) · splits folded over y and z).
// sum_splits: workgroup 256 (1-D), one invocation per element of c, grid ceil(M · N / 256)
// workgroups folded over x and y.
// Loop bound (llvmpipe stops loops at 65535 per invocation): the K loop runs k_chunk / BK times,
// which tiled.py's split_k keeps within intricate/ops/loops.py's LOOP_BOUND whatever K; sum_splits
// loops `splits` times.
// NumPy: c = activation(a @ b + bias) for forward, c = a @ b for matmul;
//   sum_splits: c = epilogue(partials.reshape(splits, M, N).sum(0)).
// The generated code (fragment loads, FMAs, stores: brace-balanced statements) comes from
// intricate/ops/gemm/codegen.py; every block and loop around it is written here.

const BM: u32 = {{ bm }}u;
const BN: u32 = {{ bn }}u;
const BK: u32 = {{ bk }}u;

// Row strides of the slabs: BM or BN, plus 4 when the slab is written one k at a time.
const A_STRIDE: u32 = {{ a_stride }}u;
const B_STRIDE: u32 = {{ b_stride }}u;
// STAGES slabs of each (2: the pipelined loop fills one while the FMAs read the other).
const A_SLAB: u32 = BK * A_STRIDE / 4u;
const B_SLAB: u32 = BK * B_STRIDE / 4u;
var<workgroup> a_tile: array<vec4<{{ tile }}>, {{ stages }}u * A_SLAB>;  // [(i * A_STRIDE + m) / 4][m % 4]
var<workgroup> b_tile: array<vec4<{{ tile }}>, {{ stages }}u * B_SLAB>;  // [(i * B_STRIDE + n) / 4][n % 4]

// Edge tiles: zero outside the matrices, so partial tiles add nothing.
fn load_a(row: u32, i: u32, k_end: u32) -> {{ dtype }} {
    if (row < params.m && i < k_end) {
        return a[row * params.a_row_stride + i * params.a_col_stride];
    }
    return 0.0;
}

fn load_b(i: u32, col: u32, k_end: u32) -> {{ dtype }} {
    if (i < k_end && col < params.n) {
        return b[i * params.b_row_stride + col * params.b_col_stride];
    }
    return 0.0;
}

// With splits > 1: the plain sum of the workgroup's K chunk, at its split's slice of c.
fn store(split: u32, row: u32, col: u32, value: {{ accumulate }}) {
    if (row < params.m && col < params.n) {
        c[split * params.m * params.n + row * params.n + col] = {{ store_value }};
    }
}

@compute @workgroup_size({{ side }}, {{ side }})
fn gemm(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    // A warp's 32 lanes cover 8 × 4 invocations rather than 16 × 2: its fragment reads then
    // touch 4 distinct vec4s of a_tile and 8 of b_tile (fewer workgroup-memory wavefronts).
    let tx = lane % 8u + (lane / 32u) % ({{ side }}u / 8u) * 8u;
    let ty = (lane / 8u) % 4u + lane / (4u * {{ side }}u) * 4u;
    let a_at = ty;  // where this invocation's fragments start in a_tile / b_tile
    let b_at = tx;
    // Row-tile groups (folded over y and z) run split after split of K; groups past the last
    // split (a folded grid) get row0 outside c: no loads, no stores.
    let row_tiles = (params.m + BM - 1u) / BM;
    let row_group = group.y + group.z * groups.y;
    let split = row_group / row_tiles;
    let row0 = select(row_group % row_tiles * BM, params.m, split >= params.splits);
    let col0 = group.x * BN;
    let k_begin = split * params.k_chunk;
    let k_end = min(params.k, k_begin + params.k_chunk);
{{ declare_accumulators }}
{{ declare_column_sums }}
{{ load_coordinates }}
    let inside = row0 + BM <= params.m && col0 + BN <= params.n;
{% if pipelined %}
    // Whole tiles with 16-byte loads and K a multiple of BK: the next slab's global loads go
    // into registers before the current slab's FMAs, hiding their latency.
    if (inside && (k_end - k_begin) % BK == 0u) {
{{ declare_quads }}
        var start = k_begin;
{{ load_quads_at_start }}
{% if stages == 1 %}
        loop {
            // One stage: the registers are stored after the FMAs, between two barriers.
{{ store_quads }}
            workgroupBarrier();
            let next = start + BK;
            if (next < k_end) {
{{ load_quads_at_next }}
            }
{{ inner_product }}
            workgroupBarrier();
            start = next;
            if (start >= k_end) { break; }
        }
{% else %}
{{ store_quads }}
        workgroupBarrier();
        // Two stages, unrolled twice so that each half reads and writes slabs at constant
        // offsets: the registers are stored into the other slab while no one reads it, so one
        // barrier per slab suffices (every invocation has finished reading a slab before the
        // barrier that follows its FMAs, and only after that barrier is the slab overwritten).
        loop {
            {
                let next = start + BK;
                if (next < k_end) {
{{ load_quads_at_next }}
                }
                let a_at = ty;
                let b_at = tx;
{{ inner_product }}
                if (next >= k_end) { break; }
{{ store_quads_upper }}
                workgroupBarrier();
                start = next;
            }
            {
                let next = start + BK;
                if (next < k_end) {
{{ load_quads_at_next }}
                }
                let a_at = ty + A_SLAB;
                let b_at = tx + B_SLAB;
{{ inner_product }}
                if (next >= k_end) { break; }
{{ store_quads }}
                workgroupBarrier();
                start = next;
            }
        }
{% endif %}
    } else {
{% else %}
    {
{% endif %}
    for (var start = k_begin; start < k_end; start += BK) {
        // Stage the slabs (neighbouring invocations read neighbouring addresses). Whole tiles,
        // the common case, skip the bounds checks; the test is uniform across the workgroup.
        if (inside && start + BK <= k_end) {
{{ load_inside }}
        } else {
{{ load_edge }}
        }
        workgroupBarrier();
{{ inner_product }}
        workgroupBarrier();
    }
    }
{{ stores }}
{{ store_column_sums }}
}

// Split-K's second half: c = epilogue(Σ over splits of partials), and the column sums likewise,
// summed in split order. One invocation per element of c (grid folded over x and y).
@compute @workgroup_size(256)
fn sum_splits(@builtin(global_invocation_id) id: vec3<u32>,
              @builtin(num_workgroups) groups: vec3<u32>) {
    let i = id.x + id.y * groups.x * 256u;
    let size = params.m * params.n;
    if (i >= size) {
        return;
    }
    var total: {{ accumulate }} = 0.0;
    for (var split = 0u; split < params.splits; split++) {
        total += partials[split * size + i];
    }
    c[i] = epilogue(i / params.n, i % params.n, total);
{{ sum_column_partials }}
}

{% include "ops/gemm/interface.wgsl" %}
{% include "ops/gemm/epilogue.wgsl" %}
{%- if gather %}
{% include "ops/gemm/im2col.wgsl" %}{%- endif %}
