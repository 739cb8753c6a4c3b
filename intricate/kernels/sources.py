"""Where a Kernel's WGSL comes from: text, a file, or a built-in shader name."""

from __future__ import annotations

import os
from pathlib import Path

from ..gpu import WGSLSource, shaders


def resolve_source(source: str | os.PathLike | WGSLSource) -> shaders.Shader:
    """What ``Kernel(source)`` runs: a ``WGSLSource`` as given; a path (a ``PathLike``, or a
    one-line str ending in ".wgsl") read into a WGSLSource named by its path, or failing that a
    built-in shader name; any other str is WGSL text ("<source>").

    Raises:
        FileNotFoundError: a .wgsl name that is neither a file nor a built-in shader.
        TypeError: ``source`` is not a str, a path or a WGSLSource.
    """
    if isinstance(source, WGSLSource):
        return source
    if isinstance(source, os.PathLike) or (isinstance(source, str) and source.endswith(".wgsl")
                                           and "\n" not in source):
        path = Path(source)
        if path.is_file():
            return WGSLSource(path.read_text(), str(path))
        if isinstance(source, str):
            try:
                shaders.shader_path(source)
                return source  # a built-in shader
            except shaders.ShaderError:
                pass
        raise FileNotFoundError(f"source: {str(source)!r} is neither a file nor a built-in "
                                "shader (e.g. 'ops/gather.wgsl'); pass WGSL text, a path to an "
                                "existing .wgsl file or a built-in name")
    if isinstance(source, str):
        return WGSLSource(source)
    raise TypeError(f"source: expected WGSL text, a path or a built-in shader name, received "
                    f"{type(source).__name__}")
