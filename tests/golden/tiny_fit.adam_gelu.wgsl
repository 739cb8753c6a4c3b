// engine/tiny_fit.wgsl: many training steps of a tiny Dense model in ONE workgroup, whole epochs
// per dispatch (intricate/engine/tiny.py decides which fits qualify and records the dispatch).
// Every step: gather the batch by the epoch's permutation → each Dense layer's forward with its
// element-wise activation → the loss, metrics and dL/dŷ through the last activation → each
// layer's dW, db and dX (times the derivative of the activation below) → the optimizer's update;
// after an epoch's last step its statistics row goes to the log, as finish_epoch writes it.
// Parameters, gradients, optimizer state and activations live in workgroup memory for the whole
// dispatch (loaded at its start, stored at its end); phases are separated by workgroupBarrier.
//
// Bindings (group 0), by variable name:
//    0 source_x       read        f32  [samples, inputs]   the resident training inputs
//    1 source_y       read        f32  [samples, outputs]  and targets
//    2 orders         read        u32  [epochs, samples]  each epoch's permutation (shuffled only)
//    3 parameters     read_write  f32  [count]  θ, the model's flat parameters
//    4 gradients      read_write  f32  [count]  the last step's dL/dθ, stored at the end
//    5 first_moment   read_write  f32  [count]  velocity / m / Σg² (moments >= 1)
//    6 second_moment  read_write  f32  [count]  v (moments == 2)
//    7 step_in        read_write  u32  [1]  Adam's updates done (t), kept as optimizers.wgsl
//    8 step_out       read_write  u32  [1]  keeps it, both equal after the dispatch (Adam only)
//    9 statistics     read_write  f32  [SIZE]  the running sums (ops/statistics.py's
//                                              layout); the TRAINING slot is added to
//   10 epoch_log      read_write  f32  [epochs, SIZE]  one row of means per epoch
//   11 cursor         read_write  u32  [4]  (next step, steps in this window, first log row, -):
//                                           each dispatch runs the next steps_per_dispatch steps
//                                           of the window and advances word 0
//   12 params         uniform     Params
// Params: samples; batch_size (rows of a full batch); steps_per_epoch; steps_per_dispatch (the
//   loop bound below); shuffled (0: batches in sample order, orders unused); accuracy (losses.wgsl's
//   flags: 1 binary, 2 categorical); mean_factor, full_scale, last_scale (losses.py's mean_factor
//   and gradient_scale for a full and for the epoch's last batch, rounded from float64); the
//   optimizer's hyperparameters, as optimizers.wgsl takes them.
// Template: layers = ((inputs, outputs, kernel offset, bias offset, activation, alpha,
//   inputs_kept), ...) per Dense layer and the activation after it ("identity" for none);
//   parameter_count; batch_size; moments (0-2); optimizer (an optimizer_rules.wgsl rule: sgd,
//   momentum, nesterov, adagrad, adam, adamw); loss (a loss_terms.wgsl function); softmax (a
//   SoftMax after the last layer, whose gradient categorical_crossentropy fuses: the last
//   layer's activation is then "identity"); slot, size (ops/statistics.py's SLOT and SIZE).
// Workgroup `workgroup_size` lanes (1-D), grid (1, 1, 1): one workgroup does everything.
// Loop bound (llvmpipe stops loops after 65535 iterations per invocation, all loops together):
//   a lane iterates at most tiny.py's step_trips per step, plus the loads and stores of the
//   dispatch; steps_per_dispatch keeps the total within intricate/ops/loops.py's LOOP_BOUND.
// NumPy (tests/test_tiny_fit.py's reference): per step, x = X[order[batch]], o_l = f_l(o_{l-1} @
//   W_l + b_l) (the last: softmax with `softmax`); d = dL/dŷ · f'(last) (or (ŷ·Σy - y) / batch); dW_l = o_{l-1}ᵀ d, db_l = d.sum(0),
//   d ← (d @ W_lᵀ) · f'_{l-1}; θ ← rule(θ, g); sums += losses.wgsl's batch sums;
//   epoch end: log[row] = sums / samples (statistics.epoch_means), sums = 0.

