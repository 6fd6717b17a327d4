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
from collections.abc import Iterable, Mapping
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
JITTER_ALLOWANCE = 1.0
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
REFRESH_SPACING = timedelta(seconds=15)
"""Where each car has requests of its own, refreshes for different cars may come this
close; each car is still read at most once per the provider's minimum interval."""
DETAILS_READ_INTERVAL = timedelta(hours=6)
"""Where the list carries every car's state, a plugged-in car's details kept between reads
(charge settings, plans) are re-read for their age at most this often; a change (a write,
plugging in, a new charging state) re-reads them at once. An unplugged car's wait for its
plug-in: that is when they matter again."""


@dataclass
class Rhythm:
    """How often a car's cloud refreshes its data, learned from the times it stamps."""

    updates: deque[datetime] = field(
        default_factory=lambda: deque(maxlen=RHYTHM_HISTORY)
    )
    direct: deque[bool] = field(
        default_factory=lambda: deque(maxlen=RHYTHM_HISTORY - 1)
    )
    """Per interval between two updates: whether a read between them shows it is one
    period (see observe)."""
    seen_until: datetime | None = None
    """The last read that still showed the newest update as the newest."""
    learned: float | None = None
    """The last period learned from updates seen one after another (seconds): while the
    car is read slowly (parked, waiting for its plan) the updates seen are several periods
    apart, and this period still tells them apart, so charging starts with it known."""

    def observe(
        self,
        updated_at: datetime | None,
        read_at: datetime,
        *,
        user_interval: timedelta | None = None,
    ) -> bool:
        """Note the time the cloud last heard from the car; True when it is new.

        A time at or after the read began (give or take ANSWER_MARGIN) is when the
        provider answered, not when it heard from the car: it teaches no rhythm, and the
        car keeps being read at the user's interval.

        An interval counts as one period when a read showed its first update still the
        newest at least halfway through it (no update fits in the rest), or when it was
        seen by reads at most ``user_interval`` apart (a rhythm learned from them reads
        no slower than fixed polling would). Updates seen by slower reads (a parked car's)
        are as far apart as the reads, whatever the cloud's own period.
        """
        if updated_at is None or updated_at >= read_at - ANSWER_MARGIN:
            return False
        if self.updates and updated_at <= self.updates[-1]:
            if updated_at == self.updates[-1] and self.seen_until is not None:
                self.seen_until = max(self.seen_until, read_at)
            return False
        if self.updates and self.seen_until is not None:
            previous, seen = self.updates[-1], self.seen_until
            self.direct.append(
                2 * (seen - previous) >= updated_at - previous
                or (
                    user_interval is not None
                    and read_at - seen <= user_interval + DUE_TOLERANCE
                )
            )
        self.updates.append(updated_at)
        self.seen_until = read_at
        self._fit()  # Learns the period while the updates show it.
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
        counts in it. A unit needs DIRECT_INTERVALS intervals of exactly one period that
        a read showed to be one (see observe): a short unit fits any times as multiples,
        and slow reads make a slow rhythm of their own. The period learned before is
        tried first and needs none. None: no rhythm.
        """
        raw = [(b - a).total_seconds() for a, b in pairwise(self.updates)]
        if len(raw) < RHYTHM_MIN_INTERVALS:
            return None
        if self.learned is not None:
            fit = _fit_unit(raw, self.learned, self.direct, direct_needed=0)
            if fit is not None:
                return fit
        for unit in sorted(raw):
            fit = _fit_unit(raw, unit, self.direct, direct_needed=DIRECT_INTERVALS)
            if fit is not None:
                self.learned = fit[0]
                return fit
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


def _fit_unit(
    raw: list[float], unit: float, direct: Iterable[bool], *, direct_needed: int
) -> tuple[float, float] | None:
    """Fit the intervals to ``unit``: the period and jitter, or None if too few fit.

    ``direct`` says, per interval, whether a read showed it to be one period.
    """
    spans = [(value, max(1, round(value / unit))) for value in raw]
    fits = [abs(value - n * unit) <= RHYTHM_TOLERANCE * unit for value, n in spans]
    fitting = [span for span, fit in zip(spans, fits, strict=True) if fit]
    shown = sum(
        1
        for (_, n), fit, one in zip(spans, fits, direct, strict=True)
        if fit and one and n == 1
    )
    if 3 * len(fitting) < 2 * len(raw) or shown < direct_needed:
        return None
    period = sum(value for value, _ in fitting) / sum(n for _, n in fitting)
    jitter = max(abs(value / n - period) for value, n in fitting)
    return period, jitter


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
    (its rhythm), else every ``scan_interval``, never slower than that; in the first
    ``scan_interval`` of a period, until the car shows it charges and while its rhythm
    is unknown, every ``minimum``. Plugged in and waiting: shortly before the plan's
    next period, at least every 30 minutes. Unplugged: every 30 minutes. A car whose
    state is unknown or whose read failed: ``scan_interval``.
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
    if (
        planned_now
        and period is None
        and snapshot.error is None
        and not is_charging(snapshot)
        and now < periods[0].start + scan_interval
    ):
        # The plan's period began and the cloud has not shown the charge yet; its next
        # update will, and no rhythm tells when: look each minimum interval, for one
        # scan interval at most.
        return now + minimum, "starting"
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


def next_boundary(snapshot: VehicleSnapshot, now: datetime) -> datetime | None:
    """Return when a car whose state is its plan next changes (None: no plan ahead).

    Its next period's start, or the end of the one under way.
    """
    periods = planned(snapshot, now)
    if not periods:
        return None
    return periods[0].start if periods[0].start > now else periods[0].end


def slot_read(
    boundaries: list[datetime],
    *,
    now: datetime,
    slot_end: datetime,
    interval: timedelta,
) -> tuple[datetime, bool]:
    """Return when a plan-driven account is next read, and whether for a boundary.

    The account's fixed clock cut into slots of ``interval``: one read per slot, at its
    end, or earlier at the first plan boundary in it (just after, PUBLISH_MARGIN), so
    boundary reads replace fixed ones and never add to them. A boundary passed since
    the last read is read as the slot opens.
    """
    slot_start = slot_end - interval
    ahead = [moment + PUBLISH_MARGIN for moment in boundaries]
    first = min((moment for moment in ahead if moment > now), default=None)
    if first is None or first >= slot_end:
        return slot_end, False
    return max(first, slot_start), True


@dataclass
class CarPace:
    """What the account knows of one car's pace."""

    rhythm: Rhythm = field(default_factory=Rhythm)
    last_read: datetime | None = None
    due: datetime | None = None
    reason: str = "new"
    details_read: datetime | None = None
    """Where the list carries the state: when the car's details were last due."""
    plugged_in: bool | None = None
    """Whether the car was plugged in at its last read (None: not known)."""


