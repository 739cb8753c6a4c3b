// ops/gemm/im2col.wgsl: the implicit GEMM's operand gathers. A convolution's three GEMMs read
// their operands as matrices that are never stored (the im2col patches): each function below maps
// an element (row, col) of such a matrix to the index of the stored array that holds it, or -1
// where the matrix holds a zero (a tap in the padding, or, for the input gradient, no output pixel
// there). tiled.wgsl's load_a / load_b call the one record_gemm's gather names, instead of
// stepping by strides. Functions only: the Params fields (conv_*) are interface.wgsl's, present
// when a gather is.
//
// Geometry (NHWC, Keras kernel [KH, KW, C, F]): x [N, H, W, C], y [N, OH, OW, F]; output pixel
// (oh, ow) reads x at (oh·stride_h + kh·dilation_h - pad_top, ow·stride_w + kw·dilation_w -
// pad_left) for tap (kh, kw). Params: conv_in_height H, conv_in_width W, conv_in_channels C,
// conv_out_height OH, conv_out_width OW, conv_out_channels F, conv_kernel_width KW, conv_stride_h,
// conv_stride_w, conv_dilation_h, conv_dilation_w, conv_pad_top, conv_pad_left.
// Loop bound: no loops. Workgroup and grid: the including kernel's.
// NumPy (intricate/kernels/reference.py, conv2d_patches): patches(p, t) = patches[p, t] of the
// [N·OH·OW, KH·KW·C] matrix; output_patches(q, j) = dY's [N·H·W, KH·KW·F] matrix whose product
// with kernel_transposed's [KH·KW·F, C] is dX.

// Forward, a(p, t): x at output pixel p = (n, oh, ow) for tap·channel t = (kh, kw, c).
fn patches(p: u32, t: u32) -> i32 {
    let pixels = params.conv_out_height * params.conv_out_width;
    let pixel = p % pixels;
    let tap = t / params.conv_in_channels;
    let y = i32(pixel / params.conv_out_width * params.conv_stride_h +
                tap / params.conv_kernel_width * params.conv_dilation_h) - i32(params.conv_pad_top);
    let x = i32(pixel % params.conv_out_width * params.conv_stride_w +
                tap % params.conv_kernel_width * params.conv_dilation_w) -
            i32(params.conv_pad_left);
    if (y < 0 || x < 0 || y >= i32(params.conv_in_height) || x >= i32(params.conv_in_width)) {
        return -1;
    }
    return i32(((p / pixels * params.conv_in_height + u32(y)) * params.conv_in_width + u32(x)) *
               params.conv_in_channels + t % params.conv_in_channels);
}

// Weight gradient, a(t, p) = patches(p, t): dW = patchesᵀ · dY.
fn patches_transposed(t: u32, p: u32) -> i32 {
    return patches(p, t);
}

// Input gradient, a(q, j): dY at the output pixel that tap j = (kh, kw, f) of input pixel
// q = (n, h, w) feeds, if one does: oh = (h + pad_top - kh·dilation_h) / stride_h when that
// divides exactly and lies in [0, OH) (likewise ow).
fn output_patches(q: u32, j: u32) -> i32 {
    let pixels = params.conv_in_height * params.conv_in_width;
    let pixel = q % pixels;
    let tap = j / params.conv_out_channels;
    let y = i32(pixel / params.conv_in_width + params.conv_pad_top) -
            i32(tap / params.conv_kernel_width * params.conv_dilation_h);
    let x = i32(pixel % params.conv_in_width + params.conv_pad_left) -
            i32(tap % params.conv_kernel_width * params.conv_dilation_w);
    if (y < 0 || x < 0) {
        return -1;
    }
    let oh = u32(y) / params.conv_stride_h;
    let ow = u32(x) / params.conv_stride_w;
    if (oh * params.conv_stride_h != u32(y) || ow * params.conv_stride_w != u32(x) ||
            oh >= params.conv_out_height || ow >= params.conv_out_width) {
        return -1;
    }
    return i32(((q / pixels * params.conv_out_height + oh) * params.conv_out_width + ow) *
               params.conv_out_channels + j % params.conv_out_channels);
}

// Input gradient, b(j, c): the kernel read as [KH·KW·F, C], kernel[kh, kw, c, f] for j = (kh, kw, f).
fn kernel_transposed(j: u32, c: u32) -> i32 {
    return i32((j / params.conv_out_channels * params.conv_in_channels + c) *
               params.conv_out_channels + j % params.conv_out_channels);
}
