"""The ChargEye simulator's contract: auth, every endpoint, schedules and plans, bad input."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import itertools
import json
from typing import Any

import aiohttp
from hypothesis import given, settings, strategies as st
import pytest

from tests.simulator import ApiError, Fault, FaultKind, Simulator, SimulatorServer
from tests.simulator.chargeye import (
    DEPARTURE_MARGIN,
    State,
    from_ms,
    iso,
    validate_patch,
    validate_posted,
    validate_vehicle_body,
)

REFRESH = "demo-chargeye-refresh-token"
EV_SCHEDULE_KEYS = {
    "evId",
    "id",
    "locationUid",
    "plan",
    "planMeta",
    "plannedArrivalTime",
    "plannedDepartureTime",
    "recurrenceRule",
    "startSoC",
    "targetSoC",
}
SEGMENT_KEYS = {
    "durationMs",
    "endSoc",
    "energykWh",
    "from",
    "paused",
    "powerIsBeingLimited",
    "powerUnlimited",
    "powerkW",
    "startSoc",
    "tag",
    "to",
}
VEHICLE_KEYS = {
    "chargingPorts",
    "consumption",
    "enableChargeScheduling",
    "evMacAddress",
    "evModel",
    "fullChargeEnergykWh",
    "id",
    "licensePlate",
    "locationUid",
    "maxChargePowerkW",
    "minChargePowerkW",
    "minPreconditioningPowerkW",
    "name",
    "notes",
    "supportsPauseResume",
    "v2icp",
    "v2icpParameters",
    "vin",
}


@dataclass
class Answer:
    """One response: status, headers and decoded body."""

    status: int
    headers: Mapping[str, str]
    body: Any


class Api:
    """A tiny ChargEye client for the tests: a JWT once, then JSON calls."""

    def __init__(self, session: aiohttp.ClientSession, server: SimulatorServer) -> None:
        """Talk to `server` through `session`."""
        self.session = session
        self.base = server.api_url("chargeye")
        self.sim = server.sim
        self.token: str | None = None

    @property
    def state(self) -> State:
        """The simulated organisation."""
        return self.sim.chargeye

    async def refresh(self, bearer: str | None = REFRESH) -> Answer:
        """GET /auth/refreshAccessToken."""
        headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
        return await self.call("GET", "/auth/refreshAccessToken", headers=headers)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request (with the given headers only)."""
        async with self.session.request(
            method,
            self.base + path,
            json=json_body,
            data=data,
            params=params,
            headers=headers or {},
        ) as response:
            text = await response.text()
            body = json.loads(text) if text else None
            return Answer(response.status, response.headers, body)

    async def api(self, method: str, path: str, **kwargs: Any) -> Answer:
        """Send one request with a valid JWT."""
        if self.token is None:
            self.token = (await self.refresh()).body["token"]
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return await self.call(method, path, headers=headers, **kwargs)

    def vehicle_ids(self) -> list[str]:
        """Ids of the simulated vehicles, in fleet order."""
        return [vehicle.id for vehicle in self.state.fleet]


@pytest.fixture
async def api(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> Api:
    """Return a test client for the ChargEye simulator."""
    return Api(client_session, sim_server)


def claims_of(token: str) -> dict[str, Any]:
    """Decode a JWT's payload."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def ms(value: str) -> int:
    """Epoch ms of an ISO time."""
    return round(datetime.fromisoformat(value).timestamp() * 1000)


def next_local_time(sim: Simulator, hour: int, minute: int = 0) -> datetime:
    """Return the next instant after now showing hour:minute in the sim's time zone."""
    local = sim.clock.now().astimezone(sim.timezone)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def advance_to(sim: Simulator, when: datetime) -> None:
    """Move the simulated clock to `when` (forward only)."""
    sim.advance((when - sim.clock.now()).total_seconds())


# --- auth -----------------------------------------------------------------------------------


async def test_refresh_issues_a_jwt_valid_for_8_hours(api: Api, sim: Simulator) -> None:
    """The refresh token buys a JWT carrying the organisation, valid 8 h of sim time."""
    answer = await api.refresh()
    assert answer.status == 200
    assert set(answer.body) == {"token", "validUntil"}
    token = answer.body["token"]
    assert len(token.split(".")) == 3
    claims = claims_of(token)
    assert claims["org"] == sim.chargeye.organisation
    assert claims["exp"] - claims["iat"] == 8 * 3600
    now = sim.clock.now()
    assert answer.body["validUntil"] == iso(now + timedelta(hours=8))
    assert answer.body["validUntil"].endswith("Z")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


@pytest.mark.parametrize(
    "bearer",
    [None, "wrong-token", "", "démo"],
    ids=["none", "wrong", "empty", "unicode"],
)
async def test_refresh_refuses_bad_refresh_tokens(api: Api, bearer: str | None) -> None:
    """A missing or wrong refresh token is 401 with the error body."""
    answer = await api.refresh(bearer)
    assert answer.status == 401
    assert answer.body == {"message": "Unauthorized"}


async def test_revoked_refresh_token_and_its_jwts_are_refused(api: Api) -> None:
    """Revoking the refresh token also invalidates the JWTs already issued with it."""
    assert (await api.api("GET", "/vehicles")).status == 200
    api.state.revoke_credentials()
    assert (await api.refresh()).status == 401
    assert (await api.api("GET", "/vehicles")).status == 401
    api.state.restore_credentials()
    assert (await api.refresh()).status == 200


async def test_rotated_refresh_token(api: Api, sim: Simulator) -> None:
    """After rotation only the new refresh token works."""
    api.state.rotate_refresh_token("new-refresh")
    assert (await api.refresh()).status == 401
    assert (await api.refresh("new-refresh")).status == 200
    assert api.state.credentials["refresh_token"] == "new-refresh"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic abc", f"Bearer {REFRESH}", "Bearer a.b.c"],
)
async def test_api_wants_a_valid_jwt(api: Api, authorization: str | None) -> None:
    """No JWT, another scheme, the refresh token itself or a forged JWT: 401."""
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = await api.call("GET", "/vehicles", headers=headers)
    assert answer.status == 401
    assert answer.body == {"message": "Unauthorized"}


