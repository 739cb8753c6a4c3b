"""Saving and loading: bit-identical round trips, optimizer state, per-layer files, PyTorch
layout, atomic writes, and every kind of broken or hostile file."""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from intricate import Model, TrainingOptions
from intricate.callbacks import ModelCheckpoint
from intricate.io.files import ModelFileError
from intricate.layers import Dense, ReLU, Sigmoid, SoftMax, TanH

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)

SHAPES = {
    "xor": lambda: [Dense(2, 3), TanH(), Dense(3, 1), TanH()],
    "wide": lambda: [Dense(2, 64), ReLU(), Dense(64, 33), Sigmoid(), Dense(33, 5), SoftMax()],
    "one dense": lambda: [Dense(2, 1)],
}


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_round_trip_predicts_bit_identically(device, tmp_path, name):
    model = Model(SHAPES[name](), device=device, seed=3)
    await model.fit(X, np.zeros((4, model.output_size), np.float32),
                    TrainingOptions(learning_rate=0.1, epochs=3))
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = Model.load(path, device=device)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)
    assert np.array_equal(await model.predict(X), await loaded.predict(X))


async def test_file_layout_names_and_config(device, tmp_path):
    path = tmp_path / "xor.safetensors"
    Model(SHAPES["xor"](), seed=0).save(path)
    assert sorted(load_file(path)) == ["layers.0.bias", "layers.0.kernel", "layers.2.bias",
                                       "layers.2.kernel"]
    header = json.loads(path.read_bytes()[8:8 + struct.unpack("<Q", path.read_bytes()[:8])[0]])
    metadata = header["__metadata__"]
    assert metadata["format"] == "intricate" and metadata["format_version"] == "1"
    config = json.loads(metadata["config"])
    assert config["input_shape"] == [None, 2] and config["dtype"] == "float32"
    assert config["layers"][0] == {"type": "Dense", "config": {
        "inputs": 2, "outputs": 3, "kernel_initializer": {"class": "GlorotUniform", "config": {}},
        "bias_initializer": {"class": "Zeros", "config": {}}}}
    assert [layer["type"] for layer in config["layers"]] == ["Dense", "TanH", "Dense", "TanH"]


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "adamw"])
async def test_optimizer_state_lets_training_resume_exactly(device, tmp_path, optimizer):
    model = Model(SHAPES["xor"](), device=device, seed=0)
    await model.fit(X, Y, TrainingOptions(optimizer=optimizer, learning_rate=0.05, epochs=7))
    path = tmp_path / "resume.safetensors"
    await model.save_async(path, include_optimizer=True)
    loaded = await Model.load_async(path, device=device)
    assert type(loaded.optimizer) is type(model.optimizer)
    for trained in (model, loaded):
        await trained.fit(X, Y, TrainingOptions(optimizer=trained.optimizer, epochs=5))
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)


async def test_saving_the_optimizer_needs_one(tmp_path):
    with pytest.raises(ValueError, match="include_optimizer: this model has no optimizer yet"):
        Model([Dense(2, 1)]).save(tmp_path / "m.safetensors", include_optimizer=True)


async def test_per_layer_save_and_load_like_the_original(device, tmp_path):
    model = Model(SHAPES["xor"](), device=device, seed=0)
    await model.fit(X, Y, TrainingOptions(learning_rate=0.1, epochs=20))
    model.layers[0].save(tmp_path / "xor-model-first-dense.safetensors")
    model.layers[2].save(tmp_path / "xor-model-second-dense.safetensors")
    # The original: dummy layers, load into them, rebuild the model by hand.
    first, second = Dense(2, 3), Dense(3, 1)
    first.load(tmp_path / "xor-model-first-dense.safetensors")
    second.load(tmp_path / "xor-model-second-dense.safetensors")
    rebuilt = Model([first, TanH(), second, TanH()], device=device)
    assert np.array_equal(await rebuilt.predict(X), await model.predict(X))
    built = Dense.from_file(tmp_path / "xor-model-first-dense.safetensors")
    assert (built.input_size, built.output_size) == (2, 3)
    # Loading into a layer already on the GPU updates it there.
    fresh = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=9)
    await fresh.predict(X)
    fresh.layers[0].load(tmp_path / "xor-model-first-dense.safetensors")
    assert np.array_equal(fresh.get_weights()[0], model.get_weights()[0])


