// ops/gemm/subgroup.wgsl: the Dense layer's GEMM for software adapters (llvmpipe/lavapipe), the same
// c = epilogue(a · b) with strided operands as tiled.wgsl, shaped for a CPU's SIMD lanes.
//
// Why a second kernel: llvmpipe runs a subgroup's invocations as the lanes of one SIMD vector,
// and (Mesa 22.3) loads every lane's element of a storage or workgroup buffer one at a time in a
// loop, so loads, not FMAs, set a GEMM's speed there; tiled.wgsl's workgroup-memory tiles cost two
// such loads per FMA. Here a workgroup is one subgroup of W = 8 lanes, owning R = 32
// rows of c and, per lane, 1 vec4s of columns (4 · W · 1 columns in all). For
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
// Grid: (ceil(N / (4 · W · 1)), ceil(M / R) · splits folded over y and z). Loads clamp rows and
// columns into the matrices (what they fetch past the edge is never stored). From buffers the
// last K mod W values of k take a separate, checked path; from texels the last block runs past
// K with a's values there zeroed.
// Gathers (a convolution as implicit GEMM, im2col.wgsl): a and/or b read through a gather
// instead of strides, from buffers, b by scalar loads; each row's part of a's addresses (each
// column's of b's) is taken apart once, each block's k part once per lane.
// NumPy: c = activation(a @ b + bias) for forward, c = a @ b for matmul.

const W: u32 = 8u;
const R: u32 = 32u;
const BLOCK: u32 = 8u;  // k's per step of the main loop: W, or 4 · W from texels
const TEXEL_ROW: u32 = 4096u;

// Where texel ``index`` of a texels texture lies (gpu/texels.py: TEXEL_ROW texels per row).
fn texel(index: u32) -> vec2<u32> {
    return vec2<u32>(index % TEXEL_ROW, index / TEXEL_ROW);
}

// With splits > 1 (no epilogue then): the plain sum of the workgroup's K chunk, at its split's
// slice of c; tiled.wgsl's sum_splits adds the chunks and applies the epilogue.
fn store(split: u32, row: u32, col: u32, value: f32) {
    if (row < params.m && col < params.n) {
        c[split * params.m * params.n + row * params.n + col] = epilogue(row, col, value);
    }
}

