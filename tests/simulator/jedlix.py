"""Jedlix Smart Charging API v2, simulated as the v2 change notes and public SDKs describe it.

Served under ``/jedlix`` (the customer environment; every endpoint under ``/api/v2``) with an
Auth0-like token endpoint at ``/jedlix-auth/oauth/token``. Client credentials plus the
environment's URL as ``audience`` give a bearer token valid for ``expires_in`` (86400 s) of
simulated time; every API call needs that token *and* the ``ApiKey`` header.

What the v2 notes fix, and this simulator follows exactly: paged lists take ``pageSize``
(1..100, default 20) and ``pageIndex`` (from 1), answer ``{pageIndex, pageSize, totalPages,
totalCount, items}`` newest first; every date in a response is ``yyyy-MM-ddTHH:mm:ss.fffZ``;
enums are PascalCase strings (``Charging``, ``Active``, ``PushNotification`` ...) while message
types and vehicle capabilities stay camelCase. ``GET /users/{userId}/vehicles`` is still a plain
array with the charge state embedded. Errors are RFC 7807 ``application/problem+json``
(``type, title, status, detail, instance``; validation problems add ``errors``), as ASP.NET
Core writes them; the token endpoint answers OAuth2 errors the way Auth0 does.

Charge settings (``GET|PUT /users/{userId}/vehicles/{vehicleId}/charge-settings``) are the
project's documented assumption: the path, a PUT that replaces the whole object, departure
times keyed by lower-case weekday in the ``timeZone`` named there. Charging sessions are the
plug-in episodes of the simulated cars; boost is a session setting (``boostCharging``).

A vehicle's ``chargeState`` (battery level, range, state, ``updatedAt``) is what Jedlix last
heard from the car: ``SimVehicle.reported``, refreshed every ``TELEMETRY_PERIOD`` when the
simulator's telemetry is on. Charge settings and sessions are Jedlix's own records: live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import functools
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any, Final
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from .app import ApiError
from .core import WEEKDAYS, SimVehicle, parse_hhmm, uuid_ids
from .profiles import PROFILES

if TYPE_CHECKING:
    from .core import Simulator

NAME: Final = "jedlix"
PROFILE: Final = PROFILES[NAME]
PREFIX: Final = PROFILE.api_path
AUTH_PREFIX: Final = "/jedlix-auth"
TOKEN_PATH: Final = "/oauth/token"
API: Final = "/api/v2"
TOKEN_LIFETIME: Final = timedelta(seconds=86400)
PAGE_SIZE_DEFAULT: Final = 20
PAGE_SIZE_MAX: Final = 100
TARGET_MIN: Final = 50
TARGET_MAX: Final = 100
HISTORY_SESSIONS: Final = 3
"""Completed sessions generated per vehicle before the simulation starts."""

TELEMETRY_PERIOD: Final = 600.0
"""Default seconds between Jedlix's captures of a car (``--telemetry default``); no document
gives one. Jedlix reads most cars from their makers' clouds (``pullTelemetry``), which
themselves hear from a parked car only now and then: every 10 minutes is our assumption."""

DAYS: Final = tuple(day.lower() for day in WEEKDAYS)
"""``departureTimes`` keys (the project's assumption, shared with the client)."""

CHARGE_STATES: Final = {
    "charging": "Charging",
    "plugged_in": "Stopped",
    "complete": "Complete",
    "disconnected": "Disconnected",
}
SESSION_STATUSES: Final = ("Active", "Complete", "ForceEnded")
CALIBRATION_STATES: Final = ("NoSession", "NotStarted", "InProgress", "Complete")
NOTIFICATION_TYPES: Final = ("PushNotification", "Email", "SMS", "Banner")
MESSAGE_TYPES: Final = (
    "startSession",
    "endSession",
    "invalidCredentials",
    "carNotFound",
    "carNotReachable",
    "zeInteractiveToBeActivated",
    "zeInteractiveCannotBeActivated",
    "zeInteractiveExpiresSoon",
    "readyForPairing",
    "sessionImpossible",
    "checkCarActivation",
    "receivedNoPower",
    "geoLocationDisabled",
    "audiNotPaired",
    "audiPairingNotComplete",
    "invalidUtilityContract",
    "reconnectUtilityContract",
    "invalidCredentialsBanner",
    "myRenaultAccessRevoked",
    "audiRemoteAccessDisabled",
    "audiRemoteAccessDisabledBanner",
)
"""Message types the v2 notes list (the API may add more; add_message accepts any)."""
VEHICLE_CAPABILITIES: Final = (
    "chargeState",
    "stateOfCharge",
    "charge",
    "startStopCharging",
    "geoLocation",
    "desiredStateOfCharge",
    "departureTimes",
    "pullTelemetry",
)
"""What a well-supported car offers (tests may change a vehicle's list)."""
SESSION_SETTING_TYPES: Final = ("boostCharging",)

PROBLEM_TYPES: Final = {
    400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    401: "https://tools.ietf.org/html/rfc7235#section-3.1",
    403: "https://tools.ietf.org/html/rfc7231#section-6.5.3",
    404: "https://tools.ietf.org/html/rfc7231#section-6.5.4",
    405: "https://tools.ietf.org/html/rfc7231#section-6.5.5",
    409: "https://tools.ietf.org/html/rfc7231#section-6.5.8",
    422: "https://tools.ietf.org/html/rfc4918#section-11.2",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc7231#section-6.6.1",
    502: "https://tools.ietf.org/html/rfc7231#section-6.6.3",
    503: "https://tools.ietf.org/html/rfc7231#section-6.6.4",
}
TITLES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "An error occurred while processing your request.",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
VALIDATION_TITLE: Final = "One or more validation errors occurred."

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@functools.lru_cache(maxsize=8192)
def format_date(when: datetime) -> str:
    """Format a date the one way v2 does: ``yyyy-MM-ddTHH:mm:ss.fffZ``.

    Cached: a vehicle list formats every car's creation and update time on every request.
    """
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _optional_date(when: datetime | None) -> str | None:
    return None if when is None else format_date(when)


def make_uuid(*parts: object) -> str:
    """Return a deterministic UUID (version 4 layout) from a hash of ``parts``."""
    digest = hashlib.blake2b(
        ":".join(str(part) for part in parts).encode(), digest_size=16
    ).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def error_body(
    status: int,
    detail: str | None,
    *,
    title: str | None = None,
    instance: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Answer an RFC 7807 problem, the shape of every Jedlix API error."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPES.get(status, PROBLEM_TYPES[400 if status < 500 else 500]),
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = {key: list(value) for key, value in errors.items()}
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def _validation(errors: Mapping[str, list[str]]) -> ApiError:
    return ApiError(
        400,
        "Validation failed: " + ", ".join(errors),
        title=VALIDATION_TITLE,
        errors=errors,
    )


@dataclass(kw_only=True)
class VehicleInfo:
    """What Jedlix knows about a car beyond the physics: link, capabilities, settings extras."""

    created_at: datetime
    charging_location_id: str
    is_connected: bool = True
    is_connectable: bool = True
    capabilities: list[str] = field(default_factory=lambda: list(VEHICLE_CAPABILITIES))
    time_zone: str
    enable_smart_charging_at: datetime | None = None
    default_start_battery_level: int | None = None
    charge_state_value: str | None = None
    """Overrides the ``chargeState`` enum served (tests: values Jedlix may add later)."""
    frozen_state: dict[str, Any] | None = None
    """The charge state last heard while the car's link is broken."""


@dataclass(kw_only=True)
class SessionSetting:
    """One setting applied to a session (boost on or off)."""

    id: str
    session_id: str
    type: str
    enabled: bool
    created_at: datetime


@dataclass(kw_only=True)
class ChargingSession:
    """One plug-in episode of one vehicle."""

    id: str
    vehicle_id: str
    charging_location_id: str
    start: datetime
    plugged_at: datetime | None
    smart_charging: bool
    end: datetime | None = None
    status: str = "Active"
    energy_wh: float = 0.0
    settings: list[SessionSetting] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether the episode is still going on."""
        return self.status == "Active"


@dataclass(kw_only=True)
class Message:
    """A message Jedlix shows the user (source of repair issues)."""

    id: str
    type: str
    notification_type: str
    title: str
    body: str
    vehicle_id: str | None
    charging_location_id: str | None
    created_at: datetime
    dismissed_at: datetime | None = None


@dataclass(kw_only=True)
class ChargingLocation:
    """The user's home."""

    id: str
    created_at: datetime
    latitude: float
    longitude: float
    street: str
    house_number: str
    postal_code: str
    city: str


class State:
    """The simulated Jedlix tenant: one API client and one user with its cars."""

    def __init__(self, sim: Simulator) -> None:
        """Generate the fleet, the user's home, past sessions and the sessions under way."""
        self.sim = sim
        self.fleet = sim.new_fleet(NAME, uuid_ids)
        self.credentials: dict[str, str] = dict(PROFILE.demo_credentials)
        self.audience: str | None = None
        """Accepted token audience; None: this environment's own URL (http://host/jedlix)."""
        self.tokens: dict[str, datetime] = {}
        """Issued access token -> expiry (simulated time)."""
        self.token_lifetime = TOKEN_LIFETIME
        self.user_created_at = sim.clock.now() - timedelta(days=400)
        self.info: dict[str, VehicleInfo] = {}
        self.sessions: dict[str, ChargingSession] = {}
        self._open: dict[str, ChargingSession] = {}
        self.messages: dict[str, Message] = {}
        self._counter = 0
        now = sim.clock.now()
        home = ChargingLocation(
            id=make_uuid(sim.seed, NAME, "location", 0),
            created_at=now - timedelta(days=390),
            latitude=52.0907,
            longitude=5.1214,
            street="Oudegracht",
            house_number="1A",
            postal_code="3511 AA",
            city="Utrecht",
        )
        self.locations: dict[str, ChargingLocation] = {home.id: home}
        for vehicle in self.fleet:
            self._adopt(vehicle, now)
        self._track(now)

    # --- Python API for tests --------------------------------------------------------------

    @property
    def user_id(self) -> str:
        """The one user of this tenant."""
        return self.credentials["user_id"]

    @property
    def home(self) -> ChargingLocation:
        """The user's charging location."""
        return next(iter(self.locations.values()))

    def sync(self) -> datetime:
        """Advance the cars to now and record plug-ins and unplugs as sessions."""
        now = self.sim.sync(NAME)
        self._track(now)
        return now

    def expire_tokens(self) -> None:
        """Make every issued token expired (a client must fetch a new one)."""
        now = self.sim.clock.now()
        for token in self.tokens:
            self.tokens[token] = now

    def revoke_tokens(self) -> None:
        """Forget every issued token; the credentials still obtain new ones."""
        self.tokens.clear()

    def revoke_credentials(self) -> None:
        """Revoke the client secret and every token: nothing authenticates any more."""
        self._counter += 1
        self.credentials["client_secret"] = f"revoked-{self._counter}"
        self.tokens.clear()

    def add_vehicle(self, **overrides: Any) -> SimVehicle:
        """Add a generated vehicle (overrides: SimVehicle fields)."""
        now = self.sim.clock.now()
        vehicle = self.fleet.add_vehicle(**overrides)
        self._adopt(vehicle, now, history=False)
        self._track(now)
        return vehicle

    def remove_vehicle(self, vehicle_id: str) -> SimVehicle:
        """Remove a vehicle; a session under way is force-ended."""
        vehicle = self.fleet.remove_vehicle(vehicle_id)
        session = self._open.pop(vehicle_id, None)
        if session is not None:
            self._close(session, self.sim.clock.now(), "ForceEnded")
        self.info.pop(vehicle_id, None)
        return vehicle

    def set_connected(self, vehicle_id: str, connected: bool) -> None:
        """Break (False) or restore the link to the car account; a broken link freezes state."""
        info = self.info[vehicle_id]
        info.is_connected = connected
        if connected:
            info.frozen_state = None
        else:
            self.sync()
            info.frozen_state = self._reported_charge_state(
                self.fleet.vehicles[vehicle_id]
            )

    def set_connectable(self, vehicle_id: str, connectable: bool) -> None:
        """Set ``isConnectable`` (whether Jedlix can steer the car's charging)."""
        self.info[vehicle_id].is_connectable = connectable

    def set_capabilities(self, vehicle_id: str, capabilities: Iterable[str]) -> None:
        """Replace the ``capabilities`` list served for a vehicle (any strings)."""
        self.info[vehicle_id].capabilities = list(capabilities)

    def set_status(self, vehicle_id: str, raw: str | None) -> None:
        """Serve ``raw`` as the vehicle's ``chargeState`` enum (None: the real one)."""
        self.info[vehicle_id].charge_state_value = raw

    def add_message(
        self,
        type: str,
        vehicle_id: str | None = None,
        *,
        notification_type: str = "Banner",
        title: str | None = None,
        body: str | None = None,
        created_at: datetime | None = None,
    ) -> Message:
        """Add a message for the user (newest unless ``created_at`` says otherwise)."""
        self._counter += 1
        now = self.sim.clock.now()
        message = Message(
            id=make_uuid(self.sim.seed, NAME, "message", self._counter),
            type=type,
            notification_type=notification_type,
            title=title if title is not None else f"Message: {type}",
            body=body if body is not None else f"Jedlix says: {type}.",
            vehicle_id=vehicle_id,
            charging_location_id=self.home.id if vehicle_id is None else None,
            created_at=(created_at or now) + timedelta(microseconds=self._counter),
        )
        self.messages[message.id] = message
        return message

    def dismiss_message(self, message_id: str) -> None:
        """Dismiss a message as the user would in the app."""
        self.messages[message_id].dismissed_at = self.sim.clock.now()

    def open_session(self, vehicle_id: str) -> ChargingSession | None:
        """Return the vehicle's session under way (call sync() first)."""
        return self._open.get(vehicle_id)

    def admin_state(self) -> dict[str, Any]:
        """Extra truth for GET /_admin/state."""
        return {
            "user_id": self.user_id,
            "tokens": len(self.tokens),
            "open_sessions": {vid: s.id for vid, s in self._open.items()},
            "messages": [
                {
                    "id": message.id,
                    "type": message.type,
                    "vehicle_id": message.vehicle_id,
                    "dismissed": message.dismissed_at is not None,
                }
                for message in self.messages.values()
            ],
            "vehicle_info": {
                vid: {
                    "is_connected": info.is_connected,
                    "is_connectable": info.is_connectable,
                    "capabilities": list(info.capabilities),
                    "time_zone": info.time_zone,
                }
                for vid, info in self.info.items()
            },
        }

    # --- tokens ----------------------------------------------------------------------------

    def issue_token(self) -> str:
        """Issue a new access token valid for token_lifetime."""
        now = self.sim.clock.now()
        self._counter += 1
        token = make_uuid(self.sim.seed, NAME, "token", self._counter).replace("-", "")
        self.tokens[token] = now + self.token_lifetime
        return token

    def token_valid(self, token: str) -> bool:
        """Whether a bearer token was issued and has not expired."""
        now = self.sim.clock.now()
        expiry = self.tokens.get(token)
        return expiry is not None and now < expiry

    # --- vehicles and sessions -------------------------------------------------------------

    def _adopt(
        self, vehicle: SimVehicle, now: datetime, *, history: bool = True
    ) -> None:
        """Describe a new car: Jedlix has no minimal charge, departure times are per day."""
        index = len(self.info)
        vehicle.minimal_soc = None
        self.info[vehicle.id] = VehicleInfo(
            created_at=now - timedelta(days=300 - 7 * index, hours=index)
            if history
            else now,
            charging_location_id=self.home.id,
            time_zone=self.sim.timezone.key,
        )
        if not history:
            return
        for number in range(HISTORY_SESSIONS, 0, -1):
            start = (now - timedelta(days=number + 1)).replace(
                hour=17, minute=(7 * index + 11 * number) % 60, second=0, microsecond=0
            )
            end = start + timedelta(hours=13, minutes=(13 * index) % 60)
            session = ChargingSession(
                id=make_uuid(self.sim.seed, NAME, "session", vehicle.id, number),
                vehicle_id=vehicle.id,
                charging_location_id=self.home.id,
                start=start,
                plugged_at=None,
                smart_charging=vehicle.smart_charging,
                end=end,
                status="Complete",
                energy_wh=round(vehicle.battery_wh * (0.15 + 0.05 * number)),
            )
            self.sessions[session.id] = session

    def _track(self, now: datetime) -> None:
        for vehicle in self.fleet:
            vid = vehicle.id
            session = self._open.get(vid)
            if session is not None and session.plugged_at == vehicle.plugged_in_at:
                session.energy_wh = vehicle.session_energy_wh
            if vehicle.plugged_in:
                if session is not None and session.plugged_at != vehicle.plugged_in_at:
                    self._close(session, min(now, vehicle.plugged_in_at or now))
                    session = None
                if session is None:
                    self._start(vehicle, now)
            elif session is not None:
                self._close(session, now)

    def _start(self, vehicle: SimVehicle, now: datetime) -> ChargingSession:
        start = vehicle.plugged_in_at or now
        session = ChargingSession(
            id=make_uuid(self.sim.seed, NAME, "session", vehicle.id, start.isoformat()),
            vehicle_id=vehicle.id,
            charging_location_id=self.info[vehicle.id].charging_location_id,
            start=start,
            plugged_at=vehicle.plugged_in_at,
            smart_charging=vehicle.smart_charging,
            energy_wh=vehicle.session_energy_wh,
        )
        self.sessions[session.id] = session
        self._open[vehicle.id] = session
        return session

    def _close(
        self, session: ChargingSession, end: datetime, status: str = "Complete"
    ) -> None:
        session.end = max(end, session.start)
        session.status = status
        self._open.pop(session.vehicle_id, None)

    # --- JSON ------------------------------------------------------------------------------

    def _reported_charge_state(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Return the charge state as Jedlix last captured it (``updatedAt``: then)."""
        vehicle = vehicle.reported
        return {
            "batteryLevel": round(vehicle.soc),
            "range": round(vehicle.range_km),
            "chargeState": CHARGE_STATES[vehicle.status],
            "updatedAt": format_date(vehicle.last_sampled),
        }

    def charge_state(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Return the ``chargeState`` object (frozen while the car's link is broken)."""
        info = self.info[vehicle.id]
        state = dict(info.frozen_state or self._reported_charge_state(vehicle))
        if info.charge_state_value is not None:
            state["chargeState"] = info.charge_state_value
        return state

    def vehicle_json(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Return a vehicle as ``GET /users/{userId}/vehicles`` lists it."""
        info = self.info[vehicle.id]
        return {
            "id": vehicle.id,
            "createdAt": format_date(info.created_at),
            "details": {
                "brand": vehicle.make,
                "model": vehicle.model,
                "version": f"{vehicle.battery_wh / 1000:g} kWh",
            },
            "isConnected": info.is_connected,
            "isConnectable": info.is_connectable,
            "capabilities": list(info.capabilities),
            "chargeState": self.charge_state(vehicle),
        }

    def settings_json(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Return the vehicle's charge settings."""
        info = self.info[vehicle.id]
        departures: dict[str, str] = {}
        for day, key in zip(WEEKDAYS, DAYS, strict=True):
            value = vehicle.weekday_ready_times.get(day, vehicle.ready_time)
            if value is not None and parse_hhmm(value) is not None:
                departures[key] = value
        return {
            "isSmartChargingEnabled": vehicle.smart_charging,
            "enableSmartChargingAt": _optional_date(info.enable_smart_charging_at),
            "desiredBatteryLevel": vehicle.target_soc,
            "defaultStartBatteryLevel": info.default_start_battery_level,
            "departureTimes": departures,
            "timeZone": info.time_zone,
        }

    def session_json(self, session: ChargingSession) -> dict[str, Any]:
        """Return a charging session."""
        calibration = None
        if session.active:
            vehicle = self.fleet.get(session.vehicle_id)
            calibration = (
                "Complete" if vehicle is not None and vehicle.complete else "InProgress"
            )
        return {
            "id": session.id,
            "userId": self.user_id,
            "vehicleId": session.vehicle_id,
            "chargingLocationId": session.charging_location_id,
            "isSmartChargingEnabled": session.smart_charging,
            "status": session.status,
            "calibrationState": calibration,
            "startTime": format_date(session.start),
            "endTime": _optional_date(session.end),
            "chargedEnergy": round(session.energy_wh / 1000, 3),
        }

    def setting_json(self, setting: SessionSetting) -> dict[str, Any]:
        """Return one session setting."""
        return {
            "id": setting.id,
            "sessionId": setting.session_id,
            "type": setting.type,
            "enabled": setting.enabled,
            "createdAt": format_date(setting.created_at),
        }

    def message_json(self, message: Message) -> dict[str, Any]:
        """Return one message."""
        return {
            "id": message.id,
            "userId": self.user_id,
            "vehicleId": message.vehicle_id,
            "chargingLocationId": message.charging_location_id,
            "type": message.type,
            "notificationType": message.notification_type,
            "title": message.title,
            "body": message.body,
            "isDismissed": message.dismissed_at is not None,
            "createdAt": format_date(message.created_at),
            "dismissedAt": _optional_date(message.dismissed_at),
        }

    def location_json(self, location: ChargingLocation) -> dict[str, Any]:
        """Return a charging location, as in the v2 notes' example."""
        return {
            "id": location.id,
            "userId": self.user_id,
            "coordinates": {
                "latitude": location.latitude,
                "longitude": location.longitude,
            },
            "address": {
                "street": location.street,
                "postalCode": location.postal_code,
                "houseNumber": location.house_number,
                "city": location.city,
                "region": "Utrecht",
                "country": "NL",
                "area": "NL",
            },
            "createdAt": format_date(location.created_at),
            "updatedAt": format_date(location.created_at),
        }


# --- request helpers ---------------------------------------------------------------------


def _paging(request: web.Request) -> tuple[int, int]:
    """Read pageSize (1..100, default 20) and pageIndex (from 1, default 1)."""
    errors: dict[str, list[str]] = {}
    values = {"pageSize": PAGE_SIZE_DEFAULT, "pageIndex": 1}
    limits = {"pageSize": (1, PAGE_SIZE_MAX), "pageIndex": (1, 2**31 - 1)}
    for name, (low, high) in limits.items():
        raw = request.query.get(name)
        if raw is None:
            continue
        text = raw.strip()
        if not text.lstrip("-").isdigit() or len(text) > 11:
            errors[name] = [f"The value '{raw}' is not valid for {name}."]
            continue
        value = int(text)
        if not low <= value <= high:
            errors[name] = [f"The field {name} must be between {low} and {high}."]
            continue
        values[name] = value
    if errors:
        raise _validation(errors)
    return values["pageSize"], values["pageIndex"]


def _page[T](
    request: web.Request, items: list[T], render: Callable[[T], dict[str, Any]]
) -> web.Response:
    """Answer one page of an already newest-first list, in the v2 envelope."""
    size, index = _paging(request)
    start = (index - 1) * size
    return web.json_response(
        {
            "pageIndex": index,
            "pageSize": size,
            "totalPages": math.ceil(len(items) / size),
            "totalCount": len(items),
            "items": [render(item) for item in items[start : start + size]],
        }
    )


def _query_time(
    request: web.Request, name: str, errors: dict[str, list[str]]
) -> datetime | None:
    """Read an ISO 8601 (UTC) query time; naive values are UTC."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        errors[name] = [f"The value '{raw}' is not valid for {name}."]
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _bool_query(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise _validation({name: [f"The value '{raw}' is not valid for {name}."]})


def _between(
    when: datetime | None, low: datetime | None, high: datetime | None
) -> bool:
    if low is None and high is None:
        return True
    if when is None:
        return False
    return (low is None or when >= low) and (high is None or when <= high)


async def _json_body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        if required:
            raise _validation({"": ["A non-empty request body is required."]})
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise _validation(
            {"$": [f"The JSON value could not be converted: {err}"]}
        ) from None
    if not isinstance(body, dict):
        raise _validation({"$": ["The JSON value must be an object."]})
    return body


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value == int(value)


def _iso_datetime(value: Any) -> datetime | None:
    """Parse an ISO 8601 date-time (naive means UTC); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _valid_zone(name: Any) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _parse_settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a charge-settings PUT body (the whole object); ValueError-free."""
    errors: dict[str, list[str]] = {}
    smart = body.get("isSmartChargingEnabled")
    if not isinstance(smart, bool):
        errors["isSmartChargingEnabled"] = [
            "The isSmartChargingEnabled field is required."
        ]
    target = body.get("desiredBatteryLevel")
    if not _is_int(target):
        errors["desiredBatteryLevel"] = ["The desiredBatteryLevel field is required."]
    elif not TARGET_MIN <= target <= TARGET_MAX:
        errors["desiredBatteryLevel"] = [
            f"The field desiredBatteryLevel must be between {TARGET_MIN} and {TARGET_MAX}."
        ]
    start_level = body.get("defaultStartBatteryLevel")
    if start_level is not None and (
        not _is_int(start_level) or not 0 <= start_level <= 100
    ):
        errors["defaultStartBatteryLevel"] = [
            "The field defaultStartBatteryLevel must be between 0 and 100."
        ]
    enable_at_raw = body.get("enableSmartChargingAt")
    enable_at: datetime | None = None
    if enable_at_raw is not None:
        enable_at = _iso_datetime(enable_at_raw)
        if enable_at is None:
            errors["enableSmartChargingAt"] = ["The value is not a valid date-time."]
    departures: dict[str, str] = {}
    raw_departures = body.get("departureTimes")
    if raw_departures is not None:
        if not isinstance(raw_departures, dict):
            errors["departureTimes"] = ["The departureTimes field must be an object."]
        else:
            for key, value in raw_departures.items():
                if key not in DAYS:
                    errors[f"departureTimes.{key}"] = [
                        f"'{key}' is not a day of the week."
                    ]
                elif value is None:
                    continue
                elif not isinstance(value, str) or parse_hhmm(value) is None:
                    errors[f"departureTimes.{key}"] = [
                        f"The value '{value}' is not a valid time (HH:mm)."
                    ]
                else:
                    departures[key] = value
    zone = body.get("timeZone")
    if zone is not None and not _valid_zone(zone):
        errors["timeZone"] = [f"'{zone}' is not a known time zone."]
    if errors:
        raise _validation(errors)
    return {
        "smart": smart,
        "target": int(target),
        "start_level": None if start_level is None else int(start_level),
        "enable_at": enable_at,
        "departures": departures,
        "zone": zone,
    }


# --- the API -----------------------------------------------------------------------------


class _Api:
    """The routes of /jedlix/api/v2 and /jedlix-auth/oauth/token."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    @property
    def state(self) -> State:
        return self.sim.jedlix

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Authenticate every API call; problems and HTTP errors as problem+json."""
        try:
            try:
                if request.match_info.http_exception is None:
                    self._authenticate(request)
                return await handler(request)
            except web.HTTPException as err:
                if err.status < 400:
                    raise
                raise ApiError(err.status, err.reason) from None
        except ApiError as err:
            response = err.response(error_body, instance=request.path)
            if err.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            return response

    def _authenticate(self, request: web.Request) -> None:
        state = self.state
        api_key = request.headers.get("ApiKey")
        if not api_key:
            raise ApiError(401, "The ApiKey header is missing.")
        if api_key.strip() != state.credentials["api_key"]:
            raise ApiError(401, "The API key is not valid.")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if not token.strip() or scheme.lower() != "bearer":
            raise ApiError(401, "A bearer token is required.")
        if not state.token_valid(token.strip()):
            raise ApiError(401, "The access token is invalid or has expired.")

    # --- lookups ---------------------------------------------------------------------------

    def _user(self, request: web.Request) -> State:
        state = self.state
        if request.match_info["user_id"] != state.user_id:
            raise ApiError(404, "User not found.")
        state.sync()
        return state

    def _vehicle(self, request: web.Request) -> tuple[State, SimVehicle]:
        state = self._user(request)
        vehicle = state.fleet.get(request.match_info["vehicle_id"])
        if vehicle is None:
            raise ApiError(404, "Vehicle not found.")
        return state, vehicle

    def _session(self, request: web.Request) -> tuple[State, ChargingSession]:
        state = self._user(request)
        session = state.sessions.get(request.match_info["session_id"])
        if session is None:
            raise ApiError(404, "Session not found.")
        return state, session

    # --- token -----------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        """Auth0 client-credentials grant (form or JSON body)."""
        state = self.state
        raw = await request.read()
        params: Mapping[str, Any]
        if request.content_type == "application/json":
            try:
                params = json.loads(raw) if raw.strip() else {}
            except (ValueError, UnicodeDecodeError):
                params = {}
            if not isinstance(params, dict):
                params = {}
        else:
            params = await request.post()
        grant_type = params.get("grant_type")
        if not grant_type:
            return _oauth_error(
                400, "invalid_request", "Missing required parameter: grant_type"
            )
        if grant_type != "client_credentials":
            return _oauth_error(
                403, "unauthorized_client", "Grant type not allowed for the client."
            )
        if (
            params.get("client_id") != state.credentials["client_id"]
            or params.get("client_secret") != state.credentials["client_secret"]
        ):
            return _oauth_error(401, "access_denied", "Unauthorized")
        expected = (
            state.audience or f"{request.scheme}://{request.host}{PREFIX}"
        ).rstrip("/")
        audience = params.get("audience")
        if not isinstance(audience, str) or audience.rstrip("/") != expected:
            return _oauth_error(
                403,
                "access_denied",
                f"Service not enabled within domain: {audience}",
            )
        token = state.issue_token()
        return web.json_response(
            {
                "access_token": token,
                "expires_in": round(state.token_lifetime.total_seconds()),
                "token_type": "Bearer",
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    # --- users and vehicles ----------------------------------------------------------------

    async def list_users(self, request: web.Request) -> web.Response:
        """GET /users (tenant, paged)."""
        state = self.state
        return _page(
            request,
            [state.user_id],
            lambda user_id: {
                "id": user_id,
                "createdAt": format_date(state.user_created_at),
            },
        )

    async def list_user_vehicles(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/vehicles: a plain array with the charge state embedded."""
        state = self._user(request)
        return web.json_response(
            [state.vehicle_json(vehicle) for vehicle in state.fleet]
        )

    async def get_vehicle(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/vehicles/{vehicleId}."""
        state, vehicle = self._vehicle(request)
        return web.json_response(state.vehicle_json(vehicle))

    async def get_vehicle_state(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/vehicles/{vehicleId}/state."""
        state, vehicle = self._vehicle(request)
        return web.json_response(state.charge_state(vehicle))

    async def get_charge_settings(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/vehicles/{vehicleId}/charge-settings."""
        state, vehicle = self._vehicle(request)
        return web.json_response(state.settings_json(vehicle))

    async def put_charge_settings(self, request: web.Request) -> web.Response:
        """PUT …/charge-settings: replaces the whole object; the car follows at once."""
        state, vehicle = self._vehicle(request)
        settings = _parse_settings(await _json_body(request))
        info = state.info[vehicle.id]
        vehicle.smart_charging = settings["smart"]
        vehicle.target_soc = settings["target"]
        vehicle.ready_time = None
        vehicle.weekday_ready_times = {
            day: settings["departures"][key]
            for day, key in zip(WEEKDAYS, DAYS, strict=True)
            if key in settings["departures"]
        }
        info.default_start_battery_level = settings["start_level"]
        info.enable_smart_charging_at = settings["enable_at"]
        info.time_zone = settings["zone"] or state.sim.timezone.key
        state.sync()
        return web.json_response(state.settings_json(vehicle))

    async def list_vehicles(self, request: web.Request) -> web.Response:
        """GET /vehicles (tenant, paged, createdFrom/createdTo)."""
        state = self.state
        state.sync()
        errors: dict[str, list[str]] = {}
        low = _query_time(request, "createdFrom", errors)
        high = _query_time(request, "createdTo", errors)
        if errors:
            raise _validation(errors)
        vehicles = [
            vehicle
            for vehicle in state.fleet
            if _between(state.info[vehicle.id].created_at, low, high)
        ]
        vehicles.sort(key=lambda v: (state.info[v.id].created_at, v.id), reverse=True)
        return _page(
            request,
            vehicles,
            lambda v: {**state.vehicle_json(v), "userId": state.user_id},
        )

    # --- charging locations ----------------------------------------------------------------

    def _locations(self, request: web.Request) -> list[ChargingLocation]:
        state = self.state
        errors: dict[str, list[str]] = {}
        low = _query_time(request, "createdFrom", errors)
        high = _query_time(request, "createdTo", errors)
        if errors:
            raise _validation(errors)
        locations = [
            location
            for location in state.locations.values()
            if _between(location.created_at, low, high)
        ]
        locations.sort(key=lambda item: (item.created_at, item.id), reverse=True)
        return locations

    async def list_locations(self, request: web.Request) -> web.Response:
        """GET /charging-locations (tenant, paged)."""
        return _page(request, self._locations(request), self.state.location_json)

    async def list_user_locations(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/charging-locations (a plain array, unchanged in v2)."""
        state = self._user(request)
        return web.json_response(
            [state.location_json(location) for location in state.locations.values()]
        )

    # --- sessions --------------------------------------------------------------------------

    def _filtered_sessions(self, request: web.Request) -> list[ChargingSession]:
        state = self.state
        errors: dict[str, list[str]] = {}
        bounds = {
            name: _query_time(request, name, errors)
            for name in ("startTimeFrom", "startTimeTo", "endTimeFrom", "endTimeTo")
        }
        if errors:
            raise _validation(errors)
        sessions = [
            session
            for session in state.sessions.values()
            if _between(session.start, bounds["startTimeFrom"], bounds["startTimeTo"])
            and _between(session.end, bounds["endTimeFrom"], bounds["endTimeTo"])
        ]
        sessions.sort(key=lambda item: (item.start, item.id), reverse=True)
        return sessions

    async def list_user_sessions(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/sessions (paged, time filters)."""
        state = self._user(request)
        return _page(request, self._filtered_sessions(request), state.session_json)

    async def list_sessions(self, request: web.Request) -> web.Response:
        """GET /sessions (tenant, paged, time filters)."""
        state = self.state
        state.sync()
        return _page(request, self._filtered_sessions(request), state.session_json)

    async def get_session(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/sessions/{sessionId}."""
        state, session = self._session(request)
        return web.json_response(state.session_json(session))

    async def last_session(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/vehicles/{vehicleId}/sessions/last: 404 without any."""
        state, vehicle = self._vehicle(request)
        sessions = [s for s in state.sessions.values() if s.vehicle_id == vehicle.id]
        if not sessions:
            raise ApiError(404, "No session found for this vehicle.")
        last = max(sessions, key=lambda item: (item.start, item.id))
        return web.json_response(state.session_json(last))

    async def list_session_settings(self, request: web.Request) -> web.Response:
        """GET …/sessions/{sessionId}/session-settings: every setting, newest first."""
        state, session = self._session(request)
        return web.json_response(
            [state.setting_json(item) for item in reversed(session.settings)]
        )

    async def active_session_settings(self, request: web.Request) -> web.Response:
        """GET …/session-settings/active: what is in force on the session under way."""
        state, session = self._session(request)
        if not session.active:
            raise ApiError(404, "The session is not active.")
        vehicle = state.fleet.get(session.vehicle_id)
        latest: dict[str, SessionSetting] = {}
        for setting in session.settings:
            latest[setting.type] = setting
        active = []
        for setting in latest.values():
            item = state.setting_json(setting)
            if setting.type == "boostCharging":
                item["enabled"] = bool(vehicle is not None and vehicle.boost)
            active.append(item)
        return web.json_response(active)

    async def post_session_setting(self, request: web.Request) -> web.Response:
        """POST …/sessions/{sessionId}/session-settings: boost on or off (409 when ended)."""
        state, session = self._session(request)
        body = await _json_body(request)
        errors: dict[str, list[str]] = {}
        setting_type = body.get("type")
        if (
            not isinstance(setting_type, str)
            or setting_type not in SESSION_SETTING_TYPES
        ):
            errors["type"] = [
                f"The value '{setting_type}' is not a valid setting type."
            ]
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            errors["enabled"] = ["The enabled field is required."]
        if errors:
            raise _validation(errors)
        vehicle = state.fleet.get(session.vehicle_id)
        if not session.active or vehicle is None:
            raise ApiError(409, "The session is not active.")
        if not state.info[vehicle.id].is_connectable:
            raise ApiError(409, "The vehicle cannot be controlled.")
        now = self.sim.clock.now()
        setting = SessionSetting(
            id=make_uuid(
                self.sim.seed, NAME, "setting", session.id, len(session.settings)
            ),
            session_id=session.id,
            type=str(setting_type),
            enabled=bool(enabled),
            created_at=now,
        )
        session.settings.append(setting)
        vehicle.boost = bool(enabled)
        state.sync()
        return web.json_response(state.setting_json(setting))

    # --- messages --------------------------------------------------------------------------

    def _message(self, request: web.Request) -> tuple[State, Message]:
        state = self._user(request)
        message = state.messages.get(request.match_info["message_id"])
        if message is None:
            raise ApiError(404, "Message not found.")
        return state, message

    async def list_messages(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/messages (paged; includeDismissed, default true)."""
        state = self._user(request)
        include_dismissed = _bool_query(request, "includeDismissed", default=True)
        messages = [
            message
            for message in state.messages.values()
            if include_dismissed or message.dismissed_at is None
        ]
        messages.sort(key=lambda item: (item.created_at, item.id), reverse=True)
        return _page(request, messages, state.message_json)

    async def get_message(self, request: web.Request) -> web.Response:
        """GET /users/{userId}/messages/{messageId}."""
        state, message = self._message(request)
        return web.json_response(state.message_json(message))

    async def patch_message(self, request: web.Request) -> web.Response:
        """PATCH /users/{userId}/messages/{messageId}: dismiss (``isDismissed``, default true)."""
        state, message = self._message(request)
        body = await _json_body(request, required=False)
        dismissed = body.get("isDismissed", True)
        if not isinstance(dismissed, bool):
            raise _validation(
                {"isDismissed": ["The isDismissed field must be a boolean."]}
            )
        if dismissed and message.dismissed_at is None:
            message.dismissed_at = self.sim.clock.now()
        elif not dismissed:
            message.dismissed_at = None
        return web.json_response(state.message_json(message))


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description},
        status=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def build_app(sim: Simulator) -> web.Application:
    """Build the /jedlix sub-application (the customer environment)."""
    api = _Api(sim)
    app = web.Application(middlewares=[api.middleware])
    user = f"{API}/users/{{user_id}}"
    vehicle = f"{user}/vehicles/{{vehicle_id}}"
    session = f"{user}/sessions/{{session_id}}"
    routes: list[tuple[str, str, Handler]] = [
        ("GET", f"{API}/users", api.list_users),
        ("GET", f"{API}/vehicles", api.list_vehicles),
        ("GET", f"{API}/charging-locations", api.list_locations),
        ("GET", f"{API}/sessions", api.list_sessions),
        ("GET", f"{user}/vehicles", api.list_user_vehicles),
        ("GET", vehicle, api.get_vehicle),
        ("GET", f"{vehicle}/state", api.get_vehicle_state),
        ("GET", f"{vehicle}/charge-settings", api.get_charge_settings),
        ("PUT", f"{vehicle}/charge-settings", api.put_charge_settings),
        ("GET", f"{vehicle}/sessions/last", api.last_session),
        ("GET", f"{user}/charging-locations", api.list_user_locations),
        ("GET", f"{user}/sessions", api.list_user_sessions),
        ("GET", session, api.get_session),
        ("GET", f"{session}/session-settings", api.list_session_settings),
        ("POST", f"{session}/session-settings", api.post_session_setting),
        ("GET", f"{session}/session-settings/active", api.active_session_settings),
        ("GET", f"{user}/messages", api.list_messages),
        ("GET", f"{user}/messages/{{message_id}}", api.get_message),
        ("PATCH", f"{user}/messages/{{message_id}}", api.patch_message),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app


def build_auth_app(sim: Simulator) -> web.Application:
    """Build the /jedlix-auth sub-application (Jedlix's Auth0 tenant)."""
    app = web.Application()
    app.router.add_post(TOKEN_PATH, _Api(sim).token)
    return app


def register(app: web.Application, sim: Simulator) -> None:
    """Mount the environment under /jedlix and the token endpoint under /jedlix-auth."""
    app.add_subapp(PREFIX, build_app(sim))
    app.add_subapp(AUTH_PREFIX, build_auth_app(sim))
