// ops/gather.wgsl: assembling a mini-batch on the GPU from the resident dataset.
//
// Bindings (group 0), by variable name:
//   0 indices       read        u32          [rows]           sample numbers of this batch
//   1 source_x      read        f32  [samples, x_width]  the whole training inputs
//   2 source_y      read        f32  [samples, y_width]  the whole training targets
//   3 batch_x       read_write  f32  [rows, x_width]
//   4 batch_y       read_write  f32  [rows, y_width]
//   5 params        uniform     Params
// Params: rows, x_width, y_width.
// gather_rows: one invocation per column of a batch row, x's and y's columns side by side;
//   workgroup `workgroup_size`, grid (ceil(max(x_width, y_width) / workgroup_size), rows folded
//   over y and z), so no invocation divides (a u32 division per element is slow on a CPU).
//   NumPy: batch_x = source_x[indices]; batch_y = source_y[indices]
// Loop bound: no loops (one element per invocation), whatever the data size.

struct Params {
    rows: u32,
    x_width: u32,
    y_width: u32,
}

@group(0) @binding(0) var<storage, read> indices: array<u32>;
@group(0) @binding(1) var<storage, read> source_x: array<f32>;
@group(0) @binding(2) var<storage, read> source_y: array<f32>;
@group(0) @binding(3) var<storage, read_write> batch_x: array<f32>;
@group(0) @binding(4) var<storage, read_write> batch_y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

override workgroup_size: u32 = 256;

@compute @workgroup_size(workgroup_size)
fn gather_rows(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let column = group.x * workgroup_size + lane;
    let row = group.y + group.z * groups.y;
    if (row >= params.rows) {
        return;
    }
    let sample = indices[row];
    if (column < params.x_width) {
        batch_x[row * params.x_width + column] = source_x[sample * params.x_width + column];
    }
    if (column < params.y_width) {
        batch_y[row * params.y_width + column] = source_y[sample * params.y_width + column];
    }
}
