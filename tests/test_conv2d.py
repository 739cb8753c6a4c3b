"""Conv2D: its implicit-GEMM forward and backward (dX, dW, db) against the float64 NumPy
reference at the edges of the convolution's geometry, in every dtype; fused activations;
the weight gradient's K (batch · output pixels) split under the loop bound; refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_reference import numerical_gradient

from intricate import gpu
from intricate.gpu.dtypes import FLOAT32
from intricate.gpu.layout import SCALARS
from intricate.initializers import GlorotUniform, HeNormal
from intricate.kernels import check_gradients
from intricate.layers import ReLU, SiLU
from intricate.layers.conv2d import Conv2D
from intricate.ops import loops
from intricate.ops.gemm import CONFIGS, tuning
from intricate.ops.gemm import subgroup as gemm_subgroup
from intricate.ops.gemm import tiled as gemm
from intricate.ops.gemm.im2col import ConvGeometry, Gather

import reference
from harness import ALL_PRECISIONS, assert_close, gradient_rtol, run_programs, skip_unsupported

CASES = [  # (layer arguments, per-sample input shape, batch), named after the edge they probe
    pytest.param(dict(in_channels=2, out_channels=3, kernel_size=3), (5, 6, 2), 2,
                 id="valid_3x3"),
    pytest.param(dict(in_channels=3, out_channels=4, kernel_size=3, strides=2, padding="same"),
                 (7, 7, 3), 2, id="stride_2_same_odd_size"),
    pytest.param(dict(in_channels=2, out_channels=3, kernel_size=4, padding="same"),
                 (5, 5, 2), 1, id="same_even_kernel_pads_more_at_bottom_right"),
    pytest.param(dict(in_channels=2, out_channels=3, kernel_size=(3, 2), padding=(1, 2)),
                 (4, 5, 2), 1, id="int_padding_non_square_kernel_batch_1"),
    pytest.param(dict(in_channels=1, out_channels=2, kernel_size=3, dilation=2, padding="same"),
                 (7, 6, 1), 2, id="dilation_one_channel"),
    pytest.param(dict(in_channels=3, out_channels=5, kernel_size=(4, 3)), (4, 3, 3), 3,
                 id="kernel_equals_input"),
    pytest.param(dict(in_channels=5, out_channels=7, kernel_size=1), (3, 4, 5), 2,
                 id="one_by_one_kernel"),
    pytest.param(dict(in_channels=1, out_channels=1, kernel_size=2), (3, 3, 1), 1,
                 id="one_channel_one_filter_batch_1"),
    pytest.param(dict(in_channels=6, out_channels=5, kernel_size=(2, 3), strides=(2, 3),
                      dilation=(2, 1), padding="same"), (9, 11, 6), 2,
                 id="non_square_strides_and_dilation"),
    pytest.param(dict(in_channels=2, out_channels=2, kernel_size=1, strides=3), (7, 8, 2), 2,
                 id="stride_past_the_kernel_leaves_pixels_unread"),
    pytest.param(dict(in_channels=7, out_channels=9, kernel_size=3, padding=1, use_bias=False),
                 (10, 10, 7), 3, id="channels_not_multiple_of_4_no_bias"),
    pytest.param(dict(in_channels=32, out_channels=32, kernel_size=3, padding="same"),
                 (6, 5, 32), 2, id="wide_channels_fill_whole_tiles"),
    pytest.param(dict(in_channels=2, out_channels=3, kernel_size=1, padding=2), (3, 4, 2), 2,
                 id="padding_past_the_kernel_leaves_outputs_of_bias_only"),
    pytest.param(dict(in_channels=1, out_channels=2, kernel_size=3, dilation=4, padding="same"),
                 (5, 5, 1), 1, id="dilated_kernel_wider_than_the_image"),
]


def conv_arrays(layer: Conv2D, shape, batch, rng, dtype=np.float64):
    """Inputs, kernel, bias and dE/dY drawn for ``layer`` (built on ``shape``), as ``dtype``'s
    values (the reference then computes from exactly what the GPU holds)."""
    layer.build(shape)
    draw = {"x": (batch, *shape), "kernel": (*layer.kernel_size, layer.in_channels,
                                             layer.out_channels),
            "bias": (layer.out_channels,), "dy": (batch, *layer.output_shape)}
    return {name: rng.uniform(-1, 1, size).astype(dtype).astype(np.float64)
            for name, size in draw.items()}


async def run_conv(device, layer, values, precision=FLOAT32, activation=None, below=None,
                   need_grad_inputs=True, kernel=None):
    """Our forward and backward of ``layer`` on ``values`` (see conv_arrays): y, dX, dW, db.
    ``activation`` is fused into the forward; ``below`` = (activation, x, o) is the layer
    below, whose derivative the dX GEMM applies. ``kernel``: the GEMM file every product must
    have run in (checked)."""
    batch = values["x"].shape[0]
    arrays = {"x": values["x"].reshape(batch, -1), "kernel": values["kernel"],
              "bias": values["bias"], "dy": values["dy"].reshape(batch, -1)}
    if below is not None:
        arrays.update(below_x=below[1].reshape(batch, -1), below_o=below[2].reshape(batch, -1))
    gradient_dtype = SCALARS[precision.accumulate]

    def record(program, uploaded):
        layer.parameters = [uploaded["kernel"], uploaded["bias"]][:1 + layer.use_bias]
        layer.gradients = [gpu.empty(program.device, values["kernel"].shape, gradient_dtype),
                           gpu.empty(program.device, (layer.out_channels,), gradient_dtype)]
        layer.gradients = layer.gradients[:1 + layer.use_bias]
        outputs = layer.propagate(program, uploaded["x"], activation=activation)
        if below is not None:
            below[0].last_inputs, below[0].last_outputs = uploaded["below_x"], uploaded["below_o"]
        grad_inputs = layer.back_propagate(program, uploaded["dy"], need_grad_inputs,
                                           activation=below and below[0])
        products = [step.label for step in program.steps if step.label.endswith(":gemm")]
        assert kernel is None or all(kernel in label for label in products), products
        return [outputs, *layer.gradients, *([grad_inputs] if need_grad_inputs else [])]

    got = await run_programs(device, record, arrays, batch, precision)
    outputs, grad_kernel, *rest = got
    grad_bias = rest.pop(0) if layer.use_bias else None
    grad_inputs = rest[0] if need_grad_inputs else None
    return outputs, grad_inputs, grad_kernel, grad_bias


def want_conv(layer, values):
    """The float64 reference and the size of each entry's terms (assert_close's scale)."""
    geometry = (layer.strides, layer.pads(layer.input_shape), layer.dilation)
    bias = values["bias"] if layer.use_bias else None
    x, kernel, dy = values["x"], values["kernel"], values["dy"]
    want = (reference.conv2d_forward(x, kernel, bias, *geometry),
            *reference.conv2d_backward(x, kernel, dy, *geometry))
    scale = (reference.conv2d_forward(abs(x), abs(kernel), None if bias is None else abs(bias),
                                      *geometry),
             *reference.conv2d_backward(abs(x), abs(kernel), abs(dy), *geometry))
    return want, scale


def assert_conv(got, want, scale, rtol):
    outputs, grad_inputs, grad_kernel, grad_bias = got
    names = ("outputs", "grad_inputs", "grad_kernel", "grad_bias")
    for name, value, expected, size in zip(names, (outputs, grad_inputs, grad_kernel, grad_bias),
                                           want, scale):
        if value is None:
            continue
        try:
            assert_close(np.asarray(value).reshape(expected.shape), expected, rtol, size)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


def take_kernel(device, monkeypatch, kernel: str) -> str:
    """Make the GEMMs run in ``kernel`` ("subgroup", the software adapters' kernel, where the
    adapter has subgroups; "tiled" everywhere else, and on such adapters without them)."""
    if kernel == "subgroup" and not gemm_subgroup.usable(device):
        pytest.skip(f"{device.name} runs the tiled GEMM (no subgroups, or not a CPU)")
    if kernel == "tiled":
        monkeypatch.setattr(gemm_subgroup, "usable", lambda device: False)
    return f"ops/gemm/{kernel}.wgsl"


@pytest.mark.parametrize("kernel", ["tiled", "subgroup"])
@pytest.mark.parametrize("arguments,shape,batch", CASES)
async def test_forward_and_backward_match_float64(device, rng, monkeypatch, arguments, shape,
                                                  batch, kernel):
    layer = Conv2D(**arguments)
    values = conv_arrays(layer, shape, batch, rng, np.float32)
    got = await run_conv(device, layer, values, kernel=take_kernel(device, monkeypatch, kernel))
    assert_conv(got, *want_conv(layer, values), FLOAT32.rtol)


@pytest.mark.parametrize("precision", ALL_PRECISIONS[1:])
@pytest.mark.parametrize("arguments,shape,batch", [CASES[1], CASES[8]])
async def test_forward_and_backward_in_float64_and_mixed_float16(device, rng, precision,
                                                                 arguments, shape, batch):
    skip_unsupported(device, precision)
    layer = Conv2D(**arguments)
    values = conv_arrays(layer, shape, batch, rng, precision.numpy)
    got = await run_conv(device, layer, values, precision)
    assert [np.asarray(value).dtype for value in got] == [
        precision.numpy, precision.numpy, *[SCALARS[precision.accumulate]] * 2]
    assert_conv(got, *want_conv(layer, values), gradient_rtol(precision))


@pytest.mark.parametrize("below_kind", [ReLU, SiLU], ids=["relu", "silu_reads_inputs"])
async def test_fused_activations_match_the_reference_in_one_dispatch_each(device, rng,
                                                                          below_kind):
    """ReLU fused into the forward's epilogue, and the activation below (ReLU, or SiLU whose
    derivative reads x) fused into dX's: as the reference applies them one after the other."""
    layer = Conv2D(3, 4, 3, strides=2, padding="same")
    values = conv_arrays(layer, (7, 6, 3), 2, rng, np.float32)
    below_x = rng.uniform(-1, 1, values["x"].shape).astype(np.float32).astype(np.float64)
    below = below_kind()
    forward = {ReLU: reference.relu_forward, SiLU: reference.silu_forward}[below_kind]
    derivative = {ReLU: lambda x: (x > 0).astype(np.float64),
                  SiLU: reference.silu_derivative}[below_kind]
    below_o = forward(below_x).astype(np.float32).astype(np.float64)
    values["x"] = below_o
    got = await run_conv(device, layer, values, activation=ReLU(),
                         below=(below, below_x, below_o))
    (y, dx, dk, db), (y_scale, dx_scale, dk_scale, db_scale) = want_conv(layer, values)
    fused_want = (reference.relu_forward(y), dx * derivative(below_x), dk, db)
    assert_conv(got, fused_want, (y_scale, dx_scale, dk_scale, db_scale), FLOAT32.rtol)
    # Unfused and fused: the same dispatches but for the activations' own (none here).
    counts = {}

    def record(program, uploaded):
        layer.parameters = [uploaded["kernel"], uploaded["bias"]]
        layer.gradients = [gpu.empty(program.device, values["kernel"].shape),
                           gpu.empty(program.device, (4,))]
        layer.propagate(program, uploaded["x"], activation=ReLU())
        counts["forward"] = program.dispatch_count
        below.last_inputs, below.last_outputs = uploaded["x"], uploaded["x"]
        layer.back_propagate(program, uploaded["dy"], activation=below)
        counts["backward"] = program.dispatch_count - counts["forward"]
        return [layer.gradients[0]]

    await run_programs(device, record, {"x": values["x"].reshape(2, -1),
                                        "kernel": values["kernel"], "bias": values["bias"],
                                        "dy": values["dy"].reshape(2, -1)}, 2)
    assert counts == {"forward": 1, "backward": 2}  # y; dW with db, dX with f'


