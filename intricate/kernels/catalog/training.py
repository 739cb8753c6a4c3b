"""Catalog entries of the training kernels: every optimizer update of optimizers.wgsl with the
optimizer's default hyperparameters, and losses.wgsl's seven entries (the statistics sums, the
loss gradient, their multi-workgroup halves, the SoftMax-fused gradient), with the Params
intricate/losses.py computes for a batch."""

from __future__ import annotations

import math

import numpy as np

from ... import losses, optimizers
from ...engine import loss_scale
from ...gpu import Device, fold_grid
from ...gpu.dtypes import FLOAT32, MIXED_FLOAT16, Precision
from ...ops import statistics as layout
from .. import reference
from .registry import Case, nbytes, register

FLOAT = 4
CLASSES = 10  # the width of a loss's batch rows
BOTH_ACCURACIES = layout.BINARY | layout.CATEGORICAL
MOMENTS = {"first_moment": "m", "second_moment": "v"}  # state arrays → OptimizerReference's
# mixed_float16: the loss scale the losses multiply dL/dŷ by and the optimizers divide out
# (a power of 2, so both are exact), as the loss-scale state's words (engine/loss_scale.py).
SCALE = 1024.0


def _unscaled(loss_scaling: np.ndarray | None) -> float:
    """The scale a loss_scaling binding holds (1 without one: float32, float64)."""
    return 1.0 if loss_scaling is None else loss_scale.values(loss_scaling)["scale"]


def _register_optimizer(name: str, kind: type[optimizers.Optimizer]) -> None:
    optimizer = kind()
    values = dict.fromkeys(optimizers.HYPERPARAMETERS, 0.0) | optimizer.shader_values()
    # Per parameter: g read, θ read and written, each moment read and written (and f16(θ)
    # written in mixed_float16).
    sums = 3 + 2 * kind.moments

    def setup(device: Device, size: int, rng: np.random.Generator,
              precision: Precision = FLOAT32) -> Case:
        inputs = {"gradients": rng.standard_normal(size, np.float32),
                  "parameters": rng.standard_normal(size, np.float32), "count": size, **values}
        for moment in list(MOMENTS)[:kind.moments]:  # state from earlier steps: v, s >= 0
            inputs[moment] = rng.uniform(0, 1e-2, size).astype(np.float32)
        shapes = {}
        if loss_scale.applies(precision):  # scaled gradients in, θ and f16(θ) out
            inputs["gradients"] *= np.float32(SCALE)
            inputs["loss_scaling"] = loss_scale.initial_words(SCALE)
            shapes["compute_parameters"] = (size,)
        if kind.counts_steps:
            inputs["step_in"] = np.array([9], np.uint32)
            shapes["step_out"] = (1,)
        copy = size if loss_scale.applies(precision) else 0
        return Case(inputs, fold_grid(math.ceil(size / 256)),
                    nbytes(precision, data=copy, sums=sums * size), str(size),
                    shapes=shapes, flops=(4 + 6 * kind.moments) * size)

    def expected(gradients, parameters, step_in=None, loss_scaling=None, **state):
        step = reference.OptimizerReference(name, **optimizer.hyperparameters())
        for moment, attribute in list(MOMENTS.items())[:kind.moments]:
            setattr(step, attribute, state[moment].astype(np.float64))
        if step_in is not None:
            step.t = int(step_in[0])
        result = {"parameters": step.step(parameters, gradients / _unscaled(loss_scaling))}
        if loss_scaling is not None:
            result["compute_parameters"] = result["parameters"].astype(np.float16)
        for moment, attribute in list(MOMENTS.items())[:kind.moments]:
            result[moment] = getattr(step, attribute)
        if step_in is not None:
            result["step_out"] = step_in + 1
        return result

    # θ ~ N(0, 1) and steps of ~1e-2: θ - lr·step may cancel to near 0, where float32 is
    # exact to an ulp of |θ| (< 5e-7 for |θ| < 5), not of the result.
    register(f"optimizer.{name}", "optimizers.wgsl", kind.entry, reference=expected,
             small=(1, 1000), standard=(1 << 24,), unit="parameters", atol=5e-7)(setup)


for _name, _kind in optimizers.OPTIMIZERS.items():
    _register_optimizer(_name, _kind)


@register("optimizer.advance_step", "optimizers.wgsl", "advance_step",
          unit="words (always 1: Adam's step counter)", small=(1,), standard=(1,),
          reference=lambda step_out: {"step_counter": step_out.copy()})
def advance_step(device: Device, size: int, rng: np.random.Generator,
                 precision: Precision = FLOAT32) -> Case:
    """After adam/adamw: the step counter they read takes the t they wrote (a dispatch, so
    the epoch's compute pass stays open)."""
    inputs = {"step_out": np.array([rng.integers(1, 1 << 20)], np.uint32)}
    return Case(inputs, (1, 1, 1), nbytes(precision, words=2), "1",
                shapes={"step_counter": (1,)})


