// gemm_subgroup.wgsl: the Dense layer's GEMM for software adapters (llvmpipe/lavapipe), the same
// c = epilogue(a · b) with strided operands as gemm.wgsl, shaped for a CPU's SIMD lanes.
//
// Why a second kernel: llvmpipe runs a subgroup's invocations as the lanes of one SIMD vector,
// and (Mesa 22.3) loads every lane's element of a storage or workgroup buffer one at a time in a
// loop, so loads, not FMAs, set a GEMM's speed there; gemm.wgsl's workgroup-memory tiles cost two
// such loads per FMA. Here a workgroup is one subgroup of W = {{ width }} lanes, owning R = {{ rows }}
// rows of c and, per lane, {{ quads }} vec4s of columns (4 · W · {{ quads }} columns in all). For
// each W values of k, every lane loads a(row, k0 + lane) for its R rows, and the value of k0 + j
// reaches every lane by subgroupBroadcast(·, j), a register shuffle; only b is loaded per lane,
// each value feeding R FMAs.
//
// Bindings (group 0), by variable name, as in gemm.wgsl:
//   0 a, 1 b              read        f32  a(m, i) = a[m * a_row_stride + i * a_col_stride],
//                                          b(i, n) = b[i * b_row_stride + n * b_col_stride]
//   8 b4                  read        vec4<f32>  b again, for 16-byte loads when b is
//                                          row-major with N a multiple of 4 (see gemm_subgroup.py)
//   2 bias, 3 activation_outputs, 4 c, 5 grad_bias: the epilogues' arrays, as in gemm.wgsl
//   6 params              uniform     Params
// Grid: (ceil(N / (4 · W · {{ quads }})), ceil(M / R) folded over y and z). Loads clamp rows and
// columns into the matrices (what they fetch past the edge is never stored), so only the last
// K mod W values of k take a separate, checked path.
// NumPy: c = activation(a @ b + bias) for forward, c = a @ b for matmul.

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
@group(0) @binding(8) var<storage, read> b4: array<vec4<f32>>;

const W: u32 = {{ width }}u;
const R: u32 = {{ rows }}u;

{{ epilogue_functions }}

fn store(row: u32, col: u32, value: f32) {
    if (row < params.m && col < params.n) {
        c[row * params.n + col] = epilogue(row, col, value);
    }
}

@compute @workgroup_size({{ width }})
fn gemm(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
    let row0 = (group.y + group.z * groups.y) * R;
    let col0 = group.x * 4u * W * {{ quads }}u;
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
{{ declarations }}
    let k_whole = params.k - params.k % W;
    for (var k0 = 0u; k0 < k_whole; k0 += W) {
{{ whole_steps }}
    }
    for (var i = k_whole; i < params.k; i++) {
{{ last_steps }}
    }
{{ stores }}
}
