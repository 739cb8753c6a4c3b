"""Hostile edges of BatchNormalization and Dropout: PyTorch's BatchNorm (affine: weight and bias
both, always) reading a torch-layout file of a layer with center or scale off, and back."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, ModelFileError
from intricate.io.files import read
from intricate.layers import BatchNormalization, Dense, Flatten

from harness import assert_close


def affine_model(device, **flags):
    """Dense(3, 4) → BatchNormalization(**flags) → Dense(4, 2), its moving statistics moved."""
    model = Model([Dense(3, 4), BatchNormalization(**flags), Dense(4, 2)], device=device, seed=0)
    weights = model.get_weights()
    rng = np.random.default_rng(5)
    for index in range(2, len(weights) - 2):  # gamma/beta (those kept), the moving statistics
        weights[index] = rng.uniform(0.5, 2.0, weights[index].shape).astype(np.float32)
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("flags, constant", [({"center": False}, ("1.bias", 0.0)),
                                             ({"scale": False}, ("1.weight", 1.0))])
async def test_a_torch_file_holds_the_affine_tensor_a_flag_turns_off(device, rng, tmp_path, flags,
                                                                      constant):
    """PyTorch's affine BatchNorm has both weight and bias: the torch layout writes the one the
    layer keeps fixed (bias 0 or weight 1), so a strict load_state_dict takes the file; the
    file loads back, and a state dict holding that constant loads into the layer."""
    model = affine_model(device, **flags)
    path = tmp_path / "model.safetensors"
    model.save(path, layout="torch")
    tensors, _ = read(path)
    name, value = constant
    assert np.array_equal(tensors[name], np.full(4, value, np.float32))
    loaded = Model.load(path, device=device)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    want = await model.predict(x)
    assert np.array_equal(await loaded.predict(x), want)
    again = Model.from_torch_state_dict(tensors, [Dense(3, 4), BatchNormalization(**flags),
                                                  Dense(4, 2)], device=device)
    assert np.array_equal(await again.predict(x), want)
    changed = dict(tensors, **{name: np.full(4, value + 0.5, np.float32)})  # not the constant
    with pytest.raises(ModelFileError, match=name.split(".")[1]):
        Model.from_torch_state_dict(changed, [Dense(3, 4), BatchNormalization(**flags),
                                              Dense(4, 2)], device=device)


async def test_pytorch_loads_the_torch_file_strictly_and_predicts_the_same(device, rng, tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    for flags in ({"center": False}, {"scale": False}, {"center": False, "scale": False}):
        model = affine_model(device, **flags)
        path = tmp_path / "model.safetensors"
        model.save(path, layout="torch")
        affine = flags != {"center": False, "scale": False}
        network = torch.nn.Sequential(torch.nn.Linear(3, 4),
                                      torch.nn.BatchNorm1d(4, eps=1e-3, affine=affine),
                                      torch.nn.Linear(4, 2))
        network.load_state_dict(safetensors_torch.load_file(path))  # strict: every key
        network.eval()
        x = rng.normal(size=(5, 3)).astype(np.float32)
        got = network(torch.from_numpy(x)).detach().numpy()
        assert_close(got, await model.predict(x), 1e-5)


async def test_an_older_torch_file_without_the_constant_still_loads(device, rng, tmp_path):
    """Files written before the constant was: the tensor is optional on load."""
    from safetensors.numpy import save_file

    model = affine_model(device, center=False)
    path = tmp_path / "model.safetensors"
    model.save(path, layout="torch")
    tensors, metadata = read(path)
    del tensors["1.bias"]
    save_file(tensors, path, metadata=metadata)
    loaded = Model.load(path, device=device)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    assert np.array_equal(await loaded.predict(x), await model.predict(x))


def test_keras_axis_argument_names_the_last_axis_only():
    """Keras' axis=-1 (its default) or the last axis counted with the batch's (3 for NHWC
    images) is taken; any other axis (PyTorch's channels-first habit, axis=1) is refused by
    Model (before any GPU work) with what to do, as is a non-integer axis at construction."""
    assert BatchNormalization(axis=-1).get_config()["axis"] == -1
    model = Model([BatchNormalization(axis=3), Flatten(), Dense(40, 1)], input_shape=(4, 5, 2),
                  seed=0)
    assert model.layers[0].channels == 2
    with pytest.raises(ValueError, match=r"axis=1.*last axis.*\(None, 4, 5, 2\).*NHWC"):
        Model([BatchNormalization(axis=1), Flatten(), Dense(40, 1)], input_shape=(4, 5, 2), seed=0)
    with pytest.raises(ValueError, match=r"axis=2.*\(None, 3\)"):
        Model([BatchNormalization(axis=2), Dense(3, 1)], input_shape=(3,), seed=0)
    for axis in ("channels", True, 1.5, [1, 2], None):
        with pytest.raises(ValueError, match="axis: expected"):
            BatchNormalization(axis=axis)


async def test_a_layer_file_loads_between_axis_minus_one_and_the_last_axis(device, rng,
                                                                         tmp_path):
    """axis=-1 and axis=3 name one axis of NHWC images: a layer file of one loads into the
    other (settings compare them as the same), another axis's file is refused."""
    model = Model([BatchNormalization(), Flatten(), Dense(40, 1)], device=device, seed=0,
                  input_shape=(4, 5, 2))
    weights = model.get_weights()
    weights[:4] = [rng.uniform(0.5, 2.0, 2).astype(np.float32) for _ in range(4)]
    model.set_weights(weights)
    model.layers[0].save(tmp_path / "last.safetensors")
    other = Model([BatchNormalization(axis=3), Flatten(), Dense(40, 1)], device=device, seed=1,
                  input_shape=(4, 5, 2))
    other.layers[0].load(tmp_path / "last.safetensors")
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights()[:4], weights[:4]))
    other.layers[0].save(tmp_path / "three.safetensors")
    model.layers[0].load(tmp_path / "three.safetensors")
    with pytest.raises(ModelFileError, match="momentum"):
        Model([BatchNormalization(momentum=0.5), Flatten(), Dense(40, 1)], device=device,
              input_shape=(4, 5, 2)).layers[0].load(tmp_path / "three.safetensors")


