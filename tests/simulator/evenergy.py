"""ev.energy API v2, simulated as its OpenAPI document (tests/simulator/evenergy-openapi-v2.yaml) describes it.

Served under ``/evenergy/v2`` with the OAuth2 token endpoint at the server root (``/o/token/``,
like ``https://api.ev.energy/o/token/``). Client credentials (HTTP Basic or form) give a bearer
token; requests may act for the account's user with ``EvEnergy-User``. Lists are bare JSON
arrays paged by cursor (``page_size`` default 25, max 100, ``Link: <…>; rel="next"``). Errors
are ``application/problem+json``. Every API response carries ``X-RateLimit-Limit`` and
``X-RateLimit-Remaining`` over a rolling hour of simulated time; past the budget, 429 with
``Retry-After`` in seconds.

Charging sessions (plug-in episodes) and their sub-sessions (one per charging mode: SMART,
BOOST, UNMANAGED_HOME) are recorded from what the simulated cars do, so boost acts on real
sessions: ``boost_start`` answers 409 when smart charging is off or the car is not plugged in.

Status logs are what ev.energy heard from the car. With the simulator's telemetry on, each
cloud update (``SimVehicle.reported``, every ``TELEMETRY_PERIOD``) is one log, ``sampled_at``
its moment, and the latest log is the last of them; when live, the latest log is the car now
and the history keeps one when the state changes or ``STATUS_LOG_INTERVAL`` has passed.
Vehicle settings (``maximum_charge_limit_percentage`` …), sessions and schedules are
ev.energy's own records and follow the live car.
"""

from __future__ import annotations

import base64
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import functools
import hashlib
import json
import math
from pathlib import Path
import re
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote_plus

from aiohttp import web
from multidict import MultiDict

from .app import ApiError
from .core import (
    SimVehicle,
    Variant,
    is_bool,
    is_string_list,
    prefixed_ids,
    sorted_list,
    string_set,
)
from .profiles import PROFILES

if TYPE_CHECKING:
    from .core import Simulator

NAME: Final = "evenergy"
PROVIDER: Final = NAME
PROFILE: Final = PROFILES[NAME]
PREFIX: Final = PROFILE.api_path
TOKEN_PATH: Final = "/o/token/"
PROBLEMS: Final = "https://api.ev.energy/v2/problems/"
OPENAPI_PATH: Final = Path(__file__).with_name("evenergy-openapi-v2.yaml")
"""The official OpenAPI document this simulator follows (copied from ev.energy)."""
API_VERSION: Final = "2"

DEFAULT_RATE_LIMIT: Final = 1000
RATE_WINDOW: Final = timedelta(hours=1)
TOKEN_LIFETIME: Final = timedelta(hours=10)
"""Django OAuth Toolkit's default ACCESS_TOKEN_EXPIRE_SECONDS (36000)."""
SCOPES: Final = (
    "vehicle:read vehicle:write user:read charging_session:read charging_session:write"
)

PAGE_SIZE_DEFAULT: Final = 25
PAGE_SIZE_MAX: Final = 100
STATUS_LOG_HISTORY: Final = 200
"""Status logs kept per vehicle (newest first)."""
STATUS_LOG_INTERVAL: Final = timedelta(minutes=15)
"""Live telemetry: a new history entry at most this often, or when the state changes."""
TELEMETRY_PERIOD: Final = 180.0
"""Default seconds between ev.energy's status logs of a car (``--telemetry default``). The
document says only that ``sampled_at`` precedes ``logged_at`` by an amount that depends on the
integration; a smart-charging app steering half-hour slots plausibly samples every 3 minutes."""

ID_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32, as in ULIDs (the 26 characters after a type prefix)."""
USER_ID: Final = re.compile(r"user[A-Z\d]{26}")
CURSOR: Final = re.compile(r"[a-z]{4}[A-Z\d]{26}")

INTEGRATION_STATES: Final = ("UNINTEGRATED", "ACTIVE", "INACTIVE")
VEHICLE_EXPANSIONS: Final = frozenset(
    {"user", "trim", "trim.model", "trim.model.make", "latest_status_log"}
)
SESSION_EXPANSIONS: Final = frozenset({"vehicle", "evse", "sub_sessions"})
STATUS_LOG_EXPANSIONS: Final = frozenset(
    {
        "vehicle",
        "vehicle.trim",
        "vehicle.trim.model",
        "vehicle.trim.model.make",
        "vehicle.user",
    }
)
SUB_SESSION_EXPANSIONS: Final = frozenset(
    {
        "evse",
        "evse.latest_status_log",
        "evse.model",
        "evse.model.make",
        "evse.user",
        "vehicle",
    }
)
SCHEDULES_EXPANSIONS: Final = frozenset({"charging_sub_session"})
SUB_SESSION_MODES: Final = (
    "SMART",
    "BOOST",
    "UNMANAGED_HOME",
    "UNMANAGED_OTG",
    "MANAGED_OTG",
)

STATE_BY_STATUS: Final = {
    "charging": "PLUGGED_IN_CHARGING",
    "plugged_in": "PLUGGED_IN_NOT_CHARGING",
    "complete": "PLUGGED_IN_COMPLETE",
    "disconnected": "STATIONARY",
}
ALMOST_COMPLETE_MARGIN: Final = 3.0
"""Charging within this many percent of the target reads PLUGGED_IN_ALMOST_COMPLETE."""

TITLES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
SLUGS: Final = {
    400: "bad-request",
    401: "not-authenticated",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    429: "rate-limit-exceeded",
    503: "service-unavailable",
}

SCHEDULE_INTERVAL: Final = timedelta(minutes=30)
"""Schedule intervals start on half-hours and last 1800 s (boost: open-ended)."""
CHARGING_VOLTS: Final = 230.0
"""The simulated chargers' voltage: an interval's current is the car's power over it (the
API states only the current)."""
SCHEDULED_MODES: Final = {"SMART": "SMART", "BOOST": "BOOST"}
"""Sub-session mode -> the schedule_type of its intervals; unmanaged modes get none."""
LITERAL_SCOPES: Final = {"schedules": "chargingsession:read"}
"""Sub-session sub-resources whose documented scope is spelled unlike the others."""

CO2_GRAMS_PER_KWH: Final = 250
PRICE_MINOR_PER_KWH: Final = 25

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _isoformat(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=16384)
def make_id(prefix: str, *parts: object) -> str:
    """Make a deterministic id: 4-letter prefix + 26 Crockford characters from a hash of parts.

    Cached: a vehicle list names every car's make, model and trim ids on every request.
    """
    digest = hashlib.blake2b(
        ":".join(str(part) for part in parts).encode(), digest_size=17
    ).digest()
    number = int.from_bytes(digest)
    chars = []
    for _ in range(26):
        number, index = divmod(number, 32)
        chars.append(ID_ALPHABET[index])
    return prefix + "".join(chars)


@functools.cache
def openapi() -> dict[str, Any]:
    """Load the official OpenAPI document (parsed once)."""
    import yaml  # noqa: PLC0415 - only tests need the document

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with OPENAPI_PATH.open(encoding="utf-8") as file:
        document: dict[str, Any] = yaml.load(file, Loader=loader)
    return document


def openapi_validator(schema: Mapping[str, Any]) -> Any:
    """Return a JSON Schema validator for a schema taken from the OpenAPI document.

    The document's ``components`` ride along so ``#/components/...`` references resolve.
    """
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - test dependency

    return Draft202012Validator({**schema, "components": openapi()["components"]})


def response_schema(path: str, method: str, status: int) -> tuple[str, dict[str, Any]]:
    """Return (content type, schema) the document gives for one operation's response."""
    document = openapi()
    response = document["paths"][path][method.lower()]["responses"][str(status)]
    while "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        response = document["components"]["responses"][name]
    content_type, media = next(iter(response["content"].items()))
    return content_type, media["schema"]


