"""Tiny fits A/B: the one-workgroup path (engine/tiny.py) against the normal path on the same
fits, interleaved in one process (the switch is ``intricate.engine.tiny.ENABLED``), medians of
``--repeats`` runs each. Cases: the README's XoR (examples/xor.py: 2-3-1 TanH, MSE, full batch,
10000 epochs) and mlp.py's "2-3-1 b4" (ReLU, Sigmoid + BCE, 200 steps an epoch, resident data)
with SGD and Adam. Prints seconds or samples/s and the counters; writes JSON.

    python benchmarks/tiny_ab.py [--repeats 3] [--xor-epochs 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import numpy as np
from fit_timing import results

import intricate
from intricate import Model, TrainingOptions
from intricate.engine import tiny
from intricate.layers import Dense, ReLU, Sigmoid, TanH

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], np.float32)


async def xor_seconds(device, epochs: int) -> tuple[float, dict]:
    """Seconds of examples/xor.py's fit (after a compiling fit of 2 epochs) and its counters."""
    model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0)
    options = dict(learning_rate=0.1, loss_algorithm="mse")
    await model.fit(XOR_X, XOR_Y, TrainingOptions(epochs=2, **options))
    device.stats.reset()
    start = time.perf_counter()
    await model.fit(XOR_X, XOR_Y, TrainingOptions(epochs=epochs, **options))
    return time.perf_counter() - start, dict(device.stats)


async def mlp_samples_per_second(device, optimizer: str, epochs: int) -> tuple[float, dict]:
    """mlp.py's 2-3-1 b4 case (200 steps an epoch on a resident Dataset): samples/s, counters."""
    rng = np.random.default_rng(0)
    samples = 4 * 200
    x = rng.normal(size=(samples, 2)).astype(np.float32)
    y = rng.integers(0, 2, (samples, 1)).astype(np.float32)
    model = Model([Dense(2, 3), ReLU(), Dense(3, 1), Sigmoid()], device=device, seed=0)
    data = await model.upload(x, y)
    options = dict(optimizer=optimizer, learning_rate=0.01, loss_algorithm="bce",
                   batch_size=4, seed=0)
    await model.fit(data, options=TrainingOptions(epochs=1, **options))
    device.stats.reset()
    start = time.perf_counter()
    await model.fit(data, options=TrainingOptions(epochs=epochs, **options))
    return samples * epochs / (time.perf_counter() - start), dict(device.stats)


async def main(args) -> dict:
    device = await intricate.setup_device()
    print(f"adapter: {device.name} ({device.adapter_info.get('backend_type')})")
    cases = [("xor 10000 epochs (s)", lambda: xor_seconds(device, args.xor_epochs))] + [
        (f"2-3-1 b4 {name} (samples/s)",
         lambda name=name: mlp_samples_per_second(device, name, args.mlp_epochs))
        for name in ("sgd", "adam")]
    rows = []
    for label, run in cases:
        measured = {True: [], False: []}
        counters = {}
        for _ in range(args.repeats):
            for enabled in (True, False):  # interleaved: the machine's noise hits both
                tiny.ENABLED = enabled
                value, counters[enabled] = await run()
                measured[enabled].append(value)
        tiny.ENABLED = True
        medians = {key: statistics.median(values) for key, values in measured.items()}
        row = {"case": label, "tiny": medians[True], "normal": medians[False],
               "tiny_runs": measured[True], "normal_runs": measured[False],
               "tiny_counters": counters[True], "normal_counters": counters[False]}
        rows.append(row)
        print(f"{label:>28}: tiny {medians[True]:,.3f}  normal {medians[False]:,.3f}  "
              f"dispatches {counters[True]['dispatches']} vs {counters[False]['dispatches']}, "
              f"submits {counters[True]['submits']} vs {counters[False]['submits']}", flush=True)
    return results(device, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--xor-epochs", type=int, default=10000)
    parser.add_argument("--mlp-epochs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    output = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(output, indent=2, default=str))
