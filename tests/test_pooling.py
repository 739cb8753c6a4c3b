"""Pooling layers (intricate/layers/pooling.py, shaders/layers/pooling.wgsl): MaxPool2D, AvgPool2D
and GlobalAveragePooling2D forward and backward against the float64 NumPy reference at edge
cases, in every dtype; the references against central finite differences; ties and NaN in max
pooling; global averages past the loop bound; shapes, refusals and dispatch counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from intricate import Model, TrainingOptions, gpu
from intricate.gpu.dtypes import FLOAT32
from intricate.kernels import check_gradients
from intricate.layers import (
    AvgPool2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    MaxPool2D,
    Reshape,
    SoftMax,
)
from intricate.ops import loops
from intricate.optimizers import SGD, Adam

import reference
from harness import (
    ALL_PRECISIONS,
    PRECISIONS,
    assert_close,
    gradient_rtol,
    run_programs,
    skip_unsupported,
)

# (batch, height, width, channels), pool_size, strides, padding: the edges each case probes.
CASES = {
    "default_2x2": ((2, 4, 6, 3), 2, None, "valid"),
    "odd_sizes_drop_the_last_row": ((1, 5, 7, 5), 2, None, "valid"),
    "overlapping_windows": ((2, 5, 6, 3), 3, 1, "valid"),
    "overlap_stride_2_pool_3_same": ((1, 7, 5, 6), 3, 2, "same"),
    "stride_beyond_pool": ((1, 7, 8, 2), 2, 3, "valid"),
    "stride_beyond_pool_same": ((2, 7, 8, 1), (1, 2), (3, 4), "same"),
    "same_pads_bottom_right": ((1, 5, 5, 3), 2, None, "same"),
    "same_stride_1_even_pool": ((1, 4, 5, 2), (2, 4), 1, "same"),
    "pool_is_the_image": ((3, 4, 3, 5), (4, 3), None, "valid"),
    "pool_1x1": ((2, 3, 3, 7), 1, None, "valid"),
    "one_channel_batch_1": ((1, 6, 6, 1), 2, None, "valid"),
    "non_square_pool_and_strides": ((2, 9, 7, 3), (3, 2), (2, 1), "valid"),
}


def _layer(kind, pool, strides, padding, shape):
    layer = kind(pool, strides, padding)
    layer.build(shape[1:])
    return layer


async def _run(device, layer, x, grad_outputs, precision, training=True):
    """(outputs, grad_inputs) of ``layer`` on images ``x`` [batch, H, W, C], one submit."""
    batch = x.shape[0]

    def record(program, arrays):
        program.training = training
        outputs = layer.propagate(program, arrays["x"])
        return [outputs, layer.back_propagate(program, arrays["dy"])]

    got = await run_programs(device, record, {"x": x.reshape(batch, -1),
                                              "dy": grad_outputs.reshape(batch, -1)},
                             batch, precision)
    return got[0].reshape(grad_outputs.shape), got[1].reshape(x.shape)


def _distinct_values(rng, shape):
    """Inputs whose windows have one clear maximum in every dtype (f16 included): a shuffled
    ramp with steps of 1/64 (exact in f16 up to ±32)."""
    ramp = (np.arange(math.prod(shape)) - math.prod(shape) / 2) / 64
    return rng.permutation(ramp).reshape(shape)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("name", sorted(CASES))
async def test_max_pooling_matches_the_reference(device, rng, name, precision):
    skip_unsupported(device, precision)
    shape, pool, strides, padding = CASES[name]
    layer = _layer(MaxPool2D, pool, strides, padding, shape)
    x = _distinct_values(rng, shape)
    want, argmax = reference.max_pool_forward(x, layer.pool_size, layer.strides, padding)
    dy = rng.uniform(-1, 1, want.shape)
    outputs, grad_inputs = await _run(device, layer, x, dy, precision)
    assert_close(outputs, want, precision.rtol)
    stored_dy = dy.astype(precision.numpy)  # f16 rounds dE/dO before the sums see it
    assert_close(grad_inputs, reference.max_pool_backward(x.shape, argmax, stored_dy),
                 gradient_rtol(precision), scale=reference.max_pool_backward(
                     x.shape, argmax, np.abs(stored_dy)))


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("name", sorted(CASES))
async def test_average_pooling_matches_the_reference(device, rng, name, precision):
    skip_unsupported(device, precision)
    shape, pool, strides, padding = CASES[name]
    layer = _layer(AvgPool2D, pool, strides, padding, shape)
    x = rng.normal(size=shape)
    windows = (layer.pool_size, layer.strides, padding)
    want = reference.average_pool_forward(x, *windows)
    dy = rng.uniform(-1, 1, want.shape)
    outputs, grad_inputs = await _run(device, layer, x, dy, precision)
    stored_x = x.astype(precision.numpy)
    assert_close(outputs, reference.average_pool_forward(stored_x, *windows), precision.rtol,
                 scale=reference.average_pool_forward(np.abs(stored_x), *windows))
    stored_dy = dy.astype(precision.numpy)
    assert_close(grad_inputs, reference.average_pool_backward(x.shape, stored_dy, *windows),
                 gradient_rtol(precision),
                 scale=reference.average_pool_backward(x.shape, np.abs(stored_dy), *windows))


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 1), (3, 6, 4, 2)])
async def test_global_average_pooling_matches_the_reference(device, rng, shape, precision):
    skip_unsupported(device, precision)
    layer = GlobalAveragePooling2D()
    layer.build(shape[1:])
    x = rng.normal(size=shape).astype(precision.numpy)
    dy = rng.uniform(-1, 1, (shape[0], shape[3])).astype(precision.numpy)
    outputs, grad_inputs = await _run(device, layer, x, dy, precision)
    assert_close(outputs, reference.global_average_pool_forward(x), precision.rtol,
                 scale=reference.global_average_pool_forward(np.abs(x)))
    assert_close(grad_inputs, reference.global_average_pool_backward(x.shape, dy),
                 gradient_rtol(precision))


@pytest.mark.parametrize("kind", [MaxPool2D, AvgPool2D])
async def test_grids_past_max_groups_fold_over_y(device, rng, monkeypatch, kind):
    """With MAX_GROUPS lowered to 3, the backward's 1152 invocations (5 workgroups of 256) run
    as a 3x2 grid: every element is still computed once, none past the end."""
    monkeypatch.setattr(gpu.program, "MAX_GROUPS", 3)
    shape = (2, 12, 12, 4)
    layer = _layer(kind, 2, None, "valid", shape)
    x = _distinct_values(rng, shape)
    dy = rng.uniform(-1, 1, (2, 6, 6, 4))
    outputs, grad_inputs = await _run(device, layer, x, dy, FLOAT32)
    if kind is MaxPool2D:
        want, argmax = reference.max_pool_forward(x, (2, 2), (2, 2))
        grad = reference.max_pool_backward(shape, argmax, dy)
    else:
        want = reference.average_pool_forward(x, (2, 2), (2, 2))
        grad = reference.average_pool_backward(shape, dy, (2, 2), (2, 2))
    assert_close(outputs, want)
    assert_close(grad_inputs, grad)


def _central_differences(function, x, step=1e-6):
    """d Σ function(x) · R / dx by central differences, for a fixed random R (float64)."""
    projection = np.random.default_rng(7).normal(size=function(x).shape)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = ((function(plus) - function(minus)) * projection).sum() / (2 * step)
    return projection, grad


@pytest.mark.parametrize("name", ["overlapping_windows", "overlap_stride_2_pool_3_same",
                                  "stride_beyond_pool_same", "same_stride_1_even_pool"])
def test_the_references_backwards_match_central_differences(rng, name):
    """The float64 backwards the GPU is judged by, against central differences of their
    forwards: average pools anywhere, max pools away from ties (distinct values)."""
    shape, pool, strides, padding = CASES[name]
    layer = AvgPool2D(pool, strides, padding)
    windows = (layer.pool_size, layer.strides, padding)
    x = _distinct_values(rng, shape)
    projection, numeric = _central_differences(
        lambda v: reference.average_pool_forward(v, *windows), x)
    np.testing.assert_allclose(reference.average_pool_backward(shape, projection, *windows),
                               numeric, rtol=1e-7, atol=1e-9)
    projection, numeric = _central_differences(
        lambda v: reference.max_pool_forward(v, *windows)[0], x)
    argmax = reference.max_pool_forward(x, *windows)[1]
    np.testing.assert_allclose(reference.max_pool_backward(shape, argmax, projection), numeric,
                               rtol=1e-7, atol=1e-9)
    projection, numeric = _central_differences(reference.global_average_pool_forward, x)
    np.testing.assert_allclose(reference.global_average_pool_backward(shape, projection),
                               numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
async def test_tied_maxima_send_the_gradient_to_the_first_cell(device, precision):
    """A constant image under overlapping 2x2 windows (stride 1): every window's maximum ties,
    and each window routes its dE/dO to its top-left cell, as PyTorch and TensorFlow do."""
    skip_unsupported(device, precision)
    layer = _layer(MaxPool2D, 2, 1, "valid", (1, 3, 3, 1))
    dy = np.array([1.0, 2.0, 4.0, 8.0]).reshape(1, 2, 2, 1)
    outputs, grad_inputs = await _run(device, layer, np.full((1, 3, 3, 1), 0.5), dy, precision)
    assert (outputs == 0.5).all()
    want = np.array([[1, 2, 0], [4, 8, 0], [0, 0, 0]], np.float64).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(grad_inputs, want)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
async def test_a_nan_in_a_window_propagates_and_takes_the_gradient(device, precision):
    """NaN first in its window, NaN after the window's maximum, NaN before a larger value: each
    window's output is NaN and its dE/dO goes to the NaN cell; a window without NaN is plain."""
    skip_unsupported(device, precision)
    x = np.array([np.nan, 1, 2, 5, np.nan, 1, 2, np.nan, 9, -1, -2, -3.0]).reshape(1, 1, 12, 1)
    layer = _layer(MaxPool2D, (1, 3), None, "valid", x.shape)
    dy = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1)
    outputs, grad_inputs = await _run(device, layer, x, dy, precision)
    np.testing.assert_array_equal(outputs.ravel(), [np.nan, np.nan, np.nan, -1.0])
    np.testing.assert_array_equal(grad_inputs.ravel(), [1, 0, 0, 0, 2, 0, 0, 3, 0, 4, 0, 0])
    x[0, 0, :3, 0] = [1.0, np.nan, np.nan]  # the first of two NaN, after a real first cell
    outputs, grad_inputs = await _run(device, layer, x, dy, precision)
    assert np.isnan(outputs.ravel()[0]) and grad_inputs.ravel()[:3].tolist() == [0, 1, 0]


