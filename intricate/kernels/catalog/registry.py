"""The catalog's registry: every built-in (shader file, entry point) that ``intricate bench``
verifies and times, with its NumPy float64 reference and how to run it at a size.

Each family registers its entries beside the others of its shader (catalog/ops.py, layers.py,
training.py) with ``@register(...)`` on a function ``case(device, size, rng, precision) ->
Case``: the inputs at that size (seeded; floats as float32, which binding converts to each
binding's type), the template values and overrides the engine renders the kernel with in that
dtype policy, the grid, and the flops and bytes one run moves (``nbytes``). ``size``
is the entry's own unit, said in its ``unit`` (m = n = k for a GEMM, rows for row-wise kernels,
elements otherwise).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...gpu import Device
from ...gpu.dtypes import FLOAT32, POLICIES, Precision

SIZE_CLASSES = ("small", "standard")


@dataclass
class Case:
    """One entry at one size: what ``Kernel`` needs to build, check and time it.

    Attributes:
        inputs: arrays by WGSL binding name and uniform values by field name (what
            ``Kernel.run``/``check``/``time`` take as ``**values``).
        shapes: shapes of the read_write outputs not given in ``inputs``.
        grid: the workgroups dispatched, as the engine dispatches them.
        template: the shader's template values (``dtype`` and ``accumulate`` are added: the
            bench's dtype policy's).
        constants: override values (``workgroup_size``, ...).
        flops: floating-point operations of one run (None: a pure data move).
        bytes: bytes one run reads and writes in global memory, each array once, at its
            element type's size in the dtype policy (``nbytes``).
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


Setup = Callable[[Device, int, np.random.Generator, Precision], Case]
Reference = Callable[..., dict[str, np.ndarray]]


@dataclass(frozen=True)
class Entry:
    """A built-in kernel of the catalog.

    Attributes:
        name: what ``intricate bench NAME`` selects, e.g. "gemm.tiled", "activation.forward.gelu".
        shader: the file under shaders/; entry: its @compute function.
        setup: ``setup(device, size, rng, precision) -> Case``.
        reference: ``reference(**case.inputs) -> {output name: expected array}`` in float64.
        sizes: per size class ("small": quick on a software adapter, edges included;
            "standard": big enough to load a GPU), the sizes in ``unit``.
        unit: what a size counts.
        rtol, atol: the check's tolerances in float32 (relative, with a tiny absolute floor;
            ``tolerances`` scales them to other dtypes).
        available: whether the entry runs on a device (e.g. it needs subgroups); ``needs``
            says what it needs, for the skip's reason.
        unsupported: dtype policy name -> why the entry doesn't run in it (bench lists it as
            skipped with that reason).
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
    needs: str = ""
    unsupported: dict[str, str] = field(default_factory=dict)


ENTRIES: dict[str, Entry] = {}


def register(name: str, shader: str, entry: str, *, reference: Reference,
             small: tuple[int, ...], standard: tuple[int, ...], unit: str, rtol: float = 1e-4,
             atol: float = 1e-30, available: Callable[[Device], bool] | None = None,
             needs: str = "", unsupported: dict[str, str] | None = None
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
                              atol, **extra, needs=needs, unsupported=dict(unsupported or {}))
        return setup
    return decorate


def nbytes(precision: Precision, data: int = 0, sums: int = 0, words: int = 0) -> int:
    """Bytes of ``data`` values of the policy's data type (``{{ dtype }}``: f16 in
    mixed_float16), ``sums`` of its accumulate type and ``words`` of 4 bytes (u32 indices, the
    arrays of fixed-type kernels): what a Case's ``bytes`` counts."""
    return (data * precision.itemsize + sums * np.dtype(precision.parameters).itemsize
            + 4 * words)


def skip_reason(entry: Entry, device: Device, precision: Precision) -> str | None:
    """Why ``entry`` doesn't run on ``device`` in ``precision``'s dtype, or None when it does."""
    if precision.name in entry.unsupported:
        return f"not in {precision.name}: {entry.unsupported[precision.name]}"
    if not entry.available(device):
        return f"not on {device.name}: {entry.needs or 'the adapter lacks what it needs'}"
    return None


def tolerances(entry: Entry, precision: Precision) -> tuple[float, float]:
    """``entry``'s rtol and atol in ``precision``'s dtype: its float32 values with rtol scaled
    by the policy's rtol over float32's (float64 1e-12, mixed_float16 1e-3: f16 results are
    stored to 2^-11) and atol by the data type's epsilon over float32's, at least half f16's
    smallest subnormal (2^-25) for f16 data, where storing keeps no relative accuracy."""
    rtol = entry.rtol * (precision.rtol / FLOAT32.rtol)
    epsilon = float(np.finfo(precision.numpy).eps / np.finfo(np.float32).eps)
    return rtol, max(entry.atol * epsilon, precision.stored_floor)


def output_tolerances(entry: Entry, outputs: dict[str, str]
                      ) -> tuple[dict[str, float], dict[str, float]]:
    """(rtol, atol) per output, from ``outputs`` (name -> WGSL element type, e.g. "f16",
    "vec4<f32>", a struct as f32): ``tolerances`` in the policy whose data type it is. A
    mixed_float16 kernel's f32 outputs (an optimizer's master weights and moments) are then
    judged at float32's, not at f16's 8192x wider atol, under which an Adam step that moved
    no weight passed."""
    by_type = {policy.wgsl: policy for policy in POLICIES.values()}
    chosen = {name: tolerances(entry, by_type[next(
        (scalar for scalar in ("f16", "f64") if scalar in element), "f32")])
        for name, element in outputs.items()}
    return ({name: rtol for name, (rtol, _) in chosen.items()},
            {name: atol for name, (_, atol) in chosen.items()})


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

