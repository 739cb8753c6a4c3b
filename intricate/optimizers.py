"""Optimizers: parameter updates in WGSL over the model's flat parameter buffer.

One dispatch per step updates every parameter of the model (shaders/optimizers.wgsl). The
formulas are PyTorch's ``torch.optim`` ones (SGD with momentum/nesterov, Adagrad, Adam, AdamW),
cited per class. State (velocities, moments, the step count) lives on the GPU, in the optimizer
object, once per model: reuse the object across fits of one model to continue training with the
same state, as a compiled Keras model does. Another model gets its own fresh state (zero moments,
step 0); each model's state is keyed weakly by that model's parameter buffer, which only its
``ModelState`` owns, so it is freed with the model and never inherited through a reused ``id()``.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from . import gpu
from .gpu import GPUArray, Program

HYPERPARAMETERS = ("learning_rate", "momentum", "beta_1", "beta_2", "epsilon", "weight_decay",
                   "one_minus_beta_1", "one_minus_beta_2", "log_beta_1", "log_beta_2")


def check_learning_rate(value: object) -> float:
    return check_number("learning_rate", value, low=0.0, low_inclusive=False)


FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32


def check_number(name: str, value: object, low: float = 0.0, high: float = math.inf,
                 low_inclusive: bool = True, high_inclusive: bool = True,
                 float32: bool = True) -> float:
    """A finite number in the given range, or a ValueError naming the argument.

    With ``float32`` (a value the shaders see as a float32), it must also lie in float32's
    range and keep its range after rounding to float32 (0.99999999999 for a β < 1 becomes
    1.0); a number that must be > 0 (it divides, or scales every update) must be at least
    float32's smallest normal, as GPUs may flush subnormals to 0. Host-only values pass False.
    """
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    given = value
    if float32:
        high = min(high, FLOAT32_MAX)
        if not low_inclusive and low == 0.0:
            low, low_inclusive = FLOAT32_TINY, True
        low = max(low, -FLOAT32_MAX)
    if ok:
        try:
            value = given = float(value)
        except OverflowError:  # an int beyond any float (10**400)
            value = math.inf if value > 0 else -math.inf
        with np.errstate(over="ignore"):
            rounded = float(np.float32(value)) if float32 else value
        # Just past float32's largest (3.4028235e38 as a float64 literal) rounds to it: the
        # shader sees a value in range, so judge the rounded one alone.
        just_past = float32 and abs(value) > FLOAT32_MAX and math.isfinite(rounded)
        for candidate in (rounded,) if just_past else (value, rounded):
            ok = ok and math.isfinite(candidate) and (
                candidate >= low if low_inclusive else candidate > low) and (
                candidate <= high if high_inclusive else candidate < high)
    if not ok:
        left, right = "[" if low_inclusive else "(", "]" if high_inclusive else ")"
        note = (" (hyperparameters must fit float32 for models of every dtype, float64 too: "
                "float32 rounds it)") if float32 else ""
        raise ValueError(f"{name}: expected a finite number in {left}{_show(low)}, "
                         f"{_show(high)}{right}, received {given!r}{note}")
    return value


def _show(bound: float) -> str:
    return f"{bound:.8g}" if abs(bound) in (FLOAT32_MAX, FLOAT32_TINY) else repr(bound)


class Optimizer:
    """Base class. Subclasses name their WGSL ``entry`` and the state arrays they need."""

    entry = ""
    moments = 0  # how many per-parameter state arrays (first_moment, second_moment)
    counts_steps = False  # whether the update reads the step number t

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = check_learning_rate(learning_rate)
        # parameter buffer -> moments and step counters; weak, so freed with the model's state
        self._state: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def hyperparameters(self) -> dict[str, float]:
        return {"learning_rate": self.learning_rate}

    def shader_values(self) -> dict[str, float]:
        """The Params values of the update shader (hyperparameters, and derived ones)."""
        return self.hyperparameters()

    def state_for(self, parameters: GPUArray) -> list[GPUArray]:
        """The moments and step counters of one model's parameters (zero-initialised the first
        time), kept until that model's parameter buffer is freed."""
        key = parameters.buffer
        if key not in self._state:
            device = parameters.device
            arrays = [gpu.empty(device, parameters.shape, parameters.dtype,
                                label=f"{self.entry}_moment")
                      for _ in range(self.moments)]
            if self.counts_steps:
                arrays += [gpu.empty(device, (1,), np.uint32, label="step_in"),
                           gpu.empty(device, (1,), np.uint32, label="step_out")]
            self._state[key] = arrays
        return self._state[key]

    def record_update(self, program: Program, parameters: GPUArray, gradients: GPUArray,
                      compute_parameters: GPUArray | None = None,
                      loss_scale: GPUArray | None = None) -> None:
        """Record one update of all ``parameters`` from ``gradients`` (same flat layout).

        A mixed_float16 program also passes the f16 ``compute_parameters`` (written beside each
        f32 master weight) and the ``loss_scale`` state (engine/loss_scale.py): the update then
        divides the gradients by the scale, or skips the whole step (Adam's t too) when the
        check found an inf or NaN among them."""
        state = self.state_for(parameters)
        bound = dict(zip(("first_moment", "second_moment")[:self.moments], state))
        if self.counts_steps:
            bound["step_in"], bound["step_out"] = state[-2], state[-1]
        if compute_parameters is not None:
            bound["compute_parameters"], bound["loss_scaling"] = compute_parameters, loss_scale
        values = dict.fromkeys(HYPERPARAMETERS, 0.0) | self.shader_values()
        program.dispatch("optimizers.wgsl", self.entry, threads=parameters.size,
                         params={"count": parameters.size, **values},
                         parameters=parameters, gradients=gradients, **bound)
        if self.counts_steps:  # t moves on in a dispatch, not a copy: the pass stays open
            program.dispatch("optimizers.wgsl", "advance_step", groups=1,
                             step_out=bound["step_out"], step_counter=bound["step_in"])

    def get_config(self) -> dict[str, float]:
        return self.hyperparameters()

    def check(self) -> None:
        """Check the hyperparameters again, as the constructor does: they are plain attributes
        a user may have changed since (``optimizer.learning_rate = 0.0``); fit calls this before
        any GPU work, so such a change fails clearly instead of silently or late.

        Raises:
            ValueError: a hyperparameter out of range, named.
        """
        type(self)(**self.get_config())

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class SGD(Optimizer):
    """θ ← θ - lr·g (``torch.optim.SGD``; Keras ``SGD`` without momentum)."""

    entry = "sgd"

    def __init__(self, learning_rate: float = 0.01) -> None:
        super().__init__(learning_rate)


