"""``intricate bench``: verify every built-in kernel against its float64 reference, then time it,
and compare it with a roofline measured on the spot on this adapter.

The roofline: bandwidth from the ``copy`` kernel, compute from our best GEMM here (the subgroup
GEMM on software adapters that have subgroups, as intricate/ops/gemm picks it; the tiled one
elsewhere), both timed at the largest size of the size class asked for (standard for explicit
sizes). A kernel of F flops and B bytes could reach min(peak GFLOP/s, F / B · peak GB/s); its
percentage is what it reached of that (of the bandwidth alone for pure data moves).

``--dtype`` (float32, float64, mixed_float16) renders every kernel with that policy's element
types (mixed_float16: f16 data, f32 sums), binds the inputs in them and checks each output at
the tolerances of its own element type (catalog.output_tolerances: an f32 output of an f16
kernel at float32's); kernels that don't run in it, or on this adapter, are listed as skipped
with the reason. Bytes moved count each array's element size in the dtype (catalog.nbytes).

JSON keys (``--json FILE``):
    intricate, device      the version; the adapter's identity (see intricate.cli.info)
    dtype                  the dtype policy the kernels ran in (files without it: float32)
    sizes                  the size class asked for ("small", "standard"), or the sizes given
    roofline               gbps, gflops, and the kernels and shapes they were measured with:
                           bandwidth_kernel, bandwidth_shape, compute_kernel, compute_shape,
                           compute_dtype (the GEMM's: --dtype's where it runs, else float32)
    results                one per kernel and size: name, shader, entry, size, shape, passed,
                           skipped (why it did not run in this dtype or on this adapter, else
                           null; passed is then false), error (why it could not run, else
                           null), outputs (per output:
                           max_abs_error, max_rel_error, worst_index, passed), median_s, min_s,
                           max_s, repeat, method ("timestamp" | "wall clock"), gflops, gbps,
                           roofline_percent (timings are null when the check failed)
    failed                 how many results ran and did not pass
    compare                with --compare: file, threshold (0.10), and per compared result
                           name, size, old_median_s, median_s, speedup (old / new: above 1 is
                           faster), regressed (slower by more than the threshold)
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..gpu import Device
from ..gpu.dtypes import FLOAT32, Precision
from ..kernels import Kernel, catalog
from ..ops.gemm import subgroup
from .info import identity

REGRESSION = 0.10  # slower than the baseline by more than this is a regression
TIME_BUDGET = 1.0  # seconds of timed runs per kernel when the repeat count is adaptive
MAX_REPEAT, MIN_REPEAT = 50, 3
# GPUs lower their clocks when idle and need a while of steady work to raise them again (an
# H200 here: copy at 1.2 TB/s after 5 s idle, 3.2 TB/s once busy for ~1.5 s), so each kernel
# runs untimed for this long first, and the roofline, timed first, for WARM_FIRST.
WARM_SECONDS, WARM_FIRST, MAX_WARMUP = 0.3, 2.0, 20000
SEED = 0


def _kernel(entry: catalog.Entry, device: Device, case: catalog.Case,
            precision: Precision) -> Kernel:
    return Kernel(entry.shader, entry.entry, device=device, constants=case.constants or None,
                  template=case.template, dtype=precision.name)


async def _case(entry: catalog.Entry, device: Device, size: int,
                precision: Precision) -> catalog.Case:
    """The entry's case at ``size`` in ``precision``'s dtype, from the same seed every time."""
    return await device.run(entry.setup, device, size, np.random.default_rng(SEED), precision)


async def _time(kernel: Kernel, case: catalog.Case, repeat: int | None,
                warm: float = WARM_SECONDS) -> Any:
    """Kernel.time after ``warm`` seconds of untimed runs, with ``repeat`` runs, or as many as
    fit TIME_BUDGET (MIN_REPEAT to MAX_REPEAT): a standard GEMM takes seconds on a software
    adapter. A short probe sizes both."""
    arguments = {"flops": case.flops, "bytes": case.bytes, "grid": case.grid,
                 "shapes": case.shapes, **case.inputs}
    probe = await kernel.time(repeat=MIN_REPEAT, warmup=1, **arguments)
    per_sample = probe.per_sample  # dispatches per sample: ~2 ms of GPU work (Kernel.time)
    sample_seconds = max(probe.median * per_sample, 1e-9)
    if repeat is None:
        repeat = int(min(MAX_REPEAT, max(MIN_REPEAT, TIME_BUDGET / sample_seconds)))
    if kernel.device.adapter_info.get("adapter_type") == "CPU":
        warm = 0.0  # a software adapter has no clocks to raise; its runs cost CPU time
    # Samples are submitted one at a time: count the warm-up in wall-clock time per sample.
    per_run = max(statistics.median(probe.wall or probe.samples), 1e-9)
    warmup = int(min(MAX_WARMUP, max(5, warm / (per_run * per_sample))))
    return await kernel.time(repeat=repeat, warmup=warmup, per_sample=per_sample,
                             **arguments), repeat


def skipped(entry: catalog.Entry, size: int, reason: str) -> dict[str, Any]:
    """The ``results`` item of a kernel that doesn't run (catalog.skip_reason's ``reason``)."""
    return _result(entry, size, reason)


def _result(entry: catalog.Entry, size: int, skipped: str | None = None) -> dict[str, Any]:
    return {"name": entry.name, "shader": entry.shader, "entry": entry.entry, "size": size,
            "shape": str(size), "passed": False, "skipped": skipped, "error": None,
            "outputs": {},
            "median_s": None, "min_s": None, "max_s": None, "repeat": None, "method": None,
            "gflops": None, "gbps": None, "roofline_percent": None}


async def verify(entry: catalog.Entry, device: Device, size: int,
                 precision: Precision = FLOAT32) -> dict[str, Any]:
    """Check ``entry`` at ``size`` in ``precision``'s dtype against its reference.

    Returns:
        A ``results`` item of the JSON (see the module docstring) without timings; a failure
        is recorded in it (passed False, error), never raised.
    """
    result = _result(entry, size)
    try:
        case = await _case(entry, device, size, precision)
        result["shape"] = case.shape
        kernel = _kernel(entry, device, case, precision)
        rtol, atol = catalog.output_tolerances(entry, {  # each output at its own type's
            binding.name: binding.element_type for binding in kernel.bindings
            if binding.access == "read_write"})
        report = await kernel.check(entry.reference, rtol=rtol, atol=atol, shapes=case.shapes,
                                    grid=case.grid, **case.inputs)
    except Exception as error:  # one kernel's failure is reported; the others still run
        result["error"] = f"{type(error).__name__}: {error}"
        return result
    result["outputs"] = {output.name: {"max_abs_error": float(output.max_abs_error),
                                       "max_rel_error": float(output.max_rel_error),
                                       "worst_index": [int(i) for i in output.worst_index],
                                       "passed": bool(output.passed)}
                         for output in report.outputs}
    result["passed"] = bool(report.passed)
    result["error"] = None if report.passed else str(report)
    return result


async def time_verified(entry: catalog.Entry, device: Device, result: dict[str, Any],
                        repeat: int | None = None, precision: Precision = FLOAT32) -> None:
    """Time a kernel that passed ``verify`` and add the timings to its ``result`` (a failure
    is recorded there)."""
    try:
        case = await _case(entry, device, result["size"], precision)
        timing, result["repeat"] = await _time(_kernel(entry, device, case, precision), case,
                                               repeat)
    except Exception as error:
        result["passed"], result["error"] = False, f"{type(error).__name__}: {error}"
        return
    result.update(median_s=timing.median, min_s=timing.min, max_s=timing.max,
                  method=timing.method, gflops=timing.gflops, gbps=timing.gbps)


async def measure(entry: catalog.Entry, device: Device, size: int,
                  repeat: int | None = None, precision: Precision = FLOAT32) -> dict[str, Any]:
    """``verify``, then ``time_verified`` if it passed: one JSON ``results`` item.

    ``intricate bench`` verifies every kernel first and then times them back to back, so the
    GPU is not left idle (computing float64 references) between a warm-up and its timing."""
    result = await verify(entry, device, size, precision)
    if result["passed"]:
        await time_verified(entry, device, result, repeat, precision)
    return result


async def roofline(device: Device, size_class: str, repeat: int | None,
                   precision: Precision = FLOAT32) -> dict[str, Any]:
    """The peaks this adapter reaches: GB/s of ``copy`` and GFLOP/s of the best GEMM here in
    ``precision``'s dtype (float32's where it doesn't run in it), the first timed, after
    WARM_FIRST seconds of copies."""
    compute = "gemm.subgroup" if subgroup.usable(device) else "gemm.tiled"
    if catalog.skip_reason(catalog.ENTRIES[compute], device, precision):
        precision = FLOAT32
    peaks: dict[str, Any] = {"compute_dtype": precision.name}
    for role, name, key in (("bandwidth", "copy", "gbps"), ("compute", compute, "gflops")):
        entry = catalog.ENTRIES[name]
        case = await _case(entry, device, max(entry.sizes[size_class]), precision)
        kernel = _kernel(entry, device, case, precision)
        timing, _ = await _time(kernel, case, repeat,
                                WARM_FIRST if role == "bandwidth" else WARM_SECONDS)
        work = case.bytes if key == "gbps" else case.flops
        # A peak is the best this adapter did: the fastest run, not the median.
        peaks.update({key: work / timing.min / 1e9, f"{role}_kernel": name,
                      f"{role}_shape": case.shape})
    return peaks


def attach_roofline(result: dict[str, Any], peaks: dict[str, Any]) -> None:
    """Set ``roofline_percent``: of min(peak GFLOP/s, F / B · peak GB/s) with flops, of the
    bandwidth alone without."""
    if result["gbps"] is None:
        return
    if result["gflops"]:
        intensity = result["gflops"] / result["gbps"]  # flops per byte
        attainable = min(peaks["gflops"], intensity * peaks["gbps"])
        result["roofline_percent"] = 100 * result["gflops"] / attainable
    else:
        result["roofline_percent"] = 100 * result["gbps"] / peaks["gbps"]


def baseline(path: Path, dtype: str = "float32") -> dict[tuple[str, int], float | None]:
    """An earlier ``--json``'s median seconds by (name, size), read before any GPU work.

    Raises:
        ValueError: the file can't be read, isn't an ``intricate bench`` JSON, or timed
            another dtype than ``dtype``.
    """
    try:
        old = json.loads(Path(path).read_text())
        times = {(item["name"], item["size"]): item["median_s"] for item in old["results"]}
        ran = old.get("dtype", "float32")  # files from before --dtype: float32
    except OSError as error:
        raise ValueError(f"--compare {path}: cannot read it ({error.strerror or error})"
                         ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--compare {path}: expected the JSON `intricate bench --json` "
                         f"writes (a 'results' list of name, size, median_s), failed at "
                         f"{type(error).__name__}: {error}") from None
    if ran != dtype:
        raise ValueError(f"--compare {path}: its kernels ran in {ran!r}, these in {dtype!r}; "
                         f"compare runs of one dtype (--dtype {ran}, or another file)")
    for (name, size), median in times.items():
        if median is not None and (isinstance(median, bool) or not isinstance(
                median, (int, float)) or not median > 0):
            raise ValueError(f"--compare {path}: {name} ({size}) has median_s {median!r}, "
                             "expected seconds > 0 or null (a kernel that failed)")
    return times


def compare(results: list[dict[str, Any]], times: dict[tuple[str, int], float | None],
            path: Path) -> dict[str, Any]:
    """Each result's speed against the same kernel and size in ``times`` (``baseline``'s)."""
    rows = []
    for result in results:
        before = times.get((result["name"], result["size"]))
        if before and result["median_s"]:
            rows.append({"name": result["name"], "size": result["size"],
                         "old_median_s": before, "median_s": result["median_s"],
                         "speedup": before / result["median_s"],
                         "regressed": result["median_s"] > before * (1 + REGRESSION)})
    return {"file": str(path), "threshold": REGRESSION, "results": rows}


def document(device: Device, sizes: Any, peaks: dict, results: list[dict],
             dtype: str = "float32") -> dict[str, Any]:
    """The ``--json`` document (see the module docstring), without ``compare``."""
    return {"intricate": __version__, "device": identity(device.adapter_info), "dtype": dtype,
            "sizes": sizes, "roofline": peaks, "results": results,
            "failed": sum(not (r["passed"] or r.get("skipped")) for r in results)}


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def table(bench: dict[str, Any]) -> str:
    """The bench document as the table ``intricate bench`` prints."""
    speedups = {(row["name"], row["size"]): row for row in
                bench.get("compare", {}).get("results", [])}
    peaks = bench["roofline"]
    lines = [f"{bench['device']['name']} [{bench['device']['backend']}], "
             f"{bench.get('dtype', 'float32')}: roofline "
             f"{_number(peaks['gbps'])} GB/s ({peaks['bandwidth_kernel']} "
             f"{peaks['bandwidth_shape']}), {_number(peaks['gflops'])} GFLOP/s "
             f"({peaks['compute_kernel']} {peaks['compute_shape']})"]
    header = ("kernel", "shape", "check", "median", "GFLOP/s", "GB/s", "% roof",
              "vs old" if "compare" in bench else "")
    rows = []
    for result in bench["results"]:
        check = "ok" if result["passed"] else "skipped" if result.get("skipped") else "FAILED"
        worst = max((o["max_rel_error"] for o in result["outputs"].values()), default=0.0)
        if result["passed"] and worst:
            check = f"ok {worst:.0e}"  # the largest relative error
        old = speedups.get((result["name"], result["size"]))
        versus = "" if old is None else (f"{old['speedup']:.2f}x" +
                                         (" SLOWER" if old["regressed"] else ""))
        median = result["median_s"]
        rows.append((result["name"], result["shape"], check,
                     "" if median is None else f"{median * 1e3:.3f} ms",
                     _number(result["gflops"]), _number(result["gbps"]),
                     _number(result["roofline_percent"], 0), versus))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
              for row in [header, *rows]]
    lines += [f"SKIPPED {result['name']} {result['shape']}: {result['skipped']}" if result.get(
        "skipped") else f"FAILED {result['name']} {result['shape']}: {result['error']}"
              for result in bench["results"] if not result["passed"]]
    return "\n".join(lines)
