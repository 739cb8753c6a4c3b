"""BatchNormalization against the float64 reference: a training step's forward, backward and
moving statistics, inference on the moving statistics (no update), images and flat data, batch
1, center/scale off, every dtype; the reference's backward against finite differences; no
cancellation far from 0; reductions past llvmpipe's loop cap; the weights' order in a model; a
fit updating the moving statistics that predict then uses; refusals."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions, gpu, losses
from intricate.engine import plan
from intricate.gpu.dtypes import FLOAT32
from intricate.layers import ELU, GELU, BatchNormalization, Dense, LeakyReLU, ReLU, Sigmoid, SiLU
from intricate.layers import normalization as normalization_module
from intricate.ops import loops

import reference
from harness import ALL_PRECISIONS, assert_close, gradient_rtol, skip_unsupported

EPSILON = 1e-3


def layer_weights(layer, rng):
    """Random gamma (>0), beta, moving mean and moving variance (>0) for ``layer``'s flags."""
    channels = layer.channels
    weights = [rng.uniform(0.5, 2.0, channels)] * layer.scale + [
        rng.normal(size=channels)] * layer.center
    return weights + [rng.normal(size=channels), rng.uniform(0.5, 2.0, channels)]


def run_layer(device, layer, x, weights, precision=FLOAT32, grad_outputs=None, training=True,
              steps=1, need_grad_inputs=True):
    """Bind ``weights`` (gamma?, beta?, moving_mean, moving_variance) to ``layer`` (built for
    x's per-sample shape), record its forward (and its backward of ``grad_outputs``), run it
    ``steps`` times in one submit; return {name: array} and the program's dispatches."""
    rows = x.shape[0]
    count = len(layer.parameter_shapes())

    def work():
        layer.parameters = [gpu.from_numpy(device, w, precision.numpy) for w in weights[:count]]
        layer.gradients = [gpu.from_numpy(device, np.full(w.shape, np.nan), precision.parameters)
                           for w in weights[:count]]
        layer.states = [gpu.from_numpy(device, w, precision.parameters)
                        for w in weights[count:]]
        program = gpu.Program(gpu.Workspace(device, rows, precision))
        program.training = training
        inputs = gpu.from_numpy(device, x.reshape(rows, -1), precision.numpy)
        read = {"y": layer.propagate(program, inputs)}
        if grad_outputs is not None:
            gradient = gpu.from_numpy(device, grad_outputs.reshape(rows, -1), precision.numpy)
            dx = layer.back_propagate(program, gradient, need_grad_inputs=need_grad_inputs)
            read.update({} if dx is None else {"dx": dx})
            read.update({f"d{name}": array for (name, _), array in
                         zip(layer.parameter_shapes(), layer.gradients)})
        read.update(zip(("moving_mean", "moving_variance"), layer.states))
        encoder = device.handle.create_command_encoder()
        for _ in range(steps):
            program.encode(encoder)
        device.submit(encoder)
        values = gpu.read(*read.values())
        return {name: value.astype(np.float64).reshape(x.shape if name in ("y", "dx") else -1)
                for name, value in zip(read, values)}, program.dispatch_count

    return device.run(work)


def as_used(values, dtype):
    """``values`` as the GPU holds them (rounded to ``dtype``), in float64."""
    return np.asarray(values).astype(dtype).astype(np.float64)


def term_scales(x, grad_outputs, gamma, beta):
    """The size of the terms each result sums (assert_close's scale): x - mean rounds at |x|,
    so x̂ is known to ε (|x| + |mean|) / std, and each sum to ε times the sum of its terms."""
    columns = x.reshape(-1, x.shape[-1])
    mean, variance = reference.batch_norm_moments(columns)
    spread = 1 / np.sqrt(variance + EPSILON)
    size = (np.abs(columns) + np.abs(mean)) * spread  # |x̂|'s scale
    g = np.ones_like(mean) if gamma is None else np.abs(gamma)
    b = np.zeros_like(mean) if beta is None else np.abs(beta)
    scales = {"y": (g * size + b).reshape(x.shape)}
    if grad_outputs is not None:
        dy = np.abs(grad_outputs.reshape(columns.shape))
        products = (dy * size).mean(axis=0)
        scales["dx"] = (g * spread * (dy + dy.mean(axis=0) + size * products)).reshape(x.shape)
        scales["dgamma"], scales["dbeta"] = (dy * size).sum(axis=0), dy.sum(axis=0)
    return scales