struct Params {
    samples: u32,
    batch_size: u32,
    steps_per_epoch: u32,
    steps_per_dispatch: u32,
    shuffled: u32,
    accuracy: u32,
    mean_factor: f32,
    full_scale: f32,
    last_scale: f32,
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

@group(0) @binding(0) var<storage, read> source_x: array<f32>;
@group(0) @binding(1) var<storage, read> source_y: array<f32>;
@group(0) @binding(2) var<storage, read> orders: array<u32>;
@group(0) @binding(3) var<storage, read_write> parameters: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradients: array<f32>;
@group(0) @binding(5) var<storage, read_write> first_moment: array<f32>;
@group(0) @binding(6) var<storage, read_write> second_moment: array<f32>;
@group(0) @binding(7) var<storage, read_write> step_in: array<u32>;
@group(0) @binding(8) var<storage, read_write> step_out: array<u32>;
@group(0) @binding(9) var<storage, read_write> statistics: array<f32>;
@group(0) @binding(10) var<storage, read_write> epoch_log: array<f32>;
@group(0) @binding(11) var<storage, read_write> cursor: array<u32>;
@group(0) @binding(12) var<uniform> params: Params;

override workgroup_size: u32 = 64;
const PARAMETERS: u32 = 32u;
const ROWS: u32 = 4u;

const INPUTS: u32 = 3u;
const OUTPUTS: u32 = 2u;
const SIZE: u32 = 10u;  // the statistics layout's (intricate/ops/statistics.py)
const SLOT: u32 = 4u;

var<workgroup> theta: array<f32, PARAMETERS>;
var<workgroup> grad: array<f32, PARAMETERS>;
var<workgroup> moment_1: array<f32, PARAMETERS>;
var<workgroup> moment_2: array<f32, PARAMETERS>;
var<workgroup> batch_inputs: array<f32, ROWS * INPUTS>;
var<workgroup> batch_targets: array<f32, ROWS * OUTPUTS>;

// layer 0: x (kept when its activation's derivative reads it), o = f(x), dE/dx
var<workgroup> pre_0: array<f32, 20u>;
var<workgroup> out_0: array<f32, 20u>;
var<workgroup> delta_0: array<f32, 20u>;

// layer 1: x (kept when its activation's derivative reads it), o = f(x), dE/dx
var<workgroup> pre_1: array<f32, 1u>;
var<workgroup> out_1: array<f32, 8u>;
var<workgroup> delta_1: array<f32, 8u>;

var<workgroup> header: array<u32, 4>;

// The optimizer's update of parameter i from grad[i] (Adam's t: updates done, this one counted).
fn update(i: u32, t: u32) {

    let updated = adam_rule(theta[i], grad[i], moment_1[i], moment_2[i], f32(t),
                            0.0);
    theta[i] = updated.x;
    moment_1[i] = updated.y;
    moment_2[i] = updated.z;

}

@compute @workgroup_size(workgroup_size)
fn train(@builtin(local_invocation_index) lane: u32) {
    for (var i = lane; i < PARAMETERS; i += workgroup_size) {
        theta[i] = parameters[i];
        moment_1[i] = first_moment[i];
        moment_2[i] = second_moment[i];
    }
    if (lane == 0u) {
        header = array<u32, 4>(cursor[0], cursor[1], cursor[2],
                               step_in[0]);
    }
    let words = workgroupUniformLoad(&header);  // a barrier: theta is loaded too
    let first = words[0];
    let end = min(words[1], first + params.steps_per_dispatch);
    var t = words[3];
    // The running sums, lane 0's (the others' stay unused).
    var sums = vec4<f32>(0.0);
    if (lane == 0u) {
        sums = vec4<f32>(statistics[0], statistics[1], statistics[2], statistics[3]);
    }
    for (var step = first; step < end; step++) {
        let epoch = step / params.steps_per_epoch;
        let batch = step % params.steps_per_epoch;
        let start = batch * params.batch_size;
        let rows = min(params.batch_size, params.samples - start);
        let order_at = epoch * params.samples + start;
        // Gather: batch row r is sample orders[epoch, start + r] (start + r unshuffled).
        for (var e = lane; e < rows * INPUTS; e += workgroup_size) {
            let r = e / INPUTS;
            let sample = select(start + r, orders[order_at + r], params.shuffled != 0u);
            batch_inputs[e] = f32(source_x[sample * INPUTS + e % INPUTS]);
        }
        for (var e = lane; e < rows * OUTPUTS; e += workgroup_size) {
            let r = e / OUTPUTS;
            let sample = select(start + r, orders[order_at + r], params.shuffled != 0u);
            batch_targets[e] = f32(source_y[sample * OUTPUTS + e % OUTPUTS]);
        }
        workgroupBarrier();


        // layer 0 forward: o = f(x·W + b)
        for (var e = lane; e < rows * 5u; e += workgroup_size) {
            let r = e / 5u;
            let j = e % 5u;
            var acc: f32 = 0.0;
            for (var k = 0u; k < 3u; k++) {
                acc += batch_inputs[r * 3u + k] * theta[0u + k * 5u + j];
            }
            let x = acc + theta[15u + j];
            pre_0[e] = x;
            out_0[e] = gelu(x, 0.0);
        }
        workgroupBarrier();


        // layer 1 forward: o = f(x·W + b)
        for (var e = lane; e < rows * 2u; e += workgroup_size) {
            let r = e / 2u;
            let j = e % 2u;
            var acc: f32 = 0.0;
            for (var k = 0u; k < 5u; k++) {
                acc += out_0[r * 5u + k] * theta[20u + k * 2u + j];
            }
            let x = acc + theta[30u + j];
            out_1[e] = sigmoid(x, 0.0);
        }
        workgroupBarrier();



        // The loss: the batch's sums (as losses.wgsl's group_sums) and dE/dx of the last layer.
        let scale = select(params.full_scale, params.last_scale, batch + 1u == params.steps_per_epoch);
        var share = vec4<f32>(0.0);
        for (var e = lane; e < rows * OUTPUTS; e += workgroup_size) {
            let p = out_1[e];
            let y = batch_targets[e];
            let terms = binary_crossentropy(p, y);
            share.x += terms.x;
            share.y += select(f32(0.0), 1.0, select(f32(0.0), 1.0, p > 0.5) == y);
            share.z += abs(p - y);

            let x = p;
            delta_1[e] = terms.y * scale * sigmoid_derivative(x, p, 0.0);

        }
        share = vec4<f32>(share.x * params.mean_factor, share.yz / f32(OUTPUTS), 0.0);
        share.y = select(0.0, share.y, (params.accuracy & 1u) != 0u);
        if ((params.accuracy & 2u) != 0u) {  // argmax ŷ == argmax y, a row per lane
            for (var r = lane; r < rows; r += workgroup_size) {
                var best_prediction = 0u;
                var best_target = 0u;
                for (var j = 1u; j < OUTPUTS; j++) {
                    if (out_1[r * OUTPUTS + j] > out_1[r * OUTPUTS + best_prediction]) { best_prediction = j; }
                    if (batch_targets[r * OUTPUTS + j] > batch_targets[r * OUTPUTS + best_target]) { best_target = j; }
                }
                share.w += select(f32(0.0), 1.0, best_prediction == best_target);
            }
        }
        let total = reduce(lane, share);  // its barriers also end the loss phase
        sums += total;



        // layer 1 backward: dW = xᵀ·d, db = Σ d, and the layer below's d = (d·Wᵀ) f'
        for (var e = lane; e < 12u; e += workgroup_size) {
            var acc: f32 = 0.0;
            if (e < 10u) {
                let k = e / 2u;
                let j = e % 2u;
                for (var r = 0u; r < rows; r++) {
                    acc += out_0[r * 5u + k] * delta_1[r * 2u + j];
                }
                grad[20u + e] = acc;
            } else {
                let j = e - 10u;
                for (var r = 0u; r < rows; r++) {
                    acc += delta_1[r * 2u + j];
                }
                grad[30u + j] = acc;
            }
        }

        for (var e = lane; e < rows * 5u; e += workgroup_size) {
            let r = e / 5u;
            let k = e % 5u;
            var acc: f32 = 0.0;
            for (var j = 0u; j < 2u; j++) {
                acc += delta_1[r * 2u + j] * theta[20u + k * 2u + j];
            }
            let o = out_0[e];
            let x = pre_0[e];
            delta_0[e] = acc * gelu_derivative(x, o, 0.0);
        }

        workgroupBarrier();



        // layer 0 backward: dW = xᵀ·d, db = Σ d
        for (var e = lane; e < 20u; e += workgroup_size) {
            var acc: f32 = 0.0;
            if (e < 15u) {
                let k = e / 5u;
                let j = e % 5u;
                for (var r = 0u; r < rows; r++) {
                    acc += batch_inputs[r * 3u + k] * delta_0[r * 5u + j];
                }
                grad[0u + e] = acc;
            } else {
                let j = e - 15u;
                for (var r = 0u; r < rows; r++) {
                    acc += delta_0[r * 5u + j];
                }
                grad[15u + j] = acc;
            }
        }

        workgroupBarrier();

        t += 1u;
        for (var i = lane; i < PARAMETERS; i += workgroup_size) {
            update(i, t);
        }
        workgroupBarrier();
        if (batch + 1u == params.steps_per_epoch && lane == 0u) {
            // statistics.epoch_means: the TRAINING slot over the samples, no validation (0 / 1),
            // no loss scaling; then the sums start again.
            let row = (words[2] + epoch) * SIZE;
            let count = f32(max(params.samples, 1u));
            epoch_log[row] = sums.x / count;
            epoch_log[row + 1u] = sums.y / count;
            epoch_log[row + 2u] = sums.z / count;
            epoch_log[row + 3u] = sums.w / count;
            for (var f = SLOT; f < SIZE; f++) {
                epoch_log[row + f] = 0.0;
            }
            sums = vec4<f32>(0.0);
        }
    }
    for (var i = lane; i < PARAMETERS; i += workgroup_size) {
        parameters[i] = theta[i];
        gradients[i] = grad[i];
        first_moment[i] = moment_1[i];
        second_moment[i] = moment_2[i];
    }
    if (lane == 0u) {
        statistics[0] = sums.x;
        statistics[1] = sums.y;
        statistics[2] = sums.z;
        statistics[3] = sums.w;
        cursor[0] = end;
        step_in[0] = t;
        step_out[0] = t;
    }
}

// loss_terms.wgsl: each loss's element function, written once: (loss term, gradient term) of
// one prediction p and target y, in f32 (Keras' definitions; the formulas are in
// losses.wgsl's header). A library of functions, no entry points: losses.wgsl (the batch
// statistics and dL/dŷ) and engine/tiny_fit.wgsl (a whole fit in one workgroup) include it.
// Bindings: none. Params: none. Workgroup and grid: the including kernel's. The includer also
// includes gpu/math.wgsl (logarithm), once.
// NumPy: tests/reference.py's losses.

const EPSILON: f32 = 1e-7;

// Keras' clip into [ε, 1 - ε]; with f32 sums a NaN or ±inf p (an overflow upstream, e.g. an
// f16 logit) stays, so the loss shows it (NaN, ±inf) rather than the plausible -log ε of a
// clamped NaN. Tested on the bits: compilers fold p != p and p - p to constants.
fn clip(p: f32) -> f32 {
    let clipped = clamp(p, EPSILON, 1.0 - EPSILON);
    return select(clipped, p, (bitcast<u32>(p) & 0x7f800000u) == 0x7f800000u);
}

fn inside_clip(p: f32) -> bool {
    return p >= EPSILON && p <= 1.0 - EPSILON;
}

fn mean_squared(p: f32, y: f32) -> vec2<f32> {
    return vec2<f32>((p - y) * (p - y), 2.0 * (p - y));
}

fn mean_absolute(p: f32, y: f32) -> vec2<f32> {
    return vec2<f32>(abs(p - y), sign(p - y));
}

fn binary_crossentropy(p: f32, y: f32) -> vec2<f32> {
    let q = clip(p);
    let gradient = select(0.0, (p - y) / (p * (1.0 - p)), inside_clip(p));
    return vec2<f32>(-(y * logarithm(q) + (1.0 - y) * logarithm(1.0 - q)), gradient);
}

fn categorical_crossentropy(p: f32, y: f32) -> vec2<f32> {
    return vec2<f32>(-y * logarithm(clip(p)), select(0.0, -y / p, inside_clip(p)));
}

fn softmax_crossentropy(p: f32, y: f32, target_sum: f32) -> vec2<f32> {
    return vec2<f32>(-y * logarithm(clip(p)), p * target_sum - y);
}

// workgroup_sum.wgsl: the tree reduction of four sums over a workgroup's lanes, written once.
// A library, no entry points: losses.wgsl (a batch's statistics) and engine/tiny_fit.wgsl (a
// whole fit in one workgroup) include it.
// Bindings: none; workgroup memory: partial_sums, one vec4 per lane. Params: none. The includer
// declares `override workgroup_size` (a power of two) and calls reduce from uniform control flow
// (it has barriers). Loop bound: log2(workgroup_size) iterations.
// NumPy: value.sum(axis=0) over the lanes' values (in a tree order).

var<workgroup> partial_sums: array<vec4<f32>, workgroup_size>;

// Tree reduction of every lane's value; the total is lane 0's. Call from all lanes.
fn reduce(lane: u32, value: vec4<f32>) -> vec4<f32> {
    partial_sums[lane] = value;
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_sums[lane] += partial_sums[lane + stride];
        }
        workgroupBarrier();
    }
    return partial_sums[0];
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

