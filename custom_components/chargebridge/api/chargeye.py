"""Kempower ChargEye for Depots: commercial fleets (buses, trucks) charging at depots.

The Vehicles API knows the fleet and each vehicle's depot schedules with the charging plan
ChargEye computed for them, but no live telemetry. A vehicle's state is therefore what the
plan says for "now": the plan segment covering the current time gives the charging power and
the state of charge (interpolated between the segment's start and end), and the schedule's
arrival-departure window says whether the vehicle is at the depot.

A refresh reads the vehicle list, then each depot the vehicles name once through the public
``GET /locations/{locationUid}/schedules`` (dated and recurring schedules with their plans):
1 + L requests for L depots, whatever the fleet's size. Only a depot that refuses that read
is read through the assumed per-vehicle paths.

Auth: a long-lived refresh token is exchanged at ``GET /auth/refreshAccessToken`` for a JWT
(about 8 h), cached and renewed shortly before ``validUntil``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
import hashlib
import json as jsonlib
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlsplit

from .base import ConfigField, Provider, of_vehicle, read_attributed
from .chargeye_plan import (
    PlannedSchedule,
    parse_schedule,
    parse_upcoming,
    pick_upcoming,
    plan_state,
    target_of,
)
from .chargeye_recurrence import Recurrence, RecurrenceError, Window, first_looks
from .errors import (
    ChargeBridgeError,
    DepartureBeforeArrivalError,
    InvalidDatetimeError,
    InvalidVehicleError,
    NothingToChangeError,
    OutOfRangeError,
    ProviderAuthError,
    ProviderForbiddenError,
    ProviderRateLimitError,
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

LOCATION_SCHEDULES_PATH = "/locations/{location_uid}/schedules"
"""A depot's dated and recurring schedules with their plans (public): the state's source."""

# [assume] The per-vehicle schedule endpoints are not public; we use
# /vehicles/{vehicleId}/schedules (POST add, PATCH: the target-SoC write) and
# .../schedules/upcoming, read only for the vehicles of a depot that refuses the public
# read (REFUSED_STATUSES) and to find the schedule to set a target on before any refresh.
# If wrong, those writes fail with the provider's error and a refused depot's vehicles are
# unavailable; every other vehicle's state comes from the public depot read.
SCHEDULES_PATH = "/vehicles/{vehicle_id}/schedules"
UPCOMING_PATH = "/vehicles/{vehicle_id}/schedules/upcoming"

REFUSED_STATUSES = frozenset({404, 405})
"""With 403 (not permitted): answers saying a read is not offered to us, so its vehicles
are read per vehicle. Any other failure (timeout, 5xx, bad JSON) costs those vehicles."""
REFUSED_RETRY = timedelta(hours=1)
"""A refused depot read (or depot list) is tried again this long after it was refused."""
LOCATIONS_MAX_AGE = timedelta(hours=1)
"""The organisation's depot list (read only for vehicles naming no depot) is kept this long."""

# [assume] ChargEye has no manufacturer field; its free-text ``evModel`` mostly starts with
# one ("Volvo FH Electric"). The make is the entry of MULTI_WORD_MAKES it starts with, else
# its first word when a model follows and the word starts with a letter; the model is the
# rest. If wrong, the device's make and model are split at the wrong place (together they
# still read the whole evModel); one word, or none, names no make (the model is evModel).
MULTI_WORD_MAKES = (
    "Alfa Romeo",
    "Aston Martin",
    "Land Rover",
    "Lynk & Co",
    "Mercedes Benz",
    "Renault Trucks",
)

# [assume] Recurrence rules are expanded in UTC from plannedArrivalTime (the document
# names no time zone for them). A depot's rule in local time then drifts by the DST shift
# for its occurrences that carry no plan; a plan carries its occurrence's exact times and
# a dated schedule (the materialized occurrence) wins over ours, so only plan-less
# occurrences of recurring schedules are affected.
RECURRENCE_ZONE = UTC

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
        Feature.CHARGING_PLAN,
        Feature.DEPARTURE_SOC,
        Feature.PLAN_REACHES_TARGET,
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
    make: str | None
    model: str | None
    vin: str | None
    battery_capacity_wh: float | None
    smart_charging: bool | None
    depots: tuple[str, ...] = ()
    """The depots the vehicle names (``locationUid``); none: every depot of the account."""
    depots_problem: ProviderResponseError | None = None
    """Why ``locationUid`` could not be read (the vehicle then counts as naming none)."""


