// optimizers.wgsl: parameter updates over the model's flat parameter buffer, one dispatch for
// every parameter of the model.
//
// Bindings (group 0), by variable name:
//   0 gradients   read        {{ dtype }}  [count]  dL/dθ, laid out like parameters
//   1 parameters  read_write  {{ dtype }}  [count]  θ, updated in place
//   2 params      uniform     Params
// Params: count = elements, learning_rate = the step size.
// Workgroup `workgroup_size` (1-D), one invocation per element, grid folded over x and y.
//   sgd: θ ← θ - learning_rate · dL/dθ   (NumPy: parameters -= learning_rate * gradients)

struct Params {
    count: u32,
    learning_rate: f32,
}

@group(0) @binding(0) var<storage, read> gradients: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read_write> parameters: array<{{ dtype }}>;
@group(0) @binding(2) var<uniform> params: Params;

override workgroup_size: u32 = 256;

@compute @workgroup_size(workgroup_size)
fn sgd(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
       @builtin(local_invocation_index) lane: u32) {
    let i = (group.x + group.y * groups.x) * workgroup_size + lane;
    if (i >= params.count) { return; }
    parameters[i] -= {{ dtype }}(params.learning_rate) * gradients[i];
}
