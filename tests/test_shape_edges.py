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
