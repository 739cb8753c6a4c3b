"""Full-batch fits on whatever adapter is present: XoR (10000 epochs) and 784-128-10 on 2048
random samples. Prints a table and writes JSON, so runs on lavapipe and on a GPU can be compared
(same seed, same data: the losses should agree to float32 rounding).

Beside our fit, the same XoR training in NumPy float64 (tests/reference.py) gives the reference
loss and a wall-time ratio.

    python benchmarks/fit_parity.py [--json out.json] [--wide-epochs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import wgpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import intricate
from intricate import Model, TrainingOptions
from intricate.layers import Dense, ReLU, SoftMax, TanH

import reference


async def timed_fit(model, x, y, options, device):
    device.stats.reset()
    start = time.perf_counter()
    history = await model.fit(x, y, options)
    seconds = time.perf_counter() - start
    return history, seconds, dict(device.stats)


def reference_xor(weights, x, y, epochs):
    start = time.perf_counter()
    for _ in range(epochs):
        loss, weights = reference.train_step(["Dense", "TanH", "Dense", "TanH"], weights, x, y,
                                             "MeanSquared", 0.1)
    return loss, time.perf_counter() - start


async def main(args) -> dict:
    device = await intricate.setup_device()
    rows = []
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0)
    start_weights = model.get_weights()
    history, seconds, stats = await timed_fit(
        model, x, y, TrainingOptions(learning_rate=0.1, epochs=10000), device)
    ref_loss, ref_seconds = reference_xor(start_weights, x, y, 10000)
    rows.append({"fit": "xor 2-3-1 x10000", "final_loss": history.loss[-1],
                 "reference_loss": float(ref_loss), "seconds": seconds,
                 "numpy_f64_seconds": ref_seconds, **stats})

    rng = np.random.default_rng(0)
    wide_x = rng.uniform(0, 1, (2048, 784)).astype(np.float32)
    wide_y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 2048)]
    model = Model([Dense(784, 128), ReLU(), Dense(128, 10), SoftMax()], device=device, seed=0)
    history, seconds, stats = await timed_fit(
        model, wide_x, wide_y, TrainingOptions(learning_rate=0.1, epochs=args.wide_epochs,
                                               loss_algorithm="categorical_crossentropy"), device)
    rows.append({"fit": f"784-128-10 b2048 x{args.wide_epochs}", "final_loss": history.loss[-1],
                 "reference_loss": None, "seconds": seconds, "numpy_f64_seconds": None,
                 "losses": history.loss, **stats})

    print(f"adapter: {device.name} ({device.adapter_info.get('backend_type')})")
    print(f"{'fit':24} {'final loss':>12} {'f64 ref loss':>12} {'seconds':>8} {'numpy s':>8} "
          f"{'disp':>7} {'submits':>7} {'reads':>5}")
    for row in rows:
        ref = "" if row["reference_loss"] is None else f"{row['reference_loss']:.6g}"
        numpy_s = "" if row["numpy_f64_seconds"] is None else f"{row['numpy_f64_seconds']:.2f}"
        print(f"{row['fit']:24} {row['final_loss']:>12.6g} {ref:>12} {row['seconds']:>8.2f} "
              f"{numpy_s:>8} {row['dispatches']:>7} {row['submits']:>7} {row['readbacks']:>5}")
    return {"adapter": device.adapter_info, "versions": {
        "intricate": intricate.__version__, "wgpu": wgpu.__version__, "numpy": np.__version__,
        "python": platform.python_version()}, "rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--wide-epochs", type=int, default=10)
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2, default=str))
