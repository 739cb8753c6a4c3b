"""Image-shaped models: Model(..., input_shape=) chains per-sample shapes through the layers'
build, data of shape [samples, *input_shape] goes in (as rows [samples, size] on the GPU),
predict returns [samples, *output_shape], summary shows Keras' shapes, files and clones keep
the input shape; Flatten and Reshape change shapes with no GPU work."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions
from intricate.kernels import check_gradients
from intricate.layers import (
    Conv2D,
    Dense,
    Flatten,
    Layer,
    ReLU,
    Reshape,
    SoftMax,
    TanH,
    check_chain,
)


class Image(Layer):
    """A stand-in image layer: (H, W, C) → (H - 1, W - 1, C) (shape rules only)."""

    def output_shape_for(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self!r} takes images (H, W, C), received {input_shape}")
        height, width, channels = input_shape
        return height - 1, width - 1, channels


def test_shapes_chain_through_build():
    layers = [Image(), Image(), Flatten(), Dense(18, 4), ReLU(), Reshape((2, 2)),
              Reshape((-1,))]
    assert check_chain(layers, (5, 5, 2)) == ((5, 5, 2), (4,))
    assert [layer.output_shape for layer in layers] == [
        (4, 4, 2), (3, 3, 2), (18,), (4,), (4,), (2, 2), (4,)]
    assert layers[1].input_shape == (4, 4, 2)
    model = Model([Reshape((4, 4, 1)), Flatten(), Dense(16, 3)], input_shape=(16,))
    assert (model.input_shape, model.output_shape) == ((16,), (3,))
    assert (model.input_size, model.output_size) == (16, 3)
    numpy_ints = Model([Reshape(np.array([16])), Dense(16, 1)], input_shape=np.array([4, 4, 1]))
    assert numpy_ints.input_shape == (4, 4, 1) and type(numpy_ints.input_shape[0]) is int
    assert numpy_ints.layers[0].get_config() == {"shape": [16]}  # JSON-able
    flat = Model([TanH(), Dense(6, 2), SoftMax()])  # the first Dense gives it, as before
    assert (flat.input_shape, flat.output_shape, flat.input_size) == ((6,), (2,), 6)


@pytest.mark.parametrize("layers,input_shape,message", [
    ([Image(), Flatten(), Dense(10, 4)], (5, 5, 2),
     r"layers\[2\] Dense\(10, 4\) expects 10 inputs, but layers\[1\] Flatten\(\) outputs 32"),
    ([Image(), Dense(10, 4)], (6, 3, 2),
     r"layers\[1\] Dense\(10, 4\) takes flat samples \(10,\), received \(5, 2, 2\); put "
     r"Flatten\(\) before it \(layers\[0\] Image\(\) outputs \(5, 2, 2\)\)"),
    ([Dense(3, 4)], (5,), r"layers\[0\] Dense\(3, 4\) expects 3 inputs, but the model's "
                          r"input_shape is \(5,\)"),
    ([Image(), Dense(4, 1)], None, r"layers\[0\] Image\(\) needs the shape of its inputs, which "
                                   r"no layer before it gives; pass Model\(layers, "
                                   r"input_shape=\(H, W, C\)\)"),
    ([Flatten(), Dense(16, 1)], None, r"layers\[0\] Flatten\(\) needs the shape of its inputs"),
    ([Image()], (4, 4), r"layers\[0\] Image\(\) takes images \(H, W, C\), received \(4, 4\) "
                        r"\(the model's input_shape is \(4, 4\)\)"),
    ([Reshape((3, 3))], (4, 2), r"layers\[0\] Reshape\(\(3, 3\)\) can't hold samples of shape "
                                r"\(4, 2\) \(8 values\) as \(3, 3\) \(9 values\)"),
    ([Reshape((-1, 3))], (4, 2), r"as \(-1, 3\) \(a multiple of 3 values\)"),
    ([Dense(2, 1)], (0, 2), r"input_shape: expected a per-sample shape of positive ints"),
    ([Dense(2, 1)], "2", r"input_shape: expected a per-sample shape"),
    ([Conv2D(1, 4, 3)], (1, 28, 20), r"expects 1 input channels .* \(the model's input_shape is "
                                     r"\(1, 28, 20\); it looks like PyTorch's \(C, H, W\): "
                                     r"images here are NHWC, input_shape=\(28, 20, 1\)\)$"),
    ([Conv2D(3, 4, 3)], (5, 5, 2), r"expects 3 input channels .* is \(5, 5, 2\)\)$"),
    ([Dense(2, 1)], (None, 2), r"received \(None, 2\); leave out the batch dimension: "
                               r"input_shape=\(2,\)$"),
    ([Dense(2, 1)], 2, r"received 2; for flat samples write input_shape=\(2,\)$"),
    ([TanH()], None, r"expected a layer with a known input size .* or Model\(\.\.\., "
                     r"input_shape=\.\.\.\)"),
])
def test_shapes_that_do_not_chain_are_refused_naming_layer_and_shapes(layers, input_shape,
                                                                      message):
    with pytest.raises(ValueError, match=message):
        Model(layers, input_shape=input_shape)
    assert all(layer._owner is None for layer in layers)


def test_a_refused_chain_leaves_a_layer_of_another_model_unbuilt_by_it():
    shared = Reshape((-1,))
    Model([shared, Dense(4, 2)], input_shape=(2, 2))
    with pytest.raises(ValueError, match="already belongs to"):
        Model([shared, Dense(6, 2)], input_shape=(3, 2))
    assert (shared.input_shape, shared.output_shape) == ((2, 2), (4,))


@pytest.mark.parametrize("shape,message", [
    ((2.5,), r"shape: expected a tuple of positive ints"),
    ((-1, -1), r"at most one -1"),
    ((), r"shape: expected"),
    (3, r"received 3; write \(3,\)$"),
    (-1, r"received -1; write \(-1,\)$"),
    (0, r"received 0$"),
])
def test_bad_reshape_arguments(shape, message):
    with pytest.raises(ValueError, match=message):
        Reshape(shape)


def image_data(samples=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 4, 4, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, samples)]
    return x, y


def image_model(device, **kwargs):
    return Model([Reshape((4, 4, 1)), Flatten(), Dense(16, 8), ReLU(), Dense(8, 3), SoftMax()],
                 device=device, seed=4, input_shape=(4, 4, 1), **kwargs)


async def test_image_data_trains_as_the_same_model_on_flat_rows(device):
    x, y = image_data()
    image = image_model(device)
    flat = Model([Dense(16, 8), ReLU(), Dense(8, 3), SoftMax()], device=device, seed=4)
    for a, b in zip(image.get_weights(), flat.get_weights(), strict=True):
        assert np.array_equal(a, b)
    options = TrainingOptions(epochs=3, batch_size=8, optimizer="adam", learning_rate=0.05,
                              loss_algorithm="categorical_crossentropy", metrics=["accuracy"],
                              seed=1, validation_split=0.25)
    device.stats.reset()
    history_image = await image.fit(x, y, options)
    image_dispatches = device.stats["dispatches"]
    device.stats.reset()
    history_flat = await flat.fit(x.reshape(24, 16), y, options)
    assert image_dispatches == device.stats["dispatches"]  # Reshape and Flatten: no dispatch
    assert history_image.history == history_flat.history
    assert await image.evaluate(x, y) == await flat.evaluate(x.reshape(24, 16), y)
    predictions = await image.predict(x, batch_size=5)
    assert predictions.shape == (24, 3)
    assert np.array_equal(predictions, await flat.predict(x.reshape(24, 16), batch_size=5))
    data = await image.upload(x, y)
    assert await image.evaluate(data) == await flat.evaluate(x.reshape(24, 16), y)


async def test_predict_returns_samples_of_the_output_shape(device):
    x, _ = image_data(5)
    model = Model([Flatten(), Dense(16, 12), Reshape((2, 3, 2))], device=device, seed=0,
                  input_shape=(4, 4, 1))
    predictions = await model.predict(x)
    assert predictions.shape == (5, 2, 3, 2)
    weights = model.get_weights()
    want = x.reshape(5, 16).astype(np.float64) @ weights[0] + weights[1]
    np.testing.assert_allclose(predictions.reshape(5, 12), want, rtol=1e-5, atol=1e-6)
    y = np.zeros((5, 2, 3, 2), np.float32)
    assert np.isfinite(await model.evaluate(x, y))
    history = await model.fit(x, y, TrainingOptions(epochs=1, validation_data=(x[:2], y[:2])))
    assert history.history["val_loss"][0] == await model.evaluate(x[:2], y[:2])
    with pytest.raises(ValueError, match=r"y: expected an array \[samples, 2, 3, 2\] "
                                         r"\(per-sample shape \(2, 3, 2\)\), received shape "
                                         r"\(5, 12\)"):
        await model.fit(x, y.reshape(5, 12))


@pytest.mark.parametrize("x,message", [
    (np.zeros((3, 16)), r"x: expected an array \[samples, 4, 4, 1\] \(per-sample shape "
                        r"\(4, 4, 1\)\), received shape \(3, 16\)"),
    (np.zeros((3, 4, 4)), r"received shape \(3, 4, 4\)"),
    (np.zeros((3, 1, 4, 4)), r"received shape \(3, 1, 4, 4\); these look like NCHW images "
                             r"\(PyTorch's layout\): transpose them to NHWC with "
                             r"\.transpose\(0, 2, 3, 1\)$"),
    (np.zeros((4, 4, 1)), r"received shape \(4, 4, 1\); for one sample add the batch "
                          r"axis: x\[None\]"),
    (np.zeros((0, 4, 4, 1)), r"x: expected at least one sample"),
    ([[[[1.0]] * 4] * 4, [[[1.0]] * 3]], r"x: expected a rectangular array \[samples, 4, 4, 1\]"),
])
async def test_wrong_image_shapes_are_refused_before_gpu_work(device, x, message):
    model = image_model(device)
    device.stats.reset()
    for call in (model.predict(x), model.fit(x, np.zeros((3, 3)), TrainingOptions(epochs=1)),
                 model.evaluate(x, np.zeros((3, 3))), model.upload(x)):
        with pytest.raises(ValueError, match=message):
            await call
    assert device.stats["dispatches"] == device.stats["uploads"] == 0


def test_summary_shows_keras_shapes_and_parameter_kinds(capsys):
    model = Model([Reshape((4, 4, 1)), Flatten(), Dense(16, 8), ReLU(), Dense(8, 3)],
                  input_shape=(4, 4, 1))
    text = model.summary()
    assert capsys.readouterr().out.strip() == text
    lines = text.splitlines()
    assert lines[0] == "Model: 5 layers, input (None, 4, 4, 1)"
    assert any(line.split() == ["reshape_0", "(Reshape)", "(None,", "4,", "4,", "1)", "0"]
               for line in lines)
    assert any(line.split() == ["flatten_1", "(Flatten)", "(None,", "16)", "0"]
               for line in lines)
    assert any(line.split() == ["dense_2", "(Dense)", "(None,", "8)", "136"] for line in lines)
    assert lines[-3:] == ["Total params: 163", "Trainable params: 163",
                          "Non-trainable params: 0"]


async def test_files_and_clones_keep_the_input_shape(device, tmp_path):
    model = image_model(device)
    x, _ = image_data(6)
    path = tmp_path / "image.safetensors"
    model.save(path)
    loaded = Model.load(path, device=device)
    assert loaded.input_shape == (4, 4, 1) and loaded.output_shape == (3,)
    assert np.array_equal(await loaded.predict(x), await model.predict(x))
    twin = model.clone()
    assert twin.input_shape == (4, 4, 1)
    assert np.array_equal(await twin.predict(x), await model.predict(x))
    assert "input_shape=(4, 4, 1)" in repr(model)
    layer_path = tmp_path / "reshape.safetensors"
    model.layers[0].save(layer_path)
    assert Reshape.from_file(layer_path).input_shape == (4, 4, 1)


async def test_gradient_check_takes_an_input_shape(device):
    x = np.random.default_rng(0).normal(size=(3, 2, 3, 2))
    report = await check_gradients(Reshape((-1,)), x, input_shape=(2, 3, 2), device=device)
    assert report.passed, str(report)
    report = await check_gradients(Flatten(), x.reshape(3, 12), input_shape=(2, 3, 2),
                                   device=device)
    assert report.passed and report.outputs[0].size == 32, str(report)
    model = Model([Reshape((-1,)), Dense(12, 1)], device=device, input_shape=(2, 3, 2))
    report = await check_gradients(model.layers[0], x)  # the image shape it has in its model
    assert report.passed, str(report)
    with pytest.raises(ValueError, match=r"x: expected \[rows, 2, 2, 2\] \(input_shape "
                                         r"\(2, 2, 2\)\), received float64 \(3, 2, 3, 2\)"):
        await check_gradients(Flatten(), x, input_shape=(2, 2, 2), device=device)
    with pytest.raises(ValueError, match=r"input_shape: Reshape\(\(5,\)\) can't hold samples"):
        await check_gradients(Reshape((5,)), x, input_shape=(2, 3, 2), device=device)
