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


def lanes(width: int, itemsize: int, *offsets: int) -> int:
    """How many elements (4, 2 or 1) one load of gather_rows moves in rows of ``width``
    elements of ``itemsize`` bytes: a divisor of the width whose bytes (16 at most: vec4<f32>,
    vec2<f64>) divide every array's byte offset, as a vector binding needs."""
    for count in (4, 2):
        if width % count == 0 and count * itemsize <= 16 and all(
                offset % (count * itemsize) == 0 for offset in offsets):
            return count
    return 1


def template(x_lanes: int, y_lanes: int, indexed: bool = True, cursor: bool = False) -> dict:
    """ops/gather.wgsl's template values (besides the dtype)."""
    return {"x_lanes": x_lanes, "y_lanes": y_lanes, "indexed": indexed, "cursor": cursor}


def launch(rows: int, x_chunks: int, y_chunks: int) -> tuple[dict[str, int], tuple[int, int, int]]:
    """The ``row_shift`` override and the grid of gather_rows for ``rows`` batch rows of
    ``x_chunks`` and ``y_chunks`` loads: the fewest lanes (a power of two) that cover a row's
    chunks, so narrow rows share a workgroup instead of idling most of its lanes."""
    row_lanes = min(GATHER_WORKGROUP, 1 << (max(x_chunks, y_chunks, 1) - 1).bit_length())
    shift = row_lanes.bit_length() - 1
    row_groups = fold_grid(math.ceil(rows / (GATHER_WORKGROUP >> shift)))
    grid = (math.ceil(max(x_chunks, y_chunks) / row_lanes), row_groups[0], row_groups[1])
    return {"row_shift": shift}, grid


def record_gather(program: Program, indices: GPUArray | None, source_x: GPUArray,
                  source_y: GPUArray, batch_x: GPUArray, batch_y: GPUArray,
                  cursor: tuple[GPUArray, GPUArray] | None = None) -> None:
    """Record batch_x = source_x[order], batch_y = source_y[order] (ops/gather.wgsl), where
    order = indices[:rows], or with ``cursor`` (two u32 words: c0, c1) the ``rows`` positions
    from c0's value of ``indices`` (None: the samples themselves, in order) and c1 = c0 + rows.
    The program's odd phases (Program.encode's ``phase``) swap c0 and c1, so a step encoded
    as phases 0, 1, 2, ... gathers consecutive batches of one permutation (c0 cleared first).

    Raises:
        ValueError: neither ``indices`` nor ``cursor``.
    """
    if indices is None and cursor is None:
        raise ValueError("record_gather: give indices, a cursor or both")
    (rows, x_width), y_width = batch_x.shape, batch_y.shape[1]
    x_lanes, y_lanes = (lanes(source.shape[1], source.dtype.itemsize, source.offset,
                              batch.offset) for source, batch in ((source_x, batch_x),
                                                                  (source_y, batch_y)))
    constants, grid = launch(rows, x_width // x_lanes, y_width // y_lanes)
    bound = {"source_x": source_x, "source_y": source_y, "batch_x": batch_x, "batch_y": batch_y}
    bound |= {} if indices is None else {"indices": indices}
    alternate = None
    if cursor is not None:
        bound |= {"cursor_in": cursor[0], "cursor_out": cursor[1]}
        alternate = {"cursor_in": cursor[1], "cursor_out": cursor[0]}
    program.dispatch("ops/gather.wgsl", "gather_rows", groups=grid,
                     workgroup_size=GATHER_WORKGROUP, constants=constants,
                     template=template(x_lanes, y_lanes, indices is not None,
                                       cursor is not None),
                     params={"rows": rows, "x_width": x_width, "y_width": y_width},
                     alternate=alternate, **bound)
