"""WGSL memory layout in host terms: sizes, alignments and NumPy dtypes of WGSL types, and the
bytes of a uniform struct (the WGSL spec's "memory layout" rules, host-shareable types only).

One place for "how a WGSL type sits in a buffer": the built-in kernels' ``Params`` and user
kernels' storage arrays and uniforms all go through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .dtypes import first_beyond
from .reflect import split_top

SCALARS = {"f32": np.dtype("<f4"), "u32": np.dtype("<u4"), "i32": np.dtype("<i4"),
           "f16": np.dtype("<f2"), "f64": np.dtype("<f8")}  # f64: with shader-f64
_SUFFIX = {"f": "f32", "u": "u32", "i": "i32", "h": "f16"}
_VECTOR = re.compile(r"^vec([234])(?:<(\w+)>|([fuih]))$")
_MATRIX = re.compile(r"^mat([234])x([234])(?:<(\w+)>|([fh]))$")
_ARRAY = re.compile(r"^array<(.+)>$")
_ATOMIC = re.compile(r"^atomic<(\w+)>$")


@dataclass(frozen=True)
class Layout:
    """How one WGSL type sits in memory.

    Attributes:
        size, align: in bytes (an array's ``size`` counts its fixed length).
        stride: bytes from one element to the next in an array of this type.
        scalar: the one scalar type all its components have ("f32", ...), or None when mixed.
        dtype: a NumPy dtype of one element: the scalar's when uniform (then an element is
            ``stride // itemsize`` of them, padding included), else a structured dtype.
        tail: for a runtime-sized array, or a struct ending in one (WebGPU samples' ``struct
            Matrix { size: vec2f, numbers: array<f32> }``), the bytes of each of its elements;
            ``size`` is then the bytes before them. 0 for fixed-size types.
    """

    size: int
    align: int
    scalar: str | None
    dtype: np.dtype
    tail: int = 0

    @property
    def stride(self) -> int:
        return -(-self.size // self.align) * self.align


def layout(wgsl_type: str, structs: dict[str, list[tuple[str, str]]],
           uniform: bool = False) -> Layout:
    """The memory layout of ``wgsl_type`` (whitespace-free, as ``reflect`` gives it).

    Args:
        structs: the module's structs (``reflect.structs``), for struct types.
        uniform: the uniform address space's rules (arrays and structs align to 16).

    Raises:
        ValueError: a type that can't live in a buffer shared with the host (bool, a pointer,
            a texture), or one this module doesn't know (an ``alias``).
    """
    kind = wgsl_type
    if kind in SCALARS:
        dtype = SCALARS[kind]
        return Layout(dtype.itemsize, dtype.itemsize, kind, dtype)
    if match := _ATOMIC.match(kind):
        return layout(match.group(1), structs, uniform)
    if match := _VECTOR.match(kind):
        count, scalar = int(match.group(1)), match.group(2) or _SUFFIX[match.group(3)]
        item = layout(scalar, structs).size
        return _homogeneous(count * item, (4 if count == 3 else count) * item, scalar)
    if match := _MATRIX.match(kind):
        columns, rows = int(match.group(1)), int(match.group(2))
        column = layout(f"vec{rows}<{match.group(3) or _SUFFIX[match.group(4)]}>", structs)
        return _homogeneous(columns * column.stride, column.align, column.scalar)
    if match := _ARRAY.match(kind):
        parts = split_top(match.group(1))
        element = layout(parts[0], structs, uniform)
        count = int(re.sub(r"[iu]$", "", parts[1])) if len(parts) > 1 and \
            re.fullmatch(r"\d+[iu]?", parts[1]) else 1
        align = max(element.align, 16) if uniform else element.align
        stride = -(-element.stride // align) * align
        if len(parts) == 1:  # runtime-sized: no bytes of its own, ``stride`` per element
            return Layout(0, align, element.scalar, element.dtype if element.scalar else
                          np.dtype(np.uint8), tail=stride)
        if element.scalar is not None:
            return _homogeneous(count * stride, align, element.scalar)
        return Layout(count * stride, align, None, np.dtype(
            {"names": ["elements"], "formats": [(element.dtype, (count,))], "offsets": [0],
             "itemsize": count * stride}))
    if kind in structs:
        return _struct(structs[kind], structs, uniform)
    raise ValueError(f"the WGSL type {wgsl_type!r} can't be given from or read into NumPy "
                     "(host-shareable types are f32, f16, f64, u32, i32, their vectors, matrices, "
                     "arrays and structs of them)")


def _homogeneous(size: int, align: int, scalar: str | None) -> Layout:
    return Layout(size, align, scalar, SCALARS[scalar] if scalar else np.dtype(np.uint8))


def _struct(fields: list[tuple[str, str]], structs: dict, uniform: bool) -> Layout:
    named, align, scalars, end = _struct_dtype(fields, structs, uniform)
    last = layout(fields[-1][1], structs, uniform) if fields else None
    if last is not None and last.tail:  # ends in a runtime-sized array: head, then elements
        head = -(-end // last.align) * last.align
        scalar = scalars.pop() if len(scalars) == 1 else None
        return Layout(head, max(align, last.align), scalar, SCALARS[scalar] if scalar else
                      np.dtype(np.uint8), tail=last.tail)
    if len(scalars) == 1 and None not in scalars:  # e.g. struct { pos: vec2f, vel: vec2f }
        scalar = scalars.pop()
        return Layout(named.itemsize, align, scalar, SCALARS[scalar])
    return Layout(named.itemsize, align, None, named)


def _struct_dtype(fields: list[tuple[str, str]], structs: dict,
                  uniform: bool) -> tuple[np.dtype, int, set[str | None], int]:
    """A structured dtype with one name per field at its WGSL offset, the struct's alignment,
    the scalar types of its fields, and where its last fixed-size field ends."""
    names, formats, offsets, end, align, scalars = [], [], [], 0, 16 if uniform else 1, set()
    for name, kind in fields:
        member = layout(kind, structs, uniform)
        scalars.add(member.scalar)
        if member.tail:  # a trailing runtime-sized array: not part of the fixed record
            continue
        offset = -(-end // member.align) * member.align
        count = member.size // member.dtype.itemsize if member.scalar else 1
        names.append(name)
        formats.append((member.dtype, (count,)) if count > 1 else member.dtype)
        offsets.append(offset)
        end, align = offset + member.size, max(align, member.align)
    size = -(-end // align) * align
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": size})
    return dtype, align, scalars, end


def pack_struct(fields: list[tuple[str, str]], values: dict[str, object],
                structs: dict[str, list[tuple[str, str]]], where: str) -> bytes:
    """The bytes of a uniform struct with ``fields`` (name, type) set from ``values`` by name,
    padded to 16 bytes (a uniform binding's size unit).

    Raises:
        ValueError: naming ``where``, for missing or unknown fields, or a value whose size or
            kind doesn't fit its field (a float for a u32 field, a negative u32, three values
            for a vec4).
    """
    names = [name for name, _ in fields]
    missing, unknown = set(names) - values.keys(), values.keys() - set(names)
    if missing or unknown:
        raise ValueError(f"{where} params: missing {sorted(missing)}, unknown {sorted(unknown)}")
    dtype, _, _, _ = _struct_dtype(fields, structs, uniform=True)
    record = np.zeros(1, dtype)
    for name, kind in fields:
        record[name] = _field_value(np.asarray(values[name]), record.dtype[name],
                                    layout(kind, structs, True), f"{where} field {name!r} ({kind})")
    return record.tobytes()  # a multiple of 16 bytes: uniform structs align to 16


def _field_value(value: np.ndarray, dtype: np.dtype, field: Layout, where: str) -> np.ndarray:
    target = dtype.base if dtype.shape else dtype
    if field.scalar is None:
        if value.dtype != dtype:
            raise ValueError(f"{where}: expected a NumPy value of dtype {dtype}, received "
                             f"{value.dtype}")
        return value
    count = int(np.prod(dtype.shape)) if dtype.shape else 1
    if value.size != count:
        raise ValueError(f"{where}: expected {count} value(s) (padding included), received "
                         f"{value.size}")
    return convert(value.reshape(dtype.shape), target, where)


def convert(values: np.ndarray, target: np.dtype, where: str) -> np.ndarray:
    """``values`` as ``target`` when that keeps their meaning: numbers to a float type,
    integers (or bools) that fit to an integer type.

    Raises:
        ValueError: naming ``where``, for floats given to an integer type (a float32 array for
            an ``array<u32>`` is a mistake, not a cast to make silently), integers out of
            the target's range, or finite numbers a float target can only hold as infinity.
    """
    values = np.asarray(values)
    source = values.dtype
    if target.kind == "f" and source.kind in "fiub":
        bad = first_beyond(values, target)
        if bad is not None:
            raise ValueError(f"{where}: {values[bad].item()!r} is beyond "
                             f"{target}'s range (±{np.finfo(target).max:g}) and would become "
                             "infinity; scale the values into range")
        return values.astype(target)  # NaN and infinity given as such pass as themselves
    if target.kind in "iu" and source.kind in "iub":
        info = np.iinfo(target)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise ValueError(f"{where}: values from {values.min()} to {values.max()} don't fit "
                             f"{target} ({info.min} to {info.max})")
        return values.astype(target)
    wanted = "floating-point" if target.kind == "f" else "integer"
    raise ValueError(f"{where}: expected {wanted} values (stored as {target}), received "
                     f"{source}; convert them explicitly (e.g. .astype(np.{target.name}))")
