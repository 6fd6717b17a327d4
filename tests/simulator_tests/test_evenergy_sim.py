"""The ev.energy simulator's contract: every endpoint, checked against the official OpenAPI document."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import json
import re
from typing import Any

import aiohttp
import pytest

from tests.simulator import Fault, FaultKind, Simulator, SimulatorServer
from tests.simulator.evenergy import (
    PREFIX,
    ChargingSession,
    State,
    build_app,
    make_id,
    openapi,
    openapi_validator,
    response_schema,
)

ID = re.compile(r"[a-z]{4}[A-Z\d]{26}")
JSON = "application/json"
PROBLEM = "application/problem+json"


@dataclass
class Answer:
    """One response: status, headers and decoded body."""

    status: int
    headers: Mapping[str, str]
    body: Any

    def conforms(self, path: str, method: str) -> Any:
        """Assert content type and body match the document's response for this status."""
        content_type, schema = response_schema(path, method, self.status)
        assert self.headers["Content-Type"].startswith(content_type), self.headers
        errors = sorted(
            openapi_validator(schema).iter_errors(self.body), key=lambda e: e.path
        )
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
        return self.body


class Api:
    """A tiny ev.energy client for the tests: token once, then JSON calls."""

    def __init__(self, session: aiohttp.ClientSession, server: SimulatorServer) -> None:
        """Talk to `server` through `session`."""
        self.session = session
        self.server = server
        self.sim = server.sim
        self.token: str | None = None

    @property
    def state(self) -> State:
        """The simulated account."""
        return self.sim.evenergy

    async def get_token(self, **form: str) -> Answer:
        """POST /o/token/ with the account's credentials by HTTP Basic."""
        credentials = self.state.credentials
        pair = f"{credentials['client_id']}:{credentials['client_secret']}"
        headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        async with self.session.post(
            f"{self.server.url}/o/token/",
            data=form or {"grant_type": "client_credentials"},
            headers=headers,
        ) as response:
            return Answer(response.status, response.headers, await response.json())

    def headers(self, **extra: str) -> dict[str, str]:
        """Build the headers of a good request, changed by `extra` (empty removes)."""
        headers = {
            "Authorization": f"Bearer {self.token}",
            "EvEnergy-User": self.state.user_id,
            "EvEnergy-Version": "2",
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
        url: str | None = None,
    ) -> Answer:
        """Send one API request (a token first when there is none)."""
        if self.token is None:
            self.token = (await self.get_token()).body["access_token"]
        send = self.headers() if headers is None else dict(headers)
        if data is not None:
            send["Content-Type"] = JSON
        async with self.session.request(
            method,
            url or f"{self.server.url}{PREFIX}{path}",
            params=params,
            json=json_body,
            data=data,
            headers=send,
        ) as response:
            text = await response.text()
            return Answer(
                response.status, response.headers, json.loads(text) if text else None
            )


