"""Model: a list of layers trained on the GPU with ``await model.fit(x, y, options)``."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Sequence

import numpy as np

from . import gpu
from .gpu import Device, GPUArray, Program, StagedRead, Workspace
from .layers import Layer, SoftMax
from .losses import CategoricalCrossEntropy, Loss
from .optimizers import SGD
from .training import History, TrainingOptions, check_array, check_dataset

LOSS_READS_PER_FIT = 100  # very short epochs: read the loss in ~100 batches, not every epoch


def loss_read_interval(epochs: int) -> int:
    """Epochs between two loss readbacks: 1 for short fits, ``epochs / 100`` for long ones."""
    return max(1, math.ceil(epochs / LOSS_READS_PER_FIT))


class Model:
    """A sequence of layers, its parameters in one GPU buffer.

    Args:
        layers: the layers in order; their sizes must chain (Dense(2, 3) then Dense(3, 1)).
        device: a device from ``await intricate.setup_device()``; None lets ``fit``/``predict``
            open one (``instantiate_gpu=True``). The model keeps it for its whole life.
        seed: seeds the weight initialisation; the same seed gives bit-identical weights.

    Raises:
        ValueError: no layers, a non-Layer, or layers whose sizes don't chain.
    """

    def __init__(self, layers: Sequence[Layer], device: Device | None = None,
                 seed: int | None = None) -> None:
        self.layers = list(layers)
        self.input_size, self.output_size = _check_chain(self.layers)
        if device is not None and not isinstance(device, Device):
            raise ValueError(f"device: expected an intricate Device from "
                             f"`await intricate.setup_device()`, received {device!r}")
        self.device = device
        rng = np.random.default_rng(seed)
        self._host_weights = [w for layer in self.layers for w in layer.initial_parameters(rng)]
        self._parameters: GPUArray | None = None  # every parameter, one flat buffer
        self._gradients: GPUArray | None = None  # laid out like _parameters
        self._workspaces: dict[int, Workspace] = {}
        self._forward_programs: dict[int, Program] = {}
        self.history: History | None = None
        self._fitting = False  # two fits at once would share (and corrupt) the workspace

    # Device and parameters -------------------------------------------------------------------
    async def _ready_device(self, instantiate_gpu: bool) -> Device:
        if self.device is None:
            if not instantiate_gpu:
                raise ValueError("instantiate_gpu: the model has no device, so it must be True; "
                                 "or build the model with Model(layers, device=await "
                                 "intricate.setup_device())")
            self.device = await gpu.setup_device()
        if self._parameters is None:
            await self.device.run(self._upload_parameters)
        return self.device

    def _upload_parameters(self) -> None:
        align = max(1, self.device.limits["min-storage-buffer-offset-alignment"] // 4)
        shapes = [shape for layer in self.layers for _, shape in layer.parameter_shapes()]
        starts, total = [], 0
        for shape in shapes:
            starts.append(total)
            total += math.ceil(math.prod(shape) / align) * align
        flat = np.zeros(max(total, 1), np.float32)
        for start, weights in zip(starts, self._host_weights):
            flat[start:start + weights.size] = weights.reshape(-1)
        self._parameters = gpu.from_numpy(self.device, flat, label="parameters")
        self._gradients = gpu.empty(self.device, flat.shape, label="gradients")
        views = iter(zip(starts, shapes))
        for layer in self.layers:
            layer.parameters, layer.gradients = [], []
            for _ in layer.parameter_shapes():
                start, shape = next(views)
                layer.parameters.append(self._parameters.view(start, shape))
                layer.gradients.append(self._gradients.view(start, shape))

    def _parameter_views(self) -> list[GPUArray]:
        return [view for layer in self.layers for view in layer.parameters]

    def get_weights(self) -> list[np.ndarray]:
        """Every parameter as numpy, Keras order [W0, b0, W1, b1, ...], kernels [in, out].

        Reads the GPU copy (one readback) once the model has trained or predicted.
        """
        if self._parameters is None:
            return [w.copy() for w in self._host_weights]
        return self.device.run_sync(gpu.read, *self._parameter_views())

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace every parameter; ``weights`` as returned by ``get_weights``.

        Raises:
            ValueError: wrong count, shape, or non-numeric/non-finite values; nothing changes.
        """
        shapes = [shape for layer in self.layers for _, shape in layer.parameter_shapes()]
        if len(weights) != len(shapes):
            raise ValueError(f"weights: expected {len(shapes)} arrays (shapes {shapes}), "
                             f"received {len(weights)}")
        checked = []
        for index, (values, shape) in enumerate(zip(weights, shapes)):
            array = np.asarray(values)
            if array.shape != shape or array.dtype.kind not in "biuf":
                raise ValueError(f"weights[{index}]: expected numbers of shape {shape}, received "
                                 f"{array.dtype} of shape {array.shape}")
            if not np.isfinite(array).all():
                raise ValueError(f"weights[{index}]: expected finite values")
            checked.append(np.array(array, dtype=np.float32))
        self._host_weights = checked
        if self._parameters is not None:
            for view, values in zip(self._parameter_views(), checked):
                self.device.run_sync(gpu.upload, view, values)

    # Programs (GPU thread) ---------------------------------------------------------------------
    def _workspace(self, batch_size: int) -> Workspace:
        if batch_size not in self._workspaces:
            self._workspaces[batch_size] = Workspace(self.device, batch_size)
        return self._workspaces[batch_size]

    def _io(self, workspace: Workspace) -> tuple[GPUArray, GPUArray]:
        batch = workspace.batch_size
        return (workspace.array(self, "inputs", (batch, self.input_size)),
                workspace.array(self, "targets", (batch, self.output_size)))

    def _forward(self, program: Program, inputs: GPUArray) -> GPUArray:
        for layer in self.layers:
            inputs = layer.propagate(program, inputs)
        return inputs

    def _forward_program(self, batch_size: int) -> Program:
        if batch_size not in self._forward_programs:
            program = Program(self._workspace(batch_size))
            program.outputs = self._forward(program, self._io(program.workspace)[0])
            self._forward_programs[batch_size] = program
        return self._forward_programs[batch_size]

    def _training_program(self, batch_size: int, loss: Loss, optimizer: SGD) -> Program:
        """forward → loss value → dL/dŷ → every layer's backward → one optimizer update."""
        workspace = self._workspace(batch_size)
        program = Program(workspace)
        inputs, targets = self._io(workspace)
        predictions = self._forward(program, inputs)
        program.loss = workspace.array(self, "loss", (1,))
        loss.record_value(program, predictions, targets, program.loss)
        fused = isinstance(self.layers[-1], SoftMax) and isinstance(loss, CategoricalCrossEntropy)
        grad = workspace.array(self, "grad_predictions", predictions.shape)
        loss.record_gradient(program, predictions, targets, grad, through_softmax=fused)
        backward = self.layers[:-1] if fused else self.layers
        for index in reversed(range(len(backward))):
            needed = any(layer.parameter_shapes() for layer in backward[:index])
            grad = backward[index].back_propagate(program, grad, need_grad_inputs=needed)
            if grad is None:
                break
        optimizer.record_update(program, self._parameters, self._gradients)
        return program

    # Training ----------------------------------------------------------------------------------
    async def fit(self, x: np.ndarray, y: np.ndarray,
                  options: TrainingOptions | None = None) -> History:
        """Train on the whole dataset for ``options.epochs`` epochs (full batch).

        Args:
            x: inputs [samples, first layer's inputs]; y: targets [samples, model outputs].
            options: TrainingOptions; defaults to TrainingOptions().

        Returns:
            History with one loss per epoch (``history.loss``, ``history.history["loss"]``).

        Raises:
            ValueError: bad x, y or options, before any GPU work.

        The dataset is uploaded once; each epoch is one command encoder and one submit; the loss
        stays on the GPU and is read back once every ``loss_read_interval(epochs)`` epochs.
        Cancelling the task stops training after the step in flight.
        """
        options = TrainingOptions() if options is None else options
        if not isinstance(options, TrainingOptions):
            raise ValueError(f"options: expected TrainingOptions, received {options!r}")
        x, y = check_dataset(x, y, self.input_size, self.output_size)
        if self._fitting:
            raise RuntimeError("fit: this model is already training; await that fit first")
        self._fitting = True
        try:
            return await self._fit(x, y, options)
        finally:
            self._fitting = False

    async def _fit(self, x: np.ndarray, y: np.ndarray, options: TrainingOptions) -> History:
        device = await self._ready_device(options.instantiate_gpu)
        optimizer = SGD(options.learning_rate)
        program, loss_log = await device.run(self._prepare_fit, x, y, options, optimizer)
        history = self.history = History()
        stop = threading.Event()
        interval = loss_read_interval(options.epochs)
        try:
            while len(history.loss) < options.epochs:
                count = min(interval, options.epochs - len(history.loss))
                losses = await device.run(self._run_epochs, program, loss_log, count, stop)
                history.loss.extend(float(value) for value in losses)
                if options.should_print_information:
                    _print_progress(history, options.epochs, interval)
        except asyncio.CancelledError:
            stop.set()  # the GPU thread finishes the epoch in flight, then stops
            raise
        return history

    def _prepare_fit(self, x: np.ndarray, y: np.ndarray, options: TrainingOptions,
                     optimizer: SGD) -> tuple[Program, GPUArray]:
        program = self._training_program(len(x), options.loss_algorithm, optimizer)
        inputs, targets = self._io(program.workspace)
        gpu.upload(inputs, x)
        gpu.upload(targets, y)
        interval = loss_read_interval(options.epochs)
        loss_log = program.workspace.array(self, "loss_log", (interval,))
        return program, loss_log

    def _run_epochs(self, program: Program, loss_log: GPUArray, count: int,
                    stop: threading.Event) -> np.ndarray:
        """Encode and submit ``count`` epochs, one submit each; read their losses once."""
        staged = None
        for epoch in range(count):
            if stop.is_set():
                return np.zeros(0, np.float32)
            encoder = self.device.handle.create_command_encoder()
            program.encode(encoder)
            encoder.copy_buffer_to_buffer(program.loss.buffer, program.loss.offset,
                                          loss_log.buffer, loss_log.offset + 4 * epoch, 4)
            if epoch == count - 1:
                staged = StagedRead(self.device, encoder, [loss_log.view(0, (count,))])
            self.device.submit(encoder)
        return staged.collect()[0]

    # Inference ---------------------------------------------------------------------------------
    async def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs [samples, model outputs] for inputs x [samples, first layer's inputs].

        Opens a device first if the model has none (as ``instantiate_gpu=True`` would).
        """
        x = check_array("x", x, self.input_size, "features (the first layer's inputs)")
        device = await self._ready_device(instantiate_gpu=True)
        return await device.run(self._predict_now, x)

    def _predict_now(self, x: np.ndarray) -> np.ndarray:
        widest = size = self.input_size
        for layer in self.layers:
            size = layer.output_size_for(size)
            widest = max(widest, size)
        limit = self.device.limits["max-storage-buffer-binding-size"]
        rows_per_chunk = max(1, limit // (4 * widest))
        results = []
        for start in range(0, len(x), rows_per_chunk):
            chunk = x[start:start + rows_per_chunk]
            program = self._forward_program(len(chunk))
            gpu.upload(self._io(program.workspace)[0], chunk)
            encoder = self.device.handle.create_command_encoder()
            program.encode(encoder)
            staged = StagedRead(self.device, encoder, [program.outputs])
            self.device.submit(encoder)
            results.append(staged.collect()[0])
        return np.concatenate(results)

    def __repr__(self) -> str:
        return f"Model({self.layers!r})"


def _check_chain(layers: list[Layer]) -> tuple[int, int]:
    """(input size, output size) of a layer list whose sizes chain, else a ValueError."""
    if not layers:
        raise ValueError("layers: expected at least one layer, received none")
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValueError(f"layers[{index}]: expected a Layer (e.g. Dense(2, 3)), "
                             f"received {layer!r}")
    sized = [(i, layer) for i, layer in enumerate(layers) if layer.input_size is not None]
    if not sized:
        raise ValueError("layers: expected a layer with a known input size (e.g. Dense) so the "
                         f"model knows its inputs, received {layers!r}")
    first = sized[0][1]
    size, previous = first.input_size, None
    for index, layer in enumerate(layers):
        if layer.input_size is not None and layer.input_size != size:
            raise ValueError(
                f"layers[{index}] {layer!r} expects {layer.input_size} inputs, but "
                f"layers[{index - 1}] {previous!r} outputs {size}; make them agree")
        size, previous = layer.output_size_for(size), layer
    return first.input_size, size


def _print_progress(history: History, epochs: int, interval: int) -> None:
    done = len(history.loss)
    tenth = max(interval, epochs // 10)
    if done == epochs or done // tenth != (done - interval) // tenth:
        print(f"epoch {done}/{epochs} - loss: {history.loss[-1]:.6f}", flush=True)
