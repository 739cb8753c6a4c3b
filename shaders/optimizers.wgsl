// optimizers.wgsl: parameter updates over the model's flat parameter buffer: one dispatch
// updates every parameter of the model. Formulas are PyTorch's (torch.optim, 2.x docs).
// Parameters, gradients, state and arithmetic are {{ accumulate }}, the accumulate type (f32
// for float32 and mixed_float16, f64 for float64). With dtype f16 (mixed_float16) θ is the f32
// master weight: each invocation also writes θ rounded to f16 into compute_parameters (what the
// layers bind), skips the whole step while the loss-scale flag is set (engine/loss_scale.wgsl),
// and uses g / scale.
//
// Bindings (group 0), by variable name; each entry binds only what it uses:
//   0 gradients           read        {{ accumulate }}  [count]  g = dL/dθ, laid out like parameters
//   1 step_in             read        u32          [1]      updates done so far (Adam's t - 1)
//   2 parameters          read_write  {{ accumulate }}  [count]  θ, updated in place
//   3 first_moment        read_write  {{ accumulate }}  [count]  velocity / m / Σg², per optimizer
//   4 second_moment       read_write  {{ accumulate }}  [count]  v (Adam, AdamW)
//   5 step_out            read_write  u32          [1]      t, moved into step_in by advance_step
//   6 params              uniform     Params
//   7 compute_parameters  read_write  f16          [count]  f16(θ) (dtype f16 only)
//   8 loss_scaling        read        u32          [4]      scale bits, -, -, skip flag (f16 only)
//   9 step_counter        read_write  u32          [1]      step_in's buffer (advance_step only)
// Params: count = elements; the optimizer's hyperparameters (unused ones are 0). For Adam the
//   host also passes 1 - β and log β in float64-rounded form: 1 - β2 computed in f32 from an f32
//   β2 = 0.999 is off by 1e-5 relative, and so would be 1 - β2^t.
// Workgroup `workgroup_size` (1-D), one invocation per element, grid folded over x and y.
// Loop bound: no loops, whatever the parameter count (llvmpipe stops loops at 65535).
// Each update's formula is optimizer_rules.wgsl's (included), shared with engine/tiny_fit.wgsl.
//   sgd:       θ ← θ - lr·g
//   momentum:  b ← μ·b + g;  θ ← θ - lr·b                       (SGD momentum, dampening 0)
//   nesterov:  b ← μ·b + g;  θ ← θ - lr·(g + μ·b)               (SGD nesterov=True)
//   adagrad:   s ← s + g²;   θ ← θ - lr·g / (√s + ε)
//   adam:      m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
//              θ ← θ - lr·(m / (1-β1^t)) / (√(v / (1-β2^t)) + ε)
//   adamw:     θ ← θ - lr·λ·θ, then the adam update             (decoupled weight decay)
//   compute_copy (dtype f16 only): compute_parameters = f16(θ) (after θ is restored)
//   advance_step: step_counter = step_out (one invocation, grid (1, 1, 1), after adam/adamw): a
//     dispatch rather than a buffer copy, so the epoch stays one compute pass (a copy per step
//     ended and began a pass every step: ~75 µs of host time per step on an H200's host)

struct Params {
    count: u32,
    learning_rate: {{ accumulate }},
    momentum: {{ accumulate }},
    beta_1: {{ accumulate }},
    beta_2: {{ accumulate }},
    epsilon: {{ accumulate }},
    weight_decay: {{ accumulate }},
    one_minus_beta_1: {{ accumulate }},
    one_minus_beta_2: {{ accumulate }},
    log_beta_1: {{ accumulate }},
    log_beta_2: {{ accumulate }},
}

@group(0) @binding(0) var<storage, read> gradients: array<{{ accumulate }}>;
@group(0) @binding(1) var<storage, read> step_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> parameters: array<{{ accumulate }}>;
@group(0) @binding(3) var<storage, read_write> first_moment: array<{{ accumulate }}>;
@group(0) @binding(4) var<storage, read_write> second_moment: array<{{ accumulate }}>;
@group(0) @binding(5) var<storage, read_write> step_out: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;
{% if dtype == "f16" %}@group(0) @binding(7) var<storage, read_write> compute_parameters: array<f16>;{% endif %}
{% if dtype == "f16" %}@group(0) @binding(8) var<storage, read> loss_scaling: array<u32>;{% endif %}
@group(0) @binding(9) var<storage, read_write> step_counter: array<u32>;

override workgroup_size: u32 = 256;

// Whether invocation i updates nothing: past the count, or in a step the loss scale skips.
fn idle(i: u32) -> bool {
    return i >= params.count{% if dtype == "f16" %} || loss_scaling[3] != 0u{% endif %};
}

// g = dL/dθ (with the loss scale divided out).
fn gradient(i: u32) -> {{ accumulate }} {
    return gradients[i]{% if dtype == "f16" %} / bitcast<f32>(loss_scaling[0]){% endif %};
}

// θ ← theta (and its f16 compute copy).
fn store(i: u32, theta: {{ accumulate }}) {
    parameters[i] = theta;{% if dtype == "f16" %} compute_parameters[i] = f16(theta);{% endif %}
}

@compute @workgroup_size(workgroup_size)
fn sgd(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
       @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (idle(i)) { return; }
    store(i, sgd_rule(parameters[i], gradient(i)));
}

@compute @workgroup_size(workgroup_size)
fn momentum(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (idle(i)) { return; }
    let updated = momentum_rule(parameters[i], gradient(i), first_moment[i]);
    first_moment[i] = updated.y;
    store(i, updated.x);
}

@compute @workgroup_size(workgroup_size)
fn nesterov(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (idle(i)) { return; }
    let updated = nesterov_rule(parameters[i], gradient(i), first_moment[i]);
    first_moment[i] = updated.y;
    store(i, updated.x);
}

@compute @workgroup_size(workgroup_size)
fn adagrad(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (idle(i)) { return; }
    let updated = adagrad_rule(parameters[i], gradient(i), first_moment[i]);
    first_moment[i] = updated.y;
    store(i, updated.x);
}

// The Adam step shared by adam and adamw; `decay` is lr·λ (0 for adam).
fn adam_step(i: u32, decay: {{ accumulate }}) {
    let t = {{ accumulate }}(step_in[0] + 1u);
    let updated = adam_rule(parameters[i], gradient(i), first_moment[i], second_moment[i], t,
                            decay);
    first_moment[i] = updated.y;
    second_moment[i] = updated.z;
    store(i, updated.x);
    if (i == 0u) {
        step_out[0] = step_in[0] + 1u;
    }
}

@compute @workgroup_size(workgroup_size)
fn adam(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (idle(i)) { return; }
    adam_step(i, 0.0);
}

@compute @workgroup_size(workgroup_size)
fn adamw(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
         @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (idle(i)) { return; }
    adam_step(i, params.learning_rate * params.weight_decay);
}

@compute @workgroup_size(1)
fn advance_step() {
    step_counter[0] = step_out[0];
}

{% if dtype == "f16" %}
@compute @workgroup_size(workgroup_size)
fn compute_copy(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    compute_parameters[i] = f16(parameters[i]);
}
{% endif %}
{% include "optimizer_rules.wgsl" %}
{% include "gpu/grid.wgsl" %}
{% include "gpu/math.wgsl" %}
