"""mixed_float16 at its limits (issue 17's final review): the batch predict picks at the
adapter's binding limit, and values beyond float16's range from a torch state dict or a wider
model's weights, refused with the dtypes that would hold them."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, ModelFileError, TrainingOptions
from intricate.engine.state import check_range
from intricate.gpu.dtypes import MIXED_FLOAT16
from intricate.layers import Dense, TanH

from harness import skip_unsupported


@pytest.fixture
def device(device):
    skip_unsupported(device, MIXED_FLOAT16)
    return device


async def test_predicts_default_batch_stays_within_the_binding_limit(device, monkeypatch):
    """predict's default batch is the most rows the adapter binds (4096 bytes // (2 bytes · 9
    hidden) = 227); x rows of 5 f16 start off a 4-byte word at odd rows, so the batch becomes
    even: 226, not 228, whose hidden activations (4104 bytes) the adapter can't bind."""
    monkeypatch.setitem(device.limits, "max-storage-buffer-binding-size", 4096)
    model = Model([Dense(5, 9), TanH(), Dense(9, 1)], device=device, seed=0,
                  dtype="mixed_float16")
    x = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float16)
    predictions = await model.predict(x)
    np.testing.assert_allclose(predictions, await model.predict(x, batch_size=100),
                               rtol=2e-3, atol=1e-3)


async def test_a_torch_state_dict_beyond_float16_is_refused_naming_the_tensor(device):
    state_dict = {"0.weight": np.full((1, 2), 7e4), "0.bias": np.zeros(1)}
    layers = [Dense(2, 1)]
    with pytest.raises(ModelFileError, match=r"state_dict: tensor '0.weight' holds 70000.0 at "
                                             r"index \(0, 0\), beyond float16's range \(the "
                                             r"mixed_float16 model's\); use dtype='float32' or "
                                             r"'float64'"):
        Model.from_torch_state_dict(state_dict, layers, device=device, dtype="mixed_float16")
    Model.from_torch_state_dict(state_dict, layers, device=device)  # float32 holds it


def test_weights_beyond_a_range_suggest_only_wider_dtypes():
    with pytest.raises(ValueError, match=r"beyond float32's range \(the dtype computed in\); "
                                         r"use dtype='float64'$"):
        check_range("w", np.array([1e300]), np.float32)
    with pytest.raises(ValueError, match=r"beyond float16's range \(the dtype computed in\); "
                                         r"use dtype='float32' or 'float64'$"):
        check_range("w", np.array([7e4]), np.float16)


async def test_a_layer_file_beyond_float16_names_the_dtypes_that_hold_it(device, tmp_path):
    """Refused by a mixed model not yet on its device too (it was accepted, and the next
    predict failed on the layer's weights), naming the dtypes that hold 7e4."""
    wide = Model([Dense(2, 1)], device=device, seed=0)
    wide.set_weights([np.full((2, 1), 7e4, np.float32), np.zeros(1, np.float32)])
    wide.layers[0].save(tmp_path / "wide.safetensors")
    model = Model([Dense(2, 1)], device=device, seed=0, dtype="mixed_float16")
    with pytest.raises(ModelFileError, match=r"beyond float16's range \(which the model keeps "
                                             r"it in\); load it into a model of dtype "
                                             r"'float32' or 'float64'"):
        model.layers[0].load(tmp_path / "wide.safetensors")


@pytest.mark.parametrize("batch_size", [None, 3, 4])
async def test_a_dataset_cut_at_an_odd_row_of_odd_width_trains_as_its_arrays(device, batch_size):
    """validation_split's held-out part of 20 samples at 0.35 starts at row 13: f16 rows of 5
    inputs and 3 targets put it 26 and 78 bytes in, off a 4-byte word (refused until its rows
    were gathered into a copy); the logs, evaluate and predict (of a view with targets and of
    one without) equal the same rows as arrays."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 5)).astype(np.float16)
    y = rng.uniform(size=(20, 3)).astype(np.float16)
    options = dict(epochs=2, learning_rate=0.1, loss_algorithm="bce", validation_split=0.35,
                   seed=2, batch_size=batch_size)
    models = [Model([Dense(5, 7), TanH(), Dense(7, 3)], device=device, seed=0,
                    dtype="mixed_float16") for _ in range(2)]
    want = await models[0].fit(x, y, TrainingOptions(**options))
    data = await models[1].upload(x, y)
    got = await models[1].fit(data, options=TrainingOptions(**options))
    assert got.history == want.history  # the same GPU work on the same rows: bit for bit
    held_out = data.rows(13, 7)
    assert await models[1].evaluate(held_out) == await models[0].evaluate(x[13:], y[13:])
    predictions = await models[0].predict(x[13:])
    np.testing.assert_array_equal(await models[1].predict(held_out), predictions)
    inputs_only = (await models[1].upload(x)).rows(13, 7)  # gathered without targets
    np.testing.assert_array_equal(await models[1].predict(inputs_only), predictions)
