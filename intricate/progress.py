"""Progress output for fit: a tqdm bar over epochs (verbose=1) or one line per epoch (verbose=2).

Updated only when the host reads the epoch statistics anyway, so progress never costs a readback.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class Progress:
    def __init__(self, verbose: int, epochs: int) -> None:
        self.verbose, self.epochs = verbose, epochs
        self.bar = None
        if verbose == 1:
            self.bar = tqdm(total=epochs, unit="epoch", file=sys.stdout, dynamic_ncols=True,
                            mininterval=0.2)

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        """Epoch ``epoch`` (from 0) finished with ``logs``."""
        text = " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(epoch + 1 - self.bar.n)
        elif self.verbose == 2:
            print(f"Epoch {epoch + 1}/{self.epochs} - {text}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