async def test_a_global_average_of_more_cells_than_a_loop_may_visit(device, rng):
    """260x260 = 67600 cells, past llvmpipe's 65535 iterations per invocation: summed in 5 parts
    of at most LOOP_BOUND cells, then the parts (2 dispatches). Values k/8 sum exactly in f32,
    so a single dropped or repeated cell shows (>= 5e-6 of the mean); the mean's division by
    the cell count may be 2.5 ulps off in WGSL (3e-7: it was on an H200)."""
    shape = (1, 260, 260, 1)
    layer = GlobalAveragePooling2D()
    layer.build(shape[1:])
    x = rng.integers(0, 8, shape) / 8
    outputs, grad_inputs = await _run(device, layer, x, np.array([[3.0]]), FLOAT32)
    np.testing.assert_allclose(outputs[0, 0], x.sum() / x.size, rtol=3e-7, atol=0)
    np.testing.assert_allclose(grad_inputs, 3.0 / x.size, rtol=3e-7, atol=0)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
async def test_global_average_splits_into_parts_at_a_lowered_loop_bound(device, rng, monkeypatch,
                                                                        precision):
    """With LOOP_BOUND 10, images of 5x7 cells sum in 4 parts of 9 (the last of 8), per sample
    and channel, then the parts: the two-pass path at a size every dtype runs quickly."""
    skip_unsupported(device, precision)
    monkeypatch.setattr(loops, "LOOP_BOUND", 10)
    shape = (3, 5, 7, 6)
    layer = GlobalAveragePooling2D()
    layer.build(shape[1:])
    x = rng.normal(size=shape).astype(precision.numpy)
    dy = rng.uniform(-1, 1, (3, 6)).astype(precision.numpy)
    outputs, grad_inputs = await _run(device, layer, x, dy, precision)
    assert_close(outputs, reference.global_average_pool_forward(x), precision.rtol,
                 scale=reference.global_average_pool_forward(np.abs(x)))
    assert_close(grad_inputs, reference.global_average_pool_backward(x.shape, dy),
                 gradient_rtol(precision))