def valid_user_id(user_id: str) -> str:
    """Pad the demo user id to the spec's pattern (user + 26 characters) if it is short."""
    if USER_ID.fullmatch(user_id):
        return user_id
    return user_id + "0" * max(0, 30 - len(user_id))


def error_body(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    slug: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Answer an RFC 9457 problem, the shape of every ev.energy error."""
    body: dict[str, Any] = {
        "type": PROBLEMS + (slug or SLUGS.get(status, "error")) + "/",
        "status": status,
        "title": title or TITLES.get(status, "Error"),
        "detail": detail,
    }
    if extra:
        body.update(extra)
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def _validation_failed(slug: str, errors: Mapping[str, list[str]]) -> ApiError:
    return ApiError(
        400,
        "Error on fields: " + ", ".join(errors),
        title="Request failed validation.",
        slug=slug,
        extra={"field_errors": dict(errors)},
    )


def _pagination_problem(name: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid value for pagination parameter: {name}",
        title="Invalid pagination parameter",
        slug="pagination-parameters",
    )


@dataclass(kw_only=True)
class SubSession:
    """A period of one charging mode within a plug-in episode."""

    id: str
    vehicle_id: str
    start: datetime
    mode: str
    energy_at_start_wh: float
    energy_wh: float = 0.0
    end: datetime | None = None


@dataclass(kw_only=True)
class ChargingSession:
    """One plug-in episode of one vehicle (plug in → unplug)."""

    id: str
    vehicle_id: str
    start: datetime
    end: datetime | None = None
    sub_sessions: list[SubSession] = field(default_factory=list)
    """Oldest first (served newest first)."""

    @property
    def current(self) -> SubSession | None:
        """The sub-session in progress, if the episode still is."""
        if self.end is None and self.sub_sessions:
            return self.sub_sessions[-1]
        return None


@dataclass(frozen=True, slots=True)
class _Catalogue:
    """Make, model and trim ids of a vehicle (deterministic per make/model/battery)."""

    make_id: str
    model_id: str
    trim_id: str


@functools.lru_cache(maxsize=4096)
def _catalogue(seed: int, make: str, model: str, battery_wh: float) -> _Catalogue:
    """Make, model and trim ids (cached: every listed car names them several times)."""
    return _Catalogue(
        make_id=make_id("vmak", seed, make),
        model_id=make_id("vmod", seed, make, model),
        trim_id=make_id("trim", seed, make, model, battery_wh),
    )


class State:
    """The simulated ev.energy account: one OAuth client acting for one user."""

    def __init__(self, sim: Simulator) -> None:
        """Generate the fleet and record the plug-in episodes already under way."""
        self.sim = sim
        self.fleet = sim.new_fleet(PROVIDER, prefixed_ids("vhcl"))
        self.credentials: dict[str, str] = dict(PROFILE.demo_credentials)
        self.credentials["user_id"] = valid_user_id(self.credentials["user_id"])
        self.tokens: dict[str, datetime] = {}
        """Issued access token -> expiry (simulated time)."""
        self.token_lifetime = TOKEN_LIFETIME
        self.rate_limit = DEFAULT_RATE_LIMIT
        self.rate_window = RATE_WINDOW
        self.decimal_headers = False
        """Send X-RateLimit-* and Retry-After as decimals (``1000.0``): the spec types
        them ``number``."""
        self.scopes: set[str] = set(SCOPES.split())
        """The scopes the OAuth client was granted; a call needing another is a 403."""
        self.literal_scopes = False
        """Require the scopes exactly as the document spells them: the schedules of a
        sub-session need ``chargingsession:read``, which the standard client lacks."""
        self._hits: deque[datetime] = deque()
        self.rate_limited = 0
        """How many requests were refused with 429 by the budget."""
        self.integrated: dict[str, str] = {}
        """Vehicle id -> integration state when not ACTIVE."""
        self.disabled: set[str] = set()
        """Vehicles the user unenrolled: listed with ``disabled: true``."""
        self._frozen_logs: dict[str, dict[str, Any]] = {}
        self._history: dict[str, deque[dict[str, Any]]] = {}
        self.sessions: dict[str, ChargingSession] = {}
        self._open: dict[str, ChargingSession] = {}
        self._plugged_at: dict[str, datetime | None] = {}
        self._token_counter = 0
        self.fleet.watch(functools.partial(self._note_status_log, update=True))
        self._track(sim.clock.now())

    # --- Python API for tests --------------------------------------------------------------

    @property
    def user_id(self) -> str:
        """The user the OAuth client may act for."""
        return self.credentials["user_id"]

    def set_integrated(self, vehicle_id: str, value: str) -> None:
        """Set a vehicle's ``integrated`` (UNINTEGRATED, ACTIVE, INACTIVE).

        INACTIVE freezes its status log (the link to the car broke) and makes commands 503.
        """
        if value not in INTEGRATION_STATES:
            raise ValueError(f"integrated must be one of {INTEGRATION_STATES}")
        vehicle = self.fleet.vehicles[vehicle_id]
        self.integrated[vehicle_id] = value
        if value == "INACTIVE":
            self._frozen_logs[vehicle_id] = self._status_log_data(vehicle.reported)
        else:
            self._frozen_logs.pop(vehicle_id, None)

    def set_disabled(self, vehicle_id: str, disabled: bool) -> None:
        """Mark a vehicle disabled (unenrolled, made 'dumb', account pending deletion)."""
        if vehicle_id not in self.fleet.vehicles:
            raise KeyError(vehicle_id)
        if disabled:
            self.disabled.add(vehicle_id)
        else:
            self.disabled.discard(vehicle_id)

    def set_rate_limit(self, limit: int, window: timedelta = RATE_WINDOW) -> None:
        """Change the request budget (per rolling ``window`` of simulated time)."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        self.rate_limit = limit
        self.rate_window = window

    def reset_rate_limit(self) -> None:
        """Forget the requests counted so far."""
        self._hits.clear()

    def expire_tokens(self) -> None:
        """Make every issued access token expired (the client must fetch a new one)."""
        now = self.sim.clock.now()
        for token in self.tokens:
            self.tokens[token] = now

    def revoke_tokens(self) -> None:
        """Forget every issued access token; the credentials still obtain new ones."""
        self.tokens.clear()

    def revoke_credentials(self) -> None:
        """Revoke the client secret and every token: nothing authenticates any more."""
        self.credentials["client_secret"] = "revoked-" + make_id(
            "rvkd", self._token_counter
        )
        self.tokens.clear()

    def add_vehicle(self, **overrides: Any) -> SimVehicle:
        """Add a generated vehicle (overrides: SimVehicle fields)."""
        vehicle = self.fleet.add_vehicle(**overrides)
        self._track(self.sim.clock.now())
        return vehicle

    def remove_vehicle(self, vehicle_id: str) -> SimVehicle:
        """Remove a vehicle (its sessions stay in the history)."""
        vehicle = self.fleet.remove_vehicle(vehicle_id)
        session = self._open.pop(vehicle_id, None)
        if session is not None:
            self._close(session, self.sim.clock.now())
        return vehicle

    def open_session(self, vehicle_id: str) -> ChargingSession | None:
        """Return the vehicle's plug-in episode in progress (call sync() first)."""
        return self._open.get(vehicle_id)

    def sync(self) -> datetime:
        """Advance the cars to now and record plug-ins, unplugs and mode changes."""
        now = self.sim.sync(PROVIDER)
        self._track(now)
        return now

    def admin_state(self) -> dict[str, Any]:
        """Extra truth for GET /_admin/state."""
        return {
            "user_id": self.user_id,
            "rate_limit": {
                "limit": self.rate_limit,
                "used": len(self._hits),
                "refused": self.rate_limited,
            },
            "integrated": dict(self.integrated),
            "open_sessions": {vid: s.id for vid, s in self._open.items()},
        }

    # --- sessions --------------------------------------------------------------------------

    def _mode(self, vehicle: SimVehicle) -> str:
        if vehicle.boost:
            return "BOOST"
        return "SMART" if vehicle.smart_charging else "UNMANAGED_HOME"

    def _track(self, now: datetime) -> None:
        for gone in [vid for vid in self._open if vid not in self.fleet.vehicles]:
            self._close(self._open[gone], now)
        for vehicle in self.fleet:
            vid = vehicle.id
            session = self._open.get(vid)
            if session is not None and session.sub_sessions:
                current = session.sub_sessions[-1]
                if self._plugged_at.get(vid) == vehicle.plugged_in_at:
                    current.energy_wh = max(
                        0.0, vehicle.session_energy_wh - current.energy_at_start_wh
                    )
            if vehicle.plugged_in:
                if (
                    session is not None
                    and self._plugged_at.get(vid) != vehicle.plugged_in_at
                ):
                    self._close(session, min(now, vehicle.plugged_in_at or now))
                    session = None
                if session is None:
                    session = self._start(vehicle, now)
                current = session.sub_sessions[-1]
                mode = self._mode(vehicle)
                if current.mode != mode:
                    current.end = now
                    session.sub_sessions.append(
                        SubSession(
                            id=make_id(
                                "csub",
                                self.sim.seed,
                                session.id,
                                len(session.sub_sessions),
                            ),
                            vehicle_id=vid,
                            start=now,
                            mode=mode,
                            energy_at_start_wh=vehicle.session_energy_wh,
                        )
                    )
            elif session is not None:
                self._close(session, now)
            if vehicle.telemetry_period is None:
                self._note_status_log(vehicle)

    def _start(self, vehicle: SimVehicle, now: datetime) -> ChargingSession:
        start = vehicle.plugged_in_at or now
        session = ChargingSession(
            id=make_id("cses", self.sim.seed, vehicle.id, start.isoformat()),
            vehicle_id=vehicle.id,
            start=start,
        )
        session.sub_sessions.append(
            SubSession(
                id=make_id("csub", self.sim.seed, session.id, 0),
                vehicle_id=vehicle.id,
                start=start,
                mode=self._mode(vehicle),
                energy_at_start_wh=0.0,
                energy_wh=vehicle.session_energy_wh,
            )
        )
        self.sessions[session.id] = session
        self._open[vehicle.id] = session
        self._plugged_at[vehicle.id] = vehicle.plugged_in_at
        return session

    def _close(self, session: ChargingSession, end: datetime) -> None:
        end = max(end, session.start)
        session.end = end
        if session.sub_sessions and session.sub_sessions[-1].end is None:
            session.sub_sessions[-1].end = end
        self._open.pop(session.vehicle_id, None)

    # --- rate limit ------------------------------------------------------------------------

    def _prune(self, now: datetime) -> None:
        horizon = now - self.rate_window
        while self._hits and self._hits[0] <= horizon:
            self._hits.popleft()

    def rate_headers(self, now: datetime) -> dict[str, str]:
        """X-RateLimit-* as they stand."""
        self._prune(now)
        return {
            "EvEnergy-Version": API_VERSION,
            "X-RateLimit-Limit": self._number(self.rate_limit),
            "X-RateLimit-Remaining": self._number(
                max(0, self.rate_limit - len(self._hits))
            ),
        }

    def _number(self, value: int) -> str:
        return f"{float(value)}" if self.decimal_headers else str(value)

    def spend(self, now: datetime) -> None:
        """Count one request, or raise the 429 problem when the budget is used up."""
        self._prune(now)
        if len(self._hits) >= self.rate_limit:
            self.rate_limited += 1
            oldest = self._hits[0] if self._hits else now
            wait = max(1, math.ceil((oldest + self.rate_window - now).total_seconds()))
            raise ApiError(
                429,
                f"Request was rate limited. Try again in {wait} seconds",
                headers={"Retry-After": self._number(wait)},
            )
        self._hits.append(now)

    # --- tokens ----------------------------------------------------------------------------

    def issue_token(self) -> str:
        """Issue a new access token valid for token_lifetime."""
        self._token_counter += 1
        token = make_id("tokn", self.sim.seed, "token", self._token_counter).lower()
        self.tokens[token] = self.sim.clock.now() + self.token_lifetime
        return token

    def token_valid(self, token: str) -> bool:
        """Whether a bearer token was issued and has not expired."""
        expiry = self.tokens.get(token)
        return expiry is not None and self.sim.clock.now() < expiry

    # --- JSON ------------------------------------------------------------------------------

    def catalogue(self, vehicle: SimVehicle) -> _Catalogue:
        """Ids of the vehicle's make, model and trim."""
        return _catalogue(
            self.sim.seed, vehicle.make, vehicle.model, vehicle.battery_wh
        )

    def _status_state(self, vehicle: SimVehicle) -> str:
        status = vehicle.status
        if (
            status == "charging"
            and vehicle.target_soc - vehicle.soc <= ALMOST_COMPLETE_MARGIN
        ):
            return "PLUGGED_IN_ALMOST_COMPLETE"
        return STATE_BY_STATUS[status]

    def _status_log_data(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Describe the vehicle's status now (URLs are added when served)."""
        charging = vehicle.charging
        minutes = None
        if charging and vehicle.charge_power_w > 0:
            minutes = math.ceil(
                vehicle.energy_to_target_wh / vehicle.charge_power_w * 60
            )
        return {
            "sampled_at": vehicle.last_sampled,
            "state_of_charge_percentage": round(vehicle.soc),
            "is_charging": charging,
            "is_plugged_in": vehicle.plugged_in,
            "charge_rate_watts": round(vehicle.charge_power_w),
            "estimated_charge_rate_watts": round(vehicle.charge_power_w)
            if charging
            else None,
            "charge_level_watt_hours": round(vehicle.soc / 100 * vehicle.battery_wh),
            "target_charge_level_percentage": vehicle.target_soc,
            "target_charge_level_watt_hours": round(
                vehicle.target_soc / 100 * vehicle.battery_wh
            ),
            "charge_energy_added_watt_hours": round(vehicle.session_energy_wh),
            "minutes_to_full_charge": minutes,
            "current_type": "AC - Typically home chargers"
            if vehicle.plugged_in
            else None,
            "is_complete": vehicle.complete,
            "odometer_meters": round(vehicle.odometer_km * 1000),
            "data_source": "SIMULATOR",
            "state": self._status_state(vehicle),
        }

    def _note_status_log(self, vehicle: SimVehicle, *, update: bool = False) -> None:
        """Keep a history entry: one per cloud `update`, else when something changed.

        Live telemetry is polled on every request: log a change of state, or the same state
        once STATUS_LOG_INTERVAL has passed.
        """
        if vehicle.id in self._frozen_logs:
            return
        history = self._history.get(vehicle.id)
        if history is None:
            history = self._history[vehicle.id] = deque(maxlen=STATUS_LOG_HISTORY)
        elif history:
            last = history[0]
            if (
                last["sampled_at"] >= vehicle.last_sampled
                if update
                else last["state"] == self._status_state(vehicle)
                and vehicle.last_sampled - last["sampled_at"] < STATUS_LOG_INTERVAL
            ):
                return
        history.appendleft(self._status_log_data(vehicle))

    def status_logs(self, vehicle: SimVehicle) -> list[dict[str, Any]]:
        """Return the stored status logs, newest first."""
        if vehicle.id in self._frozen_logs:
            frozen = self._frozen_logs[vehicle.id]
            return [
                log
                for log in self._history.get(vehicle.id, ())
                if log["sampled_at"] <= frozen["sampled_at"]
            ] or [frozen]
        return list(self._history.get(vehicle.id, ()))

    def latest_status_log(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Return what the API knows about the car now (frozen while INACTIVE)."""
        return self._frozen_logs.get(vehicle.id) or self._status_log_data(
            vehicle.reported
        )

    def schedule_intervals(self, sub: SubSession) -> list[dict[str, Any]]:
        """Describe the open sub-session's charging instructions, from the physics' plan.

        SMART: every half-hour from the current one to the end of the planned charging,
        at the car's current where the physics will charge and 0 mA where it waits; the
        plan is the physics' own (``charge_plan``), so the car then does what is published.
        BOOST: one open-ended interval from the sub-session's half-hour. A closed
        sub-session or an unmanaged mode has none (the simulator keeps no past plans).
        """
        vehicle = self.fleet.get(sub.vehicle_id)
        schedule_type = SCHEDULED_MODES.get(sub.mode)
        if vehicle is None or sub.end is not None or schedule_type is None:
            return []
        now = self.sim.clock.now()
        if schedule_type == "BOOST":
            start = _half_hour(sub.start)
            return [
                _interval(
                    start,
                    length=None,
                    power_w=vehicle.max_power_w,
                    schedule_type=schedule_type,
                    sub=sub,
                    now=now,
                )
            ]
        planned = vehicle.charge_plan(now, self.sim.prices)
        if not planned:
            return []
        intervals: list[dict[str, Any]] = []
        start = _half_hour(now)
        last_end = planned[-1][1]
        while start < last_end:
            end = start + SCHEDULE_INTERVAL
            power = max(
                (
                    watts
                    for begin, finish, watts in planned
                    if begin < end and finish > start
                ),
                default=0.0,
            )
            intervals.append(
                _interval(
                    start,
                    length=SCHEDULE_INTERVAL,
                    power_w=power,
                    schedule_type=schedule_type,
                    sub=sub,
                    now=now,
                )
            )
            start = end
        return intervals


def _half_hour(when: datetime) -> datetime:
    """Return the start of the half-hour ``when`` falls in."""
    seconds = SCHEDULE_INTERVAL.total_seconds()
    return datetime.fromtimestamp(when.timestamp() // seconds * seconds, UTC)


def _interval(
    start: datetime,
    *,
    length: timedelta | None,
    power_w: float,
    schedule_type: str,
    sub: SubSession,
    now: datetime,
) -> dict[str, Any]:
    """One ScheduleInterval: dispatched once its half-hour has begun."""
    return {
        "started_at": _isoformat(start),
        "interval_seconds": None if length is None else int(length.total_seconds()),
        "current_milliamps": round(power_w / CHARGING_VOLTS * 1000),
        "schedule_type": schedule_type,
        "dispatched_at": _isoformat(max(start, sub.start)) if start <= now else None,
        "created_at": _isoformat(sub.start),
    }


class _Renderer:
    """Turns simulator state into ev.energy JSON with absolute URLs for one request."""

    def __init__(self, state: State, request: web.Request) -> None:
        self.state = state
        self.base = f"{request.url.origin()}{PREFIX}"

    def user(self) -> dict[str, Any]:
        state = self.state
        user_id = state.user_id
        return {
            "id": user_id,
            "url": f"{self.base}/users/{user_id}",
            "email": "demo@example.com",
            "full_name": "Demo Driver",
            "joined_at": "2024-03-01T09:00:00Z",
            "terms_consent_datetime": "2024-03-01T09:00:00Z",
            "vehicles": [f"{self.base}/vehicles/{v.id}" for v in state.fleet],
            "evses": [],
        }

    def make(self, vehicle: SimVehicle) -> dict[str, Any]:
        ids = self.state.catalogue(vehicle)
        return {
            "id": ids.make_id,
            "url": f"{self.base}/vehicle_makes/{ids.make_id}",
            "name": vehicle.make,
            "icon": None,
            "onboarding_url": None,
            "models": f"{self.base}/vehicle_models?make_id={ids.make_id}",
            "subscription_name": None,
            "subscription_package": None,
        }

    def model(self, vehicle: SimVehicle, expand: frozenset[str]) -> dict[str, Any]:
        ids = self.state.catalogue(vehicle)
        return {
            "id": ids.model_id,
            "url": f"{self.base}/vehicle_models/{ids.model_id}",
            "name": vehicle.model,
            "make": self.make(vehicle)
            if "make" in expand
            else f"{self.base}/vehicle_makes/{ids.make_id}",
            "onboarding_url": None,
            "vehicle_trims": f"{self.base}/vehicle_trims?model_id={ids.model_id}",
            "default_battery_size_watt_hours": round(vehicle.battery_wh),
            "default_connector_type": "CCS",
        }

    def trim(self, vehicle: SimVehicle, expand: frozenset[str]) -> dict[str, Any]:
        ids = self.state.catalogue(vehicle)
        model_expand = _sub_expansions(expand, "model")
        return {
            "id": ids.trim_id,
            "url": f"{self.base}/vehicle_trims/{ids.trim_id}",
            "name": f"{vehicle.model} ({vehicle.battery_wh / 1000:g} kWh)",
            "model": self.model(vehicle, _sub_expansions(model_expand, ""))
            if "model" in expand
            else f"{self.base}/vehicle_models/{ids.model_id}",
            "battery_size_watt_hours": round(vehicle.battery_wh),
            "onboarding_url": None,
        }

    def status_log(
        self, vehicle: SimVehicle, data: Mapping[str, Any], expand: frozenset[str]
    ) -> dict[str, Any]:
        sampled_at = _isoformat(data["sampled_at"])
        body = {
            "url": f"{self.base}/vehicles/{vehicle.id}/status_logs/{sampled_at}/",
            "logged_at": sampled_at,
            "sampled_at": sampled_at,
            "vehicle": self.vehicle(vehicle, _sub_expansions(expand, "vehicle"))
            if "vehicle" in expand
            else f"{self.base}/vehicles/{vehicle.id}",
        }
        body.update({k: v for k, v in data.items() if k != "sampled_at"})
        return body

    def vehicle(self, vehicle: SimVehicle, expand: frozenset[str]) -> dict[str, Any]:
        state = self.state
        ids = state.catalogue(vehicle)
        log = state.latest_status_log(vehicle)
        integrated = state.integrated.get(vehicle.id, "ACTIVE")
        return {
            "id": vehicle.id,
            "url": f"{self.base}/vehicles/{vehicle.id}",
            "trim": self.trim(vehicle, _sub_expansions(expand, "trim"))
            if "trim" in expand
            else f"{self.base}/vehicle_trims/{ids.trim_id}",
            "user": self.user()
            if "user" in expand
            else f"{self.base}/users/{state.user_id}",
            "latest_status_log": self.status_log(vehicle, log, frozenset())
            if "latest_status_log" in expand
            else f"{self.base}/vehicles/{vehicle.id}/status_logs/"
            f"{_isoformat(log['sampled_at'])}/",
            "charging_sub_sessions": f"{self.base}/charging_sub_sessions/?vehicle_id={vehicle.id}",
            "integrated": integrated,
            "battery_size_watt_hours": round(vehicle.battery_wh),
            "effective_battery_size_watt_hours": round(vehicle.battery_wh * 0.97),
            "maximum_charge_limit_percentage": vehicle.target_soc,
            "description": vehicle.name,
            "disabled": vehicle.id in state.disabled,
            "smart_charging_enabled": vehicle.smart_charging,
            "vehicle_class": "PASSENGER",
        }

    def sub_session(self, sub: SubSession, expand: frozenset[str]) -> dict[str, Any]:
        energy = round(sub.energy_wh)
        vehicle = self.state.fleet.get(sub.vehicle_id)
        max_power = vehicle.max_power_w if vehicle is not None else 11_000.0
        return {
            "id": sub.id,
            "url": f"{self.base}/charging_sub_sessions/{sub.id}",
            "start": _isoformat(sub.start),
            "end": _isoformat(sub.end) if sub.end else None,
            "mode": sub.mode,
            "vehicle": self.vehicle(vehicle, frozenset())
            if "vehicle" in expand and vehicle is not None
            else f"{self.base}/vehicles/{sub.vehicle_id}",
            "evse": None,
            "energy_delivered_watt_hours": energy,
            "cost": round(energy / 1000 * PRICE_MINOR_PER_KWH),
            "location": {
                "name": "Home",
                "postal_code": None,
                "address_1": None,
                "timezone": str(self.state.sim.timezone),
            },
            "percentage_added": round(energy / vehicle.battery_wh * 100, 1)
            if vehicle is not None
            else None,
            "currency": "EUR",
            "savings_cost": None,
            "savings_co2_grams": None,
            "incentive_earned": None,
            "total_co2_grams": round(energy / 1000 * CO2_GRAMS_PER_KWH),
            "co2_intensity_grams_per_kilowatt_hour": CO2_GRAMS_PER_KWH,
            "co2_intensity_classification": "moderate",
            "cost_per_kilowatt_hour": PRICE_MINOR_PER_KWH,
            "total_points": 0,
            "total_points_missed": None,
            "duration_minutes": round(energy / max_power * 60),
            "grid_energy_delivered_watt_hours": energy,
            "solar_energy_delivered_watt_hours": 0,
            "labels": None,
            "energy_usage": f"{self.base}/charging_sub_sessions/{sub.id}/energy_usage",
            "schedules": f"{self.base}/charging_sub_sessions/{sub.id}/schedules",
            "assessment": f"{self.base}/charging_sub_sessions/{sub.id}/assessment",
            "flags": f"{self.base}/charging_sub_sessions/{sub.id}/flags",
            "debug_metadata": f"{self.base}/charging_sub_sessions/{sub.id}/debug_metadata",
            "tariff": None,
            "carbon_feed": None,
            "solar_mode_type": None,
        }

    def session(
        self, session: ChargingSession, expand: frozenset[str]
    ) -> dict[str, Any]:
        vehicle = self.state.fleet.get(session.vehicle_id)
        newest_first = list(reversed(session.sub_sessions))
        return {
            "id": session.id,
            "url": f"{self.base}/charging_sessions/{session.id}",
            "start": _isoformat(session.start),
            "end": _isoformat(session.end) if session.end else None,
            "vehicle": self.vehicle(vehicle, frozenset())
            if "vehicle" in expand and vehicle is not None
            else f"{self.base}/vehicles/{session.vehicle_id}",
            "evse": None,
            "sub_sessions": [self.sub_session(sub, frozenset()) for sub in newest_first]
            if "sub_sessions" in expand
            else [
                f"{self.base}/charging_sub_sessions/{sub.id}" for sub in newest_first
            ],
        }


@functools.lru_cache(maxsize=256)
def _sub_expansions(expand: frozenset[str], prefix: str) -> frozenset[str]:
    """Expansions below ``prefix`` ("trim.model.make" under "trim" is "model.make")."""
    if not prefix:
        return expand
    lead = prefix + "."
    return frozenset(item[len(lead) :] for item in expand if item.startswith(lead))


def _expansions(request: web.Request, allowed: frozenset[str]) -> frozenset[str]:
    """Read the ``expand`` values (repeated or comma-separated); unknown ones are a 400.

    A nested expansion implies its parents ("trim.model.make" expands trim and its model).
    """
    values: set[str] = set()
    for raw in request.query.getall("expand", []):
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item not in allowed:
                raise ApiError(
                    400,
                    f"Invalid value for expand: {item!r}",
                    title="Invalid expand parameter",
                    slug="expand-parameters",
                )
            parts = item.split(".")
            values.update(".".join(parts[: index + 1]) for index in range(len(parts)))
    return frozenset(values)


def _page_size(request: web.Request) -> int:
    raw = request.query.get("page_size")
    if raw is None:
        return PAGE_SIZE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise _pagination_problem("page_size")
    return int(raw)


def _paginate[T](
    request: web.Request,
    items: list[T],
    key: Callable[[T], str],
    cursor_pattern: re.Pattern[str] | None = CURSOR,
    *,
    ascending: bool = False,
) -> tuple[list[T], dict[str, str]]:
    """One page of an ordered list by cursor (page_after / page_before), with its Link.

    With ``ascending`` keys a cursor need not exist any more (a car removed between two
    pages); otherwise an unknown cursor is a 400.
    """
    size = _page_size(request)
    after = request.query.get("page_after")
    before = request.query.get("page_before")
    keys = [key(item) for item in items]
    for name, value in (("page_after", after), ("page_before", before)):
        if value is not None and (
            (cursor_pattern is not None and not cursor_pattern.fullmatch(value))
            or (value not in keys and not ascending)
        ):
            raise _pagination_problem(name)
    if after is not None:
        start = bisect_right(keys, after) if ascending else keys.index(after) + 1
        end = min(len(items), start + size)
    elif before is not None:
        end = bisect_left(keys, before) if ascending else keys.index(before)
        start = max(0, end - size)
    else:
        start, end = 0, min(len(items), size)
    page = items[start:end]
    links = []
    query = MultiDict(
        (k, v)
        for k, v in request.query.items()
        if k not in ("page_after", "page_before")
    )
    query["page_size"] = str(size)
    if start > 0 and page:
        previous = MultiDict(query)
        previous["page_before"] = keys[start]
        links.append(f'<{request.url.with_query(previous)}>; rel="previous"')
    if end < len(items) and page:
        following = MultiDict(query)
        following["page_after"] = keys[end - 1]
        links.append(f'<{request.url.with_query(following)}>; rel="next"')
    return page, ({"Link": ", ".join(links)} if links else {})


def _json(
    data: Any, headers: Mapping[str, str] | None = None, status: int = 200
) -> web.Response:
    return web.json_response(data, status=status, headers=headers)


class _Api:
    """The routes of /evenergy/v2 and /o/token/."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    @property
    def state(self) -> State:
        return self.sim.evenergy

    # --- middleware ------------------------------------------------------------------------

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Auth, version, user, rate limit; problems and HTTP errors as problem+json."""
        state = self.state
        now = self.sim.clock.now()
        try:
            try:
                if request.match_info.http_exception is None:
                    self._authenticate(request)
                    state.spend(now)
                response = await handler(request)
            except web.HTTPException as err:
                if err.status < 400:
                    raise
                reason = (
                    "Resource does not exist or cannot be accessed."
                    if err.status == 404
                    else err.reason
                )
                raise ApiError(err.status, reason) from None
        except ApiError as err:
            response = err.response(error_body)
        response.headers.update(state.rate_headers(now))
        return response

    def _authenticate(self, request: web.Request) -> None:
        state = self.state
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if not token or scheme.lower() != "bearer":
            raise ApiError(401, "Authentication credentials were not provided.")
        if not state.token_valid(token.strip()):
            raise ApiError(401, "The access token is invalid or has expired.")
        scope = required_scope(
            request.method,
            request.path.removeprefix(PREFIX),
            literal=state.literal_scopes,
        )
        if scope not in state.scopes:
            raise ApiError(
                403, f"You do not have permission to perform this action ({scope})."
            )
        version = request.headers.get("EvEnergy-Version")
        if version is not None and version.strip() not in ("2", "2.0"):
            raise ApiError(
                400,
                f"Unsupported version requested: {version}",
                title="Unsupported version",
                slug="pagination-parameters",
            )
        user = request.headers.get("EvEnergy-User")
        if user is not None:
            if not USER_ID.fullmatch(user.strip()):
                raise ApiError(
                    400, "EvEnergy-User must be a user ID (user + 26 characters)."
                )
            if user.strip() != state.user_id:
                raise ApiError(403, "You do not have permission to act as this user.")

    # --- token -----------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        """OAuth2 token endpoint: client credentials by HTTP Basic or in the form."""
        state = self.state
        try:
            form = await request.post()
        except ValueError:
            form = MultiDict()
        client_id = _form_str(form, "client_id")
        client_secret = _form_str(form, "client_secret")
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(encoded.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return _oauth_error(401, "invalid_client")
            raw_id, sep, raw_secret = pair.partition(":")
            if not sep:
                return _oauth_error(401, "invalid_client")
            client_id, client_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        grant_type = _form_str(form, "grant_type")
        if grant_type is None:
            return _oauth_error(
                400, "invalid_request", "Request is missing grant type."
            )
        if grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type")
        if (
            client_id != state.credentials["client_id"]
            or client_secret != state.credentials["client_secret"]
        ):
            return _oauth_error(401, "invalid_client")
        token = state.issue_token()
        return _json(
            {
                "access_token": token,
                "expires_in": round(state.token_lifetime.total_seconds()),
                "token_type": "Bearer",
                "scope": " ".join(s for s in SCOPES.split() if s in state.scopes),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    # --- users -----------------------------------------------------------------------------

    async def get_user(self, request: web.Request) -> web.Response:
        """GET /users/{user_id} (``me`` is the EvEnergy-User)."""
        state = self.state
        state.sync()
        user_id = request.match_info["user_id"]
        if user_id == "me":
            user_id = request.headers.get("EvEnergy-User", "").strip()
        if user_id != state.user_id:
            raise ApiError(404, "Resource does not exist or cannot be accessed.")
        _expansions(request, frozenset({"default_location"}))
        return _json(_Renderer(state, request).user())

    # --- vehicles --------------------------------------------------------------------------

    def _vehicle(self, request: web.Request) -> SimVehicle:
        vehicle_id = request.match_info["vehicle_id"]
        vehicle = self.state.fleet.get(vehicle_id)
        if vehicle is None:
            raise ApiError(404, "Resource does not exist or cannot be accessed.")
        return vehicle

    async def list_vehicles(self, request: web.Request) -> web.Response:
        """GET /vehicles: bare array, cursor paging by vehicle id."""
        state = self.state
        state.sync()
        expand = _expansions(request, VEHICLE_EXPANSIONS)
        vehicles = sorted(state.fleet, key=lambda vehicle: vehicle.id)
        page, headers = _paginate(
            request, vehicles, lambda vehicle: vehicle.id, ascending=True
        )
        renderer = _Renderer(state, request)
        return _json([renderer.vehicle(vehicle, expand) for vehicle in page], headers)

    async def get_vehicle(self, request: web.Request) -> web.Response:
        """GET /vehicles/{vehicle_id}."""
        state = self.state
        state.sync()
        expand = _expansions(request, VEHICLE_EXPANSIONS)
        vehicle = self._vehicle(request)
        return _json(_Renderer(state, request).vehicle(vehicle, expand))

    async def patch_vehicle(self, request: web.Request) -> web.Response:
        """PATCH /vehicles/{vehicle_id}: target, smart charging (battery: unintegrated only)."""
        state = self.state
        state.sync()
        expand = _expansions(request, VEHICLE_EXPANSIONS)
        vehicle = self._vehicle(request)
        body = await _json_body(request)
        errors: dict[str, list[str]] = {}
        changes: dict[str, Any] = {}
        if "maximum_charge_limit_percentage" in body:
            value = body["maximum_charge_limit_percentage"]
            message = _integer_error(value, 50, 100)
            if message:
                errors["maximum_charge_limit_percentage"] = [message]
            else:
                changes["target_soc"] = int(value)
        if "smart_charging_enabled" in body:
            value = body["smart_charging_enabled"]
            if isinstance(value, bool):
                changes["smart_charging"] = value
            else:
                errors["smart_charging_enabled"] = ["Must be a valid boolean."]
        if "battery_size_watt_hours" in body:
            value = body["battery_size_watt_hours"]
            message = _integer_error(value, 1000, 300000)
            if message:
                errors["battery_size_watt_hours"] = [message]
            elif state.integrated.get(vehicle.id, "ACTIVE") != "UNINTEGRATED":
                errors["battery_size_watt_hours"] = [
                    "Battery size can only be set for unintegrated vehicles."
                ]
            else:
                changes["battery_wh"] = float(round(int(value), -1))
        if "vehicle_class" in body and body["vehicle_class"] not in (
            "PASSENGER",
            "COMMERCIAL",
            None,
        ):
            errors["vehicle_class"] = [
                f'"{body["vehicle_class"]}" is not a valid choice.'
            ]
        if errors:
            raise _validation_failed("validation-failed-update-vehicle", errors)
        for name, value in changes.items():
            setattr(vehicle, name, value)
        if changes.get("smart_charging") is False:
            vehicle.boost = False
        state.sync()
        return _json(_Renderer(state, request).vehicle(vehicle, expand))

    async def list_status_logs(self, request: web.Request) -> web.Response:
        """GET /vehicles/{vehicle_id}/status_logs: newest first, timestamp cursors."""
        state = self.state
        state.sync()
        vehicle = self._vehicle(request)
        expand = _expansions(request, STATUS_LOG_EXPANSIONS)
        logs = state.status_logs(vehicle)
        for name, keep in (
            ("sampled_at__gte", lambda log, when: log["sampled_at"] >= when),
            ("sampled_at__lte", lambda log, when: log["sampled_at"] <= when),
        ):
            raw = request.query.get(name)
            if raw is not None:
                when = _parse_datetime(raw, name)
                logs = [log for log in logs if keep(log, when)]
        page, headers = _paginate(
            request,
            logs,
            lambda log: _isoformat(log["sampled_at"]),
            cursor_pattern=None,
        )
        renderer = _Renderer(state, request)
        return _json(
            [renderer.status_log(vehicle, log, expand) for log in page], headers
        )

    # --- catalogue -------------------------------------------------------------------------

    def _catalogue_vehicle(self, attribute: str, value: str) -> SimVehicle:
        state = self.state
        for vehicle in state.fleet:
            if getattr(state.catalogue(vehicle), attribute) == value:
                return vehicle
        raise ApiError(404, "Resource does not exist or cannot be accessed.")

    async def get_trim(self, request: web.Request) -> web.Response:
        """GET /vehicle_trims/{vehicle_trim_id}."""
        vehicle = self._catalogue_vehicle(
            "trim_id", request.match_info["vehicle_trim_id"]
        )
        return _json(_Renderer(self.state, request).trim(vehicle, frozenset()))

    async def get_model(self, request: web.Request) -> web.Response:
        """GET /vehicle_models/{vehicle_model_id}."""
        vehicle = self._catalogue_vehicle(
            "model_id", request.match_info["vehicle_model_id"]
        )
        return _json(_Renderer(self.state, request).model(vehicle, frozenset()))

    async def get_make(self, request: web.Request) -> web.Response:
        """GET /vehicle_makes/{vehicle_make_id}."""
        vehicle = self._catalogue_vehicle(
            "make_id", request.match_info["vehicle_make_id"]
        )
        return _json(_Renderer(self.state, request).make(vehicle))

    # --- charging sessions -----------------------------------------------------------------

    def _session(self, request: web.Request) -> ChargingSession:
        session = self.state.sessions.get(request.match_info["charging_session_id"])
        if session is None:
            raise ApiError(404, "Resource does not exist or cannot be accessed.")
        return session

    async def list_sessions(self, request: web.Request) -> web.Response:
        """GET /charging_sessions: newest first (by plug-in time), cursor by id."""
        state = self.state
        state.sync()
        expand = _expansions(request, SESSION_EXPANSIONS)
        sessions = sorted(
            state.sessions.values(), key=lambda s: (s.start, s.id), reverse=True
        )
        page, headers = _paginate(request, sessions, lambda session: session.id)
        renderer = _Renderer(state, request)
        return _json([renderer.session(session, expand) for session in page], headers)

    async def get_session(self, request: web.Request) -> web.Response:
        """GET /charging_sessions/{charging_session_id}."""
        state = self.state
        state.sync()
        expand = _expansions(request, SESSION_EXPANSIONS)
        return _json(_Renderer(state, request).session(self._session(request), expand))

    def _sub_session(self, request: web.Request) -> SubSession:
        wanted = request.match_info["charging_sub_session_id"]
        for session in self.state.sessions.values():
            for sub in session.sub_sessions:
                if sub.id == wanted:
                    return sub
        raise ApiError(404, "Resource does not exist or cannot be accessed.")

    async def get_sub_session(self, request: web.Request) -> web.Response:
        """GET /charging_sub_sessions/{charging_sub_session_id}."""
        state = self.state
        state.sync()
        expand = _expansions(request, SUB_SESSION_EXPANSIONS)
        sub = self._sub_session(request)
        return _json(_Renderer(state, request).sub_session(sub, expand))

    async def get_schedules(self, request: web.Request) -> web.Response:
        """GET /charging_sub_sessions/{id}/schedules: one Schedules object, not paged."""
        state = self.state
        state.sync()
        expand = _expansions(request, SCHEDULES_EXPANSIONS)
        sub = self._sub_session(request)
        intervals = state.schedule_intervals(sub)
        for name, keep in (
            ("started_at__gte", lambda at, bound: at >= bound),
            ("started_at__lte", lambda at, bound: at <= bound),
        ):
            raw = request.query.get(name)
            if raw is not None:
                bound = _parse_datetime(raw, name)
                intervals = [
                    item
                    for item in intervals
                    if keep(datetime.fromisoformat(item["started_at"]), bound)
                ]
        renderer = _Renderer(state, request)
        url = f"{renderer.base}/charging_sub_sessions/{sub.id}"
        return _json(
            {
                "url": f"{url}/schedules",
                "charging_sub_session": renderer.sub_session(sub, frozenset())
                if "charging_sub_session" in expand
                else url,
                "schedules": intervals,
            }
        )

    async def boost_start(self, request: web.Request) -> web.Response:
        """POST …/boost_start: 409 unless an in-progress SMART sub-session can boost."""
        return await self._boost(request, start=True)

    async def boost_end(self, request: web.Request) -> web.Response:
        """POST …/boost_end: 409 unless the session is boosting."""
        return await self._boost(request, start=False)

    async def _boost(self, request: web.Request, *, start: bool) -> web.Response:
        state = self.state
        state.sync()
        session = self._session(request)
        vehicle = state.fleet.get(session.vehicle_id)
        current = session.current
        if vehicle is None or current is None:
            raise ApiError(
                409, "This charging session has ended: the vehicle is not plugged in."
            )
        if not vehicle.smart_charging:
            raise ApiError(409, "Smart charging is turned off for this vehicle.")
        if start and current.mode != "SMART":
            raise ApiError(
                409,
                "This charging session cannot be boosted: it is not smart charging.",
            )
        if not start and current.mode != "BOOST":
            raise ApiError(409, "This charging session is not boosting.")
        if state.integrated.get(vehicle.id, "ACTIVE") == "INACTIVE":
            raise ApiError(503, "The command could not be delivered to the vehicle.")
        vehicle.boost = start
        state.sync()
        return _json(_Renderer(state, request).session(session, frozenset()))


def _form_str(form: Mapping[str, Any], key: str) -> str | None:
    value = form.get(key)
    return value if isinstance(value, str) else None


def _oauth_error(
    status: int, error: str, description: str | None = None
) -> web.Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="api.ev.energy"'
    return _json(body, headers, status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(
            400,
            f"JSON parse error - {err}",
            title="Malformed request body.",
            slug="parse-error",
        ) from None
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "Invalid data. Expected a dictionary.",
            title="Malformed request body.",
            slug="parse-error",
        )
    return body


def _integer_error(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "A valid integer is required."
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        return "A valid integer is required."
    if value < low:
        return f"Ensure this value is greater than or equal to {low}."
    if value > high:
        return f"Ensure this value is less than or equal to {high}."
    return None


def _parse_datetime(raw: str, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"Invalid date-time for {name}: {raw!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def required_scope(method: str, path: str, *, literal: bool = False) -> str:
    """Return the OAuth scope a call needs, as the OpenAPI's ``security`` lists them.

    The document names ``chargingsession:read`` (no underscore) for a sub-session's
    schedules; servers read it like the others unless ``literal`` (the variant).
    """
    parts = path.strip("/").split("/")
    resource = parts[0]
    if literal and resource == "charging_sub_sessions" and len(parts) == 3:
        spelled = LITERAL_SCOPES.get(parts[2])
        if spelled is not None:
            return spelled
    kind = {
        "users": "user",
        "charging_sessions": "charging_session",
        "charging_sub_sessions": "charging_session",
    }.get(resource, "vehicle")
    return f"{kind}:{'read' if method in ('GET', 'HEAD') else 'write'}"


VARIANTS: Final = {
    "decimal_headers": Variant(
        "X-RateLimit-* and Retry-After as decimals (the spec types them number)",
        is_bool,
    ),
    "literal_scopes": Variant(
        "the schedules of a sub-session need the literally documented "
        "chargingsession:read scope, which the standard client lacks (403)",
        is_bool,
    ),
    "scopes": Variant(
        "the OAuth scopes granted; a call needing another answers 403",
        is_string_list,
        from_json=string_set,
        to_json=sorted_list,
    ),
}
"""Readings the OpenAPI document permits that clients need not expect (core.Variant)."""


def build_app(sim: Simulator) -> web.Application:
    """Build the /evenergy/v2 sub-application."""
    api = _Api(sim)
    app = web.Application(middlewares=[api.middleware])
    app.router.add_get("/users/{user_id}", api.get_user, allow_head=False)
    app.router.add_get("/vehicles", api.list_vehicles, allow_head=False)
    app.router.add_get("/vehicles/{vehicle_id}", api.get_vehicle, allow_head=False)
    app.router.add_patch("/vehicles/{vehicle_id}", api.patch_vehicle)
    app.router.add_get(
        "/vehicles/{vehicle_id}/status_logs", api.list_status_logs, allow_head=False
    )
    app.router.add_get(
        "/vehicle_trims/{vehicle_trim_id}", api.get_trim, allow_head=False
    )
    app.router.add_get(
        "/vehicle_models/{vehicle_model_id}", api.get_model, allow_head=False
    )
    app.router.add_get(
        "/vehicle_makes/{vehicle_make_id}", api.get_make, allow_head=False
    )
    app.router.add_get("/charging_sessions", api.list_sessions, allow_head=False)
    app.router.add_get(
        "/charging_sessions/{charging_session_id}", api.get_session, allow_head=False
    )
    app.router.add_post(
        "/charging_sessions/{charging_session_id}/boost_start", api.boost_start
    )
    app.router.add_post(
        "/charging_sessions/{charging_session_id}/boost_end", api.boost_end
    )
    app.router.add_get(
        "/charging_sub_sessions/{charging_sub_session_id}",
        api.get_sub_session,
        allow_head=False,
    )
    app.router.add_get(
        "/charging_sub_sessions/{charging_sub_session_id}/schedules",
        api.get_schedules,
        allow_head=False,
    )
    return app


def register(app: web.Application, sim: Simulator) -> None:
    """Mount the API under /evenergy/v2 and the token endpoint at the root."""
    app.add_subapp(PREFIX, build_app(sim))
    app.router.add_post(TOKEN_PATH, _Api(sim).token)
