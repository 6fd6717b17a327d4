"""Kempower ChargEye for Depots: commercial fleets (buses, trucks) charging at depots.

The Vehicles API knows the fleet and each vehicle's depot schedules with the charging plan
ChargEye computed for them, but no live telemetry. A vehicle's state is therefore what the
plan says for "now": the plan segment covering the current time gives the charging power and
the state of charge (interpolated between the segment's start and end), and the schedule's
arrival-departure window says whether the vehicle is at the depot.

Auth: a long-lived refresh token is exchanged at ``GET /auth/refreshAccessToken`` for a JWT
(about 8 h), cached and renewed shortly before ``validUntil``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
import hashlib
import json as jsonlib
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from .base import ConfigField, Provider
from .chargeye_plan import PlannedSchedule, parse_upcoming, plan_state, target_of
from .errors import (
    ChargeBridgeError,
    DepartureBeforeArrivalError,
    InvalidDatetimeError,
    InvalidVehicleError,
    NothingToChangeError,
    OutOfRangeError,
    ProviderAuthError,
    ProviderForbiddenError,
    ProviderRejectedError,
    ProviderResponseError,
    UnsupportedError,
)
from .models import (
    Account,
    Capabilities,
    ChargingPreferences,
    DepotScheduleRequest,
    Feature,
    PreferencesUpdate,
    Schedule,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
)
from .payload import Payload

TOKEN_PATH = "/auth/refreshAccessToken"
VEHICLES_PATH = "/vehicles"
VEHICLE_PATH = "/vehicles/{vehicle_id}"
ACCOUNT_TITLE = "ChargEye"

# [assume] The per-vehicle schedule endpoints are not public; we use
# /vehicles/{vehicleId}/schedules (GET list, POST add, PATCH) and .../schedules/upcoming.
SCHEDULES_PATH = "/vehicles/{vehicle_id}/schedules"
UPCOMING_PATH = "/vehicles/{vehicle_id}/schedules/upcoming"

BASE_FEATURES = frozenset(
    {
        Feature.STATE_OF_CHARGE,
        Feature.CHARGING_STATUS,
        Feature.CHARGING,
        Feature.PLUGGED_IN,
        Feature.CHARGE_POWER,
        Feature.ENERGY_ADDED,
        Feature.BATTERY_CAPACITY,
        Feature.NEXT_DEPARTURE,
        Feature.LAST_UPDATE,
        Feature.SMART_CHARGING,
        Feature.DEPOT_SCHEDULES,
    }
)
"""What every ChargEye vehicle offers; TARGET_SOC is added while a schedule is upcoming."""

SOC_MIN = 0
SOC_MAX = 100

CAPABILITIES = Capabilities(
    features=BASE_FEATURES, target_soc_min=SOC_MIN, target_soc_max=SOC_MAX
)
CAPABILITIES_WITH_TARGET = Capabilities(
    features=BASE_FEATURES | {Feature.TARGET_SOC},
    target_soc_min=SOC_MIN,
    target_soc_max=SOC_MAX,
)


# [assume] ChargEye's JWT claims are not documented. The account's identity (the config
# entry's unique id, so one organisation cannot be added twice) is the first of these
# claims the token carries; without any, it is derived from the organisation's depots
# (GET /locations, public). A wrong guess costs nothing but that identity's form.
IDENTITY_CLAIMS = ("org", "organisationId", "organizationId", "sub")
LOCATIONS_PATH = "/locations"


def identity_claim(provider: str, token: str) -> str | None:
    """Return the account identity an access token names, if it names one (unverified)."""
    try:
        claims = jwt_claims(provider, token)
    except ProviderResponseError:
        return None
    for name in IDENTITY_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return str(value)
    return None


def depot_identity(location_ids: list[str], api_url: str) -> str:
    """Derive a stable account identity from the organisation's depots.

    Without depots the server itself is the account (one organisation per server).
    """
    if not location_ids:
        return urlsplit(api_url).hostname or api_url
    digest = hashlib.sha256("\n".join(sorted(location_ids)).encode()).hexdigest()
    return f"depots-{digest[:16]}"


def jwt_claims(provider: str, token: str) -> dict[str, Any]:
    """Decode a JWT's payload without verifying it; never puts the token in an error."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ProviderResponseError(provider, "access token is not a JWT", "token")
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        claims = jsonlib.loads(raw)
    except (binascii.Error, ValueError):
        raise ProviderResponseError(
            provider, "access token payload is unreadable", "token"
        ) from None
    if not isinstance(claims, dict):
        raise ProviderResponseError(
            provider, "access token payload is not an object", "token"
        )
    return claims


