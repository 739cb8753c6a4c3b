"""mixed_float16 (issue 17 part 3): f16 activations, inputs and compute weights; f32 master
weights, gradients and optimizer state; dynamic loss scaling on the GPU (engine/loss_scale.py)
with the scale and the skipped steps in the History, at no extra readback or submit."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from intricate import Model, TrainingOptions
from intricate.datasets import load_digits
from intricate.engine import loss_scale
from intricate.gpu import read
from intricate.gpu.dtypes import MIXED_FLOAT16
from intricate.layers import Dense, ReLU, SoftMax, TanH
from intricate.losses import CategoricalCrossEntropy
from intricate.optimizers import SGD, Adam

from harness import skip_unsupported

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([[0], [0.8], [0.8], [0]], np.float32)


@pytest.fixture
def device(device):
    skip_unsupported(device, MIXED_FLOAT16)
    return device


def xor_model(device, dtype="mixed_float16", seed=0) -> Model:
    return Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=seed,
                 dtype=dtype)


def full_batch(epochs: int, optimizer="sgd", **options) -> TrainingOptions:
    return TrainingOptions(epochs=epochs, optimizer=optimizer, shuffle=False, verbose=0,
                           **options)


async def test_parameters_are_f32_masters_that_layers_see_through_an_f16_copy(device):
    model = xor_model(device)
    initial = model.get_weights()
    await model.predict(XOR_X)  # puts the model on the GPU
    state = model._state
    assert (state.parameters.dtype, state.gradients.dtype) == (np.float32, np.float32)
    assert state.compute_parameters.dtype == np.float16
    for layer in model.layers[::2]:
        for compute, gradient in zip(layer.parameters, layer.gradients):
            assert (compute.dtype, gradient.dtype) == (np.float16, np.float32)
            # the same element offset in every buffer: the optimizer walks them as one
            assert compute.offset // 2 == gradient.offset // 4
    assert all(np.array_equal(a, b) and a.dtype == np.float32
               for a, b in zip(model.get_weights(), initial))
    copies = await device.run(read, *[v for layer in model.layers for v in layer.parameters])
    assert all(np.array_equal(c, w.astype(np.float16)) for c, w in zip(copies, initial))
    assert state.nbytes_per_parameter == 4 + 4 + 2  # master, gradient, compute copy
    fine = [w + np.float32(1e-4) for w in initial]  # below f16's resolution near 0.5
    model.set_weights(fine)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), fine))
    copies = await device.run(read, *[v for layer in model.layers for v in layer.parameters])
    assert all(np.array_equal(c, w.astype(np.float16)) for c, w in zip(copies, fine))
    with pytest.raises(ValueError, match=r"weights\[0\]: expected finite values \(within "
                                         r"float16's range"):
        model.set_weights([w * 0 + 7e4 for w in initial])


async def test_inputs_are_float16_and_values_beyond_its_range_are_refused(device):
    model = Model([Dense(1, 1)], device=device, dtype="mixed_float16")
    data = await model.upload(np.ones((3, 1), np.float64), np.ones((3, 1)))
    assert data.x.dtype == data.y.dtype == np.float16
    predictions = await model.predict(np.arange(3.0).reshape(3, 1))
    assert predictions.dtype == np.float16 and predictions.shape == (3, 1)
    device.stats.reset()
    for x, y in (([[7e4]], [[1.0]]), ([[1.0]], [[-1e5]]), (np.full((1, 1), 70000), [[1.0]])):
        with pytest.raises(ValueError, match=r"expected values within float16's range "
                                             r"\(±6\.55e\+04"):
            await model.fit(x, y)
    with pytest.raises(ValueError, match=r"x: expected values within float16's range"):
        await model.predict([[65520.0]])  # rounds to inf in float16
    # uint16 is as narrow as float16, yet its 65535 is float16's inf
    with pytest.raises(ValueError, match=r"x: expected values within float16's range"):
        await model.predict(np.full((1, 1), 65535, np.uint16))
    with pytest.raises(ValueError, match=r"y: expected values within float16's range"):
        await model.fit(np.ones((1, 1)), np.full((1, 1), 65535, np.uint16))
    assert all(device.stats[name] == 0 for name in ("dispatches", "uploads", "submits"))


async def test_mixed_xor_tracks_a_float32_run_of_the_same_weights(device):
    losses, predictions = {}, {}
    for dtype in ("float32", "mixed_float16"):
        model = xor_model(device, dtype)
        history = await model.fit(XOR_X, XOR_Y, full_batch(300, learning_rate=0.1))
        losses[dtype] = np.array(history.loss)
        predictions[dtype] = (await model.predict(XOR_X)).astype(np.float32)
        if dtype == "mixed_float16":
            assert history.history["loss_scale"] == [loss_scale.INITIAL_SCALE] * 300
            assert history.history["skipped_steps"] == [0] * 300
        else:
            assert "loss_scale" not in history.history
    np.testing.assert_allclose(predictions["mixed_float16"], predictions["float32"], rtol=1e-2,
                               atol=2e-3)
    assert losses["float32"][-1] < 0.5 * losses["float32"][0]  # it learned something
    np.testing.assert_allclose(losses["mixed_float16"], losses["float32"], rtol=2e-2)


def numpy_step(weights, x, y):
    """The XoR network's loss gradient (MeanSquared) in float64: [dW0, db0, dW1, db1]."""
    w0, b0, w1, b1 = [w.astype(np.float64) for w in weights]
    hidden = np.tanh(x @ w0 + b0)
    out = np.tanh(hidden @ w1 + b1)
    grad_out = 2 * (out - y) / y.size * (1 - out**2)
    grad_hidden = grad_out @ w1.T * (1 - hidden**2)
    return [x.T @ grad_hidden, grad_hidden.sum(0), hidden.T @ grad_out, grad_out.sum(0)]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
