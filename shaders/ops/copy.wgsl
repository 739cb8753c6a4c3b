// ops/copy.wgsl: a plain copy, the bandwidth roofline of `intricate bench` (the fastest a kernel
// that reads and writes each byte once can go on this adapter). No layer uses it.
//
// Bindings (group 0), by variable name:
//   0 source       read        vec4<f32>  [count]  16-byte elements: one load per invocation
//   1 destination  read_write  vec4<f32>  [count]
//   2 params       uniform     Params
// Params: count = vec4s to copy (a quarter of the floats).
// copy: workgroup `workgroup_size` (1-D), one invocation per vec4, grid folded over x and y
//   (intricate/gpu/program.py's fold_grid). Loop bound: no loops, whatever the size.
// NumPy: destination = source.copy()

struct Params {
    count: u32,
}

@group(0) @binding(0) var<storage, read> source: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> destination: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

override workgroup_size: u32 = 256;

@compute @workgroup_size(workgroup_size)
fn copy(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    destination[i] = source[i];
}

{% include "gpu/grid.wgsl" %}