def parse_vehicle(payload: Payload) -> VehicleRecord:
    """Read a vehicle (``GET /vehicles/{id}``, or ``vehicle`` in the list)."""
    vehicle_id = payload.req_str("id")
    capacity_kwh = payload.opt_float("fullChargeEnergykWh")
    depots: tuple[str, ...] = ()
    depots_problem = None
    try:
        depots = parse_depots(payload)
    except ProviderResponseError as err:
        depots_problem = err
    make, model = split_ev_model(payload.opt_str("evModel"))
    return VehicleRecord(
        id=vehicle_id,
        name=payload.opt_str("name") or payload.opt_str("licensePlate") or vehicle_id,
        make=make,
        model=model,
        vin=payload.opt_str("vin") or None,
        battery_capacity_wh=None if capacity_kwh is None else capacity_kwh * 1000,
        smart_charging=payload.opt_bool("enableChargeScheduling"),
        depots=depots,
        depots_problem=depots_problem,
    )


def split_ev_model(ev_model: str | None) -> tuple[str | None, str | None]:
    """Split ``evModel`` into (make, model): devices show "FH Electric" by "Volvo"."""
    words = (ev_model or "").split()
    if not words:
        return None, None
    text = " ".join(words)
    for make in MULTI_WORD_MAKES:
        if text.casefold().startswith(make.casefold() + " "):
            return text[: len(make)], text[len(make) + 1 :]
    if len(words) < 2 or not words[0][0].isalpha():
        return None, text
    return words[0], " ".join(words[1:])


def parse_depots(payload: Payload) -> tuple[str, ...]:
    """Read ``locationUid``: one depot id, a list of them, or null (none named)."""
    value = payload.data.get("locationUid")
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ProviderResponseError(
            payload.provider, "wrong type for field", f"{payload.path}.locationUid"
        )
    return tuple(dict.fromkeys(v for v in values if v))


@dataclass(frozen=True, slots=True)
class DatedSchedule:
    """A dated schedule as listed: read without its plan, and the payload to read it from."""

    schedule: PlannedSchedule
    payload: Payload

    def with_plan(self) -> PlannedSchedule:
        """Read the whole schedule, plan included (ProviderResponseError if broken)."""
        return parse_schedule(self.payload)


@dataclass(slots=True)
class DepotSchedules:
    """What one depot read says, by vehicle (``evId``)."""

    dated: dict[str, list[DatedSchedule]] = field(default_factory=dict)
    recurring: dict[str, list[tuple[str, PlannedSchedule]]] = field(
        default_factory=dict
    )
    """Each recurring schedule with its path (for a problem naming its rule)."""
    unreadable: dict[str, ProviderResponseError] = field(default_factory=dict)
    """Vehicles one of whose schedules could not be read (their state would be a guess)."""
    value_faults: dict[str, list[list[ChargeBridgeError]]] = field(default_factory=dict)
    """Per vehicle, the value faults of each of its schedules (filled as they are read:
    a chosen schedule's plan is read later)."""
    problems: list[ChargeBridgeError] = field(default_factory=list)
    """Schedules (or their values) that could not be read and name no vehicle."""


