// layers/normalization.wgsl: BatchNormalization over the channels (the last axis) of x viewed as
// [rows, channels] (rows = batch · H · W for NHWC images, batch for flat data), forward beside
// backward. A training step normalises with the batch's statistics and updates the moving ones;
// inference normalises with the moving ones. Every sum over rows is split in parts of at most
// part_rows rows (a value per part and channel), then the parts are reduced by one workgroup
// per channel, so no invocation loops over more than part_rows rows or parts / workgroup_size
// parts, however many rows there are.
//
// Bindings (group 0), by variable name:
//   0 inputs           read        f32       [rows, channels]  x
//   1 grad_outputs     read        f32       [rows, channels]  dE/dy
//   2 gamma            read        f32       [channels]  (scale only)
//   3 beta             read        f32       [channels]  (center only)
//   4 mean             read_write  f32  [channels]  the batch's (training) or the
//                                                    moving mean (inference: read only)
//   5 variance         read_write  f32  [channels]  likewise, biased variance
//   6 moving_mean      read_write  f32  [channels]  state, updated by a training step
//   7 moving_variance  read_write  f32  [channels]  state, likewise
//   8 partial_first    read_write  f32  [parts, channels]  each part's mean (forward)
//                                                    or Σ dE/dy (backward)
//   9 partial_second   read_write  f32  [parts, channels]  each part's Σ (x - its
//                                                    mean)² (forward) or Σ dE/dy · x̂ (backward)
//  10 channel_sums     read_write  f32  [2, channels]  Σ dE/dy, Σ dE/dy · x̂
//  11 outputs          read_write  f32       [rows, channels]  y, or f(y) with a
//                                                    fused activation f
//  12 grad_inputs      read_write  f32       [rows, channels]  dE/dx, or dE/dx · g'
//                                                    with the activation g below fused
//  16 pre_activations  read_write  f32       [rows, channels]  y (inputs_kept only)
//  17 activation_inputs  read      f32       [rows, channels]  g's inputs, whose
//                                                    outputs are x (derivative_reads_inputs)
//  13 grad_gamma       read_write  f32  [channels]  (scale only)
//  14 grad_beta        read_write  f32  [channels]  (center only)
//  15 params           uniform     Params
// Params: rows, channels, part_rows (rows per part), parts = ceil(rows / part_rows), count =
//   rows · channels, through_batch (1: the forward normalised by the batch's statistics, and
//   dE/dx flows through them; 0: by the moving ones, constants), epsilon, momentum
//   (f32).
// Template: scale (gamma exists), center (beta exists); activation, the element-wise activation
//   normalize applies as it stores (intricate/engine/plan.py fuses the one after the layer;
//   "identity" alone), inputs_kept (its derivative reads y: stored too); derivative, the
//   activation below the layer whose derivative grad_inputs_of applies ("identity" alone),
//   derivative_reads_inputs (it reads that activation's inputs). Formulas from
//   layers/activations.wgsl, alpha in Params.
// Entries, in a training step's order; workgroup `workgroup_size` (1-D: 256 for the part and
//   element kernels, 64 for the merges, as intricate/layers/normalization.py dispatches them),
//   grids folded over x and y:
//   statistics_parts  an invocation per (part, channel): the part's mean, then Σ (x - mean)²;
//                     loops 2 · part_rows times.
//   statistics        a workgroup per channel: Chan's merge of the parts into the batch mean
//                     and biased variance (no E[x²] - E[x]² cancellation), and the moving
//                     statistics' update; each lane loops 2 · ceil(parts / workgroup_size) +
//                     2 · log2(workgroup_size) times.
//   normalize         an invocation per element (training and inference); no loop.
//   gradient_parts    an invocation per (part, channel): Σ dE/dy and Σ dE/dy · x̂ over the part;
//                     loops part_rows times.
//   gradient_sums     a workgroup per channel: the parts' sums, dE/dgamma = Σ dE/dy · x̂ and
//                     dE/dbeta = Σ dE/dy; loops as statistics does.
//   grad_inputs_of    an invocation per element; no loop.
// The backward differentiates the forward that was recorded: after an inference forward (mean
//   and variance bound to the moving statistics) the same entries give dE/dgamma, dE/dbeta and,
//   with through_batch 0, dE/dx = gamma / sqrt(variance + eps) · dE/dy.
// Types: every statistic and sum is f32 (f32 for mixed_float16's f16 data); y and
//   dE/dx are rounded to f32 once, as stored.
// NumPy (x, dy [rows, channels]): mean = x.mean(0); variance = ((x - mean)**2).mean(0);
//   moving = momentum · moving + (1 - momentum) · batch; x̂ = (x - mean) / sqrt(variance + eps);
//   y = gamma · x̂ + beta; dgamma = (dy · x̂).sum(0); dbeta = dy.sum(0);
//   dx = gamma / sqrt(variance + eps) · (dy - dy.mean(0) - x̂ · (dy · x̂).mean(0)).

