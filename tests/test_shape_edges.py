"""Hostile edges of image-shaped models: Datasets uploaded by a model of other per-sample shapes
(the same widths, values in another order), layers whose weights were built for other inputs,
layer files without weights."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions
from intricate.layers import BatchNormalization, Conv2D, Dense, Flatten, ReLU, Reshape


def flat_head(device, input_shape, output_shape=(3,)) -> Model:
    tail = [Reshape(output_shape)] if len(output_shape) > 1 else []
    return Model([Flatten(), Dense(32, 3), *tail], device=device, seed=0,
                 input_shape=input_shape)


async def test_a_dataset_of_other_sample_shapes_is_refused_before_gpu_work(device, rng):
    uploader = flat_head(device, (4, 4, 2))
    data = await uploader.upload(rng.normal(size=(5, 4, 4, 2)), rng.normal(size=(5, 3)))
    inputs_only = await uploader.upload(rng.normal(size=(5, 4, 4, 2)))
    transposed = flat_head(device, (2, 4, 4))  # 32 values per sample too, another order
    await transposed.predict(rng.normal(size=(1, 2, 4, 4)))  # on the device already
    device.stats.reset()
    message = (r"this Dataset holds samples of shape \(4, 4, 2\), the model takes \(2, 4, 4\); "
               r"upload the arrays with this model's upload\(\)")
    for call in (lambda: transposed.predict(inputs_only), lambda: transposed.evaluate(data),
                 lambda: transposed.fit(data, options=TrainingOptions(epochs=1)),
                 lambda: transposed.fit(data, options=TrainingOptions(
                     epochs=1, validation_split=0.4))):
        with pytest.raises(ValueError, match=message):
            await call()
    assert device.stats["dispatches"] == 0
    with pytest.raises(ValueError, match="validation_data: " + message):
        await transposed.fit(await transposed.upload(rng.normal(size=(5, 2, 4, 4)),
                                                     rng.normal(size=(5, 3))),
                             options=TrainingOptions(epochs=1, validation_data=data))
    reshaped = flat_head(device, (4, 4, 2), output_shape=(3, 1))
    await reshaped.predict(data)  # inputs of its shape: targets don't matter
    with pytest.raises(ValueError, match=r"this Dataset holds targets of shape \(3,\), the "
                                         r"model takes \(3, 1\)"):
        await reshaped.evaluate(data)
    # A model of the same shapes takes it.
    twin = flat_head(device, (4, 4, 2))
    assert np.isfinite(await twin.evaluate(data))


async def test_a_layer_whose_weights_fit_other_inputs_is_refused(device, rng, tmp_path):
    """A BatchNormalization's weight shapes come from its input's channels: one from a file or
    copied from a model of 3 channels is refused by a model of 4, naming both, and stays
    free; a model of 3 takes it with its weights."""
    trained = Model([BatchNormalization()], device=device, input_shape=(2, 2, 3))
    trained.set_weights([rng.uniform(0.5, 2, 3) for _ in range(4)])
    trained.layers[0].save(tmp_path / "bn.safetensors")
    for layer in (BatchNormalization.from_file(tmp_path / "bn.safetensors"),
                  trained.layers[0].copy()):
        with pytest.raises(ValueError, match=r"layers\[1\] BatchNormalization\(.*\) holds "
                                             r"weights of shapes \[\(3,\), \(3,\), \(3,\), "
                                             r"\(3,\)\] .* its input shape here, \(2, 2, 4\), "
                                             r"needs \[\(4,\), \(4,\), \(4,\), \(4,\)\]"):
            Model([ReLU(), layer], device=device, input_shape=(2, 2, 4))
        assert layer._owner is None
        again = Model([layer], device=device, input_shape=(5, 3))
        for got, want in zip(again.get_weights(), trained.get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_layer_without_weights_yet_is_not_saved(tmp_path):
    """A file without the weights its config needs could not be read back: refused."""
    with pytest.raises(ValueError, match=r"Conv2D\(2, 3, \(3, 3\)\) has no weights yet to save; "
                                         r"put it in a Model"):
        Conv2D(2, 3, 3).save(tmp_path / "conv.safetensors")
    assert not (tmp_path / "conv.safetensors").exists()


async def test_a_dataset_inside_a_pair_is_refused_clearly(device, rng):
    model = flat_head(device, (4, 4, 2))
    x, y = rng.normal(size=(3, 4, 4, 2)), rng.normal(size=(3, 3))
    data = await model.upload(x, y)
    message = r"received a Dataset inside a pair of arrays; a Dataset goes alone"
    with pytest.raises(ValueError, match="validation_data x: " + message):
        await model.fit(x, y, TrainingOptions(epochs=1, validation_data=(data, None)))
    with pytest.raises(ValueError, match="y: " + message):
        await model.fit(x, data)


async def test_batches_wider_than_a_binding_are_refused_before_upload_or_split(device, rng,
                                                                             monkeypatch):
    """A conv's outputs (8, 8, 8) are 2 KiB a sample: with a 32 KiB binding limit, fit's
    batches of 32 (or its whole dataset, batch_size None) are refused before anything is
    uploaded, naming the layer and the batch size that binds; evaluate's default batch (None)
    is the most that binds, as predict's: the same loss as one batch under the real limit."""
    model = Model([Conv2D(1, 8, 3, padding="same"), ReLU(), Flatten(), Dense(512, 2)],
                  device=device, seed=0, input_shape=(8, 8, 1))
    x, y = rng.normal(size=(40, 8, 8, 1)), rng.normal(size=(40, 2))
    whole = await model.evaluate(x, y)
    monkeypatch.setitem(device.limits, "max-storage-buffer-binding-size", 32 * 1024)
    device.stats.reset()
    for batch_size, rows in ((32, 32), (None, 40)):
        with pytest.raises(ValueError, match=(
                rf"batch_size: batches of {rows} samples of layers\[0\] Conv2D\(1, 8, .*\)'s "
                rf"outputs \(8, 8, 8\) need {rows * 2048:,} bytes, more than this device binds "
                r"at once \(32,768\); use batch_size=16 or less")):
            await model.fit(x, y, TrainingOptions(epochs=1, batch_size=batch_size))
    with pytest.raises(ValueError, match="batches of 20 samples"):  # validation's batches too
        await model.fit(x[:10], y[:10], TrainingOptions(epochs=1, validation_data=(x[:20],
                                                                                   y[:20])))
    assert device.stats["uploads"] == device.stats["dispatches"] == 0
    # A clone: none of the model's cached 40-row programs.
    np.testing.assert_allclose(await model.clone().evaluate(x, y), whole, rtol=1e-5)
    await model.fit(x, y, TrainingOptions(epochs=1, batch_size=16))
