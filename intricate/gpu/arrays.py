"""GPU arrays: a typed, shaped view of a storage buffer, with upload and staged readback.

All functions here run on the GPU thread (see ``Device.run``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import wgpu

from .device import Device

STORAGE_USAGE = (
    wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
)


@dataclass(eq=False)
class GPUArray:
    """``shape`` elements of ``dtype`` at byte ``offset`` of ``buffer``.

    Several arrays may view one buffer (a model's parameters live in one flat buffer so that one
    dispatch updates them all); offsets are multiples of the device's storage offset alignment.
    """

    device: Device
    buffer: wgpu.GPUBuffer
    shape: tuple[int, ...]
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))
    offset: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def binding(self) -> dict:
        """The resource of a bind-group entry (sizes rounded up to the 4-byte binding unit)."""
        size = max(4, -(-self.nbytes // 4) * 4)
        return {"buffer": self.buffer, "offset": self.offset, "size": size}

    def view(self, start: int, shape: tuple[int, ...]) -> GPUArray:
        """The elements ``[start, start + prod(shape))`` as a new array (start must be aligned)."""
        return GPUArray(self.device, self.buffer, tuple(shape), self.dtype,
                        self.offset + start * self.dtype.itemsize)

    def __repr__(self) -> str:
        return f"GPUArray(shape={self.shape}, dtype={self.dtype.name}, offset={self.offset})"


def empty(device: Device, shape: tuple[int, ...], dtype=np.float32, label: str = "",
          bindable: bool = True) -> GPUArray:
    """A new zero-filled array with its own buffer (freed when no array or bind group uses it).

    ``bindable=False`` is for arrays only copied from or to, never bound to a shader: they may
    exceed the storage binding limit.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    limit = device.limits["max-storage-buffer-binding-size"]
    if bindable and nbytes > limit:
        raise ValueError(f"{label or 'array'}: shape {tuple(shape)} needs {nbytes} bytes, more "
                         f"than this device binds at once ({limit}); use fewer samples per call")
    buffer = device.create_buffer(nbytes, STORAGE_USAGE, label=label)
    return GPUArray(device, buffer, tuple(int(s) for s in shape), dtype)


def upload(array: GPUArray, values: np.ndarray) -> None:
    """Copy host ``values`` (same element count) into ``array``."""
    data = np.ascontiguousarray(values, dtype=array.dtype).reshape(-1)
    if data.size != array.size:
        raise ValueError(f"upload: expected {array.size} values for {array}, received {data.size}")
    if data.nbytes % 4:  # queue.write_buffer wants whole 4-byte words
        data = np.concatenate([data, np.zeros(1, data.dtype)])
    array.device.queue.write_buffer(array.buffer, array.offset, data)
    array.device.stats["uploads"] += 1


def from_numpy(device: Device, values: np.ndarray, dtype=np.float32, label: str = "",
               bindable: bool = True) -> GPUArray:
    array = empty(device, np.shape(values), dtype, label, bindable)
    upload(array, values)
    return array


class StagedRead:
    """Arrays whose copy into a staging buffer has been encoded; ``collect`` after the submit."""

    def __init__(self, device: Device, encoder: wgpu.GPUCommandEncoder, arrays: list[GPUArray]):
        self.device = device
        self.arrays = arrays
        self.starts: list[int] = []
        total = 0
        for array in arrays:
            self.starts.append(total)
            total += -(-array.nbytes // 4) * 4
        self.staging = device.take_staging(total)
        for array, start in zip(arrays, self.starts):
            encoder.copy_buffer_to_buffer(
                array.buffer, array.offset, self.staging, start, array.binding()["size"]
            )

    def collect(self) -> list[np.ndarray]:
        """Wait for the copy, then return one host array per staged array (copies, not views)."""
        self.staging.map_sync(wgpu.MapMode.READ)
        try:
            raw = self.staging.read_mapped(copy=False)
            results = [
                np.frombuffer(raw, a.dtype, count=a.size, offset=start).reshape(a.shape).copy()
                for a, start in zip(self.arrays, self.starts)
            ]
        finally:
            self.staging.unmap()
            self.device.give_staging(self.staging)
        self.device.stats["readbacks"] += 1
        return results


def read(*arrays: GPUArray) -> list[np.ndarray]:
    """Read arrays back to the host with one submit and one readback (none for no arrays: a
    model without parameters has no weights to read)."""
    if not arrays:
        return []
    device = arrays[0].device
    encoder = device.handle.create_command_encoder()
    staged = StagedRead(device, encoder, list(arrays))
    device.submit(encoder)
    return staged.collect()
