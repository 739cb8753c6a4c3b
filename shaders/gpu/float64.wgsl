// gpu/float64.wgsl: e^x, e^x - 1, ln x and ln(1 + x) in f64, to about one ulp. Functions only,
// included through gpu/math.wgsl by f64 kernels alone (f32 kernels keep the builtins).
//
// Why: SPIR-V's GLSL.std.450 transcendental instructions (Exp, Log, Pow, Tanh, ...) are defined
// for 16- and 32-bit floats only. On f64 they compile and return garbage on lavapipe
// (exp(0.5) = 8.7e-315, tanh(0.5) = 0.156) and other drivers may reject them, so no f64 kernel
// may call them. What is used here is defined on f64: + - * /, round, floor, ldexp, select,
// and log2 of an f32 (only to guess an exponent, which is then applied exactly).
// Bindings: none. Params: none. Workgroup and grid: those of the including kernel.
// Loop bound: no loops. NumPy: np.exp, np.expm1, np.log, np.log1p on float64.

// ln 2 in two parts (fdlibm's): k · F64_LN2_HIGH is exact for |k| < 2^20.
const F64_LN2_HIGH: f64 = 6.93147180369123816490e-01;
const F64_LN2_LOW: f64 = 1.90821492927058770002e-10;

// e^r - 1 for |r| <= ln 2 / 2: Taylor to r^13 (the next term is < 1e-17 of the result).
fn exp_minus_one_reduced_f64(r: f64) -> f64 {
    return r + r * r * (0.5 + r * (0.16666666666666666 + r * (0.041666666666666664
        + r * (0.008333333333333333 + r * (0.001388888888888889 + r * (0.0001984126984126984
        + r * (2.48015873015873e-05 + r * (2.7557319223985893e-06 + r * (2.755731922398589e-07
        + r * (2.505210838544172e-08 + r * (2.08767569878681e-09
        + r * 1.6059043836821613e-10)))))))))));
}

// x = k ln 2 + r, |r| <= ln 2 / 2; x clamped to where e^x is neither inf nor 0 yet.
fn exp_exponent_f64(x: f64) -> f64 {
    return round(clamp(x, -746.0, 710.0) * 1.4426950408889634);
}

// e^r - 1 for r = x - k ln 2, as e^(x - k HIGH) · e^(-k LOW) - 1 with both parts apart. Why not
// (x - k HIGH) - k LOW: NVIDIA's driver reassociates that into x - k (HIGH + LOW), and the rounded
// ln 2 times k ~ 1000 is 100 ulps of r (e^x 2e-14 off at |x| ~ 700, measured on an H200).
// x - k HIGH is exact, and the low part enters only through c = k LOW (|c| < 2.1e-7), as
// e^-c - 1 = c (c / 2 - 1) (the next term is < 1.6e-21): no sum left for a compiler to regroup
// into a cancelling one.
fn exp_minus_one_split_f64(x: f64, k: f64) -> f64 {
    let p = exp_minus_one_reduced_f64(clamp(x, -746.0, 710.0) - k * F64_LN2_HIGH);
    let c = k * F64_LN2_LOW;
    return p + (1.0 + p) * (c * (0.5 * c - 1.0));
}

// v · 2^k in two steps, so neither factor over- or underflows before the product does
// (e^709.7 = 0.74 · 2^1024; subnormal results round once).
fn scale_f64(v: f64, k: i32) -> f64 {
    let half = k / 2;
    return ldexp(ldexp(v, half), k - half);
}

// np.exp(x): 0 below -745.2, inf above 709.8, NaN for NaN.
fn exp_f64(x: f64) -> f64 {
    let k = exp_exponent_f64(x);
    let e = scale_f64(1.0 + exp_minus_one_split_f64(x, k), i32(k));
    return select(e, x, x != x);
}

// np.expm1(x) for x <= 709 (2^k (e^r - 1) + (2^k - 1), where 2^k - 1 is exact for k <= 53).
fn exp_minus_one_f64(x: f64) -> f64 {
    let k = exp_exponent_f64(x);
    let scale = scale_f64(1.0, i32(k));
    let result = scale * exp_minus_one_split_f64(x, k) + (scale - 1.0);
    return select(result, x, x != x);
}

// 2 atanh(s) = ln((1 + s) / (1 - s)) for s² = q <= 1/9: the series to s^37 (terms fall by q).
fn double_atanh_f64(s: f64) -> f64 {
    let q = s * s;
    var series: f64 = 0.02702702702702703;  // 1/37
    series = 0.02857142857142857 + q * series;
    series = 0.030303030303030304 + q * series;
    series = 0.03225806451612903 + q * series;
    series = 0.034482758620689655 + q * series;
    series = 0.037037037037037035 + q * series;
    series = 0.04 + q * series;
    series = 0.043478260869565216 + q * series;
    series = 0.047619047619047616 + q * series;
    series = 0.05263157894736842 + q * series;
    series = 0.058823529411764705 + q * series;
    series = 0.06666666666666667 + q * series;
    series = 0.07692307692307693 + q * series;
    series = 0.09090909090909091 + q * series;
    series = 0.1111111111111111 + q * series;
    series = 0.14285714285714285 + q * series;
    series = 0.2 + q * series;
    series = 0.3333333333333333 + q * series;
    return 2.0 * s + 2.0 * s * q * series;
}

// One step of bringing m into f32's range: m · 2^-bits when m >= 2^bits, m · 2^bits when
// m < 2^-bits; the exponent taken out is added to e. (No frexp: naga's needs 64-bit integers.)
fn shrink_f64(me: vec2<f64>, bits: i32) -> vec2<f64> {
    let big = me.x >= ldexp(1.0lf, bits);
    let small = me.x < ldexp(1.0lf, -bits);
    let step = select(select(0, -bits, small), bits, big);
    return vec2<f64>(ldexp(me.x, -step), me.y + f64(step));
}

// np.log(x) for x > 0 (subnormals included), inf for inf: x = m · 2^e with m in
// [sqrt(1/2), sqrt(2)] (e from f32's log2, exact after the shrinking), then
// e ln 2 + 2 atanh((m - 1) / (m + 1)) (m - 1 is exact).
fn log_f64(x: f64) -> f64 {
    var me = shrink_f64(vec2<f64>(x, 0.0), 512);
    me = shrink_f64(me, 256);
    me = shrink_f64(me, 128);
    me = shrink_f64(me, 64);
    let k = round(log2(f32(me.x)));
    let m = ldexp(me.x, -i32(k));
    let e = me.y + f64(k);
    let result = e * F64_LN2_HIGH + (e * F64_LN2_LOW + double_atanh_f64((m - 1.0) / (m + 1.0)));
    return select(result, x, x > 1.7976931348623157e308);
}

// np.log1p(e) for 0 <= e <= 1: 2 atanh(e / (2 + e)), never forming 1 + e (whose rounding
// loses e's low bits: log(1 + e) is 0 below e = 1e-16).
fn log_one_plus_f64(e: f64) -> f64 {
    return double_atanh_f64(e / (2.0 + e));
}
