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
//
// Bindings and Params: interface.wgsl's (a, b, a4/b4 for 16-byte loads of b when the layout
// allows, the epilogue's bias, activation_outputs, activation_inputs, pre_activations and
// grad_bias, c, params), and from texels
// 11 a_texels, 12 b_texels (texture_2d<f32>) instead of a, b, a4, b4; k_chunk and splits are
// unused: K is never split here.
// Grid: (ceil(N / (4 · W · {{ quads }})), ceil(M / R) folded over y and z). Loads clamp rows and
// columns into the matrices (what they fetch past the edge is never stored). From buffers the
// last K mod W values of k take a separate, checked path; from texels the last block runs past
// K with a's values there zeroed.
// NumPy: c = activation(a @ b + bias) for forward, c = a @ b for matmul.

const W: u32 = {{ width }}u;
const R: u32 = {{ rows }}u;
const BLOCK: u32 = {{ block }}u;  // k's per step of the main loop: W, or 4 · W from texels
const TEXEL_ROW: u32 = {{ texel_row }}u;

// Where texel ``index`` of a texels texture lies (gpu/texels.py: TEXEL_ROW texels per row).
fn texel(index: u32) -> vec2<u32> {
    return vec2<u32>(index % TEXEL_ROW, index / TEXEL_ROW);
}

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
    let last_k = params.k - 1u;
    let k_whole = {{ blocks_end }};
    for (var k0 = 0u; k0 < k_whole; k0 += BLOCK) {
{{ whole_steps }}
    }
    for (var i = k_whole; i < params.k; i++) {
{{ last_steps }}
    }
{{ stores }}
}

// The texel reads' operands (besides interface.wgsl's bindings): a and b copied into textures.
@group(0) @binding(11) var a_texels: texture_2d<f32>;
@group(0) @binding(12) var b_texels: texture_2d<f32>;

{% include "ops/gemm/interface.wgsl" %}
{% include "ops/gemm/epilogue.wgsl" %}
