"""The ev.energy client against the simulator over real loopback HTTP.

What every provider client does (errors, tokens, secrets, faults, parsers) is tested once
for all in tests/api/test_contract.py; this module tests what is ev.energy's own.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
import itertools
import math
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.chargebridge.api import (
    Capabilities,
    ChargingStatus,
    Feature,
    InvalidInputError,
    InvalidUserIdError,
    NothingToChangeError,
    OutOfRangeError,
    PreferencesUpdate,
    ProviderAuthError,
    ProviderForbiddenError,
    ProviderNotice,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    RateLimit,
    UnsupportedFeatureError,
    VehicleSnapshot,
)
from custom_components.chargebridge.api.base import MAX_PAGES, Payload
from custom_components.chargebridge.api.evenergy import (
    CAPABILITIES,
    EvEnergyClient,
    charging_status,
    next_link,
    normalize_user_id,
    parse_token,
    token_url,
)
from custom_components.chargebridge.api.models import ChargingBehavior, Weekday
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
from tests.simulator.evenergy import openapi, openapi_validator

PATH = "/evenergy/v2"
NOW = Simulator(vehicles=0).clock.now()

type ClientFactory = Callable[..., EvEnergyClient]


@pytest.fixture
def make_client(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> ClientFactory:
    """Build clients for the simulated account (keyword arguments override the config)."""
    return client_factory(EvEnergyClient, sim, sim_server, client_session)


@pytest.fixture
def client(make_client: ClientFactory) -> EvEnergyClient:
    """Return a client with the demo credentials and the simulator's clock."""
    return make_client()


def _truth(sim: Simulator, vehicle_id: str) -> SimVehicle:
    vehicle = sim.evenergy.fleet.get(vehicle_id)
    assert vehicle is not None
    return vehicle


def _plugged(sim: Simulator, vehicle: SimVehicle, *, smart: bool = True) -> SimVehicle:
    vehicle.routine = False
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    vehicle.smart_charging = smart
    vehicle.soc = 40.0
    vehicle.target_soc = 80
    sim.evenergy.sync()
    return vehicle


# --- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "user01HN2NJ9NMRZBXT1H6FT9N7735",
        " user01HN2NJ9NMRZBXT1H6FT9N7735 ",
        "https://api.ev.energy/v2/users/user01HN2NJ9NMRZBXT1H6FT9N7735",
        "https://api.ev.energy/v2/users/user01HN2NJ9NMRZBXT1H6FT9N7735/",
    ],
)
def test_user_id_or_url(value: str) -> None:
    """The user's id or URL both give the id the EvEnergy-User header carries."""
    assert normalize_user_id("evenergy", value) == "user01HN2NJ9NMRZBXT1H6FT9N7735"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "user01",
        "user01hn2nj9nmrzbxt1h6ft9n7735",
        "vhcl01HN2NJ9NMRZBXT1H6FT9N7735",
        "https://api.ev.energy/v2/users/",
        "http://[::1",
    ],
)
async def test_bad_user_id_refused_before_any_request(
    client_session: aiohttp.ClientSession, value: str
) -> None:
    """Neither an id nor a user URL: InvalidInputError when the client is built."""
    with pytest.raises(InvalidInputError) as err:
        PROVIDERS["evenergy"](
            session=client_session,
            api_url="https://api.ev.energy/v2",
            client_id="id",
            client_secret="secret",
            user_id=value,
        )
    assert type(err.value) is InvalidUserIdError
    assert err.value.field == "user_id"


def test_class_facts() -> None:
    """Registry entry, defaults, secret fields and the polling bounds."""
    assert PROVIDERS["evenergy"] is EvEnergyClient
    assert EvEnergyClient.default_api_url == "https://api.ev.energy/v2"
    assert EvEnergyClient.secret_fields == frozenset({"client_secret"})
    assert EvEnergyClient.uses_access_token
    assert EvEnergyClient.default_scan_interval == timedelta(minutes=5)
    # 1000 vehicles = 10 list requests per refresh; plus one token an hour, under 1000/h.
    per_hour = 10 * timedelta(hours=1) / EvEnergyClient.min_scan_interval + 1
    assert per_hour <= 0.7 * 1000
    assert token_url("https://api.ev.energy/v2") == "https://api.ev.energy/o/token/"
    assert token_url("http://127.0.0.1:8800/evenergy/v2") == (
        "http://127.0.0.1:8800/o/token/"
    )


# --- validate ----------------------------------------------------------------------------


