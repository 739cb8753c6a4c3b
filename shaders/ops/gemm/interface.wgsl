// ops/gemm/interface.wgsl: the Params and bindings of both GEMM kernels (tiled.wgsl and
// subgroup.wgsl include it at their end), so record_gemm binds either kernel with the same names
// and the same Params. Declarations only: no entry points.
//
// Bindings (group 0), by variable name, {{ dtype }} throughout except c and grad_bias, of c's own
// element type {{ output }} (an f32 dW beside f16 operands; split K's chunk sums), and partials
// and partial_sums, {{ accumulate }}:
//   0 a                   read        a(m, i) = a[m * a_row_stride + i * a_col_stride], [M, K]
//   1 b                   read        b(i, n) = b[i * b_row_stride + n * b_col_stride], [K, N]
//   2 bias                read        [N]     the forward epilogue's bias
//   3 activation_outputs  read        [M, N]  o of the activation whose derivative the dX
//                                             epilogue multiplies by
//   4 c                   read_write  [M, N]  row-major
//   5 grad_bias           read_write  [N]     column sums Σ_i b(i, n) (the bias gradient)
//   6 params              uniform     Params
//   7 a4, 8 b4            read        vec4<{{ dtype }}>: a and b again, for vector loads
//   9 partials            read        [splits, M, N]  split-K: each K chunk's a · b
//   10 partial_sums       read        [splits, N]     and its column sums of b
//   13 pre_activations    read_write  [M, N]  the forward epilogue's activation input x (only
//                                             for activations whose derivative reads x)
//   14 activation_inputs  read        [M, N]  that x again, for the dX epilogue
// Params: m, n, k, the four strides above, the split of K (splits chunks of k_chunk), and alpha,
// the fused activation's hyperparameter (0 when unused).
// With a gather (a convolution's implicit GEMM, see im2col.wgsl): the convolution's geometry,
// conv_in_height ... conv_pad_left.
// Workgroup, grid and NumPy expression: the including kernel's.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    k_chunk: u32,
    splits: u32,
    alpha: {{ accumulate }},{%- if gather %}
    conv_in_height: u32,
    conv_in_width: u32,
    conv_in_channels: u32,
    conv_out_height: u32,
    conv_out_width: u32,
    conv_out_channels: u32,
    conv_kernel_width: u32,
    conv_stride_h: u32,
    conv_stride_w: u32,
    conv_dilation_h: u32,
    conv_dilation_w: u32,
    conv_pad_top: u32,
    conv_pad_left: u32,{%- endif %}
}

@group(0) @binding(0) var<storage, read> a: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> b: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read> bias: array<{{ dtype }}>;
@group(0) @binding(3) var<storage, read> activation_outputs: array<{{ dtype }}>;
@group(0) @binding(4) var<storage, read_write> c: array<{{ output }}>;
@group(0) @binding(5) var<storage, read_write> grad_bias: array<{{ output }}>;
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(7) var<storage, read> a4: array<vec4<{{ dtype }}>>;
@group(0) @binding(8) var<storage, read> b4: array<vec4<{{ dtype }}>>;
@group(0) @binding(9) var<storage, read> partials: array<{{ accumulate }}>;
@group(0) @binding(10) var<storage, read> partial_sums: array<{{ accumulate }}>;
@group(0) @binding(13) var<storage, read_write> pre_activations: array<{{ dtype }}>;
@group(0) @binding(14) var<storage, read> activation_inputs: array<{{ dtype }}>;
