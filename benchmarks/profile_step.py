"""Where a training step's time goes: host encoding vs GPU execution, per model (a profile for
benchmarks/RESULTS.md, not a benchmark).

    python benchmarks/profile_step.py
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

import intricate
from intricate import Model, TrainingOptions
from intricate.engine import epochs as trainer
from intricate.layers import Dense, ReLU, Sigmoid, SoftMax


async def profile(device, layers, x, y, batch, optimizer, shuffle):
    model = Model(layers, device=device, seed=0)
    options = TrainingOptions(optimizer=optimizer, learning_rate=0.01, batch_size=batch,
                              shuffle=shuffle, epochs=1,
                              loss_algorithm="cce" if y.shape[1] > 1 else "bce")
    await model.fit(x, y, options)
    # The engine works on the model's GPU state (private: this profile looks inside).
    epochs = await device.run(trainer.Epochs, model._state, x, y, None, options, 0, 1)
    order = np.random.default_rng(0).permutation(len(x)).astype(np.uint32)

    def run():
        if shuffle:
            intricate.gpu.upload(epochs.permutation, order)
        start = time.perf_counter()
        encoder = epochs.encode_epoch(0)
        encoded = time.perf_counter()
        staged = intricate.gpu.StagedRead(device, encoder, [epochs.log.view(0, (1, 8))])
        device.submit(encoder)
        submitted = time.perf_counter()
        staged.collect()
        return encoded - start, submitted - encoded, time.perf_counter() - submitted

    await device.run(run)
    results = [await device.run(run) for _ in range(5)]
    encode, submit, wait = (np.median(column) for column in zip(*results))
    steps = len(epochs.steps)
    return steps, encode / steps * 1e6, submit * 1e6, wait / steps * 1e6


async def main():
    device = await intricate.setup_device()
    rng = np.random.default_rng(0)
    print(f"adapter: {device.name}")
    print(f"{'case':>32} {'steps':>6} {'encode us/step':>15} {'submit us':>10} "
          f"{'gpu wait us/step':>17}")
    for name, sizes, batch in [("2-3-1 b4", [2, 3, 1], 4), ("784-512-512-10 b128",
                                                          [784, 512, 512, 10], 128)]:
        layers = []
        for ins, outs in zip(sizes, sizes[1:]):
            layers += [Dense(ins, outs), ReLU()]
        layers[-1] = SoftMax() if sizes[-1] > 1 else Sigmoid()
        x = rng.normal(size=(batch * 100, sizes[0])).astype(np.float32)
        y = (np.eye(sizes[-1])[rng.integers(0, sizes[-1], len(x))] if sizes[-1] > 1 else
             rng.integers(0, 2, (len(x), 1))).astype(np.float32)
        for optimizer in ("sgd", "adam"):
            for shuffle in (False, True):
                fresh = [type(layer)(*layer.get_config().values())
                         if not hasattr(layer, "input_size") or layer.input_size is None
                         else Dense(layer.input_size, layer.output_size) for layer in layers]
                steps, encode, submit, wait = await profile(device, fresh, x, y, batch,
                                                            optimizer, shuffle)
                case = f"{name} {optimizer} shuffle={shuffle}"
                print(f"{case:>32} {steps:>6} {encode:>15.1f} {submit:>10.1f} {wait:>17.1f}")


if __name__ == "__main__":
    asyncio.run(main())
