"""intricate: Keras-like neural networks whose layers run hand-written WGSL on any GPU.

    model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], seed=0)
    history = await model.fit(x, y, TrainingOptions(learning_rate=0.1, epochs=1000))
    outputs = await model.predict(x)
"""

from . import (
    callbacks,
    datasets,
    gpu,
    initializers,
    kernels,
    layers,
    losses,
    metrics,
    optimizers,
    plot,
)
from ._version import __version__
from .dataset import Dataset
from .gpu import Device, ForkedProcessError, NoAdapterError, ShaderError, setup_device
from .io.files import ModelFileError, NonFiniteWeightsError
from .model import Model
from .options import History, TrainingOptions

__all__ = [
    "Dataset", "Device", "ForkedProcessError", "History", "Model", "ModelFileError",
    "NoAdapterError", "NonFiniteWeightsError", "ShaderError", "TrainingOptions",
    "__version__",
    "callbacks", "datasets", "gpu", "initializers", "kernels", "layers", "losses", "metrics",
    "optimizers", "plot",
    "setup_device",
]
