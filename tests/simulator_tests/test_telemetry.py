"""The clouds' own telemetry refresh: what a provider reports waits for its next cloud update."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
import itertools
from typing import Any

import aiohttp
import pytest

from tests.simulator import Fleet, PriceCurve, Simulator, SimulatorServer, SimVehicle
from tests.simulator.core import DEFAULT_START, default_telemetry, uuid_ids
from tests.simulator.evenergy import _isoformat
from tests.simulator.hiven import iso
from tests.simulator.jedlix import format_date

PERIOD = 1800.0
JITTER = 0.1
TELEMETRY_PROVIDERS = ("hiven", "jedlix", "evenergy")


def _hiven(sim: Simulator, vehicle: SimVehicle) -> tuple[Any, str]:
    status = sim.hiven.status_json(vehicle)
    return status, status["timestamp"]


def _jedlix(sim: Simulator, vehicle: SimVehicle) -> tuple[Any, str]:
    state = sim.jedlix.charge_state(vehicle)
    return state, state["updatedAt"]


def _evenergy(sim: Simulator, vehicle: SimVehicle) -> tuple[Any, str]:
    log = sim.evenergy.latest_status_log(vehicle)
    return log, _isoformat(log["sampled_at"])


READERS: dict[str, Callable[[Simulator, SimVehicle], tuple[Any, str]]] = {
    "hiven": _hiven,
    "jedlix": _jedlix,
    "evenergy": _evenergy,
}
"""Provider -> (its telemetry as served, the timestamp it carries)."""
SOC_FIELD = {
    "hiven": "soc",
    "jedlix": "batteryLevel",
    "evenergy": "state_of_charge_percentage",
}
STAMP: dict[str, Callable[[datetime], str]] = {
    "hiven": iso,
    "jedlix": format_date,
    "evenergy": _isoformat,
}


def _read(sim: Simulator, provider: str, vehicle: SimVehicle) -> tuple[Any, str]:
    sim.providers[provider].sync()
    return READERS[provider](sim, vehicle)


def _charging_car(sim: Simulator, provider: str) -> SimVehicle:
    """Return a car charging at full power for hours, without trips."""
    vehicle = next(iter(sim.fleet(provider)))
    vehicle.routine = False
    vehicle.smart_charging = False
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    vehicle.soc = 20.0
    vehicle.target_soc = 100
    return vehicle


def _next_update(sim: Simulator, vehicle: SimVehicle, step: float = 30) -> datetime:
    """Advance the clock past the car's next cloud update; return its capture time."""
    count = vehicle.report_count
    while vehicle.report_count == count:
        sim.advance(step)
    return vehicle.report_times[-1]