// layers/activations.wgsl: every element-wise activation's formula, written once: forward beside
// derivative. A library of functions, no entry points: layers/activation.wgsl (the element-wise
// kernels) and ops/gemm/epilogue.wgsl (fused into both GEMM kernels) include it.
//
// Bindings: none. Params: none. Workgroup and grid: those of the including kernel.
// Contract, T = f32 (the kernel's accumulate type: f32 for float32 and
// mixed_float16, whose f16 values are converted to f32 before and rounded after; f64 for float64):
//   fn NAME(x: T, alpha: T) -> T                   o = f(x)
//   fn NAME_derivative(x: T, o: T, alpha: T) -> T  f'(x), from x (the input) and/or o (the output)
// alpha is the activation's one hyperparameter (0 when it has none). An activation whose class
// says derivative_uses_inputs = False is called with x = o (its derivative reads only o), so
// its kernels keep no inputs; the others get the real x (stored by the fused forward GEMM).
// Adding an activation: its two functions here, its class in intricate/layers/activations.py.
// float64: e^x, e^x - 1 and ln(1 + x) come from gpu/float64.wgsl (through gpu/math.wgsl,
// included at the end), as the builtins are undefined on f64; every formula is built on them.
// NumPy: each function's comment.

// identity: o = x (a GEMM with no activation).
fn identity(x: f32, alpha: f32) -> f32 {
    return x;
}

