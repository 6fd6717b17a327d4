"""The Hiven simulator's contract: every endpoint, auth, bad input and physics seen through it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import json
import re
from typing import Any

import aiohttp
import pytest

from tests.simulator import Fault, FaultKind, Simulator, SimulatorServer, SimVehicle
from tests.simulator.hiven import (
    CHARGING_STATUSES,
    OTHER_USER_ID,
    SMARTCAR_CAPABILITIES,
    State,
    build_app,
    error_body,
)

V2 = "/v2/hiven"
V1 = "/v1/hiven"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)
DEVICE_KEYS = {
    "id",
    "type",
    "integration",
    "associatedToCharger",
    "associatedChargerIds",
    "createdAt",
    "attributes",
    "settings",
}
ATTRIBUTE_KEYS = {
    "partnerId",
    "partnerName",
    "externalId",
    "userId",
    "vin",
    "manufacturer",
    "year",
    "model",
    "name",
    "deviceType",
    "engineType",
}
PREFERENCE_KEYS = {
    "chargingBehavior",
    "chargingLocationIds",
    "chargingLocations",
    "readyTime",
    "weekDaySpecificReadyTimes",
    "targetSoC",
    "minimalSoC",
    "batteryCapacity",
    "defaultSpotPriceAreaId",
}


@dataclass
class Answer:
    """One response: status, headers, raw text and decoded body."""

    status: int
    headers: Mapping[str, str]
    text: str
    body: Any


class Api:
    """A tiny Hiven client for the tests."""

    def __init__(self, session: aiohttp.ClientSession, server: SimulatorServer) -> None:
        """Talk to `server` through `session`."""
        self.session = session
        self.server = server
        self.sim = server.sim

    @property
    def state(self) -> State:
        """The simulated account."""
        return self.sim.hiven

    def headers(self, **extra: str) -> dict[str, str]:
        """Good headers, changed by `extra` (an empty value removes the header)."""
        headers = {
            "X-Api-Key": self.state.credentials["api_key"],
            "X-User-Id": self.state.user_id,
        }
        headers.update(extra)
        return {key: value for key, value in headers.items() if value}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request to {api_url}{path}."""
        send = self.headers() if headers is None else dict(headers)
        if data is not None:
            send["Content-Type"] = "application/json"
        async with self.session.request(
            method,
            f"{self.server.api_url('hiven')}{path}",
            params=params,
            json=json_body,
            data=data,
            headers=send,
        ) as response:
            text = await response.text()
            body = json.loads(text) if text else None
            return Answer(response.status, response.headers, text, body)

    async def devices(self, **headers: str) -> Answer:
        """GET the demo user's device list."""
        return await self.call(
            "GET",
            f"{V2}/devices",
            params={"userId": self.state.user_id},
            headers=self.headers(**headers),
        )

    async def put_preferences(self, vehicle_id: str, body: Any) -> Answer:
        """PUT ev-preferences with a JSON body."""
        return await self.call(
            "PUT",
            f"{V2}/devices/{vehicle_id}/smart-charging/ev-preferences",
            json_body=body,
        )


