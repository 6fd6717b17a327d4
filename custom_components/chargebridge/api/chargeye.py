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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
import json as jsonlib
from typing import Any, ClassVar
from urllib.parse import quote

from .base import Payload, Provider
from .errors import (
    ChargeBridgeError,
    InvalidInputError,
    ProviderAuthError,
    ProviderRejectedError,
    ProviderResponseError,
    UnsupportedError,
)
from .models import (
    Account,
    Capabilities,
    ChargingPreferences,
    ChargingSlot,
    ChargingStatus,
    DepotSchedule,
    DepotScheduleRequest,
    Feature,
    Fleet,
    PreferencesUpdate,
    ProviderName,
    Schedule,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
)

TOKEN_PATH = "/auth/refreshAccessToken"
VEHICLES_PATH = "/vehicles"
VEHICLE_PATH = "/vehicles/{vehicle_id}"
ACCOUNT_TITLE = "ChargEye"

# [assume] The per-vehicle schedule endpoints are not public; we use
# /vehicles/{vehicleId}/schedules (GET list, POST add, PATCH) and .../schedules/upcoming.
SCHEDULES_PATH = "/vehicles/{vehicle_id}/schedules"
UPCOMING_PATH = "/vehicles/{vehicle_id}/schedules/upcoming"

# [assume] The schedule list's time-range filter takes ISO 8601 times in query
# parameters named "from" and "to".
RANGE_QUERY = ("from", "to")

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


# [assume] ChargEye's JWT claims are not documented; the organisation is read from the
# claim "org" (else "organisationId", else "organizationId"). It is the config entry's
# unique id, so the same organisation cannot be added twice.
ORGANISATION_CLAIMS = ("org", "organisationId", "organizationId")


def organisation_of(provider: str, token: str) -> str:
    """Return the organisation id carried in an access token (JWT, read unverified)."""
    claims = jwt_claims(provider, token)
    for name in ORGANISATION_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return str(value)
    raise ProviderResponseError(
        provider, "access token has no organisation claim", "token.org"
    )


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


# [assume] The Vehicles API has no plug state: a vehicle inside a schedule's planned
# arrival-departure window (both ends included) counts as at the depot and plugged in;
# outside every window it counts as disconnected (on the road).
def at_depot(schedule: DepotSchedule, now: datetime) -> bool:
    """Tell whether the schedule says the vehicle is at the depot, plugged in, at ``now``."""
    arrival, departure = schedule.planned_arrival, schedule.planned_departure
    return arrival is not None and departure is not None and arrival <= now <= departure