async def test_one_step_matches_numpy_with_master_weights_and_unscaled_gradients(device,
                                                                                  optimizer):
    model = xor_model(device, seed=4)
    before = model.get_weights()
    grads = numpy_step(before, XOR_X.astype(np.float64), XOR_Y.astype(np.float64))
    chosen = SGD(learning_rate=0.5) if optimizer == "sgd" else Adam(learning_rate=0.01)
    await model.fit(XOR_X, XOR_Y, full_batch(1, chosen))
    after = model.get_weights()
    assert all(w.dtype == np.float32 for w in after)
    if optimizer == "sgd":
        for old, new, grad in zip(before, after, grads):
            np.testing.assert_allclose(new - old, -0.5 * grad, rtol=1e-2,
                                       atol=1e-2 * np.abs(grad).max() * 0.5)
        return
    state = model.optimizer_state()
    assert state["step"][0] == 1
    for index, grad in enumerate(grads):
        layer, name = divmod(index, 2)
        key = f"layers.{2 * layer}.{('kernel', 'bias')[name]}"
        floor = 1e-2 * np.abs(grad).max()
        np.testing.assert_allclose(state[f"{key}.first_moment"], 0.1 * grad, rtol=1e-2,
                                   atol=0.1 * floor)
        np.testing.assert_allclose(state[f"{key}.second_moment"], 0.001 * grad**2, rtol=2e-2,
                                   atol=0.001 * floor**2)
        # step 1: m̂ = g, v̂ = g², so the step is lr·g / (|g| + ε)
        np.testing.assert_allclose(after[index] - before[index],
                                   -0.01 * grad / (np.abs(grad) + 1e-8), rtol=1e-2, atol=1e-4)


async def test_an_overflowing_gradient_skips_the_step_and_halves_the_scale(device):
    """A target of 60000 makes the scaled f16 loss gradient inf: that step changes neither the
    weights nor Adam's moments and step count; the scale halves and the History counts it."""
    model = xor_model(device)
    before = model.get_weights()
    optimizer = Adam(learning_rate=0.01)
    history = await model.fit(XOR_X, np.full_like(XOR_Y, 6e4), full_batch(2, optimizer))
    assert history.history["skipped_steps"] == [1, 1]
    assert history.history["loss_scale"] == [2.0**14, 2.0**13]
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    state = model.optimizer_state()
    assert state["step"][0] == 0
    assert not any(value.any() for key, value in state.items() if key.endswith("moment"))
    assert state["loss_scale"][0] == 2.0**13
    # finite targets again: the steps run, from the halved scale (the state is the model's)
    history = await model.fit(XOR_X, XOR_Y, full_batch(2, optimizer))
    assert history.history["skipped_steps"] == [0, 0]
    assert history.history["loss_scale"] == [2.0**13, 2.0**13]
    assert model.optimizer_state()["step"][0] == 2
    assert not np.array_equal(model.get_weights()[0], before[0])


