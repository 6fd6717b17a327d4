"""The charging plan: calendar, planned_charging, next_charge_start/end, get_charging_plan.

Hiven publishes its plan as charged hours (``hourlyCharges``), ChargEye as plan segments
with power and energy; both through the simulator. Boundaries are crossed by moving the
frozen clock to one second before and after, with no poll in between: the entities flip
on their own timers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.api import (
    Capabilities,
    ChargingSlot,
    Feature,
    Schedule,
    Vehicle,
    VehicleSnapshot,
)
from custom_components.chargebridge.binary_sensor import DESCRIPTIONS as BINARY_SENSORS
from custom_components.chargebridge.const import CONF_SCAN_INTERVAL, DOMAIN
from custom_components.chargebridge.sensor import DESCRIPTIONS as SENSORS
from tests.simulator import Simulator

from .conftest import Advance, next_poll, refresh_everything

LOTTE = "98fdfb28-ae90-4961-a0f4-70628c1c8bb8"
"""Hiven's plugged-in car with smart charging on."""
TRUCK_1 = "2768f447-c6ca-47aa-9661-df74ab49768d"
"""A ChargEye truck that leaves the depot at 06:10 and is back in the evening."""
TRUCK_3 = "87be840c-c51b-4c32-8978-e9183157b375"
"""Another one, leaving at 06:25."""

type Period = tuple[datetime, datetime]


def merged(slots: Iterable[ChargingSlot], now: datetime) -> list[Period]:
    """Merge touching slots into periods, dropping those that are over (the test's own)."""
    periods: list[Period] = []
    for slot in sorted(slots, key=lambda slot: slot.start):
        if periods and slot.start <= periods[-1][1]:
            periods[-1] = (periods[-1][0], max(periods[-1][1], slot.end))
        else:
            periods.append((slot.start, slot.end))
    return [period for period in periods if period[1] > now]


def vehicle(entry: MockConfigEntry, vehicle_id: str) -> VehicleSnapshot:
    """Return the vehicle's snapshot after the latest refresh."""
    return entry.runtime_data.coordinator.data.vehicles[vehicle_id]


def entity_id(hass: HomeAssistant, platform: str, provider: str, unique: str) -> str:
    """Return the entity id of ``<provider>_<unique>`` on ``platform``."""
    found = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{provider}_{unique}"
    )
    assert found is not None
    return found


class PlanView:
    """The plan entities of one vehicle, read the way a user's automation would."""

    def __init__(self, hass: HomeAssistant, provider: str, vehicle_id: str) -> None:
        """Find the vehicle's plan entities."""
        self.hass = hass
        self.calendar = entity_id(
            hass, "calendar", provider, f"{vehicle_id}_charging_plan"
        )
        self.planned = entity_id(
            hass, "binary_sensor", provider, f"{vehicle_id}_planned_charging"
        )
        self.start = entity_id(
            hass, "sensor", provider, f"{vehicle_id}_next_charge_start"
        )
        self.end = entity_id(hass, "sensor", provider, f"{vehicle_id}_next_charge_end")

    def car(self) -> str:
        """Return the name of the car's device, as the calendar's events name it."""
        entry = er.async_get(self.hass).async_get(self.calendar)
        assert entry is not None and entry.device_id is not None
        device = dr.async_get(self.hass).async_get(entry.device_id)
        assert device is not None and device.name is not None
        return device.name_by_user or device.name

    def state(self, entity: str) -> str:
        """Return an entity's state."""
        state = self.hass.states.get(entity)
        assert state is not None
        return state.state

    async def events(self, hours: float = 48) -> list[dict[str, Any]]:
        """Return the calendar's events from now on, through ``calendar.get_events``."""
        now = dt_util.now()
        response = await self.hass.services.async_call(
            "calendar",
            "get_events",
            {
                "entity_id": self.calendar,
                "start_date_time": now,
                "end_date_time": now + timedelta(hours=hours),
            },
            blocking=True,
            return_response=True,
        )
        assert response is not None
        events: Any = response[self.calendar]
        return list(events["events"])

    async def event_periods(self) -> list[Period]:
        """Return the calendar's events as UTC (start, end) pairs."""
        return [
            (
                dt_util.as_utc(dt_util.parse_datetime(event["start"])),
                dt_util.as_utc(dt_util.parse_datetime(event["end"])),
            )
            for event in await self.events()
        ]

    def dispatches(self) -> list[dict[str, Any]]:
        """Return the binary sensor's planned_dispatches."""
        state = self.hass.states.get(self.planned)
        assert state is not None
        return list(state.attributes["planned_dispatches"])

    def shows_next(self, period: Period | None) -> None:
        """Assert the sensors and the calendar's state name ``period`` (or nothing)."""
        if period is None:
            assert self.state(self.start) == "unknown"
            assert self.state(self.end) == "unknown"
            return
        # Timestamp sensors show whole seconds.
        assert self.state(self.start) == period[0].replace(microsecond=0).isoformat()
        assert self.state(self.end) == period[1].replace(microsecond=0).isoformat()


