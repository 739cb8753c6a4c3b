"""The shared test harness: float32-vs-float64 comparison, a one-submit program runner, and
the small model and data the training tests share."""

from __future__ import annotations

import numpy as np

import intricate
from intricate import Model, gpu
from intricate.layers import Dense, Sigmoid, TanH


def assert_close(got, want, rtol: float = 1e-4) -> None:
    """float32 vs the float64 reference: rtol, plus an atol scaled to the data's magnitude so
    entries that cancel to ~0 are judged against the size of the terms, not against 0."""
    want = np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=rtol * scale)


def run_programs(device: intricate.Device, record, arrays: dict[str, np.ndarray], rows: int):
    """On the GPU thread: upload ``arrays``, call ``record(program, gpu_arrays)`` which returns
    the GPUArrays to read, encode + submit once, and return them as numpy."""

    def work():
        program = gpu.Program(gpu.Workspace(device, rows))
        uploaded = {name: gpu.from_numpy(device, values, label=name)
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
