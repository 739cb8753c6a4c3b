"""WGSLLayer: a trainable layer whose forward and backward passes are the user's own WGSL.

The binding convention (group 0, bound by WGSL variable name; an entry declares only what it
uses). Shapes are row-major; ``rows`` is the batch size:

    forward     reads   inputs [rows, in], each parameter NAME [its shape]
                writes  outputs [rows, out]
    backward    reads   inputs, outputs, grad_outputs [rows, out] (dE/dO), each parameter
                writes  grad_inputs [rows, in] (dE/dI), grad_NAME [NAME's shape] (dE/dNAME)
    both        may read ``var<uniform> params: Params`` with any of the u32 fields rows,
                input_size, output_size (the widths) and count (this dispatch's invocations)

Arrays are ``array<f32>``; read-only ones are ``var<storage, read>``, written ones
``var<storage, read_write>`` (``outputs`` may be declared read_write for both passes).

Grid: each entry is dispatched with one invocation per element of the largest array it writes
(``count``), in 1-D workgroups of its @workgroup_size, folded over x and y past 65535 groups:
``{% include "gpu/grid.wgsl" %}`` provides ``invocation(group, groups, lane)`` for the index
(it needs ``override workgroup_size: u32``). Invocations past ``count`` must return.

Gradients: dE/dO arrives from the loss already divided by the batch (the loss is a mean), so
the backward computes exact sums, no 1/rows. Nothing is cleared between steps: every step the
backward must WRITE (=, never +=) every element of grad_inputs and of each grad_NAME.
``backward`` may name several entries, dispatched in order (e.g. one per parameter gradient and
one for dE/dI, each with its own grid); an entry that writes only grad_inputs is skipped when
nobody needs dE/dI (the first layer). ``intricate.kernels.check_gradients`` verifies a layer.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import initializers as initializer_lib
from ..gpu import GPUArray, Program, ShaderError, WGSLSource, reflect, render
from ..initializers import Initializer
from .base import Layer, check_size
from .registry import register

SIZE_FIELDS = ("rows", "input_size", "output_size", "count")  # what a layer's Params may hold (u32)
# Names a parameter can't take: the convention's own, and Program.dispatch's keywords.
RESERVED = frozenset({"inputs", "outputs", "grad_inputs", "grad_outputs", "params", "shader",
                      "entry", "threads", "groups", "workgroup_size", "template"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Entry:
    """One entry point of a layer's WGSL, as the convention reads it."""

    name: str
    arrays: tuple[str, ...]  # the storage arrays it binds
    writes: frozenset[str]  # the ones it computes (its grid covers the largest)
    fields: tuple[str, ...]  # the Params fields it declares


def read_entry(text: str, origin: str, entry: str, direction: str,
               parameters: Sequence[str]) -> Entry:
    """Check ``entry`` of the rendered WGSL ``text`` against the convention for ``direction``
    ("forward" or "backward"), before any GPU work.

    Raises:
        ValueError: naming the entry, and each binding that is missing, extra, of the wrong
            access or element type, or a Params field that is not one of SIZE_FIELDS.
    """
    where = f"{origin}: {direction} entry {entry!r}"
    entries = reflect.entry_points(text)
    if entry not in entries:
        raise ValueError(f"{where} not found; the @compute entry points are {entries}")
    try:
        size = reflect.workgroup_size(text, entry)
        found = reflect.entry_bindings(text, entry)
    except reflect.ReflectionError as error:
        raise ValueError(f"{where}: {error}") from None
    if size[1:] != (1, 1):
        raise ValueError(f"{where}: @workgroup_size{size}, expected a 1-D workgroup (x, 1, 1): "
                         "layer entries run one invocation per element")
    if direction == "forward":
        reads, writes, either = {"inputs", *parameters}, {"outputs"}, set()
    else:
        reads = {"inputs", "grad_outputs", *parameters}
        writes = {"grad_inputs", *(f"grad_{name}" for name in parameters)}
        either = {"outputs"}  # declared once for both passes: read_write for the forward
    problems, fields = [], ()
    for binding in found:
        name, access = binding.name, binding.access
        if binding.group != 0:
            problems.append(f"{name} is in @group({binding.group}), layers bind @group(0)")
        elif binding.kind == "uniform" and name == "params":
            declared = reflect.structs(text).get(binding.element_type, [])
            fields = tuple(field for field, _ in declared)
            problems += [f"Params field {field}: {kind}, expected one of {list(SIZE_FIELDS)} "
                         "as u32" for field, kind in declared
                         if field not in SIZE_FIELDS or kind != "u32"]
        elif binding.kind != "storage" or name not in reads | writes | either:
            problems.append(f"{name} ({binding.kind}) is not part of the convention")
        elif binding.type != "array<f32>":  # runtime-sized: a fixed length can't follow rows
            problems.append(f"{name} is {binding.type}, expected array<f32>")
        elif name in reads and access != "read":
            problems.append(f"{name} is var<storage, {access}>, expected var<storage, read>")
        elif name in writes and access != "read_write":
            problems.append(f"{name} is var<storage, {access}>, expected read_write")
    arrays = tuple(binding.name for binding in found if binding.kind == "storage")
    written = frozenset(name for name in arrays if name in writes)
    if not written:
        problems.append(f"it writes none of {sorted(writes)}")
    if problems:
        allowed = sorted(reads | writes | either | {"params"})
        raise ValueError(f"{where} does not follow the layer convention: "
                         f"{'; '.join(problems)}. A {direction} entry binds {allowed} "
                         "(see intricate/layers/wgsl.py or shaders/README.md)")
    return Entry(entry, arrays, written, fields)


