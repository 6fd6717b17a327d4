"""The simulated Jedlix Smart Charging API v2: its contract, endpoint by endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
import re
from typing import Any

import aiohttp
import pytest

from tests.simulator import Fault, FaultKind, Simulator, SimulatorServer, SimVehicle
from tests.simulator.jedlix import (
    DAYS,
    MESSAGE_TYPES,
    NOTIFICATION_TYPES,
    SESSION_STATUSES,
    format_date,
)

DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}

type Call = Callable[..., Awaitable[tuple[int, Any, aiohttp.ClientResponse]]]


def _dates(data: Any) -> Iterator[tuple[str, Any]]:
    """Every value of a key that names a date or time, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key.endswith(("At", "Time")):
                yield key, value
            yield from _dates(value)
    elif isinstance(data, list):
        for item in data:
            yield from _dates(item)


def _assert_dates(data: Any) -> None:
    for key, value in _dates(data):
        assert value is None or DATE.fullmatch(value), (key, value)


def _assert_problem(status: int, body: Any, response: aiohttp.ClientResponse) -> None:
    assert response.content_type == "application/problem+json"
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["instance"] == response.url.path


async def _token(
    session: aiohttp.ClientSession, server: SimulatorServer, **overrides: str
) -> tuple[int, Any]:
    config = server.config("jedlix")
    form = {
        "grant_type": "client_credentials",
        "client_id": config["client_id"],
        "client_secret": config["client_secret"],
        "audience": config["audience"],
        **overrides,
    }
    token_url = server.token_url("jedlix")
    assert token_url is not None
    async with session.post(token_url, data=form) as response:
        return response.status, await response.json(content_type=None)


@pytest.fixture
async def token(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> str:
    """Return a valid access token."""
    status, body = await _token(client_session, sim_server)
    assert status == 200
    return str(body["access_token"])


@pytest.fixture
def call(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession, token: str
) -> Call:
    """Call the API (path relative to /api/v2) with a valid token and API key."""

    async def do(
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        send = {"Authorization": f"Bearer {token}", "ApiKey": "demo-jedlix-api-key"}
        send.update(headers or {})
        url = f"{sim_server.api_url('jedlix')}/api/v2{path}"
        async with client_session.request(
            method, url, headers=send, **kwargs
        ) as response:
            raw = await response.read()
            body = await response.json(content_type=None) if raw else None
            return response.status, body, response

    return do


def _user(sim: Simulator) -> str:
    return f"/users/{sim.jedlix.user_id}"


def _car(sim: Simulator, index: int = 0) -> SimVehicle:
    vehicle = list(sim.jedlix.fleet)[index]
    vehicle.routine = False
    return vehicle


# --- token endpoint ----------------------------------------------------------------------


async def test_token_issued_for_client_credentials(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Auth0 answers access_token, expires_in 86400 and token_type Bearer."""
    status, body = await _token(client_session, sim_server)
    assert status == 200
    assert body["expires_in"] == 86400
    assert body["token_type"] == "Bearer"
    assert sim.jedlix.tokens[body["access_token"]] == sim.clock.now() + timedelta(
        seconds=86400
    )


async def test_token_accepts_json_body(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Auth0 also takes the grant as JSON."""
    config = sim_server.config("jedlix")
    payload = {
        "grant_type": "client_credentials",
        "client_id": config["client_id"],
        "client_secret": config["client_secret"],
        "audience": config["audience"],
    }
    async with client_session.post(
        str(sim_server.token_url("jedlix")), json=payload
    ) as response:
        assert response.status == 200
        assert "access_token" in await response.json()


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "access_denied"),
        ({"client_id": "someone-else"}, 401, "access_denied"),
        ({"audience": "https://elsewhere.jedlix.com"}, 403, "access_denied"),
        ({"audience": ""}, 403, "access_denied"),
        ({"grant_type": "password"}, 403, "unauthorized_client"),
        ({"grant_type": ""}, 400, "invalid_request"),
    ],
)
async def test_token_refused(
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
    overrides: dict[str, str],
    status: int,
    error: str,
) -> None:
    """Bad client, audience or grant: Auth0's OAuth2 error body."""
    got, body = await _token(client_session, sim_server, **overrides)
    assert got == status
    assert body["error"] == error
    assert body["error_description"]


