"""evaluate and predict on the GPU thread: forward passes over data batch by batch, loss and
metrics summed on the GPU, predictions gathered into one array and read back once.

Their programs and workspaces live in the model state's ``InferenceCache``: per request row
count, apart from fit's arrays (a predict never touches a fit's batch or sums), least recently
used first out once they weigh more than ``INFERENCE_CACHE_BYTES`` or number more than
``INFERENCE_CACHE_SIZES``. Long calls are split into several submits
(``submits.MAX_DISPATCHES_PER_SUBMIT`` dispatches each).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable

import numpy as np

from .. import gpu
from ..dataset import Dataset
from ..gpu import GPUArray, Program, StagedRead, Workspace
from ..gpu.dtypes import FLOAT32, Precision
from ..losses import Loss
from ..ops import statistics
from ..ops.gather import batch_sizes, batches, copy_rows, copyable, record_gather
from .programs import Programs
from .submits import ChunkedEncoder

# GPU bytes of programs and workspaces that evaluate/predict keep per model for reuse (each row
# count a call batches by has its own). Past it the least recently used row counts are freed;
# the ones a call uses are kept during it, however large. 256 MiB holds ~80 sizes of a
# 784-512-512-10 MLP at batch 256; a freed size costs one re-recording (no compile) when it
# comes back.
INFERENCE_CACHE_BYTES = 256 * 2**20

# Row counts that evaluate/predict keep per model, however little they weigh: a small model's
# sizes are far below the byte budget, so without a count every new request size would add its
# workspace and programs (~9 buffers) for good. Past it the least recently used go, as above.
INFERENCE_CACHE_SIZES = 16


class _Recording:
    """What ``Programs`` records one row count's inference programs against: the model's
    layers and parameters, but a workspace and loss/metric sums of the inference cache's own."""

    def __init__(self, state, rows: int, sums: GPUArray) -> None:
        self.layers, self.input_size, self.output_size = (state.layers, state.input_size,
                                                          state.output_size)
        self.parameters, self.gradients, self.statistics = state.parameters, state.gradients, sums
        self.own = Workspace(state.device, rows, state.precision)
        self.programs: dict[object, Program] = {}

    def workspace(self, rows: int) -> Workspace:
        return self.own

    @property
    def nbytes(self) -> int:
        return self.own.nbytes + sum(program.nbytes for program in self.programs.values())


class InferenceCache:
    """evaluate's and predict's programs and workspaces per row count: an LRU bounded by
    ``budget`` bytes and ``max_sizes`` row counts (``INFERENCE_CACHE_BYTES`` and
    ``INFERENCE_CACHE_SIZES`` when built); it keeps a running byte total, so a call costs the
    same however many sizes are cached. GPU thread only.

    Attributes:
        statistics, result: evaluate's loss/metric sums and means (never fit's).
        recorded: how many programs it has recorded (tests count re-recordings).
    """

    def __init__(self, device, precision: Precision = FLOAT32) -> None:
        self.budget = INFERENCE_CACHE_BYTES
        self.max_sizes = INFERENCE_CACHE_SIZES
        self._nbytes = 0  # the entries' bytes, kept as they are recorded and freed
        sums = precision.parameters  # the accumulate type's
        self.statistics = gpu.empty(device, (statistics.SIZE,), sums, label="eval_statistics")
        self.result = gpu.empty(device, (statistics.SIZE,), sums, label="eval_result")
        self.recorded = 0
        self._entries: OrderedDict[int, _Recording] = OrderedDict()

    def programs(self, state, sizes: Iterable[int], key: object,
                 record: Callable[[Programs, int], Program]) -> dict[int, Program]:
        """The program ``key`` of the model whose ``ModelState`` is ``state`` (the cache's
        owner: it holds no reference back) for each row count in ``sizes``, recorded by
        ``record(programs, rows)`` if not cached; then frees least recently used row counts
        other than ``sizes`` until the cache fits its budget and its count."""
        chosen = {}
        for rows in sizes:
            entry = self._entries.get(rows)
            if entry is None:
                entry = self._entries[rows] = _Recording(state, rows, self.statistics)
            self._entries.move_to_end(rows)
            if key not in entry.programs:
                before = entry.nbytes  # recording may add workspace arrays as well
                entry.programs[key] = record(Programs(entry), rows)
                self._nbytes += entry.nbytes - before
                self.recorded += 1
            chosen[rows] = entry.programs[key]
        oldest = iter([rows for rows in self._entries if rows not in chosen])
        while self._nbytes > self.budget or len(self._entries) > self.max_sizes:
            rows = next(oldest, None)
            if rows is None:  # only this call's sizes are left
                break
            self._nbytes -= self._entries.pop(rows).nbytes
        return chosen

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._nbytes