async def test_tampered_jwt_is_refused(api: Api) -> None:
    """Changing the payload breaks the signature."""
    token = (await api.refresh()).body["token"]
    header, payload, signature = token.split(".")
    claims = claims_of(token)
    claims["exp"] += 3600
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    )
    forged = f"{header}.{forged_payload}.{signature}"
    answer = await api.call(
        "GET", "/vehicles", headers={"Authorization": f"Bearer {forged}"}
    )
    assert answer.status == 401


async def test_jwt_expires_after_8_hours_of_sim_time(api: Api, sim: Simulator) -> None:
    """A JWT works until validUntil on the simulated clock, then 401."""
    assert (await api.api("GET", "/vehicles")).status == 200
    sim.advance(8 * 3600 - 1)
    assert (await api.api("GET", "/vehicles")).status == 200
    sim.advance(1)
    assert (await api.api("GET", "/vehicles")).status == 401


async def test_expire_tokens(api: Api) -> None:
    """expire_tokens() makes issued JWTs fail; the refresh token still works."""
    assert (await api.api("GET", "/vehicles")).status == 200
    api.state.expire_tokens()
    assert (await api.api("GET", "/vehicles")).status == 401
    api.token = None
    assert (await api.api("GET", "/vehicles")).status == 200


# --- vehicles and locations -----------------------------------------------------------------


async def test_list_vehicles(api: Api, sim: Simulator) -> None:
    """GET /vehicles: every vehicle with its record and v2icp, in the documented shape."""
    answer = await api.api("GET", "/vehicles")
    assert answer.status == 200
    assert set(answer.body) == {"vehicles"}
    items = answer.body["vehicles"]
    assert [item["vehicle"]["id"] for item in items] == api.vehicle_ids()
    for item in items:
        assert set(item) == {"vehicle", "v2icp"}
        vehicle = item["vehicle"]
        assert set(vehicle) == VEHICLE_KEYS
        truth = sim.chargeye.fleet.vehicles[vehicle["id"]]
        assert vehicle["fullChargeEnergykWh"] == truth.battery_wh / 1000
        assert vehicle["maxChargePowerkW"] == truth.max_power_w / 1000
        assert vehicle["enableChargeScheduling"] is truth.smart_charging
        assert vehicle["name"] == truth.name
        assert vehicle["evModel"] == f"{truth.make} {truth.model}"
        assert vehicle["vin"] == truth.vin
        assert vehicle["chargingPorts"][0]["type"] == "CCS2"
        assert vehicle["chargingPorts"][0]["macAddress"] == vehicle["evMacAddress"]
        assert vehicle["locationUid"][0] in {loc.id for loc in api.state.locations}
        assert item["v2icp"]["evMacAddress"] == vehicle["evMacAddress"]


async def test_get_vehicle_and_404(api: Api) -> None:
    """GET /vehicles/{id} equals the list's record; an unknown id is 404."""
    listed = (await api.api("GET", "/vehicles")).body["vehicles"][0]["vehicle"]
    answer = await api.api("GET", f"/vehicles/{listed['id']}")
    assert answer.status == 200
    assert answer.body == listed
    missing = await api.api("GET", "/vehicles/nope")
    assert missing.status == 404
    assert missing.body == {"message": "Vehicle not found"}


async def test_patch_vehicle_switches_scheduling_and_replans(
    api: Api, sim: Simulator
) -> None:
    """Scheduling off: the vehicle and its future plans charge at once."""
    vehicle_id = api.vehicle_ids()[0]
    answer = await api.api(
        "PATCH", f"/vehicles/{vehicle_id}", json_body={"enableChargeScheduling": False}
    )
    assert answer.status == 200
    assert answer.body == {"success": True}
    assert sim.chargeye.fleet.vehicles[vehicle_id].smart_charging is False
    record = (await api.api("GET", f"/vehicles/{vehicle_id}")).body
    assert record["enableChargeScheduling"] is False
    upcoming = (await api.api("GET", f"/vehicles/{vehicle_id}/schedules/upcoming")).body
    schedules = (await api.api("GET", f"/vehicles/{vehicle_id}/schedules")).body[
        "schedules"
    ]
    future = [
        s
        for s in schedules
        if ms(s["plannedArrivalTime"]) > sim.clock.now().timestamp() * 1000
    ]
    assert future
    for schedule in future:
        assert schedule["planMeta"]["strategy"] == "max-power"
        assert schedule["planMeta"]["trigger"] == "vehicle-updated"
        first = schedule["plan"]["segments"][0]
        assert first["from"] == ms(schedule["plannedArrivalTime"])
        assert first["paused"] is False
    assert upcoming["currentOrNext"] is not None


async def test_patch_vehicle_changes_only_given_fields(
    api: Api, sim: Simulator
) -> None:
    """PATCH leaves other fields alone; battery and power reach the physics."""
    vehicle_id = api.vehicle_ids()[1]
    before = (await api.api("GET", f"/vehicles/{vehicle_id}")).body
    answer = await api.api(
        "PATCH",
        f"/vehicles/{vehicle_id}",
        json_body={
            "notes": "needs tyres",
            "fullChargeEnergykWh": 350,
            "maxChargePowerkW": 90,
            "chargingPorts": [
                {"inactive": False, "macAddress": "aa:bb:cc:dd:ee:ff", "type": "MCS"}
            ],
            "v2icpParameters": {"interiorHvac": "Heating", "preconditioning": False},
            "locationUid": api.state.locations[1].id,
        },
    )
    assert answer.status == 200
    after = (await api.api("GET", f"/vehicles/{vehicle_id}")).body
    assert after["notes"] == "needs tyres"
    assert after["fullChargeEnergykWh"] == 350
    assert after["maxChargePowerkW"] == 90
    assert after["chargingPorts"][0]["type"] == "MCS"
    assert after["locationUid"] == api.state.locations[1].id
    assert after["v2icpParameters"] == {
        "interiorHvac": "Heating",
        "preconditioning": False,
    }
    for key in ("name", "licensePlate", "evModel", "enableChargeScheduling", "vin"):
        assert after[key] == before[key]
    truth = sim.chargeye.fleet.vehicles[vehicle_id]
    assert truth.battery_wh == 350_000
    assert truth.max_power_w == 90_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fullChargeEnergykWh": 0}, "fullChargeEnergykWh must be >= 1"),
        ({"maxChargePowerkW": "fast"}, "maxChargePowerkW must be a number"),
        ({"enableChargeScheduling": "yes"}, "enableChargeScheduling must be a boolean"),
        ({"colour": "red"}, "body must NOT have additional property colour"),
        (
            {"chargingPorts": [{"type": "SCART"}]},
            "chargingPorts[0].type must be one of",
        ),
        ({"chargingPorts": "CCS2"}, "chargingPorts must be an array"),
        ({"v2icpParameters": {"interiorHvac": "Sauna"}}, "interiorHvac must be one of"),
        ({"locationUid": "elsewhere"}, "unknown locationUid elsewhere"),
        ({"locationUid": 7}, "locationUid must be a string"),
        ([], "body must be a JSON object"),
    ],
)
async def test_patch_vehicle_bad_input(api: Api, body: Any, message: str) -> None:
    """Invalid vehicle fields: 400 with a message naming the field."""
    vehicle_id = api.vehicle_ids()[0]
    answer = await api.api("PATCH", f"/vehicles/{vehicle_id}", json_body=body)
    assert answer.status == 400
    assert set(answer.body) == {"message"}
    assert message in answer.body["message"]


