"""A layer written in WGSL: the Mish activation (Misra 2019), o = x · tanh(softplus(x)), with
its derivative written by hand, checked against finite differences on the GPU, then trained
inside fit to tell the points inside a circle from those outside it.

    python examples/wgsl_layer.py [--epochs 60] [--min-accuracy 0.95]

The binding convention (intricate/layers/wgsl.py, shaders/README.md "Turning a kernel into a
layer"): the forward reads ``inputs`` and writes ``outputs``; the backward reads ``inputs`` and
``grad_outputs`` and writes ``grad_inputs``; both may read a ``Params`` uniform (here ``count``,
the invocations of the dispatch: one per element).
"""

import argparse
import asyncio

import numpy as np

from intricate import Model, TrainingOptions
from intricate.kernels import check_gradients
from intricate.layers import Dense, Sigmoid, WGSLLayer
from intricate.losses import BinaryCrossEntropy
from intricate.optimizers import Adam

MISH = """
@group(0) @binding(0) var<storage, read> inputs: array<f32>;
@group(0) @binding(1) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(2) var<storage, read> grad_outputs: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_inputs: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

struct Params { count: u32 }

override workgroup_size: u32 = 64;

// softplus(x) = log(1 + e^x), as max(x, 0) + log(1 + e^-|x|) so e^x never overflows.
fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

@compute @workgroup_size(workgroup_size)
fn forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let x = inputs[i];
    outputs[i] = x * tanh(softplus(x));
}

// d/dx x·tanh(sp(x)) = tanh(sp) + x · (1 - tanh(sp)²) · sigmoid(x), as sp'(x) = sigmoid(x).
@compute @workgroup_size(workgroup_size)
fn backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let x = inputs[i];
    let t = tanh(softplus(x));
    grad_inputs[i] = grad_outputs[i] * (t + x * (1.0 - t * t) * sigmoid(x));
}

{% include "gpu/grid.wgsl" %}
"""


def circle(samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]², labelled 1 inside the circle of radius 0.6."""
    x = rng.uniform(-1, 1, (samples, 2)).astype(np.float32)
    y = (np.hypot(x[:, 0], x[:, 1]) < 0.6).astype(np.float32)[:, None]
    return x, y


async def main(epochs: int, min_accuracy: float) -> float:
    mish = WGSLLayer(MISH, origin="mish.wgsl")
    report = await check_gradients(mish, np.random.default_rng(1).normal(0, 2, (8, 16)))
    print(report)
    assert report.passed, "Mish's backward disagrees with finite differences of its forward"

    rng = np.random.default_rng(0)
    x, y = circle(512, rng)
    model = Model([Dense(2, 16), mish, Dense(16, 1), Sigmoid()], seed=0)
    model.summary()
    history = await model.fit(x, y, TrainingOptions(
        optimizer=Adam(learning_rate=0.02), loss_algorithm=BinaryCrossEntropy(), epochs=epochs,
        batch_size=64, metrics=["accuracy"], seed=0))
    test_x, test_y = circle(1000, rng)
    loss, accuracy = await model.evaluate(test_x, test_y)
    print(f"after {epochs} epochs: training loss {history.loss[-1]:.4f}, held-out accuracy "
          f"{accuracy:.4f} (loss {loss:.4f})")
    # The trained layer checks out too, at what it sees in the model: the first Dense's outputs.
    kernel, bias = model.get_weights()[:2]
    assert (await check_gradients(model.layers[1], test_x[:8] @ kernel + bias)).passed
    assert accuracy >= min_accuracy, f"held-out accuracy {accuracy:.4f} < {min_accuracy}"
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--min-accuracy", type=float, default=0.95)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.epochs, arguments.min_accuracy))
