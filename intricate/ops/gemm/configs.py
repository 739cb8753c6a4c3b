"""The tiled GEMM's configurations: GemmConfig, the tiles every dtype may take (CONFIGS), those
only one element size may (DTYPE_CONFIGS), and the heuristic choices used where nothing is timed
(``choose`` on GPUs, ``choose_on_cpu`` on software adapters). tiled.select offers the tuner
CONFIGS plus its dtype's extras that fit the device."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class GemmConfig:
    """A block tile of BM × BN outputs per workgroup of side × side invocations, K consumed BK at
    a time; each invocation owns (BM / side) × (BN / side) outputs, in groups of 4 × 4."""

    bm: int
    bn: int
    bk: int
    side: int = 16
    stages: int = 1  # 2: two slabs in workgroup memory, one barrier per slab (see tiled.wgsl)
    # Elements narrower than the sums (f16) widened as they are staged: f32 slabs, no conversion
    # per fragment read (which costs one per 4 FMAs of an 8 × 8 block); False: f16 slabs, half
    # the workgroup memory. No effect on f32 and f64.
    widened: bool = False

    def __post_init__(self) -> None:
        threads = self.side * self.side
        if (self.side not in (8, 16) or self.bm % (4 * self.side) or self.bn % (4 * self.side)
                or self.bk not in (8, 16, 32) or (self.bm * self.bk) % threads
                or (self.bn * self.bk) % threads or max(self.bm, self.bn) > min(256, threads)
                or self.stages not in (1, 2)):
            raise ValueError(f"GemmConfig: expected side 8 or 16, bm and bn multiples of "
                             f"4·side up to min(256, side²), bk in (8, 16, 32), stages 1 or 2, "
                             f"received {self}")

    @property
    def workgroup_bytes(self) -> int:
        return self.bytes_for(4)

    def bytes_for(self, itemsize: int) -> int:
        """Workgroup memory of this tile for elements of ``itemsize`` bytes (f64: twice f32's,
        f16 half, or as f32 when ``widened``)."""
        size = max(itemsize, 4) if self.widened else itemsize
        return size * self.bk * (self.bm + self.bn + 8) * self.stages  # with the padding


CONFIGS = (GemmConfig(128, 128, 16, stages=2), GemmConfig(128, 128, 8, stages=2),
           GemmConfig(128, 128, 16), GemmConfig(128, 128, 8), GemmConfig(64, 64, 16),
           GemmConfig(128, 64, 16), GemmConfig(64, 128, 16), GemmConfig(128, 64, 32),
           GemmConfig(64, 64, 32), GemmConfig(32, 32, 16, side=8), GemmConfig(64, 64, 16, side=8),
           GemmConfig(256, 128, 16), GemmConfig(128, 256, 16), GemmConfig(256, 128, 8))
# Tiles for one element size only (itemsize → configs), beside CONFIGS. f16 (2 bytes): a slab is
# half an f32 one, so longer slabs and two stages of the biggest tiles fit, and the same tiles
# widened to f32 as they are staged. f64 (8): twice the registers per value, so two-stage tiles
# of fewer outputs per invocation (4 × 4 and 8 × 8 blocks; 16 KiB-35 KiB of workgroup memory).
DTYPE_CONFIGS = {
    2: (GemmConfig(128, 128, 32, stages=2), GemmConfig(256, 128, 16, stages=2),
        GemmConfig(128, 256, 16, stages=2), GemmConfig(128, 128, 32),
        GemmConfig(128, 128, 16, stages=2, widened=True),
        GemmConfig(128, 128, 8, stages=2, widened=True), GemmConfig(128, 128, 32, widened=True),
        GemmConfig(64, 64, 16, widened=True)),
    8: (GemmConfig(64, 64, 16, stages=2), GemmConfig(64, 64, 16, side=8, stages=2),
        GemmConfig(64, 64, 8, side=8, stages=2), GemmConfig(32, 32, 16, side=8, stages=2)),
}
ENOUGH_WORKGROUPS = 128  # about one per streaming multiprocessor of a large GPU
# The subgroup kernel's K splits are summed by tiled.wgsl's sum_splits, rendered for any tile.
SUM_CONFIG = GemmConfig(32, 32, 16, side=8)


def choose(m: int, n: int, device_limit: int, itemsize: int = 4) -> GemmConfig:
    """The configuration for an m × n output: the largest tile that still gives enough
    workgroups to fill a large GPU (small outputs get small tiles), two-stage when the device's
    workgroup storage holds it; always within that storage (for elements of ``itemsize``).
    f16 (itemsize 2): f32's tile, widened, so each element is converted once as it is staged
    rather than at every fragment read (16 conversions per 64 FMAs of an 8 × 8 block): an
    estimate, not yet timed on a GPU, where the tuner times both kinds anyway."""
    if itemsize == 2:
        return replace(choose(m, n, device_limit), widened=True)
    fitting = [c for c in CONFIGS if c.bytes_for(itemsize) <= device_limit]
    for bm, bn, side in ((128, 128, 16), (64, 64, 16), (64, 64, 8)):
        if math.ceil(m / bm) * math.ceil(n / bn) >= ENOUGH_WORKGROUPS:
            return next(c for c in fitting if (c.bm, c.bn, c.side) == (bm, bn, side))
    return next(c for c in fitting if (c.bm, c.bn) == (32, 32))


# Software adapters (lavapipe) without subgroups (with them, gemm_subgroup's kernel is ~3.5×
# faster): the biggest single-stage tiles that the output fills, largest first. llvmpipe runs a
# workgroup on one CPU thread, and bigger tiles reuse more of what it loads
# (at 512³: 256×128×16 12 GF/s, 128×128×16 9, two-stage 128×128×8 7, 64×64×16 5); compiling and
# timing every configuration there would take minutes on first use, so it doesn't tune (unless
# INTRICATE_GEMM_TUNING=on says so).
CPU_CONFIGS = (GemmConfig(256, 128, 16), GemmConfig(128, 128, 16),
               GemmConfig(64, 64, 16, side=8), GemmConfig(32, 32, 16, side=8))


def choose_on_cpu(m: int, n: int, device_limit: int, itemsize: int = 4) -> GemmConfig:
    """The configuration for an m × n output on a software adapter (see CPU_CONFIGS)."""
    fitting = [c for c in CPU_CONFIGS if c.bytes_for(itemsize) <= device_limit]
    return next((c for c in fitting if c.bm <= m and c.bn <= n), fitting[-1])


def vector_loads_fit(config: GemmConfig, width: int) -> bool:
    """Whether a slab of ``width`` rows/columns splits evenly into 16-byte loads per invocation."""
    return (width * config.bk // 4) % (config.side * config.side) == 0
