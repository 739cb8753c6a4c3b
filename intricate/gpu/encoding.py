"""Recorded steps (Dispatch, Copy, TexelCopy) and how they are encoded cheaply: one compute
pass kept open across programs, and wgpu-native's C functions called directly on handles
resolved once when a program is recorded.

wgpu-py's public pass API costs ~8 µs of Python per dispatch (argument handling, a list and a
C array per ``set_bind_group``, error capture per call); a small-batch training step of 12
dispatches is bound by it on a fast GPU. The C calls cost ~2.5 µs. Errors are unchanged:
wgpu-native validates a pass's commands at ``encoder.finish()`` (a grid over the device limit
raises ``GPUValidationError`` there, as before), and each run of C calls captures the errors
reported during it and raises them, as wgpu-py's own calls do. Where the internals are missing
(another backend, another wgpu-py), everything goes through the public API.

The handles are the wgpu objects' own: a program keeps its pipelines and bind groups alive
(its ``Dispatch`` steps hold them) as long as it may be encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import wgpu

from .arrays import GPUArray
from .texels import Texels

try:  # wgpu-py's wgpu-native backend (pinned >=0.32,<0.33; any other: the public API)
    from wgpu.backends.wgpu_native import _api as _native
    from wgpu.backends.wgpu_native import _helpers
    from wgpu.backends.wgpu_native._ffi import ffi, lib

    _SET_PIPELINE = lib.wgpuComputePassEncoderSetPipeline
    _SET_BIND_GROUP = lib.wgpuComputePassEncoderSetBindGroup
    _DISPATCH = lib.wgpuComputePassEncoderDispatchWorkgroups
    _NULL = ffi.NULL
    _ERRORS = _native.error_handler
    _ERROR_TYPES = _helpers.ERROR_TYPES
    _ERRORS.capture, _ERRORS.release  # noqa: B018 (both must exist)
    NATIVE = True
except (ImportError, AttributeError):  # pragma: no cover (the pinned wgpu has them)
    NATIVE = False

_CAPTURE = "intricate.encoding"  # the name errors are captured under while C calls run


def native_handle(gpu_object) -> object | None:
    """The wgpu-native handle of a pipeline, bind group or pass, or None (public API only)."""
    return getattr(gpu_object, "_internal", None) if NATIVE else None


class DispatchRun:
    """Consecutive dispatches of a program, ready to encode: ``public`` holds (pipeline, bind
    group, grid) triples; ``native`` the same as (handle, handle, x, y, z), or None where a
    handle is missing."""

    __slots__ = ("native", "public")

    def __init__(self, dispatches: Sequence[tuple[object, object, tuple[int, int, int]]]):
        self.public = tuple(dispatches)
        native = [(native_handle(pipeline), native_handle(group), *grid)
                  for pipeline, group, grid in self.public]
        self.native = None if any(item[0] is None or item[1] is None for item in native) \
            else tuple(native)


class Encoder:
    """A command encoder whose compute pass stays open across ``dispatch`` calls (programs
    encoded one after another share it) until another command ends it: a copy, a clear, a
    read, ``finish``. Any attribute of wgpu's GPUCommandEncoder is available, and ends the
    open pass first, so code written for a plain encoder works with this one.

    Every pass begun is counted in ``device.stats["passes"]`` (``device`` None: uncounted).
    """

    def __init__(self, device, handle: wgpu.GPUCommandEncoder | None = None) -> None:
        self.device = device
        self.handle = handle if handle is not None else device.handle.create_command_encoder()
        self.compute_pass: wgpu.GPUComputePassEncoder | None = None
        self._pass = None  # the open pass's native handle (None: public API)
        self._pipeline = None  # the pipeline last set in the open pass (set again only on change)

    def begin_pass(self, **descriptor) -> None:
        """End the open pass (if any) and begin a compute pass (``descriptor``: wgpu's, e.g.
        ``timestamp_writes``)."""
        self.end_pass()
        self.compute_pass = self.handle.begin_compute_pass(**descriptor)
        self._pass, self._pipeline = native_handle(self.compute_pass), None
        if self.device is not None:
            self.device.stats["passes"] += 1

    def end_pass(self) -> None:
        if self.compute_pass is not None:
            self.compute_pass.end()
            self.compute_pass = self._pass = self._pipeline = None

    def dispatch(self, run: DispatchRun) -> None:
        """Encode ``run``'s dispatches into the open pass (one is begun if none is open).

        Raises:
            wgpu.GPUError: an error wgpu-native reported while encoding (most are reported
                at ``finish`` instead).
        """
        if self.compute_pass is None:
            self.begin_pass()
        if run.native is None or self._pass is None:
            for pipeline, group, grid in run.public:
                self.compute_pass.set_pipeline(pipeline)
                self.compute_pass.set_bind_group(0, group)
                self.compute_pass.dispatch_workgroups(*grid)
            self._pipeline = None  # unknown to the native path
            return
        handle, last = self._pass, self._pipeline
        _ERRORS.capture(_CAPTURE)
        try:
            for pipeline, group, x, y, z in run.native:
                if pipeline is not last:  # a pass keeps its pipeline and bind groups
                    _SET_PIPELINE(handle, pipeline)
                    last = pipeline
                _SET_BIND_GROUP(handle, 0, group, 0, _NULL)
                _DISPATCH(handle, x, y, z)
        finally:
            self._pipeline = last
            error = _ERRORS.release(_CAPTURE)
        if error is not None:
            kind, message = error
            raise _ERROR_TYPES.get(kind, wgpu.GPUError)(message)

    def finish(self) -> wgpu.GPUCommandBuffer:
        self.end_pass()
        return self.handle.finish()

    def __getattr__(self, name: str):
        if name.startswith("_") or name in ("handle", "compute_pass", "device"):
            raise AttributeError(name)  # not set yet (being built or copied)
        self.end_pass()
        return getattr(self.handle, name)


def as_encoder(device, encoder: Encoder | wgpu.GPUCommandEncoder) -> Encoder:
    """``encoder`` itself, or a plain wgpu encoder wrapped (the caller ends its pass)."""
    return encoder if isinstance(encoder, Encoder) else Encoder(device, encoder)


@dataclass
class Dispatch:
    pipeline: wgpu.GPUComputePipeline
    bind_group: wgpu.GPUBindGroup
    grid: tuple[int, int, int]
    label: str
    uniform: wgpu.GPUBuffer | None = None  # kept alive (and counted) as long as the dispatch
    alternate: wgpu.GPUBindGroup | None = None  # bound instead on odd phases (Program.encode)

    def group(self, phase: int) -> wgpu.GPUBindGroup:
        """The bind group of ``phase``: ``alternate`` on odd phases where there is one."""
        return self.alternate if phase % 2 and self.alternate is not None else self.bind_group


@dataclass
class Copy:
    source: GPUArray
    destination: GPUArray
    nbytes: int  # rounded up to whole 4-byte words, as copies require

    def encode(self, encoder: wgpu.GPUCommandEncoder) -> None:
        encoder.copy_buffer_to_buffer(self.source.buffer, self.source.offset,
                                      self.destination.buffer, self.destination.offset,
                                      self.nbytes)


@dataclass
class TexelCopy:
    source: GPUArray
    destination: Texels

    def encode(self, encoder: wgpu.GPUCommandEncoder) -> None:
        self.destination.copy(encoder, self.source)


def compile_steps(steps: Sequence[Dispatch | Copy | TexelCopy],
                  phase: int = 0) -> list[DispatchRun | Copy | TexelCopy]:
    """``steps`` with each stretch of consecutive dispatches made one ready-to-encode
    DispatchRun (their bind groups for ``phase``)."""
    items, stretch = [], []
    for step in [*steps, None]:
        if isinstance(step, Dispatch):
            stretch.append((step.pipeline, step.group(phase), step.grid))
            continue
        if stretch:
            items.append(DispatchRun(stretch))
            stretch = []
        if step is not None:
            items.append(step)
    return items


def encode_steps(encoder: Encoder | wgpu.GPUCommandEncoder,
                 steps: Sequence[Dispatch | Copy | TexelCopy],
                 timestamps: wgpu.GPUQuerySet | None = None, device=None) -> None:
    """Encode recorded steps (phase 0); consecutive dispatches share one compute pass, which
    ends here. With ``timestamps``, query 0 is written as the first compute pass begins and
    query 1 as the last one ends (the steps must hold a dispatch). Passes are counted in the
    stats of an Encoder's device, or of ``device``."""
    items = compile_steps(steps)
    runs = [index for index, item in enumerate(items) if isinstance(item, DispatchRun)]
    if isinstance(encoder, Encoder):  # its timestamped passes are its own
        encoder.end_pass()
        device, encoder = encoder.device, encoder.handle
    wrapped = Encoder(device, encoder)
    for index, item in enumerate(items):
        if not isinstance(item, DispatchRun):
            wrapped.end_pass()
            item.encode(wrapped.handle)
            continue
        writes = {}
        if timestamps is not None:  # a middle pass writes none
            writes = {"query_set": timestamps,
                      **({"beginning_of_pass_write_index": 0} if index == runs[0] else {}),
                      **({"end_of_pass_write_index": 1} if index == runs[-1] else {})}
        wrapped.begin_pass(**({"timestamp_writes": writes} if len(writes) > 1 else {}))
        wrapped.dispatch(item)
    wrapped.end_pass()