CASES = {  # name: (batch shape, layer arguments)
    "images": ((3, 5, 4, 3), {}),
    "flat": ((9, 5), {}),
    "batch 1": ((1, 4), {}),
    "image of one pixel, batch 2": ((2, 1, 1, 6), {}),
    "no scale": ((4, 3, 3, 2), {"scale": False}),
    "no center": ((6, 7), {"center": False}),
    "neither": ((2, 3, 5, 4), {"scale": False, "center": False}),
}


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_training_step_matches_the_reference(device, rng, case, precision):
    skip_unsupported(device, precision)
    shape, arguments = CASES[case]
    layer = BatchNormalization(momentum=0.9, **arguments)
    layer.build(shape[1:])
    x = as_used(rng.normal(1.0, 2.0, shape), precision.numpy)
    grad_outputs = as_used(rng.normal(size=shape), precision.numpy)
    weights = [as_used(w, precision.numpy) for w in layer_weights(layer, rng)]
    got, dispatches = await run_layer(device, layer, x, weights, precision, grad_outputs)
    assert dispatches == 3 + 3  # statistics in parts, merged, normalize; backward likewise
    gamma = weights[0] if layer.scale else None
    beta = weights[layer.scale] if layer.center else None
    y, mean, variance = reference.batch_norm_training_forward(x, gamma, beta, EPSILON)
    dx, dgamma, dbeta = reference.batch_norm_backward(x, grad_outputs, gamma, EPSILON)
    want = {"y": y, "dx": dx, "dgamma": dgamma, "dbeta": dbeta,
            "moving_mean": reference.batch_norm_moving(weights[-2], mean, 0.9),
            "moving_variance": reference.batch_norm_moving(weights[-1], variance, 0.9)}
    scales = term_scales(x, grad_outputs, gamma, beta)
    scales["moving_mean"] = 0.9 * np.abs(weights[-2]) + 0.1 * np.abs(x).reshape(
        -1, shape[-1]).max(axis=0)
    scales["moving_variance"] = want["moving_variance"]
    assert set(got) == {"y", "dx", "moving_mean", "moving_variance"} | {
        f"d{name}" for name, _ in layer.parameter_shapes()}
    rtol = gradient_rtol(precision)
    for name, values in got.items():
        assert np.isfinite(values).all(), name
        assert_close(values, want[name], rtol, scales[name])


@pytest.mark.parametrize("shape", [(17, 1), (33, 257), (16, 256), (255, 3), (2, 300),
                                   (40, 1, 1, 255)])
async def test_edge_sizes_match_the_reference(device, rng, shape):
    """Parts of 16 rows with a last part of 1 (17, 33 rows), channels past a workgroup
    (255-257, 300), a channel's values in one row (batch 2)."""
    layer = BatchNormalization(momentum=0.8)
    layer.build(shape[1:])
    x = as_used(rng.normal(0.5, 2.0, shape), np.float32)
    grad_outputs = as_used(rng.normal(size=shape), np.float32)
    weights = [as_used(w, np.float32) for w in layer_weights(layer, rng)]
    got, _ = await run_layer(device, layer, x, weights, grad_outputs=grad_outputs)
    y, mean, variance = reference.batch_norm_training_forward(x, *weights[:2], EPSILON)
    dx, dgamma, dbeta = reference.batch_norm_backward(x, grad_outputs, weights[0], EPSILON)
    scales = term_scales(x, grad_outputs, *weights[:2])
    for name, want in (("y", y), ("dx", dx), ("dgamma", dgamma), ("dbeta", dbeta)):
        assert_close(got[name], want, 1e-4, scales[name])
    assert_close(got["moving_mean"], 0.8 * weights[2] + 0.2 * mean, 1e-4,
                 0.8 * np.abs(weights[2]) + 0.2 * np.abs(x).reshape(-1, shape[-1]).max(0))
    assert_close(got["moving_variance"], 0.8 * weights[3] + 0.2 * variance, 1e-4)


