"""Loops bounded whatever the data size (llvmpipe silently stops a shader's loops after 65535
iterations per invocation), and the fused SoftMax + cross-entropy gradient for any targets.

The split / multi-pass paths run by default at small sizes by lowering ``loops.LOOP_BOUND``;
the sizes past llvmpipe's cap (1M-row dW, 4.2M outputs, 30,000 classes) are in the slow tier.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_reference import numerical_gradient

from intricate import gpu, losses
from intricate.ops import loops

import reference
from harness import run_programs


def assert_relative(got, want, rtol: float = 1e-4) -> None:
    """float32 vs float64 with a tiny absolute floor (a small gradient's error is not hidden)."""
    want = np.asarray(want, np.float64)
    floor = 1e-6 * float(np.abs(want).max()) if want.size else 0.0
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=floor)


def unnormalised_targets(rng, rows, width):
    """Rows of y that don't sum to 1: smoothed by hand, partial, or over-full labels."""
    targets = rng.uniform(0.0, 1.0, (rows, width)) * rng.uniform(0.2, 3.0, (rows, 1))
    targets[0] = 0.0
    targets[0, 0] = 0.5  # a partial one-hot label
    return targets


def test_fused_softmax_crossentropy_gradient_matches_finite_differences(rng):
    logits = rng.normal(size=(4, 6))
    targets = unnormalised_targets(rng, 4, 6)
    numeric = numerical_gradient(
        lambda z: reference.categorical_crossentropy_value(reference.softmax_forward(z), targets),
        logits)
    analytic = reference.softmax_crossentropy_gradient(reference.softmax_forward(logits), targets)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def softmax_loss_record(accuracy):
    def record(program, a):
        statistics = gpu.empty(program.device, (8,))  # WebGPU buffers start zeroed
        grad = gpu.empty(program.device, a["predictions"].shape)
        losses.CategoricalCrossEntropy().record_training(
            program, a["predictions"], a["targets"], statistics, grad, accuracy, True)
        return [statistics, grad]

    return record


@pytest.mark.parametrize("bound", [loops.LOOP_BOUND, 8], ids=["one dispatch", "row workgroups"])
@pytest.mark.parametrize("rows,width", [(1, 1), (3, 7), (257, 3), (2, 300)])
async def test_fused_softmax_crossentropy_gradient_for_targets_not_summing_to_one(
        device, rng, monkeypatch, bound, rows, width):
    monkeypatch.setattr(loops, "LOOP_BOUND", bound)
    predictions = reference.softmax_forward(rng.normal(size=(rows, width)))
    targets = unnormalised_targets(rng, rows, width)
    p, y = predictions.astype(np.float32), targets.astype(np.float32)
    got = await run_programs(device, softmax_loss_record(2), {"predictions": p, "targets": y},
                             rows)
    p, y = p.astype(np.float64), y.astype(np.float64)
    assert_relative(got[1], reference.softmax_crossentropy_gradient(p, y))
    want = [reference.categorical_crossentropy_value(p, y) * rows,
            reference.categorical_accuracy(p, y).sum(), reference.mean_absolute_error(p, y).sum()]
    assert_relative(got[0][:3], want)
