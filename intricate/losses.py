"""Loss functions: the value is reduced on the GPU, the gradient dL/dŷ computed by a shader.

Formulas (mean over the batch, like Keras) are in shaders/losses.wgsl's header.
"""

from __future__ import annotations

from .gpu import GPUArray, Program
from .ops import loops
from .ops.statistics import CATEGORICAL

SHADER = "losses.wgsl"


# Outputs per statistics workgroup (more: more workgroups, a second pass). On GPUs, one workgroup
# of a 4096×10 batch took 72 µs on an H200, a tenth of a 784-512-512-10 step (dispatch_cost.py),
# where a dispatch costs ~2 µs: past 16 values per lane, spreading the batch over workgroups
# pays. Software adapters run a workgroup per CPU thread and keep one up to CPU_FUSED_LIMIT: the
# split's softmax_gradient (a workgroup per row) cost lavapipe ~75 ms of a ~500 ms b4096 step.
FUSED_LIMIT = 1 << 12
CPU_FUSED_LIMIT = 1 << 16


def fused_limit(device) -> int:
    """The most outputs one statistics workgroup takes on ``device`` (see FUSED_LIMIT)."""
    cpu = device is not None and device.adapter_info.get("adapter_type") == "CPU"
    return CPU_FUSED_LIMIT if cpu else FUSED_LIMIT


LANES, LOG_LANES = 256, 8  # losses.wgsl's workgroup_size


def _trips(rows: int, width: int, accuracy: int, cooperative: int) -> int:
    """Loop iterations of one lane of a statistics workgroup of ``rows`` rows (losses.wgsl)."""
    trips = -(-rows * width // LANES) + LOG_LANES
    if accuracy & CATEGORICAL:
        trips += (rows * (-(-width // LANES) + LOG_LANES) if cooperative
                  else -(-rows // LANES) * width)
    return trips


def statistics_plan(rows: int, width: int, accuracy: int,
                    limit: int | None = None) -> dict[str, int]:
    """How losses.wgsl splits a batch's statistics over workgroups: the most rows per workgroup
    within ``limit`` elements (FUSED_LIMIT unless given; at least one row) whose lanes loop at
    most loops.LOOP_BOUND times (a whole workgroup per row for the categorical argmax when a
    lane per row would loop longer); ``groups`` workgroups, summed by a second pass when more
    than one.

    Raises:
        ValueError: rows so wide that even one row per workgroup loops past
            loops.LLVMPIPE_CAP (about 8M values), which llvmpipe would cut silently.
    """
    bound = loops.LOOP_BOUND
    cooperative = int(_trips(1, width, accuracy, 0) > bound)
    if (trips := _trips(1, width, accuracy, cooperative)) > loops.LLVMPIPE_CAP:
        raise ValueError(f"loss: rows of {width} values need {trips} loop iterations per lane, "
                         f"past the {loops.LLVMPIPE_CAP} some adapters run (llvmpipe stops "
                         "there silently); use fewer outputs")
    per_group = min(rows, max(1, (FUSED_LIMIT if limit is None else limit) // width))
    while per_group > 1 and _trips(per_group, width, accuracy, cooperative) > bound:
        per_group = max(1, per_group * bound // _trips(per_group, width, accuracy, cooperative))
    return {"rows_per_group": per_group, "groups": -(-rows // per_group),
            "cooperative": cooperative}


class Loss:
    """Base class: ``entry`` names the loss's element function in losses.wgsl.

    ``mean_over_outputs``: the loss is a mean over the batch and the outputs (else a sum over
    the outputs, mean over the batch, as categorical cross-entropy)."""

    entry = ""
    aliases: tuple[str, ...] = ()
    mean_over_outputs = True

    def _params(self, predictions: GPUArray, slot: int, accuracy: int,
                limit: int | None = None) -> dict:
        rows, width = predictions.shape
        return {"count": rows * width, "batch": rows, "width": width, "slot": slot,
                "accuracy": accuracy,
                "mean_factor": 1.0 / width if self.mean_over_outputs else 1.0,
                "gradient_scale": 1.0 / (rows * width if self.mean_over_outputs else rows),
                **statistics_plan(rows, width, accuracy, limit)}

    def record_statistics(self, program: Program, predictions: GPUArray, targets: GPUArray,
                          statistics: GPUArray, slot: int = 0, accuracy: int = 0,
                          grad_predictions: GPUArray | None = None,
                          loss_scale: GPUArray | None = None) -> None:
        """Record statistics[slot:slot + 4] += this batch's sums (ops/statistics.py's FIELDS;
        accuracy: ops/statistics.py's flags), and dL/dŷ with ``grad_predictions``: one
        dispatch while one workgroup covers the batch (see statistics_plan), else two.
        ``loss_scale``: mixed_float16's state (engine/loss_scale.py), whose scale multiplies
        dL/dŷ (not the loss value)."""
        params = self._params(predictions, slot, accuracy, fused_limit(program.device))
        bound = {"predictions": predictions, "targets": targets}
        entry = "statistics"
        if grad_predictions is not None:
            bound["grad_predictions"], entry = grad_predictions, "statistics_and_gradient"
            if loss_scale is not None:
                bound["loss_scaling"] = loss_scale
        template = {"loss": self.entry}
        if params["groups"] == 1:
            single = "statistics_only" if grad_predictions is None else entry
            program.dispatch(SHADER, single, groups=1,
                             template=template, params=params, statistics=statistics, **bound)
            return
        # Sums, of the accumulate type (f32 in mixed_float16: f16-sized partials held half
        # the workgroups' vec4<f32>, and the rest of a large batch's loss was dropped).
        partials = program.array(Loss, "statistics_partials", (params["groups"], 4),
                                 program.precision.parameters)
        program.dispatch(SHADER, f"partial_{entry}", groups=params["groups"], template=template,
                         params=params, partials=partials, **bound)
        program.dispatch(SHADER, "finish_statistics", groups=1, template=template,
                         params=params, partials=partials, statistics=statistics)

    def record_training(self, program: Program, predictions: GPUArray, targets: GPUArray,
                        statistics: GPUArray, grad_predictions: GPUArray, accuracy: int = 0,
                        through_softmax: bool = False,
                        loss_scale: GPUArray | None = None) -> None:
        """Record the batch's statistics (slot 0) and dL/dŷ: one dispatch while one workgroup
        covers the batch, else two (three through a SoftMax). ``through_softmax`` (SoftMax +
        categorical cross-entropy only) gives the gradient into the SoftMax's inputs:
        (ŷ·Σy - y) / batch, Σy each row's target sum (exact for any y). ``loss_scale``: as in
        record_statistics."""
        if not through_softmax:
            self.record_statistics(program, predictions, targets, statistics, 0, accuracy,
                                   grad_predictions, loss_scale)
            return
        rows, width = predictions.shape
        limit = fused_limit(program.device)
        params = self._params(predictions, 0, accuracy, limit)
        bound = {"predictions": predictions, "targets": targets,
                 "grad_predictions": grad_predictions}
        if loss_scale is not None:
            bound["loss_scaling"] = loss_scale
        # One workgroup also writes the gradient, lanes owning rows (2 · width loops a row).
        gradient_trips = 2 * -(-rows // LANES) * width
        if (params["groups"] == 1 and predictions.size <= limit
                and _trips(params["rows_per_group"], width, accuracy, params["cooperative"])
                + gradient_trips <= loops.LOOP_BOUND):
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
