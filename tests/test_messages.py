"""Error messages name the argument and say what is wrong (issue 12 item 20)."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions
from intricate.callbacks import EarlyStopping, ModelCheckpoint
from intricate.layers import Dense, TanH

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def model_on(device) -> Model:
    return Model([Dense(2, 3), TanH(), Dense(3, 1)], device=device, seed=0)


@pytest.mark.parametrize("argument", ["x", "y"])
async def test_ragged_lists_name_the_argument(device, argument):
    data = {"x": [[0, 0], [0, 1], [1], [1, 1]], "y": [[0], [1], [1], [0]]}
    if argument == "y":
        data = {"x": X, "y": [[0], [1, 1], [1], [0]]}
    with pytest.raises(ValueError, match=rf"^{argument}: expected a rectangular 2-D array.*"
                                         r"ragged.*lengths \[1, 2\]"):
        await model_on(device).fit(data["x"], data["y"])


async def test_values_beyond_float32_are_reported_as_overflow_not_inf(device):
    x = X.astype(np.float64)
    x[2, 1] = 1e300
    with pytest.raises(ValueError, match=r"x: .*float32.*received 1e\+300 at index \(2, 1\).*"
                                         "overflows"):
        await model_on(device).fit(x, Y)


@pytest.mark.parametrize("seed", ["abc", 1.5, -1, True])
def test_a_bad_seed_is_named_and_leaves_the_layers_free(seed):
    layers = [Dense(2, 1)]
    with pytest.raises(ValueError, match=r"seed: expected None or a non-negative integer"):
        Model(layers, seed=seed)
    Model(layers, seed=0)  # still free


@pytest.mark.parametrize("hook", [EarlyStopping(monitor="val_los"),
                                  EarlyStopping(monitor="val_loss"),  # no validation data
                                  ModelCheckpoint("unused.safetensors", monitor="acc",
                                                  save_best_only=True)])
async def test_an_unknown_monitor_is_refused_before_the_first_step(device, hook):
    model = model_on(device)
    await model.predict(X)
    device.stats.reset()
    with pytest.raises(ValueError, match=r"monitor '.*' is not among the logged values "
                                         r"\['loss'\]"):
        await model.fit(X, Y, TrainingOptions(epochs=3, callbacks=[hook]))
    assert device.stats["dispatches"] == device.stats["submits"] == 0