@pytest.fixture
async def api(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> Api:
    """Return a test client of the simulated ev.energy API."""
    return Api(client_session, sim_server)


def _plugged(sim: Simulator, *, smart: bool = True) -> Any:
    """Return a plugged-in car below its target with the given smart charging."""
    sim.sync()
    vehicle = next(iter(sim.evenergy.fleet))
    vehicle.routine = False
    if not vehicle.plugged_in:
        vehicle.plug_in(sim.clock.now())
    vehicle.smart_charging = smart
    vehicle.soc = 40.0
    vehicle.target_soc = 80
    return vehicle


# --- the document ------------------------------------------------------------------------


def test_every_route_is_in_the_document(sim: Simulator) -> None:
    """Each route the simulator serves exists in the OpenAPI document with that method."""
    paths = openapi()["paths"]
    routes = [
        (route.method.lower(), route.resource.canonical)
        for route in build_app(sim).router.routes()
        if route.resource is not None
    ]
    assert len(routes) >= 13
    assert (
        "get",
        "/charging_sub_sessions/{charging_sub_session_id}/schedules",
    ) in routes
    for method, path in routes:
        assert path in paths, path
        assert method in paths[path], (method, path)


def test_ids_are_deterministic_per_seed() -> None:
    """Same seed, same ids; another seed, other ids; all 4 letters + 26 characters."""
    first = Simulator(vehicles=5, seed=7).evenergy
    second = Simulator(vehicles=5, seed=7).evenergy
    other = Simulator(vehicles=5, seed=8).evenergy
    assert list(first.fleet.vehicles) == list(second.fleet.vehicles)
    assert list(first.sessions) == list(second.sessions)
    assert list(first.fleet.vehicles) != list(other.fleet.vehicles)
    for value in [*first.fleet.vehicles, *first.sessions, first.user_id]:
        assert ID.fullmatch(value)
    assert all(value.startswith("vhcl") for value in first.fleet.vehicles)
    assert all(value.startswith("cses") for value in first.sessions)
    assert first.user_id.startswith("user")
    assert make_id("csub", 1, "x") == make_id("csub", 1, "x") != make_id("csub", 2, "x")


# --- token endpoint ----------------------------------------------------------------------


async def test_token_with_basic_auth(api: Api) -> None:
    """Client credentials by HTTP Basic give a bearer token that expires."""
    answer = await api.get_token()
    assert answer.status == 200
    assert answer.body["token_type"] == "Bearer"
    assert answer.body["expires_in"] == 36000
    assert answer.body["access_token"] in api.state.tokens
    entry = api.sim.requests.last(provider="evenergy", path="^/o/token/$")
    assert entry.form == {"grant_type": "client_credentials"}


async def test_token_with_form_credentials(api: Api) -> None:
    """Client id and secret in the form body are accepted too."""
    credentials = api.state.credentials
    async with api.session.post(
        f"{api.server.url}/o/token/",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    ) as response:
        assert response.status == 200
        assert (await response.json())["access_token"]


async def test_token_wrong_secret(api: Api) -> None:
    """A wrong client secret is 401 invalid_client."""
    pair = f"{api.state.credentials['client_id']}:wrong-secret"
    headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    async with api.session.post(
        f"{api.server.url}/o/token/",
        data={"grant_type": "client_credentials"},
        headers=headers,
    ) as response:
        assert response.status == 401
        assert (await response.json())["error"] == "invalid_client"
    assert not api.state.tokens


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"scope": "vehicle:read"}, "invalid_request"),
    ],
)
async def test_token_bad_grant(api: Api, form: dict[str, str], error: str) -> None:
    """A missing or unsupported grant type is 400 with an OAuth2 error body."""
    answer = await api.get_token(**form)
    assert answer.status == 400
    assert answer.body["error"] == error


async def test_revoked_credentials(api: Api) -> None:
    """revoke_credentials(): tokens stop working and no new one is issued."""
    assert (await api.call("GET", "/vehicles")).status == 200
    pair = "{client_id}:{client_secret}".format(**api.state.credentials)
    api.state.revoke_credentials()
    answer = await api.call("GET", "/vehicles")
    assert answer.status == 401
    answer.conforms("/vehicles", "get")
    headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    async with api.session.post(
        f"{api.server.url}/o/token/",
        data={"grant_type": "client_credentials"},
        headers=headers,
    ) as response:
        assert response.status == 401


async def test_expired_tokens(api: Api) -> None:
    """expire_tokens() and the token lifetime both end a token's validity."""
    assert (await api.call("GET", "/vehicles")).status == 200
    api.state.expire_tokens()
    assert (await api.call("GET", "/vehicles")).status == 401
    api.token = None
    assert (await api.call("GET", "/vehicles")).status == 200
    api.sim.advance(timedelta(hours=10))
    answer = await api.call("GET", "/vehicles")
    assert answer.status == 401
    assert answer.body["detail"] == "The access token is invalid or has expired."


# --- auth and headers on the API ---------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "Authentication credentials were not provided."),
        ({"Authorization": "Bearer nope"}, 401, "invalid or has expired"),
        ({"Authorization": "Basic abc"}, 401, "not provided"),
        ({"EvEnergy-User": "user" + "X" * 26}, 403, "permission"),
        ({"EvEnergy-User": "https://api.ev.energy/v2/users/x"}, 400, "user ID"),
        ({"EvEnergy-Version": "3.0"}, 400, "Unsupported version requested: 3.0"),
    ],
)
async def test_request_refused(
    api: Api, headers: dict[str, str], status: int, detail: str
) -> None:
    """Missing or bad auth, someone else's user, an unknown version: problem+json."""
    await api.call("GET", "/vehicles")
    send = api.headers(**headers) if headers else {}
    answer = await api.call("GET", "/vehicles", headers=send)
    assert answer.status == status
    body = answer.conforms("/vehicles", "get")
    assert detail in body["detail"]
    assert body["status"] == status


async def test_missing_scope_is_403(api: Api) -> None:
    """A client without a write scope may read but not write: 403 problem+json."""
    api.state.scopes = {"vehicle:read", "user:read", "charging_session:read"}
    token = await api.get_token()
    assert "vehicle:write" not in token.body["scope"].split()
    vehicle = next(iter(api.state.fleet))
    assert (await api.call("GET", f"/vehicles/{vehicle.id}")).status == 200
    answer = await api.call(
        "PATCH",
        f"/vehicles/{vehicle.id}",
        json_body={"maximum_charge_limit_percentage": 95},
    )
    assert answer.status == 403
    body = answer.conforms("/vehicles/{vehicle_id}", "patch")
    assert "vehicle:write" in body["detail"]
    assert vehicle.target_soc != 95