async def test_revoked_credentials_get_no_token(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """After revoke_credentials the old secret is refused."""
    sim.jedlix.revoke_credentials()
    status, _ = await _token(
        client_session, sim_server, client_secret="demo-jedlix-secret"
    )
    assert status == 401


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"ApiKey": ""},
        {"ApiKey": "wrong-key"},
        {"Authorization": ""},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-token"},
    ],
)
async def test_missing_or_bad_auth_is_401_problem(
    sim: Simulator, call: Call, headers: dict[str, str]
) -> None:
    """Both the API key and a valid bearer token are needed."""
    status, body, response = await call(
        "GET", f"{_user(sim)}/vehicles", headers=headers
    )
    assert status == 401
    _assert_problem(401, body, response)


async def test_token_expires_on_the_sim_clock(sim: Simulator, call: Call) -> None:
    """A token lasts expires_in seconds of simulated time."""
    sim.advance(86400 - 1)
    assert (await call("GET", f"{_user(sim)}/vehicles"))[0] == 200
    sim.advance(1)
    status, body, response = await call("GET", f"{_user(sim)}/vehicles")
    assert status == 401
    _assert_problem(401, body, response)


@pytest.mark.parametrize(
    "action", ["expire_tokens", "revoke_tokens", "revoke_credentials"]
)
async def test_tokens_can_be_invalidated(
    sim: Simulator, call: Call, action: str
) -> None:
    """Tests can expire or revoke every issued token."""
    getattr(sim.jedlix, action)()
    assert (await call("GET", f"{_user(sim)}/vehicles"))[0] == 401


# --- vehicles ----------------------------------------------------------------------------


async def test_user_vehicles_is_a_plain_array(sim: Simulator, call: Call) -> None:
    """V2 keeps GET /users/{userId}/vehicles an array with the charge state embedded."""
    sim.sync()
    status, body, _ = await call("GET", f"{_user(sim)}/vehicles")
    assert status == 200
    assert isinstance(body, list)
    assert [item["id"] for item in body] == list(sim.jedlix.fleet.vehicles)
    _assert_dates(body)
    for item, vehicle in zip(body, sim.jedlix.fleet, strict=True):
        assert item["details"]["brand"] == vehicle.make
        assert item["details"]["model"] == vehicle.model
        assert item["isConnected"] is True
        assert "chargeState" in item["capabilities"]
        state = item["chargeState"]
        assert state["batteryLevel"] == round(vehicle.soc)
        assert state["range"] == round(vehicle.range_km)
        assert state["chargeState"] in {
            "Complete",
            "Charging",
            "Disconnected",
            "Stopped",
        }
        assert state["updatedAt"] == format_date(vehicle.last_sampled)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ({"plugged_in": False}, "Disconnected"),
        ({"smart_charging": False, "soc": 40.0, "target_soc": 80}, "Charging"),
        ({"soc": 80.0, "target_soc": 80}, "Complete"),
        (
            {"smart_charging": True, "soc": 79.0, "target_soc": 80, "max_power_w": 0.0},
            "Stopped",
        ),
    ],
)
async def test_charge_state_follows_physics(
    sim: Simulator, call: Call, setup: dict[str, Any], expected: str
) -> None:
    """The chargeState enum is the simulated car's status, PascalCase."""
    vehicle = _car(sim)
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    for key, value in setup.items():
        if key == "plugged_in":
            vehicle.unplug()
        else:
            setattr(vehicle, key, value)
    sim.advance(60)
    status, body, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}/state")
    assert status == 200
    assert body["chargeState"] == expected


