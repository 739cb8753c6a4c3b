"""PNG files from RGBA pixels, with the standard library's zlib (the format needs nothing else:
a signature, an IHDR chunk, the zlib-compressed rows each led by a filter byte, IEND).

Why not Pillow or imageio: they would add a dependency (and Pillow ~10 MB) for the ~20 lines
below; reading PNGs back is only needed by tests, which ``read_png`` covers for the files
written here.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..io.atomic import resolve, write_atomically

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(pixels: np.ndarray) -> bytes:
    """The PNG file of ``pixels`` (uint8 [height, width, 4], RGBA, row 0 at the top)."""
    height, width, channels = pixels.shape
    if pixels.dtype != np.uint8 or channels != 4:
        raise ValueError(f"pixels: expected uint8 [height, width, 4], received {pixels.dtype} "
                         f"{pixels.shape}")
    # Filter type 1 (each byte minus the one a pixel to its left) shrinks flat charts ~3x.
    rows = pixels.reshape(height, width * 4).astype(np.int16)
    filtered = np.empty_like(rows)
    filtered[:, :4] = rows[:, :4]
    filtered[:, 4:] = rows[:, 4:] - rows[:, :-4]
    raw = np.empty((height, width * 4 + 1), np.uint8)
    raw[:, 0] = 1
    raw[:, 1:] = (filtered & 0xFF).astype(np.uint8)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
            + _chunk(b"IEND", b""))


def check_path(path: object) -> None:
    """Refuse, before anything is drawn, a path a PNG can't be written to.

    Raises:
        TypeError: not a str or os.PathLike. ModelFileError (a ValueError): a directory, a
            folder that doesn't exist, or something other than a regular file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file name (str or os.PathLike), received "
                        f"{type(path).__name__} {path!r}")
    resolve(path)


def write_png(path: str | os.PathLike, pixels: np.ndarray) -> None:
    """Write ``pixels`` to ``path`` as a PNG, atomically (a reader sees the old file or the
    new one, never half of one)."""
    write_atomically(path, encode_png(pixels))


def read_png(path: str | os.PathLike) -> np.ndarray:
    """The pixels of an 8-bit RGBA, non-interlaced PNG whose rows use filters 0-2 (as
    ``encode_png`` writes them), uint8 [height, width, 4]; for tests and scripts.

    Raises:
        ValueError: not such a PNG.
    """
    with open(path, "rb") as file:
        data = file.read()
    if not data.startswith(SIGNATURE):
        raise ValueError(f"{path}: not a PNG file")
    position, chunks, header = len(SIGNATURE), [], b""
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        header = body if kind == b"IHDR" else header
        chunks += [body] if kind == b"IDAT" else []
        position += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if (depth, color, interlace) != (8, 6, 0):
        raise ValueError(f"{path}: expected 8-bit RGBA without interlacing, received depth "
                         f"{depth}, colour type {color}, interlace {interlace}")
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, -1)
    pixels = np.zeros((height, width, 4), np.int64)
    for row in range(height):
        kind, line = raw[row, 0], raw[row, 1:].reshape(width, 4).astype(np.int64)
        if kind == 1:  # each byte adds the one a pixel to its left
            line = np.cumsum(line, axis=0)
        elif kind == 2 and row:  # each byte adds the one above
            line = line + pixels[row - 1]
        elif kind not in (0, 2):
            raise ValueError(f"{path}: row {row} uses filter {kind}; read_png reads 0-2")
        pixels[row] = line & 0xFF
    return pixels.astype(np.uint8)
