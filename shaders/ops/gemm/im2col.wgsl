// ops/gemm/im2col.wgsl: the implicit GEMM's operand gathers. A convolution's three GEMMs read
// their operands as matrices that are never stored (the im2col patches): each function below maps
// an element (row, col) of such a matrix to the index of the stored array that holds it, or -1
// where the matrix holds a zero (a tap in the padding, or, for the input gradient, no output pixel
// there). Each gather G is separable: G_row(row) and G_col(col) take the row's and the
// column's parts of the address apart once (their divisions), G_at(row part, col part) puts them
// together per element (adds and compares, and for output_patches a division by the stride), so
// a kernel that reuses a row's part over many columns (the subgroup kernel) pays the divisions
// once per row. gather_a / gather_b read the operand there (0 for -1). tiled.wgsl's load_a /
// load_b and subgroup.wgsl's loads call them instead of stepping by strides. Functions only:
// the Params fields (conv_*) are interface.wgsl's, present when a gather is.
//
// Geometry (NHWC, Keras kernel [KH, KW, C, F]): x [N, H, W, C], y [N, OH, OW, F]; output pixel
// (oh, ow) reads x at (oh·stride_h + kh·dilation_h - pad_top, ow·stride_w + kw·dilation_w -
// pad_left) for tap (kh, kw). Params: conv_in_height H, conv_in_width W, conv_in_channels C,
// conv_out_height OH, conv_out_width OW, conv_out_channels F, conv_kernel_width KW, conv_stride_h,
// conv_stride_w, conv_dilation_h, conv_dilation_w, conv_pad_top, conv_pad_left.
// Loop bound: no loops. Workgroup and grid: the including kernel's.
// NumPy (tests/reference.py's conv2d_forward / conv2d_backward, which the GEMMs' products
// equal): patches(p, t) = patches[p, t] of the [N·OH·OW, KH·KW·C] matrix; output_patches(q, j)
// = dY's [N·H·W, KH·KW·F] matrix whose product with kernel_transposed's [KH·KW·F, C] is dX.

// Forward, a(p, t): x at output pixel p = (n, oh, ow) for tap·channel t = (kh, kw, c). The row
// part: (x's index of (n, oh·sh - pad_top, ow·sw - pad_left, 0), that y, that x), the column's:
// (its offset from there, kh·dh, kw·dw); the tap lies in the image when y and x do.
fn patches_row(p: u32) -> vec4<i32> {
    let pixels = params.conv_out_height * params.conv_out_width;
    let pixel = p % pixels;
    let y = i32(pixel / params.conv_out_width * params.conv_stride_h) - i32(params.conv_pad_top);
    let x = i32(pixel % params.conv_out_width * params.conv_stride_w) - i32(params.conv_pad_left);
    let image = i32(p / pixels * params.conv_in_height);
    return vec4<i32>(((image + y) * i32(params.conv_in_width) + x) *
                     i32(params.conv_in_channels), y, x, 0);
}

fn patches_col(t: u32) -> vec4<i32> {
    let tap = t / params.conv_in_channels;
    let y = i32(tap / params.conv_kernel_width * params.conv_dilation_h);
    let x = i32(tap % params.conv_kernel_width * params.conv_dilation_w);
    return vec4<i32>((y * i32(params.conv_in_width) + x) * i32(params.conv_in_channels) +
                     i32(t % params.conv_in_channels), y, x, 0);
}

fn patches_at(row: vec4<i32>, col: vec4<i32>) -> i32 {
    // Negative y or x wrap to huge u32s: one compare per side.
    if (u32(row.y + col.y) >= params.conv_in_height || u32(row.z + col.z) >= params.conv_in_width) {
        return -1;
    }
    return row.x + col.x;
}

// Weight gradient, a(t, p) = patches(p, t): dW = patchesᵀ · dY.
fn patches_transposed_row(t: u32) -> vec4<i32> {
    return patches_col(t);
}

fn patches_transposed_col(p: u32) -> vec4<i32> {
    return patches_row(p);
}

