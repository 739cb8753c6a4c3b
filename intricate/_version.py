"""The library version, in one place: ``intricate.__version__``, the wheel's metadata
(pyproject's ``[tool.hatch.version]``), model files and the GEMM tuning cache read it here."""

__version__ = "0.4.0"