@pytest.fixture
async def api(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> Api:
    """Return a test client of the simulated Hiven API."""
    return Api(client_session, sim_server)


def _car(sim: Simulator, index: int = 0) -> SimVehicle:
    """Return a demo car with the daily routine off (tests decide what happens)."""
    vehicle = list(sim.hiven.fleet)[index]
    vehicle.routine = False
    return vehicle


def _plugged(sim: Simulator, *, smart: bool = True, index: int = 0) -> SimVehicle:
    """Return a plugged-in car at 40 % aiming at 80 %."""
    vehicle = _car(sim, index)
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    vehicle.smart_charging = smart
    vehicle.minimal_soc = None
    vehicle.soc = 40.0
    vehicle.target_soc = 80
    sim.hiven.sync()
    return vehicle


def assert_nest_error(answer: Answer, status: int, message: str | None = None) -> str:
    """Assert a NestJS error body; return its message."""
    assert answer.status == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    assert set(answer.body) == {"statusCode", "message", "error"}
    assert answer.body["statusCode"] == status
    assert isinstance(answer.body["error"], str)
    text = answer.body["message"]
    assert isinstance(text, str)
    if message is not None:
        assert message in text, text
    return text


# --- generation --------------------------------------------------------------------------


def test_deterministic_per_seed() -> None:
    """Same seed, same ids; another seed, other ids; ids are UUIDs."""
    first = Simulator(vehicles=4, seed=3).hiven
    second = Simulator(vehicles=4, seed=3).hiven
    other = Simulator(vehicles=4, seed=4).hiven
    assert list(first.fleet.vehicles) == list(second.fleet.vehicles)
    assert first.charger_id == second.charger_id
    assert list(first.fleet.vehicles) != list(other.fleet.vehicles)
    for vehicle_id in [*first.fleet.vehicles, first.charger_id, first.location_id]:
        assert UUID.fullmatch(vehicle_id)
    assert not set(first.fleet.vehicles) & set(first.other_fleet.vehicles)


def test_every_route_is_documented(sim: Simulator) -> None:
    """The simulator serves the documented endpoints and nothing else."""
    routes = {
        (route.method, route.resource.canonical)
        for route in build_app(sim).router.routes()
        if route.resource is not None
    }
    assert routes == {
        ("GET", f"{V2}/devices"),
        ("GET", f"{V2}/devices/{{device_id}}"),
        ("DELETE", f"{V2}/devices/{{device_id}}"),
        ("GET", f"{V1}/devices/{{device_id}}/status"),
        ("GET", f"{V2}/devices/{{device_id}}/smart-charging/ev-preferences"),
        ("PUT", f"{V2}/devices/{{device_id}}/smart-charging/ev-preferences"),
        ("GET", f"{V2}/devices/{{device_id}}/smart-charging/schedule"),
        ("GET", f"{V2}/devices/{{device_id}}/smart-charging/sessions"),
        ("GET", f"{V2}/vehicles/smartcar/makes"),
        ("GET", f"{V2}/vehicles/smartcar/capabilities"),
        ("GET", f"{V1}/devices/smartcar/{{device_id}}/capabilities"),
    }


def test_error_body_shape() -> None:
    """Injected and real errors share the NestJS shape."""
    response = error_body(429, "Too many requests")
    assert response.status == 429
    assert json.loads(response.text) == {
        "statusCode": 429,
        "message": "Too many requests",
        "error": "Too Many Requests",
    }


# --- auth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Api-Key": ""},
        {"X-Api-Key": "wrong"},
        {"X-User-Id": ""},
        {"X-User-Id": "someone-else"},
        {"X-Api-Key": "", "X-User-Id": ""},
    ],
)
async def test_auth_failures(api: Api, headers: dict[str, str]) -> None:
    """A missing or wrong key or user is 401 in the NestJS shape."""
    assert_nest_error(await api.devices(**headers), 401, "Unauthorized")


async def test_revoked_key(api: Api) -> None:
    """After revoke_credentials() the demo key no longer works."""
    old = api.headers()
    api.state.revoke_credentials()
    answer = await api.call(
        "GET", f"{V2}/devices", params={"userId": api.state.user_id}, headers=old
    )
    assert_nest_error(answer, 401)
    assert (await api.devices()).status == 200


async def test_user_query_must_match_header(api: Api) -> None:
    """The userId query is required and must be the X-User-Id user."""
    answer = await api.call("GET", f"{V2}/devices")
    assert_nest_error(answer, 400, "userId")
    answer = await api.call("GET", f"{V2}/devices", params={"userId": OTHER_USER_ID})
    assert_nest_error(answer, 403, "Forbidden")


# --- devices -----------------------------------------------------------------------------


async def test_device_list(api: Api) -> None:
    """Every car as documented, plus one charger (type CHARGER)."""
    answer = await api.devices()
    assert answer.status == 200
    devices = answer.body
    assert isinstance(devices, list)
    cars = [device for device in devices if device["type"] == "EV"]
    chargers = [device for device in devices if device["type"] != "EV"]
    assert [car["id"] for car in cars] == list(api.state.fleet.vehicles)
    assert [charger["id"] for charger in chargers] == [api.state.charger_id]
    assert chargers[0]["type"] == "CHARGER"
    for car in cars:
        truth = api.state.fleet.vehicles[car["id"]]
        assert set(car) == DEVICE_KEYS
        assert car["integration"] == "SMARTCAR"
        assert ISO_MS.fullmatch(car["createdAt"])
        assert set(car["attributes"]) == ATTRIBUTE_KEYS
        attributes = car["attributes"]
        assert attributes["userId"] == api.state.user_id
        assert (attributes["manufacturer"], attributes["model"]) == (
            truth.make,
            truth.model,
        )
        assert (attributes["vin"], attributes["year"], attributes["name"]) == (
            truth.vin,
            truth.year,
            truth.name,
        )
        assert set(car["settings"]) == {"locationSupported", "chargingPreferences"}
        prefs = car["settings"]["chargingPreferences"]
        assert set(prefs) <= PREFERENCE_KEYS
        assert prefs["targetSoC"] == {"value": truth.target_soc, "unit": "PERCENT"}
        assert prefs["readyTime"] == truth.ready_time
        assert prefs["chargingBehavior"] == api.state.behavior(truth)
    assert any(car["associatedToCharger"] for car in cars)


