"""MLP training throughput: our fit vs PyTorch on the same machine in the same run (CUDA when
present, CPU otherwise; TF32 off), data resident on the device, shuffled mini-batches, ReLU hidden
layers with SoftMax + cross-entropy. Two PyTorch columns: eager, and (CUDA only) the whole step
(index_select, forward, loss, backward, optimizer) captured in one CUDA graph and replayed
(benchmarks/torch_steps.py). Prints samples/s, the ratios, our dispatches per step and
submits/readbacks per epoch; writes JSON.

    python benchmarks/mlp.py [--quick] [--dtype float64] [--json out.json]

``--dtype`` (float32, float64 or mixed_float16): our model's dtype (Model(dtype=)), and torch's
parameters and data in the same dtype; for mixed_float16, torch keeps float32 parameters and data
and runs each step under ``torch.autocast(dtype=torch.float16)`` with a ``torch.amp.GradScaler``
(its loss outside autocast, in float32, as BCELoss requires), in the same run. B/param counts
every GPU buffer per parameter: parameters, gradients, the optimizer's state and mixed_float16's
f16 compute copy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np
import torch_steps  # benchmarks/ (the script's folder) is on sys.path
from fit_timing import results, time_fit

import intricate
from intricate import Model
from intricate.gpu import dtypes
from intricate.layers import Dense, ReLU, Sigmoid, SoftMax

CASES = [  # (name, sizes, batch, steps per epoch)
    ("2-3-1", [2, 3, 1], 4, 200),
    ("784-128-10", [784, 128, 10], 128, 100),
    ("784-512-512-10", [784, 512, 512, 10], 128, 100),
    ("784-512-512-10", [784, 512, 512, 10], 4096, 20),
    ("4096-4096-4096-10", [4096, 4096, 4096, 10], 1024, 20),
]


def layers_for(sizes):
    """ReLU hidden layers; SoftMax (+ cross-entropy) over several outputs, Sigmoid (+ binary
    cross-entropy) for one."""
    layers = []
    for ins, outs in zip(sizes, sizes[1:]):
        layers += [Dense(ins, outs), ReLU()]
    layers[-1] = SoftMax() if sizes[-1] > 1 else Sigmoid()
    return layers


def data_for(sizes, samples, dtype="float32"):
    dtype = dtypes.precision(dtype).numpy  # mixed_float16's data: float16
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, sizes[0])).astype(dtype)
    if sizes[-1] == 1:
        return x, rng.integers(0, 2, (samples, 1)).astype(dtype)
    y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], samples)]
    return x, y


async def time_ours(device, sizes, batch, samples, optimizer, epochs, dtype="float32"):
    x, y = data_for(sizes, samples, dtype)
    model = Model(layers_for(sizes), device=device, seed=0, dtype=dtype)
    loss = "categorical_crossentropy" if sizes[-1] > 1 else "binary_crossentropy"
    options = dict(optimizer=optimizer, learning_rate=0.01, loss_algorithm=loss,
                   batch_size=batch, seed=0)
    # The data goes to the GPU once, as PyTorch's does below (model.upload: a resident Dataset).
    data = await model.upload(x, y)
    speed, per_step, submits, reads = await time_fit(device, model, data, samples, batch,
                                                    options, epochs)
    # GPU bytes per parameter: the parameters, their gradients, mixed_float16's f16 copy
    # (ModelState.nbytes_per_parameter) and the optimizer's state.
    state = model._state
    held = state.nbytes_per_parameter * state.parameters.size + sum(
        array.nbytes for array in model.optimizer.state_for(state.parameters))
    return speed, per_step, submits, reads, held / model.count_params()


def time_torch(sizes, batch, samples, optimizer, threads, dtype="float32", graph=False):
    """PyTorch's samples/s on the same network and data (benchmarks/torch_steps.py): eager, or
    with ``graph`` the whole step replayed from one CUDA graph (CUDA only; not for
    mixed_float16, whose GradScaler isn't captured). Returns (samples/s or None, where)."""
    try:
        import torch
    except ImportError:
        return None, "torch not installed"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if graph and (device == "cpu" or dtype == "mixed_float16"):
        return None, "-"
    if device == "cpu":
        torch.set_num_threads(threads)
    mixed = dtype == "mixed_float16"  # AMP: float32 parameters and data, f16 autocast

    def make_network():
        modules = []
        for ins, outs in zip(sizes, sizes[1:]):
            modules += [torch.nn.Linear(ins, outs), torch.nn.ReLU()]
        if sizes[-1] == 1:
            modules[-1] = torch.nn.Sigmoid()
        else:
            modules.pop()  # CrossEntropyLoss applies the softmax itself
        return torch.nn.Sequential(*modules)

    x, y = data_for(sizes, samples, "float32" if mixed else dtype)
    x = torch.from_numpy(x).to(device)
    if sizes[-1] > 1:
        targets, loss_fn = torch.from_numpy(y.argmax(axis=1)).to(device), None
    else:
        targets, loss_fn = torch.from_numpy(y).to(device), torch.nn.BCELoss()
    return torch_steps.time_torch(make_network, x, targets, batch, optimizer, graph=graph,
                                  loss_fn=loss_fn, amp=mixed), device


async def main(args) -> dict:
    device = await intricate.setup_device()
    amp = " (torch: float32 parameters, autocast float16 + GradScaler)" * (
        args.dtype == "mixed_float16")
    print(f"adapter: {device.name} ({device.adapter_info.get('backend_type')}); dtype: "
          f"{args.dtype}{amp}")
    print(f"{'model':>20} {'batch':>6} {'opt':>5} {'ours samples/s':>15} {'torch samples/s':>16} "
          f"{'ratio':>6} {'torch graph':>12} {'÷graph':>6} {'disp/step':>9} {'submit/ep':>9} "
          f"{'read/ep':>7} {'B/param':>7}")
    rows = []
    cases = CASES[:3] if args.quick else CASES
    if args.case:
        cases = [case for case in CASES if f"{case[0]} b{case[2]}" == args.case]
    for name, sizes, batch, steps in cases:
        samples = batch * (steps // 5 if args.quick else steps)
        for optimizer in ("sgd", "adam"):
            ours, per_step, submits, reads, per_parameter = await time_ours(
                device, sizes, batch, samples, optimizer, args.epochs, args.dtype)
            theirs, where = time_torch(sizes, batch, samples, optimizer, args.threads,
                                       args.dtype)
            graph, _ = time_torch(sizes, batch, samples, optimizer, args.threads, args.dtype,
                                  graph=True)
            ratio = theirs and ours / theirs
            graph_ratio = graph and ours / graph
            rows.append({"model": name, "batch": batch, "optimizer": optimizer, "dtype": args.dtype,
                         "ours_samples_per_s": ours, "torch_samples_per_s": theirs,
                         "torch_device": where, "ratio": ratio,
                         "torch_graph_samples_per_s": graph, "graph_ratio": graph_ratio,
                         "dispatches_per_step": per_step,
                         "submits_per_epoch": submits, "readbacks_per_epoch": reads,
                         "bytes_per_parameter": per_parameter})
            print(f"{name:>20} {batch:>6} {optimizer:>5} {ours:>15,.0f} "
                  f"{(f'{theirs:,.0f}' if theirs else where):>16} "
                  f"{(f'{ratio:.2f}' if ratio else '-'):>6} "
                  f"{(f'{graph:,.0f}' if graph else '-'):>12} "
                  f"{(f'{graph_ratio:.2f}' if graph_ratio else '-'):>6} {per_step:>9.1f} "
                  f"{submits:>9.1f} "
                  f"{reads:>7.1f} {per_parameter:>7.1f}", flush=True)
    return results(device, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small models, fewer steps")
    parser.add_argument("--dtype", choices=list(dtypes.POLICIES), default="float32")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads")
    parser.add_argument("--case", help='only this one, e.g. "784-512-512-10 b4096"')
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2, default=str))
