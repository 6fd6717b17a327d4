"""A version-independent view of entities and devices for syrupy snapshots.

Home Assistant adds fields to registry entries between releases, so snapshotting whole
registry entries would differ between the oldest and newest supported versions. These
projections keep what the integration decides: ids, keys, classes, units, state and
attributes.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def entity_view(
    hass: HomeAssistant, entry_id: str, domain: str | None = None
) -> dict[str, dict[str, Any]]:
    """Return entity id → what the integration decided about the entity, and its state."""
    registry = er.async_get(hass)
    view: dict[str, dict[str, Any]] = {}
    for entry in sorted(
        er.async_entries_for_config_entry(registry, entry_id),
        key=lambda item: item.entity_id,
    ):
        if domain is not None and entry.domain != domain:
            continue
        state = hass.states.get(entry.entity_id)
        view[entry.entity_id] = {
            "unique_id": entry.unique_id,
            "translation_key": entry.translation_key,
            "device_class": _plain(entry.original_device_class),
            "entity_category": _plain(entry.entity_category),
            "disabled_by": _plain(entry.disabled_by),
            "unit": _plain(entry.unit_of_measurement),
            "state": None if state is None else state.state,
            "attributes": None
            if state is None
            else {
                _plain(key): _plain(value)
                for key, value in sorted(state.attributes.items())
            },
        }
    return view


def device_view(hass: HomeAssistant, entry_id: str) -> list[dict[str, Any]]:
    """Return the devices of an entry, as the integration described them."""
    registry = dr.async_get(hass)
    return sorted(
        (
            {
                "identifiers": sorted(device.identifiers),
                "name": device.name,
                "manufacturer": device.manufacturer,
                "model": device.model,
                "model_id": device.model_id,
                "serial_number": device.serial_number,
                "sw_version": device.sw_version,
                "hw_version": device.hw_version,
            }
            for device in dr.async_entries_for_config_entry(registry, entry_id)
        ),
        key=lambda device: device["identifiers"],
    )
