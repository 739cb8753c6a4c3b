"""MNIST with the classic Keras example CNN (two 3×3 convolutions of 32 and 64 channels, 2×2 max
pooling, dropout, Dense 128, dropout, Dense 10), on the four MNIST files you downloaded into a
folder (nothing is downloaded here; README → Datasets says where to get them). Fashion-MNIST's
files work the same way.

    python examples/mnist_cnn.py --data ~/data/mnist [--epochs 12] [--limit 60000]
"""

import argparse
import asyncio
import sys
import time

import numpy as np

from intricate import Model, TrainingOptions
from intricate.datasets import load_mnist
from intricate.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, SoftMax
from intricate.optimizers import Adam


def build() -> Model:
    """28×28×1 → 26×26×32 → 24×24×64 → 12×12×64 → 9216 → 128 → 10."""
    return Model([Conv2D(1, 32, 3), ReLU(), Conv2D(32, 64, 3), ReLU(), MaxPool2D(2),
                  Dropout(0.25), Flatten(), Dense(9216, 128), ReLU(), Dropout(0.5),
                  Dense(128, 10), SoftMax()], input_shape=(28, 28, 1), seed=0)


def images_and_labels(images: np.ndarray, labels: np.ndarray, limit: int):
    """uint8 [N, 28, 28] → float32 [N, 28, 28, 1] in [0, 1]; labels → one-hot [N, 10]."""
    x = images[:limit, :, :, None].astype(np.float32) / 255.0
    return x, np.eye(10, dtype=np.float32)[labels[:limit]]


async def main(folder: str, epochs: int, limit: int, min_accuracy: float) -> float:
    try:
        (train_images, train_labels), (test_images, test_labels) = load_mnist(folder)
    except FileNotFoundError as error:
        sys.exit(f"mnist_cnn: {error}")
    x, y = images_and_labels(train_images, train_labels, limit)
    x_test, y_test = images_and_labels(test_images, test_labels, limit)
    model = build()
    model.summary()
    start = time.perf_counter()
    await model.fit(x, y, TrainingOptions(
        optimizer=Adam(learning_rate=0.001), loss_algorithm="categorical_crossentropy",
        epochs=epochs, batch_size=128, metrics=["accuracy"], seed=0, verbose=2,
        validation_data=(x_test, y_test)))
    seconds = time.perf_counter() - start
    loss, accuracy = await model.evaluate(x_test, y_test)
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} images after "
          f"{epochs} epochs on {len(x)} in {seconds:.1f} s")
    assert accuracy >= min_accuracy, f"test accuracy {accuracy:.4f} < {min_accuracy}"
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="~/data/mnist", help="the folder of the four files")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--limit", type=int, default=60000, help="use the first N images")
    parser.add_argument("--min-accuracy", type=float, default=0.0,
                        help="fail below this test accuracy (Keras' twin of this network "
                             "reaches about 0.99)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.data, arguments.epochs, arguments.limit, arguments.min_accuracy))
