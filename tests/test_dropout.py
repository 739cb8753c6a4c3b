"""Dropout: identity (no GPU work) outside training steps and at rate 0; in training steps, kept
elements exactly x / (1 - rate), the kept fraction within statistical bounds, the backward on
the forward's mask, new masks every step (the counter advancing on the GPU, no readback), other
masks in another layer, the same masks for the same seed; every dtype."""

from __future__ import annotations

import math

import numpy as np
import pytest

from intricate import Model, TrainingOptions, gpu
from intricate.gpu.dtypes import FLOAT32, FLOAT64
from intricate.kernels import check_gradients
from intricate.layers import Dense, Dropout, TanH

import reference
from harness import ALL_PRECISIONS, skip_unsupported


def run_steps(device, layers, x, steps=1, precision=FLOAT32, grad_outputs=None):
    """Record each layer's training forward of ``x`` (and backward of ``grad_outputs`` when
    given) in one program, run it ``steps`` times in ONE submit (the outputs copied out after
    each step), and return per step [y, dE/dI] of each layer; plus the program's dispatches."""

    def work():
        program = gpu.Program(gpu.Workspace(device, x.shape[0], precision))
        program.training = True
        inputs = gpu.from_numpy(device, x, precision.numpy)
        watched = []
        for layer in layers:
            watched.append(layer.propagate(program, inputs))
            if grad_outputs is not None:
                gradient = gpu.from_numpy(device, grad_outputs, precision.numpy)
                watched.append(layer.back_propagate(program, gradient))
        copies = [[gpu.empty(device, array.shape, array.dtype) for array in watched]
                  for _ in range(steps)]
        encoder = device.handle.create_command_encoder()
        for step in range(steps):
            program.encode(encoder)
            for array, copy in zip(watched, copies[step]):
                encoder.copy_buffer_to_buffer(array.buffer, array.offset, copy.buffer, 0,
                                              array.binding()["size"])
        device.submit(encoder)
        values = gpu.read(*(copy for step in copies for copy in step))
        return [values[i * len(watched):(i + 1) * len(watched)] for i in range(steps)], (
            program.dispatch_count)

    return device.run(work)


def built(layer, width):
    layer.build((width,))
    return layer


async def test_outside_training_the_inputs_pass_through_with_no_dispatch(device, rng):
    layer = built(Dropout(0.5, seed=1), 8)

    def work():
        program = gpu.Program(gpu.Workspace(device, 4, FLOAT32))  # training stays False
        inputs = gpu.from_numpy(device, rng.normal(size=(4, 8)))
        return layer.propagate(program, inputs) is inputs, program.dispatch_count

    assert await device.run(work) == (True, 0)


async def test_the_backward_of_a_forward_that_dropped_nothing_passes_dy_on(device, rng):
    layer = built(Dropout(0.5, seed=1), 8)

    def work():
        program = gpu.Program(gpu.Workspace(device, 4, FLOAT32))  # training stays False
        inputs = gpu.from_numpy(device, rng.normal(size=(4, 8)))
        layer.propagate(program, inputs)
        return layer.back_propagate(program, inputs) is inputs, program.dispatch_count

    assert await device.run(work) == (True, 0)
    report = await check_gradients(Dropout(0.5), rng.normal(size=(3, 5)), device=device)
    assert report.passed, report


async def test_rate_zero_is_the_identity_with_no_dispatch_even_in_training(device, rng):
    x = rng.normal(size=(4, 8)).astype(np.float32)
    [[y, grad_inputs]], dispatches = await run_steps(device, [built(Dropout(0.0), 8)], x,
                                                     grad_outputs=x)
    assert dispatches == 0
    assert np.array_equal(y, x) and np.array_equal(grad_inputs, x)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
async def test_kept_elements_are_exactly_x_times_one_over_the_keep_probability(device, rng,
                                                                              precision):
    """y = x · (1 / (1 - rate)) rounded once (the scale from the host, as PyTorch's), on every
    GPU: a division in WGSL may be 2.5 ulps off (x / 0.4 on an H200 was)."""
    skip_unsupported(device, precision)
    rate = 0.3
    x = rng.uniform(0.5, 2.0, size=(37, 29)).astype(precision.numpy)  # nonzero: 0 means dropped
    [[y, _]], _ = await run_steps(device, [built(Dropout(rate, seed=5), 29)], x,
                                  precision=precision, grad_outputs=x)
    accumulate = np.float64 if precision is FLOAT64 else np.float32
    want = (x.astype(accumulate) * accumulate(1 / (1 - rate))).astype(precision.numpy)
    kept = y != 0
    assert 0 < kept.sum() < kept.size
    assert np.array_equal(y[kept], want[kept])


@pytest.mark.parametrize("rate", [0.001, 0.1, 0.5, 0.9, 0.999])  # thresholds near 0 and 2^32
async def test_the_kept_fraction_is_within_six_sigma_of_one_minus_rate(device, rate):
    count = 100_003  # ~1e5 elements, not a multiple of the workgroup
    [[y]], _ = await run_steps(device, [built(Dropout(rate, seed=11), count)],
                               np.ones((1, count), np.float32))
    kept = int((y != 0).sum())
    keep = 1 - rate
    assert abs(kept - count * keep) <= 6 * math.sqrt(count * keep * rate), (kept, count * keep)


