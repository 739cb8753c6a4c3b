// dense.wgsl: the Dense layer. Forward y = x @ w + b and the three pieces of its backward:
// dX = dY @ wᵀ and dW = xᵀ @ dY through `matmul` (strides express the transposes), db = Σ dY.
//
// Bindings (group 0), by variable name; each entry point binds only what it uses:
//   0 a            read        {{ dtype }}  [m, k] read as a[row * a_row_stride + i * a_col_stride]
//   1 b            read        {{ dtype }}  [k, n] read as b[i * b_row_stride + col * b_col_stride]
//   2 bias         read        {{ dtype }}  [n]           (forward only)
//   3 grad_outputs read        {{ dtype }}  [m, n]        (sum_rows only)
//   4 c            read_write  {{ dtype }}  [m, n] row-major
//   5 grad_bias    read_write  {{ dtype }}  [n]           (sum_rows only)
//   6 params       uniform     Params
//
// forward, matmul: workgroup TILE×TILE ({{ tile }}×{{ tile }}), one invocation per output;
//   grid (ceil(n / TILE), ceil(m / TILE) folded over y and z). NumPy: c = a @ b (+ bias).
// sum_rows: workgroup `workgroup_size`, one workgroup per column j of grad_outputs, folded grid;
//   NumPy: grad_bias = grad_outputs.sum(axis=0).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    b_col_stride: u32,
}

@group(0) @binding(0) var<storage, read> a: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> b: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read> bias: array<{{ dtype }}>;
@group(0) @binding(3) var<storage, read> grad_outputs: array<{{ dtype }}>;
@group(0) @binding(4) var<storage, read_write> c: array<{{ dtype }}>;
@group(0) @binding(5) var<storage, read_write> grad_bias: array<{{ dtype }}>;
@group(0) @binding(6) var<uniform> params: Params;

const TILE: u32 = {{ tile }}u;
override workgroup_size: u32 = 256;

var<workgroup> a_tile: array<{{ dtype }}, TILE * TILE>;
var<workgroup> b_tile: array<{{ dtype }}, TILE * TILE>;
var<workgroup> partial_sums: array<{{ dtype }}, workgroup_size>;

// Σ_i a[row, i] * b[i, col] through TILE-wide slabs of a and b staged in workgroup memory.
// Every invocation of the workgroup must call it (it has barriers); rows/cols past the edge load
// zeros and their result is discarded by the caller.
fn tiled_product(row: u32, col: u32, local: vec2<u32>) -> {{ dtype }} {
    var sum: {{ dtype }} = 0.0;
    let slot = local.y * TILE + local.x;
    for (var start = 0u; start < params.k; start += TILE) {
        let a_col = start + local.x;
        var a_value: {{ dtype }} = 0.0;
        if (row < params.m && a_col < params.k) {
            a_value = a[row * params.a_row_stride + a_col * params.a_col_stride];
        }
        a_tile[slot] = a_value;
        let b_row = start + local.y;
        var b_value: {{ dtype }} = 0.0;
        if (b_row < params.k && col < params.n) {
            b_value = b[b_row * params.b_row_stride + col * params.b_col_stride];
        }
        b_tile[slot] = b_value;
        workgroupBarrier();
        for (var i = 0u; i < TILE; i++) {
            sum += a_tile[local.y * TILE + i] * b_tile[i * TILE + local.x];
        }
        workgroupBarrier();
    }
    return sum;
}

fn output_row(group: vec3<u32>, groups: vec3<u32>, local: vec2<u32>) -> u32 {
    return (group.y + group.z * groups.y) * TILE + local.y;
}

@compute @workgroup_size(TILE, TILE)
fn forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_id) local: vec3<u32>) {
    let row = output_row(group, groups, local.xy);
    let col = group.x * TILE + local.x;
    let sum = tiled_product(row, col, local.xy);
    if (row < params.m && col < params.n) {
        c[row * params.n + col] = sum + bias[col];
    }
}

@compute @workgroup_size(TILE, TILE)
fn matmul(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
          @builtin(local_invocation_id) local: vec3<u32>) {
    let row = output_row(group, groups, local.xy);
    let col = group.x * TILE + local.x;
    let sum = tiled_product(row, col, local.xy);
    if (row < params.m && col < params.n) {
        c[row * params.n + col] = sum;
    }
}

@compute @workgroup_size(workgroup_size)
fn sum_rows(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
             @builtin(local_invocation_index) lane: u32) {
    let col = group.x + group.y * groups.x;
    var sum: {{ dtype }} = 0.0;
    if (col < params.n) {
        for (var row = lane; row < params.m; row += workgroup_size) {
            sum += grad_outputs[row * params.n + col];
        }
    }
    partial_sums[lane] = sum;
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_sums[lane] += partial_sums[lane + stride];
        }
        workgroupBarrier();
    }
    if (lane == 0u && col < params.n) {
        grad_bias[col] = partial_sums[0];
    }
}
