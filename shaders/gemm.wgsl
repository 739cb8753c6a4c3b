// gemm.wgsl: the register-blocked GEMM of the Dense layer, c = epilogue(a · b), for all three
// forms it needs (x·W forward, dY·Wᵀ input gradient, xᵀ·dY weight gradient): strides express the
// transposes, so no transposed copy is ever made.
//
// Bindings (group 0), by variable name (f32 only: the accumulators are f32):
//   0 a       read        f32  a(m, i) = a[m * a_row_stride + i * a_col_stride], [M, K]
//   1 b       read        f32  b(i, n) = b[i * b_row_stride + n * b_col_stride], [K, N]
//   7 a4, 8 b4            read        vec4<f32>    a and b again, for 16-byte loads of whole
//                                                  tiles when the layout allows (see gemm.py)
//   2 bias                read        f32  [N]     only when the epilogue adds a bias
//   3 activation_outputs  read        f32  [M, N]  only when the epilogue multiplies by an
//                                                  activation's derivative (dX of the layer
//                                                  above it: the activation's backward, fused)
//   4 c                   read_write  f32  [M, N]  row-major
//   5 grad_bias           read_write  f32  [N]     only with column sums: Σ_i b(i, n), the bias
//                                                  gradient beside dW = xᵀ·dY (b = dY)
//   6 params              uniform     Params
// Params: m, n, k and the four strides above.
// Workgroup S × S invocations (S = {{ side }}); each owns a TM × TN block of c laid out as
// (TM / 4) × (TN / 4) groups of 4 × 4 spaced 4·S apart, so its workgroup-memory reads are whole
// vec4s that neighbouring invocations take side by side. Block tile BM × BN = {{ bm }} × {{ bn }},
// K slab BK = {{ bk }}; a slab of a is stored k-major (a_tile[i][m]) like b's (b_tile[i][n]).
// Grid: (ceil(N / BN), ceil(M / BM) folded over y and z).
// NumPy: c = activation(a @ b + bias) for forward, c = a @ b for matmul.
// The generated code (fragment loads, FMAs, stores) is spliced in by intricate/gemm.py.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    b_col_stride: u32,
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

const BM: u32 = {{ bm }}u;
const BN: u32 = {{ bn }}u;
const BK: u32 = {{ bk }}u;

// Row strides of the slabs: BM or BN, plus 4 when the slab is written one k at a time.
const A_STRIDE: u32 = {{ a_stride }}u;
const B_STRIDE: u32 = {{ b_stride }}u;
// STAGES slabs of each (2: the pipelined loop fills one while the FMAs read the other).
const A_SLAB: u32 = BK * A_STRIDE / 4u;
const B_SLAB: u32 = BK * B_STRIDE / 4u;
var<workgroup> a_tile: array<vec4<f32>, {{ stages }}u * A_SLAB>;  // [(i * A_STRIDE + m) / 4][m % 4]
var<workgroup> b_tile: array<vec4<f32>, {{ stages }}u * B_SLAB>;  // [(i * B_STRIDE + n) / 4][n % 4]

// Edge tiles: zero outside the matrices, so partial tiles add nothing.
fn load_a(row: u32, i: u32) -> f32 {
    if (row < params.m && i < params.k) {
        return a[row * params.a_row_stride + i * params.a_col_stride];
    }
    return 0.0;
}

fn load_b(i: u32, col: u32) -> f32 {
    if (i < params.k && col < params.n) {
        return b[i * params.b_row_stride + col * params.b_col_stride];
    }
    return 0.0;
}

fn activate(x: f32) -> f32 {
    {{ activation }}
}

// The derivative of an activation from its output o (the backward epilogue's factor).
fn derivative(o: f32) -> f32 {
    {{ derivative }}
}

fn store(row: u32, col: u32, value: f32) {
    if (row < params.m && col < params.n) {
        c[row * params.n + col] = {{ epilogue }};
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
    let row0 = (group.y + group.z * groups.y) * BM;
    let col0 = group.x * BN;
{{ declare_accumulators }}
{{ declare_column_sums }}
{{ load_coordinates }}
    let inside = row0 + BM <= params.m && col0 + BN <= params.n;
{{ pipelined_loop }}
    for (var start = 0u; start < params.k; start += BK) {
        // Stage the slabs (neighbouring invocations read neighbouring addresses). Whole tiles,
        // the common case, skip the bounds checks; the test is uniform across the workgroup.
        if (inside && start + BK <= params.k) {
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
