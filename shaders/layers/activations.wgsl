// layers/activations.wgsl: element-wise activations and SoftMax, each forward beside its backward.
//
// Bindings (group 0), by variable name:
//   0 inputs        read        {{ dtype }}  [rows, width]  forward only
//   1 grad_outputs  read        {{ dtype }}  [rows, width]  backward only: dE/dO
//   2 outputs       read_write  {{ dtype }}  [rows, width]  written by forward, read by backward
//   3 grad_inputs   read_write  {{ dtype }}  [rows, width]  backward only: dE/dI
//   4 params        uniform     Params
// Params: count = rows * width elements, width = row length (SoftMax's rows).
// Workgroup `workgroup_size` (1-D). Grid folded over x and y (see program.fold_grid):
//   element kernels: one invocation per element; softmax_*: one invocation per row.
// The backward kernels use the outputs, not the inputs: every derivative here is a function of
// the activation's own output, so the forward inputs need not be kept.

struct Params {
    count: u32,
    width: u32,
}

@group(0) @binding(0) var<storage, read> inputs: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> grad_outputs: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read_write> outputs: array<{{ dtype }}>;
@group(0) @binding(3) var<storage, read_write> grad_inputs: array<{{ dtype }}>;
@group(0) @binding(4) var<uniform> params: Params;

override workgroup_size: u32 = 256;

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

// TanH: o = tanh(x), computed from exp(-2|x|) so large |x| gives ±1, never NaN.
// Backward: dE/dI = dE/dO * (1 - o²).
@compute @workgroup_size(workgroup_size)
fn tanh_forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let x = inputs[i];
    let t = exp(-2.0 * abs(x));
    outputs[i] = sign(x) * (1.0 - t) / (1.0 + t);
}

@compute @workgroup_size(workgroup_size)
fn tanh_backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let o = outputs[i];
    grad_inputs[i] = grad_outputs[i] * (1.0 - o * o);
}

// Sigmoid: o = 1 / (1 + exp(-x)), evaluated on the side where exp can't overflow.
// Backward: dE/dI = dE/dO * o * (1 - o).
@compute @workgroup_size(workgroup_size)
fn sigmoid_forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let x = inputs[i];
    let e = exp(-abs(x));
    outputs[i] = select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

@compute @workgroup_size(workgroup_size)
fn sigmoid_backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let o = outputs[i];
    grad_inputs[i] = grad_outputs[i] * o * (1.0 - o);
}

// ReLU: o = max(x, 0). Backward: dE/dI = dE/dO where o > 0, else 0 (0 at x = 0, like PyTorch).
@compute @workgroup_size(workgroup_size)
fn relu_forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    outputs[i] = max(inputs[i], 0.0);
}

@compute @workgroup_size(workgroup_size)
fn relu_backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    grad_inputs[i] = select(0.0, grad_outputs[i], outputs[i] > 0.0);
}

// SoftMax over each row: o_j = exp(x_j - max x) / Σ_k exp(x_k - max x).
// Backward: dE/dI_j = o_j * (dE/dO_j - Σ_k dE/dO_k * o_k).
@compute @workgroup_size(workgroup_size)
fn softmax_forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) lane: u32) {
    let row = invocation(group, groups, lane);
    if (row * params.width >= params.count) { return; }
    let start = row * params.width;
    var largest = inputs[start];
    for (var j = 1u; j < params.width; j++) {
        largest = max(largest, inputs[start + j]);
    }
    var total: {{ dtype }} = 0.0;
    for (var j = 0u; j < params.width; j++) {
        let e = exp(inputs[start + j] - largest);
        outputs[start + j] = e;
        total += e;
    }
    for (var j = 0u; j < params.width; j++) {
        outputs[start + j] /= total;
    }
}

@compute @workgroup_size(workgroup_size)
fn softmax_backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let row = invocation(group, groups, lane);
    if (row * params.width >= params.count) { return; }
    let start = row * params.width;
    var dot: {{ dtype }} = 0.0;
    for (var j = 0u; j < params.width; j++) {
        dot += grad_outputs[start + j] * outputs[start + j];
    }
    for (var j = 0u; j < params.width; j++) {
        grad_inputs[start + j] = outputs[start + j] * (grad_outputs[start + j] - dot);
    }
}
