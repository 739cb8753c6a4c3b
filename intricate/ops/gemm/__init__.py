"""The GEMM of every Dense layer (and, later, convolutions): c = epilogue(a · b) with strided
operands. ``tiled`` is the register-blocked kernel of GPUs, ``subgroup`` the kernel of software
adapters, ``codegen`` their generated parts, ``tuning`` the timed tile choice."""

from .subgroup import SubgroupConfig
from .tiled import CONFIGS, GemmConfig, record_gemm

__all__ = ["CONFIGS", "GemmConfig", "SubgroupConfig", "record_gemm"]
