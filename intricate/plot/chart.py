"""Chart layout on the host: the plot area, axes, grid, tick labels, legend and title of a
picture, and its curves (decimated to at most four points per pixel column), as a Scene."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import font, ticks
from .scene import BLACK, WHITE, Color, Scene, rgba

GRID, AXIS_GAP, TICK = rgba("#e4e4e4"), 6, 4  # grid colour, label gap and tick length (px)
LINE_WIDTH = 2.0


@dataclass
class Curve:
    """One series: ``y[i]`` at ``x[i]``, drawn in ``color`` and named in the legend."""

    name: str
    x: np.ndarray
    y: np.ndarray
    color: Color


def text_scale(width: int, height: int) -> int:
    """Font pixels per screen pixel: 2 on pictures of 320 px and more, else 1."""
    return 2 if min(width, height) >= 320 else 1


@dataclass
class Axes:
    """An axis range and its ticks, in drawn units (log10 of the values on a log axis)."""

    low: float
    high: float
    ticks: list[float]
    log: bool = False

    @classmethod
    def fit(cls, values: np.ndarray, log: bool, count: int, whole: bool = False) -> Axes:
        """Axes over ``values``' finite extent; ``whole``: ticks at whole numbers only."""
        low, high = ticks.data_range(np.asarray(values, np.float64), log)
        if log:
            return cls(*ticks.log_axis(low, high, count), log=True)
        if whole and high - low < count:
            low, high = np.floor(low), np.ceil(high)
            return cls(low, high, [float(t) for t in np.arange(low, high + 1)])
        return cls(*ticks.linear_axis(low, high, count))

    def labels(self) -> list[str]:
        step = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else 1.0
        if self.log:
            return [ticks.log_label(tick, step) for tick in self.ticks]
        return [ticks.label(tick, step) for tick in self.ticks]


def frame_axes(scene: Scene, x_axes: Axes, y_axes: Axes, title: str, x_title: str,
               y_title: str = "", reserve_right: int = 0) -> None:
    """Lay out the plot area of ``scene`` around the axes' labels (and ``reserve_right``
    pixels on the right, for a legend) and draw its background, grid, axes, tick labels and
    titles; sets ``scene.plot``, ``.data`` and ``.log_y``."""
    scale = text_scale(scene.width, scene.height)
    line = (font.HEIGHT + 2) * scale  # one line of text, with spacing
    y_labels, x_labels = y_axes.labels(), x_axes.labels()
    left = AXIS_GAP * 2 + TICK + max(font.text_width(text, scale) for text in y_labels) \
        + (line if y_title else 0)
    right_overhang = font.text_width(x_labels[-1], scale) / 2
    top = line * 2 if title else line
    bottom = scene.height - (TICK + AXIS_GAP * 2 + line * (2 if x_title else 1))
    right = scene.width - max(AXIS_GAP * 2, right_overhang + AXIS_GAP) - reserve_right
    scene.plot = (float(left), float(top), float(right), float(bottom))
    scene.data = (x_axes.low, y_axes.low, x_axes.high, y_axes.high)
    scene.log_y = y_axes.log

    def x_pixel(value: float) -> float:
        return left + (value - x_axes.low) / (x_axes.high - x_axes.low) * (right - left)

    def y_pixel(value: float) -> float:
        return bottom - (value - y_axes.low) / (y_axes.high - y_axes.low) * (bottom - top)

    scene.rectangle(left, top, right, bottom, WHITE)
    for tick, text in zip(x_axes.ticks, x_labels):
        x = round(x_pixel(tick))
        scene.rectangle(x, top, x + 1, bottom, GRID)
        scene.rectangle(x, bottom, x + 1, bottom + TICK, BLACK)
        scene.text(x, bottom + TICK + AXIS_GAP, text, scale, BLACK, "center")
    for tick, text in zip(y_axes.ticks, y_labels):
        y = round(y_pixel(tick))
        scene.rectangle(left, y, right, y + 1, GRID)
        scene.rectangle(left - TICK, y, left, y + 1, BLACK)
        scene.text(left - TICK - AXIS_GAP, y - font.CAP * scale / 2, text, scale, BLACK,
                   "right")
    scene.rectangle(left - 1, top, left, bottom + 1, BLACK)  # the axes themselves
    scene.rectangle(left - 1, bottom, right, bottom + 1, BLACK)
    if title:
        scene.text((left + right) / 2, line / 2, title, scale, BLACK, "center")
    if x_title:
        scene.text((left + right) / 2, scene.height - line, x_title, scale, BLACK, "center")
    if y_title:  # no rotated text: the title stands above the axis instead
        scene.text(AXIS_GAP, top - line, y_title, scale, BLACK)