async def test_charging_moves_battery_level(sim: Simulator, call: Call) -> None:
    """Smart charging off: the car charges at once and the level rises over time."""
    vehicle = _car(sim)
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    vehicle.smart_charging = False
    vehicle.soc = 30.0
    vehicle.target_soc = 90
    sim.advance(60)
    _, before, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}")
    sim.advance(3600)
    _, after, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}")
    assert before["chargeState"]["chargeState"] == "Charging"
    gained = vehicle.max_power_w / vehicle.battery_wh * 100
    assert after["chargeState"]["batteryLevel"] - before["chargeState"][
        "batteryLevel"
    ] == pytest.approx(gained, abs=1.5)


async def test_vehicle_and_state_endpoints(sim: Simulator, call: Call) -> None:
    """GET a vehicle and its state; the state equals the embedded chargeState."""
    vehicle = _car(sim, 1)
    _, listed, _ = await call("GET", f"{_user(sim)}/vehicles")
    status, one, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}")
    assert status == 200
    assert one == listed[1]
    status, state, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}/state")
    assert status == 200
    assert state == one["chargeState"]


async def test_unknown_user_or_vehicle_is_404_problem(
    sim: Simulator, call: Call
) -> None:
    """Ids that do not exist answer 404 problem+json."""
    for path in (
        "/users/nobody/vehicles",
        f"{_user(sim)}/vehicles/00000000-0000-4000-8000-000000000000",
        f"{_user(sim)}/vehicles/nope/charge-settings",
        f"{_user(sim)}/sessions/nope",
        f"{_user(sim)}/messages/nope",
    ):
        status, body, response = await call("GET", path)
        assert status == 404, path
        _assert_problem(404, body, response)


async def test_unknown_path_and_method(sim: Simulator, call: Call) -> None:
    """Router misses answer in the problem shape too."""
    status, body, response = await call("GET", "/no-such-thing")
    assert status == 404
    _assert_problem(404, body, response)
    status, body, response = await call("DELETE", f"{_user(sim)}/vehicles")
    assert status == 405
    _assert_problem(405, body, response)


async def test_broken_link_freezes_state(sim: Simulator, call: Call) -> None:
    """IsConnected false: Jedlix no longer hears from the car."""
    vehicle = _car(sim)
    sim.jedlix.set_connected(vehicle.id, False)
    _, before, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}")
    vehicle.soc = 12.0
    sim.advance(3600)
    _, after, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}")
    assert after["isConnected"] is False
    assert after["chargeState"] == before["chargeState"]
    sim.jedlix.set_connected(vehicle.id, True)
    _, restored, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}")
    assert restored["chargeState"]["batteryLevel"] == round(vehicle.soc)


async def test_vehicle_overrides(sim: Simulator, call: Call) -> None:
    """Tests can set capabilities, isConnectable and a raw chargeState value."""
    vehicle = _car(sim)
    sim.jedlix.set_capabilities(vehicle.id, ["stateOfCharge", "teleportation"])
    sim.jedlix.set_connectable(vehicle.id, False)
    sim.jedlix.set_status(vehicle.id, "Preconditioning")
    _, body, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}")
    assert body["capabilities"] == ["stateOfCharge", "teleportation"]
    assert body["isConnectable"] is False
    assert body["chargeState"]["chargeState"] == "Preconditioning"


# --- charge settings ---------------------------------------------------------------------


async def test_charge_settings_shape(sim: Simulator, call: Call) -> None:
    """The settings mirror the car's preferences, departure times per lower-case day."""
    vehicle = _car(sim)
    vehicle.ready_time = "07:00"
    vehicle.weekday_ready_times = {"SATURDAY": "10:00"}
    status, body, _ = await call(
        "GET", f"{_user(sim)}/vehicles/{vehicle.id}/charge-settings"
    )
    assert status == 200
    assert body == {
        "isSmartChargingEnabled": vehicle.smart_charging,
        "enableSmartChargingAt": None,
        "desiredBatteryLevel": vehicle.target_soc,
        "defaultStartBatteryLevel": None,
        "departureTimes": {
            day: "10:00" if day == "saturday" else "07:00" for day in DAYS
        },
        "timeZone": "Europe/Amsterdam",
    }


