"""What the integration knows per provider: its config fields and how to build its client.

The field list is the public interface of the config flow (design.md): the step ids are
the provider names and the field names are the keys of ``entry.data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import Provider, ProviderName
from .api.registry import PROVIDERS
from .const import (
    CONF_API_KEY,
    CONF_API_URL,
    CONF_AUDIENCE,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_PROVIDER,
    CONF_REFRESH_TOKEN,
    CONF_TOKEN_URL,
    CONF_USER_ID,
)


@dataclass(frozen=True, kw_only=True)
class ConfigField:
    """One field of a provider's config form."""

    key: str
    default: str | None = None
    secret: bool = False
    """Shown as a password, asked again on reauth, redacted in diagnostics."""
    url: bool = False
    """Credentials travel to it: must be https (http only to loopback)."""
    optional: bool = False
    account: bool = False
    """Identifies the account: fixed once the entry exists (not offered on reconfigure)."""


PROVIDER_FIELDS: Mapping[ProviderName, tuple[ConfigField, ...]] = {
    ProviderName.HIVEN: (
        ConfigField(key=CONF_API_URL, default="https://api.hiven.energy", url=True),
        ConfigField(key=CONF_API_KEY, secret=True),
        ConfigField(key=CONF_USER_ID, account=True),
    ),
    ProviderName.CHARGEYE: (
        ConfigField(key=CONF_API_URL, default="https://kempower.io/api", url=True),
        ConfigField(key=CONF_REFRESH_TOKEN, secret=True),
    ),
    ProviderName.JEDLIX: (
        ConfigField(key=CONF_API_URL, url=True),
        ConfigField(key=CONF_API_KEY, secret=True),
        ConfigField(key=CONF_CLIENT_ID, account=True),
        ConfigField(key=CONF_CLIENT_SECRET, secret=True),
        ConfigField(key=CONF_USER_ID, account=True),
        ConfigField(
            key=CONF_TOKEN_URL,
            default="https://jedlix-b2e.eu.auth0.com/oauth/token",
            url=True,
        ),
        ConfigField(key=CONF_AUDIENCE, optional=True),
    ),
    ProviderName.EVENERGY: (
        ConfigField(key=CONF_API_URL, default="https://api.ev.energy/v2", url=True),
        ConfigField(key=CONF_CLIENT_ID, account=True),
        ConfigField(key=CONF_CLIENT_SECRET, secret=True),
        ConfigField(key=CONF_USER_ID, account=True),
    ),
}

SECRET_KEYS: frozenset[str] = frozenset(
    field.key for fields in PROVIDER_FIELDS.values() for field in fields if field.secret
).union(*(client.secret_fields for client in PROVIDERS.values()))
"""Every secret field of every provider (ours and what the clients declare)."""


def build_client(hass: HomeAssistant, data: Mapping[str, Any]) -> Provider:
    """Build the provider client for a config entry's data, on Home Assistant's session."""
    provider = ProviderName(data[CONF_PROVIDER])
    fields = {key: value for key, value in data.items() if key != CONF_PROVIDER}
    return PROVIDERS[provider](session=async_get_clientsession(hass), **fields)
