"""The registered providers as the integration sees them: every fact read from the client.

Nothing here names a provider: the config flow's steps and fields, titles, secret keys and
estimated values all come from the client classes in ``api.registry.PROVIDERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import Provider
from .api.registry import PROVIDERS
from .const import CONF_PROVIDER


def client_class(data: Mapping[str, Any]) -> type[Provider]:
    """Return the client class of a config entry's data."""
    return PROVIDERS[data[CONF_PROVIDER]]


def provider_title(name: str) -> str:
    """How a provider calls itself (its name when it is not registered)."""
    client = PROVIDERS.get(name)
    return name if client is None else client.title


def secret_keys() -> frozenset[str]:
    """Every secret config field of every registered provider."""
    return frozenset().union(*(client.secret_fields for client in PROVIDERS.values()))


def account_keys() -> frozenset[str]:
    """Every config field of every registered provider that identifies the account."""
    return frozenset(
        field.key
        for client in PROVIDERS.values()
        for field in client.config_fields
        if field.account
    )


def build_client(hass: HomeAssistant, data: Mapping[str, Any]) -> Provider:
    """Build the provider client for a config entry's data, on Home Assistant's session."""
    fields = {key: value for key, value in data.items() if key != CONF_PROVIDER}
    return client_class(data)(session=async_get_clientsession(hass), **fields)
