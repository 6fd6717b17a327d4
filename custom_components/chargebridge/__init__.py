"""The ChargeBridge integration: EV smart-charging clouds in Home Assistant."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .api import InvalidInputError
from .const import DOMAIN, PLATFORMS
from .coordinator import (
    ChargeBridgeConfigEntry,
    ChargeBridgeCoordinator,
    ChargeBridgeData,
)
from .entity import is_current_device, remove_stale_devices
from .helpers import input_error_key
from .providers import build_client
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, so automations using them validate without a loaded entry."""
    async_setup_services(hass)
    return True


async def async_setup_entry(
    hass: HomeAssistant, entry: ChargeBridgeConfigEntry
) -> bool:
    """Fetch the fleet once (so a broken account fails here), then add the platforms."""
    try:
        client = build_client(hass, entry.data)
    except InvalidInputError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN, translation_key=input_error_key(err)
        ) from err
    coordinator = ChargeBridgeCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = ChargeBridgeData(client=client, coordinator=coordinator)

    @callback
    def _remove_stale_devices() -> None:
        if coordinator.last_update_success and coordinator.fleet_changed:
            remove_stale_devices(hass, entry)

    _remove_stale_devices()
    entry.async_on_unload(coordinator.async_add_listener(_remove_stale_devices))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    return True


async def async_unload_entry(
    hass: HomeAssistant, entry: ChargeBridgeConfigEntry
) -> bool:
    """Unload the platforms and withdraw the entry's repair issues.

    Nothing watches an unloaded entry's issues, so none may linger (a reload raises the
    current ones again at its first refresh). The shared HTTP session stays Home
    Assistant's.
    """
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        entry.runtime_data.coordinator.issues.clear()
    return unloaded


async def _async_update_listener(
    hass: HomeAssistant, entry: ChargeBridgeConfigEntry
) -> None:
    """Apply a changed polling interval without a reload."""
    entry.runtime_data.coordinator.apply_options()


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: ChargeBridgeConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow removing a device only when the provider no longer lists its vehicle.

    The account device stays as long as the entry does.
    """
    return not is_current_device(entry, device)