async def test_malformed_json_body_is_400(api: Api) -> None:
    """A body that is not JSON: 400, never a 500."""
    vehicle_id = api.vehicle_ids()[0]
    for path in (f"/vehicles/{vehicle_id}", f"/vehicles/{vehicle_id}/schedules"):
        answer = await api.api(
            "PATCH",
            path,
            data=b'{"enableChargeScheduling": ',
            headers={"Content-Type": "application/json"},
        )
        assert answer.status == 400
        assert answer.body == {"message": "body is not valid JSON"}
    empty = await api.api("POST", f"/vehicles/{vehicle_id}/schedules", data=b"")
    assert empty.status == 400


async def test_put_creates_a_vehicle_with_the_callers_id(
    api: Api, sim: Simulator
) -> None:
    """PUT with a new id registers the vehicle (no schedules yet); PUT again replaces it."""
    answer = await api.api(
        "PUT",
        "/vehicles/bus-900",
        json_body={
            "name": "Bus 900",
            "evModel": "Yutong E12",
            "fullChargeEnergykWh": 422,
            "maxChargePowerkW": 150,
            "enableChargeScheduling": True,
            "licensePlate": "BX-900-Z",
        },
    )
    assert answer.status == 200
    assert answer.body == {"id": "bus-900"}
    record = (await api.api("GET", "/vehicles/bus-900")).body
    assert record["name"] == "Bus 900"
    assert record["evModel"] == "Yutong E12"
    assert record["fullChargeEnergykWh"] == 422
    assert record["chargingPorts"] == []
    upcoming = (await api.api("GET", "/vehicles/bus-900/schedules/upcoming")).body
    assert upcoming == {"currentOrNext": None, "previous": None}
    assert sim.chargeye.fleet.vehicles["bus-900"].plugged_in is False
    replaced = await api.api("PUT", "/vehicles/bus-900", json_body={"notes": "spare"})
    assert replaced.status == 200
    record = (await api.api("GET", "/vehicles/bus-900")).body
    assert record["name"] == ""
    assert record["notes"] == "spare"
    assert record["evModel"] == ""
    listed = (await api.api("GET", "/vehicles")).body["vehicles"]
    assert "bus-900" in [item["vehicle"]["id"] for item in listed]


async def test_locations(api: Api) -> None:
    """GET /locations: the depots; a location's id is the locationUid."""
    answer = await api.api("GET", "/locations")
    assert answer.status == 200
    uids = [location["id"] for location in answer.body["locations"]]
    assert uids == [location.id for location in api.state.locations]
    assert all(location["name"] for location in answer.body["locations"])


async def test_location_schedules(api: Api, sim: Simulator) -> None:
    """GET /locations/{uid}/schedules: its recurring templates and current/upcoming dates."""
    for location in api.state.locations:
        answer = await api.api("GET", f"/locations/{location.id}/schedules")
        assert answer.status == 200
        assert set(answer.body) == {"recurringSchedules", "schedules"}
        for schedule in answer.body["schedules"]:
            assert set(schedule) == EV_SCHEDULE_KEYS
            assert schedule["locationUid"] == location.id
            assert (
                ms(schedule["plannedDepartureTime"])
                >= sim.clock.now().timestamp() * 1000
            )
        for template in answer.body["recurringSchedules"]:
            assert template["recurrenceRule"] == "FREQ=DAILY"
            assert template["locationUid"] == location.id
    total = 0
    for location in api.state.locations:
        answer = await api.api("GET", f"/locations/{location.id}/schedules")
        total += len(answer.body["recurringSchedules"])
    assert total == len(api.vehicle_ids())
    missing = await api.api("GET", "/locations/nowhere/schedules")
    assert missing.status == 404
    assert missing.body == {"message": "Location not found"}


# --- schedules and plans --------------------------------------------------------------------


def check_plan(schedule: dict[str, Any], now_ms: int) -> None:
    """Check a plan covers arrival to departure without gaps, split at now."""
    plan = schedule["plan"]
    past, upcoming = plan["pastSegments"], plan["segments"]
    assert all(segment["to"] <= now_ms for segment in past)
    assert all(segment["to"] > now_ms for segment in upcoming)
    segments = past + upcoming
    assert segments[0]["from"] == ms(schedule["plannedArrivalTime"])
    assert segments[-1]["to"] == ms(schedule["plannedDepartureTime"])
    for before, after in itertools.pairwise(segments):
        assert before["to"] == after["from"]
        assert before["endSoc"] == pytest.approx(after["startSoc"], abs=0.002)
    for segment in segments:
        assert set(segment) == SEGMENT_KEYS
        assert segment["durationMs"] == segment["to"] - segment["from"]
        hours = segment["durationMs"] / 3_600_000
        assert segment["energykWh"] == pytest.approx(
            segment["powerkW"] * hours, abs=0.002
        )
        assert segment["paused"] is (segment["powerkW"] == 0)
    total = sum(segment["energykWh"] for segment in segments)
    assert plan["energyKwh"] == pytest.approx(total, abs=0.01)
    assert plan["endSoc"] == segments[-1]["endSoc"]


