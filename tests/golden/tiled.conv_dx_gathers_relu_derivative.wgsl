// ops/gemm/tiled.wgsl: the register-blocked GEMM of the Dense layer, c = epilogue(a · b), for all
// three forms it needs (x·W forward, dY·Wᵀ input gradient, xᵀ·dY weight gradient): strides express the
// transposes, so no transposed copy is ever made.
//
// Bindings (group 0), by variable name, T = f32, C = f32 (c's own type: T, or an
// f32 dW beside f16 operands), A = f32 (the accumulators):
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
// Workgroup S × S invocations (S = 8); each owns a TM × TN block of c laid out as
// (TM / 4) × (TN / 4) groups of 4 × 4 spaced 4·S apart, so its workgroup-memory reads are whole
// vec4s that neighbouring invocations take side by side. Block tile BM × BN = 64 × 64,
// K slab BK = 16; a slab of a is stored k-major (a_tile[i][m]) like b's (b_tile[i][n]).
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

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// Row strides of the slabs: BM or BN, plus 4 when the slab is written one k at a time.
const A_STRIDE: u32 = 68u;
const B_STRIDE: u32 = 68u;
// STAGES slabs of each (2: the pipelined loop fills one while the FMAs read the other).
const A_SLAB: u32 = BK * A_STRIDE / 4u;
const B_SLAB: u32 = BK * B_STRIDE / 4u;
var<workgroup> a_tile: array<vec4<f32>, 1u * A_SLAB>;  // [(i * A_STRIDE + m) / 4][m % 4]
var<workgroup> b_tile: array<vec4<f32>, 1u * B_SLAB>;  // [(i * B_STRIDE + n) / 4][n % 4]

// Edge tiles: zero outside the matrices, so partial tiles add nothing.
fn load_a(row: u32, i: u32, k_end: u32) -> f32 {
    if (row < params.m && i < k_end) {
        return a[row * params.a_row_stride + i * params.a_col_stride];
    }
    return 0.0;
}

fn load_b(i: u32, col: u32, k_end: u32) -> f32 {
    if (i < k_end && col < params.n) {
        return b[i * params.b_row_stride + col * params.b_col_stride];
    }
    return 0.0;
}

// With splits > 1: the plain sum of the workgroup's K chunk, at its split's slice of c.
fn store(split: u32, row: u32, col: u32, value: f32) {
    if (row < params.m && col < params.n) {
        c[split * params.m * params.n + row * params.n + col] = epilogue(row, col, value);
    }
}

