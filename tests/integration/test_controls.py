"""Every control round-trips through the simulator: the exact request, then the new state.

A failed write keeps the old state and raises a translated error.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.api import Feature, VehicleSnapshot
from custom_components.chargebridge.const import DOMAIN
from tests.simulator import Fault, FaultKind, Simulator


@dataclass(frozen=True, kw_only=True)
class Control:
    """One control, how to use it, and what the provider must receive."""

    provider: str
    key: str
    domain: str
    service: str
    data: dict[str, Any]
    method: str
    path: str
    """Regex; ``{id}`` stands for the vehicle id."""
    body: dict[str, Any] | None
    """What the JSON body must contain (nested; None: no body)."""
    state: str
    pick: str = "any"
    """Which vehicle: ``any``, or ``plugged`` (needs a charging session)."""

    @property
    def id(self) -> str:
        """Test id."""
        return f"{self.provider}-{self.key}-{self.service}"


CONTROLS = [
    Control(
        provider="hiven", key="smart_charging", domain="switch", service="turn_off",
        data={}, method="PUT", path=r"/v2/hiven/devices/{id}/smart-charging/ev-preferences$",
        body={"chargingBehavior": "SMART_CHARGE_OFF"}, state="off", pick="smart",
    ),
    Control(
        provider="hiven", key="charging_behavior", domain="select", service="select_option",
        data={"option": "anywhere"}, method="PUT",
        path=r"/v2/hiven/devices/{id}/smart-charging/ev-preferences$",
        body={"chargingBehavior": "SMART_CHARGE_ANYWHERE"}, state="anywhere", pick="not_anywhere",
    ),
    Control(
        provider="hiven", key="target_soc", domain="number", service="set_value",
        data={"value": 75}, method="PUT",
        path=r"/v2/hiven/devices/{id}/smart-charging/ev-preferences$",
        body={"targetSoC": {"value": 75, "unit": "PERCENT"}}, state="75",
    ),
    Control(
        provider="hiven", key="minimal_soc", domain="number", service="set_value",
        data={"value": 20}, method="PUT",
        path=r"/v2/hiven/devices/{id}/smart-charging/ev-preferences$",
        body={"minimalSoC": {"value": 20, "unit": "PERCENT"}}, state="20",
    ),
    Control(
        provider="hiven", key="ready_time", domain="time", service="set_value",
        data={"time": "06:45:00"}, method="PUT",
        path=r"/v2/hiven/devices/{id}/smart-charging/ev-preferences$",
        body={"readyTime": "06:45"}, state="06:45:00",
    ),
    Control(
        provider="hiven", key="ready_time_monday", domain="time", service="set_value",
        data={"time": "05:15:00"}, method="PUT",
        path=r"/v2/hiven/devices/{id}/smart-charging/ev-preferences$",
        body={"weekDaySpecificReadyTimes": {"MONDAY": "05:15"}}, state="05:15:00",
    ),
    Control(
        provider="chargeye", key="smart_charging", domain="switch", service="turn_off",
        data={}, method="PATCH", path=r"/chargeye/vehicles/{id}$",
        body={"enableChargeScheduling": False}, state="off",
    ),
    Control(
        provider="chargeye", key="target_soc", domain="number", service="set_value",
        data={"value": 80}, method="PATCH", path=r"/chargeye/vehicles/{id}/schedules$",
        body={"schedules": [{"targetSoC": 80}]}, state="80",
    ),
    Control(
        provider="jedlix", key="smart_charging", domain="switch", service="turn_off",
        data={}, method="PUT", path=r"/users/[^/]+/vehicles/{id}/charge-settings$",
        body={"isSmartChargingEnabled": False}, state="off",
    ),
    Control(
        provider="jedlix", key="target_soc", domain="number", service="set_value",
        data={"value": 70}, method="PUT", path=r"/users/[^/]+/vehicles/{id}/charge-settings$",
        body={"desiredBatteryLevel": 70}, state="70",
    ),
    Control(
        provider="jedlix", key="ready_time_friday", domain="time", service="set_value",
        data={"time": "08:30:00"}, method="PUT",
        path=r"/users/[^/]+/vehicles/{id}/charge-settings$",
        body={"departureTimes": {"friday": "08:30"}}, state="08:30:00",
    ),
    Control(
        provider="jedlix", key="boost", domain="switch", service="turn_on", data={},
        method="POST", path=r"/users/[^/]+/sessions/[^/]+/session-settings$",
        body={"type": "boostCharging", "enabled": True}, state="on", pick="plugged",
    ),
    Control(
        provider="evenergy", key="smart_charging", domain="switch", service="turn_off",
        data={}, method="PATCH", path=r"/evenergy/v2/vehicles/{id}/?$",
        body={"smart_charging_enabled": False}, state="off",
    ),
    Control(
        provider="evenergy", key="target_soc", domain="number", service="set_value",
        data={"value": 60}, method="PATCH", path=r"/evenergy/v2/vehicles/{id}/?$",
        body={"maximum_charge_limit_percentage": 60}, state="60",
    ),
    Control(
        provider="evenergy", key="boost", domain="switch", service="turn_on", data={},
        method="POST", path=r"/evenergy/v2/charging_sessions/[^/]+/boost_start/?$",
        body=None, state="on", pick="plugged",
    ),
]  # fmt: skip


def contains(actual: Any, expected: Any) -> bool:
    """Tell whether ``actual`` holds everything in ``expected`` (dicts: subset, lists: per item)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value)
            for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return actual == expected


