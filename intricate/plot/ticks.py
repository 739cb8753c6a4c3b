"""Axis ranges, tick positions and tick labels: 1-2-5 steps on linear axes, decades on log
axes (1-2-5 steps of log10 when a range spans less than a decade), labels as short as they
can be while still telling ticks apart."""

from __future__ import annotations

import math

import numpy as np


def nice_step(span: float, count: int) -> float:
    """The 1, 2 or 5 times a power of ten closest above ``span / count``."""
    raw = span / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        if multiple * power >= raw * (1 - 1e-9):
            return multiple * power
    return 10.0 * power


def data_range(values: np.ndarray, log: bool) -> tuple[float, float]:
    """The finite (for ``log``, positive) extent of ``values``, never empty: a single value or
    none gets a unit-wide range around it (a decade each way on log axes)."""
    finite = values[np.isfinite(values)]
    if log:
        finite = finite[finite > 0]
    if finite.size == 0:
        return (0.1, 10.0) if log else (0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if log:
        low, high = math.log10(low), math.log10(high)
    if high - low < 1e-12 * max(1.0, abs(high)):
        low, high = low - 0.5, high + 0.5
    return (10.0 ** low, 10.0 ** high) if log else (low, high)


def linear_axis(low: float, high: float, count: int = 6) -> tuple[float, float, list[float]]:
    """The axis range [low, high] widened to whole steps, and its ticks (about ``count``)."""
    step = nice_step(high - low, count)
    start, stop = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
    ticks = [start + index * step for index in range(round((stop - start) / step) + 1)]
    return start, stop, [0.0 if abs(tick) < step * 1e-9 else tick for tick in ticks]


def log_axis(low: float, high: float, count: int = 6) -> tuple[float, float, list[float]]:
    """The axis range in log10 units, widened to whole decades, and its ticks (log10 values):
    every decade, or every few decades when there are many; ranges within one decade use 1-2-5
    steps of log10 (the labels still show the values)."""
    low_log, high_log = math.log10(low), math.log10(high)
    start, stop = math.floor(low_log + 1e-9), math.ceil(high_log - 1e-9)
    if stop - start < 1:
        return linear_axis(low_log, high_log, count)
    every = max(1, math.ceil((stop - start) / count))
    start = math.floor(start / every) * every
    stop = math.ceil(stop / every) * every
    return float(start), float(stop), [float(t) for t in range(start, stop + 1, every)]


def label(value: float, step: float) -> str:
    """``value`` in as few characters as tell ticks ``step`` apart: "0.25", "1500", "1e-05"."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    # The digit of the step's leading figure: ticks differ there (a plateau's 0.5000002 and
    # 0.5000004, or 123456.71 and 123456.72, need all of theirs).
    step_digit = math.floor(math.log10(step) + 1e-9) if step > 0 else -3
    if magnitude >= 1e5 or magnitude < 1e-3:
        digits = min(15, max(3, math.floor(math.log10(magnitude) + 1e-9) - step_digit))
        mantissa, exponent = f"{value:.{digits}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.{min(max(0, -step_digit), 15)}f}"


def log_label(exponent: float, step: float) -> str:
    """The label of the log10 tick ``exponent``: "1", "10", "0.01", "1e-05", "2" ..."""
    value = 10.0 ** exponent
    if float(exponent).is_integer():
        return label(value, value)
    return label(float(f"{value:.2g}"), value / 10)
