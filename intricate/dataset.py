"""Datasets resident on the GPU: uploaded once, then trained on, validated and evaluated over
without another upload, like moving tensors to the GPU once in PyTorch.

    data = await model.upload(x, y)            # checked as fit checks, uploaded once
    await model.fit(data, options=TrainingOptions(epochs=10, batch_size=128))
    await model.fit(data, options=TrainingOptions(epochs=10, validation_split=0.1))
    loss = await model.evaluate(data)
    outputs = await model.predict(data)

Not to be confused with ``intricate.datasets`` (plural): loaders that read datasets from disk
(IDX files, MNIST, scikit-learn's digits) into NumPy arrays, which ``model.upload`` takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import gpu
from .gpu import GPUArray


@dataclass(eq=False)
class Dataset:
    """Samples in GPU buffers: x [samples, inputs] and y [samples, outputs] (None: inputs only).

    Make one with ``await model.upload(x, y)``; pass it to ``fit`` (alone, or as
    ``validation_data``), ``evaluate`` and ``predict`` of models on the same device with the
    same input and output widths. ``bindable``: whether shaders may bind x and y whole, which
    shuffled training needs (false for data over the adapter's binding limit). ``whole`` and
    ``first``: for a view (``rows``), the uploaded Dataset it is part of and its first row there
    (a view's rows that start off a 4-byte word are gathered from ``whole``: engine.inference's
    realigned). ``shapes``: the per-sample shapes of x and y (None: no y) of the model that
    uploaded them, which a model of other shapes refuses (the same widths may order their
    values otherwise: (4, 4, 2) against (2, 4, 4) images); None: not known.
    """

    x: GPUArray
    y: GPUArray | None
    samples: int
    bindable: bool = True
    whole: Dataset | None = None
    first: int = 0
    shapes: tuple[tuple[int, ...], tuple[int, ...] | None] | None = None

    @classmethod
    def upload(cls, device, x: np.ndarray, y: np.ndarray | None,
               bindable: bool | None = None) -> Dataset:
        """x and y (already checked) in new buffers (GPU thread); bindable by default when they
        fit the adapter's binding limit."""
        if bindable is None:
            largest = max(x.nbytes, 0 if y is None else y.nbytes)
            bindable = largest <= device.limits["max-storage-buffer-binding-size"]
        return cls(gpu.from_numpy(device, x, x.dtype, label="dataset_x", bindable=bindable),
                   None if y is None else gpu.from_numpy(device, y, y.dtype, label="dataset_y",
                                                         bindable=bindable),
                   len(x), bindable)

    @property
    def device(self):
        return self.x.device

    def __len__(self) -> int:
        return self.samples

    def rows(self, start: int, count: int) -> Dataset:
        """Samples [start, start + count) as views of the same buffers (no copy). Only a view
        from sample 0 stays bindable (binding offsets must be aligned)."""
        def part(array: GPUArray | None) -> GPUArray | None:
            return None if array is None else array.view(start * array.shape[1],
                                                         (count, array.shape[1]))
        return Dataset(part(self.x), part(self.y), count, self.bindable and start == 0,
                       self.whole or self, self.first + start, self.shapes)

    def check_for(self, name: str, model, needs_targets: bool = True) -> None:
        """A ValueError unless this dataset fits ``model``: its device, widths and per-sample
        shapes."""
        if self.device is not model.device:
            raise ValueError(f"{name}: this Dataset is on {self.device}, the model on "
                             f"{model.device}; upload the arrays with this model's upload()")
        if self.x.dtype != model.precision.numpy:
            raise ValueError(f"{name}: this Dataset holds {self.x.dtype}, the model computes in "
                             f"{model.dtype}; upload the arrays with this model's upload()")
        if self.x.shape[1] != model.input_size:
            raise ValueError(f"{name}: expected {model.input_size} features per sample (the "
                             f"first layer's inputs, input_shape {model.input_shape}), the "
                             f"Dataset has {self.x.shape[1]}")
        if needs_targets and self.y is None:
            raise ValueError(f"{name}: this Dataset has no targets; upload it with "
                             "model.upload(x, y)")
        if needs_targets and self.y.shape[1] != model.output_size:
            raise ValueError(f"{name}: expected {model.output_size} values per sample (the "
                             f"model's outputs), the Dataset has {self.y.shape[1]}")
        for kind, given, wanted in (("samples", 0, model.input_shape),
                                    ("targets", 1, model.output_shape)):
            shape = None if self.shapes is None else self.shapes[given]
            if shape is not None and tuple(shape) != tuple(wanted) and (
                    given == 0 or needs_targets):
                raise ValueError(f"{name}: this Dataset holds {kind} of shape {shape}, the model "
                                 f"takes {wanted}; upload the arrays with this model's upload()")

    def __repr__(self) -> str:
        targets = "" if self.y is None else f", y={self.y.shape[1]} wide"
        return f"Dataset({self.samples} samples, x={self.x.shape[1]} wide{targets})"
