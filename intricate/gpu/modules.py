"""Shader modules, with or without naga's runtime bounds checks, and their compile errors."""

from __future__ import annotations

import os
import re

import wgpu

# Shaders whose every index is in range by construction, and tested at edge shapes, compile
# without naga's runtime checks. Those clamp each dynamic index into workgroup memory: an integer
# min per fragment read that also stops the constant part of the index folding into the load
# (the GEMM loses 8% at 8192³ on an H200 with them). INTRICATE_SHADER_CHECKS=on keeps them.
UNCHECKED = frozenset({"ops/gemm/tiled.wgsl", "ops/gemm/subgroup.wgsl"})


_HEADLINE = re.compile(r"^Shader (?:'[^'\n]*' )?(parsing|validation) error: (.*)$", re.M)
_LOCATION = re.compile(r"^(\s*┌─ ).*?:(\d+):(\d+)\s*$", re.M)
_CARET = re.compile(r"^\s*│ (\s*)(\^+)[ ]?(.*)$")
HELP = "(the rendered kernel: set INTRICATE_DUMP_SHADERS=dir to write it)"


class ShaderError(RuntimeError):
    """A shader failed to load, template or compile; the message names the file and line."""


class KernelCompileError(ShaderError):
    """WGSL that doesn't compile: a parse or validation error (naga's), a missing entry point
    or a pipeline that can't be built. The message reads like a compiler's::

        kernel.wgsl:4:5: validation error: Entry point main at Compute is invalid
          4 |     x[0] = 1.0;
            |     ^^^^ writing to this location is not permitted
        naga: ...its full report...

    Attributes:
        origin: the file (or "<source>"); line, column: 1-based, None when naga gave no span;
        kind: "parse", "validation", "entry" or "pipeline"; naga: the compiler's own text.
    """

    def __init__(self, message: str, origin: str, kind: str, line: int | None = None,
                 column: int | None = None, naga: str = "") -> None:
        super().__init__(message)
        self.origin, self.kind, self.line, self.column, self.naga = origin, kind, line, column, naga


def compile_error(error: Exception, origin: str, source: str) -> KernelCompileError:
    """``error`` (wgpu's from create_shader_module) as a KernelCompileError pointing into
    ``source`` at ``origin``:line:column, whichever label naga put in the span (parse errors
    carry "wgsl", validation errors the module's label)."""
    text = str(error)
    headline = _HEADLINE.search(text)
    naga = text[headline.start():] if headline else text
    kind, summary = (("parse" if headline.group(1) == "parsing" else "validation"),
                     headline.group(2)) if headline else ("validation", text.strip())
    location = _LOCATION.search(naga)
    naga = _LOCATION.sub(lambda m: f"{m.group(1)}{origin}:{m.group(2)}:{m.group(3)}", naga)
    if location is None:
        return KernelCompileError(f"{origin}: {kind} error: {summary}\nnaga: {naga.strip()}\n"
                                  f"{HELP}", origin, kind, naga=naga)
    line, column = int(location.group(2)), int(location.group(3))
    lines = source.splitlines()
    code = lines[line - 1] if 0 < line <= len(lines) else ""
    marks, label = _caret(naga[location.end():], line)
    pad = "".join(c if c == "\t" else " " for c in code[:column - 1])  # tabs stay aligned
    width = len(str(line))
    message = (f"{origin}:{line}:{column}: {kind} error: {summary}\n"
               f"  {line} | {code}\n  {'':>{width}} | {pad}{marks} {label}".rstrip()
               + f"\nnaga: {naga.strip()}\n{HELP}")
    return KernelCompileError(message, origin, kind, line, column, naga)


def _caret(frame: str, line: int) -> tuple[str, str]:
    """naga's carets under ``line`` in its code frame and their label; a plain "^" when the span
    starts elsewhere (a span over several lines draws ╭ instead)."""
    rows = frame.splitlines()
    for index, row in enumerate(rows[:-1]):
        if re.match(rf"\s*{line} │ ", row):
            caret = _CARET.match(rows[index + 1])
            return (caret.group(2), caret.group(3).strip()) if caret else ("^", "")
    return "^", ""


def shader_module(handle: wgpu.GPUDevice, name: str, source: str, builtin: bool = True,
                  where: str | None = None) -> wgpu.GPUShaderModule:
    """The shader module of ``source`` (shader file ``name``, or a user kernel's origin when
    ``builtin`` is False), without runtime checks for the built-in shaders in UNCHECKED (when
    this wgpu build offers that), with them otherwise.

    Args:
        where: the file compile errors name (default ``name``).

    Raises:
        KernelCompileError: the source does not compile.
    """
    checks = os.environ.get("INTRICATE_SHADER_CHECKS", "").lower() in ("1", "on", "true")
    try:
        if builtin and name in UNCHECKED and not checks:
            module = _unchecked_module(handle, name, source)
            if module is not None:
                return module
        return handle.create_shader_module(label=name, code=source)
    except wgpu.GPUValidationError as error:
        raise compile_error(error, where or name, source) from None


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