@compute @workgroup_size(8)
fn gemm(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
    // Row groups (folded over y and z) run split after split of K; groups past the last split
    // (a folded grid) get row0 outside c and an empty chunk: no stores.
    let row_tiles = (params.m + R - 1u) / R;
    let row_group = group.y + group.z * groups.y;
    let split = row_group / row_tiles;
    let row0 = select(row_group % row_tiles * R, params.m, split >= params.splits);
    let col0 = group.x * 4u * W * 1u;
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let k_begin = min(split * params.k_chunk, params.k);  // a multiple of 4 · W
    let k_end = min(params.k, k_begin + params.k_chunk);
    let a_row_0 = min(row0 + 0u, last_row) * params.a_row_stride;
    let a_row_1 = min(row0 + 1u, last_row) * params.a_row_stride;
    let a_row_2 = min(row0 + 2u, last_row) * params.a_row_stride;
    let a_row_3 = min(row0 + 3u, last_row) * params.a_row_stride;
    let a_row_4 = min(row0 + 4u, last_row) * params.a_row_stride;
    let a_row_5 = min(row0 + 5u, last_row) * params.a_row_stride;
    let a_row_6 = min(row0 + 6u, last_row) * params.a_row_stride;
    let a_row_7 = min(row0 + 7u, last_row) * params.a_row_stride;
    let a_row_8 = min(row0 + 8u, last_row) * params.a_row_stride;
    let a_row_9 = min(row0 + 9u, last_row) * params.a_row_stride;
    let a_row_10 = min(row0 + 10u, last_row) * params.a_row_stride;
    let a_row_11 = min(row0 + 11u, last_row) * params.a_row_stride;
    let a_row_12 = min(row0 + 12u, last_row) * params.a_row_stride;
    let a_row_13 = min(row0 + 13u, last_row) * params.a_row_stride;
    let a_row_14 = min(row0 + 14u, last_row) * params.a_row_stride;
    let a_row_15 = min(row0 + 15u, last_row) * params.a_row_stride;
    let a_row_16 = min(row0 + 16u, last_row) * params.a_row_stride;
    let a_row_17 = min(row0 + 17u, last_row) * params.a_row_stride;
    let a_row_18 = min(row0 + 18u, last_row) * params.a_row_stride;
    let a_row_19 = min(row0 + 19u, last_row) * params.a_row_stride;
    let a_row_20 = min(row0 + 20u, last_row) * params.a_row_stride;
    let a_row_21 = min(row0 + 21u, last_row) * params.a_row_stride;
    let a_row_22 = min(row0 + 22u, last_row) * params.a_row_stride;
    let a_row_23 = min(row0 + 23u, last_row) * params.a_row_stride;
    let a_row_24 = min(row0 + 24u, last_row) * params.a_row_stride;
    let a_row_25 = min(row0 + 25u, last_row) * params.a_row_stride;
    let a_row_26 = min(row0 + 26u, last_row) * params.a_row_stride;
    let a_row_27 = min(row0 + 27u, last_row) * params.a_row_stride;
    let a_row_28 = min(row0 + 28u, last_row) * params.a_row_stride;
    let a_row_29 = min(row0 + 29u, last_row) * params.a_row_stride;
    let a_row_30 = min(row0 + 30u, last_row) * params.a_row_stride;
    let a_row_31 = min(row0 + 31u, last_row) * params.a_row_stride;
    let col_0 = col0 + 4u * (lane + 0u);
    let b_col_0_0 = min(col_0 + 0u, last_col) * params.b_col_stride;
    let b_col_0_1 = min(col_0 + 1u, last_col) * params.b_col_stride;
    let b_col_0_2 = min(col_0 + 2u, last_col) * params.b_col_stride;
    let b_col_0_3 = min(col_0 + 3u, last_col) * params.b_col_stride;
    var acc_0_0 = vec4<f32>(0.0);
    var acc_1_0 = vec4<f32>(0.0);
    var acc_2_0 = vec4<f32>(0.0);
    var acc_3_0 = vec4<f32>(0.0);
    var acc_4_0 = vec4<f32>(0.0);
    var acc_5_0 = vec4<f32>(0.0);
    var acc_6_0 = vec4<f32>(0.0);
    var acc_7_0 = vec4<f32>(0.0);
    var acc_8_0 = vec4<f32>(0.0);
    var acc_9_0 = vec4<f32>(0.0);
    var acc_10_0 = vec4<f32>(0.0);
    var acc_11_0 = vec4<f32>(0.0);
    var acc_12_0 = vec4<f32>(0.0);
    var acc_13_0 = vec4<f32>(0.0);
    var acc_14_0 = vec4<f32>(0.0);
    var acc_15_0 = vec4<f32>(0.0);
    var acc_16_0 = vec4<f32>(0.0);
    var acc_17_0 = vec4<f32>(0.0);
    var acc_18_0 = vec4<f32>(0.0);
    var acc_19_0 = vec4<f32>(0.0);
    var acc_20_0 = vec4<f32>(0.0);
    var acc_21_0 = vec4<f32>(0.0);
    var acc_22_0 = vec4<f32>(0.0);
    var acc_23_0 = vec4<f32>(0.0);
    var acc_24_0 = vec4<f32>(0.0);
    var acc_25_0 = vec4<f32>(0.0);
    var acc_26_0 = vec4<f32>(0.0);
    var acc_27_0 = vec4<f32>(0.0);
    var acc_28_0 = vec4<f32>(0.0);
    var acc_29_0 = vec4<f32>(0.0);
    var acc_30_0 = vec4<f32>(0.0);
    var acc_31_0 = vec4<f32>(0.0);
    var sum_0 = vec4<f32>(0.0);
    let last_k = k_end - 1u;
    let k_whole = k_end - (k_end - k_begin) % BLOCK;
    for (var k0 = k_begin; k0 < k_whole; k0 += BLOCK) {
        let a_0 = a[a_row_0 + (k0 + lane) * params.a_col_stride];
        let a_1 = a[a_row_1 + (k0 + lane) * params.a_col_stride];
        let a_2 = a[a_row_2 + (k0 + lane) * params.a_col_stride];
        let a_3 = a[a_row_3 + (k0 + lane) * params.a_col_stride];
        let a_4 = a[a_row_4 + (k0 + lane) * params.a_col_stride];
        let a_5 = a[a_row_5 + (k0 + lane) * params.a_col_stride];
        let a_6 = a[a_row_6 + (k0 + lane) * params.a_col_stride];
        let a_7 = a[a_row_7 + (k0 + lane) * params.a_col_stride];
        let a_8 = a[a_row_8 + (k0 + lane) * params.a_col_stride];
        let a_9 = a[a_row_9 + (k0 + lane) * params.a_col_stride];
        let a_10 = a[a_row_10 + (k0 + lane) * params.a_col_stride];
        let a_11 = a[a_row_11 + (k0 + lane) * params.a_col_stride];
        let a_12 = a[a_row_12 + (k0 + lane) * params.a_col_stride];
        let a_13 = a[a_row_13 + (k0 + lane) * params.a_col_stride];
        let a_14 = a[a_row_14 + (k0 + lane) * params.a_col_stride];
        let a_15 = a[a_row_15 + (k0 + lane) * params.a_col_stride];
        let a_16 = a[a_row_16 + (k0 + lane) * params.a_col_stride];
        let a_17 = a[a_row_17 + (k0 + lane) * params.a_col_stride];
        let a_18 = a[a_row_18 + (k0 + lane) * params.a_col_stride];
        let a_19 = a[a_row_19 + (k0 + lane) * params.a_col_stride];
        let a_20 = a[a_row_20 + (k0 + lane) * params.a_col_stride];
        let a_21 = a[a_row_21 + (k0 + lane) * params.a_col_stride];
        let a_22 = a[a_row_22 + (k0 + lane) * params.a_col_stride];
        let a_23 = a[a_row_23 + (k0 + lane) * params.a_col_stride];
        let a_24 = a[a_row_24 + (k0 + lane) * params.a_col_stride];
        let a_25 = a[a_row_25 + (k0 + lane) * params.a_col_stride];
        let a_26 = a[a_row_26 + (k0 + lane) * params.a_col_stride];
        let a_27 = a[a_row_27 + (k0 + lane) * params.a_col_stride];
        let a_28 = a[a_row_28 + (k0 + lane) * params.a_col_stride];
        let a_29 = a[a_row_29 + (k0 + lane) * params.a_col_stride];
        let a_30 = a[a_row_30 + (k0 + lane) * params.a_col_stride];
        let a_31 = a[a_row_31 + (k0 + lane) * params.a_col_stride];
        let b_0_0_0 = b4[(b_col_0_0 + k0) / 4u + 0u];
        let b_0_0_1 = b4[(b_col_0_0 + k0) / 4u + 1u];
        let b_0_1_0 = b4[(b_col_0_1 + k0) / 4u + 0u];
        let b_0_1_1 = b4[(b_col_0_1 + k0) / 4u + 1u];
        let b_0_2_0 = b4[(b_col_0_2 + k0) / 4u + 0u];
        let b_0_2_1 = b4[(b_col_0_2 + k0) / 4u + 1u];
        let b_0_3_0 = b4[(b_col_0_3 + k0) / 4u + 0u];
        let b_0_3_1 = b4[(b_col_0_3 + k0) / 4u + 1u];
        let b0_0 = vec4<f32>(b_0_0_0[0], b_0_1_0[0], b_0_2_0[0], b_0_3_0[0]);
        let b1_0 = vec4<f32>(b_0_0_0[1], b_0_1_0[1], b_0_2_0[1], b_0_3_0[1]);
        let b2_0 = vec4<f32>(b_0_0_0[2], b_0_1_0[2], b_0_2_0[2], b_0_3_0[2]);
        let b3_0 = vec4<f32>(b_0_0_0[3], b_0_1_0[3], b_0_2_0[3], b_0_3_0[3]);
        let b4_0 = vec4<f32>(b_0_0_1[0], b_0_1_1[0], b_0_2_1[0], b_0_3_1[0]);
        let b5_0 = vec4<f32>(b_0_0_1[1], b_0_1_1[1], b_0_2_1[1], b_0_3_1[1]);
        let b6_0 = vec4<f32>(b_0_0_1[2], b_0_1_1[2], b_0_2_1[2], b_0_3_1[2]);
        let b7_0 = vec4<f32>(b_0_0_1[3], b_0_1_1[3], b_0_2_1[3], b_0_3_1[3]);
        sum_0 += b0_0;
        sum_0 += b1_0;
        sum_0 += b2_0;
        sum_0 += b3_0;
        sum_0 += b4_0;
        sum_0 += b5_0;
        sum_0 += b6_0;
        sum_0 += b7_0;
        let s0_0 = subgroupBroadcast(a_0, 0u);
        let s0_1 = subgroupBroadcast(a_0, 1u);
        let s0_2 = subgroupBroadcast(a_0, 2u);
        let s0_3 = subgroupBroadcast(a_0, 3u);
        let s0_4 = subgroupBroadcast(a_0, 4u);
        let s0_5 = subgroupBroadcast(a_0, 5u);
        let s0_6 = subgroupBroadcast(a_0, 6u);
        let s0_7 = subgroupBroadcast(a_0, 7u);
        acc_0_0 = fma(vec4<f32>(s0_0), b0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_1), b1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_2), b2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_3), b3_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_4), b4_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_5), b5_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_6), b6_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_7), b7_0, acc_0_0);
        let s1_0 = subgroupBroadcast(a_1, 0u);
        let s1_1 = subgroupBroadcast(a_1, 1u);
        let s1_2 = subgroupBroadcast(a_1, 2u);
        let s1_3 = subgroupBroadcast(a_1, 3u);
        let s1_4 = subgroupBroadcast(a_1, 4u);
        let s1_5 = subgroupBroadcast(a_1, 5u);
        let s1_6 = subgroupBroadcast(a_1, 6u);
        let s1_7 = subgroupBroadcast(a_1, 7u);
        acc_1_0 = fma(vec4<f32>(s1_0), b0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_1), b1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_2), b2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_3), b3_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_4), b4_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_5), b5_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_6), b6_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_7), b7_0, acc_1_0);
        let s2_0 = subgroupBroadcast(a_2, 0u);
        let s2_1 = subgroupBroadcast(a_2, 1u);
        let s2_2 = subgroupBroadcast(a_2, 2u);
        let s2_3 = subgroupBroadcast(a_2, 3u);
        let s2_4 = subgroupBroadcast(a_2, 4u);
        let s2_5 = subgroupBroadcast(a_2, 5u);
        let s2_6 = subgroupBroadcast(a_2, 6u);
        let s2_7 = subgroupBroadcast(a_2, 7u);
        acc_2_0 = fma(vec4<f32>(s2_0), b0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_1), b1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_2), b2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_3), b3_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_4), b4_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_5), b5_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_6), b6_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_7), b7_0, acc_2_0);
        let s3_0 = subgroupBroadcast(a_3, 0u);
        let s3_1 = subgroupBroadcast(a_3, 1u);
        let s3_2 = subgroupBroadcast(a_3, 2u);
        let s3_3 = subgroupBroadcast(a_3, 3u);
        let s3_4 = subgroupBroadcast(a_3, 4u);
        let s3_5 = subgroupBroadcast(a_3, 5u);
        let s3_6 = subgroupBroadcast(a_3, 6u);
        let s3_7 = subgroupBroadcast(a_3, 7u);
        acc_3_0 = fma(vec4<f32>(s3_0), b0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_1), b1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_2), b2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_3), b3_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_4), b4_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_5), b5_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_6), b6_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_7), b7_0, acc_3_0);
        let s4_0 = subgroupBroadcast(a_4, 0u);
        let s4_1 = subgroupBroadcast(a_4, 1u);
        let s4_2 = subgroupBroadcast(a_4, 2u);
        let s4_3 = subgroupBroadcast(a_4, 3u);
        let s4_4 = subgroupBroadcast(a_4, 4u);
        let s4_5 = subgroupBroadcast(a_4, 5u);
        let s4_6 = subgroupBroadcast(a_4, 6u);
        let s4_7 = subgroupBroadcast(a_4, 7u);
        acc_4_0 = fma(vec4<f32>(s4_0), b0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_1), b1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_2), b2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_3), b3_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_4), b4_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_5), b5_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_6), b6_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_7), b7_0, acc_4_0);
        let s5_0 = subgroupBroadcast(a_5, 0u);
        let s5_1 = subgroupBroadcast(a_5, 1u);
        let s5_2 = subgroupBroadcast(a_5, 2u);
        let s5_3 = subgroupBroadcast(a_5, 3u);
        let s5_4 = subgroupBroadcast(a_5, 4u);
        let s5_5 = subgroupBroadcast(a_5, 5u);
        let s5_6 = subgroupBroadcast(a_5, 6u);
        let s5_7 = subgroupBroadcast(a_5, 7u);
        acc_5_0 = fma(vec4<f32>(s5_0), b0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_1), b1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_2), b2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_3), b3_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_4), b4_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_5), b5_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_6), b6_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_7), b7_0, acc_5_0);
        let s6_0 = subgroupBroadcast(a_6, 0u);
        let s6_1 = subgroupBroadcast(a_6, 1u);
        let s6_2 = subgroupBroadcast(a_6, 2u);
        let s6_3 = subgroupBroadcast(a_6, 3u);
        let s6_4 = subgroupBroadcast(a_6, 4u);
        let s6_5 = subgroupBroadcast(a_6, 5u);
        let s6_6 = subgroupBroadcast(a_6, 6u);
        let s6_7 = subgroupBroadcast(a_6, 7u);
        acc_6_0 = fma(vec4<f32>(s6_0), b0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_1), b1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_2), b2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_3), b3_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_4), b4_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_5), b5_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_6), b6_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_7), b7_0, acc_6_0);
        let s7_0 = subgroupBroadcast(a_7, 0u);
        let s7_1 = subgroupBroadcast(a_7, 1u);
        let s7_2 = subgroupBroadcast(a_7, 2u);
        let s7_3 = subgroupBroadcast(a_7, 3u);
        let s7_4 = subgroupBroadcast(a_7, 4u);
        let s7_5 = subgroupBroadcast(a_7, 5u);
        let s7_6 = subgroupBroadcast(a_7, 6u);
        let s7_7 = subgroupBroadcast(a_7, 7u);
        acc_7_0 = fma(vec4<f32>(s7_0), b0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_1), b1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_2), b2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_3), b3_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_4), b4_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_5), b5_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_6), b6_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_7), b7_0, acc_7_0);
        let s8_0 = subgroupBroadcast(a_8, 0u);
        let s8_1 = subgroupBroadcast(a_8, 1u);
        let s8_2 = subgroupBroadcast(a_8, 2u);
        let s8_3 = subgroupBroadcast(a_8, 3u);
        let s8_4 = subgroupBroadcast(a_8, 4u);
        let s8_5 = subgroupBroadcast(a_8, 5u);
        let s8_6 = subgroupBroadcast(a_8, 6u);
        let s8_7 = subgroupBroadcast(a_8, 7u);
        acc_8_0 = fma(vec4<f32>(s8_0), b0_0, acc_8_0);
        acc_8_0 = fma(vec4<f32>(s8_1), b1_0, acc_8_0);
        acc_8_0 = fma(vec4<f32>(s8_2), b2_0, acc_8_0);
        acc_8_0 = fma(vec4<f32>(s8_3), b3_0, acc_8_0);
        acc_8_0 = fma(vec4<f32>(s8_4), b4_0, acc_8_0);
        acc_8_0 = fma(vec4<f32>(s8_5), b5_0, acc_8_0);
        acc_8_0 = fma(vec4<f32>(s8_6), b6_0, acc_8_0);
        acc_8_0 = fma(vec4<f32>(s8_7), b7_0, acc_8_0);
        let s9_0 = subgroupBroadcast(a_9, 0u);
        let s9_1 = subgroupBroadcast(a_9, 1u);
        let s9_2 = subgroupBroadcast(a_9, 2u);
        let s9_3 = subgroupBroadcast(a_9, 3u);
        let s9_4 = subgroupBroadcast(a_9, 4u);
        let s9_5 = subgroupBroadcast(a_9, 5u);
        let s9_6 = subgroupBroadcast(a_9, 6u);
        let s9_7 = subgroupBroadcast(a_9, 7u);
        acc_9_0 = fma(vec4<f32>(s9_0), b0_0, acc_9_0);
        acc_9_0 = fma(vec4<f32>(s9_1), b1_0, acc_9_0);
        acc_9_0 = fma(vec4<f32>(s9_2), b2_0, acc_9_0);
        acc_9_0 = fma(vec4<f32>(s9_3), b3_0, acc_9_0);
        acc_9_0 = fma(vec4<f32>(s9_4), b4_0, acc_9_0);
        acc_9_0 = fma(vec4<f32>(s9_5), b5_0, acc_9_0);
        acc_9_0 = fma(vec4<f32>(s9_6), b6_0, acc_9_0);
        acc_9_0 = fma(vec4<f32>(s9_7), b7_0, acc_9_0);
        let s10_0 = subgroupBroadcast(a_10, 0u);
        let s10_1 = subgroupBroadcast(a_10, 1u);
        let s10_2 = subgroupBroadcast(a_10, 2u);
        let s10_3 = subgroupBroadcast(a_10, 3u);
        let s10_4 = subgroupBroadcast(a_10, 4u);
        let s10_5 = subgroupBroadcast(a_10, 5u);
        let s10_6 = subgroupBroadcast(a_10, 6u);
        let s10_7 = subgroupBroadcast(a_10, 7u);
        acc_10_0 = fma(vec4<f32>(s10_0), b0_0, acc_10_0);
        acc_10_0 = fma(vec4<f32>(s10_1), b1_0, acc_10_0);
        acc_10_0 = fma(vec4<f32>(s10_2), b2_0, acc_10_0);
        acc_10_0 = fma(vec4<f32>(s10_3), b3_0, acc_10_0);
        acc_10_0 = fma(vec4<f32>(s10_4), b4_0, acc_10_0);
        acc_10_0 = fma(vec4<f32>(s10_5), b5_0, acc_10_0);
        acc_10_0 = fma(vec4<f32>(s10_6), b6_0, acc_10_0);
        acc_10_0 = fma(vec4<f32>(s10_7), b7_0, acc_10_0);
        let s11_0 = subgroupBroadcast(a_11, 0u);
        let s11_1 = subgroupBroadcast(a_11, 1u);
        let s11_2 = subgroupBroadcast(a_11, 2u);
        let s11_3 = subgroupBroadcast(a_11, 3u);
        let s11_4 = subgroupBroadcast(a_11, 4u);
        let s11_5 = subgroupBroadcast(a_11, 5u);
        let s11_6 = subgroupBroadcast(a_11, 6u);
        let s11_7 = subgroupBroadcast(a_11, 7u);
        acc_11_0 = fma(vec4<f32>(s11_0), b0_0, acc_11_0);
        acc_11_0 = fma(vec4<f32>(s11_1), b1_0, acc_11_0);
        acc_11_0 = fma(vec4<f32>(s11_2), b2_0, acc_11_0);
        acc_11_0 = fma(vec4<f32>(s11_3), b3_0, acc_11_0);
        acc_11_0 = fma(vec4<f32>(s11_4), b4_0, acc_11_0);
        acc_11_0 = fma(vec4<f32>(s11_5), b5_0, acc_11_0);
        acc_11_0 = fma(vec4<f32>(s11_6), b6_0, acc_11_0);
        acc_11_0 = fma(vec4<f32>(s11_7), b7_0, acc_11_0);
        let s12_0 = subgroupBroadcast(a_12, 0u);
        let s12_1 = subgroupBroadcast(a_12, 1u);
        let s12_2 = subgroupBroadcast(a_12, 2u);
        let s12_3 = subgroupBroadcast(a_12, 3u);
        let s12_4 = subgroupBroadcast(a_12, 4u);
        let s12_5 = subgroupBroadcast(a_12, 5u);
        let s12_6 = subgroupBroadcast(a_12, 6u);
        let s12_7 = subgroupBroadcast(a_12, 7u);
        acc_12_0 = fma(vec4<f32>(s12_0), b0_0, acc_12_0);
        acc_12_0 = fma(vec4<f32>(s12_1), b1_0, acc_12_0);
        acc_12_0 = fma(vec4<f32>(s12_2), b2_0, acc_12_0);
        acc_12_0 = fma(vec4<f32>(s12_3), b3_0, acc_12_0);
        acc_12_0 = fma(vec4<f32>(s12_4), b4_0, acc_12_0);
        acc_12_0 = fma(vec4<f32>(s12_5), b5_0, acc_12_0);
        acc_12_0 = fma(vec4<f32>(s12_6), b6_0, acc_12_0);
        acc_12_0 = fma(vec4<f32>(s12_7), b7_0, acc_12_0);
        let s13_0 = subgroupBroadcast(a_13, 0u);
        let s13_1 = subgroupBroadcast(a_13, 1u);
        let s13_2 = subgroupBroadcast(a_13, 2u);
        let s13_3 = subgroupBroadcast(a_13, 3u);
        let s13_4 = subgroupBroadcast(a_13, 4u);
        let s13_5 = subgroupBroadcast(a_13, 5u);
        let s13_6 = subgroupBroadcast(a_13, 6u);
        let s13_7 = subgroupBroadcast(a_13, 7u);
        acc_13_0 = fma(vec4<f32>(s13_0), b0_0, acc_13_0);
        acc_13_0 = fma(vec4<f32>(s13_1), b1_0, acc_13_0);
        acc_13_0 = fma(vec4<f32>(s13_2), b2_0, acc_13_0);
        acc_13_0 = fma(vec4<f32>(s13_3), b3_0, acc_13_0);
        acc_13_0 = fma(vec4<f32>(s13_4), b4_0, acc_13_0);
        acc_13_0 = fma(vec4<f32>(s13_5), b5_0, acc_13_0);
        acc_13_0 = fma(vec4<f32>(s13_6), b6_0, acc_13_0);
        acc_13_0 = fma(vec4<f32>(s13_7), b7_0, acc_13_0);
        let s14_0 = subgroupBroadcast(a_14, 0u);
        let s14_1 = subgroupBroadcast(a_14, 1u);
        let s14_2 = subgroupBroadcast(a_14, 2u);
        let s14_3 = subgroupBroadcast(a_14, 3u);
        let s14_4 = subgroupBroadcast(a_14, 4u);
        let s14_5 = subgroupBroadcast(a_14, 5u);
        let s14_6 = subgroupBroadcast(a_14, 6u);
        let s14_7 = subgroupBroadcast(a_14, 7u);
        acc_14_0 = fma(vec4<f32>(s14_0), b0_0, acc_14_0);
        acc_14_0 = fma(vec4<f32>(s14_1), b1_0, acc_14_0);
        acc_14_0 = fma(vec4<f32>(s14_2), b2_0, acc_14_0);
        acc_14_0 = fma(vec4<f32>(s14_3), b3_0, acc_14_0);
        acc_14_0 = fma(vec4<f32>(s14_4), b4_0, acc_14_0);
        acc_14_0 = fma(vec4<f32>(s14_5), b5_0, acc_14_0);
        acc_14_0 = fma(vec4<f32>(s14_6), b6_0, acc_14_0);
        acc_14_0 = fma(vec4<f32>(s14_7), b7_0, acc_14_0);
        let s15_0 = subgroupBroadcast(a_15, 0u);
        let s15_1 = subgroupBroadcast(a_15, 1u);
        let s15_2 = subgroupBroadcast(a_15, 2u);
        let s15_3 = subgroupBroadcast(a_15, 3u);
        let s15_4 = subgroupBroadcast(a_15, 4u);
        let s15_5 = subgroupBroadcast(a_15, 5u);
        let s15_6 = subgroupBroadcast(a_15, 6u);
        let s15_7 = subgroupBroadcast(a_15, 7u);
        acc_15_0 = fma(vec4<f32>(s15_0), b0_0, acc_15_0);
        acc_15_0 = fma(vec4<f32>(s15_1), b1_0, acc_15_0);
        acc_15_0 = fma(vec4<f32>(s15_2), b2_0, acc_15_0);
        acc_15_0 = fma(vec4<f32>(s15_3), b3_0, acc_15_0);
        acc_15_0 = fma(vec4<f32>(s15_4), b4_0, acc_15_0);
        acc_15_0 = fma(vec4<f32>(s15_5), b5_0, acc_15_0);
        acc_15_0 = fma(vec4<f32>(s15_6), b6_0, acc_15_0);
        acc_15_0 = fma(vec4<f32>(s15_7), b7_0, acc_15_0);
        let s16_0 = subgroupBroadcast(a_16, 0u);
        let s16_1 = subgroupBroadcast(a_16, 1u);
        let s16_2 = subgroupBroadcast(a_16, 2u);
        let s16_3 = subgroupBroadcast(a_16, 3u);
        let s16_4 = subgroupBroadcast(a_16, 4u);
        let s16_5 = subgroupBroadcast(a_16, 5u);
        let s16_6 = subgroupBroadcast(a_16, 6u);
        let s16_7 = subgroupBroadcast(a_16, 7u);
        acc_16_0 = fma(vec4<f32>(s16_0), b0_0, acc_16_0);
        acc_16_0 = fma(vec4<f32>(s16_1), b1_0, acc_16_0);
        acc_16_0 = fma(vec4<f32>(s16_2), b2_0, acc_16_0);
        acc_16_0 = fma(vec4<f32>(s16_3), b3_0, acc_16_0);
        acc_16_0 = fma(vec4<f32>(s16_4), b4_0, acc_16_0);
        acc_16_0 = fma(vec4<f32>(s16_5), b5_0, acc_16_0);
        acc_16_0 = fma(vec4<f32>(s16_6), b6_0, acc_16_0);
        acc_16_0 = fma(vec4<f32>(s16_7), b7_0, acc_16_0);
        let s17_0 = subgroupBroadcast(a_17, 0u);
        let s17_1 = subgroupBroadcast(a_17, 1u);
        let s17_2 = subgroupBroadcast(a_17, 2u);
        let s17_3 = subgroupBroadcast(a_17, 3u);
        let s17_4 = subgroupBroadcast(a_17, 4u);
        let s17_5 = subgroupBroadcast(a_17, 5u);
        let s17_6 = subgroupBroadcast(a_17, 6u);
        let s17_7 = subgroupBroadcast(a_17, 7u);
        acc_17_0 = fma(vec4<f32>(s17_0), b0_0, acc_17_0);
        acc_17_0 = fma(vec4<f32>(s17_1), b1_0, acc_17_0);
        acc_17_0 = fma(vec4<f32>(s17_2), b2_0, acc_17_0);
        acc_17_0 = fma(vec4<f32>(s17_3), b3_0, acc_17_0);
        acc_17_0 = fma(vec4<f32>(s17_4), b4_0, acc_17_0);
        acc_17_0 = fma(vec4<f32>(s17_5), b5_0, acc_17_0);
        acc_17_0 = fma(vec4<f32>(s17_6), b6_0, acc_17_0);
        acc_17_0 = fma(vec4<f32>(s17_7), b7_0, acc_17_0);
        let s18_0 = subgroupBroadcast(a_18, 0u);
        let s18_1 = subgroupBroadcast(a_18, 1u);
        let s18_2 = subgroupBroadcast(a_18, 2u);
        let s18_3 = subgroupBroadcast(a_18, 3u);
        let s18_4 = subgroupBroadcast(a_18, 4u);
        let s18_5 = subgroupBroadcast(a_18, 5u);
        let s18_6 = subgroupBroadcast(a_18, 6u);
        let s18_7 = subgroupBroadcast(a_18, 7u);
        acc_18_0 = fma(vec4<f32>(s18_0), b0_0, acc_18_0);
        acc_18_0 = fma(vec4<f32>(s18_1), b1_0, acc_18_0);
        acc_18_0 = fma(vec4<f32>(s18_2), b2_0, acc_18_0);
        acc_18_0 = fma(vec4<f32>(s18_3), b3_0, acc_18_0);
        acc_18_0 = fma(vec4<f32>(s18_4), b4_0, acc_18_0);
        acc_18_0 = fma(vec4<f32>(s18_5), b5_0, acc_18_0);
        acc_18_0 = fma(vec4<f32>(s18_6), b6_0, acc_18_0);
        acc_18_0 = fma(vec4<f32>(s18_7), b7_0, acc_18_0);
        let s19_0 = subgroupBroadcast(a_19, 0u);
        let s19_1 = subgroupBroadcast(a_19, 1u);
        let s19_2 = subgroupBroadcast(a_19, 2u);
        let s19_3 = subgroupBroadcast(a_19, 3u);
        let s19_4 = subgroupBroadcast(a_19, 4u);
        let s19_5 = subgroupBroadcast(a_19, 5u);
        let s19_6 = subgroupBroadcast(a_19, 6u);
        let s19_7 = subgroupBroadcast(a_19, 7u);
        acc_19_0 = fma(vec4<f32>(s19_0), b0_0, acc_19_0);
        acc_19_0 = fma(vec4<f32>(s19_1), b1_0, acc_19_0);
        acc_19_0 = fma(vec4<f32>(s19_2), b2_0, acc_19_0);
        acc_19_0 = fma(vec4<f32>(s19_3), b3_0, acc_19_0);
        acc_19_0 = fma(vec4<f32>(s19_4), b4_0, acc_19_0);
        acc_19_0 = fma(vec4<f32>(s19_5), b5_0, acc_19_0);
        acc_19_0 = fma(vec4<f32>(s19_6), b6_0, acc_19_0);
        acc_19_0 = fma(vec4<f32>(s19_7), b7_0, acc_19_0);
        let s20_0 = subgroupBroadcast(a_20, 0u);
        let s20_1 = subgroupBroadcast(a_20, 1u);
        let s20_2 = subgroupBroadcast(a_20, 2u);
        let s20_3 = subgroupBroadcast(a_20, 3u);
        let s20_4 = subgroupBroadcast(a_20, 4u);
        let s20_5 = subgroupBroadcast(a_20, 5u);
        let s20_6 = subgroupBroadcast(a_20, 6u);
        let s20_7 = subgroupBroadcast(a_20, 7u);
        acc_20_0 = fma(vec4<f32>(s20_0), b0_0, acc_20_0);
        acc_20_0 = fma(vec4<f32>(s20_1), b1_0, acc_20_0);
        acc_20_0 = fma(vec4<f32>(s20_2), b2_0, acc_20_0);
        acc_20_0 = fma(vec4<f32>(s20_3), b3_0, acc_20_0);
        acc_20_0 = fma(vec4<f32>(s20_4), b4_0, acc_20_0);
        acc_20_0 = fma(vec4<f32>(s20_5), b5_0, acc_20_0);
        acc_20_0 = fma(vec4<f32>(s20_6), b6_0, acc_20_0);
        acc_20_0 = fma(vec4<f32>(s20_7), b7_0, acc_20_0);
        let s21_0 = subgroupBroadcast(a_21, 0u);
        let s21_1 = subgroupBroadcast(a_21, 1u);
        let s21_2 = subgroupBroadcast(a_21, 2u);
        let s21_3 = subgroupBroadcast(a_21, 3u);
        let s21_4 = subgroupBroadcast(a_21, 4u);
        let s21_5 = subgroupBroadcast(a_21, 5u);
        let s21_6 = subgroupBroadcast(a_21, 6u);
        let s21_7 = subgroupBroadcast(a_21, 7u);
        acc_21_0 = fma(vec4<f32>(s21_0), b0_0, acc_21_0);
        acc_21_0 = fma(vec4<f32>(s21_1), b1_0, acc_21_0);
        acc_21_0 = fma(vec4<f32>(s21_2), b2_0, acc_21_0);
        acc_21_0 = fma(vec4<f32>(s21_3), b3_0, acc_21_0);
        acc_21_0 = fma(vec4<f32>(s21_4), b4_0, acc_21_0);
        acc_21_0 = fma(vec4<f32>(s21_5), b5_0, acc_21_0);
        acc_21_0 = fma(vec4<f32>(s21_6), b6_0, acc_21_0);
        acc_21_0 = fma(vec4<f32>(s21_7), b7_0, acc_21_0);
        let s22_0 = subgroupBroadcast(a_22, 0u);
        let s22_1 = subgroupBroadcast(a_22, 1u);
        let s22_2 = subgroupBroadcast(a_22, 2u);
        let s22_3 = subgroupBroadcast(a_22, 3u);
        let s22_4 = subgroupBroadcast(a_22, 4u);
        let s22_5 = subgroupBroadcast(a_22, 5u);
        let s22_6 = subgroupBroadcast(a_22, 6u);
        let s22_7 = subgroupBroadcast(a_22, 7u);
        acc_22_0 = fma(vec4<f32>(s22_0), b0_0, acc_22_0);
        acc_22_0 = fma(vec4<f32>(s22_1), b1_0, acc_22_0);
        acc_22_0 = fma(vec4<f32>(s22_2), b2_0, acc_22_0);
        acc_22_0 = fma(vec4<f32>(s22_3), b3_0, acc_22_0);
        acc_22_0 = fma(vec4<f32>(s22_4), b4_0, acc_22_0);
        acc_22_0 = fma(vec4<f32>(s22_5), b5_0, acc_22_0);
        acc_22_0 = fma(vec4<f32>(s22_6), b6_0, acc_22_0);
        acc_22_0 = fma(vec4<f32>(s22_7), b7_0, acc_22_0);
        let s23_0 = subgroupBroadcast(a_23, 0u);
        let s23_1 = subgroupBroadcast(a_23, 1u);
        let s23_2 = subgroupBroadcast(a_23, 2u);
        let s23_3 = subgroupBroadcast(a_23, 3u);
        let s23_4 = subgroupBroadcast(a_23, 4u);
        let s23_5 = subgroupBroadcast(a_23, 5u);
        let s23_6 = subgroupBroadcast(a_23, 6u);
        let s23_7 = subgroupBroadcast(a_23, 7u);
        acc_23_0 = fma(vec4<f32>(s23_0), b0_0, acc_23_0);
        acc_23_0 = fma(vec4<f32>(s23_1), b1_0, acc_23_0);
        acc_23_0 = fma(vec4<f32>(s23_2), b2_0, acc_23_0);
        acc_23_0 = fma(vec4<f32>(s23_3), b3_0, acc_23_0);
        acc_23_0 = fma(vec4<f32>(s23_4), b4_0, acc_23_0);
        acc_23_0 = fma(vec4<f32>(s23_5), b5_0, acc_23_0);
        acc_23_0 = fma(vec4<f32>(s23_6), b6_0, acc_23_0);
        acc_23_0 = fma(vec4<f32>(s23_7), b7_0, acc_23_0);
        let s24_0 = subgroupBroadcast(a_24, 0u);
        let s24_1 = subgroupBroadcast(a_24, 1u);
        let s24_2 = subgroupBroadcast(a_24, 2u);
        let s24_3 = subgroupBroadcast(a_24, 3u);
        let s24_4 = subgroupBroadcast(a_24, 4u);
        let s24_5 = subgroupBroadcast(a_24, 5u);
        let s24_6 = subgroupBroadcast(a_24, 6u);
        let s24_7 = subgroupBroadcast(a_24, 7u);
        acc_24_0 = fma(vec4<f32>(s24_0), b0_0, acc_24_0);
        acc_24_0 = fma(vec4<f32>(s24_1), b1_0, acc_24_0);
        acc_24_0 = fma(vec4<f32>(s24_2), b2_0, acc_24_0);
        acc_24_0 = fma(vec4<f32>(s24_3), b3_0, acc_24_0);
        acc_24_0 = fma(vec4<f32>(s24_4), b4_0, acc_24_0);
        acc_24_0 = fma(vec4<f32>(s24_5), b5_0, acc_24_0);
        acc_24_0 = fma(vec4<f32>(s24_6), b6_0, acc_24_0);
        acc_24_0 = fma(vec4<f32>(s24_7), b7_0, acc_24_0);
        let s25_0 = subgroupBroadcast(a_25, 0u);
        let s25_1 = subgroupBroadcast(a_25, 1u);
        let s25_2 = subgroupBroadcast(a_25, 2u);
        let s25_3 = subgroupBroadcast(a_25, 3u);
        let s25_4 = subgroupBroadcast(a_25, 4u);
        let s25_5 = subgroupBroadcast(a_25, 5u);
        let s25_6 = subgroupBroadcast(a_25, 6u);
        let s25_7 = subgroupBroadcast(a_25, 7u);
        acc_25_0 = fma(vec4<f32>(s25_0), b0_0, acc_25_0);
        acc_25_0 = fma(vec4<f32>(s25_1), b1_0, acc_25_0);
        acc_25_0 = fma(vec4<f32>(s25_2), b2_0, acc_25_0);
        acc_25_0 = fma(vec4<f32>(s25_3), b3_0, acc_25_0);
        acc_25_0 = fma(vec4<f32>(s25_4), b4_0, acc_25_0);
        acc_25_0 = fma(vec4<f32>(s25_5), b5_0, acc_25_0);
        acc_25_0 = fma(vec4<f32>(s25_6), b6_0, acc_25_0);
        acc_25_0 = fma(vec4<f32>(s25_7), b7_0, acc_25_0);
        let s26_0 = subgroupBroadcast(a_26, 0u);
        let s26_1 = subgroupBroadcast(a_26, 1u);
        let s26_2 = subgroupBroadcast(a_26, 2u);
        let s26_3 = subgroupBroadcast(a_26, 3u);
        let s26_4 = subgroupBroadcast(a_26, 4u);
        let s26_5 = subgroupBroadcast(a_26, 5u);
        let s26_6 = subgroupBroadcast(a_26, 6u);
        let s26_7 = subgroupBroadcast(a_26, 7u);
        acc_26_0 = fma(vec4<f32>(s26_0), b0_0, acc_26_0);
        acc_26_0 = fma(vec4<f32>(s26_1), b1_0, acc_26_0);
        acc_26_0 = fma(vec4<f32>(s26_2), b2_0, acc_26_0);
        acc_26_0 = fma(vec4<f32>(s26_3), b3_0, acc_26_0);
        acc_26_0 = fma(vec4<f32>(s26_4), b4_0, acc_26_0);
        acc_26_0 = fma(vec4<f32>(s26_5), b5_0, acc_26_0);
        acc_26_0 = fma(vec4<f32>(s26_6), b6_0, acc_26_0);
        acc_26_0 = fma(vec4<f32>(s26_7), b7_0, acc_26_0);
        let s27_0 = subgroupBroadcast(a_27, 0u);
        let s27_1 = subgroupBroadcast(a_27, 1u);
        let s27_2 = subgroupBroadcast(a_27, 2u);
        let s27_3 = subgroupBroadcast(a_27, 3u);
        let s27_4 = subgroupBroadcast(a_27, 4u);
        let s27_5 = subgroupBroadcast(a_27, 5u);
        let s27_6 = subgroupBroadcast(a_27, 6u);
        let s27_7 = subgroupBroadcast(a_27, 7u);
        acc_27_0 = fma(vec4<f32>(s27_0), b0_0, acc_27_0);
        acc_27_0 = fma(vec4<f32>(s27_1), b1_0, acc_27_0);
        acc_27_0 = fma(vec4<f32>(s27_2), b2_0, acc_27_0);
        acc_27_0 = fma(vec4<f32>(s27_3), b3_0, acc_27_0);
        acc_27_0 = fma(vec4<f32>(s27_4), b4_0, acc_27_0);
        acc_27_0 = fma(vec4<f32>(s27_5), b5_0, acc_27_0);
        acc_27_0 = fma(vec4<f32>(s27_6), b6_0, acc_27_0);
        acc_27_0 = fma(vec4<f32>(s27_7), b7_0, acc_27_0);
        let s28_0 = subgroupBroadcast(a_28, 0u);
        let s28_1 = subgroupBroadcast(a_28, 1u);
        let s28_2 = subgroupBroadcast(a_28, 2u);
        let s28_3 = subgroupBroadcast(a_28, 3u);
        let s28_4 = subgroupBroadcast(a_28, 4u);
        let s28_5 = subgroupBroadcast(a_28, 5u);
        let s28_6 = subgroupBroadcast(a_28, 6u);
        let s28_7 = subgroupBroadcast(a_28, 7u);
        acc_28_0 = fma(vec4<f32>(s28_0), b0_0, acc_28_0);
        acc_28_0 = fma(vec4<f32>(s28_1), b1_0, acc_28_0);
        acc_28_0 = fma(vec4<f32>(s28_2), b2_0, acc_28_0);
        acc_28_0 = fma(vec4<f32>(s28_3), b3_0, acc_28_0);
        acc_28_0 = fma(vec4<f32>(s28_4), b4_0, acc_28_0);
        acc_28_0 = fma(vec4<f32>(s28_5), b5_0, acc_28_0);
        acc_28_0 = fma(vec4<f32>(s28_6), b6_0, acc_28_0);
        acc_28_0 = fma(vec4<f32>(s28_7), b7_0, acc_28_0);
        let s29_0 = subgroupBroadcast(a_29, 0u);
        let s29_1 = subgroupBroadcast(a_29, 1u);
        let s29_2 = subgroupBroadcast(a_29, 2u);
        let s29_3 = subgroupBroadcast(a_29, 3u);
        let s29_4 = subgroupBroadcast(a_29, 4u);
        let s29_5 = subgroupBroadcast(a_29, 5u);
        let s29_6 = subgroupBroadcast(a_29, 6u);
        let s29_7 = subgroupBroadcast(a_29, 7u);
        acc_29_0 = fma(vec4<f32>(s29_0), b0_0, acc_29_0);
        acc_29_0 = fma(vec4<f32>(s29_1), b1_0, acc_29_0);
        acc_29_0 = fma(vec4<f32>(s29_2), b2_0, acc_29_0);
        acc_29_0 = fma(vec4<f32>(s29_3), b3_0, acc_29_0);
        acc_29_0 = fma(vec4<f32>(s29_4), b4_0, acc_29_0);
        acc_29_0 = fma(vec4<f32>(s29_5), b5_0, acc_29_0);
        acc_29_0 = fma(vec4<f32>(s29_6), b6_0, acc_29_0);
        acc_29_0 = fma(vec4<f32>(s29_7), b7_0, acc_29_0);
        let s30_0 = subgroupBroadcast(a_30, 0u);
        let s30_1 = subgroupBroadcast(a_30, 1u);
        let s30_2 = subgroupBroadcast(a_30, 2u);
        let s30_3 = subgroupBroadcast(a_30, 3u);
        let s30_4 = subgroupBroadcast(a_30, 4u);
        let s30_5 = subgroupBroadcast(a_30, 5u);
        let s30_6 = subgroupBroadcast(a_30, 6u);
        let s30_7 = subgroupBroadcast(a_30, 7u);
        acc_30_0 = fma(vec4<f32>(s30_0), b0_0, acc_30_0);
        acc_30_0 = fma(vec4<f32>(s30_1), b1_0, acc_30_0);
        acc_30_0 = fma(vec4<f32>(s30_2), b2_0, acc_30_0);
        acc_30_0 = fma(vec4<f32>(s30_3), b3_0, acc_30_0);
        acc_30_0 = fma(vec4<f32>(s30_4), b4_0, acc_30_0);
        acc_30_0 = fma(vec4<f32>(s30_5), b5_0, acc_30_0);
        acc_30_0 = fma(vec4<f32>(s30_6), b6_0, acc_30_0);
        acc_30_0 = fma(vec4<f32>(s30_7), b7_0, acc_30_0);
        let s31_0 = subgroupBroadcast(a_31, 0u);
        let s31_1 = subgroupBroadcast(a_31, 1u);
        let s31_2 = subgroupBroadcast(a_31, 2u);
        let s31_3 = subgroupBroadcast(a_31, 3u);
        let s31_4 = subgroupBroadcast(a_31, 4u);
        let s31_5 = subgroupBroadcast(a_31, 5u);
        let s31_6 = subgroupBroadcast(a_31, 6u);
        let s31_7 = subgroupBroadcast(a_31, 7u);
        acc_31_0 = fma(vec4<f32>(s31_0), b0_0, acc_31_0);
        acc_31_0 = fma(vec4<f32>(s31_1), b1_0, acc_31_0);
        acc_31_0 = fma(vec4<f32>(s31_2), b2_0, acc_31_0);
        acc_31_0 = fma(vec4<f32>(s31_3), b3_0, acc_31_0);
        acc_31_0 = fma(vec4<f32>(s31_4), b4_0, acc_31_0);
        acc_31_0 = fma(vec4<f32>(s31_5), b5_0, acc_31_0);
        acc_31_0 = fma(vec4<f32>(s31_6), b6_0, acc_31_0);
        acc_31_0 = fma(vec4<f32>(s31_7), b7_0, acc_31_0);
    }
    for (var i = k_whole; i < k_end; i++) {
        let b_last_0 = vec4<f32>(b[(i) * params.b_row_stride + b_col_0_0], b[(i) * params.b_row_stride + b_col_0_1], b[(i) * params.b_row_stride + b_col_0_2], b[(i) * params.b_row_stride + b_col_0_3]);
        acc_0_0 = fma(vec4<f32>(a[a_row_0 + i * params.a_col_stride]), b_last_0, acc_0_0);
        acc_1_0 = fma(vec4<f32>(a[a_row_1 + i * params.a_col_stride]), b_last_0, acc_1_0);
        acc_2_0 = fma(vec4<f32>(a[a_row_2 + i * params.a_col_stride]), b_last_0, acc_2_0);
        acc_3_0 = fma(vec4<f32>(a[a_row_3 + i * params.a_col_stride]), b_last_0, acc_3_0);
        acc_4_0 = fma(vec4<f32>(a[a_row_4 + i * params.a_col_stride]), b_last_0, acc_4_0);
        acc_5_0 = fma(vec4<f32>(a[a_row_5 + i * params.a_col_stride]), b_last_0, acc_5_0);
        acc_6_0 = fma(vec4<f32>(a[a_row_6 + i * params.a_col_stride]), b_last_0, acc_6_0);
        acc_7_0 = fma(vec4<f32>(a[a_row_7 + i * params.a_col_stride]), b_last_0, acc_7_0);
        acc_8_0 = fma(vec4<f32>(a[a_row_8 + i * params.a_col_stride]), b_last_0, acc_8_0);
        acc_9_0 = fma(vec4<f32>(a[a_row_9 + i * params.a_col_stride]), b_last_0, acc_9_0);
        acc_10_0 = fma(vec4<f32>(a[a_row_10 + i * params.a_col_stride]), b_last_0, acc_10_0);
        acc_11_0 = fma(vec4<f32>(a[a_row_11 + i * params.a_col_stride]), b_last_0, acc_11_0);
        acc_12_0 = fma(vec4<f32>(a[a_row_12 + i * params.a_col_stride]), b_last_0, acc_12_0);
        acc_13_0 = fma(vec4<f32>(a[a_row_13 + i * params.a_col_stride]), b_last_0, acc_13_0);
        acc_14_0 = fma(vec4<f32>(a[a_row_14 + i * params.a_col_stride]), b_last_0, acc_14_0);
        acc_15_0 = fma(vec4<f32>(a[a_row_15 + i * params.a_col_stride]), b_last_0, acc_15_0);
        acc_16_0 = fma(vec4<f32>(a[a_row_16 + i * params.a_col_stride]), b_last_0, acc_16_0);
        acc_17_0 = fma(vec4<f32>(a[a_row_17 + i * params.a_col_stride]), b_last_0, acc_17_0);
        acc_18_0 = fma(vec4<f32>(a[a_row_18 + i * params.a_col_stride]), b_last_0, acc_18_0);
        acc_19_0 = fma(vec4<f32>(a[a_row_19 + i * params.a_col_stride]), b_last_0, acc_19_0);
        acc_20_0 = fma(vec4<f32>(a[a_row_20 + i * params.a_col_stride]), b_last_0, acc_20_0);
        acc_21_0 = fma(vec4<f32>(a[a_row_21 + i * params.a_col_stride]), b_last_0, acc_21_0);
        acc_22_0 = fma(vec4<f32>(a[a_row_22 + i * params.a_col_stride]), b_last_0, acc_22_0);
        acc_23_0 = fma(vec4<f32>(a[a_row_23 + i * params.a_col_stride]), b_last_0, acc_23_0);
        acc_24_0 = fma(vec4<f32>(a[a_row_24 + i * params.a_col_stride]), b_last_0, acc_24_0);
        acc_25_0 = fma(vec4<f32>(a[a_row_25 + i * params.a_col_stride]), b_last_0, acc_25_0);
        acc_26_0 = fma(vec4<f32>(a[a_row_26 + i * params.a_col_stride]), b_last_0, acc_26_0);
        acc_27_0 = fma(vec4<f32>(a[a_row_27 + i * params.a_col_stride]), b_last_0, acc_27_0);
        acc_28_0 = fma(vec4<f32>(a[a_row_28 + i * params.a_col_stride]), b_last_0, acc_28_0);
        acc_29_0 = fma(vec4<f32>(a[a_row_29 + i * params.a_col_stride]), b_last_0, acc_29_0);
        acc_30_0 = fma(vec4<f32>(a[a_row_30 + i * params.a_col_stride]), b_last_0, acc_30_0);
        acc_31_0 = fma(vec4<f32>(a[a_row_31 + i * params.a_col_stride]), b_last_0, acc_31_0);
        sum_0 += b_last_0;
    }
    store(split, row0 + 0u, col_0 + 0u, acc_0_0[0]);
    store(split, row0 + 0u, col_0 + 1u, acc_0_0[1]);
    store(split, row0 + 0u, col_0 + 2u, acc_0_0[2]);
    store(split, row0 + 0u, col_0 + 3u, acc_0_0[3]);
    store(split, row0 + 1u, col_0 + 0u, acc_1_0[0]);
    store(split, row0 + 1u, col_0 + 1u, acc_1_0[1]);
    store(split, row0 + 1u, col_0 + 2u, acc_1_0[2]);
    store(split, row0 + 1u, col_0 + 3u, acc_1_0[3]);
    store(split, row0 + 2u, col_0 + 0u, acc_2_0[0]);
    store(split, row0 + 2u, col_0 + 1u, acc_2_0[1]);
    store(split, row0 + 2u, col_0 + 2u, acc_2_0[2]);
    store(split, row0 + 2u, col_0 + 3u, acc_2_0[3]);
    store(split, row0 + 3u, col_0 + 0u, acc_3_0[0]);
    store(split, row0 + 3u, col_0 + 1u, acc_3_0[1]);
    store(split, row0 + 3u, col_0 + 2u, acc_3_0[2]);
    store(split, row0 + 3u, col_0 + 3u, acc_3_0[3]);
    store(split, row0 + 4u, col_0 + 0u, acc_4_0[0]);
    store(split, row0 + 4u, col_0 + 1u, acc_4_0[1]);
    store(split, row0 + 4u, col_0 + 2u, acc_4_0[2]);
    store(split, row0 + 4u, col_0 + 3u, acc_4_0[3]);
    store(split, row0 + 5u, col_0 + 0u, acc_5_0[0]);
    store(split, row0 + 5u, col_0 + 1u, acc_5_0[1]);
    store(split, row0 + 5u, col_0 + 2u, acc_5_0[2]);
    store(split, row0 + 5u, col_0 + 3u, acc_5_0[3]);
    store(split, row0 + 6u, col_0 + 0u, acc_6_0[0]);
    store(split, row0 + 6u, col_0 + 1u, acc_6_0[1]);
    store(split, row0 + 6u, col_0 + 2u, acc_6_0[2]);
    store(split, row0 + 6u, col_0 + 3u, acc_6_0[3]);
    store(split, row0 + 7u, col_0 + 0u, acc_7_0[0]);
    store(split, row0 + 7u, col_0 + 1u, acc_7_0[1]);
    store(split, row0 + 7u, col_0 + 2u, acc_7_0[2]);
    store(split, row0 + 7u, col_0 + 3u, acc_7_0[3]);
    store(split, row0 + 8u, col_0 + 0u, acc_8_0[0]);
    store(split, row0 + 8u, col_0 + 1u, acc_8_0[1]);
    store(split, row0 + 8u, col_0 + 2u, acc_8_0[2]);
    store(split, row0 + 8u, col_0 + 3u, acc_8_0[3]);
    store(split, row0 + 9u, col_0 + 0u, acc_9_0[0]);
    store(split, row0 + 9u, col_0 + 1u, acc_9_0[1]);
    store(split, row0 + 9u, col_0 + 2u, acc_9_0[2]);
    store(split, row0 + 9u, col_0 + 3u, acc_9_0[3]);
    store(split, row0 + 10u, col_0 + 0u, acc_10_0[0]);
    store(split, row0 + 10u, col_0 + 1u, acc_10_0[1]);
    store(split, row0 + 10u, col_0 + 2u, acc_10_0[2]);
    store(split, row0 + 10u, col_0 + 3u, acc_10_0[3]);
    store(split, row0 + 11u, col_0 + 0u, acc_11_0[0]);
    store(split, row0 + 11u, col_0 + 1u, acc_11_0[1]);
    store(split, row0 + 11u, col_0 + 2u, acc_11_0[2]);
    store(split, row0 + 11u, col_0 + 3u, acc_11_0[3]);
    store(split, row0 + 12u, col_0 + 0u, acc_12_0[0]);
    store(split, row0 + 12u, col_0 + 1u, acc_12_0[1]);
    store(split, row0 + 12u, col_0 + 2u, acc_12_0[2]);
    store(split, row0 + 12u, col_0 + 3u, acc_12_0[3]);
    store(split, row0 + 13u, col_0 + 0u, acc_13_0[0]);
    store(split, row0 + 13u, col_0 + 1u, acc_13_0[1]);
    store(split, row0 + 13u, col_0 + 2u, acc_13_0[2]);
    store(split, row0 + 13u, col_0 + 3u, acc_13_0[3]);
    store(split, row0 + 14u, col_0 + 0u, acc_14_0[0]);
    store(split, row0 + 14u, col_0 + 1u, acc_14_0[1]);
    store(split, row0 + 14u, col_0 + 2u, acc_14_0[2]);
    store(split, row0 + 14u, col_0 + 3u, acc_14_0[3]);
    store(split, row0 + 15u, col_0 + 0u, acc_15_0[0]);
    store(split, row0 + 15u, col_0 + 1u, acc_15_0[1]);
    store(split, row0 + 15u, col_0 + 2u, acc_15_0[2]);
    store(split, row0 + 15u, col_0 + 3u, acc_15_0[3]);
    store(split, row0 + 16u, col_0 + 0u, acc_16_0[0]);
    store(split, row0 + 16u, col_0 + 1u, acc_16_0[1]);
    store(split, row0 + 16u, col_0 + 2u, acc_16_0[2]);
    store(split, row0 + 16u, col_0 + 3u, acc_16_0[3]);
    store(split, row0 + 17u, col_0 + 0u, acc_17_0[0]);
    store(split, row0 + 17u, col_0 + 1u, acc_17_0[1]);
    store(split, row0 + 17u, col_0 + 2u, acc_17_0[2]);
    store(split, row0 + 17u, col_0 + 3u, acc_17_0[3]);
    store(split, row0 + 18u, col_0 + 0u, acc_18_0[0]);
    store(split, row0 + 18u, col_0 + 1u, acc_18_0[1]);
    store(split, row0 + 18u, col_0 + 2u, acc_18_0[2]);
    store(split, row0 + 18u, col_0 + 3u, acc_18_0[3]);
    store(split, row0 + 19u, col_0 + 0u, acc_19_0[0]);
    store(split, row0 + 19u, col_0 + 1u, acc_19_0[1]);
    store(split, row0 + 19u, col_0 + 2u, acc_19_0[2]);
    store(split, row0 + 19u, col_0 + 3u, acc_19_0[3]);
    store(split, row0 + 20u, col_0 + 0u, acc_20_0[0]);
    store(split, row0 + 20u, col_0 + 1u, acc_20_0[1]);
    store(split, row0 + 20u, col_0 + 2u, acc_20_0[2]);
    store(split, row0 + 20u, col_0 + 3u, acc_20_0[3]);
    store(split, row0 + 21u, col_0 + 0u, acc_21_0[0]);
    store(split, row0 + 21u, col_0 + 1u, acc_21_0[1]);
    store(split, row0 + 21u, col_0 + 2u, acc_21_0[2]);
    store(split, row0 + 21u, col_0 + 3u, acc_21_0[3]);
    store(split, row0 + 22u, col_0 + 0u, acc_22_0[0]);
    store(split, row0 + 22u, col_0 + 1u, acc_22_0[1]);
    store(split, row0 + 22u, col_0 + 2u, acc_22_0[2]);
    store(split, row0 + 22u, col_0 + 3u, acc_22_0[3]);
    store(split, row0 + 23u, col_0 + 0u, acc_23_0[0]);
    store(split, row0 + 23u, col_0 + 1u, acc_23_0[1]);
    store(split, row0 + 23u, col_0 + 2u, acc_23_0[2]);
    store(split, row0 + 23u, col_0 + 3u, acc_23_0[3]);
    store(split, row0 + 24u, col_0 + 0u, acc_24_0[0]);
    store(split, row0 + 24u, col_0 + 1u, acc_24_0[1]);
    store(split, row0 + 24u, col_0 + 2u, acc_24_0[2]);
    store(split, row0 + 24u, col_0 + 3u, acc_24_0[3]);
    store(split, row0 + 25u, col_0 + 0u, acc_25_0[0]);
    store(split, row0 + 25u, col_0 + 1u, acc_25_0[1]);
    store(split, row0 + 25u, col_0 + 2u, acc_25_0[2]);
    store(split, row0 + 25u, col_0 + 3u, acc_25_0[3]);
    store(split, row0 + 26u, col_0 + 0u, acc_26_0[0]);
    store(split, row0 + 26u, col_0 + 1u, acc_26_0[1]);
    store(split, row0 + 26u, col_0 + 2u, acc_26_0[2]);
    store(split, row0 + 26u, col_0 + 3u, acc_26_0[3]);
    store(split, row0 + 27u, col_0 + 0u, acc_27_0[0]);
    store(split, row0 + 27u, col_0 + 1u, acc_27_0[1]);
    store(split, row0 + 27u, col_0 + 2u, acc_27_0[2]);
    store(split, row0 + 27u, col_0 + 3u, acc_27_0[3]);
    store(split, row0 + 28u, col_0 + 0u, acc_28_0[0]);
    store(split, row0 + 28u, col_0 + 1u, acc_28_0[1]);
    store(split, row0 + 28u, col_0 + 2u, acc_28_0[2]);
    store(split, row0 + 28u, col_0 + 3u, acc_28_0[3]);
    store(split, row0 + 29u, col_0 + 0u, acc_29_0[0]);
    store(split, row0 + 29u, col_0 + 1u, acc_29_0[1]);
    store(split, row0 + 29u, col_0 + 2u, acc_29_0[2]);
    store(split, row0 + 29u, col_0 + 3u, acc_29_0[3]);
    store(split, row0 + 30u, col_0 + 0u, acc_30_0[0]);
    store(split, row0 + 30u, col_0 + 1u, acc_30_0[1]);
    store(split, row0 + 30u, col_0 + 2u, acc_30_0[2]);
    store(split, row0 + 30u, col_0 + 3u, acc_30_0[3]);
    store(split, row0 + 31u, col_0 + 0u, acc_31_0[0]);
    store(split, row0 + 31u, col_0 + 1u, acc_31_0[1]);
    store(split, row0 + 31u, col_0 + 2u, acc_31_0[2]);
    store(split, row0 + 31u, col_0 + 3u, acc_31_0[3]);
    if (row0 == 0u) {
        if (col_0 + 0u < params.n) { grad_bias[split * params.n + col_0 + 0u] = sum_0[0]; }
        if (col_0 + 1u < params.n) { grad_bias[split * params.n + col_0 + 1u] = sum_0[1]; }
        if (col_0 + 2u < params.n) { grad_bias[split * params.n + col_0 + 2u] = sum_0[2]; }
        if (col_0 + 3u < params.n) { grad_bias[split * params.n + col_0 + 3u] = sum_0[3]; }
    }
}