@pytest.mark.parametrize("kernel", ["tiled", "subgroup"])
async def test_grids_past_the_workgroup_limit_fold(device, rng, monkeypatch, kernel):
    """With MAX_GROUPS lowered to 4 and the loop bound to 2, dX's 6 row tiles × 2 K splits
    (12 workgroups in each kernel) fold over y and z; all of them still run, once."""
    monkeypatch.setattr(gpu.program, "MAX_GROUPS", 4)
    monkeypatch.setattr(loops, "LOOP_BOUND", 2)
    layer = Conv2D(3, 5, 3, strides=2, padding="same")
    values = conv_arrays(layer, (9, 10, 3), 2, rng, np.float32)
    got = await run_conv(device, layer, values, kernel=take_kernel(device, monkeypatch, kernel))
    assert_conv(got, *want_conv(layer, values), FLOAT32.rtol)


async def test_first_layer_skips_the_input_gradient(device, rng):
    layer = Conv2D(2, 3, 3, padding="same")
    values = conv_arrays(layer, (4, 5, 2), 2, rng, np.float32)
    got = await run_conv(device, layer, values, need_grad_inputs=False)
    assert_conv(got, *want_conv(layer, values), FLOAT32.rtol)
    returned = {}

    def record(program, uploaded):
        layer.parameters, layer.gradients = [uploaded["kernel"], uploaded["bias"]], [
            gpu.empty(program.device, values["kernel"].shape), gpu.empty(program.device, (3,))]
        layer.propagate(program, uploaded["x"])
        returned["grad_inputs"] = layer.back_propagate(program, uploaded["dy"], False)
        returned["dispatches"] = program.dispatch_count
        return [layer.gradients[0]]

    await run_programs(device, record, {"x": values["x"].reshape(2, -1),
                                        "kernel": values["kernel"], "bias": values["bias"],
                                        "dy": values["dy"].reshape(2, -1)}, 2)
    assert returned == {"grad_inputs": None, "dispatches": 2}  # y, then dW with db


