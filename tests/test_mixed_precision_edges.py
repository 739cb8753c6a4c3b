"""mixed_float16 under hostile use (issue 17's review): damaged files, loss-scale corner cases."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from test_mixed_precision import XOR_X, XOR_Y, xor_model

from intricate import Model, ModelFileError, TrainingOptions, losses
from intricate.engine import loss_scale
from intricate.gpu.dtypes import MIXED_FLOAT16
from intricate.layers import Dense, SoftMax, TanH
from intricate.optimizers import Adam

from harness import skip_unsupported


@pytest.fixture
def device(device):
    skip_unsupported(device, MIXED_FLOAT16)
    return device


@pytest.mark.parametrize("scale", [0.0, -4.0, 0.5, 1e-30])
async def test_a_file_loss_scale_below_the_floor_is_refused(device, tmp_path, scale):
    """A scale of 0 made every resumed step g / 0 = NaN weights; negative or tiny ones
    trained on nonsense. No saved scale is below the floor, so such a file is damaged."""
    model = xor_model(device)
    await model.fit(XOR_X, XOR_Y, TrainingOptions(epochs=1, optimizer="adam", verbose=0))
    path = tmp_path / "mixed.safetensors"
    model.save(path, include_optimizer=True)
    with safe_open(path, "np") as file:
        metadata = file.metadata()
    tensors = load_file(path) | {"optimizer.loss_scale": np.array([scale], np.float32)}
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ModelFileError, match=r"holds loss scale .*at least 1\.0"):
        Model.load(path, device=device)
    tensors["optimizer.loss_scale"] = np.array([1.0], np.float32)  # the floor itself loads
    save_file(tensors, path, metadata=metadata)
    assert Model.load(path, device=device).optimizer_state()["loss_scale"][0] == 1.0


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "binary_crossentropy"])
async def test_an_f16_overflow_before_a_clipped_loss_shows_in_the_loss(device, loss):
    """Logits past 65504 are inf in f16 and the SoftMax's row NaN: the step is skipped, and the
    loss says NaN rather than the -log ε a clamped NaN gave (16.1, a plausible value)."""
    model = Model([Dense(2, 3), SoftMax()], device=device, seed=0, dtype="mixed_float16")
    model.set_weights([np.array([[300.0, -300.0, 150.0]] * 2, np.float32),
                       np.zeros(3, np.float32)])
    x = np.array([[200.0, 200.0], [0.01, 0.01]], np.float32)  # row 0: logits 120000
    y = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    history = await model.fit(x, y, TrainingOptions(epochs=1, loss_algorithm=loss,
                                                    shuffle=False, verbose=0))
    assert np.isnan(history.history["loss"][0])
    assert history.history["skipped_steps"] == [1]
    assert np.isnan(await model.evaluate(x, y))
    assert np.isfinite(await model.evaluate(x[1:], y[1:]))  # the finite row alone is finite


async def test_a_batch_over_several_statistics_workgroups_counts_every_row(device, monkeypatch):
    """Past FUSED_LIMIT outputs the loss sums go through f32 partials per workgroup: allocated
    as f16 they held half the workgroups, and evaluate/fit dropped the rest of the batch."""
    for limit in ("FUSED_LIMIT", "CPU_FUSED_LIMIT"):  # GPUs', software adapters'
        monkeypatch.setattr(losses, limit, 4)  # 2 rows of 2 per workgroup: 6 workgroups
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (12, 2)).astype(np.float32)
    y = rng.uniform(0, 0.8, (12, 2)).astype(np.float32)
    model = Model([Dense(2, 2), TanH()], device=device, seed=0, dtype="mixed_float16")
    predictions = (await model.predict(x)).astype(np.float64)
    expected = np.mean((predictions - y) ** 2)
    assert await model.evaluate(x, y) == pytest.approx(expected, rel=1e-3)
    history = await model.fit(x, y, TrainingOptions(epochs=1, batch_size=12, shuffle=False,
                                                    verbose=0))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-3)


async def test_one_overflowing_batch_among_many_is_skipped_exactly(device):
    """A batch whose scaled loss gradient overflows f16, third of six: the fit ends bit for bit
    where a fit of the other five ends (weights, Adam's moments and t); the halved scale
    changes nothing else, scaling by a power of two being exact."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (12, 3)).astype(np.float32)
    y = rng.uniform(0, 0.8, (12, 1)).astype(np.float32)
    poisoned = y.copy()
    poisoned[4:6] = 6e4
    options = dict(epochs=1, batch_size=2, shuffle=False, verbose=0)
    models, states = [], []
    for inputs, targets in ((x, poisoned), (np.delete(x, [4, 5], 0), np.delete(y, [4, 5], 0))):
        model = Model([Dense(3, 4), TanH(), Dense(4, 1)], device=device, seed=3,
                      dtype="mixed_float16")
        history = await model.fit(inputs, targets, TrainingOptions(
            optimizer=Adam(learning_rate=0.01), **options))
        models.append((model, history.history))
        states.append(model.optimizer_state())
    (poisoned_model, poisoned_logs), (clean_model, clean_logs) = models
    assert poisoned_logs["skipped_steps"] == [1] and poisoned_logs["loss_scale"] == [2.0**14]
    assert clean_logs["skipped_steps"] == [0]
    assert states[0]["step"][0] == states[1]["step"][0] == 5
    assert all(np.array_equal(a, b) for a, b in zip(poisoned_model.get_weights(),
                                                    clean_model.get_weights()))
    assert all(np.array_equal(states[0][key], states[1][key]) for key in states[1]
               if key.endswith("moment"))


async def test_verbose_lines_show_skipped_steps_as_a_count(device, capsys):
    model = xor_model(device)
    await model.fit(XOR_X, XOR_Y, TrainingOptions(epochs=1, verbose=2, shuffle=False))
    line = capsys.readouterr().out
    assert "skipped_steps: 0\n" in line and "loss_scale: 32768.0000" in line


# torch.amp.GradScaler("cpu", init_scale=2**15, growth_interval=3) over OVERFLOWS (1: an inf
# gradient), its get_scale() after each step, as torch 2.x printed it.
OVERFLOWS = [0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
GRADSCALER_SCALES = [2**k for k in (15, 14, 14, 14, 15, 15, 14, 13, 13, 13, 14, 14, 14, 15, 15,
                                    14, 14, 14, 15)]


async def test_the_scale_follows_torch_gradscalers_schedule(device, monkeypatch):
    """Backoff on each overflow, growth after 3 finite steps in a row, the count restarting at
    a skip: step by step the scales PyTorch's GradScaler reports from the same start."""
    monkeypatch.setattr(loss_scale, "GROWTH_INTERVAL", 3)
    model = Model([Dense(1, 1)], device=device, seed=0, dtype="mixed_float16")
    scales = []
    for overflow in OVERFLOWS:
        history = await model.fit(np.ones((1, 1)), np.full((1, 1), 6e4 if overflow else 0.5),
                                  TrainingOptions(epochs=1, verbose=0))
        scales.append(history.history["loss_scale"][0])
    assert scales == GRADSCALER_SCALES


async def test_the_scale_stops_halving_at_its_floor(device):
    """Twenty overflowing steps in a row (a target whose gradient is past f16's range even
    unscaled): fifteen halvings take 2^15 to the floor of 1, where the scale stays, so a
    persistent overflow never drives it to 0 (after which every step would be g / 0)."""
    model = Model([Dense(1, 1)], device=device, seed=0, dtype="mixed_float16")
    history = await model.fit(np.ones((20, 1)), np.full((20, 1), 6e4), TrainingOptions(
        epochs=1, batch_size=1, shuffle=False, verbose=0))
    assert history.history["skipped_steps"] == [20]
    assert history.history["loss_scale"] == [1.0]
    assert model.optimizer_state()["loss_scale"][0] == 1.0