// The texel reads' operands (besides interface.wgsl's bindings): a and b copied into textures.
@group(0) @binding(11) var a_texels: texture_2d<f32>;
@group(0) @binding(12) var b_texels: texture_2d<f32>;

// ops/gemm/interface.wgsl: the Params and bindings of both GEMM kernels (tiled.wgsl and
// subgroup.wgsl include it at their end), so record_gemm binds either kernel with the same names
// and the same Params. Declarations only: no entry points.
//
// Bindings (group 0), by variable name, f32 throughout except c and grad_bias, of c's own
// element type f32 (an f32 dW beside f16 operands; split K's chunk sums), and partials
// and partial_sums, f32:
//   0 a                   read        a(m, i) = a[m * a_row_stride + i * a_col_stride], [M, K]
//   1 b                   read        b(i, n) = b[i * b_row_stride + n * b_col_stride], [K, N]
//   2 bias                read        [N]     the forward epilogue's bias
//   3 activation_outputs  read        [M, N]  o of the activation whose derivative the dX
//                                             epilogue multiplies by
//   4 c                   read_write  [M, N]  row-major
//   5 grad_bias           read_write  [N]     column sums Σ_i b(i, n) (the bias gradient)
//   6 params              uniform     Params
//   7 a4, 8 b4            read        vec4<f32>: a and b again, for vector loads
//   9 partials            read        [splits, M, N]  split-K: each K chunk's a · b
//   10 partial_sums       read        [splits, N]     and its column sums of b
//   13 pre_activations    read_write  [M, N]  the forward epilogue's activation input x (only
//                                             for activations whose derivative reads x)
//   14 activation_inputs  read        [M, N]  that x again, for the dX epilogue
// Params: m, n, k, the four strides above, the split of K (splits chunks of k_chunk), and alpha,
// the fused activation's hyperparameter (0 when unused).
// With a gather (a convolution's implicit GEMM, see im2col.wgsl): the convolution's geometry,
// conv_in_height ... conv_pad_left.
// Workgroup, grid and NumPy expression: the including kernel's.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    k_chunk: u32,
    splits: u32,
    alpha: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> activation_outputs: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_bias: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(7) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> partials: array<f32>;
