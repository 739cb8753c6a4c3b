"""A scene: the marks of one picture (rectangles, data segments, text, markers, a decision
surface) packed as shaders/plot/chart.wgsl reads them, plus its Frame uniform.

Pixels have (0, 0) at the top left; data coordinates map to the plot area through ``data``
(``log_y``: y values are drawn at log10 y, so ``data``'s y range is in log10 units). The host
makes that mapping, in float64: the shader gets fractions of the plot area, so a loss that
moves by 1e-8 around 0.5, or epochs past 2**24, still land on their own pixels (float32 data
coordinates drew such curves as staircases, and values past 3.4e38 could not be packed).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from . import font

RECTANGLE, SEGMENT, GLYPH, MARKER, SURFACE = range(5)  # Shape kinds, as in chart.wgsl
FLOATS_PER_SHAPE = 12  # a, b, color: three vec4<f32>
Color = tuple[float, float, float, float]


def rgba(hex_color: str, alpha: float = 1.0) -> Color:
    """"#1f77b4" -> (r, g, b, alpha) in [0, 1]."""
    value = int(hex_color.lstrip("#"), 16)
    return ((value >> 16 & 255) / 255, (value >> 8 & 255) / 255, (value & 255) / 255, alpha)


# Matplotlib's "tab10" colours: told apart by most readers, colour-blind ones included.
TAB10 = tuple(rgba(c) for c in ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"))
WHITE, BLACK = rgba("#ffffff"), rgba("#202020")
PALETTE_SIZE = len(TAB10)  # the surface's class colours (chart.wgsl's palette_size)
# Classes past the palette would share colours, so they are refused; this also bounds the
# surface's argmax loop over outputs.
MAX_OUTPUTS = PALETTE_SIZE
FRAME_LAYOUT = f"<2f8x4f{4 * PALETTE_SIZE}f"  # chart.wgsl's Frame: size, plot, palette
FRAME_BYTES = struct.calcsize(FRAME_LAYOUT)


@dataclass
class Scene:
    """Marks in drawing order (later ones over earlier ones)."""

    width: int
    height: int
    plot: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # left, top, right, bottom
    data: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # x0, y0, x1, y1
    log_y: bool = False
    palette: tuple[Color, ...] = TAB10
    surface: np.ndarray | None = None  # [rows, columns, outputs] float32, row 0 at the top
    blocks: list[np.ndarray] = field(default_factory=list)

    def _add(self, kind: int, a: np.ndarray, b: np.ndarray, color) -> None:
        count = len(a)
        block = np.zeros((count, FLOATS_PER_SHAPE), np.float32)
        block[:, 0:4] = a
        block[:, 4:8] = b
        block[:, 7] = kind
        block[:, 8:12] = color
        self.blocks.append(block)

    def rectangle(self, left: float, top: float, right: float, bottom: float,
                  color: Color) -> None:
        self._add(RECTANGLE, np.array([[left, top, right, bottom]]), np.zeros((1, 4)), color)

    def fractions(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data points as fractions of the plot area (0 at its left and bottom, 1 at its right
        and top), in float64; NaN where a point can't be drawn (non-finite, or y <= 0 on a log
        axis)."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if self.log_y:
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
        x0, y0, x1, y1 = self.data
        return (x - x0) / (x1 - x0), (y - y0) / (y1 - y0)

    def segments(self, x: np.ndarray, y: np.ndarray, width: float, color: Color) -> None:
        """The polyline through the points (x[i], y[i]) in data coordinates; pairs with a
        non-finite end (or, on a log axis, a non-positive y) are left out."""
        x, y = self.fractions(x, y)
        ends = np.stack([x[:-1], y[:-1], x[1:], y[1:]], axis=1)
        ends = ends[np.isfinite(ends).all(axis=1)]
        if len(ends):
            self._add(SEGMENT, ends, np.tile([width, 0, 0, 0], (len(ends), 1)), color)

    def markers(self, x: np.ndarray, y: np.ndarray, radius: float, outline: float,
                colors: np.ndarray) -> None:
        """Discs at the data points, each filled with its row of ``colors`` [n, 4]."""
        x, y = self.fractions(x, y)
        points = np.stack([x, y, x, y], axis=1)
        self._add(MARKER, points, np.tile([radius, outline, 0, 0], (len(points), 1)), colors)

    def text(self, x: float, y: float, text: str, scale: int, color: Color,
             align: str = "left") -> None:
        """``text`` with its top at ``y`` and its left, centre or right (``align``) at ``x``;
        glyphs land on whole pixels, so they stay crisp."""
        if not text:
            return
        width = font.text_width(text, scale)
        left = x - {"left": 0.0, "center": width / 2, "right": width}[align]
        left, top = round(left), round(y)
        codes = np.frombuffer(text.encode("ascii"), np.uint8).astype(np.float64)
        lefts = left + np.arange(len(text)) * font.ADVANCE * scale
        a = np.stack([lefts, np.full(len(text), top), np.full(len(text), scale), codes], axis=1)
        self._add(GLYPH, a, np.zeros((len(text), 4)), color)

    def prediction_surface(self, values: np.ndarray, threshold: float) -> None:
        """The plot area coloured by ``values`` [rows, columns, outputs] (row 0 at the top):
        the predicted class's palette colour, paler near a boundary."""
        rows, columns, outputs = values.shape
        self.surface = np.ascontiguousarray(values, np.float32)
        self._add(SURFACE, np.array([self.plot]), np.array([[columns, rows, outputs, 0]]),
                  (threshold, 0, 0, 0))

    def shape_array(self) -> np.ndarray:
        """Every mark, [shapes, 12] float32, as chart.wgsl's ``shapes``."""
        if not self.blocks:
            return np.zeros((0, FLOATS_PER_SHAPE), np.float32)
        return np.concatenate(self.blocks)

    def frame_bytes(self) -> bytes:
        """The Frame uniform (FRAME_BYTES long)."""
        palette = [value for color in self.palette for value in color]
        return struct.pack(FRAME_LAYOUT, self.width, self.height, *self.plot, *palette)
