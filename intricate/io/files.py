"""Model and layer files on disk: safetensors (a length-prefixed JSON header, then raw
little-endian arrays) through the ``safetensors`` package's numpy API. No pickle anywhere.

Every file's metadata holds ``format`` ("intricate"), ``format_version``, ``library_version``,
``layout`` and ``config`` (JSON: the layers, and for models the dtype, input shape and optimizer).

Saving is atomic and durable (io/atomic.py): a crash leaves the old file or the new one, whole.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as encode_safetensors

from .._version import __version__
from .atomic import ModelFileError, write_atomically  # noqa: F401  (the io package's names)

FORMAT = "intricate"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit


class NonFiniteWeightsError(ValueError):
    """Weights holding NaN or infinity: ``save`` refuses them, so a good file is never replaced
    by one that ``load`` would refuse (``ModelCheckpoint`` warns and keeps the old file)."""


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The safetensors bytes of ``tensors``; NonFiniteWeightsError names a NaN/inf tensor."""
    for name, value in tensors.items():
        if np.asarray(value).dtype.kind == "f" and not np.isfinite(value).all():
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            raise NonFiniteWeightsError(
                f"tensor {name!r} holds {bad} NaN or infinite values of {np.size(value)}: not "
                "saved (the file keeps its last good contents); the model has diverged, lower "
                "the learning rate or restore a checkpoint")
    return encode_safetensors({name: np.ascontiguousarray(value)
                               for name, value in tensors.items()}, metadata=metadata)


# Reading: the header is checked whole (JSON, dtypes, shapes × dtype sizes against the offsets,
# offsets tiling exactly the bytes the file has) before any tensor is read or anything sized by
# the file is allocated, so a refused file costs memory of the order of its own size.
DTYPES = {"F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2),
          "BF16": ("bfloat16", 2), "I64": ("int64", 8), "I32": ("int32", 4),
          "I16": ("int16", 2), "I8": ("int8", 1), "U64": ("uint64", 8), "U32": ("uint32", 4),
          "U16": ("uint16", 2), "U8": ("uint8", 1), "BOOL": ("bool", 1),
          "F8_E4M3": ("float8_e4m3", 1), "F8_E5M2": ("float8_e5m2", 1)}
Header = dict[str, tuple[str, tuple[int, ...]]]  # tensor name → (dtype name, shape)


def _invalid(path, problem: str) -> ModelFileError:
    return ModelFileError(path, f"not a valid safetensors file ({problem})")


def _header_bytes(target: Path) -> tuple[bytes, int]:
    """The raw JSON header and the number of data bytes after it."""
    if target.is_dir():
        raise ModelFileError(target, "is a directory, not a model file")
    try:
        info = target.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read forever
            raise ModelFileError(target, "is not a regular file (a FIFO, device or socket); "
                                         "give the path of a model file")
        size = info.st_size
        with open(target, "rb") as file:
            prefix = file.read(8)
            if len(prefix) < 8:
                raise ModelFileError(target, f"truncated: {size} bytes, shorter than the 8-byte "
                                             "header length of a safetensors file")
            (header_bytes,) = struct.unpack("<Q", prefix)
            if header_bytes > MAX_HEADER_BYTES:
                raise ModelFileError(target, f"header of {header_bytes} bytes exceeds the "
                                             f"{MAX_HEADER_BYTES} byte limit: not a model file")
            if 8 + header_bytes > size:
                raise ModelFileError(target, f"header length {header_bytes} is larger than the "
                                             f"file ({size} bytes): truncated or not a "
                                             "safetensors file")
            return file.read(header_bytes), size - 8 - header_bytes
    except FileNotFoundError:
        raise ModelFileError(target, "no such file") from None
    except OSError as error:
        raise ModelFileError(target, f"cannot be read ({error.strerror})") from None


