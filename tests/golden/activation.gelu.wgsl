// layers/activation.wgsl: one element-wise activation layer, forward and backward, calling the
// activation named by the template value `activation` from layers/activations.wgsl (included at
// the end). Used where the activation is not fused into a Dense layer's GEMM (see
// intricate/engine/plan.py): as the first layer, or after another activation.
//
// Bindings (group 0), by variable name:
//   0 inputs        read        f32  [count]  forward; backward too when inputs_kept
//   1 grad_outputs  read        f32  [count]  backward only: dE/dO
//   2 outputs       read_write  f32  [count]  written by forward, read by backward
//   3 grad_inputs   read_write  f32  [count]  backward only: dE/dI
//   4 params        uniform     Params
// Params: count (elements), alpha (the activation's hyperparameter, 0 when unused).
// Template: activation (a function name), inputs_kept (its derivative reads x, not only o).
// Workgroup `workgroup_size` (1-D); one invocation per element, grid folded over x and y.
// The formulas compute in f32 (f32 for f16 data), rounded to f32 as stored.
// NumPy: forward o = f(x); backward dE/dI = dE/dO * f'(x, o).

struct Params {
    count: u32,
    alpha: f32,
}

// Bindings: layers/activation_io.wgsl (included at the end).

override workgroup_size: u32 = 256;

@compute @workgroup_size(workgroup_size)
fn forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    outputs[i] = f32(gelu(f32(inputs[i]), params.alpha));
}

@compute @workgroup_size(workgroup_size)
fn backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let o = f32(outputs[i]);

    let x = f32(inputs[i]);

    grad_inputs[i] = f32(f32(grad_outputs[i])
        * gelu_derivative(x, o, params.alpha));
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




// layers/activation_io.wgsl: the bindings of an activation layer's kernels (the element-wise
// ones of layers/activation.wgsl and SoftMax's of layers/softmax.wgsl), included at their end.
// Bindings (group 0), by variable name: 0 inputs (read), 1 grad_outputs (read: dE/dO),
// 2 outputs (read_write: written forward, read backward), 3 grad_inputs (read_write: dE/dI),
// all f32 [rows, width]; 4 params, the including file's Params. Workgroup and grid: the
// including kernel's. NumPy: none (declarations only).

@group(0) @binding(0) var<storage, read> inputs: array<f32>;
@group(0) @binding(1) var<storage, read> grad_outputs: array<f32>;
@group(0) @binding(2) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_inputs: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// gpu/grid.wgsl: the linear index of an invocation in a 1-D kernel whose grid was folded over x
// and y (intricate/gpu/program.py: fold_grid keeps each dimension within 65535 workgroups).
// Included at the end of a kernel file that declares `override workgroup_size: u32`.
// Bindings: none. Params: none. Callers skip indices past their logical size.
// NumPy: index = (group.x + group.y * groups.x) * workgroup_size + lane

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

