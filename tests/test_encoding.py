"""Encoding a fit's steps: direct wgpu-native calls that train as the public API does and still
raise wgpu's errors, one compute pass per epoch (the gather's cursor replaces the per-step copy
of the permutation), and the gather's wide loads checked against NumPy at odd widths."""

from __future__ import annotations

import numpy as np
import pytest
import wgpu

from intricate import Model, TrainingOptions, gpu
from intricate.dataset import Dataset
from intricate.engine import submits, tiny
from intricate.gpu import encoding
from intricate.gpu import program as program_module
from intricate.gpu.dtypes import FLOAT32, FLOAT64, MIXED_FLOAT16
from intricate.gpu.encoding import Encoder
from intricate.layers import Dense, ReLU, SoftMax
from intricate.ops import gather
from intricate.optimizers import SGD, Adam

from harness import skip_unsupported

SAMPLES, BATCH = 22, 4  # five batches of 4 and a partial one of 2: two recorded steps


@pytest.fixture(autouse=True)
def normal_path(monkeypatch):
    """These fits take Epochs' path (a tiny model would otherwise train in one workgroup)."""
    monkeypatch.setattr(tiny, "ENABLED", False)


def model_for(device) -> Model:
    return Model([Dense(5, 6), ReLU(), Dense(6, 3), SoftMax()], device=device, seed=0)


def data(rng, samples: int = SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(samples, 5)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, samples)]


async def fit(device, x, y, **options) -> tuple[list[np.ndarray], dict]:
    """The weights after a fit of ``model_for`` and the fit's counters."""
    model = model_for(device)
    device.stats.reset()
    await model.fit(x, y, TrainingOptions(**{"epochs": 3, "batch_size": BATCH, "seed": 5,
                                             "learning_rate": 0.1, "verbose": 0,
                                             "loss_algorithm": "cce", **options}))
    return model.get_weights(), dict(device.stats)


async def test_native_calls_train_as_the_public_api_does(device, rng, monkeypatch):
    x, y = data(rng)
    assert encoding.NATIVE  # the pinned wgpu-py has wgpu-native's functions
    native, native_counts = await fit(device, x, y)
    monkeypatch.setattr(encoding, "native_handle", lambda gpu_object: None)
    public, public_counts = await fit(device, x, y)
    for got, want in zip(native, public, strict=True):
        assert np.array_equal(got, want)
    assert native_counts == public_counts
    assert native_counts["passes"] == 3  # one per epoch, either way


def bad_dispatch(device) -> gpu.Program:
    """A gather over more workgroups than the device runs in one grid dimension."""
    program = gpu.Program(gpu.Workspace(device, 4))
    source = gpu.from_numpy(device, np.ones((4, 3), np.float32), np.float32)
    batch = gpu.empty(device, (4, 3))
    indices = gpu.from_numpy(device, np.arange(4), np.uint32)
    too_many = device.limits["max-compute-workgroups-per-dimension"] + 1
    program.dispatch("ops/gather.wgsl", "gather_rows", groups=(too_many, 1, 1),
                     template=gather.template(1, 1), params={"rows": 4, "x_width": 3,
                                                             "y_width": 3},
                     indices=indices, source_x=source, source_y=source, batch_x=batch,
                     batch_y=gpu.empty(device, (4, 3)))
    return program


@pytest.mark.parametrize("wrapped", [True, False], ids=["encoder", "wgpu_encoder"])
async def test_a_grid_over_the_limit_still_fails_at_finish(device, wrapped):
    def work():
        program = bad_dispatch(device)
        (run,) = program.encoded(0)
        assert run.native is not None  # encoded by the C calls
        encoder = Encoder(device) if wrapped else device.handle.create_command_encoder()
        program.encode(encoder)
        with pytest.raises(wgpu.GPUValidationError, match="must be less or equal to 65535"):
            encoder.finish()
    await device.run(work)