@pytest.mark.parametrize("padding,shape,pads", [
    ("same", (5, 5, 1), ((1, 2), (1, 2))), ("same", (6, 7, 1), ((1, 1), (1, 2))),
    ("valid", (6, 7, 1), ((0, 0), (0, 0))), ((2, 1), (6, 7, 1), ((2, 2), (1, 1)))])
def test_same_padding_puts_the_odd_pixel_at_the_bottom_right_as_keras(padding, shape, pads):
    """TF/Keras 'same': total max((out - 1)·s + (k - 1)·d + 1 - in, 0), the extra pixel at the
    bottom/right (here kernel 4, stride 1; then kernel (4, 4) stride 2 on 6 × 7)."""
    strides = 2 if shape == (6, 7, 1) and padding == "same" else 1
    assert Conv2D(1, 1, 4, strides=strides, padding=padding).pads(shape) == pads


@pytest.mark.parametrize("kernel", ["tiled", "subgroup"])
@pytest.mark.parametrize("bound", [4, 1], ids=["bound_4", "bound_1"])
async def test_weight_gradient_splits_its_long_k_under_a_lowered_loop_bound(
        device, rng, monkeypatch, bound, kernel):
    """dW sums over batch · output pixels (K = 2 · 12 · 12 = 288 here): with the loop bound
    lowered to ``bound`` slabs (tiled) or blocks (subgroup), that K is cut into chunks summed
    by a second pass."""
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)
    layer = Conv2D(3, 5, 3, padding="same")
    values = conv_arrays(layer, (12, 12, 3), 2, rng, np.float32)
    got = await run_conv(device, layer, values, kernel=take_kernel(device, monkeypatch, kernel))
    assert_conv(got, *want_conv(layer, values), FLOAT32.rtol)


