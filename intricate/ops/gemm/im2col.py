"""A convolution as implicit GEMM: the geometry that shaders/ops/gemm/im2col.wgsl's gathers read,
and which gather each operand of a convolution's three GEMMs takes (``Gather``).

With NHWC x [N, H, W, C], kernel [KH, KW, C, F] (Keras) and y [N, OH, OW, F]:
- forward  y[N·OH·OW, F]  = patches[N·OH·OW, KH·KW·C] · kernel[KH·KW·C, F]   (a: "patches");
- dW       dW[KH·KW·C, F] = patchesᵀ · dY[N·OH·OW, F]            (a: "patches_transposed");
- dX       dX[N·H·W, C]    = dY-patches[N·H·W, KH·KW·F] · kernelᵀ[KH·KW·F, C]
                             (a: "output_patches", b: "kernel_transposed"), the gather form: each
                             input pixel sums the taps whose output pixel exists.
The patch matrices are never stored: the GEMM's loads compute each element's address.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

GATHERS = ("patches", "patches_transposed", "output_patches", "kernel_transposed")
# The gathers compute addresses as i32 (-1: a zero of the padding): a gathered array holds fewer.
MOST_ELEMENTS = 2**31 - 1


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution's sizes (per sample; the batch is the GEMM's rows)."""

    in_height: int
    in_width: int
    in_channels: int
    out_height: int
    out_width: int
    out_channels: int
    kernel_height: int
    kernel_width: int
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_top: int = 0
    pad_left: int = 0

    def params(self) -> dict[str, int]:
        """The GEMM Params fields (interface.wgsl's conv_*) of this geometry."""
        return {f"conv_{field.name}": getattr(self, field.name) for field in fields(self)
                if field.name != "kernel_height"}  # the GEMM's k bounds the taps


@dataclass(frozen=True)
class Gather:
    """Which im2col.wgsl function gathers operand a and/or b (None: read by its strides)."""

    geometry: ConvGeometry
    a: str | None = None
    b: str | None = None

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            value = getattr(self, name)
            if value is not None and value not in GATHERS:
                raise ValueError(f"Gather.{name}: expected one of {GATHERS} or None, received "
                                 f"{value!r}")

    def check(self, a, b) -> None:
        """Refuse a gathered operand (a GPUArray) too large for the gathers' i32 addresses.

        Raises:
            ValueError: naming the operand, its size and the limit.
        """
        for name, array in (("a", a), ("b", b)):
            if getattr(self, name) is not None and array.size > MOST_ELEMENTS:
                raise ValueError(f"{name}: a convolution's gathered operand holds at most "
                                 f"{MOST_ELEMENTS} elements (i32 addresses), received "
                                 f"{array.size} ({getattr(self, name)}); use smaller batches")
