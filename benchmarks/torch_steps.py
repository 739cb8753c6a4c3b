"""PyTorch's side of the training benchmarks: one network trained eagerly, and the same step
captured whole in a CUDA graph, timed in samples/s on data resident on the device.

The CUDA-graph recipe (PyTorch's "whole network capture"): warm up 3 steps on a side stream,
capture one step (the batch's index_select, forward, loss, backward, optimizer step; Adam with
``capturable=True``) with ``torch.cuda.graph``, then per step copy the batch's indices into the
captured index tensor and replay. TF32 is off for both.
"""

from __future__ import annotations

import math
import time


def optimizer_for(torch, network, name: str, learning_rate: float, capturable: bool = False):
    if name == "sgd":
        return torch.optim.SGD(network.parameters(), lr=learning_rate)
    return torch.optim.Adam(network.parameters(), lr=learning_rate, capturable=capturable)


def time_torch(make_network, x, labels, batch: int, optimizer: str, seconds: float = 3.0,
               graph: bool = False, learning_rate: float = 0.01, loss_fn=None,
               amp: bool = False):
    """Samples/s of training ``make_network()`` on ``x`` [N, ...] and ``labels`` [N, ...]
    (torch tensors on one device; the network takes ``x``'s dtype) with ``loss_fn`` (default
    cross-entropy over integer labels), shuffled batches of ``batch``; whole epochs for about
    ``seconds``. ``graph``: the step replayed from one CUDA graph (CUDA only; the last partial
    batch is dropped, as a graph has one shape). ``amp``: float32 parameters, the forward under
    ``torch.autocast(float16)`` and a GradScaler (eager only), as mixed_float16 compares."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    device = x.device
    cuda = device.type == "cuda"
    if graph and amp:
        raise ValueError("time_torch: graph=True with amp=True is not measured (GradScaler)")
    network = make_network().to(device, torch.float32 if amp else x.dtype)
    optim = optimizer_for(torch, network, optimizer, learning_rate, capturable=graph)
    loss_fn = loss_fn or torch.nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(device.type) if amp else None
    samples = len(x)
    steps = samples // batch if graph else math.ceil(samples / batch)

    def step(index):
        optim.zero_grad(set_to_none=not graph)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            outputs = network(x.index_select(0, index))
        loss = loss_fn(outputs.float() if amp else outputs, labels.index_select(0, index))
        if scaler is None:
            loss.backward()
            optim.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optim)
            scaler.update()

    if graph:
        static_index = torch.arange(batch, device=device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                step(static_index)
        torch.cuda.current_stream().wait_stream(side)
        captured = torch.cuda.CUDAGraph()
        optim.zero_grad(set_to_none=False)
        with torch.cuda.graph(captured):
            step(static_index)

    def epoch():
        order = torch.randperm(samples, device=device)
        for start in range(0, steps * batch, batch):
            index = order[start:start + batch]
            if graph:
                static_index.copy_(index)
                captured.replay()
            else:
                step(index)

    def timed(count):
        if cuda:
            torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(count):
            epoch()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - began

    timed(1)  # warm-up (cuDNN's algorithm choice, allocator)
    epochs = max(1, math.ceil(seconds / timed(1)))
    trained = steps * batch if graph else samples
    return trained * epochs / timed(epochs)