def parse_depot_schedules(root: Payload) -> DepotSchedules:
    """Read ``{recurringSchedules, schedules}``; a broken schedule costs only its vehicle.

    Dated schedules are read without their plans (only two per vehicle matter); a
    recurring one with its plan, which tells the occurrence it is for.
    """
    read = DepotSchedules()
    for key, dated in (("schedules", True), ("recurringSchedules", False)):
        for index, item in enumerate(root.opt_list(key)):
            path = f"{root.path}.{key}[{index}]"
            faults: list[ChargeBridgeError] = []
            try:
                payload = Payload(root.provider, item, path, faults)
                planned = parse_schedule(payload, with_plan=not dated)
            except ProviderResponseError as err:
                owner = item.get("evId") if isinstance(item, dict) else None
                if isinstance(owner, str) and owner:
                    read.unreadable.setdefault(owner, err)
                else:
                    read.problems.append(err)
                continue
            owner = planned.schedule.vehicle_id
            if owner:
                read.value_faults.setdefault(owner, []).append(faults)
            else:
                read.problems.extend(faults)
            if not owner:
                read.problems.append(
                    ProviderResponseError(
                        root.provider, "missing required field", f"{path}.evId"
                    )
                )
            elif dated:
                read.dated.setdefault(owner, []).append(DatedSchedule(planned, payload))
            else:
                read.recurring.setdefault(owner, []).append((path, planned))
    return read


class _Refusal(Enum):
    """A read ChargEye does not offer us (403, 404, 405), as opposed to one that failed."""

    REFUSED = "refused"


REFUSED: Final = _Refusal.REFUSED

type RecurrenceKey = tuple[str, str, datetime, datetime]
"""A recurring schedule as expanded: its id, rule, first arrival and first departure."""


def refuses(err: ChargeBridgeError) -> bool:
    """Tell whether an error says the read is not offered (not that it failed)."""
    return isinstance(err, ProviderForbiddenError) or (
        isinstance(err, ProviderRejectedError) and err.status in REFUSED_STATUSES
    )


def for_vehicle[E: ChargeBridgeError](err: E) -> E:
    """Copy a depot's error for one of its vehicles.

    Each vehicle carries its own error, so the log names every vehicle a failed depot
    read costs (one line per vehicle, as when each had its own request).
    """
    copy = type(err).__new__(type(err), *err.args)
    copy.__dict__.update(err.__dict__)
    return copy


def _source(
    vehicle_id: str,
    depots: tuple[str, ...] | ChargeBridgeError | _Refusal,
    reads: Mapping[str, DepotSchedules | ChargeBridgeError | _Refusal],
) -> ChargeBridgeError | _Refusal | None:
    """Say where a vehicle's state comes from: its depots' reads (None), or not.

    REFUSED when one of its depots refused the read (the per-vehicle path covers all of
    them); an error when one failed or one of the vehicle's schedules is unreadable.
    """
    if not isinstance(depots, tuple):
        return depots
    answers = [reads[depot] for depot in depots]
    if any(answer is REFUSED for answer in answers):
        return REFUSED
    for answer in answers:
        if isinstance(answer, ChargeBridgeError):
            return answer
    for answer in reads.values():
        if isinstance(answer, DepotSchedules) and vehicle_id in answer.unreadable:
            return answer.unreadable[vehicle_id]
    return None


def _recurrence_key(
    series: PlannedSchedule,
) -> tuple[RecurrenceKey, str, Window] | None:
    """Return a recurring schedule's key, rule and first occurrence (None: no rule)."""
    first = series.window
    rule = (series.schedule.recurrence_rule or "").strip()
    if first is None or not rule:
        return None
    return (series.schedule.id, rule, first.arrival, first.departure), rule, first


