"""WGSL shader loading: find the .wgsl file, render its template strictly, build pipelines once.

Shader files are Jinja2 templates (as pygfx's are): ``{{ name }}`` placeholders,
``{% if name %}`` blocks and ``{% include "path/in/shaders.wgsl" %}`` for functions shared by
several files (the activation formulas, the GEMM interface and epilogue), so no function body or
brace comes from Python. Templating is strict: every placeholder a file (or a file it includes)
names must be given, and every given value must be named by one, so a typo can't silently
produce a different shader.

Includes go at the END of a file: WGSL module-scope declarations are order-independent, so a
file may use what it includes below, and compiler line numbers up to there stay the file's own
(a multi-line value or a dropped ``{% if %}`` block above a line shifts it: read the rendered
kernel, see ``dump_shaders`` and INTRICATE_DUMP_SHADERS=dir, which writes every kernel built).

Bindings are addressed by their WGSL variable names, and the ``Params`` uniform by its field
names, both read from the rendered source, so Python and WGSL can't drift apart.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import jinja2
import jinja2.meta
import jinja2.sandbox
import wgpu

from . import layout, reflect
from .device import Device
from .modules import KernelCompileError, ShaderError, shader_module

_PACKAGE = Path(__file__).resolve().parents[1]
# Installed wheel: intricate/shaders/; source checkout: the top-level shaders/ beside intricate/.
SHADER_DIRS = (_PACKAGE / "shaders", _PACKAGE.parent / "shaders")
DUMP_VARIABLE = "INTRICATE_DUMP_SHADERS"  # a folder: every kernel built is written there
# A dtype policy's values (gpu/dtypes.py); accumulate defaults to dtype (f32, f64 sum in theirs).
PRECISION_KEYS = frozenset({"dtype", "accumulate"})


@dataclass(frozen=True)
class WGSLSource:
    """WGSL given as text rather than as a built-in file name (a user's kernel).

    It goes through the same loader as the built-in shaders: templating (``{% include %}`` of
    built-in files works), reflection, compilation and the kernel cache, keyed by text and origin.

    Attributes:
        text: the WGSL (a Jinja2 template like the built-ins; plain WGSL renders as itself).
        origin: the file it came from, or "<source>"; compile errors point there.
    """

    text: str
    origin: str = "<source>"


Shader = str | WGSLSource  # a file name under shaders/ ("ops/gather.wgsl") or user WGSL


def shader_path(name: str) -> Path:
    """The file of shader ``name`` (e.g. "ops/gather.wgsl").

    Raises:
        ShaderError: no shader folder holds it, or it leaves them (an absolute path, "..").
    """
    if Path(name).is_absolute() or ".." in Path(name).parts:  # no include of /etc/passwd
        raise ShaderError(f"shader {name!r}: expected a path inside the shader folders")
    for folder in SHADER_DIRS:
        path = folder / name
        if path.is_file():
            return path
    raise ShaderError(f"shader {name!r} not found in {[str(d) for d in SHADER_DIRS]}; "
                      "reinstall intricate (the wheel carries intricate/shaders/)")


class _Loader(jinja2.BaseLoader):
    """Templates by their path under the shader folders (read through ``shader_path``)."""

    def get_source(self, environment, template):
        try:
            path = shader_path(template)
        except ShaderError as error:
            raise jinja2.TemplateNotFound(template, str(error)) from None
        return path.read_text(), str(path), lambda: True


@cache
def _environment(folders: tuple[Path, ...], sandboxed: bool = False) -> jinja2.Environment:
    # One per SHADER_DIRS value (tests point it elsewhere). Whitespace is kept as written, so a
    # rendered line stays where it was in the file. User WGSL renders in the sandbox: no Python.
    kind = jinja2.sandbox.SandboxedEnvironment if sandboxed else jinja2.Environment
    return kind(loader=_Loader(), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                autoescape=False, cache_size=400)


@lru_cache(maxsize=256)  # user sources are keys too: bounded
def _placeholders(folders: tuple[Path, ...], shader: Shader) -> frozenset[str]:
    """The names ``shader`` and the files it includes use, in any branch."""
    environment = _environment(folders)
    name = label(shader)
    names, todo, seen = set(), [shader], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            if isinstance(current, WGSLSource):
                source, current = current.text, current.origin
            else:
                source = environment.loader.get_source(environment, current)[0]
            tree = environment.parse(source, current)
        except jinja2.TemplateNotFound:
            raise ShaderError(f"{name}: includes {current!r}, which is in none of "
                              f"{[str(folder) for folder in folders]}") from None
        except jinja2.TemplateSyntaxError as error:
            raise ShaderError(f"{current}:{error.lineno}: template syntax: {error} (a "
                              "literal {{ opens a Jinja2 tag: write { { or {% raw %}{{{% endraw %})"
                              ) from None
        names |= jinja2.meta.find_undeclared_variables(tree)
        for included in jinja2.meta.find_referenced_templates(tree):
            if included is None:
                raise ShaderError(f"{current}: an include must name its file literally")
            todo.append(included)
    return frozenset(names)


def label(shader: Shader) -> str:
    """How messages name a shader: its file name under shaders/, or a WGSLSource's origin."""
    return shader.origin if isinstance(shader, WGSLSource) else shader


def render(shader: Shader, values: dict[str, object]) -> str:
    """The source of ``shader`` rendered with ``values`` (its includes too).

    Args:
        shader: file in shaders/, e.g. "ops/gather.wgsl", or a WGSLSource.
        values: a value for each placeholder (``dtype``, ``accumulate``: see PRECISION_KEYS).

    Returns:
        WGSL, with ``enable f16;`` on line 1 when a value is "f16".

    Raises:
        ShaderError: naming the file, when it (or an include) uses a key that is not given, a
            given key is unused (except PRECISION_KEYS, which every dispatch passes and
            fixed-type files don't use), an include is missing, or the template is malformed.
    """
    folders = tuple(SHADER_DIRS)
    name = label(shader)
    if not isinstance(shader, WGSLSource):
        shader_path(shader)  # not found: a ShaderError saying where it looked
    values = {"accumulate": values["dtype"], **values} if "dtype" in values else values
    used = _placeholders(folders, shader)
    missing, unused = used - values.keys(), values.keys() - used - PRECISION_KEYS
    if missing or unused:
        raise ShaderError(f"{name}: placeholders missing values {sorted(missing)}, "
                          f"values given for no placeholder {sorted(unused)}")
    user = isinstance(shader, WGSLSource)
    environment = _environment(folders, sandboxed=user)
    try:
        text = (environment.from_string(shader.text) if user else
                environment.get_template(shader)).render(values)
    except jinja2.TemplateError as error:
        sandbox = isinstance(error, jinja2.sandbox.SecurityError)
        raise ShaderError(f"{name}: {type(error).__name__}: {error}" + (
            " (user WGSL renders in Jinja2's sandbox: no Python objects)" * sandbox)) from None
    if "f16" in values.values():
        text = "enable f16; " + text  # on line 1, so compiler line numbers stay the file's
    return text


@cache
def functions_of(name: str) -> frozenset[str]:
    """The names of the WGSL functions that shader file ``name`` defines (e.g. the activation
    library's), read from the file itself."""
    return reflect.functions(shader_path(name).read_text())


@dataclass
class CompiledKernel:
    """A compute pipeline plus what is needed to bind it by name."""

    name: str
    entry: str
    pipeline: wgpu.GPUComputePipeline
    bindings: dict[str, int]  # storage and uniform variables this entry uses → binding number
    params: list[tuple[str, str]]  # the uniform's fields in order: (name, wgsl type)
    workgroup_size: int  # invocations per workgroup (x · y · z)
    source: str = ""  # the rendered WGSL (see dump_shaders)
    dump_name: str = ""  # its file name there: shader, entry and a hash of the template values
    uniform: str | None = None  # the variable of the entry's one var<uniform>, e.g. "params"
    structs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def pack_params(self, values: dict[str, object]) -> bytes:
        """The uniform's bytes, fields set by name (see ``layout.pack_struct``)."""
        return layout.pack_struct(self.params, values, self.structs, f"{self.name}:{self.entry}")


def kernel(device: Device, shader: Shader, entry: str, workgroup_size: int | None = None, *,
           constants: dict[str, int] | None = None, **template: object) -> CompiledKernel:
    """The cached kernel for entry point ``entry`` of ``shader`` (GPU thread only).

    Args:
        shader: file in shaders/, e.g. "ops/gather.wgsl", or a WGSLSource (user WGSL).
        entry: the @compute function.
        workgroup_size: value for the file's ``override workgroup_size``; None keeps its default.
        constants: values for other ``override`` constants, by name.
        template: values for the file's ``{{ placeholders }}``, e.g. dtype="f32".

    Returns:
        The CompiledKernel; with INTRICATE_DUMP_SHADERS=dir its rendered source is also written
        there.

    Raises:
        ShaderError: a template error (see ``render``) or a compile error naming file and line.
    """
    constants = dict(constants or {})
    key = ("kernel", shader, entry, workgroup_size, tuple(sorted(constants.items())),
           tuple(sorted(template.items())))
    if key not in device.cache:
        device.cache[key] = _build(device, shader, entry, workgroup_size, constants, template)
    return device.cache[key]


def _build(device: Device, shader: Shader, entry: str, workgroup_size: int | None,
           constants: dict[str, int], template: dict) -> CompiledKernel:
    source = render(shader, template)
    name = label(shader)
    variant = repr((workgroup_size, sorted(constants.items()), sorted(template.items())))
    if isinstance(shader, WGSLSource):  # user WGSL: its file's stem (the text is in the hash)
        variant += shader.text
        stem = Path(shader.origin).stem.strip("<>") or "source"
    else:
        stem = name.removesuffix(".wgsl").replace("/", ".")
    digest = hashlib.sha256(variant.encode()).hexdigest()[:10]
    dump_name = f"{stem}.{entry}.{digest}.wgsl"
    if os.environ.get(DUMP_VARIABLE):
        _dump(dump_name, source)
    constants = dict(constants)
    if workgroup_size is not None:
        constants["workgroup_size"] = workgroup_size
    builtin = not isinstance(shader, WGSLSource)  # user WGSL keeps naga's bounds checks
    where = str(shader_path(name)) if builtin else name
    module = shader_module(device.handle, name, source, builtin, where)
    structs = reflect.structs(source)
    try:
        used = reflect.entry_bindings(source, entry, constants)
        size = math.prod(reflect.workgroup_size(source, entry, constants))
        uniform, params = reflect.uniform_of(used, structs)
    except reflect.ReflectionError as error:
        raise KernelCompileError(f"{where} ({entry}): {error}", where, "entry") from None
    bindings = {binding.name: binding.binding for binding in used if binding.group == 0}
    try:
        pipeline = device.handle.create_compute_pipeline(
            label=f"{name}:{entry}", layout="auto",
            compute={"module": module, "entry_point": entry, "constants": constants},
        )
    except wgpu.GPUValidationError as error:
        raise KernelCompileError(f"{where} ({entry}): the pipeline failed to build:\n{error}",
                                 where, "pipeline", naga=str(error)) from None
    return CompiledKernel(name, entry, pipeline, bindings, params, size, source, dump_name,
                          uniform.name if uniform else None, structs)


def _write(directory: Path, file_name: str, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (path := directory / file_name).write_text(source)
    return path


def _dump(file_name: str, source: str) -> None:
    """Write a kernel to the folder INTRICATE_DUMP_SHADERS names, or a ShaderError saying why
    it can't (the user asked for the dumps: failing quietly would hide that they are missing)."""
    folder = os.environ[DUMP_VARIABLE]
    try:
        _write(Path(folder), file_name, source)
    except OSError as error:
        raise ShaderError(f"{DUMP_VARIABLE}={folder}: cannot write {file_name} there "
                          f"({error.strerror or error}); point it at a writable folder or "
                          "unset it") from None


def dump_shaders(device: Device, directory: str | os.PathLike) -> list[Path]:
    """Write the rendered source of every kernel ``device`` has built so far, for reading.

    Args:
        device: the device whose kernel cache is read.
        directory: created if needed; one file per kernel, named shader.entry.HASH.wgsl (HASH
            from the template values and workgroup size: one file per variant).

    Returns:
        The files written.
    """
    kernels = [value for value in list(device.cache.values()) if isinstance(value, CompiledKernel)]
    return [_write(Path(directory), k.dump_name, k.source) for k in kernels]
