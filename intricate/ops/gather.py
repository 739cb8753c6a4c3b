"""Batches gathered on the GPU: rows of the resident dataset picked by a permutation
(shaders/ops/gather.wgsl), plain row copies for unshuffled batches, and how samples split
into batches."""

from __future__ import annotations

import math

from ..gpu import GPUArray, Program, fold_grid


def batches(samples: int, batch_size: int | None) -> list[tuple[int, int]]:
    """(first sample, rows) of each batch; the last one may be partial."""
    size = samples if batch_size is None else min(batch_size, samples)
    return [(start, min(size, samples - start)) for start in range(0, samples, size)]


def batch_sizes(steps: list[tuple[int, int]]) -> list[int]:
    """The distinct batch sizes of ``steps`` (at most two): one program is recorded for each."""
    return sorted({rows for _, rows in steps})


def copyable(source: GPUArray, start: int) -> bool:
    """Whether ``copy_rows`` can copy rows of ``source`` from row ``start``: buffer copies start
    on whole 4-byte words, which an f16 row of odd width (2 bytes past a word) breaks at every
    odd row. Where it can't, gather the rows by an identity permutation (record_gather)."""
    return (source.offset + start * source.shape[1] * source.dtype.itemsize) % 4 == 0


def copy_rows(encoder, source: GPUArray, start: int, destination: GPUArray) -> None:
    """Copy rows [start, start + destination rows) of ``source`` into ``destination`` (copies
    are whole words: an f16 array of an odd element count copies the 2 bytes after it too,
    within the buffer's rounding; they are read by no kernel).

    Raises:
        ValueError: rows that don't start on a 4-byte word (see ``copyable``), before anything
            is encoded.
    """
    width = source.shape[1] * source.dtype.itemsize
    if not copyable(source, start):
        past = (source.offset + start * width) % 4
        raise ValueError(f"copy_rows: row {start} of {source} starts {past} bytes past a 4-byte "
                         "word, where buffer copies can't start; gather such rows on the GPU "
                         "(ops.gather.record_gather with an identity permutation)")
    encoder.copy_buffer_to_buffer(source.buffer, source.offset + start * width,
                                  destination.buffer, destination.offset,
                                  destination.binding()["size"])


GATHER_WORKGROUP = 256  # invocations per workgroup of gather_rows (its override)


def record_gather(program: Program, indices: GPUArray, source_x: GPUArray, source_y: GPUArray,
                  batch_x: GPUArray, batch_y: GPUArray) -> None:
    """Record batch_x = source_x[indices], batch_y = source_y[indices] (ops/gather.wgsl: a workgroup
    row per batch row, its columns across x)."""
    (rows, x_width), y_width = batch_x.shape, batch_y.shape[1]
    row_groups = fold_grid(rows)
    groups = (math.ceil(max(x_width, y_width) / GATHER_WORKGROUP), row_groups[0], row_groups[1])
    program.dispatch("ops/gather.wgsl", "gather_rows", groups=groups,
                     workgroup_size=GATHER_WORKGROUP,
                     params={"rows": rows, "x_width": x_width, "y_width": y_width},
                     indices=indices, source_x=source_x, source_y=source_y, batch_x=batch_x,
                     batch_y=batch_y)
