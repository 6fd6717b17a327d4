"""The Hiven client against the simulator over real loopback HTTP.

What every provider client does (errors, tokens, secrets, faults, parsers) is tested once
for all in tests/api/test_contract.py; this module tests what is Hiven's own.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings, strategies as st
import pytest

from custom_components.chargebridge.api import (
    Capabilities,
    ChargeBridgeError,
    ChargingBehavior,
    ChargingPreferences,
    ChargingStatus,
    Feature,
    InvalidInputError,
    PreferencesUpdate,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderRejectedError,
    ProviderResponseError,
    ProviderValueError,
    UnsupportedFeatureError,
    Vehicle,
    VehicleSnapshot,
    Weekday,
)
from custom_components.chargebridge.api.base import Payload
from custom_components.chargebridge.api.hiven import (
    BATTERY_CAPACITY_TO_WH,
    CAPABILITIES,
    RANGE_TO_KM,
    HivenClient,
    _parse_schedule,
)
from custom_components.chargebridge.api.models import parse_hhmm
from custom_components.chargebridge.api.registry import PROVIDERS
from tests.api.clients import client_factory
from tests.api.parser_cases import HIVEN_JSON
from tests.simulator import (
    PROFILES,
    Fault,
    FaultKind,
    Simulator,
    SimulatorServer,
    SimVehicle,
)

PREFIX = "/hiven"
DEVICES = f"{PREFIX}/v2/hiven/devices"

type ClientFactory = Callable[..., HivenClient]


@pytest.fixture
def make_client(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> ClientFactory:
    """Build clients for the simulated account (keyword arguments override the config)."""
    return client_factory(HivenClient, sim, sim_server, client_session)


@pytest.fixture
def client(make_client: ClientFactory) -> HivenClient:
    """Return a client with the demo credentials and the simulator's clock."""
    return make_client()


@pytest.fixture
def cars(sim: Simulator) -> list[SimVehicle]:
    """Three cars in known states: smart and plugged, plugged with smart off, away.

    The simulator validates writes the strict way (behaviour, target and ready time).
    """
    sim.hiven.strict_preferences = True
    smart, dumb, away = list(sim.hiven.fleet)
    for vehicle in (smart, dumb, away):
        vehicle.routine = False
        vehicle.soc = 40.0
        vehicle.target_soc = 80
        vehicle.minimal_soc = None
        vehicle.ready_time = "07:00"
        vehicle.weekday_ready_times = {}
    for vehicle in (smart, dumb):
        if not vehicle.plugged_in:
            vehicle.plug_in(sim.clock.now())
    if away.plugged_in:
        away.unplug()
    smart.smart_charging = True
    dumb.smart_charging = False
    away.smart_charging = True
    sim.hiven.sync()
    sim.requests.clear()
    return [smart, dumb, away]


def _requests(sim: Simulator) -> list[Any]:
    return sim.requests.for_provider("hiven")


def _auth_headers(sim: Simulator) -> dict[str, str]:
    return {
        "X-Api-Key": sim.hiven.credentials["api_key"],
        "X-User-Id": sim.hiven.user_id,
    }


STANDARD_HEADERS = frozenset(
    {
        "host",
        "accept",
        "accept-encoding",
        "user-agent",
        "content-length",
        "content-type",
    }
)


def _assert_authenticated(sim: Simulator, entry: Any) -> None:
    """Both Hiven headers, right values, and no other header of ours."""
    for name, value in _auth_headers(sim).items():
        assert entry.headers[name] == value
    ours = {name.lower() for name in entry.headers} - STANDARD_HEADERS
    assert ours == {"x-api-key", "x-user-id"}
    if entry.json is not None:
        assert entry.headers["Content-Type"] == "application/json"


def _snapshot(
    vehicle_id: str,
    preferences: ChargingPreferences | None = None,
    capabilities: Capabilities = CAPABILITIES,
) -> VehicleSnapshot:
    return VehicleSnapshot(
        vehicle=Vehicle(id=vehicle_id, name=vehicle_id, capabilities=capabilities),
        preferences=preferences or ChargingPreferences(),
    )


# --- configuration -----------------------------------------------------------------------


def test_class_contract() -> None:
    """The registry builds HivenClient; only the API key is secret; no access token."""
    assert PROVIDERS["hiven"] is HivenClient
    assert HivenClient.default_api_url == "https://api.hiven.energy"
    assert HivenClient.secret_fields == frozenset({"api_key"})
    assert HivenClient.uses_access_token is False
    assert HivenClient.min_scan_interval <= HivenClient.default_scan_interval


async def test_api_url_without_trailing_slash(
    client_session: aiohttp.ClientSession,
) -> None:
    """An https api_url is taken without its trailing slash (http: test_contract.py)."""
    client: Any = PROVIDERS["hiven"](
        session=client_session,
        api_url="https://api.hiven.energy/",
        api_key="k",
        user_id="u",
    )
    assert client.api_url == "https://api.hiven.energy"


# --- validate ----------------------------------------------------------------------------


async def test_validate_lists_devices(sim: Simulator, client: HivenClient) -> None:
    """One GET of the device list with both headers; the user id is the account identity."""
    account = await client.async_validate()

    assert account.unique_id == sim.hiven.user_id
    assert account.title == "Hiven"
    [entry] = _requests(sim)
    assert entry.method == "GET"
    assert entry.path == DEVICES
    assert dict(entry.query) == {"userId": sim.hiven.user_id}
    assert entry.json is None
    _assert_authenticated(sim, entry)


