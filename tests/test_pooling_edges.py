"""Pooling layers as a hostile user finds them: Keras' padding names in any case, PyTorch's int
padding (and AvgPool2D's count_include_pad) against the float64 reference and PyTorch CPU, their
refusals, and their configs through a model file; Keras' other names, GlobalMaxPooling2D and
keepdims."""

from __future__ import annotations

import numpy as np
import pytest
from test_pooling import _distinct_values, _run

from intricate import Model, TrainingOptions, gpu
from intricate.gpu.dtypes import FLOAT32, FLOAT64, MIXED_FLOAT16
from intricate.kernels import check_gradients
from intricate.layers import (
    AveragePooling2D,
    AvgPool2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
    ReLU,
    SoftMax,
)
from intricate.ops import loops
from intricate.optimizers import SGD

import reference
from harness import ALL_PRECISIONS, assert_close, gradient_rtol, skip_unsupported

# (batch, height, width, channels), pool_size, strides, padding, count_include_pad, ceil_mode
INT_PADDING = {
    "resnet_stem_3_2_1": ((2, 7, 6, 3), 3, 2, 1, False, False),
    "stride_1_keeps_the_size": ((1, 5, 4, 2), 3, 1, 1, False, False),
    "stride_1_counting_padding": ((1, 5, 4, 2), 3, 1, 1, True, False),
    "pair_padding_non_square": ((2, 6, 5, 1), (3, 2), (2, 1), (1, 1), True, False),
    "padding_on_one_axis": ((1, 4, 7, 5), (2, 4), (1, 3), (0, 2), True, False),
    "zero_padding_is_valid": ((1, 5, 5, 2), 2, 2, 0, True, False),
    "ceil_mode_keeps_the_odd_row": ((1, 5, 7, 2), 2, None, "valid", False, True),
    "ceil_mode_overhang_counting_padding": ((2, 6, 7, 3), 3, 2, 1, True, True),
    "ceil_mode_drops_a_window_in_the_padding": ((1, 5, 5, 1), 2, 2, 1, True, True),
    "ceil_mode_non_square": ((1, 7, 4, 2), (3, 2), (2, 3), (1, 0), False, True),
}


@pytest.mark.parametrize("padding", ["SAME", "Valid"])
def test_keras_padding_names_in_any_case(padding):
    """Keras lower-cases padding (as our Conv2D does): "SAME" is "same"."""
    for kind in (MaxPool2D, AvgPool2D):
        layer = kind(3, 2, padding)
        layer.build((7, 8, 2))
        assert layer.padding == padding.lower()
        assert layer.output_shape == ((4, 4, 2) if padding == "SAME" else (3, 3, 2))


@pytest.mark.parametrize(("padding", "input_shape", "output_shape"), [
    (1, (112, 112, 64), (56, 56, 64)),  # ResNet's stem: MaxPool2d(3, 2, padding=1)
    (1, (7, 6, 3), (4, 3, 3)),
    ((0, 1), (5, 5, 1), (2, 3, 1)),
])
def test_int_padding_shapes_follow_pytorch(padding, input_shape, output_shape):
    """floor((in + 2p - pool) / stride) + 1 per axis, the padding before each axis p."""
    layer = MaxPool2D(3, 2, padding)
    layer.build(input_shape)
    assert layer.output_shape == output_shape
    pair = padding if isinstance(padding, tuple) else (padding, padding)
    assert (layer.windows.pad_top, layer.windows.pad_left) == pair



def test_pool_arguments_may_be_numpy_arrays():
    """pool_size, strides and an int padding as 1-D arrays, as Conv2D takes them."""
    layer = AvgPool2D(np.array([3, 2]), np.array([2, 1]), np.array([1, 0]))
    assert layer.get_config() == {"pool_size": (3, 2), "strides": (2, 1), "padding": (1, 0)}
    assert all(type(value) is int for value in (*layer.pool_size, *layer.padding))
    with pytest.raises(ValueError, match=r"padding: expected 'valid', .* received \(1, 0, 1\)"):
        MaxPool2D(3, 1, np.array([1, 0, 1]))


