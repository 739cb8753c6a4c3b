"""Programs: GPU work recorded once (pipelines, bind groups, params) and encoded on every submit.

WebGPU command buffers can't be submitted twice, so a training step is recorded as a list of
ready-made (pipeline, bind group, grid) triples and re-encoded into each epoch's encoder: the
per-epoch host work is a loop of ``set_pipeline``/``set_bind_group``/``dispatch_workgroups``,
made of direct wgpu-native calls on handles resolved once (encoding.py), in one compute pass
that programs encoded one after another share until a copy ends it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import wgpu

from . import arrays
from .arrays import GPUArray
from .device import Device
from .dtypes import FLOAT32, Precision
from .encoding import (
    Copy,
    Dispatch,
    DispatchRun,
    Encoder,
    TexelCopy,
    as_encoder,
    compile_steps,
    encode_steps,  # noqa: F401 (imported from here by timing.py)
)
from .shaders import Shader, kernel
from .texels import TEXEL_BYTES, Texels

MAX_GROUPS = 65535  # WebGPU's guaranteed maximum workgroups per grid dimension


def fold_grid(groups: int) -> tuple[int, int, int]:
    """Spread ``groups`` workgroups over x and y so neither exceeds ``MAX_GROUPS``.

    Shaders rebuild the linear workgroup index as ``wid.x + wid.y * num_workgroups.x`` and
    skip indices past the logical size.
    """
    max_groups = MAX_GROUPS  # read at call time, so tests can lower it to exercise folding
    if groups <= max_groups:
        return (max(1, groups), 1, 1)
    rows = math.ceil(groups / max_groups)
    if rows > max_groups:
        raise ValueError(f"grid: {groups} workgroups exceed {max_groups}² for one dispatch")
    return (max_groups, rows, 1)


class Workspace:
    """Activation and gradient arrays of one batch size and dtype policy, kept across programs
    and fits; arrays default to the policy's element type."""

    def __init__(self, device: Device, batch_size: int, precision: Precision = FLOAT32):
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        self._arrays: dict[tuple, GPUArray] = {}
        self._texels: dict[tuple, Texels] = {}

    def array(self, owner: object, role: str, shape: tuple[int, ...], dtype=None) -> GPUArray:
        dtype = self.precision.numpy if dtype is None else dtype
        key = (id(owner), role, tuple(shape), np.dtype(dtype))
        if key not in self._arrays:
            self._arrays[key] = arrays.empty(self.device, shape, dtype, label=role)
        return self._arrays[key]

    @property
    def nbytes(self) -> int:
        """GPU memory held by this workspace's arrays and textures (bounded caches weigh it)."""
        textures = sum(math.prod(texels.texture.size) * TEXEL_BYTES
                       for texels in self._texels.values())
        return sum(array.nbytes for array in self._arrays.values()) + textures

    def texels(self, owner: object, role: str, count: int) -> Texels:
        key = (id(owner), role, count)
        if key not in self._texels:
            self._texels[key] = Texels(self.device, count, label=role)
        return self._texels[key]