def decimated(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most four points per pixel column (each column's first, lowest, highest and last,
    in order), so a million epochs cost what a thousand do and the curve's extremes stay.
    ``x`` ascends."""
    if len(x) <= 4 * columns:
        return x, y
    edges = x[0] + (x[-1] - x[0]) * np.arange(columns) / columns  # x ascends (epochs)
    starts = np.unique(np.searchsorted(x, edges))
    ends = np.append(starts[1:], len(x)) - 1
    owner = np.repeat(np.arange(len(starts)), ends - starts + 1)  # bucket of each point
    finite = np.where(np.isfinite(y), y, np.nan)
    picks = [starts, ends]
    for extreme in (np.fmin, np.fmax):  # NaN only where a whole column is non-finite
        hits = np.flatnonzero(finite == extreme.reduceat(finite, starts)[owner])
        first = np.searchsorted(hits, starts)  # each column's first hit, if it has one
        found = first < len(hits)
        first = hits[first[found]]
        picks.append(first[first <= ends[found]])
    order = np.unique(np.concatenate(picks))
    return x[order], y[order]


def draw_curves(scene: Scene, curves: list[Curve]) -> None:
    for curve in curves:
        scene.segments(curve.x, curve.y, LINE_WIDTH, curve.color)


def legend_width(names: list[str], scale: int) -> int:
    """The width of ``legend``'s box for ``names``."""
    return 8 * scale + AXIS_GAP * 3 + max(font.text_width(name, scale) for name in names)


def legend(scene: Scene, names: list[str], colors: list[Color], marks: str = "line",
           outside: bool = False) -> None:
    """A box in the plot area's top right corner (``outside``: right of the plot area, in
    room kept by ``frame_axes(reserve_right=...)``): each name beside a swatch of its colour,
    a short line, or a square for ``marks="marker"``."""
    if not names:
        return
    scale = text_scale(scene.width, scene.height)
    row, swatch = (font.HEIGHT + 2) * scale, 8 * scale
    width = legend_width(names, scale)
    if outside:
        left, top = scene.plot[2] + AXIS_GAP * 2, scene.plot[1]
        right = left + width
    else:
        right, top = scene.plot[2] - AXIS_GAP, scene.plot[1] + AXIS_GAP
        left = right - width
    bottom = top + row * len(names) + AXIS_GAP
    scene.rectangle(left - 1, top - 1, right + 1, bottom + 1, GRID)
    scene.rectangle(left, top, right, bottom, (1.0, 1.0, 1.0, 0.9))
    for index, (name, color) in enumerate(zip(names, colors)):
        y = top + AXIS_GAP + index * row
        middle = y + font.CAP * scale / 2
        x = left + AXIS_GAP
        if marks == "marker":
            side = font.CAP * scale
            scene.rectangle(x + (swatch - side) / 2, y, x + (swatch + side) / 2, y + side, color)
        else:
            scene.rectangle(x, middle - LINE_WIDTH / 2, x + swatch, middle + LINE_WIDTH / 2,
                            color)
        scene.text(x + swatch + AXIS_GAP, y, name, scale, BLACK)


def line_chart(width: int, height: int, curves: list[Curve], title: str, log_y: bool,
               x_title: str = "epoch") -> Scene:
    """The scene of ``curves`` against a shared x axis (whole-number ticks for epochs)."""
    scene = Scene(width, height)
    # Thinned to the picture's columns first: the axes' ranges come from what is kept (every
    # column's extremes), and the plot area is narrower than the picture.
    curves = [Curve(c.name, *decimated(c.x, c.y, width), c.color) for c in curves]
    all_x = np.concatenate([c.x for c in curves]) if curves else np.zeros(0)
    all_y = np.concatenate([c.y for c in curves]) if curves else np.zeros(0)
    count = max(2, min(8, width // 90))
    x_axes = Axes.fit(all_x, False, count, whole=True)
    y_axes = Axes.fit(all_y, log_y, max(2, min(8, height // 60)))
    frame_axes(scene, x_axes, y_axes, title, x_title)
    draw_curves(scene, curves)
    legend(scene, [curve.name for curve in curves], [curve.color for curve in curves])
    return scene