async def test_other_user_sees_only_their_car(api: Api) -> None:
    """The second user of the key lists their own car and no charger."""
    answer = await api.call(
        "GET",
        f"{V2}/devices",
        params={"userId": OTHER_USER_ID},
        headers=api.headers(**{"X-User-Id": OTHER_USER_ID}),
    )
    assert answer.status == 200
    assert [device["id"] for device in answer.body] == list(
        api.state.other_fleet.vehicles
    )
    assert answer.body[0]["attributes"]["userId"] == OTHER_USER_ID


async def test_device_details(api: Api) -> None:
    """GET /devices/:id gives the list's object, for cars and the charger."""
    listed = {device["id"]: device for device in (await api.devices()).body}
    for device_id, device in listed.items():
        answer = await api.call("GET", f"{V2}/devices/{device_id}")
        assert answer.status == 200
        assert answer.body == device


async def test_device_of_another_user_is_not_found(api: Api) -> None:
    """Another user's car answers 404 on every per-device path."""
    foreign = next(iter(api.state.other_fleet.vehicles))
    for method, path in [
        ("GET", f"{V2}/devices/{foreign}"),
        ("DELETE", f"{V2}/devices/{foreign}"),
        ("GET", f"{V1}/devices/{foreign}/status"),
        ("GET", f"{V2}/devices/{foreign}/smart-charging/ev-preferences"),
        ("PUT", f"{V2}/devices/{foreign}/smart-charging/ev-preferences"),
        ("GET", f"{V2}/devices/{foreign}/smart-charging/schedule"),
        ("GET", f"{V2}/devices/{foreign}/smart-charging/sessions"),
    ]:
        answer = await api.call(method, path, json_body={"readyTime": "07:00"})
        assert_nest_error(answer, 404, f"Device with id {foreign} not found")
    assert foreign in api.state.other_fleet.vehicles


async def test_charger_is_no_ev(api: Api) -> None:
    """EV-only endpoints answer 409 for the charger."""
    charger = api.state.charger_id
    for method, path in [
        ("GET", f"{V1}/devices/{charger}/status"),
        ("GET", f"{V2}/devices/{charger}/smart-charging/ev-preferences"),
        ("PUT", f"{V2}/devices/{charger}/smart-charging/ev-preferences"),
        ("GET", f"{V2}/devices/{charger}/smart-charging/schedule"),
        ("DELETE", f"{V2}/devices/{charger}"),
    ]:
        answer = await api.call(method, path, json_body={"readyTime": "07:00"})
        assert_nest_error(answer, 409, "is not an EV")


async def test_delete_device(api: Api) -> None:
    """DELETE answers an empty 200; the car is gone from the list and the fleet."""
    vehicle_id = next(iter(api.state.fleet.vehicles))
    answer = await api.call("DELETE", f"{V2}/devices/{vehicle_id}")
    assert (answer.status, answer.text) == (200, "")
    assert vehicle_id not in api.state.fleet.vehicles
    assert vehicle_id not in [device["id"] for device in (await api.devices()).body]
    assert_nest_error(await api.call("GET", f"{V2}/devices/{vehicle_id}"), 404)
    assert_nest_error(await api.call("DELETE", f"{V2}/devices/{vehicle_id}"), 404)


async def test_add_and_remove_vehicle(api: Api) -> None:
    """The Python API adds and removes cars the list then shows."""
    added = api.state.add_vehicle(name="Test car")
    listed = [device["id"] for device in (await api.devices()).body]
    assert added.id in listed
    assert api.state.info(added.id).user_id == api.state.user_id
    api.state.remove_vehicle(added.id)
    listed = [device["id"] for device in (await api.devices()).body]
    assert added.id not in listed


# --- status ------------------------------------------------------------------------------


async def test_status(api: Api) -> None:
    """v1 status: soc %, range, documented chargingStatus, capacity string or null."""
    for vehicle in api.state.fleet:
        answer = await api.call("GET", f"{V1}/devices/{vehicle.id}/status")
        assert answer.status == 200
        body = answer.body
        assert set(body) == {
            "id",
            "timestamp",
            "soc",
            "range",
            "chargingStatus",
            "batteryCapacity",
        }
        assert body["id"] == vehicle.id
        assert body["timestamp"] == "2026-11-02T06:00:00.000Z"
        assert body["soc"] == pytest.approx(vehicle.soc, abs=0.05)
        assert body["range"] == pytest.approx(vehicle.range_km, abs=0.05)
        assert body["chargingStatus"] in CHARGING_STATUSES
        capacity = body["batteryCapacity"]
        if api.state.info(vehicle.id).reports_capacity:
            assert float(capacity) * 1000 == vehicle.battery_wh
        else:
            assert capacity is None
            prefs = (
                await api.call(
                    "GET", f"{V2}/devices/{vehicle.id}/smart-charging/ev-preferences"
                )
            ).body
            assert prefs["batteryCapacity"] * 1000 == vehicle.battery_wh


