"""intricate.plot: curves, colours, tick labels and log decades where the data says, read
back from PNG files drawn offscreen on the model's device; a plot costs fit no readback; the
event loop keeps running while a live plot draws; the decision surface of a trained XoR."""

from __future__ import annotations

import asyncio
import math
import os

import numpy as np
import pytest
from test_training import STALL_LIMIT, XOR_X, XOR_Y, while_ticking

from intricate import Model, TrainingOptions
from intricate.layers import Dense, Sigmoid, SoftMax, TanH
from intricate.plot import LivePlot, decision_surface, read_png, write_png
from intricate.plot import canvas as places
from intricate.plot.chart import GRID, Axes, decimated, line_chart
from intricate.plot.scene import BLACK, TAB10

SIZE = (400, 320)


def rgb(color) -> np.ndarray:
    return np.round(np.array(color[:3]) * 255)


def matches(pixels: np.ndarray, color, tolerance: float = 3) -> np.ndarray:
    """Where ``pixels`` [h, w, 4] show ``color`` (RGB within ``tolerance`` of 255)."""
    return (np.abs(pixels[..., :3].astype(np.int64) - rgb(color)) <= tolerance).all(axis=-1)


def fed_plot(device, series: dict[str, np.ndarray], **options) -> LivePlot:
    """A LivePlot given ``series`` as fit would give them, epoch by epoch."""
    plot = LivePlot(show="offscreen", size=SIZE, device=device, **options)
    for epoch in range(len(next(iter(series.values())))):
        plot.on_epoch_end(epoch, {key: float(values[epoch]) for key, values in series.items()})
    return plot


def mapping(plot: LivePlot):
    """Data -> pixel functions of the picture ``plot`` draws (the layout the host chose)."""
    scene = line_chart(*plot.size, plot.curves(), plot.title, plot.log_scale)
    left, top, right, bottom = scene.plot
    x0, y0, x1, y1 = scene.data

    def pixel(x: float, y: float) -> tuple[int, int]:
        y = math.log10(y) if plot.log_scale else y
        return (int(left + (x - x0) / (x1 - x0) * (right - left)),
                int(bottom - (y - y0) / (y1 - y0) * (bottom - top)))
    return pixel, scene


async def test_a_straight_line_and_a_step_land_where_the_data_says(device, tmp_path):
    epochs = np.arange(1, 41)
    line, step = epochs / 40, np.where(epochs <= 20, 0.2, 0.8)
    plot = fed_plot(device, {"line": line, "step": step})
    await plot.save_png_async(tmp_path / "curves.png")
    pixels = read_png(tmp_path / "curves.png")
    assert pixels.shape == (SIZE[1], SIZE[0], 4)
    pixel, scene = mapping(plot)
    line_color, step_color = TAB10[0], TAB10[1]
    for epoch in (3, 10, 17, 25):  # away from the legend in the top right corner
        x, y = pixel(epoch, epoch / 40)
        assert matches(pixels[y - 2:y + 3, x], line_color).any(), (epoch, x, y)
        column = matches(pixels[:, x], line_color)
        assert not column[:y - 4].any() and not column[y + 5:].any()  # only there
    for epoch, level, other in ((5, 0.2, 0.8), (15, 0.2, 0.8), (24, 0.8, 0.2)):
        x, y = pixel(epoch, level)
        assert matches(pixels[y - 2:y + 3, x], step_color).any(), (epoch, x, y)
        _, elsewhere = pixel(epoch, other)
        assert not matches(pixels[elsewhere - 3:elsewhere + 4, x], step_color).any()
    x_jump, _ = pixel(20.5, 0.5)  # the rise between epochs 20 and 21 is drawn, vertically
    _, y_middle = pixel(20.5, 0.5)
    assert matches(pixels[y_middle, x_jump - 6:x_jump + 7], step_color).any()


async def test_each_series_has_its_own_colour_and_legend_entry(device, tmp_path):
    epochs = np.arange(1, 31)
    series = {"loss": 1 / epochs, "val_loss": 1.1 / epochs, "accuracy": 1 - 0.5 / epochs,
              "val_accuracy": 1 - 0.6 / epochs}
    plot = fed_plot(device, series)
    assert list(plot.series) == ["loss", "val_loss", "accuracy", "val_accuracy"]  # twins paired
    plot.save_png(tmp_path / "colours.png")  # the synchronous twin
    pixels = read_png(tmp_path / "colours.png")
    _, scene = mapping(plot)
    left, top, right, bottom = (int(v) for v in scene.plot)
    for index in range(4):
        found = matches(pixels[top:bottom, left:right], TAB10[index])
        assert found.sum() > 60, (index, found.sum())  # a curve plus its legend swatch
    assert not matches(pixels, TAB10[4]).any()  # no fifth series