@pytest.mark.slow
async def test_weight_gradient_past_llvmpipes_loop_cap_matches_float64(device, rng):
    """K = 1100 · 32 · 32 = 1,126,400 > 65535 · 16: unsplit, one invocation would loop past
    llvmpipe's cap and silently drop the rest of the sum."""
    layer = Conv2D(1, 1, 1)
    values = conv_arrays(layer, (32, 32, 1), 1100, rng, np.float32)
    got = await run_conv(device, layer, values, need_grad_inputs=False)
    assert_conv(got, *want_conv(layer, values), FLOAT32.rtol)


def test_reference_backward_matches_finite_differences(rng):
    """The oracle's dX, dW and db against central differences of its forward (float64)."""
    layer = Conv2D(2, 3, (3, 2), strides=(2, 1), padding="same", dilation=(1, 2))
    values = conv_arrays(layer, (5, 4, 2), 2, rng)
    geometry = (layer.strides, layer.pads(layer.input_shape), layer.dilation)
    x, kernel, bias, dy = values["x"], values["kernel"], values["bias"], values["dy"]

    def loss(x=x, kernel=kernel, bias=bias):
        return float((reference.conv2d_forward(x, kernel, bias, *geometry) * dy).sum())

    grad_inputs, grad_kernel, grad_bias = reference.conv2d_backward(x, kernel, dy, *geometry)
    for analytic, numeric in (
            (grad_inputs, numerical_gradient(lambda v: loss(x=v), x.copy())),
            (grad_kernel, numerical_gradient(lambda v: loss(kernel=v), kernel.copy())),
            (grad_bias, numerical_gradient(lambda v: loss(bias=v), bias.copy()))):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("strides,padding,shape,want", [
    (1, "valid", (28, 28, 1), (26, 26, 8)), (2, "same", (28, 28, 1), (14, 14, 8)),
    (2, "same", (5, 7, 1), (3, 4, 8)), (1, (2, 0), (3, 5, 1), (5, 3, 8)),
    ((2, 3), 1, (6, 7, 1), (3, 3, 8))])
