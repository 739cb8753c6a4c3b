// dense.wgsl: the Dense layer's bias gradient (its GEMMs are in gemm.wgsl).
//
// Bindings (group 0), by variable name:
//   0 grad_outputs  read        {{ dtype }}  [rows, columns]  dE/dO of the layer
//   1 grad_bias     read_write  {{ dtype }}  [columns]        dE/db
//   2 params        uniform     Params
// Params: rows, columns.
// sum_rows: workgroup `workgroup_size` (a power of two), one workgroup per column, grid folded
//   over x and y; each lane sums a strided share of the column, then a tree reduction.
//   NumPy: grad_bias = grad_outputs.sum(axis=0)

struct Params {
    rows: u32,
    columns: u32,
}

@group(0) @binding(0) var<storage, read> grad_outputs: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read_write> grad_bias: array<{{ dtype }}>;
@group(0) @binding(2) var<uniform> params: Params;

override workgroup_size: u32 = 256;
var<workgroup> partial_sums: array<{{ dtype }}, workgroup_size>;

@compute @workgroup_size(workgroup_size)
fn sum_rows(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let col = group.x + group.y * groups.x;
    var sum: {{ dtype }} = 0.0;
    if (col < params.columns) {
        for (var row = lane; row < params.rows; row += workgroup_size) {
            sum += grad_outputs[row * params.columns + col];
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
    if (lane == 0u && col < params.columns) {
        grad_bias[col] = partial_sums[0];
    }
}
