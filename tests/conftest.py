"""Fixtures shared by all ChargeBridge tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import pytest

from tests.simulator import Simulator, SimulatorServer


@pytest.fixture
def sim() -> Simulator:
    """Return a small simulated world: 3 vehicles per provider, seed 1, manual clock."""
    return Simulator(vehicles=3, seed=1)


@pytest.fixture
async def sim_server(
    sim: Simulator, socket_enabled: None
) -> AsyncGenerator[SimulatorServer]:
    """Serve the simulator on a free 127.0.0.1 port; fail the test on handler bugs."""
    async with SimulatorServer(sim) as server:
        yield server
    assert not sim.handler_errors, f"simulator handler errors: {sim.handler_errors}"


@pytest.fixture
async def client_session() -> AsyncGenerator[aiohttp.ClientSession]:
    """Yield a plain aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session
