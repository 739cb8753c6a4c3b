"""Weight initializers, Keras' definitions, drawn on the host from the model's seeded generator.

Each is called as ``initializer(shape, rng)`` and returns float32. Fans follow Keras: for a Dense
kernel [inputs, outputs], fan_in = inputs and fan_out = outputs; for a Conv2D kernel
[kh, kw, in, out], kh·kw·in and kh·kw·out.
"""

from __future__ import annotations

import math

import numpy as np

from .optimizers import check_number

# Keras divides the truncated normal's stddev by this (the stddev of a unit normal truncated at
# ±2σ) so the drawn values keep the intended variance.
TRUNCATED_STDDEV = 0.87962566103423978


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras computes them: a convolution kernel [kh, kw, in, out] has
    kh·kw·in and kh·kw·out (its receptive field times the channels)."""
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _truncated_normal(rng: np.random.Generator, shape, stddev: float) -> np.ndarray:
    values = rng.normal(0.0, stddev, shape)
    outside = np.abs(values) > 2 * stddev
    while outside.any():  # redraw the tails, as a truncated normal does
        values[outside] = rng.normal(0.0, stddev, int(outside.sum()))
        outside = np.abs(values) > 2 * stddev
    return values


class Initializer:
    """Base class: ``__call__(shape, rng) -> float32 array``."""

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        with np.errstate(over="ignore"):
            values = np.asarray(self.draw(tuple(shape), rng), dtype=np.float32)
        if not np.isfinite(values).all():  # e.g. Normal(mean=3e38, stddev=1e38)
            raise ValueError(f"{self!r}: expected values within float32's range "
                             f"(±{np.finfo(np.float32).max:.8g}), drew some beyond it")
        return values

    def draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class Zeros(Initializer):
    def draw(self, shape, rng):
        return np.zeros(shape)


class Constant(Initializer):
    def __init__(self, value: float = 0.0) -> None:
        self.value = check_number("value", value, low=-math.inf)

    def draw(self, shape, rng):
        return np.full(shape, self.value)


class Uniform(Initializer):
    """U(minval, maxval); Keras' RandomUniform defaults."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05) -> None:
        self.minval = check_number("minval", minval, low=-math.inf)
        self.maxval = check_number("maxval", maxval, low=self.minval)

    def draw(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)


class Normal(Initializer):
    """N(mean, stddev²); Keras' RandomNormal defaults."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05) -> None:
        self.mean = check_number("mean", mean, low=-math.inf)
        self.stddev = check_number("stddev", stddev)

    def draw(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)


class GlorotUniform(Initializer):
    """U(-l, l) with l = √(6 / (fan_in + fan_out))."""

    def draw(self, shape, rng):
        fan_in, fan_out = _fans(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)


class GlorotNormal(Initializer):
    """Truncated normal (±2σ) with σ = √(2 / (fan_in + fan_out))."""

    def draw(self, shape, rng):
        fan_in, fan_out = _fans(shape)
        return _truncated_normal(rng, shape, math.sqrt(2.0 / (fan_in + fan_out)) /
                                 TRUNCATED_STDDEV)


class HeUniform(Initializer):
    """U(-l, l) with l = √(6 / fan_in)."""

    def draw(self, shape, rng):
        limit = math.sqrt(6.0 / _fans(shape)[0])
        return rng.uniform(-limit, limit, shape)


class HeNormal(Initializer):
    """Truncated normal (±2σ) with σ = √(2 / fan_in)."""

    def draw(self, shape, rng):
        return _truncated_normal(rng, shape, math.sqrt(2.0 / _fans(shape)[0]) / TRUNCATED_STDDEV)


INITIALIZERS = {"zeros": Zeros, "constant": Constant, "uniform": Uniform, "normal": Normal,
                "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
                "he_uniform": HeUniform, "he_normal": HeNormal}


INITIALIZERS_BY_CLASS = {kind.__name__: kind for kind in INITIALIZERS.values()}


def get(initializer: Initializer | str, name: str) -> Initializer:
    """An Initializer from an instance or a Keras name ("he_normal"); ``name`` is the argument."""
    if isinstance(initializer, Initializer):
        return initializer
    if isinstance(initializer, str) and initializer.lower() in INITIALIZERS:
        return INITIALIZERS[initializer.lower()]()
    raise ValueError(f"{name}: expected an Initializer or one of {sorted(INITIALIZERS)}, "
                     f"received {initializer!r}")
