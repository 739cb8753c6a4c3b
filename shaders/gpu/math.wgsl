// gpu/math.wgsl: exponential(x) and logarithm(x) in the kernel's accumulate type
// ({{ accumulate }}): the builtins exp and log for f32, gpu/float64.wgsl's for f64 (the
// builtins are undefined on f64, see there). Kernels call these, never exp or log, so one
// template serves every dtype. Functions only: bindings, params, workgroup and grid are the
// including kernel's. NumPy: np.exp, np.log.
{% if accumulate == "f64" %}

fn exponential(x: f64) -> f64 {
    return exp_f64(x);
}

fn logarithm(x: f64) -> f64 {
    return log_f64(x);
}

{% include "gpu/float64.wgsl" %}
{% else %}

fn exponential(x: {{ accumulate }}) -> {{ accumulate }} {
    return exp(x);
}

fn logarithm(x: {{ accumulate }}) -> {{ accumulate }} {
    return log(x);
}
{% endif %}
