"""Conv2D inside models: a small CNN learns from images, and a PyTorch CNN's state dict gives the
same predictions and the same gradients of one training step here (the torch layout both ways)."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions
from intricate.engine import plan
from intricate.layers import (
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    MaxPool2D,
    ReLU,
    SoftMax,
)


def bars(rng, samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8×8 one-channel noise images; class 1 carries a bright vertical bar (one-hot targets)."""
    x = rng.normal(size=(samples, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 2, samples)
    x[labels == 1, :, 3:5, 0] += 2.0
    return x, np.eye(2, dtype=np.float32)[labels], labels


async def test_a_small_cnn_learns_to_tell_images_apart(device, rng):
    x, y, labels = bars(rng, 128)
    model = Model([Conv2D(1, 8, 3, padding="same"), ReLU(), MaxPool2D(2), Conv2D(8, 2, 3),
                   GlobalAveragePooling2D(), SoftMax()], device=device, seed=0,
                  input_shape=(8, 8, 1))
    assert plan.forward_steps(model.layers)[0].activation is model.layers[1]  # ReLU fused
    history = await model.fit(x, y, TrainingOptions(
        learning_rate=0.1, epochs=20, batch_size=32, loss_algorithm="categorical_crossentropy"))
    assert history.loss[-1] < 0.5 * history.loss[0], history.loss
    predictions = await model.predict(x)
    assert predictions.shape == (128, 2)
    assert (predictions.argmax(axis=1) == labels).mean() > 0.9


def torch_cnn(torch):
    """A PyTorch CNN of every Conv2D feature (padding, stride, dilation, non-square kernel)
    that global average pooling keeps free of the NCHW/NHWC flattening order; module i is our
    layer i (the torch layout names tensors by layer index)."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 3, (3, 2), stride=2, dilation=(1, 2)),
                         nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                         nn.Linear(3, 2)).double()


def our_cnn() -> list:
    return [Conv2D(2, 4, 3, padding=1), ReLU(), Conv2D(4, 3, (3, 2), strides=2, dilation=(1, 2)),
            GlobalAveragePooling2D(), Dense(3, 2)]


async def test_a_torch_cnn_predicts_and_trains_the_same_here(device, rng, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load_file

    torch.manual_seed(0)
    network = torch_cnn(torch)
    x = rng.normal(size=(5, 7, 6, 2))  # NHWC here, NCHW in torch
    y = rng.normal(size=(5, 2))
    model = Model.from_torch_state_dict(network.state_dict(), our_cnn(), device=device,
                                        dtype="float64", input_shape=(7, 6, 2))
    torch_x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    np.testing.assert_allclose(await model.predict(x), network(torch_x).detach().numpy(),
                               rtol=1e-10, atol=1e-12)

    # One SGD step on the whole batch with the mean squared error: the same gradients.
    before = model.get_weights()
    await model.fit(x, y, TrainingOptions(learning_rate=0.5, epochs=1, shuffle=False))
    ours = [(old - new) / 0.5 for old, new in zip(before, model.get_weights())]
    torch.nn.functional.mse_loss(network(torch_x), torch.from_numpy(y)).backward()
    layers = [layer for layer in model.layers if layer.parameter_shapes()]
    theirs = [layer.from_torch(name, parameter.grad.numpy())
              for layer, module in zip(layers, [m for m in network if list(m.parameters())])
              for (name, _), parameter in zip(layer.parameter_shapes(), module.parameters())]
    for got, want in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)

    # And back: saved in the torch layout, PyTorch loads it and predicts as we do.
    path = tmp_path / "cnn.safetensors"
    model.save(path, layout="torch")
    again = torch_cnn(torch)
    again.load_state_dict(torch_load_file(path))
    np.testing.assert_allclose(again(torch_x).detach().numpy(), await model.predict(x),
                               rtol=1e-10, atol=1e-12)


async def test_model_and_layer_files_keep_every_setting(device, rng, tmp_path):
    """Saved and loaded (model file, layer file, copy): the same layer, the same predictions."""
    layer = Conv2D(2, 4, (3, 2), strides=(2, 1), padding=(1, 0), dilation=2, use_bias=False)
    model = Model([layer, ReLU(), GlobalAveragePooling2D(), Dense(4, 2)], device=device, seed=0,
                  input_shape=(7, 6, 2))
    x = rng.normal(size=(3, 7, 6, 2)).astype(np.float32)
    model.save(tmp_path / "model.safetensors")
    again = Model.load(tmp_path / "model.safetensors", device=device)
    assert repr(again.layers[0]) == repr(layer) == (
        "Conv2D(2, 4, (3, 2), strides=(2, 1), padding=(1, 0), dilation=(2, 2), use_bias=False)")
    np.testing.assert_array_equal(await again.predict(x), await model.predict(x))
    layer.save(tmp_path / "layer.safetensors")
    loaded = Conv2D.from_file(tmp_path / "layer.safetensors")
    assert loaded.settings() == layer.settings() == layer.copy().settings()
    np.testing.assert_array_equal(loaded.host_weights[0], model.get_weights()[0])
