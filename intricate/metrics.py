"""Metrics, computed on the GPU beside the loss (see losses.wgsl's ``accumulate``).

Every batch adds (loss · rows, correct rows, Σ per-row mean |ŷ - y|) to running sums on the GPU;
an epoch's value is sum / samples. The original's "accuracy" (1 - |o - e| / max(o, e)) is NaN
when both are 0 and is not classification accuracy; it is not ported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ops.statistics import ACCURACY, BINARY, CATEGORICAL, LOSS, MAE, NO_ACCURACY

NAMES = {
    "accuracy": (ACCURACY, None), "acc": (ACCURACY, None),
    "binary_accuracy": (ACCURACY, BINARY), "categorical_accuracy": (ACCURACY, CATEGORICAL),
    "mae": (MAE, None), "mean_absolute_error": (MAE, None),
}


@dataclass(frozen=True)
class Metrics:
    """Which statistics to report, under which History keys, and how accuracy is measured."""

    names: tuple[str, ...]  # as the user wrote them: the History/log keys
    positions: tuple[int, ...]
    accuracy: int  # NO_ACCURACY, BINARY or CATEGORICAL

    def logs(self, values: Sequence[float], prefix: str = "") -> dict[str, float]:
        """{"loss": ..., "accuracy": ...} from one (loss, accuracy, mae) triple."""
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
        position, kind = NAMES[name.lower()]
        if position == ACCURACY:
            default = CATEGORICAL if outputs is not None and outputs > 1 else BINARY
            accuracy = kind or default
        names.append(name)
        positions.append(position)
    return Metrics(tuple(names), tuple(positions), accuracy)