async def test_rate_limit_headers_and_429(api: Api) -> None:
    """X-RateLimit-* on every response; past the budget, 429 with Retry-After seconds."""
    answer = await api.call("GET", "/vehicles")
    assert answer.headers["X-RateLimit-Limit"] == "1000"
    assert answer.headers["X-RateLimit-Remaining"] == "999"
    assert answer.headers["EvEnergy-Version"] == "2"
    api.state.set_rate_limit(3)
    remaining = [
        (await api.call("GET", "/vehicles")).headers["X-RateLimit-Remaining"]
        for _ in range(2)
    ]
    assert remaining == ["1", "0"]
    api.sim.advance(600)
    refused = await api.call("GET", "/vehicles")
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "3000"
    body = refused.conforms("/vehicles", "get")
    assert body["detail"] == "Request was rate limited. Try again in 3000 seconds"
    assert api.state.rate_limited == 1
    api.sim.advance(3000)
    assert (await api.call("GET", "/vehicles")).status == 200


async def test_unknown_path_and_method(api: Api) -> None:
    """Paths and methods the API lacks answer 404/405 as problem+json."""
    answer = await api.call("GET", "/nothing/here")
    assert answer.status == 404
    assert answer.headers["Content-Type"].startswith(PROBLEM)
    vehicle_id = next(iter(api.state.fleet.vehicles))
    answer = await api.call("PUT", f"/vehicles/{vehicle_id}")
    assert answer.status == 405
    assert answer.body["title"] == "Method Not Allowed"


async def test_injected_faults_use_problem_json(api: Api) -> None:
    """The fault injector answers in ev.energy's error shape."""
    api.sim.faults.add(
        Fault(kind=FaultKind.STATUS, provider="evenergy", path="/vehicles", times=1)
    )
    answer = await api.call("GET", "/vehicles")
    assert answer.status == 503
    assert answer.headers["Content-Type"].startswith(PROBLEM)
    assert set(answer.body) >= {"type", "status", "title", "detail"}


# --- users -------------------------------------------------------------------------------


async def test_get_user(api: Api) -> None:
    """GET /users/{id} (and me) returns the user; another id is 404."""
    user_id = api.state.user_id
    answer = await api.call("GET", f"/users/{user_id}")
    body = answer.conforms("/users/{user_id}", "get")
    assert body["id"] == user_id
    assert len(body["vehicles"]) == 3
    assert (await api.call("GET", "/users/me")).body["id"] == user_id
    missing = await api.call("GET", "/users/user" + "A" * 26)
    assert missing.status == 404
    missing.conforms("/users/{user_id}", "get")


# --- vehicles ----------------------------------------------------------------------------


async def test_list_vehicles(api: Api) -> None:
    """A bare array; links and expansions on request; all fields per the document."""
    answer = await api.call("GET", "/vehicles")
    body = answer.conforms("/vehicles", "get")
    assert sorted(item["id"] for item in body) == sorted(api.state.fleet.vehicles)
    assert all(isinstance(item["latest_status_log"], str) for item in body)
    assert all(isinstance(item["trim"], str) for item in body)
    assert "Link" not in answer.headers

    params = [("expand", "latest_status_log"), ("expand", "trim.model.make")]
    body = (await api.call("GET", "/vehicles", params=params)).conforms(
        "/vehicles", "get"
    )
    for item in body:
        truth = api.state.fleet.vehicles[item["id"]]
        assert item["trim"]["model"]["make"]["name"] == truth.make
        assert item["trim"]["model"]["name"] == truth.model
        log = item["latest_status_log"]
        assert log["state_of_charge_percentage"] == round(truth.soc)
        assert log["is_plugged_in"] is truth.plugged_in
        assert item["maximum_charge_limit_percentage"] == truth.target_soc
        assert item["smart_charging_enabled"] is truth.smart_charging
        assert item["battery_size_watt_hours"] == round(truth.battery_wh)
        assert item["description"] == truth.name
        assert item["integrated"] == "ACTIVE"


