"""The set_depot_schedule action (Kempower ChargEye)."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.const import DOMAIN
from tests.simulator import Fault, FaultKind, Simulator

from .conftest import Advance

pytestmark = pytest.mark.parametrize("provider", ["chargeye"])


def first_device(hass: HomeAssistant, entry: MockConfigEntry) -> tuple[str, str]:
    """Return (device id, vehicle id) of the entry's first vehicle."""
    vehicle_id = next(iter(entry.runtime_data.coordinator.data.vehicles))
    for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id):
        if (DOMAIN, f"chargeye_{vehicle_id}") in device.identifiers:
            return device.id, vehicle_id
    raise AssertionError("no device")


async def set_schedule(hass: HomeAssistant, **data: Any) -> Any:
    """Call the action and return its response."""
    return await hass.services.async_call(
        DOMAIN, "set_depot_schedule", data, blocking=True, return_response=True
    )


async def test_adds_a_schedule(
    hass: HomeAssistant, sim: Simulator, init_integration: MockConfigEntry
) -> None:
    """Local times go to ChargEye as UTC; the new schedule's id comes back."""
    device_id, vehicle_id = first_device(hass, init_integration)
    response = await set_schedule(
        hass,
        device_id=device_id,
        arrival="2026-12-24 19:00:00",
        departure="2026-12-25T06:30:00+01:00",
        target_soc=85,
    )
    request = sim.requests.last("chargeye", "POST", r"/schedules$")
    assert request.path == f"/chargeye/vehicles/{vehicle_id}/schedules"
    assert request.json == {
        "replaceFutureSchedules": False,
        "schedules": [
            {
                "plannedArrivalTime": "2026-12-24T18:00:00.000Z",
                "plannedDepartureTime": "2026-12-25T05:30:00.000Z",
                "targetSoC": 85.0,
            }
        ],
    }
    assert len(response["schedule_ids"]) == 1
    assert response["removed_schedule_ids"] == []


async def test_departure_before_arrival(
    hass: HomeAssistant, sim: Simulator, init_integration: MockConfigEntry
) -> None:
    """Refused with a translated message before anything is sent."""
    device_id, _ = first_device(hass, init_integration)
    with pytest.raises(ServiceValidationError) as raised:
        await set_schedule(
            hass,
            device_id=device_id,
            arrival="2026-11-03 07:00:00",
            departure="2026-11-03 06:00:00",
            target_soc=80,
        )
    assert raised.value.translation_key == "departure_before_arrival"
    assert not sim.requests.filter("chargeye", "POST")


async def test_provider_failure(
    hass: HomeAssistant, sim: Simulator, init_integration: MockConfigEntry
) -> None:
    """A failing provider gives a translated error."""
    device_id, _ = first_device(hass, init_integration)
    sim.faults.add(Fault(kind=FaultKind.STATUS, provider="chargeye", method="POST"))
    with pytest.raises(HomeAssistantError) as raised:
        await set_schedule(
            hass,
            device_id=device_id,
            arrival="2026-11-02 19:00:00",
            departure="2026-11-03 06:00:00",
            target_soc=80,
        )
    assert raised.value.translation_key == "cannot_connect"


async def test_unknown_device(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A device id that does not exist is refused."""
    with pytest.raises(ServiceValidationError) as raised:
        await set_schedule(
            hass,
            device_id="nope",
            arrival="2026-11-02 19:00:00",
            departure="2026-11-03 06:00:00",
            target_soc=80,
        )
    assert raised.value.translation_key == "device_not_found"


async def test_not_a_depot_vehicle(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Devices of other integrations, other providers, gone vehicles or unloaded entries."""
    device_id, _ = first_device(hass, init_integration)
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=init_integration.entry_id,
        identifiers={
            (DOMAIN, "hiven_car"),
            ("other", "chargeye_x"),
            (DOMAIN, "chargeye_gone"),
        },
    )

    async def refused(device: str) -> None:
        with pytest.raises(ServiceValidationError) as raised:
            await set_schedule(
                hass,
                device_id=device,
                arrival="2026-11-02 19:00:00",
                departure="2026-11-03 06:00:00",
                target_soc=80,
            )
        assert raised.value.translation_key == "not_a_depot_vehicle"

    await refused(other.id)
    await hass.config_entries.async_unload(init_integration.entry_id)
    await refused(device_id)


async def test_target_appears_with_the_first_schedule(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A depot vehicle without schedules has no target; its first schedule adds one."""
    vehicle = sim.chargeye.fleet.add_vehicle(depot_pattern=False)
    await advance(
        init_integration.runtime_data.coordinator.update_interval.total_seconds()
    )
    registry = er.async_get(hass)
    unique_id = f"chargeye_{vehicle.id}_target_soc"
    assert registry.async_get_entity_id("number", DOMAIN, unique_id) is None
    device = next(
        device
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), init_integration.entry_id
        )
        if (DOMAIN, f"chargeye_{vehicle.id}") in device.identifiers
    )

    await set_schedule(
        hass,
        device_id=device.id,
        arrival="2026-11-02 19:00:00",
        departure="2026-11-03 06:00:00",
        target_soc=75,
    )
    await hass.async_block_till_done()
    entity_id = registry.async_get_entity_id("number", DOMAIN, unique_id)
    assert entity_id is not None
    assert hass.states.get(entity_id).state == "75"
