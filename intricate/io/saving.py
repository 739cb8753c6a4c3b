"""A model's files: ``save`` / ``load`` (safetensors, io/model_files.py) and PyTorch state
dicts (io/pytorch.py), the part of ``Model``'s API that reads and writes them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Self

from ..gpu import Device
from ..layers import Layer
from . import files, model_files, pytorch


class ModelFiles:
    """``Model``'s file methods (Model derives from it)."""

    def save(self, path: str, include_optimizer: bool = False, layout: str = "intricate") -> None:
        """Write the model (config + weights) to a safetensors file, atomically.

        Args:
            include_optimizer: also store the optimizer and its state, so that
                ``fit(..., TrainingOptions(optimizer=loaded.optimizer))`` resumes exactly.
            layout: "intricate", or "torch" to write ``{i}.weight`` [out, in] / ``{i}.bias`` for
                ``nn.Sequential.load_state_dict(safetensors.torch.load_file(path))``.
        """
        tensors, metadata = model_files.model_file(self, include_optimizer, layout)
        files.write_atomically(path, files.encode(tensors, metadata))

    async def save_async(self, path: str, include_optimizer: bool = False,
                         layout: str = "intricate") -> None:
        """``save`` without blocking the event loop."""
        await asyncio.to_thread(self.save, path, include_optimizer, layout)

    @classmethod
    def load(cls, path: str, device: Device | None = None, allow_code: bool = False) -> Self:
        """A model from a file written by ``save``; it predicts bit-identically to the saved one.
        ``allow_code=True`` accepts WGSLLayers (the file's code then runs): trusted files only.

        Raises:
            ModelFileError (a ValueError): missing, broken, hostile or newer-format file, or
                WGSLLayers without ``allow_code``.
        """
        return model_files.load_model(cls, path, device, allow_code)

    @classmethod
    async def load_async(cls, path: str, device: Device | None = None,
                         allow_code: bool = False) -> Self:
        """``load`` without blocking the event loop."""
        return await asyncio.to_thread(model_files.load_model, cls, path, device, allow_code)

    @classmethod
    def from_torch_state_dict(cls, path_or_dict, layers: Sequence[Layer],
                              device: Device | None = None, order: Sequence[str] | None = None,
                              dtype: str = "float32",
                              input_shape: Sequence[int] | None = None) -> Self:
        """A model of ``layers`` (and ``dtype``) whose layers with weights take, in order, the
        tensors of the modules of a PyTorch ``nn.Sequential`` state dict (or its safetensors
        file): ``nn.Linear``'s into Dense (transposed), ``nn.BatchNorm2d``'s weight, bias,
        running_mean and running_var into BatchNormalization (num_batches_tracked ignored).
        Module order: a dict's own, a file's by module index ("0", "2"), else ``order``.
        ``input_shape`` as Model's (a CNN's (H, W, C)).

        Raises:
            ModelFileError (a ValueError): the state dict doesn't fit ``layers``; ValueError:
                as ``Model`` and ``set_weights`` (non-finite weights). A refusal leaves the
                layers free, so they may be passed again with another state dict.
        """
        return pytorch.model_from_state_dict(cls, path_or_dict, list(layers), device, order,
                                             dtype, input_shape)
