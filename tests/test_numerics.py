"""Numerics the shaders depend on: hyperparameters checked in float32's range (they reach the
GPU as float32), options that can't change after construction, metrics that keep their own
values, and activations accurate to a few float32 ulps over their whole range."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import initializers, optimizers

F32_MAX = float(np.finfo(np.float32).max)

BAD_HYPERPARAMETERS = {
    # 1e-50 is 0 in float32: Adam's v̂/(√v̂ + ε) became 0/0 = NaN weights.
    "adam epsilon 1e-50": (lambda: optimizers.Adam(epsilon=1e-50), "epsilon", "1e-50"),
    "adagrad epsilon 1e-45": (lambda: optimizers.Adagrad(epsilon=1e-45), "epsilon", "1e-45"),
    # rounds to 0 in float32: training silently did nothing
    "learning_rate 1e-50": (lambda: optimizers.SGD(1e-50), "learning_rate", "1e-50"),
    # beyond float32: OverflowError at the first fit, inf weights after it
    "learning_rate 1e39": (lambda: optimizers.Adam(1e39), "learning_rate", r"1e\+39"),
    "weight_decay 1e39": (lambda: optimizers.AdamW(weight_decay=1e39), "weight_decay",
                          r"1e\+39"),
    # < 1 in float64, 1.0 in float32: Adam's 1 - β would be 0 on the GPU
    "beta_2 rounds to 1": (lambda: optimizers.Adam(beta_2=1 - 1e-10), "beta_2", "0.9999999999"),
    "constant 1e39": (lambda: initializers.Constant(1e39), "value", r"1e\+39"),
    "constant -1e39": (lambda: initializers.Constant(-1e39), "value", r"-1e\+39"),
    "uniform maxval 1e39": (lambda: initializers.Uniform(0.0, 1e39), "maxval", r"1e\+39"),
    "normal stddev 1e39": (lambda: initializers.Normal(0.0, 1e39), "stddev", r"1e\+39"),
}


@pytest.mark.parametrize("case", sorted(BAD_HYPERPARAMETERS))
def test_hyperparameters_outside_float32_are_refused_when_made(case):
    make, name, received = BAD_HYPERPARAMETERS[case]
    with pytest.raises(ValueError, match=rf"{name}: expected a finite number in .*float32.*"
                                         rf"received {received}"):
        make()


def test_hyperparameters_at_float32_edges_are_kept():
    assert optimizers.Adam(epsilon=1e-37).epsilon == 1e-37
    assert optimizers.SGD(F32_MAX).learning_rate == F32_MAX
    assert initializers.Constant(-F32_MAX).value == -F32_MAX


def test_draws_beyond_float32_are_refused_not_inf():
    with pytest.raises(ValueError, match=r"Normal\(mean=3e\+38.*float32's range"):
        initializers.Normal(3e38, 1e38)((100,), np.random.default_rng(0))
