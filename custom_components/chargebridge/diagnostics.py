"""Diagnostics: the entry and the fleet as the integration sees it, secrets redacted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime, time
from enum import Enum
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import ChargeBridgeConfigEntry
from .providers import account_keys, secret_keys

PERSONAL_KEYS = frozenset(
    {
        "vin",
        "license_plate",
        "location",
        "locations",
        "location_uid",
        "latitude",
        "longitude",
    }
)
"""VINs, plates and anything that places the user (besides secrets and account ids)."""


def as_json(value: Any) -> Any:
    """Turn the api models into plain JSON values (dataclasses, enums, times, errors)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: as_json(getattr(value, field.name)) for field in fields(value)
        }
    if isinstance(value, Mapping):
        return {str(as_json(key)): as_json(item) for key, item in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(as_json(item) for item in value)
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | time):
        return value.isoformat()
    if isinstance(value, Exception):
        return f"{type(value).__name__}: {value}"
    return value


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ChargeBridgeConfigEntry
) -> dict[str, Any]:
    """Return what support needs to see, without anything that identifies the user."""
    coordinator = entry.runtime_data.coordinator
    client = entry.runtime_data.client
    to_redact = secret_keys() | account_keys() | PERSONAL_KEYS
    return {
        "entry": {
            "data": async_redact_data(entry.data, to_redact),
            "options": dict(entry.options),
        },
        "polling": {
            "update_interval_seconds": (
                coordinator.update_interval.total_seconds()
                if coordinator.update_interval
                else None
            ),
            "last_update_success": coordinator.last_update_success,
            "requests_made": client.requests_made,
            "rate_limit": as_json(client.rate_limit),
            "cadence": coordinator.cadence.as_diagnostics(),
        },
        "fleet": async_redact_data(as_json(coordinator.data), to_redact),
    }
