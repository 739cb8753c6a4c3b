"""The NumPy float64 oracle of Dropout and BatchNormalization (intricate/layers/dropout.py,
normalization.py), forward beside backward. Part of intricate/kernels/reference.py's oracle
(tests import both through tests/reference.py), kept apart so each module stays short.

BatchNormalization normalises over every axis but the last (channels): x is [..., C], and its
statistics are those of x.reshape(-1, C)'s columns, as Keras' (axis=-1) are.
"""

from __future__ import annotations

import numpy as np


# Dropout: the keep mask of shaders/layers/dropout.wgsl (a counter-based hash) -------------------
def lowbias32(value):
    """The shader's 32-bit integer hash ``mixed``, on uint32 arrays."""
    x = np.asarray(value, np.uint32).copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
    return x


def dropout_keep(count, step, seed_low, seed_high, threshold, workgroup_size=256):
    """Which of ``count`` elements a training step keeps, as the shader draws them: element i
    hashes with the step of its workgroup (``step``: one value, or one per workgroup of
    ``workgroup_size`` elements) and is kept when the hash reaches ``threshold``."""
    with np.errstate(over="ignore"):
        i = np.arange(count, dtype=np.uint32)
        steps = np.broadcast_to(np.asarray(step, np.uint32), (-(-count // workgroup_size),))
        step = steps[i // workgroup_size]
        key = lowbias32(lowbias32(lowbias32(step ^ np.uint32(seed_high)) ^ np.uint32(seed_low))
                        + np.uint32(count))
        return lowbias32(lowbias32(i ^ key) + lowbias32(key ^ np.uint32(0x9E3779B9))) >= (
            np.uint32(threshold))


def dropout_forward(x, keep, rate):
    """y = x / (1 - rate) where kept, else 0."""
    return np.where(keep, np.asarray(x, np.float64) / (1 - rate), 0.0)


def dropout_backward(grad_outputs, keep, rate):
    """dE/dI = dE/dO / (1 - rate) where kept (the forward's mask), else 0."""
    return np.where(keep, np.asarray(grad_outputs, np.float64) / (1 - rate), 0.0)


# BatchNormalization --------------------------------------------------------------------------
def batch_norm_moments(x):
    """(mean, biased variance) of each channel (last axis), two-pass."""
    columns = np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])
    mean = columns.mean(axis=0)
    return mean, ((columns - mean) ** 2).mean(axis=0)


def batch_norm_forward(x, mean, variance, gamma=None, beta=None, epsilon=1e-3):
    """y = gamma (x - mean) / sqrt(variance + epsilon) + beta, per channel (gamma 1 and beta 0
    when None: scale=False, center=False). Training passes the batch's moments, inference the
    moving ones."""
    x = np.asarray(x, np.float64)
    y = (x - mean) / np.sqrt(np.asarray(variance, np.float64) + epsilon)
    if gamma is not None:
        y = y * np.asarray(gamma, np.float64)
    return y if beta is None else y + np.asarray(beta, np.float64)


def batch_norm_training_forward(x, gamma=None, beta=None, epsilon=1e-3):
    """(y, batch mean, batch biased variance) of a training step."""
    mean, variance = batch_norm_moments(x)
    return batch_norm_forward(x, mean, variance, gamma, beta, epsilon), mean, variance


def batch_norm_backward(x, grad_outputs, gamma=None, epsilon=1e-3):
    """(dE/dx, dE/dgamma, dE/dbeta) of a training step's forward, through the batch statistics:
    with x̂ = (x - mean) / sqrt(var + eps) over the N values of a channel,
    dE/dx = gamma / sqrt(var + eps) · (dE/dy - mean(dE/dy) - x̂ · mean(dE/dy · x̂))."""
    shape = np.shape(x)
    columns = np.asarray(x, np.float64).reshape(-1, shape[-1])
    grad = np.asarray(grad_outputs, np.float64).reshape(columns.shape)
    mean, variance = batch_norm_moments(columns)
    inverse_std = 1 / np.sqrt(variance + epsilon)
    normalized = (columns - mean) * inverse_std
    grad_beta, grad_gamma = grad.sum(axis=0), (grad * normalized).sum(axis=0)
    scale = inverse_std * (1.0 if gamma is None else np.asarray(gamma, np.float64))
    grad_inputs = scale * (grad - grad.mean(axis=0) - normalized * (grad * normalized).mean(0))
    return grad_inputs.reshape(shape), grad_gamma, grad_beta


def batch_norm_inference_backward(x, grad_outputs, mean, variance, gamma=None, epsilon=1e-3):
    """(dE/dx, dE/dgamma, dE/dbeta) of ``batch_norm_forward`` with constant statistics (the
    moving ones): dE/dx = gamma / sqrt(variance + eps) · dE/dy."""
    columns = np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])
    grad = np.asarray(grad_outputs, np.float64).reshape(columns.shape)
    inverse_std = 1 / np.sqrt(np.asarray(variance, np.float64) + epsilon)
    normalized = (columns - mean) * inverse_std
    scale = inverse_std * (1.0 if gamma is None else np.asarray(gamma, np.float64))
    return ((scale * grad).reshape(np.shape(x)), (grad * normalized).sum(axis=0),
            grad.sum(axis=0))


def batch_norm_moving(moving, batch_value, momentum):
    """Keras' update of a moving statistic: momentum · moving + (1 - momentum) · batch (the
    biased batch variance for moving_variance)."""
    return momentum * np.asarray(moving, np.float64) + (1 - momentum) * np.asarray(batch_value)
