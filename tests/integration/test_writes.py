"""The one write path: validation errors, provider errors, and racing refreshes."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.api import (
    ChargingPreferences,
    InvalidInputError,
    PreferencesUpdate,
    VehicleSnapshot,
)
from custom_components.chargebridge.const import DOMAIN
from custom_components.chargebridge.helpers import input_error
from tests.simulator import Fault, FaultKind, Simulator


def first_vehicle(entry: MockConfigEntry) -> VehicleSnapshot:
    """Return the first vehicle of the fleet."""
    return next(iter(entry.runtime_data.coordinator.data.vehicles.values()))


def entity_id(
    hass: HomeAssistant, entry: MockConfigEntry, domain: str, key: str
) -> str:
    """Return the entity id of the first vehicle's ``key``."""
    unique_id = f"{entry.data['provider']}_{first_vehicle(entry).vehicle.id}_{key}"
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert found is not None
    return found


@pytest.mark.parametrize("provider", ["hiven"])
async def test_invalid_input_is_a_translated_validation_error(
    hass: HomeAssistant, sim: Simulator, init_integration: MockConfigEntry
) -> None:
    """A minimal charge above the target is refused before any request is sent."""
    target = entity_id(hass, init_integration, "number", "target_soc")
    minimal = entity_id(hass, init_integration, "number", "minimal_soc")
    await hass.services.async_call(
        "number", "set_value", {ATTR_ENTITY_ID: target, "value": 60}, blocking=True
    )
    sim.requests.clear()
    before = hass.states.get(minimal).state
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            "number", "set_value", {ATTR_ENTITY_ID: minimal, "value": 70}, blocking=True
        )
    assert raised.value.translation_domain == DOMAIN
    assert raised.value.translation_key == "minimal_above_target"
    assert raised.value.translation_placeholders == {"minimal": "70", "target": "60"}
    assert str(raised.value) == (
        "The minimal charge (70 %) cannot be above the charge target (60 %)"
    )
    assert not sim.requests.for_provider("hiven")
    assert hass.states.get(minimal).state == before


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_refused_credentials_on_write_start_reauth(
    hass: HomeAssistant, sim: Simulator, init_integration: MockConfigEntry
) -> None:
    """A 401 on a write says so and asks the user for new credentials."""
    switch = entity_id(hass, init_integration, "switch", "smart_charging")
    sim.faults.add(Fault(kind=FaultKind.AUTH, provider="evenergy", method="PATCH"))
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            "switch", "turn_off", {ATTR_ENTITY_ID: switch}, blocking=True
        )
    assert raised.value.translation_key == "auth_failed"
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


@pytest.mark.parametrize("provider", ["hiven"])
async def test_rejected_write_is_translated(
    hass: HomeAssistant, sim: Simulator, init_integration: MockConfigEntry
) -> None:
    """A provider refusing the change (4xx) shows its own explanation."""
    ready = entity_id(hass, init_integration, "time", "ready_time")
    before = hass.states.get(ready).state
    sim.faults.add(Fault(kind=FaultKind.STATUS, provider="hiven", status=422))
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            "time", "set_value", {ATTR_ENTITY_ID: ready, "time": "05:00"}, blocking=True
        )
    assert raised.value.translation_key == "rejected"
    assert raised.value.translation_placeholders["provider"] == "Hiven"
    assert hass.states.get(ready).state == before


@pytest.mark.parametrize("provider", ["hiven"])
async def test_write_for_unknown_vehicle(init_integration: MockConfigEntry) -> None:
    """Writing to a vehicle the fleet does not have is a clear error."""
    coordinator = init_integration.runtime_data.coordinator

    with pytest.raises(HomeAssistantError) as raised:
        await coordinator.async_update_preferences(
            "no-such-vehicle", PreferencesUpdate(ready_time=time(5))
        )
    assert raised.value.translation_key == "vehicle_not_found"


@pytest.mark.parametrize("provider", ["hiven"])
async def test_write_answer_for_a_vehicle_gone_meanwhile(
    init_integration: MockConfigEntry,
) -> None:
    """A refresh that dropped the vehicle while the write ran is not undone."""
    coordinator = init_integration.runtime_data.coordinator
    vehicle_id = first_vehicle(init_integration).vehicle.id

    async def write(
        snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        coordinator.data = replace(coordinator.data, vehicles={})
        return replace(snapshot.preferences, ready_time=update.ready_time)

    with patch.object(coordinator.client, "async_update_preferences", write):
        await coordinator.async_update_preferences(
            vehicle_id, PreferencesUpdate(ready_time=time(5))
        )
    assert vehicle_id not in coordinator.data.vehicles


def test_unknown_invalid_input_keeps_the_clients_explanation() -> None:
    """Input refused for a reason without its own message shows the client's words."""
    error = input_error(InvalidInputError("hiven", "the moon is not a time"))
    assert error.translation_domain == DOMAIN
    assert error.translation_key == "invalid_input"
    assert error.translation_placeholders == {"error": "the moon is not a time"}