def read_header(path: str | os.PathLike) -> tuple[Header, dict[str, str]]:
    """The tensors a safetensors file declares and its metadata, checked, reading no tensor."""
    raw, data_bytes = _header_bytes(Path(path))
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        problem = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise _invalid(path, f"header is not JSON: {problem}") from None
    if not isinstance(header, dict):
        raise _invalid(path, "header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(value, str) for value in metadata.values()):
        raise _invalid(path, "__metadata__ is not an object of strings")
    tensors, spans = {}, []
    for name, entry in header.items():
        entry = entry if isinstance(entry, dict) else {}
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if entry.get("dtype") not in DTYPES:
            raise _invalid(path, f"tensor {name!r} has unknown dtype {entry.get('dtype')!r}")
        if not _naturals(shape) or not _naturals(offsets) or len(offsets) != 2:
            raise _invalid(path, f"tensor {name!r}: shape {shape!r} or data_offsets "
                                 f"{offsets!r} is not a list of natural numbers")
        dtype, item_bytes = DTYPES[entry["dtype"]]
        declared = math.prod(shape) * item_bytes
        if offsets[1] - offsets[0] != declared:
            raise _invalid(path, f"tensor {name!r} is {dtype} {tuple(shape)}, {declared} bytes, "
                                 f"but its data_offsets {offsets} span {offsets[1] - offsets[0]}")
        tensors[name] = (dtype, tuple(shape))
        spans.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise _invalid(path, f"tensor {name!r} starts at byte {begin}, not {position}: "
                                 "offsets overlap or leave a gap")
        position = end
    if position != data_bytes:
        raise _invalid(path, f"the tensors declare {position} bytes of data but the file holds "
                             f"{data_bytes}: truncated or hostile")
    return tensors, metadata


def _naturals(values: object) -> bool:
    return isinstance(values, list) and all(
        isinstance(value, int) and not isinstance(value, bool) and value >= 0
        for value in values)


def read(path: str | os.PathLike, names: list[str] | None = None
         ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors ``names`` (None: all) and the metadata of a safetensors file whose header
    ``read_header`` accepts, or a ModelFileError saying why not."""
    header, metadata = read_header(path)
    names = list(header if names is None else names)
    try:
        with safe_open(Path(path), framework="np") as file:
            tensors = {name: file.get_tensor(name) for name in names
                       if header.get(name, ("",))[0] != "bfloat16"}
        tensors |= _bfloat16s(path, [name for name in names if name not in tensors])
    except (SafetensorError, ValueError, TypeError, OSError) as error:
        raise _invalid(path, str(error)) from None
    return tensors, metadata


def _bfloat16s(path, names: list[str]) -> dict[str, np.ndarray]:
    """BF16 tensors (PyTorch's bfloat16 state dicts), which NumPy has no type for, as the
    float32 values they are exactly (bfloat16 is float32's top 16 bits)."""
    if not names:
        return {}
    raw, _ = _header_bytes(Path(path))
    entries = json.loads(raw.decode("utf-8"))
    tensors = {}
    with open(path, "rb") as file:
        for name in names:
            begin, end = entries[name]["data_offsets"]
            file.seek(8 + len(raw) + begin)
            bits = np.frombuffer(file.read(end - begin), "<u2").astype(np.uint32) << 16
            tensors[name] = bits.view(np.float32).reshape(entries[name]["shape"])
    return tensors


def check_tensors(path, header: Header, wanted: dict[str, tuple[tuple, object]]) -> None:
    """Refuse a file whose tensors are not exactly ``wanted`` (name → (shape, dtype))."""
    for name, (shape, dtype) in wanted.items():
        if name not in header:
            raise ModelFileError(path, f"tensor {name!r} is missing")
        if header[name] != (np.dtype(dtype).name, tuple(shape)):
            stored_dtype, stored_shape = header[name]
            raise ModelFileError(path, f"tensor {name!r} is {stored_dtype} {stored_shape}, but "
                                       f"the config needs {np.dtype(dtype)} {tuple(shape)}")
    unexpected = sorted(set(header) - set(wanted))
    if unexpected:
        raise ModelFileError(path, f"unexpected tensors {unexpected[:5]} for this config")


def check_finite(path, tensors: dict[str, np.ndarray]) -> None:
    for name, value in tensors.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ModelFileError(path, f"tensor {name!r} holds NaN or infinite values; the "
                                       "file was written from a diverged model")


def metadata(config: dict, layout: str) -> dict[str, str]:
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "library_version": __version__, "layout": layout, "config": json.dumps(config)}
    if layout == "torch":
        metadata["format"] = "pt"  # what safetensors.torch writes; our keys stay beside it
        metadata["intricate_format"] = FORMAT
    return metadata


def config_of(path, metadata: dict[str, str]) -> dict:
    if metadata.get("format") != FORMAT and metadata.get("intricate_format") != FORMAT:
        raise ModelFileError(path, "has no intricate model config (is it a PyTorch file? use "
                                   "Model.from_torch_state_dict)")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise ModelFileError(path, f"format_version {metadata.get('format_version')!r} is "
                                   "not a number") from None
    if version > FORMAT_VERSION:
        written_by = metadata.get("library_version", "a newer version")
        raise ModelFileError(path, f"written in format {version} by a newer intricate "
                                   f"({written_by}); this one reads format {FORMAT_VERSION} and "
                                   "older: upgrade intricate")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError, RecursionError) as error:
        problem = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise ModelFileError(path, f"model config is missing or not JSON ({problem})") from None
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ModelFileError(path, "model config has no list of layers")
    return config