async def test_vehicle_paging(sim: Simulator, api: Api) -> None:
    """Default page size 25, Link rel="next"/"previous", cursors by id, every car once."""
    for _ in range(57):
        sim.evenergy.add_vehicle()
    seen: list[str] = []
    answer = await api.call("GET", "/vehicles", params={"expand": "latest_status_log"})
    pages = 0
    while True:
        pages += 1
        body = answer.conforms("/vehicles", "get")
        assert len(body) == (25 if pages < 3 else 10)
        seen.extend(item["id"] for item in body)
        link = answer.headers.get("Link", "")
        if pages > 1:
            assert 'rel="previous"' in link
        match = re.search(r'<([^>]+)>; rel="next"', link)
        if match is None:
            break
        assert "expand=latest_status_log" in match.group(1)
        answer = await api.call("GET", "", url=match.group(1))
    assert pages == 3
    assert seen == sorted(sim.evenergy.fleet.vehicles)

    previous = re.search(r'<([^>]+)>; rel="previous"', answer.headers["Link"])
    assert previous is not None
    back = await api.call("GET", "", url=previous.group(1))
    assert [item["id"] for item in back.body] == seen[25:50]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"page_size": "500"}, "Invalid value for pagination parameter: page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"page_after": "not-an-id"}, "page_after"),
        ({"page_before": "not-an-id"}, "page_before"),
        ({"expand": "engine"}, "expand"),
    ],
)
async def test_list_vehicles_bad_parameters(
    api: Api, params: dict[str, str], detail: str
) -> None:
    """Bad paging or expand parameters are a 400 problem, never a 500."""
    answer = await api.call("GET", "/vehicles", params=params)
    assert answer.status == 400
    body = answer.conforms("/vehicles", "get")
    assert detail in body["detail"]


async def test_page_size_problem_matches_the_documented_example(api: Api) -> None:
    """page_size 500 answers exactly the document's example problem."""
    example = openapi()["components"]["examples"]["ProblemInvalidPaginationParameter"]
    answer = await api.call("GET", "/vehicles", params={"page_size": "500"})
    assert answer.body == example["value"]


async def test_get_vehicle(api: Api) -> None:
    """GET /vehicles/{id}; an unknown id is 404."""
    vehicle_id = next(iter(api.state.fleet.vehicles))
    answer = await api.call("GET", f"/vehicles/{vehicle_id}", params={"expand": "user"})
    body = answer.conforms("/vehicles/{vehicle_id}", "get")
    assert body["id"] == vehicle_id
    assert body["user"]["id"] == api.state.user_id
    missing = await api.call("GET", "/vehicles/vhcl" + "0" * 26)
    assert missing.status == 404
    missing.conforms("/vehicles/{vehicle_id}", "get")


async def test_patch_vehicle(api: Api) -> None:
    """PATCH changes only the fields sent; the car's physics follows them."""
    vehicle = next(iter(api.state.fleet))
    smart = vehicle.smart_charging
    answer = await api.call(
        "PATCH",
        f"/vehicles/{vehicle.id}",
        json_body={"maximum_charge_limit_percentage": 95},
    )
    body = answer.conforms("/vehicles/{vehicle_id}", "patch")
    assert body["maximum_charge_limit_percentage"] == 95
    assert vehicle.target_soc == 95
    assert vehicle.smart_charging is smart

    body = (
        await api.call(
            "PATCH",
            f"/vehicles/{vehicle.id}",
            json_body={"smart_charging_enabled": not smart, "unknown": 1},
        )
    ).conforms("/vehicles/{vehicle_id}", "patch")
    assert body["smart_charging_enabled"] is (not smart)
    assert vehicle.smart_charging is (not smart)
    assert vehicle.target_soc == 95


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"maximum_charge_limit_percentage": 120}, "maximum_charge_limit_percentage", "less than or equal to 100"),
        ({"maximum_charge_limit_percentage": 30}, "maximum_charge_limit_percentage", "greater than or equal to 50"),
        ({"maximum_charge_limit_percentage": "90"}, "maximum_charge_limit_percentage", "valid integer"),
        ({"maximum_charge_limit_percentage": 80.5}, "maximum_charge_limit_percentage", "valid integer"),
        ({"maximum_charge_limit_percentage": True}, "maximum_charge_limit_percentage", "valid integer"),
        ({"smart_charging_enabled": "yes"}, "smart_charging_enabled", "valid boolean"),
        ({"battery_size_watt_hours": 64000}, "battery_size_watt_hours", "unintegrated"),
        ({"battery_size_watt_hours": 10}, "battery_size_watt_hours", "greater than or equal"),
        ({"vehicle_class": "BUS"}, "vehicle_class", "not a valid choice"),
    ],
)  # fmt: skip
async def test_patch_vehicle_invalid(
    api: Api, body: dict[str, Any], field: str, message: str
) -> None:
    """Invalid values: 400 with field_errors naming the field; nothing changes."""
    vehicle = next(iter(api.state.fleet))
    before = (vehicle.target_soc, vehicle.smart_charging, vehicle.battery_wh)
    answer = await api.call("PATCH", f"/vehicles/{vehicle.id}", json_body=body)
    assert answer.status == 400
    problem = answer.conforms("/vehicles/{vehicle_id}", "patch")
    assert problem["detail"] == f"Error on fields: {field}"
    assert message in problem["field_errors"][field][0]
    assert (vehicle.target_soc, vehicle.smart_charging, vehicle.battery_wh) == before


