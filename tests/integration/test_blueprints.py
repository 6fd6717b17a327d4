"""The automation blueprints: each loads with Home Assistant's schema, and fires.

Each test puts the repository's blueprint where Home Assistant looks for it
(``<config>/blueprints/automation/chargebridge/``), makes an automation of it with the
integration's entities as inputs, and drives the car in the simulator until it fires.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any
from urllib.parse import quote

from homeassistant.components import automation
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
)

from custom_components.chargebridge.const import DOMAIN
from tests.simulator import Simulator, SimVehicle

from .conftest import Advance, next_full_poll, next_poll

REPOSITORY = Path(__file__).resolve().parents[2]
BLUEPRINTS = REPOSITORY / "blueprints" / "automation" / DOMAIN
README = REPOSITORY / "README.md"


@pytest.fixture(autouse=True)
async def blueprint_folder(hass: HomeAssistant, tmp_path: Path) -> AsyncGenerator[Path]:
    """Give Home Assistant a config folder holding the repository's blueprints.

    The automations are switched off at the end, which stops their time triggers.
    """
    hass.config.config_dir = str(tmp_path)
    folder = tmp_path / "blueprints" / "automation" / DOMAIN
    shutil.copytree(BLUEPRINTS, folder)
    yield folder
    if hass.services.has_service(automation.DOMAIN, "turn_off"):
        await hass.services.async_call(
            automation.DOMAIN, "turn_off", {"entity_id": "all"}, blocking=True
        )


def car_entity(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    vehicle: SimVehicle,
    domain: str,
    key: str,
) -> str:
    """Return the entity id of one of the car's entities."""
    unique_id = f"{entry.data['provider']}_{vehicle.id}_{key}"
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


def car_inputs(
    hass: HomeAssistant, entry: MockConfigEntry, vehicle: SimVehicle, **inputs: Any
) -> dict[str, Any]:
    """Return the inputs naming the car's state of charge and plug sensors, and more."""
    return {
        "state_of_charge": car_entity(
            hass, entry, vehicle, "sensor", "state_of_charge"
        ),
        "plugged_in": car_entity(hass, entry, vehicle, "binary_sensor", "plugged_in"),
        **inputs,
    }


