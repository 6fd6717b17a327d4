"""Arbitrary JSON for each provider client's parsers, for the contract test.

Every case feeds one parser (or a group of them) whatever JSON hypothesis makes of the
strategy, biased towards the field names and values that provider uses, and checks what
it gives back. ``tests/api/test_contract.py::test_parsers_raise_only_response_errors``
runs them: a parser may raise ProviderResponseError (if ``may_refuse``), nothing else.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import math
import traceback
from typing import Any

import aiohttp
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from custom_components.chargebridge.api import (
    ChargeBridgeError,
    ChargingStatus,
    Fleet,
    ProviderResponseError,
    ProviderValueError,
)
from custom_components.chargebridge.api.base import Response
from custom_components.chargebridge.api.chargeye import (
    jwt_claims,
    parse_depot_schedules,
    parse_vehicle_item,
)
from custom_components.chargebridge.api.chargeye_plan import (
    PlannedSchedule,
    at_depot,
    parse_schedule,
    parse_upcoming,
    pick_upcoming,
    plan_state,
)
from custom_components.chargebridge.api.chargeye_recurrence import (
    Recurrence,
    RecurrenceError,
)
from custom_components.chargebridge.api.evenergy import (
    EvEnergyClient,
    charging_status,
    next_link,
    open_sessions,
    parse_plan,
    parse_token as evenergy_token,
    parse_vehicle as evenergy_vehicle,
    resource_id,
)
from custom_components.chargebridge.api.hiven import _parse_schedule, _parse_status
from custom_components.chargebridge.api.jedlix import (
    parse_charge_settings,
    parse_message,
    parse_page,
    parse_session,
    parse_token as jedlix_token,
    parse_vehicle as jedlix_vehicle,
)
from custom_components.chargebridge.api.payload import Payload
from custom_components.chargebridge.api.registry import PROVIDERS
from tests.simulator import DEFAULT_START


@dataclass(frozen=True)
class ParserCase:
    """One parser (or group) fed arbitrary JSON."""

    provider: str
    name: str
    data: st.SearchStrategy[Any]
    check: Callable[[Any], object]
    """Parse ``data`` and check what comes back."""
    examples: int = 200
    deadline: timedelta | None = timedelta(milliseconds=200)
    """Longest time one example may take (hypothesis's default; None: no limit)."""
    may_refuse: bool = True
    """Whether ProviderResponseError is an answer (else the parser must never raise)."""

    @property
    def id(self) -> str:
        """Return the test id."""
        return f"{self.provider}-{self.name}"


def both_ways(
    path: str, parse: Callable[[list[ChargeBridgeError] | None], object]
) -> None:
    """Parse strictly and leniently (as the fleet reads) and check the two agree.

    ``parse`` reads with the faults list it is given (None: strictly). What the strict
    read takes, the lenient one gives alike without faults; what it refuses, the lenient
    one either reads with faults (a value) or refuses the same way (an id or structure,
    never raised by a value getter). Every fault names the provider's field under
    ``path``.
    """
    faults: list[ChargeBridgeError] = []
    lenient: object = None
    strict: object = None
    lenient_error: ProviderResponseError | None = None
    strict_error: ProviderResponseError | None = None
    try:
        lenient = parse(faults)
    except ProviderResponseError as err:
        lenient_error = err
    try:
        strict = parse(None)
    except ProviderResponseError as err:
        strict_error = err
    for fault in faults:
        assert isinstance(fault, ProviderValueError)
        assert fault.field.startswith(path)
    if strict_error is None:
        assert lenient_error is None
        assert not faults
        assert lenient == strict
    elif lenient_error is None:
        assert faults, "what the strict read refused was a value"
    else:
        assert type(lenient_error) is ProviderResponseError
        assert type(strict_error) is ProviderResponseError
        raiser = traceback.extract_tb(lenient_error.__traceback__)[-1].name
        assert raiser != "value_fault", "a value was read strictly in a lenient read"


def fake_jwt(claims: Any) -> str:
    """Return an unsigned JWT carrying ``claims`` (ChargEye's access tokens)."""
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return f"e30.{payload.decode()}.sig"


# --- Hiven -------------------------------------------------------------------------------

HIVEN_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["08:00", "25:00", "PERCENT", "KM", "EV", "2026-11-02T06:00:00Z"])
    | st.sampled_from(
        ["inf", "nan", 10**400, math.inf, math.nan, "9999-12-31T23:59:59-01:00"]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
"""Any JSON, with the values Hiven sends (also used by tests/api/test_hiven.py)."""
_HIVEN_KEYS = st.sampled_from(
    [
        "id",
        "type",
        "attributes",
        "settings",
        "chargingPreferences",
        "chargingBehavior",
        "chargingLocationIds",
        "targetSoC",
        "minimalSoC",
        "value",
        "unit",
        "readyTime",
        "weekDaySpecificReadyTimes",
        "MONDAY",
        "batteryCapacity",
        "soc",
        "range",
        "chargingStatus",
        "timestamp",
        "hourlyCharges",
        "year",
        "name",
    ]
)
_HIVEN_OBJECTS = st.recursive(
    st.dictionaries(_HIVEN_KEYS, HIVEN_JSON, max_size=6),
    lambda children: st.dictionaries(_HIVEN_KEYS, children | HIVEN_JSON, max_size=6),
    max_leaves=15,
)


def _hiven_parsers(data: Any) -> None:
    """Device, preferences, status and schedule parsers on the same JSON."""
    client: Any = PROVIDERS["hiven"](
        session=None,  # type: ignore[arg-type]
        api_url="https://api.hiven.energy",
        api_key="k",
        user_id="u",
    )
    parsers: list[Callable[[], object]] = [
        lambda: client._parse_device(Payload("hiven", data, "devices[0]")),
        lambda: client._parse_preferences(Payload("hiven", data, "preferences")),
        lambda: _parse_status(Payload("hiven", data, "status"), None),
        lambda: _parse_schedule(Payload("hiven", data, "schedule")),
    ]
    for parse in parsers:
        with contextlib.suppress(ProviderResponseError):
            parse()
    both_ways(
        "devices[0]",
        lambda faults: client._parse_device(
            Payload("hiven", data, "devices[0]", faults)
        ),
    )
    both_ways(
        "status",
        lambda faults: _parse_status(Payload("hiven", data, "status", faults), None),
    )
    both_ways(
        "schedule",
        lambda faults: _parse_schedule(Payload("hiven", data, "schedule", faults)),
    )


# --- ChargEye ----------------------------------------------------------------------------

_CE_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["2026-11-02T18:00:00.000Z", "2026-11-03T06:00:00+01:00", "x"])
)
CHARGEYE_JSON = st.recursive(
    _CE_SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON, with the values ChargEye sends (also used by tests/api/test_chargeye.py)."""
_EPOCH = st.integers(min_value=1_790_000_000_000, max_value=1_800_000_000_000)


def _maybe(
    keys: dict[str, st.SearchStrategy[Any]],
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of `keys` (values from their strategy or any JSON)."""
    return st.fixed_dictionaries(
        {}, optional={key: value | CHARGEYE_JSON for key, value in keys.items()}
    )


_SEGMENT = _maybe(
    {
        "from": _EPOCH,
        "to": _EPOCH,
        "powerkW": st.floats(min_value=0, max_value=500),
        "energykWh": st.floats(min_value=0, max_value=500),
        "startSoc": st.floats(min_value=0, max_value=100),
        "endSoc": st.floats(min_value=0, max_value=100),
        "paused": st.booleans(),
    }
)
_TIMES = st.sampled_from(
    ["2026-11-02T18:00:00.000Z", "2026-11-03T06:00:00Z", "2026-11-02T20:00:00+01:00"]
)
_EV_SCHEDULE = _maybe(
    {
        "id": st.text(min_size=1, max_size=5),
        "evId": st.text(max_size=5),
        "plannedArrivalTime": _TIMES,
        "plannedDepartureTime": _TIMES,
        "startSoC": st.floats(min_value=0, max_value=100),
        "targetSoC": st.floats(min_value=0, max_value=100),
        "plan": _maybe(
            {
                "segments": st.lists(_SEGMENT, max_size=3),
                "pastSegments": st.lists(_SEGMENT, max_size=3),
            }
        ),
        "planMeta": _maybe({"timestamp": _TIMES}),
    }
)
_UPCOMING = _maybe({"previous": _EV_SCHEDULE, "currentOrNext": _EV_SCHEDULE}) | (
    CHARGEYE_JSON
)
_RULES = st.sampled_from(
    ["FREQ=DAILY", "RRULE:FREQ=WEEKLY;BYDAY=MO,TU", "FREQ=DAILY;COUNT=3", "FREQ=NEVER"]
) | st.text(max_size=12)
_RECURRING = _maybe(
    {
        "id": st.text(min_size=1, max_size=3),
        "evId": st.sampled_from(["v", "w"]),
        "plannedArrivalTime": _TIMES | st.sampled_from(["1793642400000", "1793642400"]),
        "plannedDepartureTime": _TIMES,
        "targetSoC": st.floats(min_value=0, max_value=100),
        "recurrenceRule": _RULES,
        "plan": _maybe(
            {
                "segments": st.lists(_SEGMENT, max_size=2),
                "schedule": _maybe({"from": _EPOCH, "to": _EPOCH}),
            }
        ),
    }
)
_DEPOT = (
    _maybe(
        {
            "schedules": st.lists(_EV_SCHEDULE | CHARGEYE_JSON, max_size=3),
            "recurringSchedules": st.lists(_RECURRING | CHARGEYE_JSON, max_size=3),
        }
    )
    | CHARGEYE_JSON
)
_VEHICLE_ITEM = (
    _maybe(
        {
            "vehicle": _maybe(
                {
                    "id": st.text(min_size=1, max_size=5),
                    "name": st.text(max_size=5),
                    "fullChargeEnergykWh": st.floats(min_value=1, max_value=600),
                    "enableChargeScheduling": st.booleans(),
                }
            )
        }
    )
    | CHARGEYE_JSON
)


def _chargeye_upcoming(drawn: tuple[Any, int]) -> None:
    """Parse an upcoming answer and derive the state at some minute around the plan."""
    data, minutes = drawn
    now = datetime(2026, 11, 2, 18, tzinfo=UTC) + timedelta(minutes=minutes)
    previous, current = parse_upcoming(Payload("chargeye", data, "upcoming"), "v")
    state = plan_state(None, previous, current, now)
    assert state.charging_status in set(ChargingStatus)
    for schedule in (previous, current):
        if schedule is not None:
            at_depot(schedule.schedule, now)


def _chargeye_depot(drawn: tuple[Any, int]) -> None:
    """Read a depot's schedules, expand the recurring ones, derive each vehicle's state."""
    data, minutes = drawn
    now = datetime(2026, 11, 2, 18, tzinfo=UTC) + timedelta(minutes=minutes)
    read = parse_depot_schedules(Payload("chargeye", data, "location schedules[d]"))
    for vehicle_id in {*read.dated, *read.recurring}:
        occurrences: list[PlannedSchedule] = []
        for _, series in read.recurring.get(vehicle_id, []):
            first, rule = series.window, series.schedule.recurrence_rule
            if first is None or not rule:
                continue
            try:
                windows = Recurrence(rule, first.arrival, first.departure, UTC).around(
                    now
                )
            except RecurrenceError:
                windows = (first, None)
            occurrences.extend(series.at(w) for w in windows if w is not None)
        dated = {id(d.schedule): d for d in read.dated.get(vehicle_id, [])}
        previous, current = pick_upcoming(
            [d.schedule for d in dated.values()], occurrences, [], now
        )
        if previous is not None and id(previous) in dated:
            previous = dated[id(previous)].with_plan()
        if current is not None and id(current) in dated:
            current = dated[id(current)].with_plan()
        state = plan_state(None, previous, current, now)
        assert state.charging_status in set(ChargingStatus)


def _chargeye_vehicle(data: Any) -> None:
    """Parse a vehicle list item: a record with an id (leniently as the fleet does too)."""
    both_ways(
        "vehicles[0]",
        lambda faults: parse_vehicle_item(
            Payload("chargeye", data, "vehicles[0]", faults)
        ),
    )
    record = parse_vehicle_item(Payload("chargeye", data, "vehicles[0]"))
    assert record.id


def _chargeye_schedule(data: Any) -> None:
    """Parse an EvSchedule: a DepotSchedule with an id."""
    parsed = parse_schedule(Payload("chargeye", data, "schedules[0]"), "v")
    assert parsed.schedule.id


def _chargeye_jwt(token: str) -> None:
    """Read an access token's claims: a dict."""
    assert isinstance(jwt_claims("chargeye", token), dict)


# --- Jedlix ------------------------------------------------------------------------------

_JEDLIX_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "Charging",
            "Stopped",
            "07:30",
            "25:00",
            "Europe/Amsterdam",
            "2023-10-31T09:20:46.123Z",
            "0001-01-01T00:00:00+01:00",
            "1e999",
            "NaN",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "details",
                    "brand",
                    "model",
                    "version",
                    "isConnected",
                    "isConnectable",
                    "capabilities",
                    "chargeState",
                    "batteryLevel",
                    "range",
                    "updatedAt",
                    "isSmartChargingEnabled",
                    "desiredBatteryLevel",
                    "departureTimes",
                    "monday",
                    "timeZone",
                    "totalPages",
                    "items",
                    "type",
                    "title",
                    "vehicleId",
                    "status",
                    "access_token",
                    "expires_in",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


def _jedlix_parsers(data: Any) -> None:
    """Every Jedlix reader on the same JSON."""
    now = datetime(2026, 11, 2, tzinfo=UTC)
    parsers: list[Callable[[], object]] = [
        lambda: jedlix_vehicle(Payload("jedlix", data, "vehicles[0]")),
        lambda: parse_charge_settings(data, "settings", now).next_departure(now),
        lambda: [parse_message(item) for item in parse_page(data, "messages")[0]],
        lambda: jedlix_token(data),
        lambda: parse_session(data),
    ]
    for parse in parsers:
        with contextlib.suppress(ProviderResponseError):
            parse()
    both_ways(
        "vehicles[0]",
        lambda faults: jedlix_vehicle(Payload("jedlix", data, "vehicles[0]", faults)),
    )
    both_ways(
        "settings",
        lambda faults: parse_charge_settings(data, "settings", now, faults),
    )


# --- ev.energy ---------------------------------------------------------------------------

_EE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "Infinity",
            "NaN",
            "0001-01-01T00:00:00+01:00",
            "PLUGGED_IN_CHARGING",
            10**400,
            float("inf"),
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_EE_VEHICLE_KEYS = [
    "id",
    "description",
    "integrated",
    "battery_size_watt_hours",
    "maximum_charge_limit_percentage",
    "smart_charging_enabled",
    "latest_status_log",
    "trim",
]
_EE_LOG_KEYS = [
    "state_of_charge_percentage",
    "is_charging",
    "is_plugged_in",
    "is_complete",
    "charge_rate_watts",
    "charge_energy_added_watt_hours",
    "sampled_at",
    "state",
]
_EE_STATUS_LOGS = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(_EE_LOG_KEYS, _EE_JSON)
)
_EE_TRIMS = st.fixed_dictionaries(
    {},
    optional={
        "model": _EE_JSON
        | st.fixed_dictionaries(
            {},
            optional={
                "name": _EE_JSON,
                "make": _EE_JSON
                | st.fixed_dictionaries({}, optional={"name": _EE_JSON}),
            },
        )
    },
)
_EE_VEHICLES = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8) | _EE_JSON},
    optional={
        **dict.fromkeys(_EE_VEHICLE_KEYS[1:], _EE_JSON),
        "latest_status_log": _EE_JSON | _EE_STATUS_LOGS,
        "trim": _EE_JSON | _EE_TRIMS,
    },
)
_EE_SESSIONS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": _EE_JSON,
            "end": _EE_JSON,
            "vehicle": _EE_JSON | st.just("https://x/v2/vehicles/vhcl" + "A" * 26),
            "sub_sessions": _EE_JSON
            | st.just(["https://x/v2/charging_sub_sessions/csub" + "B" * 26]),
        },
    ),
    max_size=4,
)
_EE_SCHEDULES = _EE_JSON | st.fixed_dictionaries(
    {},
    optional={
        "schedules": _EE_JSON
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "started_at": _EE_JSON
                    | st.sampled_from(["2026-11-03T01:00:00Z", "2026-11-03T01:30:00Z"]),
                    "interval_seconds": _EE_JSON | st.sampled_from([1800, None, 0]),
                    "current_milliamps": _EE_JSON | st.sampled_from([0, 16000]),
                    "schedule_type": _EE_JSON
                    | st.sampled_from(["SMART", "BOOST", "V2G_DISCHARGE"]),
                },
            ),
            max_size=4,
        )
    },
)
_EE_NOW = DEFAULT_START


