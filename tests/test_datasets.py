"""intricate.datasets: IDX files the tests write (every type, 1-D to 4-D, gzip or not) read back
exactly, every kind of broken file refused with a message naming the path and the problem, an
MNIST folder's checks, and scikit-learn's digits as images."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest

from intricate import datasets
from intricate.datasets import IDXFileError, load_digits, load_idx, load_mnist

TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
              np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: 00 00, type, dimensions, big-endian u32 sizes, big-endian
    data."""
    header = struct.pack(f">2xBB{array.ndim}I", TYPE_CODES[array.dtype], array.ndim, *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, content: bytes, compress: bool = False):
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def sample(dtype, shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(scale=1e3, size=shape).astype(dtype)
    info = np.iinfo(dtype)  # the whole range: sign bits and high bytes exercise the byte order
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("dtype, shape", [
    (np.uint8, (7,)), (np.int8, (3, 5)), (np.int16, (2, 3, 4)), (np.int32, (2, 1, 3, 2)),
    (np.float32, (4, 3)), (np.float64, (5,)), (np.uint8, (0, 28, 28))])
def test_idx_file_reads_back_exactly(tmp_path, dtype, shape, compress):
    expected = sample(dtype, shape)
    # The name says nothing: compression is detected from the bytes.
    path = write(tmp_path / "data.idx", idx_bytes(expected), compress)
    loaded = load_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, expected)
    assert loaded.flags.writeable


def test_idx_layout_matches_the_published_format(tmp_path):
    # Bytes written by hand from the format's description, independent of idx_bytes: a [2, 3]
    # array of big-endian int16 (type 0x0B), then a [2] ubyte label file (type 0x08).
    shorts = bytes([0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                    0x00, 0x01, 0x01, 0x00, 0xFF, 0xFF, 0x80, 0x00, 0x7F, 0xFF, 0x00, 0x00])
    np.testing.assert_array_equal(load_idx(write(tmp_path / "shorts", shorts)),
                                  [[1, 256, -1], [-32768, 32767, 0]])
    labels = load_idx(write(tmp_path / "labels", bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 255])))
    assert labels.dtype == np.uint8 and labels.tolist() == [7, 255]


def test_missing_idx_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.idx"):
        load_idx(tmp_path / "nowhere.idx")


GOOD = idx_bytes(np.arange(24, dtype=np.int32).reshape(2, 3, 4))  # 16 header + 96 data bytes


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("content, message", [
    (b"", r"header is truncated.*found 0"),
    (GOOD[:3], r"header is truncated.*found 3"),
    (GOOD[:9], r"3 dimensions need 12 bytes of sizes, found 5"),
    (GOOD[:16], r"data is truncated: shape \(2, 3, 4\) of int32 needs 96 bytes.*found 0"),
    (GOOD[:-1], r"needs 96 bytes after the header, found 95"),
    (GOOD + b"\x00" * 5, r"5 bytes follow the data of shape \(2, 3, 4\)"),
    (b"\x00\x01" + GOOD[2:], r"first two bytes must be 00 00, found 00 01 0c 03"),
    (b"<!DOCTYPE html>", r"not an IDX file.*3c 21 44 4f.*<!DO"),
    (b"\x00\x00\x0A\x01" + GOOD[4:], r"unknown IDX type code 0x0A.*0x08 \(uint8\)"),
    (b"\x00\x00\x08\x00", r"0 dimensions"),
], ids=["empty", "short-magic", "short-sizes", "no-data", "short-data", "trailing", "magic",
        "html", "type", "no-dimensions"])
