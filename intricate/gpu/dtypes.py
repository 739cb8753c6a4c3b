"""The dtype policies: what "float32", "float64" and "mixed_float16" mean, in one place.

A policy (Keras' names) says which WGSL type each kind of array has on the GPU, which NumPy
dtype holds it on the host, which optional device feature it needs, and the tolerances tests
compare it with. Every shader has a ``{{ dtype }}`` slot (the element type of activations,
inputs, targets and their gradients) and may have an ``{{ accumulate }}`` slot (the type sums,
losses, optimizer moments and hyperparameters are computed in); a ``Program`` fills both from
its workspace's policy, so one template serves every dtype: there are no per-dtype copies of
shaders or classes.

    name           dtype  accumulate  parameters  feature      state
    float32        f32    f32         float32     (every adapter)
    float64        f64    f64         float64     shader-f64
    mixed_float16  f16    f32         float32     shader-f16   (master weights: see below)

mixed_float16 is Keras' policy of that name: activations, inputs, targets and GEMM operands are
f16, sums are f32; the parameters the optimizer updates (master weights), their gradients and the
optimizer state are f32, and the shaders read an f16 copy of the parameters that the optimizer
writes beside each master weight (``Precision.master_copy``). Training scales the loss (dynamic
loss scaling on the GPU: see intricate/engine/loss_scale.py).

Why float64 needs care on the GPU: SPIR-V's GLSL.std.450 transcendental instructions (exp, log,
pow, tanh, ...) are defined for 16- and 32-bit floats only; on f64 they compile and return
garbage on lavapipe (exp(0.5) = 8.7e-315), and other drivers may reject them. So f64 kernels
take e^x and ln x from shaders/gpu/float64.wgsl (through gpu/math.wgsl), never the builtins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Precision:
    """One dtype policy.

    Attributes:
        name: Keras' policy name ("float32", "float64", "mixed_float16").
        wgsl: the WGSL type of activations, inputs, targets and their gradients.
        accumulate: the WGSL type of sums, losses, metrics, parameters, their gradients,
            optimizer state and hyperparameters.
        numpy: the host dtype of ``wgsl`` arrays (inputs uploaded, predictions read back).
        parameters: the host dtype of parameters and optimizer state (the weights saved).
        feature: the WebGPU feature the adapter must offer, or None.
        rtol: relative tolerance of a kernel against the float64 reference (tests; gradients
            against finite differences: intricate.kernels.gradients' STEPS and RTOLS).
    """

    name: str
    wgsl: str
    accumulate: str
    numpy: np.dtype
    parameters: np.dtype
    feature: str | None
    rtol: float

    @property
    def master_copy(self) -> bool:
        """Whether the parameters shaders read (``wgsl``) are a copy of f32 master weights
        (mixed_float16), rather than the parameters themselves."""
        return self.numpy != self.parameters

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @property
    def stored_floor(self) -> float:
        """The absolute error of storing a value as ``wgsl`` that ``rtol`` can't cover: half
        f16's smallest subnormal (2^-25), below f16's smallest normal (6.1e-5), where rounding
        keeps no relative accuracy; 0 for f32 and f64 (their subnormals lie below any test's)."""
        return 2.0**-25 if self.numpy == np.float16 else 0.0

    @property
    def template(self) -> dict[str, str]:
        """The shader template values of this policy (see shaders.render)."""
        return {"dtype": self.wgsl, "accumulate": self.accumulate}

    def __repr__(self) -> str:
        return f"Precision({self.name!r})"


FLOAT32 = Precision("float32", "f32", "f32", np.dtype("<f4"), np.dtype("<f4"), None, 1e-4)
FLOAT64 = Precision("float64", "f64", "f64", np.dtype("<f8"), np.dtype("<f8"), "shader-f64", 1e-12)
MIXED_FLOAT16 = Precision("mixed_float16", "f16", "f32", np.dtype("<f2"), np.dtype("<f4"),
                          "shader-f16", 1e-3)
POLICIES = {policy.name: policy for policy in (FLOAT32, FLOAT64, MIXED_FLOAT16)}
NAMES = tuple(POLICIES)
# The element types a shader may compute in beyond float32 (every adapter's), and the optional
# feature each needs: Device.dtypes lists those a device has.
ELEMENT_FEATURES = {"float16": "shader-f16", "float64": "shader-f64"}


def precision(dtype: str | Precision) -> Precision:
    """The policy named ``dtype`` (a Precision passes through).

    Raises:
        ValueError: an unknown name.
    """
    if isinstance(dtype, Precision):
        return dtype
    if isinstance(dtype, str) and dtype in POLICIES:
        return POLICIES[dtype]
    raise ValueError(f"dtype: expected one of {list(NAMES)} (Keras' policy names), received "
                     f"{dtype!r}")


def supported(device) -> tuple[str, ...]:
    """The policy names ``device`` can run: float32 everywhere, float64 with shader-f64,
    mixed_float16 with shader-f16."""
    return tuple(name for name, policy in POLICIES.items()
                 if policy.feature is None or policy.feature in device.features)


def check_supported(policy: Precision, device, template: dict | None = None) -> None:
    """Refuse, before any GPU work, a policy whose feature ``device`` lacks, or template values
    that name an element type needing one (a Kernel's own ``{"dtype": "f16"}``).

    Raises:
        ValueError: naming the policy (or template key), the missing feature and the adapter.
    """
    needs = [(f"dtype: {policy.name!r}", policy.feature)]
    features = {other.wgsl: other.feature for other in POLICIES.values() if other.feature}
    needs += [(f"template: {key}={value!r}", features[value])
              for key, value in (template or {}).items() if value in features]
    for what, feature in needs:
        if feature is not None and feature not in device.features:
            raise ValueError(
                f"{what} needs the WebGPU feature {feature!r}, which the adapter "
                f"{device.name!r} ({device.adapter_info.get('backend_type', '?')}) does not "
                f"offer (it has {sorted(device.features)}); this device runs "
                f"{list(supported(device))}: use one of those, or another adapter")


def first_beyond(values: np.ndarray, dtype: np.dtype) -> tuple[int, ...] | None:
    """The index of the first finite number in ``values`` that the float type ``dtype`` holds
    only as infinity after NumPy's rounding to nearest (1e300 for float32; 65520, or uint16's
    65535, for float16), or None where every value fits. NaN and infinity given as such are
    values, not overflow: a caller that refuses them checks ``np.isfinite`` itself. The one
    place the question "would these become inf in dtype?" is answered.

    Shapes:
        values: any; the index has one entry per axis (``()`` for a scalar).
    """
    values, dtype = np.asarray(values), np.dtype(dtype)
    if values.dtype.kind not in "biuf" or np.can_cast(values.dtype, dtype):
        return None  # widening (or the same type): nothing to check, and no copy made
    with np.errstate(over="ignore"):
        beyond = np.isinf(values.astype(dtype))
    if values.dtype.kind == "f":
        beyond &= ~np.isinf(values)
    found = np.argwhere(beyond)
    return tuple(int(i) for i in found[0]) if len(found) else None


def beyond_range(values: np.ndarray, index: tuple[int, ...], dtype: np.dtype, why: str) -> str:
    """The words every refusal of ``first_beyond``'s find shares: "1e+300 at index (0, 0),
    beyond float32's range (``why``)"."""
    return f"{values[index]} at index {index}, beyond {np.dtype(dtype).name}'s range ({why})"


def wider_dtypes(dtype: np.dtype) -> str:
    """The dtype policies whose every array holds values beyond ``dtype``'s range, as a message
    suggests them: "'float64'" for float32, "'float32' or 'float64'" for float16
    (mixed_float16's; not itself); "'float64'", the widest, when none is wider."""
    largest = np.finfo(dtype).max
    names = [name for name, policy in POLICIES.items()
             if min(np.finfo(policy.numpy).max, np.finfo(policy.parameters).max) > largest]
    return " or ".join(repr(name) for name in names or ["float64"])