async def test_validate_bad_key(sim: Simulator, make_client: ClientFactory) -> None:
    """A refused key is an auth error carrying the provider's message, not the key."""
    client = make_client(api_key="not-the-key")
    with pytest.raises(ProviderAuthError) as caught:
        await client.async_validate()
    assert "Unauthorized" in str(caught.value)
    assert "not-the-key" not in str(caught.value)
    assert len(_requests(sim)) == 1, "no token to renew: a 401 is not retried"


async def test_validate_unknown_user(make_client: ClientFactory) -> None:
    """A user the key does not serve is refused."""
    with pytest.raises(ProviderAuthError):
        await make_client(user_id="nobody").async_validate()


# --- fleet -------------------------------------------------------------------------------


async def test_fleet_requests(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Devices once, status per car (v1), schedule only for the plugged-in smart car."""
    smart, dumb, away = cars
    fleet = await client.async_get_fleet()

    entries = _requests(sim)
    assert len(entries) == 1 + len(cars) + 1
    assert client.requests_made == len(entries)
    first, *rest = entries
    assert (first.method, first.path, dict(first.query)) == (
        "GET",
        DEVICES,
        {"userId": sim.hiven.user_id},
    )
    status_paths = sorted(e.path for e in rest if e.path.endswith("/status"))
    assert status_paths == sorted(
        f"{PREFIX}/v1/hiven/devices/{car.id}/status" for car in cars
    )
    [schedule] = [e for e in rest if e.path.endswith("/schedule")]
    assert schedule.path == f"{DEVICES}/{smart.id}/smart-charging/schedule"
    for entry in entries:
        assert entry.method == "GET"
        assert entry.json is None
        _assert_authenticated(sim, entry)
    assert fleet.problems == ()
    assert fleet.vehicles[smart.id].schedule is not None
    assert fleet.vehicles[dumb.id].schedule is None
    assert fleet.vehicles[away.id].schedule is None


async def test_fleet_matches_truth(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Every car, its telemetry and preferences as the simulated truth has them."""
    fleet = await client.async_get_fleet()

    assert list(fleet.vehicles) == [car.id for car in cars], "in the list's order"
    assert sim.hiven.charger_id not in fleet.vehicles
    for car in cars:
        snapshot = fleet.vehicles[car.id]
        info = sim.hiven.info(car.id)
        assert snapshot.error is None
        assert snapshot.vehicle.name == car.name
        assert snapshot.vehicle.make == car.make
        assert snapshot.vehicle.model == car.model
        assert snapshot.vehicle.year == car.year
        assert snapshot.vehicle.vin == car.vin
        assert snapshot.vehicle.capabilities == CAPABILITIES
        state = snapshot.state
        assert state.state_of_charge == pytest.approx(car.soc, abs=0.05)
        assert state.range_km == pytest.approx(car.range_km * RANGE_TO_KM, abs=0.05)
        assert state.battery_capacity_wh == pytest.approx(car.battery_wh)
        assert state.updated_at == sim.clock.now()
        prefs = snapshot.preferences
        assert prefs.smart_charging is car.smart_charging
        assert prefs.target_soc == car.target_soc
        assert prefs.minimal_soc == car.minimal_soc
        assert prefs.ready_time == time(7, 0)
        expected_behavior = (
            ChargingBehavior.OFF
            if not car.smart_charging
            else ChargingBehavior.AT_LOCATION
            if info.location_ids
            else ChargingBehavior.ANYWHERE
        )
        assert prefs.charging_behavior is expected_behavior
    smart, dumb, away = (fleet.vehicles[car.id].state for car in cars)
    assert smart.plugged_in is True
    assert smart.charging_status in {ChargingStatus.CHARGING, ChargingStatus.PLUGGED_IN}
    assert (dumb.charging_status, dumb.plugged_in, dumb.charging) == (
        ChargingStatus.CHARGING,
        True,
        True,
    )
    assert (away.charging_status, away.plugged_in, away.charging) == (
        ChargingStatus.DISCONNECTED,
        False,
        False,
    )


async def test_battery_capacity_from_preferences(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Where telemetry has no capacity (null), the preference's batteryCapacity is used."""
    [car] = [c for c in cars if not sim.hiven.info(c.id).reports_capacity]
    sim.hiven.info(car.id).battery_capacity = 42.5

    fleet = await client.async_get_fleet()

    assert fleet.vehicles[car.id].state.battery_capacity_wh == 42.5 * (
        BATTERY_CAPACITY_TO_WH
    )


async def test_weekday_ready_times_read(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """The per-day map reads into Weekday keys; the general time stays alongside."""
    cars[0].weekday_ready_times = {"SATURDAY": "10:00", "MONDAY": "06:45"}

    fleet = await client.async_get_fleet()

    prefs = fleet.vehicles[cars[0].id].preferences
    assert dict(prefs.weekday_ready_times) == {
        Weekday.SATURDAY: time(10, 0),
        Weekday.MONDAY: time(6, 45),
    }
    assert prefs.effective_ready_time(Weekday.SUNDAY) == time(7, 0)


async def test_schedule_matches_truth(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """next_departure is the schedule's UTC readyTime; one slot per planned hour."""
    smart = cars[0]
    smart.soc = 20.0
    smart.ready_time = "23:00"
    sim.hiven.sync()
    truth = sim.hiven.schedule_json(smart, sim.clock.now())

    fleet = await client.async_get_fleet()

    schedule = fleet.vehicles[smart.id].schedule
    assert schedule is not None
    assert schedule.next_departure == smart.next_ready_time(
        sim.clock.now(), sim.timezone
    )
    assert schedule.slots
    starts = [slot.start for slot in schedule.slots]
    assert starts == sorted(
        datetime.fromisoformat(key) for key in truth["hourlyCharges"]
    )
    for slot in schedule.slots:
        assert slot.end - slot.start == timedelta(hours=1)
        assert slot.power_w is None
        assert slot.energy_wh is None  # a fraction of the hour is no energy
        assert slot.start < schedule.next_departure
    assert fleet.vehicles[smart.id].vehicle.capabilities.supports(Feature.CHARGING_PLAN)


def test_schedule_names_the_cars_time_zone() -> None:
    """The schedule's timeZone is kept (local ready-by times are read in it)."""
    data = {"readyTime": "2026-11-03T06:00:00Z", "timeZone": "Europe/Amsterdam"}
    schedule = _parse_schedule(Payload("hiven", data, "schedule"))
    assert schedule.time_zone == "Europe/Amsterdam"
    assert _parse_schedule(Payload("hiven", {}, "schedule")).time_zone is None


async def test_schedule_missing_is_no_schedule(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """A 404 for the schedule means there is no plan: no error, no problem."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=404, path="/schedule$"))

    fleet = await client.async_get_fleet()

    snapshot = fleet.vehicles[cars[0].id]
    assert snapshot.schedule is None
    assert snapshot.error is None
    assert fleet.problems == ()


async def test_schedule_failure_keeps_the_state(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """A failing schedule is a problem only: the car's telemetry stays available."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=503, path="/schedule$"))

    fleet = await client.async_get_fleet()

    snapshot = fleet.vehicles[cars[0].id]
    assert snapshot.error is None
    assert snapshot.state.state_of_charge is not None
    assert snapshot.schedule is None
    [problem] = fleet.problems
    assert isinstance(problem, ProviderConnectionError)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CHARGING", (ChargingStatus.CHARGING, True, True)),
        ("PLUGGED", (ChargingStatus.PLUGGED_IN, True, False)),
        ("COMPLETE", (ChargingStatus.COMPLETE, True, False)),
        ("CHARGING_COMPLETED", (ChargingStatus.COMPLETE, True, False)),
        ("DISCONNECTED", (ChargingStatus.DISCONNECTED, False, False)),
        ("NOT_CHARGING", (ChargingStatus.NOT_CHARGING, None, False)),
        ("SOMETHING_NEW", (ChargingStatus.UNKNOWN, None, None)),
    ],
)
async def test_status_mapping(
    sim: Simulator,
    client: HivenClient,
    cars: list[SimVehicle],
    raw: str,
    expected: tuple[ChargingStatus, bool | None, bool | None],
) -> None:
    """Every documented chargingStatus maps; an unknown one is UNKNOWN."""
    sim.hiven.set_status(cars[2].id, raw)
    fleet = await client.async_get_fleet()
    state = fleet.vehicles[cars[2].id].state
    assert (state.charging_status, state.plugged_in, state.charging) == expected


async def test_unknown_enums_read_as_none(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """New chargingStatus or chargingBehavior values: plug and behaviour read None.

    That they are no error and the status reads unknown: test_contract.py.
    """
    sim.faults.add(
        Fault(kind=FaultKind.UNKNOWN_ENUM, fields=PROFILES["hiven"].enum_fields)
    )
    fleet = await client.async_get_fleet()
    for car in cars:
        snapshot = fleet.vehicles[car.id]
        assert snapshot.state.plugged_in is None
        assert snapshot.preferences.charging_behavior is None
        assert snapshot.preferences.smart_charging is None


async def test_missing_optional_fields_read_as_none(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Missing optional fields give None everywhere, no preferences and no schedule.

    That they are no error, the name falls back to the id: test_contract.py.
    """
    sim.faults.add(
        Fault(kind=FaultKind.MISSING_FIELDS, fields=PROFILES["hiven"].optional_fields)
    )
    fleet = await client.async_get_fleet()
    for car in cars:
        snapshot = fleet.vehicles[car.id]
        assert snapshot.vehicle.make is None
        assert snapshot.preferences == ChargingPreferences()
        state = snapshot.state
        assert state.state_of_charge is None
        assert state.range_km is None
        assert state.battery_capacity_wh is None
        assert state.charging_status is ChargingStatus.UNKNOWN
        assert snapshot.schedule is None


async def test_km_targets_read_as_none(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Only PERCENT state-of-charge units are exposed; KM reads as None."""
    info = sim.hiven.info(cars[0].id)
    info.target_unit, info.target_km = "KM", 250.0
    info.minimal_unit, info.minimal_km = "KM", 50.0
    fleet = await client.async_get_fleet()
    prefs = fleet.vehicles[cars[0].id].preferences
    assert prefs.target_soc is None
    assert prefs.minimal_soc is None
    assert fleet.vehicles[cars[1].id].preferences.target_soc == 80


@pytest.mark.parametrize("field", ["attributes", "chargingPreferences", "type"])
async def test_garbled_item_is_an_error_on_that_vehicle(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle], field: str
) -> None:
    """A wrong structure in one item names the field; that car carries the error.

    Hiven keeps the list's order, the failed car in its place. A type that is not EV is
    no vehicle at all.
    """
    sim.faults.add(
        Fault(
            kind=FaultKind.UNKNOWN_ENUM,
            fields=(field,),
            path="/devices$",
            vehicle_id=cars[0].id,
        )
    )
    fleet = await client.async_get_fleet()
    if field == "type":
        assert cars[0].id not in fleet.vehicles, "a SOMETHING_NEW device is no EV"
        assert fleet.problems == ()
        return
    [problem] = fleet.problems
    assert type(problem) is ProviderResponseError
    assert problem.field is not None
    assert field in problem.field
    assert fleet.vehicles[cars[0].id].error is problem
    assert list(fleet.vehicles) == [car.id for car in cars]
    assert fleet.vehicles[cars[1].id].error is None


@pytest.mark.parametrize(
    ("field", "where", "reason"),
    [
        ("year", "devices[].attributes.year", "wrong type for field"),
        (
            "readyTime",
            "devices[].settings.chargingPreferences.readyTime",
            "not an HH:mm time",
        ),
        (
            "MONDAY",
            "devices[].settings.chargingPreferences.weekDaySpecificReadyTimes.MONDAY",
            "not an HH:mm time",
        ),
        (
            "chargingBehavior",
            "devices[].settings.chargingPreferences.chargingBehavior",
            "wrong type for field",
        ),
        ("timestamp", "status[].timestamp", "wrong type for field"),
    ],
)
async def test_unreadable_value_costs_only_that_value(
    sim: Simulator,
    client: HivenClient,
    cars: list[SimVehicle],
    *,
    field: str,
    where: str,
    reason: str,
) -> None:
    """A value that cannot be read is None; the car and its other values stay.

    Its problem names the field as it is for every car (``devices[]``), and the car.
    """
    cars[0].ready_time = "07:00"
    cars[0].weekday_ready_times = {"MONDAY": "07:30"}
    before = await client.async_get_fleet()
    value = 7 if field == "chargingBehavior" else "half past eight"
    sim.faults.add(
        Fault(
            kind=FaultKind.REPLACE_VALUE,
            path="/status$" if where.startswith("status") else "/devices$",
            fields=(field,),
            vehicle_id=cars[0].id,
            value=value,
        )
    )
    fleet = await client.async_get_fleet()
    [problem] = fleet.problems
    assert isinstance(problem, ProviderValueError)
    assert (problem.provider, problem.reason) == ("hiven", reason)
    assert (problem.field_pattern, problem.vehicle_id) == (where, cars[0].id)
    assert "half past" not in str(problem)
    old, new = before.vehicles[cars[0].id], fleet.vehicles[cars[0].id]
    assert new.error is None
    assert new.vehicle.capabilities == CAPABILITIES
    changed = {
        name
        for name in ("year", "make", "model", "name")
        if getattr(new.vehicle, name) != getattr(old.vehicle, name)
    } | {
        name
        for name in ("charging_behavior", "smart_charging", "ready_time", "target_soc")
        if getattr(new.preferences, name) != getattr(old.preferences, name)
    }
    if new.preferences.weekday_ready_times != old.preferences.weekday_ready_times:
        changed.add("weekday_ready_times")
    if new.state.updated_at != old.state.updated_at:
        changed.add("updated_at")
    expected = {
        "year": {"year"},
        "readyTime": {"ready_time"},
        "MONDAY": {"weekday_ready_times"},
        "chargingBehavior": {"charging_behavior", "smart_charging"},
        "timestamp": {"updated_at"},
    }[field]
    assert changed == expected
    assert new.state.state_of_charge == old.state.state_of_charge
    assert fleet.vehicles[cars[1].id] == before.vehicles[cars[1].id]


@pytest.mark.parametrize("fields", [("id",), ("id", "type"), ("attributes", "id")])
async def test_charger_without_an_id_is_no_problem(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle], fields: tuple[str, ...]
) -> None:
    """A charger missing its id (or even its type) is skipped silently."""
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            fields=fields,
            path="/devices$",
            vehicle_id=sim.hiven.charger_id,
        )
    )
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert list(fleet.vehicles) == [car.id for car in cars]


async def test_device_list_refused_is_an_auth_error(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """401 on the device list: the key is refused, with no token to renew.

    The other failures of the list: test_contract.py::test_fleet_list_errors.
    """
    sim.faults.add(Fault(kind=FaultKind.AUTH, path="/devices$"))
    with pytest.raises(ProviderAuthError):
        await client.async_get_fleet()
    assert len(_requests(sim)) == 1


async def test_device_list_forbidden_is_not_an_auth_error(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """403 on the device list: a permission is refused, not the key (no reauth)."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=403, path="/devices$"))
    with pytest.raises(ProviderForbiddenError) as caught:
        await client.async_get_fleet()
    assert not isinstance(caught.value, ProviderAuthError)
    assert len(_requests(sim)) == 1


@pytest.fixture
async def odd_server(
    socket_enabled: None,
) -> AsyncGenerator[tuple[TestServer, dict[str, web.Response]]]:
    """Serve, on loopback, whatever a test puts in the answer table."""
    answers: dict[str, web.Response] = {}

    async def handler(request: web.Request) -> web.Response:
        return answers[request.path]

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, answers
    await server.close()


@pytest.mark.parametrize(
    ("response", "field"),
    [
        (web.Response(text="<html>hi</html>", content_type="text/html"), "body"),
        (web.json_response({"devices": []}), "devices"),
        (web.json_response(["not an object"]), "devices[0]"),
    ],
)
async def test_device_list_shapes(
    odd_server: tuple[TestServer, dict[str, web.Response]],
    client_session: aiohttp.ClientSession,
    response: web.Response,
    field: str,
) -> None:
    """A 200 that is not JSON, not an array, or holds a non-object names the field."""
    server, answers = odd_server
    answers["/v2/hiven/devices"] = response
    client = PROVIDERS["hiven"](
        session=client_session,
        api_url=str(server.make_url("")),
        api_key="k",
        user_id="u",
    )
    if field == "devices[0]":
        fleet = await client.async_get_fleet()
        assert fleet.vehicles == {}
        [error] = fleet.problems
    else:
        with pytest.raises(ProviderResponseError) as caught:
            await client.async_get_fleet()
        error = caught.value
    assert isinstance(error, ProviderResponseError)
    assert error.field == field


async def test_non_ev_garbage_is_skipped_silently(
    odd_server: tuple[TestServer, dict[str, web.Response]],
    client_session: aiohttp.ClientSession,
) -> None:
    """Items whose type is not EV are skipped before any other check; ``ev`` is an EV."""
    server, answers = odd_server
    answers["/v2/hiven/devices"] = web.json_response(
        [
            {"type": "CHARGER"},
            {"type": "CHARGER", "id": 5, "attributes": "garbage", "settings": []},
            {"type": "charger", "id": None, "createdAt": 3},
            {"type": 7, "id": "seven"},
            {"id": "no-type"},
            {"type": None, "id": ["x"]},
            {"type": "ev", "id": "car"},
        ]
    )
    answers["/v1/hiven/devices/car/status"] = web.json_response(
        {"id": "car", "chargingStatus": "DISCONNECTED"}
    )
    client = PROVIDERS["hiven"](
        session=client_session,
        api_url=str(server.make_url("")),
        api_key="k",
        user_id="u",
    )
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert list(fleet.vehicles) == ["car"]


async def test_empty_and_quoted_write_answers(
    odd_server: tuple[TestServer, dict[str, web.Response]],
    client_session: aiohttp.ClientSession,
) -> None:
    """The write answers "" (a JSON string) or nothing; both are success."""
    server, answers = odd_server
    path = "/v2/hiven/devices/car/smart-charging/ev-preferences"
    client = PROVIDERS["hiven"](
        session=client_session,
        api_url=str(server.make_url("")),
        api_key="k",
        user_id="u",
    )
    snapshot = _snapshot(
        "car",
        ChargingPreferences(target_soc=80, charging_behavior=ChargingBehavior.OFF),
    )
    for answer in (web.Response(status=200), web.json_response("")):
        answers[path] = answer
        prefs = await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=70)
        )
        assert prefs.target_soc == 70


# --- preferences -------------------------------------------------------------------------


async def _fleet_snapshot(client: HivenClient, car: SimVehicle) -> VehicleSnapshot:
    fleet = await client.async_get_fleet()
    return fleet.vehicles[car.id]


def _preference_writes(sim: Simulator) -> list[Any]:
    return sim.requests.filter(provider="hiven", method="PUT")


async def test_update_target_sends_the_strict_body(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Target in PERCENT on the documented path, with the behaviour and ready time kept."""
    car = cars[0]
    snapshot = await _fleet_snapshot(client, car)
    sim.requests.clear()

    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(target_soc=55)
    )

    [entry] = _requests(sim)
    assert entry.method == "PUT"
    assert entry.path == f"{DEVICES}/{car.id}/smart-charging/ev-preferences"
    assert dict(entry.query) == {}
    assert entry.json == {
        "chargingBehavior": sim.hiven.behavior(car),
        "targetSoC": {"value": 55, "unit": "PERCENT"},
        "readyTime": "07:00",
    }
    _assert_authenticated(sim, entry)
    assert prefs == replace(snapshot.preferences, target_soc=55)
    assert car.target_soc == 55


async def test_update_several_fields(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Minimal and ready time together; the simulated car follows them."""
    car = cars[0]
    snapshot = await _fleet_snapshot(client, car)
    sim.requests.clear()

    prefs = await client.async_update_preferences(
        snapshot,
        PreferencesUpdate(minimal_soc=25, ready_time=parse_hhmm("hiven", "06:05")),
    )

    [entry] = _preference_writes(sim)
    assert entry.json == {
        "chargingBehavior": sim.hiven.behavior(car),
        "targetSoC": {"value": 80, "unit": "PERCENT"},
        "minimalSoC": {"value": 25, "unit": "PERCENT"},
        "readyTime": "06:05",
    }
    assert (prefs.minimal_soc, prefs.ready_time) == (25, time(6, 5))
    assert (car.minimal_soc, car.ready_time) == (25, "06:05")


async def test_weekday_update_sends_the_merged_map(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """The map is one top-level field: the whole merged map is sent, Monday first.

    The behaviour, target and general ready time go along (smart charging is on).
    """
    car = cars[0]
    car.weekday_ready_times = {"SATURDAY": "10:00", "SUNDAY": "10:00"}
    snapshot = await _fleet_snapshot(client, car)
    sim.requests.clear()

    prefs = await client.async_update_preferences(
        snapshot,
        PreferencesUpdate(
            weekday_ready_times={Weekday.MONDAY: time(7, 15), Weekday.SUNDAY: time(9)}
        ),
    )

    [entry] = _preference_writes(sim)
    assert list(entry.json) == [
        "chargingBehavior",
        "targetSoC",
        "readyTime",
        "weekDaySpecificReadyTimes",
    ]
    assert entry.json["chargingBehavior"] == sim.hiven.behavior(car)
    assert entry.json["targetSoC"] == {"value": 80, "unit": "PERCENT"}
    assert entry.json["readyTime"] == "07:00"
    assert list(entry.json["weekDaySpecificReadyTimes"].items()) == [
        ("MONDAY", "07:15"),
        ("SATURDAY", "10:00"),
        ("SUNDAY", "09:00"),
    ]
    assert car.weekday_ready_times == {
        "MONDAY": "07:15",
        "SATURDAY": "10:00",
        "SUNDAY": "09:00",
    }
    assert dict(prefs.weekday_ready_times) == {
        Weekday.MONDAY: time(7, 15),
        Weekday.SATURDAY: time(10),
        Weekday.SUNDAY: time(9),
    }


async def test_smart_charging_off(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Off is SMART_CHARGE_OFF; the car then charges at once."""
    car = cars[0]
    snapshot = await _fleet_snapshot(client, car)
    sim.requests.clear()

    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(smart_charging=False)
    )

    [entry] = _preference_writes(sim)
    assert entry.json == {"chargingBehavior": "SMART_CHARGE_OFF"}
    assert (prefs.smart_charging, prefs.charging_behavior) == (
        False,
        ChargingBehavior.OFF,
    )
    sim.advance(60)
    assert car.charging


@pytest.mark.parametrize(
    ("has_location", "expected"),
    [(True, "SMART_CHARGE_AT_LOCATION"), (False, "SMART_CHARGE_ANYWHERE")],
)
async def test_smart_charging_on_picks_the_mode(
    sim: Simulator,
    client: HivenClient,
    cars: list[SimVehicle],
    has_location: bool,
    expected: str,
) -> None:
    """On from off: at-location where the car has charging locations, else anywhere."""
    car = cars[1]
    info = sim.hiven.info(car.id)
    info.location_ids = [sim.hiven.location_id] if has_location else []
    snapshot = await _fleet_snapshot(client, car)
    sim.requests.clear()

    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(smart_charging=True)
    )

    [entry] = _requests(sim)
    assert entry.json == {
        "chargingBehavior": expected,
        "targetSoC": {"value": 80, "unit": "PERCENT"},
        "readyTime": "07:00",
    }
    assert prefs.smart_charging is True
    assert car.smart_charging is True
    assert sim.hiven.behavior(car) == expected


async def test_smart_charging_on_without_a_refresh_reads_the_locations(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """A client that never listed the car asks for its preferences first.

    The snapshot knows no target or ready time, so none is sent (the default, lenient
    simulator takes that body; the strict one would refuse it).
    """
    sim.hiven.strict_preferences = False
    car = cars[1]
    sim.hiven.info(car.id).location_ids = [sim.hiven.location_id]
    snapshot = _snapshot(
        car.id,
        ChargingPreferences(
            smart_charging=False, charging_behavior=ChargingBehavior.OFF
        ),
    )

    await client.async_update_preferences(
        snapshot, PreferencesUpdate(smart_charging=True)
    )

    read, write = _requests(sim)
    assert (read.method, read.path) == (
        "GET",
        f"{DEVICES}/{car.id}/smart-charging/ev-preferences",
    )
    assert write.json == {"chargingBehavior": "SMART_CHARGE_AT_LOCATION"}


async def test_smart_charging_on_when_on_sends_nothing(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Switching on a mode that is already on keeps it and sends nothing."""
    snapshot = await _fleet_snapshot(client, cars[0])
    sim.requests.clear()
    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(smart_charging=True)
    )
    assert _requests(sim) == []
    assert prefs == snapshot.preferences


@pytest.mark.parametrize(
    ("behavior", "raw"),
    [
        (ChargingBehavior.ANYWHERE, "SMART_CHARGE_ANYWHERE"),
        (ChargingBehavior.OFF, "SMART_CHARGE_OFF"),
    ],
)
async def test_charging_behavior(
    sim: Simulator,
    client: HivenClient,
    cars: list[SimVehicle],
    behavior: ChargingBehavior,
    raw: str,
) -> None:
    """The select's three modes map to Hiven's enum."""
    snapshot = await _fleet_snapshot(client, cars[0])
    sim.requests.clear()
    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(charging_behavior=behavior)
    )
    [entry] = _requests(sim)
    on = {"targetSoC": {"value": 80, "unit": "PERCENT"}, "readyTime": "07:00"}
    assert entry.json == {
        "chargingBehavior": raw,
        **(on if behavior is not ChargingBehavior.OFF else {}),
    }
    assert prefs.charging_behavior is behavior
    assert sim.hiven.behavior(cars[0]) == raw


ON_BODY = {"targetSoC": {"value": 80, "unit": "PERCENT"}, "readyTime": "07:00"}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            (
                1,
                PreferencesUpdate(smart_charging=True),
                {"chargingBehavior": "SMART_CHARGE_ANYWHERE", **ON_BODY},
            ),
            id="on-from-off",
        ),
        pytest.param(
            (
                0,
                PreferencesUpdate(smart_charging=False),
                {"chargingBehavior": "SMART_CHARGE_OFF"},
            ),
            id="off",
        ),
        pytest.param(
            (
                1,
                PreferencesUpdate(charging_behavior=ChargingBehavior.ANYWHERE),
                {"chargingBehavior": "SMART_CHARGE_ANYWHERE", **ON_BODY},
            ),
            id="behavior",
        ),
        pytest.param(
            (
                0,
                PreferencesUpdate(target_soc=65),
                {
                    "chargingBehavior": "SMART_CHARGE_ANYWHERE",
                    "targetSoC": {"value": 65, "unit": "PERCENT"},
                    "readyTime": "07:00",
                },
            ),
            id="target",
        ),
        pytest.param(
            (
                1,
                PreferencesUpdate(target_soc=65),
                {
                    "chargingBehavior": "SMART_CHARGE_OFF",
                    "targetSoC": {"value": 65, "unit": "PERCENT"},
                },
            ),
            id="target-while-off",
        ),
        pytest.param(
            (
                0,
                PreferencesUpdate(minimal_soc=20),
                {
                    "chargingBehavior": "SMART_CHARGE_ANYWHERE",
                    **ON_BODY,
                    "minimalSoC": {"value": 20, "unit": "PERCENT"},
                },
            ),
            id="minimal",
        ),
        pytest.param(
            (
                1,
                PreferencesUpdate(minimal_soc=20),
                {
                    "chargingBehavior": "SMART_CHARGE_OFF",
                    "minimalSoC": {"value": 20, "unit": "PERCENT"},
                },
            ),
            id="minimal-while-off",
        ),
        pytest.param(
            (
                0,
                PreferencesUpdate(ready_time=time(6, 30)),
                {
                    "chargingBehavior": "SMART_CHARGE_ANYWHERE",
                    "targetSoC": {"value": 80, "unit": "PERCENT"},
                    "readyTime": "06:30",
                },
            ),
            id="ready-time",
        ),
        pytest.param(
            (
                0,
                PreferencesUpdate(weekday_ready_times={Weekday.FRIDAY: time(9, 15)}),
                {
                    "chargingBehavior": "SMART_CHARGE_ANYWHERE",
                    **ON_BODY,
                    "weekDaySpecificReadyTimes": {"FRIDAY": "09:15"},
                },
            ),
            id="one-weekday",
        ),
        pytest.param(
            (
                1,
                PreferencesUpdate(weekday_ready_times={Weekday.FRIDAY: time(9, 15)}),
                {
                    "chargingBehavior": "SMART_CHARGE_OFF",
                    "weekDaySpecificReadyTimes": {"FRIDAY": "09:15"},
                },
            ),
            id="one-weekday-while-off",
        ),
    ],
)
async def test_strict_writes(
    sim: Simulator,
    client: HivenClient,
    cars: list[SimVehicle],
    case: tuple[int, PreferencesUpdate, dict[str, Any]],
) -> None:
    """Each kind of write passes the strict simulator with exactly the required body.

    Cars 0 (smart, anywhere) and 1 (off) have no charging location, so on means anywhere.
    """
    index, update, expected = case
    car = cars[index]
    sim.hiven.info(car.id).location_ids = []
    if index == 0:
        sim.hiven.info(car.id).behavior_when_on = "SMART_CHARGE_ANYWHERE"
    snapshot = await _fleet_snapshot(client, car)
    sim.requests.clear()

    prefs = await client.async_update_preferences(snapshot, update)

    [entry] = _requests(sim)
    assert entry.method == "PUT"
    assert entry.json == expected
    assert list(entry.json)[0] == "chargingBehavior"
    assert sim.hiven.behavior(car) == expected["chargingBehavior"]
    fleet = await client.async_get_fleet()
    assert prefs == fleet.vehicles[car.id].preferences


async def test_no_invented_target_or_ready_time(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """A car with no readable target (KM) and no ready time gets neither in the body.

    The strict simulator refuses that body (a 400 the user sees); the lenient one takes it.
    """
    car = cars[0]
    info = sim.hiven.info(car.id)
    info.target_unit, info.target_km = "KM", 250.0
    info.location_ids = []
    info.behavior_when_on = "SMART_CHARGE_ANYWHERE"
    car.ready_time = None
    snapshot = await _fleet_snapshot(client, car)
    assert snapshot.preferences.target_soc is None
    assert snapshot.preferences.ready_time is None
    sim.requests.clear()
    expected = {
        "chargingBehavior": "SMART_CHARGE_ANYWHERE",
        "minimalSoC": {"value": 20, "unit": "PERCENT"},
    }

    with pytest.raises(ProviderRejectedError) as caught:
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(minimal_soc=20)
        )
    assert caught.value.status == 400
    assert _preference_writes(sim)[-1].json == expected
    assert car.minimal_soc is None

    sim.hiven.strict_preferences = False
    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(minimal_soc=20)
    )
    assert _preference_writes(sim)[-1].json == expected
    assert car.minimal_soc == 20
    assert (prefs.target_soc, prefs.ready_time, prefs.minimal_soc) == (None, None, 20)
    assert info.target_unit == "KM", "the KM target is left alone"


async def test_unknown_behavior_is_read_before_the_write(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """With no known behaviour the preferences are read first, so the PUT can name it."""
    car = cars[0]
    sim.hiven.info(car.id).location_ids = []
    sim.hiven.info(car.id).behavior_when_on = "SMART_CHARGE_ANYWHERE"
    snapshot = _snapshot(car.id)

    prefs = await client.async_update_preferences(
        snapshot, PreferencesUpdate(target_soc=60)
    )

    read, write = _requests(sim)
    assert (read.method, read.path) == (
        "GET",
        f"{DEVICES}/{car.id}/smart-charging/ev-preferences",
    )
    assert write.json == {
        "chargingBehavior": "SMART_CHARGE_ANYWHERE",
        "targetSoC": {"value": 60, "unit": "PERCENT"},
        "readyTime": "07:00",
    }
    assert prefs.charging_behavior is ChargingBehavior.ANYWHERE
    assert (prefs.smart_charging, prefs.target_soc, prefs.ready_time) == (
        True,
        60,
        time(7),
    )
    assert car.target_soc == 60


async def test_at_location_without_locations_is_refused(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """Hiven refuses at-location for a car without locations; the detail is kept."""
    car = cars[1]
    sim.hiven.info(car.id).location_ids = []
    snapshot = await _fleet_snapshot(client, car)
    with pytest.raises(ProviderRejectedError) as caught:
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(charging_behavior=ChargingBehavior.AT_LOCATION)
        )
    assert caught.value.status == 400
    assert caught.value.detail is not None
    assert "chargingLocationIds" in caught.value.detail
    assert car.smart_charging is False


async def test_get_preferences(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """GET ev-preferences reads the same shape as the embedded preferences."""
    car = cars[0]
    prefs = await client.async_get_preferences(car.id)
    [entry] = _requests(sim)
    assert (entry.method, entry.path, entry.json) == (
        "GET",
        f"{DEVICES}/{car.id}/smart-charging/ev-preferences",
        None,
    )
    _assert_authenticated(sim, entry)
    fleet = await client.async_get_fleet()
    assert prefs == fleet.vehicles[car.id].preferences


@pytest.mark.parametrize(
    "update",
    [
        PreferencesUpdate(target_soc=101),
        PreferencesUpdate(target_soc=-1),
        PreferencesUpdate(minimal_soc=90),
        PreferencesUpdate(minimal_soc=101),
        PreferencesUpdate(),
        PreferencesUpdate(
            smart_charging=False, charging_behavior=ChargingBehavior.ANYWHERE
        ),
    ],
)
async def test_invalid_input_sends_nothing(
    sim: Simulator,
    client: HivenClient,
    cars: list[SimVehicle],
    update: PreferencesUpdate,
) -> None:
    """Out of range, minimal above target, nothing, contradictions: refused before sending."""
    snapshot = await _fleet_snapshot(client, cars[0])
    sim.requests.clear()
    with pytest.raises(InvalidInputError):
        await client.async_update_preferences(snapshot, update)
    assert _requests(sim) == []


async def test_unsupported_feature_sends_nothing(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """A feature the vehicle lacks is refused before sending; boost is unsupported."""
    bare = Capabilities(features=frozenset({Feature.STATE_OF_CHARGE}))
    snapshot = _snapshot(cars[0].id, capabilities=bare)
    with pytest.raises(InvalidInputError):
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=60)
        )
    with pytest.raises(InvalidInputError):
        parse_hhmm("hiven", "25:00")
    with pytest.raises(UnsupportedFeatureError) as err:
        await client.async_update_preferences(
            _snapshot(cars[0].id), PreferencesUpdate(boost=True)
        )
    assert err.value.feature == Feature.BOOST
    assert _requests(sim) == []


async def test_write_errors(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """A failing write raises the mapped error and changes nothing."""
    snapshot = await _fleet_snapshot(client, cars[0])
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=503, method="PUT", times=1))
    with pytest.raises(ProviderConnectionError):
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=60)
        )
    assert cars[0].target_soc == 80
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=404, method="PUT", times=1))
    with pytest.raises(ProviderRejectedError) as caught:
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=60)
        )
    assert caught.value.status == 404


async def test_write_to_a_removed_car(
    sim: Simulator, client: HivenClient, cars: list[SimVehicle]
) -> None:
    """A car deleted meanwhile answers 404 with Hiven's message."""
    snapshot = await _fleet_snapshot(client, cars[0])
    sim.hiven.remove_vehicle(cars[0].id)
    with pytest.raises(ProviderRejectedError) as caught:
        await client.async_update_preferences(
            snapshot, PreferencesUpdate(target_soc=60)
        )
    assert caught.value.detail == f"Device with id {cars[0].id} not found"


# --- secrets -----------------------------------------------------------------------------


# --- parsers against arbitrary JSON ------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    charges=st.dictionaries(
        st.text(max_size=25)
        | st.sampled_from(
            [
                "2026-11-02T01:00:00.000Z",
                "2026-11-02T02:00:00",
                "9999-12-31T23:30:00Z",
                "0001-01-01T00:00:00+01:00",
            ]
        ),
        HIVEN_JSON,
        max_size=4,
    )
)
def test_schedule_hours_parse_or_name_the_field(charges: dict[str, Any]) -> None:
    """Keys of hourlyCharges that are not ISO hours name the field; good ones give slots.

    Read strictly (a write's answer) the first bad one raises; read leniently (the
    fleet) each bad one is a value fault and the good ones still give their slots.
    """
    faults: list[ChargeBridgeError] = []
    lenient = _parse_schedule(
        Payload("hiven", {"hourlyCharges": charges}, "schedule", faults)
    )
    for fault in faults:
        assert isinstance(fault, ProviderValueError)
        assert fault.field.startswith("schedule.hourlyCharges.")
    for slot in lenient.slots:
        assert slot.start.tzinfo is UTC
        assert slot.end - slot.start == timedelta(hours=1)
    error: ProviderResponseError | None = None
    try:
        schedule = _parse_schedule(
            Payload("hiven", {"hourlyCharges": charges}, "schedule")
        )
    except ProviderResponseError as err:
        error = err
    if error is not None:
        assert type(error) is ProviderResponseError
        assert error.field is not None
        assert error.field.startswith("schedule.hourlyCharges")
        assert faults, "what the strict read refuses, the lenient one reports"
        return
    assert not faults
    assert schedule == lenient