async def test_validate(sim: Simulator, client: EvEnergyClient) -> None:
    """A token by client credentials, then GET /users/{id}: the exact requests."""
    account = await client.async_validate()
    assert account.unique_id == sim.evenergy.user_id
    assert account.title == "ev.energy"

    token_request, user_request = sim.requests.for_provider("evenergy")
    credentials = sim.evenergy.credentials
    basic = base64.b64encode(
        f"{credentials['client_id']}:{credentials['client_secret']}".encode()
    ).decode()
    assert token_request.method == "POST"
    assert token_request.path == "/o/token/"
    assert dict(token_request.query) == {}
    assert token_request.headers["Authorization"] == f"Basic {basic}"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_request.form == {"grant_type": "client_credentials"}
    assert "EvEnergy-User" not in token_request.headers

    (token,) = sim.evenergy.tokens
    assert user_request.method == "GET"
    assert user_request.path == f"{PATH}/users/{sim.evenergy.user_id}"
    assert dict(user_request.query) == {}
    assert user_request.headers["Authorization"] == f"Bearer {token}"
    assert user_request.headers["EvEnergy-User"] == sim.evenergy.user_id
    assert user_request.headers["EvEnergy-Version"] == "2"
    assert user_request.body == b""


async def test_validate_with_user_url(
    sim: Simulator, make_client: ClientFactory
) -> None:
    """A configured user URL still sends the bare id."""
    user_id = sim.evenergy.user_id
    client = make_client(user_id=f"https://api.ev.energy/v2/users/{user_id}/")
    assert (await client.async_validate()).unique_id == user_id
    assert sim.requests.last(path="/users/").headers["EvEnergy-User"] == user_id


async def test_validate_wrong_secret(
    sim: Simulator, make_client: ClientFactory
) -> None:
    """A refused token is an auth error whose message holds no secret."""
    client = make_client(client_secret="not-the-secret")
    with pytest.raises(ProviderAuthError) as err:
        await client.async_validate()
    assert "not-the-secret" not in str(err.value)
    assert sim.requests.count(provider="evenergy") == 1


async def test_validate_someone_elses_user(
    sim: Simulator, make_client: ClientFactory
) -> None:
    """A user this client may not act for is a refused permission, not bad credentials.

    403 is not retried with a new token: a permission is not an expired token.
    """
    client = make_client(user_id="user" + "Z" * 26)
    with pytest.raises(ProviderForbiddenError, match="403") as caught:
        await client.async_validate()
    assert not isinstance(caught.value, ProviderAuthError)
    assert caught.value.detail == "You do not have permission to act as this user."
    assert [(r.method, r.path) for r in sim.requests.for_provider("evenergy")] == [
        ("POST", "/o/token/"),
        ("GET", f"{PATH}/users/user{'Z' * 26}"),
    ]