async def test_masks_are_the_reference_hash_of_seed_step_and_element(device):
    layer = built(Dropout(0.3, seed=4), 1000)
    masks, _ = await run_steps(device, [layer], np.ones((3, 1000), np.float32), steps=2)
    low, high = layer.seed_words()
    for step, [y] in enumerate(masks):
        keep = reference.dropout_keep(3000, step, low, high, round(0.3 * 2**32))
        assert np.array_equal(y.reshape(-1) != 0, keep), step


@pytest.mark.parametrize("count", [1, 255, 256, 257, 511])
async def test_masks_at_workgroup_edges_are_the_reference_hash(device, count):
    layer = built(Dropout(0.5, seed=12), count)
    ones = np.ones((1, count), np.float32)
    masks, _ = await run_steps(device, [layer], ones, steps=2, grad_outputs=ones)
    low, high = layer.seed_words()
    for step, (y, grad_inputs) in enumerate(masks):
        keep = reference.dropout_keep(count, step, low, high, round(0.5 * 2**32))
        assert np.array_equal(y.reshape(-1), np.where(keep, 2.0, 0.0)), step
        assert np.array_equal(grad_inputs.reshape(-1), np.where(keep, 2.0, 0.0)), step


async def test_a_folded_grid_keeps_each_workgroups_counter(device, monkeypatch):
    """Grids past MAX_GROUPS workgroups fold over y (lowered here to 4: 11 workgroups run as
    4 x 3, the last one past the elements): every element still hashes its own workgroup's
    step, and every counter advances once per step."""
    monkeypatch.setattr(gpu.program, "MAX_GROUPS", 4)
    count = 10 * 256 + 5
    layer = built(Dropout(0.5, seed=8), count)
    masks, _ = await run_steps(device, [layer], np.ones((1, count), np.float32), steps=3,
                               grad_outputs=np.ones((1, count), np.float32))
    low, high = layer.seed_words()
    for step, (y, grad_inputs) in enumerate(masks):
        keep = reference.dropout_keep(count, step, low, high, round(0.5 * 2**32))
        assert np.array_equal(y.reshape(-1) != 0, keep), step
        assert np.array_equal(grad_inputs.reshape(-1) != 0, keep), step


async def test_the_backward_uses_the_forward_mask(device, rng):
    x = rng.uniform(0.5, 2.0, size=(16, 300)).astype(np.float32)
    grad_outputs = rng.uniform(0.5, 2.0, size=x.shape).astype(np.float32)
    layer = built(Dropout(0.6, seed=2), 300)
    steps, _ = await run_steps(device, [layer], x, steps=3, grad_outputs=grad_outputs)
    for y, grad_inputs in steps:  # each step's dE/dI on that step's mask, not another's
        assert np.array_equal(grad_inputs == 0, y == 0)
        kept = y != 0
        assert np.array_equal(grad_inputs[kept], grad_outputs[kept] * np.float32(1 / 0.4))


async def test_every_step_draws_a_new_mask_without_readbacks(device):
    count, steps = 20_000, 4
    layer = built(Dropout(0.5, seed=9), count)
    device.stats.reset()
    masks, _ = await run_steps(device, [layer], np.ones((1, count), np.float32), steps=steps)
    # The steps' submit, then the read of their outputs: nothing between steps.
    assert device.stats["submits"] == 2 and device.stats["readbacks"] == 1
    kept = [y != 0 for [y] in masks]
    for a in range(steps):
        for b in range(a):  # independent masks keep an element in both a quarter of the time
            both = int((kept[a] & kept[b]).sum())
            assert abs(both - count / 4) <= 6 * math.sqrt(count * 3 / 16), (a, b, both)


async def test_each_training_program_recorded_draws_its_own_masks(device):
    """A later fit records new programs, in workspaces whose step counters may start at 0
    again (a batch size whose workspace was freed): its masks are still new ones."""
    count = 20_000
    layer = built(Dropout(0.5, seed=3), count)
    ones = np.ones((1, count), np.float32)
    [[first]], _ = await run_steps(device, [layer], ones)  # each call: a new workspace
    [[second]], _ = await run_steps(device, [layer], ones)
    both = int(((first != 0) & (second != 0)).sum())
    assert abs(both - count / 4) <= 6 * math.sqrt(count * 3 / 16)
    for recording, y in enumerate((first, second)):
        keep = reference.dropout_keep(count, 0, *layer.seed_words(recording), round(2**31))
        assert np.array_equal(y.reshape(-1) != 0, keep)


async def test_two_dropout_layers_of_one_model_draw_different_masks(device):
    count = 20_000
    first, second = Dropout(0.5), Dropout(0.5)
    model = Model([first, second, Dense(count, 1)], seed=0)  # unseeded: the model's seed
    assert first.seed_words() != second.seed_words()
    [[y_first, y_second]], _ = await run_steps(
        device, [built(first, count), built(second, count)], np.ones((1, count), np.float32))
    both = int(((y_first != 0) & (y_second != 0)).sum())
    assert abs(both - count / 4) <= 6 * math.sqrt(count * 3 / 16)
    del model


