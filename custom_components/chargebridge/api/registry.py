"""The providers ChargeBridge speaks to, by name: adding one is a module and a line here.

Everything the integration knows about a provider (its config fields, title, intervals,
estimated values) is read from the client class registered here.
"""

from .base import Provider
from .chargeye import ChargEyeClient
from .evenergy import EvEnergyClient
from .hiven import HivenClient
from .jedlix import JedlixClient

PROVIDERS: dict[str, type[Provider]] = {
    client.name: client
    for client in (HivenClient, ChargEyeClient, JedlixClient, EvEnergyClient)
}
"""Client class by provider name, in the order the config flow offers them."""


def register(client: type[Provider]) -> None:
    """Add a provider (an application's own, or a test's) under its ``name``."""
    PROVIDERS[client.name] = client