@group(0) @binding(10) var<storage, read> partial_sums: array<f32>;
@group(0) @binding(13) var<storage, read_write> pre_activations: array<f32>;
@group(0) @binding(14) var<storage, read> activation_inputs: array<f32>;

// ops/gemm/epilogue.wgsl: epilogue(row, col, value), what both GEMM kernels apply to a finished
// sum before c stores it, with the activation formulas of layers/activations.wgsl (included at
// the end). Functions only: the bindings are interface.wgsl's.
//
// Template values:
//   activation   the forward's activation function ("identity" for none)
//   bias         the forward adds bias[col] first
//   derivative   "" in the forward; in the dX GEMM of the layer above an activation, that
//                activation's function: the epilogue multiplies by its derivative (the
//                activation's backward, fused)
//   inputs_kept  the activation's derivative reads x: the forward stores x in pre_activations,
//                the dX GEMM reads it from activation_inputs; otherwise it gets x = o
// Workgroup and grid: the including kernel's.
//   output       c's element type, which the epilogue returns: the element type (forward y,
//                dX) or the accumulator type (an f32 dW beside f16 data; split K's chunk sums)
// The activation computes in f32 (f32 beside f16 data), rounded once, to c's type.
// NumPy: forward c = f(value + bias); dX c = value * f'(x, o).