async def test_status_is_v1_only(api: Api) -> None:
    """The status lives under /v1; /v2 is a router miss in NestJS words."""
    vehicle_id = next(iter(api.state.fleet.vehicles))
    answer = await api.call("GET", f"{V2}/devices/{vehicle_id}/status")
    assert_nest_error(answer, 404, f"Cannot GET /v2/hiven/devices/{vehicle_id}/status")


async def test_status_follows_physics(api: Api) -> None:
    """Smart off charges at once; at the target the car reads COMPLETE."""
    vehicle = _plugged(api.sim, smart=False)
    path = f"{V1}/devices/{vehicle.id}/status"
    before = (await api.call("GET", path)).body
    assert before["chargingStatus"] == "CHARGING"
    api.sim.clock.advance(timedelta(hours=1))
    after = (await api.call("GET", path)).body
    expected = vehicle.max_power_w / vehicle.battery_wh * 100
    assert after["soc"] - before["soc"] == pytest.approx(expected, abs=0.2)
    assert after["timestamp"] == "2026-11-02T07:00:00.000Z"
    api.sim.clock.advance(timedelta(hours=12))
    done = (await api.call("GET", path)).body
    assert done["soc"] == pytest.approx(80, abs=0.05)
    assert done["chargingStatus"] == api.state.info(vehicle.id).complete_spelling
    assert done["chargingStatus"] in {"COMPLETE", "CHARGING_COMPLETED"}
    vehicle.unplug()
    assert (await api.call("GET", path)).body["chargingStatus"] == "DISCONNECTED"


async def test_status_override(api: Api) -> None:
    """set_status() forces any raw value (NOT_CHARGING, or a new one) until cleared."""
    vehicle_id = next(iter(api.state.fleet.vehicles))
    path = f"{V1}/devices/{vehicle_id}/status"
    api.state.set_status(vehicle_id, "NOT_CHARGING")
    assert (await api.call("GET", path)).body["chargingStatus"] == "NOT_CHARGING"
    api.state.set_status(vehicle_id, None)
    assert (await api.call("GET", path)).body["chargingStatus"] != "NOT_CHARGING"


# --- preferences -------------------------------------------------------------------------


async def test_get_preferences_matches_the_device(api: Api) -> None:
    """GET ev-preferences equals the device's settings.chargingPreferences."""
    for device in (await api.devices()).body:
        if device["type"] != "EV":
            continue
        answer = await api.call(
            "GET", f"{V2}/devices/{device['id']}/smart-charging/ev-preferences"
        )
        assert answer.status == 200
        assert answer.body == device["settings"]["chargingPreferences"]


async def test_put_acts_as_patch(api: Api) -> None:
    """Each given field changes, the others stay; the answer is an empty 200."""
    vehicle = _car(api.sim)
    vehicle.weekday_ready_times = {"SATURDAY": "10:00"}
    vehicle.minimal_soc = 20
    ready_before = vehicle.ready_time
    answer = await api.put_preferences(
        vehicle.id, {"targetSoC": {"value": 65, "unit": "PERCENT"}}
    )
    assert (answer.status, answer.text) == (200, "")
    assert vehicle.target_soc == 65
    assert vehicle.minimal_soc == 20
    assert vehicle.ready_time == ready_before
    assert vehicle.weekday_ready_times == {"SATURDAY": "10:00"}


async def test_put_every_field(api: Api) -> None:
    """All documented fields at once are stored and read back."""
    vehicle = _car(api.sim)
    location = api.state.location_id
    body = {
        "chargingBehavior": "SMART_CHARGE_AT_LOCATION",
        "chargingLocationIds": [location],
        "minimalSoC": {"value": 15, "unit": "PERCENT"},
        "targetSoC": {"value": 90, "unit": "PERCENT"},
        "readyTime": "06:15",
        "weekDaySpecificReadyTimes": {"MONDAY": "05:45", "SUNDAY": "11:00"},
        "batteryCapacity": 64.5,
        "defaultSpotPriceAreaId": "BE",
    }
    assert (await api.put_preferences(vehicle.id, body)).status == 200
    stored = (
        await api.call(
            "GET", f"{V2}/devices/{vehicle.id}/smart-charging/ev-preferences"
        )
    ).body
    stored.pop("chargingLocations")
    assert stored == body
    assert vehicle.smart_charging is True
    assert (vehicle.target_soc, vehicle.minimal_soc) == (90, 15)
    assert vehicle.weekday_ready_times == {"MONDAY": "05:45", "SUNDAY": "11:00"}


async def test_weekday_map_is_replaced_whole(api: Api) -> None:
    """A top-level field is replaced: days left out of the new map are gone."""
    vehicle = _car(api.sim)
    vehicle.weekday_ready_times = {"SATURDAY": "10:00", "SUNDAY": "10:00"}
    answer = await api.put_preferences(
        vehicle.id, {"weekDaySpecificReadyTimes": {"MONDAY": "07:00"}}
    )
    assert answer.status == 200
    assert vehicle.weekday_ready_times == {"MONDAY": "07:00"}


