"""Non-trainable layer state (Layer.state_shapes / initial_state / layer.states): kept by the
model on the GPU beside the parameters, written only by the layer's own GPU work (never by an
optimizer, no gradient), listed after each layer's parameters by get_weights / set_weights and
carried by files, clones, snapshots, layer files and PyTorch state dicts; ``program.training``
tells the layer which program it records into."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from intricate import Model, ModelFileError, TrainingOptions
from intricate.gpu import GPUArray, Program
from intricate.layers import Dense, Layer, TanH, register
from intricate.optimizers import AdamW


@register
class StatefulDense(Dense):
    """Dense with two states named as BatchNormalization's (PyTorch's BatchNorm2d names in
    torch files), which no shader writes: they must come back exactly as they were put."""

    torch_names = {**Dense.torch_names, "moving_mean": "running_mean",
                   "moving_variance": "running_var"}

    def state_shapes(self):
        return [("moving_mean", (self.output_size,)), ("moving_variance", (self.output_size,))]

    def initial_state(self):
        return [np.zeros(self.output_size, np.float32), np.ones(self.output_size, np.float32)]


@register
class FirstRowMemory(Layer):
    """Passes its inputs through and, in training programs only, copies the batch's first row
    into its state ``first_row`` (a GPU copy into ``self.states[0]``)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def state_shapes(self):
        return [("first_row", (self.width,))]

    def initial_state(self):
        return [np.full(self.width, -1.0, np.float32)]

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        if program.training:
            program.copy(inputs.view(0, (self.width,)), self.states[0])
        return inputs

    def back_propagate(self, program, grad_outputs, need_grad_inputs=True):
        return grad_outputs

    def get_config(self):
        return {"width": self.width}


X = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], np.float32)
Y = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]], np.float32)


def stateful_model(device, seed=0, dtype="float32"):
    return Model([FirstRowMemory(2), StatefulDense(2, 3), TanH()], device=device, seed=seed,
                 dtype=dtype)


def chosen_weights(model):
    """Distinct values for every weight (states included), in get_weights' order."""
    return [np.arange(w.size, dtype=np.float32).reshape(w.shape) / 8 + index
            for index, w in enumerate(model.get_weights())]


def assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.shape == b.shape and np.array_equal(a, b)


def test_weights_list_parameters_then_states(device):
    model = stateful_model(device)
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(2,), (2, 3), (3,), (3,), (3,)]  # first_row; kernel, bias, mean, var
    initial = model.get_weights()
    assert np.array_equal(initial[0], [-1, -1]) and np.array_equal(initial[3], np.zeros(3))
    assert np.array_equal(initial[4], np.ones(3))
    assert model.count_params() == 2 + 6 + 3 + 6


async def test_set_weights_reach_the_gpu_states(device):
    model = stateful_model(device)
    await model.predict(X)  # on the GPU now
    weights = chosen_weights(model)
    model.set_weights(weights)
    assert_same(model.get_weights(), weights)
    with pytest.raises(ValueError, match=r"expected 5 arrays"):
        model.set_weights(weights[:3])  # the states can't be left out


async def test_training_writes_a_state_evaluation_and_predict_do_not(device):
    model = stateful_model(device)
    await model.predict(X)
    await model.evaluate(X, Y)
    assert np.array_equal(model.get_weights()[0], [-1, -1])  # untouched outside training
    await model.fit(X, Y, TrainingOptions(epochs=1, learning_rate=0.1,
                                          validation_data=(X[::-1], Y[::-1])))
    assert np.array_equal(model.get_weights()[0], X[0])  # the training batch's, not validation's


async def test_optimizer_with_weight_decay_leaves_states_untouched(device):
    model = stateful_model(device)
    weights = chosen_weights(model)
    model.set_weights(weights)
    await model.fit(X, Y, TrainingOptions(epochs=3, optimizer=AdamW(learning_rate=0.1,
                                                                   weight_decay=0.5)))
    after = model.get_weights()
    assert np.array_equal(after[0], X[0])  # written by the layer's copy
    assert_same(after[3:], weights[3:])  # moving statistics: no optimizer, no decay
    assert not np.array_equal(after[1], weights[1])  # the kernel did train


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
async def test_states_are_views_of_one_buffer_in_the_parameter_type(device, dtype):
    model = stateful_model(device, dtype=dtype)
    await model.predict(X)
    layer = model.layers[1]
    assert [view.dtype for view in layer.states] == [np.float32] * 2  # f32 masters, no copy
    assert layer.states[0].buffer is model._state.states.buffer
    assert all(view.buffer is not model._state.parameters.buffer for view in layer.states)
    assert model.layers[2].states == []


async def test_snapshot_and_restore_carry_states(device):
    model = stateful_model(device)
    weights = chosen_weights(model)
    model.set_weights(weights)
    await model.predict(X)  # on the GPU: snapshots are GPU copies
    snapshot = model.snapshot_weights()
    await model.fit(X, Y, TrainingOptions(epochs=2, learning_rate=0.5))
    model.set_weights([w + 7 for w in weights])  # the states too
    model.restore_weights(snapshot)
    assert_same(model.get_weights(), weights)


