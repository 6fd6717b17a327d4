"""The Jedlix client against the simulator over real loopback HTTP.

What every provider client does (errors, tokens, secrets, faults, parsers) is tested once
for all in tests/api/test_contract.py; this module tests what is Jedlix's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import copy
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
import json
from pathlib import Path
from typing import Any
import uuid

import aiohttp
import pytest

from custom_components.chargebridge.api import (
    Capabilities,
    ChargeBridgeError,
    ChargingStatus,
    Feature,
    InvalidInputError,
    NothingToChangeError,
    OutOfRangeError,
    PreferencesUpdate,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderNotice,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    ProviderValueError,
    UnsupportedError,
    UnsupportedFeatureError,
    Vehicle,
    VehicleSnapshot,
    Weekday,
    jedlix as jedlix_module,
)
from custom_components.chargebridge.api.base import Payload
from custom_components.chargebridge.api.jedlix import (
    CHARGE_SETTINGS_MAX_AGE,
    CLIENT_NAME,
    CLIENT_VERSION,
    DEFAULT_TOKEN_URL,
    MESSAGES_MAX_AGE,
    JedlixClient,
    merged_charge_settings,
    next_departure,
    notice_code,
    parse_charge_settings,
    parse_message,
    parse_page,
    parse_session,
    parse_token,
    parse_vehicle,
)
from custom_components.chargebridge.api.registry import PROVIDERS
from tests.api.clients import client_factory
from tests.simulator import (
    PROFILES,
    Fault,
    FaultKind,
    Simulator,
    SimulatorServer,
    SimVehicle,
)

PATH = "/jedlix/api/v2"
TOKEN_PATH = "/jedlix-auth/oauth/token"
MANIFEST = (
    Path(__file__).parents[2] / "custom_components" / "chargebridge" / "manifest.json"
)

type ClientFactory = Callable[..., JedlixClient]


@pytest.fixture
def make_client(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> ClientFactory:
    """Build clients for the simulated account (keyword arguments override the config)."""
    return client_factory(JedlixClient, sim, sim_server, client_session)


@pytest.fixture
def client(make_client: ClientFactory) -> JedlixClient:
    """Return a client with the demo credentials and the simulator's clock."""
    return make_client()


def _user_path(sim: Simulator) -> str:
    return f"{PATH}/users/{sim.jedlix.user_id}"


def _car(sim: Simulator, index: int = 0) -> SimVehicle:
    vehicle = list(sim.jedlix.fleet)[index]
    vehicle.routine = False
    return vehicle


def _plugged(sim: Simulator, vehicle: SimVehicle) -> SimVehicle:
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    vehicle.soc = 40.0
    vehicle.target_soc = 80
    vehicle.smart_charging = True
    sim.jedlix.sync()
    return vehicle


def _calls(sim: Simulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sim.requests.for_provider("jedlix")]


async def _snapshot(client: JedlixClient, vehicle_id: str) -> VehicleSnapshot:
    return (await client.async_get_fleet()).vehicles[vehicle_id]


# --- configuration -----------------------------------------------------------------------


def test_class_facts() -> None:
    """Registry entry, defaults, secret fields, and the version sent to Jedlix."""
    assert PROVIDERS["jedlix"] is JedlixClient
    assert JedlixClient.default_api_url is None
    assert JedlixClient.secret_fields == frozenset({"api_key", "client_secret"})
    assert JedlixClient.uses_access_token
    assert JedlixClient.default_scan_interval == timedelta(minutes=5)
    assert JedlixClient.min_scan_interval == timedelta(minutes=1)
    assert DEFAULT_TOKEN_URL == "https://jedlix-b2e.eu.auth0.com/oauth/token"
    assert json.loads(MANIFEST.read_text())["version"] == CLIENT_VERSION


async def test_defaults_and_repr(client_session: aiohttp.ClientSession) -> None:
    """Token URL defaults to Auth0, audience to the API URL; repr hides secrets."""
    client = PROVIDERS["jedlix"](
        session=client_session,
        api_url="https://acme.jedlix.com/",
        api_key="key-123",
        client_id="client-1",
        client_secret="secret-456",
        user_id="user-1",
    )
    assert client.token_url == DEFAULT_TOKEN_URL
    assert client.api_url == "https://acme.jedlix.com"
    assert client.effective_audience == "https://acme.jedlix.com"
    assert replace(client, audience="https://aud").effective_audience == "https://aud"
    assert replace(client, audience="").effective_audience == "https://acme.jedlix.com"
    assert replace(client, token_url="").token_url == DEFAULT_TOKEN_URL
    text = repr(client)
    assert "key-123" not in text
    assert "secret-456" not in text
    assert "client-1" in text


# --- validate and the exact requests -----------------------------------------------------


async def test_validate_sends_the_documented_requests(
    sim: Simulator, sim_server: SimulatorServer, client: JedlixClient
) -> None:
    """Token by client credentials (form), then the vehicle list with every header."""
    account = await client.async_validate()
    assert account.unique_id == "127.0.0.1_demo-jedlix-user"
    assert account.title == "Jedlix"

    token_request, list_request = sim.requests.for_provider("jedlix")
    assert token_request.method == "POST"
    assert token_request.path == TOKEN_PATH
    assert dict(token_request.query) == {}
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_request.form == {
        "grant_type": "client_credentials",
        "client_id": "demo-jedlix-client",
        "client_secret": "demo-jedlix-secret",
        "audience": sim_server.api_url("jedlix"),
    }
    assert "Authorization" not in token_request.headers
    assert "ApiKey" not in token_request.headers

    (token,) = sim.jedlix.tokens
    assert list_request.method == "GET"
    assert list_request.path == f"{_user_path(sim)}/vehicles"
    assert dict(list_request.query) == {}
    assert list_request.body == b""
    headers = list_request.headers
    assert headers["Authorization"] == f"Bearer {token}"
    assert headers["ApiKey"] == "demo-jedlix-api-key"
    assert headers["Jedlix-ClientName"] == CLIENT_NAME == "ChargeBridge"
    assert headers["Jedlix-ClientVersion"] == CLIENT_VERSION
    assert uuid.UUID(headers["Jedlix-CorrelationId"]).version == 4


async def test_correlation_id_is_new_per_request(
    sim: Simulator, client: JedlixClient
) -> None:
    """Every API call carries its own correlation id."""
    await client.async_get_fleet()
    ids = [
        r.headers["Jedlix-CorrelationId"]
        for r in sim.requests.for_provider("jedlix")
        if r.path.startswith(PATH)
    ]
    assert len(ids) >= 3
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"client_secret": "not-the-secret"}, "401"),
        ({"client_id": "not-the-client"}, "401"),
        ({"audience": "https://other.jedlix.com"}, "403"),
    ],
)
async def test_validate_refused_token(
    sim: Simulator, make_client: ClientFactory, overrides: dict[str, str], status: str
) -> None:
    """A refused token request is an auth error; nothing else is sent."""
    client = make_client(**overrides)
    with pytest.raises(ProviderAuthError, match=status) as err:
        await client.async_validate()
    assert "not-the-secret" not in str(err.value)
    assert _calls(sim) == [("POST", TOKEN_PATH)]


