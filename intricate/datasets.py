"""Datasets on disk, read into NumPy arrays: IDX files (MNIST, Fashion-MNIST), a downloaded MNIST
folder, and scikit-learn's bundled 8×8 digits. Not to be confused with ``intricate.dataset``
(singular), the ``Dataset`` class that keeps samples resident on the GPU: these loaders return
host arrays, which ``fit`` takes directly or ``model.upload`` puts on the GPU once.

    (x_train, y_train), (x_test, y_test) = load_mnist("~/data/mnist")   # uint8, like Keras
    x = x_train.reshape(len(x_train), -1).astype(np.float32) / 255      # [N, 784] in [0, 1]
    y = np.eye(10, dtype=np.float32)[y_train]                           # one-hot [N, 10]
    images, labels = load_digits()                                      # [1797, 8, 8, 1]
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

# The IDX type byte → the big-endian element type it stores (yann.lecun.com/exdb/mnist/).
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK_BYTES = 1 << 24  # the data is read in chunks, so a header claiming more costs nothing

MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
MNIST_SOURCES = ("https://ossci-datasets.s3.amazonaws.com/mnist/ (the mirror PyTorch uses), "
                 "https://yann.lecun.com/exdb/mnist/; Fashion-MNIST (same file names): "
                 "https://github.com/zalandoresearch/fashion-mnist")


class IDXFileError(ValueError):
    """A file that isn't a whole, valid IDX file; ``path`` is the file, and the message says what
    was expected, what was found, and what to do."""

    def __init__(self, path, problem: str):
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


def _read_at_most(stream, size: int) -> bytearray:
    """Up to ``size`` bytes of ``stream``, fewer only at its end, read in bounded chunks (a
    bytearray, so arrays over it are writable)."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(READ_CHUNK_BYTES, size - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _remaining_bytes(stream) -> int:
    """How many bytes ``stream`` has left, counted without keeping them."""
    return sum(len(chunk) for chunk in iter(lambda: stream.read(READ_CHUNK_BYTES), b""))


