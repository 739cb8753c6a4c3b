"""Atomic, durable file replacement: a temporary file in the target's folder, written, fsynced,
given the mode the target should have, renamed over the target, then the folder fsynced. A crash
leaves the old file or the new one, whole.

What a path may name: a regular file (replaced; its mode is kept), nothing (created with the
mode ``open()`` would give: 0666 less the umask), or a symlink to either (its target is
replaced; the link stays). Anything else (a FIFO, a device, a socket, a directory) is refused.
A killed save leaves its temporary file ``.NAME.*.tmp``; the next save of NAME removes those
that no live save holds (each save holds an flock on its own while writing).
"""

from __future__ import annotations

import glob
import os
import stat
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, so stale temporary files are left alone
    fcntl = None

KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK:
         "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


class ModelFileError(ValueError):
    """A model or layer file is missing, broken, hostile or not what was expected (or a path
    ``save`` must not replace)."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path, self.problem = os.fspath(path), problem


def default_mode() -> int:
    """0666 less the process umask (what ``open(path, "w")`` creates), read without changing
    the umask where /proc says it (changing it races with other threads)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def resolve(path: str | os.PathLike) -> tuple[Path, int]:
    """(the file to replace, following symlinks; the mode the new file gets)."""
    given = Path(path)
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    try:
        status = os.stat(target)
    except FileNotFoundError:
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise ModelFileError(given, f"folder {folder} does not exist; create it "
                                        "first") from None
        return target, default_mode()
    except OSError as error:  # e.g. a symlink loop (ELOOP)
        raise ModelFileError(given, f"cannot be resolved ({error.strerror or error})") from None
    if stat.S_ISDIR(status.st_mode):
        raise ModelFileError(given, "is a directory; give a file name")
    if not stat.S_ISREG(status.st_mode):
        kind = KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
        raise ModelFileError(given, f"is {kind}, not a regular file; refusing to replace it (give "
                            "the path of a regular file, or a new one)")
    return target, stat.S_IMODE(status.st_mode)


def _locked_temporary(path, folder: Path, name: str) -> tuple[int, str]:
    """A new ``.name.*.tmp`` in ``folder``, open and flocked (so no other save removes it)."""
    while True:
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        except PermissionError:
            raise ModelFileError(path, f"folder {folder} is not writable; choose another") from None
        if fcntl is None:
            return handle, temporary
        fcntl.flock(handle, fcntl.LOCK_EX)
        if os.fstat(handle).st_nlink:  # not removed as stale before we locked it
            return handle, temporary
        os.close(handle)


def remove_stale(folder: Path, name: str, ours: str, started: int) -> None:
    """Remove ``.name.*.tmp`` files no newer than ours (``started``, an mtime in ns) that no
    save holds: a killed save's."""
    if fcntl is None:
        return
    for candidate in folder.glob(f".{glob.escape(name)}.*.tmp"):
        if candidate.name == ours:
            continue
        try:
            descriptor = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode) or status.st_mtime_ns > started:
                continue
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: a live save's
            candidate.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(descriptor)


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` (or its symlink's target) with ``data``; see the module docstring.

    Raises:
        ModelFileError (a ValueError): the path names something other than a regular file, or
            its folder does not exist or cannot be written.
        OSError: the write itself failed (the old file is kept, the temporary one removed).
    """
    target, mode = resolve(path)
    folder = target.parent if str(target.parent) else Path(".")
    handle, temporary = _locked_temporary(path, folder, target.name)
    started = os.fstat(handle).st_mtime_ns
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
            os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    remove_stale(folder, target.name, Path(temporary).name, started)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
