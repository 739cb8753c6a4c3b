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


def summary_table(layers, input_size: int) -> str:
    """Layers, output shapes and parameter counts, as Keras' ``model.summary()`` lists them."""
    rows, size, total = [], input_size, 0
    for index, layer in enumerate(layers):
        size = layer.output_size_for(size)
        count = sum(math.prod(shape) for _, shape in layer.parameter_shapes())
        total += count
        rows.append((f"{type(layer).__name__.lower()}_{index} ({type(layer).__name__})",
                     f"(None, {size})", f"{count:,}"))
    heading = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(row[i]) for row in [*rows, heading]) for i in range(3)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    rule = "-" * (sum(widths) + 4)
    return "\n".join([f"Model: {len(layers)} layers, input (None, {input_size})", rule,
                      line.format(*heading), rule, *(line.format(*row) for row in rows), rule,
                      f"Total params: {total:,} (all trainable)"])