async def jump_to(advance: Advance, when: datetime) -> None:
    """Move time to ``when`` in one step (the overdue poll runs once, on arrival)."""
    await advance((when - dt_util.utcnow()).total_seconds())


async def cross(
    sim: Simulator,
    advance: Advance,
    view: PlanView,
    boundary: datetime,
    *,
    before: str,
    after: str,
) -> None:
    """Step from one second before ``boundary`` to one after, without any request."""
    assert dt_util.utcnow() < boundary - timedelta(seconds=1)
    await jump_to(advance, boundary - timedelta(seconds=1))
    assert view.state(view.planned) == before
    assert view.state(view.calendar) == before
    sim.requests.clear()
    await advance(2)
    assert not list(sim.requests), "a poll ran: the flip must not depend on one"
    assert view.state(view.planned) == after
    assert view.state(view.calendar) == after


@pytest.fixture
async def hiven_plan(
    sim: Simulator, init_integration: MockConfigEntry, advance: Advance
) -> MockConfigEntry:
    """Lotte's car needs most of a day's charging by 18:00: two periods with a gap.

    Polled hourly, so that a period's end is crossed without a poll near it.
    """
    car = sim.fleet("hiven").get(LOTTE)
    assert car is not None
    car.target_soc = 100
    car.soc = 10
    car.ready_time = "18:00"
    car.routine = False  # stays plugged in: no trip in the middle of the plan
    await next_poll(init_integration, advance)
    return init_integration


def plan_periods(entry: MockConfigEntry, vehicle_id: str) -> list[Period]:
    """Return the periods of a vehicle's plan as the latest refresh read it, merged."""
    schedule = vehicle(entry, vehicle_id).schedule
    assert schedule is not None
    return merged(schedule.slots, dt_util.utcnow())


def hourly_truth(sim: Simulator, vehicle_id: str) -> list[Period]:
    """Hiven's own plan (``hourlyCharges``) as the simulator serves it now, merged."""
    car = sim.fleet("hiven").get(vehicle_id)
    assert car is not None
    hours = sim.providers["hiven"].schedule_json(car, sim.clock.now())["hourlyCharges"]  # type: ignore[attr-defined]
    slots = [
        ChargingSlot(start=start, end=start + timedelta(hours=1))
        for start in (dt_util.parse_datetime(key) for key in hours)
        if start is not None
    ]
    return merged(slots, sim.clock.now())


@pytest.mark.parametrize("provider", ["hiven"])
async def test_hiven_calendar_is_the_plan(
    hass: HomeAssistant,
    sim: Simulator,
    hiven_plan: MockConfigEntry,
    advance: Advance,
) -> None:
    """Events are Hiven's charged hours merged; the entities agree with them."""
    now = dt_util.utcnow()
    periods = plan_periods(hiven_plan, LOTTE)
    assert len(periods) == 2, "the scenario has a gap between two periods"
    assert periods == hourly_truth(sim, LOTTE)
    view = PlanView(hass, "hiven", LOTTE)
    assert await view.event_periods() == periods
    events = await view.events()
    assert {event["summary"] for event in events} == {"Planned charging"}
    # Hiven says when, not how much: the description names the car only.
    assert {event["description"] for event in events} == {view.car()}
    assert view.dispatches() == [
        {
            "start": dt_util.as_local(start).isoformat(),
            "end": dt_util.as_local(end).isoformat(),
            "charge_in_kwh": None,
        }
        for start, end in periods
    ]
    view.shows_next(periods[0])
    inside = periods[0][0] <= now < periods[0][1]
    assert view.state(view.planned) == ("on" if inside else "off")