async def test_the_scale_doubles_after_growth_interval_finite_steps(device, monkeypatch):
    model = Model([Dense(1, 1)], device=device, seed=0, dtype="mixed_float16")
    x = np.linspace(0, 1, 1000, dtype=np.float32).reshape(-1, 1)
    # 1000 steps of one sample per epoch: the 2000th finite step (Keras' interval) doubles it
    history = await model.fit(x, 0.5 * x, full_batch(2, batch_size=1, learning_rate=0.01))
    assert history.history["loss_scale"] == [2.0**15, 2.0**16]
    assert history.history["skipped_steps"] == [0, 0]
    monkeypatch.setattr(loss_scale, "GROWTH_INTERVAL", 3)  # read when a fit records its steps
    fresh = xor_model(device)
    history = await fresh.fit(XOR_X, XOR_Y, full_batch(7))
    assert history.history["loss_scale"] == [2.0**15] * 2 + [2.0**16] * 3 + [2.0**17] * 2


async def test_counters_two_dispatches_more_per_step_same_submits_and_readbacks(device, rng):
    x = rng.uniform(size=(24, 2)).astype(np.float32)
    y = rng.uniform(0, 0.8, size=(24, 1)).astype(np.float32)
    counts = {}
    for dtype in ("float32", "mixed_float16"):
        model = xor_model(device, dtype)
        await model.fit(x, y, TrainingOptions(epochs=1, batch_size=8, verbose=0))  # warm
        device.stats.reset()
        await model.fit(x, y, TrainingOptions(epochs=3, batch_size=8, optimizer="adam",
                                              verbose=0, validation_split=0.25))
        counts[dtype] = {name: device.stats[name]
                         for name in ("dispatches", "submits", "readbacks", "uploads")}
        moments = model.optimizer.state_for(model._state.parameters)[:2]
        counts[dtype]["bytes"] = model._state.nbytes_per_parameter + sum(
            moment.nbytes for moment in moments) / model._state.parameters.size
    steps = 3 * 18 // 8 + 3  # 3 epochs of batches 8, 8, 2
    assert counts["mixed_float16"]["dispatches"] == counts["float32"]["dispatches"] + 2 * steps
    for name in ("submits", "readbacks", "uploads"):
        assert counts["mixed_float16"][name] == counts["float32"][name], name
    # GPU bytes per parameter with Adam (README, "mixed_float16"): f32 master + f32 gradient +
    # f16 copy + two f32 moments, against float32's 4 + 4 + 8
    assert (counts["float32"]["bytes"], counts["mixed_float16"]["bytes"]) == (16, 18)
    if "shader-f64" in device.features:  # and float64's 8 + 8 + 16 (README's table)
        model = xor_model(device, "float64")
        await model.fit(x, y, TrainingOptions(epochs=1, optimizer="adam", verbose=0))
        moments = model.optimizer.state_for(model._state.parameters)[:2]
        assert model._state.nbytes_per_parameter + sum(
            moment.nbytes for moment in moments) / model._state.parameters.size == 32


