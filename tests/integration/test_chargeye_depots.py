"""ChargEye in Home Assistant: the state read per depot, through the entities.

One read per depot serves every vehicle there, so a depot listing only recurring
schedules, or a depot failing, shows in the entities of all its vehicles (and no others).
"""

from __future__ import annotations

from datetime import datetime
import logging
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.chargebridge.const import DOMAIN
from tests.integration.conftest import Advance, next_poll
from tests.simulator import Fault, FaultKind, Simulator

PROBLEM = "Problem reading the fleet"
RESOLVED = "Problem resolved"

ENTITIES = {
    "state_of_charge": "sensor",
    "charging_status": "sensor",
    "next_departure": "sensor",
    "plugged_in": "binary_sensor",
    "charging": "binary_sensor",
    "target_soc": "number",
}


@pytest.fixture
def provider() -> str:
    """ChargEye only."""
    return "chargeye"


async def set_up_through_the_flow(
    hass: HomeAssistant, provider_config: dict[str, Any]
) -> ConfigEntry:
    """Add the demo account as a user would: the menu, the ChargEye form, submit."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "chargeye"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {key: value for key, value in provider_config.items() if key != "provider"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    return entry


def states_of(hass: HomeAssistant, vehicle_id: str) -> dict[str, str]:
    """Return the state of each compared entity of a vehicle."""
    registry = er.async_get(hass)
    states = {}
    for key, domain in ENTITIES.items():
        entity_id = registry.async_get_entity_id(
            domain, DOMAIN, f"chargeye_{vehicle_id}_{key}"
        )
        assert entity_id is not None, key
        state = hass.states.get(entity_id)
        assert state is not None, key
        states[key] = state.state
    return states


def truth_of(sim: Simulator, vehicle_id: str) -> dict[str, Any]:
    """Return what the simulated vehicle does now, as the entities should show it."""
    vehicle = sim.chargeye.fleet.vehicles[vehicle_id]
    _, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    return {
        "state_of_charge": vehicle.soc if vehicle.plugged_in else None,
        "charging_status": vehicle.status,
        "next_departure": current.departure,
        "plugged_in": "on" if vehicle.plugged_in else "off",
        "charging": "on" if vehicle.charging else "off",
        "target_soc": round(current.target_soc),
    }


def assert_shows_the_truth(hass: HomeAssistant, sim: Simulator) -> None:
    """Check every vehicle's entities against the simulated vehicle."""
    for vehicle_id in sim.chargeye.fleet.vehicles:
        shown, truth = states_of(hass, vehicle_id), truth_of(sim, vehicle_id)
        if truth["state_of_charge"] is None:
            assert shown["state_of_charge"] == STATE_UNKNOWN
        else:
            assert float(shown["state_of_charge"]) == pytest.approx(
                truth["state_of_charge"], abs=0.01
            )
        assert shown["charging_status"] == truth["charging_status"]
        assert (
            datetime.fromisoformat(shown["next_departure"]) == truth["next_departure"]
        )
        assert shown["plugged_in"] == truth["plugged_in"]
        assert shown["charging"] == truth["charging"]
        assert float(shown["target_soc"]) == truth["target_soc"]


async def test_recurring_only_depot_shows_the_plan(
    hass: HomeAssistant,
    sim: Simulator,
    provider_config: dict[str, Any],
    advance: Advance,
) -> None:
    """A depot listing only recurring schedules with plans: every entity as dated ones.

    Through the evening and night the vehicles arrive, wait for cheap hours, charge and
    leave; the entities follow the plan of each series' current occurrence.
    """
    noord = sim.chargeye.locations[0].id
    sim.chargeye.recurring_only_locations = {noord}
    entry = await set_up_through_the_flow(hass, provider_config)
    assert_shows_the_truth(hass, sim)
    paths = [request.path for request in sim.requests.for_provider("chargeye")]
    assert f"/chargeye/locations/{noord}/schedules" in paths
    assert not [path for path in paths if path.endswith("/upcoming")]
    statuses: set[str] = set()
    for _ in range(24):
        await advance(3600)
        await next_poll(entry, advance)
        assert_shows_the_truth(hass, sim)
        statuses.update(
            states_of(hass, vehicle_id)["charging_status"]
            for vehicle_id in sim.chargeye.fleet.vehicles
        )
    assert {"charging", "disconnected"} <= statuses


async def test_recurring_only_depot_without_plans(
    hass: HomeAssistant, sim: Simulator, provider_config: dict[str, Any]
) -> None:
    """Recurring schedules without plans: departure, target and plug state from the rule."""
    sim.chargeye.recurring_only_locations = {loc.id for loc in sim.chargeye.locations}
    sim.chargeye.recurring_plans = False
    await set_up_through_the_flow(hass, provider_config)
    for vehicle_id in sim.chargeye.fleet.vehicles:
        shown, truth = states_of(hass, vehicle_id), truth_of(sim, vehicle_id)
        assert (
            datetime.fromisoformat(shown["next_departure"]) == truth["next_departure"]
        )
        assert float(shown["target_soc"]) == truth["target_soc"]
        assert shown["plugged_in"] == truth["plugged_in"]
        assert shown["charging"] == "off"


async def test_failing_depot_costs_only_its_vehicles(
    hass: HomeAssistant,
    sim: Simulator,
    provider_config: dict[str, Any],
    advance: Advance,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its vehicles go unavailable, each logged once; the other depot's stay; both return."""
    entry = await set_up_through_the_flow(hass, provider_config)
    noord, zuid = (location.id for location in sim.chargeye.locations)
    at = {
        depot: [
            vehicle_id
            for vehicle_id, record in sim.chargeye.records.items()
            if depot in record.locations()
        ]
        for depot in (noord, zuid)
    }
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            provider="chargeye",
            path=f"/locations/{noord}/schedules$",
            status=503,
        )
    )
    caplog.set_level(logging.INFO, logger="custom_components.chargebridge")
    caplog.clear()
    await next_poll(entry, advance)
    await next_poll(entry, advance)
    assert fault.hits >= 1
    assert entry.runtime_data.coordinator.last_update_success
    for vehicle_id in at[noord]:
        assert set(states_of(hass, vehicle_id).values()) == {STATE_UNAVAILABLE}
    for vehicle_id in at[zuid]:
        assert STATE_UNAVAILABLE not in states_of(hass, vehicle_id).values()
    problems = [r for r in caplog.records if PROBLEM in r.getMessage()]
    assert len(problems) == len(at[noord])
    sim.faults.remove(fault)
    await next_poll(entry, advance)
    assert_shows_the_truth(hass, sim)
    resolved = [r for r in caplog.records if RESOLVED in r.getMessage()]
    assert len(resolved) == len(at[noord])
