"""Layers: each propagates inputs to outputs and back-propagates dE/dO into dE/dI."""

from .activations import Activation, ReLU, Sigmoid, SoftMax, TanH
from .base import Layer, check_chain
from .dense import Dense
from .registry import register

__all__ = [
    "Activation", "Dense", "Layer", "ReLU", "Sigmoid", "SoftMax", "TanH", "check_chain", "register",
]