def test_the_reference_backward_matches_finite_differences(rng):
    x = rng.normal(0.5, 1.5, (3, 2, 2, 3))
    gamma, beta = rng.uniform(0.5, 2.0, 3), rng.normal(size=3)
    projection = rng.normal(size=x.shape)

    def energy(x, gamma, beta):
        return (reference.batch_norm_training_forward(x, gamma, beta, EPSILON)[0]
                * projection).sum()

    analytic = reference.batch_norm_backward(x, projection, gamma, EPSILON)
    for position, argument in enumerate((x, gamma, beta)):
        numeric = np.zeros_like(argument)
        for index in np.ndindex(argument.shape):
            values = [x, gamma, beta]
            for sign in (1, -1):
                moved = argument.copy()
                moved[index] += sign * 1e-6
                values[position] = moved
                numeric[index] += sign * energy(*values) / 2e-6
        want = analytic[0] if position == 0 else analytic[position]
        assert_close(numeric, want, 1e-6, np.abs(want).max())


async def test_inference_normalises_by_the_moving_statistics_without_updating_them(device, rng):
    shape = (4, 3, 2, 5)
    layer = BatchNormalization()
    layer.build(shape[1:])
    x = as_used(rng.normal(size=shape), np.float32)
    weights = [as_used(w, np.float32) for w in layer_weights(layer, rng)]
    got, dispatches = await run_layer(device, layer, x, weights, training=False)
    assert dispatches == 1
    gamma, beta, moving_mean, moving_variance = weights
    want = reference.batch_norm_forward(x, moving_mean, moving_variance, gamma, beta, EPSILON)
    assert_close(got["y"], want, 1e-5, np.abs(want) + np.abs(beta))
    assert np.array_equal(got["moving_mean"], moving_mean)
    assert np.array_equal(got["moving_variance"], moving_variance)


async def test_the_backward_of_an_inference_forward_takes_the_statistics_as_constants(device,
                                                                                       rng):
    shape = (5, 2, 3, 4)
    layer = BatchNormalization()
    layer.build(shape[1:])
    x = as_used(rng.normal(size=shape), np.float32)
    grad_outputs = as_used(rng.normal(size=shape), np.float32)
    weights = [as_used(w, np.float32) for w in layer_weights(layer, rng)]
    got, _ = await run_layer(device, layer, x, weights, grad_outputs=grad_outputs,
                             training=False)
    gamma, _, moving_mean, moving_variance = weights
    want = reference.batch_norm_inference_backward(x, grad_outputs, moving_mean,
                                                   moving_variance, gamma, EPSILON)
    scales = term_scales(x, grad_outputs, gamma, None)
    for name, values in zip(("dx", "dgamma", "dbeta"), want):
        assert_close(got[name], values, 1e-4, np.abs(values) if name == "dx" else scales[name])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
async def test_check_gradients_verifies_the_layer(device, rng, dtype):
    from intricate.kernels import check_gradients

    report = await check_gradients(BatchNormalization(), rng.normal(size=(6, 2, 2, 3)),
                                   device=device, dtype=dtype, input_shape=(2, 2, 3))
    assert report.passed, report