async def test_smart_charging_off_and_on(api: Api) -> None:
    """SMART_CHARGE_OFF turns smart charging off; ANYWHERE turns it on again."""
    vehicle = _plugged(api.sim, smart=True)
    assert (
        await api.put_preferences(vehicle.id, {"chargingBehavior": "SMART_CHARGE_OFF"})
    ).status == 200
    assert vehicle.smart_charging is False
    assert api.state.behavior(vehicle) == "SMART_CHARGE_OFF"
    assert (
        await api.put_preferences(
            vehicle.id, {"chargingBehavior": "SMART_CHARGE_ANYWHERE"}
        )
    ).status == 200
    assert vehicle.smart_charging is True
    assert api.state.behavior(vehicle) == "SMART_CHARGE_ANYWHERE"


async def test_km_targets(api: Api) -> None:
    """A KM target is kept as given and drives physics as the matching percentage."""
    vehicle = _car(api.sim)
    km = api.state.km_per_percent(vehicle) * 70
    answer = await api.put_preferences(
        vehicle.id, {"targetSoC": {"value": round(km, 1), "unit": "KM"}}
    )
    assert answer.status == 200
    assert vehicle.target_soc == 70
    stored = (
        await api.call(
            "GET", f"{V2}/devices/{vehicle.id}/smart-charging/ev-preferences"
        )
    ).body
    assert stored["targetSoC"] == {"value": round(km, 1), "unit": "KM"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"targetSoC": {"value": 120, "unit": "PERCENT"}}, "targetSoC.value"),
        ({"targetSoC": {"value": -1, "unit": "PERCENT"}}, "targetSoC.value"),
        ({"targetSoC": {"value": "80", "unit": "PERCENT"}}, "targetSoC.value"),
        ({"targetSoC": {"value": 80, "unit": "MILES"}}, "targetSoC.unit"),
        ({"targetSoC": {"value": 80}}, "targetSoC.unit"),
        ({"targetSoC": 80}, "targetSoC must be an object"),
        ({"minimalSoC": {"value": 101, "unit": "PERCENT"}}, "minimalSoC.value"),
        ({"minimalSoC": {"value": 9999, "unit": "KM"}}, "minimalSoC.value"),
        ({"readyTime": "25:00"}, "readyTime"),
        ({"readyTime": "7:00"}, "readyTime"),
        ({"readyTime": 700}, "readyTime"),
        ({"chargingBehavior": "SMART"}, "chargingBehavior must be one of"),
        ({"chargingBehavior": None}, "chargingBehavior must be one of"),
        ({"weekDaySpecificReadyTimes": {"FUNDAY": "07:00"}}, "FUNDAY"),
        ({"weekDaySpecificReadyTimes": {"monday": "07:00"}}, "monday"),
        ({"weekDaySpecificReadyTimes": {"MONDAY": "24:00"}}, "MONDAY"),
        ({"weekDaySpecificReadyTimes": ["MONDAY"]}, "weekDaySpecificReadyTimes"),
        ({"chargingLocationIds": "home"}, "chargingLocationIds"),
        ({"chargingLocationIds": ["nowhere"]}, "Location with id nowhere not found"),
        ({"batteryCapacity": -5}, "batteryCapacity"),
        ({"defaultSpotPriceAreaId": 3}, "defaultSpotPriceAreaId"),
        ({"boost": True}, "property boost should not exist"),
        ({"minimalSoC": {"value": 95, "unit": "PERCENT"}}, "minimalSoC must not be"),
        ([], "JSON object"),
        ("x", "JSON object"),
        (5, "JSON object"),
        (None, "JSON object"),
    ],
)
async def test_put_bad_input(api: Api, body: Any, message: str) -> None:
    """Invalid bodies get 400 with a NestJS message naming the problem; nothing changes."""
    vehicle = _car(api.sim)
    vehicle.target_soc = 80
    before = vehicle.as_dict()["preferences"]
    behavior = api.state.behavior(vehicle)
    answer = await api.call(
        "PUT",
        f"{V2}/devices/{vehicle.id}/smart-charging/ev-preferences",
        data=json.dumps(body).encode(),
    )
    assert_nest_error(answer, 400, message)
    assert vehicle.as_dict()["preferences"] == before
    assert api.state.behavior(vehicle) == behavior


@pytest.mark.parametrize("raw", [b"{bad", b'{"readyTime": ', b"", b"\xff\xfe"])
async def test_put_malformed_json(api: Api, raw: bytes) -> None:
    """Malformed or empty bodies are 400, never a 500."""
    vehicle_id = next(iter(api.state.fleet.vehicles))
    answer = await api.call(
        "PUT", f"{V2}/devices/{vehicle_id}/smart-charging/ev-preferences", data=raw
    )
    assert_nest_error(answer, 400)


