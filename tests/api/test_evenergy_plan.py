"""ev.energy's charging plan against the simulator over real loopback HTTP.

The plan of a plugged-in car is its open sub-session's schedule intervals; what the client
read is compared with what the simulator serves, and what it asked with ``sim.requests``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from custom_components.chargebridge.api import (
    Feature,
    PreferencesUpdate,
    ProviderConnectionError,
    ProviderForbiddenError,
)
from custom_components.chargebridge.api.base import Payload
from custom_components.chargebridge.api.evenergy import (
    CAPABILITIES,
    DISABLED_CAPABILITIES,
    MAX_PLAN_READS_PER_REFRESH,
    EvEnergyClient,
    parse_plan,
)
from custom_components.chargebridge.api.models import (
    ChargingPeriod,
    ChargingSlot,
    Fleet,
    charging_periods,
)
from tests.api.clients import client_factory
from tests.simulator import Fault, FaultKind, Simulator, SimulatorServer, SimVehicle

SCHEDULES = "/schedules$"
SESSIONS = "/charging_sessions$"
HALF_HOUR = timedelta(seconds=1800)


@pytest.fixture
def client(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> EvEnergyClient:
    """Return a client with the demo credentials and the simulator's clock."""
    return client_factory(EvEnergyClient, sim, sim_server, client_session)()


def one_plugged_car(sim: Simulator, *, soc: float = 40.0) -> SimVehicle:
    """Leave one smart-charging car plugged in below its target; unplug the others."""
    sim.sync()
    first, *others = sim.evenergy.fleet
    for car in (first, *others):
        car.routine = False
    for other in others:
        if other.plugged_in:
            other.unplug()
    if not first.plugged_in:
        first.plug_in(sim.clock.now())
    first.smart_charging = True
    first.soc = soc
    first.target_soc = 80
    sim.evenergy.sync()
    return first


def served_intervals(sim: Simulator, car: SimVehicle) -> list[dict[str, Any]]:
    """Return the intervals the simulator serves for the car's open sub-session now."""
    sim.evenergy.sync()
    session = sim.evenergy.open_session(car.id)
    assert session is not None
    current = session.current
    assert current is not None
    return sim.evenergy.schedule_intervals(current)


def slots_of(fleet: Fleet, car: SimVehicle) -> tuple[ChargingSlot, ...]:
    """Return the slots the client published for the car."""
    schedule = fleet.vehicles[car.id].schedule
    assert schedule is not None
    return schedule.slots


def schedule_reads(sim: Simulator) -> int:
    """How many schedule reads the client sent so far."""
    return len(sim.requests.filter(provider="evenergy", path=SCHEDULES))