@compute @workgroup_size(8, 8)
fn gemm(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    // A warp's 32 lanes cover 8 × 4 invocations rather than 16 × 2: its fragment reads then
    // touch 4 distinct vec4s of a_tile and 8 of b_tile (fewer workgroup-memory wavefronts).
    let tx = lane % 8u + (lane / 32u) % (8u / 8u) * 8u;
    let ty = (lane / 8u) % 4u + lane / (4u * 8u) * 4u;
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
    var acc_0_0 = vec4<f32>(0.0);
    var acc_0_1 = vec4<f32>(0.0);
    var acc_1_0 = vec4<f32>(0.0);
    var acc_1_1 = vec4<f32>(0.0);
    var acc_2_0 = vec4<f32>(0.0);
    var acc_2_1 = vec4<f32>(0.0);
    var acc_3_0 = vec4<f32>(0.0);
    var acc_3_1 = vec4<f32>(0.0);
    var acc_4_0 = vec4<f32>(0.0);
    var acc_4_1 = vec4<f32>(0.0);
    var acc_5_0 = vec4<f32>(0.0);
    var acc_5_1 = vec4<f32>(0.0);
    var acc_6_0 = vec4<f32>(0.0);
    var acc_6_1 = vec4<f32>(0.0);
    var acc_7_0 = vec4<f32>(0.0);
    var acc_7_1 = vec4<f32>(0.0);

    let a_outer = lane / 16u;
    let a_inner = lane % 16u;
    let b_outer = lane / 16u;
    let b_inner = lane % 16u;
    let a_part_0 = output_patches_row(min(row0 + a_outer + 0u, params.m - 1u));
    let a_part_1 = output_patches_row(min(row0 + a_outer + 4u, params.m - 1u));
    let a_part_2 = output_patches_row(min(row0 + a_outer + 8u, params.m - 1u));
    let a_part_3 = output_patches_row(min(row0 + a_outer + 12u, params.m - 1u));
    let a_part_4 = output_patches_row(min(row0 + a_outer + 16u, params.m - 1u));
    let a_part_5 = output_patches_row(min(row0 + a_outer + 20u, params.m - 1u));
    let a_part_6 = output_patches_row(min(row0 + a_outer + 24u, params.m - 1u));
    let a_part_7 = output_patches_row(min(row0 + a_outer + 28u, params.m - 1u));
    let a_part_8 = output_patches_row(min(row0 + a_outer + 32u, params.m - 1u));
    let a_part_9 = output_patches_row(min(row0 + a_outer + 36u, params.m - 1u));
    let a_part_10 = output_patches_row(min(row0 + a_outer + 40u, params.m - 1u));
    let a_part_11 = output_patches_row(min(row0 + a_outer + 44u, params.m - 1u));
    let a_part_12 = output_patches_row(min(row0 + a_outer + 48u, params.m - 1u));
    let a_part_13 = output_patches_row(min(row0 + a_outer + 52u, params.m - 1u));
    let a_part_14 = output_patches_row(min(row0 + a_outer + 56u, params.m - 1u));
    let a_part_15 = output_patches_row(min(row0 + a_outer + 60u, params.m - 1u));
    let b_part_0 = kernel_transposed_col(min(col0 + b_outer + 0u, params.n - 1u));
    let b_part_1 = kernel_transposed_col(min(col0 + b_outer + 4u, params.n - 1u));
    let b_part_2 = kernel_transposed_col(min(col0 + b_outer + 8u, params.n - 1u));
    let b_part_3 = kernel_transposed_col(min(col0 + b_outer + 12u, params.n - 1u));
    let b_part_4 = kernel_transposed_col(min(col0 + b_outer + 16u, params.n - 1u));
    let b_part_5 = kernel_transposed_col(min(col0 + b_outer + 20u, params.n - 1u));
    let b_part_6 = kernel_transposed_col(min(col0 + b_outer + 24u, params.n - 1u));
    let b_part_7 = kernel_transposed_col(min(col0 + b_outer + 28u, params.n - 1u));
    let b_part_8 = kernel_transposed_col(min(col0 + b_outer + 32u, params.n - 1u));
    let b_part_9 = kernel_transposed_col(min(col0 + b_outer + 36u, params.n - 1u));
    let b_part_10 = kernel_transposed_col(min(col0 + b_outer + 40u, params.n - 1u));
    let b_part_11 = kernel_transposed_col(min(col0 + b_outer + 44u, params.n - 1u));
    let b_part_12 = kernel_transposed_col(min(col0 + b_outer + 48u, params.n - 1u));
    let b_part_13 = kernel_transposed_col(min(col0 + b_outer + 52u, params.n - 1u));
    let b_part_14 = kernel_transposed_col(min(col0 + b_outer + 56u, params.n - 1u));
    let b_part_15 = kernel_transposed_col(min(col0 + b_outer + 60u, params.n - 1u));
    let inside = row0 + BM <= params.m && col0 + BN <= params.n;

    {

    for (var start = k_begin; start < k_end; start += BK) {
        // Stage the slabs (neighbouring invocations read neighbouring addresses). Whole tiles,
        // the common case, skip the bounds checks; the test is uniform across the workgroup.
        if (inside && start + BK <= k_end) {
            let a_k_part = output_patches_col(min(start + a_inner, params.k - 1u));
            a_tile[((a_inner) * 68u + a_outer + 0u) / 4u][(a_outer + 0u) % 4u] = gather_a(a_part_0, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 4u) / 4u][(a_outer + 4u) % 4u] = gather_a(a_part_1, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 8u) / 4u][(a_outer + 8u) % 4u] = gather_a(a_part_2, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 12u) / 4u][(a_outer + 12u) % 4u] = gather_a(a_part_3, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 16u) / 4u][(a_outer + 16u) % 4u] = gather_a(a_part_4, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 20u) / 4u][(a_outer + 20u) % 4u] = gather_a(a_part_5, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 24u) / 4u][(a_outer + 24u) % 4u] = gather_a(a_part_6, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 28u) / 4u][(a_outer + 28u) % 4u] = gather_a(a_part_7, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 32u) / 4u][(a_outer + 32u) % 4u] = gather_a(a_part_8, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 36u) / 4u][(a_outer + 36u) % 4u] = gather_a(a_part_9, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 40u) / 4u][(a_outer + 40u) % 4u] = gather_a(a_part_10, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 44u) / 4u][(a_outer + 44u) % 4u] = gather_a(a_part_11, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 48u) / 4u][(a_outer + 48u) % 4u] = gather_a(a_part_12, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 52u) / 4u][(a_outer + 52u) % 4u] = gather_a(a_part_13, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 56u) / 4u][(a_outer + 56u) % 4u] = gather_a(a_part_14, a_k_part);
            a_tile[((a_inner) * 68u + a_outer + 60u) / 4u][(a_outer + 60u) % 4u] = gather_a(a_part_15, a_k_part);
            let b_k_part = kernel_transposed_row(min(start + b_inner, params.k - 1u));
            b_tile[((b_inner) * 68u + b_outer + 0u) / 4u][(b_outer + 0u) % 4u] = gather_b(b_k_part, b_part_0);
            b_tile[((b_inner) * 68u + b_outer + 4u) / 4u][(b_outer + 4u) % 4u] = gather_b(b_k_part, b_part_1);
            b_tile[((b_inner) * 68u + b_outer + 8u) / 4u][(b_outer + 8u) % 4u] = gather_b(b_k_part, b_part_2);
            b_tile[((b_inner) * 68u + b_outer + 12u) / 4u][(b_outer + 12u) % 4u] = gather_b(b_k_part, b_part_3);
            b_tile[((b_inner) * 68u + b_outer + 16u) / 4u][(b_outer + 16u) % 4u] = gather_b(b_k_part, b_part_4);
            b_tile[((b_inner) * 68u + b_outer + 20u) / 4u][(b_outer + 20u) % 4u] = gather_b(b_k_part, b_part_5);
            b_tile[((b_inner) * 68u + b_outer + 24u) / 4u][(b_outer + 24u) % 4u] = gather_b(b_k_part, b_part_6);
            b_tile[((b_inner) * 68u + b_outer + 28u) / 4u][(b_outer + 28u) % 4u] = gather_b(b_k_part, b_part_7);
            b_tile[((b_inner) * 68u + b_outer + 32u) / 4u][(b_outer + 32u) % 4u] = gather_b(b_k_part, b_part_8);
            b_tile[((b_inner) * 68u + b_outer + 36u) / 4u][(b_outer + 36u) % 4u] = gather_b(b_k_part, b_part_9);
            b_tile[((b_inner) * 68u + b_outer + 40u) / 4u][(b_outer + 40u) % 4u] = gather_b(b_k_part, b_part_10);
            b_tile[((b_inner) * 68u + b_outer + 44u) / 4u][(b_outer + 44u) % 4u] = gather_b(b_k_part, b_part_11);
            b_tile[((b_inner) * 68u + b_outer + 48u) / 4u][(b_outer + 48u) % 4u] = gather_b(b_k_part, b_part_12);
            b_tile[((b_inner) * 68u + b_outer + 52u) / 4u][(b_outer + 52u) % 4u] = gather_b(b_k_part, b_part_13);
            b_tile[((b_inner) * 68u + b_outer + 56u) / 4u][(b_outer + 56u) % 4u] = gather_b(b_k_part, b_part_14);
            b_tile[((b_inner) * 68u + b_outer + 60u) / 4u][(b_outer + 60u) % 4u] = gather_b(b_k_part, b_part_15);
        } else {
            let a_k_part = output_patches_col(min(start + a_inner, params.k - 1u));
            a_tile[((a_inner) * 68u + a_outer + 0u) / 4u][(a_outer + 0u) % 4u] = select(0.0, gather_a(a_part_0, a_k_part), row0 + a_outer + 0u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 4u) / 4u][(a_outer + 4u) % 4u] = select(0.0, gather_a(a_part_1, a_k_part), row0 + a_outer + 4u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 8u) / 4u][(a_outer + 8u) % 4u] = select(0.0, gather_a(a_part_2, a_k_part), row0 + a_outer + 8u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 12u) / 4u][(a_outer + 12u) % 4u] = select(0.0, gather_a(a_part_3, a_k_part), row0 + a_outer + 12u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 16u) / 4u][(a_outer + 16u) % 4u] = select(0.0, gather_a(a_part_4, a_k_part), row0 + a_outer + 16u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 20u) / 4u][(a_outer + 20u) % 4u] = select(0.0, gather_a(a_part_5, a_k_part), row0 + a_outer + 20u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 24u) / 4u][(a_outer + 24u) % 4u] = select(0.0, gather_a(a_part_6, a_k_part), row0 + a_outer + 24u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 28u) / 4u][(a_outer + 28u) % 4u] = select(0.0, gather_a(a_part_7, a_k_part), row0 + a_outer + 28u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 32u) / 4u][(a_outer + 32u) % 4u] = select(0.0, gather_a(a_part_8, a_k_part), row0 + a_outer + 32u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 36u) / 4u][(a_outer + 36u) % 4u] = select(0.0, gather_a(a_part_9, a_k_part), row0 + a_outer + 36u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 40u) / 4u][(a_outer + 40u) % 4u] = select(0.0, gather_a(a_part_10, a_k_part), row0 + a_outer + 40u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 44u) / 4u][(a_outer + 44u) % 4u] = select(0.0, gather_a(a_part_11, a_k_part), row0 + a_outer + 44u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 48u) / 4u][(a_outer + 48u) % 4u] = select(0.0, gather_a(a_part_12, a_k_part), row0 + a_outer + 48u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 52u) / 4u][(a_outer + 52u) % 4u] = select(0.0, gather_a(a_part_13, a_k_part), row0 + a_outer + 52u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 56u) / 4u][(a_outer + 56u) % 4u] = select(0.0, gather_a(a_part_14, a_k_part), row0 + a_outer + 56u < params.m && start + a_inner < k_end);
            a_tile[((a_inner) * 68u + a_outer + 60u) / 4u][(a_outer + 60u) % 4u] = select(0.0, gather_a(a_part_15, a_k_part), row0 + a_outer + 60u < params.m && start + a_inner < k_end);
            let b_k_part = kernel_transposed_row(min(start + b_inner, params.k - 1u));
            b_tile[((b_inner) * 68u + b_outer + 0u) / 4u][(b_outer + 0u) % 4u] = select(0.0, gather_b(b_k_part, b_part_0), col0 + b_outer + 0u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 4u) / 4u][(b_outer + 4u) % 4u] = select(0.0, gather_b(b_k_part, b_part_1), col0 + b_outer + 4u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 8u) / 4u][(b_outer + 8u) % 4u] = select(0.0, gather_b(b_k_part, b_part_2), col0 + b_outer + 8u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 12u) / 4u][(b_outer + 12u) % 4u] = select(0.0, gather_b(b_k_part, b_part_3), col0 + b_outer + 12u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 16u) / 4u][(b_outer + 16u) % 4u] = select(0.0, gather_b(b_k_part, b_part_4), col0 + b_outer + 16u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 20u) / 4u][(b_outer + 20u) % 4u] = select(0.0, gather_b(b_k_part, b_part_5), col0 + b_outer + 20u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 24u) / 4u][(b_outer + 24u) % 4u] = select(0.0, gather_b(b_k_part, b_part_6), col0 + b_outer + 24u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 28u) / 4u][(b_outer + 28u) % 4u] = select(0.0, gather_b(b_k_part, b_part_7), col0 + b_outer + 28u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 32u) / 4u][(b_outer + 32u) % 4u] = select(0.0, gather_b(b_k_part, b_part_8), col0 + b_outer + 32u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 36u) / 4u][(b_outer + 36u) % 4u] = select(0.0, gather_b(b_k_part, b_part_9), col0 + b_outer + 36u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 40u) / 4u][(b_outer + 40u) % 4u] = select(0.0, gather_b(b_k_part, b_part_10), col0 + b_outer + 40u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 44u) / 4u][(b_outer + 44u) % 4u] = select(0.0, gather_b(b_k_part, b_part_11), col0 + b_outer + 44u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 48u) / 4u][(b_outer + 48u) % 4u] = select(0.0, gather_b(b_k_part, b_part_12), col0 + b_outer + 48u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 52u) / 4u][(b_outer + 52u) % 4u] = select(0.0, gather_b(b_k_part, b_part_13), col0 + b_outer + 52u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 56u) / 4u][(b_outer + 56u) % 4u] = select(0.0, gather_b(b_k_part, b_part_14), col0 + b_outer + 56u < params.n && start + b_inner < k_end);
            b_tile[((b_inner) * 68u + b_outer + 60u) / 4u][(b_outer + 60u) % 4u] = select(0.0, gather_b(b_k_part, b_part_15), col0 + b_outer + 60u < params.n && start + b_inner < k_end);
        }
        workgroupBarrier();
        let a0_0 = a_tile[0u + a_at];
        let a0_1 = a_tile[8u + a_at];
        let b0_0 = b_tile[0u + b_at];
        let b0_1 = b_tile[8u + b_at];
        acc_0_0 += a0_0[0] * b0_0;
        acc_0_1 += a0_0[0] * b0_1;
        acc_1_0 += a0_0[1] * b0_0;
        acc_1_1 += a0_0[1] * b0_1;
        acc_2_0 += a0_0[2] * b0_0;
        acc_2_1 += a0_0[2] * b0_1;
        acc_3_0 += a0_0[3] * b0_0;
        acc_3_1 += a0_0[3] * b0_1;
        acc_4_0 += a0_1[0] * b0_0;
        acc_4_1 += a0_1[0] * b0_1;
        acc_5_0 += a0_1[1] * b0_0;
        acc_5_1 += a0_1[1] * b0_1;
        acc_6_0 += a0_1[2] * b0_0;
        acc_6_1 += a0_1[2] * b0_1;
        acc_7_0 += a0_1[3] * b0_0;
        acc_7_1 += a0_1[3] * b0_1;
        let a1_0 = a_tile[17u + a_at];
        let a1_1 = a_tile[25u + a_at];
        let b1_0 = b_tile[17u + b_at];
        let b1_1 = b_tile[25u + b_at];
        acc_0_0 += a1_0[0] * b1_0;
        acc_0_1 += a1_0[0] * b1_1;
        acc_1_0 += a1_0[1] * b1_0;
        acc_1_1 += a1_0[1] * b1_1;
        acc_2_0 += a1_0[2] * b1_0;
        acc_2_1 += a1_0[2] * b1_1;
        acc_3_0 += a1_0[3] * b1_0;
        acc_3_1 += a1_0[3] * b1_1;
        acc_4_0 += a1_1[0] * b1_0;
        acc_4_1 += a1_1[0] * b1_1;
        acc_5_0 += a1_1[1] * b1_0;
        acc_5_1 += a1_1[1] * b1_1;
        acc_6_0 += a1_1[2] * b1_0;
        acc_6_1 += a1_1[2] * b1_1;
        acc_7_0 += a1_1[3] * b1_0;
        acc_7_1 += a1_1[3] * b1_1;
        let a2_0 = a_tile[34u + a_at];
        let a2_1 = a_tile[42u + a_at];
        let b2_0 = b_tile[34u + b_at];
        let b2_1 = b_tile[42u + b_at];
        acc_0_0 += a2_0[0] * b2_0;
        acc_0_1 += a2_0[0] * b2_1;
        acc_1_0 += a2_0[1] * b2_0;
        acc_1_1 += a2_0[1] * b2_1;
        acc_2_0 += a2_0[2] * b2_0;
        acc_2_1 += a2_0[2] * b2_1;
        acc_3_0 += a2_0[3] * b2_0;
        acc_3_1 += a2_0[3] * b2_1;
        acc_4_0 += a2_1[0] * b2_0;
        acc_4_1 += a2_1[0] * b2_1;
        acc_5_0 += a2_1[1] * b2_0;
        acc_5_1 += a2_1[1] * b2_1;
        acc_6_0 += a2_1[2] * b2_0;
        acc_6_1 += a2_1[2] * b2_1;
        acc_7_0 += a2_1[3] * b2_0;
        acc_7_1 += a2_1[3] * b2_1;
        let a3_0 = a_tile[51u + a_at];
        let a3_1 = a_tile[59u + a_at];
        let b3_0 = b_tile[51u + b_at];
        let b3_1 = b_tile[59u + b_at];
        acc_0_0 += a3_0[0] * b3_0;
        acc_0_1 += a3_0[0] * b3_1;
        acc_1_0 += a3_0[1] * b3_0;
        acc_1_1 += a3_0[1] * b3_1;
        acc_2_0 += a3_0[2] * b3_0;
        acc_2_1 += a3_0[2] * b3_1;
        acc_3_0 += a3_0[3] * b3_0;
        acc_3_1 += a3_0[3] * b3_1;
        acc_4_0 += a3_1[0] * b3_0;
        acc_4_1 += a3_1[0] * b3_1;
        acc_5_0 += a3_1[1] * b3_0;
        acc_5_1 += a3_1[1] * b3_1;
        acc_6_0 += a3_1[2] * b3_0;
        acc_6_1 += a3_1[2] * b3_1;
        acc_7_0 += a3_1[3] * b3_0;
        acc_7_1 += a3_1[3] * b3_1;
        let a4_0 = a_tile[68u + a_at];
        let a4_1 = a_tile[76u + a_at];
        let b4_0 = b_tile[68u + b_at];
        let b4_1 = b_tile[76u + b_at];
        acc_0_0 += a4_0[0] * b4_0;
        acc_0_1 += a4_0[0] * b4_1;
        acc_1_0 += a4_0[1] * b4_0;
        acc_1_1 += a4_0[1] * b4_1;
        acc_2_0 += a4_0[2] * b4_0;
        acc_2_1 += a4_0[2] * b4_1;
        acc_3_0 += a4_0[3] * b4_0;
        acc_3_1 += a4_0[3] * b4_1;
        acc_4_0 += a4_1[0] * b4_0;
        acc_4_1 += a4_1[0] * b4_1;
        acc_5_0 += a4_1[1] * b4_0;
        acc_5_1 += a4_1[1] * b4_1;
        acc_6_0 += a4_1[2] * b4_0;
        acc_6_1 += a4_1[2] * b4_1;
        acc_7_0 += a4_1[3] * b4_0;
        acc_7_1 += a4_1[3] * b4_1;
        let a5_0 = a_tile[85u + a_at];
        let a5_1 = a_tile[93u + a_at];
        let b5_0 = b_tile[85u + b_at];
        let b5_1 = b_tile[93u + b_at];
        acc_0_0 += a5_0[0] * b5_0;
        acc_0_1 += a5_0[0] * b5_1;
        acc_1_0 += a5_0[1] * b5_0;
        acc_1_1 += a5_0[1] * b5_1;
        acc_2_0 += a5_0[2] * b5_0;
        acc_2_1 += a5_0[2] * b5_1;
        acc_3_0 += a5_0[3] * b5_0;
        acc_3_1 += a5_0[3] * b5_1;
        acc_4_0 += a5_1[0] * b5_0;
        acc_4_1 += a5_1[0] * b5_1;
        acc_5_0 += a5_1[1] * b5_0;
        acc_5_1 += a5_1[1] * b5_1;
        acc_6_0 += a5_1[2] * b5_0;
        acc_6_1 += a5_1[2] * b5_1;
        acc_7_0 += a5_1[3] * b5_0;
        acc_7_1 += a5_1[3] * b5_1;
        let a6_0 = a_tile[102u + a_at];
        let a6_1 = a_tile[110u + a_at];
        let b6_0 = b_tile[102u + b_at];
        let b6_1 = b_tile[110u + b_at];
        acc_0_0 += a6_0[0] * b6_0;
        acc_0_1 += a6_0[0] * b6_1;
        acc_1_0 += a6_0[1] * b6_0;
        acc_1_1 += a6_0[1] * b6_1;
        acc_2_0 += a6_0[2] * b6_0;
        acc_2_1 += a6_0[2] * b6_1;
        acc_3_0 += a6_0[3] * b6_0;
        acc_3_1 += a6_0[3] * b6_1;
        acc_4_0 += a6_1[0] * b6_0;
        acc_4_1 += a6_1[0] * b6_1;
        acc_5_0 += a6_1[1] * b6_0;
        acc_5_1 += a6_1[1] * b6_1;
        acc_6_0 += a6_1[2] * b6_0;
        acc_6_1 += a6_1[2] * b6_1;
        acc_7_0 += a6_1[3] * b6_0;
        acc_7_1 += a6_1[3] * b6_1;
        let a7_0 = a_tile[119u + a_at];
        let a7_1 = a_tile[127u + a_at];
        let b7_0 = b_tile[119u + b_at];
        let b7_1 = b_tile[127u + b_at];
        acc_0_0 += a7_0[0] * b7_0;
        acc_0_1 += a7_0[0] * b7_1;
        acc_1_0 += a7_0[1] * b7_0;
        acc_1_1 += a7_0[1] * b7_1;
        acc_2_0 += a7_0[2] * b7_0;
        acc_2_1 += a7_0[2] * b7_1;
        acc_3_0 += a7_0[3] * b7_0;
        acc_3_1 += a7_0[3] * b7_1;
        acc_4_0 += a7_1[0] * b7_0;
        acc_4_1 += a7_1[0] * b7_1;
        acc_5_0 += a7_1[1] * b7_0;
        acc_5_1 += a7_1[1] * b7_1;
        acc_6_0 += a7_1[2] * b7_0;
        acc_6_1 += a7_1[2] * b7_1;
        acc_7_0 += a7_1[3] * b7_0;
        acc_7_1 += a7_1[3] * b7_1;
        let a8_0 = a_tile[136u + a_at];
        let a8_1 = a_tile[144u + a_at];
        let b8_0 = b_tile[136u + b_at];
        let b8_1 = b_tile[144u + b_at];
        acc_0_0 += a8_0[0] * b8_0;
        acc_0_1 += a8_0[0] * b8_1;
        acc_1_0 += a8_0[1] * b8_0;
        acc_1_1 += a8_0[1] * b8_1;
        acc_2_0 += a8_0[2] * b8_0;
        acc_2_1 += a8_0[2] * b8_1;
        acc_3_0 += a8_0[3] * b8_0;
        acc_3_1 += a8_0[3] * b8_1;
        acc_4_0 += a8_1[0] * b8_0;
        acc_4_1 += a8_1[0] * b8_1;
        acc_5_0 += a8_1[1] * b8_0;
        acc_5_1 += a8_1[1] * b8_1;
        acc_6_0 += a8_1[2] * b8_0;
        acc_6_1 += a8_1[2] * b8_1;
        acc_7_0 += a8_1[3] * b8_0;
        acc_7_1 += a8_1[3] * b8_1;
        let a9_0 = a_tile[153u + a_at];
        let a9_1 = a_tile[161u + a_at];
        let b9_0 = b_tile[153u + b_at];
        let b9_1 = b_tile[161u + b_at];
        acc_0_0 += a9_0[0] * b9_0;
        acc_0_1 += a9_0[0] * b9_1;
        acc_1_0 += a9_0[1] * b9_0;
        acc_1_1 += a9_0[1] * b9_1;
        acc_2_0 += a9_0[2] * b9_0;
        acc_2_1 += a9_0[2] * b9_1;
        acc_3_0 += a9_0[3] * b9_0;
        acc_3_1 += a9_0[3] * b9_1;
        acc_4_0 += a9_1[0] * b9_0;
        acc_4_1 += a9_1[0] * b9_1;
        acc_5_0 += a9_1[1] * b9_0;
        acc_5_1 += a9_1[1] * b9_1;
        acc_6_0 += a9_1[2] * b9_0;
        acc_6_1 += a9_1[2] * b9_1;
        acc_7_0 += a9_1[3] * b9_0;
        acc_7_1 += a9_1[3] * b9_1;
        let a10_0 = a_tile[170u + a_at];
        let a10_1 = a_tile[178u + a_at];
        let b10_0 = b_tile[170u + b_at];
        let b10_1 = b_tile[178u + b_at];
        acc_0_0 += a10_0[0] * b10_0;
        acc_0_1 += a10_0[0] * b10_1;
        acc_1_0 += a10_0[1] * b10_0;
        acc_1_1 += a10_0[1] * b10_1;
        acc_2_0 += a10_0[2] * b10_0;
        acc_2_1 += a10_0[2] * b10_1;
        acc_3_0 += a10_0[3] * b10_0;
        acc_3_1 += a10_0[3] * b10_1;
        acc_4_0 += a10_1[0] * b10_0;
        acc_4_1 += a10_1[0] * b10_1;
        acc_5_0 += a10_1[1] * b10_0;
        acc_5_1 += a10_1[1] * b10_1;
        acc_6_0 += a10_1[2] * b10_0;
        acc_6_1 += a10_1[2] * b10_1;
        acc_7_0 += a10_1[3] * b10_0;
        acc_7_1 += a10_1[3] * b10_1;
        let a11_0 = a_tile[187u + a_at];
        let a11_1 = a_tile[195u + a_at];
        let b11_0 = b_tile[187u + b_at];
        let b11_1 = b_tile[195u + b_at];
        acc_0_0 += a11_0[0] * b11_0;
        acc_0_1 += a11_0[0] * b11_1;
        acc_1_0 += a11_0[1] * b11_0;
        acc_1_1 += a11_0[1] * b11_1;
        acc_2_0 += a11_0[2] * b11_0;
        acc_2_1 += a11_0[2] * b11_1;
        acc_3_0 += a11_0[3] * b11_0;
        acc_3_1 += a11_0[3] * b11_1;
        acc_4_0 += a11_1[0] * b11_0;
        acc_4_1 += a11_1[0] * b11_1;
        acc_5_0 += a11_1[1] * b11_0;
        acc_5_1 += a11_1[1] * b11_1;
        acc_6_0 += a11_1[2] * b11_0;
        acc_6_1 += a11_1[2] * b11_1;
        acc_7_0 += a11_1[3] * b11_0;
        acc_7_1 += a11_1[3] * b11_1;
        let a12_0 = a_tile[204u + a_at];
        let a12_1 = a_tile[212u + a_at];
        let b12_0 = b_tile[204u + b_at];
        let b12_1 = b_tile[212u + b_at];
        acc_0_0 += a12_0[0] * b12_0;
        acc_0_1 += a12_0[0] * b12_1;
        acc_1_0 += a12_0[1] * b12_0;
        acc_1_1 += a12_0[1] * b12_1;
        acc_2_0 += a12_0[2] * b12_0;
        acc_2_1 += a12_0[2] * b12_1;
        acc_3_0 += a12_0[3] * b12_0;
        acc_3_1 += a12_0[3] * b12_1;
        acc_4_0 += a12_1[0] * b12_0;
        acc_4_1 += a12_1[0] * b12_1;
        acc_5_0 += a12_1[1] * b12_0;
        acc_5_1 += a12_1[1] * b12_1;
        acc_6_0 += a12_1[2] * b12_0;
        acc_6_1 += a12_1[2] * b12_1;
        acc_7_0 += a12_1[3] * b12_0;
        acc_7_1 += a12_1[3] * b12_1;
        let a13_0 = a_tile[221u + a_at];
        let a13_1 = a_tile[229u + a_at];
        let b13_0 = b_tile[221u + b_at];
        let b13_1 = b_tile[229u + b_at];
        acc_0_0 += a13_0[0] * b13_0;
        acc_0_1 += a13_0[0] * b13_1;
        acc_1_0 += a13_0[1] * b13_0;
        acc_1_1 += a13_0[1] * b13_1;
        acc_2_0 += a13_0[2] * b13_0;
        acc_2_1 += a13_0[2] * b13_1;
        acc_3_0 += a13_0[3] * b13_0;
        acc_3_1 += a13_0[3] * b13_1;
        acc_4_0 += a13_1[0] * b13_0;
        acc_4_1 += a13_1[0] * b13_1;
        acc_5_0 += a13_1[1] * b13_0;
        acc_5_1 += a13_1[1] * b13_1;
        acc_6_0 += a13_1[2] * b13_0;
        acc_6_1 += a13_1[2] * b13_1;
        acc_7_0 += a13_1[3] * b13_0;
        acc_7_1 += a13_1[3] * b13_1;
        let a14_0 = a_tile[238u + a_at];
        let a14_1 = a_tile[246u + a_at];
        let b14_0 = b_tile[238u + b_at];
        let b14_1 = b_tile[246u + b_at];
        acc_0_0 += a14_0[0] * b14_0;
        acc_0_1 += a14_0[0] * b14_1;
        acc_1_0 += a14_0[1] * b14_0;
        acc_1_1 += a14_0[1] * b14_1;
        acc_2_0 += a14_0[2] * b14_0;
        acc_2_1 += a14_0[2] * b14_1;
        acc_3_0 += a14_0[3] * b14_0;
        acc_3_1 += a14_0[3] * b14_1;
        acc_4_0 += a14_1[0] * b14_0;
        acc_4_1 += a14_1[0] * b14_1;
        acc_5_0 += a14_1[1] * b14_0;
        acc_5_1 += a14_1[1] * b14_1;
        acc_6_0 += a14_1[2] * b14_0;
        acc_6_1 += a14_1[2] * b14_1;
        acc_7_0 += a14_1[3] * b14_0;
        acc_7_1 += a14_1[3] * b14_1;
        let a15_0 = a_tile[255u + a_at];
        let a15_1 = a_tile[263u + a_at];
        let b15_0 = b_tile[255u + b_at];
        let b15_1 = b_tile[263u + b_at];
        acc_0_0 += a15_0[0] * b15_0;
        acc_0_1 += a15_0[0] * b15_1;
        acc_1_0 += a15_0[1] * b15_0;
        acc_1_1 += a15_0[1] * b15_1;
        acc_2_0 += a15_0[2] * b15_0;
        acc_2_1 += a15_0[2] * b15_1;
        acc_3_0 += a15_0[3] * b15_0;
        acc_3_1 += a15_0[3] * b15_1;
        acc_4_0 += a15_1[0] * b15_0;
        acc_4_1 += a15_1[0] * b15_1;
        acc_5_0 += a15_1[1] * b15_0;
        acc_5_1 += a15_1[1] * b15_1;
        acc_6_0 += a15_1[2] * b15_0;
        acc_6_1 += a15_1[2] * b15_1;
        acc_7_0 += a15_1[3] * b15_0;
        acc_7_1 += a15_1[3] * b15_1;
        workgroupBarrier();
    }
    }
    store(split, row0 + 0u + ty * 4u, col0 + 0u + tx * 4u, acc_0_0[0]);
    store(split, row0 + 0u + ty * 4u, col0 + 1u + tx * 4u, acc_0_0[1]);
    store(split, row0 + 0u + ty * 4u, col0 + 2u + tx * 4u, acc_0_0[2]);
    store(split, row0 + 0u + ty * 4u, col0 + 3u + tx * 4u, acc_0_0[3]);
    store(split, row0 + 0u + ty * 4u, col0 + 32u + tx * 4u, acc_0_1[0]);
    store(split, row0 + 0u + ty * 4u, col0 + 33u + tx * 4u, acc_0_1[1]);
    store(split, row0 + 0u + ty * 4u, col0 + 34u + tx * 4u, acc_0_1[2]);
    store(split, row0 + 0u + ty * 4u, col0 + 35u + tx * 4u, acc_0_1[3]);
    store(split, row0 + 1u + ty * 4u, col0 + 0u + tx * 4u, acc_1_0[0]);
    store(split, row0 + 1u + ty * 4u, col0 + 1u + tx * 4u, acc_1_0[1]);
    store(split, row0 + 1u + ty * 4u, col0 + 2u + tx * 4u, acc_1_0[2]);
    store(split, row0 + 1u + ty * 4u, col0 + 3u + tx * 4u, acc_1_0[3]);
    store(split, row0 + 1u + ty * 4u, col0 + 32u + tx * 4u, acc_1_1[0]);
    store(split, row0 + 1u + ty * 4u, col0 + 33u + tx * 4u, acc_1_1[1]);
    store(split, row0 + 1u + ty * 4u, col0 + 34u + tx * 4u, acc_1_1[2]);
    store(split, row0 + 1u + ty * 4u, col0 + 35u + tx * 4u, acc_1_1[3]);
    store(split, row0 + 2u + ty * 4u, col0 + 0u + tx * 4u, acc_2_0[0]);
    store(split, row0 + 2u + ty * 4u, col0 + 1u + tx * 4u, acc_2_0[1]);
    store(split, row0 + 2u + ty * 4u, col0 + 2u + tx * 4u, acc_2_0[2]);
    store(split, row0 + 2u + ty * 4u, col0 + 3u + tx * 4u, acc_2_0[3]);
    store(split, row0 + 2u + ty * 4u, col0 + 32u + tx * 4u, acc_2_1[0]);
    store(split, row0 + 2u + ty * 4u, col0 + 33u + tx * 4u, acc_2_1[1]);
    store(split, row0 + 2u + ty * 4u, col0 + 34u + tx * 4u, acc_2_1[2]);
    store(split, row0 + 2u + ty * 4u, col0 + 35u + tx * 4u, acc_2_1[3]);
    store(split, row0 + 3u + ty * 4u, col0 + 0u + tx * 4u, acc_3_0[0]);
    store(split, row0 + 3u + ty * 4u, col0 + 1u + tx * 4u, acc_3_0[1]);
    store(split, row0 + 3u + ty * 4u, col0 + 2u + tx * 4u, acc_3_0[2]);
    store(split, row0 + 3u + ty * 4u, col0 + 3u + tx * 4u, acc_3_0[3]);
    store(split, row0 + 3u + ty * 4u, col0 + 32u + tx * 4u, acc_3_1[0]);
    store(split, row0 + 3u + ty * 4u, col0 + 33u + tx * 4u, acc_3_1[1]);
    store(split, row0 + 3u + ty * 4u, col0 + 34u + tx * 4u, acc_3_1[2]);
    store(split, row0 + 3u + ty * 4u, col0 + 35u + tx * 4u, acc_3_1[3]);
    store(split, row0 + 32u + ty * 4u, col0 + 0u + tx * 4u, acc_4_0[0]);
    store(split, row0 + 32u + ty * 4u, col0 + 1u + tx * 4u, acc_4_0[1]);
    store(split, row0 + 32u + ty * 4u, col0 + 2u + tx * 4u, acc_4_0[2]);
    store(split, row0 + 32u + ty * 4u, col0 + 3u + tx * 4u, acc_4_0[3]);
    store(split, row0 + 32u + ty * 4u, col0 + 32u + tx * 4u, acc_4_1[0]);
    store(split, row0 + 32u + ty * 4u, col0 + 33u + tx * 4u, acc_4_1[1]);
    store(split, row0 + 32u + ty * 4u, col0 + 34u + tx * 4u, acc_4_1[2]);
    store(split, row0 + 32u + ty * 4u, col0 + 35u + tx * 4u, acc_4_1[3]);
    store(split, row0 + 33u + ty * 4u, col0 + 0u + tx * 4u, acc_5_0[0]);
    store(split, row0 + 33u + ty * 4u, col0 + 1u + tx * 4u, acc_5_0[1]);
    store(split, row0 + 33u + ty * 4u, col0 + 2u + tx * 4u, acc_5_0[2]);
    store(split, row0 + 33u + ty * 4u, col0 + 3u + tx * 4u, acc_5_0[3]);
    store(split, row0 + 33u + ty * 4u, col0 + 32u + tx * 4u, acc_5_1[0]);
    store(split, row0 + 33u + ty * 4u, col0 + 33u + tx * 4u, acc_5_1[1]);
    store(split, row0 + 33u + ty * 4u, col0 + 34u + tx * 4u, acc_5_1[2]);
    store(split, row0 + 33u + ty * 4u, col0 + 35u + tx * 4u, acc_5_1[3]);
    store(split, row0 + 34u + ty * 4u, col0 + 0u + tx * 4u, acc_6_0[0]);
    store(split, row0 + 34u + ty * 4u, col0 + 1u + tx * 4u, acc_6_0[1]);
    store(split, row0 + 34u + ty * 4u, col0 + 2u + tx * 4u, acc_6_0[2]);
    store(split, row0 + 34u + ty * 4u, col0 + 3u + tx * 4u, acc_6_0[3]);
    store(split, row0 + 34u + ty * 4u, col0 + 32u + tx * 4u, acc_6_1[0]);
    store(split, row0 + 34u + ty * 4u, col0 + 33u + tx * 4u, acc_6_1[1]);
    store(split, row0 + 34u + ty * 4u, col0 + 34u + tx * 4u, acc_6_1[2]);
    store(split, row0 + 34u + ty * 4u, col0 + 35u + tx * 4u, acc_6_1[3]);
    store(split, row0 + 35u + ty * 4u, col0 + 0u + tx * 4u, acc_7_0[0]);
    store(split, row0 + 35u + ty * 4u, col0 + 1u + tx * 4u, acc_7_0[1]);
    store(split, row0 + 35u + ty * 4u, col0 + 2u + tx * 4u, acc_7_0[2]);
    store(split, row0 + 35u + ty * 4u, col0 + 3u + tx * 4u, acc_7_0[3]);
    store(split, row0 + 35u + ty * 4u, col0 + 32u + tx * 4u, acc_7_1[0]);
    store(split, row0 + 35u + ty * 4u, col0 + 33u + tx * 4u, acc_7_1[1]);
    store(split, row0 + 35u + ty * 4u, col0 + 34u + tx * 4u, acc_7_1[2]);
    store(split, row0 + 35u + ty * 4u, col0 + 35u + tx * 4u, acc_7_1[3]);

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
    var total: f32 = 0.0;
    for (var split = 0u; split < params.splits; split++) {
        total += partials[split * size + i];
    }
    c[i] = epilogue(i / params.n, i % params.n, total);

}

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
    conv_in_height: u32,
    conv_in_width: u32,
    conv_in_channels: u32,
    conv_out_height: u32,
    conv_out_width: u32,
    conv_out_channels: u32,
    conv_kernel_width: u32,
    conv_stride_h: u32,
    conv_stride_w: u32,
    conv_dilation_h: u32,
    conv_dilation_w: u32,
    conv_pad_top: u32,
    conv_pad_left: u32,
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

    return f32(value * relu_derivative(x, o, params.alpha));

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