def copied_batches(arrays, samples: int, batch_size: int | None) -> list[tuple[int, int]]:
    """``batches(samples, batch_size)`` for data copied row by row from ``arrays`` (GPUArrays,
    or numpy arrays about to be uploaded whole): an odd batch size whose batches would start an
    f16 row of odd width off a 4-byte word, where copies can't start (ops.gather.copyable),
    becomes the even size below it (1 becomes 2), so predict's default batch (the most rows
    the adapter binds) still binds. Evaluation batches only split the work, so that
    changes no result beyond the order of the float sums.

    Raises:
        ValueError: batches that start off a word whatever their size (a Dataset view that
            does: ``realigned`` copies those first).
    """
    steps = batches(samples, batch_size)
    if rows_copyable(arrays, steps):
        return steps
    if batch_size is not None and rows_copyable(
            arrays, even := batches(samples, max(2, batch_size - 1))):
        return even
    raise ValueError("x: these samples start at an f16 row of odd width 2 bytes past a 4-byte "
                     "word, where buffer copies can't start (a Dataset view from an odd row "
                     "that realigned didn't copy); pass arrays instead, or split at an even row")


def realigned(state, data, name: str = "x"):
    """``data`` (a Dataset, or anything else, returned as is), or, for a view from a row other
    than 0 (``Dataset.rows``: validation_split's held-out part) of f16 rows of odd width, a copy
    of its rows gathered on the GPU (ops/gather.wgsl, one dispatch) into new buffers at offset
    0: such a view starts off the 4-byte words buffer copies need and can't be bound, so it is
    batched, copied and gathered from then on like the same rows uploaded as arrays. The copy
    lives as long as the call that uses it.

    A view that starts on a word is copied as it is when its Dataset is too large to gather
    from (copied_batches makes its batches start on words).

    Raises:
        ValueError: a view that starts off a word whose uploaded Dataset exceeds the adapter's
            binding limit (the gather binds it whole), before any GPU work.
    """
    if not isinstance(data, Dataset) or data.whole is None or data.first == 0 or all(
            array.shape[1] * array.dtype.itemsize % 4 == 0
            for array in (data.x, data.y) if array is not None):
        return data
    whole, device = data.whole, state.device
    on_word = rows_copyable((data.x, data.y), [(0, len(data))])
    if on_word and not whole.bindable:  # copied as it is (its odd rows: copied_batches)
        return data
    if not whole.bindable:
        raise ValueError(f"{name}: {data} starts at row {data.first} of an uploaded Dataset, "
                         "an f16 row of odd width that buffer copies can't start at, and that "
                         "Dataset exceeds the adapter's binding limit, so its rows can't be "
                         "gathered either; pass arrays instead (or validation_data), or upload "
                         "less")
    indices = gpu.from_numpy(device, np.arange(data.first, data.first + len(data)), np.uint32,
                             label="view_rows")
    dtype = data.x.dtype
    x = gpu.empty(device, data.x.shape, dtype, label="dataset_x")
    # Inputs only (a predict's view): the gather's y side copies a column of x into a scratch.
    y = gpu.empty(device, (len(data), 1) if data.y is None else data.y.shape, dtype,
                  label="dataset_y")
    program = Program(Workspace(device, 1, state.precision))
    record_gather(program, indices, whole.x, whole.x if data.y is None else whole.y, x, y)
    encoder = device.handle.create_command_encoder()
    program.encode(encoder)
    device.submit(encoder)
    return Dataset(x, None if data.y is None else y, len(data))


def rows_copyable(arrays, steps: list[tuple[int, int]]) -> bool:
    """Whether every batch of ``steps`` starts on a 4-byte word in every one of ``arrays``
    (GPUArrays, numpy arrays about to be uploaded whole, or None): ops.gather.copyable."""
    return all(copyable(array if isinstance(array, GPUArray) else _Whole(array), start)
               for array in arrays if array is not None for start, _ in steps)


class _Whole:
    """A numpy array as ``copyable`` sees an array it is uploaded into: at offset 0."""

    def __init__(self, array: np.ndarray) -> None:
        self.offset, self.shape, self.dtype = 0, array.shape, array.dtype