async def test_validation_uses_no_dropout_and_the_moving_statistics(device, rng):
    """A fit's validation runs the inference forward: Dropout passes inputs on and
    BatchNormalization takes the moving statistics, so the last epoch's val_loss is exactly
    evaluate's in the same batches (twice the same), while the training loss saw dropped units."""
    from intricate import TrainingOptions
    from intricate.layers import Dropout, ReLU

    x = rng.normal(1.0, 2.0, (12, 3)).astype(np.float32)
    y = rng.normal(size=(12, 1)).astype(np.float32)
    model = Model([Dense(3, 16), BatchNormalization(momentum=0.5), ReLU(), Dropout(0.9),
                   Dense(16, 1)], device=device, seed=0)
    history = await model.fit(x, y, TrainingOptions(learning_rate=1e-30, epochs=2, batch_size=4,
                                                    loss_algorithm="mse",
                                                    validation_data=(x, y)))
    evaluated = await model.evaluate(x, y, batch_size=4)  # validation's batches: its sums
    assert history.history["val_loss"][-1] == evaluated == await model.evaluate(x, y,
                                                                                batch_size=4)
    predicted = (await model.predict(x)).astype(np.float64)
    assert_close(evaluated, ((predicted - y) ** 2).mean(), 1e-5)
    assert abs(history.loss[-1] - evaluated) > 0.01 * evaluated  # the training loss dropped


