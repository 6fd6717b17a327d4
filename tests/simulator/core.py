"""Provider-neutral core of the simulator: clock, prices, vehicle physics, fleets, request log.

Provider modules build their APIs on these pieces; everything here is deterministic for a seed
and moves only when the simulated clock does, so tests never sleep.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
import copy
from dataclasses import dataclass, field, fields as dataclass_fields
from datetime import UTC, date, datetime, timedelta, tzinfo
import functools
import hashlib
import importlib
import math
import random
import re
import string
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, Self, cast
import uuid
from zoneinfo import ZoneInfo

from multidict import CIMultiDictProxy, MultiMapping

from .faults import FaultInjector
from .profiles import PROVIDER_NAMES

if TYPE_CHECKING:
    from . import (
        chargeye as chargeye_module,
        evenergy as evenergy_module,
        hiven as hiven_module,
        jedlix as jedlix_module,
    )

DEFAULT_START: Final = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
"""A Monday morning: cars are at home, plugged in, about to leave."""

DEFAULT_TIMEZONE: Final = "Europe/Amsterdam"
WEEKDAYS: Final = (
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
)
MAX_STEP_SECONDS: Final = 900.0
NO_READY_TIME_WINDOW_SECONDS: Final = 12 * 3600.0
_HOUR: Final = 3600.0
_MAX_READY_LOOKAHEAD_DAYS: Final = 8

TELEMETRY_JITTER: Final = 0.1
"""Default spread of a cloud's refresh period: each gap is period x (1 +/- jitter)."""
REPORT_HISTORY: Final = 2048
"""Cloud-update times kept per car (a week at 5 min), for measuring how late clients show them."""


type VehicleStatus = Literal["charging", "plugged_in", "complete", "disconnected"]
type IdFactory = Callable[[random.Random, int], str]
"""Makes a provider-formatted vehicle id from a seeded RNG and the vehicle's index."""

_MASK64: Final = (1 << 64) - 1


