"""The decision surface of a model with two inputs: its predictions over a grid (one
``model.predict`` on the GPU), coloured by class in chart.wgsl's fragment shader, with the
samples on top."""

from __future__ import annotations

import asyncio
import os

import numpy as np

from ..engine.inputs import check_array
from . import font, renderer
from .chart import AXIS_GAP, Axes, frame_axes, legend, legend_width, text_scale
from .png import check_path, write_png
from .scene import MAX_OUTPUTS, TAB10, Scene


def sample_classes(y: object, samples: int, outputs: int, threshold: float) -> np.ndarray:
    """The class of each sample: y's argmax per row for several outputs, ``y > threshold``
    for one, or y itself as whole-number labels [samples]."""
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf" or labels.ndim not in (1, 2) or len(labels) != samples:
        raise ValueError(f"y: expected {samples} labels [samples] or targets [samples, "
                         f"{outputs}] of numbers, received {labels.dtype} {labels.shape}")
    if not np.isfinite(labels).all():
        raise ValueError("y: expected finite values, received NaN or infinity")
    if labels.ndim == 2 and labels.shape[1] > 1:
        if labels.shape[1] != outputs:
            raise ValueError(f"y: expected targets [samples, {outputs}] (a column per output of "
                             f"the model), received {labels.shape}")
        return np.argmax(labels, axis=1)
    labels = labels.reshape(-1)
    if outputs == 1:
        return (labels > threshold).astype(np.int64)
    wrong = (labels != np.round(labels)) | (labels < 0) | (labels >= outputs)
    if wrong.any():  # they were thresholded, or took another class's colour (5 % 8, -1 % 8)
        raise ValueError(f"y: expected class labels 0 to {outputs - 1} (the model has {outputs} "
                         f"outputs) or targets [samples, {outputs}], received "
                         f"{labels[wrong][0].item()!r} at index {int(np.flatnonzero(wrong)[0])}")
    return labels.astype(np.int64)


def check_surface_options(model, size, resolution, title, threshold) -> None:
    if getattr(model, "input_size", None) != 2:
        raise ValueError(f"model: expected a model with 2 inputs (a point per sample), "
                         f"received one with {getattr(model, 'input_size', '?')}")
    if model.output_size > MAX_OUTPUTS:
        raise ValueError(f"model: at most {MAX_OUTPUTS} outputs (classes) can be told apart "
                         f"by colour, received one with {model.output_size}")
    if not (isinstance(size, tuple) and len(size) == 2) or any(
            isinstance(v, bool) or not isinstance(v, int) or not 64 <= v <= 8192 for v in size):
        raise ValueError(f"size: expected (width, height) in pixels, each from 64 to 8192, "
                         f"received {size!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) \
            or not 2 <= resolution <= 1024:
        raise ValueError(f"resolution: expected grid points per side from 2 to 1024, "
                         f"received {resolution!r}")
    font.check_text("title", title)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not np.isfinite(threshold):
        raise ValueError(f"threshold: expected a finite number, received {threshold!r}")


async def decision_surface(model, x: np.ndarray, y: np.ndarray,
                           path: str | os.PathLike | None = None, *, resolution: int = 128,
                           size: tuple[int, int] = (560, 440), title: str = "Decision surface",
                           threshold: float = 0.5) -> np.ndarray:
    """Draw what ``model`` predicts over the plane its samples lie in, with the samples.

    Each pixel takes the colour of the class predicted there (bilinear between grid points):
    for one output, class 1 where the prediction exceeds ``threshold``; for several, the
    largest output. Colours pale towards a boundary. Samples are discs in their own class's
    colour.

    Args:
        model: a Model with 2 inputs (its device draws the picture too).
        x: the samples, [samples, 2]; the plotted area is their extent, padded to whole ticks.
        y: their classes: labels [samples], or targets [samples, outputs] (argmax, or
            ``> threshold`` for one output).
        path: where to write the picture as a PNG (None: only return it).
        resolution: grid points per side (resolution² predictions, one ``predict`` call).
        size: (width, height) in pixels.
        title: drawn above (printable ASCII).
        threshold: the boundary of a one-output model.

    Returns:
        The picture, uint8 RGBA [height, width, 4].

    Raises:
        ValueError, TypeError: bad arguments (``path`` included), before any GPU work.
    """
    check_surface_options(model, size, resolution, title, threshold)
    if path is not None:
        check_path(path)
    points = check_array("x", x, 2, "coordinates")
    classes = sample_classes(y, len(points), model.output_size, threshold)
    names = [f"class {c}" for c in sorted(set(classes.tolist()) | set(range(
        max(2, model.output_size))))]
    reserve = legend_width(names, text_scale(*size)) + 4 * AXIS_GAP
    # The samples' extent padded by a tenth each way, so no disc sits on the frame.
    padding = 0.1 * np.maximum(points.max(axis=0) - points.min(axis=0), 1e-6)
    low, high = points.min(axis=0) - padding, points.max(axis=0) + padding
    x_axes = Axes.fit(np.array([low[0], high[0]]), False, max(2, (size[0] - reserve) // 90))
    y_axes = Axes.fit(np.array([low[1], high[1]]), False, max(2, size[1] // 90))
    # Grid points at cell centres over the axes' whole range; row 0 at the top (largest x2).
    columns = x_axes.low + (np.arange(resolution) + 0.5) / resolution * (x_axes.high - x_axes.low)
    rows = y_axes.high - (np.arange(resolution) + 0.5) / resolution * (y_axes.high - y_axes.low)
    grid = np.stack(np.meshgrid(columns, rows), axis=-1).reshape(-1, 2).astype(np.float32)
    predictions = await model.predict(grid)
    scene = Scene(*size)
    frame_axes(scene, x_axes, y_axes, title, "x1", "x2", reserve_right=reserve)
    scene.prediction_surface(predictions.reshape(resolution, resolution, -1), threshold)
    colors = np.array(TAB10, np.float32)[classes % len(scene.palette)]
    radius = 6.0 if min(size) >= 320 else 4.0
    scene.markers(points[:, 0], points[:, 1], radius, 1.5, colors)
    legend(scene, names, [scene.palette[int(name[6:]) % len(scene.palette)] for name in names],
           marks="marker", outside=True)
    pixels = await renderer.draw_async(model.device, lambda: scene)
    if path is not None:
        await asyncio.to_thread(write_png, path, pixels)
    return pixels
