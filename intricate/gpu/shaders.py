"""WGSL shader loading: find the .wgsl file, fill its placeholders strictly, build pipelines once.

A shader file names its placeholders ``{{ name }}``; every placeholder must be given and every
given value must be used, so a typo can't silently produce a different shader. Bindings are
addressed by their WGSL variable names, and the ``Params`` uniform by its field names, both read
from the source, so Python and WGSL can't drift apart.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import wgpu

from .device import Device

_PACKAGE = Path(__file__).resolve().parents[1]
# Installed wheel: intricate/shaders/; source checkout: the top-level shaders/ beside intricate/.
SHADER_DIRS = (_PACKAGE / "shaders", _PACKAGE.parent / "shaders")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_BINDING = re.compile(r"@group\(0\)\s*@binding\((\d+)\)\s*var(?:<[^>]*>)?\s+(\w+)")
_PARAMS = re.compile(r"struct\s+Params\s*\{([^}]*)\}")
_FUNCTION = re.compile(r"\bfn\s+(\w+)\s*\(")
_OVERRIDE = re.compile(r"\boverride\s+(\w+)\s*:\s*\w+\s*=\s*(\d+)")
_PACK = {"u32": "I", "i32": "i", "f32": "f"}
# Shaders whose every index is in range by construction, and tested at edge shapes, compile
# without naga's runtime checks. Those clamp each dynamic index into workgroup memory: an integer
# min per fragment read that also stops the constant part of the index folding into the load
# (the GEMM loses 8% at 8192³ on an H200 with them). INTRICATE_SHADER_CHECKS=on keeps them.
UNCHECKED = frozenset({"ops/gemm/tiled.wgsl", "ops/gemm/subgroup.wgsl"})


class ShaderError(RuntimeError):
    """A shader failed to load, template or compile; the message names the file and line."""


def shader_path(name: str) -> Path:
    for folder in SHADER_DIRS:
        path = folder / name
        if path.is_file():
            return path
    raise ShaderError(f"shader {name!r} not found in {[str(d) for d in SHADER_DIRS]}; "
                      "reinstall intricate (the wheel carries intricate/shaders/)")


@cache
def _source(name: str) -> str:
    return shader_path(name).read_text()


def render(name: str, values: dict[str, object]) -> str:
    """The source of shader ``name`` with every ``{{ key }}`` replaced by ``values[key]``.

    Raises ShaderError when the file uses a key that is not given, or a given key is unused
    (except ``dtype``, which every dispatch passes and f32-only files don't use).
    """
    source = _source(name)
    used = set(_PLACEHOLDER.findall(source))
    missing, unused = used - values.keys(), values.keys() - used - {"dtype"}
    if missing or unused:
        raise ShaderError(f"{name}: placeholders missing values {sorted(missing)}, "
                          f"values given for no placeholder {sorted(unused)}")
    text = _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), source)
    if "f16" in values.values():
        text = "enable f16; " + text  # on line 1, so compiler line numbers stay the file's
    return text


def _function_bodies(source: str) -> dict[str, str]:
    bodies = {}
    for match in _FUNCTION.finditer(source):
        start = source.index("{", match.end())
        depth, end = 0, start
        for end in range(start, len(source)):
            depth += {"{": 1, "}": -1}.get(source[end], 0)
            if depth == 0:
                break
        bodies[match.group(1)] = source[match.end():end]
    return bodies


def _used_names(source: str, entry: str) -> set[str]:
    """Identifiers reachable from ``entry``: its body and the functions it calls."""
    bodies = _function_bodies(source)
    if entry not in bodies:
        raise ShaderError(f"entry point {entry!r} not found; functions are {sorted(bodies)}")
    seen, todo, names = set(), [entry], set()
    while todo:
        function = todo.pop()
        if function in seen:
            continue
        seen.add(function)
        body = re.sub(r"//[^\n]*", "", bodies[function])  # words in comments bind nothing
        names |= set(re.findall(r"\b\w+\b", body))
        calls = set(re.findall(r"\b(\w+)\s*\(", body))  # not same-named locals
        todo.extend(calls & bodies.keys())
    return names


@dataclass
class Kernel:
    """A compute pipeline plus what is needed to bind it by name."""

    name: str
    entry: str
    pipeline: wgpu.GPUComputePipeline
    bindings: dict[str, int]  # storage and uniform variables this entry uses → binding number
    params: list[tuple[str, str]]  # Params fields in order: (name, wgsl scalar type)
    workgroup_size: int

    def pack_params(self, values: dict[str, float]) -> bytes:
        fields = dict(self.params)
        missing, unknown = fields.keys() - values.keys(), values.keys() - fields.keys()
        if missing or unknown:
            raise ValueError(f"{self.name}:{self.entry} params: missing {sorted(missing)}, "
                             f"unknown {sorted(unknown)}")
        data = b"".join(struct.pack("<" + _PACK[kind], values[name]) for name, kind in self.params)
        return data + bytes(-len(data) % 16)


def kernel(device: Device, name: str, entry: str, workgroup_size: int | None = None,
           **template: object) -> Kernel:
    """The cached kernel for entry point ``entry`` of shader file ``name`` (GPU thread only).

    Args:
        name: file in shaders/, e.g. "dense.wgsl".
        entry: the @compute function.
        workgroup_size: value for the file's ``override workgroup_size``; None keeps its default.
        template: values for the file's ``{{ placeholders }}``, e.g. dtype="f32".
    """
    key = ("kernel", name, entry, workgroup_size, tuple(sorted(template.items())))
    if key not in device.cache:
        device.cache[key] = _build(device, name, entry, workgroup_size, template)
    return device.cache[key]


def _build(device: Device, name: str, entry: str, workgroup_size: int | None,
           template: dict) -> Kernel:
    source = render(name, template)
    used = _used_names(source, entry)
    bindings = {var: int(number) for number, var in _BINDING.findall(source) if var in used}
    params_match = _PARAMS.search(source)
    params = []
    if params_match and "params" in bindings:
        for line in params_match.group(1).split(","):
            if line.strip():
                field, kind = (part.strip() for part in line.split(":"))
                params.append((field, kind))
    defaults = dict(_OVERRIDE.findall(source))
    constants = {}
    if workgroup_size is not None:
        constants["workgroup_size"] = workgroup_size
    try:
        module = _module(device.handle, name, source)
        pipeline = device.handle.create_compute_pipeline(
            label=f"{name}:{entry}", layout="auto",
            compute={"module": module, "entry_point": entry, "constants": constants},
        )
    except wgpu.GPUValidationError as error:
        message = str(error).replace("wgsl:", f"{shader_path(name)}:")
        raise ShaderError(f"{name} ({entry}) failed to compile:\n{message}") from error
    size = workgroup_size or int(defaults.get("workgroup_size", 1))
    return Kernel(name, entry, pipeline, bindings, params, size)


def _module(handle: wgpu.GPUDevice, name: str, source: str) -> wgpu.GPUShaderModule:
    """The shader module, without runtime checks for the shaders in UNCHECKED (when this wgpu
    build offers that), with them otherwise."""
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
        raise ShaderError(f"{label}: shader module creation failed")
    return _api.GPUShaderModule(label, module, handle)
