"""The NumPy float64 oracle: every op of the library, forward beside backward.

Backward functions take dE/dO and return dE/dI (and parameter gradients), exactly as the layers
and shaders do. The tests (tests/reference.py re-exports this module) and ``intricate bench``
(intricate/kernels/catalog) compare the shaders against these, and the tests check these against
finite differences.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # the probability clip of the cross-entropy losses (Keras' epsilon)


# Dense -----------------------------------------------------------------------------------------
def dense_forward(x, kernel, bias):
    return x @ kernel + bias


def dense_backward(x, kernel, grad_outputs):
    """(dE/dx, dE/dkernel, dE/dbias)."""
    return grad_outputs @ kernel.T, x.T @ grad_outputs, grad_outputs.sum(axis=0)


# Activations: forward(x) -> o, backward(o, dE/dO) -> dE/dI -------------------------------------
def tanh_forward(x):
    return np.tanh(x)


def tanh_backward(outputs, grad_outputs):
    return grad_outputs * (1 - outputs**2)


def sigmoid_forward(x):
    return np.exp(-np.logaddexp(0.0, -x))  # 1 / (1 + e^-x) without overflow warnings


def sigmoid_backward(outputs, grad_outputs):
    return grad_outputs * outputs * (1 - outputs)


def relu_forward(x):
    return np.maximum(x, 0)


def relu_backward(outputs, grad_outputs):
    return np.where(outputs > 0, grad_outputs, 0.0)


def softmax_forward(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_backward(outputs, grad_outputs):
    dot = (grad_outputs * outputs).sum(axis=1, keepdims=True)
    return outputs * (grad_outputs - dot)


# Element-wise activations with their derivative from the input: forward(x, alpha) -> o,
# derivative(x, alpha) -> do/dx (alpha 0 where unused; the definitions of PyTorch/Keras).
GELU_C = np.sqrt(2 / np.pi)


def gelu_forward(x, alpha=0.0):
    """0.5·x·(1 + tanh(u)) computed as x·sigmoid(2u) (the same function): in float64 too,
    1 + tanh(u) cancels to 0 for x < -6 where the true value is still ~1e-18."""
    u = GELU_C * (x + 0.044715 * x**3)
    return x * sigmoid_forward(2 * u)


def gelu_derivative(x, alpha=0.0):
    u = GELU_C * (x + 0.044715 * x**3)
    s = sigmoid_forward(2 * u)
    return s + 2 * x * s * sigmoid_forward(-2 * u) * GELU_C * (1 + 3 * 0.044715 * x**2)


def silu_forward(x, alpha=0.0):
    return x * sigmoid_forward(x)


def silu_derivative(x, alpha=0.0):
    s = sigmoid_forward(x)
    return s * (1 + x * (1 - s))


ELEMENTWISE = {
    "ReLU": (lambda x, a=0.0: relu_forward(x), lambda x, a=0.0: (x > 0).astype(np.float64)),
    "TanH": (lambda x, a=0.0: np.tanh(x), lambda x, a=0.0: 1 - np.tanh(x) ** 2),
    "Sigmoid": (lambda x, a=0.0: sigmoid_forward(x),
                lambda x, a=0.0: sigmoid_forward(x) * (1 - sigmoid_forward(x))),
    "LeakyReLU": (lambda x, a: np.where(x > 0, x, a * x), lambda x, a: np.where(x > 0, 1.0, a)),
    "ELU": (lambda x, a: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))),
            lambda x, a: np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0)))),
    "GELU": (gelu_forward, gelu_derivative),
    "SiLU": (silu_forward, silu_derivative),
    "Softplus": (lambda x, a=0.0: np.logaddexp(x, 0), lambda x, a=0.0: sigmoid_forward(x)),
}


# Losses: value(ŷ, y) -> scalar, gradient(ŷ, y) -> dL/dŷ --------------------------------------
def mean_squared_value(predictions, targets):
    return np.mean((predictions - targets) ** 2)


def mean_squared_gradient(predictions, targets):
    return 2 * (predictions - targets) / predictions.size


def mean_absolute_value(predictions, targets):
    return np.mean(np.abs(predictions - targets))


def mean_absolute_gradient(predictions, targets):
    return np.sign(predictions - targets) / predictions.size


def binary_crossentropy_value(predictions, targets):
    p = np.clip(predictions, EPSILON, 1 - EPSILON)
    return np.mean(-(targets * np.log(p) + (1 - targets) * np.log(1 - p)))


def binary_crossentropy_gradient(predictions, targets):
    p = predictions
    inside = (p >= EPSILON) & (p <= 1 - EPSILON)
    return np.where(inside, (p - targets) / (p * (1 - p)), 0.0) / p.size


def categorical_crossentropy_value(predictions, targets):
    p = np.clip(predictions, EPSILON, 1 - EPSILON)
    return np.sum(-targets * np.log(p)) / len(predictions)


def categorical_crossentropy_gradient(predictions, targets):
    p = predictions
    inside = (p >= EPSILON) & (p <= 1 - EPSILON)
    return np.where(inside, -targets / p, 0.0) / len(p)


def softmax_crossentropy_gradient(predictions, targets):
    """dL/dz for L = CCE(softmax(z), y): the fused gradient (ŷ·Σy - y) / batch, Σy each row's
    target sum (exact for any y)."""
    target_sums = targets.sum(axis=1, keepdims=True)
    return (predictions * target_sums - targets) / len(predictions)


# Metrics: per-sample values; an epoch reports their mean over samples ---------------------------
def binary_accuracy(predictions, targets):
    """Keras': the thresholded prediction must equal y, so a soft y (0.7) never matches."""
    return np.mean((predictions > 0.5) == targets, axis=1)