def encode_evaluation(chunks: ChunkedEncoder, data: Dataset | None, steps,
                      programs: dict[int, Program], outputs: GPUArray | None = None) -> None:
    """Encode forward passes over ``data`` batch by batch (rows copied into the workspace);
    ``outputs`` [samples, width] collects the predictions when given. ``chunks`` submits
    whenever it is full."""
    if data is None:
        return
    for start, rows in steps:
        program = programs[rows]
        encoder = chunks.reserve(program.dispatch_count)
        copy_rows(encoder, data.x, start, program.inputs)
        if data.y is not None:
            copy_rows(encoder, data.y, start, program.targets)
        program.encode(encoder)
        if outputs is not None:  # whole words (f16 rows of odd width): see copied_batches
            row = outputs.shape[1] * outputs.dtype.itemsize
            encoder.copy_buffer_to_buffer(program.outputs.buffer, program.outputs.offset,
                                          outputs.buffer, outputs.offset + start * row,
                                          -(-rows * row // 4) * 4)


def widest_activation(layers, input_shape: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
    """(what, per-sample shape) of the widest array a batch's rows fill: x or a layer's
    outputs (an image layer's, often)."""
    widths = [("x", tuple(input_shape)), *((f"layers[{index}] {layer!r}'s outputs",
                                            layer.output_shape)
                                           for index, layer in enumerate(layers))]
    return max(widths, key=lambda width: math.prod(width[1]))


def bindable_rows(state) -> int:
    """The most samples per batch whose widest activation a shader binds whole (predict's and
    evaluate's default batch)."""
    _, shape = widest_activation(state.layers, (state.input_size,))
    limit = state.device.limits["max-storage-buffer-binding-size"]
    return max(1, limit // (state.precision.itemsize * math.prod(shape)))


def check_batch_binding(model, device, rows: int) -> None:
    """Refuse, before anything is uploaded, batches of ``rows`` samples whose widest activation
    is more than a shader binds at once (fit's batch_size, or its whole dataset)."""
    limit = device.limits["max-storage-buffer-binding-size"]
    name, shape = widest_activation(model.layers, model.input_shape)
    per_sample = math.prod(shape) * model.precision.itemsize
    if rows * per_sample > limit:
        raise ValueError(f"batch_size: batches of {rows} samples of {name} {shape} need "
                         f"{rows * per_sample:,} bytes, more than this device binds at once "
                         f"({limit:,}); use batch_size={max(1, limit // per_sample)} or less")


def evaluate_now(state, x, y, batch_size: int | None, loss: Loss, accuracy: int) -> np.ndarray:
    """The statistics FIELDS (loss, metrics) over (x, y): batches of forward + statistics, one
    readback, one submit per MAX_DISPATCHES_PER_SUBMIT dispatches; ``batch_size`` None: as
    many samples as the device binds at once."""
    batch_size = bindable_rows(state) if batch_size is None else batch_size
    cache = state.inference
    data = realigned(state, x) if isinstance(x, Dataset) else Dataset.upload(
        state.device, x, y, bindable=False)
    steps = copied_batches((data.x, data.y), len(x), batch_size)
    key = ("evaluation", type(loss), repr(loss.get_config()), accuracy)
    programs = cache.programs(state, batch_sizes(steps), key, lambda recorder, rows:
                              recorder.evaluation(rows, loss, accuracy, 0))
    finish = Program(Workspace(state.device, 1, state.precision))
    statistics.record_finish_epoch(finish, cache.statistics, cache.result, len(x), 0)
    chunks = ChunkedEncoder(state.device)
    encode_evaluation(chunks, data, steps, programs)
    encoder = chunks.reserve(finish.dispatch_count)
    finish.encode(encoder)
    staged = StagedRead(state.device, encoder, [cache.result])
    chunks.submit()
    return statistics.slot_values(staged.collect()[0], statistics.TRAINING)


def predict_now(state, x: np.ndarray | Dataset, batch_size: int | None) -> np.ndarray:
    """The model's outputs for x, in batches, one readback, one submit per
    MAX_DISPATCHES_PER_SUBMIT dispatches."""
    batch_size = bindable_rows(state) if batch_size is None else batch_size
    data = realigned(state, x) if isinstance(x, Dataset) else Dataset.upload(
        state.device, x, None, bindable=False)
    outputs = gpu.empty(state.device, (len(x), state.output_size), state.precision.numpy,
                        label="predictions", bindable=False)
    steps = copied_batches((data.x, outputs), len(x), batch_size)

    def record(recorder: Programs, rows: int) -> Program:
        program = recorder.program(rows)
        recorder.forward(program)
        return program

    programs = state.inference.programs(state, batch_sizes(steps), "forward", record)
    chunks = ChunkedEncoder(state.device)
    encode_evaluation(chunks, data, steps, programs, outputs)
    staged = StagedRead(state.device, chunks.encoder, [outputs])
    chunks.submit()
    return staged.collect()[0]