// ops/gemm/im2col.wgsl: the implicit GEMM's operand gathers. A convolution's three GEMMs read
// their operands as matrices that are never stored (the im2col patches): each function below maps
// an element (row, col) of such a matrix to the index of the stored array that holds it, or -1
// where the matrix holds a zero (a tap in the padding, or, for the input gradient, no output pixel
// there). Each gather G is separable: G_row(row) and G_col(col) take the row's and the
// column's parts of the address apart once (their divisions), G_at(row part, col part) puts them
// together per element (adds and compares, and for output_patches a division by the stride), so
// a kernel that reuses a row's part over many columns (the subgroup kernel) pays the divisions
// once per row. gather_a / gather_b read the operand there (0 for -1). tiled.wgsl's load_a /
// load_b and subgroup.wgsl's loads call them instead of stepping by strides. Functions only:
// the Params fields (conv_*) are interface.wgsl's, present when a gather is.
//
// Geometry (NHWC, Keras kernel [KH, KW, C, F]): x [N, H, W, C], y [N, OH, OW, F]; output pixel
// (oh, ow) reads x at (oh·stride_h + kh·dilation_h - pad_top, ow·stride_w + kw·dilation_w -
// pad_left) for tap (kh, kw). Params: conv_in_height H, conv_in_width W, conv_in_channels C,
// conv_out_height OH, conv_out_width OW, conv_out_channels F, conv_kernel_width KW, conv_stride_h,
// conv_stride_w, conv_dilation_h, conv_dilation_w, conv_pad_top, conv_pad_left.
// Loop bound: no loops. Workgroup and grid: the including kernel's.
// NumPy (tests/reference.py's conv2d_forward / conv2d_backward, which the GEMMs' products
// equal): patches(p, t) = patches[p, t] of the [N·OH·OW, KH·KW·C] matrix; output_patches(q, j)
// = dY's [N·H·W, KH·KW·F] matrix whose product with kernel_transposed's [KH·KW·F, C] is dX.

