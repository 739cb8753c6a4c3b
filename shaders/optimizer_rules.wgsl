// optimizer_rules.wgsl: each optimizer's update of one parameter, written once (PyTorch's
// torch.optim formulas, listed in optimizers.wgsl's header). A library of functions, no entry
// points: optimizers.wgsl (one dispatch over the model's parameters) and engine/tiny_fit.wgsl
// (a whole fit in one workgroup) include it.
// Bindings: none. The includer declares a uniform `params` with the hyperparameter fields
// (learning_rate, momentum, epsilon, beta_1, beta_2, one_minus_beta_1, one_minus_beta_2,
// log_beta_1, log_beta_2) and includes gpu/math.wgsl (exponential) once. Workgroup and grid:
// the includer's. T = {{ accumulate }}. Each rule takes θ, g and the parameter's state and
// returns the new values: θ first, then the state in the order given.

// sgd: θ ← θ - lr·g
fn sgd_rule(theta: {{ accumulate }}, g: {{ accumulate }}) -> {{ accumulate }} {
    return theta - params.learning_rate * g;
}

// momentum: b ← μ·b + g;  θ ← θ - lr·b. Returns (θ, b).
fn momentum_rule(theta: {{ accumulate }}, g: {{ accumulate }}, velocity: {{ accumulate }}) -> vec2<{{ accumulate }}> {
    let b = params.momentum * velocity + g;
    return vec2<{{ accumulate }}>(theta - params.learning_rate * b, b);
}

// nesterov: b ← μ·b + g;  θ ← θ - lr·(g + μ·b). Returns (θ, b).
fn nesterov_rule(theta: {{ accumulate }}, g: {{ accumulate }}, velocity: {{ accumulate }}) -> vec2<{{ accumulate }}> {
    let b = params.momentum * velocity + g;
    return vec2<{{ accumulate }}>(theta - params.learning_rate * (g + params.momentum * b), b);
}

// adagrad: s ← s + g²;  θ ← θ - lr·g / (√s + ε). Returns (θ, s).
fn adagrad_rule(theta: {{ accumulate }}, g: {{ accumulate }}, sum: {{ accumulate }}) -> vec2<{{ accumulate }}> {
    let total = sum + g * g;
    return vec2<{{ accumulate }}>(theta - params.learning_rate * g / (sqrt(total) + params.epsilon), total);
}

// 1 - β^t = -expm1(t · log β) without the cancellation of 1 - pow(β, t): a Taylor series
// while |x| is small (relative error < 1e-9 for |x| < 0.1), exp(x) - 1 beyond.
fn one_minus_power(log_beta: {{ accumulate }}, t: {{ accumulate }}) -> {{ accumulate }} {
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
fn adam_rule(theta: {{ accumulate }}, g: {{ accumulate }}, first: {{ accumulate }}, second: {{ accumulate }},
             t: {{ accumulate }}, decay: {{ accumulate }}) -> vec3<{{ accumulate }}> {
    let m = params.beta_1 * first + params.one_minus_beta_1 * g;
    let v = params.beta_2 * second + params.one_minus_beta_2 * g * g;
    let m_hat = m / one_minus_power(params.log_beta_1, t);
    let v_hat = v / one_minus_power(params.log_beta_2, t);
    let decayed = theta * (1.0 - decay);
    return vec3<{{ accumulate }}>(decayed - params.learning_rate * m_hat / (sqrt(v_hat) + params.epsilon), m, v);
}
