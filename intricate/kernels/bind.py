"""What a kernel run will bind, checked on the host before any GPU work: each value against its
WGSL binding (name, dtype, a size that fills the WGSL type, the storage binding limit), the
uniform's fields, the outputs to create and the grid (derived, or checked against the adapter's
limits). Every mistake is a ValueError that says what was expected, what was received and what
to do; nothing here touches the GPU.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..gpu import fold_grid, layout
from ..gpu.reflect import Binding

Grid = tuple[int, int, int]


@dataclass
class Plan:
    """One run's bindings: storage arrays by name (host data, or None for an output to create
    zeroed), the uniform's field values, the grid and the outputs to read back."""

    arrays: dict[str, tuple[np.ndarray | None, tuple[int, ...], np.dtype]]
    params: dict[str, Any]
    grid: Grid
    outputs: list[str]
    shared: dict[str, str] = field(default_factory=dict)  # binding -> the one whose buffer it uses

    @property
    def signature(self) -> tuple:
        """What decides the buffers and the recorded dispatch: shapes, dtypes, grid, sharing."""
        return (self.grid, tuple(sorted(self.shared.items())),
                tuple((name, shape, dtype.str)
                      for name, (_, shape, dtype) in sorted(self.arrays.items())))


def prepare(where: str, bindings: list[Binding], params: list[tuple[str, str]],
            uniform: str | None, structs: dict, workgroup: Grid, limits: Mapping[str, int],
            grid: Any, shapes: Mapping[str, Any] | None, values: dict[str, Any]) -> Plan:
    """Check ``values`` (arrays and scalars by WGSL name, uniform fields by field name) against
    the kernel's ``bindings`` and build the run's Plan.

    Raises:
        ValueError: a missing or unknown name, a binding the workbench can't fill (a texture,
            a group other than 0), a wrong dtype, a size that doesn't fill the WGSL type, a
            binding over max-storage-buffer-binding-size, or a grid or workgroup over the
            adapter's limits.
    """
    if not isinstance(shapes or {}, Mapping):
        raise ValueError(f"{where}: shapes= expects a dict {{output name: shape}}, received "
                         f"{shapes!r}")
    shapes = dict(shapes or {})
    storage = {binding.name: binding for binding in bindings if binding.kind == "storage"}
    unusable = [b for b in bindings if b.kind not in ("storage", "uniform") or b.group != 0]
    if unusable:
        raise ValueError(f"{where}: the workbench binds storage and uniform buffers of @group(0) "
                         f"from NumPy; {[(b.name, b.group, b.type) for b in unusable]} can't be "
                         "given that way (move them to group 0, or run the kernel in a Program)")
    fields = [name for name, _ in params]
    known = set(storage) | set(fields) | ({uniform} if uniform else set())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown name(s) {unknown}; the kernel binds "
                         f"{sorted(storage)} and its uniform has fields {fields}")
    bad_shapes = sorted(set(shapes) - {n for n, b in storage.items() if b.access == "read_write"})
    if bad_shapes:
        raise ValueError(f"{where}: shapes= names {bad_shapes}, which are not read_write "
                         f"bindings; shapes are for outputs: {_outputs(storage)}")
    arrays, elements = {}, {}
    for name, binding in storage.items():
        data, shape, dtype, elements[name] = _array(where, binding, structs, values.get(name),
                                                    shapes.get(name), limits)
        arrays[name] = (data, shape, dtype)
    field_values = _fields(where, uniform, fields, storage, values)
    if params:
        layout.pack_struct(params, field_values, structs, where)  # its refusals, up front
    _check_workgroup(where, workgroup, limits)
    outputs = _outputs(storage)
    return Plan(arrays, field_values, _grid(where, grid, workgroup, limits, arrays, elements,
                                             outputs), outputs, _shared(storage, arrays, values))


