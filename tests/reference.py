"""The NumPy float64 oracle, for the tests. It lives in the package
(intricate/kernels/reference.py), where ``intricate bench`` verifies the built-in shaders against
it too: one copy, imported here so tests keep writing ``reference.softmax_forward``."""

from intricate.kernels.reference import *  # noqa: F403
