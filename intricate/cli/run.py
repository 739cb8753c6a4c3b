"""``intricate run FILE.wgsl``: run one kernel of a WGSL file on .npy inputs, write its outputs as
.npy files, and optionally check them against a NumPy function and time it."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..gpu import Device
from ..kernels import Kernel

_NAME = re.compile(r"^[A-Za-z_]\w*$")


def pairs(option: str, items: Sequence[str] | None) -> dict[str, str]:
    """``name=value`` arguments as a dict.

    Raises:
        ValueError: an item without ``=``, a name that isn't an identifier, a repeated name.
    """
    found: dict[str, str] = {}
    for item in items or ():
        name, equals, value = item.partition("=")
        if not equals or not _NAME.match(name.strip()):
            raise ValueError(f"{option}: expected NAME=VALUE (NAME a WGSL identifier), "
                             f"received {item!r}")
        if name.strip() in found:
            raise ValueError(f"{option}: {name.strip()!r} is given twice")
        found[name.strip()] = value.strip()
    return found


def number(option: str, name: str, text: str) -> int | float:
    """An integer if ``text`` spells one (u32/i32 fields), else a float."""
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{option} {name}: expected a number, received {text!r}") from None


def load_inputs(items: Sequence[str] | None) -> dict[str, np.ndarray]:
    """``--input name=file.npy`` arrays (no pickles: a file can't run code)."""
    arrays = {}
    for name, file in pairs("--input", items).items():
        try:
            arrays[name] = np.load(file, allow_pickle=False)
        except OSError as error:
            raise ValueError(f"--input {name}: cannot read {file!r} "
                             f"({error.strerror or error})") from None
        except ValueError as error:
            raise ValueError(f"--input {name}: {file!r} is not a .npy array of numbers "
                             f"({error})") from None
        if not isinstance(arrays[name], np.ndarray):  # np.load opened a .npz archive
            arrays[name].close()
            raise ValueError(f"--input {name}: {file!r} is a .npz archive of "
                             f"{sorted(arrays[name].files)}; give one .npy file per input "
                             "(np.save)")
    return arrays


def shapes_of(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    """``--shape name=4x3`` output shapes."""
    shapes = {}
    for name, text in pairs("--shape", items).items():
        if not re.fullmatch(r"\d+(x\d+)*", text):
            raise ValueError(f"--shape {name}: expected sizes like 4x3, received {text!r}")
        shapes[name] = tuple(int(part) for part in text.split("x"))
    return shapes


def grid_of(text: str | None) -> tuple[int, ...] | None:
    """``--grid X[,Y[,Z]]`` as a tuple (None: derived by Kernel.run)."""
    if text is None:
        return None
    if not re.fullmatch(r"\d+(,\d+){0,2}", text):
        raise ValueError(f"--grid: expected X, X,Y or X,Y,Z workgroups, received {text!r}")
    return tuple(int(part) for part in text.split(","))


def load_reference(spec: str) -> Callable[..., Any]:
    """The function of ``--check FILE.py:FUNCTION`` (the file is imported: it is your code)."""
    file, colon, function = spec.rpartition(":")
    if not colon or not file or not _NAME.match(function):
        raise ValueError(f"--check: expected FILE.py:FUNCTION, received {spec!r}")
    path = Path(file)
    if not path.is_file():
        raise ValueError(f"--check: {file!r} is not a file")
    module_spec = importlib.util.spec_from_file_location(f"intricate_check_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        raise ValueError(f"--check: importing {file} failed: {type(error).__name__}: "
                         f"{error}") from None
    reference = getattr(module, function, None)
    if not callable(reference):
        raise ValueError(f"--check: {file} has no function {function!r}")

    def guarded(**values: Any) -> Any:  # its failure is a bad argument, not a failed check
        try:
            return reference(**values)
        except Exception as error:
            raise ValueError(f"--check {spec}: calling it with {', '.join(values)} raised "
                             f"{type(error).__name__}: {error}") from None

    return guarded


async def run(device: Device, args: Any, out: Callable[[str], None]) -> int:
    """The ``run`` command (arguments: see intricate.cli's parser). Returns the exit code: 0, or
    1 when --check finds a difference beyond the tolerances.

    Raises:
        ValueError: bad arguments or inputs, before any GPU work where they can be told.
    """
    reference = load_reference(args.check) if args.check else None
    values: dict[str, Any] = load_inputs(args.input)
    for name, text in pairs("--param", args.param).items():
        if name in values:
            raise ValueError(f"--param {name}: also given as an --input")
        values[name] = number("--param", name, text)
    constants = {name: number("--constant", name, text)
                 for name, text in pairs("--constant", args.constant).items()}
    shapes, grid = shapes_of(args.shape), grid_of(args.grid)
    output = Path(args.output) if args.output else None
    if output is not None:  # made before any GPU work: one that can't be is a bad argument
        if output.exists() and not output.is_dir():
            raise ValueError(f"--output: {output} exists and is not a folder")
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"--output: cannot create the folder {output} "
                             f"({error.strerror or error})") from None
    kernel = Kernel(Path(args.file), args.entry, device=device, constants=constants or None,
                    dtype=args.dtype)  # {{ dtype }}/{{ accumulate }} of that policy
    await kernel.compile()  # a kernel that doesn't compile is the first thing to hear about
    results = await kernel.run(grid, shapes=shapes, **values)
    if output is not None:
        for name, array in results.items():
            np.save(output / f"{name}.npy", array)
        out(f"wrote {', '.join(f'{name}.npy' for name in results)} to {output}")
    code = 0
    if reference is not None:
        report = await kernel.check(reference, rtol=args.rtol, atol=args.atol, shapes=shapes,
                                    grid=grid, **values)
        out(str(report))
        code = 0 if report.passed else 1
    if args.time:
        timing = await kernel.time(repeat=args.repeat, warmup=min(5, args.repeat),
                                   flops=args.flops, bytes=args.bytes, grid=grid,
                                   shapes=shapes, **values)
        out(str(timing))
    return code
