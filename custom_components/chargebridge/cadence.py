"""Each car's own pace: read it when the cloud has something new to tell.

A provider's cloud refreshes a car's telemetry every few minutes over its own link to the
car; reading between two of those updates returns the same data. Each car's rhythm is
learned from how the provider's "last heard from the car" time (``VehicleState.updated_at``)
moves, and the car is read shortly after its next expected update instead of on a fixed
clock. A car that is not charging changes slowly and is read slowly: plugged in, shortly
before its plan's next period (at least every 30 minutes); unplugged, every 30 minutes.

Pure functions and one small state class per account, so the policy is easy to test; the
coordinator asks ``FleetCadence`` what to read and when to refresh next.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
import math

from .api import ChargingStatus, Fleet, FleetRead, VehicleSnapshot
from .api.models import ChargingPeriod, charging_periods

RHYTHM_HISTORY = 7
"""Update times kept per car: six intervals are enough to learn it, and old ones age out."""
RHYTHM_MIN_INTERVALS = 3
"""Intervals needed before a rhythm is trusted (four updates seen)."""
DIRECT_INTERVALS = 2
"""Intervals of exactly one period a rhythm needs (updates seen one after another)."""
RHYTHM_TOLERANCE = 0.25
"""Intervals may stray this share of the period from it; more is irregular (no rhythm)."""
PUBLISH_MARGIN = timedelta(seconds=10)
"""Read this long after the expected update (plus the jitter seen): the cloud may publish
its update a little after the time it stamps on it."""
JITTER_ALLOWANCE = 1.5
"""Wait this many times the jitter seen past the expected update: the few intervals seen
rarely show the cloud's whole spread, and a read that comes too early costs another."""
IDLE_READ_INTERVAL = timedelta(minutes=30)
"""An unplugged car, or a plugged-in one waiting for its plan, is read at most this often."""
LIST_READ_INTERVAL = timedelta(minutes=30)
"""Where the list carries only the fleet and preferences, it is read at most this often."""
PLAN_LEAD = timedelta(minutes=1)
"""A car waiting for its plan is read this long before the plan's next period starts."""
ANSWER_MARGIN = timedelta(seconds=1)
"""A "last heard from the car" this close to the read is taken for the answer's own time."""
DUE_TOLERANCE = timedelta(seconds=5)
"""Cars due this soon after a refresh are read by it, not by one of their own."""


@dataclass
class Rhythm:
    """How often a car's cloud refreshes its data, learned from the times it stamps."""

    updates: deque[datetime] = field(
        default_factory=lambda: deque(maxlen=RHYTHM_HISTORY)
    )

    def observe(self, updated_at: datetime | None, read_at: datetime) -> bool:
        """Note the time the cloud last heard from the car; True when it is new.

        A time at or after the read began (give or take ANSWER_MARGIN) is when the
        provider answered, not when it heard from the car: it teaches no rhythm, and the
        car keeps being read at the user's interval.
        """
        if (
            updated_at is None
            or updated_at >= read_at - ANSWER_MARGIN
            or (self.updates and updated_at <= self.updates[-1])
        ):
            return False
        self.updates.append(updated_at)
        return True

    @property
    def last_update(self) -> datetime | None:
        """When the cloud last heard from the car, as far as we saw."""
        return self.updates[-1] if self.updates else None

    def _fit(self) -> tuple[float, float] | None:
        """Return the period and the jitter in seconds that most intervals agree on.

        An interval may span several periods (a slow read saw one update in two): each
        is divided by the whole number of periods it spans. Tried with each interval as
        the unit, shortest first; the first that at least two thirds of the intervals
        fit (a whole number of units, give or take RHYTHM_TOLERANCE of one) wins, so one
        odd interval (a first update after the car woke) neither spoils the rhythm nor
        counts in it. A unit needs DIRECT_INTERVALS intervals of exactly one period: a
        short unit fits any times as multiples. None: no rhythm.
        """
        raw = [(b - a).total_seconds() for a, b in pairwise(self.updates)]
        if len(raw) < RHYTHM_MIN_INTERVALS:
            return None
        for unit in sorted(raw):
            spans = [(value, max(1, round(value / unit))) for value in raw]
            fitting = [
                (value, n)
                for value, n in spans
                if abs(value - n * unit) <= RHYTHM_TOLERANCE * unit
            ]
            direct = sum(1 for _, n in fitting if n == 1)
            if 3 * len(fitting) < 2 * len(raw) or direct < DIRECT_INTERVALS:
                continue
            period = sum(value for value, _ in fitting) / sum(n for _, n in fitting)
            jitter = max(abs(value / n - period) for value, n in fitting)
            return period, jitter
        return None

    @property
    def period(self) -> timedelta | None:
        """The cloud's update period; None while unknown or irregular.

        The span of the fitting intervals over the periods in them: one update's jitter
        does not count twice.
        """
        fit = self._fit()
        return None if fit is None else timedelta(seconds=fit[0])

    @property
    def jitter(self) -> timedelta:
        """How far the fitting intervals strayed from the period (zero while unknown)."""
        fit = self._fit()
        return timedelta(0) if fit is None else timedelta(seconds=fit[1])