async def test_moving_statistics_after_several_steps_follow_the_formula(device, rng):
    shape, steps, momentum = (6, 4), 5, 0.7
    layer = BatchNormalization(momentum=momentum)
    layer.build(shape[1:])
    x = as_used(rng.normal(3.0, 2.0, shape), np.float32)
    weights = [as_used(w, np.float32) for w in layer_weights(layer, rng)]
    got, _ = await run_layer(device, layer, x, weights, steps=steps)
    mean, variance = reference.batch_norm_moments(x)
    moving = weights[-2:]
    for _ in range(steps):  # the same batch every step
        moving = [reference.batch_norm_moving(moving[0], mean, momentum),
                  reference.batch_norm_moving(moving[1], variance, momentum)]
    assert_close(got["moving_mean"], moving[0], 1e-5)
    assert_close(got["moving_variance"], moving[1], 1e-5)


async def test_a_batch_of_one_keeps_every_value_finite(device, rng):
    layer = BatchNormalization()
    layer.build((5,))
    x = as_used(rng.normal(size=(1, 5)), np.float32)
    weights = [as_used(w, np.float32) for w in layer_weights(layer, rng)]
    got, _ = await run_layer(device, layer, x, weights, grad_outputs=np.ones((1, 5)))
    assert all(np.isfinite(values).all() for values in got.values())
    assert np.array_equal(got["y"][0], as_used(weights[1], np.float32))  # x̂ = 0: y = beta
    assert np.array_equal(got["dx"], np.zeros((1, 5)))


async def test_data_far_from_zero_keeps_its_variance_in_float32(device, rng):
    """E[x²] - E[x]² of x = 1e4 + N(0, 1) in float32 loses everything to cancellation (an ulp
    of 1e8 is 8); the parts' two-pass variances and Chan's merge keep it."""
    layer = BatchNormalization(momentum=0.0)  # moving_variance = the batch's variance
    layer.build((3,))
    x = as_used(1e4 + rng.normal(size=(4000, 3)), np.float32)
    weights = [np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)]
    got, _ = await run_layer(device, layer, x, weights)
    mean, variance = reference.batch_norm_moments(x)
    assert_close(got["moving_variance"], variance, 1e-3)
    assert_close(got["moving_mean"], mean, 1e-6)


@pytest.mark.parametrize("bound", [None, 100])
async def test_a_channel_of_more_values_than_llvmpipe_loops_over(device, rng, monkeypatch,
                                                                 bound):
    """70,000 values in one channel (one invocation summing them would stop at 65,535 on
    lavapipe); and with LOOP_BOUND lowered, parts of at most 50 rows, 1400 of them merged by
    64 lanes."""
    if bound is not None:
        monkeypatch.setattr(loops, "LOOP_BOUND", bound)
        assert normalization_module.split_rows(70_000, 1)[0] <= bound // 2
    layer = BatchNormalization(momentum=0.0)
    layer.build((1,))
    x = as_used(rng.uniform(-1.0, 3.0, (70_000, 1)), np.float32)
    grad_outputs = as_used(rng.normal(size=x.shape), np.float32)
    weights = [np.full(1, 1.5), np.full(1, 0.25), np.zeros(1), np.ones(1)]
    got, _ = await run_layer(device, layer, x, weights, grad_outputs=grad_outputs)
    mean, variance = reference.batch_norm_moments(x)
    assert_close(got["moving_mean"], mean, 1e-5)
    assert_close(got["moving_variance"], variance, 1e-5)
    dx, dgamma, dbeta = reference.batch_norm_backward(x, grad_outputs, np.full(1, 1.5), EPSILON)
    scales = term_scales(x, grad_outputs, np.full(1, 1.5), np.full(1, 0.25))
    assert_close(got["dgamma"], dgamma, 1e-4, scales["dgamma"])
    assert_close(got["dbeta"], dbeta, 1e-4, scales["dbeta"])
    assert_close(got["dx"], dx, 1e-4, scales["dx"])