@pytest.mark.parametrize(
    "raw", [b'{"maximum_charge_limit_percentage": ', b"[1, 2]", b"\xff"]
)
async def test_patch_vehicle_malformed_body(api: Api, raw: bytes) -> None:
    """A body that is not a JSON object is a 400 problem."""
    vehicle_id = next(iter(api.state.fleet.vehicles))
    answer = await api.call("PATCH", f"/vehicles/{vehicle_id}", data=raw)
    assert answer.status == 400
    answer.conforms("/vehicles/{vehicle_id}", "patch")


async def test_patch_battery_of_unintegrated_vehicle(api: Api) -> None:
    """battery_size_watt_hours is editable only for unintegrated cars (rounded to 10 Wh)."""
    vehicle = next(iter(api.state.fleet))
    api.state.set_integrated(vehicle.id, "UNINTEGRATED")
    answer = await api.call(
        "PATCH", f"/vehicles/{vehicle.id}", json_body={"battery_size_watt_hours": 64004}
    )
    assert answer.conforms("/vehicles/{vehicle_id}", "patch")["integrated"] == (
        "UNINTEGRATED"
    )
    assert answer.body["battery_size_watt_hours"] == 64000
    assert vehicle.battery_wh == 64000


async def test_patch_unknown_vehicle(api: Api) -> None:
    """PATCH of a vehicle that does not exist is 404."""
    answer = await api.call(
        "PATCH", "/vehicles/vhcl" + "1" * 26, json_body={"smart_charging_enabled": True}
    )
    assert answer.status == 404
    answer.conforms("/vehicles/{vehicle_id}", "patch")


async def test_inactive_integration(api: Api) -> None:
    """set_integrated(INACTIVE): the API shows it and the status log stops moving."""
    vehicle = _plugged(api.sim, smart=False)
    api.state.set_integrated(vehicle.id, "INACTIVE")
    before = vehicle.soc
    api.sim.advance(3600)
    assert vehicle.soc > before
    body = (
        await api.call(
            "GET", f"/vehicles/{vehicle.id}", params={"expand": "latest_status_log"}
        )
    ).conforms("/vehicles/{vehicle_id}", "get")
    assert body["integrated"] == "INACTIVE"
    assert body["latest_status_log"]["state_of_charge_percentage"] == round(before)
    with pytest.raises(ValueError, match="integrated"):
        api.state.set_integrated(vehicle.id, "BROKEN")


# --- status logs and physics -------------------------------------------------------------


async def test_status_logs_follow_the_physics(api: Api) -> None:
    """Charging at full power with smart charging off; logs newest first, filters, paging."""
    vehicle = _plugged(api.sim, smart=False)
    api.sim.sync()
    path = f"/vehicles/{vehicle.id}/status_logs"
    first = (await api.call("GET", path)).conforms(
        "/vehicles/{vehicle_id}/status_logs", "get"
    )
    assert first[0]["state"] == "PLUGGED_IN_CHARGING"
    assert first[0]["is_charging"] is True
    assert first[0]["charge_rate_watts"] == round(vehicle.max_power_w)
    start_soc = first[0]["state_of_charge_percentage"]
    known = len(first)

    hours = 0
    for _ in range(4):
        api.sim.advance(1800)
        hours += 0.5
        await api.call("GET", f"/vehicles/{vehicle.id}")
    logs = (await api.call("GET", path)).conforms(
        "/vehicles/{vehicle_id}/status_logs", "get"
    )
    assert len(logs) == known + 4
    sampled = [log["sampled_at"] for log in logs]
    assert sampled == sorted(sampled, reverse=True)
    expected = 40.0 + vehicle.max_power_w * hours / vehicle.battery_wh * 100
    assert logs[0]["state_of_charge_percentage"] == round(min(80.0, expected))
    assert logs[0]["state_of_charge_percentage"] > start_soc
    assert logs[0]["charge_energy_added_watt_hours"] > 0

    recent = await api.call("GET", path, params={"sampled_at__gte": sampled[1]})
    assert [log["sampled_at"] for log in recent.body] == sampled[:2]
    page = await api.call("GET", path, params={"page_size": "2"})
    assert len(page.body) == 2
    match = re.search(r'<([^>]+)>; rel="next"', page.headers["Link"])
    assert match is not None
    second = await api.call("GET", "", url=match.group(1))
    assert [log["sampled_at"] for log in second.body] == sampled[2:4]
    assert 'rel="previous"' in second.headers["Link"]
    bad = await api.call("GET", path, params={"sampled_at__lte": "yesterday"})
    assert bad.status == 400