async def test_validate_unknown_user_is_auth_error(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """A 404 for the configured user means these credentials cannot act for it."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=404, path="/users/"))
    with pytest.raises(ProviderAuthError, match="404"):
        await client.async_validate()


# --- fleet -------------------------------------------------------------------------------


async def test_fleet_maps_the_simulated_cars(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """Each car's state, preferences and capabilities match the simulator's truth."""
    fleet = await client.async_get_fleet()
    assert set(fleet.vehicles) == set(sim.evenergy.fleet.vehicles)
    assert fleet.problems == ()
    assert fleet.notices == ()
    statuses = {
        "charging": ChargingStatus.CHARGING,
        "plugged_in": ChargingStatus.PLUGGED_IN,
        "complete": ChargingStatus.COMPLETE,
        "disconnected": ChargingStatus.DISCONNECTED,
    }
    for vehicle_id, snapshot in fleet.vehicles.items():
        truth = _truth(sim, vehicle_id)
        assert snapshot.error is None
        assert snapshot.vehicle.name == truth.name
        assert snapshot.vehicle.make == truth.make
        assert snapshot.vehicle.model == truth.model
        assert snapshot.vehicle.link_broken is False
        assert snapshot.vehicle.capabilities == CAPABILITIES
        state = snapshot.state
        assert state.state_of_charge == round(truth.soc)
        assert state.charging_status == statuses[truth.status]
        assert state.plugged_in is truth.plugged_in
        assert state.charging is truth.charging
        assert state.charge_power_w == round(truth.charge_power_w)
        assert state.energy_added_wh == round(truth.session_energy_wh)
        assert state.battery_capacity_wh == round(truth.battery_wh)
        assert state.updated_at == sim.clock.now()
        assert state.range_km is None
        assert snapshot.preferences.smart_charging is truth.smart_charging
        assert snapshot.preferences.target_soc == truth.target_soc
        assert snapshot.preferences.minimal_soc is None
        assert snapshot.preferences.ready_time is None
        assert snapshot.preferences.boost is None


def test_capabilities() -> None:
    """Target 50-100 and boost; no range, ready time or minimal charge."""
    features = CAPABILITIES.features
    assert (CAPABILITIES.target_soc_min, CAPABILITIES.target_soc_max) == (50, 100)
    assert Feature.BOOST in features
    assert Feature.TARGET_SOC in features
    for missing in (
        Feature.RANGE,
        Feature.READY_TIME,
        Feature.WEEKDAY_READY_TIMES,
        Feature.MINIMAL_SOC,
        Feature.NEXT_DEPARTURE,
        Feature.CHARGING_BEHAVIOR,
    ):
        assert missing not in features


async def test_fleet_request(sim: Simulator, client: EvEnergyClient) -> None:
    """One list request: both expansions (exploded), the largest page, the headers.

    What follows it are the plugged-in cars' plans (tested below).
    """
    fleet = await client.async_get_fleet()
    requests = sim.requests.for_provider("evenergy")
    assert [(r.method, r.path) for r in requests[:2]] == [
        ("POST", "/o/token/"),
        ("GET", f"{PATH}/vehicles"),
    ]
    assert all("/charging_s" in r.path for r in requests[2:])
    listing = requests[1]
    assert listing.query.getall("expand") == ["latest_status_log", "trim.model.make"]
    assert listing.query["page_size"] == "100"
    assert set(listing.query) == {"expand", "page_size"}
    assert listing.headers["EvEnergy-User"] == sim.evenergy.user_id
    assert listing.headers["EvEnergy-Version"] == "2"
    assert listing.headers["Authorization"].startswith("Bearer ")
    expand_enum = openapi()["components"]["parameters"]["expand-on-vehicle"]["schema"]
    assert set(listing.query.getall("expand")) <= set(expand_enum["items"]["enum"])
    assert fleet.rate_limit == RateLimit(limit=1000, remaining=1000 - len(requests[1:]))


@pytest.mark.parametrize("count", [1, 100, 101, 250])
async def test_requests_per_refresh(
    count: int, client_session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """ceil(N / 100) list requests per refresh, following Link rel="next"; +1 token once."""
    sim = Simulator(vehicles=count, seed=3)
    async with SimulatorServer(sim) as server:
        config = server.config("evenergy")
        del config["provider"]
        client = EvEnergyClient(session=client_session, clock=sim.clock.now, **config)
        fleet = await client.async_get_fleet()
        assert set(fleet.vehicles) == set(sim.evenergy.fleet.vehicles)
        pages = math.ceil(count / 100)
        listings = sim.requests.filter(path="/vehicles$")
        assert len(listings) == pages
        assert client.requests_made == len(sim.requests)
        assert [r.query.get("page_after") for r in listings][0] is None
        for previous, following in itertools.pairwise(listings):
            assert following.query["page_after"] > ""
            assert following.query.getall("expand") == previous.query.getall("expand")
        sim.advance(300)
        await client.async_get_fleet()
        assert len(sim.requests.filter(path="/vehicles$")) == 2 * pages
        assert client.requests_made == len(sim.requests)
    assert not sim.handler_errors


async def test_link_broken_notice(sim: Simulator, client: EvEnergyClient) -> None:
    """Integrated INACTIVE: link_broken and a car_link_broken notice for that car."""
    vehicle_id = next(iter(sim.evenergy.fleet.vehicles))
    sim.evenergy.set_integrated(vehicle_id, "INACTIVE")
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[vehicle_id].vehicle.link_broken is True
    assert fleet.notices == (
        ProviderNotice(code="car_link_broken", vehicle_id=vehicle_id),
    )
    others = [s for vid, s in fleet.vehicles.items() if vid != vehicle_id]
    assert not any(s.vehicle.link_broken for s in others)


async def test_disabled_vehicle_keeps_its_readings_and_loses_its_controls(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """disabled: true → no smart charging, target or boost; a notice; nothing sent."""
    vehicle_id = next(iter(sim.evenergy.fleet.vehicles))
    sim.evenergy.set_disabled(vehicle_id, True)
    fleet = await client.async_get_fleet()
    snapshot = fleet.vehicles[vehicle_id]
    assert snapshot.vehicle.disabled is True
    assert snapshot.error is None
    features = snapshot.vehicle.capabilities.features
    assert not features & {Feature.SMART_CHARGING, Feature.TARGET_SOC, Feature.BOOST}
    assert Feature.STATE_OF_CHARGE in features
    assert snapshot.state.state_of_charge is not None
    assert fleet.notices == (
        ProviderNotice(code="car_disabled", vehicle_id=vehicle_id),
    )
    sim.requests.clear()
    for update in (PreferencesUpdate(target_soc=80), PreferencesUpdate(boost=True)):
        with pytest.raises(UnsupportedFeatureError):
            await client.async_update_preferences(snapshot, update)
    assert not sim.requests.for_provider("evenergy")

    sim.evenergy.set_disabled(vehicle_id, False)
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[vehicle_id].vehicle.disabled is False
    assert (
        Feature.TARGET_SOC in fleet.vehicles[vehicle_id].vehicle.capabilities.features
    )
    assert fleet.notices == ()


@pytest.mark.parametrize(
    ("log", "status"),
    [
        ({"state": "UNKNOWN", "is_plugged_in": True, "is_charging": True}, "charging"),
        (
            {"state": "UNKNOWN", "is_plugged_in": True, "is_charging": False},
            "plugged_in",
        ),
        ({"state": "UNKNOWN", "is_plugged_in": False}, "disconnected"),
        ({"state": "UNKNOWN"}, "unknown"),
        ({"state": "SOMETHING_NEW", "is_plugged_in": True}, "unknown"),
    ],
)
def test_unknown_state_falls_back_to_the_booleans(
    log: dict[str, Any], status: str
) -> None:
    """The log's own UNKNOWN lets the plug and charging flags speak; a new state does not."""
    assert charging_status(Payload("evenergy", log, "log")) == ChargingStatus(status)


async def test_unknown_enums(sim: Simulator, client: EvEnergyClient) -> None:
    """An unknown integrated string: the link is not broken, no notice.

    That unknown values are no error and the status reads unknown: test_contract.py.
    """
    sim.faults.add(
        Fault(
            kind=FaultKind.UNKNOWN_ENUM,
            provider="evenergy",
            fields=PROFILES["evenergy"].enum_fields,
        )
    )
    fleet = await client.async_get_fleet()
    for snapshot in fleet.vehicles.values():
        assert snapshot.vehicle.link_broken is False
    assert fleet.notices == ()


async def test_missing_optional_fields(sim: Simulator, client: EvEnergyClient) -> None:
    """Missing telemetry and names: None values, status unknown.

    That they are no error, the id stands in for the name: test_contract.py.
    """
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider="evenergy",
            fields=PROFILES["evenergy"].optional_fields,
        )
    )
    fleet = await client.async_get_fleet()
    for snapshot in fleet.vehicles.values():
        assert snapshot.vehicle.make is None
        assert snapshot.vehicle.model is None
        state = snapshot.state
        assert state.state_of_charge is None
        assert state.charging is None
        assert state.plugged_in is None
        assert state.charge_power_w is None
        assert state.energy_added_wh is None
        assert state.battery_capacity_wh is None
        assert state.updated_at is None
        assert state.charging_status is ChargingStatus.UNKNOWN
        assert snapshot.preferences.smart_charging is None
        assert snapshot.preferences.target_soc is None


