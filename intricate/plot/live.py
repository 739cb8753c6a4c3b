"""LivePlot: training curves drawn while ``await model.fit(...)`` runs, by the model's own
device, in a window, a notebook widget, or offscreen for PNG files.

It costs training nothing it can avoid: it is a callback with ``waits_for_each_epoch = False``,
so fit reads the loss exactly as often as without it (every ``epochs / 100`` epochs for long
fits) and the plot draws what fit read; a live plot draws at most ``max_fps`` frames a second
and only when new epochs arrived, each frame one submit and one pixel readback on the GPU
thread; an offscreen plot draws only when asked (``save_png``).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..callbacks import Callback, Logs
from ..gpu import Device
from ..gpu.device import _open_default_device
from ..ops.statistics import LOSS_SCALING_KEYS
from . import canvas as places
from . import font, renderer
from .chart import Curve, line_chart
from .png import check_path, write_png
from .scene import TAB10


class Series:
    """Values appended one at a time, read as a view of the first ``len`` (appends never move
    what a reader already holds: growth copies into a new array)."""

    def __init__(self, missing: int = 0) -> None:
        """``missing``: epochs before this series' first value (NaN: not drawn)."""
        self.values, self.count = np.full(max(64, 2 * missing), np.nan), missing

    def append(self, value: float) -> None:
        if self.count == len(self.values):
            self.values = np.concatenate([self.values, np.full(len(self.values), np.nan)])
        self.values[self.count] = value
        self.count += 1

    def view(self) -> np.ndarray:
        return self.values[:self.count]


def check_options(keys, log_scale, size, title, max_fps) -> None:
    if keys is not None:
        if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys:
            raise ValueError(f"keys: expected a non-empty list of log names such as ['loss', "
                             f"'val_loss'], or None for all of them, received {keys!r}")
        for key in keys:
            font.check_text("keys", key)
        if len(set(keys)) != len(keys):
            raise ValueError(f"keys: each name once, received {list(keys)}")
    if not isinstance(log_scale, bool):
        raise TypeError(f"log_scale: expected True or False, received {log_scale!r}")
    if not (isinstance(size, tuple) and len(size) == 2) or any(
            isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= 8192 for v in size):
        raise ValueError(f"size: expected (width, height) in pixels, each from 16 to 8192, "
                         f"received {size!r}")
    font.check_text("title", title)
    if isinstance(max_fps, bool) or not isinstance(max_fps, (int, float)) \
            or not 0 < max_fps <= 30:
        raise ValueError(f"max_fps: expected a number of frames per second in (0, 30], "
                         f"received {max_fps!r}")