def test_output_shapes_follow_keras_and_pytorch(strides, padding, shape, want):
    assert Conv2D(1, 8, 3, strides=strides, padding=padding).output_shape_for(shape) == want


def test_kernel_initializers_take_keras_fans(rng):
    """Glorot's limit √(6 / (fan_in + fan_out)) with fans kh·kw·in and kh·kw·out (Keras)."""
    values = GlorotUniform()((3, 3, 4, 8), rng)
    limit = math.sqrt(6 / (3 * 3 * 4 + 3 * 3 * 8))
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.9 * limit
    normal = HeNormal()((5, 5, 16, 32), np.random.default_rng(0))
    assert np.std(normal) == pytest.approx(math.sqrt(2 / (5 * 5 * 16)), rel=0.05)


@pytest.mark.parametrize("arguments,match", [
    (dict(in_channels=0, out_channels=1, kernel_size=1), "in_channels: expected a positive"),
    (dict(in_channels=1, out_channels=1, kernel_size=(1, 2, 3)), "kernel_size: expected"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, strides=0), r"strides: expected"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, padding="full"), "padding: expected"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, padding=-1), "padding: expected"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, dilation=(1, 0)), r"dilation\[1\]"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, use_bias="yes"), "use_bias: expected"),
])
def test_bad_arguments_are_refused(arguments, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(**arguments)


@pytest.mark.parametrize("layer,shape,match", [
    (Conv2D(3, 4, 3), (8, 8), r"takes images \(height, width, channels\).*received samples"),
    (Conv2D(3, 4, 3), (8, 8, 1), r"expects 3 input channels.*received shape \(8, 8, 1\)"),
    (Conv2D(1, 4, 3, dilation=2), (4, 9, 1), r"at least 5 pixels high.*received shape"),
    (Conv2D(1, 4, (1, 4), padding=(0, 1)), (4, 1, 1),
     r"at least 2 pixels wide \(its dilated kernel's 4 less 2 of padding\)"),
    (Conv2D(1, 4, (7, 1), padding=2, dilation=(2, 1)), (8, 3, 1),
     r"at least 9 pixels high \(its dilated kernel's 13 less 4 of padding\)"),
])
def test_input_shapes_it_cannot_take_are_refused_naming_the_layer(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.build(shape)


async def test_inputs_of_the_wrong_width_are_refused_before_gpu_work(device, rng):
    layer = Conv2D(2, 3, 3)
    layer.build((5, 5, 2))

    def record(program, uploaded):
        layer.parameters = [uploaded["kernel"], uploaded["bias"]]
        with pytest.raises(ValueError, match=r"inputs expected \[batch, 50\].*received \[2, 49\]"):
            layer.propagate(program, uploaded["x"])
        assert program.dispatch_count == 0
        return [uploaded["bias"]]

    await run_programs(device, record, {"x": np.zeros((2, 49)), "kernel": np.zeros((3, 3, 2, 3)),
                                        "bias": np.zeros(3)}, 2)


async def test_tuning_times_the_convolution_with_its_gathers(device, rng, tmp_path, monkeypatch):
    """Where GEMMs are timed (forced here on any adapter), a convolution's are timed as they
    run, gathers included, under a shape class of their own."""
    monkeypatch.setattr(gemm, "CONFIGS", CONFIGS[-5:-3])  # two small tiles: compiling costs
    monkeypatch.setattr(gemm_subgroup, "usable", lambda device: False)
    monkeypatch.setenv("INTRICATE_GEMM_TUNING", "on")
    monkeypatch.setenv("INTRICATE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tuning, "SMALLEST_TUNED", 0)
    timed_gathers, real = [], gemm.record_gemm

    def spy(*arguments, **options):
        timed_gathers.append(options.get("gather"))
        return real(*arguments, **options)

    monkeypatch.setattr(gemm, "record_gemm", spy)  # what select hands the tuner
    device.cache["gemm-tuner"] = tuner = tuning.Tuner(device)
    try:
        layer = Conv2D(2, 3, 3, strides=2, padding="same")
        values = conv_arrays(layer, (5, 6, 2), 2, rng, np.float32)
        got = await run_conv(device, layer, values)
    finally:
        del device.cache["gemm-tuner"]
    assert_conv(got, *want_conv(layer, values), FLOAT32.rtol)
    assert sorted(name.split("/")[0] for name in tuner.table) == [
        "output_patches+kernel_transposed", "patches+", "patches_transposed+"]
    assert len(timed_gathers) == 3 * 2 and all(gather is not None for gather in timed_gathers)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
async def test_gpu_gradients_match_central_differences_on_the_gpu(device, rng, precision):
    """check_gradients: dX, dW and db of our GEMMs against central differences of our forward,
    on the GPU, strided, dilated and padded on one side more than the other."""
    skip_unsupported(device, precision)
    layer, shape = Conv2D(3, 4, (3, 2), strides=(2, 1), padding="same", dilation=(1, 2)), (5, 6, 3)
    report = await check_gradients(layer, rng.normal(size=(2, *shape)), input_shape=shape,
                                   device=device, dtype=precision.name)
    assert report.passed, str(report)
    assert [output.name for output in report.outputs] == ["grad_inputs", "grad_kernel", "grad_bias"]


def test_operands_past_the_gathers_i32_addresses_are_refused():
    class Huge:  # a GPUArray's size, without its 8 GiB
        size = 2**31

    geometry = ConvGeometry(1, 1, 1, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match=r"a: a convolution's gathered operand holds at most "
                                         r"2147483647 elements.*received 2147483648 \(patches\)"):
        Gather(geometry, a="patches").check(Huge(), Huge())
    Gather(geometry, b="kernel_transposed").check(Huge(), type("Small", (), {"size": 9})())