async def test_token_endpoint_400_is_auth_error(
    sim: Simulator, client: JedlixClient
) -> None:
    """Any refusal at the token endpoint means the configured credentials do not work."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=400, path="oauth/token"))
    with pytest.raises(ProviderAuthError, match="token request refused \\(400\\)"):
        await client.async_validate()


async def test_validate_wrong_api_key(
    sim: Simulator, make_client: ClientFactory
) -> None:
    """A bad API key: 401, the token is renewed once, then ProviderAuthError."""
    client = make_client(api_key="not-the-key")
    with pytest.raises(ProviderAuthError, match="401") as err:
        await client.async_validate()
    assert "not-the-key" not in str(err.value)
    vehicles = f"{_user_path(sim)}/vehicles"
    assert _calls(sim) == [
        ("POST", TOKEN_PATH),
        ("GET", vehicles),
        ("POST", TOKEN_PATH),
        ("GET", vehicles),
    ]


async def test_validate_unknown_user(
    sim: Simulator, make_client: ClientFactory
) -> None:
    """A user id the tenant does not know: 404 kept with Jedlix's detail."""
    client = make_client(user_id="someone-else")
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_validate()
    assert err.value.status == 404
    assert err.value.detail == "User not found."


# --- fleet -------------------------------------------------------------------------------


async def test_fleet_maps_the_simulated_cars(
    sim: Simulator, client: JedlixClient
) -> None:
    """Each car's state, preferences, schedule and capabilities match the truth."""
    sim.sync()
    statuses = {
        "charging": ChargingStatus.CHARGING,
        "plugged_in": ChargingStatus.PLUGGED_IN,
        "complete": ChargingStatus.COMPLETE,
        "disconnected": ChargingStatus.DISCONNECTED,
    }
    fleet = await client.async_get_fleet()
    assert set(fleet.vehicles) == set(sim.jedlix.fleet.vehicles)
    assert fleet.problems == ()
    assert fleet.notices == ()
    for vehicle_id, snapshot in fleet.vehicles.items():
        truth = sim.jedlix.fleet.vehicles[vehicle_id]
        vehicle = snapshot.vehicle
        assert snapshot.error is None
        assert vehicle.name == f"{truth.make} {truth.model}"
        assert vehicle.make == truth.make
        assert vehicle.model == f"{truth.model} {truth.battery_wh / 1000:g} kWh"
        assert vehicle.link_broken is False
        assert vehicle.capabilities == Capabilities(
            features=frozenset(
                {
                    Feature.STATE_OF_CHARGE,
                    Feature.RANGE,
                    Feature.CHARGING_STATUS,
                    Feature.PLUGGED_IN,
                    Feature.CHARGING,
                    Feature.LAST_UPDATE,
                    Feature.TARGET_SOC,
                    Feature.WEEKDAY_READY_TIMES,
                    Feature.NEXT_DEPARTURE,
                    Feature.SMART_CHARGING,
                    Feature.PROVIDER_MESSAGE,
                    Feature.BOOST,
                }
            ),
            target_soc_min=50,
            target_soc_max=100,
        )
        state = snapshot.state
        assert state.state_of_charge == round(truth.soc)
        assert state.range_km == round(truth.range_km)
        assert state.charging_status == statuses[truth.status]
        assert state.plugged_in is truth.plugged_in
        assert state.charging is truth.charging
        assert state.updated_at == sim.clock.now()
        assert state.charge_power_w is None
        assert state.energy_added_wh is None
        prefs = snapshot.preferences
        assert prefs.smart_charging is truth.smart_charging
        assert prefs.target_soc == truth.target_soc
        assert prefs.minimal_soc is None
        assert prefs.ready_time is None
        assert prefs.boost is None
        expected_times = {
            day: truth.weekday_ready_times.get(day.name, truth.ready_time)
            for day in Weekday
        }
        assert {
            day: format(ready, "%H:%M")
            for day, ready in prefs.weekday_ready_times.items()
        } == {day: value for day, value in expected_times.items() if value is not None}
        assert snapshot.schedule is not None
        assert snapshot.schedule.next_departure == truth.next_ready_time(
            sim.clock.now(), sim.timezone
        )


async def test_requests_per_refresh(sim: Simulator, client: JedlixClient) -> None:
    """1 + N + 1 the first time; then 1; settings and messages again when stale."""
    count = len(sim.jedlix.fleet)
    await client.async_get_fleet()
    user = _user_path(sim)
    assert sorted(_calls(sim)) == sorted(
        [("POST", TOKEN_PATH), ("GET", f"{user}/vehicles"), ("GET", f"{user}/messages")]
        + [
            ("GET", f"{user}/vehicles/{vid}/charge-settings")
            for vid in sim.jedlix.fleet.vehicles
        ]
    )
    messages = sim.requests.last(path="/messages$")
    assert dict(messages.query) == {
        "includeDismissed": "false",
        "pageSize": "100",
        "pageIndex": "1",
    }
    assert client.requests_made == count + 3

    sim.requests.clear()
    sim.advance(60)
    await client.async_get_fleet()
    assert _calls(sim) == [("GET", f"{user}/vehicles")]

    sim.requests.clear()
    sim.advance(MESSAGES_MAX_AGE.total_seconds())
    await client.async_get_fleet()
    assert _calls(sim) == [("GET", f"{user}/vehicles"), ("GET", f"{user}/messages")]

    sim.requests.clear()
    sim.advance(CHARGE_SETTINGS_MAX_AGE.total_seconds())
    await client.async_get_fleet()
    assert sim.requests.count(path="/charge-settings$") == count
    assert sim.requests.count(path="/vehicles$") == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Charging", (ChargingStatus.CHARGING, True, True)),
        ("charging", (ChargingStatus.CHARGING, True, True)),
        ("Complete", (ChargingStatus.COMPLETE, True, False)),
        ("Stopped", (ChargingStatus.PLUGGED_IN, True, False)),
        ("STOPPED", (ChargingStatus.PLUGGED_IN, True, False)),
        ("Disconnected", (ChargingStatus.DISCONNECTED, False, False)),
        ("Preconditioning", (ChargingStatus.UNKNOWN, None, None)),
    ],
)
async def test_charge_state_enum(
    sim: Simulator,
    client: JedlixClient,
    value: str,
    expected: tuple[ChargingStatus, bool | None, bool | None],
) -> None:
    """Charge states compare case-insensitively; new ones are UNKNOWN, never a crash."""
    vehicle = _car(sim)
    sim.jedlix.set_status(vehicle.id, value)
    state = (await _snapshot(client, vehicle.id)).state
    assert (state.charging_status, state.plugged_in, state.charging) == expected


async def test_unknown_capabilities_ignored(
    sim: Simulator, client: JedlixClient
) -> None:
    """Capability strings Jedlix adds later are ignored."""
    vehicle = _car(sim)
    sim.jedlix.set_capabilities(
        vehicle.id, ["stateOfCharge", "SOMETHING_NEW", "teleport"]
    )
    snapshot = await _snapshot(client, vehicle.id)
    assert snapshot.vehicle.capabilities.features == {
        Feature.STATE_OF_CHARGE,
        Feature.SMART_CHARGING,
        Feature.PROVIDER_MESSAGE,
        Feature.BOOST,
    }