# Losses -----------------------------------------------------------------------------------------
LOSS_NAMES = {kind.entry: kind.__name__ for kind in losses.LOSSES}  # WGSL function → reference


def _batch(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Predictions in (0.02, 0.98) (probabilities, away from the clip) and one-hot targets:
    valid for every loss."""
    predictions = rng.uniform(0.02, 0.98, (rows, CLASSES)).astype(np.float32)
    targets = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, rows)]
    return predictions, targets


def _params(loss: losses.Loss, predictions: np.ndarray, split: bool = False) -> dict:
    """losses.py's Params for this batch (slot 0, both accuracies). ``split``: over several
    workgroups, as losses.statistics_plan splits a big batch, and over up to 3 when it would
    take one (so the multi-workgroup entries are checked at every size)."""
    params = loss._params(predictions, layout.TRAINING, BOTH_ACCURACIES)
    if split and params["groups"] < 3:
        params["rows_per_group"] = math.ceil(len(predictions) / 3)
        params["groups"] = math.ceil(len(predictions) / params["rows_per_group"])
    return params


def _sums(predictions, targets, loss: str, params: dict) -> np.ndarray:
    """The statistics' sums per workgroup of ``params``' split: [groups, 4]."""
    step = params["rows_per_group"]
    return np.array([reference.statistics_sums(predictions[start:start + step].astype(np.float64),
                                               targets[start:start + step], LOSS_NAMES[loss],
                                               params["accuracy"])
                     for start in range(0, len(predictions), step)])


def _loss_setup(loss: losses.Loss, entry: str):
    partial, gradient = entry.startswith("partial"), "gradient" in entry

    def setup(device: Device, size: int, rng: np.random.Generator,
              precision: Precision = FLOAT32) -> Case:
        predictions, targets = _batch(size, rng)
        params = _params(loss, predictions, split=partial)
        inputs = {"predictions": predictions, "targets": targets, **params}
        shapes = {"grad_predictions": (size, CLASSES)} if gradient else {}
        if partial:
            shapes["partials"] = (params["groups"], 4)
        elif entry != "softmax_gradient":  # the others add to the statistics
            inputs["statistics"] = rng.uniform(0, 10, layout.SIZE).astype(np.float32)
        grid = fold_grid(params["groups"]) if partial else (1, 1, 1)
        if entry == "softmax_gradient":
            grid = fold_grid(size)
        if gradient and loss_scale.applies(precision):  # dL/dŷ times the loss scale
            inputs["loss_scaling"] = loss_scale.initial_words(SCALE)
        moved = nbytes(precision, data=size * CLASSES * (2 + gradient))
        return Case(inputs, grid, moved, f"{size}x{CLASSES}", shapes=shapes,
                    template={"loss": loss.entry}, flops=10 * size * CLASSES)
    return setup


def _loss_reference(loss: losses.Loss, entry: str):
    def expected(predictions, targets, statistics=None, loss_scaling=None, **params):
        p, result, scale = predictions.astype(np.float64), {}, _unscaled(loss_scaling)
        sums = _sums(predictions, targets, loss.entry, params)
        if entry.startswith("partial"):
            result["partials"] = sums
        elif entry != "softmax_gradient":
            statistics = statistics.astype(np.float64)
            statistics[layout.TRAINING:layout.TRAINING + layout.SLOT] += sums.sum(axis=0)
            result["statistics"] = statistics
        if entry.startswith("softmax"):
            result["grad_predictions"] = scale * reference.softmax_crossentropy_gradient(
                p, targets)
        elif "gradient" in entry:
            result["grad_predictions"] = scale * reference.LOSSES[LOSS_NAMES[loss.entry]][1](
                p, targets)
        return result
    return expected


def _register_loss(entry: str, loss: losses.Loss, suffix: str = "", small=(1, 300),
                   standard=(4096,)) -> None:
    register(f"loss.{entry}{suffix}", losses.SHADER, entry, reference=_loss_reference(loss, entry),
             small=small, standard=standard, unit=f"rows of {CLASSES}")(_loss_setup(loss, entry))


for _loss in (losses.MeanSquared(), losses.MeanAbsolute(), losses.BinaryCrossEntropy(),
              losses.CategoricalCrossEntropy()):
    _register_loss("statistics_and_gradient", _loss, f".{_loss.entry}")
_register_loss("statistics_only", losses.CategoricalCrossEntropy())
_register_loss("partial_statistics", losses.BinaryCrossEntropy(), standard=(1 << 20,))
_register_loss("partial_statistics_and_gradient", losses.MeanSquared(), standard=(1 << 20,))
_register_loss("softmax_statistics_and_gradient", losses.CategoricalCrossEntropy())
_register_loss("softmax_gradient", losses.CategoricalCrossEntropy(), standard=(65536,))


def _finish_setup(device: Device, size: int, rng: np.random.Generator,
                  precision: Precision = FLOAT32) -> Case:
    inputs = {"partials": rng.uniform(0, 10, (size, 4)).astype(np.float32),
              "statistics": rng.uniform(0, 10, layout.SIZE).astype(np.float32),
              **_params(losses.MeanSquared(), np.zeros((1, CLASSES), np.float32)),
              "groups": size}
    return Case(inputs, (1, 1, 1), nbytes(precision, sums=4 * size), f"{size}x4",
                template={"loss": "mean_squared"}, flops=4 * size)


def _finished(partials, statistics, slot, **_):
    statistics = statistics.astype(np.float64)
    statistics[slot:slot + layout.SLOT] += partials.astype(np.float64).sum(axis=0)
    return {"statistics": statistics}


register("loss.finish_statistics", losses.SHADER, "finish_statistics", reference=_finished,
         small=(1, 300), standard=(65536,), unit="workgroups' partial sums")(_finish_setup)


# Loss scaling (mixed_float16 training, engine/loss_scale.py) ----------------------------------
def _scale_state(scale: float, finite_steps: int, found: int) -> np.ndarray:
    words = loss_scale.initial_words(scale, finite_steps, skipped=3)
    words[loss_scale.FOUND] = found
    return words.view(loss_scale.STATE)


def _check_setup(device: Device, size: int, rng: np.random.Generator,
                 precision: Precision = FLOAT32) -> Case:
    gradients = rng.standard_normal(size).astype(np.float32)
    gradients[size // 2] = np.inf if size % 2 else np.nan  # one non-finite value, mid-buffer
    return Case({"gradients": gradients, "state": _scale_state(1024.0, 5, 0),
                 **loss_scale.params(size)}, fold_grid(math.ceil(size / 256)), FLOAT * size,
                str(size))


def _checked(gradients, state, **_):
    state = state.copy()
    state["found"] |= int(not np.isfinite(gradients).all())
    return {"state": state}


def _update_setup(device: Device, size: int, rng: np.random.Generator,
                  precision: Precision = FLOAT32) -> Case:
    # size picks the case: 1 a skipped step, 2 the finite step that doubles the scale
    state = _scale_state(1024.0, loss_scale.GROWTH_INTERVAL - 1, int(size == 1))
    return Case({"state": state, "statistics": np.zeros(layout.SIZE, np.float32),
                 **loss_scale.params(0)}, (1, 1, 1), FLOAT * (4 + layout.SIZE), str(size))


def _updated(state, statistics, growth_interval, minimum_scale, scale_at, skipped_at, **_):
    state, statistics = state.copy(), statistics.astype(np.float64)
    if state["found"][0]:
        state["scale"] = max(state["scale"][0] / 2, minimum_scale)
        state["finite_steps"], state["skipped"] = 0, state["skipped"] + 1
        statistics[skipped_at] += 1
    else:
        state["finite_steps"] += 1
        if state["finite_steps"][0] >= growth_interval:
            state["finite_steps"], state["scale"] = 0, state["scale"] * 2
    state["found"] = 0
    statistics[scale_at] = state["scale"][0]
    return {"state": state, "statistics": statistics}


register("loss_scale.check", loss_scale.SHADER, "check", reference=_checked, small=(1, 1001),
         standard=(1 << 20,), unit="gradients")(_check_setup)
register("loss_scale.update", loss_scale.SHADER, "update", reference=_updated, small=(1, 2),
         standard=(1, 2), unit="case (1 skipped, 2 doubling)")(_update_setup)


def _compute_copy_setup(device: Device, size: int, rng: np.random.Generator,
                        precision: Precision = FLOAT32) -> Case:
    inputs = {"parameters": rng.standard_normal(size, np.float32), "count": size,
              **dict.fromkeys(optimizers.HYPERPARAMETERS, 0.0)}
    return Case(inputs, fold_grid(math.ceil(size / 256)), (FLOAT + 2) * size, str(size),
                shapes={"compute_parameters": (size,)},
                template={"dtype": "f16", "accumulate": "f32"})


register("optimizer.compute_copy", "optimizers.wgsl", "compute_copy",
         reference=lambda parameters, **_: {"compute_parameters": parameters.astype(np.float16)},
         small=(1, 1000), standard=(1 << 24,), unit="parameters (mixed_float16)",
         # f16 in every dtype's run: skipped, not failed, where the adapter lacks shader-f16
         available=lambda device: MIXED_FLOAT16.feature in device.features,
         needs=f"the WebGPU feature {MIXED_FLOAT16.feature!r} (it writes mixed_float16's f16 "
         "copy of the weights)")(_compute_copy_setup)