@pytest.mark.parametrize(("kind", "arguments", "input_shape", "output_shape"), [
    (MaxPool2D, (2,), (5, 7, 3), (2, 3, 3)),
    (MaxPool2D, (2, None, "same"), (5, 7, 3), (3, 4, 3)),
    (AvgPool2D, (3, 1, "same"), (5, 7, 3), (5, 7, 3)),
    (AvgPool2D, (3, 2), (7, 7, 1), (3, 3, 1)),
    (MaxPool2D, (3, 2, "same"), (7, 8, 2), (4, 4, 2)),
    (MaxPool2D, ((4, 3),), (4, 3, 5), (1, 1, 5)),
    (AvgPool2D, ((1, 2), (3, 4), "same"), (7, 8, 1), (3, 2, 1)),
])
def test_output_shapes_follow_tensorflow(kind, arguments, input_shape, output_shape):
    """Keras' shapes: "valid" floor((in - pool) / stride) + 1, "same" ceil(in / stride); strides
    default to the pool."""
    layer = kind(*arguments)
    layer.build(input_shape)
    assert layer.output_shape == output_shape and layer.input_shape == input_shape
    assert GlobalAveragePooling2D().output_shape_for((4, 5, 6)) == (6,)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: MaxPool2D(0), r"pool_size: expected a positive integer, received 0"),
    (lambda: AvgPool2D(2.5), r"pool_size: expected a positive integer, received 2.5"),
    (lambda: MaxPool2D((2,)), r"pool_size: expected a positive integer or a pair"),
    (lambda: MaxPool2D((2, True)), r"pool_size\[1\]: expected a positive integer, received True"),
    (lambda: AvgPool2D(2, -1), r"strides: expected a positive integer, received -1"),
    (lambda: MaxPool2D(2, None, "full"), r"padding: expected 'valid', 'same', or a "
                                         r"non-negative integer .* received 'full'"),
    (lambda: MaxPool2D(2).build((10,)), r"MaxPool2D\(.*\) takes images \(height, width, "
                                        r"channels\), received samples of shape \(10,\)"),
    (lambda: GlobalAveragePooling2D().build((4, 4)), r"GlobalAveragePooling2D\(\) takes images "
                                                     r".* shape \(4, 4\); give the model"),
    (lambda: AvgPool2D((5, 2)).build((4, 8, 1)), r"AvgPool2D\(\(5, 2\), .*\): a 5x2 window does "
                                                 r"not fit images of shape \(4, 8, 1\) with "
                                                 r"padding='valid'; use a pool_size of at most"),
])
def test_bad_arguments_and_shapes_are_refused_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("kind", [MaxPool2D, AvgPool2D, GlobalAveragePooling2D])
def test_propagate_refuses_an_unbuilt_layer_and_rows_of_another_width(kind):
    """Before any GPU work (no program is touched): a layer never built, inputs whose rows are
    not the images it was built for."""
    layer = kind()
    with pytest.raises(ValueError, match=r"call build\(input_shape\) before propagate"):
        layer.propagate(None, None)
    layer.build((4, 4, 3))

    class Rows:  # what propagate reads of a GPUArray before recording
        shape = (2, 47)

    with pytest.raises(ValueError, match=rf"{kind.__name__}\(.*\): expected inputs \[batch, "
                                         r"48\] \(images \(4, 4, 3\)\), received \(2, 47\)"):
        layer.propagate(None, Rows())


