"""Shader modules, with or without naga's runtime bounds checks."""

from __future__ import annotations

import os

import wgpu

# Shaders whose every index is in range by construction, and tested at edge shapes, compile
# without naga's runtime checks. Those clamp each dynamic index into workgroup memory: an integer
# min per fragment read that also stops the constant part of the index folding into the load
# (the GEMM loses 8% at 8192³ on an H200 with them). INTRICATE_SHADER_CHECKS=on keeps them.
UNCHECKED = frozenset({"ops/gemm/tiled.wgsl", "ops/gemm/subgroup.wgsl"})


class ShaderError(RuntimeError):
    """A shader failed to load, template or compile; the message names the file and line."""


def shader_module(handle: wgpu.GPUDevice, name: str, source: str, builtin: bool = True,
                  where: str | None = None) -> wgpu.GPUShaderModule:
    """The shader module of ``source`` (shader file ``name``, or a user kernel's origin when
    ``builtin`` is False), without runtime checks for the built-in shaders in UNCHECKED (when
    this wgpu build offers that), with them otherwise.

    Args:
        where: the file compile errors name (default ``name``).

    Raises:
        ShaderError: the source does not compile.
    """
    checks = os.environ.get("INTRICATE_SHADER_CHECKS", "").lower() in ("1", "on", "true")
    try:
        if builtin and name in UNCHECKED and not checks:
            module = _unchecked_module(handle, name, source)
            if module is not None:
                return module
        return handle.create_shader_module(label=name, code=source)
    except wgpu.GPUValidationError as error:
        message = str(error).replace("wgsl:", f"{where or name}:")
        raise ShaderError(f"{name} failed to compile:\n{message}\n(the rendered kernel: set "
                          "INTRICATE_DUMP_SHADERS=dir to write it)") from error


def _unchecked_module(handle: wgpu.GPUDevice, label: str,
                      source: str) -> wgpu.GPUShaderModule | None:
    """wgpu-native's wgpuDeviceCreateShaderModuleTrusted with no runtime checks (wgpu-py 0.32
    doesn't wrap it); None when the backend or the library lacks it."""
    try:
        from wgpu.backends.wgpu_native import _api
        from wgpu.backends.wgpu_native._ffi import ffi, lib

        lib.wgpuDeviceCreateShaderModuleTrusted  # noqa: B018 (present in this wgpu-native?)
    except (ImportError, AttributeError):
        return None
    if not isinstance(handle, _api.GPUDevice):
        return None
    code = _api.new_struct_p("WGPUShaderSourceWGSL *", code=_api.to_c_string_view(source))
    code[0].chain.next = ffi.NULL
    code[0].chain.sType = lib.WGPUSType_ShaderSourceWGSL
    descriptor = _api.new_struct_p("WGPUShaderModuleDescriptor *",
                                   nextInChain=ffi.cast("WGPUChainedStruct *", code),
                                   label=_api.to_c_string_view(label))
    no_checks = 0  # WGPUShaderRuntimeChecks_None
    module = _api.libf.wgpuDeviceCreateShaderModuleTrusted(handle._internal, descriptor, no_checks)
    if module == ffi.NULL:
        raise RuntimeError(f"{label}: shader module creation failed")
    return _api.GPUShaderModule(label, module, handle)
