"""Which nn.Linear feeds which Dense (issue 12 item 7): a dict's order, a file's module indices,
else an explicit ``order``; ambiguity is refused, never guessed. No GPU: host weights only."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from intricate import Model
from intricate.io.files import ModelFileError
from intricate.layers import Dense, TanH


def linear(rng, outs: int, ins: int) -> tuple[np.ndarray, np.ndarray]:
    return (rng.normal(size=(outs, ins)).astype(np.float32),
            rng.normal(size=outs).astype(np.float32))


def named_sequential(rng) -> dict[str, np.ndarray]:
    """nn.Sequential(OrderedDict(fc=Linear(4, 4), act=Tanh(), classifier=Linear(4, 4))): square,
    so loading the layers swapped passes every shape check."""
    state = {}
    for module in ("fc", "classifier"):
        state[f"{module}.weight"], state[f"{module}.bias"] = linear(rng, 4, 4)
    return state


def square_layers() -> list:
    return [Dense(4, 4), TanH(), Dense(4, 4)]


def assert_fed_in_order(model: Model, state: dict, modules: list[str]) -> None:
    weights = model.get_weights()
    for index, module in enumerate(modules):
        assert np.array_equal(weights[2 * index], state[f"{module}.weight"].T), module
        assert np.array_equal(weights[2 * index + 1], state[f"{module}.bias"]), module


def test_a_named_sequential_dict_keeps_its_order(rng):
    state = named_sequential(rng)
    assert_fed_in_order(Model.from_torch_state_dict(state, square_layers()), state,
                        ["fc", "classifier"])
    assert_fed_in_order(Model.from_torch_state_dict(state, square_layers(),
                                                    order=["classifier", "fc"]),
                        state, ["classifier", "fc"])


def test_a_named_sequential_file_needs_an_order(rng, tmp_path):
    state = named_sequential(rng)
    path = tmp_path / "named.safetensors"
    save_file(state, path)  # safetensors stores names sorted: classifier before fc
    with pytest.raises(ModelFileError, match=r"named.safetensors: Linear modules \['classifier', "
                                             r"'fc'\] carry no distinct numeric index .* pass "
                                             r"order=\[...\]"):
        Model.from_torch_state_dict(path, square_layers())
    assert_fed_in_order(Model.from_torch_state_dict(path, square_layers(),
                                                    order=["fc", "classifier"]),
                        state, ["fc", "classifier"])
    for wrong in (["fc"], ["fc", "fc"], ["fc", "head"]):
        with pytest.raises(ModelFileError, match=r"must name each Linear module once"):
            Model.from_torch_state_dict(path, square_layers(), order=wrong)
    with pytest.raises(ValueError, match="order: expected a list of module names"):
        Model.from_torch_state_dict(path, square_layers(), order="fc")


@pytest.mark.parametrize("prefix", ["", "net.", "model.body."])
def test_a_file_orders_modules_by_their_index_not_as_text(rng, tmp_path, prefix):
    state = {}
    for index in (0, 2, 10):  # as text: "0" < "10" < "2"
        state[f"{prefix}{index}.weight"], state[f"{prefix}{index}.bias"] = linear(rng, 4, 4)
    path = tmp_path / "indexed.safetensors"
    save_file(state, path)
    layers = [Dense(4, 4), TanH(), Dense(4, 4), TanH(), Dense(4, 4)]
    assert_fed_in_order(Model.from_torch_state_dict(path, layers), state,
                        [f"{prefix}{index}" for index in (0, 2, 10)])


def test_a_dict_whose_order_disagrees_with_its_indices_is_refused(rng, tmp_path):
    state = {}
    for index in (0, 2, 10):
        state[f"{index}.weight"], state[f"{index}.bias"] = linear(rng, 4, 4)
    save_file(state, tmp_path / "indexed.safetensors")
    sorted_as_text = load_file(tmp_path / "indexed.safetensors")  # "0", "10", "2"
    assert list(sorted_as_text)[::2] == ["0.bias", "10.bias", "2.bias"]
    layers = [Dense(4, 4), TanH(), Dense(4, 4), TanH(), Dense(4, 4)]
    with pytest.raises(ModelFileError, match=r"state_dict: the dict lists its Linear modules as "
                                             r"\['0', '10', '2'\], but their indices say "
                                             r"\['0', '2', '10'\]"):
        Model.from_torch_state_dict(sorted_as_text, layers)
    assert_fed_in_order(Model.from_torch_state_dict(sorted_as_text, layers,
                                                    order=["0", "2", "10"]),
                        state, ["0", "2", "10"])


def test_mixed_names_in_a_file_are_refused(rng, tmp_path):
    state = {}
    for module in ("features.0", "features.2", "classifier"):
        state[f"{module}.weight"], state[f"{module}.bias"] = linear(rng, 4, 4)
    save_file(state, tmp_path / "mixed.safetensors")
    layers = [Dense(4, 4), TanH(), Dense(4, 4), TanH(), Dense(4, 4)]
    with pytest.raises(ModelFileError, match="carry no distinct numeric index"):
        Model.from_torch_state_dict(tmp_path / "mixed.safetensors", layers)


def test_non_finite_state_dicts_are_model_file_errors(rng):
    state = named_sequential(rng)
    state["classifier.bias"][1] = np.nan
    with pytest.raises(ModelFileError, match=r"state_dict: tensor 'classifier.bias' holds NaN"):
        Model.from_torch_state_dict(state, square_layers())


def test_a_dict_whose_modules_interleave_is_refused():
    """Each module's place is its keys' place: with one module's keys split around another's,
    the dict's order says nothing (classifier.bias first made classifier the first Dense)."""
    rng = np.random.default_rng(0)
    state = {"classifier.bias": rng.normal(size=3).astype(np.float32),
             "fc.weight": rng.normal(size=(4, 2)).astype(np.float32),
             "fc.bias": rng.normal(size=4).astype(np.float32),
             "classifier.weight": rng.normal(size=(3, 4)).astype(np.float32)}
    with pytest.raises(ModelFileError, match="classifier's tensors are not together"):
        Model.from_torch_state_dict(state, layers=[Dense(2, 4), TanH(), Dense(4, 3)])
    model = Model.from_torch_state_dict(state, layers=[Dense(2, 4), TanH(), Dense(4, 3)],
                                        order=(name for name in ["fc", "classifier"]))
    assert np.array_equal(model.get_weights()[0], state["fc.weight"].T)