async def test_put_charge_settings_replaces_and_steers_the_car(
    sim: Simulator, call: Call
) -> None:
    """PUT replaces the whole object; the simulated car follows the new settings."""
    vehicle = _car(sim)
    settings = {
        "isSmartChargingEnabled": False,
        "enableSmartChargingAt": "2026-11-03T05:00:00Z",
        "desiredBatteryLevel": 90,
        "defaultStartBatteryLevel": 20,
        "departureTimes": {"monday": "06:45", "friday": "08:15"},
        "timeZone": "Europe/Berlin",
    }
    status, body, _ = await call(
        "PUT", f"{_user(sim)}/vehicles/{vehicle.id}/charge-settings", json=settings
    )
    assert status == 200
    assert body == {**settings, "enableSmartChargingAt": "2026-11-03T05:00:00.000Z"}
    assert vehicle.smart_charging is False
    assert vehicle.target_soc == 90
    assert vehicle.ready_time is None
    assert vehicle.weekday_ready_times == {"MONDAY": "06:45", "FRIDAY": "08:15"}

    minimal = {"isSmartChargingEnabled": True, "desiredBatteryLevel": 50}
    status, body, _ = await call(
        "PUT", f"{_user(sim)}/vehicles/{vehicle.id}/charge-settings", json=minimal
    )
    assert status == 200
    assert body["departureTimes"] == {}
    assert body["defaultStartBatteryLevel"] is None
    assert body["timeZone"] == "Europe/Amsterdam"
    assert vehicle.weekday_ready_times == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"desiredBatteryLevel": 120}, "desiredBatteryLevel"),
        ({"desiredBatteryLevel": 49}, "desiredBatteryLevel"),
        ({"desiredBatteryLevel": 80.5}, "desiredBatteryLevel"),
        ({"desiredBatteryLevel": True}, "desiredBatteryLevel"),
        ({"desiredBatteryLevel": None}, "desiredBatteryLevel"),
        ({"isSmartChargingEnabled": "yes"}, "isSmartChargingEnabled"),
        ({"departureTimes": {"monday": "25:00"}}, "departureTimes.monday"),
        ({"departureTimes": {"monday": "7:00"}}, "departureTimes.monday"),
        ({"departureTimes": {"MONDAY": "07:00"}}, "departureTimes.MONDAY"),
        ({"departureTimes": ["07:00"]}, "departureTimes"),
        ({"defaultStartBatteryLevel": 101}, "defaultStartBatteryLevel"),
        ({"enableSmartChargingAt": "tomorrow"}, "enableSmartChargingAt"),
        ({"timeZone": "Mars/Olympus_Mons"}, "timeZone"),
        ({"timeZone": "../../etc/passwd"}, "timeZone"),
    ],
)
async def test_put_charge_settings_validation(
    sim: Simulator, call: Call, change: dict[str, Any], field: str
) -> None:
    """Invalid settings: 400 validation problem naming the field; nothing changes."""
    vehicle = _car(sim)
    before = (
        vehicle.smart_charging,
        vehicle.target_soc,
        dict(vehicle.weekday_ready_times),
    )
    body = {"isSmartChargingEnabled": True, "desiredBatteryLevel": 80, **change}
    status, problem, response = await call(
        "PUT", f"{_user(sim)}/vehicles/{vehicle.id}/charge-settings", json=body
    )
    assert status == 400
    _assert_problem(400, problem, response)
    assert field in problem["errors"]
    assert (
        vehicle.smart_charging,
        vehicle.target_soc,
        vehicle.weekday_ready_times,
    ) == before


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b"\xff\xfe", b"null"])
async def test_put_charge_settings_bad_body(
    sim: Simulator, call: Call, raw: bytes
) -> None:
    """Missing, malformed or non-object bodies: 400 problem, never a 500."""
    vehicle = _car(sim)
    status, problem, response = await call(
        "PUT",
        f"{_user(sim)}/vehicles/{vehicle.id}/charge-settings",
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    _assert_problem(400, problem, response)


# --- sessions ----------------------------------------------------------------------------


async def test_last_session_of_a_plugged_car_is_active(
    sim: Simulator, call: Call
) -> None:
    """A plugged-in car has an Active session starting when it was plugged in."""
    vehicle = _car(sim)
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    sim.advance(60)
    status, body, _ = await call(
        "GET", f"{_user(sim)}/vehicles/{vehicle.id}/sessions/last"
    )
    assert status == 200
    assert body["status"] == "Active"
    assert body["vehicleId"] == vehicle.id
    assert body["endTime"] is None
    assert body["calibrationState"] in {
        "NoSession",
        "NotStarted",
        "InProgress",
        "Complete",
    }
    assert vehicle.plugged_in_at is not None
    assert body["startTime"] == format_date(vehicle.plugged_in_at)
    _assert_dates(body)


async def test_unplug_completes_the_session(sim: Simulator, call: Call) -> None:
    """Unplugging ends the session (Complete, endTime set); plugging in starts a new one."""
    vehicle = _car(sim)
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    sim.advance(60)
    _, first, _ = await call("GET", f"{_user(sim)}/vehicles/{vehicle.id}/sessions/last")
    vehicle.unplug()
    sim.advance(60)
    _, ended, _ = await call("GET", f"{_user(sim)}/sessions/{first['id']}")
    assert ended["status"] == "Complete"
    assert ended["endTime"] == format_date(sim.clock.now())
    assert ended["calibrationState"] is None
    vehicle.plug_in(sim.clock.now())
    sim.advance(60)
    _, second, _ = await call(
        "GET", f"{_user(sim)}/vehicles/{vehicle.id}/sessions/last"
    )
    assert second["id"] != first["id"]
    assert second["status"] == "Active"


async def test_no_session_yet_is_404(sim: Simulator, call: Call) -> None:
    """A new car that never plugged in has no last session."""
    vehicle = sim.jedlix.add_vehicle(plugged_in=False, plugged_in_at=None)
    status, body, response = await call(
        "GET", f"{_user(sim)}/vehicles/{vehicle.id}/sessions/last"
    )
    assert status == 404
    _assert_problem(404, body, response)


async def test_user_sessions_paged_newest_first(sim: Simulator, call: Call) -> None:
    """Paging per the v2 notes: envelope, pageIndex from 1, newest first."""
    total = len(sim.jedlix.sessions)
    assert total > 4
    seen: list[dict[str, Any]] = []
    pages = -(-total // 2)
    for index in range(1, pages + 2):
        status, body, _ = await call(
            "GET",
            f"{_user(sim)}/sessions",
            params={"pageSize": "2", "pageIndex": str(index)},
        )
        assert status == 200
        assert body["pageIndex"] == index
        assert body["pageSize"] == 2
        assert body["totalPages"] == pages
        assert body["totalCount"] == total
        assert len(body["items"]) == (
            min(2, total - 2 * (index - 1)) if index <= pages else 0
        )
        seen.extend(body["items"])
    _assert_dates(seen)
    starts = [item["startTime"] for item in seen]
    assert starts == sorted(starts, reverse=True)
    assert len({item["id"] for item in seen}) == total
    assert {item["status"] for item in seen} <= set(SESSION_STATUSES)


async def test_sessions_default_page_size_is_20(sim: Simulator, call: Call) -> None:
    """Without pageSize, 20 items per page."""
    for _ in range(4):
        sim.jedlix.add_vehicle()
    _, body, _ = await call("GET", f"{_user(sim)}/sessions")
    assert body["pageSize"] == 20
    assert body["pageIndex"] == 1
    assert len(body["items"]) == min(20, len(sim.jedlix.sessions))


async def test_sessions_time_filters(sim: Simulator, call: Call) -> None:
    """StartTimeFrom/To and endTimeFrom/To filter in UTC (ISO 8601)."""
    cutoff = sim.clock.now() - timedelta(days=2, hours=12)
    status, body, _ = await call(
        "GET",
        f"{_user(sim)}/sessions",
        params={
            "startTimeFrom": cutoff.isoformat().replace("+00:00", "Z"),
            "pageSize": "100",
        },
    )
    assert status == 200
    expected = [s for s in sim.jedlix.sessions.values() if s.start >= cutoff]
    assert body["totalCount"] == len(expected)
    _, ended, _ = await call(
        "GET",
        f"{_user(sim)}/sessions",
        params={"endTimeTo": format_date(sim.clock.now()), "pageSize": "100"},
    )
    assert all(item["endTime"] is not None for item in ended["items"])
    assert ended["totalCount"] == sum(
        1 for s in sim.jedlix.sessions.values() if s.end is not None
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageSize": "500"}, "pageSize"),
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "-1"}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"pageSize": "99999999999999999999"}, "pageSize"),
        ({"pageIndex": "0"}, "pageIndex"),
        ({"pageIndex": "first"}, "pageIndex"),
        ({"startTimeFrom": "yesterday"}, "startTimeFrom"),
        ({"endTimeTo": "2026-13-01T00:00:00Z"}, "endTimeTo"),
    ],
)
async def test_bad_paging_or_time_is_400(
    sim: Simulator, call: Call, params: dict[str, str], field: str
) -> None:
    """Bad paging or time parameters: 400 validation problem naming the parameter."""
    status, body, response = await call("GET", f"{_user(sim)}/sessions", params=params)
    assert status == 400
    _assert_problem(400, body, response)
    assert field in body["errors"]


