"""Build provider clients pointed at the simulator, for the client test modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from custom_components.chargebridge.api.base import Provider
from custom_components.chargebridge.api.registry import PROVIDERS
from tests.simulator import Simulator
from tests.simulator.testing import SimulatorServer


def client_factory[ClientT: Provider](
    client_class: type[ClientT],
    sim: Simulator,
    sim_server: SimulatorServer,
    session: aiohttp.ClientSession,
) -> Callable[..., ClientT]:
    """Return a factory of clients for the simulated account on the simulator's clock.

    Keyword arguments given to the factory override the config entry's fields.
    """

    def factory(**overrides: Any) -> ClientT:
        config: dict[str, Any] = sim_server.config(client_class.name)
        provider = config.pop("provider")
        config.update(overrides)
        client = PROVIDERS[provider](session=session, clock=sim.clock.now, **config)
        assert isinstance(client, client_class)
        return client

    return factory