def format_time(value: datetime) -> str:
    """Write an aware datetime as ISO 8601 in UTC with milliseconds and ``Z``."""
    return (
        value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    """The parts of a ChargEye vehicle the integration uses."""

    id: str
    name: str
    model: str | None
    vin: str | None
    battery_capacity_wh: float | None
    smart_charging: bool | None


def parse_vehicle(payload: Payload) -> VehicleRecord:
    """Read a vehicle (``GET /vehicles/{id}``, or ``vehicle`` in the list)."""
    vehicle_id = payload.req_str("id")
    capacity_kwh = payload.opt_float("fullChargeEnergykWh")
    return VehicleRecord(
        id=vehicle_id,
        name=payload.opt_str("name") or payload.opt_str("licensePlate") or vehicle_id,
        model=payload.opt_str("evModel") or None,
        vin=payload.opt_str("vin") or None,
        battery_capacity_wh=None if capacity_kwh is None else capacity_kwh * 1000,
        smart_charging=payload.opt_bool("enableChargeScheduling"),
    )


def parse_vehicle_item(item: Payload) -> VehicleRecord:
    """Read one item of ``GET /vehicles`` (``{"vehicle": {...}, "v2icp": {...}}``)."""
    vehicle = item.opt_obj("vehicle")
    if vehicle is None:
        raise ProviderResponseError(
            item.provider, "missing required field", f"{item.path}.vehicle"
        )
    return parse_vehicle(vehicle)


def _vehicle_id_of(item: Any) -> str | None:
    """Return the id of an unreadable vehicle list item, if even that is there."""
    if isinstance(item, dict) and isinstance(item.get("vehicle"), dict):
        vehicle_id = item["vehicle"].get("id")
        if isinstance(vehicle_id, str) and vehicle_id:
            return vehicle_id
    return None


@dataclass(kw_only=True)
class ChargEyeClient(Provider):
    """A client for one ChargEye organisation (its refresh token)."""

    name: ClassVar[str] = "chargeye"
    title: ClassVar[str] = "Kempower ChargEye"
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(key="api_url", default="https://kempower.io/api", url=True),
        ConfigField(key="refresh_token", secret=True),
    )
    estimated: ClassVar[frozenset[Feature]] = frozenset(
        {
            Feature.STATE_OF_CHARGE,
            Feature.CHARGING_STATUS,
            Feature.CHARGE_POWER,
            Feature.ENERGY_ADDED,
            Feature.CHARGING,
            Feature.PLUGGED_IN,
        }
    )
    """No live telemetry: the state is what the plan says for now."""
    default_scan_interval: ClassVar[timedelta] = timedelta(minutes=5)
    min_scan_interval: ClassVar[timedelta] = timedelta(minutes=1)
    uses_access_token: ClassVar[bool] = True

    refresh_token: str = field(repr=False)
    _schedule_ids: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    """The current-or-next schedule id per vehicle, from the last fleet refresh."""

    # Auth.

    async def _async_fetch_token(self) -> tuple[str, datetime]:
        """Exchange the refresh token for a JWT and its expiry."""
        try:
            response = await self._request(
                "GET",
                self.api_url + TOKEN_PATH,
                headers={"Authorization": f"Bearer {self.refresh_token}"},
                authenticated=False,
            )
        except (ProviderAuthError, ProviderForbiddenError):
            # At the token endpoint a 403 too means the refresh token is refused.
            raise ProviderAuthError(
                self.name, "refresh token refused (revoked or invalid)"
            ) from None
        payload = Payload(self.name, response.data, "token response")
        token = payload.req_str("token")
        valid_until = payload.opt_datetime("validUntil")
        if valid_until is None:
            expires = jwt_claims(self.name, token).get("exp")
            if not isinstance(expires, int | float) or isinstance(expires, bool):
                raise ProviderResponseError(
                    self.name, "missing required field", "token response.validUntil"
                )
            try:
                valid_until = datetime.fromtimestamp(expires, UTC)
            except (OverflowError, OSError, ValueError):
                raise ProviderResponseError(
                    self.name, "wrong type for field", "token.exp"
                ) from None
        return token, valid_until

    async def _async_auth_headers(self) -> dict[str, str]:
        """Send the cached JWT."""
        return {"Authorization": f"Bearer {await self._async_access_token()}"}

    # The Provider interface.

    async def async_validate(self) -> Account:
        """Obtain a token, list the vehicles, and name the account (never fails on claims)."""
        await self._request("GET", self.api_url + VEHICLES_PATH)
        identity = identity_claim(self.name, await self._async_access_token())
        if identity is None:
            identity = depot_identity(await self._async_location_ids(), self.api_url)
        return Account(unique_id=identity, title=ACCOUNT_TITLE)

    async def _async_location_ids(self) -> list[str]:
        """Read the ids of the organisation's depots (``GET /locations``)."""
        response = await self._request("GET", self.api_url + LOCATIONS_PATH)
        root = Payload(self.name, response.data, "locations response")
        return [
            location.req_str("id")
            for location in root.objects("locations")
            if location.has("id")
        ]

    # The fleet: the vehicle list, then each one's upcoming schedule (1 + N requests).

    async def _async_list_vehicles(self) -> Sequence[tuple[str, Any]]:
        response = await self._request("GET", self.api_url + VEHICLES_PATH)
        root = Payload(self.name, response.data, "vehicles response")
        return [
            (f"{root.path}.vehicles[{index}]", item)
            for index, item in enumerate(root.opt_list("vehicles"))
        ]

    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot:
        record = parse_vehicle_item(item)
        return VehicleSnapshot(
            vehicle=Vehicle(
                id=record.id,
                name=record.name,
                model=record.model,
                vin=record.vin,
                capabilities=self._capabilities(record.id),
            ),
            state=VehicleState(battery_capacity_wh=record.battery_capacity_wh),
            preferences=ChargingPreferences(smart_charging=record.smart_charging),
        )

    def _unreadable_item_id(self, item: Any) -> str | None:
        return _vehicle_id_of(item)

    def _unreadable_capabilities(self, vehicle_id: str) -> Capabilities:
        return self._capabilities(vehicle_id)

    def _needs_enrichment(self, snapshot: VehicleSnapshot) -> bool:
        return True

    def _vehicle_caches(self) -> Sequence[dict[str, Any]]:
        return (self._schedule_ids,)

    async def _async_enrich(
        self, snapshot: VehicleSnapshot, problems: list[ChargeBridgeError]
    ) -> VehicleSnapshot:
        """Derive the state from the current (or next) and the previous schedule."""
        vehicle_id = snapshot.vehicle.id
        previous, current = await self._async_upcoming(vehicle_id)
        if current is None:
            self._schedule_ids.pop(vehicle_id, None)
        else:
            self._schedule_ids[vehicle_id] = current.schedule.id
        vehicle = snapshot.vehicle
        capabilities = self._capabilities(vehicle_id)
        if vehicle.capabilities is not capabilities:
            vehicle = replace(vehicle, capabilities=capabilities)
        return VehicleSnapshot(
            vehicle=vehicle,
            state=plan_state(
                snapshot.state.battery_capacity_wh, previous, current, self.clock()
            ),
            preferences=ChargingPreferences(
                smart_charging=snapshot.preferences.smart_charging,
                target_soc=target_of(current),
            ),
            schedule=None
            if current is None
            else Schedule(
                next_departure=current.schedule.planned_departure,
                slots=tuple(s.slot() for s in current.upcoming if s.charging),
            ),
        )

    def _capabilities(self, vehicle_id: str) -> Capabilities:
        """Target SoC only while the vehicle has a schedule to set it on."""
        if vehicle_id in self._schedule_ids:
            return CAPABILITIES_WITH_TARGET
        return CAPABILITIES

    async def _async_update_preferences(
        self, snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        """Switch charge scheduling on the vehicle; set the target on its current schedule."""
        vehicle_id = snapshot.vehicle.id
        preferences = snapshot.preferences
        if update.smart_charging is not None:
            response = await self._request(
                "PATCH",
                self._url(VEHICLE_PATH, vehicle_id),
                json={"enableChargeScheduling": update.smart_charging},
            )
            result = Payload(self.name, response.data, "vehicle patch response")
            if result.opt_bool("success") is not True:
                raise ProviderRejectedError(
                    self.name,
                    response.status,
                    result.opt_str("message") or "vehicle update not applied",
                )
            preferences = replace(preferences, smart_charging=update.smart_charging)
        if update.target_soc is not None:
            schedule_id = self._schedule_ids.get(vehicle_id)
            if schedule_id is None:
                _, current = await self._async_upcoming(vehicle_id)
                if current is None:
                    raise UnsupportedError(
                        self.name, "the vehicle has no schedule to set a target on"
                    )
                schedule_id = current.schedule.id
            status, skipped, message = await self._async_patch(
                vehicle_id, [{"id": schedule_id, "targetSoC": update.target_soc}]
            )
            if schedule_id in skipped:
                raise ProviderRejectedError(
                    self.name, status, message or "the schedule was skipped"
                )
            preferences = replace(preferences, target_soc=update.target_soc)
        return preferences

    # Depot schedules.

    async def async_add_schedules(
        self,
        vehicle_id: str,
        schedules: Sequence[DepotScheduleRequest],
        *,
        replace_future: bool,
    ) -> tuple[list[str], list[str]]:
        """Add schedules (with ``replace_future``: make them the only future ones).

        Returns the ids of the schedules created or updated, and of those removed.
        """
        self._check_vehicle_id(vehicle_id)
        if not schedules and not replace_future:
            raise NothingToChangeError(self.name, "no schedules to add")
        body = {
            "replaceFutureSchedules": replace_future,
            "schedules": [self._posted(request) for request in schedules],
        }
        response = await self._request(
            "POST", self._url(SCHEDULES_PATH, vehicle_id), json=body
        )
        root = Payload(self.name, response.data, "add schedules response")
        return (
            self._strings(root, "ids"),
            self._strings(root, "removedScheduleIds"),
        )

    # Helpers.

    def _url(self, template: str, vehicle_id: str) -> str:
        return self.api_url + template.format(vehicle_id=quote(vehicle_id, safe=""))

    async def _async_upcoming(
        self, vehicle_id: str
    ) -> tuple[PlannedSchedule | None, PlannedSchedule | None]:
        response = await self._request("GET", self._url(UPCOMING_PATH, vehicle_id))
        return parse_upcoming(
            Payload(self.name, response.data, f"upcoming[{vehicle_id}]"), vehicle_id
        )

    async def _async_patch(
        self, vehicle_id: str, patches: list[dict[str, Any]]
    ) -> tuple[int, list[str], str | None]:
        """Send an EvSchedulePatch list; return the status, skipped ids and message."""
        response = await self._request(
            "PATCH", self._url(SCHEDULES_PATH, vehicle_id), json={"schedules": patches}
        )
        root = Payload(self.name, response.data, "patch schedules response")
        message = root.opt_str("message")
        if root.opt_bool("success") is False:
            raise ProviderRejectedError(
                self.name, response.status, message or "schedules not updated"
            )
        return response.status, self._strings(root, "skippedScheduleIds"), message

    def _strings(self, root: Payload, key: str) -> list[str]:
        values = root.opt_list(key)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise ProviderResponseError(
                    self.name, "wrong type for field", f"{root.path}.{key}[{index}]"
                )
        return list(values)

    def _check_vehicle_id(self, vehicle_id: str) -> None:
        if not isinstance(vehicle_id, str) or not vehicle_id:
            raise InvalidVehicleError(self.name, "a vehicle id is required")

    def _aware(self, name: str, value: datetime) -> datetime:
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise InvalidDatetimeError(
                self.name, name, f"{name} must be a date and time with a time zone"
            )
        return value

    def _soc(self, name: str, value: float) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not SOC_MIN <= value <= SOC_MAX
        ):
            raise OutOfRangeError(self.name, name, value, SOC_MIN, SOC_MAX)
        return value

    def _window(self, arrival: datetime, departure: datetime) -> None:
        if departure <= arrival:
            raise DepartureBeforeArrivalError(
                self.name, arrival.isoformat(), departure.isoformat()
            )

    def _posted(self, request: DepotScheduleRequest) -> dict[str, Any]:
        """Build a PostedSchedule from a caller's request, validated."""
        arrival = self._aware("planned_arrival", request.planned_arrival)
        departure = self._aware("planned_departure", request.planned_departure)
        self._window(arrival, departure)
        posted: dict[str, Any] = {
            "plannedArrivalTime": format_time(arrival),
            "plannedDepartureTime": format_time(departure),
            "targetSoC": self._soc("target_soc", request.target_soc),
        }
        if request.start_soc is not None:
            posted["startSoC"] = self._soc("start_soc", request.start_soc)
        if request.location_uid is not None:
            posted["locationUid"] = request.location_uid
        if request.recurrence_rule is not None:
            posted["recurrenceRule"] = request.recurrence_rule
        return posted
