"""Model: a list of layers trained on the GPU with ``await model.fit(x, y, options)``."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import numpy as np

from . import gpu, losses
from .dataset import Dataset
from .engine import inputs
from .engine.fit import run_fit
from .engine.inference import evaluate_now, predict_now
from .engine.inputs import check_data, check_dataset, split_validation
from .engine.optimizer_state import read_state
from .engine.progress import summary_table
from .engine.state import ModelState, check_sizes, ready_device
from .engine.weights import check_layer_weights, initial_weights
from .gpu import Device, GPUArray, dtypes
from .io.saving import ModelFiles
from .layers import Layer, check_chain
from .layers.base import claim
from .metrics import resolve as resolve_metrics
from .optimizers import Optimizer
from .options import History, TrainingOptions


class Model(ModelFiles):
    """A sequence of layers, its parameters in one GPU buffer.

    Args:
        layers: the layers in order; their shapes must chain (Dense(2, 3) then Dense(3, 1);
            Conv2D, pooling, then Flatten() before Dense).
        device: a device from ``await intricate.setup_device()``; None: ``fit``/``predict``
            (``instantiate_gpu=True``) put the model on the process-wide default device, which
            every model made without a device shares (``gpu.default_device()``). The model
            keeps its device for its whole life.
        seed: seeds the weight initialisation; the same seed gives bit-identical weights.
        dtype: "float32", "float64" or "mixed_float16" (Keras' policy names, gpu/dtypes.py):
            the GPU's types; inputs are converted to its data type (README, "Precision").
        input_shape: the per-sample input shape, (H, W, C) for NHWC images (Keras' layout);
            None: the first Dense's inputs (layers before it must keep shapes). Data is then
            [samples, *input_shape]; predict returns [samples, *output_shape].

    A layer belongs to one model: pass ``layer.copy()`` to reuse one, or ``model.clone()``.
    Calls may overlap (a predict gathered with a fit): the first one opens the device (if
    needed) and puts the model on it, once; the others wait for that.

    Raises:
        ValueError: no layers, a non-Layer, layers whose shapes don't chain (naming the layer
            and both shapes), no known input shape (Conv2D first: give input_shape), a layer
            that is already in a model (or twice in this one), an unknown dtype, or one
            ``device`` lacks the feature of; then no layer is taken.
    """

    def __init__(self, layers: Sequence[Layer], device: Device | None = None,
                 seed: int | None = None, dtype: str = "float32",
                 input_shape: Sequence[int] | None = None) -> None:
        self.layers = list(layers)
        inputs.check_seed(seed)
        self.precision = dtypes.precision(dtype)
        self.input_shape, self.output_shape = check_chain(self.layers, input_shape)
        # The GPU works on rows [batch, size]: an NHWC image is its H·W·C values, c fastest.
        self.input_size, self.output_size = (math.prod(self.input_shape),
                                             math.prod(self.output_shape))
        if device is not None and not isinstance(device, Device):
            raise ValueError(f"device: expected an intricate Device from "
                             f"`await intricate.setup_device()`, received {device!r}")
        self.device = device
        check_sizes(self.layers, device, self.precision)  # before drawing: memory, limits, dtype
        claim(self.layers, self)  # the last check: a refusal leaves every layer free
        initial_weights(self.layers, seed, self.precision)
        self._state: ModelState | None = None  # everything on the GPU, once it meets its device
        self._first_touch = asyncio.Lock()  # one device and one ModelState, however many calls
        self._fitting = False  # two fits at once would share (and corrupt) the workspaces
        self._last_fit: TrainingOptions | None = None
        self._pending_optimizer_state: dict[str, np.ndarray] | None = None  # loaded, not uploaded
        self.history: History | None = None
        self.stop_training = False
        self.optimizer: Optimizer | None = None  # the last fit's (or a loaded file's)

    # Device and parameters -------------------------------------------------------------------
    async def _ready_device(self, instantiate_gpu: bool) -> Device:
        return await ready_device(self, instantiate_gpu)

    def get_weights(self) -> list[np.ndarray]:
        """Every weight as numpy, Keras order [W0, b0, W1, b1, ...], kernels [in, out]: each
        layer's parameters, then its non-trainable states (BatchNormalization: gamma, beta,
        moving_mean, moving_variance).

        Reads the GPU copy (one readback) once the model has trained or predicted.
        """
        if self._state is None:
            return [w.copy() for layer in self.layers for w in layer.host_weights]
        return self.device.run_sync(gpu.read, *self._state.weight_views())

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace every weight (states too); ``weights`` as returned by ``get_weights``.

        Raises:
            ValueError: wrong count, shape, or non-numeric/non-finite values; nothing changes.
        """
        checked = check_layer_weights(self.layers, weights, self.precision)
        for layer, values in zip(self.layers, checked):
            layer.host_weights = values
        if self._state is not None:  # the master weights, and mixed_float16's f16 copy
            self.device.run_sync(self._state.write_weights, sum(checked, []))

    def snapshot_weights(self, snapshot: GPUArray | None = None) -> GPUArray:
        """Copy the parameters and states into ``snapshot`` (new if None) on the GPU: no readback.

        Raises:
            RuntimeError: the model has not met its device yet (fit or predict first).
        """
        return self.device.run_sync(self._gpu_state("snapshot_weights").copy_parameters,
                                    snapshot, to_snapshot=True)

    def restore_weights(self, snapshot: GPUArray) -> None:
        """Put back parameters and states saved by ``snapshot_weights``."""
        self.device.run_sync(self._gpu_state("restore_weights").copy_parameters, snapshot,
                             to_snapshot=False)

    def _gpu_state(self, caller: str) -> ModelState:
        if self._state is None:
            raise RuntimeError(f"{caller}: the model has no GPU state yet; fit, predict or "
                               "evaluate it first")
        return self._state

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's moments (and step count) per parameter, as numpy (mixed_float16:
        and the loss scale): ``{}`` before the first fit (or the file's, until uploaded)."""
        if self._pending_optimizer_state is not None or self._state is None or (
                self.optimizer is None):
            return dict(self._pending_optimizer_state or {})
        return self.device.run_sync(read_state, self.optimizer, self._state)

    def clone(self) -> Model:
        """A new model on the same device with copies of these layers and their current
        weights (one readback once they live on the GPU); no optimizer state or history."""
        weights = iter(self.get_weights())
        twins = [layer.blank_copy() for layer in self.layers]
        for twin, layer in zip(twins, self.layers):
            twin.host_weights = [next(weights) for _ in layer.weight_shapes()]
        return type(self)(twins, device=self.device, dtype=self.dtype,
                          input_shape=self.input_shape)

    @property
    def dtype(self) -> str:
        """The model's dtype policy name ("float32", "float64", "mixed_float16")."""
        return self.precision.name

    def count_params(self) -> int:
        """Every weight's element count, trainable or not (Keras' count_params)."""
        return sum(math.prod(s) for layer in self.layers for _, s in layer.weight_shapes())

    # Training ----------------------------------------------------------------------------------
    async def upload(self, x: np.ndarray, y: np.ndarray | None = None) -> Dataset:
        """x (and y), checked as ``fit`` checks them, put on the model's device once: ``fit``,
        ``evaluate`` and ``predict`` then take the Dataset without uploading again. Opens a
        device first if the model has none."""
        if y is None:
            x = inputs.check_x(self, x)
        else:
            x, y = check_dataset(x, y, self.input_shape, self.output_shape,
                                 dtype=self.precision.numpy)
        device = await self._ready_device(instantiate_gpu=True)
        data = await device.run(Dataset.upload, device, x, y)
        data.shapes = (self.input_shape, None if y is None else self.output_shape)
        return data

    async def fit(self, x: np.ndarray | Dataset, y: np.ndarray | None = None,
                  options: TrainingOptions | None = None) -> History:
        """Train for ``options.epochs`` epochs; see TrainingOptions for batching, optimizers,
        metrics, validation and callbacks.

        Args:
            x: inputs [samples, *input_shape]; y: targets [samples, *output_shape] (flat
                models: [samples, outputs], or [samples] for one output). Or x a Dataset
                from ``upload`` (already on the GPU) and no y.
            options: TrainingOptions; defaults to TrainingOptions().

        Returns:
            History: ``history.history`` holds per-epoch lists ("loss", metrics, "val_*").

        Raises:
            ValueError: bad x, y or options, before any GPU work.

        The dataset is uploaded once; each epoch is one command encoder and one submit; loss and
        metrics stay on the GPU and are read once per epoch (every ``loss_read_interval(epochs)``
        epochs when no callback needs each epoch). Cancelling the task (or Ctrl-C) stops
        training at a step boundary within one chunk of GPU work; ``model.history`` keeps the
        completed epochs.
        """
        options = TrainingOptions() if options is None else options
        if not isinstance(options, TrainingOptions):
            raise ValueError(f"options: expected TrainingOptions, received {options!r}")
        dtype = self.precision.numpy
        x, y = check_data(x, y, self.input_shape, self.output_shape, dtype)
        x, y, validation = split_validation(x, y, options, self.input_shape, self.output_shape,
                                            dtype)
        if self._fitting:
            raise RuntimeError("fit: this model is already training; await that fit first")
        self._fitting = True
        try:
            return await run_fit(self, x, y, validation, options)
        finally:
            self._fitting = False

    # Evaluation and inference --------------------------------------------------------------------
    async def evaluate(self, x: np.ndarray | Dataset, y: np.ndarray | None = None,
                       batch_size: int | None = None,
                       loss_algorithm: losses.Loss | str | None = None,
                       metrics: Sequence[str] | None = None, return_dict: bool = False):
        """Loss and metrics over (x, y), computed on the GPU in batches of ``batch_size``
        (None: as many as the device binds at once, all for most data). The loss and metrics
        default to those of the last fit.

        Returns:
            The loss if there are no metrics, else [loss, *metrics] (Keras' order), or a dict
            {"loss": ..., name: ...} with ``return_dict=True``.
        """
        last = self._last_fit
        loss = losses.get(loss_algorithm or (last.loss_algorithm if last else "mse"))
        chosen = resolve_metrics(metrics if metrics is not None else
                                 (last.metrics if last else ()), self.output_size)
        if batch_size is not None:
            TrainingOptions(batch_size=batch_size)  # the same checks as fit's
        x, y = check_data(x, y, self.input_shape, self.output_shape, self.precision.numpy)
        device = await self._ready_device(instantiate_gpu=True)
        if isinstance(x, Dataset):
            x.check_for("x", self)
        values = await device.run(evaluate_now, self._state, x, y, batch_size, loss,
                                  chosen.accuracy)
        logs = chosen.logs(values)
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    async def predict(self, x: np.ndarray | Dataset, batch_size: int | None = None) -> np.ndarray:
        """Outputs [samples, *output_shape], of the model's data dtype (float16 for
        mixed_float16, as Keras'), for x [samples, *input_shape] (or a Dataset's x) in batches of
        ``batch_size`` (None: as large as the device binds at once): one readback, one submit
        per ``MAX_DISPATCHES_PER_SUBMIT`` dispatches. Opens a device first if the model has
        none."""
        if not isinstance(x, Dataset):
            x = inputs.check_x(self, x)
        if batch_size is not None:
            TrainingOptions(batch_size=batch_size)
        device = await self._ready_device(instantiate_gpu=True)
        if isinstance(x, Dataset):
            x.check_for("x", self, needs_targets=False)
        outputs = await device.run(predict_now, self._state, x, batch_size)
        return outputs.reshape(len(outputs), *self.output_shape)  # rows as samples: no copy

    def summary(self) -> str:
        """Print (and return) a Keras-style table: layers, output shapes, parameter counts."""
        text = summary_table(self.layers, self.input_shape)
        print(text)
        return text

    def __repr__(self) -> str:
        dtype = "" if self.dtype == "float32" else f", dtype={self.dtype!r}"
        shape = "" if len(self.input_shape) == 1 else f", input_shape={self.input_shape}"
        return f"Model({self.layers!r}{dtype}{shape})"
