"""ChargEyeClient against the ChargEye simulator over real loopback HTTP.

What every provider client does (errors, tokens, secrets, faults, parsers) is tested once
for all in tests/api/test_contract.py; this module tests what is ChargEye's own.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, time, timedelta
from typing import Any

import aiohttp
import pytest

from custom_components.chargebridge.api import (
    Account,
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
    ProviderRejectedError,
    ProviderResponseError,
    ProviderValueError,
    UnsupportedError,
    UnsupportedFeatureError,
    VehicleSnapshot,
)
from custom_components.chargebridge.api.chargeye import (
    BASE_FEATURES,
    ChargEyeClient,
    identity_claim,
    jwt_claims,
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
from tests.simulator.chargeye import SimSchedule, iso

REFRESH = "demo-chargeye-refresh-token"
PREFIX = "/chargeye"


@pytest.fixture
def client(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> ChargEyeClient:
    """Return a client on the simulator, on the simulated clock."""
    return PROVIDERS["chargeye"](
        session=client_session,
        api_url=sim_server.api_url("chargeye"),
        refresh_token=REFRESH,
        clock=sim.clock.now,
    )


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


# --- fleet ---------------------------------------------------------------------------------


async def test_fleet_requests(client: ChargEyeClient, sim: Simulator) -> None:
    """1 + N requests (+ the token once): the list, then each vehicle's upcoming schedule."""
    fleet = await client.async_get_fleet()
    ids = vehicle_ids(sim)
    assert list(fleet.vehicles) == ids
    assert fleet.problems == ()
    assert calls(sim)[:2] == [("GET", "/auth/refreshAccessToken"), ("GET", "/vehicles")]
    assert sorted(calls(sim)[2:]) == sorted(
        ("GET", f"/vehicles/{vehicle_id}/schedules/upcoming") for vehicle_id in ids
    )
    token = jwt(sim)
    for entry in sent(sim)[1:]:
        assert entry.headers["Authorization"] == f"Bearer {token}"
        assert dict(entry.query) == {}
        assert entry.body == b""
    sim.requests.clear()
    await client.async_get_fleet()
    assert len(sent(sim)) == 1 + len(ids)
    assert ("GET", "/auth/refreshAccessToken") not in calls(sim)


@pytest.mark.parametrize("hours", [0, 3, 14, 20.25, 23.5, 30])
async def test_fleet_state_is_what_the_plan_says(
    client: ChargEyeClient, sim: Simulator, hours: float
) -> None:
    """At any time the client derives the same state the simulated vehicles have."""
    sim.advance(hours * 3600)
    fleet = await client.async_get_fleet()
    for vehicle_id, snapshot in fleet.vehicles.items():
        truth = sim.chargeye.fleet.vehicles[vehicle_id]
        state = snapshot.state
        assert snapshot.error is None
        assert state.charging_status == ChargingStatus(truth.status)
        assert state.plugged_in is truth.plugged_in
        assert state.charging is truth.charging
        assert state.charge_power_w == pytest.approx(truth.charge_power_w)
        assert state.battery_capacity_wh == truth.battery_wh
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
    assert snapshot.vehicle.model == f"{truth.make} {truth.model}"
    assert snapshot.vehicle.vin == truth.vin
    assert snapshot.vehicle.make is None
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


async def test_fleet_on_the_road(client: ChargEyeClient, sim: Simulator) -> None:
    """Outside every window: disconnected, no soc; energy is the last session's."""
    vehicle_id = vehicle_ids(sim)[0]
    previous = current_schedule(sim, vehicle_id)
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
    assert snapshot.schedule is not None
    assert (
        snapshot.schedule.next_departure == current_schedule(sim, vehicle_id).departure
    )


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
    ids, removed = await client.async_add_schedules(vehicle_id, [], replace_future=True)
    assert sent(sim)[-1].json == {"replaceFutureSchedules": True, "schedules": []}
    assert ids == []
    assert removed
    snapshot = (await client.async_get_fleet()).vehicles[vehicle_id]
    assert snapshot.error is None
    # No current or next schedule is left ...
    assert snapshot.schedule is None
    assert snapshot.preferences.target_soc is None
    # ... while the previous one still counts the last session's energy.
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


async def test_vehicles_failing_keep_what_the_list_said(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """Two vehicles whose schedule calls fail differently: each carries its error.

    They keep the list's name and battery, but no target without a schedule; the rest
    are fine (the single failure of every kind: test_contract.py).
    """
    ids = vehicle_ids(sim)
    sim.faults.add(
        Fault(kind=FaultKind.STATUS, provider="chargeye", vehicle_id=ids[0], status=503)
    )
    sim.faults.add(
        Fault(kind=FaultKind.MALFORMED, provider="chargeye", vehicle_id=ids[1])
    )
    fleet = await client.async_get_fleet()
    assert isinstance(fleet.vehicles[ids[0]].error, ProviderConnectionError)
    assert isinstance(fleet.vehicles[ids[1]].error, ProviderResponseError)
    assert fleet.vehicles[ids[2]].error is None
    assert set(fleet.problems) == {
        fleet.vehicles[ids[0]].error,
        fleet.vehicles[ids[1]].error,
    }
    broken = fleet.vehicles[ids[0]]
    assert broken.vehicle.name == sim.chargeye.fleet.vehicles[ids[0]].name
    assert (
        broken.state.battery_capacity_wh
        == sim.chargeye.fleet.vehicles[ids[0]].battery_wh
    )
    assert broken.vehicle.capabilities.supports(Feature.TARGET_SOC) is False
    assert fleet.vehicles[ids[2]].state.charging_status is not ChargingStatus.UNKNOWN


async def test_failing_vehicle_keeps_its_target_capability(
    client: ChargEyeClient, sim: Simulator
) -> None:
    """After a good refresh, a failed one keeps the entities (capabilities) it had."""
    ids = vehicle_ids(sim)
    await client.async_get_fleet()
    sim.faults.add(Fault(kind=FaultKind.STATUS, provider="chargeye", vehicle_id=ids[0]))
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[ids[0]].error is not None
    assert fleet.vehicles[ids[0]].vehicle.capabilities.supports(Feature.TARGET_SOC)


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
    for vehicle_id in ids[1:3]:
        path = f"/vehicles/{vehicle_id}/schedules/upcoming"
        assert calls(sim).count(("GET", path)) == 1


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