async def test_upcoming_previous_and_current(api: Api, sim: Simulator) -> None:
    """upcoming: the last ended schedule and the one covering now (or next)."""
    now = sim.clock.now()
    now_ms = round(now.timestamp() * 1000)
    for vehicle_id in api.vehicle_ids():
        answer = await api.api("GET", f"/vehicles/{vehicle_id}/schedules/upcoming")
        assert answer.status == 200
        previous, current = answer.body["previous"], answer.body["currentOrNext"]
        assert set(previous) == EV_SCHEDULE_KEYS
        assert set(current) == EV_SCHEDULE_KEYS
        assert ms(previous["plannedDepartureTime"]) < now_ms
        assert ms(current["plannedDepartureTime"]) >= now_ms
        assert previous["plan"]["segments"] == []
        assert previous["planMeta"]["frozen"] is True
        assert current["planMeta"]["frozen"] is False
        assert current["evId"] == vehicle_id
        assert current["recurrenceRule"] == "FREQ=DAILY"
        check_plan(previous, now_ms)
        check_plan(current, now_ms)
        assert current["plan"]["schedule"]["id"] == current["id"]
        assert current["plan"]["schedule"]["from"] == ms(current["plannedArrivalTime"])
        assert current["plan"]["schedule"]["to"] == ms(current["plannedDepartureTime"])


async def test_plan_fills_the_cheapest_hours_before_departure(
    api: Api, sim: Simulator
) -> None:
    """Cost-optimized: charging only in the cheapest hours, done a margin before departure."""
    now_ms = round(sim.clock.now().timestamp() * 1000)
    for vehicle_id in api.vehicle_ids():
        truth = sim.chargeye.fleet.vehicles[vehicle_id]
        assert truth.smart_charging
        body = (await api.api("GET", f"/vehicles/{vehicle_id}/schedules")).body
        for schedule in body["schedules"]:
            check_plan(schedule, now_ms)
            assert schedule["planMeta"]["strategy"] == "cost-optimized"
            arrival = datetime.fromisoformat(schedule["plannedArrivalTime"])
            departure = datetime.fromisoformat(schedule["plannedDepartureTime"])
            deadline = departure - DEPARTURE_MARGIN
            need_wh = (
                (schedule["targetSoC"] - schedule["startSoC"]) / 100 * truth.battery_wh
            )
            cheapest = sim.prices.cheapest_hours(
                arrival, deadline, need_wh / truth.max_power_w
            )
            segments = schedule["plan"]["pastSegments"] + schedule["plan"]["segments"]
            charging = [s for s in segments if not s["paused"]]
            assert charging
            for segment in charging:
                assert segment["powerkW"] == truth.max_power_w / 1000
                assert segment["to"] <= round(deadline.timestamp() * 1000)
                hour = from_ms(segment["from"]).replace(
                    minute=0, second=0, microsecond=0
                )
                assert hour in cheapest
            assert schedule["plan"]["endSoc"] == pytest.approx(schedule["targetSoC"])
            assert schedule["plan"]["reachedTargetSocInSchedule"] is True
            delivered = sum(s["energykWh"] for s in segments) * 1000
            assert delivered == pytest.approx(need_wh, rel=1e-3)


async def test_physics_follows_the_plan(api: Api, sim: Simulator) -> None:
    """Inside a charging segment the SimVehicle charges at the planned power and soc."""
    vehicle_id = api.vehicle_ids()[0]
    previous, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    # The next night's schedule: at depot, then charging in its first charging segment.
    advance_to(sim, current.departure + timedelta(hours=1))
    truth = sim.chargeye.fleet.vehicles[vehicle_id]
    assert truth.status == "disconnected"
    assert truth.plugged_in is False
    _, tonight = sim.chargeye.upcoming(vehicle_id)
    assert tonight is not None
    advance_to(sim, tonight.arrival + timedelta(minutes=5))
    assert truth.plugged_in is True
    assert truth.plugged_in_at == tonight.arrival
    assert truth.session_energy_wh == 0
    plan = sim.chargeye.plan(tonight)
    first_charge = next(s for s in plan.segments if not s.paused)
    if from_ms(first_charge.start) > sim.clock.now():
        assert truth.status == "plugged_in"
    advance_to(sim, from_ms(first_charge.start) + timedelta(minutes=10))
    assert truth.status == "charging"
    assert truth.charge_power_w == truth.max_power_w
    answer = await api.api("GET", f"/vehicles/{vehicle_id}/schedules/upcoming")
    segment = answer.body["currentOrNext"]["plan"]["segments"][0]
    assert segment["paused"] is False
    share = (sim.clock.now().timestamp() * 1000 - segment["from"]) / segment[
        "durationMs"
    ]
    expected = segment["startSoc"] + (segment["endSoc"] - segment["startSoc"]) * share
    assert truth.soc == pytest.approx(expected, abs=0.01)
    assert truth.session_energy_wh == pytest.approx(
        truth.max_power_w * 10 / 60
        + sum(s.energy_wh for s in plan.segments if s.end <= first_charge.start),
        rel=1e-6,
    )
    assert truth.target_soc == round(tonight.target_soc)
    advance_to(sim, tonight.departure - timedelta(minutes=1))
    assert truth.status == "complete"
    assert truth.soc == pytest.approx(tonight.target_soc)
    advance_to(sim, tonight.departure + timedelta(minutes=1))
    assert truth.status == "disconnected"


