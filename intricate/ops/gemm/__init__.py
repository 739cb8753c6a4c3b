"""The GEMM of every Dense layer (and, later, convolutions): c = epilogue(a · b) with strided
operands. ``tiled`` is the register-blocked kernel of GPUs, ``subgroup`` the kernel of software
adapters, ``codegen`` their generated parts, ``configs`` the tiled kernel's tiles (per dtype) and
heuristic choice, ``tuning`` the timed one. Operands are of the program's element type, sums of
its accumulator type; c of either (mixed_float16: f16 operands, f32 sums, an f32 dW)."""

from .subgroup import SubgroupConfig
from .tiled import CONFIGS, GemmConfig, record_gemm

__all__ = ["CONFIGS", "GemmConfig", "SubgroupConfig", "record_gemm"]