class FleetCadence:
    """Per car: when it was read, its rhythm and when it is due; and the account's list.

    ``per_vehicle`` (the provider reads each car's state with a request of its own): each
    car is read when due, the list at most every 30 minutes. Otherwise one request reads
    every car: the account is read when its first car is due, a plugged-in car's details
    kept between reads (charge settings, plans) are re-read for their age at most every
    DETAILS_READ_INTERVAL, and the account's notices at most every 30 minutes. Without ``telemetry`` (the cars' state is their plans) the
    account is read once per fixed interval, at its end or at the first plan boundary
    in it (``slot_read``).
    """

    def __init__(self, *, per_vehicle: bool, telemetry: bool = True) -> None:
        """Start knowing nothing: the first refresh reads everything."""
        self.per_vehicle = per_vehicle
        self.telemetry = telemetry
        self.cars: dict[str, CarPace] = {}
        self.list_read: datetime | None = None
        self.slot_end: datetime | None = None
        """Without telemetry: the end of the fixed-clock slot the next read fills."""
        self.planned: datetime | None = None
        """Without telemetry: when the next read was planned for."""

    def read_for(self, now: datetime) -> FleetRead:
        """Return what a refresh at ``now`` reads: the list if due, the cars due."""
        if self.list_read is None or not self.telemetry:
            return FleetRead()
        horizon = now + DUE_TOLERANCE
        if not self.per_vehicle:
            due = frozenset(
                vehicle_id
                for vehicle_id, pace in self.cars.items()
                if pace.details_read is None
                or (
                    pace.plugged_in is not False
                    and pace.details_read + DETAILS_READ_INTERVAL <= horizon
                )
            )
            notices = (
                self.notices_read is None
                or self.notices_read + LIST_READ_INTERVAL <= horizon
            )
            return FleetRead(
                vehicles=None if len(due) == len(self.cars) else due, notices=notices
            )
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
        if read.notices:
            self.notices_read = now
        for vehicle_id in self.cars.keys() - fleet.vehicles.keys():
            del self.cars[vehicle_id]
        if not self.telemetry:
            self._observe_plans(fleet, now=now, interval=fixed)
            return
        for vehicle_id, snapshot in fleet.vehicles.items():
            pace = self.cars.setdefault(vehicle_id, CarPace())
            in_full = read.vehicles is None or vehicle_id in read.vehicles
            if snapshot.error is not None:
                pace.details_read = None  # A failed read is tried again next time.
            elif in_full:
                pace.details_read = now
            if self.per_vehicle and not in_full and pace.last_read is not None:
                continue
            pace.rhythm.observe(
                snapshot.state.updated_at, now, user_interval=scan_interval
            )
            pace.last_read = now
            pace.plugged_in = is_plugged_in(snapshot)
            pace.due, pace.reason = car_due(
                snapshot,
                pace.rhythm,
                now=now,
                scan_interval=scan_interval,
                minimum=minimum,
            )

    def _observe_plans(
        self, fleet: Fleet, *, now: datetime, interval: timedelta
    ) -> None:
        """Plan the next read of an account whose cars' state is their plans.

        A read that came as planned fills its slot; any other (the first, the Refresh
        button, after a write or a failure) starts the clock again, as fixed polling does.
        """
        if (
            self.slot_end is not None
            and self.planned is not None
            and self.planned - DUE_TOLERANCE <= now <= self.slot_end + DUE_TOLERANCE
        ):
            self.slot_end += interval
        else:
            self.slot_end = now + interval
        boundaries = {
            vehicle_id: next_boundary(snapshot, now)
            for vehicle_id, snapshot in fleet.vehicles.items()
        }
        due, at_boundary = slot_read(
            [moment for moment in boundaries.values() if moment is not None],
            now=now,
            slot_end=self.slot_end,
            interval=interval,
        )
        self.planned = due
        for vehicle_id, boundary in boundaries.items():
            pace = self.cars.setdefault(vehicle_id, CarPace())
            pace.last_read = now
            pace.due = due
            pace.reason = (
                "plan_boundary"
                if at_boundary
                and boundary is not None
                and boundary + PUBLISH_MARGIN <= due
                else "fixed"
            )

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