def _fields(where: str, uniform: str | None, fields: list[str], storage: dict[str, Binding],
            values: dict[str, Any]) -> dict[str, Any]:
    """The uniform's field values: given by field name, or all at once as ``uniform={field:
    value}`` (the way to give a field named like a storage binding); a ``var<uniform> n: u32``
    is its own one field."""
    if uniform is None or fields == [uniform]:
        return {uniform: values[uniform]} if uniform in values else {}
    by_name = {name: values[name] for name in fields if name in values and name not in storage}
    if uniform not in values:
        clash = [name for name in fields if name in storage]
        if clash:
            raise ValueError(f"{where}: uniform field(s) {clash} are named like storage "
                             f"bindings, which take those arguments; give the fields at once: "
                             f"{uniform}={{{', '.join(f'{n!r}: ...' for n in fields)}}}")
        return by_name
    if not isinstance(values[uniform], Mapping):
        raise ValueError(f"{where}: {uniform}= gives the uniform's fields at once: expected a "
                         f"dict of {fields}, received {values[uniform]!r}")
    if by_name:
        raise ValueError(f"{where}: field(s) {sorted(by_name)} given both by name and in "
                         f"{uniform}=; give each once")
    return dict(values[uniform])


def _shared(storage: dict[str, Binding], arrays: dict, values: dict[str, Any]) -> dict[str, str]:
    """Read-only bindings given the very same array (``a=x, a4=x``, as the engine binds a GEMM's
    scalar and vec4 views of one matrix) share one buffer: one upload, and the cache traffic of
    one array. Each maps to the first binding that holds it."""
    shared, first = {}, {}
    for name, binding in storage.items():
        value = values.get(name)
        if binding.access != "read" or not isinstance(value, np.ndarray):
            continue
        _, shape, dtype = arrays[name]
        owner = first.setdefault(id(value), name)
        if owner != name and arrays[owner][2] == dtype:
            shared[name] = owner
    return shared


def _outputs(storage: dict[str, Binding]) -> list[str]:
    return [name for name, binding in storage.items() if binding.access == "read_write"]


def _array(where: str, binding: Binding, structs: dict, value: Any, shape: Any,
           limits: Mapping[str, int]
           ) -> tuple[np.ndarray | None, tuple[int, ...], np.dtype, int]:
    name, what = binding.name, f"{where}: {binding.name} ({binding.type})"
    element = layout.layout(binding.element_type, structs)
    per_element = element.stride // element.dtype.itemsize if element.scalar else 1
    if value is None and shape is None:
        if binding.access != "read_write":
            raise ValueError(f"{where}: missing input {name!r} ({binding.type}); pass "
                             f"{name}=<numpy array>")
        if binding.count is None:
            raise ValueError(f"{where}: output {name!r} ({binding.type}) has no size: pass "
                             f"{name}=<array> or shapes={{{name!r}: shape}}")
        shape = (binding.count * per_element,)
    if value is not None and shape is not None:
        raise ValueError(f"{what}: given both as an array and in shapes=; give one")
    if value is not None:
        data = np.asarray(value)
        if element.dtype.kind == "f" and data.dtype.kind in "iub" and data.ndim:
            raise ValueError(f"{what}: expected a floating-point array (stored as "
                             f"{element.dtype}), received {data.dtype}: an integer array for "
                             "a float binding is usually the wrong array; convert it "
                             f"explicitly (.astype(np.{element.dtype.name}))")
        if element.scalar is not None:
            data = layout.convert(data, element.dtype, what)
        elif data.dtype != element.dtype:
            raise ValueError(f"{what}: elements are struct {binding.element_type}; expected a "
                             f"NumPy structured array of dtype {element.dtype}, received "
                             f"{data.dtype}")
        data, shape = np.ascontiguousarray(data), data.shape
    else:
        data = None
        sides = list(shape) if isinstance(shape, (tuple, list, np.ndarray)) else [shape]
        if not sides or not all(isinstance(side, (int, np.integer)) and not isinstance(
                side, bool) and side >= 0 for side in sides):
            raise ValueError(f"{what}: shapes[{name!r}] must be a whole number or a tuple of "
                             f"them, none negative, received {shape!r}")
        shape = tuple(int(side) for side in sides)
    elements, nbytes = _count(what, binding, element, math.prod(shape))
    limit = limits["max-storage-buffer-binding-size"]
    if nbytes > limit:
        raise ValueError(f"{what}: {nbytes} bytes exceed this adapter's "
                         f"max-storage-buffer-binding-size ({limit}); use smaller inputs")
    return data, tuple(shape), element.dtype, elements