def test_broken_idx_file_is_refused(tmp_path, content, message, compress):
    path = write(tmp_path / "broken", content, compress)
    with pytest.raises(IDXFileError, match=message) as caught:
        load_idx(path)
    assert str(path) in str(caught.value) and caught.value.path == path
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("damage", ["truncated", "bad-crc", "garbled"])
def test_corrupt_gzip_stream_is_refused(tmp_path, damage):
    compressed = bytearray(gzip.compress(GOOD))
    if damage == "truncated":
        compressed = compressed[:len(compressed) // 2]
    elif damage == "bad-crc":
        compressed[-8] ^= 0xFF  # the trailer's CRC-32 of the uncompressed data
    else:
        compressed[12:20] = b"\xff" * 8  # inside the deflate stream
    path = write(tmp_path / "broken.gz", bytes(compressed))
    with pytest.raises(IDXFileError, match="corrupt gzip stream.*download the file again"):
        load_idx(path)


def test_a_header_claiming_huge_data_costs_no_memory(tmp_path):
    # 2^32-1 × 2^32-1 doubles: refused as truncated without allocating what the header claims.
    path = write(tmp_path / "huge", struct.pack(">2xBB2I", 0x0E, 2, 2**32 - 1, 2**32 - 1))
    with pytest.raises(IDXFileError, match="data is truncated.*found 0"):
        load_idx(path)


def write_mnist(folder, counts=(5, 3), labels_counts=None, compress=(False, True, False, True),
                image_shape=(28, 28)):
    """A fake MNIST folder: the four standard names, some gzipped; images [N, 28, 28] whose
    pixels encode their index, labels index % 10."""
    folder.mkdir(exist_ok=True)
    labels_counts = labels_counts or counts
    arrays = []
    for split, (images, labels) in zip(("train", "t10k"), zip(counts, labels_counts)):
        arrays += [(f"{split}-images-idx3-ubyte",
                    np.broadcast_to(np.arange(images, dtype=np.uint8)[:, None, None],
                                    (images, *image_shape))),
                   (f"{split}-labels-idx1-ubyte", np.arange(labels, dtype=np.uint8) % 10)]
    for (name, array), gzipped in zip(arrays, compress):
        write(folder / (name + ".gz" * gzipped), idx_bytes(np.ascontiguousarray(array)), gzipped)
    return folder


def test_mnist_folder_loads_like_keras(tmp_path):
    (x_train, y_train), (x_test, y_test) = load_mnist(write_mnist(tmp_path / "mnist"))
    assert x_train.shape == (5, 28, 28) and x_test.shape == (3, 28, 28)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    assert y_train.tolist() == [0, 1, 2, 3, 4] and y_test.tolist() == [0, 1, 2]
    assert (x_train[4] == 4).all() and (x_test[2] == 2).all()


def test_mnist_file_names_with_a_dot(tmp_path):
    folder = write_mnist(tmp_path / "mnist", compress=(False,) * 4)
    for path in folder.iterdir():
        path.rename(path.with_name(path.name.replace("-idx", ".idx")))
    (x_train, _), _ = load_mnist(folder)
    assert x_train.shape == (5, 28, 28)


def test_mnist_missing_files_are_listed_with_where_to_get_them(tmp_path):
    folder = write_mnist(tmp_path / "mnist")
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    (folder / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(FileNotFoundError) as caught:
        load_mnist(folder)
    message = str(caught.value)
    assert "train-labels-idx1-ubyte, t10k-images-idx3-ubyte" in message
    assert str(folder) in message and "ossci-datasets.s3.amazonaws.com/mnist" in message
    assert "train-images" not in message.split("download")[0]  # only the missing ones


def test_mnist_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder.*train-images-idx3-ubyte.*ossci"):
        load_mnist(tmp_path / "absent")


def test_mnist_image_and_label_counts_must_match(tmp_path):
    folder = write_mnist(tmp_path / "mnist", counts=(5, 3), labels_counts=(5, 4))
    with pytest.raises(IDXFileError, match=r"4 labels for the 3 images of t10k-images"):
        load_mnist(folder)


def test_mnist_files_of_the_wrong_shape_are_refused(tmp_path):
    folder = write_mnist(tmp_path / "mnist")
    write(folder / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros((5, 1), np.uint8)), True)
    with pytest.raises(IDXFileError, match=r"train labels as \[N\] ubyte, found shape \(5, 1\)"):
        load_mnist(folder)
    write(folder / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(5, np.uint8)), True)
    write(folder / "train-images-idx3-ubyte", idx_bytes(np.zeros((5, 784), np.float32)))
    with pytest.raises(IDXFileError, match=r"train images as \[N, height, width\] ubyte"):
        load_mnist(folder)


def test_digits_are_images_in_the_unit_range():
    pytest.importorskip("sklearn")
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.shape == (1797,) and labels.dtype == np.uint8
    assert set(labels.tolist()) == set(range(10))
    from sklearn.datasets import load_digits as sklearn_load_digits
    digits = sklearn_load_digits()  # the same pixels as examples/digits.py's x (data / 16)
    np.testing.assert_array_equal(images.reshape(len(images), -1),
                                  (digits.data / 16.0).astype(np.float32))
    np.testing.assert_array_equal(labels, digits.target)


def test_digits_without_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        load_digits()


def test_importing_intricate_leaves_scikit_learn_unimported():
    code = "import sys, intricate; print(intricate.datasets.__name__, 'sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split() == [datasets.__name__, "False"], result.stderr