async def test_an_error_while_encoding_is_raised_not_logged(device):
    """A dispatch into a pass that has ended: wgpu-native reports it during the call."""
    def work():
        program = bad_dispatch(device)
        encoder = Encoder(device)
        encoder.begin_pass()
        encoder.compute_pass.end()  # behind the Encoder's back
        with pytest.raises(wgpu.GPUValidationError, match="Encoding must not have ended"):
            program.encode(encoder)
    await device.run(work)


async def test_an_encoder_keeps_one_pass_across_programs_until_a_copy(device):
    def work():
        program = bad_dispatch(device)  # never submitted: counted, not run
        encoder = Encoder(device)
        device.stats.reset()
        for phase in range(3):
            program.encode(encoder, phase)
        assert device.stats["passes"] == 1 and device.stats["dispatches"] == 3
        scratch = gpu.empty(device, (4,))
        encoder.clear_buffer(scratch.buffer, 0, 16)  # any other command ends the pass
        program.encode(encoder)
        assert device.stats["passes"] == 2
        program_module.encode_steps(encoder, program.steps)  # a pass of its own
        assert device.stats["passes"] == 3 and encoder.compute_pass is None
    await device.run(work)


async def test_one_pass_per_epoch(device, rng):
    x, y = data(rng)
    for shuffle in (True, False):  # unshuffled: gathered in order, no copy either
        _, counts = await fit(device, x, y, shuffle=shuffle)
        assert counts["passes"] == 3
    # Adam's step counter moves on in a dispatch, not a copy that would end the pass each step.
    _, counts = await fit(device, x, y, optimizer="adam")
    assert counts["passes"] == 3
    # Validation batches are copied, so each starts a pass (the epoch's means join the last).
    _, counts = await fit(device, x, y, validation_data=(x[:7], y[:7]))
    assert counts["passes"] == 3 * (1 + 2)


async def test_unshuffled_gather_trains_as_copied_batches(device, rng):
    """Data too large to bind whole (here: a Dataset uploaded unbindable) is copied batch by
    batch, a pass per step; the gather in order gives the same weights bit for bit."""
    x, y = data(rng)
    gathered, counts = await fit(device, x, y, shuffle=False)
    copied = await device.run(Dataset.upload, device, x, y, False)
    copies, copy_counts = await fit(device, copied, None, shuffle=False)
    for got, want in zip(gathered, copies, strict=True):
        assert np.array_equal(got, want)
    assert copy_counts["passes"] == 3 * 6 and counts["passes"] == 3
    assert copy_counts["dispatches"] == counts["dispatches"] - 3 * 6  # no gather dispatches


@pytest.mark.parametrize("limit", [9, 20, 30])  # chunks end after odd and even steps
async def test_chunks_continue_the_cursor(device, rng, monkeypatch, limit):
    """Split into chunks (a submit, a new encoder and pass), the epoch's batches follow the
    same permutation: the cursor lives on the GPU and the step's phase goes on counting."""
    x, y = data(rng)
    whole, counts = await fit(device, x, y)
    monkeypatch.setattr(submits, "MAX_DISPATCHES_PER_SUBMIT", limit)
    chunked, chunk_counts = await fit(device, x, y)
    for got, want in zip(chunked, whole, strict=True):
        assert np.array_equal(got, want)
    assert chunk_counts["submits"] > counts["submits"]
    # One pass per chunk: as many more passes as more submits (the fit's first submit, of the
    # new model's parameters, holds none).
    assert chunk_counts["passes"] - counts["passes"] == (
        chunk_counts["submits"] - counts["submits"])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