fn epilogue(row: u32, col: u32, value: f32) -> f32 {

    let o = f32(activation_outputs[row * params.n + col]);

    let x = o;

    return f32(value * hyperbolic_tangent_derivative(x, o, params.alpha));

}

// layers/activations.wgsl: every element-wise activation's formula, written once: forward beside
// derivative. A library of functions, no entry points: layers/activation.wgsl (the element-wise
// kernels) and ops/gemm/epilogue.wgsl (fused into both GEMM kernels) include it.
//
// Bindings: none. Params: none. Workgroup and grid: those of the including kernel.
// Contract, T = f32 (the kernel's accumulate type: f32 for float32 and
// mixed_float16, whose f16 values are converted to f32 before and rounded after; f64 for float64):
//   fn NAME(x: T, alpha: T) -> T                   o = f(x)
//   fn NAME_derivative(x: T, o: T, alpha: T) -> T  f'(x), from x (the input) and/or o (the output)
// alpha is the activation's one hyperparameter (0 when it has none). An activation whose class
// says derivative_uses_inputs = False is called with x = o (its derivative reads only o), so
// its kernels keep no inputs; the others get the real x (stored by the fused forward GEMM).
// Adding an activation: its two functions here, its class in intricate/layers/activations.py.
// float64: e^x, e^x - 1 and ln(1 + x) come from gpu/float64.wgsl (through gpu/math.wgsl,
// included at the end), as the builtins are undefined on f64; every formula is built on them.
// NumPy: each function's comment.

