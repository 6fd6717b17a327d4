"""State writes: a refresh writes an entity only when what it shows changed.

The first write, availability changes, value changes and attribute changes are written;
an unchanged entity costs no ``async_write_ha_state`` call and no ``state_changed`` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from unittest.mock import PropertyMock, patch

from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.const import DOMAIN
from custom_components.chargebridge.sensor import ChargeBridgeSensorEntity
from tests.simulator import Fault, FaultKind, Simulator

from .conftest import refresh_everything


@dataclass
class Writes:
    """Entity ids written (``async_write_ha_state``) and changed (``state_changed``)."""

    written: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def clear(self) -> None:
        """Forget what was recorded."""
        self.written.clear()
        self.changed.clear()


@pytest.fixture
def writes(hass: HomeAssistant) -> Iterator[Writes]:
    """Record the state writes of ChargeBridge entities and their state_changed events."""
    record = Writes()
    original = Entity.async_write_ha_state

    def counting(self: Entity) -> None:
        if self.platform is not None and self.platform.platform_name == DOMAIN:
            record.written.append(self.entity_id)
        original(self)

    @callback
    def on_changed(event: Event) -> None:
        record.changed.append(event.data["entity_id"])

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, on_changed)
    with patch.object(Entity, "async_write_ha_state", counting):
        yield record
    unsubscribe()


def vehicle_entities(
    hass: HomeAssistant, entry: MockConfigEntry, vehicle_id: str | None = None
) -> set[str]:
    """Entity ids of the enabled vehicle entities (of one vehicle, when given)."""
    prefix = f"{entry.data['provider']}_{vehicle_id or ''}"
    account = f"{entry.data['provider']}_account_"
    return {
        entity.entity_id
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if not entity.disabled_by
        and entity.unique_id.startswith(prefix)
        and not entity.unique_id.startswith(account)
    }


def soc_entity(hass: HomeAssistant, entry: MockConfigEntry, vehicle_id: str) -> str:
    """Return the entity id of a vehicle's state-of-charge sensor."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.data['provider']}_{vehicle_id}_state_of_charge"
    )
    assert entity_id is not None
    return entity_id


