"""Fixtures for the fifth provider: its registration and its tiny API on loopback."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

from aiohttp.test_utils import TestServer
import pytest

from custom_components.chargebridge.api.registry import PROVIDERS, register

from .client import VoltlyClient
from .simulator import VoltlyWorld, create_app


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/chargebridge."""


@pytest.fixture(autouse=True)
def voltly_registered() -> Generator[type[VoltlyClient]]:
    """Register the fifth provider for one test, and only for it."""
    assert VoltlyClient.name not in PROVIDERS
    register(VoltlyClient)
    try:
        yield VoltlyClient
    finally:
        PROVIDERS.pop(VoltlyClient.name, None)


@pytest.fixture
def world() -> VoltlyWorld:
    """Return the provider's state: two cars, one token."""
    return VoltlyWorld()


@pytest.fixture
async def voltly_url(world: VoltlyWorld, socket_enabled: None) -> AsyncGenerator[str]:
    """Serve the provider's API on a free loopback port; yield its base URL."""
    server = TestServer(create_app(world), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