async def test_missing_optional_fields_are_none(
    sim: Simulator, client: JedlixClient
) -> None:
    """Missing battery level, range, date, details and flags: None, no range entity.

    That they are no error, the name falls back to the id: test_contract.py.
    """
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            path="/vehicles$",
            fields=PROFILES["jedlix"].optional_fields,
        )
    )
    fleet = await client.async_get_fleet()
    for snapshot in fleet.vehicles.values():
        assert snapshot.vehicle.make is None
        assert snapshot.vehicle.link_broken is False
        assert snapshot.state.state_of_charge is None
        assert snapshot.state.range_km is None
        assert snapshot.state.updated_at is None
        assert snapshot.state.charging_status is not ChargingStatus.UNKNOWN
        assert not snapshot.vehicle.capabilities.supports(Feature.RANGE)
        assert not snapshot.vehicle.capabilities.supports(Feature.BOOST)


async def test_no_charge_state_object(sim: Simulator, client: JedlixClient) -> None:
    """A car without chargeState: an empty VehicleState."""
    sim.faults.add(
        Fault(kind=FaultKind.MISSING_FIELDS, path="/vehicles$", fields=("chargeState",))
    )
    fleet = await client.async_get_fleet()
    for snapshot in fleet.vehicles.values():
        assert snapshot.state.charging_status is ChargingStatus.UNKNOWN
        assert snapshot.state.plugged_in is None


async def test_capability_mapping(sim: Simulator, client: JedlixClient) -> None:
    """Each Jedlix capability gives its features; boost only when connectable."""
    first, second, third = (_car(sim, index) for index in range(3))
    sim.jedlix.set_capabilities(first.id, ["chargeState"])
    sim.jedlix.set_capabilities(second.id, ["desiredStateOfCharge", "departureTimes"])
    sim.jedlix.set_capabilities(third.id, [])
    sim.jedlix.set_connectable(third.id, False)
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[first.id].vehicle.capabilities.features == {
        Feature.CHARGING_STATUS,
        Feature.PLUGGED_IN,
        Feature.CHARGING,
        Feature.LAST_UPDATE,
        Feature.RANGE,
        Feature.SMART_CHARGING,
        Feature.PROVIDER_MESSAGE,
        Feature.BOOST,
    }
    assert fleet.vehicles[second.id].vehicle.capabilities.features == {
        Feature.TARGET_SOC,
        Feature.WEEKDAY_READY_TIMES,
        Feature.NEXT_DEPARTURE,
        Feature.SMART_CHARGING,
        Feature.PROVIDER_MESSAGE,
        Feature.BOOST,
    }
    assert fleet.vehicles[third.id].vehicle.capabilities.features == {
        Feature.SMART_CHARGING,
        Feature.PROVIDER_MESSAGE,
    }


async def test_broken_link_is_a_notice(sim: Simulator, client: JedlixClient) -> None:
    """IsConnected false: link_broken and a car_link_broken notice for that car."""
    vehicle = _car(sim)
    sim.jedlix.set_connected(vehicle.id, False)
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[vehicle.id].vehicle.link_broken is True
    assert fleet.notices == (
        ProviderNotice(code="car_link_broken", vehicle_id=vehicle.id),
    )


async def test_failed_charge_settings_keep_the_state_and_are_read_again(
    sim: Simulator, client: JedlixClient
) -> None:
    """One car's charge settings fail: it keeps the list's state, no preferences.

    The next refresh reads just its settings again (failures of every kind, one vehicle:
    test_contract.py).
    """
    failing = _car(sim, 1)
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            status=503,
            vehicle_id=failing.id,
            path="charge-settings",
        )
    )
    fleet = await client.async_get_fleet()
    assert len(fleet.problems) == 1
    error = fleet.vehicles[failing.id].error
    assert isinstance(error, ProviderConnectionError)
    assert fleet.problems == (error,)
    assert fleet.vehicles[failing.id].state.state_of_charge == round(failing.soc)
    assert fleet.vehicles[failing.id].preferences.target_soc is None
    for vehicle_id, snapshot in fleet.vehicles.items():
        if vehicle_id != failing.id:
            assert snapshot.error is None
            assert snapshot.preferences.target_soc is not None

    sim.faults.clear()
    sim.requests.clear()
    sim.advance(60)
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert fleet.vehicles[failing.id].preferences.target_soc == failing.target_soc
    assert sim.requests.count(path="/charge-settings$") == 1


async def test_unreadable_charge_setting_costs_that_setting(
    sim: Simulator, client: JedlixClient
) -> None:
    """A charge setting that cannot be read is None; the car and the rest stay.

    Its fault lasts as long as the cached settings do: reported on every refresh until
    the settings are read again (else it would read "resolved" in between).
    """
    car = _car(sim, 0)
    before = await client.async_get_fleet()
    sim.advance(CHARGE_SETTINGS_MAX_AGE.total_seconds())
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.REPLACE_VALUE,
            path="/charge-settings$",
            vehicle_id=car.id,
            fields=("desiredBatteryLevel",),
            value="eighty",
        )
    )
    fleet = await client.async_get_fleet()
    [problem] = fleet.problems
    assert isinstance(problem, ProviderValueError)
    assert problem.field == f"vehicles[{car.id}].chargeSettings.desiredBatteryLevel"
    assert problem.vehicle_id == car.id
    snapshot = fleet.vehicles[car.id]
    assert snapshot.error is None
    assert snapshot.preferences == replace(
        before.vehicles[car.id].preferences, target_soc=None
    )
    assert snapshot.vehicle == before.vehicles[car.id].vehicle

    sim.advance(60)
    sim.requests.clear()
    fleet = await client.async_get_fleet()
    assert sim.requests.count(path="/charge-settings$") == 0
    [again] = fleet.problems
    assert isinstance(again, ProviderValueError)
    assert (again.field, again.vehicle_id) == (problem.field, car.id)

    sim.faults.remove(fault)
    sim.advance(CHARGE_SETTINGS_MAX_AGE.total_seconds())
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert fleet.vehicles[car.id].preferences.target_soc == car.target_soc


async def test_unparsable_vehicle_items(sim: Simulator, client: JedlixClient) -> None:
    """An item without an id is left out; one with a bad field keeps its id and an error."""
    no_id, bad_details, fine = (_car(sim, index) for index in range(3))
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            path="/vehicles$",
            vehicle_id=no_id.id,
            fields=("id",),
        )
    )
    sim.faults.add(
        Fault(
            kind=FaultKind.UNKNOWN_ENUM,
            path="/vehicles$",
            vehicle_id=bad_details.id,
            fields=("details",),
        )
    )
    fleet = await client.async_get_fleet()
    assert set(fleet.vehicles) == {bad_details.id, fine.id}
    assert len(fleet.problems) == 2
    assert all(isinstance(p, ProviderResponseError) for p in fleet.problems)
    fields = {p.field for p in fleet.problems if isinstance(p, ProviderResponseError)}
    assert fields == {"vehicles[0].id", "vehicles[1].details"}
    broken = fleet.vehicles[bad_details.id]
    assert broken.error is fleet.problems[1]
    assert broken.vehicle.capabilities.features == frozenset()
    assert fleet.vehicles[fine.id].error is None


