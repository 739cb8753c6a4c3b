"""GEMM throughput: our WGSL GEMM in each Dense form vs numpy (CPU) and, when importable, torch on
CUDA with TF32 off, in the same run, per dtype. Prints a table and writes JSON.

Our kernel is timed with GPU timestamps around its recorded steps (the GEMM, a split-K sum, and on
software adapters the operands' copies into texels) encoded ``repeats`` times, median of
``--samples`` after a warm-up (wall-clock time of the same submits is kept too).

    python benchmarks/gemm.py [--sizes 256 1024 4096] [--dtype float32 float16] [--json out.json]

``--dtype`` (one or more of float32, float64, float16) sets every operand's type: ours rendered
for it, numpy's and torch's in it (torch float64 is cuBLAS DGEMM). float16 is ours in
mixed_float16 (f16 operands and output, f32 sums) beside torch float16, which runs on tensor
cores with ``allow_fp16_reduced_precision_reduction`` as it comes (the header prints it); numpy
has no float16 BLAS and is left out. With several dtypes, a summary gives ours f16 ÷ ours f32
and ours f64 ÷ torch f64 per shape.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import wgpu

import intricate
from intricate import gpu
from intricate.gpu import dtypes
from intricate.ops.gemm import tiled as gemm
from intricate.ops.gemm.configs import DTYPE_CONFIGS

FORMS = {  # name: a strides, b strides for an (m, n, k) product, as the Dense layer uses them
    "forward": (lambda m, n, k: (k, 1), lambda m, n, k: (n, 1)),
    "input_grad": (lambda m, n, k: (k, 1), lambda m, n, k: (1, k)),
    "weight_grad": (lambda m, n, k: (1, m), lambda m, n, k: (n, 1)),
}
# (m, n, k) of the MLP training steps in benchmarks/mlp.py: forward, dX and dW of each layer.
TRAINING_SHAPES = [(128, 512, 784), (128, 784, 512), (784, 512, 128), (128, 512, 512),
                   (4096, 512, 784), (784, 512, 4096), (1024, 4096, 4096), (4096, 4096, 1024)]


def time_ours(device, m, n, k, form, repeats, samples, config=None, precision=dtypes.FLOAT32):
    a_strides, b_strides = (f(m, n, k) for f in FORMS[form])
    rng = np.random.default_rng(0)
    dtype = precision.numpy
    a = gpu.from_numpy(device, rng.uniform(-1, 1, m * k), dtype)
    b = gpu.from_numpy(device, rng.uniform(-1, 1, k * n), dtype)
    c = gpu.empty(device, (m, n), dtype)
    program = gpu.Program(gpu.Workspace(device, m, precision))
    gemm.record_gemm(program, a, b, c, m, n, k, a_strides, b_strides, config=config)
    return gpu.time_steps(device, program.steps, repeats, samples)


def scratch(device, m, n, k, dtype):
    return (gpu.empty(device, (m, k), dtype), gpu.empty(device, (k, n), dtype),
            gpu.empty(device, (m, n), dtype))


def time_numpy(m, n, k, samples, dtype):
    rng = np.random.default_rng(0)
    a, b = rng.random((m, k), dtype), rng.random((k, n), dtype)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_torch(m, n, k, samples, dtype_name):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dtype = getattr(torch, dtype_name)  # float64: cuBLAS DGEMM (FP64 tensor cores where present)
    a = torch.rand(m, k, device="cuda", dtype=dtype)
    b = torch.rand(k, n, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(samples):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        for _ in range(10):
            a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(begin.elapsed_time(end) / 1000 / 10)
    return statistics.median(times)


def policy(name: str) -> dtypes.Precision:
    """float16 is ours in mixed_float16 (f16 operands and c, f32 sums); others by their name."""
    return dtypes.MIXED_FLOAT16 if name == "float16" else dtypes.precision(name)


def torch_settings() -> str:
    try:
        import torch
    except ImportError:
        return "no torch"
    reduced = torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction
    return f"torch {torch.__version__}, TF32 off, allow_fp16_reduced_precision_reduction={reduced}"


def card_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name()
    except ImportError:
        pass
    return "no CUDA device"


async def main(args) -> dict:
    device = await intricate.setup_device()
    print(f"adapter: {device.name} ({device.adapter_info.get('backend_type')}); card: "
          f"{card_name()}; {torch_settings()}")
    for name in args.dtype:  # every dtype refused before the first one's minutes of timing
        dtypes.check_supported(policy(name), device)
    rows = []
    for name in args.dtype:
        rows += await time_dtype(args, device, name)
    if len(args.dtype) > 1:
        summarise(rows)
    return {"date": time.strftime("%Y-%m-%d"), "adapter": device.adapter_info,
            "card": card_name(), "torch": torch_settings(),
            "versions": {"intricate": intricate.__version__, "wgpu": wgpu.__version__,
                         "numpy": np.__version__, "python": platform.python_version()},
            "dtypes": args.dtype, "rows": rows}


def summarise(rows: list[dict]) -> None:
    """Ours f16 ÷ ours f32 and ours f64 ÷ torch f64, per shape and form timed in every dtype."""
    by = {(row["m"], row["n"], row["k"], row["form"], row["dtype"]): row for row in rows
          if "ours_gflops" in row and "torch_gflops" in row}
    print("summary: ours f16 / ours f32, ours f64 / torch f64")
    for (m, n, k, form, dtype), row in by.items():
        if dtype != "float32":
            continue
        half, double = by.get((m, n, k, form, "float16")), by.get((m, n, k, form, "float64"))
        ratios = [f"f16/f32 {half['ours_gflops'] / row['ours_gflops']:.2f}" if half else "",
                  f"f64/torch {double['ours_over_torch']:.2f}"
                  if double and double["ours_over_torch"] else ""]
        print(f"{m:>6} {n:>6} {k:>6} {form:>12} " + "  ".join(ratios), flush=True)


async def time_dtype(args, device, name: str) -> list[dict]:
    """The table of one dtype (and its config sweep when asked)."""
    precision = policy(name)  # main checked that the device supports it
    item = precision.itemsize
    rows = []
    shapes = [(s, s, s) for s in args.sizes] + ([] if args.no_training_shapes
                                                else TRAINING_SHAPES)
    limit = device.limits["max-storage-buffer-binding-size"]
    print(f"dtype: {name} (ours: {precision.name})")
    print(f"{'m':>6} {'n':>6} {'k':>6} {'form':>12} {'ours GF/s':>10} {'wall GF/s':>10} "
          f"{'numpy GF/s':>10} {'torch GF/s':>10} {'ours/torch':>10}")
    for m, n, k in shapes:
        if item * max(m * k, k * n, m * n) > limit:
            continue
        flops = 2.0 * m * n * k
        repeats = max(1, min(50, int(2e10 / flops)))
        numpy_s = (time_numpy(m, n, k, 3, precision.numpy)
                   if flops <= 2 * 4096**3 and item > 2 else None)
        torch_s = time_torch(m, n, k, args.samples, name)
        for form in FORMS:
            if form != "forward" and (m, n, k) in [(s, s, s) for s in args.sizes] and \
                    not args.all_forms:
                continue
            ours_s, wall_s = await device.run(time_ours, device, m, n, k, form, repeats,
                                              args.samples, None, precision)
            row = {"m": m, "n": n, "k": k, "form": form, "dtype": name,
                   "ours_gflops": flops / ours_s / 1e9,
                   "ours_wall_gflops": flops / wall_s / 1e9,
                   "numpy_gflops": numpy_s and flops / numpy_s / 1e9,
                   "torch_gflops": torch_s and flops / torch_s / 1e9,
                   "config": str(await device.run(
                       gemm.select, device, *scratch(device, m, n, k, precision.numpy), m, n, k,
                       *(f(m, n, k) for f in FORMS[form]), precision))}
            ratio = row["torch_gflops"] and row["ours_gflops"] / row["torch_gflops"]
            row["ours_over_torch"] = ratio
            rows.append(row)

            def show(value, digits=0):
                return f"{value:10.{digits}f}" if value else f"{'-':>10}"

            print(f"{m:>6} {n:>6} {k:>6} {form:>12} {show(row['ours_gflops'])} "
                  f"{show(row['ours_wall_gflops'])} {show(row['numpy_gflops'])} "
                  f"{show(row['torch_gflops'])} {show(ratio, 2)}", flush=True)
    if args.sweep:
        print(f"config sweep, forward {args.sweep}³:")
        limit = device.limits["max-compute-workgroup-storage-size"]
        for config in gemm.CONFIGS + DTYPE_CONFIGS.get(item, ()):
            if config.bytes_for(item) > limit:
                continue
            size = args.sweep
            seconds, _ = await device.run(time_ours, device, size, size, size, "forward", 5,
                                          args.samples, config, precision)
            rows.append({"m": size, "n": size, "k": size, "form": "forward", "dtype": name,
                         "config": str(config), "sweep_gflops": 2.0 * size**3 / seconds / 1e9})
            print(f"  {config.bm}x{config.bn}x{config.bk} side {config.side} stages "
                  f"{config.stages}{' widened' * config.widened}: "
                  f"{rows[-1]['sweep_gflops']:.0f} GF/s", flush=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512, 1024, 2048, 4096, 8192])
    parser.add_argument("--dtype", nargs="+", default=["float32"],
                        choices=["float32", "float64", "float16"])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--all-forms", action="store_true", help="all three forms for squares")
    parser.add_argument("--no-training-shapes", action="store_true")
    parser.add_argument("--sweep", type=int, default=0, help="time every tile config at N³")
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2, default=str))