async def test_files_keep_the_dtype_master_weights_and_loss_scale(device, tmp_path):
    model = xor_model(device)
    optimizer = Adam(learning_rate=0.01)
    await model.fit(XOR_X, np.full_like(XOR_Y, 6e4), full_batch(1, optimizer))  # scale 2^14
    await model.fit(XOR_X, XOR_Y, full_batch(3, optimizer))
    path, torch_path = tmp_path / "mixed.safetensors", tmp_path / "torch.safetensors"
    model.save(path, include_optimizer=True)
    model.save(torch_path, layout="torch")
    tensors = load_file(path)
    assert {v.dtype for k, v in tensors.items() if "step" not in k} == {np.dtype(np.float32)}
    assert tensors["optimizer.loss_scale"][0] == 2.0**14
    assert {v.dtype for v in load_file(torch_path).values()} == {np.dtype(np.float32)}
    loaded = Model.load(path, device=device)
    assert loaded.dtype == "mixed_float16" and repr(loaded).endswith("dtype='mixed_float16')")
    assert all(np.array_equal(a, b) and a.dtype == np.float32
               for a, b in zip(loaded.get_weights(), model.get_weights()))
    assert np.array_equal(await loaded.predict(XOR_X), await model.predict(XOR_X))
    saved = model.optimizer_state()
    assert all(np.array_equal(value, saved[key])
               for key, value in loaded.optimizer_state().items())
    history = await loaded.fit(XOR_X, XOR_Y, full_batch(1, loaded.optimizer))
    assert history.history["loss_scale"] == [2.0**14]  # resumed, not restarted at 2^15
    torch_model = Model.load(torch_path, device=device)
    assert all(np.array_equal(a, b)
               for a, b in zip(torch_model.get_weights(), model.get_weights()))
    assert model.clone().dtype == "mixed_float16"


async def test_restored_weights_reach_the_f16_copy(device):
    model = xor_model(device)
    await model.predict(XOR_X)
    snapshot = model.snapshot_weights()
    expected = await model.predict(XOR_X)
    await model.fit(XOR_X, XOR_Y, full_batch(5, learning_rate=0.5))
    assert not np.array_equal(await model.predict(XOR_X), expected)
    model.restore_weights(snapshot)
    assert np.array_equal(await model.predict(XOR_X), expected)


async def test_digits_with_adam_reach_95_percent_validation_accuracy(device):
    images, labels = load_digits()  # scikit-learn's, scaled to [0, 1]
    order = np.random.default_rng(0).permutation(len(labels))
    x = images.reshape(len(images), -1)[order]
    y = np.eye(10, dtype=np.float32)[labels[order]]
    model = Model([Dense(64, 64), ReLU(), Dense(64, 10), SoftMax()], device=device, seed=0,
                  dtype="mixed_float16")
    history = await model.fit(x, y, TrainingOptions(
        optimizer=Adam(learning_rate=0.003), loss_algorithm=CategoricalCrossEntropy(),
        epochs=20, batch_size=32, validation_split=0.2, metrics=["accuracy"], seed=0,
        verbose=0))
    assert max(history.history["val_accuracy"]) >= 0.95
    assert sum(history.history["skipped_steps"]) <= 2


async def test_f16_rows_of_odd_width_train_evaluate_and_predict_in_odd_batches(device, rng):
    """One f16 output is 2 bytes a row: batches of 3 start off the 4-byte words buffer copies
    need, so unshuffled training gathers them and evaluation batches become even."""
    x = rng.uniform(size=(9, 3)).astype(np.float32)
    y = rng.uniform(size=(9, 1)).astype(np.float32)
    validation = (rng.uniform(size=(5, 3)), rng.uniform(size=(5, 1)))
    results = {}
    for dtype in ("float32", "mixed_float16"):
        model = Model([Dense(3, 1)], device=device, seed=0, dtype=dtype)
        history = await model.fit(x, y, TrainingOptions(
            epochs=3, batch_size=3, shuffle=False, verbose=0, learning_rate=0.5,
            validation_data=validation))
        results[dtype] = (history.loss + history.history["val_loss"],
                          await model.predict(x, batch_size=3),
                          await model.evaluate(x, y, batch_size=3))
    (losses, predictions, evaluated), (f32_losses, f32_predictions, f32_evaluated) = (
        results["mixed_float16"], results["float32"])
    np.testing.assert_allclose(losses, f32_losses, rtol=1e-2)
    assert predictions.dtype == np.float16
    np.testing.assert_allclose(predictions, f32_predictions, rtol=2e-3, atol=1e-3)
    assert evaluated == pytest.approx(f32_evaluated, rel=1e-2)


