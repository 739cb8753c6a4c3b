"""Our side of the training benchmarks: ``model.fit`` on a resident Dataset, timed in
samples/s with its GPU counters per step and per epoch."""

from __future__ import annotations

import math
import platform
import time

import numpy as np
import wgpu

import intricate
from intricate import TrainingOptions


def results(device, rows: list[dict]) -> dict:
    """A benchmark's JSON: the date, the adapter, the versions that ran, and its rows."""
    return {"date": time.strftime("%Y-%m-%d"), "adapter": device.adapter_info,
            "versions": {"intricate": intricate.__version__, "wgpu": wgpu.__version__,
                         "numpy": np.__version__, "python": platform.python_version()},
            "rows": rows}


async def time_fit(device, model, data, samples: int, batch: int, options: dict,
                   min_epochs: int = 3, seconds: float = 3.0):
    """Samples/s of ``model.fit(data)`` with ``options`` (TrainingOptions' arguments), whole
    epochs for about ``seconds`` after a compiling epoch; the whole fit call is timed, so its
    once-per-fit work (building the programs, checking the arguments) stays in (a conservative
    number).

    Returns (samples/s, dispatches per step, submits per epoch, readbacks per epoch)."""
    await model.fit(data, options=TrainingOptions(epochs=1, **options))  # compile (and tune)
    start = time.perf_counter()
    await model.fit(data, options=TrainingOptions(epochs=2, **options))
    epochs = max(min_epochs, math.ceil(seconds / ((time.perf_counter() - start) / 2)))
    device.stats.reset()
    start = time.perf_counter()
    await model.fit(data, options=TrainingOptions(epochs=epochs, **options))
    elapsed = time.perf_counter() - start
    stats = dict(device.stats)
    # Every dispatch of the fit, per step: the normal path's epoch-finishing dispatch included
    # (1/steps of one), and a tiny fit's one dispatch per window of epochs (engine/tiny.py).
    per_step = stats["dispatches"] / (epochs * -(-samples // batch))
    return (samples * epochs / elapsed, per_step, stats["submits"] / epochs,
            stats["readbacks"] / epochs)