async def test_folded_grids_reach_every_channel_and_part(device, rng, monkeypatch):
    """With MAX_GROUPS lowered to 6, the merges' workgroup per channel (20 channels: 6 x 4
    workgroups, 4 past the last channel) and the element kernels (24 workgroups) fold over y."""
    monkeypatch.setattr(gpu.program, "MAX_GROUPS", 6)
    layer = BatchNormalization(momentum=0.5)
    layer.build((20,))
    x = as_used(rng.normal(size=(300, 20)), np.float32)
    grad_outputs = as_used(rng.normal(size=x.shape), np.float32)
    weights = [as_used(w, np.float32) for w in layer_weights(layer, rng)]
    got, _ = await run_layer(device, layer, x, weights, grad_outputs=grad_outputs)
    y, mean, variance = reference.batch_norm_training_forward(x, *weights[:2], EPSILON)
    dx, dgamma, dbeta = reference.batch_norm_backward(x, grad_outputs, weights[0], EPSILON)
    scales = term_scales(x, grad_outputs, *weights[:2])
    for name, want in (("y", y), ("dx", dx), ("dgamma", dgamma), ("dbeta", dbeta)):
        assert_close(got[name], want, 1e-4, scales[name])
    assert_close(got["moving_variance"], 0.5 * weights[3] + 0.5 * variance, 1e-5)


@pytest.mark.parametrize("bound", [40, 64, 1000, loops.LOOP_BOUND])
def test_every_split_keeps_each_loop_within_the_bound(monkeypatch, bound):
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)
    lanes = normalization_module.MERGE_WORKGROUP_SIZE
    tree = 2 * int(np.log2(lanes))  # a merge's two tree sums
    for rows in (1, 2, 15, 16, 17, 255, 1000, 70_000, 10**6, 10**8):
        for channels in (1, 3, 64):
            try:
                part_rows, parts = normalization_module.split_rows(rows, channels)
            except ValueError:
                assert rows > bound // 2 * lanes * ((bound - tree) // 2)
                continue
            assert (parts - 1) * part_rows < rows <= parts * part_rows  # no empty part
            assert 2 * part_rows <= bound  # statistics_parts: two passes over its part
            assert 2 * -(-parts // lanes) + tree <= bound  # a merge's lane looping twice


def test_more_rows_than_the_bounded_reductions_sum_are_refused(monkeypatch):
    """LOOP_BOUND 40: parts of at most 20 rows (looped twice), merged by 64 lanes looping
    twice over at most 14 parts each beside two 6-step tree sums: 20 · 64 · 14 rows."""
    monkeypatch.setattr(loops, "LOOP_BOUND", 40)
    assert normalization_module.split_rows(2000, 1) == (16, 125)
    assert normalization_module.split_rows(17_920, 1) == (20, 896)  # as many as it sums
    with pytest.raises(ValueError, match=r"17921 values per channel, more than .*\(17920\)"):
        normalization_module.split_rows(17_921, 1)


async def test_the_first_layer_records_no_grad_inputs(device, rng):
    layer = BatchNormalization()
    layer.build((3,))
    x = rng.normal(size=(5, 3))
    weights = layer_weights(layer, rng)
    got, dispatches = await run_layer(device, layer, x, weights, grad_outputs=x,
                                      need_grad_inputs=False)
    assert dispatches == 3 + 2 and "dx" not in got and np.isfinite(got["dgamma"]).all()


def test_weights_are_listed_in_keras_order_with_keras_initial_values():
    model = Model([Dense(3, 4), BatchNormalization(), Dense(4, 2),
                   BatchNormalization(center=False, scale=False)], seed=0)
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 4), (4,), (4,), (4,), (4,), (4,), (4, 2), (2,), (2,), (2,)]
    names = [name for layer in model.layers for name, _ in layer.weight_shapes()]
    assert names[2:6] == ["gamma", "beta", "moving_mean", "moving_variance"]
    gamma, beta, moving_mean, moving_variance = model.get_weights()[2:6]
    assert (gamma == 1).all() and (beta == 0).all() and (moving_mean == 0).all() and (
        moving_variance == 1).all()
    assert model.count_params() == (12 + 4) + 4 * 4 + (8 + 2) + 2 * 2


