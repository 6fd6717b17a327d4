"""Normalized, typed models every provider maps into.

Entities read only these models, so a fifth provider needs no entity code. Units are fixed
here once: percent, kilometres, watts, watt-hours, aware UTC datetimes, local ``time`` for
ready-by times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum

from .errors import (
    ChargeBridgeError,
    InvalidTimeError,
    MinimalAboveTargetError,
    NothingToChangeError,
    OutOfRangeError,
    UnsupportedFeatureError,
)


class ChargingStatus(StrEnum):
    """What the car is doing, in the words of the ``charging_status`` sensor."""

    CHARGING = "charging"
    """Receiving power."""
    PLUGGED_IN = "plugged_in"
    """Connected and waiting (smart charging holds it back, or paused)."""
    NOT_CHARGING = "not_charging"
    """Not charging; whether it is plugged in is not known."""
    COMPLETE = "complete"
    """Connected and reached its target."""
    DISCONNECTED = "disconnected"
    """Not connected to a charger."""
    UNKNOWN = "unknown"
    """The provider said something we do not know, or nothing."""


class ChargingBehavior(StrEnum):
    """Hiven's smart charging modes."""

    OFF = "off"
    """Smart charging disabled: the car charges at once."""
    AT_LOCATION = "at_location"
    """Smart charging only at the user's charging locations."""
    ANYWHERE = "anywhere"
    """Smart charging wherever the car is plugged in."""


class Weekday(StrEnum):
    """Days for per-weekday ready-by times, in ``date.weekday()`` order."""

    MONDAY = "monday"
    """Monday."""
    TUESDAY = "tuesday"
    """Tuesday."""
    WEDNESDAY = "wednesday"
    """Wednesday."""
    THURSDAY = "thursday"
    """Thursday."""
    FRIDAY = "friday"
    """Friday."""
    SATURDAY = "saturday"
    """Saturday."""
    SUNDAY = "sunday"
    """Sunday."""

    @classmethod
    def from_index(cls, index: int) -> Weekday:
        """Map ``date.weekday()`` (0 = Monday) to a member."""
        return WEEKDAYS[index]


WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)
"""Monday to Sunday (``date.weekday()`` order), built once: departures are looked up
for every car on every refresh."""