def _gaps(times: Iterable[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


@pytest.mark.parametrize("provider", TELEMETRY_PROVIDERS)
def test_reads_between_updates_are_identical(provider: str) -> None:
    """Polling between two cloud updates returns the same data and timestamp."""
    sim = Simulator(vehicles=1, telemetry={provider: PERIOD})
    vehicle = _charging_car(sim, provider)
    captured = _next_update(sim, vehicle)
    first, stamp = _read(sim, provider, vehicle)
    assert stamp == STAMP[provider](captured)

    sim.advance(PERIOD * (1 - JITTER) - 60)
    again, stamp_again = _read(sim, provider, vehicle)
    assert (again, stamp_again) == (first, stamp)
    assert vehicle.soc > vehicle.reported.soc + 5  # the car charged meanwhile

    captured = _next_update(sim, vehicle)
    later, stamp_later = _read(sim, provider, vehicle)
    assert stamp_later == STAMP[provider](captured) != stamp
    assert later[SOC_FIELD[provider]] > first[SOC_FIELD[provider]] + 5
    assert vehicle.reported.last_sampled == captured


@pytest.mark.parametrize("provider", TELEMETRY_PROVIDERS)
def test_off_is_live(provider: str) -> None:
    """The default: every read is the car now, stamped now."""
    sim = Simulator(vehicles=1)
    assert sim.telemetry()[provider] == {"period": None, "jitter": JITTER}
    vehicle = _charging_car(sim, provider)
    assert vehicle.reported is vehicle
    sim.advance(600)
    vehicle.soc = 55.0
    data, stamp = _read(sim, provider, vehicle)
    assert data[SOC_FIELD[provider]] == 55
    assert stamp == STAMP[provider](sim.clock.now())
    assert not vehicle.report_times


async def test_a_write_shows_at_once_while_telemetry_waits(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Hiven: a new target is in the preferences at once; the status waits for the car."""
    sim = sim_server.sim
    sim.set_telemetry("hiven", PERIOD)
    vehicle = _charging_car(sim, "hiven")
    vehicle.soc = 70.0
    _next_update(sim, vehicle)
    device = f"{sim_server.api_url('hiven')}/v2/hiven/devices/{vehicle.id}"
    status_url = f"{sim_server.api_url('hiven')}/v1/hiven/devices/{vehicle.id}/status"
    headers = {
        "X-Api-Key": sim.hiven.credentials["api_key"],
        "X-User-Id": sim.hiven.user_id,
    }

    async def get(url: str) -> Any:
        async with client_session.get(url, headers=headers) as response:
            assert response.status == 200
            return await response.json()

    before = await get(status_url)
    assert before["chargingStatus"] == "CHARGING"
    async with client_session.put(
        f"{device}/smart-charging/ev-preferences",
        headers=headers,
        json={"targetSoC": {"value": 60, "unit": "PERCENT"}},
    ) as response:
        assert response.status == 200
    preferences = await get(f"{device}/smart-charging/ev-preferences")
    assert preferences["targetSoC"] == {"value": 60, "unit": "PERCENT"}
    assert await get(status_url) == before

    _next_update(sim, vehicle)
    after = await get(status_url)
    assert after["chargingStatus"] in {"COMPLETE", "CHARGING_COMPLETED"}
    assert after["timestamp"] == iso(vehicle.report_times[-1]) != before["timestamp"]


def test_periods_are_per_provider_jittered_with_phases_per_car() -> None:
    """Each provider runs its own period, every gap within period x (1 +/- jitter)."""
    sim = Simulator(vehicles=8, telemetry={"hiven": 300, "jedlix": 600}, routine=False)
    start = sim.clock.now()
    sim.advance(6 * 3600)
    for provider, period in (("hiven", 300), ("jedlix", 600)):
        phases = set()
        for vehicle in sim.fleet(provider):
            times = list(vehicle.report_times)
            assert times[0] == start  # captured when the setting began
            phases.add(times[1] - start)
            assert times[1] - start < timedelta(seconds=period)
            gaps = _gaps(times[1:])
            assert all(
                period * (1 - JITTER) <= gap <= period * (1 + JITTER) for gap in gaps
            )
            assert len(set(gaps)) > len(gaps) // 2  # jittered, not a fixed beat
        assert len(phases) == len(sim.fleet(provider))  # cars are not synchronized
    for vehicle in sim.fleet("evenergy"):
        assert vehicle.reported is vehicle
        assert vehicle.report_count == 0


def test_updates_are_deterministic_for_a_seed() -> None:
    """The same seed gives the same update times; another seed other ones."""

    def times(seed: int) -> list[list[datetime]]:
        sim = Simulator(vehicles=3, seed=seed, telemetry={"jedlix": 600})
        sim.advance(3 * 3600)
        return [list(vehicle.report_times) for vehicle in sim.fleet("jedlix")]

    assert times(1) == times(1)
    assert times(1) != times(2)


def test_jitter_is_configurable() -> None:
    """No jitter: a fixed beat after the per-car phase."""
    sim = Simulator(vehicles=2, telemetry={"hiven": 300}, telemetry_jitter=0.0)
    sim.advance(3600)
    for vehicle in sim.fleet("hiven"):
        assert set(_gaps(list(vehicle.report_times)[1:])) == {300.0}
    sim.set_telemetry("hiven", 600, 0.5)
    assert sim.telemetry()["hiven"] == {"period": 600, "jitter": 0.5}
    sim.set_telemetry("hiven", None)
    assert sim.telemetry()["hiven"] == {"period": None, "jitter": 0.5}
    assert all(vehicle.reported is vehicle for vehicle in sim.fleet("hiven"))


@pytest.mark.parametrize(
    ("provider", "period", "jitter"),
    [("chargeye", 300, 0.1), ("hiven", -1, 0.1), ("hiven", 300, 1.0)],
)
def test_bad_settings_are_refused(provider: str, period: float, jitter: float) -> None:
    """ChargEye serves plans, not telemetry; periods are >= 0 and jitter in [0, 1)."""
    with pytest.raises(ValueError):
        Simulator(vehicles=1).set_telemetry(provider, period, jitter)


def test_evenergy_logs_each_cloud_update() -> None:
    """ev.energy's status log history holds one log per cloud update, newest first."""
    sim = Simulator(vehicles=2, telemetry={"evenergy": 180})
    sim.advance(2 * 3600)  # one sync: every update on the way is logged
    for vehicle in sim.fleet("evenergy"):
        logs = sim.evenergy.status_logs(vehicle)
        assert [log["sampled_at"] for log in logs] == list(
            reversed(vehicle.report_times)
        )
        assert sim.evenergy.latest_status_log(vehicle) == logs[0]


def test_captures_leave_the_physics_alone() -> None:
    """Stopping at every cloud update changes nothing in what the cars do.

    Captures stop the physics at arbitrary moments, so this also checks that the physics
    does not depend on where a sync stops (a charging step ends at the ready time).
    """

    def fleet(period: float | None) -> Fleet:
        fleet = Fleet.generate(40, 7, uuid_ids, prices=PriceCurve(7))
        fleet.set_telemetry(period)
        fleet.sync(DEFAULT_START + timedelta(days=2))
        return fleet

    live, reported = fleet(None), fleet(120)
    for a, b in zip(live, reported, strict=True):
        assert (a.plugged_in, a.plugged_in_at) == (b.plugged_in, b.plugged_in_at)
        assert a.soc == pytest.approx(b.soc, abs=1e-6)
        assert a.session_energy_wh == pytest.approx(b.session_energy_wh, abs=1e-3)


def test_a_day_of_a_thousand_cars_costs_one_step_per_update() -> None:
    """Work grows with cloud updates, not with how often the fleet is synced."""
    fleet = Fleet.generate(1000, 1, uuid_ids, prices=PriceCurve(1))
    fleet.set_telemetry(3600)
    fleet.sync(DEFAULT_START + timedelta(days=1))
    updates = [vehicle.report_count - 1 for vehicle in fleet]
    assert all(21 <= count <= 27 for count in updates)


async def test_admin_telemetry(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """GET/POST /_admin/telemetry, like /_admin/variants; …/reports lists capture times."""
    url = f"{sim_server.url}/_admin/telemetry"
    async with client_session.get(url) as response:
        assert await response.json() == {
            name: {"period": None, "jitter": JITTER} for name in TELEMETRY_PROVIDERS
        }
    async with client_session.post(
        f"{url}/jedlix", json={"period": 600, "jitter": 0.2}
    ) as response:
        assert response.status == 200
        assert await response.json() == {"period": 600, "jitter": 0.2}
    assert sim.telemetry()["jedlix"] == {"period": 600, "jitter": 0.2}
    for provider, body, status in (
        ("chargeye", {"period": 600}, 400),
        ("jedlix", {"period": "often"}, 400),
        ("jedlix", {"jitter": 0.1}, 400),
        ("jedlix", {"period": 60, "phase": 3}, 400),
        ("tesla", {"period": 60}, 404),
    ):
        async with client_session.post(f"{url}/{provider}", json=body) as response:
            assert response.status == status, (provider, body)

    start = sim.clock.now()
    sim.advance(3600)
    async with client_session.get(f"{url}/jedlix/reports") as response:
        reports = await response.json()
    assert set(reports) == {vehicle.id for vehicle in sim.fleet("jedlix")}
    assert all(times[0] == start.isoformat() for times in reports.values())
    async with client_session.get(
        f"{url}/jedlix/reports", params={"since": start.isoformat()}
    ) as response:
        later = await response.json()
    assert {key: times[1:] for key, times in reports.items()} == later
    async with client_session.get(f"{sim_server.url}/_admin/state") as response:
        state = await response.json()
    assert state["telemetry"]["jedlix"]["period"] == 600
    assert state["providers"]["jedlix"]["vehicles"][0]["telemetry"]["reports"] >= 6


def test_default_periods() -> None:
    """Every telemetry provider names its own default; ChargEye has none."""
    defaults = default_telemetry()
    assert set(defaults) == set(TELEMETRY_PROVIDERS)
    assert all(60 <= period <= 900 for period in defaults.values())
