"""Windowed pooling of NHWC images: MaxPool2D and AvgPool2D (Keras semantics; the global
poolings, whose one window is the image, are in global_pooling.py), forward and backward in
shaders/layers/pooling.wgsl.

Windows follow TensorFlow (layers/windows.py: "same" pads the odd cell at the bottom/right), or
PyTorch for an int padding. Padding cells take no part: a max ignores them and an average divides
by the real cells of its window (unless AvgPool2D's count_include_pad, PyTorch's default).
Backwards gather (each input cell sums over the windows holding it), so overlapping windows
(strides < pool) need no atomics.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..gpu import GPUArray, Program
from ..ops import loops
from .base import Layer
from .registry import register
from .windows import Windows, check_image_shape, check_pair, check_pool_padding, out_size

__all__ = ["AvgPool2D", "AveragePooling2D", "MaxPool2D", "MaxPooling2D"]

SHADER = "layers/pooling.wgsl"


def dispatch(program: Program, entry: str, params: dict[str, int], keep_argmax: bool = False,
             **bound: GPUArray) -> None:
    """Record ``entry`` of pooling.wgsl, an invocation per element of ``params["count"]``."""
    program.dispatch(SHADER, entry, threads=params["count"], params=params,
                     template={"argmax": keep_argmax}, **bound)


class ImagePooling(Layer):
    """What the poolings share: windows (from their ``windows_for``) fixed by ``build``, which
    inputs must fit."""

    windows: Windows | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        super().build(input_shape)
        self.windows = self.windows_for(input_shape)

    def built_windows(self, inputs: GPUArray) -> Windows:
        """The windows, once ``inputs`` [batch, H·W·C] fit the shape this layer was built for.

        Raises:
            ValueError: never built, or ``inputs`` are rows of another width.
        """
        if self.windows is None:
            raise ValueError(f"{self!r}: call build(input_shape) before propagate (a Model "
                             "builds its layers)")
        width = math.prod(self.input_shape)
        if len(inputs.shape) != 2 or inputs.shape[1] != width:
            raise ValueError(f"{self!r}: expected inputs [batch, {width}] (images "
                             f"{self.input_shape}), received {inputs.shape}")
        return self.windows


class Pooling2D(ImagePooling):
    """The windowed poolings' shared arguments, shapes and dispatch (not a layer by itself).

    Args:
        pool_size: window (height, width), or one int for both.
        strides: steps between windows, as pool_size; None takes pool_size.
        padding: "valid" (windows that fit) or "same" (ceil(in / stride) windows per axis), in
            any case; or an int or (height, width) pair: PyTorch's padding, that many cells on
            each side (at most half the pool), floor((in + 2p - pool) / stride) + 1 windows.
        ceil_mode: PyTorch's: ceil instead of floor in that count (a last window may overhang
            the bottom/right; its cells past the image take no part); "valid" is padding 0 then.

    Shapes: propagate [batch, H·W·C] → [batch, OH·OW·C] (NHWC rows; see ``output_shape_for``).

    Raises:
        ValueError: a size that is not a positive int or pair, an unknown padding, padding
            past half the pool, ceil_mode with padding "same".
    """

    def __init__(self, pool_size: int | tuple[int, int] = 2,
                 strides: int | tuple[int, int] | None = None,
                 padding: str | int | tuple[int, int] = "valid", ceil_mode: bool = False) -> None:
        super().__init__()
        self.pool_size = check_pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else check_pair("strides", strides)
        self.padding = check_pool_padding(padding, self.pool_size)
        if not isinstance(ceil_mode, (bool, np.bool_)) or ceil_mode and self.padding == "same":
            raise ValueError(f"ceil_mode: expected True or False, and False with padding='same' "
                             f"(TensorFlow's windows already cover the image), received "
                             f"{ceil_mode!r} with padding={self.padding!r}")
        self.ceil_mode = bool(ceil_mode)

    def windows_for(self, input_shape: tuple[int, ...]) -> Windows:
        """The windows on images of ``input_shape`` (H, W, C).

        Raises:
            ValueError: not an image shape; a "valid" (or int padding) window larger than the
                (padded) image; a window of more cells than a shader loop may visit (ops/loops.py
                LOOP_BOUND).
        """
        height, width, channels = check_image_shape(self, tuple(input_shape))
        (pool_h, pool_w), (stride_h, stride_w) = self.pool_size, self.strides
        pad_h, pad_w = (0, 0) if isinstance(self.padding, str) else self.padding
        fits = pool_h <= height + 2 * pad_h and pool_w <= width + 2 * pad_w
        if self.padding != "same" and not fits:
            raise ValueError(f"{self!r}: a {pool_h}x{pool_w} window does not fit images of shape "
                             f"{tuple(input_shape)} with padding={self.padding!r}; use a "
                             f"pool_size of at most ({height + 2 * pad_h}, {width + 2 * pad_w}) "
                             "or padding='same'")
        axes = ((0, 0) if self.ceil_mode and self.padding == "valid" else
                (self.padding,) * 2 if isinstance(self.padding, str) else self.padding)
        out_h, top = out_size(height, pool_h, stride_h, axes[0], self.ceil_mode)
        out_w, left = out_size(width, pool_w, stride_w, axes[1], self.ceil_mode)
        windows = Windows(height, width, channels, out_h, out_w, pool_h, pool_w, stride_h,
                          stride_w, top, left)
        if windows.trips > loops.LOOP_BOUND:
            raise ValueError(f"{self!r}: a {pool_h}x{pool_w} window takes {windows.trips} loop "
                             f"iterations per invocation, past the {loops.LOOP_BOUND} a shader "
                             "may run (llvmpipe stops loops silently); use a smaller pool_size, "
                             "or GlobalAveragePooling2D to average whole images")
        return windows

    def output_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(H, W, C) → (OH, OW, C); see ``windows_for`` for what it refuses."""
        windows = self.windows_for(input_shape)
        return windows.out_height, windows.out_width, windows.channels

    def get_config(self) -> dict[str, Any]:
        config = {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}
        return {**config, "ceil_mode": True} if self.ceil_mode else config  # older files' keys


