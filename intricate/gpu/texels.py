"""Texels: a GPU array's elements copied into an ``rgba32float`` texture, four per texel, for
shaders that read them with ``textureLoad`` (gemm_subgroup.wgsl on software adapters).

Why: llvmpipe (Mesa 22.3) loads each lane's element of a storage buffer one at a time in a loop,
but fetches a whole texel per lane at once; its GEMM runs 25-35% faster on texels, copies included
(``copy_buffer_to_texture`` is a plain memory copy there: ~2% of the GEMM's time).

Layout: the array's elements in order, ROW texels per texture row (4 · ROW floats); element e is
component e % 4 of texel e / 4, at (column, row) = ((e / 4) % ROW, (e / 4) / ROW). A shader reads
four consecutive elements with one fetch when they start at a multiple of 4.
"""

from __future__ import annotations

import math

import wgpu

from .arrays import GPUArray
from .device import Device

ROW = 4096  # texels per texture row: 64 KiB, a multiple of the 256-byte pitch copies need
TEXEL_BYTES = 16


def fits(array: GPUArray) -> bool:
    """Whether ``array`` can be copied into texels: float32, whole texels starting on a texel
    boundary of its buffer, and few enough rows for the device's textures."""
    limit = array.device.limits["max-texture-dimension-2d"]
    return (array.dtype.itemsize == 4 and array.offset % TEXEL_BYTES == 0
            and array.nbytes % TEXEL_BYTES == 0 and ROW <= limit
            and math.ceil(array.nbytes / TEXEL_BYTES / ROW) <= limit)


class Texels:
    """An rgba32float texture holding ``count`` texels (ROW per row), bindable as a
    ``texture_2d<f32>``; ``copy`` records an array's elements into it."""

    def __init__(self, device: Device, count: int, label: str = ""):
        self.count = count
        size = (ROW, math.ceil(count / ROW), 1)
        self.texture = device.handle.create_texture(
            size=size, format="rgba32float", label=label,
            usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST
            | wgpu.TextureUsage.COPY_SRC)  # COPY_SRC: readable back (tests, debugging)
        self.view = self.texture.create_view()

    def binding(self) -> wgpu.GPUTextureView:
        """The resource of a bind-group entry."""
        return self.view

    def copy(self, encoder: wgpu.GPUCommandEncoder, array: GPUArray) -> None:
        """Encode the copy of ``array`` (``fits``, ``count`` texels) into the texture: the
        whole rows at once, then the last, partial one."""
        whole, rest = divmod(array.nbytes // TEXEL_BYTES, ROW)
        source = {"buffer": array.buffer, "bytes_per_row": ROW * TEXEL_BYTES}
        if whole:
            encoder.copy_buffer_to_texture(
                {**source, "offset": array.offset, "rows_per_image": whole},
                {"texture": self.texture}, (ROW, whole, 1))
        if rest:
            encoder.copy_buffer_to_texture(
                {**source, "offset": array.offset + whole * ROW * TEXEL_BYTES},
                {"texture": self.texture, "origin": (0, whole, 0)}, (rest, 1, 1))