@pytest.mark.parametrize("provider", ["hiven"])
async def test_hiven_flips_at_start_and_end(
    hass: HomeAssistant,
    sim: Simulator,
    hiven_plan: MockConfigEntry,
    advance: Advance,
) -> None:
    """The sensors move at the period's start and end themselves, not at the next poll."""
    hass.config_entries.async_update_entry(
        hiven_plan, options={CONF_SCAN_INTERVAL: 3600}
    )
    await next_poll(hiven_plan, advance)
    view = PlanView(hass, "hiven", LOTTE)
    first, second = plan_periods(hiven_plan, LOTTE)
    await jump_to(advance, second[0] - timedelta(seconds=3))
    assert plan_periods(hiven_plan, LOTTE)[0] == second
    view.shows_next(second)
    await cross(sim, advance, view, second[0], before="off", after="on")
    view.shows_next(second)
    # Polled 30 s into the last hour, which Hiven still lists: the next poll is after the end.
    await jump_to(advance, second[1] - timedelta(minutes=59, seconds=30))
    assert plan_periods(hiven_plan, LOTTE)[-1][1] == second[1]
    await cross(sim, advance, view, second[1], before="on", after="off")
    view.shows_next(None)
    assert view.dispatches() == []
    assert first[1] <= second[0]


@pytest.mark.parametrize("provider", ["hiven"])
async def test_unplugged_car_has_no_plan(
    hass: HomeAssistant,
    sim: Simulator,
    hiven_plan: MockConfigEntry,
    advance: Advance,
) -> None:
    """Unplugging takes the plan away: no events, sensors unknown, binary sensor off."""
    view = PlanView(hass, "hiven", LOTTE)
    assert await view.events()
    car = sim.fleet("hiven").get(LOTTE)
    assert car is not None
    car.unplug()
    await next_poll(hiven_plan, advance)
    assert await view.events() == []
    assert view.state(view.planned) == "off"
    assert view.state(view.calendar) == "off"
    assert view.dispatches() == []
    view.shows_next(None)


