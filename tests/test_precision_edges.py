"""float64 at the edges (issue 17's review): values beyond float32's range crossing dtypes, and
float64 results that must not pass through float32 on the way."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from intricate import Model
from intricate.gpu.dtypes import FLOAT64, MIXED_FLOAT16
from intricate.io.files import ModelFileError
from intricate.kernels import check_gradients
from intricate.layers import Dense, Layer
from intricate.optimizers import Adam

from harness import skip_unsupported


async def test_a_float64_layer_file_beyond_float32s_range_is_refused_by_a_float32_model(
        device, tmp_path):
    """A layer file of a float64 model holding 1e300 loads into a float64 model, and a float32
    model refuses it naming the file (it became inf silently), its weights left as they were."""
    skip_unsupported(device, FLOAT64)
    wide = Model([Dense(1, 1)], device=device, dtype="float64")
    wide.set_weights([np.array([[1e300]]), np.array([0.5])])
    path = tmp_path / "dense.safetensors"
    wide.layers[0].save(path)
    narrow = Model([Dense(1, 1)], device=device)
    before = narrow.get_weights()
    with pytest.raises(ModelFileError,
                       match=r"holds 1e\+300 at index \(0, 0\), beyond float32's range"):
        narrow.layers[0].load(path)
    for got, want in zip(narrow.get_weights(), before, strict=True):
        assert np.array_equal(got, want)
    again = Model([Dense(1, 1)], device=device, dtype="float64")
    again.layers[0].load(path)
    assert again.get_weights()[0][0, 0] == 1e300



async def test_a_layer_from_a_float64_file_beyond_float32s_range_is_refused_by_a_float32_model(
        device, tmp_path):
    """Layer.from_file of a float64 model's layer holding 1e300, given to Model(dtype="float32"),
    is refused naming the layer (its weights became inf and every prediction NaN), before the
    layer is claimed: it then joins a float64 model unrounded."""
    skip_unsupported(device, FLOAT64)
    wide = Model([Dense(1, 1)], device=device, dtype="float64")
    wide.set_weights([np.array([[1e300]]), np.array([1 + 2.0**-40])])
    path = tmp_path / "dense.safetensors"
    wide.layers[0].save(path)
    layer = Layer.from_file(path)
    with pytest.raises(ValueError, match=r"layers\[0\] Dense\(1, 1\): its weights\[0\] hold "
                                         r"1e\+300 at index \(0, 0\), beyond float32's range"):
        Model([layer], device=device)
    again = Model([layer], device=device, dtype="float64")
    assert [w[0].item() for w in (w.ravel() for w in again.get_weights())] == [1e300,
                                                                               1 + 2.0**-40]


def write_bfloat16(path, tensors: dict[str, list]) -> None:
    """A safetensors file of BF16 tensors, as ``safetensors.torch.save_file`` writes a
    ``model.bfloat16()`` state dict (the top 16 bits of each float32)."""
    header, data = {}, b""
    for name, values in tensors.items():
        raw = (np.asarray(values, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(np.shape(values)),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
async def test_a_bfloat16_torch_file_loads_exactly(device, tmp_path, dtype):
    """PyTorch's bfloat16 state dicts are valid safetensors files: their values (each exact in
    float32) load into a model of either dtype unchanged (they were refused as 'not a valid
    safetensors file (data type 'bfloat16' not understood)')."""
    if dtype == "float64":
        skip_unsupported(device, FLOAT64)
    path = tmp_path / "bf16.safetensors"
    write_bfloat16(path, {"0.weight": [[1 + 2.0**-7, -3.0e38]], "0.bias": [2.0**-130]})
    model = Model.from_torch_state_dict(path, [Dense(2, 1)], device=device, dtype=dtype)
    kernel, bias = model.get_weights()
    assert kernel.dtype == bias.dtype == np.dtype(dtype)
    want = np.array([[1 + 2.0**-7], [-3.0e38]], np.float32).view(np.uint32) & 0xFFFF0000
    assert np.array_equal(kernel, want.view(np.float32))
    assert bias[0] == 2.0**-130  # a float32 subnormal, exact in bfloat16 too


class BFloat16Tensor:
    """What a torch.bfloat16 tensor offers here (torch isn't installed in CI): ``numpy()``
    raises TypeError("Got unsupported ScalarType BFloat16"), ``float()`` gives float32."""

    dtype = "torch.bfloat16"

    def __init__(self, values):
        self.values = np.asarray(values, np.float32)

    def detach(self):
        return self

    def cpu(self):
        return self

    def float(self):
        return self.values  # float32 (what numpy() of torch's float() returns)

    def numpy(self):
        raise TypeError("Got unsupported ScalarType BFloat16")


async def test_a_bfloat16_state_dict_loads(device):
    """A ``model.bfloat16().state_dict()`` loads (its tensors' numpy() raises TypeError)."""
    state = {"0.weight": BFloat16Tensor([[1.5, -2.0]]), "0.bias": BFloat16Tensor([0.25])}
    model = Model.from_torch_state_dict(state, [Dense(2, 1)], device=device)
    assert [w.ravel().tolist() for w in model.get_weights()] == [[1.5, -2.0], [0.25]]


def test_hyperparameters_beyond_float32_say_so_for_float64_models_too():
    """Hyperparameters are checked against float32's range whatever the model's dtype (they are
    built before any model): the message says so rather than calling float32 'the shaders'
    type', which a float64 model's shaders are not."""
    with pytest.raises(ValueError, match=r"received 1e-300 \(hyperparameters must fit float32 "
                                         r"for models of every dtype, float64 too"):
        Adam(epsilon=1e-300)


async def test_check_gradients_refuses_weights_its_dtype_cannot_hold(device, tmp_path):
    """A layer from a float64 file holding 1e300, checked in float32 (the default outside a
    model), is refused naming the weight; it reported a FAILED check of inf and NaN ('3 of 2
    elements outside') as if the backward were wrong. float64 holds it (the check then runs;
    its differences cancel at 1e300's scale, so it isn't expected to pass)."""
    skip_unsupported(device, FLOAT64)
    wide = Model([Dense(2, 1)], device=device, dtype="float64")
    wide.set_weights([np.array([[1e300], [1.0]]), np.array([0.0])])
    path = tmp_path / "dense.safetensors"
    wide.layers[0].save(path)
    layer = Layer.from_file(path)
    x = np.array([[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"weights\[0\] hold 1e\+300 at index \(0, 0\), "
                                         r"beyond float32's range"):
        await check_gradients(layer, x, device=device)
    report = await check_gradients(layer, x, device=device, dtype="float64")
    assert report.rtol == 1e-6


async def test_check_gradients_in_mixed_float16_refuses_weights_beyond_f16(device):
    """Its layers compute with an f16 copy of the weights: 1e5 (past f16's 65504) is refused
    naming the weight, before any GPU work, though the f32 master would hold it."""
    skip_unsupported(device, MIXED_FLOAT16)
    layer = Dense(2, 1)
    layer.host_weights = [np.array([[1e5], [1.0]], np.float32), np.zeros(1, np.float32)]
    before = dict(device.stats)
    with pytest.raises(ValueError, match=r"weights\[0\] hold 100000.0 at index \(0, 0\), "
                                         r"beyond float16's range"):
        await check_gradients(layer, np.ones((1, 2)), device=device, dtype="mixed_float16")
    assert dict(device.stats) == before


async def test_a_torch_file_beyond_float32s_range_names_its_tensor(device, tmp_path):
    """A float64 torch-layout file holding 1e300, loaded into a float32 model, is refused naming
    the file and the tensor (the message said only 'weights[0]: expected finite values')."""
    skip_unsupported(device, FLOAT64)
    wide = Model([Dense(1, 1)], device=device, dtype="float64")
    wide.set_weights([np.array([[1.0]]), np.array([1e300])])
    path = tmp_path / "torch.safetensors"
    wide.save(path, layout="torch")
    layers = [Dense(1, 1)]
    with pytest.raises(ModelFileError, match=r"torch.safetensors: tensor '0.bias' holds 1e\+300 "
                                             r"at index \(0,\), beyond float32's range"):
        Model.from_torch_state_dict(path, layers, device=device)
    Model(layers, device=device)  # the refusal gave the layers back