struct Params {
    rows: u32,
    channels: u32,
    part_rows: u32,
    parts: u32,
    count: u32,
    through_batch: u32,
    epsilon: f32,
    momentum: f32,
    alpha: f32,
}

@group(0) @binding(0) var<storage, read> inputs: array<f32>;
@group(0) @binding(1) var<storage, read> grad_outputs: array<f32>;

@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(13) var<storage, read_write> grad_gamma: array<f32>;


@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(14) var<storage, read_write> grad_beta: array<f32>;

@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> variance: array<f32>;
@group(0) @binding(6) var<storage, read_write> moving_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> moving_variance: array<f32>;
@group(0) @binding(8) var<storage, read_write> partial_first: array<f32>;
@group(0) @binding(9) var<storage, read_write> partial_second: array<f32>;
@group(0) @binding(10) var<storage, read_write> channel_sums: array<f32>;
@group(0) @binding(11) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(12) var<storage, read_write> grad_inputs: array<f32>;
@group(0) @binding(15) var<uniform> params: Params;

@group(0) @binding(16) var<storage, read_write> pre_activations: array<f32>;


@group(0) @binding(17) var<storage, read> activation_inputs: array<f32>;


override workgroup_size: u32 = 256;
var<workgroup> lane_sums: array<f32, workgroup_size>;

// Rows [first, first + count) of part `part`: every part holds part_rows but the last.
fn part_span(part: u32) -> vec2<u32> {
    let first = part * params.part_rows;
    return vec2<u32>(first, min(params.part_rows, params.rows - first));
}

fn scale_of(channel: u32) -> f32 {

    return f32(gamma[channel]);

}

fn shift_of(channel: u32) -> f32 {

    return f32(beta[channel]);

}

// 1 / sqrt(variance + eps): f32's inverseSqrt (2 ulps; a third cheaper than 1 / sqrt on lavapipe),
// f64's from its sqrt, as optimizers.wgsl takes it.
fn inverse_std(channel: u32) -> f32 {

    return inverseSqrt(variance[channel] + params.epsilon);

}

// The workgroup's sum of every lane's value, returned to every lane (has barriers: call from
// all lanes).
fn workgroup_sum(lane: u32, value: f32) -> f32 {
    lane_sums[lane] = value;
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            lane_sums[lane] += lane_sums[lane + stride];
        }
        workgroupBarrier();
    }
    let total = lane_sums[0];
    workgroupBarrier();  // every lane has read it before the next sum writes
    return total;
}

// A merge's workgroup: its channel and the parts it merges (uniform), none for a workgroup past
// the last channel (folded grid).
fn merged_channel(group: vec3<u32>, groups: vec3<u32>) -> vec2<u32> {
    let channel = group.x + group.y * groups.x;
    return vec2<u32>(channel, select(0u, params.parts, channel < params.channels));
}

// x̂ of element `at` of `channel`: (x - mean) / sqrt(variance + eps).
fn normalized(at: u32, channel: u32) -> f32 {
    return (f32(inputs[at]) - mean[channel]) * inverse_std(channel);
}

@compute @workgroup_size(workgroup_size)
fn statistics_parts(@builtin(workgroup_id) group: vec3<u32>,
                    @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.parts * params.channels) { return; }
    let channel = i % params.channels;
    let span = part_span(i / params.channels);
    var total: f32 = 0.0;
    for (var row = span.x; row < span.x + span.y; row++) {
        total += f32(inputs[row * params.channels + channel]);
    }
    let part_mean = total / f32(span.y);
    var squares: f32 = 0.0;
    for (var row = span.x; row < span.x + span.y; row++) {
        let centered = f32(inputs[row * params.channels + channel]) - part_mean;
        squares += centered * centered;
    }
    partial_first[i] = part_mean;
    partial_second[i] = squares;
}