async def test_each_epoch_restarts_the_cursor(device, rng, optimizer):
    """Two shuffled epochs train as two fits on the data in those orders, copied batch by
    batch (no gather, no cursor). SGD keeps no state between fits; an Adam instance keeps its
    moments and step counter t (one for both recorded steps: the partial batch's too), which
    each step's advance_step dispatch moves on in the shuffled epochs' one pass."""
    x, y = data(rng)
    made = (lambda: Adam(0.01)) if optimizer == "adam" else (lambda: SGD(0.1))
    trained, used, _ = model_for(device), made(), device.stats.reset()
    await trained.fit(x, y, TrainingOptions(epochs=2, batch_size=BATCH, seed=5, optimizer=used,
                                            verbose=0, loss_algorithm="cce"))
    shuffled = trained.get_weights()
    assert device.stats["passes"] == 2
    if optimizer == "adam":  # t after 2 epochs of 6 steps (step_in, step_out)
        (state,) = used._state.values()
        assert [int(word[0]) for word in await device.run(gpu.read, *state[-2:])] == [12, 12]
    model, kept = model_for(device), made()
    orders = np.random.default_rng(5)
    for _ in range(2):
        order = orders.permutation(SAMPLES)
        copied = await device.run(Dataset.upload, device, x[order], y[order], False)
        await model.fit(copied, None, TrainingOptions(epochs=1, batch_size=BATCH, shuffle=False,
                                                      optimizer=kept, verbose=0,
                                                      loss_algorithm="cce"))
    for got, want in zip(model.get_weights(), shuffled, strict=True):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("x_width", [1, 3, 5, 783, 784, 785])
@pytest.mark.parametrize("precision", [FLOAT32, FLOAT64, MIXED_FLOAT16],
                         ids=["float32", "float64", "mixed_float16"])
@pytest.mark.parametrize("fold", [False, True], ids=["one_grid_row", "rows_folded"])
async def test_gather_moves_wide_chunks_at_any_width(device, rng, monkeypatch, x_width,
                                                     precision, fold):
    skip_unsupported(device, precision)
    if fold:  # row groups spread over grid y and z, as batches past 65535 groups would be
        monkeypatch.setattr(program_module, "MAX_GROUPS", 18 if x_width > 5 else 4)
    dtype, samples, rows = precision.numpy, 700, 300
    y_width = {1: 10, 3: 4, 5: 2}.get(x_width, 1)
    source_x = rng.normal(size=(samples, x_width)).astype(dtype)
    source_y = rng.normal(size=(samples, y_width)).astype(dtype)
    order = rng.permutation(samples).astype(np.uint32)

    def work():
        program = gpu.Program(gpu.Workspace(device, rows, precision))
        x = gpu.from_numpy(device, source_x, dtype)
        y = gpu.from_numpy(device, source_y, dtype)
        permutation = gpu.from_numpy(device, order, np.uint32)
        batch = gpu.empty(device, (rows, x_width), dtype), gpu.empty(device, (rows, y_width), dtype)
        cursor = tuple(gpu.empty(device, (1,), np.uint32) for _ in range(2))
        gather.record_gather(program, permutation, x, y, *batch, cursor=cursor)
        results = []
        for phase in range(2):  # batches 0 and 1 of the order: the cursor moved on
            encoder = Encoder(device)
            program.encode(encoder, phase)
            results.append(gpu.StagedRead(device, encoder, [*batch, *cursor]))
            device.submit(encoder)
        return [staged.collect() for staged in results]

    for phase, (batch_x, batch_y, first, second) in enumerate(await device.run(work)):
        picked = order[phase * rows:(phase + 1) * rows]
        assert np.array_equal(batch_x, source_x[picked])  # copied bits: exact
        assert np.array_equal(batch_y, source_y[picked])
        assert (first[0], second[0]) == ((0, rows) if phase == 0 else (2 * rows, rows))