// Forward, a(p, t): x at output pixel p = (n, oh, ow) for tap·channel t = (kh, kw, c). The row
// part: (x's index of (n, oh·sh - pad_top, ow·sw - pad_left, 0), that y, that x), the column's:
// (its offset from there, kh·dh, kw·dw); the tap lies in the image when y and x do.
fn patches_row(p: u32) -> vec4<i32> {
    let pixels = params.conv_out_height * params.conv_out_width;
    let pixel = p % pixels;
    let y = i32(pixel / params.conv_out_width * params.conv_stride_h) - i32(params.conv_pad_top);
    let x = i32(pixel % params.conv_out_width * params.conv_stride_w) - i32(params.conv_pad_left);
    let image = i32(p / pixels * params.conv_in_height);
    return vec4<i32>(((image + y) * i32(params.conv_in_width) + x) *
                     i32(params.conv_in_channels), y, x, 0);
}

fn patches_col(t: u32) -> vec4<i32> {
    let tap = t / params.conv_in_channels;
    let y = i32(tap / params.conv_kernel_width * params.conv_dilation_h);
    let x = i32(tap % params.conv_kernel_width * params.conv_dilation_w);
    return vec4<i32>((y * i32(params.conv_in_width) + x) * i32(params.conv_in_channels) +
                     i32(t % params.conv_in_channels), y, x, 0);
}