async def use_blueprint(hass: HomeAssistant, name: str, inputs: dict[str, Any]) -> None:
    """Set up one automation made of the blueprint ``name`` with ``inputs``."""
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "id": name.removesuffix(".yaml"),
                "alias": name.removesuffix(".yaml"),
                "use_blueprint": {"path": f"{DOMAIN}/{name}", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    state = hass.states.get(f"automation.{name.removesuffix('.yaml')}")
    assert state is not None
    assert state.state == "on"


def quiet(vehicle: SimVehicle, *, soc: float, plugged_in: bool) -> None:
    """Hold the car still at ``soc``, plugged in or not."""
    vehicle.routine = False
    vehicle.soc = soc
    if plugged_in and not vehicle.plugged_in:
        vehicle.plug_in()
    elif not plugged_in and vehicle.plugged_in:
        vehicle.unplug()


async def test_every_blueprint_loads_with_home_assistant_schema(
    hass: HomeAssistant, blueprint_folder: Path
) -> None:
    """Home Assistant reads each blueprint file as a valid automation blueprint."""
    blueprints = automation.async_get_blueprints(hass)
    files = sorted(path.name for path in blueprint_folder.glob("*.yaml"))
    assert files == sorted(path.name for path in BLUEPRINTS.glob("*.yaml"))
    assert len(files) >= 2
    for name in files:
        blueprint = await blueprints.async_get_blueprint(f"{DOMAIN}/{name}")
        assert blueprint.domain == automation.DOMAIN
        assert blueprint.metadata["name"].startswith("ChargeBridge: ")
        assert blueprint.metadata["source_url"].endswith(
            f"blueprints/automation/{DOMAIN}/{name}"
        )
        import_url = "blueprint_url=" + quote(blueprint.metadata["source_url"], safe="")
        assert import_url in README.read_text(), f"README has no import link for {name}"


@pytest.mark.parametrize("provider", ["hiven"])
async def test_low_and_unplugged_notifies_at_the_time(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """With the default action: a notification naming the car and its level, at the time."""
    vehicle = next(iter(sim.hiven.fleet))
    quiet(vehicle, soc=20, plugged_in=False)
    await next_poll(init_integration, advance)
    notifications = async_mock_service(hass, "persistent_notification", "create")
    at = dt_util.now() + timedelta(minutes=10)
    await use_blueprint(
        hass,
        "low_and_unplugged.yaml",
        car_inputs(hass, init_integration, vehicle, at=at.strftime("%H:%M:%S")),
    )
    await advance(5 * 60)
    assert notifications == []
    await advance(6 * 60)
    assert len(notifications) == 1
    call: ServiceCall = notifications[0]
    assert call.data["title"] == f"{vehicle.name} is low and unplugged"
    assert call.data["message"] == f"{vehicle.name} is at 20 % and not plugged in."


@pytest.mark.parametrize("provider", ["hiven"])
@pytest.mark.parametrize(
    ("soc", "plugged_in", "fires"),
    [(20, False, True), (20, True, False), (60, False, False)],
)
async def test_low_and_unplugged_conditions(  # noqa: PLR0917
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
    soc: float,
    plugged_in: bool,
    fires: bool,
) -> None:
    """Only a car below the level and unplugged at the time is reported."""
    vehicle = next(iter(sim.hiven.fleet))
    quiet(vehicle, soc=soc, plugged_in=plugged_in)
    await next_poll(init_integration, advance)
    calls = async_mock_service(hass, "test", "notify")
    at = dt_util.now() + timedelta(minutes=3)
    await use_blueprint(
        hass,
        "low_and_unplugged.yaml",
        car_inputs(
            hass,
            init_integration,
            vehicle,
            below=30,
            at=at.strftime("%H:%M:%S"),
            notify=[
                {"action": "test.notify", "data": {"message": "{{ car }}: {{ level }}"}}
            ],
        ),
    )
    await advance(4 * 60)
    assert [call.data["message"] for call in calls] == (
        [f"{vehicle.name}: {soc}"] if fires else []
    )


@pytest.mark.parametrize("provider", ["hiven"])
async def test_target_reached_fires_once_when_the_target_is_reached(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """The notification comes when the state of charge reaches the target, once."""
    vehicle = next(iter(sim.hiven.fleet))
    quiet(
        vehicle, soc=70, plugged_in=False
    )  # the test moves its charge, not the physics
    vehicle.target_soc = 80
    await next_full_poll(init_integration, advance)
    notifications = async_mock_service(hass, "persistent_notification", "create")
    await use_blueprint(
        hass,
        "target_reached.yaml",
        {
            "state_of_charge": car_entity(
                hass, init_integration, vehicle, "sensor", "state_of_charge"
            ),
            "target": car_entity(
                hass, init_integration, vehicle, "number", "target_soc"
            ),
        },
    )
    vehicle.soc = 79
    await next_full_poll(init_integration, advance)
    assert notifications == []
    vehicle.soc = 80
    await next_full_poll(init_integration, advance)
    assert len(notifications) == 1
    assert notifications[0].data["title"] == f"{vehicle.name} is charged"
    assert notifications[0].data["message"] == (
        f"{vehicle.name} reached its target of 80 % (80 % now)."
    )
    vehicle.soc = 81
    await next_full_poll(init_integration, advance)
    assert len(notifications) == 1


@pytest.mark.parametrize("provider", ["hiven"])
async def test_plan_appears_tells_the_next_charge(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Plugged in, a plan appears: one notification with its start and end, local time."""
    vehicle = next(iter(sim.hiven.fleet))
    quiet(vehicle, soc=10, plugged_in=False)
    vehicle.smart_charging = True
    vehicle.target_soc = 100
    vehicle.ready_time = "18:00"
    await next_full_poll(init_integration, advance)
    start = car_entity(hass, init_integration, vehicle, "sensor", "next_charge_start")
    end = car_entity(hass, init_integration, vehicle, "sensor", "next_charge_end")
    assert hass.states.get(start).state == "unknown"
    notifications = async_mock_service(hass, "persistent_notification", "create")
    await use_blueprint(
        hass,
        "plan_appears.yaml",
        {
            "plugged_in": car_entity(
                hass, init_integration, vehicle, "binary_sensor", "plugged_in"
            ),
            "next_charge_start": start,
            "next_charge_end": end,
        },
    )
    vehicle.plug_in()
    await next_full_poll(init_integration, advance)
    starts_at = dt_util.parse_datetime(hass.states.get(start).state)
    ends_at = dt_util.parse_datetime(hass.states.get(end).state)
    assert starts_at is not None and ends_at is not None
    assert len(notifications) == 1
    assert notifications[0].data["title"] == f"{vehicle.name} has a charging plan"
    assert notifications[0].data["message"] == (
        f"{vehicle.name} will charge from {dt_util.as_local(starts_at):%H:%M} "
        f"to {dt_util.as_local(ends_at):%H:%M}."
    )
    await next_full_poll(init_integration, advance)
    assert len(notifications) == 1


@pytest.mark.parametrize("provider", ["hiven"])
@pytest.mark.parametrize(
    ("plug_after_start", "notified"),
    [
        pytest.param(True, 1, id="plugged-after-start"),
        pytest.param(False, 0, id="unplugged"),
    ],
)
async def test_plan_appears_in_any_write_order(  # noqa: PLR0917
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    plug_after_start: bool,
    notified: int,
) -> None:
    """One refresh writes start, end and plug in no fixed order; only a plugged car tells.

    The states are written here in the worst order, start first and "plugged in" last, as
    a refresh does when the sensors' listeners happen to run before the binary sensors'.
    """
    vehicle = next(iter(sim.hiven.fleet))
    plugged = car_entity(hass, init_integration, vehicle, "binary_sensor", "plugged_in")
    start = car_entity(hass, init_integration, vehicle, "sensor", "next_charge_start")
    end = car_entity(hass, init_integration, vehicle, "sensor", "next_charge_end")
    hass.states.async_set(plugged, "off")
    hass.states.async_set(start, "unknown")
    hass.states.async_set(end, "unknown")
    notifications = async_mock_service(hass, "persistent_notification", "create")
    await use_blueprint(
        hass,
        "plan_appears.yaml",
        {"plugged_in": plugged, "next_charge_start": start, "next_charge_end": end},
    )
    starts_at = dt_util.utcnow().replace(microsecond=0) + timedelta(hours=2)
    hass.states.async_set(start, starts_at.isoformat())
    hass.states.async_set(end, (starts_at + timedelta(hours=3)).isoformat())
    if plug_after_start:
        hass.states.async_set(plugged, "on")
    else:
        # The run waits for the plug (up to a minute); switching the automation off ends it.
        await hass.services.async_call(
            automation.DOMAIN, "turn_off", {"entity_id": "all"}, blocking=True
        )
    await hass.async_block_till_done()
    assert len(notifications) == notified
    if notified:
        assert notifications[0].data["message"] == (
            f"{vehicle.name} will charge from {dt_util.as_local(starts_at):%H:%M} to "
            f"{dt_util.as_local(starts_at + timedelta(hours=3)):%H:%M}."
        )
