"""The shared test harness: float32-vs-float64 comparison, a one-submit program runner, and
the small model and data the training tests share."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import intricate
from intricate import Model, gpu
from intricate.gpu.dtypes import FLOAT32, FLOAT64, MIXED_FLOAT16, Precision, supported
from intricate.layers import Dense, Sigmoid, TanH

# The dtypes every shader test runs in (tolerance: Precision.rtol).
PRECISIONS = [pytest.param(FLOAT32, id="float32"), pytest.param(FLOAT64, id="float64")]
# ... and mixed_float16, for the kernels that take f16 data (activations, SoftMax, losses,
# gather).
ALL_PRECISIONS = [*PRECISIONS, pytest.param(MIXED_FLOAT16, id="mixed_float16")]


def gradient_rtol(precision: Precision) -> float:
    """A backward kernel's tolerance: the policy's rtol, 1e-2 for f16 data (its inputs o and
    dE/dO are themselves rounded to f16, 2^-11 each, before the result is)."""
    return 1e-2 if precision.numpy == np.float16 else precision.rtol


def skip_unsupported(device: intricate.Device, precision: Precision) -> None:
    """Skip a test of a dtype this adapter lacks the feature of (say which)."""
    if precision.name not in supported(device):
        pytest.skip(f"{device.name} lacks {precision.feature} ({precision.name})")


def masked(device: intricate.Device, feature: str) -> intricate.Device:
    """A view of ``device`` as an adapter without ``feature`` (a refusal must come before any
    GPU work, so the device itself is never touched)."""
    view = copy.copy(device)
    view.features = device.features - {feature}
    return view

# Below float32's smallest normal (1.2e-38) a GPU may flush to 0; anything larger is judged.
TINY = 1e-30


def assert_close(got, want, rtol: float = 1e-4, scale=None) -> None:
    """float32 vs the float64 reference, entry by entry: |got - want| <= rtol · scale + TINY.

    ``scale`` defaults to |want|, a relative test. An entry that is a sum (a GEMM output, a
    gradient, a loss) is rounded by float32 at the size of its terms, and may cancel to far below
    them: pass the sum of its |terms| as ``scale`` (``abs_matmul(a, b)`` for a @ b), never a
    constant such as 1.0, which let a 30% error in a gradient of 1e-3 pass.
    """
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    scale = np.abs(want) if scale is None else np.broadcast_to(np.asarray(scale, np.float64),
                                                              want.shape)
    error = np.abs(got - want)
    bad = ~(error <= rtol * scale + TINY)  # NaN is bad too
    if bad.any():
        where = np.argwhere(bad)[:5] if bad.ndim else [()]
        worst = [(tuple(int(i) for i in index), got[tuple(index)], want[tuple(index)],
                  scale[tuple(index)]) for index in where]
        raise AssertionError(f"{int(bad.sum())} of {bad.size} entries beyond rtol {rtol} of "
                             f"their scale; (index, got, want, scale): {worst}")


def abs_matmul(a, b) -> np.ndarray:
    """Σ_k |a_ik| |b_kj|: the size of the terms each entry of a @ b sums (assert_close's
    scale for GEMM results)."""
    return np.abs(np.asarray(a, np.float64)) @ np.abs(np.asarray(b, np.float64))


def run_programs(device: intricate.Device, record, arrays: dict[str, np.ndarray], rows: int,
                 precision: Precision = FLOAT32):
    """On the GPU thread: upload ``arrays`` (floats as ``precision``'s type), call
    ``record(program, gpu_arrays)`` (a program of ``precision``) which returns the GPUArrays to
    read, encode + submit once, and return them as numpy."""

    def work():
        program = gpu.Program(gpu.Workspace(device, rows, precision))
        uploaded = {name: gpu.from_numpy(device, values, precision.numpy if np.asarray(
                        values).dtype.kind == "f" else np.asarray(values).dtype, label=name)
                    for name, values in arrays.items()}
        outputs = record(program, uploaded)
        encoder = device.handle.create_command_encoder()
        program.encode(encoder)
        staged = gpu.StagedRead(device, encoder, list(outputs))
        device.submit(encoder)
        return staged.collect()

    return device.run(work)


def small_model(device, seed=0) -> Model:
    """3 → 5 (TanH) → 2 (Sigmoid): small enough for any batching to be checked exactly."""
    return Model([Dense(3, 5), TanH(), Dense(5, 2), Sigmoid()], device=device, seed=seed)


def small_data(rng, samples=10) -> tuple[np.ndarray, np.ndarray]:
    """Normal inputs [samples, 3] and 0/1 targets [samples, 2] for ``small_model``."""
    x = rng.normal(size=(samples, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (samples, 2)).round().astype(np.float32)
    return x, y
