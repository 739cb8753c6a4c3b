// loss_terms.wgsl: each loss's element function, written once: (loss term, gradient term) of
// one prediction p and target y, in {{ accumulate }} (Keras' definitions; the formulas are in
// losses.wgsl's header). A library of functions, no entry points: losses.wgsl (the batch
// statistics and dL/dŷ) and engine/tiny_fit.wgsl (a whole fit in one workgroup) include it.
// Bindings: none. Params: none. Workgroup and grid: the including kernel's. The includer also
// includes gpu/math.wgsl (logarithm), once.
// NumPy: tests/reference.py's losses.

const EPSILON: {{ accumulate }} = 1e-7;

// Keras' clip into [ε, 1 - ε]; with f32 sums a NaN or ±inf p (an overflow upstream, e.g. an
// f16 logit) stays, so the loss shows it (NaN, ±inf) rather than the plausible -log ε of a
// clamped NaN. Tested on the bits: compilers fold p != p and p - p to constants.
fn clip(p: {{ accumulate }}) -> {{ accumulate }} {
    let clipped = clamp(p, EPSILON, 1.0 - EPSILON);
{%- if accumulate == "f32" %}
    return select(clipped, p, (bitcast<u32>(p) & 0x7f800000u) == 0x7f800000u);
{%- else %}
    return clipped;
{%- endif %}
}

fn inside_clip(p: {{ accumulate }}) -> bool {
    return p >= EPSILON && p <= 1.0 - EPSILON;
}

fn mean_squared(p: {{ accumulate }}, y: {{ accumulate }}) -> vec2<{{ accumulate }}> {
    return vec2<{{ accumulate }}>((p - y) * (p - y), 2.0 * (p - y));
}

fn mean_absolute(p: {{ accumulate }}, y: {{ accumulate }}) -> vec2<{{ accumulate }}> {
    return vec2<{{ accumulate }}>(abs(p - y), sign(p - y));
}

fn binary_crossentropy(p: {{ accumulate }}, y: {{ accumulate }}) -> vec2<{{ accumulate }}> {
    let q = clip(p);
    let gradient = select(0.0, (p - y) / (p * (1.0 - p)), inside_clip(p));
    return vec2<{{ accumulate }}>(-(y * logarithm(q) + (1.0 - y) * logarithm(1.0 - q)), gradient);
}

fn categorical_crossentropy(p: {{ accumulate }}, y: {{ accumulate }}) -> vec2<{{ accumulate }}> {
    return vec2<{{ accumulate }}>(-y * logarithm(clip(p)), select(0.0, -y / p, inside_clip(p)));
}

fn softmax_crossentropy(p: {{ accumulate }}, y: {{ accumulate }}, target_sum: {{ accumulate }}) -> vec2<{{ accumulate }}> {
    return vec2<{{ accumulate }}>(-y * logarithm(clip(p)), p * target_sum - y);
}