def test_a_window_beyond_the_loop_bound_is_refused(monkeypatch):
    """A 4x4 window loops 4 · (4 + 1) = 20 times per invocation: refused under a bound of 19 (the
    message says what to use), accepted at 20; "same" padding doesn't lift it."""
    monkeypatch.setattr(loops, "LOOP_BOUND", 19)
    with pytest.raises(ValueError, match=r"a 4x4 window takes 20 loop iterations per "
                                         r"invocation, past the 19 .* GlobalAveragePooling2D"):
        MaxPool2D(4, padding="same").build((8, 8, 1))
    monkeypatch.setattr(loops, "LOOP_BOUND", 20)
    AvgPool2D(4).build((8, 8, 1))


@pytest.mark.parametrize(("layer", "shape", "bound", "counts"), [
    (MaxPool2D(2), (4, 4, 3), loops.LOOP_BOUND, (1, 1)),
    (AvgPool2D(3, 1, "same"), (4, 4, 3), loops.LOOP_BOUND, (1, 1)),
    (GlobalAveragePooling2D(), (4, 4, 3), loops.LOOP_BOUND, (1, 1)),
    (GlobalAveragePooling2D(), (4, 4, 3), 8, (2, 1)),
])
async def test_dispatches_per_layer(device, layer, shape, bound, counts, monkeypatch):
    """One dispatch forward and one backward (the max pool's forward keeps its argmax for the
    backward; no recomputation), two forward for a global average past the loop bound."""
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)
    layer.build(shape)
    recorded = []

    def record(program, arrays):
        program.training = True
        outputs = layer.propagate(program, arrays["x"])
        recorded.append(program.dispatch_count)
        grad_inputs = layer.back_propagate(program, outputs)
        recorded.append(program.dispatch_count - recorded[0])
        assert layer.back_propagate(program, outputs, need_grad_inputs=False) is None
        return [grad_inputs]

    await run_programs(device, record, {"x": np.ones((2, math.prod(shape)))}, 2)
    assert tuple(recorded) == counts


