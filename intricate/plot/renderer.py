"""Scenes drawn by a WGSL render pipeline on a model's own device (shaders/plot/chart.wgsl),
into an rgba8unorm texture; pixels read back only when asked (a PNG, a notebook frame).

Everything here runs on the device's GPU thread (``await device.run(draw, ...)``): the frame's
submit waits in the same queue as training, so it never reorders or blocks a fit's work, and
the event loop never waits on the GPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import wgpu

from ..gpu import Device
from ..gpu.modules import shader_module
from ..gpu.shaders import render, shader_path
from . import font
from .scene import FLOATS_PER_SHAPE, FRAME_BYTES, PALETTE_SIZE, WHITE, Scene

SHADER = "plot/chart.wgsl"
FORMAT = "rgba8unorm"  # bytes as written in a PNG: no sRGB conversion on the way
ROW_ALIGNMENT = 256  # bytes per row of a texture-to-buffer copy must be a multiple of this


class ChartPipeline:
    """The device's chart pipeline and the buffers frames reuse (one per device, made on
    first use and kept in ``device.cache``; frames are drawn one after the other on the GPU
    thread, so they may share buffers)."""

    def __init__(self, device: Device) -> None:
        handle = device.handle
        source = render(SHADER, {"glyph_rows": font.HEIGHT, "palette_size": PALETTE_SIZE})
        module = shader_module(handle, SHADER, source, where=str(shader_path(SHADER)))
        blend = {"color": {"src_factor": "src-alpha", "dst_factor": "one-minus-src-alpha",
                           "operation": "add"},
                 "alpha": {"src_factor": "one", "dst_factor": "one-minus-src-alpha",
                           "operation": "add"}}
        self.pipeline = handle.create_render_pipeline(
            label=SHADER, layout="auto",
            vertex={"module": module, "entry_point": "vertex_main", "buffers": []},
            primitive={"topology": "triangle-list"},
            fragment={"module": module, "entry_point": "fragment_main",
                      "targets": [{"format": FORMAT, "blend": blend}]})
        self.device = device
        storage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
        self.frame = device.create_buffer(
            FRAME_BYTES, wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST, "plot frame")
        glyphs = font.glyph_rows()
        self.font = device.create_buffer(glyphs.nbytes, storage, "plot font")
        self.write(self.font, glyphs)
        self.shapes = self.surface = None
        self.target: wgpu.GPUTexture | None = None

    def write(self, buffer: wgpu.GPUBuffer, data) -> None:
        self.device.queue.write_buffer(buffer, 0, data)
        self.device.stats["uploads"] += 1

    def fitted(self, buffer: wgpu.GPUBuffer | None, nbytes: int, label: str) -> wgpu.GPUBuffer:
        """``buffer`` if it holds ``nbytes``, else a new one twice that size (frames grow)."""
        if buffer is not None and buffer.size >= nbytes:
            return buffer
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
        return self.device.create_buffer(max(256, 2 * nbytes), usage, label)

    def texture(self, width: int, height: int) -> wgpu.GPUTexture:
        if self.target is None or self.target.size[:2] != (width, height):
            self.target = self.device.handle.create_texture(
                label="plot target", size=(width, height, 1), format=FORMAT,
                usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
        return self.target


def chart_pipeline(device: Device) -> ChartPipeline:
    key = ("plot", SHADER)
    if key not in device.cache:
        device.cache[key] = ChartPipeline(device)
    return device.cache[key]


def check_size(device: Device, width: int, height: int) -> None:
    """Refuse a picture size the device can't draw, before any GPU work.

    Raises:
        ValueError: not whole numbers from 16 to the device's largest 2-D texture.
    """
    limit = device.limits["max-texture-dimension-2d"]
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not 16 <= value <= limit:
            raise ValueError(f"size: expected a {name} in pixels from 16 to {limit} (this "
                             f"device's largest texture), received {value!r}")


class Frame:
    """A drawn frame on its way to the host: its copy into a mappable buffer is submitted and
    mapping was requested; ``collect`` once ``mapped`` (wgpu's poll thread signals it)."""

    def __init__(self, device: Device, scene: Scene) -> None:
        check_size(device, scene.width, scene.height)
        charts = chart_pipeline(device)
        self.device, self.width, self.height = device, scene.width, scene.height
        encoder = device.handle.create_command_encoder()
        target = encode(charts, encoder, scene)
        self.stride = -(-self.width * 4 // ROW_ALIGNMENT) * ROW_ALIGNMENT
        self.staging = device.take_staging(self.stride * self.height)
        encoder.copy_texture_to_buffer({"texture": target},
                                       {"buffer": self.staging, "bytes_per_row": self.stride,
                                        "rows_per_image": self.height},
                                       (self.width, self.height, 1))
        device.submit(encoder)
        self.mapping = self.staging.map_async(wgpu.MapMode.READ)

    def wait(self) -> None:
        """Block until the frame's pixels are mapped: a wait on an event that wgpu's own poll
        thread sets, no wgpu call, so any thread may wait (off the event loop and the GPU
        thread, the GPU thread keeps submitting training work meanwhile)."""
        self.mapping.sync_wait()

    def collect(self) -> np.ndarray:
        """The pixels (GPU thread, after ``wait``): uint8 [height, width, 4], RGBA, row 0 at
        the top; one readback."""
        try:
            raw = np.frombuffer(self.staging.read_mapped(copy=False), np.uint8,
                                count=self.stride * self.height)
            pixels = raw.reshape(self.height, self.stride)[:, :self.width * 4]
            pixels = pixels.reshape(self.height, self.width, 4).copy()
        finally:
            self.staging.unmap()
            self.device.give_staging(self.staging)
        self.device.stats["readbacks"] += 1
        return pixels


def encode(charts: ChartPipeline, encoder: wgpu.GPUCommandEncoder,
           scene: Scene) -> wgpu.GPUTexture:
    """Upload ``scene``'s marks and encode its render pass; returns the target texture."""
    device = charts.device
    shapes = scene.shape_array()
    surface = scene.surface if scene.surface is not None else np.zeros(1, np.float32)
    charts.shapes = charts.fitted(charts.shapes, max(shapes.nbytes, 4 * FLOATS_PER_SHAPE),
                                  "plot shapes")
    charts.surface = charts.fitted(charts.surface, surface.nbytes, "plot surface")
    charts.write(charts.frame, scene.frame_bytes())
    if len(shapes):
        charts.write(charts.shapes, shapes)
    charts.write(charts.surface, np.ascontiguousarray(surface, np.float32).reshape(-1))
    bind_group = device.handle.create_bind_group(
        layout=charts.pipeline.get_bind_group_layout(0),
        entries=[{"binding": index, "resource": {"buffer": buffer}} for index, buffer in
                 enumerate((charts.frame, charts.shapes, charts.font, charts.surface))])
    target = charts.texture(scene.width, scene.height)
    render_pass = encoder.begin_render_pass(color_attachments=[{
        "view": target.create_view(), "load_op": "clear", "store_op": "store",
        "clear_value": WHITE}])
    render_pass.set_pipeline(charts.pipeline)
    render_pass.set_bind_group(0, bind_group)
    if len(shapes):
        render_pass.draw(6, len(shapes))
    render_pass.end()
    return target


def draw(device: Device, scene: Scene) -> np.ndarray:
    """Draw ``scene`` and wait for its pixels on the GPU thread (for synchronous callers;
    ``draw_async`` waits elsewhere): one submit, one readback."""
    frame = Frame(device, scene)
    frame.wait()
    return frame.collect()


async def draw_async(device: Device, build: Callable[[], Scene]) -> np.ndarray:
    """Build a scene with ``build`` and draw it, both on the GPU thread, then wait for the
    pixels on a worker thread: the GPU thread is free for training work while the frame waits
    its turn in the queue (a frame waited on there would hold back a fit's next submit)."""

    frame = await device.run(lambda: Frame(device, build()))
    await asyncio.to_thread(frame.wait)
    return await device.run(frame.collect)