class LivePlot(Callback):
    """Training curves that update while a model trains; pass it in ``callbacks=[plot]``.

    Args:
        keys: the log names to draw, e.g. ["loss", "val_loss"]; None draws the loss, every
            metric and their ``val_`` twins (not mixed_float16's loss_scale, skipped_steps).
        log_scale: a logarithmic y axis (values <= 0 are left out).
        size: (width, height) of the picture in pixels.
        title: drawn above the plot (printable ASCII).
        show: "auto" (a Jupyter widget in a notebook, a window when glfw is installed and a
            display is available, else "offscreen"), "window", "jupyter" or
            "offscreen" (no canvas: frames are drawn only for ``save_png``).
        max_fps: the most frames a live plot draws per second (at most 30).
        device: the device that draws before any fit (default: the shared default device);
            each fit then draws on the model's own device.

    Raises:
        ValueError, TypeError: a bad option, before anything is drawn.

    The x axis counts epochs across fits: a second fit continues the curves.
    """

    waits_for_each_epoch = False  # it only watches: fit reads no more often for it

    def __init__(self, keys: Sequence[str] | None = None, *, log_scale: bool = False,
                 size: tuple[int, int] = (640, 400), title: str = "Training",
                 show: str = "auto", max_fps: float = 30.0, device: Device | None = None):
        check_options(keys, log_scale, size, title, max_fps)
        self.keys = None if keys is None else list(keys)
        self.log_scale, self.size, self.title = log_scale, size, title
        self.place, self.max_fps, self.device = places.choose(places.check_place(show)), \
            float(max_fps), device
        self.epochs, self.series, self.frames = Series(), {}, 0
        self._first_epoch = 0  # epochs of earlier fits
        self._canvas: places.LiveCanvas | None = None
        self._dirty, self._drawing = False, None
        self._watching: weakref.ref | None = None  # the model whose fit it watches last

    @property
    def log_keys(self) -> list[str]:
        """The log names this plot needs (fit refuses a fit without them before training)."""
        return list(self.keys or ())

    # Callback hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Raises RuntimeError: the plot is watching another model's fit that still trains
        (its epochs would interleave with this one's on one x axis)."""
        watched = self._watching() if self._watching is not None else None
        if watched is not None and watched is not self.model and getattr(
                watched, "_fitting", False):
            raise RuntimeError("LivePlot: this plot is watching another model's fit, which is "
                               "still training; give each fit running at once its own LivePlot")
        self._watching = weakref.ref(self.model) if self.model is not None else None
        self.device = getattr(self.model, "device", None) or self.device
        self._first_epoch = self.epochs.count

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.keys is None or not self.series:
            self._choose_keys(logs)
        self.epochs.append(self._first_epoch + epoch + 1)
        for key, series in self.series.items():
            series.append(float(logs.get(key, np.nan)))
        self._request_frame()

    async def on_train_end(self, logs: Logs | None = None) -> None:
        if self._drawing is not None:  # the last epochs are on screen when fit returns
            await self._drawing

    def _choose_keys(self, logs: Logs) -> None:
        """The series to draw: ``keys`` (checked once), or every key logged so far but
        mixed_float16's loss_scale and skipped_steps; a key a later fit adds (metrics,
        validation data) starts at that fit's first epoch."""
        if self.keys is not None:
            missing = [key for key in self.keys if key not in logs]
            if missing:
                raise ValueError(f"LivePlot: keys {missing} are not among the logged values "
                                 f"{sorted(logs)}; pick some of those (val_* needs validation "
                                 "data)")
            chosen = self.keys
        else:  # each value beside its val_ twin: loss, val_loss, accuracy, val_accuracy ...
            chosen, drawable = [], [key for key in logs if key not in LOSS_SCALING_KEYS]
            for key in drawable:
                if not key.startswith("val_"):
                    chosen += [key] + ([f"val_{key}"] if f"val_{key}" in drawable else [])
            chosen += [key for key in drawable if key not in chosen]
        for key in chosen:
            if key not in self.series:
                self.series[key] = Series(missing=self.epochs.count)

    # Drawing --------------------------------------------------------------------------------
    def curves(self) -> list[Curve]:
        """The curves as drawn now (views of the data, safe to read on another thread)."""
        x = self.epochs.view()
        return [Curve(key, x, series.view()[:len(x)], TAB10[index % len(TAB10)])
                for index, (key, series) in enumerate(self.series.items())]

    def _scene(self, size: tuple[int, int]):
        """A builder of the chart of the curves as they are now (run on the GPU thread)."""
        curves = self.curves()
        return lambda: line_chart(size[0], size[1], curves, self.title, self.log_scale)

    async def _device_async(self) -> Device:
        return self.device or await asyncio.to_thread(_open_default_device)

    async def render_async(self) -> np.ndarray:
        """The picture now: uint8 RGBA [height, width, 4] (one submit, one readback)."""
        return await renderer.draw_async(await self._device_async(), self._scene(self.size))

    def render(self) -> np.ndarray:
        """``render_async`` for synchronous code: blocks this thread while the GPU thread
        draws (behind any training work queued before)."""
        device = self.device or _open_default_device()
        build = self._scene(self.size)
        return device.run_sync(lambda: renderer.draw(device, build()))

    async def save_png_async(self, path: str | os.PathLike) -> None:
        """Draw the plot now and write it to ``path`` as a PNG (any time, headless too),
        atomically: a failed save leaves the file that was there.

        Raises:
            TypeError, ValueError: ``path`` names a directory, a missing folder or something
                other than a file (before anything is drawn).
        """
        check_path(path)
        pixels = await self.render_async()
        await asyncio.to_thread(write_png, path, pixels)

    def save_png(self, path: str | os.PathLike) -> None:
        """``save_png_async`` for synchronous code (blocks while the frame is drawn)."""
        check_path(path)
        write_png(path, self.render())

    # Live canvases --------------------------------------------------------------------------
    def _live_canvas(self) -> places.LiveCanvas | None:
        if self._canvas is None and self.place in ("window", "jupyter"):
            self._canvas = places.LiveCanvas(self.place, *self.size, self.title)
        return self._canvas

    def _request_frame(self) -> None:
        if self._live_canvas() is None:
            return  # offscreen: nobody to show a frame to
        self._dirty = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # synchronous code: the next epoch (or show()) in a loop draws
            return
        if self._drawing is None or self._drawing.done():
            self._drawing = loop.create_task(self._draw_frames())

    async def _draw_frames(self) -> None:
        """Draw while new epochs keep arriving, at most ``max_fps`` frames a second."""
        loop = asyncio.get_running_loop()
        while self._dirty and self._canvas is not None and not self._canvas.closed:
            self._dirty = False
            started = loop.time()
            device = await self._device_async()
            pixels = await renderer.draw_async(device, self._scene(self._canvas.size(self.size)))
            self.frames += 1
            self._canvas.show(pixels)
            await asyncio.sleep(max(0.0, 1 / self.max_fps - (loop.time() - started)))

    def show(self) -> Any:
        """Open the window, or display the widget in a notebook (the last expression of a
        cell, ``plot``, displays it too), and draw the current curves. Offscreen: nothing to
        show (use ``save_png``). Returns the rendercanvas canvas, or None offscreen."""
        live = self._live_canvas()
        if live is None:
            return None
        if self.place == "jupyter":
            from IPython.display import display
            display(live.canvas)
        self._request_frame()
        return live.canvas

    def _repr_mimebundle_(self, include=None, exclude=None):
        if self.place != "jupyter":
            return {"text/plain": repr(self)}
        live = self._live_canvas()
        self._request_frame()
        return live.canvas._repr_mimebundle_(include=include, exclude=exclude)

    def __repr__(self) -> str:
        return (f"LivePlot({list(self.series) or self.keys or 'all keys'}, "
                f"epochs={self.epochs.count}, show={self.place!r}, frames={self.frames})")