async def test_max_pooling_outside_training_keeps_no_argmax(device, rng):
    """An evaluation or predict program (training False) computes the same maxima in one
    dispatch without writing the argmax; a backward after it (a gradient check) finds the argmax
    again first: two dispatches, the same gradients."""
    shape = (2, 4, 4, 3)
    layer = _layer(MaxPool2D, 2, None, "valid", shape)
    x = _distinct_values(rng, shape)
    dy = rng.uniform(-1, 1, (2, 2, 2, 3))

    def record(program, arrays):
        program.training = False
        outputs = layer.propagate(program, arrays["x"])
        assert layer.argmax is None and program.dispatch_count == 1
        grad_inputs = layer.back_propagate(program, arrays["dy"])
        assert program.dispatch_count == 3
        return [outputs, grad_inputs]

    outputs, grad_inputs = await run_programs(device, record, {"x": x.reshape(2, -1),
                                                               "dy": dy.reshape(2, -1)}, 2)
    want, argmax = reference.max_pool_forward(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(outputs.reshape(want.shape), want.astype(np.float32))
    assert_close(grad_inputs.reshape(shape),
                 reference.max_pool_backward(shape, argmax, dy.astype(np.float32)))


def test_configs_rebuild_the_same_layers():
    for layer in (MaxPool2D((2, 3), 1, "same"), AvgPool2D(3, (1, 2)), GlobalAveragePooling2D()):
        twin = layer.blank_copy()
        assert type(twin) is type(layer) and twin.get_config() == layer.get_config()
        assert twin.parameter_shapes() == []
    assert MaxPool2D([2, 3], [1, 1]).get_config() == {"pool_size": (2, 3), "strides": (1, 1),
                                                      "padding": "valid"}


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("make", [lambda: MaxPool2D(3, 2, "same"), lambda: AvgPool2D((2, 3), 1),
                                  GlobalAveragePooling2D], ids=["max", "average", "global"])
async def test_gpu_gradients_match_central_differences_on_the_gpu(device, rng, make, precision):
    """check_gradients: each layer's backward against central differences of its own forward on
    the GPU. Max pooling away from ties: 180 distinct values 1/2 apart, and a step of 2^-9 of
    |v| (at most 0.09 at |v| = 45) never moves a value past another."""
    skip_unsupported(device, precision)
    layer, shape = make(), (5, 6, 3)
    x = rng.permutation(np.arange(2 * math.prod(shape)) / 2 - 45).reshape(2, *shape)
    step = 2.0**-9 if isinstance(layer, MaxPool2D) and precision.name != "float64" else None
    report = await check_gradients(layer, x, input_shape=shape, device=device,
                                   dtype=precision.name, step=step)
    assert report.passed, str(report)


def _blobs(rng, samples=240):
    """8x8x2 noise images with a bright 2x2 blob on one channel: in the left half (class 0) or
    the right half (class 1) of the image. Returns (x [samples, 8, 8, 2], one-hot y)."""
    x = rng.normal(0, 0.3, (samples, 8, 8, 2))
    labels = rng.integers(0, 2, samples)
    for n, label in enumerate(labels):
        row, column = rng.integers(0, 7), rng.integers(0, 3) + 4 * label
        x[n, row:row + 2, column:column + 2, rng.integers(0, 2)] += 2.0
    return x.astype(np.float32), np.eye(2, dtype=np.float32)[labels]


async def test_a_model_of_pooling_flatten_and_dense_trains_on_images(device, rng, tmp_path):
    """MaxPool2D → AvgPool2D ("same", stride 1) → Flatten → Dense → SoftMax on [samples, 8, 8, 2]
    images learns where the blob is; its predictions equal the float64 forward of its own
    weights (pooling, then the NHWC rows into the Dense kernel), and survive a save and load."""
    x, y = _blobs(rng)
    model = Model([MaxPool2D(2), AvgPool2D(2, 1, "same"), Flatten(), Dense(32, 2), SoftMax()],
                  input_shape=(8, 8, 2), device=device, seed=0)
    assert "(None, 4, 4, 2)" in model.summary()
    history = await model.fit(x, y, TrainingOptions(
        optimizer=Adam(learning_rate=0.05), loss_algorithm="categorical_crossentropy",
        epochs=10, batch_size=32, metrics=["accuracy"], seed=0))
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] >= 0.95
    predictions = await model.predict(x[:16])
    kernel, bias = model.get_weights()
    pooled = reference.max_pool_forward(x[:16], (2, 2), (2, 2))[0]
    pooled = reference.average_pool_forward(pooled, (2, 2), (1, 1), "same")
    want = reference.softmax_forward(reference.dense_forward(pooled.reshape(16, -1), kernel,
                                                             bias))
    assert_close(predictions, want, 1e-4)
    model.save(tmp_path / "pooling.safetensors")
    loaded = Model.load(tmp_path / "pooling.safetensors", device=device)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[1].get_config() == {"pool_size": (2, 2), "strides": (1, 1),
                                             "padding": "same"}
    np.testing.assert_array_equal(await loaded.predict(x[:16]), predictions)


