"""The layer protocol: ``propagate`` inputs to outputs, ``back_propagate`` dE/dO into dE/dI.

    dE/dI <- layer <- dE/dO

A layer records GPU work into a ``Program`` (built once per batch size, then re-encoded every
step) instead of computing eagerly; it keeps the arrays of its last propagate, as the original
kept ``last_inputs``/``last_outputs``, so ``back_propagate`` can use them. Parameter gradients go
into the model's flat gradient buffer; the optimizer updates all parameters in one dispatch.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from .. import gpu
from ..gpu import GPUArray, Program
from ..gpu.dtypes import beyond_range, first_beyond, wider_dtypes
from ..io.files import ModelFileError
from .registry import read_layer, save_layer


class Layer:
    """Base class. ``__init__`` validates and allocates nothing; GPU buffers come from the model.

    Subclasses set ``input_size``/``output_size`` (None: same as their input) and may declare
    parameters through ``parameter_shapes``.
    """

    input_size: int | None = None
    # Per-sample shapes (NHWC images: (H, W, C); flat samples: (features,)), set by ``build``
    # when the model chains its layers; the GPU arrays are always [batch, prod(shape)].
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    # True for layers whose config carries code that runs when built (WGSLLayer's WGSL): files
    # holding one load only with allow_code=True, and no PyTorch layout can hold it.
    carries_code = False
    dtypes: tuple[str, ...] | None = None  # the model dtypes it computes in (None: every one)
    last_inputs: GPUArray | None = None
    last_outputs: GPUArray | None = None
    _owner: weakref.ref | None = None  # the model this layer belongs to, for good (see claim)
    # Views of the model's master weights when ``parameters`` are a lower-precision copy of
    # them (mixed_float16's f16 views); empty otherwise. What this layer's weights are.
    master_parameters: list[GPUArray] = []
    # Views of the model's non-trainable state buffer (state_shapes), bound as they are.
    states: list[GPUArray] = []

    def __init__(self) -> None:
        # Views into the model's flat parameter buffer (mixed_float16: its f16 compute copy).
        self.parameters: list[GPUArray] = []
        self.gradients: list[GPUArray] = []  # views into the model's flat gradient buffer
        # Views into the model's flat state buffer (of the parameters' dtype; mixed_float16:
        # float32, no f16 copy): never touched by an optimizer, no gradient.
        self.states: list[GPUArray] = []
        # Host values until the model uploads them: initial, loaded or set; the parameters
        # then the states (``weight_shapes``' order).
        self.host_weights: list[np.ndarray] | None = None

    def output_size_for(self, input_size: int) -> int:
        """Features out, given ``input_size`` features in."""
        return input_size

    def output_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-sample output shape for per-sample ``input_shape``.

        The default serves flat layers: a layer of fixed width (``input_size``, e.g. Dense)
        takes flat samples only; a layer that keeps its width (an activation) keeps the shape.
        Layers of images (Conv2D, pooling) override it.

        Raises:
            ValueError: this layer can't take ``input_shape`` (the message says what to do).
        """
        input_shape = tuple(input_shape)
        if self.input_size is not None and len(input_shape) != 1:
            raise ValueError(f"{self!r} takes flat samples ({self.input_size},), received "
                             f"{input_shape}; put Flatten() before it")
        size = math.prod(input_shape)
        outputs = self.output_size_for(size)
        return input_shape if outputs == size and self.input_size is None else (outputs,)

    def build(self, input_shape: tuple[int, ...]) -> None:
        """Fix this layer's per-sample shapes (the model calls it as it chains its layers)."""
        output_shape = self.output_shape_for(tuple(input_shape))
        self.input_shape, self.output_shape = tuple(input_shape), tuple(output_shape)

    def parameter_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each trainable array, in Keras order."""
        return []

    def initial_parameters(self, rng: np.random.Generator) -> list[np.ndarray]:
        return []

    def state_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each non-trainable array (BatchNormalization's moving_mean and
        moving_variance): the model keeps them on the GPU as ``self.states``, which only this
        layer's shaders write (no gradient, no optimizer), and files save them."""
        return []

    def initial_state(self) -> list[np.ndarray]:
        """The initial values of ``state_shapes``' arrays."""
        return []

    def weight_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every array this layer keeps: its parameters, then its states
        (Keras' order: gamma, beta, moving_mean, moving_variance), as get_weights lists them."""
        return self.parameter_shapes() + self.state_shapes()

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        """Record the forward pass of ``inputs`` [batch, in]; return the outputs [batch, out]."""
        raise NotImplementedError

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        """Record dE/dI from dE/dO [batch, out] (and the parameter gradients); return dE/dI.

        ``need_grad_inputs`` is False for the first layer, whose dE/dI nobody uses.
        """
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, enough to build the same layer again."""
        return {}

    def copy(self) -> Layer:
        """A new layer with this one's config and current weights (read back from the GPU
        once they live there) that belongs to no model yet: the way to put "the same" layer
        into another model, or twice into one (with weights that then train apart).

        Returns:
            The copy; a layer not yet in any model copies without weights (its model will
            initialise them).
        """
        twin = self.blank_copy()
        if self.parameters or self.host_weights is not None:
            twin.host_weights = self.current_weights()
        return twin

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that change what this layer computes: its config without
        the initializers (which only chose the weights a file replaces)."""
        return {key: value for key, value in self.get_config().items()
                if not key.endswith("_initializer")}

    def blank_copy(self) -> Layer:
        """A new layer of this one's type and config, without weights and without a model."""
        return type(self)(**self.get_config())

    # Files (the original's per-layer save/load) ----------------------------------------------
    def current_weights(self) -> list[np.ndarray]:
        """This layer's parameters then states as numpy (read from the GPU once they live
        there)."""
        views = [*(self.master_parameters or self.parameters), *self.states]
        if views:
            return views[0].device.run_sync(gpu.read, *views)
        return [w.copy() for w in self.host_weights or []]

    def save(self, path: str) -> None:
        """Write this layer (type, sizes, weights) to a safetensors file, atomically."""
        save_layer(self, path)

    def load(self, path: str, allow_code: bool = False) -> None:
        """Load weights saved by ``save`` into this layer, which must be of the same type and
        sizes (like the original's ``dummy()`` + ``load``; ``Layer.from_file`` builds one).

        Args:
            allow_code: accept a file whose layer carries code (a WGSLLayer's WGSL, which is
                rendered to be compared): only for files you trust.

        Raises:
            ModelFileError (a ValueError): a broken file, one for another type or size, or one
                carrying code without ``allow_code``.
        """
        stored, weights = read_layer(path, allow_code)
        if type(stored) is not type(self) or stored.weight_shapes() != self.weight_shapes():
            theirs = [shape for _, shape in stored.weight_shapes()]
            ours = [shape for _, shape in self.weight_shapes()]
            raise ModelFileError(path, f"holds {stored!r} weights {theirs}, but this layer is "
                                       f"{self!r} {ours}")
        if stored.settings() != self.settings():  # e.g. LeakyReLU(0.1) into LeakyReLU(0.9)
            raise ModelFileError(path, f"holds {stored!r} with {stored.settings()}, but this "
                                       f"layer has {self.settings()}; build it with those "
                                       "arguments or use Layer.from_file")
        count = len(self.parameter_shapes())  # the parameters; the states follow them
        if self.host_weights:  # in a model: keep its dtype, refusing what overflows it
            weights = [_narrowed(path, w, self.host_weights[0].dtype) for w in weights]
            model = self._owner() if self._owner is not None else None
            if model is not None and model.precision.master_copy:  # and its f16 copy's, on
                for values in weights[:count]:  # the GPU or not (refused now, not at predict)
                    _narrowed(path, values, model.precision.numpy)
        self.host_weights = weights
        for views, values in ((self.master_parameters, weights[:count]),  # master, its copy
                              (self.parameters, weights[:count]), (self.states, weights[count:])):
            for view, value in zip(views, values):
                view.device.run_sync(gpu.upload, view, value)

    @classmethod
    def from_file(cls, path: str, allow_code: bool = False) -> Layer:
        """A new layer built from a file written by ``layer.save`` (type, sizes and weights).

        Args:
            allow_code: accept a layer that carries code (a WGSLLayer: its WGSL then runs on
                the GPU, and renders as a Jinja2 template on the host): only for files you trust.

        Raises:
            ModelFileError (a ValueError): a broken file, another layer type, or code without
                ``allow_code``.
        """
        layer, weights = read_layer(path, allow_code)
        if not isinstance(layer, cls):
            raise ModelFileError(path, f"holds a {type(layer).__name__}, not a {cls.__name__}")
        layer.host_weights = weights
        return layer

    # PyTorch interop (files saved with layout="torch", Model.from_torch_state_dict): PyTorch's
    # names for this layer's weights where they differ from Keras' (Linear's weight is Dense's
    # kernel; BatchNorm2d's running_mean is moving_mean), and their layouts through to_torch
    # and from_torch, which a layer whose layout differs otherwise (Conv2D) overrides.
    torch_names: dict[str, str] = {"kernel": "weight"}

    def to_torch(self, name: str, value: np.ndarray) -> np.ndarray:
        """Weight ``name`` in PyTorch's layout: a 2-D kernel [in, out] as Linear's [out, in]."""
        return value.T if name == "kernel" and value.ndim == 2 else value

    def from_torch(self, name: str, value: np.ndarray) -> np.ndarray:
        """``to_torch``'s inverse: weight ``name`` from PyTorch's layout into this layer's."""
        return np.ascontiguousarray(value.T) if name == "kernel" and value.ndim == 2 else value

    def torch_constants(self) -> dict[str, np.ndarray]:
        """Tensors PyTorch's module holds where this layer keeps a fixed value instead (by
        PyTorch's name): written by the torch layout, checked and dropped when read back."""
        return {}

    def __repr__(self) -> str:
        arguments = ", ".join(repr(value) for value in self.get_config().values())
        return f"{type(self).__name__}({arguments})"


