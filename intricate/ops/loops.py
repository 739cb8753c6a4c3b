"""The bound on every shader loop's trip count.

llvmpipe (lavapipe) silently stops a shader's loops after 65535 iterations per invocation,
counted over all loops of that invocation. Every kernel whose loops grow with the data splits its
work (split-K GEMM, multi-workgroup reductions, a workgroup per wide row) so that no invocation
iterates more than ``LOOP_BOUND`` times, on every adapter. Callers read ``loops.LOOP_BOUND`` at
record time, so tests lower it to run the split paths at small sizes.
"""

from __future__ import annotations

LOOP_BOUND = 16384  # iterations per invocation, all loops together; a quarter of llvmpipe's cap
# What llvmpipe runs at most. Work that no split brings under it (a SoftMax row too wide for one
# workgroup) is refused with a ValueError rather than cut silently, on every adapter.
LLVMPIPE_CAP = 65535