@pytest.mark.parametrize("provider", ["chargeye"])
async def test_chargeye_calendar_and_boundaries(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Plan segments with power become events with energy and power; flips on time.

    After the morning departure the truck's evening schedule is planned: two periods.
    """
    await jump_to(advance, datetime(2026, 11, 2, 7, 5, tzinfo=UTC))
    now = dt_util.utcnow()
    plan = vehicle(init_integration, TRUCK_1).schedule
    assert plan is not None
    periods = plan_periods(init_integration, TRUCK_1)
    assert len(periods) == 2
    schedule = next(
        schedule
        for schedule in sim.chargeye.schedules_of(TRUCK_1)
        if schedule.departure == plan.next_departure
    )
    truth = [
        ChargingSlot(
            start=datetime.fromtimestamp(segment.start / 1000, UTC),
            end=datetime.fromtimestamp(segment.end / 1000, UTC),
        )
        for segment in sim.chargeye.plan(schedule).segments
        if segment.power_w > 0
    ]
    assert merged(truth, now) == periods
    view = PlanView(hass, "chargeye", TRUCK_1)
    assert await view.event_periods() == periods
    events = await view.events()
    slots = plan.slots
    for event, (start, end) in zip(events, periods, strict=True):
        inside = [slot for slot in slots if start <= slot.start < end]
        energy = sum(slot.energy_wh or 0 for slot in inside) / 1000
        power = max(slot.power_w or 0 for slot in inside) / 1000
        assert event["description"] == (
            f"{view.car()}: {round(energy, 3):g} kWh, up to {power:g} kW"
        )
    dispatches = view.dispatches()
    assert [dispatch["charge_in_kwh"] for dispatch in dispatches] == [
        round(
            sum(slot.energy_wh or 0 for slot in slots if s <= slot.start < e) / 1000, 3
        )
        for s, e in periods
    ]
    view.shows_next(periods[0])
    assert view.state(view.planned) == "off"

    first, second = periods
    await jump_to(advance, first[0] - timedelta(seconds=3))
    await cross(sim, advance, view, first[0], before="off", after="on")
    view.shows_next(first)
    await jump_to(advance, first[1] - timedelta(seconds=3))
    await cross(sim, advance, view, first[1], before="on", after="off")
    # The next period is now the next one; the first is no longer in the calendar.
    view.shows_next(second)
    assert await view.event_periods() == [second]
    assert [dispatch["start"] for dispatch in view.dispatches()] == [
        dt_util.as_local(second[0]).isoformat()
    ]


@pytest.mark.parametrize("provider", ["hiven"])
async def test_calendar_entity_api(
    hass: HomeAssistant, hiven_plan: MockConfigEntry, advance: Advance
) -> None:
    """The entity's own API: a window holds the periods that overlap it; ``event``."""
    view = PlanView(hass, "hiven", LOTTE)
    calendar: Any = hass.data["calendar"].get_entity(view.calendar)
    first, second = plan_periods(hiven_plan, LOTTE)
    # A window inside the gap touches nothing; one that starts inside a period has it whole.
    gap = await calendar.async_get_events(hass, first[1], second[0])
    assert gap == []
    inside = await calendar.async_get_events(
        hass, second[0] + timedelta(minutes=30), second[0] + timedelta(minutes=31)
    )
    assert [(event.start, event.end) for event in inside] == [second]
    assert (calendar.event.start, calendar.event.end) == first


async def get_plan(hass: HomeAssistant, *device_ids: str) -> Any:
    """Call get_charging_plan and return its response."""
    return await hass.services.async_call(
        DOMAIN,
        "get_charging_plan",
        {"device_id": list(device_ids)},
        blocking=True,
        return_response=True,
    )


def device_of(
    hass: HomeAssistant, entry: MockConfigEntry, vehicle_id: str
) -> dr.DeviceEntry:
    """Return the device of a vehicle."""
    identifier = (DOMAIN, f"{entry.data['provider']}_{vehicle_id}")
    return next(
        device
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
        if identifier in device.identifiers
    )


@pytest.mark.parametrize("provider", ["hiven", "chargeye"])
async def test_action_answers_the_calendar(
    hass: HomeAssistant,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Every vehicle's slots are its calendar's events; a car without a plan has none.

    ChargEye's trucks are read after the morning departure, their evening plans made.
    """
    if provider == "chargeye":
        await jump_to(advance, datetime(2026, 11, 2, 7, 5, tzinfo=UTC))
    vehicles = init_integration.runtime_data.coordinator.data.vehicles
    devices = {
        vehicle_id: device_of(hass, init_integration, vehicle_id)
        for vehicle_id in vehicles
    }
    response = await get_plan(hass, *(device.id for device in devices.values()))
    assert set(response["vehicles"]) == {device.id for device in devices.values()}
    planned = set()
    for vehicle_id, device in devices.items():
        answer = response["vehicles"][device.id]
        assert answer["name"] == device.name
        view = PlanView(hass, provider, vehicle_id)
        assert [
            (datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"]))
            for slot in answer["slots"]
        ] == await view.event_periods()
        # In Home Assistant's time zone, offset included.
        assert all(
            slot["start"].endswith("+01:00") and slot["end"].endswith("+01:00")
            for slot in answer["slots"]
        )
        for slot in answer["slots"]:
            assert set(slot) == {"start", "end", "energy_kwh", "power_kw"}
            if provider == "hiven":
                assert slot["energy_kwh"] is None
                assert slot["power_kw"] is None
            else:
                assert slot["power_kw"] > 0
                assert slot["energy_kwh"] > 0
        if answer["slots"]:
            planned.add(vehicle_id)
    # Hiven's Jesse charges without smart charging: no plan, an empty list.
    assert planned == ({LOTTE} if provider == "hiven" else {TRUCK_1, TRUCK_3})


@pytest.mark.parametrize("provider", ["hiven"])
async def test_action_refuses_devices_without_a_plan(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The account device, another integration's device, an unknown id: refused."""
    account = next(
        device
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), init_integration.entry_id
        )
        if any("_account_" in identifier for _, identifier in device.identifiers)
    )
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=init_integration.entry_id, identifiers={("other", "car")}
    )
    lotte = device_of(hass, init_integration, LOTTE)
    for device in (account, other):
        with pytest.raises(ServiceValidationError) as raised:
            await get_plan(hass, lotte.id, device.id)
        assert raised.value.translation_key == "no_charging_plan"
        assert raised.value.translation_placeholders == {
            "device": device.name or device.id
        }
    with pytest.raises(ServiceValidationError) as raised:
        await get_plan(hass, "nope")
    assert raised.value.translation_key == "device_not_found"


