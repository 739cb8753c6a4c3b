"""What fit and summary show: a tqdm bar over epochs (verbose=1) or one line per epoch
(verbose=2), updated only when the host reads the epoch statistics anyway (progress never costs
a readback); and the Keras-style summary table.

The bar is tqdm.auto's: a widget in a Jupyter kernel with ipywidgets installed, text elsewhere.
tqdm.auto is imported by the first fit that shows a bar, not with intricate: it picks the widget
bar by looking at the running kernel, and without ipywidgets it warns ("IProgress not found"),
which a notebook that never asks for a bar shouldn't see on ``import intricate``.
"""

from __future__ import annotations

import math
import sys


class Progress:
    def __init__(self, verbose: int, epochs: int) -> None:
        self.verbose, self.epochs = verbose, epochs
        self.bar = None
        if verbose == 1:
            from tqdm.auto import tqdm  # see the module's docstring

            self.bar = tqdm(total=epochs, unit="epoch", file=sys.stdout, dynamic_ncols=True,
                            mininterval=0.2)

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        """Epoch ``epoch`` (from 0) finished with ``logs``."""
        text = " - ".join(f"{key}: {value}" if isinstance(value, int)  # counts: skipped_steps
                          else f"{key}: {value:.4f}" for key, value in logs.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(epoch + 1 - self.bar.n)
        elif self.verbose == 2:
            print(f"Epoch {epoch + 1}/{self.epochs} - {text}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary_table(layers, input_shape: tuple[int, ...]) -> str:
    """Layers, output shapes ("(None, 26, 26, 8)") and parameter counts, as Keras'
    ``model.summary()`` lists them, with the trainable and non-trainable (states) totals."""
    rows, trainable, fixed = [], 0, 0
    for index, layer in enumerate(layers):
        count = sum(math.prod(shape) for _, shape in layer.parameter_shapes())
        states = sum(math.prod(shape) for _, shape in layer.state_shapes())
        trainable, fixed = trainable + count, fixed + states
        rows.append((f"{type(layer).__name__.lower()}_{index} ({type(layer).__name__})",
                     _batch_shape(layer.output_shape), f"{count + states:,}"))
    heading = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(row[i]) for row in [*rows, heading]) for i in range(3)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    rule = "-" * (sum(widths) + 4)
    totals = [f"Total params: {trainable + fixed:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {fixed:,}"]
    return "\n".join([f"Model: {len(layers)} layers, input {_batch_shape(input_shape)}", rule,
                      line.format(*heading), rule, *(line.format(*row) for row in rows), rule,
                      *totals])


def _batch_shape(shape: tuple[int, ...]) -> str:
    """A per-sample shape as Keras prints a batch's: (None, 26, 26, 8)."""
    return f"({', '.join(['None', *map(str, shape)])})"