async def test_tenant_sessions(sim: Simulator, call: Call) -> None:
    """GET /sessions lists the tenant's sessions in the same envelope."""
    status, body, _ = await call("GET", "/sessions", params={"pageSize": "100"})
    assert status == 200
    assert body["totalCount"] == len(sim.jedlix.sessions)


# --- session settings (boost) ------------------------------------------------------------


async def test_boost_through_session_settings(sim: Simulator, call: Call) -> None:
    """BoostCharging on the active session makes the car charge at full power now."""
    vehicle = _car(sim)
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    vehicle.smart_charging = True
    vehicle.soc = 30.0
    vehicle.target_soc = 80
    vehicle.ready_time = "23:59"
    vehicle.weekday_ready_times = {}
    sim.advance(60)
    _, session, _ = await call(
        "GET", f"{_user(sim)}/vehicles/{vehicle.id}/sessions/last"
    )
    status, setting, _ = await call(
        "POST",
        f"{_user(sim)}/sessions/{session['id']}/session-settings",
        json={"type": "boostCharging", "enabled": True},
    )
    assert status == 200
    assert setting["type"] == "boostCharging"
    assert setting["enabled"] is True
    assert setting["sessionId"] == session["id"]
    _assert_dates(setting)
    assert vehicle.boost is True
    assert vehicle.charge_power_w == vehicle.max_power_w
    _, active, _ = await call(
        "GET", f"{_user(sim)}/sessions/{session['id']}/session-settings/active"
    )
    assert [(item["type"], item["enabled"]) for item in active] == [
        ("boostCharging", True)
    ]
    await call(
        "POST",
        f"{_user(sim)}/sessions/{session['id']}/session-settings",
        json={"type": "boostCharging", "enabled": False},
    )
    assert vehicle.boost is False
    _, history, _ = await call(
        "GET", f"{_user(sim)}/sessions/{session['id']}/session-settings"
    )
    assert [item["enabled"] for item in history] == [False, True]