@pytest.mark.parametrize(("arguments", "input_shape", "output_shape"), [
    ((2, None, "valid"), (5, 7, 1), (3, 4, 1)),  # ceil instead of floor: the odd row kept
    ((2, 2, 1), (5, 5, 1), (3, 3, 1)),  # ceil(5 / 2) + 1 = 4, less a window starting at 6 >= 5 + 1
    ((3, 2, 1), (6, 7, 3), (4, 4, 3)),
])
def test_ceil_mode_shapes_follow_pytorch(arguments, input_shape, output_shape):
    for kind in (MaxPool2D, AvgPool2D):
        layer = kind(*arguments, ceil_mode=True)
        layer.build(input_shape)
        assert layer.output_shape == output_shape
        assert layer.get_config()["ceil_mode"] is True


def _int_padding_case(name):
    shape, pool, strides, padding, counted, ceil = INT_PADDING[name]
    maximum = MaxPool2D(pool, strides, padding, ceil_mode=ceil)
    average = AvgPool2D(pool, strides, padding, ceil_mode=ceil, count_include_pad=counted)
    for layer in (maximum, average):
        layer.build(shape[1:])
    return shape, maximum, average, (maximum.pool_size, maximum.strides, maximum.padding)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("name", sorted(INT_PADDING))
async def test_int_padding_matches_the_reference(device, rng, name, precision):
    skip_unsupported(device, precision)
    shape, maximum, average, windows = _int_padding_case(name)
    counted, ceil = average.count_include_pad, average.ceil_mode
    x = _distinct_values(rng, shape)
    want, argmax = reference.max_pool_forward(x, *windows, ceil)
    dy = rng.uniform(-1, 1, want.shape).astype(precision.numpy)
    outputs, grad_inputs = await _run(device, maximum, x, dy, precision)
    assert_close(outputs, want, precision.rtol)
    assert_close(grad_inputs, reference.max_pool_backward(shape, argmax, dy),
                 gradient_rtol(precision), scale=reference.max_pool_backward(shape, argmax,
                                                                             np.abs(dy)))
    outputs, grad_inputs = await _run(device, average, x, dy, precision)
    assert_close(outputs, reference.average_pool_forward(x, *windows, counted, ceil),
                 precision.rtol,
                 scale=reference.average_pool_forward(np.abs(x), *windows, counted, ceil))
    assert_close(grad_inputs, reference.average_pool_backward(shape, dy, *windows, counted, ceil),
                 gradient_rtol(precision), scale=reference.average_pool_backward(
                     shape, np.abs(dy), *windows, counted, ceil))


@pytest.mark.parametrize("name", sorted(INT_PADDING))
async def test_int_padding_matches_pytorch(device, rng, name):
    """nn.MaxPool2d and nn.AvgPool2d (count_include_pad, ceil_mode as the case says) on CPU in
    float64, forward and autograd backward, against the GPU in float64."""
    torch = pytest.importorskip("torch")
    from intricate.gpu.dtypes import FLOAT64
    shape, maximum, average, (pool, strides, padding) = _int_padding_case(name)
    torch_windows = (pool, strides, 0 if padding == "valid" else padding)
    x = _distinct_values(rng, shape)
    for layer, module in ((maximum, torch.nn.MaxPool2d(*torch_windows,
                                                       ceil_mode=maximum.ceil_mode)),
                          (average, torch.nn.AvgPool2d(
                              *torch_windows, ceil_mode=average.ceil_mode,
                              count_include_pad=average.count_include_pad))):
        images = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
        pooled = module(images)
        dy = rng.uniform(-1, 1, pooled.shape)
        (pooled * torch.tensor(dy)).sum().backward()
        want = pooled.detach().permute(0, 2, 3, 1).numpy()
        want_grad = images.grad.permute(0, 2, 3, 1).numpy()
        outputs, grad_inputs = await _run(device, layer, x, dy.transpose(0, 2, 3, 1), FLOAT64)
        np.testing.assert_allclose(outputs, want, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(grad_inputs, want_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: MaxPool2D(3, 2, 2), r"padding: expected at most half the pool_size \(3, 3\) on "
                                 r"each side, as PyTorch .* received 2; use a smaller padding"),
    (lambda: AvgPool2D((4, 2), 1, (2, 2)), r"at most half the pool_size \(4, 2\) .* received "
                                           r"\(2, 2\)"),
    (lambda: MaxPool2D(2, None, -1), r"padding: expected 'valid', 'same', or a non-negative "
                                     r"integer or \(height, width\) pair .* received -1"),
    (lambda: MaxPool2D(2, None, "full"), r"padding: expected 'valid', 'same', .* received "
                                         r"'full'"),
    (lambda: MaxPool2D(2, None, True), r"padding: expected 'valid', .* received True"),
    (lambda: AvgPool2D(2, None, "same", count_include_pad=True),
     r"count_include_pad=True counts PyTorch's symmetric padding, received padding='same'; "
     r"give padding as an int"),
    (lambda: MaxPool2D(2, None, "same", ceil_mode=True),
     r"ceil_mode: expected True or False, and False with padding='same' .* received True"),
    (lambda: AvgPool2D(2, ceil_mode=1), r"ceil_mode: expected True or False.* received 1"),
    (lambda: AvgPool2D(2, None, 1, count_include_pad="yes"),
     r"count_include_pad: expected True or False, received 'yes'"),
    (lambda: MaxPool2D(5, 1, 1).build((2, 8, 1)),
     r"a 5x5 window does not fit images of shape \(2, 8, 1\) with padding=\(1, 1\); use a "
     r"pool_size of at most \(4, 10\)"),
])
def test_bad_paddings_are_refused_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()


