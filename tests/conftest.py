"""Fixtures: one device for the whole session, and a seeded random generator."""

from __future__ import annotations

import numpy as np
import pytest
import pytest_asyncio

import intricate


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def device() -> intricate.Device:
    return await intricate.setup_device()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