async def test_removed_vehicle_drops_from_cache(
    sim: Simulator, client: JedlixClient
) -> None:
    """A car gone from the list is gone from the fleet; a new one is read at once."""
    await client.async_get_fleet()
    removed = _car(sim, 0)
    sim.jedlix.remove_vehicle(removed.id)
    added = sim.jedlix.add_vehicle()
    sim.requests.clear()
    fleet = await client.async_get_fleet()
    assert removed.id not in fleet.vehicles
    assert fleet.vehicles[added.id].preferences.target_soc == added.target_soc
    assert [r.path for r in sim.requests.filter(path="/charge-settings$")] == [
        f"{_user_path(sim)}/vehicles/{added.id}/charge-settings"
    ]
    assert removed.id not in client._settings


# --- messages ----------------------------------------------------------------------------


async def test_messages_become_notices(sim: Simulator, client: JedlixClient) -> None:
    """Known types map to stable codes, others to snake_case; dismissed ones are skipped."""
    vehicle = _car(sim)
    kinds = [
        ("invalidCredentials", "invalid_credentials"),
        ("carNotFound", "car_not_found"),
        ("carNotReachable", "car_not_reachable"),
        ("reconnectUtilityContract", "reconnect_utility_contract"),
        ("invalidUtilityContract", "invalid_utility_contract"),
        ("sessionImpossible", "session_impossible"),
        ("receivedNoPower", "received_no_power"),
        ("geoLocationDisabled", "geo_location_disabled"),
        ("zeInteractiveExpiresSoon", "ze_interactive_expires_soon"),
    ]
    ids = {
        kind: sim.jedlix.add_message(kind, vehicle.id, title=f"About {kind}").id
        for kind, _code in kinds
    }
    gone = sim.jedlix.add_message("myRenaultAccessRevoked")
    sim.jedlix.dismiss_message(gone.id)
    fleet = await client.async_get_fleet()
    assert fleet.notices == tuple(
        ProviderNotice(
            code=code,
            vehicle_id=vehicle.id,
            message=f"About {kind}",
            message_ids=(ids[kind],),
        )
        for kind, code in reversed(kinds)
    )


async def test_informational_messages_are_the_cars_not_notices(
    sim: Simulator, client: JedlixClient
) -> None:
    """startSession, endSession, readyForPairing: the car's messages, never notices."""
    vehicle = _car(sim)
    started = sim.jedlix.add_message("startSession", vehicle.id, title="Charging")
    paired = sim.jedlix.add_message("readyForPairing", vehicle.id)
    sim.jedlix.add_message("endSession")  # names no car: nobody to tell
    fleet = await client.async_get_fleet()
    assert fleet.notices == ()
    fleet = await client.async_get_fleet()  # attached from the messages' last read
    messages = fleet.vehicles[vehicle.id].messages
    assert {(m.id, m.type) for m in messages} == {
        (started.id, "start_session"),
        (paired.id, "ready_for_pairing"),
    }
    assert next(m for m in messages if m.id == started.id).title == "Charging"
    others = [s for vid, s in fleet.vehicles.items() if vid != vehicle.id]
    assert all(not s.messages for s in others)
    assert client.message_types == ("start_session", "end_session", "ready_for_pairing")


async def test_messages_paged(
    sim: Simulator, client: JedlixClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All pages are read (pageIndex from 1 until totalPages), and no more."""
    for index in range(205):
        sim.jedlix.add_message("carNotReachable", f"car-{index}")
    fleet = await client.async_get_fleet()
    assert len(fleet.notices) == 205
    pages = sim.requests.filter(path="/messages$")
    assert [r.query["pageIndex"] for r in pages] == ["1", "2", "3"]
    assert {r.query["pageSize"] for r in pages} == {"100"}
    assert fleet.notices[0].vehicle_id == "car-204"


async def test_messages_page_bound(
    sim: Simulator, client: JedlixClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server announcing endless pages is read up to MAX_PAGES."""
    monkeypatch.setattr(jedlix_module, "MAX_PAGES", 2)
    for index in range(350):
        sim.jedlix.add_message("carNotReachable", f"car-{index}")
    fleet = await client.async_get_fleet()
    assert sim.requests.count(path="/messages$") == 2
    assert len(fleet.notices) == 200


async def test_duplicate_messages_give_one_notice(
    sim: Simulator, client: JedlixClient
) -> None:
    """The same problem told twice is one notice (the newest), carrying both messages."""
    vehicle = _car(sim)
    old = sim.jedlix.add_message("carNotReachable", vehicle.id, title="old")
    new = sim.jedlix.add_message("carNotReachable", vehicle.id, title="new")
    fleet = await client.async_get_fleet()
    assert fleet.notices == (
        ProviderNotice(
            code="car_not_reachable",
            vehicle_id=vehicle.id,
            message="new",
            message_ids=(new.id, old.id),
        ),
    )


def test_a_message_without_an_id_is_a_notice_that_cannot_be_dismissed() -> None:
    """The id is needed only to dismiss: without one the message still counts."""
    notice = parse_message(Payload("jedlix", {"type": "carNotFound"}, "messages[0]"))
    assert notice == ProviderNotice(code="car_not_found")


# --- dismissing messages -----------------------------------------------------------------


def _dismissed(sim: Simulator) -> set[str]:
    return {m.id for m in sim.jedlix.messages.values() if m.dismissed_at is not None}


async def test_dismiss_notice_dismisses_every_message_behind_it(
    sim: Simulator, client: JedlixClient
) -> None:
    """One PATCH per message, isDismissed true; gone from the cache, re-read next time."""
    vehicle = _car(sim)
    old = sim.jedlix.add_message("carNotReachable", vehicle.id)
    new = sim.jedlix.add_message("carNotReachable", vehicle.id)
    other = sim.jedlix.add_message("receivedNoPower", vehicle.id)
    fleet = await client.async_get_fleet()
    notice = next(n for n in fleet.notices if n.code == "car_not_reachable")
    sim.requests.clear()

    await client.async_dismiss_notice(notice)

    patches = sim.requests.filter(method="PATCH")
    assert [r.path for r in patches] == [
        f"{_user_path(sim)}/messages/{new.id}",
        f"{_user_path(sim)}/messages/{old.id}",
    ]
    assert all(r.json == {"isDismissed": True} for r in patches)
    assert all(
        r.headers["ApiKey"] == sim.jedlix.credentials["api_key"] for r in patches
    )
    assert _dismissed(sim) == {old.id, new.id}
    sim.requests.clear()
    fleet = await client.async_get_fleet()
    assert sim.requests.count(path="/messages$") == 1, "read afresh after a dismissal"
    assert [n.message_ids for n in fleet.notices] == [(other.id,)]


async def test_dismissed_notice_stays_gone_when_the_reread_fails(
    sim: Simulator, client: JedlixClient
) -> None:
    """The cache forgets what was dismissed: a failed re-read cannot bring it back."""
    vehicle = _car(sim)
    sim.jedlix.add_message("carNotReachable", vehicle.id)
    kept = sim.jedlix.add_message("carNotFound")
    fleet = await client.async_get_fleet()
    await client.async_dismiss_notice(fleet.notices[1])
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=503, path="/messages$"))
    fleet = await client.async_get_fleet()
    assert len(fleet.problems) == 1
    assert [n.message_ids for n in fleet.notices] == [(kept.id,)]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, ProviderConnectionError),
        (403, ProviderForbiddenError),
        (400, ProviderRejectedError),
        (429, ProviderRateLimitError),
    ],
)
async def test_dismiss_failure_keeps_the_notice(
    sim: Simulator,
    client: JedlixClient,
    status: int,
    error: type[Exception],
) -> None:
    """A refused or failed PATCH is raised; the message and its notice stay."""
    message = sim.jedlix.add_message("carNotReachable", _car(sim).id)
    fleet = await client.async_get_fleet()
    kind = FaultKind.RATE_LIMIT if status == 429 else FaultKind.STATUS
    sim.faults.add(Fault(kind=kind, status=status, method="PATCH"))
    with pytest.raises(error):
        await client.async_dismiss_notice(fleet.notices[0])
    assert not _dismissed(sim)
    sim.requests.clear()
    assert (await client.async_get_fleet()).notices == fleet.notices
    assert not sim.requests.count(path="/messages$"), "the cache still holds it"
    assert fleet.notices[0].message_ids == (message.id,)