async def test_unplug_closes_the_session(api: Api) -> None:
    """Unplugging ends the plug-in episode; the status log reads STATIONARY."""
    vehicle = _plugged(api.sim)
    api.state.sync()
    session = api.state.open_session(vehicle.id)
    assert session is not None
    api.sim.advance(60)
    vehicle.unplug()
    api.sim.advance(60)
    body = (await api.call("GET", f"/charging_sessions/{session.id}")).conforms(
        "/charging_sessions/{charging_session_id}", "get"
    )
    assert body["end"] is not None
    log = (
        await api.call(
            "GET", f"/vehicles/{vehicle.id}", params={"expand": "latest_status_log"}
        )
    ).body["latest_status_log"]
    assert log["state"] == "STATIONARY"
    assert log["is_plugged_in"] is False
    assert api.state.open_session(vehicle.id) is None
    vehicle.plug_in(api.sim.clock.now())
    api.state.sync()
    new = api.state.open_session(vehicle.id)
    assert new is not None
    assert new.id != session.id


# --- charging sessions and boost ---------------------------------------------------------


async def test_list_charging_sessions(sim: Simulator, api: Api) -> None:
    """Newest first, one open session per plugged-in car, expansions, paging."""
    for _ in range(30):
        sim.evenergy.add_vehicle()
    sim.sync()
    answer = await api.call(
        "GET", "/charging_sessions", params={"expand": "sub_sessions"}
    )
    body = answer.conforms("/charging_sessions", "get")
    assert len(body) == 25
    starts = [item["start"] for item in body]
    assert starts == sorted(starts, reverse=True)
    assert all(
        item["sub_sessions"][0]["mode"] in {"SMART", "UNMANAGED_HOME"} for item in body
    )
    match = re.search(r'<([^>]+)>; rel="next"', answer.headers["Link"])
    assert match is not None
    rest = (await api.call("GET", "", url=match.group(1))).conforms(
        "/charging_sessions", "get"
    )
    everything = body + rest
    plugged = {v.id for v in sim.evenergy.fleet if v.plugged_in}
    open_sessions = {
        item["vehicle"].rsplit("/", 1)[-1]: item["id"]
        for item in everything
        if item["end"] is None
    }
    assert set(open_sessions) == plugged
    one = everything[0]
    detail = (
        await api.call(
            "GET", f"/charging_sessions/{one['id']}", params={"expand": "vehicle"}
        )
    ).conforms("/charging_sessions/{charging_session_id}", "get")
    assert detail["vehicle"]["id"] == one["vehicle"].rsplit("/", 1)[-1]
    missing = await api.call("GET", "/charging_sessions/cses" + "0" * 26)
    assert missing.status == 404
    missing.conforms("/charging_sessions/{charging_session_id}", "get")


async def test_boost_start_and_end(api: Api) -> None:
    """Boost charges now at full power in a BOOST sub-session; ending returns to SMART."""
    vehicle = _plugged(api.sim)
    api.sim.sync()
    vehicle.max_power_w = 7_000.0
    api.state.sync()
    session = api.state.open_session(vehicle.id)
    assert session is not None
    path = f"/charging_sessions/{session.id}"
    answer = await api.call("POST", f"{path}/boost_start")
    answer.conforms("/charging_sessions/{charging_session_id}/boost_start", "post")
    assert vehicle.boost is True
    soc = vehicle.soc
    api.sim.advance(1800)
    assert vehicle.soc == pytest.approx(soc + 7000 * 0.5 / vehicle.battery_wh * 100)
    body = (await api.call("GET", path, params={"expand": "sub_sessions"})).body
    assert [sub["mode"] for sub in body["sub_sessions"][:2]] == ["BOOST", "SMART"]
    assert body["sub_sessions"][0]["end"] is None
    assert body["sub_sessions"][1]["end"] is not None
    assert body["sub_sessions"][0]["energy_delivered_watt_hours"] == 3500

    again = await api.call("POST", f"{path}/boost_start")
    assert again.status == 409
    again.conforms("/charging_sessions/{charging_session_id}/boost_start", "post")

    ended = await api.call("POST", f"{path}/boost_end")
    ended.conforms("/charging_sessions/{charging_session_id}/boost_end", "post")
    assert vehicle.boost is False
    body = (await api.call("GET", path, params={"expand": "sub_sessions"})).body
    assert [sub["mode"] for sub in body["sub_sessions"][:3]] == [
        "SMART",
        "BOOST",
        "SMART",
    ]
    not_boosting = await api.call("POST", f"{path}/boost_end")
    assert not_boosting.status == 409
    assert not_boosting.body["detail"] == "This charging session is not boosting."


