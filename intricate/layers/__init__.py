"""Layers: each propagates inputs to outputs and back-propagates dE/dO into dE/dI.

Every activation that activations.py lists in its ``__all__`` is exported here too, so adding
one touches only its own two files (activations.py and shaders/layers/activations.wgsl).
"""

from . import activations
from .activations import *  # noqa: F403 (the activations' own __all__)
from .base import Layer
from .chain import check_chain
from .conv2d import Conv2D
from .dense import Dense
from .dropout import Dropout
from .global_pooling import (
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
)
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D
from .registry import register
from .shape import Flatten, Reshape
from .wgsl import WGSLLayer

__all__ = [*activations.__all__, "AvgPool2D", "BatchNormalization", "Conv2D", "Dense", "Dropout",
           "Flatten", "GlobalAveragePooling2D", "MaxPool2D", "Layer", "Reshape", "WGSLLayer",
           "check_chain", "register", "AveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
           "GlobalMaxPooling2D", "MaxPooling2D"]
