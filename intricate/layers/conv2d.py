"""Conv2D: a 2-D convolution of NHWC images, run as implicit GEMM on the Dense layer's GEMM.

y[n, oh, ow, f] = Σ_{kh, kw, c} x[n, oh·sh + kh·dh - pad_top, ow·sw + kw·dw - pad_left, c]
                  · kernel[kh, kw, c, f] + bias[f]   (x is 0 outside the image)

Kernel [kh, kw, in, out] and bias [out] (Keras' layouts; PyTorch's [out, in, kh, kw] converts on
saving with layout="torch" and loading from_torch_state_dict). Its three GEMMs read the im2col
patches through the GEMM's gathers (intricate/ops/gemm/im2col.py), never storing them; the bias,
a fused activation and a fused derivative ride the GEMM epilogues as Dense's do.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import initializers
from ..gpu import GPUArray, Program
from ..initializers import Initializer
from ..ops.gemm import record_gemm
from ..ops.gemm.im2col import ConvGeometry, Gather
from .activations import Activation
from .base import Layer, check_size
from .epilogues import forward_outputs, grad_inputs_of, remember_forward
from .registry import register
from .windows import check_image_shape, check_padding, check_pair, out_size


@register
class Conv2D(Layer):
    """A 2-D convolution over NHWC images (Keras' Conv2D, PyTorch's nn.Conv2d).

    Args:
        in_channels: channels of the input images (their last dimension).
        out_channels: filters, the output's channels.
        kernel_size: an int or (height, width).
        strides: an int or (height, width) pair; default 1.
        padding: "valid" (none), "same" (Keras/TF: output ceil(input / stride), the odd pixel
            of padding at the bottom/right), or an int or (height, width) pair of symmetric zero
            padding (PyTorch's ``padding=``).
        dilation: an int or (height, width) pair: the spacing of the kernel's taps.
        use_bias: add a bias per output channel.
        kernel_initializer: an ``intricate.initializers`` instance or Keras name; its fans are
            kh·kw·in and kh·kw·out (Keras').
        bias_initializer: likewise.

    Shapes: per sample (H, W, in_channels) → (OH, OW, out_channels); on the GPU [batch, H·W·in]
    → [batch, OH·OW·out]. Parameters: kernel [kh, kw, in, out], bias [out] (with use_bias).

    Raises:
        ValueError: a bad argument (named), here; an input shape it can't take, when built.
    """

    applies_activations = True  # the planner may fuse an activation: see layers/epilogues.py

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 strides: int | tuple[int, int] = 1,
                 padding: str | int | tuple[int, int] = "valid",
                 dilation: int | tuple[int, int] = 1, use_bias: bool = True,
                 kernel_initializer: Initializer | str = "glorot_uniform",
                 bias_initializer: Initializer | str = "zeros") -> None:
        super().__init__()
        self.in_channels = check_size("in_channels", in_channels)
        self.out_channels = check_size("out_channels", out_channels)
        self.kernel_size = check_pair("kernel_size", kernel_size)
        self.strides = check_pair("strides", strides)
        self.padding = check_padding(padding)
        self.dilation = check_pair("dilation", dilation)
        if not isinstance(use_bias, (bool, np.bool_)):
            raise ValueError(f"use_bias: expected True or False, received {use_bias!r}")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")

    # Shapes ---------------------------------------------------------------------------------
    def _spans(self) -> tuple[int, int]:
        """The dilated kernel's extent, (kh - 1)·dh + 1 by (kw - 1)·dw + 1 pixels."""
        return tuple((kernel - 1) * dilation + 1
                     for kernel, dilation in zip(self.kernel_size, self.dilation))

    def pads(self, input_shape: tuple[int, ...]) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) zero padding of an (H, W, C) input: "same" as
        TensorFlow's windows (layers/windows.py, the odd pixel at the bottom/right)."""
        if isinstance(self.padding, tuple):
            return (self.padding[0],) * 2, (self.padding[1],) * 2
        pads = []
        for size, span, stride in zip(input_shape[:2], self._spans(), self.strides):
            outputs, before = out_size(size, span, stride, self.padding)
            pads.append((before, max((outputs - 1) * stride + span - size - before, 0)))
        return pads[0], pads[1]

    def output_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        input_shape = check_image_shape(self, tuple(input_shape))
        if input_shape[2] != self.in_channels:
            raise ValueError(f"{self!r} expects {self.in_channels} input channels (the last "
                             f"dimension, NHWC), received shape {input_shape}; make in_channels "
                             "match the layer before it")
        pads, out = self.pads(input_shape), []
        for axis, (size, span, stride) in enumerate(zip(input_shape[:2], self._spans(),
                                                        self.strides)):
            padded = size + sum(pads[axis])
            if padded < span:
                raise ValueError(f"{self!r} needs images at least {span - sum(pads[axis])} "
                                 f"pixels {('high', 'wide')[axis]} (its dilated kernel's {span} "
                                 f"less {sum(pads[axis])} of padding), received shape "
                                 f"{input_shape}; use a smaller kernel, padding='same' or "
                                 "larger images")
            out.append((padded - span) // stride + 1)
        return out[0], out[1], self.out_channels

    def output_size_for(self, input_size: int) -> int:
        if self.output_shape is None:
            raise ValueError(f"{self!r} needs its input image shape: call build((H, W, C)) or "
                             "give the model input_shape=")
        return math.prod(self.output_shape)

    def geometry(self) -> ConvGeometry:
        """The built layer's convolution, as the GEMM gathers read it."""
        if self.input_shape is None or self.output_shape is None:
            raise ValueError(f"{self!r} is not built: call build((H, W, C)) first")
        (height, width, _), (out_height, out_width, _) = self.input_shape, self.output_shape
        (top, _), (left, _) = self.pads(self.input_shape)
        return ConvGeometry(height, width, self.in_channels, out_height, out_width,
                            self.out_channels, *self.kernel_size, *self.strides,
                            *self.dilation, top, left)

    # Parameters -----------------------------------------------------------------------------
    def parameter_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        kernel = ("kernel", (*self.kernel_size, self.in_channels, self.out_channels))
        return [kernel, ("bias", (self.out_channels,))] if self.use_bias else [kernel]

    def initial_parameters(self, rng: np.random.Generator) -> list[np.ndarray]:
        return [(self.bias_initializer if name == "bias" else self.kernel_initializer)(shape, rng)
                for name, shape in self.parameter_shapes()]

    # Forward and backward: three GEMMs over the gathered patches -------------------------------
    def _check_rows(self, array: GPUArray, shape: tuple[int, ...], name: str) -> int:
        width = math.prod(shape)
        if len(array.shape) != 2 or array.shape[1] != width:
            raise ValueError(f"{self!r}: {name} expected [batch, {width}] (per sample {shape}), "
                             f"received {list(array.shape)}")
        return array.shape[0]

    def propagate(self, program: Program, inputs: GPUArray,
                  activation: Activation | None = None) -> GPUArray:
        """y = patches(x)·kernel + bias, then ``activation`` when fused (as Dense.propagate).

        Shapes: [batch, H·W·in] → [batch, OH·OW·out]."""
        geometry = self.geometry()
        batch = self._check_rows(inputs, self.input_shape, "inputs")
        kernel = self.parameters[0]
        bias = self.parameters[1] if self.use_bias else None
        pixels, outs = batch * geometry.out_height * geometry.out_width, self.out_channels
        outputs, epilogue = forward_outputs(program, self, activation,
                                            (batch, math.prod(self.output_shape)))
        taps = math.prod(self.kernel_size) * self.in_channels
        record_gemm(program, inputs, kernel, outputs, pixels, outs, taps, (taps, 1), (outs, 1),
                    bias=bias, gather=Gather(geometry, a="patches"), **epilogue)
        remember_forward(self, activation, inputs, outputs, epilogue)
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True,
                       activation: Activation | None = None) -> GPUArray | None:
        """dW = patches(x)ᵀ·dY (db = Σ dY in the same GEMM), then dX = patches(dY)·kernelᵀ, the
        gather form; with ``activation`` (the layer below) its derivative in dX's epilogue.

        Shapes: dY [batch, OH·OW·out] → dX [batch, H·W·in]."""
        geometry = self.geometry()
        batch = self._check_rows(grad_outputs, self.output_shape, "grad_outputs")
        kernel = self.parameters[0]
        grad_kernel = self.gradients[0]
        grad_bias = self.gradients[1] if self.use_bias else None
        pixels = batch * geometry.out_height * geometry.out_width
        ins, outs = self.in_channels, self.out_channels
        taps = math.prod(self.kernel_size)
        record_gemm(program, self.last_inputs, grad_outputs, grad_kernel, taps * ins, outs,
                    pixels, (1, taps * ins), (outs, 1), grad_bias=grad_bias,
                    gather=Gather(geometry, a="patches_transposed"))
        if not need_grad_inputs:
            return None
        grad_inputs, epilogue = grad_inputs_of(program, self, activation,
                                               (batch, math.prod(self.input_shape)))
        record_gemm(program, grad_outputs, kernel, grad_inputs,
                    batch * geometry.in_height * geometry.in_width, ins, taps * outs,
                    (taps * outs, 1), (1, taps * outs),
                    gather=Gather(geometry, a="output_patches", b="kernel_transposed"), **epilogue)
        return grad_inputs

    # PyTorch's nn.Conv2d keeps its weight as [out, in, kh, kw] ---------------------------------
    def to_torch(self, name: str, value: np.ndarray) -> np.ndarray:
        """Weight ``name`` in PyTorch's layout: the kernel [kh, kw, in, out] as [out, in, kh,
        kw]."""
        return value.transpose(3, 2, 0, 1) if name == "kernel" else value

    def from_torch(self, name: str, value: np.ndarray) -> np.ndarray:
        """``to_torch``'s inverse: the kernel [out, in, kh, kw] as [kh, kw, in, out]."""
        return np.ascontiguousarray(value.transpose(2, 3, 1, 0)) if name == "kernel" else value

    def get_config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation": self.dilation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}

    def __repr__(self) -> str:
        extras = "".join(f", {name}={value!r}" for name, value, default in (
            ("strides", self.strides, (1, 1)), ("padding", self.padding, "valid"),
            ("dilation", self.dilation, (1, 1)), ("use_bias", self.use_bias, True))
            if value != default)
        return (f"Conv2D({self.in_channels}, {self.out_channels}, {self.kernel_size}{extras})")