@dataclass(kw_only=True)
class _OnePageClient(EvEnergyClient):
    """The ev.energy client reading a vehicle list the test hands it (one page, no HTTP)."""

    page: Any = None

    async def _async_pages(
        self, url: str, params: Mapping[str, str]
    ) -> AsyncGenerator[tuple[int, Response]]:
        yield (
            0,
            Response(
                status=200, headers=CIMultiDictProxy(CIMultiDict()), data=self.page
            ),
        )


def _evenergy_fleet(page: Any) -> None:
    """Read a vehicle list page: snapshots and problems, or an error for a non-list."""

    async def read() -> Fleet:
        async with aiohttp.ClientSession() as session:
            client = _OnePageClient(
                session=session,
                api_url="https://api.ev.energy/v2",
                client_id="id",
                client_secret="secret",
                user_id="user01HN2NJ9NMRZBXT1H6FT9N7735",
                page=page,
            )
            return await client.async_get_fleet()

    try:
        fleet = asyncio.run(read())
    except ProviderResponseError:
        assert not isinstance(page, list)
        raise
    assert isinstance(page, list)
    assert all(isinstance(problem, ProviderResponseError) for problem in fleet.problems)
    assert len(fleet.vehicles) <= len(page)
    for problem in fleet.problems:
        if isinstance(problem, ProviderValueError):
            assert problem.vehicle_id is not None, "a value fault names its vehicle"
            assert fleet.vehicles[problem.vehicle_id].error is None


