"""Model: one SGD step equals the reference, weights, seeds, predict, devices."""

from __future__ import annotations

import numpy as np
import pytest
import wgpu

import intricate
from intricate import Model, TrainingOptions, losses
from intricate.layers import Dense, ReLU, Sigmoid, SoftMax, TanH

import reference
from harness import assert_close

MODELS = {  # name: (layers, loss)
    "dense+mse": (lambda: [Dense(3, 4)], "MeanSquared"),
    "tanh+mae": (lambda: [Dense(3, 5), TanH(), Dense(5, 4)], "MeanAbsolute"),
    "sigmoid+bce": (lambda: [Dense(3, 5), ReLU(), Dense(5, 4), Sigmoid()], "BinaryCrossEntropy"),
    "softmax+cce": (lambda: [Dense(3, 17), TanH(), Dense(17, 4), SoftMax()],
                    "CategoricalCrossEntropy"),
}


@pytest.mark.parametrize("name", sorted(MODELS))
async def test_one_sgd_step_equals_the_reference(device, rng, name):
    make_layers, loss_name = MODELS[name]
    layers = make_layers()
    model = Model(layers, device=device, seed=3)
    weights = model.get_weights()
    x = rng.normal(size=(9, 3)).astype(np.float32)
    y = np.eye(4)[rng.integers(0, 4, 9)].astype(np.float32)
    options = TrainingOptions(learning_rate=0.5, loss_algorithm=getattr(losses, loss_name)(),
                              epochs=1, instantiate_gpu=False)
    history = await model.fit(x, y, options)
    names = [type(layer).__name__ for layer in layers]
    loss, stepped = reference.train_step(names, weights, x, y, loss_name, 0.5)
    assert_close(history.loss[0], loss)
    for got, want in zip(model.get_weights(), stepped):
        assert_close(got, want)


async def test_several_steps_follow_the_reference(device, rng):
    model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    weights, want_losses = model.get_weights(), []
    for _ in range(5):
        loss, weights = reference.train_step(["Dense", "TanH", "Dense", "TanH"], weights, x, y,
                                             "MeanSquared", 0.1)
        want_losses.append(loss)
    history = await model.fit(x, y, TrainingOptions(learning_rate=0.1, epochs=5))
    assert_close(history.loss, want_losses)
    for got, want in zip(model.get_weights(), weights):
        assert_close(got, want)


async def test_predict_equals_the_reference_forward(device, rng):
    model = Model([Dense(4, 6), ReLU(), Dense(6, 3), SoftMax()], device=device, seed=1)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    w0, b0, w1, b1 = (w.astype(np.float64) for w in model.get_weights())
    hidden = reference.relu_forward(reference.dense_forward(x, w0, b0))
    want = reference.softmax_forward(reference.dense_forward(hidden, w1, b1))
    assert_close(await model.predict(x), want)
    assert_close(await model.predict(x[:1]), want[:1])  # another batch size, another workspace


def test_same_seed_gives_bit_identical_weights():
    def make(seed):
        return Model([Dense(5, 7), TanH(), Dense(7, 2)], seed=seed).get_weights()

    for a, b in zip(make(42), make(42)):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(make(42)[0], make(43)[0])


def test_weights_are_glorot_uniform_kernels_and_zero_biases():
    kernel, bias = Model([Dense(300, 200)], seed=0).get_weights()
    limit = np.sqrt(6 / (300 + 200))
    assert kernel.shape == (300, 200) and bias.shape == (200,)
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    assert abs(kernel.mean()) < 0.01 and not bias.any()


async def test_set_weights_round_trips_through_the_gpu(device, rng):
    model = Model([Dense(3, 2), Sigmoid(), Dense(2, 2)], device=device)
    await model.predict(np.zeros((1, 3)))  # parameters now live on the GPU
    new = [rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        assert np.array_equal(got, want)
    with pytest.raises(ValueError, match=r"weights\[1\]: expected numbers of shape \(2,\)"):
        model.set_weights([new[0], np.zeros(3), new[2], new[3]])
    with pytest.raises(ValueError, match="expected 4 arrays"):
        model.set_weights(new[:2])
    for got, want in zip(model.get_weights(), new):  # a rejected set changes nothing
        assert np.array_equal(got, want)


async def test_predict_without_a_device_sets_one_up_and_keeps_it():
    model = Model([Dense(2, 1)], seed=0)
    assert model.device is None
    first = await model.predict(np.ones((2, 2)))
    device = model.device
    assert isinstance(device, intricate.Device)
    await model.fit(np.ones((2, 2)), np.ones((2, 1)), TrainingOptions(epochs=2))
    assert model.device is device  # made once, kept across fit and predict
    assert first.shape == (2, 1)


async def test_the_device_reports_its_adapter_limits_and_features(device):
    assert device.limits["max-storage-buffer-binding-size"] > 0
    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    offered = set(intricate.gpu.device.OPTIONAL_FEATURES) & set(adapter.features)
    assert device.features == offered  # every optional feature the adapter has, no other
    for name in ("max-storage-buffer-binding-size", "max-buffer-size",
                 "max-compute-workgroup-storage-size", "max-compute-invocations-per-workgroup"):
        assert device.limits[name] == adapter.limits[name]  # the adapter's, not the defaults
    assert device.name in repr(device)