class Momentum(Optimizer):
    """Heavy-ball momentum as ``torch.optim.SGD(momentum=μ)``: b ← μ·b + g; θ ← θ - lr·b.

    Args:
        learning_rate: step size. momentum: μ in [0, 1).
    """

    entry = "momentum"
    moments = 1

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.momentum = check_number("momentum", momentum, 0.0, 1.0, high_inclusive=False)

    def hyperparameters(self) -> dict[str, float]:
        return {"learning_rate": self.learning_rate, "momentum": self.momentum}


class Nesterov(Momentum):
    """Nesterov momentum as ``torch.optim.SGD(momentum=μ, nesterov=True)``:
    b ← μ·b + g; θ ← θ - lr·(g + μ·b)."""

    entry = "nesterov"


class Adagrad(Optimizer):
    """``torch.optim.Adagrad`` (no lr decay, initial accumulator 0): s ← s + g²;
    θ ← θ - lr·g / (√s + ε)."""

    entry = "adagrad"
    moments = 1

    def __init__(self, learning_rate: float = 0.01, epsilon: float = 1e-10) -> None:
        super().__init__(learning_rate)
        self.epsilon = check_number("epsilon", epsilon, low_inclusive=False)

    def hyperparameters(self) -> dict[str, float]:
        return {"learning_rate": self.learning_rate, "epsilon": self.epsilon}


class Adam(Optimizer):
    """``torch.optim.Adam``: m ← β1·m + (1-β1)·g; v ← β2·v + (1-β2)·g²;
    θ ← θ - lr·m̂ / (√v̂ + ε) with m̂ = m / (1-β1^t), v̂ = v / (1-β2^t).

    (Keras' Adam differs only in where ε enters and its default ε = 1e-7.)
    """

    entry = "adam"
    moments = 2
    counts_steps = True

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8) -> None:
        super().__init__(learning_rate)
        self.beta_1 = check_number("beta_1", beta_1, 0.0, 1.0, high_inclusive=False)
        self.beta_2 = check_number("beta_2", beta_2, 0.0, 1.0, high_inclusive=False)
        self.epsilon = check_number("epsilon", epsilon, low_inclusive=False)

    def hyperparameters(self) -> dict[str, float]:
        return {"learning_rate": self.learning_rate, "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon}

    def shader_values(self) -> dict[str, float]:
        # 1 - β and log β in float64 here: in float32 on the GPU they lose ~1e-5 relative.
        return self.hyperparameters() | {
            "one_minus_beta_1": 1.0 - self.beta_1, "one_minus_beta_2": 1.0 - self.beta_2,
            "log_beta_1": math.log(self.beta_1) if self.beta_1 > 0 else -math.inf,
            "log_beta_2": math.log(self.beta_2) if self.beta_2 > 0 else -math.inf}


class AdamW(Adam):
    """``torch.optim.AdamW``: θ ← θ - lr·λ·θ (decoupled weight decay λ), then the Adam step.
    Decay applies to every parameter, biases included, as in PyTorch's default param group."""

    entry = "adamw"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon)
        self.weight_decay = check_number("weight_decay", weight_decay)

    def hyperparameters(self) -> dict[str, float]:
        return super().hyperparameters() | {"weight_decay": self.weight_decay}


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": Adagrad,
              "adam": Adam, "adamw": AdamW}


def get(optimizer: Optimizer | str | None, learning_rate: float | None) -> Optimizer:
    """An Optimizer from an instance, or a name ("adam") built with ``learning_rate``."""
    if isinstance(optimizer, Optimizer):
        if learning_rate is not None:
            raise ValueError(f"learning_rate: expected None when optimizer is an instance "
                             f"({optimizer!r}), received {learning_rate!r}; set the rate on "
                             "the optimizer")
        return optimizer
    name = "sgd" if optimizer is None else optimizer
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected an Optimizer or one of {sorted(OPTIMIZERS)}, "
                         f"received {optimizer!r}")
    kind = OPTIMIZERS[name.lower()]
    return kind() if learning_rate is None else kind(learning_rate=learning_rate)
