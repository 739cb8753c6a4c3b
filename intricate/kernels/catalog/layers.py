"""Catalog entries of shaders/layers/: SoftMax's four kernels, and the element-wise activation
kernel forward and backward once per activation that runs it (every registered Activation of
layers/activation.wgsl, rendered with its function and alpha as the layer renders it)."""

from __future__ import annotations

import math

import numpy as np

from ...gpu import Device, fold_grid
from ...gpu.dtypes import FLOAT32, Precision
from ...layers import activations
from ...layers.registry import LAYERS
from ...ops import loops
from .. import reference
from .registry import Case, nbytes, register

NARROW, WIDE = 100, 20000  # SoftMax widths: a row per invocation / a workgroup per row
WORKGROUP = 256  # activation.wgsl's and softmax.wgsl's default workgroup_size
ACTIVATION_RANGE = 4.0  # x uniform in ±4: 1 - tanh² and σ' read from o stay relatively exact
# Derivatives read from o alone (TanH's 1 - o², Sigmoid's o(1 - o)) are off by up to an ulp of
# 1 (6e-8) times |dE/dO| where o rounds near ±1 in f32 (the shader computes what PyTorch does).
FROM_OUTPUTS_ATOL = 1.2e-7 * 4.0  # |dE/dO| < 4 here
# Derivatives read from x sum terms of size ~1, and GELU's and SiLU's cross 0 (x ≈ -0.75,
# -1.28): there float32 keeps a few ulps of those terms, not of the result (0.2 relative error
# at 1e-6, seen among 16M elements on an H200), times |dE/dO| < 4.
FROM_INPUTS_ATOL = 2.5e-7 * 4.0


def _softmax_rows(size: int, width: int, rng: np.random.Generator,
                  spread: float = 3.0) -> np.ndarray:
    return (spread * rng.standard_normal((size, width))).astype(np.float32)


def _softmax_case(size: int, width: int, wide: bool, inputs: dict, direction: str,
                  precision: Precision) -> Case:
    moved = {"forward": 2, "backward": 3}[direction]  # arrays read + written, each once
    grid = fold_grid(size) if wide else fold_grid(math.ceil(size / WORKGROUP))
    return Case({**inputs, "count": size * width, "width": width}, grid,
                nbytes(precision, data=moved * size * width), f"{size}x{width}",
                shapes={"outputs" if direction == "forward" else "grad_inputs": (size, width)},
                constants={"workgroup_size": activations.WIDE_WORKGROUP} if wide else {},
                flops=(5 if direction == "forward" else 4) * size * width)


def _register_softmax(entry: str, width: int, small: tuple[int, ...],
                      standard: tuple[int, ...]) -> None:
    wide, direction = entry.endswith("_wide"), entry.removesuffix("_wide")
    if wide != (3 * width > loops.LOOP_BOUND):
        raise ValueError(f"softmax.{entry}: width {width} takes the other path in SoftMax")

    def setup(device: Device, size: int, rng: np.random.Generator,
              precision: Precision = FLOAT32) -> Case:
        if direction == "forward":
            x = _softmax_rows(size, width, rng)
            return _softmax_case(size, width, wide, {"inputs": x}, direction, precision)
        # dE/dO = ±1 and no dominant o (x ~ N(0, 1) over >= 100 classes: o < 0.2): then
        # |Σ dE/dO · o| stays well below 1 and dE/dI = o (dE/dO - Σ dE/dO · o) never cancels.
        # (With a dominant o ≈ 1 it would, to ~1e-4 relative error in float32 at 6.5M rows.)
        x = _softmax_rows(size, width, rng, spread=1.0)
        signs = rng.choice(np.array([-1.0, 1.0], np.float32), (size, width))
        outputs = reference.softmax_forward(x.astype(np.float64)).astype(np.float32)
        return _softmax_case(size, width, wide, {"outputs": outputs, "grad_outputs": signs},
                             direction, precision)

    if direction == "forward":
        def expected(inputs, **_):
            return {"outputs": reference.softmax_forward(inputs.astype(np.float64))}
    else:
        def expected(outputs, grad_outputs, **_):
            return {"grad_inputs": reference.softmax_backward(outputs.astype(np.float64),
                                                              grad_outputs)}
    register(f"softmax.{entry}", "layers/softmax.wgsl", entry, reference=expected, small=small,
             standard=standard, unit=f"rows of {width}")(setup)


