"""Plots drawn by the model's own GPU: training curves that update during ``fit``
(``LivePlot``, a callback) and the decision surface of a two-input model.

    plot = LivePlot(log_scale=True)                 # window, notebook widget or offscreen
    await model.fit(x, y, TrainingOptions(epochs=500, callbacks=[plot]))
    plot.save_png("training.png")
    await decision_surface(model, x, y, path="surface.png")

Both draw with one WGSL render pipeline (shaders/plot/chart.wgsl) on the model's device, into
canvases from rendercanvas (glfw windows, Jupyter widgets) or offscreen.
"""

from .live import LivePlot
from .png import read_png, write_png
from .surface import decision_surface

__all__ = ["LivePlot", "decision_surface", "read_png", "write_png"]