async def test_daily_recurrence_keeps_local_times(api: Api, sim: Simulator) -> None:
    """Occurrences of the daily schedule appear ahead of time at the same local times."""
    vehicle_id = api.vehicle_ids()[0]
    before = list(sim.chargeye.schedules_of(vehicle_id))
    sim.advance(3 * 24 * 3600)
    after = sim.chargeye.schedules_of(vehicle_id)
    assert len(after) == len(before) + 3
    tz = sim.timezone
    local_arrivals = {s.arrival.astimezone(tz).time() for s in after}
    local_departures = {s.departure.astimezone(tz).time() for s in after}
    assert len(local_arrivals) == 1
    assert len(local_departures) == 1
    horizon = sim.clock.now() + timedelta(days=1)
    assert after[-1].arrival > horizon
    assert len({s.id for s in after}) == len(after)


def test_same_seed_same_depot(sim: Simulator) -> None:
    """The depot pattern is deterministic from the seed."""
    other = Simulator(vehicles=3, seed=1)
    now = sim.clock.now()
    for vehicle_id in (v.id for v in sim.chargeye.fleet):
        ours = [
            sim.chargeye.schedule_json(s, now)
            for s in sim.chargeye.schedules_of(vehicle_id)
        ]
        theirs = [
            other.chargeye.schedule_json(s, now)
            for s in other.chargeye.schedules_of(vehicle_id)
        ]
        assert ours == theirs
    different = Simulator(vehicles=3, seed=2)
    assert [v.id for v in different.chargeye.fleet] != [
        v.id for v in sim.chargeye.fleet
    ]


async def test_list_schedules_time_filter(api: Api, sim: Simulator) -> None:
    """from/to keep the schedules overlapping the range; bad times are 400."""
    vehicle_id = api.vehicle_ids()[0]
    everything = (await api.api("GET", f"/vehicles/{vehicle_id}/schedules")).body[
        "schedules"
    ]
    assert len(everything) >= 4
    start = sim.clock.now() + timedelta(hours=1)
    end = start + timedelta(hours=24)
    answer = await api.api(
        "GET",
        f"/vehicles/{vehicle_id}/schedules",
        params={"from": iso(start), "to": iso(end)},
    )
    assert answer.status == 200
    kept = answer.body["schedules"]
    expected = [
        s["id"]
        for s in everything
        if ms(s["plannedDepartureTime"]) >= start.timestamp() * 1000
        and ms(s["plannedArrivalTime"]) <= end.timestamp() * 1000
    ]
    assert [s["id"] for s in kept] == expected
    assert 0 < len(kept) < len(everything)
    for params, message in (
        ({"from": "yesterday"}, "from is not a valid ISO 8601 date-time"),
        ({"to": "2026-11-02T10:00:00"}, "to must include a time zone"),
        ({"from": iso(end), "to": iso(start)}, "to must not be before from"),
    ):
        bad = await api.api("GET", f"/vehicles/{vehicle_id}/schedules", params=params)
        assert bad.status == 400
        assert bad.body == {"message": message}
    missing = await api.api("GET", "/vehicles/nope/schedules")
    assert missing.status == 404


def posted(arrival: datetime, departure: datetime, **extra: Any) -> dict[str, Any]:
    """Build a PostedSchedule body."""
    return {
        "plannedArrivalTime": iso(arrival),
        "plannedDepartureTime": iso(departure),
        **extra,
    }


async def test_add_schedules_without_replace(api: Api, sim: Simulator) -> None:
    """Without the flag: new schedules are created; existing ones stay; overlaps are 409."""
    vehicle_id = api.vehicle_ids()[0]
    before = {s.id for s in sim.chargeye.schedules_of(vehicle_id)}
    # Midday, between the morning departure and the evening arrival.
    arrival = next_local_time(sim, 11)
    body = {
        "schedules": [
            posted(arrival, arrival + timedelta(hours=3), startSoC=40, targetSoC=80)
        ]
    }
    answer = await api.api("POST", f"/vehicles/{vehicle_id}/schedules", json_body=body)
    assert answer.status == 200
    assert set(answer.body) == {"ids", "removedScheduleIds"}
    assert answer.body["removedScheduleIds"] == []
    (new_id,) = answer.body["ids"]
    assert new_id not in before
    assert {s.id for s in sim.chargeye.schedules_of(vehicle_id)} == before | {new_id}
    created = next(s for s in sim.chargeye.schedules_of(vehicle_id) if s.id == new_id)
    assert created.target_soc == 80
    assert created.start_soc == 40
    assert created.recurrence_rule is None
    plan = sim.chargeye.plan(created)
    assert plan.trigger == "schedule-created"
    again = await api.api("POST", f"/vehicles/{vehicle_id}/schedules", json_body=body)
    assert again.status == 409
    assert again.body == {"message": f"schedule overlaps existing schedule {new_id}"}


async def test_replace_future_schedules(api: Api, sim: Simulator) -> None:
    """replaceFutureSchedules: match by departure, create the new, delete the rest."""
    vehicle_id = api.vehicle_ids()[0]
    now = sim.clock.now()
    schedules = list(sim.chargeye.schedules_of(vehicle_id))
    past = [s for s in schedules if s.departure <= now]
    future = [s for s in schedules if s.departure > now]
    assert len(future) >= 3
    keep = future[1]
    new_arrival = future[-1].departure + timedelta(hours=10)
    body = {
        "replaceFutureSchedules": True,
        "schedules": [
            posted(keep.arrival, keep.departure, targetSoC=70),
            posted(new_arrival, new_arrival + timedelta(hours=9), targetSoC=95),
        ],
    }
    answer = await api.api("POST", f"/vehicles/{vehicle_id}/schedules", json_body=body)
    assert answer.status == 200
    ids = answer.body["ids"]
    assert ids[0] == keep.id
    assert ids[1] not in {s.id for s in schedules}
    assert sorted(answer.body["removedScheduleIds"]) == sorted(
        s.id for s in future if s.id != keep.id
    )
    remaining = sim.chargeye.schedules_of(vehicle_id)
    assert [s.id for s in remaining] == [s.id for s in past] + ids
    assert keep.target_soc == 70
    assert sim.chargeye.plan(keep).trigger == "schedule-updated"
    # The daily pattern was replaced too: no new occurrences appear later.
    sim.advance(5 * 24 * 3600)
    assert [s.id for s in sim.chargeye.schedules_of(vehicle_id)] == [
        s.id
        for s in sim.chargeye.schedules_of(vehicle_id)
        if s.id in set(ids) | {p.id for p in past}
    ]
    assert ids[1] in {s.id for s in sim.chargeye.schedules_of(vehicle_id)}