async def test_a_global_average_model_trains_on_images(device, rng):
    """AvgPool2D → GlobalAveragePooling2D → Dense → SoftMax: which channel holds the blob is
    all a channel mean needs to tell, and the model learns it; its predictions equal the
    float64 forward of its weights."""
    x, _ = _blobs(rng)
    channel = (x[..., 1].max(axis=(1, 2)) > x[..., 0].max(axis=(1, 2))).astype(int)
    y = np.eye(2, dtype=np.float32)[channel]
    model = Model([AvgPool2D(2), GlobalAveragePooling2D(), Dense(2, 2), SoftMax()],
                  input_shape=(8, 8, 2), device=device, seed=0)
    history = await model.fit(x, y, TrainingOptions(
        optimizer=Adam(learning_rate=0.1), loss_algorithm="categorical_crossentropy",
        epochs=15, batch_size=32, metrics=["accuracy"], seed=0))
    assert history.history["accuracy"][-1] >= 0.9  # 0.983 measured
    kernel, bias = model.get_weights()
    means = reference.global_average_pool_forward(
        reference.average_pool_forward(x[:16], (2, 2), (2, 2)))
    assert_close(await model.predict(x[:16]),
                 reference.softmax_forward(reference.dense_forward(means, kernel, bias)), 1e-4)


