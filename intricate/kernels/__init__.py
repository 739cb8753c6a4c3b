"""The kernel workbench: run, verify and time any WGSL compute kernel from NumPy.

    from intricate.kernels import Kernel
    kernel = Kernel(wgsl_text)                     # or a path, or "ops/gather.wgsl"
    outputs = await kernel.run(x=x, n=len(x))      # bindings by WGSL name, uniform fields too
    report = await kernel.check(lambda x, n: {"y": 2 * x}, x=x, n=len(x))
    timing = await kernel.time(x=x, n=len(x), bytes=8 * len(x))

User WGSL goes through the engine's own shader path (gpu.shaders, gpu.reflect, gpu.Program,
gpu.timing), so user kernels and the built-in ones are run, checked and timed alike.
"""

from ..gpu.modules import KernelCompileError
from ..gpu.reflect import Binding
from ..gpu.shaders import WGSLSource
from .gradients import GradientReport, check_gradients
from .kernel import Kernel
from .report import CheckReport, OutputCheck, Timing

__all__ = ["Binding", "CheckReport", "GradientReport", "Kernel",
           "KernelCompileError", "OutputCheck", "Timing", "WGSLSource", "check_gradients"]