def _splitmix64(value: int) -> int:
    """Scramble an integer; a stable hash, unlike hash() which is salted per process."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def stable_hash(*values: int) -> int:
    """Return a 64-bit hash of integers that is the same in every process."""
    result = 0
    for value in values:
        result = _splitmix64(result ^ (value & _MASK64))
    return result


def _unit(*values: int) -> float:
    """Return a deterministic float in [0, 1) for the given integers."""
    return stable_hash(*values) / 2**64


def _string_seed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())


@functools.lru_cache(maxsize=4096)
def _local_midnight(ordinal: int, tz: tzinfo) -> float:
    """Epoch seconds of local midnight starting the day `ordinal` (routine times add to it)."""
    day = date.fromordinal(ordinal)
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def telemetry_period(period: float | None, jitter: float) -> float | None:
    """Check a cloud refresh setting; return the period, None when live (None or 0)."""
    if period is not None and (
        isinstance(period, bool) or not math.isfinite(period) or period < 0
    ):
        raise ValueError("the telemetry period must be a number of seconds >= 0")
    if isinstance(jitter, bool) or not 0 <= jitter < 1:
        raise ValueError("the telemetry jitter must be in [0, 1)")
    return period or None


def parse_hhmm(value: str | None) -> tuple[int, int] | None:
    """Parse "HH:MM" (24 h); None for anything else so bad stored data never crashes physics."""
    if not value or len(value) != 5 or value[2] != ":":
        return None
    hours, minutes = value[:2], value[3:]
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    hour, minute = int(hours), int(minutes)
    if hour > 23 or minute > 59:
        return None
    return hour, minute


class SimClock:
    """Simulated UTC time: manual unless realtime, so tests decide when time passes."""

    def __init__(
        self,
        start: datetime | None = None,
        *,
        realtime: bool = False,
        speed: float = 1.0,
    ) -> None:
        """Start at `start` (default DEFAULT_START); realtime follows wall time times `speed`."""
        start = DEFAULT_START if start is None else start
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._offset = 0.0
        self._wall_start = monotonic()
        self.realtime = realtime
        self.speed = speed

    def elapsed(self) -> float:
        """Seconds of simulated time since the start."""
        elapsed = self._offset
        if self.realtime:
            elapsed += (monotonic() - self._wall_start) * self.speed
        return elapsed

    def now(self) -> datetime:
        """Return the current simulated time (UTC, aware)."""
        return self._start + timedelta(seconds=self.elapsed())

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move time forward (also in realtime mode); time never goes back."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self._offset += seconds
        return self.now()


_BASE_PRICES: Final = (
    0.20, 0.18, 0.16, 0.15, 0.15, 0.17, 0.22, 0.29, 0.30, 0.26, 0.22, 0.20,
    0.19, 0.19, 0.21, 0.24, 0.28, 0.36, 0.40, 0.38, 0.32, 0.27, 0.24, 0.22,
)  # fmt: skip
"""EUR/kWh by local hour: cheap at night, a small solar dip at noon, peak 17-20."""


class PriceCurve:
    """Hourly energy price, the signal smart charging optimises against."""

    def __init__(
        self, seed: int = 1, timezone: str | tzinfo = DEFAULT_TIMEZONE
    ) -> None:
        """Prices for `seed`; the daily shape follows local time in `timezone`."""
        self.seed = seed
        self.tz: tzinfo = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self._cache: dict[int, float] = {}
        self._ranked_cache: dict[
            tuple[float, float], tuple[tuple[int, float], ...]
        ] = {}

    def price_for_index(self, hour_index: int) -> float:
        """Price of the hour starting at hour_index * 3600 (epoch seconds)."""
        price = self._cache.get(hour_index)
        if price is None:
            local = datetime.fromtimestamp(hour_index * _HOUR, self.tz)
            base = _BASE_PRICES[local.hour] - (0.02 if local.weekday() >= 5 else 0.0)
            noise = (_unit(self.seed, hour_index) - 0.5) * 0.06
            price = self._cache[hour_index] = round(base + noise, 4)
        return price

    def price(self, when: datetime) -> float:
        """Price (EUR/kWh) of the hour containing `when`."""
        return self.price_for_index(int(when.timestamp() // _HOUR))

    def hourly(self, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        """(hour start, price) for every hour overlapping [start, end)."""
        first = int(start.timestamp() // _HOUR)
        last = math.ceil(end.timestamp() / _HOUR)
        return [
            (datetime.fromtimestamp(index * _HOUR, UTC), self.price_for_index(index))
            for index in range(first, last)
        ]

    def cheapest_hours(
        self, start: datetime, end: datetime, hours_needed: float
    ) -> set[datetime]:
        """Hour starts of the cheapest hours in [start, end) that give `hours_needed` of time.

        Partial first and last hours count only for the time inside the window; when the window
        is too short, every hour in it is returned (charge all the time there is).
        """
        return {
            datetime.fromtimestamp(index * _HOUR, UTC)
            for index in self.cheapest_hour_indexes(
                start.timestamp(), end.timestamp(), hours_needed
            )
        }

    def cheapest_hour_indexes(
        self, start: float, end: float, hours_needed: float
    ) -> set[int]:
        """Like cheapest_hours, on epoch seconds and hour indexes (the physics hot path)."""
        if hours_needed <= 0 or end <= start:
            return set()
        chosen: set[int] = set()
        needed = hours_needed * _HOUR
        for index, available in self._ranked_slots(start, end):
            chosen.add(index)
            needed -= available
            if needed <= 1e-6:
                break
        return chosen

    def _ranked_slots(self, start: float, end: float) -> tuple[tuple[int, float], ...]:
        """(hour index, seconds available) in [start, end), cheapest first.

        Cached: cars synced together share windows (same now, same ready time).
        """
        ranked = self._ranked_cache.get((start, end))
        if ranked is None:
            slots: list[tuple[float, int, float]] = []
            for index in range(int(start // _HOUR), math.ceil(end / _HOUR)):
                available = min(end, (index + 1) * _HOUR) - max(start, index * _HOUR)
                if available > 0:
                    slots.append((self.price_for_index(index), index, available))
            slots.sort()
            ranked = tuple((index, available) for _price, index, available in slots)
            if len(self._ranked_cache) >= 512:
                self._ranked_cache.clear()
            self._ranked_cache[start, end] = ranked
        return ranked


@dataclass(slots=True)
class _SmartPlan:
    """Cheapest hours chosen for one (preferences, session) until its deadline."""

    key: tuple[object, ...]
    deadline: float
    hours: set[int]


@dataclass(frozen=True, slots=True)
class _RoutineEvent:
    time: float
    kind: Literal["depart", "return"]
    km: float


@dataclass(frozen=True, slots=True)
class _Routine:
    weekday_probability: float
    weekend_probability: float
    depart_minutes: tuple[int, int]
    return_minutes: tuple[int, int]
    km: tuple[float, float]


_ROUTINES: Final[dict[str, _Routine]] = {
    "car": _Routine(
        0.85, 0.45, (6 * 60 + 15, 9 * 60), (16 * 60 + 30, 19 * 60 + 30), (12, 90)
    ),
    "bus": _Routine(
        0.97, 0.8, (4 * 60 + 30, 6 * 60 + 30), (19 * 60, 23 * 60), (140, 300)
    ),
    "truck": _Routine(0.95, 0.2, (4 * 60, 6 * 60), (16 * 60, 20 * 60), (180, 380)),
}


@dataclass(kw_only=True, eq=False)
class SimVehicle:
    """Provider-neutral truth of one car; provider modules map it to their JSON and enums.

    Mutate preferences directly; use plug_in()/unplug() for the plug so sessions reset, and let
    advance_to() (through Fleet.sync / Simulator.sync) move soc, power and energy. With a
    telemetry period, ``reported`` is what the cloud last captured (set_telemetry).
    """

    id: str
    name: str = "Simulated EV"
    make: str = "Generic"
    model: str = "EV"
    year: int = 2024
    vin: str = ""
    license_plate: str = ""
    category: str = "car"
    battery_wh: float = 60_000.0
    max_power_w: float = 11_000.0
    consumption_wh_per_km: float = 170.0
    soc: float = 50.0
    plugged_in: bool = True
    plugged_in_at: datetime | None = None
    charge_power_w: float = 0.0
    session_energy_wh: float = 0.0
    odometer_km: float = 0.0
    last_sampled: datetime = DEFAULT_START
    smart_charging: bool = True
    target_soc: int = 80
    minimal_soc: int | None = None
    ready_time: str | None = "07:00"
    weekday_ready_times: dict[str, str] = field(default_factory=dict)
    boost: bool = False
    routine: bool = True
    routine_seed: int = 0
    telemetry_period: float | None = None
    """Seconds between the cloud's telemetry updates; None or 0: live (every read is now)."""
    telemetry_jitter: float = TELEMETRY_JITTER
    report_times: deque[datetime] = field(init=False, repr=False)
    """When the cloud captured the car's telemetry (newest last, REPORT_HISTORY at most)."""
    report_count: int = field(init=False, repr=False, default=0)
    """Captures since telemetry was (re)configured, the one at configuration included."""
    _reported: SimVehicle | None = field(init=False, repr=False, default=None)
    _next_report: float = field(init=False, repr=False, default=math.inf)
    _telemetry_seed: int = field(init=False, repr=False, default=0)
    _time: float = field(init=False, repr=False)
    _soc_seen: float = field(init=False, repr=False)
    _session: int = field(init=False, repr=False, default=0)
    _plan: _SmartPlan | None = field(init=False, repr=False, default=None)
    _event: _RoutineEvent | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        """Start the physics and the cloud's telemetry at last_sampled."""
        self._time = self.last_sampled.timestamp()
        self._soc_seen = self.soc
        self.set_telemetry(self.telemetry_period, self.telemetry_jitter)

    @property
    def reported(self) -> SimVehicle:
        """The car as the cloud last captured it (a frozen copy), or the car itself when live.

        Provider modules serve telemetry (soc, plug, power, its timestamp = last_sampled)
        from this; preferences, plans and sessions from the live car.
        """
        return self if self._reported is None else self._reported

    def set_telemetry(
        self, period: float | None, jitter: float = TELEMETRY_JITTER
    ) -> None:
        """Let the cloud capture telemetry every `period` s (None/0: live), starting now.

        Captures at once (the cloud's data when the setting starts); the next update comes
        at a per-car phase within one period, so cars are not synchronized.
        """
        self.telemetry_period = telemetry_period(period, jitter)
        self.telemetry_jitter = jitter
        self.report_times = deque(maxlen=REPORT_HISTORY)
        self.report_count = 0
        self._reported = None
        self._next_report = math.inf
        self._telemetry_seed = stable_hash(self.routine_seed, _string_seed(self.id))
        if self.telemetry_period is not None:
            self._capture(self._time)
            self._next_report = self._time + self.telemetry_period * _unit(
                self._telemetry_seed, 0
            )

    def _capture(self, moment: float) -> None:
        """Freeze the telemetry at `moment` (the physics stands there) as the cloud's view."""
        snapshot = object.__new__(SimVehicle)
        snapshot.__dict__ = self.__dict__.copy()  # copy.copy, at a third of the cost
        snapshot.last_sampled = datetime.fromtimestamp(moment, UTC)
        snapshot._reported = None
        snapshot._next_report = math.inf
        self._reported = snapshot
        self.report_times.append(snapshot.last_sampled)
        self.report_count += 1

    @property
    def range_km(self) -> float:
        """Remaining range at the current consumption."""
        return self.soc / 100 * self.battery_wh / self.consumption_wh_per_km

    @property
    def charging(self) -> bool:
        """Whether the car receives power right now."""
        return self.charge_power_w > 0

    @property
    def complete(self) -> bool:
        """Whether the car is plugged in and at its target."""
        return self.plugged_in and self.soc >= self.target_soc

    @property
    def status(self) -> VehicleStatus:
        """Provider-neutral charging status; provider modules map it to their enum."""
        if not self.plugged_in:
            return "disconnected"
        if self.charge_power_w > 0:
            return "charging"
        if self.soc >= self.target_soc:
            return "complete"
        return "plugged_in"

    @property
    def energy_to_target_wh(self) -> float:
        """Energy still needed to reach the target."""
        return max(0.0, (self.target_soc - self.soc) / 100 * self.battery_wh)

    def plug_in(self, at: datetime | None = None) -> None:
        """Connect the car: starts a new session (energy counter back to zero)."""
        self.plugged_in = True
        self.plugged_in_at = at if at is not None else self.last_sampled
        self.session_energy_wh = 0.0
        self._session += 1
        self._plan = None

    def unplug(self) -> None:
        """Disconnect the car: no power, boost ends with the session."""
        self.plugged_in = False
        self.plugged_in_at = None
        self.charge_power_w = 0.0
        self.boost = False
        self._plan = None

    def next_ready_time(self, now: datetime, tz: tzinfo) -> datetime | None:
        """Next ready-by time after `now` (weekday map wins over ready_time), or None."""
        ready = self._next_ready(now.timestamp(), tz)
        return None if ready is None else datetime.fromtimestamp(ready, UTC)

    def _next_ready(self, now: float, tz: tzinfo) -> float | None:
        if not self.ready_time and not self.weekday_ready_times:
            return None
        today = datetime.fromtimestamp(now, tz).date()
        for offset in range(_MAX_READY_LOOKAHEAD_DAYS):
            day = today + timedelta(days=offset)
            hhmm = parse_hhmm(
                self.weekday_ready_times.get(WEEKDAYS[day.weekday()], self.ready_time)
            )
            if hhmm is None:
                continue
            ready = datetime(day.year, day.month, day.day, *hhmm, tzinfo=tz).timestamp()
            if ready > now:
                return ready
        return None

    def advance_to(
        self,
        when: datetime,
        prices: PriceCurve,
        on_report: Callable[[SimVehicle], object] | None = None,
    ) -> None:
        """Integrate charging, plug changes and trips up to `when`; never goes back.

        Stops at each cloud update on the way to capture the telemetry there (O(updates)),
        and hands each capture to `on_report` (ev.energy keeps them as status logs).
        """
        end = when.timestamp()
        period = self.telemetry_period
        while self._next_report <= end and period is not None:
            moment = self._next_report
            self._advance(moment, prices, None)
            self._capture(moment)
            spread = 2 * _unit(self._telemetry_seed, self.report_count) - 1
            self._next_report = moment + period * (1 + self.telemetry_jitter * spread)
            if on_report is not None:
                on_report(self.reported)
        self._advance(end, prices, None)
        if end >= self.last_sampled.timestamp():
            self.last_sampled = when

    def charge_plan(
        self, now: datetime, prices: PriceCurve, *, horizon_hours: float = 48
    ) -> list[tuple[datetime, datetime, float]]:
        """Predicted charging intervals (start, end, power W) if the car stays plugged in.

        Runs the same physics on a copy without the daily routine, so a provider's published
        schedule (Hiven hourlyCharges, ChargEye plan segments) matches what then happens.
        """
        ghost = copy.copy(self)
        ghost.routine = False
        ghost.weekday_ready_times = dict(self.weekday_ready_times)
        start = max(now.timestamp(), ghost._time)
        ghost._advance(start, prices, None)
        segments: list[tuple[float, float, float]] = []
        ghost._advance(start + horizon_hours * _HOUR, prices, segments)
        return [
            (
                datetime.fromtimestamp(begin, UTC),
                datetime.fromtimestamp(end, UTC),
                power,
            )
            for begin, end, power in segments
        ]

    def as_dict(self) -> dict[str, Any]:
        """Truth of the car for /_admin/state and debugging."""
        return {
            "id": self.id,
            "name": self.name,
            "make": self.make,
            "model": self.model,
            "year": self.year,
            "vin": self.vin,
            "license_plate": self.license_plate,
            "category": self.category,
            "battery_wh": self.battery_wh,
            "max_power_w": self.max_power_w,
            "consumption_wh_per_km": self.consumption_wh_per_km,
            "soc": round(self.soc, 3),
            "range_km": round(self.range_km, 1),
            "plugged_in": self.plugged_in,
            "plugged_in_at": self.plugged_in_at.isoformat()
            if self.plugged_in_at
            else None,
            "charging": self.charging,
            "status": self.status,
            "charge_power_w": self.charge_power_w,
            "session_energy_wh": round(self.session_energy_wh, 1),
            "odometer_km": round(self.odometer_km, 1),
            "last_sampled": self.last_sampled.isoformat(),
            "telemetry": {
                "period": self.telemetry_period,
                "jitter": self.telemetry_jitter,
                "reported_at": self.reported.last_sampled.isoformat(),
                "reports": self.report_count,
            },
            "preferences": {
                "smart_charging": self.smart_charging,
                "target_soc": self.target_soc,
                "minimal_soc": self.minimal_soc,
                "ready_time": self.ready_time,
                "weekday_ready_times": dict(self.weekday_ready_times),
                "boost": self.boost,
            },
        }

    # --- physics -------------------------------------------------------------------------

    def _advance(
        self,
        end: float,
        prices: PriceCurve,
        segments: list[tuple[float, float, float]] | None,
    ) -> None:
        now = self._time
        if self.soc != self._soc_seen:
            self._plan = None  # soc was changed from outside: plan again
        power = 0.0
        while True:
            event = self._next_event(now, prices.tz) if self.routine else None
            power, threshold = self._decide(now, prices)
            if now >= end:
                break
            step_end = end if event is None else min(end, event.time)
            plan = self._plan
            if plan is not None and now < plan.deadline < step_end:
                # the ready time ends the plan: decide there, wherever the caller stops
                step_end = plan.deadline
            if power > 0:
                step_end = min(
                    step_end, now + MAX_STEP_SECONDS, (now // _HOUR + 1) * _HOUR
                )
                seconds_to_threshold = (
                    (threshold - self.soc) / 100 * self.battery_wh / power * _HOUR
                )
                reached = now + seconds_to_threshold <= step_end
                if reached:
                    step_end = max(now, now + seconds_to_threshold)
                energy = power * (step_end - now) / _HOUR
                self.session_energy_wh += energy
                if reached:
                    self.soc = float(threshold)
                    if threshold >= self.target_soc:
                        self.boost = False
                else:
                    self.soc = min(self.soc + energy / self.battery_wh * 100, threshold)
                if segments is not None and step_end > now:
                    if segments and segments[-1][1] == now and segments[-1][2] == power:
                        segments[-1] = (segments[-1][0], step_end, power)
                    else:
                        segments.append((now, step_end, power))
            elif self.plugged_in and self.soc < self.target_soc:
                step_end = min(step_end, (now // _HOUR + 1) * _HOUR)  # next price hour
            now = step_end
            if event is not None and now >= event.time:
                self._apply_event(event)
        self._time = max(self._time, end)
        self.charge_power_w = power
        self._soc_seen = self.soc

    def _decide(self, now: float, prices: PriceCurve) -> tuple[float, float]:
        """Return (power W, soc at which to decide again) for the moment `now`."""
        target = self.target_soc
        if not self.plugged_in or self.soc >= target or self.max_power_w <= 0:
            return 0.0, math.inf
        if self.boost or not self.smart_charging:
            self._plan = None
            return self.max_power_w, target
        if self.minimal_soc is not None and self.soc < self.minimal_soc:
            self._plan = None
            return self.max_power_w, min(self.minimal_soc, target)
        plan = self._smart_plan(now, prices)
        if int(now // _HOUR) in plan.hours:
            return self.max_power_w, target
        return 0.0, math.inf

    def _smart_plan(self, now: float, prices: PriceCurve) -> _SmartPlan:
        """Cheapest hours before the next ready time that still reach the target.

        The plan stays valid while it is followed (charging a planned hour uses up exactly that
        hour's need), so it is recomputed only when preferences, the session or soc change.
        """
        key = (
            self._session,
            self.target_soc,
            self.ready_time,
            tuple(sorted(self.weekday_ready_times.items())),
            self.max_power_w,
            self.battery_wh,
        )
        plan = self._plan
        if plan is not None and plan.key == key and now < plan.deadline:
            return plan
        ready = self._next_ready(now, prices.tz)
        deadline = now + NO_READY_TIME_WINDOW_SECONDS if ready is None else ready
        hours_needed = self.energy_to_target_wh / self.max_power_w
        plan = _SmartPlan(
            key, deadline, prices.cheapest_hour_indexes(now, deadline, hours_needed)
        )
        self._plan = plan
        return plan

    def _next_event(self, now: float, tz: tzinfo) -> _RoutineEvent | None:
        event = self._event
        if event is not None and event.time > now:
            return event
        routine = _ROUTINES.get(self.category, _ROUTINES["car"])
        first_day = datetime.fromtimestamp(now, tz).date().toordinal()
        self._event = None
        for ordinal in range(first_day, first_day + 9):
            weekend = (ordinal - 1) % 7 >= 5  # date.fromordinal(1) is a Monday
            probability = (
                routine.weekend_probability if weekend else routine.weekday_probability
            )
            draw = stable_hash(self.routine_seed, ordinal)
            if draw / 2**64 >= probability:
                continue
            midnight = _local_midnight(ordinal, tz)
            draw = _splitmix64(draw)
            low, high = routine.depart_minutes
            depart = midnight + 60 * (low + (draw % (high - low)))
            draw = _splitmix64(draw)
            low, high = routine.return_minutes
            back = midnight + 60 * (low + (draw % (high - low)))
            draw = _splitmix64(draw)
            km_low, km_high = routine.km
            km = round(km_low + draw / 2**64 * (km_high - km_low), 1)
            for candidate in (
                _RoutineEvent(depart, "depart", km),
                _RoutineEvent(back, "return", km),
            ):
                if candidate.time > now:
                    self._event = candidate
                    return candidate
        return None

    def _apply_event(self, event: _RoutineEvent) -> None:
        """Leave in the morning (half the trip), come back and plug in (the other half).

        A car found plugged in at return time never left (or was plugged in elsewhere):
        its session is left alone.
        """
        self._event = None
        if event.kind == "depart":
            if self.plugged_in:
                self.unplug()
            self._drive(event.km / 2)
        elif not self.plugged_in:
            self._drive(event.km / 2)
            self.plug_in(datetime.fromtimestamp(event.time, UTC))
        self._soc_seen = self.soc

    def _drive(self, km: float) -> None:
        """Use the trip's energy, keeping a small reserve."""
        reserve_soc = 3.0
        usable_km = max(0.0, (self.soc - reserve_soc) / 100 * self.battery_wh) / (
            self.consumption_wh_per_km
        )
        km = min(km, usable_km)
        self.soc -= km * self.consumption_wh_per_km / self.battery_wh * 100
        self.odometer_km += km


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleModel:
    """A catalogue entry: what a real car of this model looks like."""

    make: str
    model: str
    category: Literal["car", "bus", "truck"]
    years: tuple[int, int]
    battery_kwh: tuple[float, ...]
    max_power_kw: tuple[float, ...]
    consumption_wh_per_km: float
    wmi: str


CAR_MODELS: Final[tuple[VehicleModel, ...]] = (
    VehicleModel(make="Tesla", model="Model 3", category="car", years=(2019, 2025), battery_kwh=(57.5, 75.0), max_power_kw=(11.0,), consumption_wh_per_km=150, wmi="5YJ"),
    VehicleModel(make="Tesla", model="Model Y", category="car", years=(2021, 2025), battery_kwh=(60.0, 75.0), max_power_kw=(11.0,), consumption_wh_per_km=165, wmi="7SA"),
    VehicleModel(make="Volkswagen", model="ID.3", category="car", years=(2020, 2025), battery_kwh=(58.0, 77.0), max_power_kw=(11.0,), consumption_wh_per_km=160, wmi="WVW"),
    VehicleModel(make="Volkswagen", model="ID.4", category="car", years=(2021, 2025), battery_kwh=(52.0, 77.0), max_power_kw=(11.0,), consumption_wh_per_km=180, wmi="WVG"),
    VehicleModel(make="Kia", model="EV6", category="car", years=(2021, 2025), battery_kwh=(58.0, 77.4), max_power_kw=(11.0,), consumption_wh_per_km=175, wmi="KNA"),
    VehicleModel(make="Hyundai", model="Ioniq 5", category="car", years=(2021, 2025), battery_kwh=(58.0, 77.4, 84.0), max_power_kw=(11.0,), consumption_wh_per_km=180, wmi="KMH"),
    VehicleModel(make="Renault", model="Megane E-Tech", category="car", years=(2022, 2025), battery_kwh=(40.0, 60.0), max_power_kw=(7.4, 22.0), consumption_wh_per_km=160, wmi="VF1"),
    VehicleModel(make="Polestar", model="2", category="car", years=(2020, 2025), battery_kwh=(69.0, 79.0), max_power_kw=(11.0,), consumption_wh_per_km=180, wmi="LPS"),
    VehicleModel(make="BMW", model="i4", category="car", years=(2021, 2025), battery_kwh=(67.0, 80.7), max_power_kw=(11.0,), consumption_wh_per_km=170, wmi="WBY"),
    VehicleModel(make="Nissan", model="Leaf", category="car", years=(2018, 2024), battery_kwh=(39.0, 59.0), max_power_kw=(6.6,), consumption_wh_per_km=170, wmi="SJN"),
    VehicleModel(make="Skoda", model="Enyaq", category="car", years=(2021, 2025), battery_kwh=(58.0, 77.0), max_power_kw=(11.0,), consumption_wh_per_km=175, wmi="TMB"),
)  # fmt: skip
"""Home fleets (Hiven, Jedlix, ev.energy): usable battery sizes and home AC power."""

DEPOT_MODELS: Final[tuple[VehicleModel, ...]] = (
    VehicleModel(make="Volvo", model="7900 Electric", category="bus", years=(2019, 2025), battery_kwh=(200.0, 264.0, 470.0), max_power_kw=(150.0,), consumption_wh_per_km=1000, wmi="YV3"),
    VehicleModel(make="MAN", model="Lion's City 12 E", category="bus", years=(2021, 2025), battery_kwh=(480.0,), max_power_kw=(150.0,), consumption_wh_per_km=900, wmi="WMA"),
    VehicleModel(make="Solaris", model="Urbino 12 electric", category="bus", years=(2019, 2025), battery_kwh=(400.0, 500.0), max_power_kw=(125.0,), consumption_wh_per_km=1000, wmi="SUU"),
    VehicleModel(make="Mercedes-Benz", model="eCitaro", category="bus", years=(2019, 2025), battery_kwh=(292.0, 441.0), max_power_kw=(150.0,), consumption_wh_per_km=1100, wmi="WEB"),
    VehicleModel(make="Volvo", model="FH Electric", category="truck", years=(2022, 2025), battery_kwh=(540.0,), max_power_kw=(250.0,), consumption_wh_per_km=1300, wmi="YV2"),
)  # fmt: skip
"""ChargEye depot fleets: buses and trucks, 200-600 kWh, depot DC power."""

_FIRST_NAMES: Final = (
    "Anna", "Bas", "Chris", "Daan", "Emma", "Fenna", "Guus", "Hanna", "Isa", "Jesse",
    "Kim", "Lotte", "Milan", "Noor", "Olivia", "Pim", "Roos", "Sem", "Tess", "Vera",
)  # fmt: skip
_VIN_CHARS: Final = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_ID_CHARS: Final = string.ascii_uppercase + string.digits


def uuid_ids(rng: random.Random, index: int) -> str:
    """Id factory: random (seeded) UUID4 strings."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def prefixed_ids(prefix: str, length: int = 26, alphabet: str = _ID_CHARS) -> IdFactory:
    """Id factory for ids like ev.energy's `vhcl` + 26 upper-case characters."""

    def factory(rng: random.Random, index: int) -> str:
        return prefix + "".join(rng.choices(alphabet, k=length))

    return factory


def numbered_ids(template: str) -> IdFactory:
    """Id factory formatting the 1-based index into a template such as "bus-{:03d}"."""

    def factory(rng: random.Random, index: int) -> str:
        return template.format(index + 1)

    return factory


def _make_vehicle(
    index: int,
    *,
    seed: int,
    salt: str,
    models: Sequence[VehicleModel],
    id_factory: IdFactory,
    start: datetime,
    taken: Mapping[str, object],
) -> SimVehicle:
    """Generate vehicle `index`; independent of the others, so fleets are stable per index."""
    rng = random.Random(_string_seed(f"chargebridge:{seed}:{salt}:{index}"))
    spec = models[rng.randrange(len(models))]
    id_rng = random.Random(rng.getrandbits(64))
    vehicle_id = id_factory(id_rng, index)
    while vehicle_id in taken:
        vehicle_id = id_factory(id_rng, index)
    depot = spec.category != "car"
    if spec.category == "bus":
        name = f"Bus {101 + index}"
    elif spec.category == "truck":
        name = f"Truck {1 + index}"
    else:
        name = f"{_FIRST_NAMES[rng.randrange(len(_FIRST_NAMES))]}'s {spec.model}"
    plugged_in = rng.random() < (0.9 if depot else 0.7)
    weekday_ready_times: dict[str, str] = {}
    if not depot and rng.random() < 0.3:
        weekday_ready_times = {"SATURDAY": "10:00", "SUNDAY": "10:00"}
    vehicle = SimVehicle(
        id=vehicle_id,
        name=name,
        make=spec.make,
        model=spec.model,
        year=rng.randint(*spec.years),
        vin=spec.wmi + "".join(rng.choices(_VIN_CHARS, k=14)),
        license_plate=(
            "".join(rng.choices(string.ascii_uppercase, k=2))
            + f"-{rng.randrange(1000):03d}-"
            + rng.choice(string.ascii_uppercase)
        ),
        category=spec.category,
        battery_wh=spec.battery_kwh[rng.randrange(len(spec.battery_kwh))] * 1000,
        max_power_w=spec.max_power_kw[rng.randrange(len(spec.max_power_kw))] * 1000,
        consumption_wh_per_km=round(
            spec.consumption_wh_per_km * rng.uniform(0.92, 1.08)
        ),
        soc=round(rng.uniform(15, 90), 1),
        plugged_in=plugged_in,
        plugged_in_at=start - timedelta(minutes=rng.randrange(60, 720))
        if plugged_in
        else None,
        odometer_km=float(rng.randrange(2_000, 400_000 if depot else 120_000)),
        last_sampled=start,
        smart_charging=rng.random() < (0.95 if depot else 0.85),
        target_soc=rng.choice((90, 100) if depot else (80, 80, 90, 100)),
        minimal_soc=rng.choice((None, 30) if depot else (None, None, 20, 30)),
        ready_time=rng.choice(
            ("04:30", "05:00", "05:30")
            if depot
            else ("06:30", "07:00", "07:30", "08:00")
        ),
        weekday_ready_times=weekday_ready_times,
        routine_seed=rng.getrandbits(64),
    )
    if vehicle.minimal_soc is not None and vehicle.minimal_soc > vehicle.target_soc:
        vehicle.minimal_soc = None
    return vehicle


class Fleet:
    """The cars of one provider account, generated deterministically from (count, seed)."""

    def __init__(
        self,
        *,
        seed: int,
        id_factory: IdFactory,
        prices: PriceCurve,
        models: Sequence[VehicleModel] = CAR_MODELS,
        salt: str = "",
        start: datetime = DEFAULT_START,
        routine: bool = True,
    ) -> None:
        """Create an empty fleet; use Fleet.generate() for a populated one."""
        self.vehicles: dict[str, SimVehicle] = {}
        self.seed = seed
        self.id_factory = id_factory
        self.prices = prices
        self.models = tuple(models)
        self.salt = salt
        self.routine = routine
        self.synced_to = start
        self.telemetry_period: float | None = None
        self.telemetry_jitter = TELEMETRY_JITTER
        self.on_report: Callable[[SimVehicle], object] | None = None
        """Called with each cloud capture (a frozen copy of the car); see watch()."""
        self._next_index = 0

    @classmethod
    def generate(
        cls,
        count: int,
        seed: int,
        id_factory: IdFactory,
        *,
        models: Sequence[VehicleModel] = CAR_MODELS,
        salt: str = "",
        prices: PriceCurve | None = None,
        start: datetime = DEFAULT_START,
        routine: bool = True,
    ) -> Self:
        """Generate `count` realistic vehicles; the same arguments give the same fleet."""
        fleet = cls(
            seed=seed,
            id_factory=id_factory,
            prices=prices if prices is not None else PriceCurve(seed),
            models=models,
            salt=salt,
            start=start,
            routine=routine,
        )
        for _ in range(count):
            fleet.add_vehicle()
        return fleet

    def __iter__(self) -> Iterator[SimVehicle]:
        """Iterate over the vehicles in creation order."""
        return iter(self.vehicles.values())

    def __len__(self) -> int:
        """Return the number of vehicles."""
        return len(self.vehicles)

    def get(self, vehicle_id: str) -> SimVehicle | None:
        """Return the vehicle with this id, or None."""
        return self.vehicles.get(vehicle_id)

    def add_vehicle(self, **overrides: Any) -> SimVehicle:
        """Add the next generated vehicle (overrides: any SimVehicle field, e.g. id, soc)."""
        unknown = set(overrides) - _VEHICLE_FIELDS
        if unknown:
            raise TypeError(f"unknown SimVehicle fields: {sorted(unknown)}")
        vehicle = _make_vehicle(
            self._next_index,
            seed=self.seed,
            salt=self.salt,
            models=self.models,
            id_factory=self.id_factory,
            start=self.synced_to,
            taken=self.vehicles,
        )
        self._next_index += 1
        vehicle.routine = self.routine
        vehicle.telemetry_period = self.telemetry_period
        vehicle.telemetry_jitter = self.telemetry_jitter
        for name, value in overrides.items():
            setattr(vehicle, name, value)
        if vehicle.id in self.vehicles:
            raise ValueError(f"vehicle id {vehicle.id!r} already exists")
        vehicle.last_sampled = self.synced_to
        vehicle.__post_init__()
        self.vehicles[vehicle.id] = vehicle
        self._announce(vehicle)
        return vehicle

    def remove_vehicle(self, vehicle_id: str) -> SimVehicle:
        """Remove and return a vehicle (KeyError when unknown)."""
        return self.vehicles.pop(vehicle_id)

    def sync(self, now: datetime) -> None:
        """Advance every vehicle to `now` (cheap for small steps; called on every request)."""
        prices = self.prices
        on_report = self.on_report
        for vehicle in self.vehicles.values():
            vehicle.advance_to(now, prices, on_report)
        self.synced_to = max(self.synced_to, now)

    def set_telemetry(
        self, period: float | None, jitter: float = TELEMETRY_JITTER
    ) -> None:
        """Give every car (and the cars added later) this cloud refresh; see SimVehicle."""
        self.telemetry_period = telemetry_period(period, jitter)
        self.telemetry_jitter = jitter
        for vehicle in self.vehicles.values():
            vehicle.set_telemetry(period, jitter)
            self._announce(vehicle)

    def watch(self, on_report: Callable[[SimVehicle], object]) -> None:
        """Hand every cloud capture to `on_report`, starting with the ones standing now."""
        self.on_report = on_report
        for vehicle in self.vehicles.values():
            self._announce(vehicle)

    def _announce(self, vehicle: SimVehicle) -> None:
        """Hand a configuration-time capture to on_report like any other cloud update."""
        if self.on_report is not None and vehicle.telemetry_period is not None:
            self.on_report(vehicle.reported)


_VEHICLE_FIELDS: Final = frozenset(
    item.name for item in dataclass_fields(SimVehicle) if item.init
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One request as the simulator received it, for assertions on what a client sent."""

    provider: str | None
    method: str
    path: str
    query: MultiMapping[str]
    headers: CIMultiDictProxy[str]
    json: Any
    form: dict[str, str] | None
    body: bytes
    time: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON form for GET /_admin/requests."""
        return {
            "provider": self.provider,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "json": self.json,
            "form": self.form,
            "time": self.time.isoformat(),
        }


class RequestLog:
    """Every provider request received, including those failed by injected faults."""

    def __init__(self) -> None:
        """Start empty."""
        self.entries: list[RecordedRequest] = []

    def __iter__(self) -> Iterator[RecordedRequest]:
        """Iterate in arrival order."""
        return iter(self.entries)

    def __len__(self) -> int:
        """Return the number of recorded requests."""
        return len(self.entries)

    def record(self, entry: RecordedRequest) -> None:
        """Append a request (called by the app middleware)."""
        self.entries.append(entry)

    def filter(
        self,
        provider: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> list[RecordedRequest]:
        """Return requests matching all given criteria; `path` is a regex searched in the path."""
        pattern = re.compile(path) if path is not None else None
        method = method.upper() if method is not None else None
        return [
            entry
            for entry in self.entries
            if (provider is None or entry.provider == provider)
            and (method is None or entry.method == method)
            and (pattern is None or pattern.search(entry.path))
        ]

    def count(
        self,
        provider: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> int:
        """Count requests matching all given criteria (path: regex)."""
        return len(self.filter(provider, method, path))

    def for_provider(self, provider: str) -> list[RecordedRequest]:
        """Return the requests sent to one provider's API."""
        return self.filter(provider=provider)

    def last(
        self,
        provider: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> RecordedRequest:
        """Return the most recent matching request (AssertionError when there is none)."""
        matches = self.filter(provider, method, path)
        if not matches:
            raise AssertionError(
                f"no request recorded for provider={provider} method={method} path={path}"
            )
        return matches[-1]

    def clear(self) -> None:
        """Forget all requests."""
        self.entries.clear()


@dataclass(frozen=True, slots=True)
class Variant:
    """A reading the provider's document permits that our clients need not expect.

    Each provider module lists its variants in ``VARIANTS`` (name -> Variant); the name is
    the State attribute it sets. Tests set them in Python, scripts with
    ``POST /_admin/variants/{provider}``; ``strict`` is the value strict mode gives it.
    """

    description: str
    accepts: Callable[[Any], bool]
    """Whether a JSON value is valid for this variant."""
    from_json: Callable[[Any], Any] = lambda value: value
    to_json: Callable[[Any], Any] = lambda value: value
    strict: Any = None
    """The value strict mode sets (None: strict mode leaves this variant alone)."""


def is_bool(value: Any) -> bool:
    """Accept a JSON boolean."""
    return isinstance(value, bool)


def is_string_list(value: Any) -> bool:
    """Accept a JSON array of strings."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def string_set(value: Any) -> set[str]:
    """Read a JSON array of strings as a set."""
    return set(value)


def sorted_list(value: Any) -> list[Any]:
    """Write a set as a sorted JSON array."""
    return sorted(value)


class ProviderState(Protocol):
    """What every provider module's State offers, for the core and for tests."""

    fleet: Fleet
    credentials: dict[str, str]
    """The credentials the provider accepts now (tests may change them)."""

    def sync(self) -> datetime:
        """Advance the provider's cars to now (and record what it tracks); return now."""

    def add_vehicle(self, **overrides: Any) -> SimVehicle:
        """Add a generated vehicle (overrides: SimVehicle fields)."""

    def remove_vehicle(self, vehicle_id: str) -> SimVehicle:
        """Remove a vehicle, as the provider would."""

    def revoke_credentials(self) -> None:
        """Refuse the current credentials from now on (and every token issued with them)."""

    def admin_state(self) -> dict[str, Any]:
        """Extra truth for GET /_admin/state."""


class TokenState(ProviderState, Protocol):
    """The State of a provider that issues access tokens."""

    tokens: dict[str, datetime]
    """Issued access token -> expiry (simulated time)."""

    def issue_token(self) -> str:
        """Issue a new access token (what the token endpoint does)."""

    def token_valid(self, token: str) -> bool:
        """Whether ``token`` was issued and has not expired."""

    def expire_tokens(self) -> None:
        """Make every issued token expire now; the credentials still obtain new ones."""

    def revoke_tokens(self) -> None:
        """Forget every issued token; the credentials still obtain new ones."""


def provider_telemetry_period(name: str) -> float | None:
    """Return a provider module's default cloud refresh (``TELEMETRY_PERIOD``), None: none.

    A provider without one serves no telemetry to delay (ChargEye serves plans).
    """
    period: float | None = getattr(load_provider_module(name), "TELEMETRY_PERIOD", None)
    return period


def default_telemetry() -> dict[str, float]:
    """Each telemetry provider's own default refresh period (seconds), for the CLI."""
    return {
        name: period
        for name in PROVIDER_NAMES
        if (period := provider_telemetry_period(name)) is not None
    }


def load_provider_module(name: str) -> Any:
    """Import tests.simulator.<name> (late, as provider modules import this one)."""
    return importlib.import_module(f"{__package__}.{name}")


def provider_variants(name: str) -> Mapping[str, Variant]:
    """Return the variants a provider module declares (``VARIANTS``, maybe none)."""
    variants: Mapping[str, Variant] = getattr(
        load_provider_module(name), "VARIANTS", {}
    )
    return variants


class Simulator:
    """The whole simulated world: one clock, one price curve, four provider accounts."""

    hiven: hiven_module.State
    chargeye: chargeye_module.State
    jedlix: jedlix_module.State
    evenergy: evenergy_module.State

    def __init__(
        self,
        vehicles: int = 3,
        seed: int = 1,
        clock: SimClock | None = None,
        latency_ms: float = 0,
        *,
        timezone: str = DEFAULT_TIMEZONE,
        routine: bool = True,
        strict: bool = False,
        telemetry: Mapping[str, float | None] | None = None,
        telemetry_jitter: float = TELEMETRY_JITTER,
    ) -> None:
        """Create `vehicles` cars per provider, deterministic for `seed`.

        ``strict`` enforces the documents' strictest readings (see ``set_strict``).
        ``telemetry`` (provider -> seconds between cloud updates) delays what the clouds
        report; off (live) unless given, so a test that changes a car sees it at once.
        """
        self.vehicle_count = vehicles
        self.seed = seed
        self.clock = clock if clock is not None else SimClock()
        self.latency_ms = latency_ms
        self.routine = routine
        self.timezone = ZoneInfo(timezone)
        self.prices = PriceCurve(seed, self.timezone)
        self.faults = FaultInjector(self.clock)
        self.requests = RequestLog()
        self.handler_errors: list[str] = []
        """Unexpected handler exceptions (each answered 500); tests assert it stays empty."""
        self._fleets: dict[str, list[Fleet]] = {}
        telemetry_period(None, telemetry_jitter)  # refuse a bad jitter even when off
        self._telemetry: dict[str, tuple[float | None, float]] = dict.fromkeys(
            default_telemetry(), (None, telemetry_jitter)
        )
        for name, period in (telemetry or {}).items():
            self._telemetry[self._telemetry_provider(name)] = (
                telemetry_period(period, telemetry_jitter),
                telemetry_jitter,
            )
        for name in PROVIDER_NAMES:
            setattr(self, name, load_provider_module(name).State(self))
        if strict:
            self.set_strict()

    @property
    def providers(self) -> dict[str, ProviderState]:
        """Provider name -> state, in PROVIDER_NAMES order."""
        return {
            name: cast(ProviderState, getattr(self, name)) for name in PROVIDER_NAMES
        }

    def variants(self) -> dict[str, dict[str, Any]]:
        """Every provider's variants with their current values (for GET /_admin/variants)."""
        return {
            name: {
                key: {
                    "value": variant.to_json(getattr(state, key)),
                    "description": variant.description,
                }
                for key, variant in provider_variants(name).items()
            }
            for name, state in self.providers.items()
        }

    def set_variants(self, provider: str, values: Mapping[str, Any]) -> None:
        """Set variants of one provider from JSON values (ValueError naming a bad one)."""
        known = provider_variants(provider)
        for key, value in values.items():
            variant = known.get(key)
            if variant is None:
                raise ValueError(f"{provider} has no variant {key!r}")
            if not variant.accepts(value):
                raise ValueError(f"invalid value for {provider} variant {key!r}")
        state = self.providers[provider]
        for key, value in values.items():
            setattr(state, key, known[key].from_json(value))

    def set_strict(self) -> None:
        """Enforce the documents' strictest readings (every variant with a strict value)."""
        for name, state in self.providers.items():
            for key, variant in provider_variants(name).items():
                if variant.strict is not None:
                    setattr(state, key, variant.from_json(variant.strict))

    def new_fleet(
        self,
        provider: str,
        id_factory: IdFactory,
        *,
        models: Sequence[VehicleModel] = CAR_MODELS,
        count: int | None = None,
        salt: str | None = None,
    ) -> Fleet:
        """Generate a provider's fleet from the simulator's count, seed, prices and clock.

        The fleet follows the provider's telemetry setting (set_telemetry); ``salt``
        (default: the provider) tells apart the cars of several fleets of one provider.
        """
        fleet = Fleet.generate(
            self.vehicle_count if count is None else count,
            self.seed,
            id_factory,
            models=models,
            salt=provider if salt is None else salt,
            prices=self.prices,
            start=self.clock.now(),
            routine=self.routine,
        )
        self._fleets.setdefault(provider, []).append(fleet)
        if provider in self._telemetry:
            fleet.set_telemetry(*self._telemetry[provider])
        return fleet

    def fleet(self, provider: str) -> Fleet:
        """Return the fleet of one provider."""
        return self.providers[provider].fleet

    def _telemetry_provider(self, provider: str) -> str:
        if provider not in self._telemetry:
            raise ValueError(
                f"{provider!r} serves no telemetry; telemetry providers: "
                + ", ".join(self._telemetry)
            )
        return provider

    def telemetry(self) -> dict[str, dict[str, float | None]]:
        """Return provider -> its cloud refresh {period (s, None: live), jitter}."""
        return {
            name: {"period": period, "jitter": jitter}
            for name, (period, jitter) in self._telemetry.items()
        }

    def set_telemetry(
        self, provider: str, period: float | None, jitter: float | None = None
    ) -> None:
        """Set a provider's cloud refresh now (jitter: keep the current one when None).

        Every car of the provider captures its telemetry at once and then runs on the new
        period (ValueError for a provider without telemetry or a bad value).
        """
        provider = self._telemetry_provider(provider)
        if jitter is None:
            jitter = self._telemetry[provider][1]
        period = telemetry_period(period, jitter)
        self.providers[provider].sync()
        self._telemetry[provider] = (period, jitter)
        for fleet in self._fleets.get(provider, ()):
            fleet.set_telemetry(period, jitter)

    def report_times(
        self, provider: str, since: datetime | None = None
    ) -> dict[str, list[datetime]]:
        """Vehicle id -> when the cloud captured its telemetry (after `since`), oldest first.

        A benchmark compares these with when the client showed each update.
        """
        provider = self._telemetry_provider(provider)
        self.providers[provider].sync()
        return {
            vehicle.id: [
                when for when in vehicle.report_times if since is None or when > since
            ]
            for fleet in self._fleets.get(provider, ())
            for vehicle in fleet
        }

    def sync(self, provider: str | None = None) -> datetime:
        """Advance every fleet (or one provider's) to clock.now(); handlers call this first."""
        now = self.clock.now()
        states = self.providers
        for name, state in states.items():
            if provider is None or name == provider:
                state.fleet.sync(now)
        return now

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move the clock forward and sync every fleet."""
        self.clock.advance(seconds)
        return self.sync()

    def state(self, provider: str | None = None) -> dict[str, Any]:
        """Truth per provider for GET /_admin/state (call sync() first)."""
        result: dict[str, Any] = {}
        for name, provider_state in self.providers.items():
            if provider is not None and name != provider:
                continue
            entry: dict[str, Any] = {
                "vehicles": [vehicle.as_dict() for vehicle in provider_state.fleet]
            }
            extra = getattr(provider_state, "admin_state", None)
            if callable(extra):
                entry.update(extra())
            result[name] = entry
        return {
            "time": self.clock.now().isoformat(),
            "telemetry": self.telemetry(),
            "providers": result,
        }
