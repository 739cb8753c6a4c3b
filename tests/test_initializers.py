"""Initializers: Keras' definitions, reproducible from the model's seed, chosen per layer."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, initializers
from intricate.layers import Dense

SHAPE = (400, 300)  # fan_in 400, fan_out 300


@pytest.mark.parametrize("initializer,mean,std,bound", [
    (initializers.GlorotUniform(), 0, np.sqrt(2 / 700), np.sqrt(6 / 700)),
    (initializers.GlorotNormal(), 0, np.sqrt(2 / 700), 2 * np.sqrt(2 / 700) / 0.8796),
    (initializers.HeUniform(), 0, np.sqrt(2 / 400), np.sqrt(6 / 400)),
    (initializers.HeNormal(), 0, np.sqrt(2 / 400), 2 * np.sqrt(2 / 400) / 0.8796),
    (initializers.Uniform(-0.2, 0.4), 0.1, 0.6 / np.sqrt(12), 0.4),
    (initializers.Normal(1.0, 0.1), 1.0, 0.1, None),
])
def test_distributions_have_keras_moments_and_bounds(initializer, mean, std, bound):
    values = initializer(SHAPE, np.random.default_rng(0))
    assert values.shape == SHAPE and values.dtype == np.float32
    assert abs(values.mean() - mean) < 0.01 * max(1, abs(mean)) + 3 * std / 300
    assert abs(values.std() - std) / std < 0.02
    if bound is not None:
        assert np.abs(values).max() <= bound * 1.0001


def test_constant_and_zeros():
    assert not initializers.Zeros()((3,), np.random.default_rng()).any()
    assert (initializers.Constant(0.5)((2, 2), np.random.default_rng()) == 0.5).all()


def test_per_layer_initializers_are_seeded_and_reproducible():
    def weights(seed):
        return Model([Dense(4, 3, kernel_initializer="he_normal",
                            bias_initializer=initializers.Constant(0.1)),
                      Dense(3, 2, kernel_initializer=initializers.Uniform(-1, 1))],
                     seed=seed).get_weights()

    first, again = weights(5), weights(5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert np.allclose(first[1], 0.1) and not np.array_equal(first[0], weights(6)[0])
    assert np.abs(first[2]).max() <= 1


@pytest.mark.parametrize("arguments,message", [
    ({"kernel_initializer": "lecun"}, r"kernel_initializer: expected an Initializer or one of"),
    ({"bias_initializer": 0}, r"bias_initializer: expected an Initializer or one of"),
])
def test_unknown_initializers_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        Dense(2, 2, **arguments)
    with pytest.raises(ValueError, match=r"maxval: expected a finite number in \[1.0"):
        initializers.Uniform(1.0, 0.0)