async def test_status_log_missing(sim: Simulator, client: EvEnergyClient) -> None:
    """No status log at all: the car is listed with an empty state."""
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider="evenergy",
            fields=("latest_status_log",),
        )
    )
    fleet = await client.async_get_fleet()
    for snapshot in fleet.vehicles.values():
        assert snapshot.state.state_of_charge is None
        assert snapshot.state.charging_status is ChargingStatus.UNKNOWN
        assert snapshot.state.battery_capacity_wh is not None


# --- preferences -------------------------------------------------------------------------


async def _snapshot(client: EvEnergyClient, index: int = 0) -> VehicleSnapshot:
    fleet = await client.async_get_fleet()
    return list(fleet.vehicles.values())[index]


@pytest.mark.parametrize(
    ("update", "body"),
    [
        (PreferencesUpdate(target_soc=90), {"maximum_charge_limit_percentage": 90}),
        (PreferencesUpdate(smart_charging=False), {"smart_charging_enabled": False}),
        (
            PreferencesUpdate(smart_charging=True, target_soc=50),
            {"smart_charging_enabled": True, "maximum_charge_limit_percentage": 50},
        ),
    ],
)
async def test_update_sends_only_what_changes(
    sim: Simulator,
    client: EvEnergyClient,
    update: PreferencesUpdate,
    body: dict[str, Any],
) -> None:
    """PATCH /vehicles/{id} with only the changed fields; preferences from the answer."""
    snapshot = await _snapshot(client)
    truth = _truth(sim, snapshot.vehicle.id)
    before = (truth.smart_charging, truth.target_soc)
    sim.requests.clear()
    preferences = await client.async_update_preferences(snapshot, update)
    (patch,) = sim.requests.for_provider("evenergy")
    assert patch.method == "PATCH"
    assert patch.path == f"{PATH}/vehicles/{snapshot.vehicle.id}"
    assert dict(patch.query) == {}
    assert patch.json == body
    assert patch.headers["Content-Type"] == "application/json"
    assert patch.headers["EvEnergy-User"] == sim.evenergy.user_id
    assert patch.headers["EvEnergy-Version"] == "2"
    request_schema = openapi()["paths"]["/vehicles/{vehicle_id}"]["patch"][
        "requestBody"
    ]
    openapi_validator(request_schema["content"]["application/json"]["schema"]).validate(
        patch.json
    )
    expected_smart = (
        before[0] if update.smart_charging is None else update.smart_charging
    )
    expected_target = before[1] if update.target_soc is None else update.target_soc
    assert (truth.smart_charging, truth.target_soc) == (expected_smart, expected_target)
    assert preferences.smart_charging is expected_smart
    assert preferences.target_soc == expected_target


