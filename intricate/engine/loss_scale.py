"""Dynamic loss scaling of mixed_float16 training, all on the GPU (Keras' LossScaleOptimizer).

f16 gradients below 6e-8 flush to 0, so the loss gradient dL/dŷ is multiplied by a scale (2^15
to start) before the f16 backward pass; the f32 weight gradients are divided by it again in the
optimizer. A training step of a mixed_float16 model records, after the backward pass:

    check     (shaders/engine/loss_scale.wgsl) ORs "some f32 gradient is inf or NaN" into a flag
    optimizer (shaders/optimizers.wgsl) skips the whole step on the flag (weights, moments and
              Adam's step count unchanged), else unscales each gradient and steps
    update    halves the scale (at least MINIMUM_SCALE) and counts a skipped step on the flag, or
              counts a finite step and doubles the scale after GROWTH_INTERVAL in a row; writes
              the scale and the epoch's skipped steps into fit's statistics (ops/statistics.py's
              LOSS_SCALING fields) and clears the flag

two dispatches more than a float32 step, and no readback: the History gets "loss_scale" and
"skipped_steps" per epoch through fit's per-epoch statistics read. float32 and float64 models
record none of it. The state is 4 words per model (``ModelState.loss_scale``): the scale (f32
bits), finite steps in a row, skipped steps in all, the flag.

The shaders scale when their ``dtype`` is f16 (``applies``): mixed_float16 is the only policy
computing in f16.
"""

from __future__ import annotations

import numpy as np

from .. import gpu
from ..gpu import GPUArray, Program
from ..gpu.dtypes import Precision
from ..ops import statistics

SHADER = "engine/loss_scale.wgsl"
INITIAL_SCALE = 2.0**15  # Keras' (PyTorch's GradScaler starts at 2^16)
GROWTH_INTERVAL = 2000  # finite steps in a row that double the scale (Keras'); tests may lower it
MINIMUM_SCALE = 1.0  # halving stops here (TensorFlow's floor): a persistent NaN can't reach 0
SCALE, FINITE_STEPS, SKIPPED, FOUND = range(4)  # the state's words
# The same 4 words as the shader's State struct (what a Kernel binds to `state`).
STATE = np.dtype({"names": ["scale", "finite_steps", "skipped", "found"],
                  "formats": ["<f4", "<u4", "<u4", "<u4"]})
# How model files saved with include_optimizer keep the state, so a resumed fit continues
# with the same scale (the skip count is a statistic of past epochs; the flag is always clear).
FILE_TENSORS = {"loss_scale": ((1,), np.dtype(np.float32)),
                "loss_scale_finite_steps": ((1,), np.dtype(np.uint32))}


def applies(precision: Precision) -> bool:
    """Whether ``precision``'s training steps scale the loss (the shaders' ``dtype == "f16"``)."""
    return precision.wgsl == "f16"


def initial_words(scale: float = INITIAL_SCALE, finite_steps: int = 0,
                  skipped: int = 0) -> np.ndarray:
    """The state's 4 words as uint32 (the scale's f32 bits first; the flag clear)."""
    words = np.zeros(4, np.uint32)
    words[SCALE] = np.float32(scale).view(np.uint32)
    words[FINITE_STEPS], words[SKIPPED] = finite_steps, skipped
    return words


def new_state(device) -> GPUArray:
    """A fresh loss-scale state on ``device`` (GPU thread)."""
    return gpu.from_numpy(device, initial_words(), np.uint32, label="loss_scale")


def values(words: np.ndarray) -> dict[str, float | int]:
    """The state's words (a read of ``ModelState.loss_scale``) by name."""
    words = np.asarray(words, np.uint32)
    return {"scale": float(words[SCALE:SCALE + 1].view(np.float32)[0]),
            "finite_steps": int(words[FINITE_STEPS]), "skipped": int(words[SKIPPED])}


def params(count: int) -> dict[str, float]:
    """The shader's Params for ``count`` gradients (GROWTH_INTERVAL read now: at recording)."""
    return {"count": count, "growth_interval": GROWTH_INTERVAL, "minimum_scale": MINIMUM_SCALE,
            "scale_at": statistics.LOSS_SCALE, "skipped_at": statistics.SKIPPED_STEPS}


def tensors(words: np.ndarray) -> dict[str, np.ndarray]:
    """The state's words as model files keep them (FILE_TENSORS)."""
    state = values(words)
    return {"loss_scale": np.array([state["scale"]], np.float32),
            "loss_scale_finite_steps": np.array([state["finite_steps"]], np.uint32)}


def words(tensors: dict[str, np.ndarray]) -> np.ndarray:
    """The state's words from a file's FILE_TENSORS."""
    return initial_words(float(np.asarray(tensors["loss_scale"]).reshape(-1)[0]),
                         int(np.asarray(tensors["loss_scale_finite_steps"]).reshape(-1)[0]))


def record_check(program: Program, gradients: GPUArray, state: GPUArray) -> None:
    """Record the dispatch that flags non-finite ``gradients`` in ``state``."""
    program.dispatch(SHADER, "check", threads=gradients.size, gradients=gradients, state=state,
                     params=params(gradients.size))


def record_update(program: Program, state: GPUArray, sums: GPUArray) -> None:
    """Record the dispatch that adapts the scale, files it (and a skip) in fit's statistics
    ``sums`` and clears the flag."""
    program.dispatch(SHADER, "update", groups=1, state=state, statistics=sums,
                     params=params(0))
