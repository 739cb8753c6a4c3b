"""Conv2D against oracles independent of the layer's own geometry: PyTorch's conv2d (float64, on
the CPU; TensorFlow's uneven 'same' as an explicit pad) over random geometries; the five
fusable activations above and below it through split K; and every tiled GEMM configuration a
GPU's tuner may pick (the lavapipe tests otherwise run only the CPU tiles) in every dtype."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_conv2d import assert_conv, conv_arrays, run_conv, take_kernel, want_conv

from intricate.gpu.dtypes import FLOAT64
from intricate.layers import ELU, GELU, LeakyReLU, ReLU, SiLU
from intricate.layers.conv2d import Conv2D
from intricate.ops import loops
from intricate.ops.gemm import CONFIGS
from intricate.ops.gemm import tiled as gemm
from intricate.ops.gemm.configs import DTYPE_CONFIGS

import reference
from harness import ALL_PRECISIONS, gradient_rtol, skip_unsupported


def random_geometries(count: int, seed: int = 15) -> list:
    """(layer arguments, per-sample input shape, batch) that build: kernels 1-4, strides 1-3,
    dilations 1-2, any padding kind, odd channel counts, images down to the kernel's span."""
    rng, cases = np.random.default_rng(seed), []
    while len(cases) < count:
        kernel, strides, dilation = (tuple(int(v) for v in rng.integers(low, high, 2))
                                     for low, high in ((1, 5), (1, 4), (1, 3)))
        padding = ["same", "valid", int(rng.integers(0, 3)),  # each kind in turn
                   tuple(int(v) for v in rng.integers(0, 3, 2))][len(cases) % 4]
        channels = tuple(int(v) for v in rng.integers(1, 8, 2))
        size = tuple(int(v) for v in rng.integers(1, 10, 2))
        if rng.random() < 0.2:  # the kernel's span exactly
            size = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
        arguments = dict(in_channels=channels[0], out_channels=channels[1], kernel_size=kernel,
                         strides=strides, padding=padding, dilation=dilation,
                         use_bias=bool(rng.random() < 0.8))
        try:
            Conv2D(**arguments).build((*size, channels[0]))
        except ValueError:
            continue  # the image is smaller than the dilated kernel
        cases.append(pytest.param(arguments, (*size, channels[0]), int(rng.integers(1, 4)),
                                  id=f"case{len(cases)}"))
    return cases