fn patches_transposed_at(row: vec4<i32>, col: vec4<i32>) -> i32 {
    return patches_at(col, row);
}

// Input gradient, a(q, j): dY at the output pixel that tap j = (kh, kw, f) of input pixel
// q = (n, h, w) feeds, if one does: oh = (h + pad_top - kh·dh) / sh when that divides exactly
// and lies in [0, OH) (likewise ow). With h + pad_top = sh·qh + rh and kh·dh = sh·qk + rk, it
// divides exactly when rh = rk, and then oh = qh - qk: the divisions are the parts' (the
// remainders of both axes packed into one number, rh·sw + rw, compared at once).
// Row part: (dY's index of image n, qh, qw, rh·sw + rw); column part: (f, qk, ql, rk·sw + rl).
fn output_patches_row(q: u32) -> vec4<i32> {
    let pixels = params.conv_in_height * params.conv_in_width;
    let pixel = q % pixels;
    let image = q / pixels * params.conv_out_height * params.conv_out_width *
                params.conv_out_channels;
    return vec4<i32>(i32(image), strided(pixel / params.conv_in_width + params.conv_pad_top,
                                         pixel % params.conv_in_width + params.conv_pad_left));
}

fn output_patches_col(j: u32) -> vec4<i32> {
    let tap = j / params.conv_out_channels;
    return vec4<i32>(i32(j % params.conv_out_channels),
                     strided(tap / params.conv_kernel_width * params.conv_dilation_h,
                             tap % params.conv_kernel_width * params.conv_dilation_w));
}

// (y / sh, x / sw, (y mod sh)·sw + x mod sw)
fn strided(y: u32, x: u32) -> vec3<i32> {
    return vec3<i32>(i32(y / params.conv_stride_h), i32(x / params.conv_stride_w),
                     i32(y % params.conv_stride_h * params.conv_stride_w +
                         x % params.conv_stride_w));
}

fn output_patches_at(row: vec4<i32>, col: vec4<i32>) -> i32 {
    let oh = u32(row.y - col.y);  // negative: a huge u32, past OH
    let ow = u32(row.z - col.z);
    if (row.w != col.w || oh >= params.conv_out_height || ow >= params.conv_out_width) {
        return -1;
    }
    return row.x + i32((oh * params.conv_out_width + ow) * params.conv_out_channels) + col.x;
}

// Input gradient, b(j, c): the kernel read as [KH·KW·F, C], kernel[kh, kw, c, f] for
// j = (kh, kw, f): row part (kh·KW + kw)·C·F + f, column part c·F, always inside, their sum the
// address: with F a multiple of 4, the four k's from a multiple of 4 lie side by side (one
// 16-byte load at row part .x + column part .x, the subgroup kernel's b4 reads).
fn kernel_transposed_row(j: u32) -> vec4<i32> {
    let tap = j / params.conv_out_channels;
    return vec4<i32>(i32(tap * params.conv_in_channels * params.conv_out_channels +
                         j % params.conv_out_channels), 0, 0, 0);
}

fn kernel_transposed_col(c: u32) -> vec4<i32> {
    return vec4<i32>(i32(c * params.conv_out_channels), 0, 0, 0);
}

fn kernel_transposed_at(row: vec4<i32>, col: vec4<i32>) -> i32 {
    return row.x + col.x;
}
{%- if a_gather %}

// Operand a's element at a row part and a column part of its gather (0 where it says -1).
fn gather_a(row: vec4<i32>, col: vec4<i32>) -> {{ dtype }} {
    let at = {{ a_gather }}_at(row, col);
    return select({{ dtype }}(0.0), a[max(at, 0)], at >= 0);
}
{%- endif %}
{%- if b_gather %}

// Operand b's likewise.
fn gather_b(row: vec4<i32>, col: vec4<i32>) -> {{ dtype }} {
    let at = {{ b_gather }}_at(row, col);
    return select({{ dtype }}(0.0), b[max(at, 0)], at >= 0);
}
{%- endif %}
