// ops/gemm/subgroup.wgsl: the Dense layer's GEMM for software adapters (llvmpipe/lavapipe), the same
// c = epilogue(a · b) with strided operands as tiled.wgsl, shaped for a CPU's SIMD lanes.
//
// Why a second kernel: llvmpipe runs a subgroup's invocations as the lanes of one SIMD vector,
// and (Mesa 22.3) loads every lane's element of a storage or workgroup buffer one at a time in a
// loop, so loads, not FMAs, set a GEMM's speed there; tiled.wgsl's workgroup-memory tiles cost two
// such loads per FMA. Here a workgroup is one subgroup of W = 8 lanes, owning R = 8
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
const R: u32 = 8u;
const BLOCK: u32 = 32u;  // k's per step of the main loop: W, or 4 · W from texels
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
    let col_0 = col0 + 4u * (lane + 0u);
    let b_quad_0 = min(col_0, params.n - 4u) / 4u;
    var acc_0_0 = vec4<f32>(0.0);
    var acc_1_0 = vec4<f32>(0.0);
    var acc_2_0 = vec4<f32>(0.0);
    var acc_3_0 = vec4<f32>(0.0);
    var acc_4_0 = vec4<f32>(0.0);
    var acc_5_0 = vec4<f32>(0.0);
    var acc_6_0 = vec4<f32>(0.0);
    var acc_7_0 = vec4<f32>(0.0);
    let last_k = k_end - 1u;
    let k_whole = k_begin + (k_end - k_begin + BLOCK - 1u) / BLOCK * BLOCK;
    for (var k0 = k_begin; k0 < k_whole; k0 += BLOCK) {
        let a_valid = k0 + 4u * lane + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(k_end);
        let a_0 = select(vec4<f32>(0.0), textureLoad(a_texels, texel(a_row_0 / 4u + k0 / 4u + lane), 0), a_valid);
        let a_1 = select(vec4<f32>(0.0), textureLoad(a_texels, texel(a_row_1 / 4u + k0 / 4u + lane), 0), a_valid);
        let a_2 = select(vec4<f32>(0.0), textureLoad(a_texels, texel(a_row_2 / 4u + k0 / 4u + lane), 0), a_valid);
        let a_3 = select(vec4<f32>(0.0), textureLoad(a_texels, texel(a_row_3 / 4u + k0 / 4u + lane), 0), a_valid);
        let a_4 = select(vec4<f32>(0.0), textureLoad(a_texels, texel(a_row_4 / 4u + k0 / 4u + lane), 0), a_valid);
        let a_5 = select(vec4<f32>(0.0), textureLoad(a_texels, texel(a_row_5 / 4u + k0 / 4u + lane), 0), a_valid);
        let a_6 = select(vec4<f32>(0.0), textureLoad(a_texels, texel(a_row_6 / 4u + k0 / 4u + lane), 0), a_valid);
        let a_7 = select(vec4<f32>(0.0), textureLoad(a_texels, texel(a_row_7 / 4u + k0 / 4u + lane), 0), a_valid);
        let b0_0_0 = textureLoad(b_texels, texel(min(k0 + 0u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b0_1_0 = textureLoad(b_texels, texel(min(k0 + 1u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b0_2_0 = textureLoad(b_texels, texel(min(k0 + 2u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b0_3_0 = textureLoad(b_texels, texel(min(k0 + 3u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b1_0_0 = textureLoad(b_texels, texel(min(k0 + 4u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b1_1_0 = textureLoad(b_texels, texel(min(k0 + 5u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b1_2_0 = textureLoad(b_texels, texel(min(k0 + 6u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b1_3_0 = textureLoad(b_texels, texel(min(k0 + 7u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b2_0_0 = textureLoad(b_texels, texel(min(k0 + 8u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b2_1_0 = textureLoad(b_texels, texel(min(k0 + 9u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b2_2_0 = textureLoad(b_texels, texel(min(k0 + 10u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b2_3_0 = textureLoad(b_texels, texel(min(k0 + 11u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b3_0_0 = textureLoad(b_texels, texel(min(k0 + 12u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b3_1_0 = textureLoad(b_texels, texel(min(k0 + 13u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b3_2_0 = textureLoad(b_texels, texel(min(k0 + 14u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b3_3_0 = textureLoad(b_texels, texel(min(k0 + 15u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b4_0_0 = textureLoad(b_texels, texel(min(k0 + 16u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b4_1_0 = textureLoad(b_texels, texel(min(k0 + 17u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b4_2_0 = textureLoad(b_texels, texel(min(k0 + 18u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b4_3_0 = textureLoad(b_texels, texel(min(k0 + 19u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b5_0_0 = textureLoad(b_texels, texel(min(k0 + 20u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b5_1_0 = textureLoad(b_texels, texel(min(k0 + 21u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b5_2_0 = textureLoad(b_texels, texel(min(k0 + 22u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b5_3_0 = textureLoad(b_texels, texel(min(k0 + 23u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b6_0_0 = textureLoad(b_texels, texel(min(k0 + 24u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b6_1_0 = textureLoad(b_texels, texel(min(k0 + 25u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b6_2_0 = textureLoad(b_texels, texel(min(k0 + 26u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b6_3_0 = textureLoad(b_texels, texel(min(k0 + 27u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b7_0_0 = textureLoad(b_texels, texel(min(k0 + 28u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b7_1_0 = textureLoad(b_texels, texel(min(k0 + 29u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b7_2_0 = textureLoad(b_texels, texel(min(k0 + 30u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let b7_3_0 = textureLoad(b_texels, texel(min(k0 + 31u, last_k) * (params.b_row_stride / 4u) + b_quad_0), 0);
        let s0_0_0 = subgroupBroadcast(a_0[0], 0u);
        let s0_0_1 = subgroupBroadcast(a_0[1], 0u);
        let s0_0_2 = subgroupBroadcast(a_0[2], 0u);
        let s0_0_3 = subgroupBroadcast(a_0[3], 0u);
        let s0_1_0 = subgroupBroadcast(a_0[0], 1u);
        let s0_1_1 = subgroupBroadcast(a_0[1], 1u);
        let s0_1_2 = subgroupBroadcast(a_0[2], 1u);
        let s0_1_3 = subgroupBroadcast(a_0[3], 1u);
        let s0_2_0 = subgroupBroadcast(a_0[0], 2u);
        let s0_2_1 = subgroupBroadcast(a_0[1], 2u);
        let s0_2_2 = subgroupBroadcast(a_0[2], 2u);
        let s0_2_3 = subgroupBroadcast(a_0[3], 2u);
        let s0_3_0 = subgroupBroadcast(a_0[0], 3u);
        let s0_3_1 = subgroupBroadcast(a_0[1], 3u);
        let s0_3_2 = subgroupBroadcast(a_0[2], 3u);
        let s0_3_3 = subgroupBroadcast(a_0[3], 3u);
        let s0_4_0 = subgroupBroadcast(a_0[0], 4u);
        let s0_4_1 = subgroupBroadcast(a_0[1], 4u);
        let s0_4_2 = subgroupBroadcast(a_0[2], 4u);
        let s0_4_3 = subgroupBroadcast(a_0[3], 4u);
        let s0_5_0 = subgroupBroadcast(a_0[0], 5u);
        let s0_5_1 = subgroupBroadcast(a_0[1], 5u);
        let s0_5_2 = subgroupBroadcast(a_0[2], 5u);
        let s0_5_3 = subgroupBroadcast(a_0[3], 5u);
        let s0_6_0 = subgroupBroadcast(a_0[0], 6u);
        let s0_6_1 = subgroupBroadcast(a_0[1], 6u);
        let s0_6_2 = subgroupBroadcast(a_0[2], 6u);
        let s0_6_3 = subgroupBroadcast(a_0[3], 6u);
        let s0_7_0 = subgroupBroadcast(a_0[0], 7u);
        let s0_7_1 = subgroupBroadcast(a_0[1], 7u);
        let s0_7_2 = subgroupBroadcast(a_0[2], 7u);
        let s0_7_3 = subgroupBroadcast(a_0[3], 7u);
        acc_0_0 = fma(vec4<f32>(s0_0_0), b0_0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_0_1), b0_1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_0_2), b0_2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_0_3), b0_3_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_1_0), b1_0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_1_1), b1_1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_1_2), b1_2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_1_3), b1_3_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_2_0), b2_0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_2_1), b2_1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_2_2), b2_2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_2_3), b2_3_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_3_0), b3_0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_3_1), b3_1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_3_2), b3_2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_3_3), b3_3_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_4_0), b4_0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_4_1), b4_1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_4_2), b4_2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_4_3), b4_3_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_5_0), b5_0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_5_1), b5_1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_5_2), b5_2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_5_3), b5_3_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_6_0), b6_0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_6_1), b6_1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_6_2), b6_2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_6_3), b6_3_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_7_0), b7_0_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_7_1), b7_1_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_7_2), b7_2_0, acc_0_0);
        acc_0_0 = fma(vec4<f32>(s0_7_3), b7_3_0, acc_0_0);
        let s1_0_0 = subgroupBroadcast(a_1[0], 0u);
        let s1_0_1 = subgroupBroadcast(a_1[1], 0u);
        let s1_0_2 = subgroupBroadcast(a_1[2], 0u);
        let s1_0_3 = subgroupBroadcast(a_1[3], 0u);
        let s1_1_0 = subgroupBroadcast(a_1[0], 1u);
        let s1_1_1 = subgroupBroadcast(a_1[1], 1u);
        let s1_1_2 = subgroupBroadcast(a_1[2], 1u);
        let s1_1_3 = subgroupBroadcast(a_1[3], 1u);
        let s1_2_0 = subgroupBroadcast(a_1[0], 2u);
        let s1_2_1 = subgroupBroadcast(a_1[1], 2u);
        let s1_2_2 = subgroupBroadcast(a_1[2], 2u);
        let s1_2_3 = subgroupBroadcast(a_1[3], 2u);
        let s1_3_0 = subgroupBroadcast(a_1[0], 3u);
        let s1_3_1 = subgroupBroadcast(a_1[1], 3u);
        let s1_3_2 = subgroupBroadcast(a_1[2], 3u);
        let s1_3_3 = subgroupBroadcast(a_1[3], 3u);
        let s1_4_0 = subgroupBroadcast(a_1[0], 4u);
        let s1_4_1 = subgroupBroadcast(a_1[1], 4u);
        let s1_4_2 = subgroupBroadcast(a_1[2], 4u);
        let s1_4_3 = subgroupBroadcast(a_1[3], 4u);
        let s1_5_0 = subgroupBroadcast(a_1[0], 5u);
        let s1_5_1 = subgroupBroadcast(a_1[1], 5u);
        let s1_5_2 = subgroupBroadcast(a_1[2], 5u);
        let s1_5_3 = subgroupBroadcast(a_1[3], 5u);
        let s1_6_0 = subgroupBroadcast(a_1[0], 6u);
        let s1_6_1 = subgroupBroadcast(a_1[1], 6u);
        let s1_6_2 = subgroupBroadcast(a_1[2], 6u);
        let s1_6_3 = subgroupBroadcast(a_1[3], 6u);
        let s1_7_0 = subgroupBroadcast(a_1[0], 7u);
        let s1_7_1 = subgroupBroadcast(a_1[1], 7u);
        let s1_7_2 = subgroupBroadcast(a_1[2], 7u);
        let s1_7_3 = subgroupBroadcast(a_1[3], 7u);
        acc_1_0 = fma(vec4<f32>(s1_0_0), b0_0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_0_1), b0_1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_0_2), b0_2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_0_3), b0_3_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_1_0), b1_0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_1_1), b1_1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_1_2), b1_2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_1_3), b1_3_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_2_0), b2_0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_2_1), b2_1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_2_2), b2_2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_2_3), b2_3_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_3_0), b3_0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_3_1), b3_1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_3_2), b3_2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_3_3), b3_3_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_4_0), b4_0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_4_1), b4_1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_4_2), b4_2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_4_3), b4_3_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_5_0), b5_0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_5_1), b5_1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_5_2), b5_2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_5_3), b5_3_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_6_0), b6_0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_6_1), b6_1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_6_2), b6_2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_6_3), b6_3_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_7_0), b7_0_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_7_1), b7_1_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_7_2), b7_2_0, acc_1_0);
        acc_1_0 = fma(vec4<f32>(s1_7_3), b7_3_0, acc_1_0);
        let s2_0_0 = subgroupBroadcast(a_2[0], 0u);
        let s2_0_1 = subgroupBroadcast(a_2[1], 0u);
        let s2_0_2 = subgroupBroadcast(a_2[2], 0u);
        let s2_0_3 = subgroupBroadcast(a_2[3], 0u);
        let s2_1_0 = subgroupBroadcast(a_2[0], 1u);
        let s2_1_1 = subgroupBroadcast(a_2[1], 1u);
        let s2_1_2 = subgroupBroadcast(a_2[2], 1u);
        let s2_1_3 = subgroupBroadcast(a_2[3], 1u);
        let s2_2_0 = subgroupBroadcast(a_2[0], 2u);
        let s2_2_1 = subgroupBroadcast(a_2[1], 2u);
        let s2_2_2 = subgroupBroadcast(a_2[2], 2u);
        let s2_2_3 = subgroupBroadcast(a_2[3], 2u);
        let s2_3_0 = subgroupBroadcast(a_2[0], 3u);
        let s2_3_1 = subgroupBroadcast(a_2[1], 3u);
        let s2_3_2 = subgroupBroadcast(a_2[2], 3u);
        let s2_3_3 = subgroupBroadcast(a_2[3], 3u);
        let s2_4_0 = subgroupBroadcast(a_2[0], 4u);
        let s2_4_1 = subgroupBroadcast(a_2[1], 4u);
        let s2_4_2 = subgroupBroadcast(a_2[2], 4u);
        let s2_4_3 = subgroupBroadcast(a_2[3], 4u);
        let s2_5_0 = subgroupBroadcast(a_2[0], 5u);
        let s2_5_1 = subgroupBroadcast(a_2[1], 5u);
        let s2_5_2 = subgroupBroadcast(a_2[2], 5u);
        let s2_5_3 = subgroupBroadcast(a_2[3], 5u);
        let s2_6_0 = subgroupBroadcast(a_2[0], 6u);
        let s2_6_1 = subgroupBroadcast(a_2[1], 6u);
        let s2_6_2 = subgroupBroadcast(a_2[2], 6u);
        let s2_6_3 = subgroupBroadcast(a_2[3], 6u);
        let s2_7_0 = subgroupBroadcast(a_2[0], 7u);
        let s2_7_1 = subgroupBroadcast(a_2[1], 7u);
        let s2_7_2 = subgroupBroadcast(a_2[2], 7u);
        let s2_7_3 = subgroupBroadcast(a_2[3], 7u);
        acc_2_0 = fma(vec4<f32>(s2_0_0), b0_0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_0_1), b0_1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_0_2), b0_2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_0_3), b0_3_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_1_0), b1_0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_1_1), b1_1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_1_2), b1_2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_1_3), b1_3_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_2_0), b2_0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_2_1), b2_1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_2_2), b2_2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_2_3), b2_3_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_3_0), b3_0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_3_1), b3_1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_3_2), b3_2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_3_3), b3_3_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_4_0), b4_0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_4_1), b4_1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_4_2), b4_2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_4_3), b4_3_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_5_0), b5_0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_5_1), b5_1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_5_2), b5_2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_5_3), b5_3_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_6_0), b6_0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_6_1), b6_1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_6_2), b6_2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_6_3), b6_3_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_7_0), b7_0_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_7_1), b7_1_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_7_2), b7_2_0, acc_2_0);
        acc_2_0 = fma(vec4<f32>(s2_7_3), b7_3_0, acc_2_0);
        let s3_0_0 = subgroupBroadcast(a_3[0], 0u);
        let s3_0_1 = subgroupBroadcast(a_3[1], 0u);
        let s3_0_2 = subgroupBroadcast(a_3[2], 0u);
        let s3_0_3 = subgroupBroadcast(a_3[3], 0u);
        let s3_1_0 = subgroupBroadcast(a_3[0], 1u);
        let s3_1_1 = subgroupBroadcast(a_3[1], 1u);
        let s3_1_2 = subgroupBroadcast(a_3[2], 1u);
        let s3_1_3 = subgroupBroadcast(a_3[3], 1u);
        let s3_2_0 = subgroupBroadcast(a_3[0], 2u);
        let s3_2_1 = subgroupBroadcast(a_3[1], 2u);
        let s3_2_2 = subgroupBroadcast(a_3[2], 2u);
        let s3_2_3 = subgroupBroadcast(a_3[3], 2u);
        let s3_3_0 = subgroupBroadcast(a_3[0], 3u);
        let s3_3_1 = subgroupBroadcast(a_3[1], 3u);
        let s3_3_2 = subgroupBroadcast(a_3[2], 3u);
        let s3_3_3 = subgroupBroadcast(a_3[3], 3u);
        let s3_4_0 = subgroupBroadcast(a_3[0], 4u);
        let s3_4_1 = subgroupBroadcast(a_3[1], 4u);
        let s3_4_2 = subgroupBroadcast(a_3[2], 4u);
        let s3_4_3 = subgroupBroadcast(a_3[3], 4u);
        let s3_5_0 = subgroupBroadcast(a_3[0], 5u);
        let s3_5_1 = subgroupBroadcast(a_3[1], 5u);
        let s3_5_2 = subgroupBroadcast(a_3[2], 5u);
        let s3_5_3 = subgroupBroadcast(a_3[3], 5u);
        let s3_6_0 = subgroupBroadcast(a_3[0], 6u);
        let s3_6_1 = subgroupBroadcast(a_3[1], 6u);
        let s3_6_2 = subgroupBroadcast(a_3[2], 6u);
        let s3_6_3 = subgroupBroadcast(a_3[3], 6u);
        let s3_7_0 = subgroupBroadcast(a_3[0], 7u);
        let s3_7_1 = subgroupBroadcast(a_3[1], 7u);
        let s3_7_2 = subgroupBroadcast(a_3[2], 7u);
        let s3_7_3 = subgroupBroadcast(a_3[3], 7u);
        acc_3_0 = fma(vec4<f32>(s3_0_0), b0_0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_0_1), b0_1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_0_2), b0_2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_0_3), b0_3_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_1_0), b1_0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_1_1), b1_1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_1_2), b1_2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_1_3), b1_3_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_2_0), b2_0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_2_1), b2_1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_2_2), b2_2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_2_3), b2_3_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_3_0), b3_0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_3_1), b3_1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_3_2), b3_2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_3_3), b3_3_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_4_0), b4_0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_4_1), b4_1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_4_2), b4_2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_4_3), b4_3_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_5_0), b5_0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_5_1), b5_1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_5_2), b5_2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_5_3), b5_3_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_6_0), b6_0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_6_1), b6_1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_6_2), b6_2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_6_3), b6_3_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_7_0), b7_0_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_7_1), b7_1_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_7_2), b7_2_0, acc_3_0);
        acc_3_0 = fma(vec4<f32>(s3_7_3), b7_3_0, acc_3_0);
        let s4_0_0 = subgroupBroadcast(a_4[0], 0u);
        let s4_0_1 = subgroupBroadcast(a_4[1], 0u);
        let s4_0_2 = subgroupBroadcast(a_4[2], 0u);
        let s4_0_3 = subgroupBroadcast(a_4[3], 0u);
        let s4_1_0 = subgroupBroadcast(a_4[0], 1u);
        let s4_1_1 = subgroupBroadcast(a_4[1], 1u);
        let s4_1_2 = subgroupBroadcast(a_4[2], 1u);
        let s4_1_3 = subgroupBroadcast(a_4[3], 1u);
        let s4_2_0 = subgroupBroadcast(a_4[0], 2u);
        let s4_2_1 = subgroupBroadcast(a_4[1], 2u);
        let s4_2_2 = subgroupBroadcast(a_4[2], 2u);
        let s4_2_3 = subgroupBroadcast(a_4[3], 2u);
        let s4_3_0 = subgroupBroadcast(a_4[0], 3u);
        let s4_3_1 = subgroupBroadcast(a_4[1], 3u);
        let s4_3_2 = subgroupBroadcast(a_4[2], 3u);
        let s4_3_3 = subgroupBroadcast(a_4[3], 3u);
        let s4_4_0 = subgroupBroadcast(a_4[0], 4u);
        let s4_4_1 = subgroupBroadcast(a_4[1], 4u);
        let s4_4_2 = subgroupBroadcast(a_4[2], 4u);
        let s4_4_3 = subgroupBroadcast(a_4[3], 4u);
        let s4_5_0 = subgroupBroadcast(a_4[0], 5u);
        let s4_5_1 = subgroupBroadcast(a_4[1], 5u);
        let s4_5_2 = subgroupBroadcast(a_4[2], 5u);
        let s4_5_3 = subgroupBroadcast(a_4[3], 5u);
        let s4_6_0 = subgroupBroadcast(a_4[0], 6u);
        let s4_6_1 = subgroupBroadcast(a_4[1], 6u);
        let s4_6_2 = subgroupBroadcast(a_4[2], 6u);
        let s4_6_3 = subgroupBroadcast(a_4[3], 6u);
        let s4_7_0 = subgroupBroadcast(a_4[0], 7u);
        let s4_7_1 = subgroupBroadcast(a_4[1], 7u);
        let s4_7_2 = subgroupBroadcast(a_4[2], 7u);
        let s4_7_3 = subgroupBroadcast(a_4[3], 7u);
        acc_4_0 = fma(vec4<f32>(s4_0_0), b0_0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_0_1), b0_1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_0_2), b0_2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_0_3), b0_3_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_1_0), b1_0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_1_1), b1_1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_1_2), b1_2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_1_3), b1_3_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_2_0), b2_0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_2_1), b2_1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_2_2), b2_2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_2_3), b2_3_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_3_0), b3_0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_3_1), b3_1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_3_2), b3_2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_3_3), b3_3_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_4_0), b4_0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_4_1), b4_1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_4_2), b4_2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_4_3), b4_3_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_5_0), b5_0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_5_1), b5_1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_5_2), b5_2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_5_3), b5_3_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_6_0), b6_0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_6_1), b6_1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_6_2), b6_2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_6_3), b6_3_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_7_0), b7_0_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_7_1), b7_1_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_7_2), b7_2_0, acc_4_0);
        acc_4_0 = fma(vec4<f32>(s4_7_3), b7_3_0, acc_4_0);
        let s5_0_0 = subgroupBroadcast(a_5[0], 0u);
        let s5_0_1 = subgroupBroadcast(a_5[1], 0u);
        let s5_0_2 = subgroupBroadcast(a_5[2], 0u);
        let s5_0_3 = subgroupBroadcast(a_5[3], 0u);
        let s5_1_0 = subgroupBroadcast(a_5[0], 1u);
        let s5_1_1 = subgroupBroadcast(a_5[1], 1u);
        let s5_1_2 = subgroupBroadcast(a_5[2], 1u);
        let s5_1_3 = subgroupBroadcast(a_5[3], 1u);
        let s5_2_0 = subgroupBroadcast(a_5[0], 2u);
        let s5_2_1 = subgroupBroadcast(a_5[1], 2u);
        let s5_2_2 = subgroupBroadcast(a_5[2], 2u);
        let s5_2_3 = subgroupBroadcast(a_5[3], 2u);
        let s5_3_0 = subgroupBroadcast(a_5[0], 3u);
        let s5_3_1 = subgroupBroadcast(a_5[1], 3u);
        let s5_3_2 = subgroupBroadcast(a_5[2], 3u);
        let s5_3_3 = subgroupBroadcast(a_5[3], 3u);
        let s5_4_0 = subgroupBroadcast(a_5[0], 4u);
        let s5_4_1 = subgroupBroadcast(a_5[1], 4u);
        let s5_4_2 = subgroupBroadcast(a_5[2], 4u);
        let s5_4_3 = subgroupBroadcast(a_5[3], 4u);
        let s5_5_0 = subgroupBroadcast(a_5[0], 5u);
        let s5_5_1 = subgroupBroadcast(a_5[1], 5u);
        let s5_5_2 = subgroupBroadcast(a_5[2], 5u);
        let s5_5_3 = subgroupBroadcast(a_5[3], 5u);
        let s5_6_0 = subgroupBroadcast(a_5[0], 6u);
        let s5_6_1 = subgroupBroadcast(a_5[1], 6u);
        let s5_6_2 = subgroupBroadcast(a_5[2], 6u);
        let s5_6_3 = subgroupBroadcast(a_5[3], 6u);
        let s5_7_0 = subgroupBroadcast(a_5[0], 7u);
        let s5_7_1 = subgroupBroadcast(a_5[1], 7u);
        let s5_7_2 = subgroupBroadcast(a_5[2], 7u);
        let s5_7_3 = subgroupBroadcast(a_5[3], 7u);
        acc_5_0 = fma(vec4<f32>(s5_0_0), b0_0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_0_1), b0_1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_0_2), b0_2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_0_3), b0_3_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_1_0), b1_0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_1_1), b1_1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_1_2), b1_2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_1_3), b1_3_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_2_0), b2_0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_2_1), b2_1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_2_2), b2_2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_2_3), b2_3_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_3_0), b3_0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_3_1), b3_1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_3_2), b3_2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_3_3), b3_3_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_4_0), b4_0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_4_1), b4_1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_4_2), b4_2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_4_3), b4_3_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_5_0), b5_0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_5_1), b5_1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_5_2), b5_2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_5_3), b5_3_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_6_0), b6_0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_6_1), b6_1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_6_2), b6_2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_6_3), b6_3_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_7_0), b7_0_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_7_1), b7_1_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_7_2), b7_2_0, acc_5_0);
        acc_5_0 = fma(vec4<f32>(s5_7_3), b7_3_0, acc_5_0);
        let s6_0_0 = subgroupBroadcast(a_6[0], 0u);
        let s6_0_1 = subgroupBroadcast(a_6[1], 0u);
        let s6_0_2 = subgroupBroadcast(a_6[2], 0u);
        let s6_0_3 = subgroupBroadcast(a_6[3], 0u);
        let s6_1_0 = subgroupBroadcast(a_6[0], 1u);
        let s6_1_1 = subgroupBroadcast(a_6[1], 1u);
        let s6_1_2 = subgroupBroadcast(a_6[2], 1u);
        let s6_1_3 = subgroupBroadcast(a_6[3], 1u);
        let s6_2_0 = subgroupBroadcast(a_6[0], 2u);
        let s6_2_1 = subgroupBroadcast(a_6[1], 2u);
        let s6_2_2 = subgroupBroadcast(a_6[2], 2u);
        let s6_2_3 = subgroupBroadcast(a_6[3], 2u);
        let s6_3_0 = subgroupBroadcast(a_6[0], 3u);
        let s6_3_1 = subgroupBroadcast(a_6[1], 3u);
        let s6_3_2 = subgroupBroadcast(a_6[2], 3u);
        let s6_3_3 = subgroupBroadcast(a_6[3], 3u);
        let s6_4_0 = subgroupBroadcast(a_6[0], 4u);
        let s6_4_1 = subgroupBroadcast(a_6[1], 4u);
        let s6_4_2 = subgroupBroadcast(a_6[2], 4u);
        let s6_4_3 = subgroupBroadcast(a_6[3], 4u);
        let s6_5_0 = subgroupBroadcast(a_6[0], 5u);
        let s6_5_1 = subgroupBroadcast(a_6[1], 5u);
        let s6_5_2 = subgroupBroadcast(a_6[2], 5u);
        let s6_5_3 = subgroupBroadcast(a_6[3], 5u);
        let s6_6_0 = subgroupBroadcast(a_6[0], 6u);
        let s6_6_1 = subgroupBroadcast(a_6[1], 6u);
        let s6_6_2 = subgroupBroadcast(a_6[2], 6u);
        let s6_6_3 = subgroupBroadcast(a_6[3], 6u);
        let s6_7_0 = subgroupBroadcast(a_6[0], 7u);
        let s6_7_1 = subgroupBroadcast(a_6[1], 7u);
        let s6_7_2 = subgroupBroadcast(a_6[2], 7u);
        let s6_7_3 = subgroupBroadcast(a_6[3], 7u);
        acc_6_0 = fma(vec4<f32>(s6_0_0), b0_0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_0_1), b0_1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_0_2), b0_2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_0_3), b0_3_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_1_0), b1_0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_1_1), b1_1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_1_2), b1_2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_1_3), b1_3_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_2_0), b2_0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_2_1), b2_1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_2_2), b2_2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_2_3), b2_3_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_3_0), b3_0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_3_1), b3_1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_3_2), b3_2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_3_3), b3_3_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_4_0), b4_0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_4_1), b4_1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_4_2), b4_2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_4_3), b4_3_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_5_0), b5_0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_5_1), b5_1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_5_2), b5_2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_5_3), b5_3_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_6_0), b6_0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_6_1), b6_1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_6_2), b6_2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_6_3), b6_3_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_7_0), b7_0_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_7_1), b7_1_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_7_2), b7_2_0, acc_6_0);
        acc_6_0 = fma(vec4<f32>(s6_7_3), b7_3_0, acc_6_0);
        let s7_0_0 = subgroupBroadcast(a_7[0], 0u);
        let s7_0_1 = subgroupBroadcast(a_7[1], 0u);
        let s7_0_2 = subgroupBroadcast(a_7[2], 0u);
        let s7_0_3 = subgroupBroadcast(a_7[3], 0u);
        let s7_1_0 = subgroupBroadcast(a_7[0], 1u);
        let s7_1_1 = subgroupBroadcast(a_7[1], 1u);
        let s7_1_2 = subgroupBroadcast(a_7[2], 1u);
        let s7_1_3 = subgroupBroadcast(a_7[3], 1u);
        let s7_2_0 = subgroupBroadcast(a_7[0], 2u);
        let s7_2_1 = subgroupBroadcast(a_7[1], 2u);
        let s7_2_2 = subgroupBroadcast(a_7[2], 2u);
        let s7_2_3 = subgroupBroadcast(a_7[3], 2u);
        let s7_3_0 = subgroupBroadcast(a_7[0], 3u);
        let s7_3_1 = subgroupBroadcast(a_7[1], 3u);
        let s7_3_2 = subgroupBroadcast(a_7[2], 3u);
        let s7_3_3 = subgroupBroadcast(a_7[3], 3u);
        let s7_4_0 = subgroupBroadcast(a_7[0], 4u);
        let s7_4_1 = subgroupBroadcast(a_7[1], 4u);
        let s7_4_2 = subgroupBroadcast(a_7[2], 4u);
        let s7_4_3 = subgroupBroadcast(a_7[3], 4u);
        let s7_5_0 = subgroupBroadcast(a_7[0], 5u);
        let s7_5_1 = subgroupBroadcast(a_7[1], 5u);
        let s7_5_2 = subgroupBroadcast(a_7[2], 5u);
        let s7_5_3 = subgroupBroadcast(a_7[3], 5u);
        let s7_6_0 = subgroupBroadcast(a_7[0], 6u);
        let s7_6_1 = subgroupBroadcast(a_7[1], 6u);
        let s7_6_2 = subgroupBroadcast(a_7[2], 6u);
        let s7_6_3 = subgroupBroadcast(a_7[3], 6u);
        let s7_7_0 = subgroupBroadcast(a_7[0], 7u);
        let s7_7_1 = subgroupBroadcast(a_7[1], 7u);
        let s7_7_2 = subgroupBroadcast(a_7[2], 7u);
        let s7_7_3 = subgroupBroadcast(a_7[3], 7u);
        acc_7_0 = fma(vec4<f32>(s7_0_0), b0_0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_0_1), b0_1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_0_2), b0_2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_0_3), b0_3_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_1_0), b1_0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_1_1), b1_1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_1_2), b1_2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_1_3), b1_3_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_2_0), b2_0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_2_1), b2_1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_2_2), b2_2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_2_3), b2_3_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_3_0), b3_0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_3_1), b3_1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_3_2), b3_2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_3_3), b3_3_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_4_0), b4_0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_4_1), b4_1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_4_2), b4_2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_4_3), b4_3_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_5_0), b5_0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_5_1), b5_1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_5_2), b5_2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_5_3), b5_3_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_6_0), b6_0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_6_1), b6_1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_6_2), b6_2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_6_3), b6_3_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_7_0), b7_0_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_7_1), b7_1_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_7_2), b7_2_0, acc_7_0);
        acc_7_0 = fma(vec4<f32>(s7_7_3), b7_3_0, acc_7_0);
    }
    for (var i = k_whole; i < k_end; i++) {

    }
    let bias_0 = vec4<f32>(f32(bias[min(col_0 + 0u, last_col)]), f32(bias[min(col_0 + 1u, last_col)]), f32(bias[min(col_0 + 2u, last_col)]), f32(bias[min(col_0 + 3u, last_col)]));
    store(split, row0 + 0u, col_0 + 0u, acc_0_0[0] + bias_0[0]);
    store(split, row0 + 0u, col_0 + 1u, acc_0_0[1] + bias_0[1]);
    store(split, row0 + 0u, col_0 + 2u, acc_0_0[2] + bias_0[2]);
    store(split, row0 + 0u, col_0 + 3u, acc_0_0[3] + bias_0[3]);
    store(split, row0 + 1u, col_0 + 0u, acc_1_0[0] + bias_0[0]);
    store(split, row0 + 1u, col_0 + 1u, acc_1_0[1] + bias_0[1]);
    store(split, row0 + 1u, col_0 + 2u, acc_1_0[2] + bias_0[2]);
    store(split, row0 + 1u, col_0 + 3u, acc_1_0[3] + bias_0[3]);
    store(split, row0 + 2u, col_0 + 0u, acc_2_0[0] + bias_0[0]);
    store(split, row0 + 2u, col_0 + 1u, acc_2_0[1] + bias_0[1]);
    store(split, row0 + 2u, col_0 + 2u, acc_2_0[2] + bias_0[2]);
    store(split, row0 + 2u, col_0 + 3u, acc_2_0[3] + bias_0[3]);
    store(split, row0 + 3u, col_0 + 0u, acc_3_0[0] + bias_0[0]);
    store(split, row0 + 3u, col_0 + 1u, acc_3_0[1] + bias_0[1]);
    store(split, row0 + 3u, col_0 + 2u, acc_3_0[2] + bias_0[2]);
    store(split, row0 + 3u, col_0 + 3u, acc_3_0[3] + bias_0[3]);
    store(split, row0 + 4u, col_0 + 0u, acc_4_0[0] + bias_0[0]);
    store(split, row0 + 4u, col_0 + 1u, acc_4_0[1] + bias_0[1]);
    store(split, row0 + 4u, col_0 + 2u, acc_4_0[2] + bias_0[2]);
    store(split, row0 + 4u, col_0 + 3u, acc_4_0[3] + bias_0[3]);
    store(split, row0 + 5u, col_0 + 0u, acc_5_0[0] + bias_0[0]);
    store(split, row0 + 5u, col_0 + 1u, acc_5_0[1] + bias_0[1]);
    store(split, row0 + 5u, col_0 + 2u, acc_5_0[2] + bias_0[2]);
    store(split, row0 + 5u, col_0 + 3u, acc_5_0[3] + bias_0[3]);
    store(split, row0 + 6u, col_0 + 0u, acc_6_0[0] + bias_0[0]);
    store(split, row0 + 6u, col_0 + 1u, acc_6_0[1] + bias_0[1]);
    store(split, row0 + 6u, col_0 + 2u, acc_6_0[2] + bias_0[2]);
    store(split, row0 + 6u, col_0 + 3u, acc_6_0[3] + bias_0[3]);
    store(split, row0 + 7u, col_0 + 0u, acc_7_0[0] + bias_0[0]);
    store(split, row0 + 7u, col_0 + 1u, acc_7_0[1] + bias_0[1]);
    store(split, row0 + 7u, col_0 + 2u, acc_7_0[2] + bias_0[2]);
    store(split, row0 + 7u, col_0 + 3u, acc_7_0[3] + bias_0[3]);
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


    let x = value;


    pre_activations[row * params.n + col] = f32(x);

    return f32(silu(x, params.alpha));

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




