"""What ``Kernel.check`` and ``Kernel.time`` return: a per-output comparison with a float64
reference, and the statistics of timed runs; and ``check_gradients``' GradientReport."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

# A tolerance of Kernel.check: one number, or one per output name (e.g. the f32 master weights
# of a mixed_float16 optimizer judged at float32's, its f16 copy at f16's: catalog.tolerances).
Tolerance = float | Mapping[str, float]


@dataclass
class OutputCheck:
    """One output against its reference.

    Attributes:
        name: the WGSL binding.
        max_abs_error: max |got - expected| (NaN/inf where either side is not finite and they
            differ).
        max_rel_error: max |got - expected| / |expected|, with atol / rtol as the floor of
            |expected| (where the absolute tolerance takes over: exact zeros, and values an
            f16 result stores as subnormals, compare absolutely).
        worst_index: the index (a tuple, in the output's shape) of the element furthest outside
            the tolerance (of the largest error when all pass).
        passed: every element within ``atol + rtol * |expected|`` (NaN/inf only where the
            reference has the same value).
        got, expected: the values at ``worst_index``.
    """

    name: str
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    passed: bool
    got: float
    expected: float
    failures: int = 0  # elements outside the tolerance
    size: int = 0

    def __str__(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        where = f"[{', '.join(map(str, self.worst_index))}]"
        failed = "" if self.passed else f", {self.failures} of {self.size} elements outside"
        return (f"{verdict} {self.name}: max abs error {self.max_abs_error:.3g}, max rel error "
                f"{self.max_rel_error:.3g}, worst at {where} (got {self.got:.9g}, expected "
                f"{self.expected:.9g}){failed}")


@dataclass
class CheckReport:
    """``Kernel.check``'s result: ``passed`` when every output is; ``str()`` is a table."""

    kernel: str
    outputs: list[OutputCheck]
    rtol: Tolerance
    atol: Tolerance

    @property
    def passed(self) -> bool:
        return all(output.passed for output in self.outputs)

    def __getitem__(self, name: str) -> OutputCheck:
        for output in self.outputs:
            if output.name == name:
                return output
        raise KeyError(f"{name!r}: the outputs checked are {[o.name for o in self.outputs]}")

    def __str__(self) -> str:
        head = (f"{self.kernel}: {'passed' if self.passed else 'FAILED'} "
                f"(rtol {_shown(self.rtol)}, atol {_shown(self.atol)})")
        return "\n".join([head] + [f"  {output}" for output in self.outputs])


def _shown(tolerance: Tolerance) -> str:
    if isinstance(tolerance, Mapping):
        return ", ".join(f"{name} {value:g}" for name, value in tolerance.items())
    return f"{tolerance:g}"


def compare(name: str, got: np.ndarray, expected: np.ndarray, rtol: Tolerance,
            atol: Tolerance | np.ndarray) -> OutputCheck:
    """``got`` against ``expected`` (compared in float64 after reshaping to ``got``'s shape);
    a Mapping tolerance gives ``name``'s.

    Raises:
        ValueError: the reference's output has a different number of elements, or a Mapping
            tolerance doesn't name this output.
    """
    for tolerance in (rtol, atol):
        if isinstance(tolerance, Mapping) and name not in tolerance:
            raise ValueError(f"output {name!r}: the tolerances given per output name only "
                             f"{sorted(tolerance)}; give every output's")
    rtol = rtol[name] if isinstance(rtol, Mapping) else rtol
    atol = atol[name] if isinstance(atol, Mapping) else atol
    expected = np.asarray(expected)
    if expected.size != got.size:
        raise ValueError(f"reference output {name!r}: {expected.size} values for an output of "
                         f"{got.size} (shape {got.shape}); return an array of that shape")
    if got.dtype.names:  # a struct output: compare field by field as one flat float64 array
        got = np.concatenate([got[f].astype(np.float64).ravel() for f in got.dtype.names])
        expected = np.concatenate([expected[f].astype(np.float64).ravel()
                                   for f in expected.dtype.names])
    values = got.astype(np.float64)
    reference = expected.astype(np.float64).reshape(values.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(values - reference)
        same = (values == reference) | (np.isnan(values) & np.isnan(reference))
        error = np.where(same, 0.0, np.where(np.isnan(error), np.inf, error))
        floor = atol / rtol if rtol > 0 else atol  # atol: a number, or one per element
        scale = np.maximum(np.abs(reference), floor)
        relative = np.where(error == 0, 0.0, error / np.where(scale == 0, 1e-300, scale))
        excess = error - (atol + rtol * np.abs(reference))
    excess = np.where(np.isnan(excess), np.inf, excess)
    worst = np.unravel_index(int(np.argmax(excess)), values.shape) if values.size else ()
    failures = int(np.count_nonzero(excess > 0))
    return OutputCheck(name, float(error.max()), float(relative.max()),
                       tuple(int(i) for i in worst), failures == 0, float(values[worst]),
                       float(reference[worst]), failures, int(values.size))


@dataclass
class Timing:
    """``Kernel.time``'s result, seconds per run.

    Attributes:
        median, min, max: over ``samples``.
        method: "timestamp" (GPU timestamp queries around the dispatch) or "wall clock" (the
            adapter lacks timestamp-query: submit-to-readback time, latency included).
        gflops, gbps: ``flops`` / ``bytes`` per run over the median, when given.
        per_sample: dispatches run back to back in each sample (its time is divided by it).
    """

    kernel: str
    samples: list[float]
    method: str
    flops: float | None = None
    bytes: float | None = None
    wall: list[float] = field(default_factory=list)
    per_sample: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def gflops(self) -> float | None:
        return None if self.flops is None else self.flops / self.median / 1e9

    @property
    def gbps(self) -> float | None:
        return None if self.bytes is None else self.bytes / self.median / 1e9

    def __str__(self) -> str:
        rates = "".join(f", {value:.4g} {unit}" for value, unit in
                        ((self.gflops, "GFLOP/s"), (self.gbps, "GB/s")) if value is not None)
        return (f"{self.kernel}: median {self.median * 1e6:.4g} µs (min {self.min * 1e6:.4g}, "
                f"max {self.max * 1e6:.4g}; {len(self.samples)} samples of {self.per_sample} "
                f"runs, {self.method}){rates}")


# check_gradients' report (kernels/gradients.py) ---------------------------------------------------
FLOOR = 1e-2  # entries below this fraction of the array's largest gradient are judged at it
TINY = 1e-30


@dataclass
class GradientReport(CheckReport):
    """``check_gradients``' result: a CheckReport whose outputs are the gradients ("grad_inputs",
    "grad_NAME") against finite differences; ``size`` of each is the elements checked (a sample
    of large arrays), ``worst_index`` an index into the whole array.

    Attributes:
        step: the relative step h / max(1, |v|).
        atol: unused (0): each entry's absolute floor is FLOOR · rtol · its array's largest
            |fd| plus what rounding the outputs can move its estimate by (see the module doc).
        unwritten: per gradient, elements the backward left unwritten (over the whole array).
    """

    step: float = 0.0
    unwritten: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        head = (f"{self.kernel}: {'passed' if self.passed else 'FAILED'} (step "
                f"{self.step:g}·max(1, |v|), rtol {self.rtol:g}, floor {FLOOR:g} of each "
                "array's largest gradient)")
        notes = [f"  {name}: {count} elements unwritten by the backward (NaN before it ran): "
                 "write every element every step (=, not +=)"
                 for name, count in self.unwritten.items() if count]
        return "\n".join([head, *(f"  {output}" for output in self.outputs), *notes])


def compare_gradient(name: str, shape: tuple[int, ...], got: np.ndarray, picked: np.ndarray,
             estimate: np.ndarray, noise: np.ndarray, rtol: float) -> tuple[OutputCheck, int]:
    """The sampled gradient against its estimate (report.compare, with an absolute floor of
    FLOOR · rtol · the largest |estimate| plus each estimate's rounding ``noise``), indices
    mapped into the whole array; and how many
    elements of the whole array the backward left unwritten."""
    got = np.asarray(got, np.float64).reshape(-1)
    unwritten = np.flatnonzero(~np.isfinite(got))
    atol = FLOOR * rtol * float(np.max(np.abs(estimate), initial=0.0)) + TINY + noise
    check = compare(name, got[picked], estimate, rtol, atol)
    worst = int(unwritten[0]) if unwritten.size else int(picked[check.worst_index[0]])
    got_worst = got[worst]
    expected = estimate[np.searchsorted(picked, worst)] if worst in picked else float("nan")
    check = replace(check, worst_index=tuple(int(i) for i in np.unravel_index(worst, shape)),
                    passed=check.passed and not unwritten.size, got=float(got_worst),
                    expected=float(expected), failures=check.failures + int(unwritten.size))
    return check, int(unwritten.size)