def test_wide_loads_where_rows_and_offsets_allow():
    assert [gather.lanes(width, 4) for width in (1, 2, 3, 4, 6, 783, 784, 785)] == [
        1, 2, 1, 4, 2, 1, 4, 1]
    assert gather.lanes(784, 8) == 2 and gather.lanes(784, 2) == 4  # 16 bytes at most
    assert gather.lanes(784, 4, 0, 8) == 2  # a view 8 bytes into a buffer: vec2 loads
    # Narrow rows share a workgroup: 300 rows of one load each in 2 workgroups of 256 lanes.
    assert gather.launch(300, 1, 1) == ({"row_shift": 0}, (1, 2, 1))
    assert gather.launch(300, 196, 5) == ({"row_shift": 8}, (1, 300, 1))
    assert gather.launch(3, 300, 1) == ({"row_shift": 8}, (2, 3, 1))


async def test_an_alternate_binding_must_replace_a_bound_one(device):
    def work():
        program = gpu.Program(gpu.Workspace(device, 4))
        source, batch = gpu.empty(device, (4, 3)), gpu.empty(device, (4, 3))
        indices = gpu.empty(device, (4,), np.uint32)
        with pytest.raises(ValueError, match=r"alternate binds \['cursor_in'\], which it "):
            program.dispatch("ops/gather.wgsl", "gather_rows", groups=1,
                             template=gather.template(1, 1),
                             params={"rows": 4, "x_width": 3, "y_width": 3},
                             alternate={"cursor_in": indices}, indices=indices,
                             source_x=source, source_y=source, batch_x=batch, batch_y=batch)
        assert program.steps == []
    await device.run(work)


async def test_an_unbindable_dataset_is_refused_for_what_it_is(device, rng):
    """A row view from sample 3 can't be bound (binding offsets are aligned), nor a Dataset
    uploaded unbindable: fit refuses them as such, not as data over the binding limit (they
    are a few bytes)."""
    x, y = data(rng)
    whole = await device.run(Dataset.upload, device, x, y)
    model = model_for(device)
    with pytest.raises(ValueError, match=r"x: this Dataset can't be bound whole \(a row view "
                                         r"that starts past sample 0"):
        await model.fit(whole.rows(3, 10), None, TrainingOptions(epochs=1, batch_size=4,
                                                                 verbose=0))
    half = await device.run(Dataset.upload, device, x.astype(np.float16), y.astype(np.float16),
                            False)  # f16 rows of 10 bytes: batch 1 of 3 rows starts off a word
    f16 = Model([Dense(5, 3), SoftMax()], device=device, seed=0, dtype="mixed_float16")
    with pytest.raises(ValueError, match=r"batch_size: 3 starts f16 rows .* and this Dataset "
                                         r"can't be bound whole"):
        await f16.fit(half, None, TrainingOptions(epochs=1, batch_size=3, shuffle=False,
                                                  verbose=0))


async def test_dispatches_of_one_pipeline_each_bind_their_own_arrays(device, rng):
    """The pass skips setting a pipeline it already has, never the bind group: two gathers
    of one pipeline in a row (then a third after a copy ends the pass) fill their own batches."""
    sources = [rng.normal(size=(6, 3)).astype(np.float32) for _ in range(3)]
    order = np.array([4, 0, 5, 2], np.uint32)

    def work():
        program = gpu.Program(gpu.Workspace(device, 4))
        indices, batches = gpu.from_numpy(device, order, np.uint32), []
        for index, values in enumerate(sources):
            if index == 2:
                program.copy(indices, gpu.empty(device, (4,), np.uint32))
            source = gpu.from_numpy(device, values, np.float32)
            batches.append(gpu.empty(device, (4, 3)))
            gather.record_gather(program, indices, source, source, batches[-1],
                                 gpu.empty(device, (4, 3)))
        assert len({step.pipeline for step in program.steps if hasattr(step, "pipeline")}) == 1
        program.encode(encoder := Encoder(device))
        staged = gpu.StagedRead(device, encoder, batches)
        device.submit(encoder)
        return staged.collect()

    for got, values in zip(await device.run(work), sources, strict=True):
        assert np.array_equal(got, values[order])