async def test_tick_labels_are_drawn_beside_their_ticks(device, tmp_path):
    plot = fed_plot(device, {"loss": np.linspace(0.0, 1.0, 11)})
    await plot.save_png_async(tmp_path / "ticks.png")
    pixels = read_png(tmp_path / "ticks.png")
    pixel, scene = mapping(plot)
    left, top, right, bottom = (int(v) for v in scene.plot)
    text = matches(pixels, BLACK, tolerance=40)
    for value in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):  # each y label: text left of its tick
        _, y = pixel(1, value)
        assert text[y - 6:y + 7, :left - 6].sum() > 10, value
    assert text[bottom + 6:bottom + 30, left:right].sum() > 50  # the epoch labels
    _, y_between = pixel(1, 0.1)  # between two labels: no text
    assert text[y_between - 2:y_between + 3, :left - 6].sum() == 0


async def test_log_scale_places_decades_evenly(device, tmp_path):
    epochs = np.arange(1, 51)
    losses = 10.0 ** (1 - 4 * (epochs - 1) / 49)  # 10 down to 0.001: a line in log space
    plot = fed_plot(device, {"loss": losses}, log_scale=True)
    await plot.save_png_async(tmp_path / "log.png")
    pixels = read_png(tmp_path / "log.png")
    pixel, scene = mapping(plot)
    left, top, right, bottom = (int(v) for v in scene.plot)
    assert scene.data[1] == -3 and scene.data[3] == 1  # log10 units, whole decades
    column = pixels[top:bottom + 1, left + 3]  # left of the curve's start: grid lines only
    rows = np.flatnonzero(matches(column, GRID, tolerance=2)) + top
    rows = np.append(rows, bottom)  # the lowest decade is the x axis itself
    assert len(rows) == 5, rows  # 0.001, 0.01, 0.1, 1, 10
    gaps = np.diff(np.sort(rows))
    assert gaps.max() - gaps.min() <= 1, gaps
    for epoch in (8, 25, 42):  # the curve is straight in log space, through its values
        x, y = pixel(epoch, losses[epoch - 1])
        assert matches(pixels[y - 2:y + 3, x], TAB10[0]).any(), epoch


def test_png_files_round_trip(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (7, 5, 4), dtype=np.uint8)
    write_png(tmp_path / "noise.png", pixels)
    assert (tmp_path / "noise.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(read_png(tmp_path / "noise.png"), pixels)


def test_a_million_epochs_are_decimated_keeping_their_extremes():
    x = np.arange(1, 10**6 + 1, dtype=np.float64)
    y = np.sin(x / 1000.0)
    y[123456] = 50.0  # a spike must survive
    kept_x, kept_y = decimated(x, y, 300)
    assert len(kept_x) <= 4 * 300 and np.all(np.diff(kept_x) > 0)
    assert kept_y.max() == 50.0 and kept_x[0] == 1 and kept_x[-1] == 10**6


async def xor_model(device, epochs: int, plot: LivePlot | None = None):
    model = Model([Dense(2, 8), TanH(), Dense(8, 1), Sigmoid()], device=device, seed=0)
    callbacks = [plot] if plot is not None else []
    await model.fit(XOR_X, XOR_Y, TrainingOptions(
        learning_rate=0.5, epochs=epochs, callbacks=callbacks, metrics=["binary_accuracy"]))
    return model


class ShownFrames:
    """A live canvas without a screen: counts the frames a live plot shows (a test double
    for the rendercanvas canvas only; frames are drawn on the GPU as for a window)."""

    closed = False

    def __init__(self) -> None:
        self.shown = []

    def size(self, default):
        return default

    def show(self, pixels):
        self.shown.append(pixels)


async def test_a_plot_costs_fit_no_readback(device):
    await xor_model(device, 1)  # compile everything first
    counts = []
    for plot in (None, LivePlot(show="offscreen", device=device)):
        device.stats.reset()
        await xor_model(device, 250, plot)
        counts.append({key: device.stats[key] for key in
                       ("submits", "readbacks", "dispatches", "uploads")})
    assert counts[0] == counts[1]
    assert counts[0]["readbacks"] == math.ceil(250 / 3)  # every 3rd epoch, not every epoch
    live = LivePlot(show="offscreen", device=device)
    live._canvas = frames = ShownFrames()  # a live plot draws while fit runs
    device.stats.reset()
    await xor_model(device, 250, live)
    drawn = len(frames.shown)
    assert 1 <= drawn == live.frames <= counts[0]["readbacks"]
    # Each frame is one submit and one pixel readback; the training's are unchanged.
    assert device.stats["readbacks"] == counts[0]["readbacks"] + drawn
    assert device.stats["submits"] == counts[0]["submits"] + drawn
    assert device.stats["dispatches"] == counts[0]["dispatches"]
    assert live.epochs.count == 250 and frames.shown[-1].shape == (400, 640, 4)


@pytest.mark.serial  # measures event-loop gaps: alone, not beside another test process
async def test_the_event_loop_keeps_running_while_a_live_plot_draws(device):
    async def fit():
        model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0)
        plot = LivePlot(show="offscreen", device=device, log_scale=True)
        plot._canvas = frames = ShownFrames()
        device.stats.reset()
        return plot, frames, await model.fit(XOR_X, XOR_Y, TrainingOptions(
            learning_rate=0.1, epochs=10000, callbacks=[plot]))

    (plot, frames, history), ticker = await while_ticking(fit)
    assert len(history.loss) == 10000 and plot.epochs.count == 10000
    assert device.stats["readbacks"] == 100 + len(frames.shown)  # fit's 100, plus the frames
    assert len(frames.shown) >= 2
    print(f"longest event-loop gap with a live plot: {ticker.longest_gap * 1000:.1f} ms, "
          f"{len(frames.shown)} frames")
    assert ticker.longest_gap < STALL_LIMIT