async def test_a_layer_reads_and_loads_its_f32_master_weights(device, tmp_path):
    model = xor_model(device)
    await model.predict(XOR_X)
    dense = model.layers[0]
    weights = dense.current_weights()
    assert [w.dtype for w in weights] == [np.float32, np.float32]
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()[:2]))
    other = xor_model(device, seed=1)
    await other.predict(XOR_X)
    for index in (0, 2):
        model.layers[index].save(tmp_path / f"dense{index}.safetensors")
        other.layers[index].load(tmp_path / f"dense{index}.safetensors")
    assert load_file(tmp_path / "dense0.safetensors")["kernel"].dtype == np.float32
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), model.get_weights()))
    # the f16 copies the shaders read were written too: the same predictions, bit for bit
    assert np.array_equal(await other.predict(XOR_X), await model.predict(XOR_X))


async def test_a_live_plot_leaves_the_loss_scale_out_unless_asked(device):
    from intricate.plot import LivePlot

    default, asked = (LivePlot(show="offscreen", device=device),
                      LivePlot(["loss_scale"], show="offscreen", device=device))
    await xor_model(device).fit(XOR_X, XOR_Y, full_batch(2, callbacks=[default, asked]))
    assert list(default.series) == ["loss"] and list(asked.series) == ["loss_scale"]


async def test_callbacks_may_watch_the_loss_scale_of_mixed_models_only(device):
    from intricate.callbacks import EarlyStopping

    watch = EarlyStopping(monitor="skipped_steps", patience=1)
    history = await xor_model(device).fit(XOR_X, XOR_Y, full_batch(5, callbacks=[watch]))
    assert history.history["skipped_steps"] == [0, 0]  # no fewer skips after epoch 0: stopped
    with pytest.raises(ValueError, match=r"EarlyStopping: monitor 'skipped_steps' is not among "
                                         r"the logged values \['loss'\]"):
        await xor_model(device, "float32").fit(XOR_X, XOR_Y, full_batch(5, callbacks=[watch]))


async def test_a_dataset_view_from_an_odd_f16_row_too_large_to_gather_is_refused(device,
                                                                                 monkeypatch):
    """validation_split's held-out part from row 3 of rows 3 f16 wide is gathered into a copy
    (test_mixed_precision_limits), which binds the whole Dataset: one over the adapter's
    binding limit is refused before any GPU work; a split at row 4 is copied as it is."""
    model = Model([Dense(3, 1)], device=device, dtype="mixed_float16")
    await model.upload(np.ones((1, 3)))  # the model's buffers, at the real limit
    monkeypatch.setitem(device.limits, "max-storage-buffer-binding-size", 16)
    data = await model.upload(np.ones((5, 3)), np.ones((5, 1)))  # x: 30 bytes, not bindable
    monkeypatch.undo()
    device.stats.reset()
    with pytest.raises(ValueError, match=r"validation: Dataset\(2 samples, x=3 wide, y=1 wide\) "
                                         r"starts at row 3 of an uploaded Dataset, .* exceeds the "
                                         r"adapter's binding limit"):
        await model.fit(data, options=TrainingOptions(validation_split=0.4, verbose=0,
                                                      shuffle=False))
    assert all(device.stats[name] == 0 for name in ("dispatches", "uploads", "submits"))
    await model.fit(data, options=TrainingOptions(validation_split=0.2, verbose=0,
                                                  shuffle=False))  # row 4


async def test_a_layer_file_beyond_float16_is_refused_by_a_mixed_model(device, tmp_path):
    from intricate import ModelFileError

    big = Model([Dense(2, 1)], device=device, seed=0)
    big.set_weights([np.full((2, 1), 7e4, np.float32), np.zeros(1, np.float32)])
    big.layers[0].save(tmp_path / "big.safetensors")
    model = Model([Dense(2, 1)], device=device, seed=0, dtype="mixed_float16")
    before = model.get_weights()
    await model.predict(XOR_X)
    with pytest.raises(ModelFileError, match=r"holds 70000\.0 at index \(0, 0\), beyond "
                                             r"float16's range"):
        model.layers[0].load(tmp_path / "big.safetensors")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