fn patches_at(row: vec4<i32>, col: vec4<i32>) -> i32 {
    // Negative y or x wrap to huge u32s: one compare per side.
    if (u32(row.y + col.y) >= params.conv_in_height || u32(row.z + col.z) >= params.conv_in_width) {
        return -1;
    }
    return row.x + col.x;
}

// Weight gradient, a(t, p) = patches(p, t): dW = patchesᵀ · dY.
fn patches_transposed_row(t: u32) -> vec4<i32> {
    return patches_col(t);
}

fn patches_transposed_col(p: u32) -> vec4<i32> {
    return patches_row(p);
}

fn patches_transposed_at(row: vec4<i32>, col: vec4<i32>) -> i32 {
    return patches_at(col, row);
}

// Input gradient, a(q, j): dY at the output pixel that tap j = (kh, kw, f) of input pixel
// q = (n, h, w) feeds, if one does: oh = (h + pad_top - kh·dh) / sh when that divides exactly
// and lies in [0, OH) (likewise ow). With h + pad_top = sh·qh + rh and kh·dh = sh·qk + rk, it
// divides exactly when rh = rk, and then oh = qh - qk: the divisions are the parts' (the
// remainders of both axes packed into one number, rh·sw + rw, compared at once).
// Row part: (dY's index of image n, qh, qw, rh·sw + rw); column part: (f, qk, ql, rk·sw + rl).
fn output_patches_row(q: u32) -> vec4<i32> {
    let pixels = params.conv_in_height * params.conv_in_width;
    let pixel = q % pixels;
    let image = q / pixels * params.conv_out_height * params.conv_out_width *
                params.conv_out_channels;
    return vec4<i32>(i32(image), strided(pixel / params.conv_in_width + params.conv_pad_top,
                                         pixel % params.conv_in_width + params.conv_pad_left));
}

