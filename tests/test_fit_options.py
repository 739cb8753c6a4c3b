"""Complete training: mini-batches, shuffling on the GPU, optimizers, metrics, validation,
evaluate/predict in batches, summary, and the counters of a batched fit."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions, optimizers
from intricate.engine import submits, tiny
from intricate.layers import Dense, ReLU, Sigmoid, SoftMax

import reference
from harness import assert_close, small_data, small_model

LAYERS = ["Dense", "TanH", "Dense", "Sigmoid"]


@pytest.mark.parametrize("batch_size", [1, 3, 10])
async def test_shuffled_minibatches_follow_the_seeded_order(device, rng, batch_size):
    """Each epoch trains every sample exactly once, in the order np.random.default_rng(seed)
    gives, in batches whose last one may be partial (10 = 3 + 3 + 3 + 1)."""
    x, y = small_data(rng)
    model = small_model(device)
    start = model.get_weights()
    history = await model.fit(x, y, TrainingOptions(
        learning_rate=0.3, loss_algorithm="bce", epochs=3, batch_size=batch_size, seed=7))
    shuffler = np.random.default_rng(7)
    orders = [shuffler.permutation(10) for _ in range(3)]
    assert not np.array_equal(orders[0], orders[1])  # a new order every epoch
    want_losses, want = reference.train_epochs(LAYERS, start, x, y, "BinaryCrossEntropy",
                                               reference.OptimizerReference("sgd", 0.3), orders,
                                               batch_size)
    assert_close(history.loss, want_losses)
    for got, expected in zip(model.get_weights(), want, strict=True):
        assert_close(got, expected)


async def test_same_seed_same_order_other_seed_other_order(device, rng):
    x, y = small_data(rng)

    async def weights_after(seed):
        model = small_model(device)
        await model.fit(x, y, TrainingOptions(learning_rate=0.3, epochs=2, batch_size=2,
                                              seed=seed))
        return model.get_weights()

    first, again, other = await weights_after(1), await weights_after(1), await weights_after(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


async def test_unshuffled_batches_keep_the_data_order(device, rng):
    x, y = small_data(rng)
    model = small_model(device)
    start = model.get_weights()
    await model.fit(x, y, TrainingOptions(learning_rate=0.3, epochs=2, batch_size=4,
                                          shuffle=False))
    _, want = reference.train_epochs(LAYERS, start, x, y, "MeanSquared",
                                     reference.OptimizerReference("sgd", 0.3),
                                     [np.arange(10)] * 2, 4)
    for got, expected in zip(model.get_weights(), want):
        assert_close(got, expected)


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adagrad", "adam", "adamw"])
async def test_fit_with_each_optimizer_equals_the_reference(device, rng, name):
    x, y = small_data(rng)
    model = small_model(device)
    start = model.get_weights()
    await model.fit(x, y, TrainingOptions(optimizer=name, learning_rate=0.05, epochs=3,
                                          batch_size=4, shuffle=False))
    _, want = reference.train_epochs(LAYERS, start, x, y, "MeanSquared",
                                     reference.OptimizerReference(name, 0.05),
                                     [np.arange(10)] * 3, 4)
    for got, expected in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


async def test_an_optimizer_object_keeps_its_state_across_fits(device, rng):
    x, y = small_data(rng)
    model = small_model(device)
    start = model.get_weights()
    adam = optimizers.Adam(learning_rate=0.05)
    for _ in range(2):  # as one 2-epoch fit: the moments and t carry over
        await model.fit(x, y, TrainingOptions(optimizer=adam, epochs=1))
    _, want = reference.train_epochs(LAYERS, start, x, y, "MeanSquared",
                                     reference.OptimizerReference("adam", 0.05),
                                     [np.arange(10)] * 2, 10)
    for got, expected in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


async def test_metrics_and_validation_are_logged_with_keras_keys(device, rng):
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]
    model = Model([Dense(4, 8), ReLU(), Dense(8, 3), SoftMax()], device=device, seed=0)
    history = await model.fit(x, y, TrainingOptions(
        optimizer="adam", learning_rate=0.01, loss_algorithm="categorical_crossentropy",
        epochs=4, batch_size=8, metrics=["accuracy", "mae"], validation_split=0.25))
    assert set(history.history) == {"loss", "accuracy", "mae", "val_loss", "val_accuracy",
                                    "val_mae"}
    assert all(len(values) == 4 for values in history.history.values())
    # The last epoch's validation numbers are those evaluate() gives on the held-out quarter.
    logs = await model.evaluate(x[30:], y[30:], batch_size=8, return_dict=True)
    for key in ("loss", "accuracy", "mae"):
        assert_close(history.history[f"val_{key}"][-1], logs[key], rtol=1e-6)
    # ... and those the reference computes from the final weights.
    weights = [w.astype(np.float64) for w in model.get_weights()]
    hidden = reference.relu_forward(reference.dense_forward(x[30:], *weights[:2]))
    probabilities = reference.softmax_forward(reference.dense_forward(hidden, *weights[2:]))
    assert_close(logs["loss"], reference.categorical_crossentropy_value(probabilities, y[30:]))
    assert_close(logs["accuracy"], reference.categorical_accuracy(probabilities, y[30:]).mean())
    assert_close(logs["mae"], reference.mean_absolute_error(probabilities, y[30:]).mean())


async def test_binary_accuracy_for_one_output(device, rng):
    x = rng.normal(size=(30, 2)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = Model([Dense(2, 1), Sigmoid()], device=device, seed=0)
    await model.fit(x, y, TrainingOptions(learning_rate=1.0, epochs=1, loss_algorithm="bce",
                                          metrics=["accuracy"]))
    loss, accuracy = await model.evaluate(x, y)
    probabilities = await model.predict(x)
    assert_close(accuracy, reference.binary_accuracy(probabilities, y).mean())
    assert_close(loss, reference.binary_crossentropy_value(probabilities, y))
    assert isinstance(await model.evaluate(x, y, metrics=[]), float)


async def test_validation_data_is_used_as_given(device, rng):
    x, y = small_data(rng)
    val_x, val_y = small_data(rng, samples=5)
    model = small_model(device)
    history = await model.fit(x, y, TrainingOptions(epochs=2, validation_data=(val_x, val_y)))
    assert_close(history.history["val_loss"][-1], await model.evaluate(val_x, val_y), 1e-6)


async def test_predict_and_evaluate_in_batches_equal_one_batch(device, rng):
    x, y = small_data(rng, samples=23)
    model = small_model(device)
    whole = await model.predict(x)
    device.stats.reset()
    batched = await model.predict(x, batch_size=5)
    assert device.stats["submits"] == 1 and device.stats["readbacks"] == 1
    assert_close(batched, whole, rtol=1e-6)
    assert_close(await model.evaluate(x, y, batch_size=4), await model.evaluate(x, y), 1e-6)


@pytest.mark.parametrize("batches_per_epoch", [20, 40])
async def test_batched_fit_with_validation_costs_one_submit_and_readback_per_epoch(
        device, rng, batches_per_epoch):
    samples = 4 * batches_per_epoch
    x = rng.normal(size=(samples + 8, 3)).astype(np.float32)
    y = rng.uniform(size=(samples + 8, 2)).astype(np.float32)
    model = small_model(device)
    await model.fit(x, y, TrainingOptions(epochs=1, batch_size=4))  # warm: parameters uploaded
    device.stats.reset()
    epochs = 3
    await model.fit(x[:samples], y[:samples], TrainingOptions(
        optimizer="adam", epochs=epochs, batch_size=4, metrics=["mae"],
        validation_data=(x[samples:], y[samples:])))
    # gather, 2 forward (activations fused), stats + dL/dŷ, Sigmoid backward, 2 for the second
    # Dense (dW+db, dX+TanH'), 1 for the first (dW+db), Adam and its step counter's advance.
    per_step = 1 + 2 + 1 + 1 + 2 + 1 + 1 + 1
    per_validation_batch = 2 + 1
    assert device.stats["dispatches"] == epochs * (
        batches_per_epoch * per_step + 2 * per_validation_batch + 1)
    assert device.stats["submits"] == epochs
    assert device.stats["readbacks"] == epochs
    assert device.stats["uploads"] == 2 + 2 + epochs  # data, validation, a permutation/epoch


async def test_long_epochs_are_split_into_several_submits(device, rng, monkeypatch):
    x, y = small_data(rng, samples=40)
    first, second = small_model(device), small_model(device)
    options = dict(epochs=2, batch_size=4, shuffle=False, learning_rate=0.1)
    monkeypatch.setattr(tiny, "ENABLED", False)  # the normal path's chunks (tiny: its tests)
    await first.fit(x, y, TrainingOptions(**options))
    monkeypatch.setattr(submits, "MAX_DISPATCHES_PER_SUBMIT", 30)  # 8 dispatches per step
    device.stats.reset()
    await second.fit(x, y, TrainingOptions(**options))
    assert device.stats["submits"] == 2 * 3  # 10 steps: submitted after steps 4, 8 and 10
    assert device.stats["readbacks"] == 2
    for a, b in zip(first.get_weights(), second.get_weights()):
        assert np.array_equal(a, b)


async def test_verbose_two_prints_one_line_per_epoch(device, rng, capsys):
    x, y = small_data(rng)
    await small_model(device).fit(x, y, TrainingOptions(epochs=3, verbose=2, metrics=["mae"]))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert "loss: " in lines[0] and "mae: " in lines[0]


async def test_verbose_one_draws_a_progress_bar_without_extra_readbacks(device, rng, capsys):
    x, y = small_data(rng)
    model = small_model(device)
    device.stats.reset()
    await model.fit(x, y, TrainingOptions(epochs=300, should_print_information=True))
    output = capsys.readouterr().out
    assert "300/300" in output and "loss:" in output
    assert device.stats["readbacks"] == 100  # the same as silent: every 3 epochs
    await model.fit(x, y, TrainingOptions(epochs=2))
    assert capsys.readouterr().out == ""  # verbose 0 by default


def test_summary_lists_layers_shapes_and_parameters(capsys):
    text = Model([Dense(784, 128), ReLU(), Dense(128, 10), SoftMax()]).summary()
    assert capsys.readouterr().out.strip() == text
    assert "dense_0 (Dense)" in text and "(None, 128)" in text and "100,480" in text
    assert "Total params: 101,770" in text


BAD_OPTIONS = {
    "batch_size 0": ({"batch_size": 0}, r"batch_size: expected an integer >= 1, received 0"),
    "validation_split 1.5": ({"validation_split": 1.5}, r"validation_split: expected a finite "
                                                        r"number in \[0.0, 1.0\), received 1.5"),
    "unknown metric": ({"metrics": ["precision"]}, r"metrics: expected names from .* "
                                                   r"received 'precision'"),
    "metrics string": ({"metrics": "accuracy"}, r"metrics: expected a list of names"),
    "unknown optimizer": ({"optimizer": "rmsprop"}, r"optimizer: expected an Optimizer or one "
                                                    r"of .* received 'rmsprop'"),
    "rate twice": ({"optimizer": optimizers.SGD(0.1), "learning_rate": 0.2},
                   r"learning_rate: expected None when optimizer is an instance"),
    "bad callback": ({"callbacks": [print]}, r"callbacks\[0\]: expected an intricate Callback"),
    "verbose 3": ({"verbose": 3}, r"verbose: expected 0, 1 or 2, received 3"),
    "shuffle text": ({"shuffle": "yes"}, r"shuffle: expected True, False or None"),
    "validation_data": ({"validation_data": np.zeros(3)}, r"validation_data: expected a pair"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_training_options_are_refused(case):
    options, message = BAD_OPTIONS[case]
    with pytest.raises(ValueError, match=message):
        TrainingOptions(**options)


async def test_bad_validation_is_refused_before_gpu_work(device, rng):
    x, y = small_data(rng)
    model = small_model(device)
    device.stats.reset()
    with pytest.raises(ValueError, match=r"validation_data x: expected 3 features"):
        await model.fit(x, y, TrainingOptions(validation_data=(np.zeros((2, 4)), y[:2])))
    with pytest.raises(ValueError, match=r"validation_split: 0.95 of 10 samples holds out 10"):
        await model.fit(x, y, TrainingOptions(validation_split=0.95))
    assert device.stats["dispatches"] == device.stats["uploads"] == 0


async def test_shuffling_a_dataset_over_the_binding_limit_says_what_to_do(device, rng,
                                                                         monkeypatch):
    x, y = small_data(rng, samples=100)  # 1200 bytes of x
    model = small_model(device)
    await model.predict(x[:1])
    monkeypatch.setitem(device.limits, "max-storage-buffer-binding-size", 1000)
    device.stats.reset()
    with pytest.raises(ValueError, match=r"exceed this adapter's storage binding limit .* pass "
                                         r"shuffle=False"):
        await model.fit(x, y, TrainingOptions(batch_size=10))
    assert device.stats["dispatches"] == 0
    history = await model.fit(x, y, TrainingOptions(batch_size=10, shuffle=False))
    assert len(history.loss) == 1  # unshuffled batches are copied, never bound whole


async def test_a_fit_records_one_program_per_batch_size(device, rng, monkeypatch):
    """10 samples in batches of 3 are 4 steps of two sizes (3 and 1): two training programs and,
    for 4 validation samples, two evaluation programs are recorded, not one per step."""
    from intricate.engine import programs

    recorded = []
    for name in ("training", "evaluation"):
        original = getattr(programs.Programs, name)
        monkeypatch.setattr(programs.Programs, name, lambda self, rows, *args, _name=name,
                            _original=original: recorded.append((_name, rows)) or
                            _original(self, rows, *args))
    x, y = small_data(rng)
    vx, vy = small_data(rng, samples=4)
    await small_model(device).fit(x, y, TrainingOptions(
        loss_algorithm="bce", epochs=2, batch_size=3, validation_data=(vx, vy)))
    assert sorted(recorded) == [("evaluation", 1), ("evaluation", 3), ("training", 1),
                                ("training", 3)]