async def test_dismiss_partly_failed_keeps_only_what_is_left(
    sim: Simulator, client: JedlixClient
) -> None:
    """The messages dismissed before a failure stay dismissed; the notice keeps the rest."""
    vehicle = _car(sim)
    old = sim.jedlix.add_message("carNotReachable", vehicle.id)
    new = sim.jedlix.add_message("carNotReachable", vehicle.id)
    (notice,) = (await client.async_get_fleet()).notices
    sim.faults.add(Fault(kind=FaultKind.STATUS, method="PATCH", vehicle_id=old.id))
    with pytest.raises(ProviderConnectionError):
        await client.async_dismiss_notice(notice)
    assert _dismissed(sim) == {new.id}
    sim.faults.clear()
    (left,) = (await client.async_get_fleet()).notices
    assert left.message_ids == (old.id,)


async def test_dismissing_a_message_jedlix_no_longer_has_succeeds(
    sim: Simulator, client: JedlixClient
) -> None:
    """404: the message is gone, which is what dismissing wanted."""
    await client.async_dismiss_notice(
        ProviderNotice(code="car_not_found", message_ids=(str(uuid.uuid4()),))
    )
    assert sim.requests.last(method="PATCH").path.startswith(f"{_user_path(sim)}/")


async def test_dismiss_not_taken_is_an_error(
    sim: Simulator, client: JedlixClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jedlix answering isDismissed false (the body guess misread): said, not hidden."""
    message = sim.jedlix.add_message("carNotFound")
    (notice,) = (await client.async_get_fleet()).notices
    monkeypatch.setattr(jedlix_module, "DISMISS_MESSAGE_BODY", {"isDismissed": False})
    with pytest.raises(ProviderResponseError) as err:
        await client.async_dismiss_notice(notice)
    assert err.value.field == f"messages[{message.id}].isDismissed"
    assert not _dismissed(sim)


async def test_dismiss_needs_a_message(sim: Simulator, client: JedlixClient) -> None:
    """A notice that is no message (a broken car link) cannot be dismissed; nothing sent."""
    assert client.dismisses_notices
    with pytest.raises(UnsupportedError):
        await client.async_dismiss_notice(ProviderNotice(code="car_link_broken"))
    assert not sim.requests.filter(method="PATCH")


async def test_read_in_flight_cannot_bring_a_dismissed_message_back(
    sim: Simulator, client: JedlixClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read whose answer predates a dismissal finishes first; the cache ends without it."""
    message = sim.jedlix.add_message("carNotReachable", _car(sim).id)
    (notice,) = (await client.async_get_fleet()).notices
    sim.advance(MESSAGES_MAX_AGE.total_seconds())
    answered = asyncio.Event()
    request = client._request

    async def slow_answer(method: str, url: str, **kwargs: Any) -> Any:
        response = await request(method, url, **kwargs)
        if method == "GET" and url.endswith("/messages"):
            answered.set()  # the answer still lists the message; it arrives late
            await asyncio.sleep(0.05)
        return response

    monkeypatch.setattr(client, "_request", slow_answer)
    refresh = asyncio.ensure_future(client.async_get_fleet())
    await answered.wait()
    await client.async_dismiss_notice(notice)
    assert (await refresh).notices == (notice,)
    assert _dismissed(sim) == {message.id}
    sim.advance(60)
    assert (await client.async_get_fleet()).notices == ()


async def test_messages_failure_keeps_fleet_and_old_notices(
    sim: Simulator, client: JedlixClient
) -> None:
    """Messages unreadable: a problem; the fleet and the last notices stand."""
    sim.jedlix.add_message("carNotFound")
    first = await client.async_get_fleet()
    assert [n.code for n in first.notices] == ["car_not_found"]
    sim.advance(MESSAGES_MAX_AGE.total_seconds())
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=503, path="/messages$"))
    fleet = await client.async_get_fleet()
    assert len(fleet.problems) == 1
    assert isinstance(fleet.problems[0], ProviderConnectionError)
    assert fleet.notices == first.notices
    assert all(s.error is None for s in fleet.vehicles.values())
    sim.faults.clear()
    sim.requests.clear()
    sim.advance(60)
    await client.async_get_fleet()
    assert sim.requests.count(path="/messages$") == 1


async def test_unreadable_message_is_a_problem(
    sim: Simulator, client: JedlixClient
) -> None:
    """A message without a type is a problem; the other messages still count."""
    kept = sim.jedlix.add_message("carNotFound")
    broken = sim.jedlix.add_message("carNotReachable")
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            path="/messages$",
            vehicle_id=broken.id,
            fields=("type",),
        )
    )
    fleet = await client.async_get_fleet()
    assert [n.code for n in fleet.notices] == ["car_not_found"]
    assert kept.id != broken.id
    (problem,) = fleet.problems
    assert isinstance(problem, ProviderResponseError)
    assert problem.field == "messages[page 1].items[0].type"


async def test_messages_rate_limited_fails_the_refresh(
    sim: Simulator, client: JedlixClient
) -> None:
    """Rate limiting concerns the whole account: raised, not a problem."""
    sim.faults.add(Fault(kind=FaultKind.RATE_LIMIT, path="/messages$"))
    with pytest.raises(ProviderRateLimitError):
        await client.async_get_fleet()


# --- tokens ------------------------------------------------------------------------------