fn output_patches_col(j: u32) -> vec4<i32> {
    let tap = j / params.conv_out_channels;
    return vec4<i32>(i32(j % params.conv_out_channels),
                     strided(tap / params.conv_kernel_width * params.conv_dilation_h,
                             tap % params.conv_kernel_width * params.conv_dilation_w));
}

// (y / sh, x / sw, (y mod sh)·sw + x mod sw)
fn strided(y: u32, x: u32) -> vec3<i32> {
    return vec3<i32>(i32(y / params.conv_stride_h), i32(x / params.conv_stride_w),
                     i32(y % params.conv_stride_h * params.conv_stride_w +
                         x % params.conv_stride_w));
}

fn output_patches_at(row: vec4<i32>, col: vec4<i32>) -> i32 {
    let oh = u32(row.y - col.y);  // negative: a huge u32, past OH
    let ow = u32(row.z - col.z);
    if (row.w != col.w || oh >= params.conv_out_height || ow >= params.conv_out_width) {
        return -1;
    }
    return row.x + i32((oh * params.conv_out_width + ow) * params.conv_out_channels) + col.x;
}

// Input gradient, b(j, c): the kernel read as [KH·KW·F, C], kernel[kh, kw, c, f] for
// j = (kh, kw, f): row part (kh·KW + kw)·C·F + f, column part c·F, always inside, their sum the
// address: with F a multiple of 4, the four k's from a multiple of 4 lie side by side (one
// 16-byte load at row part .x + column part .x, the subgroup kernel's b4 reads).
fn kernel_transposed_row(j: u32) -> vec4<i32> {
    let tap = j / params.conv_out_channels;
    return vec4<i32>(i32(tap * params.conv_in_channels * params.conv_out_channels +
                         j % params.conv_out_channels), 0, 0, 0);
}

fn kernel_transposed_col(c: u32) -> vec4<i32> {
    return vec4<i32>(i32(c * params.conv_out_channels), 0, 0, 0);
}

fn kernel_transposed_at(row: vec4<i32>, col: vec4<i32>) -> i32 {
    return row.x + col.x;
}

// Operand a's element at a row part and a column part of its gather (0 where it says -1).
fn gather_a(row: vec4<i32>, col: vec4<i32>) -> f32 {
    let at = output_patches_at(row, col);
    return select(f32(0.0), a[max(at, 0)], at >= 0);
}

// Operand b's likewise.
fn gather_b(row: vec4<i32>, col: vec4<i32>) -> f32 {
    let at = kernel_transposed_at(row, col);
    return select(f32(0.0), b[max(at, 0)], at >= 0);
}

