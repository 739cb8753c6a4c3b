"""Metrics, computed on the GPU beside the loss (see losses.wgsl's ``accumulate``).

Every batch adds (loss · rows, binary-correct rows, Σ per-row mean |ŷ - y|, categorical-correct
rows) to running sums on the GPU (ops/statistics.py); an epoch's value is sum / samples. Keras'
definitions: binary_accuracy = mean over a row of (ŷ > 0.5) == y, so a soft target such as 0.7
is never matched; categorical_accuracy = argmax ŷ == argmax y (the first maximum on ties).
The original's "accuracy" (1 - |o - e| / max(o, e)) is NaN when both are 0 and is not
classification accuracy; it is not ported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ops.statistics import (
    BINARY,
    BINARY_ACCURACY,
    CATEGORICAL,
    CATEGORICAL_ACCURACY,
    LOSS,
    MAE,
    NO_ACCURACY,
)

# name -> (its field in the statistics layout, the accuracy flag it needs); "accuracy" -> None
NAMES = {
    "accuracy": None, "acc": None,
    "binary_accuracy": (BINARY_ACCURACY, BINARY),
    "categorical_accuracy": (CATEGORICAL_ACCURACY, CATEGORICAL),
    "mae": (MAE, NO_ACCURACY), "mean_absolute_error": (MAE, NO_ACCURACY),
}


@dataclass(frozen=True)
class Metrics:
    """Which statistics to report, under which History keys, and how accuracy is measured."""

    names: tuple[str, ...]  # as the user wrote them: the History/log keys
    positions: tuple[int, ...]
    accuracy: int  # the shader's accuracy flags: BINARY | CATEGORICAL, or NO_ACCURACY

    def logs(self, values: Sequence[float], prefix: str = "") -> dict[str, float]:
        """{"loss": ..., "accuracy": ...} from one slot's values (ops/statistics.FIELDS)."""
        logs = {f"{prefix}loss": float(values[LOSS])}
        for name, position in zip(self.names, self.positions):
            logs[prefix + name] = float(values[position])
        return logs


def resolve(metrics: Sequence[str] | None, outputs: int | None = None) -> Metrics:
    """Check metric names; "accuracy" means binary accuracy (ŷ > 0.5) for one output and
    categorical accuracy (argmax) for several, as Keras picks."""
    if metrics is None:
        metrics = ()
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise ValueError(f"metrics: expected a list of names such as ['accuracy'], "
                         f"received {metrics!r}")
    accuracy, names, positions = NO_ACCURACY, [], []
    for name in metrics:
        if not isinstance(name, str) or name.lower() not in NAMES:
            raise ValueError(f"metrics: expected names from {sorted(NAMES)}, received {name!r}")
        if name in names:  # one History key for two entries: [loss, *metrics] would be short
            raise ValueError(f"metrics: {name!r} is listed twice in {list(metrics)}; list each "
                             "metric once")
        chosen = NAMES[name.lower()]
        if chosen is None:  # "accuracy": binary for one output, categorical for several
            several = outputs is not None and outputs > 1
            chosen = NAMES["categorical_accuracy" if several else "binary_accuracy"]
        position, flag = chosen
        accuracy |= flag
        names.append(name)
        positions.append(position)
    return Metrics(tuple(names), tuple(positions), accuracy)
