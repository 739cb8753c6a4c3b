"""``Kernel``: run, verify and time one WGSL compute entry point from NumPy.

A Kernel goes through the engine's own path (the shader loader, ``gpu.reflect``, a recorded
``gpu.Program`` dispatch bound by WGSL names, ``gpu.timing``): user WGSL and built-ins alike.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import numpy as np

from .. import gpu
from ..gpu import Device, GPUArray, Program, WGSLSource, Workspace, dtypes, reflect, shaders, timing
from ..gpu.modules import KernelCompileError
from .bind import Plan, prepare
from .constants import check_constants
from .report import CheckReport, Timing, Tolerance, compare
from .sources import resolve_source

Result = TypeVar("Result")
PROGRAMS_KEPT = 4  # buffers and bind groups kept for this many distinct shapes/grids


class Kernel:
    """One @compute entry point of a WGSL module, bound by name from NumPy.

    Args:
        source: WGSL text; a path (``pathlib.Path``, or a str ending in ".wgsl" naming an
            existing file); a built-in shader name ("ops/gather.wgsl"); or a ``WGSLSource``.
        entry: the @compute function; None takes the module's only one.
        device: the device to run on; None uses ``intricate.gpu.default_device()``.
        constants: values of ``override`` constants (``workgroup_size``, ...).
        template: Jinja2 values for ``{{ placeholders }}``; ``dtype`` and ``accumulate``
            default to the dtype policy's (float32: f32 and f32; float64: f64 and f64;
            mixed_float16: f16 data with f32 sums).
        dtype: the Model dtype whose element types fill the template ("float32", "float64",
            "mixed_float16"); a device without its feature (shader-f64, shader-f16) is
            refused before any GPU work, naming the feature and the adapter.

    Construction reads the source in pure Python (no GPU): ``bindings``, ``params`` and
    ``workgroup_size`` are ready at once; compiling happens in ``compile``, or on first run.

    Raises:
        KernelCompileError: no such entry point (or several and ``entry`` is None).
        ShaderError: a template error; ValueError: an unknown override constant, a value that
            doesn't fit its type, or one the entry needs that has no default.
        FileNotFoundError: a path that doesn't exist.
    """

    def __init__(self, source: str | os.PathLike | WGSLSource, entry: str | None = None, *,
                 device: Device | None = None, constants: Mapping[str, int] | None = None,
                 template: Mapping[str, Any] | None = None, dtype: str = "float32") -> None:
        self.shader = resolve_source(source)
        self.origin = shaders.label(self.shader)
        self.precision = dtypes.precision(dtype)
        given = dict(template or {})
        if "dtype" in given:  # a template's own dtype (e.g. "f16"): its sums follow it
            given.setdefault("accumulate", given["dtype"])
        self.template = {**self.precision.template, **given}
        self.constants = dict(constants or {})
        self.source = shaders.render(self.shader, self.template)
        entries = reflect.entry_points(self.source)
        if entry is None and len(entries) != 1:
            found = (f"there are {len(entries)} ({', '.join(entries)}); pass entry=" if entries
                     else "there is none: mark a function @compute @workgroup_size(...)")
            raise KernelCompileError(f"{self.origin}: entry=None takes the only @compute entry "
                                     f"point, but {found}", self.origin, "entry")
        self.entry = entry if entry is not None else entries[0]
        if self.entry not in entries:
            raise KernelCompileError(f"{self.origin}: entry point {self.entry!r} not found; "
                                     f"@compute entry points are {entries}", self.origin, "entry")
        check_constants(self.name, self.source, self.entry, self.constants)
        self.structs = reflect.structs(self.source)
        self.bindings = reflect.entry_bindings(self.source, self.entry, self.constants)
        try:
            self._uniform, self.params = reflect.uniform_of(self.bindings, self.structs)
            size = reflect.workgroup_size(self.source, self.entry, self.constants)
        except reflect.ReflectionError as error:
            raise KernelCompileError(f"{self.name}: {error}", self.origin, "entry") from None
        self.workgroup_size: tuple[int, int, int] = size
        self.device = device
        self._prepared: OrderedDict[tuple, tuple[Program, dict[str, GPUArray]]] = OrderedDict()

    @property
    def name(self) -> str:
        return f"{self.origin}:{self.entry}"

    def __repr__(self) -> str:
        return (f"Kernel({self.name!r}, bindings={[b.name for b in self.bindings]}, params="
                f"{[name for name, _ in self.params]}, workgroup_size={self.workgroup_size})")

    async def _device(self) -> Device:
        if self.device is None:
            self.device = await gpu.default_device()
        dtypes.check_supported(self.precision, self.device, self.template)
        return self.device

    async def compile(self) -> Kernel:
        """Build the pipeline (cached per device); returns the kernel.

        Raises:
            KernelCompileError: file:line:column, the source line with a caret, naga's text.
        """
        device = await self._device()
        await device.run(self._compiled, device)
        return self

    def _compiled(self, device: Device) -> shaders.CompiledKernel:
        return shaders.kernel(device, self.shader, self.entry, constants=self.constants,
                              **self.template)

    def _plan(self, device: Device, grid: Any, shapes: Any, values: dict[str, Any]) -> Plan:
        return prepare(self.name, self.bindings, self.params, self._uniform.name
                       if self._uniform else None, self.structs, self.workgroup_size,
                       device.limits, grid, shapes, values)

    async def run(self, grid: Any = None, *, shapes: Mapping[str, Any] | None = None,
                  **values: Any) -> dict[str, np.ndarray]:
        """Bind ``values``, dispatch once, and read every read_write binding back.

        Args:
            grid: workgroups (x, y, z), or an int of x workgroups; None derives it from the
                largest output: one invocation per WGSL element over a 1-D workgroup (folded
                into y past 65535 workgroups, see ``gpu.fold_grid``); for 2-D/3-D workgroups x
                follows the output's last axis, y the one before, z the rest.
            shapes: NumPy shapes (in scalars, e.g. (n, 4) for n vec4s) of outputs not given.
            values: arrays and scalars by WGSL binding name, uniform fields by field name (or
                the uniform variable's name with a dict of fields).

        Shapes:
            Any shape whose size is whole WGSL elements (4 float32 per ``vec4<f32>``); outputs
            come back in the shape given or from ``shapes``. One array given to several
            read-only bindings shares one buffer.

        Returns:
            {name: array} for every read_write binding.

        Raises:
            ValueError: before any GPU work, for a missing or unknown name, a wrong dtype, a
                size that doesn't fill the WGSL type, a grid or workgroup over the adapter's
                limits, or a binding over max-storage-buffer-binding-size.
            KernelCompileError: the source doesn't compile.
        """
        device = await self._device()
        plan = self._plan(device, grid, shapes, values)
        outputs = await device.run(self._execute, device, plan)
        return dict(zip(plan.outputs, outputs))

    def _prepare(self, device: Device, plan: Plan) -> tuple[Program, dict[str, GPUArray]]:
        """The recorded dispatch and buffers for ``plan``'s shapes (reused across calls with the
        same shapes and grid), with the inputs uploaded and the uniform written. GPU thread."""
        compiled = self._compiled(device)
        key = plan.signature
        if key in self._prepared:
            self._prepared.move_to_end(key)
            program, arrays = self._prepared[key]
            step = program.steps[0]
            if step.uniform is not None:
                device.queue.write_buffer(step.uniform, 0, compiled.pack_params(plan.params))
        else:
            arrays = {name: gpu.empty(device, shape, dtype, label=name)
                      for name, (_, shape, dtype) in plan.arrays.items()
                      if name not in plan.shared}
            for name, owner in plan.shared.items():  # the same array given twice: one buffer
                arrays[name] = GPUArray(device, arrays[owner].buffer, plan.arrays[name][1],
                                        plan.arrays[name][2])
            program = Program(Workspace(device, 1, self.precision))
            program.dispatch(self.shader, self.entry, groups=plan.grid, params=plan.params,
                             template=self.template, constants=self.constants, **arrays)
            self._prepared[key] = (program, arrays)
            while len(self._prepared) > PROGRAMS_KEPT:
                self._prepared.popitem(last=False)
        for name, (data, _, _) in plan.arrays.items():
            if data is not None and name not in plan.shared:
                gpu.upload(arrays[name], data)
        return program, arrays

    def _execute(self, device: Device, plan: Plan) -> list[np.ndarray]:
        program, arrays = self._prepare(device, plan)
        encoder = device.handle.create_command_encoder()
        for name, (data, _, _) in plan.arrays.items():
            if data is None:  # an output to create: zeroed on every run, not last run's values
                array = arrays[name]
                encoder.clear_buffer(array.buffer, array.offset, array.binding()["size"])
        program.encode(encoder)
        staged = gpu.StagedRead(device, encoder, [arrays[name] for name in plan.outputs])
        device.submit(encoder)
        return staged.collect()

    async def check(self, reference: Callable[..., Any], *, rtol: Tolerance | None = None,
                    atol: Tolerance = 1e-6, shapes: Mapping[str, Any] | None = None,
                    grid: Any = None, **inputs: Any) -> CheckReport:
        """Run the kernel on ``inputs`` and compare each output with ``reference(**inputs)``.

        Args:
            reference: a NumPy function of the same names, returning {output: array} (or one
                array when the kernel has one output); it gets the inputs as bound (in each
                binding's type, e.g. rounded to f16: none the kernel never saw), floats in float64.
            rtol, atol: pass within ``atol + rtol * |expected|`` (numbers, or {output: number});
                rtol None: 1e-4, or the policy's rtol where larger (mixed_float16's 1e-3).

        Returns:
            A CheckReport: per output max abs/rel error, worst index, passed.

        Raises:
            ValueError: as ``run``, or a reference result that names no output or has the
                wrong size.
        """
        rtol = max(1e-4, self.precision.rtol) if rtol is None else rtol
        device = await self._device()
        plan = self._plan(device, grid, shapes, inputs)
        expected = reference(**{name: _float64(plan.arrays[name][0] if name in plan.arrays
                                               else value) for name, value in inputs.items()})
        if not isinstance(expected, Mapping):
            if len(plan.outputs) != 1:
                raise ValueError(f"{self.name}: the reference returned one array but the kernel "
                                 f"has outputs {plan.outputs}; return {{name: array}}")
            expected = {plan.outputs[0]: expected}
        unknown = sorted(set(expected) - set(plan.outputs))
        if unknown or not expected:
            raise ValueError(f"{self.name}: the reference returned {sorted(expected)}; the "
                             f"outputs (read_write bindings) are {plan.outputs}")
        got = dict(zip(plan.outputs, await device.run(self._execute, device, plan)))
        return CheckReport(self.name, [compare(name, got[name], value, rtol, atol)
                                       for name, value in expected.items()], rtol, atol)

    async def time(self, *, repeat: int = 50, warmup: int = 5, per_sample: int | None = None,
                   flops: float | None = None, bytes: float | None = None, grid: Any = None,
                   shapes: Mapping[str, Any] | None = None, **inputs: Any) -> Timing:
        """Seconds per dispatch, by GPU timestamp queries (the wall clock around a waited submit
        where the adapter lacks timestamp-query; ``Timing.method`` says which).

        Each sample is one submit of ``per_sample`` back-to-back dispatches: a GPU left idle
        between short submits lowers its clocks, so one dispatch per submit measures the idle
        clock, not the kernel.

        Args:
            repeat: timed samples; warmup: untimed samples first (same size).
            per_sample: dispatches per sample; None: enough for ~2 ms of GPU work
                (gpu.timing.MIN_SAMPLE_SECONDS, at most 1024), from one probe dispatch.
            flops, bytes: work and memory traffic of one dispatch, for GFLOP/s and GB/s.
            grid, shapes, inputs: as ``run``.

        Raises:
            ValueError: as ``run``, or a repeat/warmup/per_sample/flops/bytes that isn't a valid
                count.
        """
        for name, value, low in (("repeat", repeat, 1), ("warmup", warmup, 0),
                                 ("per_sample", 1 if per_sample is None else per_sample, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}: expected a whole number >= {low}, received {value!r}")
        for name, value in (("flops", flops), ("bytes", bytes)):
            if value is not None and (not isinstance(value, (int, float)) or not value > 0):
                raise ValueError(f"{name}: expected a positive number or None, got {value!r}")
        device = await self._device()
        plan = self._plan(device, grid, shapes, inputs)
        samples, per_sample = await device.run(self._sample, device, plan, repeat, warmup,
                                               per_sample)
        return Timing(self.name, samples.gpu, samples.method, flops, bytes, samples.wall,
                      per_sample)

    def _sample(self, device: Device, plan: Plan, repeat: int, warmup: int,
                per_sample: int | None) -> tuple[timing.Samples, int]:
        program, _ = self._prepare(device, plan)
        if per_sample is None:
            probe = timing.sample_steps(device, program.steps, 3, warmup=1)
            per_sample = timing.runs_per_sample(min(probe.gpu))
        return timing.sample_steps(device, program.steps, repeat, warmup, per_sample), per_sample

    # run, check and time for scripts without an event loop.
    def run_sync(self, grid: Any = None, **kwargs: Any) -> dict[str, np.ndarray]:
        return _sync(self.run(grid, **kwargs))

    def check_sync(self, reference: Callable[..., Any], **kwargs: Any) -> CheckReport:
        return _sync(self.check(reference, **kwargs))

    def time_sync(self, **kwargs: Any) -> Timing:
        return _sync(self.time(**kwargs))


def _float64(value: Any) -> Any:
    """A copy of ``value`` for the reference: float arrays and floats in float64."""
    if isinstance(value, np.ndarray):
        return value.astype(np.float64) if value.dtype.kind == "f" else value.copy()
    return value


def _sync(coroutine: Coroutine[Any, Any, Result]) -> Result:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    coroutine.close()
    raise RuntimeError("the *_sync methods are for scripts; inside async code (a running "
                       "event loop, e.g. Jupyter) await run/check/time instead")