// identity: o = x (a GEMM with no activation).
fn identity(x: f32, alpha: f32) -> f32 {
    return x;
}

fn identity_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return 1.0;
}

// ReLU: o = np.maximum(x, 0); f' = (o > 0) (0 at x = 0, like PyTorch).
fn relu(x: f32, alpha: f32) -> f32 {
    return max(x, 0.0);
}

fn relu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return select(f32(0.0), 1.0, o > 0.0);
}

// TanH: o = np.tanh(x), to about one ulp over the whole range, never NaN; f' = 1 - o².
// Below |x| = 0.55 (o < 0.5) as -e / (2 + e) with e = np.expm1(-2|x|), which keeps the relative
// accuracy of tiny x ((1 - exp(-2|x|)) / (1 + ...) cancelled: relative error 2.7e-4 at 1e-4,
// 2.0 at 1e-8); above, as 1 - 2t / (1 + t) with t = exp(-2|x|), where the subtraction is exact
// and o stays within an ulp of 1 (f' = 1 - o² reads o there, as PyTorch's does).
fn hyperbolic_tangent(x: f32, alpha: f32) -> f32 {
    let e = exp_minus_one(-2.0 * abs(x));
    let t = exp_non_positive(-2.0 * abs(x));
    return sign(x) * select(1.0 - 2.0 * t / (1.0 + t), -e / (2.0 + e), abs(x) < 0.55);
}

