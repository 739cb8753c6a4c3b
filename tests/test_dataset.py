"""Datasets resident on the GPU (model.upload): the same training, validation, evaluation and
predictions as from numpy arrays, without uploading the samples again; clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import intricate
from intricate import Dataset, Model, TrainingOptions
from intricate.layers import Dense, Sigmoid, TanH

from harness import small_data as harness_data
from harness import small_model


def small_data(rng, samples=23):  # 23: batches of 4 and 5 leave a partial last one
    return harness_data(rng, samples)


OPTIONS = [
    pytest.param(dict(batch_size=4, seed=3), id="shuffled_minibatches"),
    pytest.param(dict(batch_size=4, shuffle=False), id="minibatches_in_order"),
    pytest.param(dict(shuffle=False), id="full_batch_in_place"),
    pytest.param(dict(batch_size=5, seed=1, validation_split=0.25), id="validation_split"),
]


@pytest.mark.parametrize("extra", OPTIONS)
async def test_fit_on_a_dataset_equals_fit_on_the_arrays(device, rng, extra):
    x, y = small_data(rng)
    options = TrainingOptions(learning_rate=0.2, loss_algorithm="bce", epochs=3,
                              metrics=["accuracy"], optimizer="adam", **extra)
    from_arrays = small_model(device)
    want = await from_arrays.fit(x, y, options)
    from_dataset = small_model(device)
    data = await from_dataset.upload(x, y)
    assert isinstance(data, Dataset) and len(data) == 23
    got = await from_dataset.fit(data, options=options)
    assert got.history == want.history  # same GPU work in the same order: bit for bit
    for a, b in zip(from_dataset.get_weights(), from_arrays.get_weights()):
        np.testing.assert_array_equal(a, b)


async def test_a_second_fit_uploads_no_samples(device, rng):
    x, y = small_data(rng)
    model = small_model(device)
    data = await model.upload(x, y)
    options = TrainingOptions(learning_rate=0.1, loss_algorithm="bce", epochs=2, batch_size=4)
    await model.fit(data, options=options)
    device.stats.reset()
    await model.fit(data, options=options)
    from_dataset = device.stats["uploads"]
    device.stats.reset()
    await model.fit(x, y, options)
    assert device.stats["uploads"] == from_dataset + 2  # the arrays upload x and y each fit


async def test_validation_evaluate_and_predict_take_datasets(device, rng):
    x, y = small_data(rng)
    vx, vy = small_data(rng, samples=7)
    model = small_model(device)
    data, validation, inputs = (await model.upload(x, y), await model.upload(vx, vy),
                                await model.upload(vx))
    options = dict(learning_rate=0.1, loss_algorithm="bce", epochs=2, batch_size=4,
                   metrics=["accuracy"], seed=5)
    twin = small_model(device)
    want = await twin.fit(x, y, TrainingOptions(validation_data=(vx, vy), **options))
    got = await model.fit(data, options=TrainingOptions(validation_data=validation, **options))
    assert got.history == want.history
    assert await model.evaluate(validation) == await model.evaluate(vx, vy)
    np.testing.assert_array_equal(await model.predict(inputs), await model.predict(vx))
    np.testing.assert_array_equal(await model.predict(validation, batch_size=3),
                                  await model.predict(vx))


async def test_datasets_that_do_not_fit_the_model_are_refused(device, rng):
    x, y = small_data(rng)
    model = small_model(device)
    data = await model.upload(x, y)
    with pytest.raises(ValueError, match="y: a Dataset carries its targets"):
        await model.fit(data, y)
    with pytest.raises(ValueError, match="x: expected 4 features per sample .* has 3"):
        await Model([Dense(4, 2)], device=device).fit(
            data, options=TrainingOptions(epochs=1))
    with pytest.raises(ValueError, match="expected 1 values per sample"):
        await Model([Dense(3, 1)], device=device).evaluate(data)
    with pytest.raises(ValueError, match="has no targets"):
        await model.evaluate(await model.upload(x))
    with pytest.raises(ValueError, match="validation_data: expected a pair"):
        TrainingOptions(validation_data=[x])
    other = Model([Dense(3, 5), TanH(), Dense(5, 2), Sigmoid()],
                  device=await intricate.setup_device())
    with pytest.raises(ValueError, match="this Dataset is on .* upload the arrays with this "
                                         "model's upload"):
        await other.fit(data, options=TrainingOptions(epochs=1))
    with pytest.raises(ValueError, match=r"x: expected 3 features .* received shape \(4, 2\)"):
        await model.upload(np.zeros((4, 2), np.float32))


async def test_a_dataset_over_the_binding_limit_trains_only_unshuffled(device, rng, monkeypatch):
    x, y = small_data(rng)
    model = small_model(device)
    await model.predict(x)  # the model's parameters are on the device before the limit shrinks
    monkeypatch.setitem(device.limits, "max-storage-buffer-binding-size", 64)
    data = await model.upload(x, y)  # 23 × 3 floats = 276 bytes: too big to bind here
    monkeypatch.undo()
    assert not data.bindable
    with pytest.raises(ValueError, match="pass shuffle=False"):
        await model.fit(data, options=TrainingOptions(epochs=1, batch_size=4))
    await model.fit(data, options=TrainingOptions(epochs=1, batch_size=4, shuffle=False))