async def test_a_fit_updates_the_moving_statistics_that_predict_uses(device, rng):
    """Full-batch steps at learning rate ~0 see the same batch: after k steps moving_mean =
    (1 - m^k) · mean(x) on the GPU; predict and evaluate normalise by the moving statistics."""
    momentum, epochs = 0.5, 3
    x = rng.normal(2.0, 3.0, (32, 4)).astype(np.float32)
    y = rng.normal(size=(32, 1)).astype(np.float32)
    model = Model([BatchNormalization(momentum=momentum), Dense(4, 1)], device=device, seed=1)
    await model.fit(x, y, TrainingOptions(learning_rate=1e-30, epochs=epochs,
                                          loss_algorithm="mse"))
    gamma, beta, moving_mean, moving_variance, kernel, bias = model.get_weights()
    mean, variance = reference.batch_norm_moments(x)
    assert_close(moving_mean, (1 - momentum**epochs) * mean, 1e-5)
    assert_close(moving_variance, momentum**epochs + (1 - momentum**epochs) * variance, 1e-5)
    normalised = reference.batch_norm_forward(x, moving_mean, moving_variance, gamma, beta,
                                              EPSILON)
    want = reference.dense_forward(normalised, kernel.astype(np.float64), bias)
    assert_close(await model.predict(x), want, 1e-4,
                 reference.dense_forward(np.abs(normalised), np.abs(kernel), np.abs(bias)))
    assert_close(await model.evaluate(x, y), ((want - y) ** 2).mean(), 1e-4)
    assert_close(model.get_weights()[2], moving_mean, 0)  # predict and evaluate update nothing


@pytest.mark.parametrize("arguments", [{"momentum": 1.5}, {"momentum": -0.1},
                                       {"epsilon": 0.0}, {"epsilon": -1e-3},
                                       {"center": "yes"}, {"scale": 1}])
def test_bad_arguments_are_refused(arguments):
    with pytest.raises(ValueError, match=next(iter(arguments))):
        BatchNormalization(**arguments)


def test_the_channels_need_an_input_shape():
    with pytest.raises(ValueError, match="input shape"):
        BatchNormalization().parameter_shapes()


def test_the_config_rebuilds_the_layer():
    layer = BatchNormalization(momentum=0.9, epsilon=1e-5, center=False)
    again = BatchNormalization(**layer.get_config())
    assert again.get_config() == {"momentum": 0.9, "epsilon": 1e-5, "center": False,
                                  "scale": True, "axis": -1}


async def test_a_cnn_with_normalization_and_dropout_trains_saves_and_loads_in_every_dtype(
        device, rng, tmp_path):
    from intricate.layers import Conv2D, Dropout, Flatten, ReLU

    x = rng.normal(5.0, 2.0, (16, 6, 6, 2)).astype(np.float32)
    y = rng.normal(size=(16, 1)).astype(np.float32)
    for dtype in ("float32", "float64", "mixed_float16"):
        model = Model([Conv2D(2, 4, 3), BatchNormalization(), ReLU(), Dropout(0.3), Flatten(),
                       Dense(64, 1)], device=device, seed=0, input_shape=(6, 6, 2),
                      dtype=dtype)
        history = await model.fit(x, y, TrainingOptions(learning_rate=0.05, epochs=4,
                                                        batch_size=8, loss_algorithm="mse"))
        assert np.isfinite(history.loss).all() and history.loss[-1] < history.loss[0], dtype
        moving_mean = model.get_weights()[4]
        assert np.abs(moving_mean).min() > 0, dtype  # 8 steps moved every channel's
        model.save(tmp_path / f"{dtype}.safetensors")
        loaded = Model.load(tmp_path / f"{dtype}.safetensors", device=device)
        assert np.array_equal(loaded.get_weights()[4], moving_mean), dtype
        assert np.array_equal(await loaded.predict(x), await model.predict(x)), dtype