async def test_revoked_credentials(sim: Simulator, client: JedlixClient) -> None:
    """Revoked client: the renewal is refused (401), named (the rest: test_contract.py)."""
    await client.async_get_fleet()
    sim.jedlix.revoke_credentials()
    with pytest.raises(ProviderAuthError, match="refused \\(401\\)"):
        await client.async_get_fleet()


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "", "expires_in": 60},
        {"expires_in": 60},
        {"access_token": "t", "expires_in": "soon"},
        {"access_token": "t", "expires_in": -5},
        ["t"],
    ],
)
def test_bad_token_answers(body: Any) -> None:
    """A token answer without a usable token or lifetime is a response error."""
    with pytest.raises(ProviderResponseError):
        parse_token(body)


def test_token_without_lifetime() -> None:
    """OAuth2 only recommends expires_in: an hour is assumed."""
    assert parse_token({"access_token": "t"}) == ("t", 3600.0)


# --- errors ------------------------------------------------------------------------------


async def test_404_keeps_the_problem_detail(
    sim: Simulator, client: JedlixClient
) -> None:
    """A 404 problem+json: ProviderRejectedError with Jedlix's detail."""
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_get_charge_settings("no-such-car")
    assert err.value.status == 404
    assert err.value.detail == "Vehicle not found."
    assert "Vehicle not found." in str(err.value)


async def test_409_from_the_provider(sim: Simulator, client: JedlixClient) -> None:
    """A 409 problem on the boost write: ProviderRejectedError keeping the detail."""
    vehicle = _plugged(sim, _car(sim))
    snapshot = await _snapshot(client, vehicle.id)
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=409, path="session-settings$"))
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert err.value.status == 409
    assert err.value.detail == "Injected failure: Conflict"


# --- preferences -------------------------------------------------------------------------


async def test_update_target_reads_merges_and_puts(
    sim: Simulator, client: JedlixClient
) -> None:
    """A new target: GET the settings, PUT them back with only that field changed."""
    vehicle = _car(sim)
    snapshot = await _snapshot(client, vehicle.id)
    sim.requests.clear()
    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(target_soc=65)
    )
    path = f"{_user_path(sim)}/vehicles/{vehicle.id}/charge-settings"
    assert _calls(sim) == [("GET", path), ("PUT", path)]
    put = sim.requests.last(method="PUT")
    assert put.headers["Content-Type"] == "application/json"
    assert put.headers["ApiKey"] == "demo-jedlix-api-key"
    before = sim.jedlix.settings_json(vehicle) | {
        "desiredBatteryLevel": snapshot.preferences.target_soc
    }
    assert put.json == before | {"desiredBatteryLevel": 65}
    assert {k for k in put.json if put.json[k] != before[k]} == {"desiredBatteryLevel"}
    assert vehicle.target_soc == 65
    assert prefs.target_soc == 65
    assert prefs.smart_charging is vehicle.smart_charging

    sim.requests.clear()
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[vehicle.id].preferences.target_soc == 65
    assert sim.requests.count(path="/charge-settings$") == 0


async def test_update_weekday_merges_the_map(
    sim: Simulator, client: JedlixClient
) -> None:
    """One weekday changes; the other days go back unchanged (PUT replaces the map)."""
    vehicle = _car(sim)
    vehicle.ready_time = "07:00"
    vehicle.weekday_ready_times = {"SUNDAY": "10:00"}
    snapshot = await _snapshot(client, vehicle.id)
    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(weekday_ready_times={Weekday.MONDAY: time(6, 15)})
    )
    put = sim.requests.last(method="PUT")
    expected_days = {
        day.lower(): "07:00"
        for day in ("TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY")
    }
    assert put.json["departureTimes"] == expected_days | {
        "monday": "06:15",
        "sunday": "10:00",
    }
    assert vehicle.weekday_ready_times["MONDAY"] == "06:15"
    assert vehicle.weekday_ready_times["SUNDAY"] == "10:00"
    assert prefs.weekday_ready_times[Weekday.MONDAY] == time(6, 15)
    assert prefs.weekday_ready_times[Weekday.SUNDAY] == time(10, 0)


async def test_smart_charging_off_makes_the_car_charge(
    sim: Simulator, client: JedlixClient
) -> None:
    """Switching smart charging off is sent and the simulated car charges at once."""
    vehicle = _plugged(sim, _car(sim))
    vehicle.ready_time = "23:59"
    vehicle.weekday_ready_times = {}
    snapshot = await _snapshot(client, vehicle.id)
    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(smart_charging=False)
    )
    assert prefs.smart_charging is False
    assert sim.requests.last(method="PUT").json["isSmartChargingEnabled"] is False
    sim.advance(600)
    sim.requests.clear()
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[vehicle.id].state.charging_status is ChargingStatus.CHARGING


async def test_update_refused_by_the_provider(
    sim: Simulator, client: JedlixClient
) -> None:
    """A 400 from Jedlix: ProviderRejectedError with its detail; nothing changes."""
    vehicle = _car(sim)
    snapshot = await _snapshot(client, vehicle.id)
    before = vehicle.target_soc
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=400, method="PUT"))
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=70)
        )
    assert err.value.status == 400
    assert err.value.detail == "Injected failure: Bad Request"
    assert vehicle.target_soc == before


async def test_update_answer_unreadable(sim: Simulator, client: JedlixClient) -> None:
    """A PUT answered with garbage settings: ProviderResponseError naming the field."""
    vehicle = _car(sim)
    snapshot = await _snapshot(client, vehicle.id)
    sim.faults.add(
        Fault(
            kind=FaultKind.UNKNOWN_ENUM, method="PUT", fields=("desiredBatteryLevel",)
        )
    )
    with pytest.raises(ProviderResponseError) as err:
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=70)
        )
    assert (
        err.value.field == f"vehicles[{vehicle.id}].chargeSettings.desiredBatteryLevel"
    )


@pytest.mark.parametrize(
    ("update", "error"),
    [
        (PreferencesUpdate(target_soc=120), OutOfRangeError),
        (PreferencesUpdate(target_soc=49), OutOfRangeError),
        (PreferencesUpdate(minimal_soc=20), UnsupportedFeatureError),
        (PreferencesUpdate(ready_time=time(7, 0)), UnsupportedFeatureError),
        (PreferencesUpdate(), NothingToChangeError),
    ],
)
async def test_invalid_update_sends_nothing(
    sim: Simulator,
    client: JedlixClient,
    update: PreferencesUpdate,
    error: type[InvalidInputError],
) -> None:
    """Bad input is refused before any request."""
    snapshot = await _snapshot(client, _car(sim).id)
    sim.requests.clear()
    with pytest.raises(InvalidInputError) as err:
        await client.async_update_preferences(snapshot, update)
    assert type(err.value) is error
    assert len(sim.requests) == 0


async def test_unsupported_capability_sends_nothing(
    sim: Simulator, client: JedlixClient
) -> None:
    """A car without desiredStateOfCharge cannot take a target."""
    vehicle = _car(sim)
    sim.jedlix.set_capabilities(vehicle.id, ["chargeState"])
    snapshot = await _snapshot(client, vehicle.id)
    sim.requests.clear()
    with pytest.raises(InvalidInputError, match="target_soc"):
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=70)
        )
    with pytest.raises(InvalidInputError):
        await client.async_update_preferences(
            snapshot,
            PreferencesUpdate(weekday_ready_times={Weekday.MONDAY: time(7, 0)}),
        )
    assert len(sim.requests) == 0


