"""The WebGPU runtime: devices, GPU arrays, shader kernels and recorded programs."""

from .arrays import GPUArray, StagedRead, empty, from_numpy, read, upload
from .device import Device, ForkedProcessError, NoAdapterError, Stats, default_device, setup_device
from .program import Program, Workspace, fold_grid
from .shaders import CompiledKernel, ShaderError, WGSLSource, dump_shaders, kernel, render
from .timing import time_steps

__all__ = [
    "CompiledKernel", "Device", "ForkedProcessError", "GPUArray", "NoAdapterError", "Program",
    "ShaderError", "StagedRead", "Stats", "WGSLSource", "Workspace", "default_device",
    "dump_shaders", "empty", "fold_grid", "from_numpy", "kernel", "read", "render",
    "setup_device", "time_steps", "upload",
]
