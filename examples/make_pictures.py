"""Regenerate the README's two pictures: the training curves LivePlot drew while a small
network learned "two moons", and that network's decision surface.

    python examples/make_pictures.py                      # writes docs/images/*.png
    python examples/make_pictures.py --output /tmp/pics  # elsewhere

Both are drawn offscreen by the model's own device (lavapipe in CI); the script also prints
the median time of a 640x400 frame (drawn, read back), and ends by checking that the network
learned and the pictures were written.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import numpy as np

from intricate import Model, TrainingOptions
from intricate.layers import Dense, SoftMax, TanH
from intricate.plot import LivePlot, decision_surface, read_png

ROOT = Path(__file__).resolve().parents[1]


def two_moons(samples: int, noise: float, rng: np.random.Generator):
    """Two interleaved half circles (scikit-learn's make_moons), shuffled: x [samples, 2] and
    one-hot targets [samples, 2]."""
    half = samples // 2
    angles = rng.uniform(0, np.pi, samples)
    upper = np.stack([np.cos(angles[:half]), np.sin(angles[:half])], axis=1)
    lower = np.stack([1 - np.cos(angles[half:]), 0.5 - np.sin(angles[half:])], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0, noise, (samples, 2))
    labels = np.arange(samples) >= half
    order = rng.permutation(samples)
    return x[order].astype(np.float32), np.eye(2, dtype=np.float32)[labels[order].astype(int)]


async def main(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    x, y = two_moons(300, 0.12, np.random.default_rng(0))
    model = Model([Dense(2, 16), TanH(), Dense(16, 16), TanH(), Dense(16, 2), SoftMax()], seed=0)
    plot = LivePlot(title="Two moons: Adam, batch 32", show="offscreen")
    history = await model.fit(x, y, TrainingOptions(
        optimizer="adam", learning_rate=0.01, loss_algorithm="categorical_crossentropy",
        epochs=100, batch_size=32, validation_split=0.2, metrics=["accuracy"], seed=0,
        callbacks=[plot]))
    await plot.save_png_async(output / "live_plot.png")
    await decision_surface(model, x, y, path=output / "decision_surface.png",
                           title="Two moons: decision surface")
    seconds = []
    for _ in range(10):
        started = time.perf_counter()
        await plot.render_async()
        seconds.append(time.perf_counter() - started)
    accuracy = history.history["val_accuracy"][-1]
    print(f"validation accuracy {accuracy:.3f}; pictures in {output}; a 640x400 frame "
          f"(drawn and read back) takes {statistics.median(seconds) * 1000:.1f} ms "
          f"(median of 10) on {model.device.name}")
    assert accuracy > 0.9, accuracy
    for name, shape in (("live_plot.png", (400, 640, 4)), ("decision_surface.png", (440, 560, 4))):
        assert read_png(output / name).shape == shape, name


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images")
    asyncio.run(main(parser.parse_args().output))