def test_bad_time_text_is_refused() -> None:
    """A ready time that is not HH:MM never becomes an update."""
    from custom_components.chargebridge.api.models import parse_hhmm  # noqa: PLC0415

    for text in ("25:00", "7:00", "07:60", "noon"):
        with pytest.raises(InvalidInputError):
            parse_hhmm("jedlix", text)


# --- boost -------------------------------------------------------------------------------


async def test_boost_on_the_active_session(
    sim: Simulator, client: JedlixClient
) -> None:
    """GET the last session, POST boostCharging to its settings; the car charges now."""
    vehicle = _plugged(sim, _car(sim))
    vehicle.ready_time = "23:59"
    vehicle.weekday_ready_times = {}
    sim.advance(60)
    snapshot = await _snapshot(client, vehicle.id)
    session = sim.jedlix.open_session(vehicle.id)
    assert session is not None
    sim.requests.clear()
    await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    user = _user_path(sim)
    assert _calls(sim) == [
        ("GET", f"{user}/vehicles/{vehicle.id}/sessions/last"),
        ("POST", f"{user}/sessions/{session.id}/session-settings"),
    ]
    post = sim.requests.last(method="POST", path="session-settings")
    assert post.json == {"type": "boostCharging", "enabled": True}
    assert post.headers["ApiKey"] == "demo-jedlix-api-key"
    assert vehicle.boost is True
    sim.advance(60)
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[vehicle.id].preferences.boost is True
    assert fleet.vehicles[vehicle.id].state.charging_status is ChargingStatus.CHARGING
    others = [s for vid, s in fleet.vehicles.items() if vid != vehicle.id]
    assert all(s.preferences.boost is None for s in others)

    await client.async_update_preferences(
        fleet.vehicles[vehicle.id], PreferencesUpdate(boost=False)
    )
    assert sim.requests.last(method="POST", path="session-settings").json == {
        "type": "boostCharging",
        "enabled": False,
    }
    assert vehicle.boost is False
    assert (await _snapshot(client, vehicle.id)).preferences.boost is False


async def test_boost_forgotten_when_the_car_unplugs(
    sim: Simulator, client: JedlixClient
) -> None:
    """A boost we set is no longer reported once the session ended."""
    vehicle = _plugged(sim, _car(sim))
    await client.async_update_preferences(
        await _snapshot(client, vehicle.id), PreferencesUpdate(boost=True)
    )
    vehicle.unplug()
    sim.advance(60)
    assert (await _snapshot(client, vehicle.id)).preferences.boost is None


async def test_boost_without_active_session(
    sim: Simulator, client: JedlixClient
) -> None:
    """Last session ended: 409-style rejection and no session-settings write."""
    vehicle = _car(sim)
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    sim.advance(60)
    vehicle.unplug()
    sim.advance(60)
    snapshot = await _snapshot(client, vehicle.id)
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert err.value.status == 409
    assert err.value.detail == "no active charging session"
    assert sim.requests.count(method="POST", path="session-settings") == 0


async def test_boost_never_had_a_session(sim: Simulator, client: JedlixClient) -> None:
    """Jedlix 404 for sessions/last: the same rejection."""
    vehicle = sim.jedlix.add_vehicle(plugged_in=False, plugged_in_at=None)
    snapshot = await _snapshot(client, vehicle.id)
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert (err.value.status, err.value.detail) == (409, "no active charging session")


async def test_boost_unsupported_sends_nothing(
    sim: Simulator, client: JedlixClient
) -> None:
    """A car Jedlix cannot steer: UnsupportedFeatureError before any request."""
    vehicle = _car(sim)
    sim.jedlix.set_connectable(vehicle.id, False)
    snapshot = await _snapshot(client, vehicle.id)
    sim.requests.clear()
    with pytest.raises(InvalidInputError) as err:
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert type(err.value) is UnsupportedFeatureError
    assert err.value.feature == Feature.BOOST
    assert len(sim.requests) == 0


# --- parsers and helpers -----------------------------------------------------------------


def test_notice_codes() -> None:
    """Stable codes for the listed types, snake_case for the rest."""
    assert notice_code("invalidCredentials") == "invalid_credentials"
    assert (
        notice_code("audiRemoteAccessDisabledBanner")
        == "audi_remote_access_disabled_banner"
    )
    assert notice_code("SMS2Fail") == "sms2_fail"
    assert notice_code("--") == "unknown"


def test_merged_charge_settings_changes_only_what_is_asked() -> None:
    """The PUT body is the current object with the update applied; input untouched."""
    current = {
        "isSmartChargingEnabled": True,
        "desiredBatteryLevel": 80,
        "departureTimes": {"monday": "07:00"},
        "timeZone": "Europe/Amsterdam",
        "extra": 1,
    }
    body = merged_charge_settings(
        current,
        PreferencesUpdate(
            smart_charging=False,
            weekday_ready_times={Weekday.FRIDAY: time(8, 5)},
        ),
    )
    assert body == {
        "isSmartChargingEnabled": False,
        "desiredBatteryLevel": 80,
        "departureTimes": {"monday": "07:00", "friday": "08:05"},
        "timeZone": "Europe/Amsterdam",
        "extra": 1,
    }
    assert current["departureTimes"] == {"monday": "07:00"}
    assert merged_charge_settings(
        {"departureTimes": None}, PreferencesUpdate(target_soc=60)
    ) == {
        "departureTimes": None,
        "desiredBatteryLevel": 60,
    }


def test_next_departure() -> None:
    """The first weekly time after now, in the settings' zone, across DST."""
    monday_0600 = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)  # 06:00 in Amsterdam
    times = {Weekday.MONDAY: time(7, 30), Weekday.WEDNESDAY: time(6, 0)}
    assert next_departure(times, "Europe/Amsterdam", monday_0600) == datetime(
        2026, 11, 2, 6, 30, tzinfo=UTC
    )
    after = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    assert next_departure(times, "Europe/Amsterdam", after) == datetime(
        2026, 11, 4, 5, 0, tzinfo=UTC
    )
    only_monday = {Weekday.MONDAY: time(7, 30)}
    assert next_departure(only_monday, "Europe/Amsterdam", after) == datetime(
        2026, 11, 9, 6, 30, tzinfo=UTC
    )
    # Summer time (UTC+2) the week before the switch back.
    summer = datetime(2026, 10, 19, 4, 0, tzinfo=UTC)
    assert next_departure(only_monday, "Europe/Amsterdam", summer) == datetime(
        2026, 10, 19, 5, 30, tzinfo=UTC
    )
    assert next_departure(times, "Mars/Base", after) is None
    assert next_departure(times, None, after) is None
    assert next_departure({}, "Europe/Amsterdam", after) is None