def test_loading_a_layer_of_other_sizes_or_type_is_refused(tmp_path):
    path = tmp_path / "dense.safetensors"
    layer = Dense(2, 3)
    Model([layer])
    layer.save(path)
    with pytest.raises(ModelFileError, match=r"holds Dense\(2, 3\) weights \[\(2, 3\), \(3,\)\], "
                                             r"but this layer is Dense\(3, 1\)"):
        Dense(3, 1).load(path)
    with pytest.raises(ModelFileError, match="holds a Dense, not a TanH"):
        TanH.from_file(path)
    with pytest.raises(ModelFileError, match="holds 4 layers; load it with Model.load"):
        Model(SHAPES["xor"]()).save(tmp_path / "model.safetensors")
        Dense(2, 3).load(tmp_path / "model.safetensors")


# Hostile and broken files ----------------------------------------------------------------------
def craft(path, header: dict, data: bytes = b"", header_length: int | None = None) -> None:
    """A safetensors-shaped file with exactly this header (and an optional lying length)."""
    text = json.dumps(header).encode()
    length = len(text) if header_length is None else header_length
    path.write_bytes(struct.pack("<Q", length) + text + data)


def good_header(config=None, **metadata) -> dict:
    config = config or {"layers": [{"type": "Dense", "config": {"inputs": 1, "outputs": 1}}]}
    return {"__metadata__": {"format": "intricate", "format_version": "1",
                             "config": json.dumps(config), **metadata},
            "layers.0.bias": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "layers.0.kernel": {"dtype": "F32", "shape": [1, 1], "data_offsets": [4, 8]}}