class Program:
    """A recorded sequence of dispatches and copies for one batch size.

    Layers add to it in ``propagate``/``back_propagate``; the model encodes it once per step.
    """

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.device = workspace.device
        self.batch_size = workspace.batch_size
        self.precision = workspace.precision  # its kernels' {{ dtype }} and {{ accumulate }}
        self.steps: list[Dispatch | Copy | TexelCopy] = []
        self.dispatch_count = 0  # kept as steps are recorded: encode runs once per step
        self._encoded: dict[int, tuple[int, list]] = {}  # phase → (len(steps), compile_steps)
        # True while the training step records (Dropout drops, BatchNormalization uses and
        # updates batch statistics); False for evaluation, validation and predict programs.
        self.training = False
        # Where a model's program takes its batch and leaves its predictions.
        self.inputs: GPUArray | None = None
        self.targets: GPUArray | None = None
        self.outputs: GPUArray | None = None

    @property
    def nbytes(self) -> int:
        """GPU memory this program holds itself (its params uniforms; arrays are the
        workspace's)."""
        return sum(step.uniform.size for step in self.steps
                   if isinstance(step, Dispatch) and step.uniform is not None)

    def array(self, owner: object, role: str, shape: Sequence[int], dtype=None) -> GPUArray:
        """A workspace array owned by ``owner`` (reused by every program of this batch size),
        of the program's element type unless ``dtype`` says otherwise."""
        return self.workspace.array(owner, role, tuple(shape), dtype)

    def texels(self, owner: object, role: str, array: GPUArray) -> Texels:
        """A workspace texture owned by ``owner`` that holds ``array``'s elements once the
        program reaches this point: the copy is recorded here (see gpu/texels.py)."""
        texels = self.workspace.texels(owner, role, array.nbytes // TEXEL_BYTES)
        self.steps.append(TexelCopy(array, texels))
        return texels

    def dispatch(self, shader: Shader, entry: str, *, threads: int | None = None,
                 groups: int | tuple[int, int, int] | None = None,
                 params: dict[str, float] | None = None, workgroup_size: int | None = None,
                 template: dict[str, object] | None = None,
                 constants: dict[str, int] | None = None,
                 alternate: dict[str, GPUArray] | None = None,
                 **bound: GPUArray | Texels) -> None:
        """Record one dispatch of ``shader``'s ``entry``.

        Args:
            shader: a file in shaders/ ("ops/gather.wgsl") or a WGSLSource (user WGSL).
            threads: invocations needed for a 1-D kernel (one per element); the grid is folded.
            groups: workgroups instead of threads: an int (folded) or an explicit (x, y, z).
            params: values of the fields of the shader's uniform (``Params``), by name.
            constants: values of ``override`` constants other than ``workgroup_size``.
            template: the shader's template values; the program's dtype policy fills
                ``dtype`` and ``accumulate`` unless ``dtype`` is given (then ``accumulate``
                defaults to it, see shaders.render).
            alternate: arrays bound instead of some of ``bound`` on the program's odd phases
                (a second bind group; see ``encode``).
            bound: arrays (or Texels) bound to the shader's variables, by variable name.
        """
        template = dict(template or {})
        if "dtype" not in template:
            template = {**self.precision.template, **template}
        compiled = kernel(self.device, shader, entry, workgroup_size, constants=constants,
                          **template)
        names = set(compiled.bindings) - {compiled.uniform}
        if names != bound.keys():
            raise ValueError(f"{compiled.name}:{entry} binds {sorted(names)}, "
                             f"received {sorted(bound)}")
        if alternate is not None and not alternate.keys() <= bound.keys():
            raise ValueError(f"{compiled.name}:{entry}: alternate binds "
                             f"{sorted(alternate.keys() - bound.keys())}, which it doesn't bind")
        _check_offsets(self.device, f"{compiled.name}:{entry}", {**bound, **(alternate or {})})
        uniform = None
        if compiled.uniform is not None:
            data = compiled.pack_params(params or {})
            uniform = self.device.create_buffer(
                len(data), wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST, label="params")
            self.device.queue.write_buffer(uniform, 0, data)

        def bind(arrays: dict[str, GPUArray | Texels]) -> wgpu.GPUBindGroup:
            entries = [{"binding": compiled.bindings[name], "resource": array.binding()}
                       for name, array in arrays.items()]
            if uniform is not None:
                entries.append({"binding": compiled.bindings[compiled.uniform], "resource":
                                {"buffer": uniform, "offset": 0, "size": len(data)}})
            return self.device.handle.create_bind_group(
                layout=compiled.pipeline.get_bind_group_layout(0), entries=entries)

        bind_group = bind(bound)
        second = None if alternate is None else bind({**bound, **alternate})
        if threads is not None:
            grid = fold_grid(math.ceil(threads / compiled.workgroup_size))
        elif isinstance(groups, int):
            grid = fold_grid(groups)
        elif groups is not None:
            grid = tuple(groups)
        else:
            raise ValueError("dispatch: give threads= or groups=")
        self.steps.append(Dispatch(compiled.pipeline, bind_group, grid,
                                   f"{compiled.name}:{entry}", uniform, second))
        self.dispatch_count += 1

    def copy(self, source: GPUArray, destination: GPUArray) -> None:
        if source.nbytes != destination.nbytes:
            raise ValueError(f"copy: {source} and {destination} differ in size")
        self.steps.append(Copy(source, destination, source.binding()["size"]))

    def encode(self, encoder: Encoder | wgpu.GPUCommandEncoder, phase: int = 0) -> None:
        """Encode every step. Dispatches go into ``encoder``'s open compute pass (an Encoder's
        stays open for the next program; a plain wgpu encoder's pass ends here); a copy ends
        it. ``phase``: the step's number in a sequence of encodes: odd phases bind dispatches'
        ``alternate`` bind groups (an epoch's gather moves its cursor so)."""
        wrapped = as_encoder(self.device, encoder)
        for item in self.encoded(phase % 2):
            if item.__class__ is DispatchRun:
                wrapped.dispatch(item)
            else:
                wrapped.end_pass()
                item.encode(wrapped.handle)
        if wrapped is not encoder:
            wrapped.end_pass()
        self.device.stats["dispatches"] += self.dispatch_count

    def encoded(self, phase: int) -> list[DispatchRun | Copy | TexelCopy]:
        """``compile_steps(self.steps, phase)``, kept until steps are added."""
        count, items = self._encoded.get(phase, (-1, None))
        if count != len(self.steps):
            items = compile_steps(self.steps, phase)
            self._encoded[phase] = (len(self.steps), items)
        return items


def _check_offsets(device, name: str, bound: dict[str, GPUArray | Texels]) -> None:
    """Refuse a view bound at an offset the device can't bind (a ValueError naming it, not
    wgpu's validation error): e.g. an f16 view at an odd element."""
    align = device.limits["min-storage-buffer-offset-alignment"]
    for variable, array in bound.items():
        if isinstance(array, GPUArray) and array.offset % align:
            raise ValueError(
                f"{name}: {variable} starts at byte {array.offset} of its buffer; this device "
                f"binds storage only at multiples of {align} bytes ({align // array.dtype.itemsize}"
                f" {array.dtype.name} elements): view from an aligned element, or copy the "
                f"values into an array of their own")
