"""Loss functions: the value is reduced on the GPU, the gradient dL/dŷ computed by a shader.

Formulas (mean over the batch, like Keras) are in shaders/losses.wgsl's header.
"""

from __future__ import annotations

from .gpu import GPUArray, Program

SHADER = "losses.wgsl"


class Loss:
    """Base class: ``entry`` names the pair ``{entry}_value`` / ``{entry}_gradient``."""

    entry = ""
    aliases: tuple[str, ...] = ()

    def record_statistics(self, program: Program, predictions: GPUArray, targets: GPUArray,
                          statistics: GPUArray, slot: int = 0, accuracy: int = 0) -> None:
        """Record statistics[slot:slot + 3] += (L · rows, correct rows, Σ per-row MAE) for this
        batch, with one single-workgroup dispatch (accuracy: 0 none, 1 binary, 2 categorical)."""
        program.dispatch(SHADER, f"{self.entry}_value", groups=1,
                         params=_sizes(predictions, slot, accuracy), predictions=predictions,
                         targets=targets, statistics=statistics)

    def record_gradient(self, program: Program, predictions: GPUArray, targets: GPUArray,
                        grad_predictions: GPUArray, through_softmax: bool = False) -> None:
        """Record dL/dŷ; with ``through_softmax`` (SoftMax + CategoricalCrossEntropy only) the
        gradient into the SoftMax's inputs instead: (ŷ - y) / batch."""
        entry = "softmax_crossentropy" if through_softmax else self.entry
        program.dispatch(SHADER, f"{entry}_gradient", threads=predictions.size,
                         params=_sizes(predictions), predictions=predictions, targets=targets,
                         grad_predictions=grad_predictions)

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _sizes(predictions: GPUArray, slot: int = 0, accuracy: int = 0) -> dict[str, int]:
    rows, width = predictions.shape
    return {"count": rows * width, "batch": rows, "width": width, "slot": slot,
            "accuracy": accuracy, "train_count": 0, "val_count": 0}


def record_finish_epoch(program: Program, statistics: GPUArray, epoch_result: GPUArray,
                        train_count: int, val_count: int) -> None:
    """Record epoch_result = statistics / samples (train 0..3, validation 4..7); zero the sums."""
    program.dispatch(SHADER, "finish_epoch", groups=1, statistics=statistics,
                     epoch_result=epoch_result,
                     params={"count": 0, "batch": 0, "width": 0, "slot": 0, "accuracy": 0,
                             "train_count": train_count, "val_count": val_count})


class MeanSquared(Loss):
    """mean((ŷ - y)²) over the batch and the outputs."""

    entry = "mean_squared"
    aliases = ("mse", "mean_squared_error")


class MeanAbsolute(Loss):
    """mean(|ŷ - y|) over the batch and the outputs."""

    entry = "mean_absolute"
    aliases = ("mae", "mean_absolute_error")


class BinaryCrossEntropy(Loss):
    """mean(-(y log ŷ + (1 - y) log(1 - ŷ))), ŷ clipped to [1e-7, 1 - 1e-7]; ŷ are probabilities
    (e.g. after Sigmoid)."""

    entry = "binary_crossentropy"
    aliases = ("bce",)


class CategoricalCrossEntropy(Loss):
    """Σ(-y log ŷ) / batch with one-hot (or probability) rows y, ŷ clipped to [1e-7, 1 - 1e-7].

    After a SoftMax layer the model uses the fused gradient (ŷ - y) / batch."""

    entry = "categorical_crossentropy"
    aliases = ("cce",)


LOSSES = (MeanSquared, MeanAbsolute, BinaryCrossEntropy, CategoricalCrossEntropy)


def get(loss: Loss | str) -> Loss:
    """A Loss from an instance, a class or a Keras name ("mse", "categorical_crossentropy")."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str):
        for kind in LOSSES:
            if loss.lower() in (kind.entry, kind.__name__.lower(), *kind.aliases):
                return kind()
    names = [kind.__name__ for kind in LOSSES]
    raise ValueError(f"loss_algorithm: expected a Loss such as {names} or one of their names, "
                     f"received {loss!r}")