def _present(*schedules: PlannedSchedule | None) -> tuple[PlannedSchedule, ...]:
    return tuple(schedule for schedule in schedules if schedule is not None)


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
    api_name: ClassVar[str | None] = "ChargEye Vehicles API"
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
    state_from_plans: ClassVar[bool] = True
    min_scan_interval: ClassVar[timedelta] = timedelta(minutes=1)
    uses_access_token: ClassVar[bool] = True

    refresh_token: str = field(repr=False)
    _schedule_ids: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    """The current-or-next schedule id per vehicle, from the last fleet refresh."""
    _seen: dict[str, tuple[PlannedSchedule, ...]] = field(
        default_factory=dict, init=False, repr=False
    )
    """The previous and current schedule per vehicle at the last refresh: the depot read
    lists no departed schedules, so this is where "the last session" is remembered."""
    _records: dict[str, VehicleRecord] = field(
        default_factory=dict, init=False, repr=False
    )
    """Each listed vehicle's record (the depots it names), from the last vehicle list."""
    _all_depots: tuple[tuple[str, ...], datetime] | None = field(
        default=None, init=False, repr=False
    )
    """The organisation's depots and when they were read (GET /locations)."""
    _refused: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)
    """Depot reads refused (by depot id; LOCATIONS_PATH for the depot list), and when."""
    _recurrences: dict[RecurrenceKey, Recurrence | RecurrenceError] = field(
        default_factory=dict, init=False, repr=False
    )
    """Each recurring schedule's expansion, kept between refreshes (cheap look-ups)."""

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

    # The fleet: the vehicle list, then each depot's schedules (1 + L requests).

    async def _async_list_vehicles(self) -> Sequence[tuple[str, Any]]:
        response = await self._request("GET", self.api_url + VEHICLES_PATH)
        root = Payload(self.name, response.data, "vehicles response")
        return [
            (f"{root.path}.vehicles[{index}]", item)
            for index, item in enumerate(root.opt_list("vehicles"))
        ]

    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot:
        record = parse_vehicle_item(item)
        self._records[record.id] = record
        return VehicleSnapshot(
            vehicle=Vehicle(
                id=record.id,
                name=record.name,
                make=record.make,
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

    def _needs_enrichment(self, snapshot: VehicleSnapshot, *, by_age: bool) -> bool:
        return True

    def _vehicle_caches(self) -> Sequence[dict[str, Any]]:
        return (self._schedule_ids, self._seen, self._records)

    async def _async_enrich_fleet(
        self, wanted: Sequence[VehicleSnapshot], problems: list[ChargeBridgeError]
    ) -> Sequence[VehicleSnapshot | ChargeBridgeError]:
        """Read each depot the vehicles name once; derive every vehicle's state from it.

        A vehicle naming no depot is looked for at every depot of the organisation. Where
        a depot (or the depot list) refuses the read, its vehicles are read per vehicle;
        any other failure of a depot's read costs the vehicles at that depot only.
        """
        now = self.clock()
        named: dict[str, tuple[str, ...]] = {}
        for snapshot in wanted:
            record = self._records.get(snapshot.vehicle.id)
            if record is not None and record.depots_problem is not None:
                problems.append(record.depots_problem)
            named[snapshot.vehicle.id] = () if record is None else record.depots
        everywhere: tuple[str, ...] | ChargeBridgeError | _Refusal = ()
        if not all(named.values()):
            everywhere = await self._async_all_depots(now)
        reads = await self._async_read_depots(
            [*named.values(), everywhere if isinstance(everywhere, tuple) else ()], now
        )
        readable = [read for read in reads.values() if isinstance(read, DepotSchedules)]
        for read in readable:
            problems.extend(read.problems)
        picked: list[str] = []
        await self._async_expand_new_rules(readable, now)

        results: dict[str, VehicleSnapshot | ChargeBridgeError] = {}
        per_vehicle: list[VehicleSnapshot] = []
        for snapshot in wanted:
            vehicle_id = snapshot.vehicle.id
            source = _source(vehicle_id, named[vehicle_id] or everywhere, reads)
            if source is REFUSED:
                per_vehicle.append(snapshot)
            elif isinstance(source, ChargeBridgeError):
                results[vehicle_id] = for_vehicle(source)
            else:
                try:
                    previous, current = self._pick(vehicle_id, readable, now, problems)
                except ProviderResponseError as err:
                    results[vehicle_id] = err
                else:
                    results[vehicle_id] = self._derive(snapshot, previous, current, now)
                picked.append(vehicle_id)
        for vehicle_id in picked:
            # After the picks: a chosen schedule's plan adds its faults when it is read.
            for read in readable:
                for faults in read.value_faults.get(vehicle_id, ()):
                    problems.extend(of_vehicle(faults, vehicle_id))
        if per_vehicle:

            async def read_vehicle(snapshot: VehicleSnapshot) -> VehicleSnapshot:
                return await read_attributed(
                    self._async_read_vehicle, snapshot, problems
                )

            read_each = await self._gather_per_vehicle(per_vehicle, read_vehicle)
            for snapshot, result in zip(per_vehicle, read_each, strict=True):
                results[snapshot.vehicle.id] = result
        return [results[snapshot.vehicle.id] for snapshot in wanted]

    async def _async_all_depots(
        self, now: datetime
    ) -> tuple[str, ...] | ChargeBridgeError | _Refusal:
        """Return the organisation's depots (kept LOCATIONS_MAX_AGE; stale beats none)."""
        cached = self._all_depots
        if cached is not None and now - cached[1] < LOCATIONS_MAX_AGE:
            return cached[0]
        if self._still_refused(LOCATIONS_PATH, now):
            return REFUSED
        try:
            depots = tuple(dict.fromkeys(await self._async_location_ids()))
        except (ProviderAuthError, ProviderRateLimitError):
            raise
        except ChargeBridgeError as err:
            if refuses(err):
                self._refused[LOCATIONS_PATH] = now
                return REFUSED
            return err if cached is None else cached[0]
        self._refused.pop(LOCATIONS_PATH, None)
        self._all_depots = (depots, now)
        return depots

    async def _async_read_depots(
        self, depot_lists: Sequence[tuple[str, ...]], now: datetime
    ) -> dict[str, DepotSchedules | ChargeBridgeError | _Refusal]:
        """Read each depot once (bounded concurrency), except those refused recently."""
        depots = list(dict.fromkeys(d for depots in depot_lists for d in depots))
        reads: dict[str, DepotSchedules | ChargeBridgeError | _Refusal] = {
            depot: REFUSED for depot in depots if self._still_refused(depot, now)
        }
        to_read = [depot for depot in depots if depot not in reads]
        answers = await self._gather_per_vehicle(to_read, self._async_read_depot)
        reads.update(zip(to_read, answers, strict=True))
        return reads

    async def _async_read_depot(self, depot: str) -> DepotSchedules | _Refusal:
        """Read one depot's schedules; REFUSED when ChargEye does not offer that read."""
        url = self.api_url + LOCATION_SCHEDULES_PATH.format(
            location_uid=quote(depot, safe="")
        )
        try:
            response = await self._request("GET", url)
        except ProviderAuthError:
            # The document answers 401 also when "the user has no permission". The
            # vehicle list of this refresh proved the credentials, and the token was
            # renewed once: this read only is refused (credentials that fail everywhere
            # still fail the per-vehicle reads that replace it, and ask for reauth there).
            self._refused[depot] = self.clock()
            return REFUSED
        except (ProviderForbiddenError, ProviderRejectedError) as err:
            if not refuses(err):
                raise
            self._refused[depot] = self.clock()
            return REFUSED
        self._refused.pop(depot, None)
        return parse_depot_schedules(
            Payload(self.name, response.data, f"location schedules[{depot}]")
        )

    def _still_refused(self, key: str, now: datetime) -> bool:
        refused_at = self._refused.get(key)
        return refused_at is not None and now - refused_at < REFUSED_RETRY

    def _pick(
        self,
        vehicle_id: str,
        reads: Sequence[DepotSchedules],
        now: datetime,
        problems: list[ChargeBridgeError],
    ) -> tuple[PlannedSchedule | None, PlannedSchedule | None]:
        """Pick the vehicle's previous and current-or-next schedule from the depot reads.

        Its schedules are found by ``evId`` at every depot read, named by it or not.
        """
        dated: dict[str, DatedSchedule] = {}
        occurrences: list[PlannedSchedule] = []
        recurring: set[str] = set()
        for read in reads:
            for listed in read.dated.get(vehicle_id, ()):
                dated.setdefault(listed.schedule.schedule.id, listed)
            for path, series in read.recurring.get(vehicle_id, ()):
                if series.schedule.id not in recurring:
                    recurring.add(series.schedule.id)
                    occurrences.extend(self._occurrences(path, series, now, problems))
        unread = {id(listed.schedule): listed for listed in dated.values()}
        previous, current = pick_upcoming(
            [listed.schedule for listed in dated.values()],
            occurrences,
            self._seen.get(vehicle_id, ()),
            now,
        )
        if previous is not None and (chosen := unread.get(id(previous))):
            previous = chosen.with_plan()
        if current is not None and (chosen := unread.get(id(current))):
            current = chosen.with_plan()
        self._seen[vehicle_id] = _present(previous, current)
        return previous, current

    async def _async_expand_new_rules(
        self, reads: Sequence[DepotSchedules], now: datetime
    ) -> None:
        """Read recurrence rules not seen before, and walk them to now, in a thread.

        A rule that never matches makes dateutil search for seconds (see
        chargeye_recurrence): that first walk must not hold up the event loop. Rules no
        longer listed are forgotten.
        """
        listed: dict[RecurrenceKey, tuple[str, Window]] = {}
        for read in reads:
            for recurring in read.recurring.values():
                for _, series in recurring:
                    if (found := _recurrence_key(series)) is not None:
                        listed[found[0]] = found[1:]
        known = {
            key: self._recurrences[key] for key in listed if key in self._recurrences
        }
        new = {key: rule for key, rule in listed.items() if key not in known}
        if new:
            known.update(
                await asyncio.to_thread(first_looks, new, RECURRENCE_ZONE, now)
            )
        self._recurrences = known

    def _occurrences(
        self,
        path: str,
        series: PlannedSchedule,
        now: datetime,
        problems: list[ChargeBridgeError],
    ) -> list[PlannedSchedule]:
        """Return the previous and current-or-next occurrence of a recurring schedule.

        A rule that cannot be expanded costs only the expansion: the schedule then stands
        for its first occurrence alone, and a problem names the rule.
        """
        first = series.window
        if first is None:
            return []
        found = _recurrence_key(series)
        if found is None:
            return [series.at(first)]
        key, rule, _ = found
        expansion = self._recurrences.get(key)
        if expansion is None:
            try:
                expansion = Recurrence(
                    rule, first.arrival, first.departure, RECURRENCE_ZONE
                )
            except RecurrenceError as err:
                expansion = err
        if isinstance(expansion, Recurrence):
            try:
                windows = expansion.around(now)
            except RecurrenceError as err:
                expansion = err
            else:
                self._recurrences[key] = expansion
                return [series.at(window) for window in windows if window is not None]
        self._recurrences[key] = expansion
        problems.append(
            ProviderResponseError(
                self.name,
                f"recurrence rule not expanded: {expansion}",
                f"{path}.recurrenceRule",
            )
        )
        return [series.at(first)]

    async def _async_read_vehicle(
        self, snapshot: VehicleSnapshot, faults: list[ChargeBridgeError]
    ) -> VehicleSnapshot:
        """Read one vehicle's state through the assumed per-vehicle path (a refused depot)."""
        previous, current = await self._async_upcoming(snapshot.vehicle.id, faults)
        self._seen[snapshot.vehicle.id] = _present(previous, current)
        return self._derive(snapshot, previous, current, self.clock())

    def _derive(
        self,
        snapshot: VehicleSnapshot,
        previous: PlannedSchedule | None,
        current: PlannedSchedule | None,
        now: datetime,
    ) -> VehicleSnapshot:
        """Derive the state from the current (or next) and the previous schedule."""
        vehicle_id = snapshot.vehicle.id
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
                snapshot.state.battery_capacity_wh, previous, current, now
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
                departure_soc=current.end_soc,
                reaches_target=current.reaches_target,
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
        self, vehicle_id: str, faults: list[ChargeBridgeError] | None = None
    ) -> tuple[PlannedSchedule | None, PlannedSchedule | None]:
        """Read ``{previous, currentOrNext}`` (leniently with ``faults``, for the fleet)."""
        response = await self._request("GET", self._url(UPCOMING_PATH, vehicle_id))
        return parse_upcoming(
            Payload(self.name, response.data, f"upcoming[{vehicle_id}]", faults),
            vehicle_id,
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
