"""Fixtures: one device for the whole session, and a seeded random generator."""

from __future__ import annotations

import os

import numpy as np
import pytest
import pytest_asyncio

import intricate

# Tests never tune the GEMM (that times kernels and writes a cache file): the heuristic choice
# is deterministic. Examples run by the tests inherit this.
os.environ.setdefault("INTRICATE_GEMM_TUNING", "off")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def device() -> intricate.Device:
    return await intricate.setup_device()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