class MaxPooling(ImagePooling):
    """The maximum of each window, per channel: MaxPool2D's and GlobalMaxPooling2D's records.

    Backward routes each dE/dO to its window's argmax: the first maximal cell in row-major order
    on ties (as PyTorch and TensorFlow), the first NaN of a window holding one (NaN propagates).
    The training forward keeps the argmax (u32 per output) for the backward; evaluation and
    predict programs (``program.training`` False) skip it (a backward after one finds it again).
    """

    argmax: GPUArray | None = None

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        """Record y = the max of each window. Shapes: [batch, H·W·C] → [batch, OH·OW·C]."""
        windows = self.built_windows(inputs)
        batch, width = inputs.shape[0], math.prod(self.output_shape)
        outputs = program.array(self, "outputs", (batch, width))
        keep = program.training  # only a training step's backward reads the argmax
        kept = {"argmax": program.array(self, "argmax", (batch, width), np.uint32)} if keep else {}
        dispatch(program, "max_forward", windows.params(batch * width), keep, inputs=inputs,
                 outputs=outputs, **kept)
        self.last_inputs, self.last_outputs = inputs, outputs
        self.argmax = kept.get("argmax")
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        """Record dE/dI: each cell sums the dE/dO of the windows whose argmax it is.

        Shapes: [batch, OH·OW·C] → [batch, H·W·C].
        """
        if not need_grad_inputs:
            return None
        batch = grad_outputs.shape[0]
        if self.argmax is None:  # a forward outside training kept none: find it now (a dispatch)
            self.argmax = program.array(self, "argmax", grad_outputs.shape, np.uint32)
            dispatch(program, "max_forward", self.windows.params(grad_outputs.size), True,
                     inputs=self.last_inputs, outputs=self.last_outputs, argmax=self.argmax)
        grad_inputs = program.array(self, "grad_inputs", (batch, math.prod(self.input_shape)))
        dispatch(program, "max_backward", self.windows.params(grad_inputs.size),
                 grad_outputs=grad_outputs, argmax=self.argmax, grad_inputs=grad_inputs)
        return grad_inputs