def _count(what: str, binding: Binding, element: layout.Layout, size: int) -> tuple[int, int]:
    """The WGSL elements and bytes ``size`` values make for ``binding``, or a ValueError when
    they don't fill its type."""
    item = element.dtype.itemsize
    if element.tail:  # a struct ending in a runtime-sized array: its fields, then elements
        if element.scalar is None:
            raise ValueError(f"{what}: a struct of mixed field types ending in a runtime-sized "
                             "array can't be given from one NumPy array; bind its fields "
                             "as separate bindings")
        head, each = element.size // item, element.tail // item
        elements, rest = divmod(size - head, each)
        if elements < 1 or rest:
            raise ValueError(f"{what}: {size} values: expected {head} for the fields before "
                             f"its runtime-sized array, then a non-zero multiple of {each} "
                             f"({element.dtype})")
        smallest = -(-(element.size + element.tail) // element.align) * element.align
        if size * item < smallest:  # WebGPU's minimum binding size for the struct
            raise ValueError(f"{what}: {size * item} bytes are less than WebGPU's minimum "
                             f"binding size for it ({smallest}: its fields and one element, "
                             f"rounded to its {element.align}-byte alignment); give at least "
                             f"{smallest // item} values")
        return elements, size * item
    per_element = element.stride // item if element.scalar else 1
    elements, rest = divmod(size, per_element)
    unit = f"{per_element} {element.dtype} per element ({binding.element_type}, padding " \
           "included)" if per_element > 1 else f"elements of {element.dtype}"
    if size == 0 or rest:
        raise ValueError(f"{what}: {size} values don't fill whole elements: expected a "
                         f"non-zero multiple of {per_element}, {unit}")
    count = binding.count if binding.type.startswith("array<") else 1
    if count is not None and elements != count:
        raise ValueError(f"{what}: expected exactly {count * per_element} values ({count} "
                         f"element(s), {unit}), received {size}")
    return elements, elements * element.stride


def _check_workgroup(where: str, workgroup: Grid, limits: Mapping[str, int]) -> None:
    if min(workgroup) < 1:
        raise ValueError(f"{where}: @workgroup_size {workgroup}: every size must be >= 1; give "
                         "it (or the override constant it names) a positive value")
    for axis, size in zip("xyz", workgroup):
        limit = limits[f"max-compute-workgroup-size-{axis}"]
        if size > limit:
            raise ValueError(f"{where}: @workgroup_size {workgroup} is over this adapter's "
                             f"max-compute-workgroup-size-{axis} ({limit}); use a smaller one")
    invocations, limit = math.prod(workgroup), limits["max-compute-invocations-per-workgroup"]
    if invocations > limit:
        raise ValueError(f"{where}: @workgroup_size {workgroup} has {invocations} invocations, "
                         f"over this adapter's max-compute-invocations-per-workgroup ({limit})")


def _grid(where: str, grid: Any, workgroup: Grid, limits: Mapping[str, int], arrays: dict,
          elements: dict[str, int], outputs: list[str]) -> Grid:
    limit = limits["max-compute-workgroups-per-dimension"]
    if grid is None:
        if not outputs:
            raise ValueError(f"{where}: no read_write binding to derive the grid from; "
                             "pass grid=(x, y, z) workgroups")
        name = max(outputs, key=lambda output: elements[output])
        count, shape = elements[name], list(arrays[name][1])
        if workgroup[1:] == (1, 1):  # 1-D: one invocation per element, folded over x and y
            return fold_grid(math.ceil(count / workgroup[0]))
        # Several dimensions: x runs along the last axis (row-major), y the one before, z the
        # rest, counted in WGSL elements.
        per_element = math.prod(shape) // count
        if math.prod(shape) % count or shape[-1] % per_element:
            shape = [count]  # a struct with a header, or elements across rows: one axis
        else:
            shape[-1] //= per_element
        shape = [1, 1] + shape
        sides = (shape[-1], shape[-2], math.prod(shape[:-2]))
        grid = tuple(math.ceil(side / size) for side, size in zip(sides, workgroup))
    elif isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        grid = (grid,)
    try:
        grid = tuple(grid) + (1,) * (3 - len(tuple(grid)))
        valid = len(grid) == 3 and all(isinstance(side, (int, np.integer)) and
                                       not isinstance(side, bool) and side >= 1 for side in grid)
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(f"{where}: grid must be 1 to 3 whole numbers >= 1 (workgroups along "
                         f"x, y, z), received {grid!r}")
    if max(grid) > limit:
        raise ValueError(f"{where}: grid {grid} is over this adapter's "
                         f"max-compute-workgroups-per-dimension ({limit}); fold the extra "
                         "workgroups into y (gpu.fold_grid) and rebuild the index in the kernel")
    return tuple(int(side) for side in grid)  # type: ignore[return-value]