fn hyperbolic_tangent_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return 1.0 - o * o;
}

// Sigmoid: o = 1 / (1 + np.exp(-x)), evaluated on the side where exp can't overflow;
// f' = o (1 - o).
fn sigmoid(x: f32, alpha: f32) -> f32 {
    let e = exp_non_positive(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn sigmoid_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return o * (1.0 - o);
}

// LeakyReLU (alpha >= 0): o = np.where(x > 0, x, alpha x); f' = 1 where o > 0, else alpha
// (o > 0 exactly where x > 0 when alpha >= 0).
fn leaky_relu(x: f32, alpha: f32) -> f32 {
    return select(alpha * x, x, x > 0.0);
}

fn leaky_relu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return select(alpha, 1.0, o > 0.0);
}

// ELU: o = np.where(x > 0, x, alpha np.expm1(x)); f' = 1 where x > 0, else alpha exp(x)
// (from x, as PyTorch: from o, o + alpha loses the relative accuracy of a tiny alpha exp(x)).
fn elu(x: f32, alpha: f32) -> f32 {
    return select(alpha * exp_minus_one(min(x, 0.0)), x, x > 0.0);
}
fn elu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return select(alpha * exp_non_positive(min(x, 0.0)), 1.0, x > 0.0);
}
// GELU, tanh form (PyTorch's approximate="tanh"): u = sqrt(2/pi) (x + 0.044715 x³),
// o = x (1 + tanh(u)) / 2 = x · sigmoid(2u) (the same function; the sigmoid form keeps its
// relative accuracy where tanh(u) is near -1); f' = s + 2 x s (1 - s) u' with s = sigmoid(2u),
// u' = sqrt(2/pi) (1 + 3 · 0.044715 x²), and 1 - s = sigmoid(-2u).
// Where 2u is very negative, o ≈ x e^(2u) inherits 2u's absolute error as a relative one: 2u
// rounded to float32 (constants included) cost 45 ulps at x = -7, so gelu_argument gives 2u
// to ~2^-40 as three float32s. Past |x| = 30, s is exactly 0 or 1 even in f64, so clamping x
// there changes nothing but keeps x³ finite (|x| > 1e13 gave 0 · inf = NaN).
fn gelu(x: f32, alpha: f32) -> f32 {
    return x * sigmoid_of_sum(gelu_argument(clamp(x, -30.0, 30.0)));
}