async def test_training_and_inference_match_pytorch_batchnorm2d(device, rng):
    torch = pytest.importorskip("torch")
    momentum, shape = 0.9, (4, 5, 6, 3)  # NHWC here, NCHW in torch
    x = rng.normal(1.0, 2.0, shape)
    y = rng.normal(size=shape)
    network = torch.nn.BatchNorm2d(3, eps=EPSILON, momentum=1 - momentum, dtype=torch.float64)
    with torch.no_grad():
        network.weight.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, 3)))
        network.bias.copy_(torch.from_numpy(rng.normal(size=3)))
        network.running_mean.copy_(torch.from_numpy(rng.normal(size=3)))
        network.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, 3)))
    start = {name: value.clone() for name, value in network.state_dict().items()}
    model = Model.from_torch_state_dict(start, [BatchNormalization(momentum=momentum)],
                                        device=device, dtype="float64", input_shape=shape[1:])

    def nchw(values):
        return torch.from_numpy(values.transpose(0, 3, 1, 2).copy())

    network.eval()  # inference: the running statistics, as predict uses them
    assert_close(await model.predict(x),
                 network(nchw(x)).detach().numpy().transpose(0, 2, 3, 1), 1e-12)
    network.train()  # one training step on the whole batch: the same gradients and updates
    before = model.get_weights()
    await model.fit(x, y, TrainingOptions(learning_rate=0.5, epochs=1, shuffle=False,
                                          loss_algorithm="mse"))
    torch.nn.functional.mse_loss(network(nchw(x)), nchw(y)).backward()
    after = model.get_weights()
    for index, parameter in enumerate((network.weight, network.bias)):
        assert_close((before[index] - after[index]) / 0.5, parameter.grad.numpy(), 1e-10)
    count = x.size // shape[-1]  # PyTorch's running_var takes the unbiased batch variance
    unbiased = (network.running_var.numpy() - momentum * before[3]) / (1 - momentum)
    assert_close(after[2], network.running_mean.numpy(), 1e-12)
    assert_close(after[3], momentum * before[3] + (1 - momentum) * unbiased * (count - 1) / count,
                 1e-12)


def sgd_step(spec, weights, x, y, learning_rate, momentum=0.99):
    """NumPy's full-batch SGD step on the mean squared error of a model of ``spec`` ("Dense",
    "BatchNormalization" or (activation, alpha) of reference.ELEMENTWISE): its weights after the
    step in get_weights' order, moving statistics included, and each one's scale (its size
    plus the learning rate times the sum of its gradient's |terms|: a bias before a
    BatchNormalization gets a gradient of exactly 0, which float32 rounds at its terms' size)."""
    weights = [np.asarray(w, np.float64) for w in weights]
    starts = np.cumsum([0] + [2 if s == "Dense" else 4 if s == "BatchNormalization" else 0
                              for s in spec])
    values = [np.asarray(x, np.float64)]
    stepped, scales = list(weights), [np.abs(w) for w in weights]
    for kind, start in zip(spec, starts):
        if kind == "Dense":
            values.append(reference.dense_forward(values[-1], *weights[start:start + 2]))
        elif kind == "BatchNormalization":
            y_, mean, variance = reference.batch_norm_training_forward(
                values[-1], *weights[start:start + 2], EPSILON)
            for offset, batch in ((2, mean), (3, variance)):
                stepped[start + offset] = reference.batch_norm_moving(weights[start + offset],
                                                                      batch, momentum)
            scales[start + 2] += (1 - momentum) * np.abs(values[-1]).mean(axis=0)
            values.append(y_)
        else:
            values.append(reference.ELEMENTWISE[kind[0]][0](values[-1], kind[1]))
    grad = reference.mean_squared_gradient(values[-1], y)
    for index in reversed(range(len(spec))):
        kind, start, inputs = spec[index], starts[index], values[index]
        if kind == "Dense":
            terms = [np.abs(inputs).T @ np.abs(grad), np.abs(grad).sum(axis=0)]
            grad, *gradients = reference.dense_backward(inputs, weights[start], grad)
        elif kind == "BatchNormalization":
            mean, variance = reference.batch_norm_moments(inputs)
            normalized = np.abs(inputs - mean) / np.sqrt(variance + EPSILON)
            terms = [(np.abs(grad) * normalized).sum(axis=0), np.abs(grad).sum(axis=0)]
            grad, *gradients = reference.batch_norm_backward(inputs, grad, weights[start],
                                                             EPSILON)
        else:
            terms, gradients = [], []
            grad = grad * reference.ELEMENTWISE[kind[0]][1](inputs, kind[1])
        for offset, (gradient, size) in enumerate(zip(gradients, terms)):
            stepped[start + offset] = weights[start + offset] - learning_rate * gradient
            scales[start + offset] = scales[start + offset] + learning_rate * size
    return stepped, scales