STRICT_TARGET = {"value": 70, "unit": "PERCENT"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"targetSoC": STRICT_TARGET}, "chargingBehavior should not be empty"),
        ({"readyTime": "06:00"}, "chargingBehavior should not be empty"),
        (
            {"chargingBehavior": "SMART_CHARGE_ANYWHERE", "readyTime": "06:00"},
            "targetSoC should not be empty",
        ),
        (
            {"chargingBehavior": "SMART_CHARGE_ANYWHERE", "targetSoC": STRICT_TARGET},
            "readyTime or weekDaySpecificReadyTimes should not be empty",
        ),
        (
            {"chargingBehavior": "SMART_CHARGE_ANYWHERE"},
            "targetSoC should not be empty",
        ),
    ],
)
async def test_strict_put_refuses_what_the_document_requires(
    api: Api, body: dict[str, Any], message: str
) -> None:
    """Strict mode: behaviour always, target and a ready time unless it is OFF; 400, no change."""
    api.state.strict_preferences = True
    vehicle = _car(api.sim)
    vehicle.target_soc = 80
    before = vehicle.as_dict()["preferences"]
    behavior = api.state.behavior(vehicle)
    answer = await api.put_preferences(vehicle.id, body)
    assert_nest_error(answer, 400, message)
    assert vehicle.as_dict()["preferences"] == before
    assert api.state.behavior(vehicle) == behavior


@pytest.mark.parametrize(
    "body",
    [
        {"chargingBehavior": "SMART_CHARGE_OFF"},
        {"chargingBehavior": "SMART_CHARGE_OFF", "targetSoC": STRICT_TARGET},
        {
            "chargingBehavior": "SMART_CHARGE_ANYWHERE",
            "targetSoC": STRICT_TARGET,
            "readyTime": "06:00",
        },
        {
            "chargingBehavior": "SMART_CHARGE_ANYWHERE",
            "targetSoC": STRICT_TARGET,
            "weekDaySpecificReadyTimes": {"MONDAY": "06:30"},
        },
    ],
)
async def test_strict_put_accepts_complete_bodies(
    api: Api, body: dict[str, Any]
) -> None:
    """Strict mode: off alone, or on with target and either kind of ready time, is a 200."""
    api.state.strict_preferences = True
    vehicle = _car(api.sim)
    answer = await api.put_preferences(vehicle.id, body)
    assert (answer.status, answer.text) == (200, "")
    assert api.state.behavior(vehicle) == body["chargingBehavior"]


async def test_strict_mode_is_off_by_default(api: Api) -> None:
    """By default a body with one field is a patch; /_admin/state shows the mode."""
    assert api.state.strict_preferences is False
    vehicle = _car(api.sim)
    answer = await api.put_preferences(vehicle.id, {"readyTime": "06:00"})
    assert answer.status == 200
    api.state.strict_preferences = True
    async with api.session.get(
        f"{api.server.url}/_admin/state", params={"provider": "hiven"}
    ) as response:
        body = await response.json()
    assert body["providers"]["hiven"]["strict_preferences"] is True


async def test_strict_put_still_checks_field_values_first(api: Api) -> None:
    """A malformed field is reported as before, strict or not."""
    api.state.strict_preferences = True
    vehicle = _car(api.sim)
    answer = await api.put_preferences(vehicle.id, {"readyTime": "25:00"})
    assert_nest_error(answer, 400, "readyTime must be a valid time")


async def test_at_location_needs_a_location(api: Api) -> None:
    """SMART_CHARGE_AT_LOCATION without charging locations is refused."""
    vehicle = _car(api.sim)
    api.state.info(vehicle.id).location_ids = []
    answer = await api.put_preferences(
        vehicle.id, {"chargingBehavior": "SMART_CHARGE_AT_LOCATION"}
    )
    assert_nest_error(answer, 400, "chargingLocationIds should not be empty")
    answer = await api.put_preferences(
        vehicle.id,
        {
            "chargingBehavior": "SMART_CHARGE_AT_LOCATION",
            "chargingLocationIds": [api.state.location_id],
        },
    )
    assert answer.status == 200
    assert api.state.behavior(vehicle) == "SMART_CHARGE_AT_LOCATION"


# --- schedule ----------------------------------------------------------------------------


async def test_schedule_only_when_plugged_and_smart(api: Api) -> None:
    """No plan while unplugged or with smart charging off: 404."""
    vehicle = _plugged(api.sim, smart=False)
    path = f"{V2}/devices/{vehicle.id}/smart-charging/schedule"
    assert_nest_error(await api.call("GET", path), 404, "schedule")
    vehicle.smart_charging = True
    vehicle.unplug()
    assert_nest_error(await api.call("GET", path), 404, "schedule")


