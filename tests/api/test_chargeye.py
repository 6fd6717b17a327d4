"""ChargEyeClient against the ChargEye simulator over real loopback HTTP.

What every provider client does (errors, tokens, secrets, faults, parsers) is tested once
for all in tests/api/test_contract.py; this module tests what is ChargEye's own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
import re
from typing import Any

import aiohttp
import pytest

from custom_components.chargebridge.api import (
    Account,
    ChargeBridgeError,
    ChargingStatus,
    DepartureBeforeArrivalError,
    DepotScheduleRequest,
    Feature,
    InvalidDatetimeError,
    InvalidInputError,
    InvalidVehicleError,
    NothingToChangeError,
    OutOfRangeError,
    PreferencesUpdate,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderValueError,
    UnsupportedError,
    UnsupportedFeatureError,
    VehicleSnapshot,
)
from custom_components.chargebridge.api.chargeye import (
    BASE_FEATURES,
    TOKEN_PATH,
    ChargEyeClient,
    identity_claim,
    jwt_claims,
    split_ev_model,
)
from custom_components.chargebridge.api.registry import PROVIDERS
from tests.api.parser_cases import fake_jwt
from tests.simulator import (
    PROFILES,
    Fault,
    FaultKind,
    RecordedRequest,
    Simulator,
    SimulatorServer,
)
from tests.simulator.chargeye import PostedSchedule, SimSchedule, iso

REFRESH = "demo-chargeye-refresh-token"
PREFIX = "/chargeye"


@pytest.fixture
def client(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> ChargEyeClient:
    """Return a client on the simulator, on the simulated clock."""
    return new_client(sim, sim_server, client_session)


def sent(sim: Simulator) -> list[RecordedRequest]:
    """Return what the ChargEye simulator received."""
    return sim.requests.for_provider("chargeye")


def calls(sim: Simulator) -> list[tuple[str, str]]:
    """Return (method, path without the prefix) of every request received."""
    return [(entry.method, entry.path.removeprefix(PREFIX)) for entry in sent(sim)]


def vehicle_ids(sim: Simulator) -> list[str]:
    """Ids of the simulated vehicles in fleet order."""
    return [vehicle.id for vehicle in sim.chargeye.fleet]


def current_schedule(sim: Simulator, vehicle_id: str) -> SimSchedule:
    """Return the vehicle's current or next schedule in the simulator."""
    _, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    return current


def advance_to(sim: Simulator, when: datetime) -> None:
    """Move the simulated clock forward to `when`."""
    sim.advance((when - sim.clock.now()).total_seconds())


def jwt(sim: Simulator) -> str:
    """Return the one JWT the simulator issued so far."""
    (token,) = sim.chargeye.tokens
    return token


# --- construction, identity, secrets ---------------------------------------------------------


def test_class_contract() -> None:
    """Registered under its name, with the config-entry fields and the secret declared."""
    assert PROVIDERS["chargeye"] is ChargEyeClient
    assert ChargEyeClient.default_api_url == "https://kempower.io/api"
    assert ChargEyeClient.secret_fields == frozenset({"refresh_token"})
    assert ChargEyeClient.uses_access_token is True
    assert ChargEyeClient.min_scan_interval <= ChargEyeClient.default_scan_interval


async def test_built_from_config_entry_data(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """PROVIDERS[name](session=..., **entry data) builds a working client; repr is safe."""
    data = sim_server.config("chargeye")
    assert set(data) == {"provider", "api_url", "refresh_token"}
    provider = data.pop("provider")
    client = PROVIDERS[provider](session=client_session, **data)
    assert REFRESH not in repr(client)
    assert "refresh_token" not in repr(client)
    account = await client.async_validate()
    assert account.title == "ChargEye"


async def test_validate(client: ChargEyeClient, sim: Simulator) -> None:
    """Token, then GET /vehicles; the account is the JWT's organisation."""
    account = await client.async_validate()
    assert account == Account(unique_id=sim.chargeye.organisation, title="ChargEye")
    token_request, vehicles_request = sent(sim)
    assert token_request.method == "GET"
    assert token_request.path == "/chargeye/auth/refreshAccessToken"
    assert dict(token_request.query) == {}
    assert token_request.headers["Authorization"] == f"Bearer {REFRESH}"
    assert token_request.body == b""
    assert vehicles_request.method == "GET"
    assert vehicles_request.path == "/chargeye/vehicles"
    assert dict(vehicles_request.query) == {}
    assert vehicles_request.headers["Authorization"] == f"Bearer {jwt(sim)}"
    assert vehicles_request.body == b""
    assert client.requests_made == 2


async def test_validate_with_a_bad_refresh_token(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """A refused refresh token is an auth error naming no secret; one request only."""
    client = PROVIDERS["chargeye"](
        session=client_session,
        api_url=sim_server.api_url("chargeye"),
        refresh_token="not-the-token",
        clock=sim.clock.now,
    )
    with pytest.raises(ProviderAuthError) as err:
        await client.async_validate()
    assert "not-the-token" not in str(err.value)
    assert "refresh token refused" in str(err.value)
    assert calls(sim) == [("GET", "/auth/refreshAccessToken")]


async def test_validate_without_organisation_claim(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """A JWT without the organisation claim names the account by its subject."""
    sim.chargeye.omitted_claims = {"org"}
    account = await client.async_validate()
    assert account == Account(unique_id="api-client", title="ChargEye")
    assert calls(sim) == [("GET", "/auth/refreshAccessToken"), ("GET", "/vehicles")]


async def test_validate_without_any_identity_claim(
    client: ChargEyeClient,
    sim: Simulator,
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
) -> None:
    """No org, no sub: the identity comes from the depots, the same on every setup."""
    sim.chargeye.omitted_claims = {"org", "sub"}
    account = await client.async_validate()
    assert account.unique_id.startswith("depots-")
    assert calls(sim)[-1] == ("GET", "/locations")
    again = PROVIDERS["chargeye"](
        session=client_session,
        api_url=sim_server.api_url("chargeye"),
        refresh_token=REFRESH,
        clock=sim.clock.now,
    )
    assert await again.async_validate() == account


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"org": "org-1", "sub": "s"}, "org-1"),
        ({"organisationId": "org-2"}, "org-2"),
        ({"organizationId": 42}, "42"),
        ({"sub": "client-7"}, "client-7"),
        ({"org": "", "sub": "client-8"}, "client-8"),
        ({"iat": 1}, None),
    ],
)
def test_identity_claims(claims: dict[str, Any], expected: str | None) -> None:
    """The identity claim names are read in one place; none is no identity, no error."""
    assert identity_claim("chargeye", fake_jwt(claims)) == expected


@pytest.mark.parametrize(
    "token", ["abc", "a.b", "a.!!!.c", fake_jwt([1, 2]), fake_jwt({"org": True})]
)
def test_unreadable_tokens(token: str) -> None:
    """Garbage tokens name no identity (the depots will); jwt_claims hides the token."""
    assert identity_claim("chargeye", token) is None
    with contextlib.suppress(ProviderResponseError):
        claims = jwt_claims("chargeye", token)
        assert claims == {"org": True}
        return
    with pytest.raises(ProviderResponseError) as err:
        jwt_claims("chargeye", token)
    assert token not in str(err.value)


