"""Model and layer files on disk: safetensors (a length-prefixed JSON header, then raw
little-endian arrays) through the ``safetensors`` package's numpy API. No pickle anywhere.

Every file's metadata holds ``format`` ("intricate"), ``format_version``, ``library_version``,
``layout`` and ``config`` (JSON: the layers, and for models the dtype, input shape and optimizer).

Saving is atomic and durable (io/atomic.py): a crash leaves the old file or the new one, whole.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as encode_safetensors

from .._version import __version__
from .atomic import write_atomically  # noqa: F401  (re-exported: the io package's writer)

FORMAT = "intricate"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit


class ModelFileError(ValueError):
    """A model or layer file is missing, broken, hostile or not what was expected."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path, self.problem = os.fspath(path), problem


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    return encode_safetensors({name: np.ascontiguousarray(value)
                               for name, value in tensors.items()}, metadata=metadata)


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All tensors and the metadata of a safetensors file, or a ModelFileError saying why not."""
    target = Path(path)
    if target.is_dir():
        raise ModelFileError(target, "is a directory, not a model file")
    try:
        size = target.stat().st_size
        with open(target, "rb") as file:
            prefix = file.read(8)
    except FileNotFoundError:
        raise ModelFileError(target, "no such file") from None
    except OSError as error:
        raise ModelFileError(target, f"cannot be read ({error.strerror})") from None
    if len(prefix) < 8:
        raise ModelFileError(target, f"truncated: {size} bytes, shorter than the 8-byte header "
                                     "length of a safetensors file")
    (header_bytes,) = struct.unpack("<Q", prefix)
    if header_bytes > MAX_HEADER_BYTES:
        raise ModelFileError(target, f"header of {header_bytes} bytes exceeds the "
                                     f"{MAX_HEADER_BYTES} byte limit: not a model file")
    if 8 + header_bytes > size:
        raise ModelFileError(target, f"header length {header_bytes} is larger than the file "
                                     f"({size} bytes): truncated or not a safetensors file")
    try:
        with safe_open(target, framework="np") as file:
            metadata = dict(file.metadata() or {})
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except (SafetensorError, ValueError, TypeError, OSError) as error:
        raise ModelFileError(target, f"not a valid safetensors file ({error})") from None
    return tensors, metadata


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


def take(path, tensors: dict[str, np.ndarray], name: str, shape: tuple, dtype=np.float32):
    if name not in tensors:
        raise ModelFileError(path, f"tensor {name!r} is missing")
    value = tensors.pop(name)
    if value.dtype != np.dtype(dtype) or value.shape != tuple(shape):
        raise ModelFileError(path, f"tensor {name!r} is {value.dtype} {value.shape}, but the "
                                   f"config needs {np.dtype(dtype)} {tuple(shape)}")
    return value