def wgsl_source(source: str | os.PathLike, origin: str | None) -> WGSLSource:
    """``source`` as WGSLSource: WGSL text, or a path (a Path, or a str ending in ".wgsl")."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                           and source.endswith(".wgsl")):
        path = Path(source)
        try:
            return WGSLSource(path.read_text(), origin or str(path))
        except OSError as error:
            raise ValueError(f"source: cannot read {str(path)!r} ({error.strerror})") from None
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source: expected WGSL text or a .wgsl path, received {source!r}")
    if origin is not None and not isinstance(origin, str):
        raise ValueError(f"origin: expected a string (a file name), received {origin!r}")
    return WGSLSource(source, origin or "<source>")


def _shapes(parameters: Mapping[str, int | Sequence[int]] | None) -> dict[str, tuple[int, ...]]:
    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise ValueError(f"parameters: expected a dict of name → shape, received {parameters!r}")
    shapes = {}
    for name, shape in parameters.items():
        if not isinstance(name, str) or not _IDENTIFIER.match(name) or name in RESERVED or (
                name.startswith("grad_")):
            raise ValueError(f"parameters: {name!r} can't name a parameter: expected a WGSL "
                             f"identifier, not starting with grad_ nor one of {sorted(RESERVED)}")
        dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
        if not isinstance(dims, Sequence) or not dims:
            raise ValueError(f"parameters[{name!r}]: expected a shape (a positive int or a "
                             f"tuple of them), received {shape!r}")
        shapes[name] = tuple(check_size(f"parameters[{name!r}]", dim) for dim in dims)
    return shapes


@register
class WGSLLayer(Layer):
    """A layer whose passes are WGSL entry points following the convention above.

    Args:
        source: WGSL text, or a path (pathlib.Path, or a str ending in ".wgsl") to read it from;
            a Jinja2 template like the built-in shaders (``{% include "gpu/grid.wgsl" %}``).
        forward: the entry point of the forward pass.
        backward: the backward's entry point, or several, dispatched in order.
        parameters: ``{name: shape}`` of the trainable arrays, in the order they are kept.
        input_size: features in (None: whatever the layer below gives).
        output_size: features out (None: as many as in).
        initializers: ``{name: Initializer or Keras name}``; by default glorot_uniform for 2-D
            and larger shapes, zeros for 1-D ones (as Dense's kernel and bias).
        origin: how messages name the source (default: its path, or "<source>").

    Raises:
        ValueError: a bad argument, or WGSL that does not follow the convention (a missing
            entry, an unknown, missing or mis-declared binding, a gradient nobody writes),
            before any GPU work. Syntax errors surface when the layer first records work.

    Files holding a WGSLLayer carry its WGSL; loading them needs ``allow_code=True``.
    """

    carries_code = True
    dtypes = ("float32",)  # its convention binds array<f32> (see check_convention)

    def __init__(self, source: str | os.PathLike, forward: str = "forward",
                 backward: str | Sequence[str] = "backward",
                 parameters: Mapping[str, int | Sequence[int]] | None = None,
                 input_size: int | None = None, output_size: int | None = None,
                 initializers: Mapping[str, Initializer | str] | None = None,
                 origin: str | None = None) -> None:
        super().__init__()
        self.source = wgsl_source(source, origin)
        self.input_size = None if input_size is None else check_size("input_size", input_size)
        self.output_size = None if output_size is None else check_size("output_size",
                                                                       output_size)
        self.parameter_sizes = _shapes(parameters)
        given = dict(initializers or {})
        unknown = sorted(set(given) - set(self.parameter_sizes))
        if unknown:
            raise ValueError(f"initializers: {unknown} name no parameter; the parameters are "
                             f"{list(self.parameter_sizes)}")
        self.initializers = {
            name: initializer_lib.get(given.get(name, "glorot_uniform" if len(shape) > 1
                                                else "zeros"), f"initializers[{name!r}]")
            for name, shape in self.parameter_sizes.items()}
        names = [backward] if isinstance(backward, str) else list(backward)
        if not names or not all(isinstance(name, str) for name in [forward, *names]) or len(
                {forward, *names}) != len(names) + 1:
            raise ValueError(f"forward, backward: expected entry point names, each used once, "
                             f"received forward={forward!r}, backward={backward!r}")
        try:
            text = render(self.source, {"dtype": "f32"})  # as Program.dispatch renders it
        except ShaderError as error:
            raise ValueError(f"source: {error}") from None
        origin, params = self.source.origin, list(self.parameter_sizes)
        self.forward_entry = read_entry(text, origin, forward, "forward", params)
        self.backward_entries = tuple(read_entry(text, origin, name, "backward", params)
                              for name in names)
        written = set().union(*(entry.writes for entry in self.backward_entries))
        missing = [name for name in ["grad_inputs", *(f"grad_{p}" for p in params)]
                   if name not in written]
        if missing:
            raise ValueError(f"{origin}: no backward entry of {names} writes {missing}; the "
                             "backward must write dE/dI and every parameter's gradient")

    def output_size_for(self, input_size: int) -> int:
        return input_size if self.output_size is None else self.output_size

    def parameter_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return list(self.parameter_sizes.items())

    def initial_parameters(self, rng: np.random.Generator) -> list[np.ndarray]:
        return [self.initializers[name](shape, rng)
                for name, shape in self.parameter_sizes.items()]

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        """Record the forward entry. Shapes: [rows, in] → [rows, out]."""
        rows, width = inputs.shape
        outputs = program.array(self, "outputs", (rows, self.output_size_for(width)))
        arrays = {"inputs": inputs, "outputs": outputs,
                  **dict(zip(self.parameter_sizes, self.parameters))}
        self._record(program, self.forward_entry, arrays)
        self.last_inputs, self.last_outputs = inputs, outputs
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        """Record the backward entries. Shapes: dE/dO [rows, out] → dE/dI [rows, in]."""
        grad_inputs = program.array(self, "grad_inputs", self.last_inputs.shape)
        names = list(self.parameter_sizes)
        arrays = {"inputs": self.last_inputs, "outputs": self.last_outputs,
                  "grad_outputs": grad_outputs, "grad_inputs": grad_inputs,
                  **dict(zip(names, self.parameters)),
                  **dict(zip((f"grad_{name}" for name in names), self.gradients))}
        for entry in self.backward_entries:
            if need_grad_inputs or entry.writes - {"grad_inputs"}:
                self._record(program, entry, arrays)
        return grad_inputs if need_grad_inputs else None

    def _record(self, program: Program, entry: Entry, arrays: dict[str, GPUArray]) -> None:
        bound = {name: arrays[name] for name in entry.arrays}
        count = max(bound[name].size for name in entry.writes)
        rows, width = arrays["inputs"].shape
        sizes = {"rows": rows, "input_size": width, "output_size": arrays["outputs"].shape[1],
                 "count": count}
        program.dispatch(self.source, entry.name, threads=count,
                         params={field: sizes[field] for field in entry.fields}, **bound)

    def get_config(self) -> dict[str, Any]:
        backward = [entry.name for entry in self.backward_entries]
        return {"source": self.source.text, "forward": self.forward_entry.name,
                "backward": backward[0] if len(backward) == 1 else backward,
                "parameters": {name: list(shape) for name, shape in self.parameter_sizes.items()},
                "input_size": self.input_size, "output_size": self.output_size,
                "initializers": dict(self.initializers), "origin": self.source.origin}

    def settings(self) -> dict[str, Any]:
        """The config without initializers and origin, the source as a digest (so a message
        comparing two layers names which differ without printing their WGSL)."""
        config = self.get_config()
        config["source"] = "sha256:" + hashlib.sha256(self.source.text.encode()).hexdigest()[:16]
        return {key: value for key, value in config.items()
                if key not in ("initializers", "origin")}

    def __repr__(self) -> str:
        config = self.get_config()
        shown = ", ".join(f"{key}={config[key]!r}" for key in
                          ("forward", "backward", "parameters", "input_size", "output_size")
                          if config[key] not in (None, {}))
        return f"WGSLLayer({self.source.origin!r}, {shown})"
