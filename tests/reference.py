"""The NumPy float64 oracle, for the tests. It lives in the package
(intricate/kernels/reference.py), where ``intricate bench`` verifies the built-in shaders against
it too: one copy, imported here so tests keep writing ``reference.softmax_forward``."""

import numpy as _np

from intricate.kernels.reference import *  # noqa: F403
from intricate.kernels.reference_normalization import *  # noqa: F403 (Dropout, BatchNorm)
from intricate.kernels.reference_pooling import *  # noqa: F403 (MaxPool2D, AvgPool2D, GAP)

# Conv2D (NHWC x [N, H, W, C], kernel [KH, KW, C, F], pads ((top, bottom), (left, right))) ------


def _conv2d_windows(x, kernel_shape, strides, dilation, out_size):
    """Each tap (i, j) with the [N, OH, OW, C] view of padded ``x`` it multiplies."""
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_size
    for i in range(kernel_shape[0]):
        for j in range(kernel_shape[1]):
            yield i, j, (slice(None), slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
                         slice(j * dw, j * dw + (ow - 1) * sw + 1, sw), slice(None))


def _conv2d_out_size(padded_shape, kernel_shape, strides, dilation):
    return tuple((padded_shape[1 + d] - (kernel_shape[d] - 1) * dilation[d] - 1) // strides[d] + 1
                 for d in range(2))


def conv2d_forward(x, kernel, bias=None, strides=(1, 1), pads=((0, 0), (0, 0)),
                   dilation=(1, 1)):
    """y[n, oh, ow, f] = Σ_{i, j, c} x_padded[n, oh·sh + i·dh, ow·sw + j·dw, c] · kernel[i, j, c, f]
    + bias[f]."""
    x = _np.pad(_np.asarray(x, _np.float64), ((0, 0), *pads, (0, 0)))
    kernel = _np.asarray(kernel, _np.float64)
    size = _conv2d_out_size(x.shape, kernel.shape, strides, dilation)
    y = _np.zeros((x.shape[0], *size, kernel.shape[3]))
    for i, j, window in _conv2d_windows(x, kernel.shape, strides, dilation, size):
        y += x[window] @ kernel[i, j]
    return y if bias is None else y + _np.asarray(bias, _np.float64)


def conv2d_backward(x, kernel, grad_outputs, strides=(1, 1), pads=((0, 0), (0, 0)),
                    dilation=(1, 1)):
    """(dX, dKernel, dBias) of conv2d_forward given dE/dY [N, OH, OW, F]."""
    x = _np.asarray(x, _np.float64)
    padded = _np.pad(x, ((0, 0), *pads, (0, 0)))
    kernel, grad_outputs = _np.asarray(kernel, _np.float64), _np.asarray(grad_outputs, _np.float64)
    size = grad_outputs.shape[1:3]
    grad_padded, grad_kernel = _np.zeros_like(padded), _np.zeros_like(kernel)
    for i, j, window in _conv2d_windows(padded, kernel.shape, strides, dilation, size):
        grad_kernel[i, j] = _np.einsum("nhwc,nhwf->cf", padded[window], grad_outputs)
        grad_padded[window] += grad_outputs @ kernel[i, j].T
    (top, _), (left, _) = pads
    grad_inputs = grad_padded[:, top:top + x.shape[1], left:left + x.shape[2]]
    return grad_inputs, grad_kernel, grad_outputs.sum(axis=(0, 1, 2))