POOLED_STEP_LAYERS = {  # a pooling of (8, 8, 2) images and its float64 forward and backward
    "max_overlapping_same": (lambda: MaxPool2D(3, 2, "same"), lambda h: reference.max_pool_forward(
        h, (3, 3), (2, 2), "same"), lambda h, state, g: reference.max_pool_backward(
        h.shape, state, g)),
    "average_overlapping_same": (lambda: AvgPool2D(3, 2, "same"), lambda h: (
        reference.average_pool_forward(h, (3, 3), (2, 2), "same"), None),
        lambda h, _, g: reference.average_pool_backward(h.shape, g, (3, 3), (2, 2), "same")),
    "global_average": (GlobalAveragePooling2D, lambda h: (
        reference.global_average_pool_forward(h), None),
        lambda h, _, g: reference.global_average_pool_backward(h.shape, g)),
}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", sorted(POOLED_STEP_LAYERS))
async def test_one_training_step_through_a_pooling_layer_matches_float64(device, rng, name,
                                                                         precision):
    """Dense → Reshape((8, 8, 2)) → pooling → Flatten → Dense → SoftMax, one SGD step on one
    batch: both Dense layers' new weights equal the float64 step, so the pooling's backward
    carries dE/dO down to the first Dense inside fit (a training program keeps the argmax)."""
    skip_unsupported(device, precision)
    make, forward, backward = POOLED_STEP_LAYERS[name]
    pooling, batch, learning_rate = make(), 8, 0.5
    model = Model([Dense(6, 128), Reshape((8, 8, 2)), pooling, Flatten(), Dense(
        math.prod(pooling.output_shape_for((8, 8, 2))), 3), SoftMax()], device=device, seed=0,
        dtype=precision.name)
    x = rng.normal(size=(batch, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, batch)]
    before = [w.astype(np.float64) for w in model.get_weights()]
    await model.fit(x, y, TrainingOptions(optimizer=SGD(learning_rate=learning_rate), epochs=1,
                                          loss_algorithm="categorical_crossentropy",
                                          batch_size=batch))
    kernel, bias, top_kernel, top_bias = before
    hidden = reference.dense_forward(x, kernel, bias).reshape(batch, 8, 8, 2)
    pooled, state = forward(hidden)
    flat = pooled.reshape(batch, -1)
    grad_logits = (reference.softmax_forward(reference.dense_forward(flat, top_kernel, top_bias))
                   - y) / batch
    grad_hidden = backward(hidden, state, (grad_logits @ top_kernel.T).reshape(pooled.shape))
    grads = [x.T @ grad_hidden.reshape(batch, -1), grad_hidden.reshape(batch, -1).sum(0),
             flat.T @ grad_logits, grad_logits.sum(0)]
    rtol, epsilon = (1e-3, 2.0**-24) if precision is FLOAT32 else (1e-9, 2.0**-53)
    for got, start, grad in zip(model.get_weights(), before, grads):
        # The dtype rounds the step at the size of the weights it is added to (10 ulps here).
        assert_close(got - start, -learning_rate * grad, rtol,
                     scale=np.abs(learning_rate * grad) + 10 / rtol * epsilon * np.abs(start))
