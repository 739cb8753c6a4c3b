"""A kernel's ``override`` constants, checked on the host before any GPU work: each value given
names an override and fits its WGSL type, and every override the entry uses without a default
is given (wgpu would refuse the pipeline, or take 2.5 for a u32, later and less clearly)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..gpu import reflect


def check_constants(where: str, source: str, entry: str, constants: Mapping[str, Any]) -> None:
    """Refuse, before any GPU work, a constant that names no ``override`` of ``source``, a value
    that doesn't fit its declared type, and an override ``entry`` uses with no default and no
    value (the pipeline can't be built without it)."""
    declared = reflect.overrides(source)
    unknown = sorted(set(constants) - set(declared))
    if unknown:
        raise ValueError(f"{where}: constants {unknown} are not override constants of the "
                         f"module; it has {list(declared)}")
    for name, value in constants.items():
        expected = _override_value(declared[name][0], value)
        if expected:
            raise ValueError(f"{where}: constants[{name!r}] = {value!r} doesn't fit override "
                             f"{name}: {declared[name][0] or '(inferred type)'}; give {expected}")
    named = reflect.used_names(source, entry) | set(re.findall(
        r"\w+", " ".join(reflect.entry_attributes(source, entry).values())))
    missing = [name for name, (_, default) in declared.items()
               if not default and name in named and name not in constants]
    if missing:
        raise ValueError(f"{where}: override constant(s) {missing} have no default; give their "
                         f"values: constants={{{', '.join(f'{n!r}: ...' for n in missing)}}}")


def _override_value(kind: str | None, value: Any) -> str | None:
    """What an override of WGSL type ``kind`` takes, or None when ``value`` is that."""
    boolean = isinstance(value, (bool, np.bool_))
    integer = isinstance(value, (int, np.integer)) and not boolean
    number = integer or isinstance(value, (float, np.floating))
    if kind == "bool":
        return None if boolean else "True or False"
    if kind in ("u32", "i32"):
        low, high = (0, 2**32 - 1) if kind == "u32" else (-2**31, 2**31 - 1)
        return None if integer and low <= value <= high else f"a whole number {low} to {high}"
    if kind in ("f32", "f16"):
        largest = float(np.finfo(np.float32 if kind == "f32" else np.float16).max)
        return None if number and abs(value) <= largest else f"a finite number within ±{largest:g}"
    return None if number or boolean else "a number or a bool"
