"""Each car at its own pace, end to end: what Hiven received, with time travel.

The simulator's cloud refreshes each car's telemetry on its own clock (``set_telemetry``);
the integration learns that rhythm from the status ``timestamp`` and reads each car just
after its cloud has something new. Counted in the simulator's request log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.coordinator import SCHEDULE_ROUNDING
from tests.simulator import Simulator, SimVehicle

from .conftest import Advance, charge_for_hours

STEP = 15
"""Seconds per step of time travel: timers fire within this of their moment."""


def status_reads(sim: Simulator, vehicle: SimVehicle) -> int:
    """Count the status requests Hiven received for one car."""
    return sum(
        1
        for request in sim.requests
        if request.path.endswith(f"/devices/{vehicle.id}/status")
    )


def list_reads(sim: Simulator) -> int:
    """Count the device list requests Hiven received."""
    return sum(
        1 for request in sim.requests if request.path.endswith("/v2/hiven/devices")
    )


async def travel(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    advance: Advance,
    seconds: float,
    seen: dict[str, list[tuple[datetime, datetime]]] | None = None,
) -> None:
    """Move time in steps; note when Home Assistant first showed each cloud update."""
    for _ in range(int(seconds // STEP)):
        await advance(STEP)
        if seen is None:
            continue
        now = dt_util.utcnow()
        for (
            vehicle_id,
            snapshot,
        ) in entry.runtime_data.coordinator.data.vehicles.items():
            updated = snapshot.state.updated_at
            shown = seen.setdefault(vehicle_id, [])
            if updated is not None and (not shown or shown[-1][0] != updated):
                shown.append((updated, now))


async def watch_updates_after_learning(
    hass: HomeAssistant,
    sim: Simulator,
    entry: MockConfigEntry,
    advance: Advance,
    charging: SimVehicle,
) -> list[datetime]:
    """Learn for six 10-minute cloud updates, then watch two hours with a clean log.

    Asserts each cloud update of ``charging`` in those hours was shown within 2 minutes
    (timestamps may carry milliseconds); returns those updates.
    """
    seen: dict[str, list[tuple[datetime, datetime]]] = {}
    await travel(hass, entry, advance, 6 * 600 + 60, seen)
    start = dt_util.utcnow()
    sim.requests.clear()
    await travel(hass, entry, advance, 2 * 3600, seen)
    updates = [
        moment
        for moment in charging.report_times
        if start <= moment <= dt_util.utcnow() - timedelta(minutes=2)
    ]
    assert len(updates) >= 11
    shown = seen[charging.id]
    for moment in updates:
        when = next(
            (
                at
                for updated, at in shown
                if abs(updated - moment) < timedelta(seconds=1)
            ),
            None,
        )
        assert when is not None, f"cloud update at {moment} never shown"
        assert when - moment <= timedelta(minutes=2)
    return updates


def park(vehicle: SimVehicle) -> None:
    """Unplug the car and keep it still."""
    vehicle.routine = False
    if vehicle.plugged_in:
        vehicle.unplug()


@pytest.mark.parametrize("provider", ["hiven"])
async def test_charging_car_is_seen_soon_after_each_cloud_update(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A cloud that updates every 10 minutes: each update shown within 2 minutes, 2 reads.

    After learning (at most 6 cloud updates); the parked cars cost at most 2 reads an hour
    each, the device list one read per 30 minutes.
    """
    charging, *parked = list(sim.hiven.fleet)
    charge_for_hours(charging)
    for vehicle in parked:
        park(vehicle)
    sim.set_telemetry("hiven", 600, jitter=0.05)
    updates = await watch_updates_after_learning(
        hass, sim, init_integration, advance, charging
    )
    assert charging.status == "charging"
    assert status_reads(sim, charging) <= 2 * len(updates) + 2
    for vehicle in parked:
        assert status_reads(sim, vehicle) <= 2 * 2
    assert list_reads(sim) <= 2 * 2


@pytest.mark.parametrize("provider", ["hiven"])
async def test_parked_car_is_read_twice_an_hour(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Every car parked: each costs at most 2 of its own reads an hour."""
    for vehicle in sim.hiven.fleet:
        park(vehicle)
    sim.set_telemetry("hiven", 300)
    await travel(hass, init_integration, advance, 1800)
    sim.requests.clear()
    await travel(hass, init_integration, advance, 3 * 3600)
    for vehicle in sim.hiven.fleet:
        assert 5 <= status_reads(sim, vehicle) <= 6
    assert list_reads(sim) <= 6


@pytest.mark.parametrize("provider", ["hiven"])
async def test_write_is_shown_at_once_and_read_back_soon(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """After a write the car and the list are read within the provider's minimum."""
    vehicle, *others = list(sim.hiven.fleet)
    for car in sim.hiven.fleet:
        park(car)
    await travel(hass, init_integration, advance, 600)
    sim.requests.clear()
    coordinator = init_integration.runtime_data.coordinator
    switch = next(
        state.entity_id
        for state in hass.states.async_all("switch")
        if state.entity_id.endswith("smart_charging")
        and vehicle.name.lower().replace("'", "_").replace(" ", "_")[:5]
        in state.entity_id
    )
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": switch}, blocking=True
    )
    assert hass.states.get(switch).state == "off"
    assert coordinator.update_interval is not None
    assert coordinator.update_interval <= timedelta(minutes=1) + SCHEDULE_ROUNDING
    await travel(hass, init_integration, advance, 75)
    assert status_reads(sim, vehicle) == 1
    assert list_reads(sim) == 1
    assert all(status_reads(sim, other) == 0 for other in others)
    assert hass.states.get(switch).state == "off"


@pytest.mark.parametrize("provider", ["hiven"])
async def test_manual_refresh_reads_everything(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """The refresh button reads the list and every car, whatever is due."""
    for car in sim.hiven.fleet:
        park(car)
    await travel(hass, init_integration, advance, 600)
    sim.requests.clear()
    button = next(
        state.entity_id
        for state in hass.states.async_all("button")
        if state.entity_id.endswith("_refresh")
    )
    await hass.services.async_call(
        "button", "press", {"entity_id": button}, blocking=True
    )
    assert list_reads(sim) == 1
    for vehicle in sim.hiven.fleet:
        assert status_reads(sim, vehicle) == 1


@pytest.mark.parametrize("provider", ["hiven"])
async def test_timestamp_of_the_answer_falls_back_to_the_scan_interval(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A status timestamp that is only the answer's time teaches no rhythm of the cloud.

    The document does not say what Hiven's ``timestamp`` is. Read as the answer's time,
    it moves with every read: the car is then read at the user's interval, as before the
    cadence, and each cloud update still shows within that interval.
    """
    charging, *parked = list(sim.hiven.fleet)
    charge_for_hours(charging)
    for vehicle in parked:
        park(vehicle)
    sim.set_variants("hiven", {"status_timestamp_is_response_time": True})
    sim.set_telemetry("hiven", 600, jitter=0.05)
    await travel(hass, init_integration, advance, 3600)
    start = dt_util.utcnow()
    sim.requests.clear()
    reads: list[datetime] = []
    for _ in range(int(2 * 3600 // STEP)):
        before = status_reads(sim, charging)
        await advance(STEP)
        if status_reads(sim, charging) > before:
            reads.append(dt_util.utcnow())
    gaps = [b - a for a, b in zip([start, *reads], reads, strict=False)]
    assert gaps
    assert max(gaps) <= timedelta(minutes=5, seconds=STEP)
    assert len(reads) <= 2 * 3600 // (5 * 60) + 2