@compute @workgroup_size(workgroup_size)
fn statistics(@builtin(workgroup_id) group: vec3<u32>,
              @builtin(num_workgroups) groups: vec3<u32>,
              @builtin(local_invocation_index) lane: u32) {
    let merged = merged_channel(group, groups);
    let channel = merged.x;
    let parts = merged.y;
    var weighted: f32 = 0.0;
    for (var part = lane; part < parts; part += workgroup_size) {
        let rows = f32(part_span(part).y);
        weighted += rows * partial_first[part * params.channels + channel];
    }
    let batch_mean = workgroup_sum(lane, weighted) / f32(params.rows);
    var squares: f32 = 0.0;
    for (var part = lane; part < parts; part += workgroup_size) {
        let at = part * params.channels + channel;
        let offset = partial_first[at] - batch_mean;
        squares += partial_second[at] + f32(part_span(part).y) * offset * offset;
    }
    let batch_variance = workgroup_sum(lane, squares) / f32(params.rows);
    if (lane == 0u && parts > 0u) {
        mean[channel] = batch_mean;
        variance[channel] = batch_variance;
        let keep = params.momentum;
        moving_mean[channel] = keep * moving_mean[channel] + (1.0 - keep) * batch_mean;
        moving_variance[channel] = keep * moving_variance[channel] + (1.0 - keep) * batch_variance;
    }
}

@compute @workgroup_size(workgroup_size)
fn normalize(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
             @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let channel = i % params.channels;
    let value = scale_of(channel) * normalized(i, channel) + shift_of(channel);

    pre_activations[i] = f32(value);

    outputs[i] = f32(gelu(value, params.alpha));
}

@compute @workgroup_size(workgroup_size)
fn gradient_parts(@builtin(workgroup_id) group: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.parts * params.channels) { return; }
    let channel = i % params.channels;
    let span = part_span(i / params.channels);
    let centre = mean[channel];
    let spread = inverse_std(channel);
    var gradients: f32 = 0.0;
    var products: f32 = 0.0;
    for (var row = span.x; row < span.x + span.y; row++) {
        let at = row * params.channels + channel;
        let gradient = f32(grad_outputs[at]);
        gradients += gradient;
        products += gradient * (f32(inputs[at]) - centre) * spread;
    }
    partial_first[i] = gradients;
    partial_second[i] = products;
}

@compute @workgroup_size(workgroup_size)
fn gradient_sums(@builtin(workgroup_id) group: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lane: u32) {
    let merged = merged_channel(group, groups);
    let channel = merged.x;
    let parts = merged.y;
    var gradients: f32 = 0.0;
    var products: f32 = 0.0;
    for (var part = lane; part < parts; part += workgroup_size) {
        gradients += partial_first[part * params.channels + channel];
        products += partial_second[part * params.channels + channel];
    }
    gradients = workgroup_sum(lane, gradients);
    products = workgroup_sum(lane, products);
    if (lane == 0u && parts > 0u) {
        channel_sums[channel] = gradients;
        channel_sums[params.channels + channel] = products;

        grad_gamma[channel] = products;


        grad_beta[channel] = gradients;

    }
}

@compute @workgroup_size(workgroup_size)
fn grad_inputs_of(@builtin(workgroup_id) group: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let channel = i % params.channels;
    // The batch statistics' share: 0 after an inference forward, whose statistics are constants.
    let share = f32(params.through_batch) / f32(params.rows);
    let mean_gradient = channel_sums[channel] * share;
    let mean_product = channel_sums[params.channels + channel] * share;
    let gradient = f32(grad_outputs[i]);
    let below = f32(inputs[i]);  // the outputs of the activation below, if fused

    let before = f32(activation_inputs[i]);

    grad_inputs[i] = f32(scale_of(channel) * inverse_std(channel)
        * (gradient - mean_gradient - normalized(i, channel) * mean_product)
        * elu_derivative(before, below, params.alpha));
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



// gpu/grid.wgsl: the linear index of an invocation in a 1-D kernel whose grid was folded over x
// and y (intricate/gpu/program.py: fold_grid keeps each dimension within 65535 workgroups).
// Included at the end of a kernel file that declares `override workgroup_size: u32`.
// Bindings: none. Params: none. Callers skip indices past their logical size.
// NumPy: index = (group.x + group.y * groups.x) * workgroup_size + lane

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