async def test_decision_surface_of_a_trained_xor_has_the_right_colours(device, tmp_path):
    model = await xor_model(device, 1500)
    assert np.array_equal(np.round(await model.predict(XOR_X)), XOR_Y)
    pixels = await decision_surface(model, XOR_X, XOR_Y, path=tmp_path / "xor.png",
                                    resolution=64)
    assert np.array_equal(read_png(tmp_path / "xor.png"), pixels)
    assert pixels.shape == (440, 560, 4)  # the default size
    surface = pixels[..., :3].astype(np.int64)
    red, blue = surface[..., 0], surface[..., 2]
    class_zero, class_one = blue > red + 40, red > blue + 40  # blue (0) or orange (1) wash
    for target in (0, 1):  # the samples' discs, in their class's colour
        assert matches(pixels, TAB10[target], tolerance=2).sum() > 40, target
    # The four corners of the unit square, just outside each sample's disc (away from the
    # centre): XoR's (0,0) and (1,1) are class 0, the others class 1.
    scene_pixel = surface_mapping(pixels)
    for (a, b), target in zip(XOR_X, XOR_Y[:, 0]):
        x, y = scene_pixel(a, b)
        dx, dy = (-12 if a == 0 else 12), (12 if b == 0 else -12)
        patch = slice(y + dy - 3, y + dy + 4), slice(x + dx - 3, x + dx + 4)
        wanted = class_one if target == 1 else class_zero
        assert wanted[patch].all(), ((a, b), surface[y + dy, x + dx])


def surface_mapping(pixels: np.ndarray):
    """Data -> pixel for decision_surface's picture of XoR, found from its axes: the plot
    area's frame lines and the tick labels' range (-0.5 to 1.5, in steps of 0.5)."""
    dark = matches(pixels, BLACK, tolerance=10)
    rows = np.flatnonzero(dark.sum(axis=1) > 200)  # the x axis: a long dark row
    columns = np.flatnonzero(dark.sum(axis=0) > 200)  # the y axis
    bottom, left = rows.max(), columns.min() + 1
    right = left + np.flatnonzero(dark[bottom, left:] == 0)[0]
    top = np.flatnonzero(dark[:, left - 1])[0]

    def pixel(a: float, b: float) -> tuple[int, int]:
        return (int(left + (a + 0.5) / 2 * (right - left)),
                int(bottom - (b + 0.5) / 2 * (bottom - top)))
    return pixel