@pytest.mark.parametrize(
    ("update", "error"),
    [
        (PreferencesUpdate(target_soc=49), OutOfRangeError),
        (PreferencesUpdate(target_soc=101), OutOfRangeError),
        (PreferencesUpdate(minimal_soc=20), UnsupportedFeatureError),
        (PreferencesUpdate(ready_time=NOW.time()), UnsupportedFeatureError),
        (
            PreferencesUpdate(weekday_ready_times={Weekday.MONDAY: NOW.time()}),
            UnsupportedFeatureError,
        ),
        (
            PreferencesUpdate(charging_behavior=ChargingBehavior.ANYWHERE),
            UnsupportedFeatureError,
        ),
        (PreferencesUpdate(), NothingToChangeError),
    ],
)
async def test_invalid_update_sends_nothing(
    sim: Simulator,
    client: EvEnergyClient,
    update: PreferencesUpdate,
    error: type[InvalidInputError],
) -> None:
    """Out of range, unsupported or empty: InvalidInputError before any request."""
    snapshot = await _snapshot(client)
    sent, made = len(sim.requests), client.requests_made
    with pytest.raises(InvalidInputError) as err:
        await client.async_update_preferences(snapshot, update)
    assert type(err.value) is error
    assert (len(sim.requests), client.requests_made) == (sent, made)


async def test_update_unknown_vehicle(sim: Simulator, client: EvEnergyClient) -> None:
    """A vehicle the provider no longer has: 404 → ProviderRejectedError with its detail."""
    snapshot = await _snapshot(client)
    sim.evenergy.remove_vehicle(snapshot.vehicle.id)
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=60)
        )
    assert err.value.status == 404
    assert err.value.detail == "Resource does not exist or cannot be accessed."


# --- boost -------------------------------------------------------------------------------


async def test_boost_start_and_end(sim: Simulator, client: EvEnergyClient) -> None:
    """Find the open session, then POST boost_start / boost_end: the exact requests."""
    vehicle = _plugged(sim, next(iter(sim.evenergy.fleet)))
    session = sim.evenergy.open_session(vehicle.id)
    assert session is not None
    snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
    sim.requests.clear()

    await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    lookup, boost = sim.requests.for_provider("evenergy")
    assert (lookup.method, lookup.path) == ("GET", f"{PATH}/charging_sessions")
    assert dict(lookup.query) == {"page_size": "100"}
    assert (boost.method, boost.path) == (
        "POST",
        f"{PATH}/charging_sessions/{session.id}/boost_start",
    )
    assert boost.body == b""
    assert dict(boost.query) == {}
    assert boost.headers["EvEnergy-User"] == sim.evenergy.user_id
    assert vehicle.boost is True

    await client.async_update_preferences(snapshot, PreferencesUpdate(boost=False))
    assert sim.requests.last(method="POST").path == (
        f"{PATH}/charging_sessions/{session.id}/boost_end"
    )
    assert vehicle.boost is False