FUSED = {  # name: (layers, spec, the planner's steps (forward, backward))
    "BN then GELU (fused forward, its inputs kept)": (
        lambda: [Dense(3, 5), BatchNormalization(), GELU(), Dense(5, 2)],
        ["Dense", "BatchNormalization", ("GELU", 0.0), "Dense"], (3, 3)),
    "ELU(0.5) then BN (BN's dx takes ELU's derivative from its inputs)": (
        lambda: [Dense(3, 5), ELU(0.5), BatchNormalization(), Dense(5, 2)],
        ["Dense", ("ELU", 0.5), "BatchNormalization", "Dense"], (3, 3)),
    "ReLU, BN, Sigmoid": (
        lambda: [Dense(3, 6), ReLU(), BatchNormalization(), Sigmoid(), Dense(6, 2)],
        ["Dense", ("ReLU", 0.0), "BatchNormalization", ("Sigmoid", 0.0), "Dense"], (3, 3)),
    "BN, SiLU, BN (one fused forward, the other backward)": (
        lambda: [Dense(3, 5), BatchNormalization(), SiLU(), BatchNormalization(), Dense(5, 2)],
        ["Dense", "BatchNormalization", ("SiLU", 0.0), "BatchNormalization", "Dense"], (4, 4)),
    "BN first, then LeakyReLU(0.2) fused into it": (
        lambda: [BatchNormalization(), LeakyReLU(0.2), Dense(3, 2)],
        ["BatchNormalization", ("LeakyReLU", 0.2), "Dense"], (2, 2)),
    "BN last": (lambda: [Dense(3, 2), BatchNormalization()], ["Dense", "BatchNormalization"],
                (2, 2)),
}


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
@pytest.mark.parametrize("case", sorted(FUSED))
async def test_activations_fused_into_the_layer_train_as_numpy(device, rng, case, precision):
    skip_unsupported(device, precision)
    make_layers, spec, (forward_steps, backward_steps) = FUSED[case]
    layers = make_layers()
    model = Model(layers, device=device, seed=2, dtype=precision.name)
    assert len(plan.forward_steps(layers)) == forward_steps
    assert len(plan.backward_steps(layers, losses.MeanSquared())) == backward_steps
    x = rng.normal(0.5, 1.5, (12, 3)).astype(np.float32)
    y = rng.normal(size=(12, 2)).astype(np.float32)
    want, scales = sgd_step(spec, model.get_weights(), x, y, 0.1)
    await model.fit(x, y, TrainingOptions(learning_rate=0.1, epochs=1, loss_algorithm="mse"))
    for got, expected, scale in zip(model.get_weights(), want, scales, strict=True):
        assert_close(got, expected, gradient_rtol(precision), scale)