async def test_int_padding_and_count_include_pad_survive_a_model_file(device, rng, tmp_path):
    """The configs (a padding pair, count_include_pad) come back from a model file, and the
    loaded model predicts the same."""
    model = Model([MaxPool2D(3, 2, (1, 0)), AvgPool2D(3, 1, 1, count_include_pad=True),
                   Flatten()], input_shape=(7, 6, 2), device=device)
    x = rng.normal(size=(3, 7, 6, 2)).astype(np.float32)
    predictions = await model.predict(x)
    pooled = reference.max_pool_forward(x, (3, 3), (2, 2), (1, 0))[0]
    assert_close(predictions, reference.average_pool_forward(pooled, (3, 3), (1, 1), 1, True)
                 .reshape(3, -1), 1e-5)
    model.save(tmp_path / "padded.safetensors")
    loaded = Model.load(tmp_path / "padded.safetensors", device=device)
    assert loaded.layers[0].padding == (1, 0)
    assert loaded.layers[1].get_config() == {"pool_size": (3, 3), "strides": (1, 1),
                                             "padding": (1, 1), "count_include_pad": True}
    np.testing.assert_array_equal(await loaded.predict(x), predictions)


def test_keras_names_are_the_same_classes():
    """Keras' MaxPooling2D, AveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D: aliases, so a
    file names the class (MaxPool2D) whichever name built it."""
    assert MaxPooling2D is MaxPool2D and AveragePooling2D is AvgPool2D
    assert GlobalAvgPool2D is GlobalAveragePooling2D and GlobalMaxPool2D is GlobalMaxPooling2D


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 1), (3, 6, 4, 2)])
async def test_global_max_pooling_matches_the_reference(device, rng, shape, precision):
    """The max over height and width (a window of the whole image) and its argmax backward."""
    skip_unsupported(device, precision)
    layer = GlobalMaxPooling2D()
    layer.build(shape[1:])
    assert layer.output_shape == (shape[3],)
    x = _distinct_values(rng, shape)
    want, argmax = reference.max_pool_forward(x, shape[1:3], shape[1:3])
    dy = rng.uniform(-1, 1, want.shape).astype(precision.numpy)
    outputs, grad_inputs = await _run(device, layer, x, dy, precision)
    np.testing.assert_array_equal(outputs, want.astype(precision.numpy))
    np.testing.assert_array_equal(grad_inputs, reference.max_pool_backward(shape, argmax, dy))


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
async def test_global_max_pooling_gradients_match_central_differences(device, rng, precision):
    skip_unsupported(device, precision)
    shape = (5, 6, 3)
    x = rng.permutation(np.arange(2 * 90) / 2 - 45).reshape(2, *shape)
    step = 2.0**-9 if precision.name != "float64" else None
    report = await check_gradients(GlobalMaxPooling2D(), x, input_shape=shape, device=device,
                                   dtype=precision.name, step=step)
    assert report.passed, str(report)