def is_charging(snapshot: VehicleSnapshot) -> bool:
    """Tell whether the car charges (its state changes with every cloud update)."""
    state = snapshot.state
    return bool(state.charging) or state.charging_status == ChargingStatus.CHARGING


def is_plugged_in(snapshot: VehicleSnapshot) -> bool | None:
    """Tell whether the car is plugged in; None where the provider does not say."""
    state = snapshot.state
    if state.plugged_in is not None:
        return state.plugged_in
    if state.charging_status == ChargingStatus.DISCONNECTED:
        return False
    return None


def planned(snapshot: VehicleSnapshot, now: datetime) -> tuple[ChargingPeriod, ...]:
    """Return the car's current and upcoming planned periods."""
    if snapshot.schedule is None:
        return ()
    return charging_periods(snapshot.schedule.slots, now)


def align_to(
    due: datetime, now: datetime, slowest: timedelta, stretch: timedelta
) -> datetime:
    """Return the next read on the way to ``due``, about ``slowest`` away at most.

    Reads in between fall a whole number of ``slowest`` before ``due``, so the read at
    ``due`` itself still comes when the update is there: two reads per update when the
    cloud is twice as slow as ``slowest``, not three. One gap may grow by ``stretch`` (the
    time allowed for the cloud's jitter) rather than cost another read.
    """
    wait = due - now
    if wait <= slowest + stretch:
        return due
    return due - slowest * (math.ceil((wait - stretch) / slowest) - 1)


def car_due(
    snapshot: VehicleSnapshot,
    rhythm: Rhythm,
    *,
    now: datetime,
    scan_interval: timedelta,
    minimum: timedelta,
) -> tuple[datetime, str]:
    """Return when a car read at ``now`` should next be read, and why (for diagnostics).

    Charging, or inside a planned period: shortly after the cloud's next expected update
    (its rhythm), else every ``scan_interval``, never slower than that. Plugged in and
    waiting: shortly before the plan's next period, at least every 30 minutes. Unplugged:
    every 30 minutes. A car whose state is unknown or whose read failed: ``scan_interval``.
    """
    idle = max(IDLE_READ_INTERVAL, scan_interval)
    plugged = is_plugged_in(snapshot)
    periods = planned(snapshot, now)
    planned_now = bool(periods) and periods[0].start <= now
    if snapshot.error is None and not is_charging(snapshot) and not planned_now:
        if plugged is False:
            return now + idle, "unplugged"
        if plugged is True:
            due = now + idle
            if periods:
                due = min(due, max(periods[0].start - PLAN_LEAD, now + minimum))
            return due, "waiting"
    period, last = rhythm.period, rhythm.last_update
    if period is None or last is None or snapshot.error is not None:
        return now + scan_interval, "fixed"
    slack = rhythm.jitter * JITTER_ALLOWANCE + PUBLISH_MARGIN
    due = last + period + slack
    if due <= now:
        if now - last <= 2 * period + slack:
            # The update is late: look again soon, never sooner than the provider allows.
            return now + minimum, "late"
        # Updates were missed (the car was read slowly): follow the cloud's clock.
        due = last + period * math.ceil((now - last) / period) + slack
    return align_to(due, now, scan_interval, slack), "rhythm"


def plan_due(
    snapshot: VehicleSnapshot, *, now: datetime, interval: timedelta
) -> tuple[datetime, str]:
    """Return when a car whose state is its plan (no telemetry) should next be read.

    At the account's interval, and just after a planned period starts or ends: that is
    when what the car does changes.
    """
    periods = planned(snapshot, now)
    due = now + interval
    if periods:
        boundary = periods[0].start if periods[0].start > now else periods[0].end
        if boundary + PUBLISH_MARGIN < due:
            return boundary + PUBLISH_MARGIN, "plan_boundary"
    return due, "fixed"


