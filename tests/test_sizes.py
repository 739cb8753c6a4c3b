"""Models too large for this machine or its adapter are refused before anything is allocated,
naming the layer and the limit (issue 12 item 12)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from intricate import Model
from intricate.engine import state
from intricate.layers import Dense, ReLU


def test_a_layer_too_large_for_host_memory_is_refused_before_drawing(monkeypatch):
    monkeypatch.setattr(state, "_available_host_bytes", lambda: 2**30)
    layers = [Dense(4, 4), ReLU(), Dense(4, 2**27)]  # 12 B per parameter to draw: 1.5 GiB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"layer 2 \(Dense.*host memory.*1\.00 GiB"):
            Model(layers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # nothing was drawn
    assert all(layer._owner is None for layer in layers)  # the layers stay free


def test_dense_of_two_billion_outputs_is_refused_not_oom_killed():
    # 2**31 parameters: 24 GiB to draw. Refused wherever that isn't available.
    if state._available_host_bytes() > state.HOST_BYTES_PER_PARAMETER * 2**31:
        pytest.skip("this machine could draw them")
    with pytest.raises(ValueError, match="layer 0"):
        Model([Dense(1, 2**31)])


@pytest.mark.parametrize("limit", ["max-buffer-size", "max-storage-buffer-binding-size"])
async def test_parameters_beyond_the_adapters_limits_name_the_layer_and_the_limit(
        device, monkeypatch, limit):
    monkeypatch.setattr(device, "limits", {**device.limits, limit: 2**20})
    with pytest.raises(ValueError, match=rf"layer 0 \(Dense.*{limit}"):
        Model([Dense(512, 1024), ReLU()], device=device)  # 2 MiB of parameters
    small = Model([Dense(4, 4)], device=device)
    monkeypatch.setattr(device, "limits", {**device.limits, limit: 32})  # at first upload
    with pytest.raises(ValueError, match=rf"layer 0 \(Dense.*{limit}"):
        await small.predict(np.ones((1, 4), np.float32))