fn identity_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return 1.0;
}

// ReLU: o = np.maximum(x, 0); f' = (o > 0) (0 at x = 0, like PyTorch).
fn relu(x: f32, alpha: f32) -> f32 {
    return max(x, 0.0);
}

fn relu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return select(f32(0.0), 1.0, o > 0.0);
}

// TanH: o = np.tanh(x), to about one ulp over the whole range, never NaN; f' = 1 - o².
// Below |x| = 0.55 (o < 0.5) as -e / (2 + e) with e = np.expm1(-2|x|), which keeps the relative
// accuracy of tiny x ((1 - exp(-2|x|)) / (1 + ...) cancelled: relative error 2.7e-4 at 1e-4,
// 2.0 at 1e-8); above, as 1 - 2t / (1 + t) with t = exp(-2|x|), where the subtraction is exact
// and o stays within an ulp of 1 (f' = 1 - o² reads o there, as PyTorch's does).
fn hyperbolic_tangent(x: f32, alpha: f32) -> f32 {
    let e = exp_minus_one(-2.0 * abs(x));
    let t = exp_non_positive(-2.0 * abs(x));
    return sign(x) * select(1.0 - 2.0 * t / (1.0 + t), -e / (2.0 + e), abs(x) < 0.55);
}

fn hyperbolic_tangent_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return 1.0 - o * o;
}

