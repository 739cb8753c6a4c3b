"""The statistics layout: where the GPU keeps an epoch's running loss and metric sums, in one
place (shaders/losses.wgsl adds to it, shaders/ops/statistics.wgsl turns it into means).

    [ loss, binary_acc, mae, categorical_acc | loss, binary_acc, mae, categorical_acc |
      TRAINING slot (0..3)                     VALIDATION slot (4..7)
      loss_scale, skipped_steps ]
      LOSS_SCALING (8, 9): mixed_float16 fits only (engine/loss_scale.py writes them)

Each batch adds (loss · rows, binary-correct elements / width, Σ per-row mean |ŷ - y|,
categorical-correct rows) at its slot, so an epoch's mean is sum / samples. Each accuracy has
its own field, so "binary_accuracy" and "categorical_accuracy" asked together keep their own
values. evaluate uses the TRAINING slot. The LOSS_SCALING fields are not means: the loss scale
at the epoch's end and the steps skipped in it (finish_epoch divides them by 1), so they reach the
History through the same per-epoch read as the loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..gpu import GPUArray, Program

FIELDS = ("loss", "binary_accuracy", "mae", "categorical_accuracy")  # per slot, in order
LOSS, BINARY_ACCURACY, MAE, CATEGORICAL_ACCURACY = range(len(FIELDS))
SLOT = 4  # floats per slot
TRAINING, VALIDATION = 0, SLOT  # where each slot starts
LOSS_SCALING = 2 * SLOT  # where the loss scale and the epoch's skipped steps are
LOSS_SCALE, SKIPPED_STEPS = LOSS_SCALING, LOSS_SCALING + 1
SIZE = LOSS_SCALING + 2  # floats in the statistics and epoch-result arrays, per epoch in the log
# The shader's accuracy flags (Params.accuracy, a bit mask): which accuracies to count.
NO_ACCURACY, BINARY, CATEGORICAL = 0, 1, 2


def slot_values(row: Sequence[float], slot: int) -> tuple[float, ...]:
    """The FIELDS values of one slot of an epoch's result row."""
    return tuple(row[slot:slot + len(FIELDS)])


LOSS_SCALING_KEYS = ("loss_scale", "skipped_steps")  # History keys, mixed_float16 fits only


def loss_scaling_logs(row: Sequence[float]) -> dict[str, float]:
    """The History keys of a mixed_float16 fit's epoch row: the loss scale at the epoch's end
    and the steps skipped in it."""
    return dict(zip(LOSS_SCALING_KEYS, (float(row[LOSS_SCALE]), int(row[SKIPPED_STEPS]))))


def epoch_means(sums: np.ndarray, train_count: int, val_count: int) -> np.ndarray:
    """NumPy of finish_epoch's epoch_result: each slot's sums / its samples (at least 1), the
    LOSS_SCALING fields as they are."""
    counts = np.repeat([max(train_count, 1), max(val_count, 1)], SLOT)
    return np.asarray(sums, np.float64) / np.concatenate([counts, np.ones(SIZE - 2 * SLOT)])


def record_finish_epoch(program: Program, sums: GPUArray, epoch_result: GPUArray,
                        train_count: int, val_count: int) -> None:
    """Record epoch_result = sums / samples (per slot; ``epoch_means``) and zero the sums, in
    one dispatch."""
    program.dispatch("ops/statistics.wgsl", "finish_epoch", groups=1, statistics=sums,
                     epoch_result=epoch_result, template={"slot": SLOT, "size": SIZE},
                     params={"train_count": train_count, "val_count": val_count})