async def refresh(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Refresh the coordinator now, reading every car, and let the writes happen."""
    await refresh_everything(hass, entry)


async def test_first_write(
    hass: HomeAssistant,
    writes: Writes,
    init_integration: MockConfigEntry,
) -> None:
    """Every entity is written when it is added, and has its state from then on.

    (Sensors with a suggested unit are written a second time by Home Assistant itself,
    when it stores the unit in the entity registry.)
    """
    entities = vehicle_entities(hass, init_integration)
    assert entities
    assert entities <= set(writes.written)
    for entity_id in entities:
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.state != STATE_UNAVAILABLE


async def test_unchanged_refresh_writes_nothing(
    hass: HomeAssistant,
    writes: Writes,
    init_integration: MockConfigEntry,
) -> None:
    """Nothing changed: no entity is written, whether or not the fleet compares equal.

    ev.energy's fleet carries the rate limit, which moves with every request, so its
    listeners run on every refresh; calling them directly covers every provider.
    """
    coordinator = init_integration.runtime_data.coordinator
    before = {
        entity_id: hass.states.get(entity_id)
        for entity_id in vehicle_entities(hass, init_integration)
    }
    writes.clear()
    await refresh(hass, init_integration)
    coordinator.async_update_listeners()
    await hass.async_block_till_done()
    await refresh(hass, init_integration)
    assert set(writes.written).isdisjoint(before)
    assert set(writes.changed).isdisjoint(before)
    for entity_id, state in before.items():
        assert hass.states.get(entity_id) == state


@pytest.mark.parametrize("provider", ["hiven"])
async def test_changed_value_is_written_alone(
    hass: HomeAssistant,
    sim: Simulator,
    writes: Writes,
    init_integration: MockConfigEntry,
) -> None:
    """One car's state of charge moves: its sensors are written, no other car's are."""
    vehicle_id, *others = init_integration.runtime_data.coordinator.data.vehicles
    sim.fleet("hiven").vehicles[vehicle_id].soc = 12.0
    soc = soc_entity(hass, init_integration, vehicle_id)
    writes.clear()
    await refresh(hass, init_integration)
    assert hass.states.get(soc).state == "12.0"
    assert soc in writes.written
    assert soc in writes.changed
    assert set(writes.written) <= vehicle_entities(hass, init_integration, vehicle_id)
    for other in others:
        assert set(writes.written).isdisjoint(
            vehicle_entities(hass, init_integration, other)
        )


@pytest.mark.parametrize("provider", ["hiven"])
async def test_availability_changes_are_written(
    hass: HomeAssistant,
    sim: Simulator,
    writes: Writes,
    init_integration: MockConfigEntry,
) -> None:
    """A car whose status fails goes unavailable, and comes back; only its entities move."""
    vehicle_id, *_ = init_integration.runtime_data.coordinator.data.vehicles
    broken = vehicle_entities(hass, init_integration, vehicle_id)
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            provider="hiven",
            vehicle_id=vehicle_id,
            path="/status",
        )
    )
    writes.clear()
    await refresh(hass, init_integration)
    assert set(writes.written) == broken
    assert {hass.states.get(entity_id).state for entity_id in broken} == {
        STATE_UNAVAILABLE
    }

    writes.clear()
    await refresh(hass, init_integration)
    assert not writes.written

    sim.faults.remove(fault)
    writes.clear()
    await refresh(hass, init_integration)
    assert set(writes.written) == broken
    assert STATE_UNAVAILABLE not in {
        hass.states.get(entity_id).state for entity_id in broken
    }


async def test_outage_and_recovery_are_written(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    writes: Writes,
    init_integration: MockConfigEntry,
) -> None:
    """A failed refresh writes every vehicle entity unavailable once; recovery writes them back."""
    entities = vehicle_entities(hass, init_integration)
    before = {entity_id: hass.states.get(entity_id).state for entity_id in entities}
    fault = sim.faults.add(Fault(kind=FaultKind.STATUS, provider=provider))
    writes.clear()
    await refresh(hass, init_integration)
    assert sorted(set(writes.written) & entities) == sorted(entities)
    assert {hass.states.get(entity_id).state for entity_id in entities} == {
        STATE_UNAVAILABLE
    }

    sim.faults.remove(fault)
    writes.clear()
    await refresh(hass, init_integration)
    assert set(writes.written) >= entities
    assert {
        entity_id: hass.states.get(entity_id).state for entity_id in entities
    } == before


@pytest.mark.parametrize("provider", ["hiven"])
async def test_attribute_change_is_written(
    hass: HomeAssistant,
    writes: Writes,
    init_integration: MockConfigEntry,
) -> None:
    """Extra state attributes count: a change is written, the same ones again are not."""
    coordinator = init_integration.runtime_data.coordinator
    vehicle_id, *_ = coordinator.data.vehicles
    soc = soc_entity(hass, init_integration, vehicle_id)
    with patch.object(
        ChargeBridgeSensorEntity,
        "extra_state_attributes",
        new_callable=PropertyMock,
        return_value={"source": "plan"},
    ) as attributes:
        writes.clear()
        coordinator.async_update_listeners()
        assert soc in writes.written
        assert hass.states.get(soc).attributes["source"] == "plan"

        writes.clear()
        coordinator.async_update_listeners()
        assert soc not in writes.written

        attributes.return_value = {"source": "telemetry"}
        coordinator.async_update_listeners()
        assert soc in writes.written
        assert hass.states.get(soc).attributes["source"] == "telemetry"


@pytest.mark.parametrize("provider", ["hiven"])
async def test_registry_change_is_written_and_stays(
    hass: HomeAssistant,
    writes: Writes,
    init_integration: MockConfigEntry,
) -> None:
    """A rename writes at once (not through a refresh), and a later refresh keeps it."""
    coordinator = init_integration.runtime_data.coordinator
    vehicle_id, *_ = coordinator.data.vehicles
    soc = soc_entity(hass, init_integration, vehicle_id)
    writes.clear()
    er.async_get(hass).async_update_entity(soc, name="Battery of the blue car")
    await hass.async_block_till_done()
    assert soc in writes.written
    assert hass.states.get(soc).name == "Battery of the blue car"

    writes.clear()
    coordinator.async_update_listeners()
    await refresh(hass, init_integration)
    assert soc not in writes.written
    assert hass.states.get(soc).name == "Battery of the blue car"
