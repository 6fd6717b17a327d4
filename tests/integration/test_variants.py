"""A server that follows the documents but makes the other choices they permit.

The simulator runs strict (the documents' strictest readings) and with the variants a
document allows where it is silent (``VARIANTS`` in each simulator module). Each test adds a
provider through the config flow, as a user would, and reads the values from the entities.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.chargebridge.const import DOMAIN
from tests.simulator import Simulator

from .conftest import Advance
from .test_chargeye_depots import assert_shows_the_truth
from .test_config_flow import start_provider_step, user_input


async def add_through_flow(
    hass: HomeAssistant, provider: str, config: dict[str, Any]
) -> ConfigEntry:
    """Add the provider's account with the config flow; return the loaded entry."""
    flow_id = await start_provider_step(hass, provider)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(config))
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


def vehicle_entity(
    hass: HomeAssistant, entry: ConfigEntry, vehicle_id: str, domain: str, key: str
) -> str:
    """Return the entity id of one vehicle's entity."""
    unique_id = f"{entry.data['provider']}_{vehicle_id}_{key}"
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


def assert_every_entity_shown(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Assert that every entity of the entry has a state and none is unavailable."""
    states = [
        hass.states.get(entity.entity_id)
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
    ]
    assert all(state is not None for state in states)
    assert STATE_UNAVAILABLE not in {state.state for state in states if state}


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("provider", ["hiven"])
@pytest.mark.parametrize("unit", ["s", "ms"])
async def test_hiven_epoch_timestamps(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    provider_config: dict[str, Any],
    unit: str,
) -> None:
    """Hiven's times typed "<string>" sent as epoch strings: read, nothing unavailable."""
    sim.set_variants("hiven", {"epoch_timestamps": unit})
    entry = await add_through_flow(hass, provider, provider_config)
    now = sim.clock.now()
    for vehicle in sim.hiven.fleet:
        updated = hass.states.get(
            vehicle_entity(hass, entry, vehicle.id, "sensor", "last_update")
        )
        assert updated is not None
        assert datetime.fromisoformat(updated.state) == now.replace(
            microsecond=0
        ).astimezone(UTC)
        soc = hass.states.get(
            vehicle_entity(hass, entry, vehicle.id, "sensor", "state_of_charge")
        )
        assert soc is not None
        assert float(soc.state) == pytest.approx(vehicle.soc, abs=0.1)
    assert_every_entity_shown(hass, entry)


@pytest.mark.parametrize("provider", ["hiven"])
async def test_hiven_strict_server_accepts_every_write(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    provider_config: dict[str, Any],
) -> None:
    """Every Hiven control writes a body the strict reading accepts (no 400)."""
    assert sim.hiven.strict_preferences
    entry = await add_through_flow(hass, provider, provider_config)
    vehicle = next(iter(sim.hiven.fleet))
    switch = vehicle_entity(hass, entry, vehicle.id, "switch", "smart_charging")
    target = vehicle_entity(hass, entry, vehicle.id, "number", "target_soc")
    ready = vehicle_entity(hass, entry, vehicle.id, "time", "ready_time")
    sim.requests.clear()
    for domain, service, data in (
        ("switch", "turn_off", {}),
        ("switch", "turn_on", {}),
        ("number", "set_value", {"value": 70}),
        ("time", "set_value", {"time": "06:45:00"}),
    ):
        entity = {"switch": switch, "number": target, "time": ready}[domain]
        await hass.services.async_call(
            domain, service, {ATTR_ENTITY_ID: entity, **data}, blocking=True
        )
    puts = sim.requests.filter("hiven", "PUT")
    assert len(puts) == 4
    for put in puts:
        body = put.json
        assert body["chargingBehavior"]
        if body["chargingBehavior"] != "SMART_CHARGE_OFF":
            assert "targetSoC" in body
            assert "readyTime" in body or "weekDaySpecificReadyTimes" in body
    assert vehicle.smart_charging is True
    assert vehicle.target_soc == 70
    assert vehicle.ready_time == "06:45"
    assert hass.states.get(target).state == "70"
    assert hass.states.get(switch).state == "on"
    assert hass.states.get(ready).state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)


@pytest.mark.parametrize("provider", ["chargeye"])
async def test_chargeye_every_variant_at_once(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    provider_config: dict[str, Any],
    advance: Advance,
) -> None:
    """A token with no claim we know, recurring-only depots, epoch-string times: all shown."""
    sim.set_variants(
        "chargeye",
        {
            "omitted_claims": ["org", "sub"],
            "recurring_only_locations": [loc.id for loc in sim.chargeye.locations],
            "epoch_timestamps": "ms",
        },
    )
    entry = await add_through_flow(hass, provider, provider_config)
    assert entry.unique_id is not None
    assert entry.unique_id.startswith("chargeye_depots-")
    for _ in range(6):
        assert_shows_the_truth(hass, sim)
        await advance(4 * 3600)
    paths = {request.path for request in sim.requests.for_provider("chargeye")}
    assert not [path for path in paths if path.endswith("/upcoming")]


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("provider", ["evenergy"])
async def test_evenergy_literal_scopes_cost_the_plans_only(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    provider_config: dict[str, Any],
) -> None:
    """Schedules behind the literally documented scope: 403, no plan, every car shown."""
    sim.set_variants("evenergy", {"literal_scopes": True})
    entry = await add_through_flow(hass, provider, provider_config)
    assert sim.requests.filter("evenergy", "GET", r"/schedules$")
    fleet = entry.runtime_data.coordinator.data
    assert entry.runtime_data.coordinator.last_update_success
    for vehicle in sim.evenergy.fleet:
        snapshot = fleet.vehicles[vehicle.id]
        assert snapshot.error is None
        assert snapshot.schedule is not None
        assert snapshot.schedule.slots == ()
        soc = hass.states.get(
            vehicle_entity(hass, entry, vehicle.id, "sensor", "state_of_charge")
        )
        assert soc is not None
        assert float(soc.state) == pytest.approx(vehicle.soc, abs=0.5)
    assert_every_entity_shown(hass, entry)