async def test_replace_updates_the_ongoing_schedule(api: Api, sim: Simulator) -> None:
    """An ongoing posted schedule updates the ongoing one (new departure), keeping history."""
    vehicle_id = api.vehicle_ids()[1]
    _, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    advance_to(sim, current.departure + timedelta(hours=14))
    _, tonight = sim.chargeye.upcoming(vehicle_id)
    assert tonight is not None
    advance_to(sim, tonight.arrival + timedelta(hours=7))
    assert tonight.at_depot(sim.clock.now())
    now_ms = round(sim.clock.now().timestamp() * 1000)
    before = (await api.api("GET", f"/vehicles/{vehicle_id}/schedules/upcoming")).body
    assert before["currentOrNext"]["id"] == tonight.id
    later = tonight.departure + timedelta(hours=1)
    answer = await api.api(
        "POST",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={
            "replaceFutureSchedules": True,
            "schedules": [posted(tonight.arrival, later, targetSoC=100)],
        },
    )
    assert answer.status == 200
    assert answer.body["ids"] == [tonight.id]
    assert tonight.id not in answer.body["removedScheduleIds"]
    after = (await api.api("GET", f"/vehicles/{vehicle_id}/schedules/upcoming")).body
    current_json = after["currentOrNext"]
    assert current_json["id"] == tonight.id
    assert current_json["plannedDepartureTime"] == iso(later)
    assert current_json["targetSoC"] == 100
    assert current_json["plan"]["pastSegments"] == [
        s for s in before["currentOrNext"]["plan"]["pastSegments"] if s["to"] <= now_ms
    ]
    check_plan(current_json, now_ms)
    assert current_json["planMeta"]["trigger"] == "schedule-updated"


async def test_replace_updates_a_recently_ended_schedule(
    api: Api, sim: Simulator
) -> None:
    """Shortly after departure, an ongoing posted schedule revives the one that just ended."""
    vehicle_id = api.vehicle_ids()[0]
    _, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    advance_to(sim, current.departure + timedelta(minutes=10))
    later = sim.clock.now() + timedelta(hours=2)
    answer = await api.api(
        "POST",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={
            "replaceFutureSchedules": True,
            "schedules": [posted(current.arrival, later)],
        },
    )
    assert answer.status == 200
    assert answer.body["ids"] == [current.id]
    assert current.departure == later
    assert sim.chargeye.fleet.vehicles[vehicle_id].plugged_in is True


async def test_replace_creates_an_ongoing_schedule_when_none_matches(
    api: Api, sim: Simulator
) -> None:
    """No ongoing or recent schedule to update: the posted ongoing one is created."""
    vehicle_id = api.vehicle_ids()[0]
    _, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    advance_to(sim, current.departure + timedelta(hours=3))
    now = sim.clock.now()
    answer = await api.api(
        "POST",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={
            "replaceFutureSchedules": True,
            "schedules": [
                posted(now - timedelta(hours=1), now + timedelta(hours=2), startSoC=20)
            ],
        },
    )
    assert answer.status == 200
    (new_id,) = answer.body["ids"]
    assert new_id != current.id
    upcoming = (await api.api("GET", f"/vehicles/{vehicle_id}/schedules/upcoming")).body
    assert upcoming["currentOrNext"]["id"] == new_id
    plan = upcoming["currentOrNext"]["plan"]
    # Before it was known, nothing happened: one paused segment at the start SoC.
    assert plan["pastSegments"][0]["paused"] is True
    assert plan["pastSegments"][0]["startSoc"] == 20
    truth = sim.chargeye.fleet.vehicles[vehicle_id]
    assert truth.plugged_in is True


async def test_replace_with_nothing_deletes_every_future_schedule(
    api: Api, sim: Simulator
) -> None:
    """An empty replace leaves only the past: no current or next schedule."""
    vehicle_id = api.vehicle_ids()[2]
    now = sim.clock.now()
    future = [s.id for s in sim.chargeye.schedules_of(vehicle_id) if s.departure > now]
    answer = await api.api(
        "POST",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={"replaceFutureSchedules": True, "schedules": []},
    )
    assert answer.status == 200
    assert answer.body == {"ids": [], "removedScheduleIds": future}
    upcoming = (await api.api("GET", f"/vehicles/{vehicle_id}/schedules/upcoming")).body
    assert upcoming["currentOrNext"] is None
    assert upcoming["previous"] is not None
    assert sim.chargeye.fleet.vehicles[vehicle_id].plugged_in is False


