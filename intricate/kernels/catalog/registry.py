"""The catalog's registry: every built-in (shader file, entry point) that ``intricate bench``
verifies and times, with its NumPy float64 reference and how to run it at a size.

Each family registers its entries beside the others of its shader (catalog/ops.py, layers.py,
training.py) with ``@register(...)`` on a function ``case(device, size, rng) -> Case``: the
inputs at that size (seeded), the template values and overrides the engine renders the kernel
with, the grid, and the flops and bytes one run moves. ``size`` is the entry's own unit, said in
its ``unit`` (m = n = k for a GEMM, rows for row-wise kernels, elements otherwise).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...gpu import Device

SIZE_CLASSES = ("small", "standard")


@dataclass
class Case:
    """One entry at one size: what ``Kernel`` needs to build, check and time it.

    Attributes:
        inputs: arrays by WGSL binding name and uniform values by field name (what
            ``Kernel.run``/``check``/``time`` take as ``**values``).
        shapes: shapes of the read_write outputs not given in ``inputs``.
        grid: the workgroups dispatched, as the engine dispatches them.
        template: the shader's template values (``dtype`` is added: f32).
        constants: override values (``workgroup_size``, ...).
        flops: floating-point operations of one run (None: a pure data move).
        bytes: bytes one run reads and writes in global memory, each array once.
        shape: a readable description of the size, e.g. "512x512x512".
    """

    inputs: dict[str, Any]
    grid: tuple[int, int, int]
    bytes: int
    shape: str
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)
    constants: dict[str, int] = field(default_factory=dict)
    flops: int | None = None


Setup = Callable[[Device, int, np.random.Generator], Case]
Reference = Callable[..., dict[str, np.ndarray]]


@dataclass(frozen=True)
class Entry:
    """A built-in kernel of the catalog.

    Attributes:
        name: what ``intricate bench NAME`` selects, e.g. "gemm.tiled", "activation.forward.gelu".
        shader: the file under shaders/; entry: its @compute function.
        setup: ``setup(device, size, rng) -> Case``.
        reference: ``reference(**case.inputs) -> {output name: expected array}`` in float64.
        sizes: per size class ("small": quick on a software adapter, edges included;
            "standard": big enough to load a GPU), the sizes in ``unit``.
        unit: what a size counts.
        rtol, atol: the check's tolerances (relative, with a tiny absolute floor).
        available: whether the entry runs on a device (e.g. it needs subgroups).
    """

    name: str
    shader: str
    entry: str
    setup: Setup
    reference: Reference
    sizes: dict[str, tuple[int, ...]]
    unit: str
    rtol: float = 1e-4
    atol: float = 1e-30
    available: Callable[[Device], bool] = field(default=lambda device: True)


ENTRIES: dict[str, Entry] = {}


def register(name: str, shader: str, entry: str, *, reference: Reference,
             small: tuple[int, ...], standard: tuple[int, ...], unit: str, rtol: float = 1e-4,
             atol: float = 1e-30, available: Callable[[Device], bool] | None = None
             ) -> Callable[[Setup], Setup]:
    """Decorator: register ``setup`` as catalog entry ``name`` (see Entry for the arguments).

    Raises:
        ValueError: the name is taken, or a size class is empty.
    """
    def decorate(setup: Setup) -> Setup:
        if name in ENTRIES:
            raise ValueError(f"catalog entry {name!r} is registered twice")
        if not small or not standard:
            raise ValueError(f"catalog entry {name!r}: give small and standard sizes")
        extra = {"available": available} if available is not None else {}
        ENTRIES[name] = Entry(name, shader, entry, setup, reference,
                              {"small": tuple(small), "standard": tuple(standard)}, unit, rtol,
                              atol, **extra)
        return setup
    return decorate


def select(patterns: Iterable[str] = ()) -> list[Entry]:
    """The entries named by ``patterns`` (all when empty), in registration order: a pattern is a
    name, a family prefix ("softmax" selects "softmax.forward", ...) or a glob ("*.backward*").

    Raises:
        ValueError: a pattern that selects nothing (the message lists the names).
    """
    patterns = list(patterns)
    if not patterns:
        return list(ENTRIES.values())
    chosen = []
    for pattern in patterns:
        found = [entry for name, entry in ENTRIES.items()
                 if name == pattern or name.startswith(pattern + ".")
                 or fnmatch.fnmatchcase(name, pattern)]
        if not found:
            raise ValueError(f"kernel {pattern!r}: expected a catalog name, family or glob; "
                             f"the names are {sorted(ENTRIES)}")
        chosen += [entry for entry in found if entry not in chosen]
    return chosen


def sizes_of(entry: Entry, size: str | Iterable[int]) -> tuple[int, ...]:
    """The sizes of ``entry`` to run: a size class's, or the given sizes.

    Raises:
        ValueError: an unknown class, or a size below 1.
    """
    if isinstance(size, str):
        if size not in SIZE_CLASSES:
            raise ValueError(f"size: expected one of {SIZE_CLASSES} or whole numbers, "
                             f"received {size!r}")
        return entry.sizes[size]
    sizes = tuple(size)
    bad = [value for value in sizes if not isinstance(value, int) or value < 1]
    if bad or not sizes:
        raise ValueError(f"size: expected whole numbers >= 1, received {sizes}")
    return sizes

