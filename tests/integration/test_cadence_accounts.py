"""Each car at its own pace where one list reads every car, and where plans are the state.

Jedlix and ev.energy, ChargEye: what the provider received, end to end, with time travel.

The list is the state read: it comes when the first car's cloud update is due. What a
car needs besides (charge settings, plans) changes only now and then and is not re-read
with every list; ChargEye's plan boundaries take the place of fixed reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.cadence import DETAILS_READ_INTERVAL, is_charging
from tests.simulator import Simulator

from .conftest import Advance, charge_for_hours, refresh_everything
from .test_cadence_e2e import STEP, park, travel, watch_updates_after_learning
from .test_charging_plan import jump_to, plan_periods

LIST_PATH = {
    "jedlix": r"/users/[^/]+/vehicles$",
    "evenergy": r"/evenergy/v2/vehicles/?$",
}
DETAILS_PATH = {
    "jedlix": r"/users/[^/]+/vehicles/{id}/charge-settings$",
    "evenergy": r"/charging_sub_sessions/[^/]+/schedules$",
}


def reads(sim: Simulator, provider: str, path: str) -> int:
    """Count the GET requests the provider received on paths matching ``path``."""
    return len(sim.requests.filter(provider=provider, method="GET", path=path))


@pytest.mark.parametrize("provider", ["jedlix", "evenergy"])
async def test_list_follows_the_charging_cars_rhythm(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A cloud updating every 10 minutes: each update shown within 2 minutes.

    At most 2 list reads per update; the charging car's details are read at most once
    in the two hours (for their age), the parked cars' not at all.
    """
    charging, *parked = list(getattr(sim, provider).fleet)
    charge_for_hours(charging)
    for vehicle in parked:
        park(vehicle)
    sim.set_telemetry(provider, 600, jitter=0.05)
    updates = await watch_updates_after_learning(
        hass, sim, init_integration, advance, charging
    )
    assert reads(sim, provider, LIST_PATH[provider]) <= 2 * len(updates) + 2
    details = DETAILS_PATH[provider]
    if provider == "jedlix":
        assert reads(sim, provider, details.format(id=charging.id)) <= 1
        for vehicle in parked:
            assert reads(sim, provider, details.format(id=vehicle.id)) == 0
        assert reads(sim, provider, r"/messages$") <= 2 * 2 + 1
    else:
        assert reads(sim, provider, details) <= 1