async def test_boost_on_ended_session_is_409(sim: Simulator, call: Call) -> None:
    """A finished session cannot be boosted; its settings are no longer active."""
    ended = next(s for s in sim.jedlix.sessions.values() if not s.active)
    status, body, response = await call(
        "POST",
        f"{_user(sim)}/sessions/{ended.id}/session-settings",
        json={"type": "boostCharging", "enabled": True},
    )
    assert status == 409
    _assert_problem(409, body, response)
    status, _, _ = await call(
        "GET", f"{_user(sim)}/sessions/{ended.id}/session-settings/active"
    )
    assert status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "turboCharging", "enabled": True}, "type"),
        ({"enabled": True}, "type"),
        ({"type": "boostCharging"}, "enabled"),
        ({"type": "boostCharging", "enabled": "on"}, "enabled"),
    ],
)
async def test_bad_session_setting_is_400(
    sim: Simulator, call: Call, body: dict[str, Any], field: str
) -> None:
    """Unknown setting types or missing values: 400 validation problem."""
    vehicle = _car(sim)
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    sim.advance(60)
    session = sim.jedlix.open_session(vehicle.id)
    assert session is not None
    status, problem, response = await call(
        "POST", f"{_user(sim)}/sessions/{session.id}/session-settings", json=body
    )
    assert status == 400
    _assert_problem(400, problem, response)
    assert field in problem["errors"]
    assert vehicle.boost is False