@dataclass
class CarPace:
    """What the account knows of one car's pace."""

    rhythm: Rhythm = field(default_factory=Rhythm)
    last_read: datetime | None = None
    due: datetime | None = None
    reason: str = "new"


class FleetCadence:
    """Per car: when it was read, its rhythm and when it is due; and the account's list.

    ``per_vehicle`` (the provider reads each car's state with a request of its own): each
    car is read when due, the list at most every 30 minutes. Otherwise one request reads
    every car, and the account is read when its first car is due. Without ``telemetry``
    (the cars' state is their plans) a car is due at its plan's boundaries and at the
    account's fixed interval.
    """

    def __init__(self, *, per_vehicle: bool, telemetry: bool = True) -> None:
        """Start knowing nothing: the first refresh reads everything."""
        self.per_vehicle = per_vehicle
        self.telemetry = telemetry
        self.cars: dict[str, CarPace] = {}
        self.list_read: datetime | None = None

    def read_for(self, now: datetime) -> FleetRead:
        """Return what a refresh at ``now`` reads: the list if due, the cars due."""
        if not self.per_vehicle or self.list_read is None:
            return FleetRead()
        horizon = now + DUE_TOLERANCE
        return FleetRead(
            account_list=self.list_read + LIST_READ_INTERVAL <= horizon,
            vehicles=frozenset(
                vehicle_id
                for vehicle_id, pace in self.cars.items()
                if pace.due is None or pace.due <= horizon
            ),
        )

    def observe(
        self,
        fleet: Fleet,
        read: FleetRead,
        *,
        now: datetime,
        scan_interval: timedelta,
        minimum: timedelta,
        fixed: timedelta,
    ) -> None:
        """Learn from a refresh's fleet; plan each car's next read.

        ``fixed`` is the account's fixed-clock interval, which a provider without
        telemetry keeps between its plans' boundaries.
        """
        if read.account_list or self.list_read is None:
            self.list_read = now
        for vehicle_id in self.cars.keys() - fleet.vehicles.keys():
            del self.cars[vehicle_id]
        for vehicle_id, snapshot in fleet.vehicles.items():
            pace = self.cars.setdefault(vehicle_id, CarPace())
            if not (
                read.vehicles is None
                or vehicle_id in read.vehicles
                or pace.last_read is None
            ):
                continue
            pace.rhythm.observe(snapshot.state.updated_at, now)
            pace.last_read = now
            if self.telemetry:
                pace.due, pace.reason = car_due(
                    snapshot,
                    pace.rhythm,
                    now=now,
                    scan_interval=scan_interval,
                    minimum=minimum,
                )
            else:
                pace.due, pace.reason = plan_due(snapshot, now=now, interval=fixed)

    def written(self, vehicle_id: str, now: datetime, minimum: timedelta) -> None:
        """Read a car again soon after a write, to show what the write did."""
        pace = self.cars.setdefault(vehicle_id, CarPace())
        pace.due, pace.reason = now + minimum, "written"

    def next_due(self) -> datetime | None:
        """When the next read is due: the first car's, or the list's."""
        moments = [pace.due for pace in self.cars.values() if pace.due is not None]
        if self.per_vehicle and self.list_read is not None:
            moments.append(self.list_read + LIST_READ_INTERVAL)
        return min(moments, default=None)

    def as_diagnostics(self) -> Mapping[str, object]:
        """Each car's learned rhythm and next planned read."""
        return {
            "per_vehicle": self.per_vehicle,
            "telemetry": self.telemetry,
            "last_list_read": _iso(self.list_read),
            "vehicles": {
                vehicle_id: {
                    "reason": pace.reason,
                    "last_read": _iso(pace.last_read),
                    "next_read": _iso(pace.due),
                    "cloud_period_s": _seconds(pace.rhythm.period),
                    "cloud_jitter_s": _seconds(pace.rhythm.jitter),
                    "last_cloud_update": _iso(pace.rhythm.last_update),
                }
                for vehicle_id, pace in self.cars.items()
            },
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _seconds(span: timedelta | None) -> float | None:
    return None if span is None else round(span.total_seconds(), 1)
