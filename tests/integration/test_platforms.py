"""Every platform of every provider, snapshotted through the simulator."""

from __future__ import annotations

from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from .entity_snapshot import device_view, entity_view


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    "platform",
    [
        Platform.BINARY_SENSOR,
        Platform.BUTTON,
        Platform.CALENDAR,
        Platform.NUMBER,
        Platform.SELECT,
        Platform.SENSOR,
        Platform.SWITCH,
        Platform.TIME,
    ],
)
async def test_platform(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
    platform: Platform,
) -> None:
    """Each platform's entities, with their state right after setup."""
    assert entity_view(hass, init_integration.entry_id, platform) == snapshot


async def test_devices(
    hass: HomeAssistant, snapshot: SnapshotAssertion, init_integration: MockConfigEntry
) -> None:
    """One device per vehicle, named after it, plus the account; no VIN anywhere."""
    devices = device_view(hass, init_integration.entry_id)
    assert devices == snapshot
    vins = {
        snapshot_.vehicle.vin
        for snapshot_ in init_integration.runtime_data.coordinator.data.vehicles.values()
        if snapshot_.vehicle.vin
    }
    assert len(devices) == (
        len(init_integration.runtime_data.coordinator.data.vehicles) + 1
    )
    for vin in vins:
        assert vin not in repr(devices)


async def test_noisy_entities_disabled_by_default(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Diagnostics that change with every reading or refresh start disabled.

    last_update of each vehicle, and the account's request counter and, where the
    provider states a budget (ev.energy), its remaining requests.
    """
    entries = er.async_entries_for_config_entry(
        entity_registry, init_integration.entry_id
    )
    disabled = {entry.unique_id for entry in entries if entry.disabled_by}
    vehicles = init_integration.runtime_data.coordinator.data.vehicles
    provider = init_integration.data["provider"]
    account = (
        f"{provider}_account_{init_integration.unique_id.removeprefix(provider + '_')}"
    )
    budget = {f"{account}_rate_limit_remaining"} if provider == "evenergy" else set()
    assert (
        disabled
        == {f"{provider}_{vehicle_id}_last_update" for vehicle_id in vehicles}
        | {f"{account}_api_requests"}
        | budget
    )
    for unique_id in disabled:
        entry = next(entry for entry in entries if entry.unique_id == unique_id)
        assert entry.entity_category is EntityCategory.DIAGNOSTIC
        assert hass.states.get(entry.entity_id) is None
