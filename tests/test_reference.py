"""Every backward of the reference against central finite differences, in float64.

The shaders are tested against the reference; this closes the loop by testing the reference's
derivatives against its own forward functions.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference

STEP = 1e-6


def numerical_gradient(function, x: np.ndarray) -> np.ndarray:
    """∂function/∂x for a scalar function, by central differences."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + STEP
        above = function(x)
        x[index] = original - STEP
        below = function(x)
        x[index] = original
        gradient[index] = (above - below) / (2 * STEP)
    return gradient


def check(analytic, numeric) -> None:
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("batch,inputs,outputs", [(1, 1, 1), (3, 4, 5), (6, 2, 3)])
def test_dense_backward(rng, batch, inputs, outputs):
    x, kernel = rng.normal(size=(batch, inputs)), rng.normal(size=(inputs, outputs))
    bias, dy = rng.normal(size=outputs), rng.normal(size=(batch, outputs))
    grad_x, grad_kernel, grad_bias = reference.dense_backward(x, kernel, dy)

    def weighted(x_, kernel_, bias_):
        return np.sum(reference.dense_forward(x_, kernel_, bias_) * dy)

    check(grad_x, numerical_gradient(lambda v: weighted(v, kernel, bias), x))
    check(grad_kernel, numerical_gradient(lambda v: weighted(x, v, bias), kernel))
    check(grad_bias, numerical_gradient(lambda v: weighted(x, kernel, v), bias))


@pytest.mark.parametrize("name", sorted(reference.ACTIVATIONS))
def test_activation_backward(rng, name):
    forward, backward = reference.ACTIVATIONS[name]
    x = rng.normal(size=(4, 5)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # ReLU's kink is not differentiable
    dy = rng.normal(size=x.shape)
    numeric = numerical_gradient(lambda v: np.sum(forward(v) * dy), x)
    check(backward(forward(x), dy), numeric)


@pytest.mark.parametrize("name", sorted(reference.LOSSES))
def test_loss_gradient(rng, name):
    value, gradient = reference.LOSSES[name]
    if name == "CategoricalCrossEntropy":
        predictions = reference.softmax_forward(rng.normal(size=(4, 5)))
        targets = np.eye(5)[rng.integers(0, 5, 4)]
    else:
        predictions = rng.uniform(0.05, 0.95, (4, 5))
        targets = rng.integers(0, 2, (4, 5)).astype(np.float64)
    numeric = numerical_gradient(lambda p: value(p, targets), predictions)
    check(gradient(predictions, targets), numeric)


def test_fused_softmax_crossentropy_gradient(rng):
    logits = rng.normal(size=(4, 6))
    targets = np.eye(6)[rng.integers(0, 6, 4)]
    numeric = numerical_gradient(
        lambda z: reference.categorical_crossentropy_value(reference.softmax_forward(z), targets),
        logits)
    check(reference.softmax_crossentropy_gradient(reference.softmax_forward(logits), targets),
          numeric)


def test_train_step_gradients_are_those_of_the_loss(rng):
    """The reference model step = SGD with the finite-difference gradient of the whole model."""
    layers = ["Dense", "TanH", "Dense", "Sigmoid"]
    weights = [rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)),
               rng.normal(size=2)]
    x, y = rng.normal(size=(5, 3)), rng.uniform(0.1, 0.9, (5, 2))
    _, stepped = reference.train_step(layers, weights, x, y, "BinaryCrossEntropy", 1.0)
    for index, w in enumerate(weights):
        def loss_of(v, index=index):
            trial = list(weights)
            trial[index] = v
            return reference.train_step(layers, trial, x, y, "BinaryCrossEntropy", 1.0)[0]

        check(w - stepped[index], numerical_gradient(loss_of, w.copy()))
