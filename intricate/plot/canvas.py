"""Where a plot shows: a desktop window (rendercanvas' glfw canvas), a notebook widget
(rendercanvas' anywidget canvas) or nowhere (offscreen: frames are drawn only for PNGs).

Live canvases get finished frames as bitmaps (rendercanvas' bitmap context): the frame is drawn
on the model's device on its GPU thread, and the canvas, on the event loop, only hands the
pixels on (a glfw window presents them through a small wgpu device of rendercanvas' own). So
no call on the model's device runs on the event loop, and the window's presentation never waits
behind training work in the model's queue. Checked under Xvfb with lavapipe: a glfw window
shows the curves while a fit trains.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import numpy as np

PLACES = ("auto", "window", "jupyter", "offscreen")
# Windows: glfw, whose rendercanvas canvas runs on the asyncio loop that fit runs on.
# rendercanvas' Qt canvas needs Qt's own event loop (a QApplication driving it), which an
# asyncio program doesn't run, so Qt alone does not make "auto" pick a window.
GUI_MODULES = {"glfw": "glfw"}


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (IPython with a kernel)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and shell.has_trait("kernel")


def gui_backend() -> str | None:
    """rendercanvas' backend for a GUI library that is installed ("glfw"), or None."""
    for module, backend in GUI_MODULES.items():
        if importlib.util.find_spec(module) is not None:
            return backend
    return None


def has_display() -> bool:
    """Whether windows can open: always on Windows and macOS, with X11 or Wayland elsewhere."""
    return sys.platform in ("win32", "darwin") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def check_place(show: object) -> str:
    """``show`` checked. Raises ValueError naming the choices."""
    if show not in PLACES:
        raise ValueError(f"show: expected one of {PLACES}, received {show!r}")
    return str(show)


def choose(show: str) -> str:
    """Where ``show`` ("auto" or a place) puts the plot: "auto" picks a notebook widget in a
    Jupyter kernel, a window when glfw is installed and a display is available, and offscreen
    otherwise."""
    if show != "auto":
        return show
    if in_notebook():
        return "jupyter"
    if gui_backend() is not None and has_display():
        return "window"
    return "offscreen"


def canvas_class(place: str):
    """The rendercanvas class for a live place.

    Raises:
        RuntimeError: the libraries it needs are missing, saying what to install.
    """
    if place == "jupyter":
        candidates, hint = ["anywidget", "jupyter"], "pip install anywidget"
    else:
        backend = gui_backend()
        candidates, hint = ([backend] if backend else []), "pip install glfw"
    errors = []
    for backend in candidates:
        try:
            return importlib.import_module(f"rendercanvas.{backend}").RenderCanvas
        except ImportError as error:
            errors.append(f"{backend}: {error}")
    found = "; ".join(errors) or "no GUI library is installed"
    raise RuntimeError(f"show={place!r}: no rendercanvas backend could be loaded ({found}); "
                       f"{hint}, or use show='offscreen' and save_png")


class LiveCanvas:
    """A rendercanvas canvas that shows the last frame given to ``show``."""

    def __init__(self, place: str, width: int, height: int, title: str) -> None:
        cls = canvas_class(place)
        self.canvas = cls(size=(width, height), title=title or "intricate", max_fps=30,
                          update_mode="ondemand")
        self.context = self.canvas.get_bitmap_context()
        self.pixels: np.ndarray | None = None
        self.canvas.request_draw(self._present)

    def _present(self) -> None:  # the canvas's draw function, called by its scheduler
        if self.pixels is not None:
            self.context.set_bitmap(self.pixels)

    def size(self, default: tuple[int, int]) -> tuple[int, int]:
        """The canvas's size in physical pixels (``default`` until it knows one)."""
        width, height = self.canvas.get_physical_size()
        return (int(width), int(height)) if width >= 16 and height >= 16 else default

    def show(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.canvas.request_draw()

    @property
    def closed(self) -> bool:
        return bool(self.canvas.get_closed())

    def close(self) -> None:
        self.canvas.close()
