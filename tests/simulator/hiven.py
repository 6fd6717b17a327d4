"""Hiven (hiven.energy), simulated as its vehicle documentation describes it.

Served under ``/hiven``: the client's ``api_url`` is ``http://HOST:PORT/hiven`` and it calls
``{api_url}/v2/hiven/…`` and ``{api_url}/v1/hiven/…`` (vehicle status is ``v1``). Every call
carries ``X-Api-Key`` (the partner's key) and ``X-User-Id`` (the user it acts for); the Smartcar
catalogue calls need only the key. Lists are plain arrays (no paging). The device list holds
one charger next to the cars, as the documentation warns. ``PUT …/ev-preferences`` acts as a
PATCH: each top-level field given replaces the stored one (``weekDaySpecificReadyTimes`` whole).

Hiven publishes no error body; we answer as a NestJS service does (its ValidationPipe and
guards): ``{"statusCode": 400, "message": "…", "error": "Bad Request"}``, and router misses as
``404 Cannot GET /path``. Two users share the API key: the demo user and ``other-hiven-user``,
whose car answers 404 to the demo user.

Our choices where the documentation is silent (the client's [assume] list names its own):
EV-only endpoints answer 409 for a charger; the schedule answers 404 unless the car is plugged
in with smart charging on, and lists only hours before its ``readyTime``; at-location smart
charging needs a charging location (400); unknown body properties are 400 (NestJS
``forbidNonWhitelisted``); PUT and DELETE answer an empty 200.

Strict mode (``State.strict_preferences``, off by default) validates ``PUT …/ev-preferences``
by the documentation's strictest reading: ``chargingBehavior`` is required, and unless it is
``SMART_CHARGE_OFF`` so are ``targetSoC`` and a ready time (``readyTime`` or
``weekDaySpecificReadyTimes``); a body missing one is a 400. ``VARIANTS`` lists it with the
other readings the document permits (e.g. ``epoch_timestamps``: times as epoch strings).

The status (soc, range, chargingStatus and its ``timestamp``) is what Hiven last heard from the
car: ``SimVehicle.reported``, refreshed every ``TELEMETRY_PERIOD`` when the simulator's telemetry
is on. Preferences, schedule and sessions are Hiven's own records and follow the live car.

Smart-charging sessions are plug-in episodes recorded as they are observed (on every request
and ``State.sync()``), so a plug-in and unplug both between two observations leave no trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import hashlib
from http import HTTPStatus
import json
import math
import re
from typing import TYPE_CHECKING, Any, Final
import uuid

from aiohttp import web

from .app import ApiError
from .core import CAR_MODELS, WEEKDAYS, Fleet, SimVehicle, Variant, is_bool, uuid_ids
from .profiles import PROFILES

if TYPE_CHECKING:
    from .core import Simulator

NAME: Final = "hiven"
PROFILE: Final = PROFILES[NAME]
PREFIX: Final = PROFILE.api_path
OTHER_USER_ID: Final = "other-hiven-user"
"""A second user of the same API key; the demo user must not see their car."""

VARIANTS: Final = {
    "strict_preferences": Variant(
        "PUT ev-preferences needs chargingBehavior, and unless it is SMART_CHARGE_OFF "
        "also targetSoC and a ready time (400 otherwise)",
        is_bool,
        strict=True,
    ),
    "epoch_timestamps": Variant(
        'createdAt and the status timestamp as epoch seconds ("s") or milliseconds '
        '("ms") in a string (the document types them "<string>"); null: ISO 8601',
        lambda value: value in (None, "s", "ms"),
    ),
    "status_timestamp_is_response_time": Variant(
        "the status timestamp is when Hiven answered, not when it last heard from the car "
        '(the document types it "<string>" and says no more)',
        is_bool,
    ),
}
"""Readings the document permits that clients need not expect (core.Variant)."""

TELEMETRY_PERIOD: Final = 300.0
"""Default seconds between Hiven's reads of a car (``--telemetry default``); no document gives
one. Hiven reads cars through Smartcar, which most makes only answer when asked: a cloud
polling every 5 minutes is the plausible middle between fresh data and waking the car."""

EV: Final = "EV"
CHARGER: Final = "CHARGER"
BEHAVIOR_OFF: Final = "SMART_CHARGE_OFF"
BEHAVIOR_AT_LOCATION: Final = "SMART_CHARGE_AT_LOCATION"
BEHAVIOR_ANYWHERE: Final = "SMART_CHARGE_ANYWHERE"
CHARGING_BEHAVIORS: Final = (BEHAVIOR_OFF, BEHAVIOR_AT_LOCATION, BEHAVIOR_ANYWHERE)
PERCENT: Final = "PERCENT"
KM: Final = "KM"
SOC_UNITS: Final = (PERCENT, KM)
CHARGING_STATUSES: Final = (
    "CHARGING",
    "NOT_CHARGING",
    "COMPLETE",
    "DISCONNECTED",
    "PLUGGED",
    "CHARGING_COMPLETED",
)
STATUS_BY_SIM: Final = {
    "charging": "CHARGING",
    "plugged_in": "PLUGGED",
    "disconnected": "DISCONNECTED",
}
"""Simulator status -> chargingStatus; "complete" reads COMPLETE or CHARGING_COMPLETED per car."""
SESSION_STATUSES: Final = ("ACTIVE", "COMPLETE", "INTERRUPTED")
SMARTCAR_CAPABILITIES: Final = (
    "READ_LOCATION",
    "EXECUTE_START_AND_STOP",
    "READ_BATTERY_CAPACITY",
)
PREFERENCE_FIELDS: Final = frozenset(
    {
        "chargingBehavior",
        "chargingLocationIds",
        "minimalSoC",
        "targetSoC",
        "readyTime",
        "weekDaySpecificReadyTimes",
        "batteryCapacity",
        "defaultSpotPriceAreaId",
    }
)
HHMM: Final = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
MAX_KM: Final = 2000
SPOT_PRICE_AREA: Final = "NL"
SCHEDULE_HORIZON_HOURS: Final = 48

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def iso(when: datetime) -> str:
    """Format like JavaScript's Date.toISOString(): UTC, milliseconds, ``Z``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def stable_uuid(*parts: object) -> str:
    """Make a deterministic UUID4-shaped id from the given parts."""
    digest = hashlib.blake2b(
        ":".join(str(part) for part in parts).encode(), digest_size=16
    ).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def error_body(status: int, detail: str) -> web.Response:
    """Answer as NestJS does: statusCode, message, error (the status phrase)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return web.json_response(
        {"statusCode": status, "message": detail, "error": phrase}, status=status
    )


def _bad_request(messages: Iterable[str]) -> ApiError:
    return ApiError(400, "; ".join(messages))


@dataclass(kw_only=True)
class HivenVehicle:
    """What Hiven keeps about a car beyond the provider-neutral truth."""

    index: int
    user_id: str
    created_at: datetime
    behavior_when_on: str = BEHAVIOR_ANYWHERE
    """SMART_CHARGE_AT_LOCATION or _ANYWHERE; SimVehicle.smart_charging says whether it is on."""
    location_ids: list[str] = field(default_factory=list)
    target_unit: str = PERCENT
    target_km: float | None = None
    minimal_unit: str = PERCENT
    minimal_km: float | None = None
    reports_capacity: bool = True
    """False: status batteryCapacity is null and the preferences carry it."""
    battery_capacity: float | None = None
    """Preference batteryCapacity (kWh), set by the user when telemetry has none."""
    default_spot_price_area_id: str | None = SPOT_PRICE_AREA
    complete_spelling: str = "COMPLETE"
    status_override: str | None = None
    """A raw chargingStatus forced by a test (e.g. NOT_CHARGING, or an unknown string)."""
    associated_charger_ids: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Session:
    """One smart-charging session (a plug-in episode)."""

    id: str
    vehicle_id: str
    plugged_in_at: datetime | None
    start: datetime
    end: datetime | None = None
    status: str = "ACTIVE"


class State:
    """The simulated Hiven partner account: one API key, two users, their devices."""

    def __init__(self, sim: Simulator) -> None:
        """Generate the demo user's fleet, a second user's car, a charger and a location."""
        self.sim = sim
        self.fleet = sim.new_fleet(NAME, uuid_ids)
        self.credentials: dict[str, str] = dict(PROFILE.demo_credentials)
        self.other_fleet = sim.new_fleet(NAME, uuid_ids, count=1, salt=f"{NAME}-other")
        self.vehicles: dict[str, HivenVehicle] = {}
        self.sessions: dict[str, list[Session]] = {}
        self.charger_id = stable_uuid(NAME, sim.seed, "charger")
        self.location_id = stable_uuid(NAME, sim.seed, "location")
        self.other_location_id = stable_uuid(NAME, sim.seed, "other-location")
        self.strict_preferences = False
        """Validate ev-preferences writes the strict way (see the module docstring)."""
        self.epoch_timestamps: str | None = None
        """``"s"`` or ``"ms"``: createdAt and the status timestamp as epoch strings."""
        self.status_timestamp_is_response_time = False
        """Whether the status ``timestamp`` is the answer's time, not the capture's."""
        self._created = sim.clock.now() - timedelta(days=90)
        self._next_index = 0
        self._observe(sim.clock.now())

    # --- Python API for tests -------------------------------------------------------------

    @property
    def user_id(self) -> str:
        """The demo user (the one the demo credentials name)."""
        return self.credentials["user_id"]

    def users(self) -> dict[str, Fleet]:
        """User id -> that user's cars."""
        return {self.user_id: self.fleet, OTHER_USER_ID: self.other_fleet}

    def revoke_credentials(self) -> None:
        """Revoke the API key: every request answers 401 from now on."""
        self.credentials["api_key"] = "revoked-" + stable_uuid(NAME, "revoked")

    def add_vehicle(self, **overrides: Any) -> SimVehicle:
        """Add a generated car to the demo user (overrides: SimVehicle fields)."""
        vehicle = self.fleet.add_vehicle(**overrides)
        self.sync()
        return vehicle

    def remove_vehicle(self, vehicle_id: str) -> SimVehicle:
        """Remove a car from the demo user (as DELETE /v2/hiven/devices/:id does)."""
        vehicle = self.fleet.remove_vehicle(vehicle_id)
        self._close_open_session(vehicle, self.sim.clock.now())
        return vehicle

    def info(self, vehicle_id: str) -> HivenVehicle:
        """Hiven-only data of a car (mutable: tests may change units, overrides …)."""
        return self.vehicles[vehicle_id]

    def set_status(self, vehicle_id: str, raw: str | None) -> None:
        """Force the raw chargingStatus of a car (None: follow the physics again)."""
        self.vehicles[vehicle_id].status_override = raw

    def sync(self) -> datetime:
        """Advance the cars to now and record their plug-in sessions."""
        now = self.sim.sync(NAME)
        self.other_fleet.sync(now)
        self._observe(now)
        return now

    def sync_vehicle(self, fleet: Fleet, vehicle: SimVehicle) -> datetime:
        """Advance one car to now and record its sessions: what a per-device request reads.

        The other cars catch up at the next sync(); a car's physics does not depend on when
        it is observed, and a status request stays O(1) in a fleet of a thousand cars.
        """
        now = self.sim.clock.now()
        vehicle.advance_to(now, fleet.prices)
        self._track(vehicle, now)
        return now

    def location_of(self, user_id: str) -> str:
        """Return the one charging location each user has."""
        return self.location_id if user_id == self.user_id else self.other_location_id

    def _observe(self, now: datetime) -> None:
        """Give new cars their Hiven data; open and close sessions."""
        for user_id, fleet in self.users().items():
            for vehicle in fleet:
                if vehicle.id not in self.vehicles:
                    self.vehicles[vehicle.id] = self._new_info(vehicle, user_id)
                self._track(vehicle, now)

    def admin_state(self) -> dict[str, Any]:
        """Extra truth for GET /_admin/state."""
        return {
            "user_id": self.user_id,
            "other_user_id": OTHER_USER_ID,
            "other_user_vehicles": [vehicle.as_dict() for vehicle in self.other_fleet],
            "charger_id": self.charger_id,
            "strict_preferences": self.strict_preferences,
            "location_ids": {
                self.user_id: self.location_id,
                OTHER_USER_ID: self.other_location_id,
            },
            "hiven": {
                vehicle_id: {
                    "charging_behavior": self.behavior(self._vehicle_any(vehicle_id)),
                    "location_ids": list(info.location_ids),
                    "status_override": info.status_override,
                }
                for vehicle_id, info in self.vehicles.items()
                if self._vehicle_any(vehicle_id) is not None
            },
        }

    # --- model ----------------------------------------------------------------------------

    def _new_info(self, vehicle: SimVehicle, user_id: str) -> HivenVehicle:
        index = self._next_index
        self._next_index += 1
        own = user_id == self.user_id
        at_location = index % 2 == 0
        info = HivenVehicle(
            index=index,
            user_id=user_id,
            created_at=self._created + timedelta(days=index),
            behavior_when_on=BEHAVIOR_AT_LOCATION if at_location else BEHAVIOR_ANYWHERE,
            location_ids=[self.location_of(user_id)] if at_location else [],
            reports_capacity=index % 3 != 2,
            complete_spelling="COMPLETE" if index % 2 == 0 else "CHARGING_COMPLETED",
            associated_charger_ids=[self.charger_id] if own and index == 0 else [],
        )
        if not info.reports_capacity:
            info.battery_capacity = vehicle.battery_wh / 1000
        return info

    def _vehicle_any(self, vehicle_id: str) -> SimVehicle | None:
        for fleet in self.users().values():
            vehicle = fleet.get(vehicle_id)
            if vehicle is not None:
                return vehicle
        return None

    def behavior(self, vehicle: SimVehicle | None) -> str | None:
        """Return the car's chargingBehavior."""
        if vehicle is None:
            return None
        if not vehicle.smart_charging:
            return BEHAVIOR_OFF
        return self.vehicles[vehicle.id].behavior_when_on

    def charging_status(self, vehicle: SimVehicle) -> str:
        """Return the car's raw chargingStatus."""
        info = self.vehicles[vehicle.id]
        if info.status_override is not None:
            return info.status_override
        status = vehicle.status
        if status == "complete":
            return info.complete_spelling
        return STATUS_BY_SIM[status]

    def _track(self, vehicle: SimVehicle, now: datetime) -> None:
        sessions = self.sessions.setdefault(vehicle.id, [])
        current = sessions[-1] if sessions and sessions[-1].end is None else None
        if current is not None and (
            not vehicle.plugged_in or current.plugged_in_at != vehicle.plugged_in_at
        ):
            self._close(current, vehicle, now)
            current = None
        if vehicle.plugged_in and current is None:
            start = vehicle.plugged_in_at or now
            sessions.append(
                Session(
                    id=stable_uuid(NAME, vehicle.id, start.isoformat()),
                    vehicle_id=vehicle.id,
                    plugged_in_at=vehicle.plugged_in_at,
                    start=start,
                )
            )

    def _close(self, session: Session, vehicle: SimVehicle, now: datetime) -> None:
        session.end = max(session.start, now)
        session.status = (
            "COMPLETE" if vehicle.soc >= vehicle.target_soc - 0.05 else "INTERRUPTED"
        )

    def _close_open_session(self, vehicle: SimVehicle, now: datetime) -> None:
        sessions = self.sessions.get(vehicle.id, [])
        if sessions and sessions[-1].end is None:
            self._close(sessions[-1], vehicle, now)

    # --- JSON -----------------------------------------------------------------------------

    def km_per_percent(self, vehicle: SimVehicle) -> float:
        """Range one percent of charge gives this car."""
        return vehicle.battery_wh / vehicle.consumption_wh_per_km / 100

    def preferences_json(self, vehicle: SimVehicle) -> dict[str, Any]:
        """Render the charging preferences (GET ev-preferences, settings.chargingPreferences)."""
        info = self.vehicles[vehicle.id]
        data: dict[str, Any] = {"chargingBehavior": self.behavior(vehicle)}
        if info.location_ids:
            data["chargingLocationIds"] = list(info.location_ids)
            data["chargingLocations"] = [
                self._location_json(location_id) for location_id in info.location_ids
            ]
        if vehicle.ready_time is not None:
            data["readyTime"] = vehicle.ready_time
        if vehicle.weekday_ready_times:
            data["weekDaySpecificReadyTimes"] = dict(vehicle.weekday_ready_times)
        if info.target_unit == KM and info.target_km is not None:
            data["targetSoC"] = {"value": info.target_km, "unit": KM}
        else:
            data["targetSoC"] = {"value": vehicle.target_soc, "unit": PERCENT}
        if info.minimal_unit == KM and info.minimal_km is not None:
            data["minimalSoC"] = {"value": info.minimal_km, "unit": KM}
        elif vehicle.minimal_soc is not None:
            data["minimalSoC"] = {"value": vehicle.minimal_soc, "unit": PERCENT}
        if info.battery_capacity is not None:
            data["batteryCapacity"] = info.battery_capacity
        if info.default_spot_price_area_id is not None:
            data["defaultSpotPriceAreaId"] = info.default_spot_price_area_id
        return data

    def _location_json(self, location_id: str) -> dict[str, Any]:
        return {
            "coordinates": {"latitude": 52.3702, "longitude": 4.8952},
            "countryCode": "NL",
            "id": location_id,
            "locationId": stable_uuid(NAME, "external-location", location_id),
            "postalCode": "1012 JS",
            "spotPriceAreaId": SPOT_PRICE_AREA,
        }

    def device_json(self, vehicle: SimVehicle) -> dict[str, Any]:
        """One car as the device list and GET /devices/:id show it."""
        info = self.vehicles[vehicle.id]
        return {
            "id": vehicle.id,
            "type": EV,
            "integration": "SMARTCAR",
            "associatedToCharger": bool(info.associated_charger_ids),
            "associatedChargerIds": list(info.associated_charger_ids),
            "createdAt": self.timestamp(info.created_at),
            "attributes": {
                "partnerId": stable_uuid(NAME, "partner"),
                "partnerName": "Smartcar",
                "externalId": stable_uuid(NAME, "smartcar", vehicle.id),
                "userId": info.user_id,
                "vin": vehicle.vin,
                "manufacturer": vehicle.make,
                "year": vehicle.year,
                "model": vehicle.model,
                "name": vehicle.name,
                "deviceType": "VEHICLE",
                "engineType": "BEV",
            },
            "settings": {
                "locationSupported": True,
                "chargingPreferences": self.preferences_json(vehicle),
            },
        }

    def charger_json(self) -> dict[str, Any]:
        """Render the demo user's charger (chargers share the device list; not an EV)."""
        return {
            "id": self.charger_id,
            "type": CHARGER,
            "integration": "OCPP",
            "associatedToCharger": False,
            "associatedChargerIds": [],
            "createdAt": self.timestamp(self._created),
            "attributes": {
                "partnerId": stable_uuid(NAME, "partner"),
                "partnerName": "Easee",
                "externalId": "EH" + self.charger_id[:6].upper(),
                "userId": self.user_id,
                "manufacturer": "Easee",
                "model": "Charge",
                "name": "Driveway charger",
                "deviceType": "CHARGER",
            },
            "settings": {"locationSupported": True},
        }

    def timestamp(self, when: datetime) -> str:
        """Write a device or status time as this server does (``epoch_timestamps``)."""
        if self.epoch_timestamps == "s":
            return str(int(when.timestamp()))
        if self.epoch_timestamps == "ms":
            return str(int(when.timestamp() * 1000))
        return iso(when)

    def status_json(self, vehicle: SimVehicle) -> dict[str, Any]:
        """GET /v1/hiven/devices/:id/status: the telemetry as Hiven last captured it."""
        info = self.vehicles[vehicle.id]
        answered = vehicle.last_sampled
        vehicle = vehicle.reported
        return {
            "id": vehicle.id,
            "timestamp": self.timestamp(
                answered
                if self.status_timestamp_is_response_time
                else vehicle.last_sampled
            ),
            "soc": round(vehicle.soc, 1),
            "range": round(vehicle.range_km, 1),
            "chargingStatus": self.charging_status(vehicle),
            "batteryCapacity": f"{vehicle.battery_wh / 1000:g}"
            if info.reports_capacity
            else None,
        }

    def schedule_json(self, vehicle: SimVehicle, now: datetime) -> dict[str, Any]:
        """Render the plan: the fraction of each UTC hour spent charging, and the ready time."""
        ready = vehicle.next_ready_time(now, self.sim.timezone)
        limit = math.inf if ready is None else ready.timestamp()
        hours: dict[int, float] = {}
        for start, end, _power in vehicle.charge_plan(
            now, self.sim.prices, horizon_hours=SCHEDULE_HORIZON_HOURS
        ):
            begin, finish = start.timestamp(), min(end.timestamp(), limit)
            while begin < finish:
                hour = int(begin // 3600)
                upto = min(finish, (hour + 1) * 3600)
                hours[hour] = hours.get(hour, 0.0) + (upto - begin) / 3600
                begin = upto
        return {
            "id": stable_uuid(NAME, "schedule", vehicle.id, vehicle.plugged_in_at),
            "createdAt": iso(now),
            "hourlyCharges": {
                iso(datetime.fromtimestamp(hour * 3600, UTC)): round(min(1.0, value), 3)
                for hour, value in sorted(hours.items())
                if value > 0.0005
            },
            "spotPriceAreaId": SPOT_PRICE_AREA,
            "readyTime": iso(ready) if ready is not None else None,
            "timeZone": self.sim.timezone.key,
        }

    def sessions_json(self, vehicle: SimVehicle) -> list[dict[str, Any]]:
        """Render the car's smart-charging sessions, newest first."""
        return [
            {
                "id": session.id,
                "deviceId": vehicle.id,
                "startDateTime": iso(session.start),
                "endDateTime": iso(session.end) if session.end is not None else None,
                "status": session.status,
            }
            for session in reversed(self.sessions.get(vehicle.id, []))
        ]


def _smartcar_catalogue() -> list[dict[str, Any]]:
    """Smartcar-compatible models with their capabilities (deterministic)."""
    catalogue = []
    for index, model in enumerate(CAR_MODELS):
        supported = {"READ_BATTERY_CAPACITY"}
        if index % 3 != 2:
            supported.add("READ_LOCATION")
        if model.make in {"Tesla", "Volkswagen", "Kia", "Hyundai", "BMW", "Skoda"}:
            supported.add("EXECUTE_START_AND_STOP")
        capabilities = [name for name in SMARTCAR_CAPABILITIES if name in supported]
        catalogue.append(
            {
                "make": model.make.upper(),
                "model": model.model,
                "yearRange": {"start": model.years[0], "end": model.years[1]},
                "type": "BEV",
                "capabilities": capabilities,
            }
        )
    return catalogue


SMARTCAR_CATALOGUE: Final = _smartcar_catalogue()


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _soc_errors(name: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"{name} must be an object"]
    errors = [
        f"property {name}.{key} should not exist"
        for key in value
        if key not in {"value", "unit"}
    ]
    unit = value.get("unit")
    if unit not in SOC_UNITS:
        errors.append(f"{name}.unit must be one of the following values: PERCENT, KM")
    number = value.get("value")
    if not _is_number(number):
        errors.append(f"{name}.value must be a number")
    elif number < 0:
        errors.append(f"{name}.value must not be less than 0")
    elif unit == PERCENT and number > 100:
        errors.append(f"{name}.value must not be greater than 100")
    elif unit == KM and number > MAX_KM:
        errors.append(f"{name}.value must not be greater than {MAX_KM}")
    return errors


def _validate_preferences(body: Mapping[str, Any]) -> list[str]:
    """Class-validator style messages for an ev-preferences body (empty when valid)."""
    errors = [
        f"property {key} should not exist"
        for key in body
        if key not in PREFERENCE_FIELDS
    ]
    if (
        "chargingBehavior" in body
        and body["chargingBehavior"] not in CHARGING_BEHAVIORS
    ):
        errors.append(
            "chargingBehavior must be one of the following values: "
            + ", ".join(CHARGING_BEHAVIORS)
        )
    if "chargingLocationIds" in body:
        ids = body["chargingLocationIds"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            errors.append("each value in chargingLocationIds must be a string")
    for name in ("targetSoC", "minimalSoC"):
        if name in body:
            errors.extend(_soc_errors(name, body[name]))
    if "readyTime" in body:
        ready = body["readyTime"]
        if not isinstance(ready, str) or not HHMM.fullmatch(ready):
            errors.append("readyTime must be a valid time in HH:mm format")
    if "weekDaySpecificReadyTimes" in body:
        days = body["weekDaySpecificReadyTimes"]
        if not isinstance(days, dict):
            errors.append("weekDaySpecificReadyTimes must be an object")
        else:
            for day, ready in days.items():
                if day not in WEEKDAYS:
                    errors.append(
                        f"weekDaySpecificReadyTimes.{day} is not a day of the week "
                        f"({', '.join(WEEKDAYS)})"
                    )
                elif not isinstance(ready, str) or not HHMM.fullmatch(ready):
                    errors.append(
                        f"weekDaySpecificReadyTimes.{day} must be a valid time in HH:mm format"
                    )
    if "batteryCapacity" in body and (
        not _is_number(body["batteryCapacity"]) or body["batteryCapacity"] <= 0
    ):
        errors.append("batteryCapacity must be a positive number")
    if "defaultSpotPriceAreaId" in body and not isinstance(
        body["defaultSpotPriceAreaId"], str
    ):
        errors.append("defaultSpotPriceAreaId must be a string")
    return errors


def _strict_preference_errors(body: Mapping[str, Any]) -> list[str]:
    """List what the strict reading requires beyond ``_validate_preferences``."""
    if "chargingBehavior" not in body:
        return ["chargingBehavior should not be empty"]
    if body["chargingBehavior"] == BEHAVIOR_OFF:
        return []
    errors = []
    if "targetSoC" not in body:
        errors.append(
            f"targetSoC should not be empty unless chargingBehavior is {BEHAVIOR_OFF}"
        )
    if "readyTime" not in body and "weekDaySpecificReadyTimes" not in body:
        errors.append(
            "readyTime or weekDaySpecificReadyTimes should not be empty unless "
            f"chargingBehavior is {BEHAVIOR_OFF}"
        )
    return errors


class _Api:
    """The routes under /hiven."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    @property
    def state(self) -> State:
        return self.sim.hiven

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """NestJS-shaped errors for router misses (404 for any method) and ApiError."""
        if request.match_info.http_exception is not None:
            return error_body(404, f"Cannot {request.method} {_api_path(request)}")
        try:
            return await handler(request)
        except ApiError as err:
            return err.response(error_body)

    # --- auth -----------------------------------------------------------------------------

    def _check_key(self, request: web.Request) -> None:
        if request.headers.get("X-Api-Key") != self.state.credentials["api_key"]:
            raise ApiError(401, "Unauthorized")

    def _user(self, request: web.Request) -> tuple[str, Fleet]:
        """Authenticate key and user; return the user and their cars."""
        self._check_key(request)
        user_id = request.headers.get("X-User-Id", "")
        fleet = self.state.users().get(user_id)
        if fleet is None:
            raise ApiError(401, "Unauthorized")
        return user_id, fleet

    def _device(self, request: web.Request) -> tuple[Fleet, SimVehicle | None]:
        """Return the caller's requested device: a car, or None for their charger."""
        user_id, fleet = self._user(request)
        device_id = request.match_info["device_id"]
        vehicle = fleet.get(device_id)
        if vehicle is not None:
            return fleet, vehicle
        if device_id == self.state.charger_id and user_id == self.state.user_id:
            return fleet, None
        raise ApiError(404, f"Device with id {device_id} not found")

    def _ev(self, request: web.Request) -> SimVehicle:
        _fleet, vehicle = self._device(request)
        if vehicle is None:
            device_id = request.match_info["device_id"]
            raise ApiError(409, f"Device with id {device_id} is not an EV")
        return vehicle

    # --- devices --------------------------------------------------------------------------

    async def list_devices(self, request: web.Request) -> web.Response:
        """GET /v2/hiven/devices?userId=: every device of the user, chargers included."""
        user_id, fleet = self._user(request)
        query_user = request.query.get("userId")
        if not query_user:
            raise _bad_request(["userId should not be empty"])
        if query_user != user_id:
            raise ApiError(403, "Forbidden resource")
        state = self.state
        state.sync()
        devices = [state.device_json(vehicle) for vehicle in fleet]
        if user_id == state.user_id:
            devices.insert(min(1, len(devices)), state.charger_json())
        return web.json_response(devices)

    async def get_device(self, request: web.Request) -> web.Response:
        """GET /v2/hiven/devices/:id."""
        self.state.sync()
        _fleet, vehicle = self._device(request)
        if vehicle is None:
            return web.json_response(self.state.charger_json())
        return web.json_response(self.state.device_json(vehicle))

    async def delete_device(self, request: web.Request) -> web.Response:
        """DELETE /v2/hiven/devices/:id: the car leaves Hiven (empty answer)."""
        state = self.state
        state.sync()
        fleet, vehicle = self._device(request)
        if vehicle is None:
            raise ApiError(
                409, f"Device with id {request.match_info['device_id']} is not an EV"
            )
        fleet.remove_vehicle(vehicle.id)
        state._close_open_session(vehicle, self.sim.clock.now())
        return web.Response(status=200)

    def _synced_ev(self, request: web.Request) -> tuple[SimVehicle, datetime]:
        """Return the requested car, advanced to now (the rest of the fleet is not read)."""
        fleet, vehicle = self._device(request)
        if vehicle is None:
            device_id = request.match_info["device_id"]
            raise ApiError(409, f"Device with id {device_id} is not an EV")
        return vehicle, self.state.sync_vehicle(fleet, vehicle)

    async def get_status(self, request: web.Request) -> web.Response:
        """GET /v1/hiven/devices/:id/status."""
        vehicle, _now = self._synced_ev(request)
        return web.json_response(self.state.status_json(vehicle))

    async def get_preferences(self, request: web.Request) -> web.Response:
        """GET /v2/hiven/devices/:id/smart-charging/ev-preferences."""
        self.state.sync()
        return web.json_response(self.state.preferences_json(self._ev(request)))

    async def put_preferences(self, request: web.Request) -> web.Response:
        """PUT ev-preferences: validate, then replace each given top-level field."""
        state = self.state
        state.sync()
        vehicle = self._ev(request)
        body = await _json_object(request)
        errors = _validate_preferences(body)
        if not errors and state.strict_preferences:
            errors = _strict_preference_errors(body)
        if errors:
            raise _bad_request(errors)
        info = state.vehicles[vehicle.id]
        behavior = body.get("chargingBehavior", state.behavior(vehicle))
        locations = body.get("chargingLocationIds", info.location_ids)
        if behavior == BEHAVIOR_AT_LOCATION and not locations:
            message = f"chargingLocationIds should not be empty when chargingBehavior is {BEHAVIOR_AT_LOCATION}"
            raise _bad_request([message])
        unknown = [
            location
            for location in locations
            if location != state.location_of(info.user_id)
        ]
        if unknown:
            raise _bad_request([f"Location with id {unknown[0]} not found"])
        target = self._percent_of(vehicle, body.get("targetSoC"), vehicle.target_soc)
        minimal = self._percent_of(vehicle, body.get("minimalSoC"), vehicle.minimal_soc)
        if minimal is not None and minimal > target:
            raise _bad_request(["minimalSoC must not be greater than targetSoC"])
        self._apply(vehicle, info, body, target, minimal)
        state.sync()
        return web.Response(status=200)

    def _percent_of(
        self, vehicle: SimVehicle, soc: dict[str, Any] | None, current: int | None
    ) -> int | None:
        if soc is None:
            return current
        if soc["unit"] == PERCENT:
            return round(soc["value"])
        return min(100, round(soc["value"] / self.state.km_per_percent(vehicle)))

    def _apply(
        self,
        vehicle: SimVehicle,
        info: HivenVehicle,
        body: Mapping[str, Any],
        target: int | None,
        minimal: int | None,
    ) -> None:
        if "chargingBehavior" in body:
            behavior = body["chargingBehavior"]
            vehicle.smart_charging = behavior != BEHAVIOR_OFF
            if behavior != BEHAVIOR_OFF:
                info.behavior_when_on = behavior
        if "chargingLocationIds" in body:
            info.location_ids = list(body["chargingLocationIds"])
        if "targetSoC" in body and target is not None:
            vehicle.target_soc = target
            info.target_unit = body["targetSoC"]["unit"]
            info.target_km = (
                body["targetSoC"]["value"] if info.target_unit == KM else None
            )
        if "minimalSoC" in body:
            vehicle.minimal_soc = minimal
            info.minimal_unit = body["minimalSoC"]["unit"]
            info.minimal_km = (
                body["minimalSoC"]["value"] if info.minimal_unit == KM else None
            )
        if "readyTime" in body:
            vehicle.ready_time = body["readyTime"]
        if "weekDaySpecificReadyTimes" in body:
            vehicle.weekday_ready_times = dict(body["weekDaySpecificReadyTimes"])
        if "batteryCapacity" in body:
            info.battery_capacity = body["batteryCapacity"]
        if "defaultSpotPriceAreaId" in body:
            info.default_spot_price_area_id = body["defaultSpotPriceAreaId"]

    async def get_schedule(self, request: web.Request) -> web.Response:
        """GET …/smart-charging/schedule: 404 unless plugged in with smart charging on."""
        vehicle, now = self._synced_ev(request)
        if not (vehicle.plugged_in and vehicle.smart_charging):
            raise ApiError(
                404, f"Smart charging schedule for device {vehicle.id} not found"
            )
        return web.json_response(self.state.schedule_json(vehicle, now))

    async def get_sessions(self, request: web.Request) -> web.Response:
        """GET …/smart-charging/sessions: newest first."""
        self.state.sync()
        return web.json_response(self.state.sessions_json(self._ev(request)))

    # --- Smartcar catalogue ---------------------------------------------------------------

    async def smartcar_makes(self, request: web.Request) -> web.Response:
        """GET /v2/hiven/vehicles/smartcar/makes (API key only)."""
        self._check_key(request)
        return web.json_response(
            sorted({entry["make"] for entry in SMARTCAR_CATALOGUE})
        )

    async def smartcar_capabilities(self, request: web.Request) -> web.Response:
        """GET /v2/hiven/vehicles/smartcar/capabilities?supporting=&not_supporting=."""
        self._check_key(request)
        wanted = _capability_filter(request, "supporting")
        unwanted = _capability_filter(request, "not_supporting")
        return web.json_response(
            [
                entry
                for entry in SMARTCAR_CATALOGUE
                if wanted <= set(entry["capabilities"])
                and not unwanted & set(entry["capabilities"])
            ]
        )

    async def device_capabilities(self, request: web.Request) -> web.Response:
        """GET /v1/hiven/devices/smartcar/:id/capabilities?forceRefresh= (API key only)."""
        self._check_key(request)
        force = request.query.get("forceRefresh")
        if force is not None and force not in {"true", "false"}:
            raise _bad_request(["forceRefresh must be a boolean value"])
        device_id = request.match_info["device_id"]
        self.state.sync()
        vehicle = self.state._vehicle_any(device_id)
        if vehicle is None:
            raise ApiError(404, f"Device with id {device_id} not found")
        model = next(
            (
                entry
                for entry in SMARTCAR_CATALOGUE
                if entry["make"] == vehicle.make.upper()
                and entry["model"] == vehicle.model
            ),
            None,
        )
        return web.json_response(
            list(model["capabilities"]) if model else ["READ_BATTERY_CAPACITY"]
        )


def _api_path(request: web.Request) -> str:
    path = request.path
    return path.removeprefix(PREFIX)


def _capability_filter(request: web.Request, name: str) -> set[str]:
    values = {
        part.strip()
        for raw in request.query.getall(name, [])
        for part in raw.split(",")
        if part.strip()
    }
    bad = sorted(values - set(SMARTCAR_CAPABILITIES))
    if bad:
        raise _bad_request(
            [
                f"each value in {name} must be one of the following values: "
                + ", ".join(SMARTCAR_CAPABILITIES)
            ]
        )
    return values


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as err:
        raise _bad_request(
            [f"Unexpected token in JSON at position {_position(err)}"]
        ) from None
    if not isinstance(body, dict):
        raise _bad_request(["Request body must be a JSON object"])
    return body


def _position(err: Exception) -> int:
    return getattr(err, "pos", 0) or 0


def build_app(sim: Simulator) -> web.Application:
    """Build the /hiven sub-application."""
    api = _Api(sim)
    app = web.Application(middlewares=[api.middleware])
    router = app.router
    devices = "/v2/hiven/devices"
    router.add_get(devices, api.list_devices, allow_head=False)
    router.add_get(f"{devices}/{{device_id}}", api.get_device, allow_head=False)
    router.add_delete(f"{devices}/{{device_id}}", api.delete_device)
    router.add_get(
        "/v1/hiven/devices/{device_id}/status", api.get_status, allow_head=False
    )
    preferences = f"{devices}/{{device_id}}/smart-charging/ev-preferences"
    router.add_get(preferences, api.get_preferences, allow_head=False)
    router.add_put(preferences, api.put_preferences)
    router.add_get(
        f"{devices}/{{device_id}}/smart-charging/schedule",
        api.get_schedule,
        allow_head=False,
    )
    router.add_get(
        f"{devices}/{{device_id}}/smart-charging/sessions",
        api.get_sessions,
        allow_head=False,
    )
    router.add_get(
        "/v2/hiven/vehicles/smartcar/makes", api.smartcar_makes, allow_head=False
    )
    router.add_get(
        "/v2/hiven/vehicles/smartcar/capabilities",
        api.smartcar_capabilities,
        allow_head=False,
    )
    router.add_get(
        "/v1/hiven/devices/smartcar/{device_id}/capabilities",
        api.device_capabilities,
        allow_head=False,
    )
    return app


def register(app: web.Application, sim: Simulator) -> None:
    """Mount the API at /hiven."""
    app.add_subapp(PREFIX, build_app(sim))