@pytest.mark.parametrize(
    ("ev_model", "expected"),
    [
        ("Volvo FH Electric", ("Volvo", "FH Electric")),
        ("Mercedes-Benz  eCitaro", ("Mercedes-Benz", "eCitaro")),
        ("renault trucks E-Tech D", ("renault trucks", "E-Tech D")),
        ("Renault Trucks", ("Renault", "Trucks")),
        ("Lynk & Co 01", ("Lynk & Co", "01")),
        ("eCitaro", (None, "eCitaro")),
        ("12m Urbino electric", (None, "12m Urbino electric")),
        ("  ", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_ev_model(
    ev_model: str | None, expected: tuple[str | None, str | None]
) -> None:
    """The make is the known multi-word make or the first word; nothing is lost."""
    assert split_ev_model(ev_model) == expected


async def test_vehicle_make_from_ev_model(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """A vehicle's evModel becomes its make and model; one without names neither."""
    first, second, *_ = vehicle_ids(sim)
    sim.chargeye.records[first].ev_model = "Volvo FH Electric"
    sim.chargeye.records[second].ev_model = ""
    fleet = await client.async_get_fleet()
    vehicle = fleet.vehicles[first].vehicle
    assert (vehicle.make, vehicle.model) == ("Volvo", "FH Electric")
    vehicle = fleet.vehicles[second].vehicle
    assert (vehicle.make, vehicle.model) == (None, None)


# --- fleet ---------------------------------------------------------------------------------


def depots_named(sim: Simulator) -> list[str]:
    """Return the depots the simulated vehicles name, each once, in fleet order."""
    named = (sim.chargeye.records[v].locations() for v in vehicle_ids(sim))
    return list(dict.fromkeys(depot for depots in named for depot in depots))


def depot_read(depot: str) -> tuple[str, str]:
    """Return the public read of one depot, as calls() shows it."""
    return ("GET", f"/locations/{depot}/schedules")


def vehicles_at(sim: Simulator, depot: str) -> list[str]:
    """Return the simulated vehicles whose schedules are at ``depot``."""
    return [v for v in vehicle_ids(sim) if depot in sim.chargeye.records[v].locations()]


def assert_is_the_truth(
    snapshot: VehicleSnapshot, sim: Simulator, *, energy: bool = True
) -> None:
    """Check a vehicle's snapshot says what the simulated vehicle does now."""
    vehicle_id = snapshot.vehicle.id
    truth = sim.chargeye.fleet.vehicles[vehicle_id]
    state = snapshot.state
    assert snapshot.error is None
    assert state.charging_status == ChargingStatus(truth.status)
    assert state.plugged_in is truth.plugged_in
    assert state.charging is truth.charging
    assert state.charge_power_w == pytest.approx(truth.charge_power_w)
    assert state.battery_capacity_wh == truth.battery_wh
    if energy:
        assert state.energy_added_wh == pytest.approx(truth.session_energy_wh, abs=1)
    if truth.plugged_in:
        assert state.state_of_charge == pytest.approx(truth.soc, abs=0.01)
    else:
        assert state.state_of_charge is None
    current = current_schedule(sim, vehicle_id)
    assert snapshot.schedule is not None
    assert snapshot.schedule.next_departure == current.departure
    assert snapshot.preferences.target_soc == round(current.target_soc)
    assert snapshot.preferences.smart_charging is truth.smart_charging
    assert state.range_km is None


async def test_fleet_requests(client: ChargEyeClient, sim: Simulator) -> None:
    """1 + L requests (+ the token once): the list, then each depot's schedules once.

    No vehicle is read on its own: the assumed per-vehicle paths are not used.
    """
    sim.chargeye.add_vehicle()
    ids = vehicle_ids(sim)
    depots = depots_named(sim)
    assert len(depots) == 2 < len(ids)
    fleet = await client.async_get_fleet()
    assert list(fleet.vehicles) == ids
    assert fleet.problems == ()
    assert calls(sim)[:2] == [("GET", "/auth/refreshAccessToken"), ("GET", "/vehicles")]
    assert sorted(calls(sim)[2:]) == sorted(depot_read(depot) for depot in depots)
    token = jwt(sim)
    for entry in sent(sim)[1:]:
        assert entry.headers["Authorization"] == f"Bearer {token}"
        assert dict(entry.query) == {}
        assert entry.body == b""
    sim.requests.clear()
    await client.async_get_fleet()
    assert len(sent(sim)) == 1 + len(depots)
    assert ("GET", "/auth/refreshAccessToken") not in calls(sim)
    assert not [path for _, path in calls(sim) if path.endswith("/upcoming")]


async def _poll_until(client: ChargEyeClient, sim: Simulator, hours: float) -> None:
    """Refresh every half hour (a polling client) while the clock moves ``hours`` on."""
    await client.async_get_fleet()
    while hours > 0:
        step = min(hours, 0.5)
        sim.advance(step * 3600)
        hours -= step
        await client.async_get_fleet()


@pytest.mark.parametrize("hours", [0, 3, 14, 20.25, 23.5, 30])
async def test_fleet_state_is_what_the_plan_says(
    client: ChargEyeClient, sim: Simulator, hours: float
) -> None:
    """At any time a polling client derives the same state the simulated vehicles have."""
    await _poll_until(client, sim, hours)
    fleet = await client.async_get_fleet()
    for snapshot in fleet.vehicles.values():
        assert_is_the_truth(snapshot, sim)


async def test_fleet_while_charging(client: ChargEyeClient, sim: Simulator) -> None:
    """Inside a charging segment: charging at the planned power, soc and energy from it."""
    vehicle_id = vehicle_ids(sim)[1]
    advance_to(sim, current_schedule(sim, vehicle_id).departure + timedelta(hours=1))
    tonight = current_schedule(sim, vehicle_id)
    plan = sim.chargeye.plan(tonight)
    segment = next(s for s in plan.segments if not s.paused)
    start = datetime.fromtimestamp(segment.start / 1000, UTC)
    end = datetime.fromtimestamp(segment.end / 1000, UTC)
    advance_to(sim, start + (end - start) / 4)
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    truth = sim.chargeye.fleet.vehicles[vehicle_id]
    state = snapshot.state
    assert state.charging_status is ChargingStatus.CHARGING
    assert state.charging is True
    assert state.plugged_in is True
    assert state.charge_power_w == truth.max_power_w
    expected_soc = segment.start_soc + (segment.end_soc - segment.start_soc) / 4
    assert state.state_of_charge == pytest.approx(expected_soc, abs=0.01)
    assert state.energy_added_wh == pytest.approx(segment.energy_wh / 4, rel=1e-3)
    assert state.updated_at == tonight.arrival
    assert snapshot.vehicle.name == truth.name
    assert (snapshot.vehicle.make, snapshot.vehicle.model) == (truth.make, truth.model)
    assert snapshot.vehicle.vin == truth.vin
    capabilities = snapshot.vehicle.capabilities
    assert capabilities.features == BASE_FEATURES | {Feature.TARGET_SOC}
    assert (capabilities.target_soc_min, capabilities.target_soc_max) == (0, 100)
    assert not capabilities.supports(Feature.RANGE)
    assert not capabilities.supports(Feature.BOOST)
    assert not capabilities.supports(Feature.READY_TIME)
    assert snapshot.schedule is not None
    slots = snapshot.schedule.slots
    assert slots
    assert slots[0].start == start
    assert slots[0].power_w == truth.max_power_w
    assert all(slot.end <= tonight.departure for slot in slots)


@pytest.mark.parametrize("hours", [0, 20.25])
async def test_plan_departure_soc_and_target(
    client: ChargEyeClient, sim: Simulator, hours: float
) -> None:
    """The current schedule's plan: endSoc and reachedTargetSocInSchedule, as served."""
    await _poll_until(client, sim, hours)
    fleet = await client.async_get_fleet()
    now = sim.clock.now()
    reached = set()
    for vehicle_id, snapshot in fleet.vehicles.items():
        features = snapshot.vehicle.capabilities.features
        assert {
            Feature.CHARGING_PLAN,
            Feature.DEPARTURE_SOC,
            Feature.PLAN_REACHES_TARGET,
        } <= features
        plan = sim.chargeye.schedule_json(current_schedule(sim, vehicle_id), now)[
            "plan"
        ]
        assert snapshot.schedule is not None
        assert snapshot.schedule.departure_soc == plan["endSoc"]
        assert snapshot.schedule.reaches_target is plan["reachedTargetSocInSchedule"]
        reached.add(snapshot.schedule.reaches_target)
        slots = snapshot.schedule.slots
        upcoming = [s for s in plan["segments"] if s["powerkW"] > 0 and not s["paused"]]
        assert [(slot.start, slot.end) for slot in slots] == [
            (
                datetime.fromtimestamp(s["from"] / 1000, UTC),
                datetime.fromtimestamp(s["to"] / 1000, UTC),
            )
            for s in upcoming
        ]
    assert True in reached


async def test_fleet_plugged_in_and_complete(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """Waiting for cheap hours is plugged_in; at the target it is complete."""
    vehicle_id = vehicle_ids(sim)[0]
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    assert snapshot.state.charging_status is ChargingStatus.COMPLETE
    assert snapshot.state.state_of_charge == pytest.approx(90)
    advance_to(sim, current_schedule(sim, vehicle_id).departure + timedelta(hours=1))
    tonight = current_schedule(sim, vehicle_id)
    advance_to(sim, tonight.arrival + timedelta(minutes=1))
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    assert snapshot.state.charging_status is ChargingStatus.PLUGGED_IN
    assert snapshot.state.charging is False
    assert snapshot.state.charge_power_w == 0
    assert snapshot.state.state_of_charge == tonight.start_soc
    assert snapshot.state.energy_added_wh == 0


async def test_window_edges_are_at_the_depot(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """Planned arrival and departure themselves count as at the depot."""
    vehicle_id = vehicle_ids(sim)[0]
    current = current_schedule(sim, vehicle_id)
    advance_to(sim, current.departure)
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    assert snapshot.state.charging_status is ChargingStatus.COMPLETE
    sim.advance(0.001)
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    assert snapshot.state.charging_status is ChargingStatus.DISCONNECTED
    tonight = current_schedule(sim, vehicle_id)
    advance_to(sim, tonight.arrival)
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    assert snapshot.state.charging_status is ChargingStatus.PLUGGED_IN
    assert snapshot.state.state_of_charge == tonight.start_soc


async def test_fleet_on_the_road(
    client: ChargEyeClient,
    sim: Simulator,
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
) -> None:
    """Outside every window: disconnected, no soc; energy is the last session's.

    The depot read lists no departed schedule: the last session is the one this client
    saw before it departed. A client started on the road knows none (energy unknown).
    """
    vehicle_id = vehicle_ids(sim)[0]
    previous = current_schedule(sim, vehicle_id)
    await client.async_get_fleet()
    advance_to(sim, previous.departure + timedelta(hours=3))
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    state = snapshot.state
    assert state.charging_status is ChargingStatus.DISCONNECTED
    assert state.plugged_in is False
    assert state.charging is False
    assert state.state_of_charge is None
    assert state.energy_added_wh == pytest.approx(
        sim.chargeye.plan(previous).energy_until(int(1e15))
    )
    assert (
        state.updated_at
        == sim.chargeye.plan(current_schedule(sim, vehicle_id)).timestamp
    )
    assert snapshot.schedule is not None
    assert (
        snapshot.schedule.next_departure == current_schedule(sim, vehicle_id).departure
    )
    started_now = PROVIDERS["chargeye"](
        session=client_session,
        api_url=sim_server.api_url("chargeye"),
        refresh_token=REFRESH,
        clock=sim.clock.now,
    )
    fresh = (await started_now.async_get_fleet()).vehicles[vehicle_id]
    assert fresh.state.energy_added_wh is None
    assert fresh.state.charging_status is ChargingStatus.DISCONNECTED
    assert fresh.schedule == snapshot.schedule


async def test_vehicle_without_schedules(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """No schedule: disconnected, no target and no target capability."""
    sim.chargeye.fleet.add_vehicle(depot_pattern=False, id="bus-new")
    snapshot = (await client.async_get_fleet()).vehicles["bus-new"]
    assert snapshot.error is None
    assert snapshot.state.charging_status is ChargingStatus.DISCONNECTED
    assert snapshot.state.energy_added_wh is None
    assert snapshot.state.updated_at is None
    assert snapshot.schedule is None
    assert snapshot.preferences.target_soc is None
    assert snapshot.vehicle.capabilities.features == BASE_FEATURES
    with pytest.raises(InvalidInputError):
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=80)
        )


async def test_depots_named_as_string_list_or_null(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """A vehicle's locationUid may be one id, a list or null; each depot is read once.

    A vehicle naming no depot is looked for at every depot of the organisation (the depot
    list is read once an hour); one found in none has no schedule.
    """
    first, second, third = vehicle_ids(sim)
    noord, zuid = (location.id for location in sim.chargeye.locations)
    records = sim.chargeye.records
    assert records[first].locations() == [noord]
    records[first].location_uid = noord
    records[second].location_uid = [zuid, noord, zuid]
    records[third].location_uid = None
    nowhere = sim.chargeye.fleet.add_vehicle(depot_pattern=False, id="bus-nowhere")
    records[nowhere.id].location_uid = None
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    for vehicle_id in (first, second, third):
        assert_is_the_truth(fleet.vehicles[vehicle_id], sim, energy=False)
    lost = fleet.vehicles[nowhere.id]
    assert lost.error is None
    assert lost.state.charging_status is ChargingStatus.DISCONNECTED
    assert lost.schedule is None
    assert lost.preferences.target_soc is None
    reads = [call for call in calls(sim) if call[1].startswith("/locations")]
    assert sorted(reads) == sorted(
        [("GET", "/locations"), depot_read(noord), depot_read(zuid)]
    )
    sim.requests.clear()
    await client.async_get_fleet()
    assert sorted(calls(sim)) == sorted(
        [("GET", "/vehicles"), depot_read(noord), depot_read(zuid)]
    )
    sim.advance(3601)
    sim.requests.clear()
    await client.async_get_fleet()
    assert ("GET", "/locations") in calls(sim)


async def test_unreadable_location_uid_counts_as_naming_none(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """A locationUid of the wrong type is a problem naming it; the vehicle is still read."""
    vehicle_id = vehicle_ids(sim)[0]
    sim.chargeye.records[vehicle_id].location_uid = [7]  # type: ignore[list-item]
    fleet = await client.async_get_fleet()
    (problem,) = fleet.problems
    assert isinstance(problem, ProviderResponseError)
    assert problem.field == "vehicles response.vehicles[0].vehicle.locationUid"
    assert_is_the_truth(fleet.vehicles[vehicle_id], sim, energy=False)
    assert ("GET", "/locations") in calls(sim)


def recurring_only(sim: Simulator, *, plans: bool = True) -> None:
    """Make every depot list only recurring schedules (with or without their plans)."""
    sim.chargeye.recurring_only_locations = {loc.id for loc in sim.chargeye.locations}
    sim.chargeye.recurring_plans = plans


def new_client(
    sim: Simulator, sim_server: SimulatorServer, session: aiohttp.ClientSession
) -> ChargEyeClient:
    """Another client of the demo account (no memory of earlier refreshes)."""
    return PROVIDERS["chargeye"](
        session=session,
        api_url=sim_server.api_url("chargeye"),
        refresh_token=REFRESH,
        clock=sim.clock.now,
    )


@pytest.mark.parametrize("hours", [0, 3, 14, 20.25, 23.5, 30])
async def test_recurring_only_depots_with_plans(
    sim: Simulator,
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
    hours: float,
) -> None:
    """A depot listing only recurring schedules with their plans says what dates would.

    Their times are the series' first occurrence, days ago: the current one comes from
    the rule, and its plan (made for it) drives state of charge, status and target.
    """
    sim.advance(hours * 3600)
    dated = await new_client(sim, sim_server, client_session).async_get_fleet()
    recurring_only(sim)
    recurring = await new_client(sim, sim_server, client_session).async_get_fleet()
    assert recurring.problems == ()
    assert recurring.vehicles == dated.vehicles
    for snapshot in recurring.vehicles.values():
        assert_is_the_truth(snapshot, sim, energy=False)
        assert snapshot.vehicle.capabilities.supports(Feature.TARGET_SOC)


async def test_recurring_without_plans(client: ChargEyeClient, sim: Simulator) -> None:
    """Recurring schedules without a plan: departure, target and at-depot from the rule."""
    recurring_only(sim, plans=False)
    vehicle_id = vehicle_ids(sim)[1]
    await client.async_get_fleet()
    advance_to(sim, current_schedule(sim, vehicle_id).departure + timedelta(hours=1))
    tonight = current_schedule(sim, vehicle_id)
    for when, at_depot in (
        (tonight.arrival - timedelta(minutes=1), False),
        (tonight.arrival, True),
        (tonight.arrival + (tonight.departure - tonight.arrival) / 2, True),
        (tonight.departure, True),
    ):
        advance_to(sim, when)
        fleet = await client.async_get_fleet()
        assert fleet.problems == ()
        snapshot = fleet.vehicles[vehicle_id]
        assert snapshot.error is None
        assert snapshot.schedule is not None
        assert snapshot.schedule.next_departure == tonight.departure
        assert snapshot.schedule.slots == ()
        assert snapshot.preferences.target_soc == round(tonight.target_soc)
        state = snapshot.state
        assert state.plugged_in is at_depot
        assert state.charging is False
        if at_depot:
            assert state.charging_status is ChargingStatus.PLUGGED_IN
            assert state.state_of_charge == tonight.start_soc
            assert state.energy_added_wh is None
        else:
            assert state.charging_status is ChargingStatus.DISCONNECTED
    sim.advance(1)
    after = (await client.async_get_fleet()).vehicles[vehicle_id]
    assert after.state.charging_status is ChargingStatus.DISCONNECTED
    assert after.schedule is not None
    assert after.schedule.next_departure == tonight.departure + timedelta(days=1)


async def test_weekly_rule(client: ChargEyeClient, sim: Simulator) -> None:
    """A rule beyond FREQ=DAILY (RRULE: prefix, BYDAY) gives the right next occurrence."""
    recurring_only(sim, plans=False)
    vehicle = sim.chargeye.fleet.add_vehicle(depot_pattern=False, id="bus-weekly")
    monday = datetime(2026, 11, 2, 19, tzinfo=UTC)
    assert monday.weekday() == 0
    sim.chargeye.add_schedules(
        vehicle,
        [
            PostedSchedule(
                arrival=monday,
                departure=monday + timedelta(hours=10),
                target_soc=85,
                location_uid=sim.chargeye.records[vehicle.id].locations()[0],
                recurrence_rule="RRULE:FREQ=WEEKLY;BYDAY=MO,TU",
            )
        ],
        replace=True,
    )
    (series,) = sim.chargeye.series[vehicle.id]
    for now, index in (
        (monday + timedelta(hours=1), 0),
        (monday + timedelta(hours=11), 1),
        (monday + timedelta(days=2), 2),
    ):
        advance_to(sim, now)
        arrival, departure = series.occurrence(index, sim.timezone) or (now, now)
        assert arrival == monday + timedelta(days=(0, 1, 7)[index])
        snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
        assert snapshot.schedule is not None
        assert snapshot.schedule.next_departure == departure
        assert snapshot.state.plugged_in is (arrival <= now)
        assert snapshot.preferences.target_soc == 85


@pytest.mark.parametrize("only_recurring", [False, True])
async def test_unreadable_recurrence_rule_costs_only_its_expansion(
    client: ChargEyeClient, sim: Simulator, only_recurring: bool
) -> None:
    """A rule that cannot be expanded is a problem naming it; the vehicle stays available.

    With its dated occurrences listed the vehicle loses nothing; where the depot lists
    only the series, the series stands for its first occurrence alone (long departed).
    """
    broken, *others = vehicle_ids(sim)
    (series,) = sim.chargeye.series[broken]
    series.rule = "FREQ=FORTNIGHTLY"
    if only_recurring:
        recurring_only(sim)
    fleet = await client.async_get_fleet()
    (problem,) = fleet.problems
    assert isinstance(problem, ProviderResponseError)
    assert problem.field is not None
    assert problem.field.startswith(f"location schedules[{series.location_uid}]")
    assert problem.field.endswith(".recurrenceRule")
    assert fleet.vehicles[broken].error is None
    if only_recurring:
        state = fleet.vehicles[broken].state
        assert state.charging_status is ChargingStatus.DISCONNECTED
        assert fleet.vehicles[broken].schedule is None
        assert fleet.vehicles[broken].preferences.target_soc is None
    else:
        assert_is_the_truth(fleet.vehicles[broken], sim, energy=False)
    for vehicle_id in others:
        assert_is_the_truth(fleet.vehicles[vehicle_id], sim, energy=False)


async def test_rule_that_never_matches(client: ChargEyeClient, sim: Simulator) -> None:
    """A readable rule with no occurrence (February 30th) adds none; no problem."""
    vehicle_id = vehicle_ids(sim)[0]
    (series,) = sim.chargeye.series[vehicle_id]
    series.rule = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"
    for _ in range(2):
        fleet = await client.async_get_fleet()
        assert fleet.problems == ()
        assert_is_the_truth(fleet.vehicles[vehicle_id], sim, energy=False)


@pytest.mark.parametrize("epoch", ["ms", "s"])
async def test_timestamps_as_epoch_strings(
    sim: Simulator,
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
    epoch: str,
) -> None:
    """The plain "string" timestamps may be epoch numbers: the same fleet results."""
    iso_fleet = await new_client(sim, sim_server, client_session).async_get_fleet()
    sim.chargeye.epoch_timestamps = epoch
    schedule = current_schedule(sim, vehicle_ids(sim)[0])
    shown = sim.chargeye.schedule_json(schedule, sim.clock.now())
    assert shown["plannedDepartureTime"].isdigit()
    assert shown["planMeta"]["timestamp"].isdigit()
    client = new_client(sim, sim_server, client_session)
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert fleet.vehicles == iso_fleet.vehicles
    assert client._token_expires == sim.clock.now() + timedelta(hours=8)


# --- preferences ---------------------------------------------------------------------------


async def _snapshot(
    client: ChargEyeClient, sim: Simulator, index: int = 0
) -> VehicleSnapshot:
    fleet = await client.async_get_fleet()
    sim.requests.clear()
    return fleet.vehicles[vehicle_ids(sim)[index]]


async def test_switch_smart_charging(client: ChargEyeClient, sim: Simulator) -> None:
    """Smart charging is the vehicle's enableChargeScheduling, sent alone by PATCH."""
    snapshot = await _snapshot(client, sim)
    vehicle_id = snapshot.vehicle.id
    preferences = await client.async_update_preferences(
        snapshot, PreferencesUpdate(smart_charging=False)
    )
    (entry,) = sent(sim)
    assert entry.method == "PATCH"
    assert entry.path == f"/chargeye/vehicles/{vehicle_id}"
    assert entry.json == {"enableChargeScheduling": False}
    assert entry.headers["Authorization"] == f"Bearer {jwt(sim)}"
    assert preferences.smart_charging is False
    assert preferences.target_soc == snapshot.preferences.target_soc
    assert sim.chargeye.fleet.vehicles[vehicle_id].smart_charging is False


async def test_set_target_on_the_current_schedule(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """The target is the current-or-next schedule's targetSoC, patched by id."""
    snapshot = await _snapshot(client, sim)
    vehicle_id = snapshot.vehicle.id
    current = current_schedule(sim, vehicle_id)
    preferences = await client.async_update_preferences(
        snapshot, PreferencesUpdate(target_soc=75)
    )
    (entry,) = sent(sim)
    assert entry.method == "PATCH"
    assert entry.path == f"/chargeye/vehicles/{vehicle_id}/schedules"
    assert entry.json == {"schedules": [{"id": current.id, "targetSoC": 75}]}
    assert preferences.target_soc == 75
    assert preferences.smart_charging == snapshot.preferences.smart_charging
    assert current.target_soc == 75


async def test_set_both(client: ChargEyeClient, sim: Simulator) -> None:
    """Two changes: two requests, each with only its field."""
    snapshot = await _snapshot(client, sim, 2)
    preferences = await client.async_update_preferences(
        snapshot, PreferencesUpdate(smart_charging=True, target_soc=100)
    )
    assert [entry.json for entry in sent(sim)] == [
        {"enableChargeScheduling": True},
        {
            "schedules": [
                {"id": current_schedule(sim, snapshot.vehicle.id).id, "targetSoC": 100}
            ]
        },
    ]
    assert (preferences.smart_charging, preferences.target_soc) == (True, 100)


async def test_set_target_without_a_refresh_first(
    client: ChargEyeClient,
    sim: Simulator,
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
) -> None:
    """A client that has not refreshed asks for the current schedule before patching it."""
    snapshot = await _snapshot(client, sim)
    fresh = PROVIDERS["chargeye"](
        session=client_session,
        api_url=sim_server.api_url("chargeye"),
        refresh_token=REFRESH,
        clock=sim.clock.now,
    )
    await fresh.async_update_preferences(snapshot, PreferencesUpdate(target_soc=60))
    vehicle_id = snapshot.vehicle.id
    assert calls(sim) == [
        ("GET", "/auth/refreshAccessToken"),
        ("GET", f"/vehicles/{vehicle_id}/schedules/upcoming"),
        ("PATCH", f"/vehicles/{vehicle_id}/schedules"),
    ]
    assert current_schedule(sim, vehicle_id).target_soc == 60


async def test_set_target_when_no_schedule_is_left(
    client: ChargEyeClient,
    sim: Simulator,
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
) -> None:
    """Without a cached id and no upcoming schedule left, there is nothing to set."""
    snapshot = await _snapshot(client, sim)
    vehicle = sim.chargeye.fleet.vehicles[snapshot.vehicle.id]
    sim.chargeye.add_schedules(vehicle, [], replace=True)
    fresh = PROVIDERS["chargeye"](
        session=client_session,
        api_url=sim_server.api_url("chargeye"),
        refresh_token=REFRESH,
        clock=sim.clock.now,
    )
    with pytest.raises(UnsupportedError):
        await fresh.async_update_preferences(snapshot, PreferencesUpdate(target_soc=70))
    assert calls(sim)[-1] == ("GET", f"/vehicles/{vehicle.id}/schedules/upcoming")


async def test_set_target_on_a_vanished_schedule(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """ChargEye skipping the schedule (deleted meanwhile) is a rejection with its message."""
    snapshot = await _snapshot(client, sim)
    vehicle = sim.chargeye.fleet.vehicles[snapshot.vehicle.id]
    sim.chargeye.add_schedules(vehicle, [], replace=True)
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=70)
        )
    assert err.value.detail == "No schedules were updated"


async def test_set_target_on_a_recurring_schedule(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """Where the depot lists only the series, the target is set on the series by its id."""
    recurring_only(sim)
    snapshot = await _snapshot(client, sim)
    vehicle_id = snapshot.vehicle.id
    (series,) = sim.chargeye.series[vehicle_id]
    await client.async_update_preferences(snapshot, PreferencesUpdate(target_soc=65))
    (entry,) = sent(sim)
    assert entry.path == f"/chargeye/vehicles/{vehicle_id}/schedules"
    assert entry.json == {"schedules": [{"id": series.id, "targetSoC": 65}]}
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[vehicle_id].preferences.target_soc == 65
    assert current_schedule(sim, vehicle_id).target_soc == 65


async def test_smart_charging_not_confirmed(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """An answer without success: true is a rejection."""
    snapshot = await _snapshot(client, sim)
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider="chargeye",
            method="PATCH",
            fields=("success",),
        )
    )
    with pytest.raises(ProviderRejectedError):
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(smart_charging=False)
        )


@pytest.mark.parametrize(
    ("update", "error"),
    [
        (PreferencesUpdate(target_soc=101), OutOfRangeError),
        (PreferencesUpdate(target_soc=-1), OutOfRangeError),
        (PreferencesUpdate(minimal_soc=20), UnsupportedFeatureError),
        (PreferencesUpdate(ready_time=time(7, 0)), UnsupportedFeatureError),
        (PreferencesUpdate(), NothingToChangeError),
    ],
)
async def test_invalid_updates_send_nothing(
    client: ChargEyeClient,
    sim: Simulator,
    update: PreferencesUpdate,
    error: type[InvalidInputError],
) -> None:
    """Invalid or unsupported changes are refused before any request."""
    snapshot = await _snapshot(client, sim)
    with pytest.raises(InvalidInputError) as err:
        await client.async_update_preferences(snapshot, update)
    assert type(err.value) is error
    assert sent(sim) == []


async def test_boost_is_unsupported(client: ChargEyeClient, sim: Simulator) -> None:
    """ChargEye has no boost."""
    snapshot = await _snapshot(client, sim)
    with pytest.raises(UnsupportedFeatureError) as err:
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert err.value.feature == Feature.BOOST
    assert sent(sim) == []


# --- depot schedules -----------------------------------------------------------------------


async def test_add_schedules_replacing_the_future(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """POST with replaceFutureSchedules: the request body, and the ids ChargEye returns."""
    vehicle_id = vehicle_ids(sim)[0]
    now = sim.clock.now()
    future = [s for s in sim.chargeye.schedules_of(vehicle_id) if s.departure > now]
    keep = future[-1]
    arrival = keep.departure + timedelta(hours=11)
    requests = [
        DepotScheduleRequest(
            planned_arrival=keep.arrival,
            planned_departure=keep.departure,
            target_soc=80,
        ),
        DepotScheduleRequest(
            planned_arrival=arrival,
            planned_departure=arrival + timedelta(hours=10),
            target_soc=95.5,
            start_soc=25,
            location_uid=sim.chargeye.locations[1].id,
            recurrence_rule="FREQ=DAILY",
        ),
    ]
    ids, removed = await client.async_add_schedules(
        vehicle_id, requests, replace_future=True
    )
    entry = sent(sim)[-1]
    assert entry.method == "POST"
    assert entry.path == f"/chargeye/vehicles/{vehicle_id}/schedules"
    assert entry.json == {
        "replaceFutureSchedules": True,
        "schedules": [
            {
                "plannedArrivalTime": iso(keep.arrival),
                "plannedDepartureTime": iso(keep.departure),
                "targetSoC": 80,
            },
            {
                "plannedArrivalTime": iso(arrival),
                "plannedDepartureTime": iso(arrival + timedelta(hours=10)),
                "targetSoC": 95.5,
                "startSoC": 25,
                "locationUid": sim.chargeye.locations[1].id,
                "recurrenceRule": "FREQ=DAILY",
            },
        ],
    }
    assert ids[0] == keep.id
    assert sorted(removed) == sorted(s.id for s in future if s.id != keep.id)
    assert keep.target_soc == 80


async def test_add_schedules_without_replacing(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """Without the flag the new schedule is added; an overlap is ChargEye's 409."""
    vehicle_id = vehicle_ids(sim)[0]
    now = sim.clock.now()
    arrival = (now + timedelta(days=1)).replace(hour=10, minute=0)
    request = DepotScheduleRequest(
        planned_arrival=arrival,
        planned_departure=arrival + timedelta(hours=2),
        target_soc=60,
    )
    ids, removed = await client.async_add_schedules(
        vehicle_id, [request], replace_future=False
    )
    assert sent(sim)[-1].json["replaceFutureSchedules"] is False
    assert removed == []
    assert ids[0] in {s.id for s in sim.chargeye.schedules_of(vehicle_id)}
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_add_schedules(vehicle_id, [request], replace_future=False)
    assert err.value.status == 409
    assert err.value.detail == f"schedule overlaps existing schedule {ids[0]}"


async def test_add_schedule_in_the_past_is_refused_by_chargeye(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """The provider's 400 message is kept in the rejection."""
    now = sim.clock.now()
    request = DepotScheduleRequest(
        planned_arrival=now - timedelta(hours=5),
        planned_departure=now - timedelta(hours=1),
        target_soc=60,
    )
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_add_schedules(
            vehicle_ids(sim)[0], [request], replace_future=True
        )
    assert err.value.status == 400
    assert err.value.detail == "schedules[0].plannedDepartureTime is in the past"


async def test_replace_with_no_schedules(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """An empty replace is allowed: it clears the future."""
    vehicle_id = vehicle_ids(sim)[2]
    await client.async_get_fleet()
    advance_to(sim, current_schedule(sim, vehicle_id).departure + timedelta(hours=1))
    await client.async_get_fleet()
    ids, removed = await client.async_add_schedules(vehicle_id, [], replace_future=True)
    assert sent(sim)[-1].json == {"replaceFutureSchedules": True, "schedules": []}
    assert ids == []
    assert removed
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    assert snapshot.error is None
    # No current or next schedule is left ...
    assert snapshot.schedule is None
    assert snapshot.preferences.target_soc is None
    # ... while the previous one (seen before it departed) still counts the last
    # session's energy.
    assert snapshot.state.energy_added_wh is not None


NOW = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (
            lambda c: c.async_add_schedules(
                "v",
                [
                    DepotScheduleRequest(
                        planned_arrival=NOW, planned_departure=NOW, target_soc=80
                    )
                ],
                replace_future=True,
            ),
            DepartureBeforeArrivalError,
        ),
        (
            lambda c: c.async_add_schedules(
                "v",
                [
                    DepotScheduleRequest(
                        planned_arrival=NOW,
                        planned_departure=NOW - timedelta(hours=1),
                        target_soc=80,
                    )
                ],
                replace_future=False,
            ),
            DepartureBeforeArrivalError,
        ),
        (
            lambda c: c.async_add_schedules(
                "v",
                [
                    DepotScheduleRequest(
                        planned_arrival=NOW,
                        planned_departure=NOW + timedelta(hours=1),
                        target_soc=120,
                    )
                ],
                replace_future=True,
            ),
            OutOfRangeError,
        ),
        (
            lambda c: c.async_add_schedules(
                "v",
                [
                    DepotScheduleRequest(
                        planned_arrival=NOW,
                        planned_departure=NOW + timedelta(hours=1),
                        target_soc=80,
                        start_soc=-5,
                    )
                ],
                replace_future=True,
            ),
            OutOfRangeError,
        ),
        (
            lambda c: c.async_add_schedules(
                "v",
                [
                    DepotScheduleRequest(
                        planned_arrival=NOW.replace(tzinfo=None),
                        planned_departure=NOW + timedelta(hours=1),
                        target_soc=80,
                    )
                ],
                replace_future=True,
            ),
            InvalidDatetimeError,
        ),
        (
            lambda c: c.async_add_schedules("v", [], replace_future=False),
            NothingToChangeError,
        ),
        (
            lambda c: c.async_add_schedules(
                "",
                [
                    DepotScheduleRequest(
                        planned_arrival=NOW,
                        planned_departure=NOW + timedelta(hours=1),
                        target_soc=80,
                    )
                ],
                replace_future=True,
            ),
            InvalidVehicleError,
        ),
    ],
)
async def test_invalid_schedule_input_sends_nothing(
    client: ChargEyeClient,
    sim: Simulator,
    call: Any,
    error: type[InvalidInputError],
) -> None:
    """Caller mistakes are InvalidInputError before any request."""
    with pytest.raises(InvalidInputError) as err:
        await call(client)
    assert type(err.value) is error
    assert sent(sim) == []
    assert client.requests_made == 0


# --- tokens --------------------------------------------------------------------------------


async def test_revoked_refresh_token(client: ChargEyeClient, sim: Simulator) -> None:
    """Revoked: the error says the refresh token was refused (the rest: test_contract.py)."""
    await client.async_validate()
    sim.chargeye.revoke_credentials()
    with pytest.raises(ProviderAuthError) as err:
        await client.async_get_fleet()
    assert "refresh token refused" in str(err.value)


async def test_token_without_valid_until_uses_the_jwt_expiry(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """When validUntil is missing the JWT's exp claim says when to renew."""
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider="chargeye",
            path="refreshAccessToken",
            fields=("validUntil",),
        )
    )
    await client.async_validate()
    assert client._token_expires == sim.chargeye.tokens[jwt(sim)]


@pytest.mark.parametrize(
    ("fault", "error", "field"),
    [
        (FaultKind.MALFORMED, ProviderResponseError, "body"),
        (FaultKind.TRUNCATED, ProviderResponseError, "body"),
        (FaultKind.STATUS, ProviderConnectionError, None),
    ],
)
async def test_bad_token_answers(
    client: ChargEyeClient,
    sim: Simulator,
    fault: FaultKind,
    error: type[Exception],
    field: str | None,
) -> None:
    """A garbled or failed token endpoint maps like any other call."""
    sim.faults.add(Fault(kind=fault, provider="chargeye", path="refreshAccessToken"))
    with pytest.raises(error) as err:
        await client.async_validate()
    assert getattr(err.value, "field", None) == field


async def test_token_response_without_token(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """No token in the answer: a response error naming it."""
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider="chargeye",
            path="refreshAccessToken",
            fields=("token", "validUntil"),
        )
    )
    with pytest.raises(ProviderResponseError) as err:
        await client.async_validate()
    assert err.value.field == "token response.token"


# --- errors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepotFault:
    """A way one depot's read fails, and what its vehicles then carry."""

    kind: FaultKind
    error: type[ChargeBridgeError]
    status: int | None = None


DEPOT_FAULTS = {
    "500": DepotFault(FaultKind.STATUS, ProviderConnectionError, 500),
    "timeout": DepotFault(FaultKind.TIMEOUT, ProviderTimeoutError),
    "malformed": DepotFault(FaultKind.MALFORMED, ProviderResponseError),
    "truncated": DepotFault(FaultKind.TRUNCATED, ProviderResponseError),
    "400": DepotFault(FaultKind.STATUS, ProviderRejectedError, 400),
}


@pytest.mark.parametrize("case", DEPOT_FAULTS.values(), ids=DEPOT_FAULTS.keys())
async def test_one_depot_failing_costs_only_its_vehicles(
    sim: Simulator,
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
    case: DepotFault,
) -> None:
    """Each vehicle at the failed depot carries its own error; the other depot is fine.

    They keep the list's name and battery, but no target without a schedule.
    """
    client = new_client(sim, sim_server, client_session)
    client.request_timeout = 0.5
    noord, zuid = (location.id for location in sim.chargeye.locations)
    fault = sim.faults.add(
        Fault(
            kind=case.kind,
            provider="chargeye",
            path=f"/locations/{noord}/schedules$",
            status=case.status,
        )
    )
    fleet = await client.async_get_fleet()
    assert fault.hits == 1
    broken = vehicles_at(sim, noord)
    assert len(broken) == 2
    errors = [fleet.vehicles[vehicle_id].error for vehicle_id in broken]
    assert all(isinstance(error, case.error) for error in errors)
    assert len({id(error) for error in errors}) == len(errors)
    assert fleet.problems == tuple(errors)
    for vehicle_id in broken:
        snapshot = fleet.vehicles[vehicle_id]
        truth = sim.chargeye.fleet.vehicles[vehicle_id]
        assert snapshot.vehicle.name == truth.name
        assert snapshot.state.battery_capacity_wh == truth.battery_wh
        assert not snapshot.vehicle.capabilities.supports(Feature.TARGET_SOC)
    for vehicle_id in vehicles_at(sim, zuid):
        assert_is_the_truth(fleet.vehicles[vehicle_id], sim, energy=False)


async def test_failing_depot_keeps_its_vehicles_target_capability(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """After a good refresh, a failed one keeps the entities (capabilities) it had."""
    noord = sim.chargeye.locations[0].id
    await client.async_get_fleet()
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            provider="chargeye",
            path=f"/locations/{noord}/schedules$",
        )
    )
    fleet = await client.async_get_fleet()
    for vehicle_id in vehicles_at(sim, noord):
        assert fleet.vehicles[vehicle_id].error is not None
        assert fleet.vehicles[vehicle_id].vehicle.capabilities.supports(
            Feature.TARGET_SOC
        )


async def test_unreadable_schedule_costs_its_vehicle(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """A schedule that cannot be read costs its vehicle (its state would be a guess)."""
    noord = sim.chargeye.locations[0].id
    broken, other = vehicles_at(sim, noord)
    schedule = current_schedule(sim, broken)
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider="chargeye",
            path=f"/locations/{noord}/schedules$",
            vehicle_id=schedule.id,
            fields=("id",),
        )
    )
    fleet = await client.async_get_fleet()
    error = fleet.vehicles[broken].error
    assert isinstance(error, ProviderResponseError)
    assert error.field is not None
    assert re.fullmatch(
        rf"location schedules\[{noord}\]\.schedules\[\d+\]\.id", error.field
    )
    assert fleet.problems == (error,)
    assert_is_the_truth(fleet.vehicles[other], sim, energy=False)


async def test_broken_plan_costs_only_if_it_is_read(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """Only the chosen schedules' plans are read: a later one's broken plan costs nothing."""
    noord = sim.chargeye.locations[0].id
    vehicle_id = vehicles_at(sim, noord)[0]
    now = sim.clock.now()
    current, later = [
        s for s in sim.chargeye.schedules_of(vehicle_id) if s.departure >= now
    ][:2]
    assert current.id == current_schedule(sim, vehicle_id).id
    for broken, costs in ((later, False), (current, True)):
        fault = sim.faults.add(
            Fault(
                kind=FaultKind.UNKNOWN_ENUM,
                provider="chargeye",
                path=f"/locations/{noord}/schedules$",
                vehicle_id=broken.id,
                fields=("plan",),
            )
        )
        fleet = await client.async_get_fleet()
        assert fault.hits == 1
        error = fleet.vehicles[vehicle_id].error
        if costs:
            assert isinstance(error, ProviderResponseError)
            assert error.field is not None
            assert error.field.endswith(".plan")
            assert fleet.problems == (error,)
        else:
            assert error is None
            assert fleet.problems == ()
            assert_is_the_truth(fleet.vehicles[vehicle_id], sim, energy=False)
        sim.faults.remove(fault)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_depot_read_falls_back_to_each_vehicle(
    client: ChargEyeClient, sim: Simulator, status: int
) -> None:
    """A refused depot read (401 or 403): the vehicles are read per vehicle, no reauth.

    The document answers 401 when "the user has no permission". The values are the same;
    the refusal is remembered for an hour; then the depot read is tried again.
    """
    sim.chargeye.refused_location_schedules = status
    ids = vehicle_ids(sim)
    depots = depots_named(sim)
    # A 401 is answered as any 401: the token renewed once, the read tried again.
    refused_reads = [depot_read(d) for d in depots] * (2 if status == 401 else 1)

    def api_calls() -> list[tuple[str, str]]:
        """Return the calls besides token renewals, sorted."""
        return sorted(call for call in calls(sim) if call != ("GET", TOKEN_PATH))

    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    for snapshot in fleet.vehicles.values():
        assert_is_the_truth(snapshot, sim)
    upcoming = [("GET", f"/vehicles/{v}/schedules/upcoming") for v in ids]
    assert api_calls() == sorted([("GET", "/vehicles"), *refused_reads, *upcoming])
    tokens = calls(sim).count(("GET", TOKEN_PATH))
    assert tokens == 1 if status == 403 else tokens > 1
    sim.requests.clear()
    await client.async_get_fleet()
    assert api_calls() == sorted([("GET", "/vehicles"), *upcoming])
    sim.advance(3601)
    sim.requests.clear()
    await client.async_get_fleet()
    assert api_calls() == sorted([("GET", "/vehicles"), *refused_reads, *upcoming])
    sim.chargeye.refused_location_schedules = None
    sim.advance(3601)
    sim.requests.clear()
    fleet = await client.async_get_fleet()
    assert sorted(calls(sim)) == sorted(
        [("GET", "/vehicles"), *(depot_read(d) for d in depots)]
    )
    for snapshot in fleet.vehicles.values():
        assert_is_the_truth(snapshot, sim)


@pytest.mark.parametrize("status", [404, 405])
async def test_depot_read_not_offered_falls_back_for_that_depot(
    client: ChargEyeClient, sim: Simulator, status: int
) -> None:
    """404 or 405 from one depot's read: only its vehicles are read per vehicle."""
    noord, zuid = (location.id for location in sim.chargeye.locations)
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            provider="chargeye",
            path=f"/locations/{noord}/schedules$",
            status=status,
        )
    )
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    for snapshot in fleet.vehicles.values():
        assert_is_the_truth(snapshot, sim, energy=False)
    assert sorted(calls(sim)[2:]) == sorted(
        [
            depot_read(noord),
            depot_read(zuid),
            *(
                ("GET", f"/vehicles/{v}/schedules/upcoming")
                for v in vehicles_at(sim, noord)
            ),
        ]
    )


async def test_depot_list_refused_reads_depotless_vehicles_each(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """A vehicle naming no depot, with GET /locations refused: read per vehicle."""
    vehicle_id = vehicle_ids(sim)[0]
    sim.chargeye.records[vehicle_id].location_uid = None
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS, provider="chargeye", path="/locations$", status=403
        )
    )
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert_is_the_truth(fleet.vehicles[vehicle_id], sim)
    assert ("GET", f"/vehicles/{vehicle_id}/schedules/upcoming") in calls(sim)


async def test_depot_list_failing_costs_depotless_vehicles(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """A vehicle naming no depot, with GET /locations failing: that vehicle's error."""
    depotless, *others = vehicle_ids(sim)
    sim.chargeye.records[depotless].location_uid = None
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS, provider="chargeye", path="/locations$", status=502
        )
    )
    fleet = await client.async_get_fleet()
    assert isinstance(fleet.vehicles[depotless].error, ProviderConnectionError)
    for vehicle_id in others:
        assert_is_the_truth(fleet.vehicles[vehicle_id], sim, energy=False)


async def test_rate_limit_on_a_depot_read_fails_the_refresh(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """429 concerns the whole account, even when one depot's read meets it."""
    noord = sim.chargeye.locations[0].id
    sim.faults.add(
        Fault(
            kind=FaultKind.RATE_LIMIT,
            provider="chargeye",
            path=f"/locations/{noord}/schedules$",
            retry_after="120",
        )
    )
    with pytest.raises(ProviderRateLimitError) as err:
        await client.async_get_fleet()
    assert err.value.retry_after == 120


async def test_unreadable_list_items(client: ChargEyeClient, sim: Simulator) -> None:
    """An item without an id is left out; a bad value costs only that value."""
    ids = vehicle_ids(sim)
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider="chargeye",
            path="/vehicles$",
            vehicle_id=ids[0],
            fields=("id",),
        )
    )
    sim.faults.add(
        Fault(
            kind=FaultKind.UNKNOWN_ENUM,
            provider="chargeye",
            path="/vehicles$",
            vehicle_id=ids[1],
            fields=("fullChargeEnergykWh",),
        )
    )
    fleet = await client.async_get_fleet()
    assert ids[0] not in fleet.vehicles
    bad = fleet.vehicles[ids[1]]
    assert bad.error is None
    assert bad.state.battery_capacity_wh is None
    assert fleet.vehicles[ids[2]].error is None
    assert fleet.vehicles[ids[2]].state.battery_capacity_wh is not None
    unreadable, value = fleet.problems
    assert type(unreadable) is ProviderResponseError
    assert unreadable.field == "vehicles response.vehicles[0].vehicle.id"
    assert isinstance(value, ProviderValueError)
    assert value.field == "vehicles response.vehicles[1].vehicle.fullChargeEnergykWh"
    assert value.vehicle_id == ids[1]
    depots = {
        depot
        for vehicle_id in ids[1:3]
        for depot in sim.chargeye.records[vehicle_id].locations()
    }
    assert sorted(calls(sim)[2:]) == sorted(depot_read(depot) for depot in depots)


