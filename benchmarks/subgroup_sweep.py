"""The subgroup GEMM (software adapters) on the eight GEMMs of a 784-512-512-10 batch-4096 Dense
step, each with several SubgroupConfigs, interleaved in one process: GPU time (lavapipe: the wall
clock around a waited submit) and the process's CPU time (all threads: llvmpipe's workers), which
moves far less than the wall clock when the cores are shared. A profile for benchmarks/RESULTS.md.

    python benchmarks/subgroup_sweep.py [--gemms F1,dW1] [--configs default 64x1 32x2/64x1 ...]

A config is "default" (subgroup.choose's) or ROWSxQUADS, optionally /ROWSxQUADS for
``transposed_a``; all read texels where the layouts allow. GEMMs: F1-F3 the forwards (bias +
ReLU, bias for the 10-wide one), dW1-dW3 the weight gradients xᵀ·dY (with the bias gradient),
dX2, dX3 the input gradients dY·Wᵀ (with ReLU's derivative).
"""

from __future__ import annotations

import argparse
import asyncio
import resource

import numpy as np

import intricate
from intricate import gpu
from intricate.gpu import time_steps
from intricate.ops.gemm import SubgroupConfig, record_gemm, subgroup

B = 4096
GEMMS = {  # a shape, b shape, m, n, k, a strides, b strides, epilogue
    "F1": ((B, 784), (784, 512), B, 512, 784, (784, 1), (512, 1), "forward"),
    "F2": ((B, 512), (512, 512), B, 512, 512, (512, 1), (512, 1), "forward"),
    "F3": ((B, 512), (512, 10), B, 10, 512, (512, 1), (10, 1), "bias"),
    "dW3": ((B, 512), (B, 10), 512, 10, B, (1, 512), (10, 1), "bias gradient"),
    "dX3": ((B, 10), (512, 10), B, 512, 10, (10, 1), (1, 10), "derivative"),
    "dW2": ((B, 512), (B, 512), 512, 512, B, (1, 512), (512, 1), "bias gradient"),
    "dX2": ((B, 512), (512, 512), B, 512, 512, (512, 1), (1, 512), "derivative"),
    "dW1": ((B, 784), (B, 512), 784, 512, B, (1, 784), (512, 1), "bias gradient"),
}


def parse(text: str) -> SubgroupConfig | None:
    """"default" → None (choose's); "32x2" or "32x2/64x1" → that config, from texels."""
    if text == "default":
        return None
    own, _, transposed = text.partition("/")
    rows, quads = (int(part) for part in own.split("x"))
    return SubgroupConfig(rows, quads, texels=True, transposed_a=tuple(
        int(part) for part in transposed.split("x")) if transposed else None)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build(device, rng, name: str, config: SubgroupConfig | None) -> list:
    """The steps (texel copies and dispatches) of one GEMM of the step, on random data."""
    a_shape, b_shape, m, n, k, a_strides, b_strides, epilogue = GEMMS[name]
    program = gpu.Program(gpu.Workspace(device, B))
    a, b = (gpu.from_numpy(device, rng.normal(size=shape).astype(np.float32))
            for shape in (a_shape, b_shape))
    extra = {}
    if epilogue in ("forward", "bias"):
        extra["bias"] = gpu.from_numpy(device, np.zeros(n, np.float32))
        extra["activation"] = "relu" if epilogue == "forward" else None
    elif epilogue == "bias gradient":
        extra["grad_bias"] = gpu.empty(device, (n,))
    else:
        extra["derivative"] = ("relu", gpu.from_numpy(device, rng.random((m, n), np.float32)))
    record_gemm(program, a, b, gpu.empty(device, (m, n)), m, n, k, a_strides, b_strides,
                config=config, **extra)
    return program.steps


async def main(args) -> None:
    device = await intricate.setup_device()
    rng = np.random.default_rng(0)
    print(f"adapter: {device.name}")
    cases = [(name, text) for name in args.gemms.split(",") for text in args.configs]

    def run() -> dict:
        programs = {case: build(device, rng, case[0], parse(case[1])) for case in cases}
        for steps in programs.values():  # compile and warm up
            time_steps(device, steps, samples=1)
        measured = {case: [] for case in cases}
        for _ in range(args.rounds):
            for case, steps in programs.items():
                start = cpu_seconds()
                wall = time_steps(device, steps, samples=2)[0]  # and one warm-up sample
                measured[case].append((wall, (cpu_seconds() - start) / 3))
        return measured

    measured = await device.run(run)
    print(f"{'gemm':>4} {'config':>60} {'ms':>8} {'CPU ms':>8} {'GF/s':>6}")
    for name, text in cases:
        m, n, k = GEMMS[name][2:5]
        wall, cpu = (min(column) for column in zip(*measured[(name, text)]))
        config = parse(text) or subgroup.choose(m, n, k, subgroup.width(device))
        print(f"{name:>4} {str(config):>60} {wall * 1e3:8.2f} {cpu * 1e3:8.2f} "
              f"{2 * m * n * k / wall / 1e9:6.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gemms", default=",".join(GEMMS))
    parser.add_argument("--configs", nargs="+", default=["default"])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