// Sigmoid: o = 1 / (1 + np.exp(-x)), evaluated on the side where exp can't overflow;
// f' = o (1 - o).
fn sigmoid(x: f32, alpha: f32) -> f32 {
    let e = exp_non_positive(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn sigmoid_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return o * (1.0 - o);
}

// LeakyReLU (alpha >= 0): o = np.where(x > 0, x, alpha x); f' = 1 where o > 0, else alpha
// (o > 0 exactly where x > 0 when alpha >= 0).
fn leaky_relu(x: f32, alpha: f32) -> f32 {
    return select(alpha * x, x, x > 0.0);
}

fn leaky_relu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return select(alpha, 1.0, o > 0.0);
}

// ELU: o = np.where(x > 0, x, alpha np.expm1(x)); f' = 1 where x > 0, else alpha exp(x)
// (from x, as PyTorch: from o, o + alpha loses the relative accuracy of a tiny alpha exp(x)).
fn elu(x: f32, alpha: f32) -> f32 {
    return select(alpha * exp_minus_one(min(x, 0.0)), x, x > 0.0);
}
fn elu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return select(alpha * exp_non_positive(min(x, 0.0)), 1.0, x > 0.0);
}
// GELU, tanh form (PyTorch's approximate="tanh"): u = sqrt(2/pi) (x + 0.044715 x³),
// o = x (1 + tanh(u)) / 2 = x · sigmoid(2u) (the same function; the sigmoid form keeps its
// relative accuracy where tanh(u) is near -1); f' = s + 2 x s (1 - s) u' with s = sigmoid(2u),
// u' = sqrt(2/pi) (1 + 3 · 0.044715 x²), and 1 - s = sigmoid(-2u).
// Where 2u is very negative, o ≈ x e^(2u) inherits 2u's absolute error as a relative one: 2u
// rounded to float32 (constants included) cost 45 ulps at x = -7, so gelu_argument gives 2u
// to ~2^-40 as three float32s. Past |x| = 30, s is exactly 0 or 1 even in f64, so clamping x
// there changes nothing but keeps x³ finite (|x| > 1e13 gave 0 · inf = NaN).
fn gelu(x: f32, alpha: f32) -> f32 {
    return x * sigmoid_of_sum(gelu_argument(clamp(x, -30.0, 30.0)));
}

