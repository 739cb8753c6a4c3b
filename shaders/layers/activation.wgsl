// layers/activation.wgsl: one element-wise activation layer, forward and backward, calling the
// activation named by the template value `activation` from layers/activations.wgsl (included at
// the end). Used where the activation is not fused into a Dense layer's GEMM (see
// intricate/engine/plan.py): as the first layer, or after another activation.
//
// Bindings (group 0), by variable name:
//   0 inputs        read        {{ dtype }}  [count]  forward; backward too when inputs_kept
//   1 grad_outputs  read        {{ dtype }}  [count]  backward only: dE/dO
//   2 outputs       read_write  {{ dtype }}  [count]  written by forward, read by backward
//   3 grad_inputs   read_write  {{ dtype }}  [count]  backward only: dE/dI
//   4 params        uniform     Params
// Params: count (elements), alpha (the activation's hyperparameter, 0 when unused).
// Template: activation (a function name), inputs_kept (its derivative reads x, not only o).
// Workgroup `workgroup_size` (1-D); one invocation per element, grid folded over x and y.
// The formulas compute in {{ accumulate }} (f32 for f16 data), rounded to {{ dtype }} as stored.
// NumPy: forward o = f(x); backward dE/dI = dE/dO * f'(x, o).

struct Params {
    count: u32,
    alpha: {{ accumulate }},
}

// Bindings: layers/activation_io.wgsl (included at the end).

override workgroup_size: u32 = 256;

@compute @workgroup_size(workgroup_size)
fn forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    outputs[i] = {{ dtype }}({{ activation }}({{ accumulate }}(inputs[i]), params.alpha));
}

@compute @workgroup_size(workgroup_size)
fn backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let o = {{ accumulate }}(outputs[i]);
{% if inputs_kept %}
    let x = {{ accumulate }}(inputs[i]);
{% else %}
    let x = o;  // the derivative reads only o: no inputs kept
{% endif %}
    grad_inputs[i] = {{ dtype }}({{ accumulate }}(grad_outputs[i])
        * {{ activation }}_derivative(x, o, params.alpha));
}

{% include "layers/activations.wgsl" %}

{% include "layers/activation_io.wgsl" %}
{% include "gpu/grid.wgsl" %}
