"""Global pooling of NHWC images: GlobalAveragePooling2D and GlobalMaxPooling2D (Keras), the
windowed poolings (layers/pooling.py) with one window, the whole image, on the same shader
entries (shaders/layers/pooling.wgsl). ``keepdims=True`` gives (1, 1, C) instead of (C,), as
Keras: the same rows on the GPU, only the shape the next layer sees differs.
"""

from __future__ import annotations

from typing import Any

from ..gpu import GPUArray, Program
from ..ops import loops
from .pooling import ImagePooling, MaxPooling, dispatch, record_average_backward
from .registry import register
from .windows import Windows, check_image_shape

__all__ = ["GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalMaxPooling2D"]


class GlobalPooling(ImagePooling):
    """What the global poolings share: ``keepdims``, their shapes and their one window."""

    def __init__(self, keepdims: bool = False) -> None:
        super().__init__()
        if not isinstance(keepdims, bool):
            raise ValueError(f"keepdims: expected True or False, received {keepdims!r}")
        self.keepdims = keepdims

    def output_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(H, W, C) → (C,), or (1, 1, C) with keepdims; a ValueError naming this layer for a
        shape that is not an image (see ``windows_for`` for what else it refuses)."""
        channels = self.windows_for(input_shape).channels
        return (1, 1, channels) if self.keepdims else (channels,)

    def windows_for(self, input_shape: tuple[int, ...]) -> Windows:
        height, width, channels = check_image_shape(self, tuple(input_shape))
        return Windows(height, width, channels, 1, 1, height, width, height, width)

    def get_config(self) -> dict[str, Any]:
        return {"keepdims": True} if self.keepdims else {}  # the default keeps older files'


@register
class GlobalAveragePooling2D(GlobalPooling):
    """The mean over each image's height and width, per channel: (H, W, C) → (C,).

    An average pool whose one window is the whole image. Images of more cells than a shader
    loop may visit (ops/loops.py LOOP_BOUND; 224x224 is 50176) are summed in parts of at most
    LOOP_BOUND cells, then the parts: two dispatches instead of one.

    Args:
        keepdims: give (1, 1, C) instead of (C,) (Keras').

    Shapes: propagate [batch, H·W·C] → [batch, C].
    """

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        """Record y[n, c] = mean of x[n, :, :, c]. Shapes: [batch, H·W·C] → [batch, C]."""
        windows = self.built_windows(inputs)
        batch, channels, cells = inputs.shape[0], windows.channels, windows.height * windows.width
        outputs = program.array(self, "outputs", (batch, channels))
        if windows.trips <= loops.LOOP_BOUND:  # one pass: an invocation per (sample, channel)
            dispatch(program, "average_forward", windows.params(batch * channels),
                     inputs=inputs, outputs=outputs)
        else:
            parts = -(-cells // loops.LOOP_BOUND)
            if parts > loops.LOOP_BOUND:
                raise ValueError(f"{self!r}: images of {cells} cells need {parts} partial sums "
                                 f"per channel, past the {loops.LOOP_BOUND} one loop may add")
            part_cells = -(-cells // parts)
            partials = program.array(self, "partials", (batch, parts * channels),
                                     program.precision.parameters)
            dispatch(program, "global_partial_sums",
                     windows.params(batch * parts * channels, parts, part_cells),
                     inputs=inputs, partials=partials)
            dispatch(program, "global_average", windows.params(batch * channels, parts),
                     partials=partials, outputs=outputs)
        self.last_inputs, self.last_outputs = inputs, outputs
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        """Record dE/dI[n, h, w, c] = dE/dO[n, c] / (H·W). Shapes: [batch, C] → [batch, H·W·C]."""
        return record_average_backward(self, program, grad_outputs, self.windows,
                                       need_grad_inputs)


@register
class GlobalMaxPooling2D(GlobalPooling, MaxPooling):
    """The maximum over each image's height and width, per channel: (H, W, C) → (C,).

    A max pool whose one window is the whole image (MaxPooling's forward, argmax, backward):
    its loop visits every cell, so images of more cells than a shader loop may visit
    (H · (W + 1) past ops/loops.py LOOP_BOUND, 16384: about 127x127) are refused.

    Args:
        keepdims: give (1, 1, C) instead of (C,) (Keras').

    Shapes: propagate [batch, H·W·C] → [batch, C].

    Raises:
        ValueError (at build): not an image shape; an image past the loop bound.
    """

    def windows_for(self, input_shape: tuple[int, ...]) -> Windows:
        windows = super().windows_for(input_shape)
        if windows.trips > loops.LOOP_BOUND:
            raise ValueError(f"{self!r}: images of {windows.height}x{windows.width} take "
                             f"{windows.trips} loop iterations per invocation, past the "
                             f"{loops.LOOP_BOUND} a shader may run (llvmpipe stops loops "
                             "silently); put a MaxPool2D before it to shrink them, or use "
                             "GlobalAveragePooling2D (which sums in parts)")
        return windows


GlobalAvgPool2D = GlobalAveragePooling2D  # Keras' other names for them (files name the class)
GlobalMaxPool2D = GlobalMaxPooling2D