def format_time(value: datetime) -> str:
    """Write an aware datetime as ISO 8601 in UTC with milliseconds and ``Z``."""
    return (
        value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass(frozen=True, slots=True)
class PlanSegment:
    """One segment of a ChargEye plan (charging or paused)."""

    start: datetime
    end: datetime
    power_w: float | None
    energy_wh: float | None
    start_soc: float | None
    end_soc: float | None
    paused: bool

    @property
    def charging(self) -> bool:
        """Whether power flows in this segment."""
        return not self.paused and (self.power_w or 0) > 0

    def elapsed(self, now: datetime) -> float:
        """Return the share of this segment that lies before ``now`` (0 to 1)."""
        if now <= self.start:
            return 0.0
        if now >= self.end:
            return 1.0
        return (now - self.start) / (self.end - self.start)

    def energy(self) -> float:
        """Energy in Wh: as stated, else power × duration; nothing while paused."""
        if self.paused:
            return 0.0
        if self.energy_wh is not None:
            return self.energy_wh
        if self.power_w is not None:
            return self.power_w * (self.end - self.start).total_seconds() / 3600
        return 0.0

    def soc_at(self, now: datetime) -> float | None:
        """State of charge at ``now``, interpolated between the segment's ends."""
        if self.start_soc is None or self.end_soc is None:
            return self.end_soc if self.start_soc is None else self.start_soc
        return self.start_soc + (self.end_soc - self.start_soc) * self.elapsed(now)

    def slot(self) -> ChargingSlot:
        """As a normalized charging slot."""
        return ChargingSlot(
            start=self.start,
            end=self.end,
            power_w=self.power_w,
            energy_wh=self.energy_wh,
            start_soc=self.start_soc,
            end_soc=self.end_soc,
        )


@dataclass(frozen=True, slots=True)
class PlannedSchedule:
    """An EvSchedule: the normalized schedule plus the plan details state is derived from."""

    schedule: DepotSchedule
    segments: tuple[PlanSegment, ...]
    """Past and upcoming segments, by start time."""
    upcoming: tuple[PlanSegment, ...]
    """The plan's ``segments`` (not yet past), by start time."""
    plan_timestamp: datetime | None

    def covering(self, now: datetime) -> PlanSegment | None:
        """Return the segment whose span contains ``now``."""
        for segment in self.segments:
            if segment.start <= now < segment.end:
                return segment
        return None

    def soc_at(self, now: datetime) -> float | None:
        """State of charge at ``now`` from the plan (None when the plan does not say)."""
        segment = self.covering(now)
        if segment is not None:
            return segment.soc_at(now)
        ended = [s for s in self.segments if s.end <= now and s.end_soc is not None]
        if ended:
            return ended[-1].end_soc
        return self.schedule.start_soc

    def energy_until(self, now: datetime) -> float:
        """Energy (Wh) the plan delivers before ``now``."""
        return sum(segment.energy() * segment.elapsed(now) for segment in self.segments)


def parse_segment(payload: Payload) -> PlanSegment:
    """Read one plan segment; ``from`` and ``to`` (epoch ms) are required."""
    start = payload.opt_epoch_ms("from")
    end = payload.opt_epoch_ms("to")
    if start is None or end is None:
        raise ProviderResponseError(
            payload.provider,
            "missing required field",
            f"{payload.path}.{'from' if start is None else 'to'}",
        )
    if end < start:
        raise ProviderResponseError(
            payload.provider, "segment ends before it starts", f"{payload.path}.to"
        )
    power_kw = payload.opt_float("powerkW")
    energy_kwh = payload.opt_float("energykWh")
    return PlanSegment(
        start=start,
        end=end,
        power_w=None if power_kw is None else power_kw * 1000,
        energy_wh=None if energy_kwh is None else energy_kwh * 1000,
        start_soc=payload.opt_float("startSoc"),
        end_soc=payload.opt_float("endSoc"),
        paused=bool(payload.opt_bool("paused")),
    )


def parse_schedule(payload: Payload, vehicle_id: str | None = None) -> PlannedSchedule:
    """Read an EvSchedule (the vehicle id falls back to the one asked for)."""
    plan = payload.opt_obj("plan")
    past: list[PlanSegment] = []
    upcoming: list[PlanSegment] = []
    plan_timestamp = None
    if plan is not None:
        past = [parse_segment(item) for item in plan.objects("pastSegments")]
        upcoming = [parse_segment(item) for item in plan.objects("segments")]
    meta = payload.opt_obj("planMeta")
    if meta is not None:
        plan_timestamp = meta.opt_datetime("timestamp")
    segments = sorted(past + upcoming, key=lambda s: s.start)
    schedule = DepotSchedule(
        id=payload.req_str("id"),
        vehicle_id=payload.opt_str("evId") or vehicle_id or "",
        location_uid=payload.opt_str("locationUid"),
        planned_arrival=payload.opt_datetime("plannedArrivalTime"),
        planned_departure=payload.opt_datetime("plannedDepartureTime"),
        start_soc=payload.opt_float("startSoC"),
        target_soc=payload.opt_float("targetSoC"),
        recurrence_rule=payload.opt_str("recurrenceRule"),
        slots=tuple(s.slot() for s in segments if s.charging),
    )
    return PlannedSchedule(
        schedule=schedule,
        segments=tuple(segments),
        upcoming=tuple(sorted(upcoming, key=lambda s: s.start)),
        plan_timestamp=plan_timestamp,
    )


def parse_upcoming(
    payload: Payload, vehicle_id: str | None = None
) -> tuple[PlannedSchedule | None, PlannedSchedule | None]:
    """Read ``{previous, currentOrNext}``."""
    previous = payload.opt_obj("previous")
    current = payload.opt_obj("currentOrNext")
    return (
        None if previous is None else parse_schedule(previous, vehicle_id),
        None if current is None else parse_schedule(current, vehicle_id),
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


def target_of(schedule: PlannedSchedule | None) -> int | None:
    """Return a schedule's targetSoC as a whole percent."""
    if schedule is None or schedule.schedule.target_soc is None:
        return None
    return round(schedule.schedule.target_soc)


def plan_state(
    record: VehicleRecord,
    previous: PlannedSchedule | None,
    current: PlannedSchedule | None,
    now: datetime,
) -> VehicleState:
    """Derive what the vehicle is doing at ``now`` from its plan."""
    updated_at = next(
        (s.plan_timestamp for s in (current, previous) if s and s.plan_timestamp),
        None,
    )
    session = next(
        (s for s in (current, previous) if s and at_depot(s.schedule, now)), None
    )
    if session is None:
        return VehicleState(
            charging_status=ChargingStatus.DISCONNECTED,
            plugged_in=False,
            charging=False,
            charge_power_w=0.0,
            energy_added_wh=None if previous is None else previous.energy_until(now),
            battery_capacity_wh=record.battery_capacity_wh,
            updated_at=updated_at,
        )
    segment = session.covering(now)
    soc = session.soc_at(now)
    charging = segment is not None and segment.charging
    target = session.schedule.target_soc
    if charging:
        status = ChargingStatus.CHARGING
    elif soc is not None and target is not None and soc >= target:
        status = ChargingStatus.COMPLETE
    else:
        status = ChargingStatus.PLUGGED_IN
    return VehicleState(
        state_of_charge=soc,
        charging_status=status,
        plugged_in=True,
        charging=charging,
        charge_power_w=segment.power_w if charging and segment else 0.0,
        energy_added_wh=session.energy_until(now),
        battery_capacity_wh=record.battery_capacity_wh,
        updated_at=updated_at,
    )


@dataclass(kw_only=True)
class ChargEyeClient(Provider):
    """A client for one ChargEye organisation (its refresh token)."""

    name: ClassVar[ProviderName] = ProviderName.CHARGEYE
    default_api_url: ClassVar[str | None] = "https://kempower.io/api"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"refresh_token"})
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
        except ProviderAuthError:
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
        """Obtain a token, list the vehicles, and name the account after its organisation."""
        await self._request("GET", self.api_url + VEHICLES_PATH)
        token = await self._async_access_token()
        return Account(unique_id=organisation_of(self.name, token), title=ACCOUNT_TITLE)

    async def async_get_fleet(self) -> Fleet:
        """List the vehicles, then read each one's upcoming schedule (1 + N requests)."""
        response = await self._request("GET", self.api_url + VEHICLES_PATH)
        root = Payload(self.name, response.data, "vehicles response")
        problems: list[ChargeBridgeError] = []
        records: dict[str, VehicleRecord] = {}
        broken: dict[str, ChargeBridgeError] = {}
        for index, item in enumerate(root.opt_list("vehicles")):
            try:
                record = parse_vehicle_item(
                    Payload(self.name, item, f"{root.path}.vehicles[{index}]")
                )
            except ProviderResponseError as problem:
                problems.append(problem)
                vehicle_id = _vehicle_id_of(item)
                if vehicle_id is not None:
                    broken[vehicle_id] = problem
                continue
            records[record.id] = record

        async def upcoming(
            record: VehicleRecord,
        ) -> tuple[PlannedSchedule | None, PlannedSchedule | None]:
            return await self._async_upcoming(record.id)

        results = await self._gather_per_vehicle(list(records.values()), upcoming)
        snapshots: dict[str, VehicleSnapshot] = {}
        now = self.clock()
        for record, result in zip(records.values(), results, strict=True):
            if isinstance(result, ChargeBridgeError):
                problems.append(result)
                snapshots[record.id] = VehicleSnapshot(
                    vehicle=self._vehicle(record),
                    state=VehicleState(battery_capacity_wh=record.battery_capacity_wh),
                    preferences=ChargingPreferences(
                        smart_charging=record.smart_charging
                    ),
                    error=result,
                )
                continue
            snapshots[record.id] = self._snapshot(record, *result, now=now)
        for vehicle_id in set(self._schedule_ids) - set(records) - set(broken):
            del self._schedule_ids[vehicle_id]
        for vehicle_id, err in broken.items():
            if vehicle_id not in snapshots:
                snapshots[vehicle_id] = VehicleSnapshot(
                    vehicle=Vehicle(
                        id=vehicle_id,
                        name=vehicle_id,
                        capabilities=self._capabilities(vehicle_id),
                    ),
                    error=err,
                )
        return Fleet(
            vehicles=snapshots, problems=tuple(problems), rate_limit=self.rate_limit
        )

    def _capabilities(self, vehicle_id: str) -> Capabilities:
        """Target SoC only while the vehicle has a schedule to set it on."""
        features = BASE_FEATURES
        if vehicle_id in self._schedule_ids:
            features = features | {Feature.TARGET_SOC}
        return Capabilities(
            features=features, target_soc_min=SOC_MIN, target_soc_max=SOC_MAX
        )

    def _vehicle(self, record: VehicleRecord) -> Vehicle:
        return Vehicle(
            id=record.id,
            name=record.name,
            model=record.model,
            vin=record.vin,
            capabilities=self._capabilities(record.id),
        )

    def _snapshot(
        self,
        record: VehicleRecord,
        previous: PlannedSchedule | None,
        current: PlannedSchedule | None,
        *,
        now: datetime,
    ) -> VehicleSnapshot:
        if current is None:
            self._schedule_ids.pop(record.id, None)
        else:
            self._schedule_ids[record.id] = current.schedule.id
        return VehicleSnapshot(
            vehicle=self._vehicle(record),
            state=plan_state(record, previous, current, now),
            preferences=ChargingPreferences(
                smart_charging=record.smart_charging, target_soc=target_of(current)
            ),
            schedule=None
            if current is None
            else Schedule(
                next_departure=current.schedule.planned_departure,
                slots=tuple(s.slot() for s in current.upcoming if s.charging),
            ),
        )

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

    async def async_list_schedules(
        self,
        vehicle_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[DepotSchedule]:
        """List a vehicle's schedules, optionally only those in ``start``..``end``."""
        self._check_vehicle_id(vehicle_id)
        params: dict[str, str] = {}
        for name, value in zip(RANGE_QUERY, (start, end), strict=True):
            if value is not None:
                params[name] = format_time(self._aware(name, value))
        if start is not None and end is not None and end < start:
            raise InvalidInputError(
                self.name,
                "the end of the range is before its start",
                translation_key="invalid_range",
            )
        response = await self._request(
            "GET", self._url(SCHEDULES_PATH, vehicle_id), params=params or None
        )
        root = Payload(self.name, response.data, "schedules response")
        return [
            parse_schedule(item, vehicle_id).schedule
            for item in root.objects("schedules")
        ]

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
            raise InvalidInputError(
                self.name, "no schedules to add", translation_key="nothing_to_change"
            )
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

    async def async_patch_schedules(
        self, vehicle_id: str, patches: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """Change fields of existing schedules (each patch names its ``id``).

        Datetime values are sent as ISO 8601. Returns the ids ChargEye skipped.
        """
        self._check_vehicle_id(vehicle_id)
        if not patches:
            raise InvalidInputError(
                self.name, "no schedules to change", translation_key="nothing_to_change"
            )
        _, skipped, _ = await self._async_patch(
            vehicle_id, [self._patch(patch) for patch in patches]
        )
        return skipped

    async def async_get_upcoming(
        self, vehicle_id: str
    ) -> tuple[DepotSchedule | None, DepotSchedule | None]:
        """Return the last ended schedule and the current or next one."""
        self._check_vehicle_id(vehicle_id)
        previous, current = await self._async_upcoming(vehicle_id)
        return (
            None if previous is None else previous.schedule,
            None if current is None else current.schedule,
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
            raise InvalidInputError(
                self.name, "a vehicle id is required", translation_key="invalid_vehicle"
            )

    def _aware(self, name: str, value: datetime) -> datetime:
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise InvalidInputError(
                self.name,
                f"{name} must be a date and time with a time zone",
                translation_key="invalid_datetime",
                placeholders={"field": name},
            )
        return value

    def _soc(self, name: str, value: float) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not SOC_MIN <= value <= SOC_MAX
        ):
            raise InvalidInputError(
                self.name,
                f"{name} must be between {SOC_MIN} and {SOC_MAX}, got {value}",
                translation_key="out_of_range",
                placeholders={
                    "field": name,
                    "value": str(value),
                    "min": str(SOC_MIN),
                    "max": str(SOC_MAX),
                },
            )
        return value

    def _window(self, arrival: datetime, departure: datetime) -> None:
        if departure <= arrival:
            raise InvalidInputError(
                self.name,
                "the departure must be after the arrival",
                translation_key="departure_before_arrival",
                placeholders={
                    "arrival": arrival.isoformat(),
                    "departure": departure.isoformat(),
                },
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

    def _patch(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Build an EvSchedulePatch from a caller's mapping, validated (times to ISO)."""
        if not isinstance(patch, Mapping):
            raise InvalidInputError(
                self.name,
                "a schedule patch must be a mapping",
                translation_key="invalid_schedule",
            )
        schedule_id = patch.get("id")
        if not isinstance(schedule_id, str) or not schedule_id:
            raise InvalidInputError(
                self.name,
                "each schedule patch needs the schedule id",
                translation_key="invalid_schedule",
            )
        body: dict[str, Any] = dict(patch)
        times: dict[str, datetime] = {}
        for key in ("plannedArrivalTime", "plannedDepartureTime"):
            if key not in body:
                continue
            value = body[key]
            if isinstance(value, str):
                try:
                    value = datetime.fromisoformat(value)
                except ValueError:
                    value = None
            if not isinstance(value, datetime):
                raise InvalidInputError(
                    self.name,
                    f"{key} must be a date and time",
                    translation_key="invalid_datetime",
                    placeholders={"field": key},
                )
            times[key] = self._aware(key, value)
            body[key] = format_time(times[key])
        if len(times) == 2:
            self._window(times["plannedArrivalTime"], times["plannedDepartureTime"])
        for key in ("targetSoC", "startSoC"):
            if key in body:
                self._soc(key, body[key])
        return body
