// optimizers.wgsl: parameter updates over the model's flat parameter buffer: one dispatch
// updates every parameter of the model. Formulas are PyTorch's (torch.optim, 2.x docs).
// Parameters, gradients, state and arithmetic are f32, the accumulate type (f32
// for float32 and mixed_float16, f64 for float64). With dtype f16 (mixed_float16) θ is the f32
// master weight: each invocation also writes θ rounded to f16 into compute_parameters (what the
// layers bind), skips the whole step while the loss-scale flag is set (engine/loss_scale.wgsl),
// and uses g / scale.
//
// Bindings (group 0), by variable name; each entry binds only what it uses:
//   0 gradients           read        f32  [count]  g = dL/dθ, laid out like parameters
//   1 step_in             read        u32          [1]      updates done so far (Adam's t - 1)
//   2 parameters          read_write  f32  [count]  θ, updated in place
//   3 first_moment        read_write  f32  [count]  velocity / m / Σg², per optimizer
//   4 second_moment       read_write  f32  [count]  v (Adam, AdamW)
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
    learning_rate: f32,
    momentum: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    one_minus_beta_1: f32,
    one_minus_beta_2: f32,
    log_beta_1: f32,
    log_beta_2: f32,
}

@group(0) @binding(0) var<storage, read> gradients: array<f32>;
@group(0) @binding(1) var<storage, read> step_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> parameters: array<f32>;
@group(0) @binding(3) var<storage, read_write> first_moment: array<f32>;
@group(0) @binding(4) var<storage, read_write> second_moment: array<f32>;
@group(0) @binding(5) var<storage, read_write> step_out: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;


@group(0) @binding(9) var<storage, read_write> step_counter: array<u32>;

override workgroup_size: u32 = 256;

// Whether invocation i updates nothing: past the count, or in a step the loss scale skips.
fn idle(i: u32) -> bool {
    return i >= params.count;
}

// g = dL/dθ (with the loss scale divided out).
fn gradient(i: u32) -> f32 {
    return gradients[i];
}

// θ ← theta (and its f16 compute copy).
fn store(i: u32, theta: f32) {
    parameters[i] = theta;
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
fn adam_step(i: u32, decay: f32) {
    let t = f32(step_in[0] + 1u);
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


// optimizer_rules.wgsl: each optimizer's update of one parameter, written once (PyTorch's
// torch.optim formulas, listed in optimizers.wgsl's header). A library of functions, no entry
// points: optimizers.wgsl (one dispatch over the model's parameters) and engine/tiny_fit.wgsl
// (a whole fit in one workgroup) include it.
// Bindings: none. The includer declares a uniform `params` with the hyperparameter fields
// (learning_rate, momentum, epsilon, beta_1, beta_2, one_minus_beta_1, one_minus_beta_2,
// log_beta_1, log_beta_2) and includes gpu/math.wgsl (exponential) once. Workgroup and grid:
// the includer's. T = f32. Each rule takes θ, g and the parameter's state and
// returns the new values: θ first, then the state in the order given.

// sgd: θ ← θ - lr·g
fn sgd_rule(theta: f32, g: f32) -> f32 {
    return theta - params.learning_rate * g;
}

// momentum: b ← μ·b + g;  θ ← θ - lr·b. Returns (θ, b).
fn momentum_rule(theta: f32, g: f32, velocity: f32) -> vec2<f32> {
    let b = params.momentum * velocity + g;
    return vec2<f32>(theta - params.learning_rate * b, b);
}

// nesterov: b ← μ·b + g;  θ ← θ - lr·(g + μ·b). Returns (θ, b).
fn nesterov_rule(theta: f32, g: f32, velocity: f32) -> vec2<f32> {
    let b = params.momentum * velocity + g;
    return vec2<f32>(theta - params.learning_rate * (g + params.momentum * b), b);
}

// adagrad: s ← s + g²;  θ ← θ - lr·g / (√s + ε). Returns (θ, s).
fn adagrad_rule(theta: f32, g: f32, sum: f32) -> vec2<f32> {
    let total = sum + g * g;
    return vec2<f32>(theta - params.learning_rate * g / (sqrt(total) + params.epsilon), total);
}

// 1 - β^t = -expm1(t · log β) without the cancellation of 1 - pow(β, t): a Taylor series
// while |x| is small (relative error < 1e-9 for |x| < 0.1), exp(x) - 1 beyond.
fn one_minus_power(log_beta: f32, t: f32) -> f32 {
    let x = t * log_beta;
    if (abs(x) < 0.1) {
        return -x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0 *
               (1.0 + x / 6.0)))));
    }
    return 1.0 - exponential(x);
}

// adam (decay 0) and adamw (decay lr·λ), step t (1 for the first update):
// θ ← θ·(1 - decay); m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
// θ ← θ - lr·(m / (1-β1^t)) / (√(v / (1-β2^t)) + ε). Returns (θ, m, v).
fn adam_rule(theta: f32, g: f32, first: f32, second: f32,
             t: f32, decay: f32) -> vec3<f32> {
    let m = params.beta_1 * first + params.one_minus_beta_1 * g;
    let v = params.beta_2 * second + params.one_minus_beta_2 * g * g;
    let m_hat = m / one_minus_power(params.log_beta_1, t);
    let v_hat = v / one_minus_power(params.log_beta_2, t);
    let decayed = theta * (1.0 - decay);
    return vec3<f32>(decayed - params.learning_rate * m_hat / (sqrt(v_hat) + params.epsilon), m, v);
}

// gpu/grid.wgsl: the linear index of an invocation in a 1-D kernel whose grid was folded over x
// and y (intricate/gpu/program.py: fold_grid keeps each dimension within 65535 workgroups).
// Included at the end of a kernel file that declares `override workgroup_size: u32`.
// Bindings: none. Params: none. Callers skip indices past their logical size.
// NumPy: index = (group.x + group.y * groups.x) * workgroup_size + lane

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

// gpu/math.wgsl: exponential(x) and logarithm(x) in the kernel's accumulate type
// (f32): the builtins exp and log for f32, gpu/float64.wgsl's for f64 (the
// builtins are undefined on f64, see there). Kernels call these, never exp or log, so one
// template serves every dtype. Functions only: bindings, params, workgroup and grid are the
// including kernel's. NumPy: np.exp, np.log.


fn exponential(x: f32) -> f32 {
    return exp(x);
}

fn logarithm(x: f32) -> f32 {
    return log(x);
}


