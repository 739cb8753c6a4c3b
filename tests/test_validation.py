"""Bad input: a clear ValueError naming the argument, what was expected and what was received,
raised before any GPU work (the device's counters don't move)."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions
from intricate.layers import Dense, SoftMax, TanH

X = np.zeros((4, 2), np.float32)
Y = np.zeros((4, 1), np.float32)
NAN_X = X.copy()
NAN_X[2, 1] = np.nan
INF_Y = Y.copy()
INF_Y[3, 0] = np.inf

BAD_DATA = {  # name: (x, y, message regex)
    "sample counts differ": (X, Y[:3], r"x and y: expected the same number of samples, "
                                       r"received 4 in x and 3 in y"),
    "features != inputs": (np.zeros((4, 3)), Y,
                           r"x: expected 2 features .* received shape \(4, 3\)"),
    "y width != outputs": (X, np.zeros((4, 2)), r"y: expected 1 values .* received shape \(4, 2\)"),
    "empty x": (np.zeros((0, 2)), np.zeros((0, 1)), r"x: expected at least one sample"),
    "1-D x": (np.zeros(2), Y, r"x: expected a 2-D array \[samples, 2\], received shape \(2,\)"),
    "NaN in x": (NAN_X, Y, r"x: expected finite values, received nan at index \(2, 1\)"),
    "inf in y": (X, INF_Y, r"y: expected finite values, received inf at index \(3, 0\)"),
    "strings": (np.array([["a", "b"]] * 4), Y, r"x: expected numbers .* received dtype <U1"),
    "objects": (X, np.array([[None]] * 4), r"y: expected numbers .* received dtype object"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
async def test_bad_data_is_refused_before_gpu_work(device, case):
    x, y, message = BAD_DATA[case]
    model = Model([Dense(2, 3), TanH(), Dense(3, 1)], device=device)
    device.stats.reset()
    with pytest.raises(ValueError, match=message):
        await model.fit(x, y, TrainingOptions(epochs=1))
    assert device.stats["dispatches"] == device.stats["submits"] == device.stats["uploads"] == 0


async def test_predict_checks_its_inputs(device):
    model = Model([Dense(2, 1)], device=device)
    device.stats.reset()
    with pytest.raises(ValueError, match=r"x: expected 2 features"):
        await model.predict(np.zeros((3, 5)))
    assert device.stats["dispatches"] == 0


async def test_one_dimensional_targets_are_accepted_for_one_output(device):
    model = Model([Dense(2, 1)], device=device)
    history = await model.fit(X, np.zeros(4), TrainingOptions(epochs=1))
    assert len(history.loss) == 1


BAD_OPTIONS = {
    "epochs 0": ({"epochs": 0}, r"epochs: expected an integer >= 1, received 0"),
    "epochs 1.5": ({"epochs": 1.5}, r"epochs: expected an integer >= 1, received 1.5"),
    "learning_rate 0": ({"learning_rate": 0}, r"learning_rate: expected a finite number in "
                                              r"\[1.1754944e-38, 3.4028235e\+38\], received 0.0 "
                                              r"\(hyperparameters must fit float32"),
    "learning_rate -1": ({"learning_rate": -1.0}, r"learning_rate: .* received -1.0"),
    "learning_rate nan": ({"learning_rate": float("nan")}, r"learning_rate: .* received nan"),
    "learning_rate inf": ({"learning_rate": float("inf")}, r"learning_rate: .* received inf"),
    "learning_rate text": ({"learning_rate": "0.1"}, r"learning_rate: .* received '0.1'"),
    "unknown loss": ({"loss_algorithm": "hinge"}, r"loss_algorithm: expected a Loss .* 'hinge'"),
    "print not bool": ({"should_print_information": 1}, r"should_print_information: expected "
                                                        r"True or False, received 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_options_are_refused_when_made(case):
    options, message = BAD_OPTIONS[case]
    with pytest.raises(ValueError, match=message):
        TrainingOptions(**options)


def test_loss_names_are_accepted():
    assert type(TrainingOptions(loss_algorithm="mse").loss_algorithm).__name__ == "MeanSquared"
    assert type(TrainingOptions(loss_algorithm="categorical_crossentropy").loss_algorithm
                ).__name__ == "CategoricalCrossEntropy"


def test_layers_that_do_not_chain_are_refused_naming_both():
    with pytest.raises(ValueError, match=r"layers\[1\] Dense\(4, 1\) expects 4 inputs, but "
                                         r"layers\[0\] Dense\(2, 3\) outputs 3"):
        Model([Dense(2, 3), Dense(4, 1)])
    with pytest.raises(ValueError, match=r"layers\[2\] Dense\(5, 1\) expects 5 inputs, but "
                                         r"layers\[1\] TanH\(\) outputs 3"):
        Model([Dense(2, 3), TanH(), Dense(5, 1)])


@pytest.mark.parametrize("layers,message", [
    ([], r"layers: expected at least one layer"),
    ([Dense(2, 3), "tanh"], r"layers\[1\]: expected a Layer .* received 'tanh'"),
    ([TanH(), SoftMax()], r"layers: expected a layer with a known input size"),
])
def test_bad_layer_lists_are_refused(layers, message):
    with pytest.raises(ValueError, match=message):
        Model(layers)


@pytest.mark.parametrize("inputs,outputs,message", [
    (0, 3, r"inputs: expected a positive integer, received 0"),
    (2, 2.5, r"outputs: expected a positive integer, received 2.5"),
    (True, 3, r"inputs: expected a positive integer, received True"),
])
def test_bad_dense_sizes_are_refused(inputs, outputs, message):
    with pytest.raises(ValueError, match=message):
        Dense(inputs, outputs)


async def test_a_model_without_a_device_needs_instantiate_gpu():
    model = Model([Dense(2, 1)])
    with pytest.raises(ValueError, match=r"instantiate_gpu: the model has no device"):
        await model.fit(X, Y, TrainingOptions(instantiate_gpu=False))
    assert model.device is None


def test_device_must_be_an_intricate_device():
    with pytest.raises(ValueError, match=r"device: expected an intricate Device"):
        Model([Dense(2, 1)], device="cuda")


async def test_options_must_be_training_options(device):
    with pytest.raises(ValueError, match=r"options: expected TrainingOptions, received \{"):
        await Model([Dense(2, 1)], device=device).fit(X, Y, {"epochs": 3})
