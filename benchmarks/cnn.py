"""CNN training throughput: ours vs PyTorch in the same run, batch 256, Adam and SGD, data
resident on the device, shuffled batches, cross-entropy over 10 classes.

Two models: a LeNet-5-sized CNN on 28×28×1 and a small VGG-style CNN on 32×32×3 (three blocks of
two 3×3 convolutions and a 2×2 max pool). Columns: ours; PyTorch eager (cuDNN on a GPU, TF32
off; 2 threads on a CPU); PyTorch with the whole step captured in one CUDA graph (GPU only).
PyTorch's networks are NCHW (its native layout); ours NHWC. Writes JSON.

    python benchmarks/cnn.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np
from fit_timing import results, time_fit  # benchmarks/ (the script's folder) is on sys.path
from torch_steps import time_torch

import intricate
from intricate import Model
from intricate.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, SoftMax


def lenet5():
    """Ours and torch's LeNet-5 (ReLU, max pooling): 28×28×1 → 10."""
    ours = [Conv2D(1, 6, 5, padding="same"), ReLU(), MaxPool2D(2),
            Conv2D(6, 16, 5), ReLU(), MaxPool2D(2), Flatten(),
            Dense(400, 120), ReLU(), Dense(120, 84), ReLU(), Dense(84, 10), SoftMax()]

    def theirs():
        import torch.nn as nn
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))
    return ours, theirs, (28, 28, 1)


def vgg_small():
    """Three blocks (32, 64, 128 channels) of two 3×3 "same" convolutions + ReLU and a 2×2 max
    pool, then Dense(2048, 128) + ReLU and Dense(128, 10): 32×32×3 → 10."""
    ours, channels = [], 3
    for width in (32, 64, 128):
        ours += [Conv2D(channels, width, 3, padding="same"), ReLU(),
                 Conv2D(width, width, 3, padding="same"), ReLU(), MaxPool2D(2)]
        channels = width
    ours += [Flatten(), Dense(2048, 128), ReLU(), Dense(128, 10), SoftMax()]

    def theirs():
        import torch.nn as nn
        modules, channels = [], 3
        for width in (32, 64, 128):
            modules += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        return nn.Sequential(*modules, nn.Flatten(), nn.Linear(2048, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return ours, theirs, (32, 32, 3)


CASES = [("LeNet-5", lenet5, 256, 40), ("VGG-small", vgg_small, 256, 20)]


def data_for(shape, samples):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, *shape)).astype(np.float32)
    labels = rng.integers(0, 10, samples)
    return x, np.eye(10, dtype=np.float32)[labels], labels


async def time_ours(device, layers, shape, x, y, batch, optimizer):
    model = Model(layers, device=device, seed=0, input_shape=shape)
    data = await model.upload(x, y)
    options = dict(optimizer=optimizer, learning_rate=0.01, batch_size=batch, seed=0,
                   loss_algorithm="categorical_crossentropy")
    return await time_fit(device, model, data, len(x), batch, options, min_epochs=2)


def torch_columns(make_network, x, labels, batch, optimizer, threads):
    """(eager samples/s, CUDA-graph samples/s or None, where) — or Nones without torch."""
    try:
        import torch
    except ImportError:
        return None, None, "torch not installed"
    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(threads)
    where = "cuda" if cuda else "cpu"
    images = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(where)  # NHWC → NCHW
    targets = torch.from_numpy(labels).to(where)
    eager = time_torch(make_network, images, targets, batch, optimizer)
    graph = time_torch(make_network, images, targets, batch, optimizer, graph=True) \
        if cuda else None
    return eager, graph, where


async def main(args) -> dict:
    device = await intricate.setup_device()
    print(f"adapter: {device.name} ({device.adapter_info.get('backend_type')})")
    print(f"{'model':>10} {'batch':>5} {'opt':>4} {'ours':>10} {'torch eager':>12} "
          f"{'ours/eager':>10} {'torch graph':>12} {'ours/graph':>10} {'disp/step':>9} "
          f"{'submit/ep':>9} {'read/ep':>7}")
    rows = []
    for name, build, batch, steps in CASES:
        steps = 2 if args.quick else steps
        for optimizer in ("adam", "sgd"):
            layers, make_network, shape = build()
            x, y, labels = data_for(shape, batch * steps)
            ours, per_step, submits, reads = await time_ours(device, layers, shape, x, y,
                                                             batch, optimizer)
            eager, graph, where = torch_columns(make_network, x, labels, batch, optimizer,
                                                args.threads)
            row = {"model": name, "batch": batch, "optimizer": optimizer,
                   "ours_samples_per_s": ours, "torch_eager_samples_per_s": eager,
                   "torch_graph_samples_per_s": graph, "torch_device": where,
                   "ours_over_eager": eager and ours / eager,
                   "ours_over_graph": graph and ours / graph,
                   "dispatches_per_step": per_step, "submits_per_epoch": submits,
                   "readbacks_per_epoch": reads}
            rows.append(row)

            def show(value, form):
                return format(value, form) if value else "-"
            print(f"{name:>10} {batch:>5} {optimizer:>4} {ours:>10,.0f} "
                  f"{show(eager, ',.0f'):>12} {show(row['ours_over_eager'], '.2f'):>10} "
                  f"{show(graph, ',.0f'):>12} {show(row['ours_over_graph'], '.2f'):>10} "
                  f"{per_step:>9.1f} {submits:>9.1f} {reads:>7.1f}", flush=True)
    return results(device, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 steps per epoch (lavapipe)")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads")
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2, default=str))