def _parse_idx(path: Path, stream) -> np.ndarray:
    """The array of an (uncompressed) IDX stream; IDXFileError on anything but a whole file."""
    magic = _read_at_most(stream, 4)
    if len(magic) < 4:
        raise IDXFileError(path, f"the header is truncated: an IDX file starts with 4 bytes "
                                 f"(0, 0, type, dimensions), found {len(magic)}")
    if magic[:2] != b"\x00\x00":
        raise IDXFileError(path, f"not an IDX file: the first two bytes must be 00 00, found "
                                 f"{magic.hex(' ')} ({bytes(magic)!r}); an HTML page or another "
                                 "format saved under this name? Download the file again")
    type_code, dimensions = magic[2], magic[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X} ({dtype.name})" for code, dtype in IDX_DTYPES.items())
        raise IDXFileError(path, f"unknown IDX type code 0x{type_code:02X}; the format defines "
                                 f"{known}")
    if dimensions == 0:
        raise IDXFileError(path, "the header declares 0 dimensions; an IDX array has at "
                                 "least one (1 for labels, 3 for images)")
    sizes = _read_at_most(stream, 4 * dimensions)
    if len(sizes) < 4 * dimensions:
        raise IDXFileError(path, f"the header is truncated: {dimensions} dimensions need "
                                 f"{4 * dimensions} bytes of sizes, found {len(sizes)}")
    shape = struct.unpack(f">{dimensions}I", sizes)
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    data = _read_at_most(stream, expected)
    if len(data) < expected:
        raise IDXFileError(path, f"the data is truncated: shape {shape} of {dtype.name} needs "
                                 f"{expected} bytes after the header, found {len(data)} "
                                 "(an interrupted download? Download the file again)")
    trailing = _remaining_bytes(stream)
    if trailing:
        raise IDXFileError(path, f"{trailing} bytes follow the data of shape {shape} "
                                 f"({expected} bytes of {dtype.name}); the header doesn't "
                                 "describe this file (a different file or two joined?)")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape)).reshape(shape)
    # Native byte order, as every other array is; a single byte needs no swap (and no copy).
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def load_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (the MNIST and Fashion-MNIST format), gzip-compressed or
    not: compression is recognised by the gzip magic bytes, not by the file name.

    Args:
        path: the file.

    Returns:
        A writable array in native byte order with the file's shape and element type: uint8 for
        ubyte data (MNIST: images [N, 28, 28], labels [N]), int8, int16, int32, float32 or
        float64.

    Raises:
        FileNotFoundError: no file at ``path``.
        IDXFileError (a ValueError): a wrong magic (the bytes found are shown), an unknown type
            code, zero dimensions, a truncated header or data (bytes expected and found), bytes
            after the data, or a corrupt gzip stream.
    """
    path = Path(path).expanduser()
    with open(path, "rb") as file:
        if file.peek(2)[:2] != GZIP_MAGIC:
            return _parse_idx(path, file)
        try:
            with gzip.GzipFile(fileobj=file) as stream:
                return _parse_idx(path, stream)
        except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
            raise IDXFileError(path, f"corrupt gzip stream ({type(error).__name__}: {error}); "
                                     "download the file again") from error


def _find_mnist_file(directory: Path, name: str) -> Path | None:
    """The file called ``name`` in ``directory``: as extracted, gzipped, or with the dot some
    copies have instead of the last dash (train-images.idx3-ubyte)."""
    dotted = name.replace("-idx", ".idx")
    for candidate in (name, f"{name}.gz", dotted, f"{dotted}.gz"):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def load_mnist(directory: str | Path) -> tuple[tuple[np.ndarray, np.ndarray],
                                               tuple[np.ndarray, np.ndarray]]:
    """MNIST (or Fashion-MNIST) from a folder holding its four standard IDX files, like
    ``keras.datasets.mnist.load_data()`` returns it, with nothing downloaded.

    The folder must hold ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each as extracted or gzipped
    (``.gz``). For a Dense model flatten and scale the images and one-hot the labels:
    ``x.reshape(len(x), -1).astype(np.float32) / 255`` and ``np.eye(10, dtype=np.float32)[y]``;
    image layers take ``x[..., None].astype(np.float32) / 255`` ([N, 28, 28, 1], NHWC).

    Args:
        directory: the folder.

    Shapes:
        x_train [60000, 28, 28], y_train [60000], x_test [10000, 28, 28], y_test [10000].

    Returns:
        ((x_train, y_train), (x_test, y_test)): uint8 pixels 0..255 and uint8 labels 0..9.

    Raises:
        FileNotFoundError: a missing folder or files (the message lists them and where to get
            them).
        IDXFileError (a ValueError): a file that isn't valid IDX (see ``load_idx``), images that
            aren't [N, height, width] uint8, labels that aren't [N] uint8, or image and label
            counts that differ.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"load_mnist: {str(directory)!r} is not a folder; download the "
                                f"four files {', '.join(MNIST_FILES.values())} (.gz or "
                                f"extracted) into one from {MNIST_SOURCES}")
    found = {role: _find_mnist_file(directory, name) for role, name in MNIST_FILES.items()}
    missing = [MNIST_FILES[role] for role, path in found.items() if path is None]
    if missing:
        raise FileNotFoundError(f"load_mnist: {str(directory)!r} lacks {', '.join(missing)} "
                                f"(each may be extracted or .gz); download them from "
                                f"{MNIST_SOURCES}")
    splits = []
    for split in ("train", "test"):
        images_path, labels_path = found[f"{split}_images"], found[f"{split}_labels"]
        images, labels = load_idx(images_path), load_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise IDXFileError(images_path, f"expected {split} images as [N, height, width] "
                                            f"ubyte, found shape {images.shape} of {images.dtype}")
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise IDXFileError(labels_path, f"expected {split} labels as [N] ubyte, found "
                                            f"shape {labels.shape} of {labels.dtype}")
        if len(images) != len(labels):
            raise IDXFileError(labels_path, f"{len(labels)} labels for the {len(images)} "
                                            f"images of {images_path.name}: the counts must "
                                            "match (files of different datasets or splits?)")
        splits.append((images, labels))
    return splits[0], splits[1]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits (1797 8×8 images, no download) as images for
    image layers; ``images.reshape(len(images), -1)`` gives the 64 inputs of a Dense model.

    Shapes:
        images [1797, 8, 8, 1] (NHWC, one channel), labels [1797].

    Returns:
        (images, labels): float32 pixels scaled from 0..16 to [0, 1] (as examples/digits.py
        does), uint8 labels 0..9, in scikit-learn's order (shuffle before splitting).

    Raises:
        ImportError: scikit-learn isn't installed (``pip install scikit-learn``, or
            ``pip install "intricate[examples]"``).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as error:
        raise ImportError("load_digits reads scikit-learn's bundled digits: pip install "
                          "scikit-learn (or pip install \"intricate[examples]\")") from error
    digits = sklearn_load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]  # pixels 0..16 → 0..1
    return images, digits.target.astype(np.uint8)