async def test_schedule_shape_and_physics(api: Api) -> None:
    """The hourlyCharges are the hours the car then charges in, all before readyTime."""
    vehicle = _plugged(api.sim, smart=True)
    vehicle.ready_time = "07:00"
    api.state.sync()
    path = f"{V2}/devices/{vehicle.id}/smart-charging/schedule"
    answer = await api.call("GET", path)
    assert answer.status == 200
    body = answer.body
    assert set(body) == {
        "id",
        "createdAt",
        "hourlyCharges",
        "spotPriceAreaId",
        "readyTime",
        "timeZone",
    }
    assert body["timeZone"] == "Europe/Amsterdam"
    ready = datetime.fromisoformat(body["readyTime"])
    assert ready == vehicle.next_ready_time(api.sim.clock.now(), api.sim.timezone)
    assert ready.hour == 6, "07:00 Amsterdam in November is 06:00 UTC"
    hours = {
        datetime.fromisoformat(key): value
        for key, value in body["hourlyCharges"].items()
    }
    assert hours
    for key in body["hourlyCharges"]:
        assert ISO_MS.fullmatch(key)
        assert key.endswith(":00:00.000Z")
    for hour, fraction in hours.items():
        assert 0 < fraction <= 1
        assert hour < ready
    needed = (80 - 40) / 100 * vehicle.battery_wh / vehicle.max_power_w
    assert sum(hours.values()) == pytest.approx(needed, abs=0.01)

    soc_by_hour: dict[datetime, float] = {}
    clock = api.sim.clock
    while clock.now() < ready:
        start_soc = vehicle.soc
        hour = clock.now().replace(minute=0, second=0, microsecond=0)
        api.sim.advance(timedelta(hours=1))
        soc_by_hour[hour] = vehicle.soc - start_soc
    for hour, gained in soc_by_hour.items():
        if hour in hours:
            assert gained > 0, hour
        else:
            assert gained == 0, hour
    assert vehicle.soc == pytest.approx(80, abs=0.05)


async def test_smart_plan_follows_a_new_ready_time(api: Api) -> None:
    """Writing readyTime through the API moves the published plan."""
    vehicle = _plugged(api.sim, smart=True)
    path = f"{V2}/devices/{vehicle.id}/smart-charging/schedule"
    assert (await api.put_preferences(vehicle.id, {"readyTime": "21:00"})).status == 200
    body = (await api.call("GET", path)).body
    assert body["readyTime"] == "2026-11-02T20:00:00.000Z"
    for key in body["hourlyCharges"]:
        assert datetime.fromisoformat(key) < datetime.fromisoformat(body["readyTime"])


# --- sessions ----------------------------------------------------------------------------


async def test_sessions(api: Api) -> None:
    """A plug-in episode is ACTIVE; unplugged it ends COMPLETE or INTERRUPTED; newest first."""
    vehicle = _plugged(api.sim, smart=False)
    path = f"{V2}/devices/{vehicle.id}/smart-charging/sessions"
    [active] = (await api.call("GET", path)).body
    assert active["status"] == "ACTIVE"
    assert active["endDateTime"] is None
    assert active["deviceId"] == vehicle.id
    assert ISO_MS.fullmatch(active["startDateTime"])

    api.sim.advance(timedelta(minutes=30))
    vehicle.unplug()
    [ended] = (await api.call("GET", path)).body
    assert ended["id"] == active["id"]
    assert ended["status"] == "INTERRUPTED"
    assert ended["endDateTime"] == "2026-11-02T06:30:00.000Z"

    vehicle.plug_in(api.sim.clock.now())
    api.sim.advance(timedelta(hours=12))
    newest, oldest = (await api.call("GET", path)).body
    assert newest["status"] == "ACTIVE"
    vehicle.unplug()
    newest, oldest = (await api.call("GET", path)).body
    assert oldest["id"] == active["id"]
    assert newest["status"] == "COMPLETE"


# --- Smartcar catalogue ------------------------------------------------------------------


async def test_smartcar_makes(api: Api) -> None:
    """Makes need only the API key."""
    headers = {"X-Api-Key": api.state.credentials["api_key"]}
    answer = await api.call("GET", f"{V2}/vehicles/smartcar/makes", headers=headers)
    assert answer.status == 200
    assert "TESLA" in answer.body
    assert answer.body == sorted(answer.body)
    answer = await api.call("GET", f"{V2}/vehicles/smartcar/makes", headers={})
    assert_nest_error(answer, 401)


