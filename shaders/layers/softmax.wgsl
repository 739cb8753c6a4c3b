// layers/softmax.wgsl: SoftMax over each row, forward beside backward. Followed by
// CategoricalCrossEntropy, the backward is skipped: the loss writes the fused gradient
// (see intricate/engine/plan.py and losses.wgsl's softmax_crossentropy).
//
// Bindings (group 0), by variable name:
//   0 inputs        read        {{ dtype }}  [rows, width]  forward only
//   1 grad_outputs  read        {{ dtype }}  [rows, width]  backward only: dE/dO
//   2 outputs       read_write  {{ dtype }}  [rows, width]  written by forward, read by backward
//   3 grad_inputs   read_write  {{ dtype }}  [rows, width]  backward only: dE/dI
//   4 params        uniform     Params
// Params: count = rows * width elements, width = row length.
// Workgroup `workgroup_size` (1-D); one invocation per row, grid folded over x and y.
// NumPy: o = np.exp(x - x.max(1, keepdims=True)); o /= o.sum(1, keepdims=True);
//   dE/dI = o * (dE/dO - (dE/dO * o).sum(1, keepdims=True)).

struct Params {
    count: u32,
    width: u32,
}

// Bindings: layers/activation_io.wgsl (included at the end).

override workgroup_size: u32 = 256;

// SoftMax over each row: o_j = exp(x_j - max x) / Σ_k exp(x_k - max x).
// Backward: dE/dI_j = o_j * (dE/dO_j - Σ_k dE/dO_k * o_k).
@compute @workgroup_size(workgroup_size)
fn forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
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
fn backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
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

{% include "layers/activation_io.wgsl" %}
{% include "gpu/grid.wgsl" %}