fn gelu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    let z = clamp(x, -30.0, 30.0);
    let two_u = gelu_argument(z);
    let du = 0.7978845608028654 * (1.0 + 0.134145 * z * z);
    let s = sigmoid_of_sum(two_u);
    return s + 2.0 * z * s * sigmoid_of_sum(-two_u) * du;
}

// 2u = C1 x + C3 x³ (C1 = 2 sqrt(2/pi), C3 = C1 · 0.044715) as three float32s whose exact sum
// is within ~2^-40 of it: (C1 x, C3 x³) rounded, and the sum of their rounding errors (each
// constant split in two float32s, each product's error recovered exactly by product_error).
// The two big terms are never added: llvmpipe's compiler may reassociate, which turns an
// error-free sum into 0; they are exponentiated apart instead (sigmoid_of_sum).
fn gelu_argument(x: f32) -> vec3<f32> {

    let x2 = x * x;
    let x3 = x2 * x;
    let x3_low = product_error(x2, x, x3) + product_error(x, x, x2) * x;
    let linear = 1.5957691669464111 * x;
    let linear_low = product_error(1.5957691669464111, x, linear) - 4.534068054340423e-08 * x;
    let cubic = 0.07135481387376785 * x3;
    let cubic_low = product_error(0.07135481387376785, x3, cubic)
        + 0.07135481387376785 * x3_low + 2.3988324659995897e-09 * x3;
    return vec3<f32>(linear, cubic, linear_low + cubic_low);

}

// left · right - product exactly, for product = left · right rounded (Dekker): each factor is
// split into 12-bit halves by masking its float32 bits, so that no reassociation can undo the
// split; every partial product is exact. (Names here avoid a and b: the GEMM binds variables so
// named, and the loader finds a kernel's bindings by the identifiers its functions use.)
fn product_error(left: f32, right: f32, product: f32) -> f32 {
    let left_high = bitcast<f32>(bitcast<u32>(f32(left)) & 0xfffff000u);
    let left_low = f32(left) - left_high;
    let right_high = bitcast<f32>(bitcast<u32>(f32(right)) & 0xfffff000u);
    let right_low = f32(right) - right_high;
    return f32(((left_high * right_high - f32(product)) + left_high * right_low
        + left_low * right_high) + left_low * right_low);
}

// sigmoid(z.x + z.y + z.z) for gelu_argument's terms (z.x and z.y of one sign, z.z tiny):
// e^-|z.x + z.y + z.z| = e^-|z.x| e^-|z.y| (1 -+ z.z), then sigmoid from e as sigmoid does.
fn sigmoid_of_sum(z: vec3<f32>) -> f32 {
    let e = exp_non_positive(-abs(z.x)) * exp_non_positive(-abs(z.y))
        * (1.0 - sign(z.x) * z.z);
    return select(e / (1.0 + e), 1.0 / (1.0 + e), z.x >= 0.0);
}

// SiLU (Swish): o = x · sigmoid(x); f' = s (1 + x (1 - s)) with s = sigmoid(x),
// 1 - s = sigmoid(-x).
fn silu(x: f32, alpha: f32) -> f32 {
    return x * sigmoid(x, 0.0);
}

fn silu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    // 1 - s as sigmoid(-x): from s it cancels where s is near 1 (6 ulps of f' at x = 12)
    return sigmoid(x, 0.0) * (1.0 + x * sigmoid(-x, 0.0));
}

// Softplus: o = np.log1p(np.exp(x)), as max(x, 0) + log1p(exp(-|x|)) so exp never
// overflows and o keeps its relative accuracy where it is tiny (x < -17); f' = sigmoid(x).
fn softplus(x: f32, alpha: f32) -> f32 {
    return max(x, 0.0) + log_one_plus(exp_non_positive(-abs(x)));
}

fn softplus_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return sigmoid(x, 0.0);
}

// e^x and np.expm1(x) for x <= 0 (all that the activations need), to about one ulp. WGSL's exp
// need only be within 3 + 2|x| ulps (lavapipe: 20 ulps at x = -50, which Sigmoid, SiLU, Softplus
// and ELU' inherited), and exp(x) - 1 cancels near 0. So: x = k ln 2 + r with |r| <= ln 2 / 2
// (ln 2 split Cody-Waite style, so k · LN2_HIGH is exact), e^r - 1 by its Taylor series to r^8
// (the next term is < 2e-9 of it), then scaled by 2^k exactly; expm1 = 2^k (e^r - 1) + (2^k - 1),
// where 2^k - 1 is exact. Below x = -104, e^x is 0 in float32. The low part enters as a factor
// e^-c with c = k LOW, never as (x - k HIGH) - k LOW, which NVIDIA's driver regroups into
// x - k (HIGH + LOW) (see gpu/float64.wgsl's exp_minus_one_split_f64).
const LN2_HIGH = 0.693145751953125;  // ln 2's leading 16 bits
const LN2_LOW = 1.4286068203094173e-06;  // ln 2 - LN2_HIGH

fn exp_minus_one_reduced(r: f32) -> f32 {
    return r + r * r * (0.5 + r * (0.16666666666666666 + r * (0.041666666666666664
        + r * (0.008333333333333333 + r * (0.001388888888888889 + r * (0.0001984126984126984
        + r * 2.48015873015873e-05))))));
}

fn reduced_exponent(x: f32) -> f32 {
    return round(max(x, -104.0) * 1.4426950408889634);  // k = round(x / ln 2)
}

// e^(x - k ln 2) - 1 as e^(x - k HIGH) · e^-c - 1, e^-c - 1 = c (c / 2 - 1) (|c| < 2.2e-4).
fn exp_minus_one_split(x: f32, k: f32) -> f32 {
    let p = exp_minus_one_reduced(max(x, -104.0) - k * LN2_HIGH);
    let c = k * LN2_LOW;
    return p + (1.0 + p) * (c * (0.5 * c - 1.0));
}

fn exp_non_positive(x: f32) -> f32 {

    let k = reduced_exponent(x);
    return ldexp(1.0 + exp_minus_one_split(x, k), i32(k));

}

fn exp_minus_one(x: f32) -> f32 {

    let k = reduced_exponent(x);
    let scale = ldexp(f32(1.0), i32(k));
    return scale * exp_minus_one_split(x, k) + (scale - 1.0);

}

// np.log1p(e) for 0 <= e <= 1 (Softplus' range) to about one ulp: 2 atanh(s) with
// s = e / (2 + e) <= 1/3, by its series to s^17 (the next term is < 2e-9 of it). Never forms
// 1 + e, whose rounding alone cost up to 9 ulps of log1p near e = 0.1 (and log(1 + e) all of
// them below e = 1e-8: Softplus(-60) returned 0).
fn log_one_plus(e: f32) -> f32 {

    let s = e / (2.0 + e);
    let q = s * s;
    return 2.0 * s * (1.0 + q * (0.3333333333333333 + q * (0.2 + q * (0.14285714285714285
        + q * (0.1111111111111111 + q * (0.09090909090909091 + q * (0.07692307692307693
        + q * (0.06666666666666667 + q * 0.058823529411764705))))))));

}

// gpu/math.wgsl: exponential(x) and logarithm(x) in the kernel's accumulate type
// (f32): the builtins exp and log for f32, gpu/float64.wgsl's for f64 (the
// builtins are undefined on f64, see there). Kernels call these, never exp or log, so one
// template serves every dtype. Functions only: bindings, params, workgroup and grid are the
// including kernel's. NumPy: np.exp, np.log.


fn exponential(x: f32) -> f32 {
    return exp(x);
}

fn logarithm(x: f32) -> f32 {
    return log(x);
}




