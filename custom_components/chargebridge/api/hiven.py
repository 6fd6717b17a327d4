"""Hiven (hiven.energy): home smart charging for vehicles linked through Smartcar.

Authentication is two headers on every request (``X-Api-Key``, ``X-User-Id``); there is no
access token. One refresh is the device list (preferences embedded), one status call per
vehicle (the API has no list form for telemetry, and it lives under ``/v1``), and the
smart-charging schedule only where a plan can exist: plugged in with smart charging on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
import logging
from typing import Any, ClassVar

from .base import ConfigField, Provider
from .errors import (
    ChargeBridgeError,
    ConflictingUpdateError,
    ProviderAuthError,
    ProviderForbiddenError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
)
from .models import (
    Account,
    Capabilities,
    ChargingBehavior,
    ChargingPreferences,
    ChargingSlot,
    ChargingStatus,
    Feature,
    PreferencesUpdate,
    Schedule,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
    Weekday,
    format_hhmm,
)
from .payload import Payload

_LOGGER = logging.getLogger(__name__)

EV_DEVICE_TYPE = "EV"
"""Device ``type`` of a vehicle; chargers and other devices share the list and are skipped."""

PERCENT_UNIT = "PERCENT"
"""The only state-of-charge unit exposed; ``KM`` targets read as None."""

CHARGING_BEHAVIORS: Mapping[str, ChargingBehavior] = {
    "SMART_CHARGE_OFF": ChargingBehavior.OFF,
    "SMART_CHARGE_AT_LOCATION": ChargingBehavior.AT_LOCATION,
    "SMART_CHARGE_ANYWHERE": ChargingBehavior.ANYWHERE,
}
BEHAVIOR_NAMES: Mapping[ChargingBehavior, str] = {
    member: name for name, member in CHARGING_BEHAVIORS.items()
}

CHARGING_STATUSES: Mapping[str, ChargingStatus] = {
    "CHARGING": ChargingStatus.CHARGING,
    "PLUGGED": ChargingStatus.PLUGGED_IN,
    "COMPLETE": ChargingStatus.COMPLETE,
    "CHARGING_COMPLETED": ChargingStatus.COMPLETE,
    "DISCONNECTED": ChargingStatus.DISCONNECTED,
    "NOT_CHARGING": ChargingStatus.NOT_CHARGING,
}
PLUG_AND_CHARGE: Mapping[ChargingStatus, tuple[bool | None, bool | None]] = {
    ChargingStatus.CHARGING: (True, True),
    ChargingStatus.PLUGGED_IN: (True, False),
    ChargingStatus.COMPLETE: (True, False),
    ChargingStatus.DISCONNECTED: (False, False),
    ChargingStatus.NOT_CHARGING: (None, False),
}
"""(plugged in, charging) implied by each status; UNKNOWN implies neither."""

SCHEDULED_STATUSES = frozenset({ChargingStatus.CHARGING, ChargingStatus.PLUGGED_IN})
"""Statuses where a smart-charging plan can exist, so the schedule is worth a request."""

WEEKDAY_KEYS: Mapping[str, Weekday] = {day.name: day for day in Weekday}
"""``weekDaySpecificReadyTimes`` keys: ``MONDAY`` … ``SUNDAY``."""

# [assume] A 404 from the schedule endpoint means "no plan right now", not an error.
NO_SCHEDULE_STATUS = 404

SLOT_LENGTH = timedelta(hours=1)
"""``hourlyCharges`` keys are hour starts; each one is a one-hour slot."""

# [assume] Hiven's `range` (status) carries no unit; we read it as kilometres.
RANGE_TO_KM = 1.0

# [assume] `batteryCapacity` (status, preferences) carries no unit; we read it as kWh.
BATTERY_CAPACITY_TO_WH = 1000.0

# [assume] Hiven publishes no rate limits; 1 + N + plugged-in requests every 5 min (at
# least 1 min) stays gentle for a household's few cars.
DEFAULT_SCAN_INTERVAL = timedelta(minutes=5)
MIN_SCAN_INTERVAL = timedelta(minutes=1)

CAPABILITIES = Capabilities(
    features=frozenset(
        {
            Feature.STATE_OF_CHARGE,
            Feature.RANGE,
            Feature.CHARGING_STATUS,
            Feature.PLUGGED_IN,
            Feature.CHARGING,
            Feature.BATTERY_CAPACITY,
            Feature.LAST_UPDATE,
            Feature.NEXT_DEPARTURE,
            Feature.SMART_CHARGING,
            Feature.CHARGING_BEHAVIOR,
            Feature.TARGET_SOC,
            Feature.MINIMAL_SOC,
            Feature.READY_TIME,
            Feature.WEEKDAY_READY_TIMES,
            Feature.CHARGING_PLAN,
        }
    ),
    target_soc_min=0,
    target_soc_max=100,
    minimal_soc_min=0,
    minimal_soc_max=100,
)
"""Every Hiven vehicle offers the same: targets 0–100 %, the charging plan, no boost."""


@dataclass(kw_only=True)
class HivenClient(Provider):
    """A Hiven account: one API key and the user it acts for."""

    name: ClassVar[str] = "hiven"
    title: ClassVar[str] = "Hiven"
    api_name: ClassVar[str | None] = "Hiven API"
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(key="api_url", default="https://api.hiven.energy", url=True),
        ConfigField(key="api_key", secret=True),
        ConfigField(key="user_id", account=True),
    )
    default_scan_interval: ClassVar[timedelta] = DEFAULT_SCAN_INTERVAL
    min_scan_interval: ClassVar[timedelta] = MIN_SCAN_INTERVAL
    uses_access_token: ClassVar[bool] = False
    state_per_vehicle: ClassVar[bool] = True

    api_key: str = field(repr=False)
    user_id: str
    _location_ids: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False
    )

    async def _async_auth_headers(self) -> dict[str, str]:
        """Both headers, on every request."""
        return {"X-Api-Key": self.api_key, "X-User-Id": self.user_id}

    def _v1(self, path: str) -> str:
        return f"{self.api_url}/v1/hiven{path}"

    def _v2(self, path: str) -> str:
        return f"{self.api_url}/v2/hiven{path}"

    async def _async_get_devices(self) -> list[Any]:
        """Fetch the user's devices (cars, chargers …) as a JSON array."""
        response = await self._request(
            "GET", self._v2("/devices"), params={"userId": self.user_id}
        )
        if not isinstance(response.data, list):
            raise ProviderResponseError(self.name, "expected a JSON array", "devices")
        return response.data

    async def async_validate(self) -> Account:
        """List the user's devices: the cheapest call that proves both headers."""
        await self._async_get_devices()
        return Account(unique_id=self.user_id, title=self.title)

    # The fleet: devices (with preferences), then status per vehicle, schedule where
    # plugged in with smart charging on.

    async def _async_list_vehicles(self) -> Sequence[tuple[str, Any]]:
        return [
            (f"devices[{index}]", item)
            for index, item in enumerate(await self._async_get_devices())
        ]

    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot | None:
        """Parse EVs only: any other device is skipped before anything else is read."""
        if not _is_ev(item.data):
            return None
        return self._parse_device(item)

    def _unreadable_item_id(self, item: Any) -> str | None:
        """Only an EV is a vehicle at all: other devices never name an unreadable one."""
        if not _is_ev(item):
            return None
        return super()._unreadable_item_id(item)

    def _unreadable_capabilities(self, vehicle_id: str) -> Capabilities:
        return CAPABILITIES

    def _needs_enrichment(self, snapshot: VehicleSnapshot, *, by_age: bool) -> bool:
        return True

    def _vehicle_caches(self) -> Sequence[dict[str, Any]]:
        return (self._location_ids,)

    def _parse_device(self, device: Payload) -> VehicleSnapshot:
        """Read a vehicle and its preferences from one item of the device list."""
        device_id = device.req_str("id")
        attributes = device.opt_obj("attributes")
        make = model = vin = name = None
        year = None
        if attributes is not None:
            make = attributes.opt_str("manufacturer")
            model = attributes.opt_str("model")
            vin = attributes.opt_str("vin")
            year = attributes.opt_int("year")
            name = attributes.opt_str("name")
        if not name:
            name = " ".join(part for part in (make, model) if part) or device_id
        preferences = ChargingPreferences()
        settings = device.opt_obj("settings")
        charging_preferences = (
            settings.opt_obj("chargingPreferences") if settings is not None else None
        )
        capacity_wh: float | None = None
        if charging_preferences is not None:
            preferences = self._parse_preferences(charging_preferences)
            self._location_ids[device_id] = _location_ids(charging_preferences)
            capacity_wh = _capacity_wh(charging_preferences)
        return VehicleSnapshot(
            vehicle=Vehicle(
                id=device_id,
                name=name,
                capabilities=CAPABILITIES,
                make=make,
                model=model,
                year=year,
                vin=vin,
            ),
            preferences=preferences,
            state=VehicleState(battery_capacity_wh=capacity_wh),
        )

    def _parse_preferences(self, data: Payload) -> ChargingPreferences:
        """Read ``chargingPreferences`` (the same shape as GET ev-preferences)."""
        behavior = data.opt_enum("chargingBehavior", CHARGING_BEHAVIORS, None)
        weekday_times: dict[Weekday, time] = {}
        days = data.opt_obj("weekDaySpecificReadyTimes")
        if days is not None:
            for key in days.data:
                day = WEEKDAY_KEYS.get(key.upper())
                value = None if day is None else _opt_hhmm(days, key)
                if day is not None and value is not None:
                    weekday_times[day] = value
        return ChargingPreferences(
            smart_charging=None
            if behavior is None
            else behavior != ChargingBehavior.OFF,
            charging_behavior=behavior,
            target_soc=_percent(data, "targetSoC"),
            minimal_soc=_percent(data, "minimalSoC"),
            ready_time=_opt_hhmm(data, "readyTime"),
            weekday_ready_times=weekday_times,
        )

    async def _async_enrich(
        self, snapshot: VehicleSnapshot, problems: list[ChargeBridgeError]
    ) -> VehicleSnapshot:
        """Add status, and the schedule where one can exist; a schedule failure is a problem only."""
        vehicle_id = snapshot.vehicle.id
        response = await self._request("GET", self._v1(f"/devices/{vehicle_id}/status"))
        state = _parse_status(
            Payload(self.name, response.data, f"status[{vehicle_id}]", problems),
            snapshot.state.battery_capacity_wh,
        )
        snapshot = replace(snapshot, state=state)
        if (
            state.charging_status not in SCHEDULED_STATUSES
            or snapshot.preferences.smart_charging is False
        ):
            return snapshot
        try:
            schedule = await self._async_get_schedule(vehicle_id, problems)
        except (ProviderAuthError, ProviderForbiddenError, ProviderRateLimitError):
            raise
        except ProviderRejectedError as err:
            if err.status != NO_SCHEDULE_STATUS:
                problems.append(err)
            return snapshot
        except ChargeBridgeError as err:
            problems.append(err)
            return snapshot
        return replace(snapshot, schedule=schedule)

    async def _async_get_schedule(
        self, vehicle_id: str, faults: list[ChargeBridgeError]
    ) -> Schedule:
        response = await self._request(
            "GET", self._v2(f"/devices/{vehicle_id}/smart-charging/schedule")
        )
        return _parse_schedule(
            Payload(self.name, response.data, f"schedule[{vehicle_id}]", faults)
        )

    async def async_get_preferences(self, vehicle_id: str) -> ChargingPreferences:
        """Read one vehicle's preferences (GET ev-preferences)."""
        response = await self._request(
            "GET", self._v2(f"/devices/{vehicle_id}/smart-charging/ev-preferences")
        )
        data = Payload(self.name, response.data, f"preferences[{vehicle_id}]")
        self._location_ids[vehicle_id] = _location_ids(data)
        return self._parse_preferences(data)

    async def _async_update_preferences(
        self, snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        """PUT ev-preferences by the document's strictest reading.

        The PUT acts as PATCH, yet ``targetSoC`` and ``readyTime`` are optional only when the
        behaviour is ``SMART_CHARGE_OFF``. So every body names ``chargingBehavior`` (read
        first when unknown), and unless the result is off it repeats the car's target and
        ready time(s) merged with the change. A field the car does not have is never invented.
        """
        vehicle_id = snapshot.vehicle.id
        current = snapshot.preferences
        if update.charging_behavior is None and current.charging_behavior is None:
            fetched = await self.async_get_preferences(vehicle_id)
            current = replace(fetched, boost=current.boost)
        behavior = await self._async_wanted_behavior(vehicle_id, current, update)
        new = current
        if behavior is not None:
            new = replace(
                new,
                charging_behavior=behavior,
                smart_charging=behavior != ChargingBehavior.OFF,
            )
        if update.target_soc is not None:
            new = replace(new, target_soc=update.target_soc)
        if update.minimal_soc is not None:
            new = replace(new, minimal_soc=update.minimal_soc)
        if update.ready_time is not None:
            new = replace(new, ready_time=update.ready_time)
        if update.weekday_ready_times:
            new = replace(
                new,
                weekday_ready_times={
                    **current.weekday_ready_times,
                    **update.weekday_ready_times,
                },
            )
        if behavior is None and not (
            update.target_soc is not None
            or update.minimal_soc is not None
            or update.ready_time is not None
            or update.weekday_ready_times
        ):
            return current
        off = new.charging_behavior is ChargingBehavior.OFF
        body: dict[str, Any] = {}
        if new.charging_behavior is not None:
            body["chargingBehavior"] = BEHAVIOR_NAMES[new.charging_behavior]
        if new.target_soc is not None and (update.target_soc is not None or not off):
            body["targetSoC"] = {"value": new.target_soc, "unit": PERCENT_UNIT}
        if update.minimal_soc is not None:
            body["minimalSoC"] = {"value": update.minimal_soc, "unit": PERCENT_UNIT}
        if new.ready_time is not None and (update.ready_time is not None or not off):
            body["readyTime"] = format_hhmm(new.ready_time)
        if new.weekday_ready_times and (update.weekday_ready_times or not off):
            body["weekDaySpecificReadyTimes"] = {
                day.name: format_hhmm(new.weekday_ready_times[day])
                for day in Weekday
                if day in new.weekday_ready_times
            }
        await self._request(
            "PUT",
            self._v2(f"/devices/{vehicle_id}/smart-charging/ev-preferences"),
            json=body,
        )
        return new

    async def _async_wanted_behavior(
        self,
        vehicle_id: str,
        current: ChargingPreferences,
        update: PreferencesUpdate,
    ) -> ChargingBehavior | None:
        """Choose the chargingBehavior to send, or None to leave it alone.

        Switching smart charging on keeps a mode that is already on; from off it picks
        at-location where the vehicle has charging locations, else anywhere.
        """
        if update.charging_behavior is not None:
            if update.smart_charging is not None and update.smart_charging != (
                update.charging_behavior != ChargingBehavior.OFF
            ):
                raise ConflictingUpdateError(
                    self.name, "smart_charging contradicts charging_behavior"
                )
            return update.charging_behavior
        if update.smart_charging is None:
            return None
        if not update.smart_charging:
            return ChargingBehavior.OFF
        if current.charging_behavior in (
            ChargingBehavior.AT_LOCATION,
            ChargingBehavior.ANYWHERE,
        ):
            return None
        if vehicle_id not in self._location_ids:
            await self.async_get_preferences(vehicle_id)
        if self._location_ids.get(vehicle_id):
            return ChargingBehavior.AT_LOCATION
        return ChargingBehavior.ANYWHERE


def _is_ev(item: Any) -> bool:
    """Tell whether a device-list item is a vehicle: ``type`` is ``EV`` (any case)."""
    kind = item.get("type") if isinstance(item, dict) else None
    return isinstance(kind, str) and kind.upper() == EV_DEVICE_TYPE


def _location_ids(data: Payload) -> tuple[str, ...]:
    """Read the charging location ids (they decide at-location vs anywhere)."""
    return tuple(
        item for item in data.opt_list("chargingLocationIds") if isinstance(item, str)
    )


def _capacity_wh(data: Payload) -> float | None:
    """``batteryCapacity`` in Wh (see BATTERY_CAPACITY_TO_WH)."""
    value = data.opt_float("batteryCapacity")
    return None if value is None else value * BATTERY_CAPACITY_TO_WH


def _percent(data: Payload, key: str) -> int | None:
    """Read a ``{"value", "unit"}`` state of charge given in percent; None otherwise."""
    soc = data.opt_obj(key)
    if soc is None:
        return None
    value = soc.opt_float("value")
    unit = soc.opt_str("unit")
    if value is None or unit is None or unit.upper() != PERCENT_UNIT:
        if unit is not None and unit.upper() != PERCENT_UNIT:
            _LOGGER.debug("Hiven %s is in %s, not exposed", soc.path, unit)
        return None
    return round(value)


def _opt_hhmm(data: Payload, key: str) -> time | None:
    """Read a local ``HH:mm`` ready-by time (seconds tolerated); garbage is a value fault."""
    value = data.opt_str(key)
    if value is None or value == "":
        return None
    parts = value.split(":")
    if 2 <= len(parts) <= 3 and all(
        len(part) == 2 and part.isdigit() for part in parts
    ):
        hour, minute = int(parts[0]), int(parts[1])
        if hour < 24 and minute < 60:
            return time(hour, minute)
    data.value_fault(key, "not an HH:mm time")
    return None


def _parse_status(data: Payload, fallback_capacity_wh: float | None) -> VehicleState:
    """``GET /v1/hiven/devices/:id/status`` → VehicleState."""
    status = data.opt_enum("chargingStatus", CHARGING_STATUSES, ChargingStatus.UNKNOWN)
    status = status or ChargingStatus.UNKNOWN
    plugged, charging = PLUG_AND_CHARGE.get(status, (None, None))
    range_value = data.opt_float("range")
    capacity = _capacity_wh(data)
    return VehicleState(
        state_of_charge=data.opt_float("soc"),
        range_km=None if range_value is None else range_value * RANGE_TO_KM,
        charging_status=status,
        plugged_in=plugged,
        charging=charging,
        battery_capacity_wh=capacity if capacity is not None else fallback_capacity_wh,
        updated_at=data.opt_datetime("timestamp"),
    )


def _parse_schedule(data: Payload) -> Schedule:
    """``GET …/smart-charging/schedule``: readyTime (UTC) and one slot per charging hour."""
    slots: list[ChargingSlot] = []
    hours = data.opt_obj("hourlyCharges")
    if hours is not None:
        for key in hours.data:
            fraction = hours.opt_float(key)
            if not fraction:
                continue
            try:
                start = datetime.fromisoformat(key)
                if start.tzinfo is None:
                    start = start.replace(tzinfo=UTC)
                start = start.astimezone(UTC)
                end = start + SLOT_LENGTH
            except (ValueError, OverflowError):
                hours.value_fault(key, "not an ISO hour")
                continue
            slots.append(ChargingSlot(start=start, end=end))
    slots.sort(key=lambda slot: slot.start)
    return Schedule(
        next_departure=data.opt_datetime("readyTime"),
        slots=tuple(slots),
        time_zone=data.opt_str("timeZone") or None,
    )
