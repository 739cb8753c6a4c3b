"""GEMM tile choice by timing at first use, remembered on disk per adapter.

The first time a GEMM of a new shape class (operand layout, and m, n, k rounded up to powers of
two) of at least ``SMALLEST_TUNED`` multiply-adds is recorded on a device, every tile
configuration that fits the device is timed on the real operands (GPU timestamps where the
adapter has them) and the fastest is kept. Choices are stored
in ``<user cache dir>/intricate/gemm-tuning.json`` under a key naming the adapter, its driver
and the library version, so a new driver or release tunes again.

Software adapters (lavapipe) don't tune unless ``INTRICATE_GEMM_TUNING=on`` is set explicitly:
compiling every configuration there takes minutes; gemm.select gives them the subgroup
kernel (gemm_subgroup.py), or gemm.choose_on_cpu's tile without subgroups. Forced, the subgroup
kernel is timed beside the tiles.
Set ``INTRICATE_GEMM_TUNING=off`` to skip timing and use ``gemm.choose``'s heuristic (the test
suite does, so tests never tune); ``INTRICATE_CACHE_DIR`` moves the cache file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import platformdirs

from ..._version import __version__
from ...gpu import Device, Program, Workspace, time_steps
from ...gpu.dtypes import FLOAT32, Precision
from ...io.files import write_atomically

ENVIRONMENT = "INTRICATE_GEMM_TUNING"
# GEMMs below this many multiply-adds (256³) keep the heuristic tile: they are launch-bound, and
# compiling and timing every configuration (seconds on first use) would not pay back.
SMALLEST_TUNED = 256 ** 3


def enabled() -> bool:
    return os.environ.get(ENVIRONMENT, "on").strip().lower() not in ("off", "0", "false", "no")


def forced() -> bool:
    """Set explicitly to "on": tune on software adapters too (which by default never do)."""
    return os.environ.get(ENVIRONMENT, "").strip().lower() in ("on", "1", "true", "yes")


def cache_path() -> Path:
    folder = os.environ.get("INTRICATE_CACHE_DIR") or platformdirs.user_cache_dir("intricate")
    return Path(folder) / "gemm-tuning.json"


def shape_class(m: int, n: int, k: int, a_strides: tuple[int, int],
                b_strides: tuple[int, int], precision: Precision = FLOAT32,
                gather=None) -> str:
    """e.g. "kn:128x512x1024": a contiguous along k, b along n, sizes rounded up to powers of 2;
    other dtypes than float32 (whose tiles differ: f64 doubles their bytes) prefix their name,
    "float64/kn:128x512x1024", and a convolution's GEMM its gathers (im2col.Gather),
    "patches+/kn:...", "output_patches+kernel_transposed/kn:..."."""
    def bucket(size: int) -> int:
        return 1 << max(4, (size - 1).bit_length())

    layout = ("k" if a_strides[1] == 1 else "m") + ("n" if b_strides[1] == 1 else "k")
    prefix = "" if precision is FLOAT32 else f"{precision.name}/"
    if gather is not None:
        prefix += f"{gather.a or ''}+{gather.b or ''}/"
    return f"{prefix}{layout}:{bucket(m)}x{bucket(n)}x{bucket(k)}"


class Tuner:
    """The remembered choices of one device (kept in ``device.cache``)."""

    def __init__(self, device: Device) -> None:
        info = device.adapter_info
        self.device = device
        self.key = (f"{info.get('device')} | {info.get('description')} | "
                    f"{info.get('backend_type')} | intricate {__version__}")
        self.path = cache_path()
        self.timed = 0  # shape classes this process has timed
        try:
            stored = json.loads(self.path.read_text())
            self.table = dict(stored.get(self.key, {})) if isinstance(stored, dict) else {}
        except (OSError, ValueError):
            self.table = {}  # no cache yet, or a broken one: it will be rewritten

    @classmethod
    def of(cls, device: Device) -> Tuner:
        if "gemm-tuner" not in device.cache:
            device.cache["gemm-tuner"] = cls(device)
        return device.cache["gemm-tuner"]

    def choose(self, a, b, c, m, n, k, a_strides, b_strides, candidates, record,
               precision: Precision = FLOAT32, gather=None):
        """The fastest of ``candidates`` for this shape class and dtype: remembered, or timed
        now by recording each with ``record`` (gemm's record_gemm, passed in: no import cycle),
        with the convolution's ``gather`` when there is one."""
        name = shape_class(m, n, k, a_strides, b_strides, precision, gather)
        known = self.table.get(name)
        for kind in {type(config) for config in candidates} if isinstance(known, dict) else ():
            try:
                config = kind(**known)
            except (TypeError, ValueError):
                continue  # the other kind, or an entry from another version: time again
            if config in candidates:
                return config
        timings = []
        # Samples of ~1 ms or more at ~20 TFLOP/s (a software adapter's ~50 GFLOP/s when forced
        # to tune there: 20 TFLOP/s repeated its GEMMs 400 times), so launch jitter and a GPU's
        # clocks between short submits don't pick the tile (0.2 ms samples of b128 GEMMs
        # picked a 64×64 tile that ran at 0.55× the 32×32 one on an H200).
        rate = 5e10 if self.device.adapter_info.get("adapter_type") == "CPU" else 2e13
        repeats = max(1, min(400, round(1e-3 / (2 * m * n * k / rate))))
        for config in candidates:
            scratch = Program(Workspace(self.device, m, precision))
            record(scratch, a, b, c, m, n, k, a_strides, b_strides, config=config,
                   **({"gather": gather} if gather is not None else {}))
            # the GEMM, and its split-K sum or its operands' copies into texels if any
            seconds = time_steps(self.device, scratch.steps, repeats, samples=3)[0]
            timings.append((seconds, candidates.index(config), config))
        best = min(timings)[2]
        self.table[name] = asdict(best)
        self.timed += 1
        self._save()
        return best

    def _save(self) -> None:
        try:
            stored = json.loads(self.path.read_text())
            stored = stored if isinstance(stored, dict) else {}
        except (OSError, ValueError):
            stored = {}
        stored[self.key] = self.table
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps(stored, indent=1).encode())
        except (OSError, ValueError):
            pass  # a read-only cache folder only costs tuning again next time