async def test_boost_refused_keeps_the_detail(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """409 from the API (smart charging off) → ProviderRejectedError with its detail."""
    vehicle = _plugged(sim, next(iter(sim.evenergy.fleet)), smart=False)
    snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert err.value.status == 409
    assert err.value.detail == "Smart charging is turned off for this vehicle."
    assert vehicle.boost is False
    fleet = await client.async_get_fleet()
    assert fleet.vehicles[vehicle.id].preferences.boost is None


async def _boosted(sim: Simulator, client: EvEnergyClient) -> SimVehicle:
    """Plug in the first car far below its target and boost it through the client."""
    vehicle = _plugged(sim, next(iter(sim.evenergy.fleet)))
    vehicle.soc = 20.0
    vehicle.target_soc = 90
    sim.evenergy.sync()
    snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
    assert snapshot.preferences.boost is None
    await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert vehicle.boost is True
    return vehicle


async def test_boost_remembered_while_the_session_lasts(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """The vehicle resource has no boost: the one we set is reported on later polls."""
    vehicle = await _boosted(sim, client)
    for _ in range(3):
        sim.advance(300)
        fleet = await client.async_get_fleet()
        snapshot = fleet.vehicles[vehicle.id]
        assert snapshot.state.charging_status is ChargingStatus.CHARGING
        assert snapshot.preferences.boost is True
    others = [s for vid, s in fleet.vehicles.items() if vid != vehicle.id]
    assert others
    assert all(s.preferences.boost is None for s in others)

    await client.async_update_preferences(
        fleet.vehicles[vehicle.id], PreferencesUpdate(boost=False)
    )
    sim.advance(60)
    assert (await client.async_get_fleet()).vehicles[
        vehicle.id
    ].preferences.boost is False


async def test_boost_forgotten_when_the_car_unplugs(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """Unplugging ends the session and its boost: the state is unknown again."""
    vehicle = await _boosted(sim, client)
    vehicle.unplug()
    sim.advance(60)
    snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
    assert snapshot.state.plugged_in is False
    assert snapshot.preferences.boost is None
    vehicle.plug_in(sim.clock.now())
    sim.advance(60)
    assert (await client.async_get_fleet()).vehicles[
        vehicle.id
    ].preferences.boost is None


async def test_boost_forgotten_when_the_car_is_full(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """Boost ends at the target (the car is complete, still plugged in)."""
    vehicle = await _boosted(sim, client)
    sim.advance(12 * 3600)
    snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
    assert vehicle.boost is False
    assert snapshot.state.charging_status is ChargingStatus.COMPLETE
    assert snapshot.state.plugged_in is True
    assert snapshot.preferences.boost is None


async def test_boost_kept_while_the_vehicle_cannot_be_read(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """An unreadable vehicle may still boost; a vehicle that is gone does not.

    Nor does an unreadable plug state end a boost: only "unplugged" does.
    """
    vehicle = await _boosted(sim, client)
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.UNKNOWN_ENUM,
            provider="evenergy",
            vehicle_id=vehicle.id,
            fields=("is_plugged_in", "maximum_charge_limit_percentage"),
        )
    )
    snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
    assert snapshot.error is None
    assert snapshot.state.plugged_in is None
    assert snapshot.preferences.boost is True
    sim.faults.remove(fault)
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.REPLACE_VALUE,
            provider="evenergy",
            vehicle_id=vehicle.id,
            fields=("latest_status_log",),
            value=42,
        )
    )
    assert (await client.async_get_fleet()).vehicles[vehicle.id].error is not None
    sim.faults.remove(fault)
    assert (await client.async_get_fleet()).vehicles[
        vehicle.id
    ].preferences.boost is True

    sim.evenergy.remove_vehicle(vehicle.id)
    assert vehicle.id not in (await client.async_get_fleet()).vehicles
    restored = sim.evenergy.add_vehicle(id=vehicle.id)
    assert restored.id == vehicle.id
    assert (await client.async_get_fleet()).vehicles[
        vehicle.id
    ].preferences.boost is None


async def test_update_keeps_the_remembered_boost(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """A PATCH answer has no boost either: the one we set stays in the preferences."""
    vehicle = await _boosted(sim, client)
    snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
    preferences = await client.async_update_preferences(
        replace(snapshot, preferences=replace(snapshot.preferences, boost=None)),
        PreferencesUpdate(target_soc=95),
    )
    assert preferences.target_soc == 95
    assert preferences.boost is True


async def test_boost_without_session(sim: Simulator, client: EvEnergyClient) -> None:
    """Not plugged in: 409-style refusal after the lookup, and no boost request."""
    vehicle = next(iter(sim.evenergy.fleet))
    vehicle.routine = False
    if vehicle.plugged_in:
        vehicle.unplug()
    snapshot = (await client.async_get_fleet()).vehicles[vehicle.id]
    sim.requests.clear()
    with pytest.raises(ProviderRejectedError) as err:
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert err.value.status == 409
    assert err.value.detail is not None
    assert "plugged in" in err.value.detail
    assert sim.requests.count(method="POST") == 0


async def test_boost_session_on_a_later_page(
    client_session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """The session search follows Link rel="next" until the car's newest session."""
    sim = Simulator(vehicles=220, seed=5, routine=False)
    async with SimulatorServer(sim) as server:
        config = server.config("evenergy")
        del config["provider"]
        client = EvEnergyClient(session=client_session, clock=sim.clock.now, **config)
        sim.evenergy.sync()
        sessions = sorted(sim.evenergy.sessions.values(), key=lambda s: (s.start, s.id))
        assert len(sessions) > 100
        oldest = sessions[0]
        vehicle = _truth(sim, oldest.vehicle_id)
        vehicle.smart_charging = True
        vehicle.soc = 20.0
        vehicle.target_soc = 90
        sim.evenergy.sync()
        fleet = await client.async_get_fleet()
        sim.requests.clear()
        await client.async_update_preferences(
            fleet.vehicles[vehicle.id], PreferencesUpdate(boost=True)
        )
        lookups = sim.requests.filter(path="/charging_sessions$")
        assert len(lookups) == math.ceil(len(sessions) / 100)
        assert lookups[1].query["page_after"].startswith("cses")
        assert vehicle.boost is True
    assert not sim.handler_errors


async def test_boost_unsupported_sends_nothing(
    sim: Simulator, client: EvEnergyClient
) -> None:
    """A vehicle without the boost feature: UnsupportedFeatureError, zero requests."""
    snapshot = await _snapshot(client)
    no_boost = Capabilities(features=CAPABILITIES.features - {Feature.BOOST})
    snapshot = replace(
        snapshot, vehicle=replace(snapshot.vehicle, capabilities=no_boost)
    )
    made = client.requests_made
    with pytest.raises(UnsupportedFeatureError) as err:
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))
    assert err.value.feature == Feature.BOOST
    assert client.requests_made == made


# --- errors ------------------------------------------------------------------------------


async def test_rate_limit_budget(sim: Simulator, client: EvEnergyClient) -> None:
    """The simulator's budget: 429 → ProviderRateLimitError with Retry-After seconds."""
    sim.evenergy.set_rate_limit(1)
    fleet = await client.async_get_fleet()
    assert fleet.rate_limit == RateLimit(limit=1, remaining=0)
    sim.advance(600)
    with pytest.raises(ProviderRateLimitError) as err:
        await client.async_get_fleet()
    assert err.value.retry_after == 3000
    assert client.rate_limit == RateLimit(limit=1, remaining=0)


# --- paging safety (a fake server that misbehaves) ---------------------------------------


async def _fake_api(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> TestServer:
    app = web.Application()

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "fake-token", "expires_in": 3600})

    app.router.add_post("/o/token/", token)
    app.router.add_get("/v2/vehicles", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def other_server(
    socket_enabled: None,
) -> AsyncGenerator[tuple[TestServer, list[str]]]:
    """Start a second server that records whatever reaches it."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response([])

    server = await _fake_api(record)
    yield server, seen
    await server.close()


async def test_next_link_to_another_server_is_not_followed(
    client_session: aiohttp.ClientSession,
    other_server: tuple[TestServer, list[str]],
) -> None:
    """A next link leaving the API's origin is an error; no credentials go there."""
    other, seen = other_server

    async def vehicles(request: web.Request) -> web.Response:
        target = other.make_url("/v2/vehicles?page_after=vhcl" + "A" * 26)
        return web.json_response([], headers={"Link": f'<{target}>; rel="next"'})

    server = await _fake_api(vehicles)
    try:
        client = PROVIDERS["evenergy"](
            session=client_session,
            api_url=str(server.make_url("/v2")),
            client_id="id",
            client_secret="secret",
            user_id="user01HN2NJ9NMRZBXT1H6FT9N7735",
        )
        with pytest.raises(ProviderResponseError, match="another server"):
            await client.async_get_fleet()
        assert seen == []
    finally:
        await server.close()


async def test_endless_paging_is_bounded(
    client_session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """A server that always links to a next page is stopped at MAX_PAGES."""
    hits: list[str] = []

    async def vehicles(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        target = request.url.with_query(page_after=f"vhcl{len(hits):026d}")
        return web.json_response([], headers={"Link": f'<{target}>; rel="next"'})

    server = await _fake_api(vehicles)
    try:
        client = PROVIDERS["evenergy"](
            session=client_session,
            api_url=str(server.make_url("/v2")),
            client_id="id",
            client_secret="secret",
            user_id="user01HN2NJ9NMRZBXT1H6FT9N7735",
        )
        with pytest.raises(ProviderResponseError, match="pages"):
            await client.async_get_fleet()
        assert len(hits) == MAX_PAGES
    finally:
        await server.close()


# --- parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (None, timedelta(hours=1)),
        (0, timedelta(hours=1)),
        (-5, timedelta(hours=1)),
        (5.8e-117, timedelta(seconds=1)),
        (0.4, timedelta(seconds=1)),
        (3600, timedelta(hours=1)),
        (1e20, timedelta(days=3650)),
    ],
)
def test_token_lifetime(expires_in: float | None, lifetime: timedelta) -> None:
    """No or a non-positive expires_in: an hour; at least a second, at most ten years."""
    data: dict[str, Any] = {"access_token": "token"}
    if expires_in is not None:
        data["expires_in"] = expires_in
    assert parse_token("evenergy", data, NOW) == ("token", NOW + lifetime)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ('<https://a/v2/x?page_after=1>; rel="next"', "https://a/v2/x?page_after=1"),
        (
            '<https://a/p>; rel="previous", <https://a/n>; rel="next"',
            "https://a/n",
        ),
        ("</v2/x?page_after=2>; rel=next", "https://api.ev.energy/v2/x?page_after=2"),
        ('<https://a/p>; rel="previous"', None),
        ('<https://a/n>; title="x"; rel="next last"', "https://a/n"),
    ],
)
def test_next_link(header: str | None, expected: str | None) -> None:
    """Link headers: absolute and relative targets, several entries, rel lists."""
    assert next_link(header, "https://api.ev.energy/v2/vehicles") == expected