async def test_slots_are_the_intervals_with_current(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """Each interval with current is a slot; merged, they are the runs of charging."""
    car = one_plugged_car(sim)
    fleet = await client.async_get_fleet()
    intervals = served_intervals(sim, car)
    charging = [i for i in intervals if i["current_milliamps"] > 0]
    assert charging
    assert len(charging) < len(intervals)  # the waiting half-hours carry 0 mA
    slots = slots_of(fleet, car)
    assert [(slot.start, slot.end) for slot in slots] == [
        (start, start + HALF_HOUR)
        for start in (datetime.fromisoformat(i["started_at"]) for i in charging)
    ]
    assert all(slot.power_w is None and slot.energy_wh is None for slot in slots)
    assert fleet.vehicles[car.id].error is None
    assert not fleet.problems

    runs: list[ChargingPeriod] = []
    for slot in slots:
        if runs and runs[-1].end == slot.start:
            runs[-1] = ChargingPeriod(start=runs[-1].start, end=slot.end)
        else:
            runs.append(ChargingPeriod(start=slot.start, end=slot.end))
    now = sim.clock.now()
    assert charging_periods(slots, now) == tuple(r for r in runs if r.end > now)

    # The car then charges exactly in the published slots.
    for slot in slots:
        if slot.end <= sim.clock.now():
            continue
        sim.advance(max(slot.start - sim.clock.now(), timedelta()))
        energy = car.session_energy_wh
        sim.advance(slot.end - sim.clock.now())
        assert car.session_energy_wh > energy


async def test_every_car_offers_the_plan(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """CHARGING_PLAN for every ev.energy car, a disabled one too; unplugged: no slots."""
    assert Feature.CHARGING_PLAN in CAPABILITIES.features
    assert Feature.CHARGING_PLAN in DISABLED_CAPABILITIES.features
    car = one_plugged_car(sim)
    fleet = await client.async_get_fleet()
    for vehicle_id, snapshot in fleet.vehicles.items():
        assert snapshot.vehicle.capabilities.supports(Feature.CHARGING_PLAN)
        assert snapshot.schedule is not None
        if vehicle_id != car.id:
            assert snapshot.schedule.slots == ()
    reads = sim.requests.filter(provider="evenergy", path=SCHEDULES)
    session = sim.evenergy.open_session(car.id)
    assert session is not None
    assert [r.path.split("/")[-2] for r in reads] == [session.sub_sessions[-1].id]


async def test_boost_interval_lasts_one_interval(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """A boost's open-ended interval, with none after it, is one half-hour long."""
    car = one_plugged_car(sim)
    fleet = await client.async_get_fleet()
    await client.async_update_preferences(
        fleet.vehicles[car.id], PreferencesUpdate(boost=True)
    )
    fleet = await client.async_get_fleet()
    (interval,) = served_intervals(sim, car)
    assert interval["interval_seconds"] is None
    start = datetime.fromisoformat(interval["started_at"])
    assert slots_of(fleet, car) == (ChargingSlot(start=start, end=start + HALF_HOUR),)


def test_open_ended_interval_lasts_until_the_next() -> None:
    """An interval of null length ends where the next one starts; 0 mA is no slot."""
    start = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)

    def at(offset: timedelta) -> str:
        return (start + offset).isoformat()

    data = {
        "schedules": [
            {"started_at": at(2 * HALF_HOUR), "interval_seconds": 1800,
             "current_milliamps": 0, "schedule_type": "SMART"},
            {"started_at": at(timedelta()), "interval_seconds": None,
             "current_milliamps": 32000, "schedule_type": "BOOST"},
            {"started_at": at(3 * HALF_HOUR), "interval_seconds": 1800,
             "current_milliamps": 16000, "schedule_type": "V2G_DISCHARGE"},
            {"started_at": at(4 * HALF_HOUR), "interval_seconds": 1800,
             "current_milliamps": 16000, "schedule_type": "SMART"},
        ]
    }  # fmt: skip
    assert parse_plan(Payload("evenergy", data, "schedules")) == (
        ChargingSlot(start=start, end=start + 2 * HALF_HOUR),
        ChargingSlot(start=start + 4 * HALF_HOUR, end=start + 5 * HALF_HOUR),
    )


async def test_plan_read_again_only_when_due(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """Not within 15 minutes of the same sub-session; again after 15 minutes.

    Also again after a write to the car, and on a new sub-session the vehicle list shows
    (here: smart charging turned off in the app); never for an unplugged car.
    """
    car = one_plugged_car(sim, soc=79.0)
    car.max_power_w = 1.0  # charging (or waiting) does not end within the test
    sim.evenergy.sync()
    fleet = await client.async_get_fleet()
    assert schedule_reads(sim) == 1
    sessions_read = len(sim.requests.filter(path=SESSIONS))

    sim.advance(60)
    await client.async_get_fleet()
    sim.advance(13 * 60)
    await client.async_get_fleet()
    assert schedule_reads(sim) == 1
    assert len(sim.requests.filter(path=SESSIONS)) == sessions_read

    sim.advance(60)  # 15 minutes after the read
    await client.async_get_fleet()
    assert schedule_reads(sim) == 2
    sim.advance(60)
    fleet = await client.async_get_fleet()
    assert schedule_reads(sim) == 2

    await client.async_update_preferences(
        fleet.vehicles[car.id], PreferencesUpdate(target_soc=90)
    )
    await client.async_get_fleet()
    assert schedule_reads(sim) == 3

    car.smart_charging = False  # in the app: a new, unmanaged sub-session
    sim.advance(60)
    fleet = await client.async_get_fleet()
    assert schedule_reads(sim) == 4
    session = sim.evenergy.open_session(car.id)
    assert session is not None
    assert session.sub_sessions[-1].mode == "UNMANAGED_HOME"
    assert sim.requests.filter(path=SCHEDULES)[-1].path.split("/")[-2] == (
        session.sub_sessions[-1].id
    )
    assert slots_of(fleet, car) == ()  # ev.energy plans no unmanaged charging

    car.unplug()
    sim.advance(60)
    fleet = await client.async_get_fleet()
    assert slots_of(fleet, car) == ()
    sim.advance(20 * 60)
    await client.async_get_fleet()
    assert schedule_reads(sim) == 4


async def test_refused_plan_costs_only_the_plan(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """A token without the literally documented scope: 403 on the plan, the car is fine.

    The problem lasts (reported every refresh, logged once) without a read each refresh.
    """
    car = one_plugged_car(sim)
    sim.evenergy.literal_scopes = True
    fleet = await client.async_get_fleet()
    snapshot = fleet.vehicles[car.id]
    assert snapshot.error is None
    assert snapshot.state.plugged_in is True
    assert slots_of(fleet, car) == ()
    assert [type(p) for p in fleet.problems] == [ProviderForbiddenError]
    assert schedule_reads(sim) == 1

    sim.advance(60)
    fleet = await client.async_get_fleet()
    assert [type(p) for p in fleet.problems] == [ProviderForbiddenError]
    assert schedule_reads(sim) == 1

    sim.evenergy.literal_scopes = False
    sim.advance(15 * 60)
    fleet = await client.async_get_fleet()
    assert not fleet.problems
    assert slots_of(fleet, car)


@pytest.mark.parametrize("path", [SCHEDULES, SESSIONS])
async def test_failed_plan_read_keeps_the_last_plan(
    sim: Simulator, client: EvEnergyClient, path: str
) -> None:
    """A 500 on the plan (or its session lookup) costs the fresh plan only: the last stays."""
    car = one_plugged_car(sim)
    fleet = await client.async_get_fleet()
    before = slots_of(fleet, car)
    assert before
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=500, path=path))
    sim.advance(15 * 60)
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[car.id].error is None
    assert slots_of(fleet, car) == before
    assert [type(p) for p in fleet.problems] == [ProviderConnectionError]


async def test_plan_reads_per_refresh_are_capped_most_urgent_first(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """Thirty plugged-in cars: 25 plans read now, the other 5 at the next refresh."""
    for _ in range(27):
        sim.evenergy.add_vehicle()
    sim.sync()
    for car in sim.evenergy.fleet:
        car.routine = False
        if not car.plugged_in:
            car.plug_in(sim.clock.now())
        car.smart_charging = True
    assert len(sim.evenergy.fleet.vehicles) == 30
    await client.async_get_fleet()
    assert schedule_reads(sim) == MAX_PLAN_READS_PER_REFRESH
    sim.advance(60)
    await client.async_get_fleet()
    assert schedule_reads(sim) == 30
    read = [entry.path.split("/")[-2] for entry in sim.requests.filter(path=SCHEDULES)]
    assert len(set(read)) == 30, "each car's plan once: the deferred ones next"
    sim.advance(60)
    await client.async_get_fleet()
    assert schedule_reads(sim) == 30


async def test_no_plan_read_when_the_budget_runs_low(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """Fewer requests left than the reserve: the car keeps its readings, no plan read."""
    car = one_plugged_car(sim)
    sim.evenergy.set_rate_limit(10)
    for _ in range(6):  # the budget's remaining count falls below 20 % of 10
        await client.async_get_fleet()
        sim.advance(1)
    reads = schedule_reads(sim)
    sim.advance(60)
    fleet = await client.async_get_fleet()
    assert fleet.rate_limit is not None
    assert fleet.rate_limit.remaining is not None
    assert fleet.rate_limit.remaining < 2
    assert schedule_reads(sim) == reads
    assert fleet.vehicles[car.id].error is None
    assert fleet.vehicles[car.id].state.plugged_in is True