async def test_posted_daily_schedule_recurs(api: Api, sim: Simulator) -> None:
    """A posted FREQ=DAILY schedule starts a new daily pattern."""
    vehicle_id = api.vehicle_ids()[0]
    arrival = next_local_time(sim, 12)
    answer = await api.api(
        "POST",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={
            "replaceFutureSchedules": True,
            "schedules": [
                posted(
                    arrival, arrival + timedelta(hours=2), recurrenceRule="FREQ=DAILY"
                )
            ],
        },
    )
    assert answer.status == 200
    sim.advance(2 * 24 * 3600)
    future = [
        s
        for s in sim.chargeye.schedules_of(vehicle_id)
        if s.arrival >= arrival and s.recurrence_rule == "FREQ=DAILY"
    ]
    assert len(future) >= 3
    assert all(s.arrival.astimezone(sim.timezone).hour == 12 for s in future)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"schedules": [{"targetSoC": 120}]},
            "must have required property plannedArrivalTime",
        ),
        ("ARRIVE", "body must be a JSON object"),
        ({"schedules": "all"}, "body must have required property schedules"),
        ({}, "body must have required property schedules"),
        (
            {"replaceFutureSchedules": "yes", "schedules": []},
            "replaceFutureSchedules must be a boolean",
        ),
        ({"schedules": [], "extra": 1}, "body must NOT have additional property extra"),
        ({"schedules": [1]}, "schedules[0] must be an object"),
    ],
)
async def test_add_schedules_bad_body(api: Api, body: Any, message: str) -> None:
    """Malformed add requests are 400."""
    vehicle_id = api.vehicle_ids()[0]
    answer = await api.api("POST", f"/vehicles/{vehicle_id}/schedules", json_body=body)
    assert answer.status == 400
    assert message in answer.body["message"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targetSoC": 120}, "schedules[0].targetSoC must be between 0 and 100"),
        ({"startSoC": -1}, "schedules[0].startSoC must be between 0 and 100"),
        ({"targetSoC": "full"}, "schedules[0].targetSoC must be a number"),
        ({"plannedArrivalTime": "25:00"}, "plannedArrivalTime is not a valid ISO 8601"),
        (
            {"plannedDepartureTime": 1700000000},
            "plannedDepartureTime must be an ISO 8601",
        ),
        ({"plannedArrivalTime": "2026-11-05T20:00:00"}, "must include a time zone"),
        ({"swap": True}, "plannedDepartureTime must be after plannedArrivalTime"),
        ({"past": True}, "plannedDepartureTime is in the past"),
        ({"locationUid": "nowhere"}, "unknown locationUid nowhere"),
        ({"colour": "red"}, "must NOT have additional property colour"),
    ],
)
async def test_add_schedules_bad_schedule(
    api: Api, sim: Simulator, change: dict[str, Any], message: str
) -> None:
    """An invalid PostedSchedule is 400 with the field named; nothing changes."""
    vehicle_id = api.vehicle_ids()[0]
    arrival = sim.clock.now() + timedelta(days=5)
    item = posted(arrival, arrival + timedelta(hours=8), targetSoC=90)
    if change.pop("swap", False):
        item = posted(arrival + timedelta(hours=8), arrival, targetSoC=90)
    if change.pop("past", False):
        item = posted(
            arrival - timedelta(days=6), arrival - timedelta(days=5, hours=20)
        )
    item.update(change)
    before = [s.id for s in sim.chargeye.schedules_of(vehicle_id)]
    answer = await api.api(
        "POST",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={"replaceFutureSchedules": True, "schedules": [item]},
    )
    assert answer.status == 400
    assert message in answer.body["message"]
    assert [s.id for s in sim.chargeye.schedules_of(vehicle_id)] == before


async def test_add_schedules_overlapping_in_request_and_too_many(
    api: Api, sim: Simulator
) -> None:
    """Overlapping posted schedules and more than 100 of them are 400."""
    vehicle_id = api.vehicle_ids()[0]
    arrival = sim.clock.now() + timedelta(days=5)
    overlapping = [
        posted(arrival, arrival + timedelta(hours=8)),
        posted(arrival + timedelta(hours=4), arrival + timedelta(hours=10)),
    ]
    answer = await api.api(
        "POST",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={"replaceFutureSchedules": True, "schedules": overlapping},
    )
    assert answer.status == 400
    assert answer.body == {"message": "schedules in the request overlap each other"}
    many = [
        posted(arrival + timedelta(days=i), arrival + timedelta(days=i, hours=1))
        for i in range(101)
    ]
    answer = await api.api(
        "POST", f"/vehicles/{vehicle_id}/schedules", json_body={"schedules": many}
    )
    assert answer.status == 400
    assert "must NOT have more than 100 items" in answer.body["message"]


async def test_add_schedules_unknown_vehicle(api: Api, sim: Simulator) -> None:
    """Schedules for an unknown vehicle: 404."""
    arrival = sim.clock.now() + timedelta(days=1)
    answer = await api.api(
        "POST",
        "/vehicles/nope/schedules",
        json_body={"schedules": [posted(arrival, arrival + timedelta(hours=1))]},
    )
    assert answer.status == 404
    assert answer.body == {"message": "Vehicle not found"}
    upcoming = await api.api("GET", "/vehicles/nope/schedules/upcoming")
    assert upcoming.status == 404


async def test_patch_schedules(api: Api, sim: Simulator) -> None:
    """PATCH changes the named schedules and replans them; unknown ids are skipped."""
    vehicle_id = api.vehicle_ids()[0]
    _, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    answer = await api.api(
        "PATCH",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={"schedules": [{"id": current.id, "targetSoC": 75}]},
    )
    assert answer.status == 200
    assert answer.body == {
        "message": "Updated 1 schedule(s)",
        "skippedScheduleIds": [],
        "success": True,
    }
    assert current.target_soc == 75
    assert sim.chargeye.plan(current).trigger == "schedule-updated"
    assert sim.chargeye.fleet.vehicles[vehicle_id].target_soc == 75
    mixed = await api.api(
        "PATCH",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={"schedules": [{"id": current.id, "startSoC": 10}, {"id": "gone"}]},
    )
    assert mixed.body == {
        "message": "Updated 1 schedule(s), skipped 1",
        "skippedScheduleIds": ["gone"],
        "success": True,
    }
    none = await api.api(
        "PATCH",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={"schedules": [{"id": "gone", "targetSoC": 50}]},
    )
    assert none.status == 200
    assert none.body == {
        "message": "No schedules were updated",
        "skippedScheduleIds": ["gone"],
        "success": False,
    }


async def test_patch_schedule_that_has_ended_is_skipped(
    api: Api, sim: Simulator
) -> None:
    """A schedule whose departure has passed cannot be changed."""
    vehicle_id = api.vehicle_ids()[0]
    previous, _ = sim.chargeye.upcoming(vehicle_id)
    assert previous is not None
    answer = await api.api(
        "PATCH",
        f"/vehicles/{vehicle_id}/schedules",
        json_body={"schedules": [{"id": previous.id, "targetSoC": 50}]},
    )
    assert answer.body["skippedScheduleIds"] == [previous.id]
    assert answer.body["success"] is False
    assert previous.target_soc != 50


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"targetSoC": 120}, "schedules[0].targetSoC must be between 0 and 100"),
        ({"id": None}, "schedules[0] must have required property id"),
        (
            {"plannedDepartureTime": "soon"},
            "plannedDepartureTime is not a valid ISO 8601",
        ),
        ({"locationUid": "nowhere"}, "unknown locationUid nowhere"),
        (
            {"before_arrival": True},
            "plannedDepartureTime must be after plannedArrivalTime",
        ),
        ({"colour": "red"}, "must NOT have additional property colour"),
    ],
)
async def test_patch_schedules_bad_input(
    api: Api, sim: Simulator, patch: dict[str, Any], message: str
) -> None:
    """Invalid patches are 400 and change nothing."""
    vehicle_id = api.vehicle_ids()[0]
    _, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    item: dict[str, Any] = {"id": current.id}
    if patch.pop("before_arrival", False):
        item["plannedDepartureTime"] = iso(current.arrival - timedelta(hours=1))
    item.update(patch)
    if item["id"] is None:
        del item["id"]
    target = current.target_soc
    answer = await api.api(
        "PATCH", f"/vehicles/{vehicle_id}/schedules", json_body={"schedules": [item]}
    )
    assert answer.status == 400
    assert message in answer.body["message"]
    assert current.target_soc == target