async def test_smartcar_capabilities_filter(api: Api) -> None:
    """Filters supporting / not_supporting work repeated or comma separated."""
    headers = {"X-Api-Key": api.state.credentials["api_key"]}
    path = f"{V2}/vehicles/smartcar/capabilities"
    everything = (await api.call("GET", path, headers=headers)).body
    for entry in everything:
        assert set(entry) == {"make", "model", "yearRange", "type", "capabilities"}
        assert set(entry["capabilities"]) <= set(SMARTCAR_CAPABILITIES)
        assert entry["type"] in {"BEV", "PHEV"}
    start_stop = (
        await api.call(
            "GET",
            path,
            params={"supporting": "EXECUTE_START_AND_STOP"},
            headers=headers,
        )
    ).body
    assert start_stop
    assert all("EXECUTE_START_AND_STOP" in e["capabilities"] for e in start_stop)
    both = (
        await api.call(
            "GET",
            path,
            params=[
                ("supporting", "EXECUTE_START_AND_STOP"),
                ("supporting", "READ_LOCATION"),
            ],
            headers=headers,
        )
    ).body
    comma = (
        await api.call(
            "GET",
            path,
            params={"supporting": "EXECUTE_START_AND_STOP,READ_LOCATION"},
            headers=headers,
        )
    ).body
    assert both == comma
    assert len(both) < len(start_stop)
    without = (
        await api.call(
            "GET", path, params={"not_supporting": "READ_LOCATION"}, headers=headers
        )
    ).body
    assert without
    assert all("READ_LOCATION" not in e["capabilities"] for e in without)
    answer = await api.call("GET", path, params={"supporting": "FLY"}, headers=headers)
    assert_nest_error(answer, 400, "supporting")


async def test_vehicle_capabilities(api: Api) -> None:
    """Per-car Smartcar capabilities; forceRefresh must be a boolean."""
    headers = {"X-Api-Key": api.state.credentials["api_key"]}
    vehicle_id = next(iter(api.state.fleet.vehicles))
    path = f"{V1}/devices/smartcar/{vehicle_id}/capabilities"
    for force in ("true", "false"):
        answer = await api.call(
            "GET", path, params={"forceRefresh": force}, headers=headers
        )
        assert answer.status == 200
        assert answer.body
        assert set(answer.body) <= set(SMARTCAR_CAPABILITIES)
    answer = await api.call(
        "GET", path, params={"forceRefresh": "yes"}, headers=headers
    )
    assert_nest_error(answer, 400, "forceRefresh")
    answer = await api.call(
        "GET", f"{V1}/devices/smartcar/nope/capabilities", headers=headers
    )
    assert_nest_error(answer, 404)


# --- router misses and faults ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{V2}/nothing"),
        ("POST", f"{V2}/devices"),
        ("PATCH", f"{V2}/devices/x/smart-charging/ev-preferences"),
        ("GET", "/v3/hiven/devices"),
    ],
)
async def test_router_misses(api: Api, method: str, path: str) -> None:
    """Unknown paths and methods answer as NestJS does: 404 Cannot METHOD path."""
    answer = await api.call(method, path, headers={})
    assert_nest_error(answer, 404, f"Cannot {method} {path}")


async def test_injected_errors_use_the_nest_shape(api: Api) -> None:
    """429 from a fault carries Retry-After and the NestJS body; 503 likewise."""
    api.sim.faults.add(Fault(kind=FaultKind.RATE_LIMIT, provider="hiven", times=1))
    answer = await api.devices()
    assert_nest_error(answer, 429)
    assert answer.headers["Retry-After"] == "30"
    api.sim.faults.add(Fault(kind=FaultKind.STATUS, provider="hiven", times=1))
    assert_nest_error(await api.devices(), 503)
    assert (await api.devices()).status == 200


async def test_admin_state(api: Api) -> None:
    """/_admin/state shows Hiven's extra truth."""
    async with api.session.get(
        f"{api.server.url}/_admin/state", params={"provider": "hiven"}
    ) as response:
        body = await response.json()
    hiven = body["providers"]["hiven"]
    assert hiven["charger_id"] == api.state.charger_id
    assert hiven["other_user_id"] == OTHER_USER_ID
    assert set(hiven["hiven"]) >= set(api.state.fleet.vehicles)


async def test_requests_are_logged(api: Api) -> None:
    """The request log holds the full path, query, headers and JSON body."""
    vehicle_id = next(iter(api.state.fleet.vehicles))
    await api.put_preferences(vehicle_id, {"readyTime": "06:00"})
    entry = api.sim.requests.last(provider="hiven", method="PUT")
    assert (
        entry.path == f"/hiven{V2}/devices/{vehicle_id}/smart-charging/ev-preferences"
    )
    assert entry.json == {"readyTime": "06:00"}
    assert entry.headers["X-Api-Key"] == api.state.credentials["api_key"]


async def test_many_vehicles(
    client_session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """A big account lists every car in one plain array."""
    sim = Simulator(vehicles=300, seed=5)
    async with SimulatorServer(sim) as server:
        api = Api(client_session, server)
        answer = await api.devices()
    assert answer.status == 200
    assert sum(device["type"] == "EV" for device in answer.body) == 300
    assert not sim.handler_errors
