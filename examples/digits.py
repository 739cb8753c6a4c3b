"""Handwritten digits: an MLP on scikit-learn's bundled 8×8 digits (1797 images, no download),
trained with Adam in batches of 32, holding out 20% for validation, in any of the model dtypes.

    python examples/digits.py [--epochs 30] [--min-accuracy 0.95] [--dtype mixed_float16]
"""

import argparse
import asyncio
import time

import numpy as np
from sklearn.datasets import load_digits

from intricate import Model, TrainingOptions
from intricate.callbacks import EarlyStopping
from intricate.layers import Dense, ReLU, SoftMax
from intricate.losses import CategoricalCrossEntropy
from intricate.optimizers import Adam


async def main(epochs: int, min_accuracy: float, dtype: str = "float32") -> float:
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.data[order] / 16.0).astype(np.float32)  # pixels 0..16 → 0..1
    y = np.eye(10, dtype=np.float32)[digits.target[order]]  # one-hot labels

    # The float32 pixels and labels suit every dtype: fit converts them to the model's.
    model = Model([Dense(64, 64), ReLU(), Dense(64, 10), SoftMax()], seed=0, dtype=dtype)
    model.summary()
    start = time.perf_counter()
    history = await model.fit(x, y, TrainingOptions(
        optimizer=Adam(learning_rate=0.003), loss_algorithm=CategoricalCrossEntropy(),
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
    parser.add_argument("--min-accuracy", type=float, default=0.95)
    parser.add_argument("--dtype", choices=["float32", "float64", "mixed_float16"],
                        default="float32", help="the model's precision policy (README: Precision)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.epochs, arguments.min_accuracy, arguments.dtype))