async def test_boost_refused(api: Api) -> None:
    """409 with smart charging off or unplugged; 503 when the car link is broken."""
    vehicle = _plugged(api.sim, smart=False)
    api.state.sync()
    session = api.state.open_session(vehicle.id)
    assert session is not None
    path = f"/charging_sessions/{session.id}/boost_start"
    answer = await api.call("POST", path)
    assert answer.status == 409
    assert (
        answer.conforms("/charging_sessions/{charging_session_id}/boost_start", "post")[
            "detail"
        ]
        == "Smart charging is turned off for this vehicle."
    )

    vehicle.smart_charging = True
    api.state.set_integrated(vehicle.id, "INACTIVE")
    unreachable = await api.call("POST", path)
    assert unreachable.status == 503
    unreachable.conforms("/charging_sessions/{charging_session_id}/boost_start", "post")
    api.state.set_integrated(vehicle.id, "ACTIVE")

    vehicle.unplug()
    closed = await api.call("POST", path)
    assert closed.status == 409
    assert "not plugged in" in closed.body["detail"]
    unknown = await api.call(
        "POST", "/charging_sessions/cses" + "0" * 26 + "/boost_start"
    )
    assert unknown.status == 404
    assert not vehicle.boost


async def test_turning_smart_charging_off_ends_boost(api: Api) -> None:
    """Smart charging off ends boost; the session continues unmanaged."""
    vehicle = _plugged(api.sim)
    api.state.sync()
    session = api.state.open_session(vehicle.id)
    assert session is not None
    await api.call("POST", f"/charging_sessions/{session.id}/boost_start")
    await api.call(
        "PATCH", f"/vehicles/{vehicle.id}", json_body={"smart_charging_enabled": False}
    )
    assert vehicle.boost is False
    assert session.sub_sessions[-1].mode == "UNMANAGED_HOME"


async def test_sub_session_resource(api: Api) -> None:
    """GET /charging_sub_sessions/{id} serves the linked sub-sessions."""
    vehicle = _plugged(api.sim)
    api.state.sync()
    session = api.state.open_session(vehicle.id)
    assert session is not None
    sub_id = session.sub_sessions[0].id
    answer = await api.call("GET", f"/charging_sub_sessions/{sub_id}")
    body = answer.conforms("/charging_sub_sessions/{charging_sub_session_id}", "get")
    assert body["id"] == sub_id
    missing = await api.call("GET", "/charging_sub_sessions/csub" + "0" * 26)
    assert missing.status == 404


SCHEDULES = "/charging_sub_sessions/{charging_sub_session_id}/schedules"


def _plugged_session(api: Api) -> tuple[Any, ChargingSession]:
    """Return a plugged-in smart-charging car below its target and its open session."""
    vehicle = _plugged(api.sim)
    api.state.sync()
    session = api.state.open_session(vehicle.id)
    assert session is not None
    return vehicle, session


async def test_smart_schedule_is_what_the_car_then_does(api: Api) -> None:
    """Half-hour intervals of the physics' own plan: the car charges in those with current."""
    vehicle, session = _plugged_session(api)
    sub = session.sub_sessions[-1]
    assert sub.mode == "SMART"
    answer = await api.call(
        "GET",
        f"/charging_sub_sessions/{sub.id}/schedules",
        params={"expand": "charging_sub_session"},
    )
    body = answer.conforms(SCHEDULES, "get")
    assert body["charging_sub_session"]["id"] == sub.id
    intervals = body["schedules"]
    assert intervals
    assert any(item["current_milliamps"] == 0 for item in intervals)
    for item in intervals:
        assert item["schedule_type"] == "SMART"
        assert item["interval_seconds"] == 1800
        assert item["started_at"][14:] in {"00:00Z", "30:00Z"}
    for item in intervals:
        start = datetime.fromisoformat(item["started_at"])
        now = api.sim.clock.now()
        if start + timedelta(seconds=1800) <= now:
            continue
        energy = vehicle.session_energy_wh
        api.sim.advance(start + timedelta(seconds=1800) - now)
        charged = vehicle.session_energy_wh > energy
        assert charged == (item["current_milliamps"] > 0), item
    assert vehicle.soc == pytest.approx(vehicle.target_soc)