@pytest.mark.parametrize("provider", ["jedlix"])
async def test_action_refuses_a_car_whose_provider_has_no_plan(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Jedlix publishes no plan: its cars have no plan entities and the action refuses."""
    vehicle_id = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    device = device_of(hass, init_integration, vehicle_id)
    with pytest.raises(ServiceValidationError) as raised:
        await get_plan(hass, device.id)
    assert raised.value.translation_key == "no_charging_plan"
    registry = er.async_get(hass)
    for platform, key in (
        ("calendar", "charging_plan"),
        ("binary_sensor", "planned_charging"),
        ("sensor", "next_charge_start"),
    ):
        assert (
            registry.async_get_entity_id(platform, DOMAIN, f"jedlix_{vehicle_id}_{key}")
            is None
        )


async def test_chargeye_plan_outcome_descriptions() -> None:
    """departure_soc and plan_reaches_target read the plan's outcome, and exist by feature.

    (ChargEye's client fills these fields; here the descriptions alone, on a snapshot.)
    """
    sensor = next(d for d in SENSORS if d.key == "departure_soc")
    reaches = next(d for d in BINARY_SENSORS if d.key == "plan_reaches_target")
    features = frozenset({Feature.DEPARTURE_SOC, Feature.PLAN_REACHES_TARGET})
    car = Vehicle(id="v", name="v", capabilities=Capabilities(features=features))
    planned = VehicleSnapshot(
        vehicle=car, schedule=Schedule(departure_soc=85.5, reaches_target=False)
    )
    assert sensor.value_fn(planned) == 85.5
    assert reaches.value_fn(planned) is False
    unplanned = VehicleSnapshot(vehicle=car)
    assert sensor.value_fn(unplanned) is None
    assert reaches.value_fn(unplanned) is None
    assert sensor.exists_fn(planned)
    assert reaches.exists_fn(planned)
    without = VehicleSnapshot(
        vehicle=Vehicle(
            id="w", name="w", capabilities=Capabilities(features=frozenset())
        )
    )
    assert not sensor.exists_fn(without)
    assert not reaches.exists_fn(without)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_evenergy_calendar_is_the_sub_session_schedule(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Plugged in with smart charging: events are the intervals with current, merged.

    Unplugging takes the plan away.
    """
    car = next(iter(sim.evenergy.fleet))
    for other in sim.evenergy.fleet:
        other.routine = False
    if not car.plugged_in:
        car.plug_in(sim.clock.now())
    car.smart_charging = True
    car.soc = 30.0
    car.target_soc = 80
    # A plan the car's state does not show changed is read again once 15 minutes old
    # by a full read (the Refresh button).
    await advance(15 * 60)
    await refresh_everything(hass, init_integration)
    sim.evenergy.sync()
    session = sim.evenergy.open_session(car.id)
    assert session is not None and session.current is not None
    intervals = sim.evenergy.schedule_intervals(session.current)
    truth = [
        ChargingSlot(
            start=datetime.fromisoformat(interval["started_at"]),
            end=datetime.fromisoformat(interval["started_at"])
            + timedelta(seconds=interval["interval_seconds"]),
        )
        for interval in intervals
        if interval["current_milliamps"] > 0
    ]
    periods = merged(truth, dt_util.utcnow())
    assert periods, "the scenario needs a plan"
    view = PlanView(hass, "evenergy", car.id)
    assert await view.event_periods() == periods
    assert plan_periods(init_integration, car.id) == periods
    # ev.energy states the current only: the description names the car only.
    assert {event["description"] for event in await view.events()} == {view.car()}
    assert [d["charge_in_kwh"] for d in view.dispatches()] == [None] * len(periods)
    view.shows_next(periods[0])

    car.unplug()
    await next_poll(init_integration, advance)
    assert await view.events() == []
    assert view.state(view.planned) == "off"
    view.shows_next(None)