class Feature(StrEnum):
    """What a vehicle offers; entities exist only where the feature does.

    Values equal the entity keys of the public interface, except ``WEEKDAY_READY_TIMES``
    (the seven ``ready_time_<day>`` entities) and ``DEPOT_SCHEDULES`` (ChargEye actions).
    """

    STATE_OF_CHARGE = "state_of_charge"
    """Battery level in percent."""
    RANGE = "range"
    """Remaining range in km."""
    CHARGING_STATUS = "charging_status"
    """A ChargingStatus."""
    CHARGE_POWER = "charge_power"
    """Current (ChargEye: planned) charging power."""
    ENERGY_ADDED = "energy_added"
    """Energy added in this session."""
    BATTERY_CAPACITY = "battery_capacity"
    """Usable battery size."""
    NEXT_DEPARTURE = "next_departure"
    """Next ready-by time or planned departure."""
    LAST_UPDATE = "last_update"
    """When the provider last heard from the car."""
    PLUGGED_IN = "plugged_in"
    """Whether it is connected to a charger."""
    CHARGING = "charging"
    """Whether it receives power."""
    SMART_CHARGING = "smart_charging"
    """Smart charging can be switched on and off."""
    CHARGING_BEHAVIOR = "charging_behavior"
    """Hiven's three-way charging behaviour."""
    TARGET_SOC = "target_soc"
    """Charge target can be set (see Capabilities for its range)."""
    MINIMAL_SOC = "minimal_soc"
    """Minimal charge, reached whatever the price."""
    READY_TIME = "ready_time"
    """One ready-by time for all days."""
    WEEKDAY_READY_TIMES = "weekday_ready_times"
    """A ready-by time per weekday."""
    BOOST = "boost"
    """Charge now at full power."""
    DEPOT_SCHEDULES = "depot_schedules"
    """ChargEye depot schedules (arrival, departure, target)."""
    PROVIDER_MESSAGE = "provider_message"
    """Messages the provider sends about the car that need no action (events)."""
    CHARGING_PLAN = "charging_plan"
    """The provider publishes when it plans to charge (``Schedule.slots``): the calendar,
    ``planned_charging`` and ``next_charge_start``/``next_charge_end``."""
    DEPARTURE_SOC = "departure_soc"
    """The state of charge the plan reaches by departure (ChargEye's ``endSoc``)."""
    PLAN_REACHES_TARGET = "plan_reaches_target"
    """Whether the plan reaches the target (ChargEye's ``reachedTargetSocInSchedule``)."""


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What one vehicle supports, with the ranges its provider allows."""

    features: frozenset[Feature]
    target_soc_min: int = 0
    target_soc_max: int = 100
    minimal_soc_min: int = 0
    minimal_soc_max: int = 100

    def supports(self, feature: Feature) -> bool:
        """Tell whether the vehicle offers ``feature``."""
        return feature in self.features


@dataclass(frozen=True, kw_only=True)
class Vehicle:
    """A car (or bus, or truck) as its provider describes it."""

    id: str
    name: str
    capabilities: Capabilities
    make: str | None = None
    model: str | None = None
    year: int | None = None
    vin: str | None = None
    link_broken: bool = False
    """The provider has lost its connection to the car (needs the user)."""
    disabled: bool = False
    """The provider no longer lets this car be controlled (its controls are withdrawn)."""


@dataclass(frozen=True, kw_only=True)
class VehicleState:
    """Telemetry at one moment; None where the provider does not know."""

    state_of_charge: float | None = None
    range_km: float | None = None
    charging_status: ChargingStatus = ChargingStatus.UNKNOWN
    plugged_in: bool | None = None
    charging: bool | None = None
    charge_power_w: float | None = None
    energy_added_wh: float | None = None
    battery_capacity_wh: float | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ChargingPreferences:
    """What the user asked the provider's smart charging to do."""

    smart_charging: bool | None = None
    charging_behavior: ChargingBehavior | None = None
    target_soc: int | None = None
    minimal_soc: int | None = None
    ready_time: time | None = None
    weekday_ready_times: Mapping[Weekday, time] = field(default_factory=dict)
    boost: bool | None = None

    def effective_ready_time(self, day: Weekday) -> time | None:
        """Return the ready-by time that applies on ``day`` (its own, else the general one)."""
        return self.weekday_ready_times.get(day, self.ready_time)


