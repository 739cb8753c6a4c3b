// ops/gemm/epilogue.wgsl: epilogue(row, col, value), what both GEMM kernels apply to a finished
// sum before c stores it, with the activation formulas of layers/activations.wgsl (included at
// the end). Functions only: the bindings are interface.wgsl's.
//
// Template values:
//   activation   the forward's activation function ("identity" for none)
//   bias         the forward adds bias[col] first
//   derivative   "" in the forward; in the dX GEMM of the layer above an activation, that
//                activation's function: the epilogue multiplies by its derivative (the
//                activation's backward, fused)
//   inputs_kept  the activation's derivative reads x: the forward stores x in pre_activations,
//                the dX GEMM reads it from activation_inputs; otherwise it gets x = o
// Workgroup and grid: the including kernel's.
//   output       c's element type, which the epilogue returns: the element type (forward y,
//                dX) or the accumulator type (an f32 dW beside f16 data; split K's chunk sums)
// The activation computes in {{ accumulate }} (f32 beside f16 data), rounded once, to c's type.
// NumPy: forward c = f(value + bias); dX c = value * f'(x, o).

fn epilogue(row: u32, col: u32, value: {{ accumulate }}) -> {{ output }} {
{% if derivative %}
    let o = {{ accumulate }}(activation_outputs[row * params.n + col]);
{% if inputs_kept %}
    let x = {{ accumulate }}(activation_inputs[row * params.n + col]);
{% else %}
    let x = o;
{% endif %}
    return {{ output }}(value * {{ derivative }}_derivative(x, o, params.alpha));
{% else %}
{% if bias %}
    let x = value + {{ accumulate }}(bias[col]);
{% else %}
    let x = value;
{% endif %}
{% if inputs_kept %}
    pre_activations[row * params.n + col] = {{ dtype }}(x);
{% endif %}
    return {{ output }}({{ activation }}(x, params.alpha));
{% endif %}
}

{% include "layers/activations.wgsl" %}