async def test_batch_norm_after_dense_trains_as_pytorch_batchnorm1d_over_an_epoch(device, rng):
    """Linear → BatchNorm1d(momentum = 1 - Keras') → Linear, three SGD steps of batches 5, 5
    and a last partial one of 2, in float64: the same weights and running mean (PyTorch's
    running_var takes the unbiased batch variance, Keras' the biased: not compared)."""
    torch = pytest.importorskip("torch")
    from intricate import TrainingOptions

    momentum, learning_rate = 0.8, 0.1
    x, y = rng.normal(2.0, 3.0, (12, 3)), rng.normal(size=(12, 2))
    network = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(
        4, eps=1e-3, momentum=1 - momentum), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        network[1].weight.uniform_(0.5, 2.0)
        network[1].bias.normal_()
    model = Model.from_torch_state_dict(network.state_dict(), [
        Dense(3, 4), BatchNormalization(momentum=momentum), Dense(4, 2)], device=device,
        dtype="float64")
    await model.fit(x, y, TrainingOptions(learning_rate=learning_rate, epochs=1, batch_size=5,
                                          shuffle=False, loss_algorithm="mse"))
    for start in range(0, 12, 5):  # SGD by hand: torch.optim imports triton, which crashes
        network.zero_grad()         # beside lavapipe's LLVM
        batch = torch.from_numpy(x[start:start + 5])
        torch.nn.functional.mse_loss(network(batch), torch.from_numpy(y[start:start + 5])
                                     ).backward()
        with torch.no_grad():
            for parameter in network.parameters():
                parameter -= learning_rate * parameter.grad
    kernel, bias, gamma, beta, moving_mean, _, kernel2, bias2 = model.get_weights()
    for got, want in ((kernel, network[0].weight.T), (bias, network[0].bias),
                      (gamma, network[1].weight), (beta, network[1].bias),
                      (moving_mean, network[1].running_mean), (kernel2, network[2].weight.T),
                      (bias2, network[2].bias)):
        assert_close(got, want.detach().numpy(), 1e-9)


def test_a_state_dict_without_running_statistics_says_how_to_keep_them():
    """BatchNorm1d(track_running_stats=False) keeps weight and bias alone: refused, saying so."""
    state = {"0.weight": np.ones((4, 3)), "0.bias": np.zeros(4), "1.weight": np.ones(4),
             "1.bias": np.zeros(4), "2.weight": np.ones((2, 4)), "2.bias": np.zeros(2)}
    with pytest.raises(ModelFileError, match="1.running_mean is missing.*track_running_stats"):
        Model.from_torch_state_dict(state, [Dense(3, 4), BatchNormalization(), Dense(4, 2)])


@pytest.mark.parametrize("momentum", [0.0, 1.0])
async def test_momentum_zero_and_one_with_a_constant_channel_and_a_last_batch_of_one(device,
                                                                                     rng, momentum):
    """momentum 0: the moving statistics are the last batch's (here a partial batch of one
    sample: its values, variance 0); momentum 1: they never move. A constant channel (variance
    0) normalises to beta, finite, and its gradient flows as 0."""
    from intricate import TrainingOptions

    x = rng.normal(size=(9, 3)).astype(np.float32)
    x[:, 1] = 3.0  # a constant channel
    y = rng.normal(size=(9, 1)).astype(np.float32)
    model = Model([BatchNormalization(momentum=momentum), Dense(3, 1)], device=device, seed=0)
    history = await model.fit(x, y, TrainingOptions(learning_rate=0.1, epochs=1, batch_size=4,
                                                    shuffle=False, loss_algorithm="mse"))
    gamma, beta, moving_mean, moving_variance, _, _ = model.get_weights()
    assert np.isfinite(history.loss).all()
    if momentum == 0.0:
        assert np.array_equal(moving_mean, x[8]) and np.array_equal(moving_variance, np.zeros(3))
    else:
        assert np.array_equal(moving_mean, np.zeros(3)) and np.array_equal(moving_variance,
                                                                          np.ones(3))
    assert gamma[1] == 1.0  # the constant channel's x̂ is 0: no gradient for its gamma
    predictions = await model.predict(x)
    assert np.isfinite(predictions).all()