_register_softmax("forward", NARROW, (1, 257), (65536,))
_register_softmax("backward", NARROW, (1, 257), (65536,))
_register_softmax("forward_wide", WIDE, (1, 3), (512,))
_register_softmax("backward_wide", WIDE, (1, 3), (512,))


def _elementwise(kind: type[activations.Activation]):
    """The float64 forward and derivative of ``kind`` (reference.ELEMENTWISE, by class name);
    an activation without one fails its check, saying so."""
    if kind.__name__ in reference.ELEMENTWISE:
        return reference.ELEMENTWISE[kind.__name__]

    def missing(*_):
        raise ValueError(f"{kind.__name__} has no float64 reference: add it to "
                         "intricate/kernels/reference.py's ELEMENTWISE")
    return missing, missing


def _register_activation(kind: type[activations.Activation]) -> None:
    layer = kind()  # default arguments: the alpha a model gets by default
    function, alpha, kept = layer.function, float(layer.alpha), layer.derivative_uses_inputs
    forward, derivative = _elementwise(kind)
    template = {"activation": function, "inputs_kept": kept}

    def case(size: int, inputs: dict, output: str, moved: int, precision: Precision) -> Case:
        return Case({**inputs, "count": size, "alpha": alpha}, fold_grid(math.ceil(size / 256)),
                    nbytes(precision, data=moved * size), str(size), shapes={output: (size,)},
                    template=template, flops=size)

    def forward_setup(device: Device, size: int, rng: np.random.Generator,
                      precision: Precision = FLOAT32) -> Case:
        x = rng.uniform(-ACTIVATION_RANGE, ACTIVATION_RANGE, size).astype(np.float32)
        return case(size, {"inputs": x}, "outputs", 2, precision)

    def backward_setup(device: Device, size: int, rng: np.random.Generator,
                       precision: Precision = FLOAT32) -> Case:
        x = rng.uniform(-ACTIVATION_RANGE, ACTIVATION_RANGE, size).astype(np.float64)
        given = {"outputs": forward(x, alpha).astype(np.float32),
                 "grad_outputs": rng.uniform(-4, 4, size).astype(np.float32)}
        if kept:
            given["inputs"] = x.astype(np.float32)
        return case(size, given, "grad_inputs", 3 + kept, precision)

    def expected_forward(inputs, **_):
        return {"outputs": forward(inputs.astype(np.float64), alpha)}

    def expected_backward(outputs, grad_outputs, inputs=None, **_):
        # Without x, f' is a function of o: TanH's and Sigmoid's backward take o; the others
        # depend on sign(x) only, which o keeps (ReLU, LeakyReLU with alpha >= 0).
        o = outputs.astype(np.float64)
        if inputs is not None:
            slope = derivative(inputs.astype(np.float64), alpha)
        elif kind.__name__ in reference.ACTIVATIONS:
            return {"grad_inputs": reference.ACTIVATIONS[kind.__name__][1](o, grad_outputs)}
        else:
            slope = derivative(o, alpha)
        return {"grad_inputs": grad_outputs * slope}

    name = kind.__name__.lower()
    for direction, setup, expected in (("forward", forward_setup, expected_forward),
                                       ("backward", backward_setup, expected_backward)):
        atol = (1e-30 if direction == "forward" else
                FROM_INPUTS_ATOL if kept else FROM_OUTPUTS_ATOL)
        register(f"activation.{direction}.{name}", "layers/activation.wgsl", direction,
                 reference=expected, small=(1, 1000), standard=(1 << 24,), unit="elements",
                 atol=atol)(setup)


for _kind in dict.fromkeys(LAYERS.values()):  # aliases (Swish = SiLU) once
    if (isinstance(_kind, type) and issubclass(_kind, activations.Activation)
            and _kind.shader == activations.Activation.shader):
        _register_activation(_kind)
