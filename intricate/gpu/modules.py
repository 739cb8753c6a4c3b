"""Shader modules, with or without naga's runtime bounds checks."""

from __future__ import annotations

import os

import wgpu

# Shaders whose every index is in range by construction, and tested at edge shapes, compile
# without naga's runtime checks. Those clamp each dynamic index into workgroup memory: an integer
# min per fragment read that also stops the constant part of the index folding into the load
# (the GEMM loses 8% at 8192³ on an H200 with them). INTRICATE_SHADER_CHECKS=on keeps them.
UNCHECKED = frozenset({"ops/gemm/tiled.wgsl", "ops/gemm/subgroup.wgsl"})


def shader_module(handle: wgpu.GPUDevice, name: str, source: str) -> wgpu.GPUShaderModule:
    """The shader module of ``source`` (shader file ``name``), without runtime checks for the
    shaders in UNCHECKED (when this wgpu build offers that), with them otherwise.

    Raises:
        wgpu.GPUValidationError: the source does not compile.
    """
    checks = os.environ.get("INTRICATE_SHADER_CHECKS", "").lower() in ("1", "on", "true")
    if name in UNCHECKED and not checks:
        module = _unchecked_module(handle, name, source)
        if module is not None:
            return module
    return handle.create_shader_module(label=name, code=source)


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