@pytest.mark.parametrize("provider", ["jedlix", "evenergy"])
async def test_parked_fleet_reads_the_list_twice_an_hour(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Every car parked: the list (every car's state) is read at most twice an hour."""
    for vehicle in getattr(sim, provider).fleet:
        park(vehicle)
    await travel(hass, init_integration, advance, 1800)
    sim.requests.clear()
    await travel(hass, init_integration, advance, 3 * 3600)
    assert 5 <= reads(sim, provider, LIST_PATH[provider]) <= 6
    if provider == "jedlix":
        assert reads(sim, provider, DETAILS_PATH[provider].format(id="[^/]+")) == 0


@pytest.mark.parametrize("provider", ["jedlix"])
async def test_plugging_in_rereads_the_settings(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Plugging in starts the session the settings are for: they are read again then."""
    vehicle, *others = list(sim.jedlix.fleet)
    for car in sim.jedlix.fleet:
        park(car)
    # Until a read has listed every car unplugged.
    await travel(hass, init_integration, advance, 1800 + 60)
    sim.requests.clear()
    vehicle.plug_in()
    await travel(hass, init_integration, advance, 1800 + 60)
    assert reads(sim, provider, DETAILS_PATH[provider].format(id=vehicle.id)) == 1
    for other in others:
        assert reads(sim, provider, DETAILS_PATH[provider].format(id=other.id)) == 0
    assert timedelta(hours=1) < DETAILS_READ_INTERVAL


@pytest.mark.parametrize("provider", ["chargeye"])
async def test_plan_boundaries_replace_fixed_reads(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Over a night of plans: no more reads than the fixed clock, each boundary seen soon.

    Fixed polling reads every 5 minutes while a bus is plugged in; boundary reads move
    a slot's read, they never add one. A bus's charging status changes within 30 s of
    its plan's boundary (plus the 15-s step of time travel).
    """
    coordinator = init_integration.runtime_data.coordinator
    await jump_to(advance, datetime(2026, 11, 2, 7, 5, tzinfo=UTC))
    first = min(
        slot.start
        for snapshot in coordinator.data.vehicles.values()
        if snapshot.schedule is not None
        for slot in snapshot.schedule.slots
        if slot.start > dt_util.utcnow()
    )
    await jump_to(advance, first - timedelta(minutes=20))
    boundaries: set[datetime] = set()
    read_times: list[datetime] = []
    boundary_reads = 0
    sim.requests.clear()
    start = dt_util.utcnow()
    for _ in range(int(3 * 3600 // 15)):
        before = coordinator.cadence.slot_end
        await advance(15)
        now = dt_util.utcnow()
        if coordinator.cadence.slot_end != before:
            read_times.append(now)
            boundary_reads += any(
                pace.reason == "plan_boundary"
                for pace in coordinator.cadence.cars.values()
            )
        for snapshot in coordinator.data.vehicles.values():
            if snapshot.schedule is not None:
                for slot in snapshot.schedule.slots:
                    boundaries.update({slot.start, slot.end})
    end = dt_util.utcnow()
    slots = (end - start) / timedelta(minutes=5)
    assert reads(sim, provider, r"/chargeye/vehicles/?$") <= slots + 1
    ahead = [
        b
        for b in boundaries
        if start + timedelta(minutes=5) < b < end - timedelta(minutes=11)
    ]
    assert ahead, "the simulated depots planned nothing in these hours"
    assert boundary_reads >= 1
    for boundary in ahead:
        # At the boundary, or at the latest when the next slot ends.
        assert any(
            boundary <= moment <= boundary + timedelta(minutes=10, seconds=30)
            for moment in read_times
        ), f"plan boundary {boundary} not read"


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_planned_start_is_shown_within_a_minute(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A plan's period begins while the car's rhythm is unknown: its start shows soon.

    The car waited, read half-hourly (no rhythm learned from that); from the period's
    start the list is read each minimum interval until the cloud shows the charge, and
    no longer than one scan interval.
    """
    car = next(iter(sim.evenergy.fleet))
    for vehicle in sim.evenergy.fleet:
        park(vehicle)
    # Plugged in at 11:00 UTC: its plan's first period is over 40 minutes ahead (below).
    await jump_to(advance, dt_util.utcnow().replace(hour=11, minute=0))
    car.plug_in(sim.clock.now())
    car.smart_charging = True
    car.soc = 30.0
    car.target_soc = 80
    sim.set_telemetry(provider, 180)
    await advance(15 * 60)
    await refresh_everything(hass, init_integration)
    periods = plan_periods(init_integration, car.id)
    assert periods, "the scenario needs a plan"
    start = periods[0][0]
    assert start > dt_util.utcnow() + timedelta(minutes=40), "and one ahead"
    await jump_to(advance, start - timedelta(minutes=30))
    await travel(hass, init_integration, advance, 30 * 60 - 5 * STEP)
    sim.requests.clear()
    seen: dict[str, list[tuple[datetime, datetime]]] = {}
    await travel(hass, init_integration, advance, 10 * 60, seen)
    first = min(moment for moment in car.report_times if moment > start)
    assert car.charging
    shown = next(at for updated, at in seen[car.id] if updated >= first)
    assert shown - first <= timedelta(seconds=60 + STEP + 2)
    coordinator = init_integration.runtime_data.coordinator
    assert is_charging(coordinator.data.vehicles[car.id])
    scan_interval = coordinator.pacer.scan_interval
    in_first_interval = [
        request
        for request in sim.requests.filter(
            provider=provider, method="GET", path=LIST_PATH[provider]
        )
        if start <= request.time < start + scan_interval
    ]
    assert len(in_first_interval) <= 6
