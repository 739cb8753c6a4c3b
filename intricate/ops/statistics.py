"""The statistics layout: where the GPU keeps an epoch's running loss and metric sums, in one
place (shaders/losses.wgsl adds to it, shaders/ops/statistics.wgsl turns it into means).

    [ loss, accuracy, mae, - | loss, accuracy, mae, - ]
      TRAINING slot (0..3)     VALIDATION slot (4..7)

Each batch adds (loss · rows, correct rows, Σ per-row mean |ŷ - y|) at its slot, so an epoch's
mean is sum / samples. evaluate uses the TRAINING slot.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..gpu import GPUArray, Program

FIELDS = ("loss", "accuracy", "mae")  # per slot, in order (one spare float pads the slot to 4)
LOSS, ACCURACY, MAE = range(len(FIELDS))
SLOT = 4  # floats per slot
TRAINING, VALIDATION = 0, SLOT  # where each slot starts
SIZE = 2 * SLOT  # floats in the statistics and epoch-result arrays, and per epoch in the log
NO_ACCURACY, BINARY, CATEGORICAL = 0, 1, 2  # the shader's accuracy modes


def slot_values(row: Sequence[float], slot: int) -> tuple[float, ...]:
    """The (loss, accuracy, mae) of one slot of an epoch's result row."""
    return tuple(row[slot:slot + len(FIELDS)])


def record_finish_epoch(program: Program, sums: GPUArray, epoch_result: GPUArray,
                        train_count: int, val_count: int) -> None:
    """Record epoch_result = sums / samples (per slot) and zero the sums, in one dispatch."""
    program.dispatch("ops/statistics.wgsl", "finish_epoch", groups=1, statistics=sums,
                     epoch_result=epoch_result, template={"slot": SLOT, "size": SIZE},
                     params={"train_count": train_count, "val_count": val_count})