async def test_clone_save_load_and_layer_files_carry_states(device, tmp_path):
    model = stateful_model(device)
    weights = chosen_weights(model)
    model.set_weights(weights)
    await model.predict(X)
    assert_same(model.clone().get_weights(), weights)
    path = tmp_path / "model.safetensors"
    model.save(path)
    assert {"layers.0.first_row", "layers.1.moving_mean", "layers.1.moving_variance"} <= set(
        load_file(path))
    loaded = Model.load(path, device=device)
    assert_same(loaded.get_weights(), weights)
    assert np.array_equal(await loaded.predict(X), await model.predict(X))
    layer_path = tmp_path / "layer.safetensors"
    model.layers[1].save(layer_path)
    other = stateful_model(device, seed=5)
    await other.predict(X)
    other.layers[1].load(layer_path)  # into a layer on the GPU
    assert_same(other.get_weights()[1:], weights[1:])
    assert_same(StatefulDense.from_file(layer_path).host_weights, weights[1:])


async def test_torch_layout_names_states_as_pytorch(device, tmp_path):
    model = stateful_model(device)
    weights = chosen_weights(model)
    model.set_weights(weights)
    path = tmp_path / "torch.safetensors"
    model.save(path, layout="torch")
    tensors = load_file(path)
    assert np.array_equal(tensors["1.running_mean"], weights[3])
    assert np.array_equal(tensors["1.running_var"], weights[4])
    assert np.array_equal(tensors["1.weight"], weights[1].T)
    assert_same(Model.load(path, device=device).get_weights(), weights)


def torch_state(weights):
    """A PyTorch-style state dict of stateful_model's weights (num_batches_tracked included,
    as BatchNorm2d's state_dict() holds it)."""
    return {"0.first_row": weights[0], "1.weight": weights[1].T.copy(), "1.bias": weights[2],
            "1.running_mean": weights[3], "1.running_var": weights[4],
            "1.num_batches_tracked": np.array(12, np.int64)}


async def test_torch_state_dict_loads_states(device, tmp_path):
    weights = chosen_weights(stateful_model(device))
    layers = [FirstRowMemory(2), StatefulDense(2, 3), TanH()]
    model = Model.from_torch_state_dict(torch_state(weights), layers, device=device)
    assert_same(model.get_weights(), weights)
    path = tmp_path / "torch.safetensors"
    save_file(torch_state(weights), path)
    assert_same(Model.from_torch_state_dict(path, [FirstRowMemory(2), StatefulDense(2, 3)],
                                            device=device).get_weights(), weights)
    state = torch_state(weights)
    del state["1.running_var"]
    with pytest.raises(ModelFileError, match=r"1.running_var is missing .* but Dense\(2, 3\) "
                                             r"needs \(3,\)"):
        Model.from_torch_state_dict(state, [FirstRowMemory(2), StatefulDense(2, 3)])
    state = torch_state(weights) | {"1.extra": np.zeros(3, np.float32)}
    with pytest.raises(ModelFileError, match=r"1 holds \['extra'\], which Dense\(2, 3\) has no "
                                             "weight for"):
        Model.from_torch_state_dict(state, [FirstRowMemory(2), StatefulDense(2, 3)])


async def test_batch_normalization_states_in_files_state_dicts_and_summary(device, tmp_path):
    from intricate.layers import BatchNormalization, Flatten

    def layers():
        return [BatchNormalization(), Flatten(), Dense(12, 2)]

    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 2, 3, 2)).astype(np.float32)
    model = Model(layers(), device=device, seed=1, input_shape=(2, 3, 2))
    await model.fit(x, rng.normal(size=(6, 2)), TrainingOptions(epochs=2, learning_rate=0.1))
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(2,), (2,), (2,), (2,), (12, 2), (2,)]
    assert not np.array_equal(weights[2], np.zeros(2))  # moving_mean moved in training
    text = model.summary()
    assert "Trainable params: 30" in text and "Non-trainable params: 4" in text
    path = tmp_path / "bn.safetensors"
    model.save(path)
    loaded = Model.load(path, device=device)
    assert_same(loaded.get_weights(), weights)
    assert np.array_equal(await loaded.predict(x), await model.predict(x))
    torch_path = tmp_path / "bn_torch.safetensors"
    model.save(torch_path, layout="torch")
    tensors = load_file(torch_path)
    assert np.array_equal(tensors["0.running_var"], weights[3])
    first = {key: value for key, value in tensors.items() if key.startswith("0.")}
    state = first | {"0.num_batches_tracked": np.array(2, np.int64)} | tensors
    again = Model.from_torch_state_dict(state, layers(), device=device, input_shape=(2, 3, 2))
    assert_same(again.get_weights(), weights)


def test_mixed_float16_states_are_not_held_to_float16s_range(device):
    model = stateful_model(device, dtype="mixed_float16")
    weights = chosen_weights(model)
    weights[4] = np.full(3, 1e6, np.float32)  # a moving variance past f16's 65504: kept in f32
    model.set_weights(weights)
    assert np.array_equal(model.get_weights()[4], weights[4])
    weights[1] = np.full((2, 3), 1e6, np.float32)  # a kernel is copied to f16: refused
    with pytest.raises(ValueError, match=r"weights\[1\]: expected finite values \(within "
                                         r"float16's range"):
        model.set_weights(weights)


async def test_optimizer_files_of_a_model_with_states(device, tmp_path):
    model = stateful_model(device)
    await model.fit(X, Y, TrainingOptions(epochs=2, optimizer="adam"))
    path = tmp_path / "resume.safetensors"
    model.save(path, include_optimizer=True)
    loaded = Model.load(path, device=device)
    assert_same(loaded.get_weights(), model.get_weights())
    saved = model.optimizer_state()
    assert sorted(saved) == sorted(loaded.optimizer_state())  # moments of parameters only
    assert not any("moving" in key or "first_row" in key for key in saved)
    for key, value in saved.items():
        assert np.array_equal(loaded.optimizer_state()[key], value)