def test_global_max_pooling_refuses_images_past_the_loop_bound(monkeypatch):
    """4x5 images loop 4 · (5 + 1) = 24 times per invocation: refused under a bound of 23 at
    build (naming what to use instead), accepted at 24."""
    monkeypatch.setattr(loops, "LOOP_BOUND", 23)
    with pytest.raises(ValueError, match=r"GlobalMaxPooling2D\(\): images of 4x5 take 24 loop "
                                         r"iterations .* past the 23 .* put a MaxPool2D before"):
        GlobalMaxPooling2D().build((4, 5, 2))
    monkeypatch.setattr(loops, "LOOP_BOUND", 24)
    GlobalMaxPooling2D().build((4, 5, 2))


@pytest.mark.parametrize("kind", [GlobalAveragePooling2D, GlobalMaxPooling2D])
async def test_keepdims_gives_images_of_one_pixel_to_a_convolution(device, rng, tmp_path, kind):
    """keepdims=True (Keras'): (H, W, C) → (1, 1, C), which a 1x1 Conv2D takes (a squeeze-
    and-excitation head); predictions are the pooled channels through the kernel, and the
    config survives a model file."""
    model = Model([kind(keepdims=True), Conv2D(3, 2, 1), Flatten()], input_shape=(5, 4, 3),
                  device=device, seed=0)
    assert "(None, 1, 1, 3)" in model.summary()
    x = rng.normal(size=(4, 5, 4, 3)).astype(np.float32)
    pooled = x.mean(axis=(1, 2)) if kind is GlobalAveragePooling2D else x.max(axis=(1, 2))
    kernel, bias = model.get_weights()
    predictions = await model.predict(x)
    assert_close(predictions, pooled @ kernel[0, 0] + bias, 1e-5,
                 scale=np.abs(pooled) @ np.abs(kernel[0, 0]) + np.abs(bias))
    model.save(tmp_path / "keepdims.safetensors")
    loaded = Model.load(tmp_path / "keepdims.safetensors", device=device)
    assert loaded.layers[0].get_config() == {"keepdims": True}
    np.testing.assert_array_equal(await loaded.predict(x), predictions)
    assert kind().get_config() == {} and repr(kind()) == f"{kind.__name__}()"
    with pytest.raises(ValueError, match=r"keepdims: expected True or False, received 1"):
        kind(keepdims=1)


@pytest.mark.parametrize("kind", [GlobalAveragePooling2D, GlobalMaxPooling2D])
async def test_global_pooling_grids_past_max_groups_fold_over_y(device, rng, monkeypatch, kind):
    """MAX_GROUPS lowered to 3 (9 workgroups of 256 at most, over x and y): 4 images of
    2x2x112; the global average past a LOOP_BOUND of 2 sums in 2 parts (896 invocations: 4
    workgroups, a 2x2 grid); both backwards take 1792 (7 workgroups, a 3x3 grid)."""
    monkeypatch.setattr(gpu.program, "MAX_GROUPS", 3)
    monkeypatch.setattr(loops, "LOOP_BOUND", 6 if kind is GlobalMaxPooling2D else 2)
    shape = (4, 2, 2, 112)
    layer = kind()
    layer.build(shape[1:])
    x = _distinct_values(rng, shape)
    dy = rng.uniform(-1, 1, (4, 112))
    outputs, grad_inputs = await _run(device, layer, x, dy, FLOAT32)
    if kind is GlobalMaxPooling2D:
        want, argmax = reference.max_pool_forward(x, (2, 2), (2, 2))
        assert_close(outputs, want.reshape(4, 112))
        assert_close(grad_inputs, reference.max_pool_backward(shape, argmax, dy))
    else:
        assert_close(outputs, reference.global_average_pool_forward(x), 1e-5,
                     scale=reference.global_average_pool_forward(np.abs(x)))
        assert_close(grad_inputs, reference.global_average_pool_backward(shape, dy))