fn gelu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    let z = clamp(x, -30.0, 30.0);
    let two_u = gelu_argument(z);
    let du = 0.7978845608028654 * (1.0 + 0.134145 * z * z);
    let s = sigmoid_of_sum(two_u);
    return s + 2.0 * z * s * sigmoid_of_sum(-two_u) * du;
}

// 2u = C1 x + C3 x³ (C1 = 2 sqrt(2/pi), C3 = C1 · 0.044715) as three float32s whose exact sum
// is within ~2^-40 of it: (C1 x, C3 x³) rounded, and the sum of their rounding errors (each
// constant split in two float32s, each product's error recovered exactly by product_error).
// The two big terms are never added: llvmpipe's compiler may reassociate, which turns an
// error-free sum into 0; they are exponentiated apart instead (sigmoid_of_sum).
fn gelu_argument(x: f32) -> vec3<f32> {

    let x2 = x * x;
    let x3 = x2 * x;
    let x3_low = product_error(x2, x, x3) + product_error(x, x, x2) * x;
    let linear = 1.5957691669464111 * x;
    let linear_low = product_error(1.5957691669464111, x, linear) - 4.534068054340423e-08 * x;
    let cubic = 0.07135481387376785 * x3;
    let cubic_low = product_error(0.07135481387376785, x3, cubic)
        + 0.07135481387376785 * x3_low + 2.3988324659995897e-09 * x3;
    return vec3<f32>(linear, cubic, linear_low + cubic_low);

}

// left · right - product exactly, for product = left · right rounded (Dekker): each factor is
// split into 12-bit halves by masking its float32 bits, so that no reassociation can undo the
// split; every partial product is exact. (Names here avoid a and b: the GEMM binds variables so
// named, and the loader finds a kernel's bindings by the identifiers its functions use.)
fn product_error(left: f32, right: f32, product: f32) -> f32 {
    let left_high = bitcast<f32>(bitcast<u32>(f32(left)) & 0xfffff000u);
    let left_low = f32(left) - left_high;
    let right_high = bitcast<f32>(bitcast<u32>(f32(right)) & 0xfffff000u);
    let right_low = f32(right) - right_high;
    return f32(((left_high * right_high - f32(product)) + left_high * right_low
        + left_low * right_high) + left_low * right_low);
}

// sigmoid(z.x + z.y + z.z) for gelu_argument's terms (z.x and z.y of one sign, z.z tiny):
// e^-|z.x + z.y + z.z| = e^-|z.x| e^-|z.y| (1 -+ z.z), then sigmoid from e as sigmoid does.
fn sigmoid_of_sum(z: vec3<f32>) -> f32 {
    let e = exp_non_positive(-abs(z.x)) * exp_non_positive(-abs(z.y))
        * (1.0 - sign(z.x) * z.z);
    return select(e / (1.0 + e), 1.0 / (1.0 + e), z.x >= 0.0);
}