def test_parse_vehicle_example() -> None:
    """A vehicle as the SDK documents it."""
    vehicle, state = parse_vehicle(
        Payload(
            "jedlix",
            {
                "id": "v1",
                "createdAt": "2023-10-31T09:20:46.123Z",
                "details": {"brand": "Kia", "model": "EV6", "version": None},
                "isConnected": True,
                "isConnectable": False,
                "capabilities": ["stateOfCharge", "chargeState"],
                "chargeState": {
                    "batteryLevel": 55,
                    "range": 250,
                    "chargeState": "Stopped",
                    "updatedAt": "2023-10-31T09:20:46.123Z",
                },
            },
            "vehicles[0]",
        )
    )
    assert vehicle == Vehicle(
        id="v1",
        name="Kia EV6",
        make="Kia",
        model="EV6",
        capabilities=Capabilities(
            features=frozenset(
                {
                    Feature.STATE_OF_CHARGE,
                    Feature.CHARGING_STATUS,
                    Feature.PLUGGED_IN,
                    Feature.CHARGING,
                    Feature.LAST_UPDATE,
                    Feature.RANGE,
                    Feature.SMART_CHARGING,
                    Feature.PROVIDER_MESSAGE,
                }
            ),
            target_soc_min=50,
            target_soc_max=100,
        ),
    )
    assert state.updated_at == datetime(2023, 10, 31, 9, 20, 46, 123000, tzinfo=UTC)
    assert state.state_of_charge == 55
    assert state.charging_status is ChargingStatus.PLUGGED_IN


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"id": "v1", "capabilities": [1]}, "vehicles[0].capabilities[0]"),
        (
            {"id": "v1", "chargeState": {"batteryLevel": float("nan")}},
            "vehicles[0].chargeState.batteryLevel",
        ),
        (
            {"id": "v1", "chargeState": {"range": float("inf")}},
            "vehicles[0].chargeState.range",
        ),
        (
            {"id": "v1", "chargeState": {"updatedAt": "0001-01-01T00:00:00+01:00"}},
            "vehicles[0].chargeState.updatedAt",
        ),
        ({"id": "v1", "isConnected": "yes"}, "vehicles[0].isConnected"),
        ({"id": 5}, "vehicles[0].id"),
    ],
)
def test_parse_vehicle_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    """Garbage is a ProviderResponseError pointing at the field."""
    with pytest.raises(ProviderResponseError) as err:
        parse_vehicle(Payload("jedlix", data, "vehicles[0]"))
    assert err.value.field == field


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"chargeState": {"batteryLevel": float("nan")}},
            "vehicles[0].chargeState.batteryLevel",
        ),
        (
            {"chargeState": {"range": "far"}},
            "vehicles[0].chargeState.range",
        ),
        (
            {"chargeState": {"updatedAt": "0001-01-01T00:00:00+01:00"}},
            "vehicles[0].chargeState.updatedAt",
        ),
        (
            {"chargeState": {"chargeState": 3}},
            "vehicles[0].chargeState.chargeState",
        ),
        ({"isConnectable": "yes"}, "vehicles[0].isConnectable"),
        ({"details": {"brand": 7}}, "vehicles[0].details.brand"),
    ],
)
def test_unreadable_value_keeps_the_vehicle_and_its_features(
    data: dict[str, Any], field: str
) -> None:
    """Read for the fleet, a value that cannot be read is None and one value fault.

    The rest reads as if the field were missing, but every feature stays: a field sent
    yet unreadable keeps its entity (range, boost), which then reads unknown. Read
    strictly (outside the fleet) it raises as before.
    """
    item: dict[str, Any] = {
        "id": "v1",
        "details": {"brand": "Kia", "model": "EV6"},
        "isConnectable": True,
        "capabilities": ["stateOfCharge", "chargeState"],
        "chargeState": {
            "batteryLevel": 55,
            "range": 250,
            "chargeState": "Charging",
            "updatedAt": "2023-10-31T09:20:46.123Z",
        },
    }
    for key, value in data.items():
        item[key] = {**item[key], **value} if isinstance(value, dict) else value
    *parents, name = field.removeprefix("vehicles[0].").split(".")
    missing = copy.deepcopy(item)
    holder = missing
    for parent in parents:
        holder = holder[parent]
    del holder[name]

    faults: list[ChargeBridgeError] = []
    vehicle, state = parse_vehicle(Payload("jedlix", item, "vehicles[0]", faults))

    [fault] = faults
    assert isinstance(fault, ProviderValueError)
    assert fault.field == field
    expected_vehicle, expected_state = parse_vehicle(
        Payload("jedlix", missing, "vehicles[0]")
    )
    assert state == expected_state
    assert replace(vehicle, capabilities=expected_vehicle.capabilities) == (
        expected_vehicle
    )
    assert vehicle.capabilities.features == {
        Feature.STATE_OF_CHARGE,
        Feature.CHARGING_STATUS,
        Feature.PLUGGED_IN,
        Feature.CHARGING,
        Feature.LAST_UPDATE,
        Feature.RANGE,
        Feature.SMART_CHARGING,
        Feature.PROVIDER_MESSAGE,
        Feature.BOOST,
    }
    with pytest.raises(ProviderResponseError) as err:
        parse_vehicle(Payload("jedlix", item, "vehicles[0]"))
    assert type(err.value) is ProviderResponseError


def test_parse_charge_settings() -> None:
    """Departure times per weekday; seconds tolerated; bad times name the day."""
    now = datetime(2026, 11, 2, tzinfo=UTC)
    settings = parse_charge_settings(
        {
            "isSmartChargingEnabled": True,
            "desiredBatteryLevel": 85.0,
            "departureTimes": {"monday": "07:30:00", "sunday": None, "funday": "09:00"},
            "timeZone": "Europe/Amsterdam",
        },
        "settings",
        now,
    )
    assert settings.target_soc == 85
    assert settings.departure_times == {Weekday.MONDAY: time(7, 30)}
    assert settings.preferences(None).weekday_ready_times == {
        Weekday.MONDAY: time(7, 30)
    }
    for bad, field in (
        ({"departureTimes": {"monday": "24:00"}}, "settings.departureTimes.monday"),
        ({"desiredBatteryLevel": 80.5}, "settings.desiredBatteryLevel"),
        ({"desiredBatteryLevel": float("inf")}, "settings.desiredBatteryLevel"),
        ({"timeZone": 1}, "settings.timeZone"),
    ):
        with pytest.raises(ProviderResponseError) as err:
            parse_charge_settings(bad, "settings", now)
        assert err.value.field == field
        faults: list[ChargeBridgeError] = []
        lenient = parse_charge_settings(
            {**bad, "isSmartChargingEnabled": True}, "settings", now, faults
        )
        assert [getattr(fault, "field", None) for fault in faults] == [field]
        assert lenient.faults == tuple(faults)
        assert lenient.smart_charging is True
        assert (lenient.target_soc, lenient.time_zone) == (None, None)
        assert lenient.departure_times == {}


def test_parse_page_and_session() -> None:
    """Envelope and session readers."""
    items, pages = parse_page({"totalPages": 2, "items": [{"type": "x"}]}, "messages")
    assert (len(items), pages) == (1, 2)
    assert parse_message(items[0]).code == "x"
    with pytest.raises(ProviderResponseError, match=r"messages\.totalPages"):
        parse_page({"items": []}, "messages")
    assert parse_session({"id": "s", "status": "ACTIVE"}) == ("s", True)
    assert parse_session({"id": "s", "status": "ForceEnded"}) == ("s", False)