# --- messages ----------------------------------------------------------------------------


async def test_messages_paged_and_filtered(sim: Simulator, call: Call) -> None:
    """Messages page newest first; includeDismissed=false hides dismissed ones."""
    vehicle = _car(sim)
    added = [
        sim.jedlix.add_message(kind, vehicle.id if index % 2 else None)
        for index, kind in enumerate(MESSAGE_TYPES[:5])
    ]
    sim.jedlix.dismiss_message(added[0].id)
    status, body, _ = await call(
        "GET", f"{_user(sim)}/messages", params={"pageSize": "2", "pageIndex": "1"}
    )
    assert status == 200
    assert (body["totalCount"], body["totalPages"]) == (5, 3)
    assert [item["id"] for item in body["items"]] == [added[4].id, added[3].id]
    _, active, _ = await call(
        "GET", f"{_user(sim)}/messages", params={"includeDismissed": "false"}
    )
    assert [item["type"] for item in active["items"]] == list(
        reversed(MESSAGE_TYPES[1:5])
    )
    assert [item["vehicleId"] for item in active["items"][:2]] == [None, vehicle.id]
    item = active["items"][1]
    assert item["notificationType"] in NOTIFICATION_TYPES
    assert item["isDismissed"] is False
    _assert_dates(active)


async def test_dismiss_message_with_patch(sim: Simulator, call: Call) -> None:
    """PATCH dismisses (isDismissed true by default) and can restore."""
    message = sim.jedlix.add_message("carNotReachable")
    path = f"{_user(sim)}/messages/{message.id}"
    status, body, _ = await call("PATCH", path)
    assert status == 200
    assert body["isDismissed"] is True
    assert body["dismissedAt"] == format_date(sim.clock.now())
    _, body, _ = await call("PATCH", path, json={"isDismissed": False})
    assert body["isDismissed"] is False
    status, problem, response = await call("PATCH", path, json={"isDismissed": "yes"})
    assert status == 400
    _assert_problem(400, problem, response)
    status, body, _ = await call("GET", path)
    assert status == 200
    assert body["type"] == "carNotReachable"


async def test_bad_include_dismissed_is_400(sim: Simulator, call: Call) -> None:
    """IncludeDismissed must be a boolean."""
    status, body, response = await call(
        "GET", f"{_user(sim)}/messages", params={"includeDismissed": "maybe"}
    )
    assert status == 400
    _assert_problem(400, body, response)


# --- tenant lists ------------------------------------------------------------------------


async def test_tenant_vehicles_paged_with_created_filters(
    sim: Simulator, call: Call
) -> None:
    """GET /vehicles: the v2 envelope, newest first, createdFrom/createdTo."""
    status, body, _ = await call("GET", "/vehicles", params={"pageSize": "2"})
    assert status == 200
    assert body["totalCount"] == len(sim.jedlix.fleet)
    created = [item["createdAt"] for item in body["items"]]
    assert created == sorted(created, reverse=True)
    assert all(item["userId"] == sim.jedlix.user_id for item in body["items"])
    newest = sim.jedlix.add_vehicle()
    _, recent, _ = await call(
        "GET", "/vehicles", params={"createdFrom": format_date(sim.clock.now())}
    )
    assert [item["id"] for item in recent["items"]] == [newest.id]


