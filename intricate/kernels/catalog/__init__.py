"""The catalog of built-in kernels: every (shader file, entry point) of shaders/ with its NumPy
float64 reference, inputs at a size, template values, grid, flops and bytes (see registry.py).
``intricate bench`` verifies each against its reference, then times it.

    from intricate.kernels import catalog
    entries = catalog.select(["gemm", "softmax.forward"])   # by name, family or glob
"""

from . import (  # noqa: F401 (each registers its family's entries)
    layers,
    normalization,
    ops,
    pooling,
    tiny,
    training,
)
from .registry import (
    ENTRIES,
    SIZE_CLASSES,
    Case,
    Entry,
    nbytes,
    output_tolerances,
    register,
    select,
    sizes_of,
    skip_reason,
    tolerances,
)

__all__ = ["ENTRIES", "SIZE_CLASSES", "Case", "Entry", "nbytes", "output_tolerances",
           "register", "select", "sizes_of", "skip_reason", "tolerances"]