def categorical_accuracy(predictions, targets):
    return (predictions.argmax(axis=1) == targets.argmax(axis=1)).astype(np.float64)


def mean_absolute_error(predictions, targets):
    return np.mean(np.abs(predictions - targets), axis=1)


def statistics_sums(predictions, targets, loss_name, accuracy):
    """What one batch adds to a statistics slot (intricate/ops/statistics.py's FIELDS): (loss ·
    rows, binary-correct rows, Σ per-row MAE, categorical-correct rows); an accuracy whose flag
    (1 binary, 2 categorical) is not in ``accuracy`` adds 0."""
    value = LOSSES[loss_name][0](predictions, targets)
    return np.array([value * len(predictions),
                     binary_accuracy(predictions, targets).sum() if accuracy & 1 else 0.0,
                     mean_absolute_error(predictions, targets).sum(),
                     categorical_accuracy(predictions, targets).sum() if accuracy & 2 else 0.0])


# Optimizers --------------------------------------------------------------------------------------
def sgd(parameters, gradients, learning_rate):
    return parameters - learning_rate * gradients


class OptimizerReference:
    """torch.optim's update rules in float64, step by step: ``step(θ, g) -> θ``."""

    def __init__(self, name, learning_rate, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=None, weight_decay=0.01):
        self.name, self.lr, self.mu = name, learning_rate, momentum
        self.b1, self.b2, self.wd = beta_1, beta_2, weight_decay
        self.eps = epsilon if epsilon is not None else (1e-10 if name == "adagrad" else 1e-8)
        self.m = self.v = 0.0
        self.t = 0

    def step(self, theta, g):
        theta, g = np.asarray(theta, np.float64), np.asarray(g, np.float64)
        self.t += 1
        if self.name == "sgd":
            return theta - self.lr * g
        if self.name in ("momentum", "nesterov"):
            self.m = self.mu * self.m + g
            step = g + self.mu * self.m if self.name == "nesterov" else self.m
            return theta - self.lr * step
        if self.name == "adagrad":
            self.m = self.m + g * g
            return theta - self.lr * g / (np.sqrt(self.m) + self.eps)
        if self.name == "adamw":
            theta = theta * (1 - self.lr * self.wd)
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat, v_hat = self.m / (1 - self.b1**self.t), self.v / (1 - self.b2**self.t)
        return theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