# --- errors and faults ----------------------------------------------------------------------


async def test_unknown_path_and_method_use_the_error_body(api: Api) -> None:
    """Router misses under /chargeye answer in ChargEye's shape."""
    missing = await api.api("GET", "/chargers")
    assert missing.status == 404
    assert set(missing.body) == {"message"}
    wrong = await api.api("DELETE", "/vehicles")
    assert wrong.status == 405
    assert set(wrong.body) == {"message"}


@pytest.mark.parametrize(
    ("kind", "status"),
    [(FaultKind.STATUS, 503), (FaultKind.RATE_LIMIT, 429), (FaultKind.AUTH, 401)],
)
async def test_injected_errors_use_the_error_body(
    api: Api, sim: Simulator, kind: FaultKind, status: int
) -> None:
    """Faults answer in ChargEye's error shape."""
    sim.faults.add(Fault(kind=kind, provider="chargeye", path="/vehicles$", times=1))
    answer = await api.api("GET", "/vehicles")
    assert answer.status == status
    assert set(answer.body) == {"message"}
    if kind is FaultKind.RATE_LIMIT:
        assert answer.headers["Retry-After"] == "30"
    assert (await api.api("GET", "/vehicles")).status == 200


async def test_requests_are_logged(api: Api, sim: Simulator) -> None:
    """The request log sees ChargEye requests with their headers and bodies."""
    vehicle_id = api.vehicle_ids()[0]
    await api.api(
        "PATCH", f"/vehicles/{vehicle_id}", json_body={"enableChargeScheduling": True}
    )
    entry = sim.requests.last(provider="chargeye", method="PATCH")
    assert entry.path == f"/chargeye/vehicles/{vehicle_id}"
    assert entry.json == {"enableChargeScheduling": True}
    assert entry.headers["Authorization"] == f"Bearer {api.token}"
    assert sim.requests.count(provider="chargeye", path="refreshAccessToken") == 1


async def test_admin_state_has_schedules(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """/_admin/state shows the organisation and every vehicle's schedules."""
    async with client_session.get(
        f"{sim_server.url}/_admin/state", params={"provider": "chargeye"}
    ) as response:
        body = await response.json()
    state = body["providers"]["chargeye"]
    assert state["organisation"] == sim.chargeye.organisation
    assert set(state["schedules"]) == {v.id for v in sim.chargeye.fleet}
    assert len(state["vehicles"]) == 3


async def test_admin_vehicle_changes_reach_the_plans(
    sim_server: SimulatorServer, client_session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Switching smart charging through /_admin replans like the API would."""
    vehicle_id = next(iter(sim.chargeye.fleet)).id
    async with client_session.patch(
        f"{sim_server.url}/_admin/vehicles/chargeye/{vehicle_id}",
        json={"smart_charging": False},
    ) as response:
        assert response.status == 200
    _, current = sim.chargeye.upcoming(vehicle_id)
    assert current is not None
    assert sim.chargeye.plan(current).strategy == "max-power"


def test_add_and_remove_vehicle(sim: Simulator) -> None:
    """The Python API adds a vehicle with a daily pattern and removes one with its data."""
    vehicle = sim.chargeye.add_vehicle()
    assert len(sim.chargeye.schedules_of(vehicle.id)) >= 3
    assert sim.chargeye.upcoming(vehicle.id)[1] is not None
    sim.chargeye.remove_vehicle(vehicle.id)
    assert vehicle.id not in sim.chargeye.fleet.vehicles
    assert sim.chargeye.schedules_of(vehicle.id) == []
    sim.advance(3600)


def test_many_vehicles_follow_their_schedules() -> None:
    """After a day and a half every vehicle is plugged in exactly inside its window."""
    sim = Simulator(vehicles=50, seed=3)
    sim.advance(36 * 3600)
    for vehicle in sim.chargeye.fleet:
        previous, current = sim.chargeye.upcoming(vehicle.id)
        assert previous is not None
        assert current is not None
        assert vehicle.plugged_in is current.at_depot(sim.clock.now())


# --- validators never crash ----------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["2026-11-05T20:00:00Z", "2026-11-06T06:00:00+01:00", "CCS2"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "plannedArrivalTime",
        "plannedDepartureTime",
        "targetSoC",
        "startSoC",
        "locationUid",
        "recurrenceRule",
        "id",
        "chargingPorts",
        "fullChargeEnergykWh",
        "v2icpParameters",
        "enableChargeScheduling",
    ]
)
BODIES = JSON_VALUES | st.dictionaries(KEYS, JSON_VALUES, max_size=6)


@settings(max_examples=300, deadline=None)
@given(body=BODIES)
def test_validators_raise_only_api_errors(body: Any) -> None:
    """Arbitrary JSON into the request validators: a 400 (ApiError), never a crash."""
    now = datetime(2026, 11, 2, 6, tzinfo=UTC)
    statuses = set()
    for check in (
        lambda: validate_posted(body, "schedules[0]", {"loc"}, now),
        lambda: validate_patch(body, "schedules[0]", {"loc"}),
        lambda: validate_vehicle_body(body, ["loc"]),
    ):
        try:
            check()
        except ApiError as err:
            statuses.add(err.status)
    assert statuses <= {400}
