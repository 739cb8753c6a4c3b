"""Dropout: in a training step, zero each element with probability ``rate`` and scale the kept
ones by 1 / (1 - rate) (inverted dropout, as Keras and PyTorch); the identity elsewhere.

The mask comes from a counter-based hash on the GPU (shaders/layers/dropout.wgsl): a pure
function of (seed, step, element), with the step counter kept in a GPU array that the forward
advances itself. Nothing is drawn or uploaded by the host per step, and the same seed gives the
same masks. The backward draws the mask again from the counter the forward used rather than
storing it: no mask array, and a hash is cheaper than the memory traffic of one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..gpu import GPUArray, Program
from ..optimizers import check_number
from .base import Layer
from .registry import register

SHADER = "layers/dropout.wgsl"
WORKGROUP_SIZE = 256  # both passes: a workgroup's step counter word covers the same elements


@register
class Dropout(Layer):
    """Inverted dropout, active in training steps only.

    Args:
        rate: the probability of dropping an element, in [0, 1); 0 records no GPU work at all.
        seed: the layer's own seed (a non-negative int): the same seed draws the same masks in
            any model. None: the model's seed (``Model(seed=...)``, a fresh one if it has
            none) mixed with this layer's index in the model, so two models built with the same
            seed draw the same masks and two Dropout layers of one model draw different ones.

    Shapes: any per-sample shape, kept: [batch, features] → [batch, features].
    Masks: element i of a training step's batch is kept when a hash of (seed, step, batch
    elements, i) reaches round(rate · 2^32); every training step draws a new mask (the step
    counter advances on the GPU), and predict/evaluate/validation pass inputs through unchanged,
    recording nothing. The seed also counts the training programs the layer has recorded (one
    per batch size and fit), so a later fit draws new masks even where its step counters start
    again from 0 (a batch size whose workspace was freed).

    Raises:
        ValueError: rate outside [0, 1) or not a number; seed not None or a non-negative int.
    """

    def __init__(self, rate: float, seed: int | None = None) -> None:
        super().__init__()
        self.rate = check_number("rate", rate, low=0.0, high=1.0, high_inclusive=False)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed: expected None or a non-negative integer, received {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._model_entropy: int | None = None  # the model's seed, as its generator holds it
        self.dropping = False  # whether the forward recorded last drops (a training step's)
        self.recordings = 0  # training forwards recorded so far: each draws its own stream
        self._recorded_seed = (0, 0)  # seed_words of the forward recorded last

    def initial_parameters(self, rng: np.random.Generator) -> list[np.ndarray]:
        """No parameters; keeps the seed of the model's generator (``Model(seed=...)``, or the
        fresh entropy of an unseeded one) without drawing from it, so a Dropout layer changes
        no other layer's initial weights."""
        self._model_entropy = rng.bit_generator.seed_seq.entropy
        return []

    def seed_words(self, recording: int = 0) -> tuple[int, int]:
        """The two 32-bit words of the seed the shader hashes in the training program this
        layer records as its ``recording``-th (from 0): from ``seed``, else from the model's
        seed and this layer's index in the model."""
        if self.seed is not None:
            entropy = [self.seed, recording]
        else:
            if self._model_entropy is None:  # a copy, or a layer loaded from a file: unseeded
                self._model_entropy = np.random.SeedSequence().entropy
            model = self._owner() if self._owner is not None else None
            layers = getattr(model, "layers", [])
            index = next((i for i, layer in enumerate(layers) if layer is self), 0)
            entropy = [self._model_entropy, index, recording]  # never a layer seed's 2 words
        low, high = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
        return int(low), int(high)

    def blank_copy(self) -> Dropout:
        """A new layer of this config that keeps the model seed this one was given: a clone of a
        seeded model (``model.clone()``) draws the masks its original draws."""
        twin = super().blank_copy()
        twin._model_entropy = self._model_entropy
        return twin

    def propagate(self, program: Program, inputs: GPUArray) -> GPUArray:
        """Record y = mask · x / (1 - rate) in a training step; elsewhere return ``inputs``.

        Shapes: [batch, features] → same."""
        self.last_inputs = self.last_outputs = inputs
        self.dropping = bool(getattr(program, "training", False)) and self.rate > 0.0
        if not self.dropping:
            return inputs
        self._recorded_seed = self.seed_words(self.recordings)
        self.recordings += 1
        outputs = program.array(self, "outputs", inputs.shape)
        self._record(program, "forward", inputs.size, inputs=inputs, outputs=outputs)
        self.last_outputs = outputs
        return outputs

    def back_propagate(self, program: Program, grad_outputs: GPUArray,
                       need_grad_inputs: bool = True) -> GPUArray | None:
        """Record dE/dI = mask · dE/dO / (1 - rate), the forward's mask drawn again; after a
        forward that dropped nothing (rate 0, or outside a training step: ``check_gradients``)
        dE/dO itself, with no dispatch.

        Shapes: [batch, features] → same."""
        if not need_grad_inputs:
            return None
        if not self.dropping:
            return grad_outputs
        grad_inputs = program.array(self, "grad_inputs", grad_outputs.shape)
        self._record(program, "backward", grad_outputs.size, grad_outputs=grad_outputs,
                     grad_inputs=grad_inputs)
        return grad_inputs

    def _record(self, program: Program, entry: str, count: int, **bound: GPUArray) -> None:
        """Dispatch ``entry`` over ``count`` elements with this layer's step counter for batches
        of that size: a word per workgroup (zero when created, as every buffer starts), kept with
        the workspace, shared by the forward and backward of the step."""
        steps = program.array(self, "steps", (math.ceil(count / WORKGROUP_SIZE),), np.uint32)
        seed_low, seed_high = self._recorded_seed
        program.dispatch(SHADER, entry, threads=count, workgroup_size=WORKGROUP_SIZE,
                         params={"count": count,
                                 "threshold": min(round(self.rate * 2**32), 2**32 - 1),
                                 "seed_low": seed_low, "seed_high": seed_high,
                                 "scale": 1.0 / (1.0 - self.rate)}, steps=steps, **bound)

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "seed": self.seed}
