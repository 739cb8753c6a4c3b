"""The statistics layout: where the GPU keeps an epoch's running loss and metric sums, in one
place (shaders/losses.wgsl adds to it, shaders/ops/statistics.wgsl turns it into means).

    [ loss, binary_acc, mae, categorical_acc | loss, binary_acc, mae, categorical_acc ]
      TRAINING slot (0..3)                     VALIDATION slot (4..7)

Each batch adds (loss · rows, binary-correct elements / width, Σ per-row mean |ŷ - y|,
categorical-correct rows) at its slot, so an epoch's mean is sum / samples. Each accuracy has
its own field, so "binary_accuracy" and "categorical_accuracy" asked together keep their own
values. evaluate uses the TRAINING slot.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..gpu import GPUArray, Program

FIELDS = ("loss", "binary_accuracy", "mae", "categorical_accuracy")  # per slot, in order
LOSS, BINARY_ACCURACY, MAE, CATEGORICAL_ACCURACY = range(len(FIELDS))
SLOT = 4  # floats per slot
TRAINING, VALIDATION = 0, SLOT  # where each slot starts
SIZE = 2 * SLOT  # floats in the statistics and epoch-result arrays, and per epoch in the log
# The shader's accuracy flags (Params.accuracy, a bit mask): which accuracies to count.
NO_ACCURACY, BINARY, CATEGORICAL = 0, 1, 2


def slot_values(row: Sequence[float], slot: int) -> tuple[float, ...]:
    """The FIELDS values of one slot of an epoch's result row."""
    return tuple(row[slot:slot + len(FIELDS)])


def record_finish_epoch(program: Program, sums: GPUArray, epoch_result: GPUArray,
                        train_count: int, val_count: int) -> None:
    """Record epoch_result = sums / samples (per slot) and zero the sums, in one dispatch."""
    program.dispatch("ops/statistics.wgsl", "finish_epoch", groups=1, statistics=sums,
                     epoch_result=epoch_result, template={"slot": SLOT, "size": SIZE},
                     params={"train_count": train_count, "val_count": val_count})