@dataclass(frozen=True, kw_only=True)
class PreferencesUpdate:
    """A partial change: only fields that are not None are sent to the provider.

    ``weekday_ready_times`` holds only the days that change; clients merge it with the
    current map where the provider replaces the whole map.
    """

    smart_charging: bool | None = None
    charging_behavior: ChargingBehavior | None = None
    target_soc: int | None = None
    minimal_soc: int | None = None
    ready_time: time | None = None
    weekday_ready_times: Mapping[Weekday, time] | None = None
    boost: bool | None = None
    """Start (True) or stop (False) charging at full power now."""

    def changed_features(self) -> set[Feature]:
        """List the features this update touches (to check them against capabilities)."""
        wanted = {
            Feature.SMART_CHARGING: self.smart_charging,
            Feature.CHARGING_BEHAVIOR: self.charging_behavior,
            Feature.TARGET_SOC: self.target_soc,
            Feature.MINIMAL_SOC: self.minimal_soc,
            Feature.READY_TIME: self.ready_time,
            Feature.WEEKDAY_READY_TIMES: self.weekday_ready_times or None,
            Feature.BOOST: self.boost,
        }
        return {feature for feature, value in wanted.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class ChargingSlot:
    """A planned stretch of charging (Hiven plan hour, ChargEye segment, ev.energy interval).

    Slots are the provider's own pieces; ``charging_periods`` merges adjacent ones.
    """

    start: datetime
    end: datetime
    power_w: float | None = None
    energy_wh: float | None = None
    start_soc: float | None = None
    end_soc: float | None = None


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """The provider's plan: the next departure and when it will charge before it."""

    next_departure: datetime | None = None
    slots: tuple[ChargingSlot, ...] = ()
    """The planned charging (only stretches with power), in time order."""
    time_zone: str | None = None
    """The IANA zone the provider reads the car's local ready-by times in, if it says."""
    departure_soc: float | None = None
    """The state of charge the plan reaches by departure, where the provider says."""
    reaches_target: bool | None = None
    """Whether the plan reaches the target by departure, where the provider says."""


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    """One contiguous stretch of planned charging: adjacent slots merged."""

    start: datetime
    end: datetime
    energy_wh: float | None = None
    """The energy the provider plans for it; None when any of its slots does not say."""
    power_w: float | None = None
    """The highest planned power among its slots, where the provider says."""


def charging_periods(
    slots: Iterable[ChargingSlot], now: datetime
) -> tuple[ChargingPeriod, ...]:
    """Merge adjacent or overlapping slots into periods; keep the current and upcoming.

    A period that ended at or before ``now`` is left out; so are empty slots.
    """
    periods: list[ChargingPeriod] = []
    for slot in sorted(slots, key=lambda slot: slot.start):
        if slot.end <= slot.start:
            continue
        last = periods[-1] if periods else None
        if last is not None and slot.start <= last.end:
            periods[-1] = ChargingPeriod(
                start=last.start,
                end=max(last.end, slot.end),
                energy_wh=None
                if last.energy_wh is None or slot.energy_wh is None
                else last.energy_wh + slot.energy_wh,
                power_w=_highest(last.power_w, slot.power_w),
            )
        else:
            periods.append(
                ChargingPeriod(
                    start=slot.start,
                    end=slot.end,
                    energy_wh=slot.energy_wh,
                    power_w=slot.power_w,
                )
            )
    return tuple(period for period in periods if period.end > now)


def _highest(first: float | None, second: float | None) -> float | None:
    """Return the larger of two optional numbers (None only when both are)."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


@dataclass(frozen=True, kw_only=True)
class DepotSchedule:
    """One ChargEye schedule: when a vehicle is at the depot and what it needs by departure."""

    id: str
    vehicle_id: str
    location_uid: str | None = None
    planned_arrival: datetime | None = None
    planned_departure: datetime | None = None
    start_soc: float | None = None
    target_soc: float | None = None
    recurrence_rule: str | None = None
    slots: tuple[ChargingSlot, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DepotScheduleRequest:
    """A schedule to add through ChargEye's add endpoint (matched by departure time)."""

    planned_arrival: datetime
    planned_departure: datetime
    target_soc: float
    location_uid: str | None = None
    start_soc: float | None = None
    recurrence_rule: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderMessage:
    """Something the provider told about a car that needs no action (an event).

    ``type`` is snake_case and one of the client's ``message_types``.
    """

    id: str
    type: str
    title: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class VehicleSnapshot:
    """Everything known about one vehicle after a refresh.

    ``error`` is set when this vehicle's own data could not be read this time; its
    entities are then unavailable while the rest of the fleet carries on.
    """

    vehicle: Vehicle
    state: VehicleState = field(default_factory=VehicleState)
    preferences: ChargingPreferences = field(default_factory=ChargingPreferences)
    schedule: Schedule | None = None
    messages: tuple[ProviderMessage, ...] = ()
    """The provider's current informational messages about this car."""
    error: ChargeBridgeError | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderNotice:
    """Something the provider says the user must act on (a repair issue).

    ``code`` is snake_case and stable (``car_link_broken``, ``invalid_credentials``,
    ``car_not_reachable``, ``reconnect_utility_contract`` …); the integration translates it.
    """

    code: str
    vehicle_id: str | None = None
    message: str | None = None
    message_ids: tuple[str, ...] = ()
    """The provider's own ids of the messages behind this notice (several when it told the
    same thing more than once), so ``Provider.async_dismiss_notice`` can dismiss them all.
    Empty when the notice is no message of the provider's (a broken car link) or the
    message has no id: such a notice cannot be dismissed."""


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """The provider's request budget as its last response stated it."""

    limit: int | None = None
    remaining: int | None = None


@dataclass(frozen=True, kw_only=True)
class Fleet:
    """One account's vehicles after a refresh.

    ``problems`` are non-fatal errors met on the way (one vehicle's call failed, one item
    could not be parsed); the coordinator logs each once. The vehicles they concern carry
    ``error`` or are left out when not even their id could be read.
    """

    vehicles: Mapping[str, VehicleSnapshot]
    problems: tuple[ChargeBridgeError, ...] = ()
    notices: tuple[ProviderNotice, ...] = ()
    rate_limit: RateLimit | None = field(default=None, compare=False)
    """Not compared: it moves with every request, and no entity shows the fleet's copy
    (the coordinator reads the client's), so a fleet that differs only here is unchanged
    and its entities are not even asked (the coordinator compares fleets)."""


@dataclass(frozen=True, kw_only=True)
class FleetRead:
    """What one refresh reads; the default reads everything.

    Where a provider needs a request per car for its state (``Provider.state_per_vehicle``)
    each car can be read at its own pace: ``vehicles`` names the cars read this time, the
    others show what their last read said. ``account_list`` False shows the last list
    again instead of reading it, where the list carries only the fleet and preferences.
    A car never read yet, or whose last read failed, is always read.

    Where the list carries every car's state (Jedlix, ev.energy), ``vehicles`` names the
    cars whose details kept between reads (charge settings, plans) may be re-read because
    of their age; the others re-read them only when something changed (a write, a new
    plug or charging state). ``notices`` False shows the account's notices kept between
    reads (Jedlix's messages) again, whatever their age.
    """

    account_list: bool = True
    vehicles: frozenset[str] | None = None
    """None: every car."""
    notices: bool = True


FULL_READ = FleetRead()


@dataclass(frozen=True, kw_only=True)
class Account:
    """A stable identity for the config entry: never a secret."""

    unique_id: str
    title: str


def parse_hhmm(provider: str, value: str) -> time:
    """Parse a caller's ``HH:MM`` (24 h) or raise InvalidTimeError before any request."""
    hours, sep, minutes = value.partition(":")
    if (
        sep
        and len(hours) == 2
        and len(minutes) == 2
        and hours.isdigit()
        and minutes.isdigit()
        and int(hours) < 24
        and int(minutes) < 60
    ):
        return time(int(hours), int(minutes))
    raise InvalidTimeError(provider, value)


def format_hhmm(value: time) -> str:
    """Format a ready-by time the way every provider expects it."""
    return f"{value.hour:02d}:{value.minute:02d}"


def validate_update(
    provider: str, snapshot: VehicleSnapshot, update: PreferencesUpdate
) -> None:
    """Refuse an update the vehicle cannot take, before anything is sent.

    Checks each changed feature against the vehicle's capabilities and ranges, and that the
    minimal charge does not exceed the target (using the current value for the other one).
    """
    capabilities = snapshot.vehicle.capabilities
    changed = update.changed_features()
    if not changed:
        raise NothingToChangeError(provider, "nothing to change")
    for feature in sorted(changed):
        if not capabilities.supports(feature):
            raise UnsupportedFeatureError(provider, str(feature))
    _check_range(
        provider,
        "target_soc",
        update.target_soc,
        capabilities.target_soc_min,
        capabilities.target_soc_max,
    )
    _check_range(
        provider,
        "minimal_soc",
        update.minimal_soc,
        capabilities.minimal_soc_min,
        capabilities.minimal_soc_max,
    )
    current = snapshot.preferences
    target = update.target_soc if update.target_soc is not None else current.target_soc
    minimal = (
        update.minimal_soc if update.minimal_soc is not None else current.minimal_soc
    )
    if target is not None and minimal is not None and minimal > target:
        raise MinimalAboveTargetError(provider, minimal, target)


def _check_range(
    provider: str, name: str, value: int | None, low: int, high: int
) -> None:
    """Raise OutOfRangeError when ``value`` is set and outside ``low``..``high``."""
    if value is not None and not low <= value <= high:
        raise OutOfRangeError(provider, name, value, low, high)