@pytest.mark.parametrize(
    ("log", "status"),
    [
        ({"state": "PLUGGED_IN_CHARGING"}, ChargingStatus.CHARGING),
        ({"state": "PLUGGED_IN_NOT_CHARGING"}, ChargingStatus.PLUGGED_IN),
        ({"state": "PLUGGED_IN_COMPLETE"}, ChargingStatus.COMPLETE),
        ({"state": "PLUGGED_IN_ALMOST_COMPLETE", "is_charging": True}, ChargingStatus.CHARGING),
        ({"state": "PLUGGED_IN_NEAR_READY_BY_TIME", "is_charging": False}, ChargingStatus.PLUGGED_IN),
        ({"state": "DRIVING"}, ChargingStatus.DISCONNECTED),
        ({"state": "RECENTLY_FINISHED_DRIVING"}, ChargingStatus.DISCONNECTED),
        ({"state": "STATIONARY"}, ChargingStatus.DISCONNECTED),
        ({"state": "IN_SERVICE"}, ChargingStatus.DISCONNECTED),
        ({"state": "UNKNOWN", "is_charging": True}, ChargingStatus.CHARGING),
        ({"state": "HOVERING", "is_charging": True}, ChargingStatus.UNKNOWN),
        ({"is_charging": True, "is_plugged_in": True}, ChargingStatus.CHARGING),
        ({"is_plugged_in": True, "is_complete": True}, ChargingStatus.COMPLETE),
        ({"is_plugged_in": True, "is_charging": False}, ChargingStatus.PLUGGED_IN),
        ({"is_plugged_in": False}, ChargingStatus.DISCONNECTED),
        ({}, ChargingStatus.UNKNOWN),
    ],
)  # fmt: skip
def test_charging_status_mapping(log: dict[str, Any], status: ChargingStatus) -> None:
    """Every documented state, the two ambiguous ones, unknown strings, and no state."""
    assert charging_status(Payload("evenergy", log, "log")) is status


def test_state_enum_covered() -> None:
    """Every state value in the document is mapped on purpose."""
    states = openapi()["components"]["schemas"]["VehicleStatusLog"]["properties"][
        "state"
    ]["enum"]
    for state in states:
        if state is None:
            continue
        log = Payload("evenergy", {"state": state, "is_charging": False}, "log")
        result = charging_status(log)
        assert result is not ChargingStatus.UNKNOWN or state == "UNKNOWN"