def _evenergy_vehicle(item: dict[str, Any]) -> None:
    """Parse one vehicle: its id, a finite charge level (leniently as the fleet does too)."""
    both_ways(
        "v",
        lambda faults: evenergy_vehicle(
            "evenergy", Payload("evenergy", item, "v", faults)
        ),
    )
    snapshot = evenergy_vehicle("evenergy", Payload("evenergy", item, "v"))
    assert snapshot.vehicle.id == item["id"]
    state = snapshot.state
    if state.state_of_charge is not None:
        assert math.isfinite(state.state_of_charge)


def _evenergy_status(log: dict[str, Any]) -> None:
    """Map a status log to a charging status."""
    assert isinstance(charging_status(Payload("evenergy", log, "log")), ChargingStatus)


def _evenergy_token(data: Any) -> None:
    """Parse a token answer: a token and a later expiry."""
    token, expires = evenergy_token("evenergy", data, _EE_NOW)
    assert token
    assert expires > _EE_NOW


def _evenergy_sessions(sessions: list[Any]) -> None:
    """Find a vehicle's open session in a page of sessions."""
    payloads = [Payload("evenergy", item, f"s[{i}]") for i, item in enumerate(sessions)]
    found = open_sessions("evenergy", payloads, {"vhcl" + "A" * 26})
    assert set(found) <= {"vhcl" + "A" * 26}


