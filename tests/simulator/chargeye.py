"""Kempower ChargEye for Depots: the Vehicles API of a depot fleet (buses and trucks).

Served under ``/chargeye`` (the client's ``api_url``):

- ``GET /auth/refreshAccessToken`` with ``Authorization: Bearer <refresh token>`` issues a JWT
  (``header.payload.signature``, base64url; claims ``sub``, ``org``, ``iat``, ``exp``, ``jti``)
  valid for 8 h of simulated time, as ``{"token", "validUntil"}``. Every other endpoint wants
  ``Authorization: Bearer <jwt>``; missing, unknown or expired tokens get 401.
- ``GET /vehicles`` (``{"vehicles": [{"vehicle", "v2icp"}]}``), ``GET|PUT|PATCH
  /vehicles/{id}``, ``GET /locations``, ``GET /locations/{uid}/schedules``, and per vehicle
  ``GET|POST|PATCH /vehicles/{id}/schedules`` and ``GET /vehicles/{id}/schedules/upcoming``.

Every vehicle follows a daily depot pattern (deterministic from the seed): a recurring
schedule arriving in the evening and departing in the morning with a start and target SoC.
The simulator plans each schedule like ChargEye Depot Master: with charge scheduling on it
fills the cheapest hours of the price curve before departure minus a margin (strategy
"cost-optimized"), otherwise it charges at full power on arrival ("max-power"). The plan is
the API's truth; the core SimVehicle is set from it on every sync (plugged in inside the
arrival-departure window, soc and power from the plan segment covering now), so the core's
own physics and daily routine do not run for this fleet. Changing a vehicle's smart charging,
battery or power (API or /_admin) replans its future schedules; /_admin writes to soc or plug
state are overwritten by the plan on the next sync.

The depot read ``GET /locations/{uid}/schedules`` serves the dated schedules at that depot
that have not departed (current and upcoming, with their plans) and the recurring series
templates (first occurrence, rule, no plan). A vehicle's ``locationUid`` is a list of one
depot by default; tests may set ``records[id].location_uid`` to a string, a longer list or
None (the vehicle's schedules stay at the depot they were made for).

Variants the document allows, settable on ``State`` from tests (defaults: off):

- ``recurring_only_locations`` (depot ids): those depots serve no dated schedules, only
  ``recurringSchedules``, each carrying the plan (shaped exactly like a dated one's) of its
  current-or-next occurrence, while ``plannedArrivalTime``/``plannedDepartureTime`` stay
  the series' first occurrence (days in the past). With ``recurring_plans = False`` the
  recurring schedules carry no plan at all.
- ``refused_location_schedules`` (401, 403 or None): the depot read is refused; the
  document answers 401 when "the user has no permission", 403 is what HTTP would say.
- ``epoch_timestamps`` (``"ms"``, ``"s"`` or None): the ISO 8601 string fields
  (``plannedArrivalTime``, ``plannedDepartureTime``, ``planMeta.timestamp``, ``tx.*``,
  ``v2icp.timestamp``, the token's ``validUntil``) are written as epoch numbers in strings,
  which the document's plain "string" type allows.

Choices where the public documentation is silent (the simulator's, not the client's):
error bodies are ``{"message": ...}``; validation errors are 400; adding a schedule without
``replaceFutureSchedules`` that overlaps an existing one is 409; posted schedules whose
departure has passed are 400; recurrence rules are RFC 5545 RRULEs (``FREQ=DAILY``,
``FREQ=WEEKLY;BYDAY=MO,TU``, optionally prefixed ``RRULE:``) expanded with dateutil in the
simulator's local time from the first arrival, each occurrence as long as the first; a rule
dateutil cannot read is stored as given and not expanded; patching a recurring series by its
id changes its SoCs, location or rule and those of its future occurrences, while moving a
series in time is refused (400); the time filter of the schedule list is ``from``/``to``
(ISO 8601).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterable
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import hashlib
import hmac
import itertools
import json
import math
import random
from typing import Any, Final, cast
import uuid

from aiohttp import web
from dateutil.rrule import rrulestr

from .app import ApiError, get_sim
from .core import (
    DEPOT_MODELS,
    Fleet,
    PriceCurve,
    Simulator,
    SimVehicle,
    Variant,
    is_bool,
    is_string_list,
    sorted_list,
    string_set,
    uuid_ids,
)
from .profiles import PROFILES

NAME: Final = "chargeye"
PROFILE: Final = PROFILES[NAME]
PREFIX: Final = PROFILE.api_path

VARIANTS: Final = {
    "omitted_claims": Variant(
        "claims left out of the JWTs (the document names none), e.g. org, sub",
        is_string_list,
        from_json=string_set,
        to_json=sorted_list,
    ),
    "recurring_only_locations": Variant(
        "depots whose read lists only recurringSchedules (first occurrence as planned "
        "times, the plan of the current or next occurrence)",
        is_string_list,
        from_json=string_set,
        to_json=sorted_list,
    ),
    "recurring_plans": Variant(
        "whether those recurring schedules carry their plan", is_bool
    ),
    "refused_location_schedules": Variant(
        "GET /locations/{uid}/schedules refuses: 401 (the document's answer when the "
        "user has no permission), 403, or null (not refused)",
        lambda value: value in (None, 401, 403),
    ),
    "epoch_timestamps": Variant(
        'ISO 8601 "string" fields as epoch seconds ("s") or milliseconds ("ms") in '
        "a string; null: ISO 8601",
        lambda value: value in (None, "s", "ms"),
    ),
}
"""Readings the document permits that clients need not expect (core.Variant)."""

TOKEN_LIFETIME: Final = timedelta(hours=8)
DEPARTURE_MARGIN: Final = timedelta(minutes=15)
"""Plans finish this long before the planned departure."""
RECENTLY_ENDED: Final = timedelta(minutes=30)
"""A posted ongoing schedule may update a schedule that ended at most this long ago."""
HORIZON: Final = timedelta(days=2)
"""Occurrences of recurring schedules exist this far ahead."""
HISTORY: Final = timedelta(days=7)
"""Schedules that departed longer ago than this are forgotten."""
MAX_SCHEDULES_PER_REQUEST: Final = 100
DAILY: Final = "FREQ=DAILY"
STRATEGY_COST: Final = "cost-optimized"
STRATEGY_IMMEDIATE: Final = "max-power"
STRATEGY_VERSION: Final = "2.4.1"
PORT_TYPES: Final = frozenset({"CCS1", "CCS2", "CHAdeMO", "GBT", "MCS", "Type2"})
INTERIOR_HVAC: Final = frozenset({"Off", "Heating", "HotWater", "HotWaterAndHeating"})
DEFAULT_TARGET_SOC: Final = 100.0
DEFAULT_START_SOC: Final = 30.0
_HOUR_MS: Final = 3_600_000
_EPSILON: Final = 1e-6


def error_body(status: int, detail: str) -> web.Response:
    """ChargEye's error shape (assumed: no public error body): ``{"message": ...}``."""
    return web.json_response({"message": detail}, status=status)


# --- time helpers ---------------------------------------------------------------------------


