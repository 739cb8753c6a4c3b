"""Sweep: every tile x K-split rule for the MLP training shapes (GFLOP/s, GPU timestamps)."""
import asyncio
import sys

from gemm import FORMS, TRAINING_SHAPES, time_ours

import intricate
from intricate.ops.gemm import tiled
from intricate.ops.gemm.configs import CONFIGS


async def main():
    device = await intricate.setup_device()
    rules = [(1024, 256), (512, 128), (256, 64), (128, 32)]
    shapes = TRAINING_SHAPES[:6]
    forms = sys.argv[1:] or list(FORMS)
    for m, n, k in shapes:
        for form in forms:
            best, seen = [], set()
            for config in CONFIGS:
                if config.workgroup_bytes > device.limits["max-compute-workgroup-storage-size"]:
                    continue
                for split_from, split_min in rules:
                    tiled.SPLIT_FROM_K, tiled.SPLIT_MIN_K = split_from, split_min
                    splits = tiled.split_k(config, m, n, k)[0]
                    if (config, splits) in seen:
                        continue
                    seen.add((config, splits))
                    seconds, _ = await device.run(time_ours, device, m, n, k, form, 20, 5, config)
                    best.append((2 * m * n * k / seconds / 1e9, config, splits))
            best.sort(key=lambda row: -row[0])
            print(f"{m}x{n}x{k} {form}: " + "; ".join(
                f"{g:.0f} {c.bm}x{c.bn}x{c.bk}/{c.side}/s{c.stages} split {s}"
                for g, c, s in best[:5]), flush=True)


asyncio.run(main())
