"""What ``save`` may replace (io/atomic.py): regular files (their mode kept), new files (the
umask's mode), symlinks (written through), nothing else; and stale temporary files of a killed
save. No GPU: models that never met a device save their host weights."""

from __future__ import annotations

import fcntl
import os
import stat

import numpy as np
import pytest

from intricate import Model
from intricate.io.files import ModelFileError
from intricate.layers import Dense


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