async def test_bad_arguments_are_refused_before_any_gpu_work(device):
    for options, message in (({"keys": "loss"}, "keys"), ({"size": (8, 8)}, "size"),
                             ({"title": "naïve"}, "printable ASCII"),
                             ({"show": "tv"}, "show"), ({"max_fps": 60}, "max_fps"),
                             ({"log_scale": "yes"}, "log_scale")):
        with pytest.raises((ValueError, TypeError), match=message):
            LivePlot(**options)
    three_inputs = Model([Dense(3, 1)], device=device, seed=0)
    two_inputs = Model([Dense(2, 1)], device=device, seed=0)
    device.stats.reset()
    with pytest.raises(ValueError, match="2 inputs"):
        await decision_surface(three_inputs, np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="labels"):
        await decision_surface(two_inputs, XOR_X, np.zeros(3))
    with pytest.raises(ValueError, match="resolution"):
        await decision_surface(two_inputs, XOR_X, XOR_Y, resolution=1)
    classes = Model([Dense(2, 3), SoftMax()], device=device, seed=0)
    for labels, message in (([0, 1, 5, 1], "labels 0 to 2.*received 5 at index 2"),
                            ([0, -1, 2, 1], "received -1 at index 1"),
                            ([0.2, 1, 2, 1], r"received 0.2 at index 0"),
                            (np.zeros((4, 5)), r"targets \[samples, 3\].*\(4, 5\)")):
        with pytest.raises(ValueError, match=message):
            await decision_surface(classes, XOR_X, np.array(labels))
    assert device.stats["submits"] == device.stats["dispatches"] == 0
    plot = LivePlot(["loss", "val_loss"], show="offscreen", device=device)
    with pytest.raises(ValueError, match="val_loss"):
        plot.on_epoch_end(0, {"loss": 1.0})
    with pytest.raises(ValueError, match=r"LivePlot: key 'val_loss' is not among the logged "
                                         r"values \['loss'\].*validation data"):
        await two_inputs.fit(XOR_X, XOR_Y, TrainingOptions(epochs=1000, callbacks=[plot]))
    assert device.stats["submits"] == device.stats["uploads"] == 0  # refused before training


def test_auto_chooses_a_widget_a_window_or_offscreen(monkeypatch):
    monkeypatch.setattr(places, "in_notebook", lambda: False)
    monkeypatch.setattr(places, "gui_backend", lambda: None)
    assert places.choose("auto") == "offscreen"
    monkeypatch.setattr(places, "gui_backend", lambda: "glfw")
    monkeypatch.setattr(places, "has_display", lambda: False)
    assert places.choose("auto") == "offscreen"  # glfw but no display (CI, ssh)
    monkeypatch.setattr(places, "has_display", lambda: True)
    assert places.choose("auto") == "window"
    monkeypatch.setattr(places, "in_notebook", lambda: True)
    assert places.choose("auto") == "jupyter"
    assert places.choose("offscreen") == "offscreen"  # an explicit choice wins


class CancelsAtEpoch(LivePlot):
    """A live plot whose watching hook cancels the fit at ``epoch``, mid-window, and awaits
    (as any async watcher may) before the window's other rows are filed."""

    def __init__(self, epoch: int, **options) -> None:
        super().__init__(show="offscreen", **options)
        self.cancel_at = epoch

    async def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if epoch == self.cancel_at:
            asyncio.current_task().cancel()
        await asyncio.sleep(0)


async def test_a_cancelled_fit_plots_every_epoch_its_history_keeps(device):
    reference = Model([Dense(2, 8), TanH(), Dense(8, 1), Sigmoid()], device=device, seed=0)
    await reference.fit(XOR_X, XOR_Y, TrainingOptions(learning_rate=0.5, epochs=20))
    plot = CancelsAtEpoch(2, device=device)
    with pytest.raises(asyncio.CancelledError):  # 1000 epochs: fit reads every 10th
        await xor_model(device, 1000, plot)
    model = plot.model
    # Two windows of 10 trained (the second was submitted while the first was read): all 20
    # are in the history, in order, and on the plot (they were 3 before: the cancel dropped the
    # rest of the window being filed, and the plot never heard of the second one).
    assert model.history.epoch == list(range(20))
    np.testing.assert_allclose(model.history.loss, reference.history.loss, rtol=1e-6)
    assert plot.epochs.count == 20
    np.testing.assert_array_equal(plot.series["loss"].view(), model.history.loss)


async def test_a_loss_moving_by_1e_8_or_past_float32_is_drawn_where_it_is(device):
    epochs = np.arange(1, 51)
    # A plateau: float32 data coordinates (spacing 6e-8 at 0.5) drew it as a staircase.
    plot = fed_plot(device, {"loss": 0.5 + 2e-8 * epochs})
    pixels = await plot.render_async()
    pixel, _ = mapping(plot)
    for epoch in (4, 11, 18, 26, 33):
        x, y = pixel(epoch, 0.5 + 2e-8 * epoch)
        assert matches(pixels[y - 2:y + 3, x], TAB10[0]).any(), (epoch, x, y)
    huge = fed_plot(device, {"loss": 1e300 * epochs})  # float64 losses: no float32 overflow
    pixels = await huge.render_async()
    pixel, _ = mapping(huge)
    x, y = pixel(20, 2e301)
    assert matches(pixels[y - 2:y + 3, x], TAB10[0]).any()