def pick_vehicle(entry: MockConfigEntry, control: Control) -> VehicleSnapshot:
    """Return a vehicle on which the control makes sense."""
    feature = (
        Feature.WEEKDAY_READY_TIMES
        if control.key.startswith("ready_time_")
        else Feature(control.key)
    )
    for snapshot in entry.runtime_data.coordinator.data.vehicles.values():
        if not snapshot.vehicle.capabilities.supports(feature) or snapshot.error:
            continue
        state, preferences = snapshot.state, snapshot.preferences
        if control.pick == "plugged" and not state.plugged_in:
            continue
        if control.pick == "smart" and not preferences.smart_charging:
            continue
        if (
            control.pick == "not_anywhere"
            and preferences.charging_behavior == "anywhere"
        ):
            continue
        return snapshot
    raise AssertionError(f"no vehicle for {control.id}")


def entity_id_of(
    hass: HomeAssistant, entry: MockConfigEntry, control: Control, vehicle_id: str
) -> str:
    """Return the entity id of a vehicle's control."""
    entity_id = er.async_get(hass).async_get_entity_id(
        control.domain, DOMAIN, f"{control.provider}_{vehicle_id}_{control.key}"
    )
    assert entity_id is not None
    return entity_id


@pytest.fixture
def control(request: pytest.FixtureRequest) -> Control:
    """Return the control under test."""
    return request.param


@pytest.fixture
def provider(control: Control) -> str:
    """Return the provider of the control under test."""
    return control.provider


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id, indirect=True)
async def test_control_round_trip(
    hass: HomeAssistant,
    sim: Simulator,
    control: Control,
    init_integration: MockConfigEntry,
) -> None:
    """The provider receives exactly the change, and the entity shows it at once."""
    snapshot = pick_vehicle(init_integration, control)
    entity_id = entity_id_of(hass, init_integration, control, snapshot.vehicle.id)
    await hass.services.async_call(
        control.domain,
        control.service,
        {ATTR_ENTITY_ID: entity_id, **control.data},
        blocking=True,
    )
    writes = [
        r for r in sim.requests.for_provider(control.provider) if r.method != "GET"
    ]
    assert len(writes) == 1, writes
    request = writes[0]
    assert request.method == control.method
    assert re.search(control.path.format(id=snapshot.vehicle.id), request.path), (
        request.path
    )
    if control.body is None:
        assert request.json is None
    else:
        assert contains(request.json, control.body), request.json
    assert hass.states.get(entity_id).state == control.state


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id, indirect=True)
async def test_failed_write_keeps_state(
    hass: HomeAssistant,
    sim: Simulator,
    control: Control,
    init_integration: MockConfigEntry,
) -> None:
    """A provider failure raises a translated error; the old state stays."""
    snapshot = pick_vehicle(init_integration, control)
    entity_id = entity_id_of(hass, init_integration, control, snapshot.vehicle.id)
    before = hass.states.get(entity_id).state
    sim.faults.add(
        Fault(kind=FaultKind.STATUS, provider=control.provider, method=control.method)
    )
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            control.domain,
            control.service,
            {ATTR_ENTITY_ID: entity_id, **control.data},
            blocking=True,
        )
    assert raised.value.translation_domain == DOMAIN
    # ev.energy's 503 on a command: it could not be delivered to the car.
    assert raised.value.translation_key == (
        "command_not_delivered" if control.provider == "evenergy" else "cannot_connect"
    )
    assert hass.states.get(entity_id).state == before