def to_ms(value: datetime) -> int:
    """Epoch milliseconds."""
    return round(value.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    """Aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(value / 1000, UTC)


def iso(value: datetime | None) -> str | None:
    """JavaScript-style ISO 8601 (``2026-11-02T18:00:00.000Z``)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(value: Any, name: str) -> datetime:
    """Parse an ISO 8601 date-time with a time zone, or raise ApiError 400."""
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{name} is not a valid ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ApiError(400, f"{name} must include a time zone")
    return parsed.astimezone(UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- plans ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Segment:
    """A stretch of a plan at constant power (0 = paused); times in epoch ms."""

    start: int
    end: int
    power_w: float
    start_soc: float
    end_soc: float

    @property
    def paused(self) -> bool:
        """Whether no power flows."""
        return self.power_w <= 0

    @property
    def energy_wh(self) -> float:
        """Energy delivered over the whole segment."""
        return self.power_w * (self.end - self.start) / _HOUR_MS

    def share(self, at_ms: int) -> float:
        """Part of the segment before ``at_ms`` (0 to 1)."""
        if at_ms <= self.start:
            return 0.0
        if at_ms >= self.end:
            return 1.0
        return (at_ms - self.start) / (self.end - self.start)

    def soc_at(self, at_ms: int) -> float:
        """Interpolated state of charge."""
        return self.start_soc + (self.end_soc - self.start_soc) * self.share(at_ms)

    def to_json(self) -> dict[str, Any]:
        """As a plan segment of the API."""
        return {
            "durationMs": self.end - self.start,
            "endSoc": round(self.end_soc, 3),
            "energykWh": round(self.energy_wh / 1000, 3),
            "from": self.start,
            "paused": self.paused,
            "powerIsBeingLimited": False,
            "powerUnlimited": False,
            "powerkW": round(self.power_w / 1000, 3),
            "startSoc": round(self.start_soc, 3),
            "tag": [] if self.paused else ["bulk"],
            "to": self.end,
        }


@dataclass(slots=True, kw_only=True)
class Plan:
    """A computed charging plan and why it was made."""

    segments: list[Segment]
    timestamp: datetime
    trigger: str
    description: str
    strategy: str
    battery_wh: float
    max_power_w: float
    start_soc: float
    """State of charge where the plan (re)started."""

    def covering(self, at_ms: int) -> Segment | None:
        """Return the segment containing ``at_ms``."""
        for segment in self.segments:
            if segment.start <= at_ms < segment.end:
                return segment
        return None

    def soc_at(self, at_ms: int, default: float) -> float:
        """State of charge at ``at_ms`` (``default`` before the first segment)."""
        soc = default
        for segment in self.segments:
            if segment.start > at_ms:
                break
            soc = segment.soc_at(at_ms)
        return soc

    def energy_until(self, at_ms: int) -> float:
        """Energy (Wh) delivered before ``at_ms``."""
        return sum(s.energy_wh * s.share(at_ms) for s in self.segments)


def plan_segments(
    *,
    start_ms: int,
    departure_ms: int,
    soc: float,
    target: float,
    battery_wh: float,
    power_w: float,
    smart: bool,
    prices: PriceCurve,
) -> list[Segment]:
    """Segments from ``start_ms`` to departure that bring ``soc`` to ``target``.

    Smart: charge at full power in the cheapest hours before departure minus the margin,
    earliest first, until the energy is there; otherwise charge at once. Paused elsewhere.
    """
    segments: list[Segment] = []
    if departure_ms <= start_ms:
        return segments
    deadline = max(
        start_ms, departure_ms - int(DEPARTURE_MARGIN.total_seconds() * 1000)
    )
    need = max(0.0, (target - soc) / 100 * battery_wh)
    if power_w <= 0 or battery_wh <= 0:
        need = 0.0
    chosen: set[int] = set()
    if smart and need > 0:
        chosen = prices.cheapest_hour_indexes(
            start_ms / 1000, deadline / 1000, need / power_w
        )
    at = start_ms
    while at < departure_ms:
        piece_end = min((at // _HOUR_MS + 1) * _HOUR_MS, departure_ms)
        if at < deadline:
            piece_end = min(piece_end, deadline)
        charge = (
            need > _EPSILON
            and at < deadline
            and (not smart or at // _HOUR_MS in chosen)
        )
        if charge:
            duration = min(piece_end - at, math.ceil(need / power_w * _HOUR_MS))
            energy = power_w * duration / _HOUR_MS
            need -= energy
            end_soc = min(target, soc + energy / battery_wh * 100)
            if need <= _EPSILON:
                end_soc = max(end_soc, target)
            _append(segments, Segment(at, at + duration, power_w, soc, end_soc))
            soc = end_soc
            at += duration
        else:
            _append(segments, Segment(at, piece_end, 0.0, soc, soc))
            at = piece_end
    return segments


def _append(segments: list[Segment], segment: Segment) -> None:
    """Add a segment, merging it into the previous one when the power is the same."""
    if segment.end <= segment.start:
        return
    if segments and segments[-1].end == segment.start:
        last = segments[-1]
        if last.power_w == segment.power_w:
            last.end = segment.end
            last.end_soc = segment.end_soc
            return
    segments.append(segment)


# --- schedules ------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class SimSchedule:
    """One dated depot schedule of a vehicle (an occurrence, for recurring ones)."""

    id: str
    vehicle_id: str
    location_uid: str | None
    arrival: datetime
    departure: datetime
    start_soc: float
    target_soc: float
    recurrence_rule: str | None = None
    series_id: str | None = None
    plan: Plan | None = None

    def at_depot(self, now: datetime) -> bool:
        """Whether ``now`` is inside the arrival-departure window."""
        return self.arrival <= now <= self.departure

    def overlaps(self, arrival: datetime, departure: datetime) -> bool:
        """Whether the window overlaps [arrival, departure)."""
        return self.arrival < departure and arrival < self.departure


def recurrence(rule: str | None, first: datetime, tz: Any) -> Any:
    """Return a recurrenceRule's dateutil rule from ``first`` in local time (None: unreadable)."""
    if not rule:
        return None
    try:
        return rrulestr(rule.strip(), dtstart=first.astimezone(tz), cache=True)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return None


@dataclass(slots=True, kw_only=True)
class SimSeries:
    """A recurring schedule that generates occurrences ahead of time."""

    id: str
    vehicle_id: str
    location_uid: str | None
    arrival: datetime
    departure: datetime
    start_soc: float
    target_soc: float
    rule: str
    generated: int = 0
    until: datetime | None = None
    """No occurrence arriving at or after this is generated (ended by a replace)."""
    _expanded: tuple[str, Any] | None = None

    def occurrence(self, index: int, tz: Any) -> tuple[datetime, datetime] | None:
        """Arrival and departure of occurrence ``index`` (None: no such occurrence).

        Occurrences keep the first one's local times and its local length.
        """
        if self._expanded is None or self._expanded[0] != self.rule:
            self._expanded = (self.rule, recurrence(self.rule, self.arrival, tz))
        rule = self._expanded[1]
        if rule is None:
            return None
        try:
            local_arrival = rule[index]
        except IndexError:
            return None
        length = self.departure.astimezone(tz).replace(
            tzinfo=None
        ) - self.arrival.astimezone(tz).replace(tzinfo=None)
        return local_arrival.astimezone(UTC), (local_arrival + length).astimezone(UTC)


@dataclass(slots=True, kw_only=True)
class VehicleRecord:
    """ChargEye-only vehicle attributes (the SimVehicle holds the physical ones)."""

    ev_model: str
    notes: str = ""
    mac: str | None = None
    charging_ports: list[dict[str, Any]] = field(default_factory=list)
    min_power_kw: float = 0.0
    min_preconditioning_kw: float = 0.0
    supports_pause_resume: bool = True
    location_uid: list[str] | str | None = None
    v2icp_parameters: dict[str, Any] = field(default_factory=dict)
    settings: tuple[bool, float, float] | None = None
    """(smart, battery, power) the plans were last made with; a change replans."""

    def locations(self) -> list[str]:
        """Return the location uids as a list."""
        if self.location_uid is None:
            return []
        if isinstance(self.location_uid, str):
            return [self.location_uid]
        return list(self.location_uid)


class DepotFleet(Fleet):
    """The core fleet, synced from the schedules instead of the core's daily routine."""

    state: State | None = None

    def add_vehicle(
        self, *, depot_pattern: bool = True, **overrides: Any
    ) -> SimVehicle:
        """Add a vehicle; with ``depot_pattern`` it also gets a daily depot schedule."""
        overrides.setdefault("routine", False)
        vehicle = super().add_vehicle(**overrides)
        if self.state is not None:
            self.state.setup_vehicle(vehicle, pattern=depot_pattern)
        return vehicle

    def remove_vehicle(self, vehicle_id: str) -> SimVehicle:
        """Remove a vehicle with its schedules."""
        vehicle = super().remove_vehicle(vehicle_id)
        if self.state is not None:
            self.state.forget_vehicle(vehicle_id)
        return vehicle

    def sync(self, now: datetime) -> None:
        """Bring schedules, plans and the vehicles' truth to ``now``."""
        if self.state is not None:
            self.state.sync_to(now)
        self.synced_to = max(self.synced_to, now)


@dataclass(slots=True, kw_only=True)
class Location:
    """A depot."""

    id: str
    name: str
    address: str

    def to_json(self) -> dict[str, Any]:
        """As the Locations API shows it."""
        return {
            "id": self.id,
            "name": self.name,
            "address": self.address,
            "timezone": "Europe/Amsterdam",
        }


class State:
    """The ChargEye organisation: fleet, depots, schedules, refresh token and issued JWTs."""

    def __init__(self, sim: Simulator) -> None:
        """Generate the fleet, its depots and each vehicle's recurring schedule."""
        self.sim = sim
        self.credentials = dict(PROFILE.demo_credentials)
        self.rng = random.Random(f"chargeye:{sim.seed}")
        self.organisation = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.omitted_claims: set[str] = set()
        """Claims this server leaves out of its tokens (the document names none)."""
        self.recurring_only_locations: set[str] = set()
        """Depots whose read lists only recurring schedules (see the module docstring)."""
        self.recurring_plans = True
        """In recurring-only depots, whether a recurring schedule carries its plan."""
        self.refused_location_schedules: int | None = None
        """The status the depot read refuses with: 401 (the document: "user has no
        permission"), 403, or None (not refused)."""
        self.epoch_timestamps: str | None = None
        """"ms" or "s": ISO 8601 string fields are written as epoch numbers in strings."""
        self._secret = self.rng.randbytes(32)
        self._jti = itertools.count(1)
        self.tokens: dict[str, datetime] = {}
        """Issued JWT -> expiry (simulated time)."""
        self.revoked = False
        self.locations = [
            Location(
                id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                name=name,
                address=address,
            )
            for name, address in (
                ("Depot Noord", "Busbaan 1, Amsterdam"),
                ("Depot Zuid", "Remiseweg 12, Amsterdam"),
            )
        ]
        self.records: dict[str, VehicleRecord] = {}
        self.schedules: dict[str, list[SimSchedule]] = {}
        self.series: dict[str, list[SimSeries]] = {}
        self.started = sim.clock.now()
        fleet = cast(
            "DepotFleet",
            DepotFleet.generate(
                sim.vehicle_count,
                sim.seed,
                uuid_ids,
                models=DEPOT_MODELS,
                salt=NAME,
                prices=sim.prices,
                start=self.started,
                routine=False,
            ),
        )
        self.fleet = fleet
        fleet.state = self
        for vehicle in fleet:
            self.setup_vehicle(vehicle, pattern=True)
        self.sync_to(self.started)

    # --- Python API for tests ------------------------------------------------------------

    def sync(self) -> datetime:
        """Bring schedules, plans and the vehicles' truth to now."""
        return self.sim.sync(NAME)

    def add_vehicle(self, **overrides: Any) -> SimVehicle:
        """Add a generated vehicle (with its daily schedule); overrides as in Fleet."""
        self.sync()
        return self.fleet.add_vehicle(**overrides)

    def remove_vehicle(self, vehicle_id: str) -> SimVehicle:
        """Delete a vehicle and its schedules."""
        return self.fleet.remove_vehicle(vehicle_id)

    def revoke_credentials(self) -> None:
        """Revoke the refresh token and every JWT issued with it."""
        self.revoked = True
        self.tokens.clear()

    def restore_credentials(self) -> None:
        """Accept the refresh token again."""
        self.revoked = False

    def rotate_refresh_token(self, new: str) -> None:
        """Replace the refresh token (the old one stops working; issued JWTs too)."""
        self.credentials["refresh_token"] = new
        self.revoked = False
        self.tokens.clear()

    def expire_tokens(self) -> None:
        """Make every issued JWT expire now (the refresh token stays valid)."""
        now = self.sim.clock.now()
        for token in self.tokens:
            self.tokens[token] = now

    def revoke_tokens(self) -> None:
        """Forget every issued JWT (the refresh token stays valid)."""
        self.tokens.clear()

    def issue_token(self) -> str:
        """Issue a JWT for the organisation (what the refresh endpoint does)."""
        now = self.sim.clock.now()
        expires = now + TOKEN_LIFETIME
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "sub": "api-client",
            "org": self.organisation,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": next(self._jti),
        }
        for name in self.omitted_claims:
            claims.pop(name, None)
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = _b64(hmac.new(self._secret, signing_input, hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        self.tokens[token] = expires
        return token

    def token_valid(self, token: str) -> bool:
        """Whether ``token`` is a JWT we issued that has not expired."""
        expires = self.tokens.get(token)
        if expires is None or self.sim.clock.now() >= expires:
            return False
        header, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        expected = _b64(
            hmac.new(
                self._secret, f"{header}.{payload}".encode(), hashlib.sha256
            ).digest()
        )
        return hmac.compare_digest(signature, expected)

    def schedules_of(self, vehicle_id: str) -> list[SimSchedule]:
        """Return the vehicle's schedules by arrival (a live list: do not mutate)."""
        return self.schedules.get(vehicle_id, [])

    def upcoming(
        self, vehicle_id: str, now: datetime | None = None
    ) -> tuple[SimSchedule | None, SimSchedule | None]:
        """(previous, currentOrNext) at ``now``."""
        now = self.sim.clock.now() if now is None else now
        previous = current = None
        for schedule in self.schedules_of(vehicle_id):
            if schedule.departure < now:
                if previous is None or schedule.departure > previous.departure:
                    previous = schedule
            elif current is None or schedule.arrival < current.arrival:
                current = schedule
        return previous, current

    def admin_state(self) -> dict[str, Any]:
        """Extra truth for GET /_admin/state: depots named and schedules, per vehicle."""
        now = self.sim.clock.now()
        return {
            "organisation": self.organisation,
            "depots_named": {
                vehicle_id: record.locations()
                for vehicle_id, record in self.records.items()
            },
            "schedules": {
                vehicle_id: [self.schedule_json(s, now) for s in schedules]
                for vehicle_id, schedules in self.schedules.items()
            },
        }

    # --- vehicles and schedules ----------------------------------------------------------

    def setup_vehicle(self, vehicle: SimVehicle, *, pattern: bool) -> None:
        """Give a vehicle its ChargEye record (and, generated ones, their daily pattern)."""
        vehicle.routine = False
        rng = random.Random(f"chargeye:{self.sim.seed}:{vehicle.id}")
        mac = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
        location = self.locations[len(self.records) % len(self.locations)].id
        self.records[vehicle.id] = VehicleRecord(
            ev_model=f"{vehicle.make} {vehicle.model}".strip(),
            mac=mac,
            charging_ports=[{"inactive": False, "macAddress": mac, "type": "CCS2"}],
            min_power_kw=10.0,
            min_preconditioning_kw=5.0,
            supports_pause_resume=True,
            location_uid=[location],
            v2icp_parameters={
                "ambientTemp": 5,
                "interiorHvac": "HotWaterAndHeating",
                "preconditioning": vehicle.category == "bus",
            },
        )
        self.schedules.setdefault(vehicle.id, [])
        self.series.setdefault(vehicle.id, [])
        if not pattern:
            return
        tz = self.sim.timezone
        day = (self.started.astimezone(tz) - timedelta(days=2)).date()
        arrive_minutes = 18 * 60 + 30 + rng.randrange(0, 270, 15)
        depart_minutes = 5 * 60 + 40 + rng.randrange(0, 210, 15)
        arrival = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(
            minutes=arrive_minutes
        )
        departure = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(
            days=1, minutes=depart_minutes
        )
        self.series[vehicle.id].append(
            SimSeries(
                id=self._new_id(),
                vehicle_id=vehicle.id,
                location_uid=location,
                arrival=arrival.astimezone(UTC),
                departure=departure.astimezone(UTC),
                start_soc=float(rng.randrange(15, 45)),
                target_soc=float(vehicle.target_soc),
                rule=DAILY,
            )
        )
        self._materialize(vehicle.id, self.sim.clock.now())

    def forget_vehicle(self, vehicle_id: str) -> None:
        """Drop a removed vehicle's data."""
        self.records.pop(vehicle_id, None)
        self.schedules.pop(vehicle_id, None)
        self.series.pop(vehicle_id, None)

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _materialize(self, vehicle_id: str, now: datetime) -> None:
        """Create the occurrences of the vehicle's recurring schedules up to the horizon."""
        tz = self.sim.timezone
        schedules = self.schedules[vehicle_id]
        added = False
        for series in self.series.get(vehicle_id, []):
            while True:
                occurrence = series.occurrence(series.generated, tz)
                if occurrence is None:
                    break
                arrival, departure = occurrence
                if arrival > now + HORIZON or (
                    series.until is not None and arrival >= series.until
                ):
                    break
                series.generated += 1
                if departure < now - HISTORY or any(
                    s.overlaps(arrival, departure) for s in schedules
                ):
                    continue
                schedules.append(
                    SimSchedule(
                        id=self._new_id(),
                        vehicle_id=vehicle_id,
                        location_uid=series.location_uid,
                        arrival=arrival,
                        departure=departure,
                        start_soc=series.start_soc,
                        target_soc=series.target_soc,
                        recurrence_rule=series.rule,
                        series_id=series.id,
                    )
                )
                added = True
        if added:
            schedules.sort(key=lambda s: s.arrival)

    def plan(self, schedule: SimSchedule) -> Plan:
        """Return the schedule's plan, made on first use for generated occurrences.

        A generated occurrence is planned as it would have been: at arrival when that has
        passed (trigger ev-connected), else when it appeared (arrival minus the horizon).
        """
        if schedule.plan is None:
            if schedule.arrival <= self.sim.clock.now():
                self.replan(
                    schedule, schedule.arrival, "ev-connected", "Vehicle connected"
                )
            else:
                self.replan(
                    schedule,
                    max(self.started, schedule.arrival - HORIZON),
                    "schedule-created",
                    "Schedule created",
                )
        assert schedule.plan is not None
        return schedule.plan

    def replan(
        self,
        schedule: SimSchedule,
        at: datetime,
        trigger: str,
        description: str,
        *,
        keep_history: bool = True,
    ) -> None:
        """Plan (again) from ``at``: what happened before ``at`` is kept."""
        vehicle = self.fleet.get(schedule.vehicle_id)
        if vehicle is None:
            return
        arrival_ms, departure_ms = to_ms(schedule.arrival), to_ms(schedule.departure)
        start_ms = min(max(arrival_ms, to_ms(at)), departure_ms)
        history: list[Segment] = []
        soc = schedule.start_soc
        old = schedule.plan
        if start_ms > arrival_ms:
            if old is not None and keep_history:
                for segment in old.segments:
                    if segment.end <= start_ms:
                        history.append(dataclasses.replace(segment))
                    elif segment.start < start_ms:
                        history.append(
                            Segment(
                                segment.start,
                                start_ms,
                                segment.power_w,
                                segment.start_soc,
                                segment.soc_at(start_ms),
                            )
                        )
                soc = old.soc_at(start_ms, schedule.start_soc)
                if not history or history[0].start > arrival_ms:
                    history.insert(
                        0,
                        Segment(
                            arrival_ms,
                            history[0].start if history else start_ms,
                            0.0,
                            schedule.start_soc,
                            schedule.start_soc,
                        ),
                    )
            else:
                history = [Segment(arrival_ms, start_ms, 0.0, soc, soc)]
        segments = history[:]
        for segment in plan_segments(
            start_ms=start_ms,
            departure_ms=departure_ms,
            soc=soc,
            target=schedule.target_soc,
            battery_wh=vehicle.battery_wh,
            power_w=vehicle.max_power_w,
            smart=vehicle.smart_charging,
            prices=self.sim.prices,
        ):
            _append(segments, segment)
        schedule.plan = Plan(
            segments=segments,
            timestamp=from_ms(start_ms) if trigger == "ev-connected" else at,
            trigger=trigger,
            description=description,
            strategy=STRATEGY_COST if vehicle.smart_charging else STRATEGY_IMMEDIATE,
            battery_wh=vehicle.battery_wh,
            max_power_w=vehicle.max_power_w,
            start_soc=soc,
        )

    def sync_to(self, now: datetime) -> None:
        """Bring every vehicle to ``now`` (see sync_vehicle)."""
        for vehicle in self.fleet:
            self.sync_vehicle(vehicle, now)

    def sync_vehicle(self, vehicle: SimVehicle, now: datetime) -> None:
        """Generate occurrences, replan on arrival or changed settings, set the vehicle."""
        record = self.records.get(vehicle.id)
        if record is None:
            self.setup_vehicle(vehicle, pattern=False)
            record = self.records[vehicle.id]
        settings = (vehicle.smart_charging, vehicle.battery_wh, vehicle.max_power_w)
        if record.settings is not None and record.settings != settings:
            self._replan_future(vehicle.id, now, "vehicle-updated", "Vehicle updated")
        record.settings = settings
        self._materialize(vehicle.id, now)
        schedules = self.schedules[vehicle.id]
        while schedules and schedules[0].departure < now - HISTORY:
            schedules.pop(0)
        self._set_vehicle(vehicle, now)

    def _replan_future(
        self, vehicle_id: str, now: datetime, trigger: str, description: str
    ) -> None:
        for schedule in self.schedules_of(vehicle_id):
            if schedule.departure > now:
                self.plan(schedule)
                self.replan(schedule, now, trigger, description)

    def _set_vehicle(self, vehicle: SimVehicle, now: datetime) -> None:
        """Make the SimVehicle show what the plan says for ``now``."""
        now_ms = to_ms(now)
        previous, current = self.upcoming(vehicle.id, now)
        if current is not None and current.at_depot(now):
            plan = self.plan(current)
            if current.arrival > plan.timestamp and now >= current.arrival:
                self.replan(
                    current, current.arrival, "ev-connected", "Vehicle connected"
                )
                plan = self.plan(current)
            if not vehicle.plugged_in or vehicle.plugged_in_at != current.arrival:
                vehicle.plug_in(current.arrival)
            segment = plan.covering(now_ms)
            vehicle.soc = plan.soc_at(now_ms, current.start_soc)
            vehicle.charge_power_w = (
                segment.power_w if segment is not None and not segment.paused else 0.0
            )
            vehicle.session_energy_wh = plan.energy_until(now_ms)
        else:
            if vehicle.plugged_in:
                vehicle.unplug()
            vehicle.charge_power_w = 0.0
            left = self.plan(previous).segments if previous is not None else []
            soc_out = left[-1].end_soc if left else vehicle.soc
            if previous is not None:
                vehicle.session_energy_wh = self.plan(previous).energy_until(now_ms)
            if previous is not None and current is not None:
                trip = (current.arrival - previous.departure).total_seconds()
                done = (now - previous.departure).total_seconds()
                share = min(1.0, max(0.0, done / trip)) if trip > 0 else 1.0
                vehicle.soc = soc_out + (current.start_soc - soc_out) * share
            else:
                vehicle.soc = soc_out
        if current is not None:
            vehicle.target_soc = round(current.target_soc)
            local = current.departure.astimezone(self.sim.timezone)
            vehicle.ready_time = f"{local.hour:02d}:{local.minute:02d}"
        vehicle.last_sampled = max(vehicle.last_sampled, now)

    # --- JSON ----------------------------------------------------------------------------

    def timestamp(self, value: datetime | None) -> str | None:
        """Write a timestamp field: ISO 8601, or epoch ms/s in a string (epoch_timestamps)."""
        if value is None or self.epoch_timestamps is None:
            return iso(value)
        if self.epoch_timestamps == "ms":
            return str(to_ms(value))
        return str(int(value.timestamp()))

    def vehicle_json(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Show a vehicle as ``GET /vehicles/{id}`` does."""
        record = self.records[vehicle.id]
        return {
            "chargingPorts": [dict(port) for port in record.charging_ports],
            "consumption": vehicle.consumption_wh_per_km,
            "enableChargeScheduling": vehicle.smart_charging,
            "evMacAddress": record.mac,
            "evModel": record.ev_model,
            "fullChargeEnergykWh": round(vehicle.battery_wh / 1000, 3),
            "id": vehicle.id,
            "licensePlate": vehicle.license_plate,
            "locationUid": record.location_uid,
            "maxChargePowerkW": round(vehicle.max_power_w / 1000, 3),
            "minChargePowerkW": record.min_power_kw,
            "minPreconditioningPowerkW": record.min_preconditioning_kw,
            "name": vehicle.name,
            "notes": record.notes,
            "supportsPauseResume": record.supports_pause_resume,
            "v2icp": self.v2icp_json(vehicle),
            "v2icpParameters": dict(record.v2icp_parameters),
            "vin": vehicle.vin,
        }

    def v2icp_json(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Show what the vehicle told the charger at its last connection."""
        record = self.records[vehicle.id]
        locations = record.locations()
        return {
            "evMacAddress": record.mac,
            "locationUid": locations[0] if locations else None,
            "odometer": round(vehicle.odometer_km),
            "passwordId": None,
            "response": None,
            "timestamp": self.timestamp(vehicle.plugged_in_at),
            "v2icp": None,
            "vin": vehicle.vin,
        }

    def schedule_json(self, schedule: SimSchedule, now: datetime) -> dict[str, Any]:
        """Show an EvSchedule, its plan split into past and upcoming segments at ``now``."""
        plan = self.plan(schedule)
        now_ms = to_ms(now)
        segments = plan.segments
        charging = [s for s in segments if not s.paused]
        end_soc = segments[-1].end_soc if segments else schedule.start_soc
        started = charging[0].start if charging else None
        finished = charging[-1].end if charging else None
        need_wh = max(
            0.0, (schedule.target_soc - plan.start_soc) / 100 * plan.battery_wh
        )
        record = self.records.get(schedule.vehicle_id)
        return {
            "evId": schedule.vehicle_id,
            "id": schedule.id,
            "locationUid": schedule.location_uid,
            "plan": {
                "departureMarginMs": int(DEPARTURE_MARGIN.total_seconds() * 1000),
                "endSoc": round(end_soc, 3),
                "endTime": finished
                if finished is not None
                else to_ms(schedule.departure),
                "energyKwh": round(sum(s.energy_wh for s in segments) / 1000, 3),
                "pastSegments": [s.to_json() for s in segments if s.end <= now_ms],
                "reachedTargetSocInSchedule": end_soc >= schedule.target_soc - 0.01,
                "schedule": {
                    "ev": {
                        "batteryEnergyNeedkWh": round(need_wh / 1000, 3),
                        "batterySizekWh": round(plan.battery_wh / 1000, 3),
                        "energyNeedkWh": round(need_wh / 1000, 3),
                        "maxPowerkW": round(plan.max_power_w / 1000, 3),
                        "preconditioning": {
                            "batteryPreconditioningTimeMs": 0,
                            "vehiclePreconditioningEnergykWh": 0,
                            "vehiclePreconditioningTimeMs": 0,
                        },
                        "supportsPausing": record.supports_pause_resume
                        if record
                        else True,
                    },
                    "from": to_ms(schedule.arrival),
                    "id": schedule.id,
                    "priority": 0,
                    "settings": {
                        "bulkSoC": _num(schedule.target_soc),
                        "departureMarginMinutes": int(
                            DEPARTURE_MARGIN.total_seconds() // 60
                        ),
                        "evMaxPowerkW": round(plan.max_power_w / 1000, 3),
                        "evMinPowerkW": record.min_power_kw if record else 0,
                        "minimumSoC": 0,
                        "powerRules": [],
                    },
                    "startSoc": round(plan.start_soc, 3),
                    "targetSoc": _num(schedule.target_soc),
                    "to": to_ms(schedule.departure),
                    "tx": {
                        "chargingEndTime": self.timestamp(from_ms(finished))
                        if finished is not None and finished <= now_ms
                        else None,
                        "chargingStartTime": self.timestamp(from_ms(started))
                        if started is not None and started <= now_ms
                        else None,
                    },
                },
                "segments": [s.to_json() for s in segments if s.end > now_ms],
            },
            "planMeta": {
                "frozen": schedule.departure < now,
                "strategy": plan.strategy,
                "strategyVersion": STRATEGY_VERSION,
                "timestamp": self.timestamp(plan.timestamp),
                "trigger": plan.trigger,
                "triggerDescription": plan.description,
            },
            "plannedArrivalTime": self.timestamp(schedule.arrival),
            "plannedDepartureTime": self.timestamp(schedule.departure),
            "recurrenceRule": schedule.recurrence_rule,
            "startSoC": _num(schedule.start_soc),
            "targetSoC": _num(schedule.target_soc),
        }

    def series_json(
        self, series: SimSeries, now: datetime, *, with_plan: bool = False
    ) -> dict[str, Any]:
        """Show a recurring schedule: the template (first occurrence, rule).

        ``with_plan``: with the plan of its current-or-next occurrence, when there is one.
        """
        plan = meta = None
        if with_plan:
            occurrence = next(
                (
                    s
                    for s in self.schedules_of(series.vehicle_id)
                    if s.series_id == series.id and s.departure >= now
                ),
                None,
            )
            if occurrence is not None:
                shown = self.schedule_json(occurrence, now)
                plan, meta = shown["plan"], shown["planMeta"]
        return {
            "evId": series.vehicle_id,
            "id": series.id,
            "locationUid": series.location_uid,
            "plan": plan,
            "planMeta": meta,
            "plannedArrivalTime": self.timestamp(series.arrival),
            "plannedDepartureTime": self.timestamp(series.departure),
            "recurrenceRule": series.rule,
            "startSoC": _num(series.start_soc),
            "targetSoC": _num(series.target_soc),
        }

    # --- writes --------------------------------------------------------------------------

    def add_schedules(
        self, vehicle: SimVehicle, posted: list[PostedSchedule], *, replace: bool
    ) -> tuple[list[str], list[str]]:
        """POST /vehicles/{id}/schedules, with the replaceFutureSchedules semantics."""
        now = self.sim.clock.now()
        schedules = self.schedules[vehicle.id]
        for index, item in enumerate(posted):
            for other in posted[index + 1 :]:
                if item.overlaps(other):
                    raise ApiError(400, "schedules in the request overlap each other")
        if not replace:
            for item in posted:
                clash = next(
                    (s for s in schedules if s.overlaps(item.arrival, item.departure)),
                    None,
                )
                if clash is not None:
                    raise ApiError(
                        409, f"schedule overlaps existing schedule {clash.id}"
                    )
            ids = [self._create(vehicle, item, now).id for item in posted]
            return ids, []
        future = [s for s in schedules if s.departure > now]
        recent = [s for s in schedules if now - RECENTLY_ENDED <= s.departure <= now]
        matched: set[str] = set()
        pairs: list[tuple[SimSchedule | None, PostedSchedule]] = []
        for item in posted:
            match = next(
                (
                    s
                    for s in future
                    if s.departure == item.departure and s.id not in matched
                ),
                None,
            )
            if match is None and item.arrival <= now < item.departure:
                match = next(
                    (
                        s
                        for s in [*future, *reversed(recent)]
                        if s.id not in matched and s.arrival <= now
                    ),
                    None,
                )
            if match is not None:
                matched.add(match.id)
            pairs.append((match, item))
        removed = [s.id for s in future if s.id not in matched]
        schedules[:] = [s for s in schedules if s.id not in removed]
        for series in self.series[vehicle.id]:
            if series.until is None or series.until > now:
                series.until = now
        ids: list[str] = []
        for match, item in pairs:
            if match is None:
                ids.append(self._create(vehicle, item, now).id)
            else:
                self._update(match, item, now)
                ids.append(match.id)
        self._set_vehicle(vehicle, now)
        return ids, removed

    def _create(
        self, vehicle: SimVehicle, item: PostedSchedule, now: datetime
    ) -> SimSchedule:
        record = self.records[vehicle.id]
        locations = record.locations()
        schedule = SimSchedule(
            id=self._new_id(),
            vehicle_id=vehicle.id,
            location_uid=item.location_uid or (locations[0] if locations else None),
            arrival=item.arrival,
            departure=item.departure,
            start_soc=item.start_soc
            if item.start_soc is not None
            else DEFAULT_START_SOC,
            target_soc=item.target_soc
            if item.target_soc is not None
            else DEFAULT_TARGET_SOC,
            recurrence_rule=item.recurrence_rule,
        )
        if item.recurrence_rule is not None:
            series = SimSeries(
                id=self._new_id(),
                vehicle_id=vehicle.id,
                location_uid=schedule.location_uid,
                arrival=schedule.arrival,
                departure=schedule.departure,
                start_soc=schedule.start_soc,
                target_soc=schedule.target_soc,
                rule=item.recurrence_rule,
            )
            first = series.occurrence(0, self.sim.timezone)
            if first is not None:
                # The posted schedule is the series' first occurrence when the rule agrees.
                series.generated = int(first[0] == schedule.arrival)
                schedule.series_id = series.id
                self.series[vehicle.id].append(series)
        self.schedules[vehicle.id].append(schedule)
        self.schedules[vehicle.id].sort(key=lambda s: s.arrival)
        self.replan(schedule, now, "schedule-created", "Schedule created")
        self._materialize(vehicle.id, now)
        self._set_vehicle(vehicle, now)
        return schedule

    def _update(
        self, schedule: SimSchedule, item: PostedSchedule, now: datetime
    ) -> None:
        self.plan(schedule)
        moved = item.arrival != schedule.arrival
        schedule.arrival = item.arrival
        schedule.departure = item.departure
        if item.start_soc is not None:
            schedule.start_soc = item.start_soc
        if item.target_soc is not None:
            schedule.target_soc = item.target_soc
        if item.location_uid is not None:
            schedule.location_uid = item.location_uid
        if item.recurrence_rule is not None:
            schedule.recurrence_rule = item.recurrence_rule
        self.schedules[schedule.vehicle_id].sort(key=lambda s: s.arrival)
        self.replan(
            schedule,
            now,
            "schedule-updated",
            "Schedule updated",
            keep_history=not moved,
        )

    def patch_schedules(
        self, vehicle: SimVehicle, patches: list[dict[str, Any]]
    ) -> tuple[list[str], list[str]]:
        """PATCH /vehicles/{id}/schedules: (updated ids, skipped ids)."""
        now = self.sim.clock.now()
        by_id = {s.id: s for s in self.schedules[vehicle.id]}
        series_by_id = {
            series.id: series
            for series in self.series[vehicle.id]
            if series.until is None or series.until > now
        }
        updated: list[str] = []
        skipped: list[str] = []
        for patch in patches:
            if (series := series_by_id.get(patch["id"])) is not None:
                self._patch_series(series, patch, now)
                updated.append(series.id)
                continue
            schedule = by_id.get(patch["id"])
            if schedule is None or schedule.departure < now:
                skipped.append(patch["id"])
                continue
            arrival = patch.get("plannedArrivalTime", schedule.arrival)
            departure = patch.get("plannedDepartureTime", schedule.departure)
            if departure <= arrival:
                raise ApiError(
                    400,
                    f"schedule {schedule.id}: plannedDepartureTime must be after "
                    "plannedArrivalTime",
                )
            if departure <= now:
                raise ApiError(
                    400, f"schedule {schedule.id}: plannedDepartureTime is in the past"
                )
            if any(
                other.id != schedule.id and other.overlaps(arrival, departure)
                for other in self.schedules[vehicle.id]
            ):
                raise ApiError(
                    409, f"schedule {schedule.id} would overlap another schedule"
                )
            item = PostedSchedule(
                arrival=arrival,
                departure=departure,
                start_soc=patch.get("startSoC"),
                target_soc=patch.get("targetSoC"),
                location_uid=patch.get("locationUid"),
                recurrence_rule=patch.get("recurrenceRule"),
            )
            self._update(schedule, item, now)
            updated.append(schedule.id)
        self._set_vehicle(vehicle, now)
        return updated, skipped

    def _patch_series(
        self, series: SimSeries, patch: dict[str, Any], now: datetime
    ) -> None:
        """Patch a recurring series: its SoCs and location, and its future occurrences'."""
        moved = {"plannedArrivalTime", "plannedDepartureTime", "recurrenceRule"}
        if moved & set(patch):
            raise ApiError(
                400,
                f"schedule {series.id}: a recurring schedule's times and rule cannot be "
                "patched",
            )
        series.start_soc = patch.get("startSoC", series.start_soc)
        series.target_soc = patch.get("targetSoC", series.target_soc)
        series.location_uid = patch.get("locationUid", series.location_uid)
        for occurrence in self.schedules_of(series.vehicle_id):
            if occurrence.series_id == series.id and occurrence.departure > now:
                self._update(
                    occurrence,
                    PostedSchedule(
                        arrival=occurrence.arrival,
                        departure=occurrence.departure,
                        start_soc=patch.get("startSoC"),
                        target_soc=patch.get("targetSoC"),
                        location_uid=patch.get("locationUid"),
                    ),
                    now,
                )


@dataclass(slots=True, kw_only=True)
class PostedSchedule:
    """A validated PostedSchedule (or the fields of an EvSchedulePatch)."""

    arrival: datetime
    departure: datetime
    start_soc: float | None = None
    target_soc: float | None = None
    location_uid: str | None = None
    recurrence_rule: str | None = None

    def overlaps(self, other: PostedSchedule) -> bool:
        """Whether two posted windows overlap."""
        return self.arrival < other.departure and other.arrival < self.departure


def _num(value: float) -> float | int:
    """Write a whole number as an int in JSON (90, not 90.0)."""
    return int(value) if float(value).is_integer() else value


# --- request validation ---------------------------------------------------------------------


def _number(value: Any, name: str, *, minimum: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
    ):
        raise ApiError(400, f"{name} must be a number")
    if minimum is not None and value < minimum:
        raise ApiError(400, f"{name} must be >= {minimum:g}")
    return float(value)


def _percent(value: Any, name: str) -> float:
    number = _number(value, name)
    if not 0 <= number <= 100:
        raise ApiError(400, f"{name} must be between 0 and 100")
    return number


def _string(value: Any, name: str, *, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    return value


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be a boolean")
    return value


VEHICLE_FIELDS: Final = frozenset(
    {
        "chargingPorts",
        "consumption",
        "enableChargeScheduling",
        "evMacAddress",
        "evModel",
        "fullChargeEnergykWh",
        "licensePlate",
        "locationUid",
        "maxChargePowerkW",
        "minChargePowerkW",
        "minPreconditioningPowerkW",
        "name",
        "notes",
        "supportsPauseResume",
        "v2icpParameters",
    }
)


def validate_vehicle_body(body: Any, locations: Iterable[str]) -> dict[str, Any]:
    """Check a PUT/PATCH vehicle body; return the fields, converted (ApiError 400)."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    unknown = sorted(set(body) - VEHICLE_FIELDS - {"id"})
    if unknown:
        raise ApiError(400, f"body must NOT have additional property {unknown[0]}")
    known = set(locations)
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "id":
            continue
        if key in {"evModel", "licensePlate", "name", "notes"}:
            out[key] = _string(value, key)
        elif key == "evMacAddress":
            out[key] = _string(value, key, nullable=True)
        elif key in {"enableChargeScheduling", "supportsPauseResume"}:
            out[key] = _boolean(value, key)
        elif key in {"fullChargeEnergykWh", "maxChargePowerkW"}:
            out[key] = _number(value, key, minimum=1)
        elif key in {"consumption", "minChargePowerkW"}:
            out[key] = _number(value, key, minimum=0)
        elif key == "minPreconditioningPowerkW":
            out[key] = _number(value, key)
        elif key == "chargingPorts":
            out[key] = _ports(value)
        elif key == "locationUid":
            out[key] = _location_uid(value, known)
        elif key == "v2icpParameters":
            out[key] = _v2icp_parameters(value)
    return out


def _ports(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ApiError(400, "chargingPorts must be an array")
    ports = []
    for index, port in enumerate(value):
        name = f"chargingPorts[{index}]"
        if not isinstance(port, dict):
            raise ApiError(400, f"{name} must be an object")
        unknown = sorted(set(port) - {"inactive", "macAddress", "type"})
        if unknown:
            raise ApiError(
                400, f"{name} must NOT have additional property {unknown[0]}"
            )
        if "type" in port and port["type"] not in PORT_TYPES:
            raise ApiError(
                400, f"{name}.type must be one of {', '.join(sorted(PORT_TYPES))}"
            )
        ports.append(
            {
                "inactive": _boolean(port.get("inactive", False), f"{name}.inactive"),
                "macAddress": _string(port.get("macAddress"), f"{name}.macAddress"),
                "type": port.get("type", "CCS2"),
            }
        )
    return ports


def _location_uid(value: Any, known: set[str]) -> list[str] | str | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ApiError(400, "locationUid must be a string, an array of strings or null")
    for uid in values:
        if uid not in known:
            raise ApiError(400, f"unknown locationUid {uid}")
    return value if isinstance(value, str) else list(values)


def _v2icp_parameters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, "v2icpParameters must be an object")
    unknown = sorted(set(value) - {"ambientTemp", "interiorHvac", "preconditioning"})
    if unknown:
        raise ApiError(
            400, f"v2icpParameters must NOT have additional property {unknown[0]}"
        )
    out: dict[str, Any] = {}
    if "ambientTemp" in value:
        out["ambientTemp"] = _number(
            value["ambientTemp"], "v2icpParameters.ambientTemp"
        )
    if "interiorHvac" in value:
        if value["interiorHvac"] not in INTERIOR_HVAC:
            raise ApiError(
                400,
                "v2icpParameters.interiorHvac must be one of "
                + ", ".join(sorted(INTERIOR_HVAC)),
            )
        out["interiorHvac"] = value["interiorHvac"]
    if "preconditioning" in value:
        out["preconditioning"] = _boolean(
            value["preconditioning"], "v2icpParameters.preconditioning"
        )
    return out


POSTED_FIELDS: Final = frozenset(
    {
        "locationUid",
        "plan",
        "planMeta",
        "plannedArrivalTime",
        "plannedDepartureTime",
        "recurrenceRule",
        "startSoC",
        "targetSoC",
    }
)


def validate_posted(
    item: Any, name: str, known: set[str], now: datetime
) -> PostedSchedule:
    """Check one PostedSchedule (ApiError 400)."""
    if not isinstance(item, dict):
        raise ApiError(400, f"{name} must be an object")
    unknown = sorted(set(item) - POSTED_FIELDS)
    if unknown:
        raise ApiError(400, f"{name} must NOT have additional property {unknown[0]}")
    for key in ("plannedArrivalTime", "plannedDepartureTime"):
        if key not in item:
            raise ApiError(400, f"{name} must have required property {key}")
    arrival = parse_time(item["plannedArrivalTime"], f"{name}.plannedArrivalTime")
    departure = parse_time(item["plannedDepartureTime"], f"{name}.plannedDepartureTime")
    if departure <= arrival:
        raise ApiError(
            400, f"{name}.plannedDepartureTime must be after plannedArrivalTime"
        )
    if departure <= now:
        raise ApiError(400, f"{name}.plannedDepartureTime is in the past")
    location = _string(item.get("locationUid"), f"{name}.locationUid", nullable=True)
    if location is not None and location not in known:
        raise ApiError(400, f"{name}: unknown locationUid {location}")
    rule = _string(item.get("recurrenceRule"), f"{name}.recurrenceRule", nullable=True)
    return PostedSchedule(
        arrival=arrival,
        departure=departure,
        start_soc=None
        if item.get("startSoC") is None
        else _percent(item["startSoC"], f"{name}.startSoC"),
        target_soc=None
        if item.get("targetSoC") is None
        else _percent(item["targetSoC"], f"{name}.targetSoC"),
        location_uid=location,
        recurrence_rule=rule or None,
    )


PATCH_FIELDS: Final = POSTED_FIELDS | {"id"}


def validate_patch(item: Any, name: str, known: set[str]) -> dict[str, Any]:
    """Check one EvSchedulePatch (ApiError 400); times parsed, plan fields dropped."""
    if not isinstance(item, dict):
        raise ApiError(400, f"{name} must be an object")
    unknown = sorted(set(item) - PATCH_FIELDS)
    if unknown:
        raise ApiError(400, f"{name} must NOT have additional property {unknown[0]}")
    schedule_id = item.get("id")
    if not isinstance(schedule_id, str) or not schedule_id:
        raise ApiError(400, f"{name} must have required property id")
    out: dict[str, Any] = {"id": schedule_id}
    for key in ("plannedArrivalTime", "plannedDepartureTime"):
        if key in item:
            out[key] = parse_time(item[key], f"{name}.{key}")
    for key in ("startSoC", "targetSoC"):
        if key in item:
            out[key] = _percent(item[key], f"{name}.{key}")
    if "locationUid" in item:
        location = _string(item["locationUid"], f"{name}.locationUid")
        if location not in known:
            raise ApiError(400, f"{name}: unknown locationUid {location}")
        out["locationUid"] = location
    if "recurrenceRule" in item:
        out["recurrenceRule"] = _string(
            item["recurrenceRule"], f"{name}.recurrenceRule", nullable=True
        )
    return out


# --- HTTP -----------------------------------------------------------------------------------

type _Handler = Callable[[web.Request, State], Awaitable[web.StreamResponse]]


def _state(request: web.Request) -> State:
    return get_sim(request).chargeye


def _endpoint(
    handler: _Handler, *, authenticated: bool = True
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Sync the world, check the bearer JWT, and turn ApiError into the error body."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        state = _state(request)
        vehicle = state.fleet.get(request.match_info.get("vehicle_id", ""))
        if vehicle is not None:
            # Per-vehicle endpoints bring only their vehicle up to date: a fleet refresh
            # (1 + N requests) then costs O(N), not O(N^2).
            state.sync_vehicle(vehicle, state.sim.clock.now())
        else:
            state.sim.sync(NAME)
        try:
            if authenticated:
                _authenticate(request, state)
            return await handler(request, state)
        except ApiError as err:
            return err.response(error_body)

    return wrapped


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _authenticate(request: web.Request, state: State) -> None:
    token = _bearer(request)
    if token is None or not state.token_valid(token):
        raise ApiError(401, "Unauthorized")


async def _json_body(request: web.Request) -> Any:
    body = await request.read()
    if not body.strip():
        raise ApiError(400, "body must be a JSON object")
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(400, "body is not valid JSON") from None


def _vehicle(request: web.Request, state: State) -> SimVehicle:
    vehicle = state.fleet.get(request.match_info["vehicle_id"])
    if vehicle is None:
        raise ApiError(404, "Vehicle not found")
    return vehicle


async def refresh_access_token(request: web.Request, state: State) -> web.Response:
    """GET /auth/refreshAccessToken."""
    token = _bearer(request)
    if token is None or state.revoked or token != state.credentials["refresh_token"]:
        raise ApiError(401, "Unauthorized")
    jwt = state.issue_token()
    return web.json_response(
        {"token": jwt, "validUntil": state.timestamp(state.tokens[jwt])}
    )


async def list_vehicles(request: web.Request, state: State) -> web.Response:
    """GET /vehicles."""
    return web.json_response(
        {
            "vehicles": [
                {"vehicle": state.vehicle_json(v), "v2icp": state.v2icp_json(v)}
                for v in state.fleet
            ]
        }
    )


async def get_vehicle(request: web.Request, state: State) -> web.Response:
    """GET /vehicles/{vehicleId}."""
    return web.json_response(state.vehicle_json(_vehicle(request, state)))


def _apply_vehicle_fields(
    state: State, vehicle: SimVehicle, fields: dict[str, Any]
) -> None:
    record = state.records[vehicle.id]
    simple = {"name": "name", "licensePlate": "license_plate"}
    for key, value in fields.items():
        if key in simple:
            setattr(vehicle, simple[key], value)
        elif key == "evModel":
            record.ev_model = value
        elif key == "notes":
            record.notes = value
        elif key == "evMacAddress":
            record.mac = value
        elif key == "chargingPorts":
            record.charging_ports = value
        elif key == "consumption":
            vehicle.consumption_wh_per_km = value
        elif key == "enableChargeScheduling":
            vehicle.smart_charging = value
        elif key == "fullChargeEnergykWh":
            vehicle.battery_wh = value * 1000
        elif key == "maxChargePowerkW":
            vehicle.max_power_w = value * 1000
        elif key == "minChargePowerkW":
            record.min_power_kw = value
        elif key == "minPreconditioningPowerkW":
            record.min_preconditioning_kw = value
        elif key == "supportsPauseResume":
            record.supports_pause_resume = value
        elif key == "locationUid":
            record.location_uid = value
        elif key == "v2icpParameters":
            record.v2icp_parameters = value
    state.sync_vehicle(vehicle, state.sim.clock.now())


async def put_vehicle(request: web.Request, state: State) -> web.Response:
    """PUT /vehicles/{vehicleId}: create (with the caller's id) or replace."""
    vehicle_id = request.match_info["vehicle_id"]
    fields = validate_vehicle_body(
        await _json_body(request), (loc.id for loc in state.locations)
    )
    vehicle = state.fleet.get(vehicle_id)
    if vehicle is None:
        vehicle = state.fleet.add_vehicle(
            depot_pattern=False, id=vehicle_id, name="", license_plate="", vin=""
        )
        record = state.records[vehicle_id]
        record.ev_model = ""
        record.mac = None
        record.charging_ports = []
        record.location_uid = None
    else:
        record = state.records[vehicle_id]
        record.notes = record.ev_model = ""
        vehicle.name = vehicle.license_plate = ""
    _apply_vehicle_fields(state, vehicle, fields)
    return web.json_response({"id": vehicle_id})


async def patch_vehicle(request: web.Request, state: State) -> web.Response:
    """PATCH /vehicles/{vehicleId}: change only the given fields."""
    vehicle = _vehicle(request, state)
    fields = validate_vehicle_body(
        await _json_body(request), (loc.id for loc in state.locations)
    )
    _apply_vehicle_fields(state, vehicle, fields)
    return web.json_response({"success": True})


async def list_locations(request: web.Request, state: State) -> web.Response:
    """GET /locations."""
    return web.json_response({"locations": [loc.to_json() for loc in state.locations]})


async def location_schedules(request: web.Request, state: State) -> web.Response:
    """GET /locations/{locationUid}/schedules: current and upcoming, and the recurring."""
    uid = request.match_info["location_uid"]
    if uid not in {loc.id for loc in state.locations}:
        raise ApiError(404, "Location not found")
    if state.refused_location_schedules is not None:
        raise ApiError(state.refused_location_schedules, "No permission")
    now = state.sim.clock.now()
    recurring_only = uid in state.recurring_only_locations
    schedules = [
        state.schedule_json(s, now)
        for vehicle_schedules in state.schedules.values()
        for s in vehicle_schedules
        if s.location_uid == uid and s.departure >= now and not recurring_only
    ]
    recurring = [
        state.series_json(
            series, now, with_plan=recurring_only and state.recurring_plans
        )
        for vehicle_series in state.series.values()
        for series in vehicle_series
        if series.location_uid == uid and (series.until is None or series.until > now)
    ]
    return web.json_response({"recurringSchedules": recurring, "schedules": schedules})


async def list_schedules(request: web.Request, state: State) -> web.Response:
    """GET /vehicles/{vehicleId}/schedules[?from=&to=]."""
    vehicle = _vehicle(request, state)
    start = end = None
    if "from" in request.query:
        start = parse_time(request.query["from"], "from")
    if "to" in request.query:
        end = parse_time(request.query["to"], "to")
    if start is not None and end is not None and end < start:
        raise ApiError(400, "to must not be before from")
    now = state.sim.clock.now()
    return web.json_response(
        {
            "schedules": [
                state.schedule_json(s, now)
                for s in state.schedules_of(vehicle.id)
                if (start is None or s.departure >= start)
                and (end is None or s.arrival <= end)
            ]
        }
    )


async def add_schedules(request: web.Request, state: State) -> web.Response:
    """POST /vehicles/{vehicleId}/schedules."""
    vehicle = _vehicle(request, state)
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    unknown = sorted(set(body) - {"replaceFutureSchedules", "schedules"})
    if unknown:
        raise ApiError(400, f"body must NOT have additional property {unknown[0]}")
    replace = _boolean(
        body.get("replaceFutureSchedules", False), "replaceFutureSchedules"
    )
    items = body.get("schedules")
    if not isinstance(items, list):
        raise ApiError(400, "body must have required property schedules (an array)")
    if len(items) > MAX_SCHEDULES_PER_REQUEST:
        raise ApiError(
            400, f"schedules must NOT have more than {MAX_SCHEDULES_PER_REQUEST} items"
        )
    known = {loc.id for loc in state.locations}
    now = state.sim.clock.now()
    posted = [
        validate_posted(item, f"schedules[{index}]", known, now)
        for index, item in enumerate(items)
    ]
    ids, removed = state.add_schedules(vehicle, posted, replace=replace)
    return web.json_response({"ids": ids, "removedScheduleIds": removed})


async def patch_schedules(request: web.Request, state: State) -> web.Response:
    """PATCH /vehicles/{vehicleId}/schedules."""
    vehicle = _vehicle(request, state)
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    items = body.get("schedules")
    if not isinstance(items, list):
        raise ApiError(400, "body must have required property schedules (an array)")
    if len(items) > MAX_SCHEDULES_PER_REQUEST:
        raise ApiError(
            400, f"schedules must NOT have more than {MAX_SCHEDULES_PER_REQUEST} items"
        )
    known = {loc.id for loc in state.locations}
    patches = [
        validate_patch(item, f"schedules[{index}]", known)
        for index, item in enumerate(items)
    ]
    updated, skipped = state.patch_schedules(vehicle, patches)
    if patches and not updated:
        message = "No schedules were updated"
    elif skipped:
        message = f"Updated {len(updated)} schedule(s), skipped {len(skipped)}"
    else:
        message = f"Updated {len(updated)} schedule(s)"
    return web.json_response(
        {
            "message": message,
            "skippedScheduleIds": skipped,
            "success": bool(updated) or not patches,
        }
    )


async def upcoming_schedules(request: web.Request, state: State) -> web.Response:
    """GET /vehicles/{vehicleId}/schedules/upcoming."""
    vehicle = _vehicle(request, state)
    now = state.sim.clock.now()
    previous, current = state.upcoming(vehicle.id, now)
    return web.json_response(
        {
            "currentOrNext": None
            if current is None
            else state.schedule_json(current, now),
            "previous": None
            if previous is None
            else state.schedule_json(previous, now),
        }
    )


def build_app(sim: Simulator) -> web.Application:
    """Build the /chargeye sub-application."""
    sub = web.Application()
    router = sub.router
    router.add_get(
        "/auth/refreshAccessToken",
        _endpoint(refresh_access_token, authenticated=False),
    )
    router.add_get("/vehicles", _endpoint(list_vehicles))
    router.add_get("/vehicles/{vehicle_id}", _endpoint(get_vehicle))
    router.add_put("/vehicles/{vehicle_id}", _endpoint(put_vehicle))
    router.add_patch("/vehicles/{vehicle_id}", _endpoint(patch_vehicle))
    router.add_get("/vehicles/{vehicle_id}/schedules", _endpoint(list_schedules))
    router.add_post("/vehicles/{vehicle_id}/schedules", _endpoint(add_schedules))
    router.add_patch("/vehicles/{vehicle_id}/schedules", _endpoint(patch_schedules))
    router.add_get(
        "/vehicles/{vehicle_id}/schedules/upcoming", _endpoint(upcoming_schedules)
    )
    router.add_get("/locations", _endpoint(list_locations))
    router.add_get("/locations/{location_uid}/schedules", _endpoint(location_schedules))
    return sub


def register(app: web.Application, sim: Simulator) -> None:
    """Mount the ChargEye API at /chargeye."""
    app.add_subapp(PREFIX, build_app(sim))