def test_tick_labels_of_a_narrow_range_tell_the_ticks_apart():
    for values in (0.5 + 2e-8 * np.arange(50), 123456.7 + 0.01 * np.arange(50),
                   1e7 + np.array([0.0, 1.0])):
        labels = Axes.fit(values, False, 6).labels()
        assert len(set(labels)) == len(labels) > 1, labels  # were "0.500000" x6, "1.235e5" x6
    assert Axes.fit(np.linspace(0, 1e6, 5), False, 6).labels()[:3] == ["0", "2e5", "4e5"]


async def test_a_bad_png_path_is_refused_before_drawing_and_keeps_the_old_file(device, tmp_path):
    plot = fed_plot(device, {"loss": np.linspace(1.0, 0.1, 5)})
    model = Model([Dense(2, 1)], device=device, seed=0)
    device.stats.reset()
    for path, message in ((tmp_path, "is a directory"), (tmp_path / "no" / "x.png", "create it"),
                          (3, "file name")):
        with pytest.raises((TypeError, ValueError), match=message):
            await plot.save_png_async(path)
        with pytest.raises((TypeError, ValueError), match=message):
            plot.save_png(path)
        with pytest.raises((TypeError, ValueError), match=message):
            await decision_surface(model, XOR_X, XOR_Y, path=path)
    assert device.stats["submits"] == device.stats["readbacks"] == 0  # nothing drawn
    old = tmp_path / "old.png"
    old.write_bytes(b"the old picture")
    def full_disk(descriptor):
        raise OSError(28, "No space left on device")

    with pytest.MonkeyPatch.context() as patch:  # the write fails once the file is written
        patch.setattr(os, "fsync", full_disk)
        with pytest.raises(OSError, match="No space"):
            plot.save_png(old)
    assert old.read_bytes() == b"the old picture" and os.listdir(tmp_path) == ["old.png"]


async def test_a_later_fit_adds_its_new_metrics(device):
    plot = LivePlot(show="offscreen", device=device)
    model = await xor_model(device, 20, plot)  # loss and binary_accuracy
    await model.fit(XOR_X, XOR_Y, TrainingOptions(epochs=20, callbacks=[plot],
                                                  validation_data=(XOR_X, XOR_Y)))
    assert list(plot.series) == ["loss", "binary_accuracy", "val_loss"]  # val_loss was lost
    val_loss = plot.series["val_loss"].view()
    assert np.isnan(val_loss[:20]).all() and np.array_equal(val_loss[20:],
                                                            model.history.history["val_loss"])
    assert np.isnan(plot.series["binary_accuracy"].view()[20:]).all()  # not logged: a gap
    pixels = await plot.render_async()
    assert matches(pixels, TAB10[2]).sum() > 60  # val_loss is drawn in the third colour


async def test_a_plot_watching_a_fit_refuses_another_models_fit_meanwhile(device):
    plot = LivePlot(show="offscreen", device=device)
    model = await xor_model(device, 40, plot)
    other = Model([Dense(2, 8), TanH(), Dense(8, 1), Sigmoid()], device=device, seed=1)
    first = asyncio.create_task(model.fit(XOR_X, XOR_Y, TrainingOptions(
        epochs=3000, callbacks=[plot])))
    while plot.epochs.count == 40:  # the first fit is training
        await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="another model's fit.*its own LivePlot"):
        await other.fit(XOR_X, XOR_Y, TrainingOptions(epochs=10, callbacks=[plot]))
    await first
    assert np.array_equal(plot.epochs.view(), np.arange(1, 3041))  # one fit's epochs, in order
    await other.fit(XOR_X, XOR_Y, TrainingOptions(epochs=10, callbacks=[plot]))  # once done
    assert plot.epochs.count == 3050


async def test_ten_classes_have_ten_colours_and_eleven_are_refused(device):
    ten = Model([Dense(2, 10), SoftMax()], device=device, seed=0)
    points = np.random.default_rng(0).uniform(0, 1, (40, 2)).astype(np.float32)
    labels = np.arange(40) % 10
    pixels = await decision_surface(ten, points, labels, resolution=16)
    for label in (8, 9):  # the samples' discs and the legend's squares (were class 0's, 1's)
        assert matches(pixels, TAB10[label], tolerance=2).sum() > 100, label
    eleven = Model([Dense(2, 11), SoftMax()], device=device, seed=0)
    with pytest.raises(ValueError, match="at most 10 outputs .* told apart by colour"):
        await decision_surface(eleven, points, np.arange(40) % 11)