async def test_tenant_charging_locations_match_the_notes_example(
    sim: Simulator, call: Call
) -> None:
    """GET /charging-locations answers the shape of the v2 notes' example."""
    status, body, _ = await call(
        "GET", "/charging-locations", params={"pageSize": "10", "pageIndex": "1"}
    )
    assert status == 200
    assert set(body) == {"pageIndex", "pageSize", "totalPages", "totalCount", "items"}
    (item,) = body["items"]
    assert set(item) == {
        "id",
        "userId",
        "coordinates",
        "address",
        "createdAt",
        "updatedAt",
    }
    assert set(item["address"]) == {
        "street", "postalCode", "houseNumber", "city", "region", "country", "area",
    }  # fmt: skip
    _assert_dates(body)
    status, users, _ = await call("GET", "/users")
    assert status == 200
    assert [user["id"] for user in users["items"]] == [sim.jedlix.user_id]


# --- faults in the Jedlix shape ----------------------------------------------------------


async def test_injected_errors_are_problem_json(sim: Simulator, call: Call) -> None:
    """Injected 503 and 429 use Jedlix's problem+json (429 with Retry-After)."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, provider="jedlix", times=1))
    status, body, response = await call("GET", f"{_user(sim)}/vehicles")
    assert status == 503
    assert response.content_type == "application/problem+json"
    assert body["status"] == 503
    sim.faults.add(
        Fault(kind=FaultKind.RATE_LIMIT, provider="jedlix", retry_after="42", times=1)
    )
    status, body, response = await call("GET", f"{_user(sim)}/vehicles")
    assert status == 429
    assert response.headers["Retry-After"] == "42"
    assert body["status"] == 429


async def test_every_request_is_logged(sim: Simulator, call: Call) -> None:
    """The request log keeps headers and bodies of what was sent."""
    vehicle = _car(sim)
    await call(
        "PUT",
        f"{_user(sim)}/vehicles/{vehicle.id}/charge-settings",
        json={"isSmartChargingEnabled": True, "desiredBatteryLevel": 70},
    )
    entry = sim.requests.last(provider="jedlix", method="PUT")
    assert entry.json == {"isSmartChargingEnabled": True, "desiredBatteryLevel": 70}
    assert entry.headers["ApiKey"] == "demo-jedlix-api-key"
    token_entry = sim.requests.last(provider="jedlix", method="POST")
    assert token_entry.path == "/jedlix-auth/oauth/token"
    assert token_entry.form is not None
    assert token_entry.form["grant_type"] == "client_credentials"


def test_format_date_is_milliseconds_z() -> None:
    """yyyy-MM-ddTHH:mm:ss.fffZ exactly, from any aware datetime."""
    when = datetime(2023, 10, 31, 10, 20, 46, 123456, tzinfo=UTC)
    assert format_date(when) == "2023-10-31T10:20:46.123Z"
    assert DATE.fullmatch(format_date(when.astimezone(UTC)))


def test_admin_state_has_jedlix_extras(sim: Simulator) -> None:
    """/_admin/state adds the user, open sessions, messages and per-vehicle flags."""
    vehicle = _car(sim)
    sim.jedlix.add_message("carNotFound", vehicle.id)
    sim.jedlix.set_connected(vehicle.id, False)
    state = sim.state("jedlix")["providers"]["jedlix"]
    assert [item["id"] for item in state["vehicles"]] == list(sim.jedlix.fleet.vehicles)
    assert state["user_id"] == "demo-jedlix-user"
    assert state["messages"][0]["type"] == "carNotFound"
    assert state["vehicle_info"][vehicle.id]["is_connected"] is False
    assert set(state["open_sessions"]) == {
        v.id for v in sim.jedlix.fleet if v.plugged_in
    }
