"""What ``save`` may replace (io/atomic.py): regular files (their mode kept), new files (the
umask's mode), symlinks (written through), nothing else; stale temporary files of a killed save;
non-finite weights; hostile sizes. No GPU: models that never met a device save host weights."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import struct
import tracemalloc

import numpy as np
import pytest
from safetensors.numpy import save_file

from intricate import Model
from intricate.callbacks import ModelCheckpoint
from intricate.io.files import ModelFileError, NonFiniteWeightsError, metadata
from intricate.layers import Dense, TanH
from intricate.layers.registry import layer_config


def small_model(seed: int = 0) -> Model:
    return Model([Dense(2, 1)], seed=seed)


def assert_holds(path, model: Model) -> None:
    for a, b in zip(Model.load(path).get_weights(), model.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_save_refuses_a_fifo_and_a_device_node(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match=r"pipe.safetensors: is a FIFO, not a regular file; "
                                             "refusing to replace it"):
        small_model().save(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a FIFO, not replaced by a file
    with pytest.raises(ModelFileError, match=r"/dev/null: is a character device, not a regular"):
        small_model().save("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.safetensors"]  # no temp left


def test_save_writes_through_a_symlink_to_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.safetensors"
    small_model(1).save(target)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    model = small_model(2)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert_holds(target, model)
    dangling = tmp_path / "dangling.safetensors"
    dangling.symlink_to(tmp_path / "real" / "new.safetensors")
    model.save(dangling)  # a link to nothing yet: its target is created
    assert dangling.is_symlink()
    assert_holds(tmp_path / "real" / "new.safetensors", model)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_new_files_get_the_umask_mode_and_existing_files_keep_theirs(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = tmp_path / "model.safetensors"
        small_model().save(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
        path.chmod(0o640)
        small_model(1).save(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_stale_temporary_files_of_a_killed_save_are_removed(tmp_path):
    path = tmp_path / "model.safetensors"
    stale = tmp_path / ".model.safetensors.k1ll3d.tmp"  # what a SIGKILLed save leaves
    stale.write_bytes(b"half a file")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    live = tmp_path / ".model.safetensors.l1ve.tmp"  # another process's save, in progress
    live.write_bytes(b"being written")
    os.utime(live, (1_000_000_000, 1_000_000_000))
    others = [tmp_path / ".other.safetensors.x.tmp", tmp_path / ".model.safetensors.keep"]
    for other in others:
        other.write_bytes(b"not ours")
        os.utime(other, (1_000_000_000, 1_000_000_000))
    with open(live, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        small_model().save(path)
    assert not stale.exists()
    assert live.exists() and all(other.exists() for other in others)
    assert_holds(path, small_model())


def test_an_unwritable_folder_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ModelFileError, match=r"model.safetensors: folder .*read-only is not "
                                                 "writable"):
            small_model().save(folder / "model.safetensors")
    finally:
        folder.chmod(0o700)


# Non-finite weights (issue 12 item 10) ----------------------------------------------------------
def poisoned(seed: int = 0) -> Model:
    """A model whose first kernel holds a NaN, as after a diverged fit."""
    model = small_model(seed)
    model.layers[0].host_weights[0][0, 0] = np.nan
    return model


def test_save_refuses_non_finite_weights_and_keeps_the_good_file(tmp_path):
    path = tmp_path / "model.safetensors"
    good = small_model()
    good.save(path)
    before = path.read_bytes()
    with pytest.raises(NonFiniteWeightsError, match=r"tensor 'layers.0.kernel' holds 1 NaN or "
                                                    r"infinite values of 2: not saved"):
        poisoned().save(path)
    with pytest.raises(NonFiniteWeightsError, match=r"tensor '0.weight' holds 1 NaN"):
        poisoned().save(path, layout="torch")
    with pytest.raises(NonFiniteWeightsError, match=r"tensor 'kernel' holds 1 NaN"):
        poisoned().layers[0].save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


async def test_model_checkpoint_warns_and_keeps_the_last_good_file(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    checkpoint = ModelCheckpoint(str(path))
    checkpoint.model = good = small_model()
    await checkpoint.on_epoch_end(0, {"loss": 0.5})
    before = path.read_bytes()
    checkpoint.model = poisoned()
    with pytest.warns(RuntimeWarning, match=r"checkpoint.safetensors not saved after epoch .*: "
                                            r"tensor 'layers.0.kernel' holds 1 NaN"):
        await checkpoint.on_epoch_end(1, {"loss": float("nan")})
    assert path.read_bytes() == before and checkpoint.saved == [str(path)]
    assert_holds(path, good)


def test_every_load_failure_is_a_model_file_error_naming_the_file(tmp_path):
    model = small_model()
    kernel, bias = model.get_weights()
    kernel[0, 0] = np.inf
    intricate_file = tmp_path / "diverged.safetensors"
    layer_file = tmp_path / "diverged-layer.safetensors"
    torch_file = tmp_path / "diverged-torch.safetensors"
    save_file({"layers.0.kernel": kernel, "layers.0.bias": bias}, intricate_file,
              metadata=metadata(model_config(model), "intricate"))
    save_file({"kernel": kernel, "bias": bias}, layer_file,
              metadata=metadata(model_config(model), "intricate"))
    save_file({"0.weight": kernel.T.copy(), "0.bias": bias}, torch_file)
    loads = [(intricate_file, lambda: Model.load(intricate_file), "'layers.0.kernel'"),
             (layer_file, lambda: Dense(2, 1).load(layer_file), "'kernel'"),
             (layer_file, lambda: Dense.from_file(layer_file), "'kernel'"),
             (torch_file, lambda: Model.from_torch_state_dict(torch_file, [Dense(2, 1)]),
              "'0.weight'")]
    for path, load, tensor in loads:
        with pytest.raises(ModelFileError, match=f"{tensor} holds NaN or infinite") as raised:
            load()
        assert raised.value.path == str(path)


def model_config(model: Model) -> dict:
    return {"layers": [layer_config(layer) for layer in model.layers], "dtype": "float32",
            "input_shape": [None, model.input_size]}


# Hostile sizes (issue 12 item 11) ---------------------------------------------------------------
def craft(path, config: dict, tensors: dict, data: bytes) -> int:
    header = {"__metadata__": {"format": "intricate", "format_version": "1",
                               "config": json.dumps(config)}, **tensors}
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path.stat().st_size


def peak_bytes_of(load) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as raised:
            load()
        return tracemalloc.get_traced_memory()[1], raised.value
    finally:
        tracemalloc.stop()


HUGE = {"layers": [{"type": "Dense", "config": {"inputs": 1, "outputs": 2**24}}]}


def test_a_huge_config_with_small_tensors_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.safetensors"
    size = craft(path, HUGE, {
        "layers.0.bias": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "layers.0.kernel": {"dtype": "F32", "shape": [1, 1], "data_offsets": [4, 8]}}, b"\0" * 8)
    peak, error = peak_bytes_of(lambda: Model.load(path))
    assert "'layers.0.kernel' is float32 (1, 1), but the config needs float32 (1, 16777216)" in (
        str(error))
    assert peak < 64 * size + 256 * 1024, peak  # a Dense(1, 2**24) would draw 128 MB


def test_tensors_larger_than_the_file_are_refused_before_allocating(tmp_path):
    path = tmp_path / "lying.safetensors"
    size = craft(path, HUGE, {
        "layers.0.bias": {"dtype": "F32", "shape": [2**24], "data_offsets": [0, 2**26]},
        "layers.0.kernel": {"dtype": "F32", "shape": [1, 2**24],
                            "data_offsets": [2**26, 2**27]}}, b"\0" * 8)
    for load in (lambda: Model.load(path), lambda: Dense.from_file(path)):
        peak, error = peak_bytes_of(load)
        assert "the tensors declare 134217728 bytes of data but the file holds 8" in str(error)
        assert peak < 64 * size + 256 * 1024, peak


def test_loading_draws_no_initial_weights(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    saved = Model([Dense(2, 3), TanH(), Dense(3, 1)], seed=0)
    saved.save(path)
    saved.layers[0].save(tmp_path / "layer.safetensors")

    def refuse(self, rng):
        raise AssertionError("a loaded layer drew initial weights")

    monkeypatch.setattr(Dense, "initial_parameters", refuse)
    for a, b in zip(Model.load(path).get_weights(), saved.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(Dense.from_file(tmp_path / "layer.safetensors").host_weights[0],
                          saved.get_weights()[0])


def test_loading_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="is not a regular file"):
        Model.load(fifo)  # used to block forever in open()


def test_saving_through_a_symlink_loop_is_a_model_file_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ModelFileError, match="cannot be resolved"):
        Model([Dense(1, 1)], seed=0).save(tmp_path / "a")