def _evenergy_plan(data: Any) -> None:
    """Read schedule intervals as slots: each one later than it starts."""
    both_ways(
        "schedules",
        lambda faults: parse_plan(Payload("evenergy", data, "schedules", faults)),
    )


def _evenergy_resource_id(value: Any) -> None:
    """Read a resource's id: an id or None."""
    result = resource_id("evenergy", value, "x")
    assert result is None or isinstance(result, str)


def _evenergy_link(header: str) -> None:
    """Read the next page from a Link header: a URL or None, never an error."""
    result = next_link(header, "https://api.ev.energy/v2/vehicles")
    assert result is None or isinstance(result, str)


PARSER_CASES = [
    ParserCase(
        "hiven",
        "parsers",
        _HIVEN_OBJECTS | HIVEN_JSON,
        _hiven_parsers,
        300,
        deadline=None,
    ),
    ParserCase(
        "chargeye",
        "upcoming",
        st.tuples(_UPCOMING, st.integers(min_value=-600, max_value=1500)),
        _chargeye_upcoming,
        300,
        deadline=None,
    ),
    ParserCase(
        "chargeye",
        "depot",
        st.tuples(_DEPOT, st.integers(min_value=-600, max_value=1500)),
        _chargeye_depot,
        300,
        deadline=None,
    ),
    ParserCase("chargeye", "vehicle", _VEHICLE_ITEM, _chargeye_vehicle, deadline=None),
    ParserCase(
        "chargeye",
        "schedule",
        _EV_SCHEDULE | CHARGEYE_JSON,
        _chargeye_schedule,
        deadline=None,
    ),
    ParserCase(
        "chargeye",
        "jwt",
        st.text(max_size=40) | CHARGEYE_JSON.map(fake_jwt),
        _chargeye_jwt,
        deadline=None,
    ),
    ParserCase("jedlix", "parsers", _JEDLIX_JSON, _jedlix_parsers, 300),
    ParserCase(
        "evenergy",
        "fleet",
        st.lists(_EE_VEHICLES, max_size=4) | _EE_JSON,
        _evenergy_fleet,
    ),
    ParserCase("evenergy", "vehicle", _EE_VEHICLES, _evenergy_vehicle),
    ParserCase("evenergy", "status", _EE_STATUS_LOGS, _evenergy_status),
    ParserCase(
        "evenergy",
        "token",
        _EE_JSON
        | st.fixed_dictionaries(
            {}, optional={"access_token": _EE_JSON, "expires_in": _EE_JSON}
        ),
        _evenergy_token,
    ),
    ParserCase("evenergy", "sessions", _EE_SESSIONS, _evenergy_sessions),
    ParserCase("evenergy", "plan", _EE_SCHEDULES, _evenergy_plan),
    ParserCase("evenergy", "resource_id", _EE_JSON, _evenergy_resource_id, 100),
    ParserCase(
        "evenergy",
        "link",
        st.text(max_size=80),
        _evenergy_link,
        100,
        may_refuse=False,
    ),
]
"""Every client's parsers; a provider added to the simulator adds its cases here."""
