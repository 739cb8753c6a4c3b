"""``intricate bench``: verify every built-in kernel against its float64 reference, then time it,
and compare it with a roofline measured on the spot on this adapter.

The roofline: bandwidth from the ``copy`` kernel, compute from our best GEMM here (the subgroup
GEMM on software adapters that have subgroups, as intricate/ops/gemm picks it; the tiled one
elsewhere), both timed at the largest size of the size class asked for (standard for explicit
sizes). A kernel of F flops and B bytes could reach min(peak GFLOP/s, F / B · peak GB/s); its
percentage is what it reached of that (of the bandwidth alone for pure data moves).

JSON keys (``--json FILE``):
    intricate, device      the version; the adapter's identity (see intricate.cli.info)
    sizes                  the size class asked for ("small", "standard"), or the sizes given
    roofline               gbps, gflops, and the kernels and shapes they were measured with:
                           bandwidth_kernel, bandwidth_shape, compute_kernel, compute_shape
    results                one per kernel and size: name, shader, entry, size, shape, passed,
                           error (why it could not run, else null), outputs (per output:
                           max_abs_error, max_rel_error, worst_index, passed), median_s, min_s,
                           max_s, repeat, method ("timestamp" | "wall clock"), gflops, gbps,
                           roofline_percent (timings are null when the check failed)
    failed                 how many results did not pass
    compare                with --compare: file, threshold (0.10), and per compared result
                           name, size, old_median_s, median_s, speedup (old / new: above 1 is
                           faster), regressed (slower by more than the threshold)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..gpu import Device
from ..kernels import Kernel, catalog
from ..ops.gemm import subgroup
from .info import identity

REGRESSION = 0.10  # slower than the baseline by more than this is a regression
TIME_BUDGET = 1.0  # seconds of timed runs per kernel when the repeat count is adaptive
MAX_REPEAT, MIN_REPEAT = 50, 3
SEED = 0


def _kernel(entry: catalog.Entry, device: Device, case: catalog.Case) -> Kernel:
    return Kernel(entry.shader, entry.entry, device=device, constants=case.constants or None,
                  template={"dtype": "f32", **case.template})


async def _time(kernel: Kernel, case: catalog.Case, repeat: int | None) -> Any:
    """Kernel.time with ``repeat`` runs, or as many as fit TIME_BUDGET (MIN_REPEAT to
    MAX_REPEAT) after a short probe: a standard GEMM takes seconds on a software adapter."""
    arguments = {"flops": case.flops, "bytes": case.bytes, "grid": case.grid,
                 "shapes": case.shapes, **case.inputs}
    if repeat is None:
        probe = await kernel.time(repeat=MIN_REPEAT, warmup=1, **arguments)
        repeat = int(min(MAX_REPEAT, max(MIN_REPEAT, TIME_BUDGET / max(probe.median, 1e-9))))
    return await kernel.time(repeat=repeat, warmup=min(5, repeat), **arguments), repeat


async def measure(entry: catalog.Entry, device: Device, size: int,
                  repeat: int | None = None) -> dict[str, Any]:
    """Check ``entry`` at ``size`` against its reference, then (if it passed) time it.

    Returns:
        One ``results`` item of the JSON (see the module docstring); failures are recorded in
        it (passed False, error), never raised.
    """
    result: dict[str, Any] = {
        "name": entry.name, "shader": entry.shader, "entry": entry.entry, "size": size,
        "shape": str(size), "passed": False, "error": None, "outputs": {}, "median_s": None,
        "min_s": None, "max_s": None, "repeat": None, "method": None, "gflops": None,
        "gbps": None, "roofline_percent": None}
    try:
        case = await device.run(entry.setup, device, size, np.random.default_rng(SEED))
        result["shape"] = case.shape
        kernel = _kernel(entry, device, case)
        report = await kernel.check(entry.reference, rtol=entry.rtol, atol=entry.atol,
                                    shapes=case.shapes, grid=case.grid, **case.inputs)
        result["outputs"] = {output.name: {"max_abs_error": float(output.max_abs_error),
                                           "max_rel_error": float(output.max_rel_error),
                                           "worst_index": [int(i) for i in output.worst_index],
                                           "passed": bool(output.passed)}
                             for output in report.outputs}
        result["passed"] = bool(report.passed)
        if not report.passed:
            result["error"] = str(report)
            return result
        timing, result["repeat"] = await _time(kernel, case, repeat)
    except Exception as error:  # one kernel's failure is reported; the others still run
        result["error"] = f"{type(error).__name__}: {error}"
        return result
    result.update(median_s=timing.median, min_s=timing.min, max_s=timing.max,
                  method=timing.method, gflops=timing.gflops, gbps=timing.gbps)
    return result


async def roofline(device: Device, size_class: str, repeat: int | None) -> dict[str, Any]:
    """The peaks this adapter reaches: GB/s of ``copy`` and GFLOP/s of the best GEMM here."""
    compute = "gemm.subgroup" if subgroup.usable(device) else "gemm.tiled"
    peaks = {}
    for role, name, key in (("bandwidth", "copy", "gbps"), ("compute", compute, "gflops")):
        entry = catalog.ENTRIES[name]
        size = max(entry.sizes[size_class])
        case = await device.run(entry.setup, device, size, np.random.default_rng(SEED))
        timing, _ = await _time(_kernel(entry, device, case), case, repeat)
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


def compare(results: list[dict[str, Any]], path: Path) -> dict[str, Any]:
    """Each result's speed against the same kernel and size in an earlier ``--json`` file.

    Raises:
        ValueError: the file can't be read or isn't an ``intricate bench`` JSON.
    """
    try:
        old = json.loads(Path(path).read_text())
        baseline = {(item["name"], item["size"]): item["median_s"] for item in old["results"]}
    except OSError as error:
        raise ValueError(f"--compare {path}: cannot read it ({error.strerror or error})"
                         ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--compare {path}: expected the JSON `intricate bench --json` "
                         f"writes (a 'results' list of name, size, median_s), failed at "
                         f"{type(error).__name__}: {error}") from None
    rows = []
    for result in results:
        before = baseline.get((result["name"], result["size"]))
        if before and result["median_s"]:
            rows.append({"name": result["name"], "size": result["size"],
                         "old_median_s": before, "median_s": result["median_s"],
                         "speedup": before / result["median_s"],
                         "regressed": result["median_s"] > before * (1 + REGRESSION)})
    return {"file": str(path), "threshold": REGRESSION, "results": rows}


def document(device: Device, sizes: Any, peaks: dict, results: list[dict]) -> dict[str, Any]:
    """The ``--json`` document (see the module docstring), without ``compare``."""
    return {"intricate": __version__, "device": identity(device.adapter_info), "sizes": sizes,
            "roofline": peaks, "results": results,
            "failed": sum(not result["passed"] for result in results)}


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def table(bench: dict[str, Any]) -> str:
    """The bench document as the table ``intricate bench`` prints."""
    speedups = {(row["name"], row["size"]): row for row in
                bench.get("compare", {}).get("results", [])}
    peaks = bench["roofline"]
    lines = [f"{bench['device']['name']} [{bench['device']['backend']}]: roofline "
             f"{_number(peaks['gbps'])} GB/s ({peaks['bandwidth_kernel']} "
             f"{peaks['bandwidth_shape']}), {_number(peaks['gflops'])} GFLOP/s "
             f"({peaks['compute_kernel']} {peaks['compute_shape']})"]
    header = ("kernel", "shape", "check", "median", "GFLOP/s", "GB/s", "% roof",
              "vs old" if "compare" in bench else "")
    rows = []
    for result in bench["results"]:
        check = "ok" if result["passed"] else "FAILED"
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
    failures = [result for result in bench["results"] if not result["passed"]]
    lines += [f"FAILED {result['name']} {result['shape']}: {result['error']}"
              for result in failures]
    return "\n".join(lines)