@pytest.mark.parametrize("dtype", ["float64", "float32", "mixed_float16"])
async def test_a_cnn_fit_with_a_partial_last_batch_matches_pytorch(device, rng, dtype):
    """Conv2D ("same") → BatchNormalization → ReLU → MaxPool2D(3, 2, 1) → Dropout(0) →
    AvgPool2D((2, 3), 1, "same") → GlobalAveragePooling2D → Dense → SoftMax, two epochs of SGD
    on 10 samples in batches of 4 (the last of 2), unshuffled: the weights and moving
    statistics equal PyTorch's float64 steps (BatchNormalization as Keras: the biased batch
    variance in the moving variance), and so do the predictions."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    if dtype != "float32":
        skip_unsupported(device, {"float64": FLOAT64, "mixed_float16": MIXED_FLOAT16}[dtype])
    x = rng.normal(size=(10, 7, 9, 3)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 10)]
    model = Model([Conv2D(3, 5, 3, padding="same"), BatchNormalization(), ReLU(),
                   MaxPool2D(3, 2, 1), Dropout(0.0), AvgPool2D((2, 3), 1, "same"),
                   GlobalAveragePooling2D(), Dense(5, 4), SoftMax()],
                  input_shape=(7, 9, 3), device=device, seed=0, dtype=dtype)
    weights = [torch.tensor(np.asarray(w, np.float64)) for w in model.get_weights()]
    weights[0] = weights[0].permute(3, 2, 0, 1)  # [kh, kw, in, out] → [out, in, kh, kw]
    trained = [w.requires_grad_(True) for i, w in enumerate(weights) if i not in (4, 5)]
    moving = weights[4:6]

    def forward(images, training):
        t = functional.conv2d(torch.tensor(images, dtype=torch.float64).permute(0, 3, 1, 2),
                              trained[0], trained[1], padding=1)
        mean, var = ((t.mean((0, 2, 3)), t.var((0, 2, 3), unbiased=False)) if training
                     else moving)
        if training:
            for index, batch in enumerate((mean, var)):
                moving[index] = 0.99 * moving[index] + 0.01 * batch.detach()
        t = (t - mean[:, None, None]) / torch.sqrt(var[:, None, None] + 1e-3)
        t = functional.relu(t * trained[2][:, None, None] + trained[3][:, None, None])
        t = functional.max_pool2d(t, 3, 2, 1)
        same = (1, 1, 0, 1)  # TF 'same' on 4x5: (left, right, top, bottom), the odd one last
        sums = functional.avg_pool2d(functional.pad(t, same), (2, 3), 1, divisor_override=1)
        counts = functional.avg_pool2d(functional.pad(torch.ones_like(t[:1, :1]), same), (2, 3),
                                       1, divisor_override=1)
        pooled = (sums / counts).mean((2, 3))
        return torch.softmax(pooled @ trained[4] + trained[5], dim=1)

    for _ in range(2):
        for first in range(0, 10, 4):
            probabilities = forward(x[first:first + 4], True)
            loss = -(torch.tensor(y[first:first + 4], dtype=torch.float64)
                     * torch.log(probabilities)).sum(1).mean()
            grads = torch.autograd.grad(loss, trained)
            with torch.no_grad():
                for weight, grad in zip(trained, grads):
                    weight -= 0.1 * grad
    await model.fit(x, y, TrainingOptions(optimizer=SGD(learning_rate=0.1), epochs=2,
                                          batch_size=4, shuffle=False,
                                          loss_algorithm="categorical_crossentropy"))
    rtol = {"float64": 1e-9, "float32": 1e-5, "mixed_float16": 3e-3}[dtype]
    want = [trained[0].permute(2, 3, 1, 0), *trained[1:4], *moving, *trained[4:]]
    for index, (got, expected) in enumerate(zip(model.get_weights(), want)):
        expected = expected.detach().numpy()
        if index == 1:  # the conv bias: BatchNormalization cancels its gradient (0 ± rounding)
            continue
        assert_close(got, expected, rtol, scale=np.abs(expected).max())
    with torch.no_grad():
        expected = forward(x, False).numpy()
    assert_close(await model.predict(x), expected, rtol * 10, scale=np.abs(expected).max())
