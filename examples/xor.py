"""XoR, as in the original Intricate: Dense(2, 3) TanH Dense(3, 1) TanH, MeanSquared, lr 0.1."""

import asyncio

import numpy as np

from intricate import Model, TrainingOptions
from intricate.layers import Dense, TanH
from intricate.losses import MeanSquared

x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y = np.array([[0], [1], [1], [0]], dtype=np.float32)


async def main() -> None:
    model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], seed=0)
    history = await model.fit(x, y, TrainingOptions(
        learning_rate=0.1, loss_algorithm=MeanSquared(), should_print_information=True,
        instantiate_gpu=True, epochs=10000))
    predictions = await model.predict(x)
    print(f"final loss {history.loss[-1]:.6f}")
    for inputs, output in zip(x, predictions):
        print(f"{inputs} -> {output[0]:.4f}")
    assert history.loss[-1] < 0.01, "XoR did not converge"
    assert (np.round(predictions) == y).all(), "XoR predictions are wrong"


if __name__ == "__main__":
    asyncio.run(main())