def test_the_same_model_seed_gives_the_same_dropout_seeds():
    def seeds(model_seed):
        layers = [Dense(4, 4), Dropout(0.5), Dense(4, 4), Dropout(0.5), Dense(4, 1)]
        model = Model(layers, seed=model_seed)  # alive: the layers find their index in it
        return [model.layers[index].seed_words() for index in (1, 3)]

    assert seeds(3) == seeds(3) != seeds(4)
    assert Dropout(0.5, seed=7).seed_words() == Dropout(0.2, seed=7).seed_words()


def test_a_dropout_layer_changes_no_other_layers_initial_weights():
    plain = Model([Dense(4, 6), TanH(), Dense(6, 1)], seed=5).get_weights()
    dropped = Model([Dense(4, 6), Dropout(0.5), TanH(), Dense(6, 1)], seed=5).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(plain, dropped))


def dropout_model(device, rate, seed):
    return Model([Dense(6, 16), TanH(), Dropout(rate), Dense(16, 2)], device=device, seed=seed)


async def test_fits_with_the_same_seed_train_the_same_weights(device, rng):
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = rng.normal(size=(40, 2)).astype(np.float32)
    options = TrainingOptions(learning_rate=0.1, epochs=3, batch_size=16, seed=0,
                              loss_algorithm="mse")
    trained = {}
    for name, rate, seed in [("a", 0.5, 1), ("b", 0.5, 1), ("other seed", 0.5, 2),
                             ("no dropout", 0.0, 1)]:
        model = dropout_model(device, rate, seed)
        if name == "other seed":  # same initial weights as "a", other masks
            model.set_weights(dropout_model(device, rate, 1).get_weights())
        await model.fit(x, y, options)
        trained[name] = model.get_weights()
    same = [np.array_equal(a, b) for a, b in zip(trained["a"], trained["b"])]
    assert all(same)
    for other in ("other seed", "no dropout"):  # masks were drawn, and from the seed
        assert not all(np.array_equal(a, b) for a, b in zip(trained["a"], trained[other]))


async def test_a_clone_draws_the_masks_of_its_original(device, rng):
    x = rng.normal(size=(24, 6)).astype(np.float32)
    y = rng.normal(size=(24, 2)).astype(np.float32)
    original = dropout_model(device, 0.5, 3)
    twin = original.clone()
    options = TrainingOptions(learning_rate=0.1, epochs=2, batch_size=8, seed=0,
                              loss_algorithm="mse")
    for model in (original, twin):
        await model.fit(x, y, options)
    assert all(np.array_equal(a, b) for a, b in zip(original.get_weights(), twin.get_weights()))


async def test_a_fit_draws_step_after_step_masks_even_as_the_first_layer(device, rng):
    """[Dropout, Dense] records no Dropout backward (nothing below needs dE/dI): the forward
    advances the counter itself. Two full-batch SGD steps equal NumPy's on the reference
    masks of steps 0 and 1."""
    x = rng.uniform(0.5, 1.5, (8, 5)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    dropout = Dropout(0.5, seed=6)
    model = Model([dropout, Dense(5, 2)], device=device, seed=0)
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    await model.fit(x, y, TrainingOptions(learning_rate=0.1, epochs=2, loss_algorithm="mse"))
    low, high = dropout.seed_words()
    for step in range(2):
        keep = reference.dropout_keep(x.size, step, low, high, round(0.5 * 2**32))
        dropped = reference.dropout_forward(x, keep.reshape(x.shape), 0.5)
        grad = reference.mean_squared_gradient(dropped @ kernel + bias, y)
        _, grad_kernel, grad_bias = reference.dense_backward(dropped, kernel, grad)
        kernel, bias = kernel - 0.1 * grad_kernel, bias - 0.1 * grad_bias
    for got, want in zip(model.get_weights(), (kernel, bias)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


async def test_predict_and_evaluate_are_unchanged_by_dropout(device, rng):
    x = rng.normal(size=(12, 6)).astype(np.float32)
    y = rng.normal(size=(12, 2)).astype(np.float32)
    dropped = dropout_model(device, 0.9, 0)
    plain = Model([Dense(6, 16), TanH(), Dense(16, 2)], device=device)
    plain.set_weights(dropped.get_weights())
    assert np.array_equal(await dropped.predict(x), await plain.predict(x))
    assert await dropped.evaluate(x, y) == await plain.evaluate(x, y)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5", True])
def test_a_rate_outside_zero_to_one_is_refused(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


@pytest.mark.parametrize("seed", [-1, 0.5, "1", True])
def test_a_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed"):
        Dropout(0.5, seed=seed)


def test_the_config_rebuilds_the_layer():
    layer = Dropout(0.25, seed=4)
    assert Dropout(**layer.get_config()).get_config() == {"rate": 0.25, "seed": 4}