def keras_pads(layer: Conv2D) -> list[int]:
    """F.pad's (left, right, top, bottom) for ``layer``, worked out here: TensorFlow's 'same'
    pads max((ceil(in / s) - 1)·s + span - in, 0), the odd pixel at the bottom/right."""
    pads = []
    for axis in (1, 0):
        size, stride = layer.input_shape[axis], layer.strides[axis]
        span = (layer.kernel_size[axis] - 1) * layer.dilation[axis] + 1
        if layer.padding == "same":
            total = max((-(-size // stride) - 1) * stride + span - size, 0)
            pads += [total // 2, total - total // 2]
        else:
            pads += [0, 0] if layer.padding == "valid" else [layer.padding[axis]] * 2
    return pads


def torch_conv(torch, layer: Conv2D, values: dict) -> tuple:
    """PyTorch's y, dX, dW, db of ``layer`` in our layouts: NHWC ↔ NCHW, [kh, kw, in, out] ↔
    [out, in, kh, kw]; the padding applied by F.pad (``keras_pads``)."""
    functional = torch.nn.functional

    def tensor(array, axes):
        return torch.tensor(np.ascontiguousarray(array.transpose(axes)), requires_grad=True)

    x, kernel = tensor(values["x"], (0, 3, 1, 2)), tensor(values["kernel"], (3, 2, 0, 1))
    bias = torch.tensor(values["bias"], requires_grad=True) if layer.use_bias else None
    y = functional.conv2d(functional.pad(x, keras_pads(layer)), kernel, bias,
                          stride=layer.strides, dilation=layer.dilation)
    y.backward(torch.tensor(np.ascontiguousarray(values["dy"].transpose(0, 3, 1, 2))))
    return (y.detach().numpy().transpose(0, 2, 3, 1), x.grad.numpy().transpose(0, 2, 3, 1),
            kernel.grad.numpy().transpose(2, 3, 1, 0),
            None if bias is None else bias.grad.numpy())


@pytest.mark.parametrize("arguments,shape,batch", random_geometries(12))
async def test_matches_pytorch_conv2d_on_random_geometries(device, rng, arguments, shape,
                                                           batch):
    """y, dX, dW and db in float64 against torch.nn.functional.conv2d: an oracle that shares
    neither the layer's padding arithmetic nor tests/reference.py's windows."""
    torch = pytest.importorskip("torch")
    layer = Conv2D(**arguments)
    values = conv_arrays(layer, shape, batch, rng)
    got = await run_conv(device, layer, values, FLOAT64)
    want = torch_conv(torch, layer, values)
    _, scale = want_conv(layer, values)
    assert_conv(got, want, scale, 1e-12)


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), np.where(
        x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


def _leaky(x, alpha):
    return np.where(x > 0, x, alpha * x), np.where(x > 0, 1.0, alpha)


ACTIVATIONS = {  # layer → (o, f'(x)) of x, in NumPy float64
    "relu": (ReLU, lambda x: (np.maximum(x, 0), (x > 0).astype(np.float64))),
    "silu": (SiLU, lambda x: (reference.silu_forward(x), reference.silu_derivative(x))),
    "gelu": (GELU, lambda x: (reference.gelu_forward(x), reference.gelu_derivative(x))),
    "elu": (lambda: ELU(0.7), lambda x: _elu(x, 0.7)),
    "leaky_relu": (lambda: LeakyReLU(0.2), lambda x: _leaky(x, 0.2)),
}


@pytest.mark.parametrize("kernel", ["tiled", "subgroup"])
@pytest.mark.parametrize("above,below", [("relu", "gelu"), ("silu", "elu"),
                                         ("gelu", "leaky_relu"), ("elu", "relu"),
                                         ("leaky_relu", "silu")])
async def test_every_fusable_activation_above_and_below_through_split_k(
        device, rng, monkeypatch, above, below, kernel):
    """``above`` in the forward GEMM's epilogue, ``below``'s derivative in dX's, each GEMM's K
    cut into chunks (loop bound 1) so that the epilogues run in the split sum (float64)."""
    monkeypatch.setattr(loops, "LOOP_BOUND", 1)
    layer = Conv2D(8, 4, 3, strides=2, padding="same")
    values = conv_arrays(layer, (7, 6, 8), 2, rng)
    below_x = rng.uniform(-2, 2, values["x"].shape)
    values["x"], below_derivative = ACTIVATIONS[below][1](below_x)
    got = await run_conv(device, layer, values, FLOAT64, activation=ACTIVATIONS[above][0](),
                         below=(ACTIVATIONS[below][0](), below_x, values["x"]),
                         kernel=take_kernel(device, monkeypatch, kernel))
    (y, dx, dk, db), scale = want_conv(layer, values)
    assert_conv(got, (ACTIVATIONS[above][1](y)[0], dx * below_derivative, dk, db), scale, 1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ALL_PRECISIONS)
async def test_every_tiled_configuration_reads_the_gathers(device, rng, monkeypatch, precision):
    """Each tile a GPU's tuner may pick (CONFIGS and the dtype's own: other BK, 8 × 8 lanes,
    widened f16 slabs), forced, on a strided dilated 'same' convolution and on one whose dW K
    (batch · pixels = 1152) splits as a GPU splits it."""
    skip_unsupported(device, precision)
    take_kernel(device, monkeypatch, "tiled")
    for config in CONFIGS + DTYPE_CONFIGS.get(precision.numpy.itemsize, ()):
        monkeypatch.setattr(gemm, "select", lambda *arguments, config=config, **options: config)
        for strides, shape, batch in (((2, 1), (9, 8, 5), 3), ((1, 1), (18, 16, 5), 4)):
            layer = Conv2D(5, 6, 3, strides=strides, padding="same", dilation=(1, 2))
            values = conv_arrays(layer, shape, batch, rng, precision.numpy)
            got = await run_conv(device, layer, values, precision)
            try:
                assert_conv(got, *want_conv(layer, values), gradient_rtol(precision))
            except AssertionError as error:
                raise AssertionError(f"{config}, strides {strides}: {error}") from None


def test_pairs_may_be_numpy_arrays():
    """kernel_size, strides, dilation and padding as 1-D arrays (``np.array(x.shape[1:3]) // 4``
    is a pair too); before, an array was checked as one integer and refused as "expected a
    positive integer"."""
    layer = Conv2D(1, 2, np.array([3, 2]), strides=np.array([2, 1]), padding=np.array([1, 0]),
                   dilation=np.array([1, 2]))
    assert repr(layer) == ("Conv2D(1, 2, (3, 2), strides=(2, 1), padding=(1, 0), "
                           "dilation=(1, 2))")
    assert all(type(value) is int for value in (*layer.kernel_size, *layer.padding))
    with pytest.raises(ValueError, match=r"kernel_size: expected a positive integer or a pair "
                                         r"\(height, width\), received \(3, 2, 1\)"):
        Conv2D(1, 2, np.array([3, 2, 1]))
    with pytest.raises(ValueError, match=r"strides\[1\]: expected a positive integer, received 0"):
        Conv2D(1, 2, 3, strides=np.array([2, 0]))


@pytest.mark.parametrize("layer,axis", [(Conv2D(1, 4, (1, 4), padding=(0, 1)), 1),
                                        (Conv2D(1, 4, (7, 1), padding=2, dilation=(2, 1)), 0),
                                        (Conv2D(1, 4, 3, dilation=3), 0)])
def test_the_smallest_image_a_refusal_names_builds(layer, axis):
    """The refusal of a too small image names the smallest that fits (the dilated kernel less
    the padding; it named the kernel's span whatever the padding), and that size builds."""
    shape = [20, 20, 1]
    shape[axis] = 1
    with pytest.raises(ValueError, match=r"at least (\d+) pixels") as refusal:
        layer.build(tuple(shape))
    shape[axis] = int(re.search(r"at least (\d+) pixels", str(refusal.value)).group(1))
    layer.build(tuple(shape))
    assert layer.output_shape[axis] == 1
    shape[axis] -= 1
    with pytest.raises(ValueError, match="at least"):
        layer.build(tuple(shape))


async def test_softmax_after_a_convolution_is_refused_rather_than_normalizing_whole_images(
        device):
    """A segmentation head Conv2D → SoftMax: Keras normalizes each pixel's channels; SoftMax's
    row here is the whole image (before, its predictions summed to 1 per image, silently).
    Refused when recorded, in predict and fit alike; after Flatten() it is one distribution."""
    from intricate import Model, TrainingOptions
    from intricate.layers import Flatten, SoftMax

    x, y = np.zeros((2, 2, 2, 1), np.float32), np.full((2, 2, 2, 3), 1 / 12, np.float32)
    model = Model([Conv2D(1, 3, 1), SoftMax()], device=device, input_shape=(2, 2, 1))
    refusal = (r"SoftMax\(\) normalizes each sample's values.*received samples of shape "
               r"\(2, 2, 3\).*put Flatten\(\) before it")
    with pytest.raises(ValueError, match=refusal):
        await model.predict(x)
    with pytest.raises(ValueError, match=refusal):
        await model.fit(x, y, TrainingOptions(loss_algorithm="categorical_crossentropy"))
    flat = Model([Conv2D(1, 3, 1), Flatten(), SoftMax()], device=device, input_shape=(2, 2, 1))
    np.testing.assert_allclose((await flat.predict(x)).sum(axis=1), 1.0, rtol=1e-6)