def hostile_cases(tmp_path):
    """(name, path, message regex): every way a file can be broken that the issue lists."""
    good = tmp_path / "good.safetensors"
    Model(SHAPES["xor"](), seed=0).save(good)
    raw = good.read_bytes()
    header_end = 8 + struct.unpack("<Q", raw[:8])[0]
    cases = []

    def case(name, message, content=None, header=None, data=b"\0" * 8, length=None):
        path = tmp_path / f"{name.replace(' ', '_')}.safetensors"
        if content is not None:
            path.write_bytes(content)
        else:
            craft(path, header, data, length)
        cases.append((name, path, message))

    case("truncated", "not a valid safetensors file", raw[:-10])
    case("truncated inside the length", "truncated: 5 bytes", raw[:5])
    case("empty", "truncated: 0 bytes", b"")
    for offset in (8, 9, header_end // 2, header_end - 1):  # flipped bytes in the header
        flipped = bytearray(raw)
        flipped[offset] ^= 0xFF
        case(f"flipped header byte {offset}", "not a valid safetensors file", bytes(flipped))
    case("header longer than the file", r"header length 4096 is larger than the file",
         struct.pack("<Q", 4096) + raw[8:200])
    case("oversized header", r"header of 200000000 bytes exceeds the 100000000 byte limit",
         struct.pack("<Q", 200_000_000) + raw[8:])
    overlapping = good_header()
    overlapping["layers.0.kernel"]["data_offsets"] = [2, 6]
    case("overlapping offsets", "not a valid safetensors file", header=overlapping)
    beyond = good_header()
    beyond["layers.0.kernel"]["data_offsets"] = [4, 4000]
    case("out-of-range offsets", "not a valid safetensors file", header=beyond)
    unknown_dtype = good_header()
    unknown_dtype["layers.0.kernel"]["dtype"] = "Q7"
    case("unknown dtype", "not a valid safetensors file", header=unknown_dtype)
    wrong_dtype = good_header()
    wrong_dtype["layers.0.kernel"] = {"dtype": "I32", "shape": [1, 1], "data_offsets": [4, 8]}
    case("integer weights", r"'layers.0.kernel' is int32 \(1, 1\), but the config needs float32",
         header=wrong_dtype)
    case("unknown layer type", r"layers\[0\]: unknown layer type 'Conv3D'",
         header=good_header({"layers": [{"type": "Conv3D", "config": {}}]}))
    case("shapes disagree", r"'layers.0.kernel' is float32 \(1, 1\), but the config needs "
                            r"float32 \(2, 1\)",
         header=good_header({"layers": [{"type": "Dense", "config": {"inputs": 2,
                                                                       "outputs": 1}}]}))
    case("bad layer arguments", r"bad arguments for Dense \(inputs: expected a positive",
         header=good_header({"layers": [{"type": "Dense", "config": {"inputs": -1,
                                                                       "outputs": 1}}]}))
    case("newer format", r"written in format 2 by a newer intricate",
         header=good_header(format_version="2"))
    case("not an intricate file", r"has no intricate model config",
         header={"weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
    case("config not JSON", r"model config is missing or not JSON",
         header=dict(good_header(), __metadata__={"format": "intricate", "format_version": "1",
                                                  "config": "{layers: "}))
    dense = {"type": "Dense", "config": {"inputs": 1, "outputs": 1}}
    case("layer type not a string", r"layers\[0\]: unknown layer type \['Dense'\]",
         header=good_header({"layers": [{"type": ["Dense"], "config": {}}]}))
    case("layer config not an object", r"layers\[0\]: the config of Dense is \[0.5\], expected "
                                       r"a JSON object",
         header=good_header({"layers": [{"type": "Dense", "config": [0.5]}]}))
    case("config nested too deeply", r"not JSON \(nested too deeply\)",
         header=dict(good_header(), __metadata__={"format": "intricate", "format_version": "1",
                                                  "config": "[" * 100_000 + "]" * 100_000}))
    case("optimizer type not a string", r"unknown optimizer",
         header=good_header({"layers": [dense], "optimizer": {"type": ["Adam"]}}))
    case("another dtype", r"holds a 'float16' model; this version reads \['float32', 'float64', "
         r"'mixed_float16'\] models",
         header=good_header({"layers": [dense], "dtype": "float16"}))
    case("dtype not a string", r"holds a \['float32'\] model; this version reads",
         header=good_header({"layers": [dense], "dtype": ["float32"]}))
    case("input shape disagrees", r"layers don't form a model with input_shape \[None, 5\] "
                                  r"\(layers\[0\] Dense\(1, 1\) expects 1 inputs, but the "
                                  r"model's input_shape is \(5,\)",
         header=good_header({"layers": [dense], "input_shape": [None, 5]}))
    extra = good_header()
    extra["layers.0.extra"] = {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}
    case("unexpected tensor", r"unexpected tensors \['layers.0.extra'\]", header=extra,
         data=b"\0" * 12)
    (tmp_path / "a_directory").mkdir()
    cases.append(("a directory", tmp_path / "a_directory", "is a directory"))
    cases.append(("missing path", tmp_path / "missing.safetensors", "no such file"))
    return cases


def test_every_hostile_file_raises_one_clear_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("loading called pickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    cases = hostile_cases(tmp_path)
    assert len(cases) >= 20
    for name, path, message in cases:
        with pytest.raises(ModelFileError, match=message) as raised:
            Model.load(path)
        assert str(path) in str(raised.value), name
        assert isinstance(raised.value, ValueError)
    Model.load(tmp_path / "good.safetensors")  # and pickle-free loading works


# Atomic saves --------------------------------------------------------------------------------
def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    old = Model(SHAPES["xor"](), seed=1)
    old.save(path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        Model(SHAPES["xor"](), seed=2).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no temp left
    with pytest.raises(ModelFileError, match="is a directory; give a file name"):
        old.save(tmp_path)
    with pytest.raises(ModelFileError, match="does not exist; create it first"):
        old.save(tmp_path / "no" / "model.safetensors")


KILLER = """
import sys
import numpy as np
from intricate import Model
from intricate.layers import Dense
path = sys.argv[1]
models = [Model([Dense(200, 300), Dense(300, 40)], seed=seed) for seed in (1, 2)]
print("ready", flush=True)
while True:
    for model in models:
        model.save(path)
"""


@pytest.mark.slow  # 50 child processes: ~13 s
def test_killing_a_save_at_random_moments_leaves_a_whole_file(tmp_path):
    import subprocess
    import sys
    import time

    path = tmp_path / "model.safetensors"
    expected = [Model([Dense(200, 300), Dense(300, 40)], seed=s).get_weights() for s in (1, 2)]
    Model([Dense(200, 300), Dense(300, 40)], seed=1).save(path)
    rng = np.random.default_rng(0)
    kills = interrupted = 0
    for _ in range(50):
        child = subprocess.Popen([sys.executable, "-c", KILLER, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, 0.05))
        child.kill()  # SIGKILL
        child.wait()
        kills += 1
        weights = Model.load(path).get_weights()
        assert any(all(np.array_equal(a, b) for a, b in zip(weights, version))
                   for version in expected)
        # A temporary file left behind shows a kill that landed mid-write (loads never saw it);
        # the next save (the next child's) removes it.
        interrupted += len(list(tmp_path.glob(".model.safetensors.*.tmp")))
    assert kills == 50
    print(f"{interrupted} of 50 kills interrupted a write")
    Model([Dense(200, 300), Dense(300, 40)], seed=1).save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # none stale


async def test_model_checkpoint_saves_through_model_save(device, tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "best.safetensors"), monitor="loss",
                                 save_best_only=True)
    model = Model(SHAPES["xor"](), device=device, seed=0)
    await model.fit(X, Y, TrainingOptions(learning_rate=0.1, epochs=4, callbacks=[checkpoint]))
    assert len(checkpoint.saved) == 4
    loaded = Model.load(tmp_path / "best.safetensors")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert np.array_equal(a, b)


# PyTorch ---------------------------------------------------------------------------------------
async def test_torch_layout_round_trip(device, tmp_path):
    model = Model([Dense(2, 5), ReLU(), Dense(5, 3), SoftMax()], device=device, seed=0)
    path = tmp_path / "torch.safetensors"
    model.save(path, layout="torch")
    tensors = load_file(path)  # what safetensors.torch.load_file would give PyTorch
    assert sorted(tensors) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert tensors["0.weight"].shape == (5, 2)  # PyTorch's [out, in]
    assert np.array_equal(tensors["0.weight"], model.get_weights()[0].T)
    again = Model.from_torch_state_dict(path, [Dense(2, 5), ReLU(), Dense(5, 3), SoftMax()],
                                        device=device)
    assert np.array_equal(await again.predict(X), await model.predict(X))
    assert np.array_equal(await Model.load(path, device=device).predict(X),
                          await model.predict(X))


async def test_from_torch_state_dict_built_by_the_safetensors_numpy_api(device, tmp_path, rng):
    # Keys as nn.Sequential(Linear, ReLU, Linear, ReLU, ..., Linear) names them: 0, 2, ..., 10;
    # safetensors sorts them as text ("10" before "2"), the loader must not.
    sizes = [3, 4, 5, 6, 7, 8, 2]
    state = {}
    for index, (ins, outs) in enumerate(zip(sizes, sizes[1:])):
        state[f"{2 * index}.weight"] = rng.normal(size=(outs, ins)).astype(np.float32)
        state[f"{2 * index}.bias"] = rng.normal(size=outs).astype(np.float32)
    path = tmp_path / "sequential.safetensors"
    save_file(state, path)
    def layers_of(sizes):
        layers = []
        for ins, outs in zip(sizes, sizes[1:]):
            layers += [Dense(ins, outs), ReLU()]
        return layers[:-1]

    model = Model.from_torch_state_dict(path, layers_of(sizes), device=device)
    weights = model.get_weights()
    for index in range(6):
        assert np.array_equal(weights[2 * index], state[f"{2 * index}.weight"].T)
        assert np.array_equal(weights[2 * index + 1], state[f"{2 * index}.bias"])
    x = rng.normal(size=(5, 3)).astype(np.float32)
    hidden = x.astype(np.float64)
    for index in range(6):
        hidden = hidden @ state[f"{2 * index}.weight"].T + state[f"{2 * index}.bias"]
        hidden = np.maximum(hidden, 0) if index < 5 else hidden
    np.testing.assert_allclose(await model.predict(x), hidden, rtol=1e-4, atol=1e-4)
    with pytest.raises(ModelFileError, match=r"0.weight is \(4, 3\) \(PyTorch's layout\) but "
                                             r"Dense\(3, 5\) needs \(5, 3\)"):
        Model.from_torch_state_dict(path, layers_of([3, 5, 5, 6, 7, 8, 2]))
    with pytest.raises(ModelFileError, match=r"holds 6 modules with weights .* for 1 layers with "
                                             r"weights \(\[Dense\(3, 4\)\]\)"):
        Model.from_torch_state_dict(state, [Dense(3, 4)])


async def test_predictions_match_a_real_torch_model(device, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load_file
    from safetensors.torch import save_file as torch_save_file

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    path = tmp_path / "from_torch.safetensors"
    torch_save_file(network.state_dict(), path)
    model = Model.from_torch_state_dict(path, [Dense(4, 8), TanH(), Dense(8, 3)], device=device)
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    want = network(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(await model.predict(x), want, rtol=1e-5, atol=1e-5)
    back = tmp_path / "to_torch.safetensors"
    model.save(back, layout="torch")
    other = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    other.load_state_dict(torch_load_file(back))
    np.testing.assert_allclose(other(torch.from_numpy(x)).detach().numpy(), want, rtol=1e-6)