# A whole model -----------------------------------------------------------------------------------
ACTIVATIONS = {
    "TanH": (tanh_forward, tanh_backward),
    "Sigmoid": (sigmoid_forward, sigmoid_backward),
    "ReLU": (relu_forward, relu_backward),
    "SoftMax": (softmax_forward, softmax_backward),
}
LOSSES = {
    "MeanSquared": (mean_squared_value, mean_squared_gradient),
    "MeanAbsolute": (mean_absolute_value, mean_absolute_gradient),
    "BinaryCrossEntropy": (binary_crossentropy_value, binary_crossentropy_gradient),
    "CategoricalCrossEntropy": (categorical_crossentropy_value, categorical_crossentropy_gradient),
}


def loss_and_gradients(layer_names, weights, x, y, loss_name):
    """(loss, [dL/dW0, dL/db0, ...]) of a model given as layer names ("Dense" or an activation,
    or (name, alpha) for an activation of ELEMENTWISE), full batch, float64."""
    weights = [np.asarray(w, np.float64) for w in weights]
    activations, dense_index = [np.asarray(x, np.float64)], 0
    for name in layer_names:
        if name == "Dense":
            kernel, bias = weights[2 * dense_index], weights[2 * dense_index + 1]
            activations.append(dense_forward(activations[-1], kernel, bias))
            dense_index += 1
        elif isinstance(name, tuple) or name not in ACTIVATIONS:
            name, alpha = name if isinstance(name, tuple) else (name, 0.0)
            activations.append(ELEMENTWISE[name][0](activations[-1], alpha))
        else:
            activations.append(ACTIVATIONS[name][0](activations[-1]))
    value, gradient = LOSSES[loss_name]
    loss = value(activations[-1], y)
    grad = gradient(activations[-1], y)
    gradients = [None] * len(weights)
    for index in reversed(range(len(layer_names))):
        name = layer_names[index]
        if name == "Dense":
            dense_index -= 1
            kernel = weights[2 * dense_index]
            grad, gradients[2 * dense_index], gradients[2 * dense_index + 1] = dense_backward(
                activations[index], kernel, grad)
        elif isinstance(name, tuple) or name not in ACTIVATIONS:
            name, alpha = name if isinstance(name, tuple) else (name, 0.0)
            grad = grad * ELEMENTWISE[name][1](activations[index], alpha)
        else:
            grad = ACTIVATIONS[name][1](activations[index + 1], grad)
    return loss, gradients


def train_step(layer_names, weights, x, y, loss_name, learning_rate):
    """One full-batch SGD step: (loss before the step, the updated weights [W0, b0, ...])."""
    loss, gradients = loss_and_gradients(layer_names, weights, x, y, loss_name)
    return loss, [sgd(np.asarray(w, np.float64), g, learning_rate)
                  for w, g in zip(weights, gradients)]


def train_epochs(layer_names, weights, x, y, loss_name, optimizer, orders, batch_size):
    """Mini-batch training: for each epoch's sample order, batches of ``batch_size`` (the last
    may be partial), one ``optimizer`` step each (an OptimizerReference over the flat
    parameters). Returns (the per-epoch mean losses weighted by batch rows, the weights)."""
    shapes = [np.shape(w) for w in weights]
    flat = np.concatenate([np.ravel(w) for w in weights]).astype(np.float64)

    def unflatten(vector):
        parts, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            parts.append(vector[start:start + size].reshape(shape))
            start += size
        return parts

    epoch_losses = []
    for order in orders:
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss, gradients = loss_and_gradients(layer_names, unflatten(flat), x[batch],
                                                 y[batch], loss_name)
            total += loss * len(batch)
            flat = optimizer.step(flat, np.concatenate([np.ravel(g) for g in gradients]))
        epoch_losses.append(total / len(order))
    return epoch_losses, unflatten(flat)
