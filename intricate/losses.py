"""Loss functions: the value is reduced on the GPU, the gradient dL/dŷ computed by a shader.

Formulas (mean over the batch, like Keras) are in shaders/losses.wgsl's header.
"""

from __future__ import annotations

from .gpu import GPUArray, Program
from .ops import loops

SHADER = "losses.wgsl"


FUSED_LIMIT = 1 << 16  # outputs per batch up to which one workgroup also writes the gradient
LANES = 256  # losses.wgsl's workgroup_size


class Loss:
    """Base class: ``entry`` names the loss's element function in losses.wgsl.

    ``mean_over_outputs``: the loss is a mean over the batch and the outputs (else a sum over
    the outputs, mean over the batch, as categorical cross-entropy)."""

    entry = ""
    aliases: tuple[str, ...] = ()
    mean_over_outputs = True

    def _params(self, predictions: GPUArray, slot: int, accuracy: int) -> dict:
        rows, width = predictions.shape
        return {"count": rows * width, "batch": rows, "width": width, "slot": slot,
                "accuracy": accuracy,
                "loss_scale": 1.0 / width if self.mean_over_outputs else 1.0,
                "gradient_scale": 1.0 / (rows * width if self.mean_over_outputs else rows)}

    def record_statistics(self, program: Program, predictions: GPUArray, targets: GPUArray,
                          statistics: GPUArray, slot: int = 0, accuracy: int = 0) -> None:
        """Record statistics[slot:slot + 3] += (L · rows, correct rows, Σ per-row MAE) for this
        batch, with one single-workgroup dispatch (accuracy: 0 none, 1 binary, 2 categorical)."""
        program.dispatch(SHADER, "statistics_only", groups=1, template={"loss": self.entry},
                         params=self._params(predictions, slot, accuracy),
                         predictions=predictions, targets=targets, statistics=statistics)

    def record_training(self, program: Program, predictions: GPUArray, targets: GPUArray,
                        statistics: GPUArray, grad_predictions: GPUArray, accuracy: int = 0,
                        through_softmax: bool = False) -> None:
        """Record the batch's statistics (slot 0) and dL/dŷ: one dispatch while one workgroup
        can write the whole gradient, else two. ``through_softmax`` (SoftMax + categorical
        cross-entropy only) gives the gradient into the SoftMax's inputs: (ŷ·Σy - y) / batch,
        Σy each row's target sum (exact for any y)."""
        if through_softmax:
            self._record_through_softmax(program, predictions, targets, statistics,
                                         grad_predictions, accuracy)
            return
        params = self._params(predictions, 0, accuracy)
        bound = {"predictions": predictions, "targets": targets}
        if predictions.size <= FUSED_LIMIT:
            program.dispatch(SHADER, "statistics_and_gradient", groups=1,
                             template={"loss": self.entry}, params=params, statistics=statistics,
                             grad_predictions=grad_predictions, **bound)
            return
        self.record_statistics(program, predictions, targets, statistics, 0, accuracy)
        program.dispatch(SHADER, "gradient", threads=predictions.size,
                         template={"loss": self.entry}, params=params,
                         grad_predictions=grad_predictions, **bound)

    def _record_through_softmax(self, program: Program, predictions: GPUArray,
                                targets: GPUArray, statistics: GPUArray,
                                grad_predictions: GPUArray, accuracy: int) -> None:
        """One dispatch while one workgroup's lanes, each owning rows, loop at most
        ``loops.LOOP_BOUND`` times; else the statistics and a workgroup per row."""
        rows, width = predictions.shape
        params = self._params(predictions, 0, accuracy)
        bound = {"predictions": predictions, "targets": targets,
                 "grad_predictions": grad_predictions}
        lane_rows = -(-rows // LANES)
        if predictions.size <= FUSED_LIMIT and 3 * lane_rows * width <= loops.LOOP_BOUND:
            program.dispatch(SHADER, "softmax_statistics_and_gradient", groups=1,
                             template={"loss": self.entry}, params=params,
                             statistics=statistics, **bound)
            return
        self.record_statistics(program, predictions, targets, statistics, 0, accuracy)
        program.dispatch(SHADER, "softmax_gradient", groups=rows, template={"loss": self.entry},
                         params=params, **bound)

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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

    After a SoftMax layer the model uses the fused gradient into the SoftMax's inputs,
    (ŷ·Σy - y) / batch with Σy each row's target sum: exact for any y, whose rows need not sum
    to 1 (label smoothing, partial labels)."""

    entry = "categorical_crossentropy"
    aliases = ("cce",)
    mean_over_outputs = False


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