// SiLU (Swish): o = x · sigmoid(x); f' = s (1 + x (1 - s)) with s = sigmoid(x),
// 1 - s = sigmoid(-x).
fn silu(x: f32, alpha: f32) -> f32 {
    return x * sigmoid(x, 0.0);
}

fn silu_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    // 1 - s as sigmoid(-x): from s it cancels where s is near 1 (6 ulps of f' at x = 12)
    return sigmoid(x, 0.0) * (1.0 + x * sigmoid(-x, 0.0));
}

// Softplus: o = np.log1p(np.exp(x)), as max(x, 0) + log1p(exp(-|x|)) so exp never
// overflows and o keeps its relative accuracy where it is tiny (x < -17); f' = sigmoid(x).
fn softplus(x: f32, alpha: f32) -> f32 {
    return max(x, 0.0) + log_one_plus(exp_non_positive(-abs(x)));
}

fn softplus_derivative(x: f32, o: f32, alpha: f32) -> f32 {
    return sigmoid(x, 0.0);
}

// e^x and np.expm1(x) for x <= 0 (all that the activations need), to about one ulp. WGSL's exp
// need only be within 3 + 2|x| ulps (lavapipe: 20 ulps at x = -50, which Sigmoid, SiLU, Softplus
// and ELU' inherited), and exp(x) - 1 cancels near 0. So: x = k ln 2 + r with |r| <= ln 2 / 2
// (ln 2 split Cody-Waite style, so k · LN2_HIGH is exact), e^r - 1 by its Taylor series to r^8
// (the next term is < 2e-9 of it), then scaled by 2^k exactly; expm1 = 2^k (e^r - 1) + (2^k - 1),
// where 2^k - 1 is exact. Below x = -104, e^x is 0 in float32. The low part enters as a factor
// e^-c with c = k LOW, never as (x - k HIGH) - k LOW, which NVIDIA's driver regroups into
// x - k (HIGH + LOW) (see gpu/float64.wgsl's exp_minus_one_split_f64).
const LN2_HIGH = 0.693145751953125;  // ln 2's leading 16 bits
const LN2_LOW = 1.4286068203094173e-06;  // ln 2 - LN2_HIGH

fn exp_minus_one_reduced(r: f32) -> f32 {
    return r + r * r * (0.5 + r * (0.16666666666666666 + r * (0.041666666666666664
        + r * (0.008333333333333333 + r * (0.001388888888888889 + r * (0.0001984126984126984
        + r * 2.48015873015873e-05))))));
}

fn reduced_exponent(x: f32) -> f32 {
    return round(max(x, -104.0) * 1.4426950408889634);  // k = round(x / ln 2)
}

// e^(x - k ln 2) - 1 as e^(x - k HIGH) · e^-c - 1, e^-c - 1 = c (c / 2 - 1) (|c| < 2.2e-4).
fn exp_minus_one_split(x: f32, k: f32) -> f32 {
    let p = exp_minus_one_reduced(max(x, -104.0) - k * LN2_HIGH);
    let c = k * LN2_LOW;
    return p + (1.0 + p) * (c * (0.5 * c - 1.0));
}

fn exp_non_positive(x: f32) -> f32 {

    let k = reduced_exponent(x);
    return ldexp(1.0 + exp_minus_one_split(x, k), i32(k));

}

fn exp_minus_one(x: f32) -> f32 {

    let k = reduced_exponent(x);
    let scale = ldexp(f32(1.0), i32(k));
    return scale * exp_minus_one_split(x, k) + (scale - 1.0);

}

// np.log1p(e) for 0 <= e <= 1 (Softplus' range) to about one ulp: 2 atanh(s) with
// s = e / (2 + e) <= 1/3, by its series to s^17 (the next term is < 2e-9 of it). Never forms
// 1 + e, whose rounding alone cost up to 9 ulps of log1p near e = 0.1 (and log(1 + e) all of
// them below e = 1e-8: Softplus(-60) returned 0).
fn log_one_plus(e: f32) -> f32 {

    let s = e / (2.0 + e);
    let q = s * s;
    return 2.0 * s * (1.0 + q * (0.3333333333333333 + q * (0.2 + q * (0.14285714285714285
        + q * (0.1111111111111111 + q * (0.09090909090909091 + q * (0.07692307692307693
        + q * (0.06666666666666667 + q * 0.058823529411764705))))))));

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



