"""A model's state on the GPU, in one owner: ``ModelState``.

It holds the parameters in one flat buffer (each layer's tensors are views of it), gradients
laid out alike (mixed_float16: the parameters are the f32 master weights and the layers bind
views of an f16 compute copy laid out alike, which the optimizer writes; plus the loss-scale
state, see loss_scale.py), fit's loss/metric sums, fit's workspaces (one per batch size of the
current fit) and the inference cache (evaluate/predict programs and workspaces, bounded by bytes
and by row counts, apart from fit's arrays). An optimizer's GPU state for this model is keyed
weakly by ``parameters``' buffer (see optimizers.py). Dropping the ``ModelState`` (with its
model) frees all of it. ``build_state`` makes one for a model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

import numpy as np

from .. import gpu
from ..gpu import Device, GPUArray, Program, Workspace, dtypes
from ..gpu.dtypes import FLOAT32, Precision, check_supported
from ..layers import Layer
from ..ops import statistics
from ..optimizers import HYPERPARAMETERS
from . import loss_scale
from .inference import InferenceCache
from .optimizer_state import write_state
from .weights import upload_parameters, upload_states


class ModelState:
    """Everything one model holds on the GPU (build it on the GPU thread: ``device.run``).

    Args:
        device: the model's device.
        layers: the model's layers; their ``host_weights`` are uploaded, and their
            ``parameters``/``gradients`` become views of this state's flat buffers.
        input_size, output_size: the model's widths.
        precision: the model's dtype policy (gpu/dtypes.py): every array's type.

    Attributes:
        parameters, gradients: every parameter (and its gradient) in one flat buffer each, of
            the policy's parameter type (mixed_float16: the f32 master weights).
        compute_parameters: mixed_float16's f16 copy of ``parameters`` (same element layout),
            which the layers' ``parameters`` views point into; None for float32/float64.
        states: every layer's non-trainable state (``Layer.state_shapes``) in one flat buffer
            of the parameter type, which the layers' ``states`` views point into; no optimizer
            touches it. None when no layer has a state.
        loss_scale: mixed_float16's loss-scale state (engine/loss_scale.py); else None.
        statistics, epoch_result: fit's running loss/metric sums and one epoch's means.
        inference: evaluate's and predict's programs and workspaces (an LRU, see inference.py).
    """

    def __init__(self, device: Device, layers: Sequence[Layer], input_size: int,
                 output_size: int, precision: Precision = FLOAT32) -> None:
        self.device = device
        self.layers = list(layers)
        self.input_size, self.output_size = input_size, output_size
        self.precision = precision
        (self.parameters, self.gradients, self.compute_parameters,
         self._master_views) = upload_parameters(device, self.layers, precision)
        self.states = upload_states(device, self.layers, precision)
        self.loss_scale = loss_scale.new_state(device) if loss_scale.applies(precision) else None
        self._compute_copy: Program | None = None  # mixed_float16's f16 refresh, once recorded
        sums = precision.parameters  # the accumulate type's
        self.statistics = gpu.empty(device, (statistics.SIZE,), sums, label="statistics")
        self.epoch_result = gpu.empty(device, (statistics.SIZE,), sums, label="epoch_result")
        self._workspaces: dict[int, Workspace] = {}  # fit's, per batch size
        self.inference = InferenceCache(device, precision)

    def workspace(self, rows: int) -> Workspace:
        """Fit's activation/gradient arrays for batches of ``rows`` (GPU thread)."""
        if rows not in self._workspaces:
            self._workspaces[rows] = Workspace(self.device, rows, self.precision)
        return self._workspaces[rows]

    def keep_workspaces(self, sizes: Iterable[int]) -> None:
        """Free fit's workspaces of batch sizes other than ``sizes`` (a new fit's), so fits with
        ever new batch sizes don't pile them up; the kept ones are reused, not rebuilt."""
        wanted = set(sizes)
        self._workspaces = {rows: workspace for rows, workspace in self._workspaces.items()
                            if rows in wanted}

    def copy_parameters(self, snapshot: GPUArray | None, to_snapshot: bool) -> GPUArray:
        """Copy the parameters and states into ``snapshot`` (new if None; the parameters,
        then the states) or back (mixed_float16: and round the parameters into the f16 copy),
        on the GPU (GPU thread); returns the snapshot."""
        parts = [self.parameters] + ([self.states] if self.states is not None else [])
        size = sum(part.size for part in parts)
        if snapshot is None:
            snapshot = gpu.empty(self.device, (size,), self.parameters.dtype, label="snapshot")
        if snapshot.shape != (size,):
            raise ValueError(f"snapshot: expected a snapshot_weights() array of this model, "
                             f"shape {(size,)}, received shape {snapshot.shape}")
        if snapshot.dtype != self.parameters.dtype:
            raise ValueError(f"snapshot: expected a {self.parameters.dtype} array (this model's "
                             f"parameters), received {snapshot.dtype}")
        encoder = self.device.handle.create_command_encoder()
        start = 0
        for part in parts:
            saved = snapshot.view(start, part.shape)
            source, target = (part, saved) if to_snapshot else (saved, part)
            encoder.copy_buffer_to_buffer(source.buffer, source.offset, target.buffer,
                                          target.offset, source.nbytes)
            start += part.size
        if not to_snapshot and self.compute_parameters is not None:
            self._refresh_compute_copy().encode(encoder)
        self.device.submit(encoder)
        return snapshot

    def _refresh_compute_copy(self) -> Program:
        """mixed_float16: the dispatch that rounds the master weights into the f16 copy."""
        if self._compute_copy is None:
            self._compute_copy = Program(self.workspace(1))
            self._compute_copy.dispatch(
                "optimizers.wgsl", "compute_copy", threads=self.parameters.size,
                params={"count": self.parameters.size, **dict.fromkeys(HYPERPARAMETERS, 0.0)},
                parameters=self.parameters, compute_parameters=self.compute_parameters)
        return self._compute_copy

    def weight_views(self) -> list[GPUArray]:
        """Every layer's parameter views of ``parameters`` (the master weights), then its
        state views, layer by layer (Keras order [W0, b0, W1, b1, ...; gamma, beta,
        moving_mean, moving_variance]): what get_weights reads and files save."""
        masters, views = iter(self._master_views), []
        for layer in self.layers:
            views += [next(masters) for _ in layer.parameter_shapes()] + layer.states
        return views

    def write_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Upload checked weights (``weight_views``' order) into the parameters (and, for
        mixed_float16, their f16 compute copy) and the states (GPU thread)."""
        values = iter(weights)
        masters = iter(self._master_views)
        for layer in self.layers:
            for compute in layer.parameters:
                master, value = next(masters), next(values)
                gpu.upload(master, value)
                if compute is not master:
                    gpu.upload(compute, np.asarray(value, compute.dtype))
            for view in layer.states:
                gpu.upload(view, next(values))

    @property
    def nbytes_per_parameter(self) -> float:
        """GPU bytes per parameter of the parameter, gradient and compute-copy buffers
        (optimizer state apart): 8 float32, 16 float64, 10 mixed_float16."""
        buffers = [self.parameters, self.gradients, self.compute_parameters]
        return sum(b.nbytes for b in buffers if b is not None) / self.parameters.size


HOST_BYTES_PER_PARAMETER = 8 + 4  # initializers draw float64, then keep a float32 copy


def _available_host_bytes() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB"


def check_sizes(layers: Sequence[Layer], device: Device | None,
                precision: Precision = FLOAT32) -> None:
    """Refuse, before anything is allocated, a model whose parameters don't fit this machine's
    available memory (to draw them) or, with a device, its adapter's limits (the parameters live
    in one buffer (max-buffer-size) that the optimizer binds whole
    (max-storage-buffer-binding-size)) or a dtype policy whose feature it lacks.

    Raises:
        ValueError: naming the largest layer, the bytes needed and the limit; or the dtype, the
            missing feature and the adapter; or a layer whose weights (from a file) have other
            shapes than its input shape here gives it.
    """
    for index, layer in enumerate(layers):
        if layer.dtypes is not None and precision.name not in layer.dtypes:
            raise ValueError(f"dtype: layers[{index}] {layer!r} computes in {list(layer.dtypes)} "
                             f"only, received dtype={precision.name!r}; use one of those")
        held = [np.shape(weights) for weights in layer.host_weights or ()]
        wanted = [shape for _, shape in layer.weight_shapes()]
        if layer.host_weights is not None and held != wanted:  # BatchNormalization's channels
            raise ValueError(f"layers[{index}] {layer!r} holds weights of shapes {held} (a "
                             f"layer file's, or a copy's, built for other inputs), but its "
                             f"input shape here, {layer.input_shape}, needs {wanted}; use "
                             f"a new layer (or layer.blank_copy()) for these inputs")
        for number, weights in enumerate(layer.host_weights or ()):  # e.g. a float64 file's
            for dtype in dict.fromkeys((precision.parameters, precision.numpy)):  # mixed: f16 too
                check_range(f"layers[{index}] {layer!r}: its weights[{number}]", weights, dtype)
    if device is not None:
        check_supported(precision, device)
    counts = [sum(math.prod(shape) for _, shape in layer.parameter_shapes()) for layer in layers]
    if not counts or not max(counts):
        return
    largest = max(range(len(layers)), key=counts.__getitem__)
    where = (f"layer {largest} ({layers[largest]!r}, {counts[largest]:,} parameters of the "
             f"model's {sum(counts):,})")
    per_parameter = HOST_BYTES_PER_PARAMETER - 4 + precision.parameters.itemsize  # its copy
    draw, available = per_parameter * max(counts), _available_host_bytes()
    if any(layer.host_weights is None for layer in layers) and draw > available:
        raise ValueError(
            f"layers: {where} needs {_gib(draw)} of host memory to draw its initial weights "
            f"(float64, then the model's dtype), but this machine has {_gib(available)} available; "
            "use smaller layers")
    if device is None:
        return
    gpu_bytes = precision.parameters.itemsize * sum(counts)
    for limit in ("max-buffer-size", "max-storage-buffer-binding-size"):
        if gpu_bytes > device.limits[limit]:
            raise ValueError(
                f"layers: the model's parameters need {_gib(gpu_bytes)} in one GPU buffer (its "
                f"largest is {where}), but this adapter's {limit} is "
                f"{_gib(device.limits[limit])} ({device.name}); use smaller layers (fewer "
                "samples or smaller batches don't help: the parameters are stored whole)")


async def ready_device(model, instantiate_gpu: bool) -> Device:
    """``model``'s device, with the model on it: its own, or the shared default device
    (``instantiate_gpu``); the first call builds the ModelState, calls at once wait for it."""
    if model._state is not None:
        return model.device
    if model.device is None and not instantiate_gpu:
        raise ValueError("instantiate_gpu: the model has no device, so it must be True; or "
                         "build the model with Model(layers, device=await "
                         "intricate.setup_device())")
    async with model._first_touch:  # calls at once (gather): the first builds, others wait
        if model.device is None:
            model.device = await gpu.default_device()  # shared by models without one
        if model._state is None:  # one GPU-thread job sets _state once all is uploaded
            await model.device.run(build_state, model)
    return model.device


def build_state(model) -> None:
    """Put ``model`` on its device (GPU thread): a ``ModelState`` of its layers, the optimizer
    state loaded with it (a file saved with ``include_optimizer=True``) uploaded into it, and only
    then ``model._state`` set, the pending optimizer state cleared. One job, so a caller
    cancelled while awaiting it leaves either nothing (the job never started; the next call
    builds) or the whole state (the job ran to its end), never a state without its optimizer's.
    Does nothing if the model already has its state (a cancelled caller's job got there first).
    """
    if model._state is not None:
        return
    check_sizes(model.layers, model.device, model.precision)  # the default device's features
    state = ModelState(model.device, model.layers, model.input_size, model.output_size,
                       model.precision)
    if model._pending_optimizer_state is not None:
        write_state(model.optimizer, state, model._pending_optimizer_state)
    model._state = state
    model._pending_optimizer_state = None


def check_range(where: str, values: np.ndarray, dtype: np.dtype) -> None:
    """Refuse, with a ValueError naming ``where``, weights that ``dtype`` can't hold (1e300
    from a float64 file, for a float32 model or check, would become inf)."""
    values = np.asarray(values)
    bad = dtypes.first_beyond(values, dtype)
    if bad is not None:
        raise ValueError(f"dtype: {where} hold "
                         f"{dtypes.beyond_range(values, bad, dtype, 'the dtype computed in')}; "
                         f"use dtype={dtypes.wider_dtypes(dtype)}")