async def test_boost_schedule_is_open_ended(api: Api) -> None:
    """A BOOST sub-session has one interval of null length; unmanaged charging none."""
    vehicle, session = _plugged_session(api)
    await api.call("POST", f"/charging_sessions/{session.id}/boost_start")
    sub = session.sub_sessions[-1]
    body = (
        await api.call("GET", f"/charging_sub_sessions/{sub.id}/schedules")
    ).conforms(SCHEDULES, "get")
    assert [(i["schedule_type"], i["interval_seconds"]) for i in body["schedules"]] == [
        ("BOOST", None)
    ]
    assert body["schedules"][0]["current_milliamps"] > 0
    assert body["charging_sub_session"].endswith(sub.id)
    await api.call(
        "PATCH", f"/vehicles/{vehicle.id}", json_body={"smart_charging_enabled": False}
    )
    unmanaged = session.sub_sessions[-1]
    answer = await api.call("GET", f"/charging_sub_sessions/{unmanaged.id}/schedules")
    assert answer.conforms(SCHEDULES, "get")["schedules"] == []
    missing = await api.call(
        "GET", "/charging_sub_sessions/csub" + "0" * 26 + "/schedules"
    )
    assert missing.status == 404
    missing.conforms(SCHEDULES, "get")


async def test_literal_scopes_refuse_the_schedules(api: Api) -> None:
    """With the variant, the schedules need chargingsession:read: the standard client gets 403."""
    _, session = _plugged_session(api)
    path = f"/charging_sub_sessions/{session.sub_sessions[-1].id}"
    api.state.literal_scopes = True
    refused = await api.call("GET", f"{path}/schedules")
    assert refused.status == 403
    assert "chargingsession:read" in refused.conforms(SCHEDULES, "get")["detail"]
    assert (await api.call("GET", path)).status == 200
    api.state.scopes.add("chargingsession:read")
    assert (await api.call("GET", f"{path}/schedules")).status == 200


async def test_catalogue_links_resolve(api: Api) -> None:
    """The trim, model and make links in a vehicle answer with those resources."""
    vehicle = next(iter(api.state.fleet))
    body = (await api.call("GET", f"/vehicles/{vehicle.id}")).body
    trim = await api.call("GET", "", url=body["trim"])
    trim.conforms("/vehicle_trims/{vehicle_trim_id}", "get")
    model = await api.call("GET", "", url=trim.body["model"])
    model.conforms("/vehicle_models/{vehicle_model_id}", "get")
    make = await api.call("GET", "", url=model.body["make"])
    assert make.conforms("/vehicle_makes/{vehicle_make_id}", "get")["name"] == (
        vehicle.make
    )
    assert (await api.call("GET", "/vehicle_makes/vmak" + "0" * 26)).status == 404


async def test_admin_state_includes_evenergy_extras(api: Api) -> None:
    """GET /_admin/state shows the budget, integrations and open sessions."""
    async with api.session.get(
        f"{api.server.url}/_admin/state", params={"provider": "evenergy"}
    ) as response:
        state = (await response.json())["providers"]["evenergy"]
    assert state["user_id"] == api.state.user_id
    assert state["rate_limit"]["limit"] == 1000
    assert len(state["vehicles"]) == 3


async def test_removed_vehicle_ends_its_session(api: Api) -> None:
    """A car removed from the account (e.g. over /_admin) ends its open session."""
    vehicle = _plugged(api.sim)
    api.state.sync()
    session = api.state.open_session(vehicle.id)
    assert session is not None
    api.state.fleet.remove_vehicle(vehicle.id)
    body = (await api.call("GET", f"/charging_sessions/{session.id}")).body
    assert body["end"] is not None
    assert (await api.call("GET", f"/vehicles/{vehicle.id}")).status == 404


async def test_vehicle_cursor_survives_a_removed_car(sim: Simulator, api: Api) -> None:
    """Paging by id goes on when the car named by the cursor is gone meanwhile."""
    for _ in range(30):
        sim.evenergy.add_vehicle()
    first = await api.call("GET", "/vehicles", params={"page_size": "10"})
    last_id = first.body[-1]["id"]
    sim.evenergy.remove_vehicle(last_id)
    match = re.search(r'<([^>]+)>; rel="next"', first.headers["Link"])
    assert match is not None
    second = await api.call("GET", "", url=match.group(1))
    assert second.status == 200
    expected = sorted(sim.evenergy.fleet.vehicles)[9:19]
    assert [item["id"] for item in second.body] == expected


async def test_unknown_session_cursor(api: Api) -> None:
    """A charging-session cursor that names no session is a 400 problem."""
    answer = await api.call(
        "GET", "/charging_sessions", params={"page_after": "cses" + "0" * 26}
    )
    assert answer.status == 400
    answer.conforms("/charging_sessions", "get")
