// layers/activations.wgsl: every element-wise activation's formula, written once: forward beside
// derivative. A library of functions, no entry points: layers/activation.wgsl (the element-wise
// kernels) and ops/gemm/epilogue.wgsl (fused into both GEMM kernels) include it.
//
// Bindings: none. Params: none. Workgroup and grid: those of the including kernel.
// Contract, T = {{ dtype }}:
//   fn NAME(x: T, alpha: T) -> T                   o = f(x)
//   fn NAME_derivative(x: T, o: T, alpha: T) -> T  f'(x), from x (the input) and/or o (the output)
// alpha is the activation's one hyperparameter (0 when it has none). An activation whose class
// says derivative_uses_inputs = False is called with x = o (its derivative reads only o), so
// its kernels keep no inputs; the others get the real x (stored by the fused forward GEMM).
// Adding an activation: its two functions here, its class in intricate/layers/activations.py.
// NumPy: each function's comment.

// identity: o = x (a GEMM with no activation).
fn identity(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return x;
}

fn identity_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return 1.0;
}

// ReLU: o = np.maximum(x, 0); f' = (o > 0) (0 at x = 0, like PyTorch).
fn relu(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return max(x, 0.0);
}

fn relu_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return select(0.0, 1.0, o > 0.0);
}

// TanH: o = np.tanh(x), from exp(-2|x|) so that large |x| gives ±1, never NaN; f' = 1 - o².
fn hyperbolic_tangent(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    let t = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - t) / (1.0 + t);
}

fn hyperbolic_tangent_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return 1.0 - o * o;
}

// Sigmoid: o = 1 / (1 + np.exp(-x)), evaluated on the side where exp can't overflow;
// f' = o (1 - o).
fn sigmoid(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn sigmoid_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return o * (1.0 - o);
}

// LeakyReLU (alpha >= 0): o = np.where(x > 0, x, alpha x); f' = 1 where o > 0, else alpha
// (o > 0 exactly where x > 0 when alpha >= 0).
fn leaky_relu(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return select(alpha * x, x, x > 0.0);
}

fn leaky_relu_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return select(alpha, 1.0, o > 0.0);
}

// ELU: o = np.where(x > 0, x, alpha np.expm1(x)); f' = 1 where x > 0, else alpha exp(x)
// (from x, as PyTorch: from o, o + alpha loses the relative accuracy of a tiny alpha exp(x)).
fn elu(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return select(alpha * exp_minus_one(min(x, 0.0)), x, x > 0.0);
}
fn elu_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return select(alpha * exp(min(x, 0.0)), 1.0, x > 0.0);
}
// GELU, tanh form (PyTorch's approximate="tanh"): u = sqrt(2/pi) (x + 0.044715 x³),
// o = x (1 + tanh(u)) / 2 = x · sigmoid(2u) (the same function; the sigmoid form keeps its
// relative accuracy where tanh(u) is near -1); f' = s + 2 x s (1 - s) u' with s = sigmoid(2u),
// u' = sqrt(2/pi) (1 + 3 · 0.044715 x²), and 1 - s = sigmoid(-2u).
fn gelu(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    return x * sigmoid(2.0 * u, 0.0);
}

fn gelu_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    // Past |x| = 30, exp(-2|u|) < e^-1900 is 0 even in f64, so f' is exactly 1 or 0: clamping
    // there changes nothing but keeps x³ finite (unclamped, |x| > 1e13 gave 0 · inf = NaN).
    let z = clamp(x, -30.0, 30.0);
    let u = 0.7978845608028654 * (z + 0.044715 * z * z * z);
    let du = 0.7978845608028654 * (1.0 + 0.134145 * z * z);
    let s = sigmoid(2.0 * u, 0.0);
    return s + 2.0 * z * s * sigmoid(-2.0 * u, 0.0) * du;
}

// SiLU (Swish): o = x · sigmoid(x); f' = s (1 + x (1 - s)) with s = sigmoid(x).
fn silu(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return x * sigmoid(x, 0.0);
}

fn silu_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    let s = sigmoid(x, 0.0);
    return s * (1.0 + x * (1.0 - s));
}

// Softplus: o = np.log1p(np.exp(x)), as max(x, 0) + log1p(exp(-|x|)) so exp never
// overflows and o keeps its relative accuracy where it is tiny (x < -17); f' = sigmoid(x).
fn softplus(x: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return max(x, 0.0) + log_one_plus(exp(-abs(x)));
}

fn softplus_derivative(x: {{ dtype }}, o: {{ dtype }}, alpha: {{ dtype }}) -> {{ dtype }} {
    return sigmoid(x, 0.0);
}

// np.expm1(x) and np.log1p(e) to full relative accuracy near 0, where exp(x) - 1 and
// log(1 + e) cancel (ELU just below 0 lost ~1e-3 relative, Softplus below -17 returned 0).
// WGSL's exp and log are not correctly rounded (log: 2^-21 absolute near 1), so Kahan's
// rounding-cancelling forms don't help: |x| < 0.1 takes the Taylor series to the 7th power
// (next term < 3e-13 relative), the rest the plain expression (no cancellation there).
fn exp_minus_one(x: {{ dtype }}) -> {{ dtype }} {
    if (abs(x) < 0.1) {
        return x * (1.0 + x * (0.5 + x * (0.16666666666666666 + x * (0.041666666666666664
            + x * (0.008333333333333333 + x * (0.001388888888888889
            + x * 0.0001984126984126984))))));
    }
    return exp(x) - 1.0;
}

fn log_one_plus(e: {{ dtype }}) -> {{ dtype }} {
    if (abs(e) < 0.1) {
        return e * (1.0 - e * (0.5 - e * (0.3333333333333333 - e * (0.25 - e * (0.2
            - e * (0.16666666666666666 - e * 0.14285714285714285))))));
    }
    return log(1.0 + e);
}
