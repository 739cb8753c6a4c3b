"""Handwritten digits with a small CNN: scikit-learn's bundled 8×8 digits as [N, 8, 8, 1] images
(no download), two 3×3 convolutions, max pooling, dropout and a Dense head, trained with Adam,
holding out 20% for validation.

    python examples/digits_cnn.py [--epochs 30] [--min-accuracy 0.98] [--dtype mixed_float16]
"""

import argparse
import asyncio
import time

import numpy as np

from intricate import Model, TrainingOptions
from intricate.callbacks import EarlyStopping
from intricate.datasets import load_digits
from intricate.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, SoftMax
from intricate.optimizers import Adam


def build(dtype: str = "float32") -> Model:
    """8×8×1 → conv 3×3 (16, same) → conv 3×3 (32) → 6×6×32 → max pool 2 → 3×3×32 → 64 → 10."""
    return Model([Conv2D(1, 16, 3, padding="same"), ReLU(),
                  Conv2D(16, 32, 3), ReLU(), MaxPool2D(2), Flatten(),
                  Dropout(0.25), Dense(288, 64), ReLU(), Dense(64, 10), SoftMax()],
                 input_shape=(8, 8, 1), seed=0, dtype=dtype)


async def main(epochs: int, min_accuracy: float, dtype: str = "float32") -> float:
    images, labels = load_digits()  # [1797, 8, 8, 1] float32 in [0, 1], labels 0..9
    order = np.random.default_rng(0).permutation(len(labels))
    x = images[order]
    y = np.eye(10, dtype=np.float32)[labels[order]]  # one-hot labels

    model = build(dtype)
    model.summary()
    start = time.perf_counter()
    history = await model.fit(x, y, TrainingOptions(
        optimizer=Adam(learning_rate=0.003), loss_algorithm="categorical_crossentropy",
        epochs=epochs, batch_size=32, validation_split=0.2, metrics=["accuracy"], seed=0,
        verbose=2, callbacks=[EarlyStopping(monitor="val_loss", patience=5,
                                            restore_best_weights=True)]))
    seconds = time.perf_counter() - start
    held_out = len(x) - int(len(x) * 0.8)  # validation_split keeps the last 20%, as Keras does
    loss, accuracy = await model.evaluate(x[-held_out:], y[-held_out:])
    print(f"{model.dtype}: validation accuracy {accuracy:.4f} (loss {loss:.4f}) after "
          f"{len(history.loss)} epochs in {seconds:.1f} s")
    assert accuracy >= min_accuracy, f"validation accuracy {accuracy:.4f} < {min_accuracy}"
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--min-accuracy", type=float, default=0.98)
    parser.add_argument("--dtype", choices=["float32", "float64", "mixed_float16"],
                        default="float32", help="the model's precision policy (README: Precision)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.epochs, arguments.min_accuracy, arguments.dtype))