def check_size(name: str, value: object) -> int:
    """A positive int argument, or a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, received {value!r}")
    return int(value)


def claim(layers: list[Layer], model: object) -> None:
    """Make ``model`` the owner of every layer, for good: a layer's arrays, views and recorded
    state are its model's, so a second model (or a second place in one model) would corrupt them.

    Raises:
        ValueError: a layer appears twice, or already belongs to a model; then no layer is
            claimed, so the same layers may be passed again (corrected).
    """
    check_free(layers)
    for layer in layers:
        layer._owner = weakref.ref(model)


def check_free(layers: list[Layer]) -> None:
    """claim's checks alone: a ValueError unless every layer is free and appears once."""
    first_index: dict[int, int] = {}
    for index, layer in enumerate(layers):
        if id(layer) in first_index:
            raise ValueError(
                f"layers[{index}]: {layer!r} is the same object as "
                f"layers[{first_index[id(layer)]}]; a layer can be in a model only once. Pass "
                "layer.copy() (same config and weights, trained apart) or a new layer there")
        first_index[id(layer)] = index
        if layer._owner is not None:
            owner = layer._owner()
            where = "a model that no longer exists" if owner is None else repr(owner)
            raise ValueError(
                f"layers[{index}]: {layer!r} already belongs to {where}; a layer belongs to one "
                "model. Pass layer.copy() (same config and current weights, no model), or copy "
                "the whole model with model.clone()")


def _narrowed(path, values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` as ``dtype`` (the model's, or mixed_float16's float16 copy), or a
    ModelFileError for a value beyond its range (a float64 layer file holding 1e300, loaded
    into a float32 model, would read as inf)."""
    bad = first_beyond(values, dtype)
    if bad is not None:
        why = "which the model keeps it in"
        raise ModelFileError(path, f"holds {beyond_range(values, bad, dtype, why)}; load it "
                                   f"into a model of dtype {wider_dtypes(dtype)}")
    return values.astype(dtype)