async def test_missing_optional_fields_give_none(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """Optional fields missing: None; the plan still says plugged in, energy added.

    That they are no error, the name falls back to the id: test_contract.py.
    """
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider="chargeye",
            fields=PROFILES["chargeye"].optional_fields,
        )
    )
    fleet = await client.async_get_fleet()
    for vehicle_id, snapshot in fleet.vehicles.items():
        assert snapshot.vehicle.model is None
        assert snapshot.vehicle.vin is None
        assert snapshot.state.battery_capacity_wh is None
        assert snapshot.preferences.smart_charging is None
        assert snapshot.preferences.target_soc is None
        assert snapshot.state.charging_status is ChargingStatus.PLUGGED_IN
        assert snapshot.state.energy_added_wh == pytest.approx(
            sim.chargeye.fleet.vehicles[vehicle_id].session_energy_wh, abs=1
        )


@pytest.mark.parametrize("bad", ["eighty", {}, True])
async def test_unreadable_schedule_value_costs_that_value_only(
    client: ChargEyeClient, sim: Simulator, bad: Any
) -> None:
    """A depot read's targetSoC of the wrong type: target unknown, the rest as before."""
    before = await client.async_get_fleet()
    sim.faults.add(
        Fault(
            kind=FaultKind.REPLACE_VALUE,
            provider="chargeye",
            path=r"/locations/.*/schedules$",
            fields=("targetSoC",),
            value=bad,
        )
    )
    fleet = await client.async_get_fleet()
    assert list(fleet.vehicles) == list(before.vehicles)
    faults = [p for p in fleet.problems if isinstance(p, ProviderValueError)]
    assert {fault.vehicle_id for fault in faults} == set(fleet.vehicles)
    assert all(fault.field.endswith(".targetSoC") for fault in faults)
    assert all(fault.provider == "chargeye" for fault in faults)
    for vehicle_id, snapshot in fleet.vehicles.items():
        assert snapshot.error is None
        assert snapshot.preferences.target_soc is None
        was = before.vehicles[vehicle_id]
        # "Complete" needs the target; the rest of the state does not.
        assert snapshot.state.state_of_charge == was.state.state_of_charge
        assert snapshot.state.plugged_in is was.state.plugged_in
        assert snapshot.state.charging is was.state.charging
        assert snapshot.schedule is not None and was.schedule is not None
        assert snapshot.schedule.next_departure == was.schedule.next_departure
