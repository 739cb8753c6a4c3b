"""The ``intricate`` command line (also ``python -m intricate``).

    intricate info [--json]
        adapters wgpu sees (all of them), the one the default device runs on, its backend,
        driver, limits, features and dtypes. JSON keys: intricate.cli.info's docstring.
    intricate bench [NAME ...] [--size small|standard|N ...] [--dtype float32|float64|
            mixed_float16] [--json FILE] [--compare OLD.json]
        verifies each built-in kernel (intricate.kernels.catalog; NAME: a name, a family such
        as "softmax", or a glob) in the dtype (default float32) against its float64 reference,
        then times it, and prints GFLOP/s, GB/s and the percentage of a roofline measured on the
        spot; kernels that don't run in the dtype or on the adapter are listed as skipped, with
        why. JSON keys: intricate.cli.bench's docstring.
    intricate run FILE.wgsl [--entry NAME] --input name=file.npy ... [--param name=value ...]
            [--shape name=4x3] [--grid X,Y,Z] [--constant name=value] [--output DIR]
            [--dtype float32|float64|mixed_float16]
            [--check ref.py:function] [--time]
        runs one kernel of your WGSL on .npy inputs (uniform fields by --param), writes each
        read_write binding to DIR/name.npy, checks it against ref.py's function (called with
        the inputs and params by name, returning {output name: array}), times it.

Exit codes: 0 fine; 1 a kernel failed its check (bench, run --check); 2 bad arguments or input,
or a kernel that doesn't compile (one line on stderr, no traceback); 3 bench --compare found a
kernel more than 10% slower than in OLD.json (and none failed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..gpu import (
    ForkedProcessError,
    NoAdapterError,
    ShaderError,
    default_device,
    dtypes,
    setup_device,
)
from ..kernels import catalog
from . import bench, info, run

FAILED, USAGE, REGRESSED = 1, 2, 3


def parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    top = argparse.ArgumentParser(prog="intricate", description="Inspect this machine's WebGPU "
                                  "adapters; verify, time and run WGSL kernels.")
    commands = top.add_subparsers(dest="command", metavar="{info,bench,run}")
    adapter = argparse.ArgumentParser(add_help=False)
    adapter.add_argument("--adapter", metavar="NAME", help="part of an adapter's name (e.g. "
                         "llvmpipe, H200); default: the default device's")
    show = commands.add_parser("info", parents=[adapter], help="adapters, limits, features")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    timed = commands.add_parser("bench", parents=[adapter], help="verify and time the "
                                "built-in kernels against a roofline")
    timed.add_argument("names", nargs="*", metavar="NAME",
                       help="kernels: names, families or globs (default: all)")
    timed.add_argument("--size", nargs="+", default=["standard"], metavar="SIZE",
                       help="small, standard (default) or sizes in each kernel's unit")
    timed.add_argument("--dtype", choices=dtypes.NAMES, default="float32", help="the dtype "
                       "policy the kernels run in (default float32)")
    timed.add_argument("--json", metavar="FILE", help="write the results as JSON")
    timed.add_argument("--compare", metavar="OLD.json", help="ratio to an earlier --json; "
                       "exit 3 when a kernel is more than 10%% slower")
    timed.add_argument("--repeat", type=int, metavar="N", help="timed runs per kernel "
                       "(default: as many as fit ~1 s, 3 to 50)")
    timed.add_argument("--roofline", choices=catalog.SIZE_CLASSES, help="the size class "
                       "the roofline is measured at (default: --size's, standard with sizes)")
    timed.add_argument("--list", action="store_true", help="list the kernels and their sizes")
    one = commands.add_parser("run", parents=[adapter], help="run a kernel of a WGSL file")
    one.add_argument("file", metavar="FILE.wgsl")
    one.add_argument("--entry", help="the @compute function (default: the only one)")
    one.add_argument("--input", action="append", metavar="NAME=FILE.npy")
    one.add_argument("--param", action="append", metavar="NAME=VALUE",
                     help="a field of the uniform struct")
    one.add_argument("--constant", action="append", metavar="NAME=VALUE",
                     help="an override constant")
    one.add_argument("--shape", action="append", metavar="NAME=4x3",
                     help="the shape of an output not given as --input")
    one.add_argument("--grid", metavar="X[,Y[,Z]]", help="workgroups (default: derived from "
                     "the largest output and the workgroup size)")
    one.add_argument("--output", metavar="DIR", help="write each output to DIR/NAME.npy")
    one.add_argument("--dtype", choices=dtypes.NAMES, default="float32", help="the policy "
                     "whose types fill {{ dtype }} and {{ accumulate }} (default float32)")
    one.add_argument("--check", metavar="FILE.py:FUNCTION",
                     help="compare the outputs with FUNCTION(**inputs)")
    one.add_argument("--rtol", type=float, help="default 1e-4, or the dtype's where larger "
                     "(mixed_float16: 1e-3, f16 results' rounding)")
    one.add_argument("--atol", type=float, default=1e-6)
    one.add_argument("--time", action="store_true", help="time it (GPU timestamps)")
    one.add_argument("--repeat", type=int, default=50)
    one.add_argument("--flops", type=int, help="flops of one run, for GFLOP/s")
    one.add_argument("--bytes", type=int, help="bytes one run moves, for GB/s")
    return top


def _sizes(args: argparse.Namespace) -> str | tuple[int, ...]:
    """--size's values. Its nargs takes the words after it too ("--size small gemm"): those
    after the sizes are kernel names."""
    values = list(args.size)
    count = 1 if values[0] in catalog.SIZE_CLASSES else 0
    if not count:
        while count < len(values) and values[count].isdigit():
            count += 1
    if not count:
        raise ValueError(f"--size: expected one of {catalog.SIZE_CLASSES} or whole numbers, "
                         f"received {values[0]!r}")
    args.names = [*args.names, *values[count:]]
    return values[0] if values[0] in catalog.SIZE_CLASSES else tuple(map(int, values[:count]))


async def _device(args: argparse.Namespace):
    if args.adapter:
        return await setup_device(adapter_name=args.adapter)
    return await default_device()


async def _bench(args: argparse.Namespace) -> int:
    sizes = _sizes(args)
    entries = catalog.select(args.names)
    if args.repeat is not None and args.repeat < 1:
        raise ValueError(f"--repeat: expected a whole number >= 1, received {args.repeat}")
    plan = [(entry, size) for entry in entries for size in catalog.sizes_of(entry, sizes)]
    if args.list:
        for entry in entries:
            print(f"{entry.name:48} {entry.shader}:{entry.entry}  sizes ({entry.unit}): "
                  f"small {entry.sizes['small']}, standard {entry.sizes['standard']}")
        return 0
    if args.compare and not Path(args.compare).is_file():
        raise ValueError(f"--compare: {args.compare} is not a file")
    precision = dtypes.precision(args.dtype)
    times = bench.baseline(Path(args.compare), args.dtype) if args.compare else None  # no GPU
    if args.json and (Path(args.json).is_dir() or not Path(args.json).parent.is_dir()):
        raise ValueError(f"--json: {args.json} can't be written: expected a file in an "
                         "existing folder")
    device = await _device(args)
    dtypes.check_supported(precision, device)  # naming the feature and the adapter
    # Every check first (float64 references keep the GPU idle), then every timing back to back.
    results = [bench.skipped(entry, size, reason) if (reason := catalog.skip_reason(
        entry, device, precision)) else await bench.verify(entry, device, size, precision)
        for entry, size in plan]
    size_class = args.roofline or (sizes if isinstance(sizes, str) else "standard")
    peaks = await bench.roofline(device, size_class, args.repeat, precision)
    for (entry, _), result in zip(plan, results):
        if result["passed"]:
            await bench.time_verified(entry, device, result, args.repeat, precision)
        bench.attach_roofline(result, peaks)
    document = bench.document(device, sizes, peaks, results, args.dtype)
    if args.compare:
        document["compare"] = bench.compare(results, times, Path(args.compare))
    print(bench.table(document))
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=1))
    if document["failed"]:
        return FAILED
    regressed = [row for row in document.get("compare", {}).get("results", [])
                 if row["regressed"]]
    if args.compare and not document["compare"]["results"]:
        print(f"--compare {args.compare}: no kernel and size of this run is in it (nothing was "
              "compared); run the same NAMEs and --size as the baseline")
    for row in regressed:
        print(f"REGRESSED {row['name']} ({row['size']}): {row['speedup']:.2f}x the speed of "
              f"{args.compare}")
    return REGRESSED if regressed else 0


async def _command(args: argparse.Namespace) -> int:
    if args.command == "info":
        document = await info.collect(await _device(args))
        print(json.dumps(document, indent=1) if args.json else info.text(document))
        return 0
    if args.command == "bench":
        return await _bench(args)
    device = await _device(args)
    return await run.run(device, args, print)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit code."""
    arguments = parser()
    try:
        args = arguments.parse_args(argv)
    except SystemExit as stop:  # --help (0), or argparse's usage error (2), already printed
        return int(stop.code or 0)
    if args.command is None:
        arguments.print_help(sys.stderr)
        return USAGE
    try:
        return asyncio.run(_command(args))
    except (ValueError, TypeError, OSError, ShaderError, NoAdapterError,
            ForkedProcessError) as error:
        print(f"intricate {args.command}: error: {error}", file=sys.stderr)
        return USAGE
