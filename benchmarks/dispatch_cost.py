"""What a training step's time is made of on this adapter (a profile for benchmarks/RESULTS.md):

1. the GPU cost of one dispatch in a chain: N one-workgroup dispatches in one compute pass,
   each depending on the one before (a read-modify-write of the same buffer, so wgpu puts a
   barrier between them) or independent (each its own buffer), by GPU timestamps;
2. per benchmarks/mlp.py case: the step's GPU time (its recorded dispatches back to back) and
   each dispatch's alone (repeated back to back), and the host's time to encode one step
   through wgpu-py's calls and through the direct wgpu-native calls.

    python benchmarks/dispatch_cost.py [--case "784-512-512-10 b128"] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import time
from pathlib import Path

from fit_timing import results  # benchmarks/ (the script's folder) is on sys.path
from mlp import CASES, data_for, layers_for

import intricate
from intricate import Model, TrainingOptions, gpu
from intricate.engine import epochs as trainer
from intricate.gpu import Program, Workspace, time_steps
from intricate.gpu.program import Dispatch
from intricate.gpu.shaders import WGSLSource

CHAIN = WGSLSource("""
@group(0) @binding(0) var<storage, read_write> values: array<f32>;
@compute @workgroup_size(64)
fn bump(@builtin(local_invocation_id) lane: vec3<u32>) {
    values[lane.x] = values[lane.x] * 0.5 + 1.0;
}
""", origin="dispatch_cost.py")


def chain_cost(device, count: int, dependent: bool) -> float:
    """GPU seconds per dispatch of ``count`` one-workgroup dispatches in one pass."""
    program = Program(Workspace(device, 1))
    arrays = [gpu.empty(device, (64,)) for _ in range(1 if dependent else count)]
    for index in range(count):
        program.dispatch(CHAIN, "bump", groups=1, values=arrays[index % len(arrays)])
    gpu_seconds, _ = time_steps(device, program.steps, repeats=8, samples=5)
    return gpu_seconds / count


def encode_cost(device, steps, runs: int = 50) -> tuple[float, float]:
    """Host seconds to encode ``steps`` once (median of ``runs``): wgpu-py's calls, and the
    direct wgpu-native calls on handles resolved beforehand."""
    from wgpu.backends.wgpu_native._ffi import ffi, lib

    dispatches = [step for step in steps if isinstance(step, Dispatch)]
    handles = [(step.pipeline._internal, step.bind_group._internal, step.grid)
               for step in dispatches]
    set_pipeline = lib.wgpuComputePassEncoderSetPipeline
    set_bind_group = lib.wgpuComputePassEncoderSetBindGroup
    dispatch = lib.wgpuComputePassEncoderDispatchWorkgroups
    public, direct = [], []
    for _ in range(runs):
        encoder = device.handle.create_command_encoder()
        start = time.perf_counter()
        compute_pass = encoder.begin_compute_pass()
        for step in dispatches:
            compute_pass.set_pipeline(step.pipeline)
            compute_pass.set_bind_group(0, step.bind_group)
            compute_pass.dispatch_workgroups(*step.grid)
        compute_pass.end()
        public.append(time.perf_counter() - start)
        encoder = device.handle.create_command_encoder()
        start = time.perf_counter()
        compute_pass = encoder.begin_compute_pass()
        raw = compute_pass._internal
        for pipeline, bind_group, (x, y, z) in handles:
            set_pipeline(raw, pipeline)
            set_bind_group(raw, 0, bind_group, 0, ffi.NULL)
            dispatch(raw, x, y, z)
        compute_pass.end()
        direct.append(time.perf_counter() - start)
    return statistics.median(public), statistics.median(direct)


async def profile_case(device, sizes, batch, optimizer) -> dict:
    x, y = data_for(sizes, batch * 4)
    model = Model(layers_for(sizes), device=device, seed=0)
    options = TrainingOptions(optimizer=optimizer, learning_rate=0.01, batch_size=batch,
                              epochs=1, loss_algorithm="cce" if sizes[-1] > 1 else "bce")
    await model.fit(x, y, options)
    # The engine's GPU state (private: this profile looks inside, as profile_step.py does).
    epochs = await device.run(trainer.Epochs, model._state, x, y, None, options, 0, 1)
    gather = epochs.gathers.get(batch)  # the batch's gather is a program of its own
    steps = (list(gather.steps) if gather is not None else []) + epochs.training[batch].steps

    def measure():
        step_gpu, _ = time_steps(device, steps, repeats=64, samples=5)
        alone = collections.defaultdict(float)
        for step in steps:
            if isinstance(step, Dispatch):
                seconds, _ = time_steps(device, [step], repeats=256, samples=3)
                alone[step.label] += seconds
        public, direct = encode_cost(device, steps)
        return step_gpu, dict(alone), public, direct

    step_gpu, alone, public, direct = await device.run(measure)
    return {"dispatches": sum(isinstance(step, Dispatch) for step in steps),
            "step_gpu_us": step_gpu * 1e6, "sum_alone_us": sum(alone.values()) * 1e6,
            "alone_us": {label: seconds * 1e6 for label, seconds in alone.items()},
            "encode_public_us": public * 1e6, "encode_direct_us": direct * 1e6}


async def main(args) -> dict:
    device = await intricate.setup_device()
    print(f"adapter: {device.name}")
    chains = {}
    for count in (16, 64, 256):
        for dependent in (True, False):
            cost = await device.run(chain_cost, device, count, dependent)
            chains[f"{count} {'dependent' if dependent else 'independent'}"] = cost * 1e6
            print(f"chain of {count:>3} {'dependent' if dependent else 'independent':>11} "
                  f"dispatches: {cost * 1e6:7.2f} us GPU per dispatch")
    rows = []
    cases = [case for case in CASES if not args.case or f"{case[0]} b{case[2]}" == args.case]
    for name, sizes, batch, _ in cases:
        for optimizer in ("sgd", "adam"):
            row = await profile_case(device, sizes, batch, optimizer)
            row.update(model=name, batch=batch, optimizer=optimizer)
            rows.append(row)
            print(f"{name} b{batch} {optimizer}: {row['dispatches']} dispatches, step GPU "
                  f"{row['step_gpu_us']:.1f} us (alone, summed {row['sum_alone_us']:.1f}); "
                  f"encode {row['encode_public_us']:.1f} us via wgpu-py, "
                  f"{row['encode_direct_us']:.1f} us direct")
            for label, micros in row["alone_us"].items():
                print(f"    {micros:9.1f} us  {label}")
    return {**results(device, rows), "chain_us_per_dispatch": chains}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help='only this one, e.g. "784-512-512-10 b128"')
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    output = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(output, indent=2, default=str))