@register
class MaxPool2D(Pooling2D, MaxPooling):
    """The maximum of each window, per channel (see Pooling2D for the arguments, MaxPooling for
    ties, NaN and the argmax)."""


@register
class AvgPool2D(Pooling2D):
    """The mean of each window's real cells, per channel (see Pooling2D for the arguments):
    with padding="same", a window that overhangs the image divides by the cells it covers
    (Keras; PyTorch's count_include_pad=False).

    Args:
        count_include_pad: with an int padding, divide by the window's cells inside the padded
            image, padding cells counted as zeros (PyTorch's default, True there; False here,
            as Keras). Only with an int padding: "same" and "valid" pad as TensorFlow, which
            never counts padding.

    Raises:
        ValueError: as Pooling2D; count_include_pad True with a padding that is not an int.
    """

    def __init__(self, pool_size: int | tuple[int, int] = 2,
                 strides: int | tuple[int, int] | None = None,
                 padding: str | int | tuple[int, int] = "valid", ceil_mode: bool = False,
                 count_include_pad: bool = False) -> None:
        super().__init__(pool_size, strides, padding, ceil_mode)
        if not isinstance(count_include_pad, (bool, np.bool_)):
            raise ValueError(f"count_include_pad: expected True or False, received "
                             f"{count_include_pad!r}")
        if count_include_pad and isinstance(self.padding, str):
            raise ValueError(f"count_include_pad=True counts PyTorch's symmetric padding, "
                             f"received padding={padding!r}; give padding as an int or (height, "
                             "width) pair, or leave count_include_pad False")
        self.count_include_pad = bool(count_include_pad)

    def windows_for(self, input_shape: tuple[int, ...]) -> Windows:
        return replace(super().windows_for(input_shape),
                       count_padding=int(self.count_include_pad))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        return {**config, "count_include_pad": True} if self.count_include_pad else config

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        """Record y = the mean of each window. Shapes: [batch, H·W·C] → [batch, OH·OW·C]."""
        windows = self.built_windows(inputs)
        outputs = program.array(self, "outputs", (inputs.shape[0], math.prod(self.output_shape)))
        dispatch(program, "average_forward", windows.params(outputs.size), inputs=inputs,
                 outputs=outputs)
        self.last_inputs, self.last_outputs = inputs, outputs
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        """Record dE/dI: each cell sums dE/dO / (real cells) over the windows holding it.

        Shapes: [batch, OH·OW·C] → [batch, H·W·C].
        """
        return record_average_backward(self, program, grad_outputs, self.windows,
                                       need_grad_inputs)


def record_average_backward(layer: Layer, program: Program, grad_outputs: GPUArray,
                            windows: Windows, need_grad_inputs: bool) -> GPUArray | None:
    """dE/dI of an average pooling (AvgPool2D, or GlobalAveragePooling2D's one window)."""
    if not need_grad_inputs:
        return None
    batch = grad_outputs.shape[0]
    grad_inputs = program.array(layer, "grad_inputs", (batch, math.prod(layer.input_shape)))
    dispatch(program, "average_backward", windows.params(grad_inputs.size),
             grad_outputs=grad_outputs, grad_inputs=grad_inputs)
    return grad_inputs


MaxPooling2D = MaxPool2D  # Keras' other names for them (files name the class: MaxPool2D)
AveragePooling2D = AvgPool2D
